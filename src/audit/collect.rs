//! Gathers decoded objects into resources: namespaces, owner resolution, merging Pods into workloads.

use super::docs::{IngressDoc, Meta, PodDoc, ServiceDoc};
use super::kinds::Parsed;
use crate::config::Config;
use crate::engine::{self, VulnerabilitySource};
use crate::model::{ExemptAnnotations, Origin, Outcome, Owner, OwnerIndex, ResourceKey, ResourceRecord, controller_of, pod_controller};
use crate::vulns::{VulnIndex, VulnSource, VulnSummary, rule_index, scanned_images};
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;
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
    /// Objects that run nothing (ReplicaSets scaled to 0, finished Jobs, PodTemplates): no findings.
    pub history: u64,
}

/// A part's key: namespace, the object it is keyed by, and a Pod's pod-template-hash.
type PendingKey = (String, Owner, Option<String>);

/// The (container, image) pairs #24 judges, shared by parts that run the same ones.
type Images = Arc<Vec<(String, String)>>;

/// One part waiting for owner resolution: its key, its record, whether the record is authoritative, its images.
type Pending = (PendingKey, ResourceRecord, bool, Images);

/// #24's reason offline when the input holds no VulnerabilityReports.
pub const NO_VULN_REPORTS: &str =
    "no VulnerabilityReports in the input (dump them with the workloads: kubectl get pods,replicasets,vulnerabilityreports -A -o json)";

/// Accumulates verdicts while input is read; [`Collector::finish`] resolves owners.
#[derive(Default)]
pub struct Collector {
    /// Parts in arrival order, found by key through `index` (a table of positions, so each key is stored once).
    pending: Vec<Pending>,
    index: HashTable<usize>,
    hasher: DefaultHashBuilder,
    owners: OwnerIndex,
    nodes: Vec<ResourceRecord>,
    namespaces: BTreeSet<String>,
    interned: HashMap<Arc<str>, ()>,
    images: HashMap<Images, ()>,
    /// VulnerabilityReports read (None: the input holds none).
    vulns: Option<VulnIndex>,
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

/// What evaluation needs, shared by the decoding threads.
#[derive(Clone, Copy)]
pub struct Ctx<'c> {
    /// Configuration.
    pub cfg: &'c Config,
    /// Vulnerability data for #24.
    pub vulns: &'c (dyn VulnerabilitySource + Sync),
    /// Namespace of objects without one.
    pub default_ns: &'c str,
    /// Keep resources' labels: some exemption rule selects by them (`Config::exemptions_use_labels`, read once).
    pub keep_labels: bool,
}

/// An object already evaluated (on a decoding thread), ready to be collected in input order.
#[derive(Debug)]
pub enum Prepared {
    /// A resource part: a workload template, a Pod (keyed by its controller), a Service, an Ingress.
    Part {
        /// Namespace.
        ns: String,
        /// The object it is keyed by (itself, or a Pod's controller).
        owner: Owner,
        /// A Pod's pod-template-hash.
        hash: Option<String>,
        /// Its verdicts and metadata.
        rec: ResourceRecord,
        /// True when `rec` is the object named by `owner` itself.
        authoritative: bool,
        /// A workload's own controller (a ReplicaSet's Deployment), for owner resolution.
        controlled_by: Option<Owner>,
        /// The (container, image) pairs #24 judges (empty when #24 is not judged here).
        images: Vec<(String, String)>,
    },
    /// A VulnerabilityReport, reduced (None when its labels do not say what it scanned).
    VulnerabilityReport(String, Option<VulnSummary>),
    /// An object that runs nothing (a ReplicaSet scaled to 0, a finished Job, a PodTemplate): it
    /// adds no finding, but its namespace gets a report and its owner resolves Pods that name it.
    History {
        /// Namespace.
        ns: String,
        /// The object.
        me: Owner,
        /// Its own controller.
        controlled_by: Option<Owner>,
    },
    /// A Node.
    Node(ResourceRecord),
    /// A Namespace object.
    Namespace(String),
    /// A Succeeded/Failed or mirror Pod.
    SkippedPod,
    /// In a globally excluded namespace.
    Excluded,
}

impl Ctx<'_> {
    fn namespace(&self, meta: &Meta) -> Option<String> {
        let ns = meta.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| self.default_ns.to_string());
        (!self.cfg.globally_excluded(&ns)).then_some(ns)
    }

    /// Evaluates one decoded object (pure; runs on any thread).
    pub fn prepare(&self, parsed: Parsed, origin: Origin) -> Prepared {
        let cfg = self.cfg;
        match parsed {
            Parsed::Pod(pod) => {
                let PodDoc { metadata: meta, spec, status } = *pod;
                if engine::pod_skipped(status.as_ref().and_then(|s| s.phase.as_deref()), meta.annotations.as_ref()) {
                    return Prepared::SkippedPod;
                }
                let Some(ns) = self.namespace(&meta) else { return Prepared::Excluded };
                let spec = spec.unwrap_or_default();
                let facts = spec.facts(meta.annotations.as_ref());
                let outcomes = engine::evaluate_pod(&ns, &facts, meta.labels.as_ref(), cfg, self.vulns);
                let images = if judges_vulnerabilities(&outcomes) { scanned_images(&facts, cfg) } else { vec![] };
                let hash = meta.labels.as_ref().and_then(|l| l.get("pod-template-hash")).cloned();
                let (owner, authoritative) = match controller_of(meta.owner_references.as_ref()).filter(pod_controller) {
                    Some(o) => (o, false),
                    None => (Owner { kind: "Pod".into(), name: meta.name.clone().unwrap_or_default() }, true),
                };
                let mut meta = meta;
                let labels = meta.labels.take();
                let mut rec = record(&ns, &owner, &meta, None, outcomes, origin, false);
                rec.pods = 1;
                if self.keep_labels {
                    rec.labels = labels.unwrap_or_default();
                }
                Prepared::Part { ns, owner, hash, rec, authoritative, controlled_by: None, images }
            }
            Parsed::Workload(kind, mut w) => {
                let Some(ns) = self.namespace(&w.metadata) else { return Prepared::Excluded };
                let me = Owner { kind, name: w.metadata.name.clone().unwrap_or_default() };
                let controlled_by = controller_of(w.metadata.owner_references.as_ref());
                if w.runs_nothing(&me.kind) {
                    return Prepared::History { ns, me, controlled_by };
                }
                let (tmeta, tspec) = w.take_template().map(|t| (t.metadata, t.spec)).unwrap_or_default();
                let spec = tspec.unwrap_or_default();
                let tmeta = tmeta.as_ref();
                let pod_labels = tmeta.and_then(|m| m.labels.as_ref());
                let facts = spec.facts(tmeta.and_then(|m| m.annotations.as_ref()));
                let outcomes = engine::evaluate_pod(&ns, &facts, pod_labels, cfg, self.vulns);
                let images = if judges_vulnerabilities(&outcomes) { scanned_images(&facts, cfg) } else { vec![] };
                let mut rec = record(&ns, &me, &w.metadata, tmeta, outcomes, origin, false);
                if self.keep_labels {
                    // Selectors match the Pod's labels: a workload's are its template's.
                    rec.labels = pod_labels.cloned().unwrap_or_default();
                }
                Prepared::Part { ns, owner: me, hash: None, rec, authoritative: true, controlled_by, images }
            }
            Parsed::Service(svc) => {
                let Some(ns) = self.namespace(&svc.metadata) else { return Prepared::Excluded };
                let ServiceDoc { metadata, spec } = *svc;
                let rec_meta = metadata.clone();
                let svc_obj = k8s_openapi::api::core::v1::Service {
                    metadata: ObjectMeta { namespace: Some(ns.clone()), ..metadata.into() },
                    spec,
                    status: None,
                };
                let outcomes = engine::evaluate_service(&ns, &svc_obj, cfg);
                let me = Owner { kind: "Service".into(), name: rec_meta.name.clone().unwrap_or_default() };
                let rec = record(&ns, &me, &rec_meta, None, outcomes, origin, self.keep_labels);
                Prepared::Part { ns, owner: me, hash: None, rec, authoritative: true, controlled_by: None, images: vec![] }
            }
            Parsed::Ingress(ing) => {
                let Some(ns) = self.namespace(&ing.metadata) else { return Prepared::Excluded };
                let IngressDoc { metadata, spec } = *ing;
                let rec_meta = metadata.clone();
                let ing_obj = k8s_openapi::api::networking::v1::Ingress {
                    metadata: metadata.into(),
                    spec: Some(k8s_openapi::api::networking::v1::IngressSpec { tls: spec.and_then(|s| s.tls), ..Default::default() }),
                    status: None,
                };
                let outcomes = engine::evaluate_ingress(&ns, &ing_obj, cfg);
                let me = Owner { kind: "Ingress".into(), name: rec_meta.name.clone().unwrap_or_default() };
                let rec = record(&ns, &me, &rec_meta, None, outcomes, origin, self.keep_labels);
                Prepared::Part { ns, owner: me, hash: None, rec, authoritative: true, controlled_by: None, images: vec![] }
            }
            Parsed::Node(node) => {
                let mut rec = record(
                    "",
                    &Owner { kind: "Node".into(), name: node.metadata.name.clone().unwrap_or_default() },
                    &node.metadata,
                    None,
                    vec![],
                    origin,
                    self.keep_labels,
                );
                rec.outcomes = engine::evaluate_node(
                    node.status.as_ref().and_then(|s| s.node_info.as_ref()).and_then(|n| n.kubelet_version.as_deref()),
                    cfg,
                );
                Prepared::Node(rec)
            }
            Parsed::VulnerabilityReport(mut v) => {
                let meta: Meta = v.get("metadata").and_then(|m| Meta::deserialize(m).ok()).unwrap_or_default();
                let Some(ns) = self.namespace(&meta) else { return Prepared::Excluded };
                v["metadata"]["namespace"] = serde_json::Value::String(ns);
                let params = rule_index().map(|i| cfg.rec(i).params.clone()).unwrap_or_default();
                Prepared::VulnerabilityReport(meta.name.unwrap_or_default(), VulnSummary::read(&v, &params))
            }
            Parsed::Namespace(meta) => match meta.metadata.name.filter(|n| !cfg.globally_excluded(n)) {
                Some(n) => Prepared::Namespace(n),
                None => Prepared::Excluded,
            },
        }
    }
}

impl Collector {
    /// A collector for one audit run.
    pub fn new() -> Self {
        Collector {
            pending: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            owners: OwnerIndex::default(),
            nodes: vec![],
            namespaces: BTreeSet::new(),
            interned: HashMap::new(),
            images: HashMap::new(),
            vulns: None,
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

    /// Takes one prepared object, in input order.
    pub fn take(&mut self, p: Prepared) {
        self.stats.objects += 1;
        match p {
            Prepared::Part { ns, owner, hash, mut rec, authoritative, controlled_by, images } => {
                if !self.namespaces.contains(&ns) {
                    self.namespaces.insert(ns.clone());
                }
                if authoritative && !matches!(owner.kind.as_str(), "Pod" | "Service" | "Ingress") {
                    self.owners.insert(&ns, &owner.kind, &owner.name, controlled_by);
                }
                self.intern(&mut rec.outcomes);
                let images = self.intern_images(images);
                let key = (ns, owner, hash);
                let h = self.hasher.hash_one(&key);
                let pending = &mut self.pending;
                match self.index.find(h, |&i| pending[i].0 == key) {
                    Some(&i) => {
                        let (_, existing, auth, _) = &mut pending[i];
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
                        let hasher = &self.hasher;
                        self.index.insert_unique(h, pending.len(), |&i| hasher.hash_one(&pending[i].0));
                        pending.push((key, rec, authoritative, images));
                    }
                }
            }
            Prepared::VulnerabilityReport(name, summary) => {
                let index = self.vulns.get_or_insert_with(VulnIndex::default);
                if let Some(s) = summary {
                    index.apply(&name, s);
                }
            }
            Prepared::History { ns, me, controlled_by } => {
                self.stats.history += 1;
                self.owners.insert(&ns, &me.kind, &me.name, controlled_by);
                self.namespaces.insert(ns);
            }
            Prepared::Node(rec) => self.nodes.push(rec),
            Prepared::Namespace(n) => {
                self.namespaces.insert(n);
            }
            Prepared::SkippedPod => self.stats.skipped_pods += 1,
            Prepared::Excluded => self.stats.excluded += 1,
        }
    }

    /// Resolves every Pod and template to its top-level owner and groups resources by namespace.
    pub fn finish(self) -> Collected {
        let Collector { mut pending, index, owners, mut nodes, namespaces, stats, vulns, .. } = self;
        drop(index);
        let source = match vulns {
            Some(index) => VulnSource::On(index),
            None => VulnSource::Off(NO_VULN_REPORTS.into()),
        };
        for ((ns, owner, hash), rec, auth, images) in pending.iter_mut() {
            let top = if owner.kind == "Pod" { owner.clone() } else { owners.top_level(ns, owner, hash.as_deref()) };
            // Only the top-level object's own metadata speaks for the resource.
            *auth = *auth && top == *owner;
            source.decide(&mut rec.outcomes, ns, &top, images, &|o: &Owner| owners.top_level(ns, o, None));
            rec.key = ResourceKey { namespace: ns.clone(), kind: top.kind, name: top.name };
        }
        // The parts of one resource become adjacent, in an order that does not depend on the input's.
        pending.sort_unstable_by(|a, b| (&a.1.key, &a.0.1.kind, &a.0.1.name, &a.0.2).cmp(&(&b.1.key, &b.0.1.kind, &b.0.1.name, &b.0.2)));
        let mut namespaces: BTreeMap<String, Vec<ResourceRecord>> = namespaces.into_iter().map(|n| (n, vec![])).collect();
        let mut current: Option<(ResourceRecord, bool)> = None;
        for (_, mut rec, auth, _) in pending {
            match &mut current {
                Some((existing, existing_auth)) if existing.key == rec.key => {
                    existing.pods += rec.pods;
                    if auth && !*existing_auth {
                        existing.labels = std::mem::take(&mut rec.labels);
                        existing.annotations = std::mem::take(&mut rec.annotations);
                        existing.origin = rec.origin.take();
                        *existing_auth = true;
                    }
                    existing.merge(rec.outcomes);
                }
                _ => {
                    if let Some((done, _)) = current.replace((rec, auth)) {
                        namespaces.entry(done.key.namespace.clone()).or_default().push(done);
                    }
                }
            }
        }
        if let Some((done, _)) = current {
            namespaces.entry(done.key.namespace.clone()).or_default().push(done);
        }
        nodes.sort_by(|a, b| a.key.cmp(&b.key));
        Collected { namespaces, nodes, stats }
    }
}

fn judges_vulnerabilities(outcomes: &crate::model::Outcomes) -> bool {
    rule_index().is_some_and(|i| outcomes.iter().any(|(j, _)| usize::from(*j) == i))
}

impl Collector {
    fn intern_images(&mut self, images: Vec<(String, String)>) -> Images {
        match self.images.get_key_value(&images) {
            Some((shared, _)) => shared.clone(),
            None => {
                let shared = Arc::new(images);
                self.images.insert(shared.clone(), ());
                shared
            }
        }
    }
}

fn record(
    ns: &str,
    me: &Owner,
    meta: &Meta,
    template: Option<&Meta>,
    outcomes: crate::model::Outcomes,
    origin: Origin,
    keep_labels: bool,
) -> ResourceRecord {
    let mut rec = ResourceRecord::new(ResourceKey { namespace: ns.to_string(), kind: me.kind.clone(), name: me.name.clone() });
    rec.annotations = ExemptAnnotations::read(&[meta.annotations.as_ref(), template.and_then(|t| t.annotations.as_ref())]);
    rec.outcomes = outcomes;
    rec.origin = Some(origin);
    if keep_labels {
        rec.labels = meta.labels.clone().unwrap_or_default();
    }
    rec
}
