//! The verdict store: per-object verdicts (never whole objects), owner facts and dirty namespaces.
//! Watch events go in; namespace reports come out, counted exactly as the audit counts.

use crate::checks::PodFacts;
use crate::config::Config;
use crate::engine::{self, VulnerabilitySource};
use crate::model::{ExemptAnnotations, Outcomes, Owner, OwnerIndex, ResourceKey, ResourceRecord, controller_of, pod_controller};
use crate::report::ReportStatus;
use crate::report::build::{BuildOptions, namespace_report};
use crate::vulns::{VulnIndex, VulnSource, VulnSummary, rule_index, scanned_images};
use hashbrown::{HashMap, HashSet};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;
use std::sync::Arc;

/// What the store keeps of one Pod; labels and outcomes are shared between Pods that have equal ones
/// (the Pods of one ReplicaSet do), which keeps 100,000 Pods in a few tens of MiB.
#[derive(Debug, Clone)]
struct PodEntry {
    /// Creation time (seconds): the newest Pod of a resource carries its current template.
    created: i64,
    controller: Option<Owner>,
    hash: Option<String>,
    labels: Arc<BTreeMap<String, String>>,
    annotations: ExemptAnnotations,
    outcomes: Arc<Outcomes>,
    images: Arc<Vec<(String, String)>>,
}

/// Keeps one shared copy of equal values; copies nobody holds any more are swept from time to time.
#[derive(Debug)]
struct Interner<T: Hash + Eq> {
    set: HashSet<Arc<T>>,
    sweep_at: usize,
}

impl<T: Hash + Eq> Default for Interner<T> {
    fn default() -> Self {
        Interner { set: HashSet::new(), sweep_at: 1024 }
    }
}

impl<T: Hash + Eq> Interner<T> {
    fn intern(&mut self, v: T) -> Arc<T> {
        if let Some(shared) = self.set.get(&v) {
            return shared.clone();
        }
        if self.set.len() >= self.sweep_at {
            self.set.retain(|a| Arc::strong_count(a) > 1);
            self.sweep_at = (self.set.len() * 2).max(1024);
        }
        let shared = Arc::new(v);
        self.set.insert(shared.clone());
        shared
    }
}

/// Verdicts of everything watched, by namespace.
#[derive(Debug, Default)]
pub struct VerdictStore {
    pods: HashMap<String, BTreeMap<String, PodEntry>>,
    shared_labels: Interner<BTreeMap<String, String>>,
    shared_outcomes: Interner<Outcomes>,
    shared_images: Interner<Vec<(String, String)>>,
    vulns: Option<VulnSource>,
    objects: HashMap<String, BTreeMap<(String, String), ResourceRecord>>,
    owners: OwnerIndex,
    /// Exemption annotations on workloads' own metadata, by (namespace, kind, name); only those that have any.
    workload_annotations: HashMap<(String, String, String), ExemptAnnotations>,
    nodes: BTreeMap<String, ResourceRecord>,
    namespaces: BTreeSet<String>,
    dirty: BTreeSet<String>,
}

fn ns_of(meta: &ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_else(|| "default".into())
}

fn name_of(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

impl VerdictStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn touch(&mut self, ns: &str) {
        if !self.dirty.contains(ns) {
            self.dirty.insert(ns.to_string());
        }
    }

    /// A Namespace exists (it gets a report even when empty).
    pub fn apply_namespace(&mut self, name: &str, cfg: &Config) {
        if !cfg.globally_excluded(name) && self.namespaces.insert(name.to_string()) {
            self.touch(name);
        }
    }

    /// A Namespace is gone, with everything in it.
    pub fn delete_namespace(&mut self, name: &str) {
        self.namespaces.remove(name);
        self.pods.remove(name);
        self.objects.remove(name);
        self.touch(name);
    }

    /// Evaluates a Pod on arrival and keeps only its verdicts; finished and mirror Pods are dropped.
    pub fn apply_pod(&mut self, pod: &Pod, cfg: &Config, vulns: &dyn VulnerabilitySource) {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let annotations = pod.metadata.annotations.as_ref();
        let facts = match &pod.spec {
            Some(spec) => PodFacts::from_spec(spec, annotations),
            None => PodFacts { annotations, ..PodFacts::default() },
        };
        self.apply_pod_parts(&pod.metadata, &facts, phase, cfg, vulns);
    }

    /// [`apply_pod`](Self::apply_pod) from the parts the store reads: metadata, the spec's facts
    /// (with the Pod's annotations) and `status.phase`.
    pub fn apply_pod_parts(
        &mut self,
        meta: &ObjectMeta,
        facts: &PodFacts<'_>,
        phase: Option<&str>,
        cfg: &Config,
        vulns: &dyn VulnerabilitySource,
    ) {
        let (ns, name) = (ns_of(meta), name_of(meta));
        if cfg.globally_excluded(&ns) || engine::pod_skipped(phase, meta.annotations.as_ref()) {
            return self.delete_pod(&ns, &name);
        }
        let outcomes = engine::evaluate_pod(&ns, facts, meta.labels.as_ref(), cfg, vulns);
        let images = scanned_images(facts, cfg);
        let entry = PodEntry {
            created: meta.creation_timestamp.as_ref().map_or(0, |t| t.0.as_second()),
            controller: controller_of(meta.owner_references.as_ref()).filter(pod_controller),
            hash: meta.labels.as_ref().and_then(|l| l.get("pod-template-hash")).cloned(),
            labels: self.shared_labels.intern(meta.labels.clone().unwrap_or_default()),
            annotations: ExemptAnnotations::read(&[meta.annotations.as_ref()]),
            outcomes: self.shared_outcomes.intern(outcomes),
            images: self.shared_images.intern(images),
        };
        self.namespaces.insert(ns.clone());
        self.pods.entry(ns.clone()).or_default().insert(name, entry);
        self.touch(&ns);
    }

    /// A Pod is gone.
    pub fn delete_pod(&mut self, ns: &str, name: &str) {
        if self.pods.get_mut(ns).and_then(|p| p.remove(name)).is_some() {
            self.touch(ns);
        }
    }

    fn put_object(&mut self, ns: String, kind: &str, meta: &ObjectMeta, outcomes: Outcomes) {
        let name = name_of(meta);
        let mut rec = ResourceRecord::new(ResourceKey { namespace: ns.clone(), kind: kind.into(), name: name.clone() });
        rec.labels = meta.labels.clone().unwrap_or_default();
        rec.annotations = ExemptAnnotations::read(&[meta.annotations.as_ref()]);
        rec.outcomes = outcomes;
        self.namespaces.insert(ns.clone());
        self.objects.entry(ns.clone()).or_default().insert((kind.to_string(), name), rec);
        self.touch(&ns);
    }

    /// Evaluates a Service.
    pub fn apply_service(&mut self, svc: &Service, cfg: &Config) {
        let ns = ns_of(&svc.metadata);
        if !cfg.globally_excluded(&ns) {
            let outcomes = engine::evaluate_service(&ns, svc, cfg);
            self.put_object(ns, "Service", &svc.metadata, outcomes);
        }
    }

    /// Evaluates an Ingress.
    pub fn apply_ingress(&mut self, ing: &Ingress, cfg: &Config) {
        let ns = ns_of(&ing.metadata);
        if !cfg.globally_excluded(&ns) {
            let outcomes = engine::evaluate_ingress(&ns, ing, cfg);
            self.put_object(ns, "Ingress", &ing.metadata, outcomes);
        }
    }

    /// A Service or Ingress is gone.
    pub fn delete_object(&mut self, ns: &str, kind: &str, name: &str) {
        if self.objects.get_mut(ns).and_then(|o| o.remove(&(kind.to_string(), name.to_string()))).is_some() {
            self.touch(ns);
        }
    }

    /// A workload's metadata: its own controller (a ReplicaSet's Deployment, a Job's CronJob, a
    /// StatefulSet's custom resource) and the exemption annotations on its own metadata.
    pub fn apply_owner(&mut self, ns: &str, kind: &str, name: &str, controller: Option<Owner>, annotations: ExemptAnnotations) {
        self.owners.insert(ns, kind, name, controller);
        let key = (ns.to_string(), kind.to_string(), name.to_string());
        if annotations == ExemptAnnotations::default() {
            self.workload_annotations.remove(&key);
        } else {
            self.workload_annotations.insert(key, annotations);
        }
        self.touch(ns);
    }

    /// A workload is gone.
    pub fn delete_owner(&mut self, ns: &str, kind: &str, name: &str) {
        self.owners.remove(ns, kind, name);
        self.workload_annotations.remove(&(ns.to_string(), kind.to_string(), name.to_string()));
        self.touch(ns);
    }

    /// A Node's kubelet version (#15).
    pub fn apply_node(&mut self, node: &Node, cfg: &Config) {
        let name = name_of(&node.metadata);
        let mut rec = ResourceRecord::new(ResourceKey { namespace: String::new(), kind: "Node".into(), name: name.clone() });
        rec.labels = node.metadata.labels.clone().unwrap_or_default();
        rec.annotations = ExemptAnnotations::read(&[node.metadata.annotations.as_ref()]);
        rec.outcomes =
            engine::evaluate_node(node.status.as_ref().and_then(|s| s.node_info.as_ref()).map(|n| n.kubelet_version.as_str()), cfg);
        self.nodes.insert(name, rec);
    }

    /// A Node is gone.
    pub fn delete_node(&mut self, name: &str) {
        self.nodes.remove(name);
    }

    /// Node records, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &ResourceRecord> {
        self.nodes.values()
    }

    /// Namespaces that changed since the last call.
    pub fn take_dirty(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.dirty)
    }

    /// Every namespace that gets a report.
    pub fn namespaces(&self) -> impl Iterator<Item = &String> {
        self.namespaces.iter()
    }

    /// Whether `ns` gets a report.
    pub fn has_namespace(&self, ns: &str) -> bool {
        self.namespaces.contains(ns)
    }

    /// The resources of a namespace: Pods folded into their top-level owners (with `pods`
    /// counted), then Services and Ingresses, sorted by (kind, name).
    pub fn records(&self, ns: &str) -> Vec<ResourceRecord> {
        self.records_with(ns, true)
    }

    /// [`records`](Self::records); with `skip_repeats`, a Pod whose shared outcomes and images were
    /// already merged into its resource (the other Pods of its ReplicaSet) is only counted:
    /// merging the same outcomes again changes nothing (tested against merging every Pod).
    fn records_with(&self, ns: &str, skip_repeats: bool) -> Vec<ResourceRecord> {
        // Per resource: its record, the newest Pod (whose labels and annotations are the current
        // template's), and the (outcomes, images) already merged, by address.
        type Merged = HashSet<(*const Outcomes, *const Vec<(String, String)>)>;
        let mut by_key: BTreeMap<ResourceKey, (ResourceRecord, (i64, &str), Merged)> = BTreeMap::new();
        for (name, p) in self.pods.get(ns).into_iter().flatten() {
            let top = match &p.controller {
                Some(c) => self.owners.top_level(ns, c, p.hash.as_deref()),
                None => Owner { kind: "Pod".into(), name: name.clone() },
            };
            let key = ResourceKey { namespace: ns.to_string(), kind: top.kind, name: top.name };
            let newest = (p.created, name.as_str());
            let (rec, current, merged) =
                by_key.entry(key.clone()).or_insert_with(|| (ResourceRecord::new(key), (i64::MIN, ""), Merged::default()));
            if newest > *current {
                *current = newest;
                rec.labels = (*p.labels).clone();
                rec.annotations = p.annotations.clone();
            }
            rec.pods += 1;
            let shared = (Arc::as_ptr(&p.outcomes), Arc::as_ptr(&p.images));
            if !merged.insert(shared) && skip_repeats {
                continue;
            }
            rec.merge(self.with_vulnerabilities(ns, &rec.key, p));
        }
        let mut out: BTreeMap<ResourceKey, ResourceRecord> = by_key.into_iter().map(|(k, (rec, ..))| (k, rec)).collect();
        for rec in out.values_mut() {
            // The workload's own annotations come first, as in the audit (ExemptAnnotations::read).
            if let Some(own) = self.workload_annotations.get(&(ns.to_string(), rec.key.kind.clone(), rec.key.name.clone()))
                && own.exempt.is_some()
            {
                rec.annotations = own.clone();
            }
        }
        for rec in self.objects.get(ns).into_iter().flat_map(|o| o.values()) {
            out.insert(rec.key.clone(), rec.clone());
        }
        out.into_values().collect()
    }

    /// Where #24 gets data from from now on: `None` keeps each Pod's own verdict (the engine's
    /// source), `Some(Err(reason))` makes it NotEvaluated with the reason, `Some(Ok(()))` reads the reports given to [`VerdictStore::apply_vulnerability_report`].
    pub fn set_vulnerability_source(&mut self, source: Option<Result<(), String>>) {
        self.vulns = source.map(|s| match s {
            Ok(()) => VulnSource::On(VulnIndex::default()),
            Err(why) => VulnSource::Off(why.into()),
        });
        let all: Vec<String> = self.namespaces.iter().cloned().collect();
        for ns in all {
            self.touch(&ns);
        }
    }

    /// A VulnerabilityReport object (`metadata` and `report`) was added or changed.
    pub fn apply_vulnerability_report(&mut self, name: &str, obj: &serde_json::Value, cfg: &Config) {
        let Some(VulnSource::On(index)) = self.vulns.as_mut() else { return };
        let params = rule_index().map(|i| cfg.rec(i).params.clone()).unwrap_or_default();
        match VulnSummary::read(obj, &params) {
            Some(summary) => {
                let ns = summary.namespace.clone();
                index.apply(name, summary);
                self.touch(&ns);
            }
            None => {
                if let Some(ns) = obj.pointer("/metadata/namespace").and_then(serde_json::Value::as_str) {
                    let ns = ns.to_string();
                    index.remove(&ns, name);
                    self.touch(&ns);
                }
            }
        }
    }

    /// A VulnerabilityReport object is gone.
    pub fn delete_vulnerability_report(&mut self, ns: &str, name: &str) {
        if let Some(VulnSource::On(index)) = self.vulns.as_mut() {
            index.remove(ns, name);
            self.touch(ns);
        }
    }

    /// A Pod's outcomes with #24 decided by the vulnerability source in force.
    fn with_vulnerabilities(&self, ns: &str, top: &ResourceKey, p: &PodEntry) -> Outcomes {
        let mut outcomes = (*p.outcomes).clone();
        if let Some(source) = &self.vulns {
            let top = Owner { kind: top.kind.clone(), name: top.name.clone() };
            source.decide(&mut outcomes, ns, &top, &p.images, &|o: &Owner| self.owners.top_level(ns, o, None));
        }
        outcomes
    }

    /// The report of one namespace, built from the stored verdicts.
    pub fn report(&self, ns: &str, cfg: &Config, opts: &BuildOptions) -> ReportStatus {
        namespace_report(ns, &self.records(ns), cfg, opts)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::engine::NoVulnerabilityData;
    use crate::report::State;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus, SecurityContext};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    /// A small Pod builder for tests.
    struct PodB(Pod);

    fn pod(ns: &str, name: &str) -> PodB {
        PodB(Pod {
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some(ns.into()), ..Default::default() },
            spec: Some(PodSpec {
                containers: vec![Container { name: "app".into(), image: Some("myacr.azurecr.io/app:1".into()), ..Default::default() }],
                ..Default::default()
            }),
            status: None,
        })
    }

    impl PodB {
        fn privileged(mut self) -> Self {
            if let Some(spec) = self.0.spec.as_mut() {
                spec.containers[0].security_context = Some(SecurityContext { privileged: Some(true), ..Default::default() });
            }
            self
        }
        fn owned_by_rs(mut self, rs: &str, hash: &str) -> Self {
            self.0.metadata.owner_references = Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: rs.into(),
                uid: "u".into(),
                controller: Some(true),
                ..Default::default()
            }]);
            self.0.metadata.labels = Some([("pod-template-hash".to_string(), hash.to_string())].into());
            self
        }
        fn created(mut self, secs: i64, annotations: &[(&str, &str)]) -> Self {
            self.0.metadata.creation_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::from_second(secs).expect("time")));
            self.0.metadata.annotations = Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
            self
        }
        fn phase(mut self, phase: &str) -> Self {
            self.0.status = Some(PodStatus { phase: Some(phase.into()), ..Default::default() });
            self
        }
    }

    /// Report options for tests: English, a fixed day, Pods shown, messages capped as in the operator.
    pub(in crate::operator) fn opts() -> BuildOptions {
        BuildOptions {
            lang: Default::default(),
            today: "2026-11-28".parse().expect("date"),
            show_pods: true,
            message_cap: Some(crate::report::build::MESSAGE_CAP),
        }
    }

    fn row(st: &ReportStatus, id: &str) -> crate::report::RecommendationEntry {
        st.recommendations.iter().find(|e| e.id == id).cloned().expect("row")
    }

    #[test]
    fn pods_fold_into_their_deployment_with_a_pod_count() {
        let cfg = Config::default();
        let mut s = VerdictStore::new();
        s.apply_owner("shop", "ReplicaSet", "web-7d9f8", Some(Owner { kind: "Deployment".into(), name: "web".into() }), Default::default());
        s.apply_pod(&pod("shop", "web-7d9f8-aaaaa").owned_by_rs("web-7d9f8", "7d9f8").privileged().0, &cfg, &NoVulnerabilityData);
        s.apply_pod(&pod("shop", "web-7d9f8-bbbbb").owned_by_rs("web-7d9f8", "7d9f8").0, &cfg, &NoVulnerabilityData);
        let st = s.report("shop", &cfg, &opts());
        let p = row(&st, "privileged-containers");
        assert_eq!((p.state, p.counts.unhealthy), (State::Unhealthy, 1));
        assert_eq!((p.unhealthy[0].kind.as_str(), p.unhealthy[0].name.as_str(), p.unhealthy[0].pods), ("Deployment", "web", Some(2)));
    }

    #[test]
    fn during_a_rollout_the_newest_pods_template_and_the_workloads_own_annotations_decide() {
        let cfg = Config::default();
        let deploy = || Some(Owner { kind: "Deployment".into(), name: "web".into() });
        let exempt = [("kompliance.dev/exempt", "privileged-containers")];
        let mut s = VerdictStore::new();
        s.apply_owner("shop", "ReplicaSet", "web-old", deploy(), Default::default());
        s.apply_owner("shop", "ReplicaSet", "web-new", deploy(), Default::default());
        // The old revision's Pod was exempt (and sorts first by name); the new template dropped the exemption.
        s.apply_pod(&pod("shop", "web-aaa").owned_by_rs("web-old", "old").privileged().created(100, &exempt).0, &cfg, &NoVulnerabilityData);
        s.apply_pod(&pod("shop", "web-zzz").owned_by_rs("web-new", "new").privileged().created(200, &[]).0, &cfg, &NoVulnerabilityData);
        let p = row(&s.report("shop", &cfg, &opts()), "privileged-containers");
        assert_eq!((p.counts.unhealthy, p.counts.exempt), (1, 0), "the current template carries no exemption");
        // The Deployment's own annotation counts, whatever its Pods say.
        let own = ExemptAnnotations { exempt: Some("privileged-containers".into()), reason: Some("reviewed".into()), until: None };
        s.apply_owner("shop", "Deployment", "web", None, own);
        let p = row(&s.report("shop", &cfg, &opts()), "privileged-containers");
        assert_eq!((p.counts.unhealthy, p.counts.exempt), (0, 1));
        assert_eq!(p.exempt[0].exemption_reason.as_deref(), Some("reviewed"));
    }

    #[test]
    fn fixing_and_deleting_pods_update_the_report_and_dirty_set() {
        let cfg = Config::default();
        let mut s = VerdictStore::new();
        s.apply_pod(&pod("a", "p").privileged().0, &cfg, &NoVulnerabilityData);
        assert_eq!(s.take_dirty(), BTreeSet::from(["a".to_string()]));
        assert!(s.take_dirty().is_empty());
        assert_eq!(row(&s.report("a", &cfg, &opts()), "privileged-containers").state, State::Unhealthy);
        s.apply_pod(&pod("a", "p").0, &cfg, &NoVulnerabilityData);
        assert_eq!(row(&s.report("a", &cfg, &opts()), "privileged-containers").state, State::Healthy);
        s.apply_pod(&pod("a", "p").privileged().phase("Succeeded").0, &cfg, &NoVulnerabilityData);
        assert_eq!(row(&s.report("a", &cfg, &opts()), "privileged-containers").state, State::NotApplicable, "finished Pods are dropped");
        s.apply_pod(&pod("a", "q").privileged().0, &cfg, &NoVulnerabilityData);
        s.delete_namespace("a");
        assert!(s.records("a").is_empty());
        assert!(s.take_dirty().contains("a"));
        assert!(!s.namespaces().any(|n| n == "a"));
    }

    #[test]
    fn excluded_namespaces_are_not_stored() {
        let cfg = Config::default();
        let mut s = VerdictStore::new();
        s.apply_namespace("kube-system", &cfg);
        s.apply_pod(&pod("kube-system", "proxy").privileged().0, &cfg, &NoVulnerabilityData);
        assert!(s.records("kube-system").is_empty());
        assert_eq!(s.namespaces().count(), 0);
    }
}

#[cfg(test)]
#[path = "store_repeat_tests.rs"]
mod repeat_tests;
