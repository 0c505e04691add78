//! Gathers decoded objects into resources: namespaces, owner resolution, merging Pods into workloads.

use super::docs::Parsed;
use crate::catalog::idx;
use crate::checks::cluster::{VersionVerdict, kubernetes_version};
use crate::config::{Config, Effect};
use crate::engine::{self, VulnerabilitySource};
use crate::model::{ExemptAnnotations, Origin, Outcome, Owner, OwnerIndex, ResourceKey, ResourceRecord, controller_of};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Counts of what the audit read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Objects read (list items counted one by one).
    pub objects: u64,
    /// Objects of kinds that are not judged, by kind.
    pub skipped_kinds: BTreeMap<String, u64>,
    /// Documents without apiVersion/kind.
    pub not_objects: u64,
    /// Succeeded/Failed and mirror Pods.
    pub skipped_pods: u64,
    /// Objects in globally excluded namespaces.
    pub excluded: u64,
}

type PendingKey = (String, Owner, Option<String>);

/// Accumulates verdicts while input is read; [`Collector::finish`] resolves owners.
pub struct Collector<'c> {
    cfg: &'c Config,
    vulns: &'c dyn VulnerabilitySource,
    default_ns: String,
    pending: HashMap<PendingKey, (ResourceRecord, bool)>,
    owners: OwnerIndex,
    nodes: Vec<ResourceRecord>,
    namespaces: BTreeSet<String>,
    interned: HashMap<Arc<str>, ()>,
    /// What was read.
    pub stats: Stats,
}

/// Resources of the whole input, grouped.
#[derive(Debug, Default)]
pub struct Collected {
    /// Namespace -> its resources, sorted by key.
    pub namespaces: BTreeMap<String, Vec<ResourceRecord>>,
    /// Nodes (cluster-scoped).
    pub nodes: Vec<ResourceRecord>,
    /// What was read.
    pub stats: Stats,
}

impl<'c> Collector<'c> {
    /// A collector for one audit run.
    pub fn new(cfg: &'c Config, vulns: &'c dyn VulnerabilitySource, default_ns: &str) -> Self {
        Collector {
            cfg,
            vulns,
            default_ns: default_ns.to_string(),
            pending: HashMap::new(),
            owners: OwnerIndex::default(),
            nodes: vec![],
            namespaces: BTreeSet::new(),
            interned: HashMap::new(),
            stats: Stats::default(),
        }
    }

    /// Counts an object of a kind that is not judged.
    pub fn skip_kind(&mut self, kind: &str) {
        self.stats.objects += 1;
        *self.stats.skipped_kinds.entry(kind.to_string()).or_default() += 1;
    }

    /// Counts a document that is not a Kubernetes object.
    pub fn not_object(&mut self) {
        self.stats.not_objects += 1;
    }

    fn intern(&mut self, outcomes: &mut crate::model::Outcomes) {
        for (_, o) in outcomes.iter_mut() {
            if let Outcome::Fail(findings) = o {
                for f in findings.iter_mut() {
                    match self.interned.get_key_value(&f.message) {
                        Some((k, _)) => f.message = k.clone(),
                        None => {
                            self.interned.insert(f.message.clone(), ());
                        }
                    }
                }
            }
        }
    }

    fn namespace_of(&mut self, meta: &ObjectMeta) -> Option<String> {
        let ns = meta.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| self.default_ns.clone());
        if self.cfg.globally_excluded(&ns) {
            self.stats.excluded += 1;
            return None;
        }
        self.namespaces.insert(ns.clone());
        Some(ns)
    }

    fn add(&mut self, ns: String, owner: Owner, hash: Option<String>, mut rec: ResourceRecord, authoritative: bool) {
        self.intern(&mut rec.outcomes);
        match self.pending.get_mut(&(ns.clone(), owner.clone(), hash.clone())) {
            Some((existing, auth)) => {
                existing.pods += rec.pods;
                if authoritative && !*auth {
                    existing.labels = rec.labels;
                    existing.annotations = rec.annotations;
                    existing.origin = rec.origin;
                    *auth = true;
                }
                existing.merge(rec.outcomes);
            }
            None => {
                self.pending.insert((ns, owner, hash), (rec, authoritative));
            }
        }
    }

    /// Takes one decoded object read at `origin`.
    pub fn object(&mut self, parsed: Parsed, origin: Origin) {
        self.stats.objects += 1;
        match parsed {
            Parsed::Pod(pod) => {
                let meta = &pod.metadata;
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                let mirror = meta.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
                if matches!(phase, Some("Succeeded" | "Failed")) || mirror {
                    self.stats.skipped_pods += 1;
                    return;
                }
                let Some(ns) = self.namespace_of(meta) else {
                    return;
                };
                let name = meta.name.clone().unwrap_or_default();
                let spec = pod.spec.clone().unwrap_or_default();
                let outcomes = engine::evaluate_pod(&ns, &spec, meta.labels.as_ref(), meta.annotations.as_ref(), self.cfg, self.vulns);
                let hash = meta.labels.as_ref().and_then(|l| l.get("pod-template-hash")).cloned();
                let (owner, authoritative) = match controller_of(meta.owner_references.as_ref()) {
                    Some(o) => (o, false),
                    None => (Owner { kind: "Pod".into(), name: name.clone() }, true),
                };
                let rec = record(&ns, &owner, meta, None, outcomes, 1, origin);
                self.add(ns, owner, hash, rec, authoritative);
            }
            Parsed::Workload(kind, w) => {
                let meta = &w.metadata;
                let Some(ns) = self.namespace_of(meta) else {
                    return;
                };
                let name = meta.name.clone().unwrap_or_default();
                if let Some(owner) = controller_of(meta.owner_references.as_ref()) {
                    self.owners.insert(&ns, &kind, &name, owner);
                }
                let template = w.pod_template();
                let spec = template.and_then(|t| t.spec.clone()).unwrap_or_default();
                let tmeta = template.and_then(|t| t.metadata.as_ref());
                let outcomes = engine::evaluate_pod(
                    &ns,
                    &spec,
                    tmeta.and_then(|m| m.labels.as_ref()),
                    tmeta.and_then(|m| m.annotations.as_ref()),
                    self.cfg,
                    self.vulns,
                );
                let me = Owner { kind: kind.clone(), name };
                let rec = record(&ns, &me, meta, tmeta, outcomes, 0, origin);
                self.add(ns, me, None, rec, true);
            }
            Parsed::Service(svc) => {
                let Some(ns) = self.namespace_of(&svc.metadata) else {
                    return;
                };
                let svc_obj = k8s_openapi::api::core::v1::Service {
                    metadata: ObjectMeta { namespace: Some(ns.clone()), ..svc.metadata.clone() },
                    spec: svc.spec.clone(),
                    status: None,
                };
                let outcomes = engine::evaluate_service(&ns, &svc_obj, self.cfg);
                let me = Owner { kind: "Service".into(), name: svc.metadata.name.clone().unwrap_or_default() };
                let rec = record(&ns, &me, &svc.metadata, None, outcomes, 0, origin);
                self.add(ns, me, None, rec, true);
            }
            Parsed::Ingress(ing) => {
                let Some(ns) = self.namespace_of(&ing.metadata) else {
                    return;
                };
                let ing_obj = k8s_openapi::api::networking::v1::Ingress {
                    metadata: ing.metadata.clone(),
                    spec: Some(k8s_openapi::api::networking::v1::IngressSpec {
                        tls: ing.spec.as_ref().and_then(|s| s.tls.clone()),
                        ..Default::default()
                    }),
                    status: None,
                };
                let outcomes = engine::evaluate_ingress(&ns, &ing_obj, self.cfg);
                let me = Owner { kind: "Ingress".into(), name: ing.metadata.name.clone().unwrap_or_default() };
                let rec = record(&ns, &me, &ing.metadata, None, outcomes, 0, origin);
                self.add(ns, me, None, rec, true);
            }
            Parsed::Node(node) => {
                let i = idx(15);
                let mut rec = record(
                    "",
                    &Owner { kind: "Node".into(), name: node.metadata.name.clone().unwrap_or_default() },
                    &node.metadata,
                    None,
                    vec![],
                    0,
                    origin,
                );
                if self.cfg.rec(i).effect == Effect::Audit {
                    let version =
                        node.status.as_ref().and_then(|s| s.node_info.as_ref()).and_then(|n| n.kubelet_version.as_deref()).unwrap_or("");
                    let outcome = if version.is_empty() {
                        Outcome::NotEvaluated("status.nodeInfo.kubeletVersion is not set".into())
                    } else {
                        version_outcome(kubernetes_version("kubelet", version, &self.cfg.rec(i).params))
                    };
                    rec.outcomes.push((i as u8, outcome));
                }
                self.nodes.push(rec);
            }
            Parsed::Namespace(meta) => {
                if let Some(n) = meta.metadata.name.as_ref().filter(|n| !self.cfg.globally_excluded(n)) {
                    self.namespaces.insert(n.clone());
                }
            }
        }
    }

    /// Resolves every Pod and template to its top-level owner and groups resources by namespace.
    pub fn finish(self) -> Collected {
        let mut merged: BTreeMap<ResourceKey, (ResourceRecord, bool)> = BTreeMap::new();
        // Deterministic merge order, whatever the hash map's order.
        let mut pending: Vec<_> = self.pending.into_iter().collect();
        pending.sort_by(|a, b| (&a.0.0, &a.0.1.kind, &a.0.1.name, &a.0.2).cmp(&(&b.0.0, &b.0.1.kind, &b.0.1.name, &b.0.2)));
        for ((ns, owner, hash), (mut rec, auth)) in pending {
            let top = if owner.kind == "Pod" { owner.clone() } else { self.owners.top_level(&ns, &owner, hash.as_deref()) };
            // Only the top-level object's own metadata speaks for the resource.
            let auth = auth && top == owner;
            let key = ResourceKey { namespace: ns, kind: top.kind, name: top.name };
            rec.key = key.clone();
            match merged.get_mut(&key) {
                Some((existing, existing_auth)) => {
                    existing.pods += rec.pods;
                    let take_meta = auth && !*existing_auth;
                    if take_meta {
                        existing.labels = std::mem::take(&mut rec.labels);
                        existing.annotations = std::mem::take(&mut rec.annotations);
                        existing.origin = rec.origin.take();
                        *existing_auth = true;
                    }
                    existing.merge(rec.outcomes);
                }
                None => {
                    merged.insert(key, (rec, auth));
                }
            }
        }
        let mut namespaces: BTreeMap<String, Vec<ResourceRecord>> = self.namespaces.into_iter().map(|n| (n, vec![])).collect();
        for (key, (rec, _)) in merged {
            namespaces.entry(key.namespace.clone()).or_default().push(rec);
        }
        let mut nodes = self.nodes;
        nodes.sort_by(|a, b| a.key.cmp(&b.key));
        Collected { namespaces, nodes, stats: self.stats }
    }
}

/// Maps a #15 verdict to an outcome.
pub fn version_outcome(v: VersionVerdict) -> Outcome {
    match v {
        VersionVerdict::Healthy => Outcome::Pass,
        VersionVerdict::Unhealthy(f) => Outcome::Fail(vec![f]),
        VersionVerdict::Unknown(why) => Outcome::NotEvaluated(why.into()),
    }
}

fn record(
    ns: &str,
    me: &Owner,
    meta: &ObjectMeta,
    template: Option<&ObjectMeta>,
    outcomes: crate::model::Outcomes,
    pods: u32,
    origin: Origin,
) -> ResourceRecord {
    let mut rec = ResourceRecord::new(ResourceKey { namespace: ns.to_string(), kind: me.kind.clone(), name: me.name.clone() });
    rec.labels = meta.labels.clone().unwrap_or_default();
    rec.annotations = ExemptAnnotations::read(&[meta.annotations.as_ref(), template.and_then(|t| t.annotations.as_ref())]);
    rec.pods = pods;
    rec.outcomes = outcomes;
    rec.origin = Some(origin);
    rec
}
