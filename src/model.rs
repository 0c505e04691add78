//! Verdicts and the resources they belong to: outcomes, resource keys, owner resolution, merging.

use crate::checks::Finding;
use hashbrown::HashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The verdict of one recommendation on one object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Judged and passing.
    Pass,
    /// Judged and failing, with reasons.
    Fail(Vec<Finding>),
    /// In scope but could not be judged (no data), with the reason.
    NotEvaluated(Arc<str>),
}

impl Outcome {
    /// Outcome of a check's findings.
    pub fn from_findings(f: Vec<Finding>) -> Outcome {
        if f.is_empty() { Outcome::Pass } else { Outcome::Fail(f) }
    }

    /// Combines two Pods' outcomes of one resource: Fail wins, then NotEvaluated, then Pass.
    pub fn merge(&mut self, other: Outcome) {
        match (&mut *self, other) {
            (Outcome::Fail(a), Outcome::Fail(b)) => {
                for f in b {
                    if !a.contains(&f) {
                        a.push(f);
                    }
                }
            }
            (Outcome::Fail(_), _) => {}
            (_, o @ Outcome::Fail(_)) => *self = o,
            (Outcome::NotEvaluated(_), _) => {}
            (_, o @ Outcome::NotEvaluated(_)) => *self = o,
            (Outcome::Pass, Outcome::Pass) => {}
        }
    }
}

/// Outcomes of one object, by catalogue index (absent = not applicable).
pub type Outcomes = Vec<(u8, Outcome)>;

/// Identifies a reported resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    /// Namespace ("" for cluster-scoped resources).
    pub namespace: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// Exemption annotations as read from a resource (or its pod template).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExemptAnnotations {
    /// `kompliance.dev/exempt`.
    pub exempt: Option<String>,
    /// `kompliance.dev/exempt-reason`.
    pub reason: Option<String>,
    /// `kompliance.dev/exempt-until`.
    pub until: Option<String>,
}

impl ExemptAnnotations {
    /// Reads the three annotations; the first map that has `kompliance.dev/exempt` wins.
    pub fn read(maps: &[Option<&BTreeMap<String, String>>]) -> ExemptAnnotations {
        for m in maps.iter().flatten() {
            if let Some(e) = m.get("kompliance.dev/exempt") {
                return ExemptAnnotations {
                    exempt: Some(e.clone()),
                    reason: m.get("kompliance.dev/exempt-reason").cloned(),
                    until: m.get("kompliance.dev/exempt-until").cloned(),
                };
            }
        }
        ExemptAnnotations::default()
    }
}

/// Where a resource was read from (audit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// File path as given (`-` for stdin).
    pub file: Arc<str>,
    /// 1-based line of the object.
    pub line: usize,
}

/// Everything known about one reported resource.
#[derive(Debug, Clone)]
pub struct ResourceRecord {
    /// Which resource.
    pub key: ResourceKey,
    /// Its labels (for scoping exemption rules).
    pub labels: BTreeMap<String, String>,
    /// Its exemption annotations.
    pub annotations: ExemptAnnotations,
    /// Pods judged (0 in an audit of templates).
    pub pods: u32,
    /// Merged outcomes by catalogue index.
    pub outcomes: Outcomes,
    /// Where it came from, in an audit.
    pub origin: Option<Origin>,
}

impl ResourceRecord {
    /// A record with no outcomes yet.
    pub fn new(key: ResourceKey) -> Self {
        ResourceRecord { key, labels: BTreeMap::new(), annotations: ExemptAnnotations::default(), pods: 0, outcomes: vec![], origin: None }
    }

    /// Merges one object's outcomes into this resource.
    pub fn merge(&mut self, outcomes: Outcomes) {
        for (i, o) in outcomes {
            match self.outcomes.iter_mut().find(|(j, _)| *j == i) {
                Some((_, existing)) => existing.merge(o),
                None => self.outcomes.push((i, o)),
            }
        }
        self.outcomes.sort_by_key(|(i, _)| *i);
    }

    /// The outcome for a catalogue index.
    pub fn outcome(&self, i: usize) -> Option<&Outcome> {
        self.outcomes.iter().find(|(j, _)| *j as usize == i).map(|(_, o)| o)
    }
}

/// An owner reference reduced to what resolution needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
}

/// Built-in kinds that can control a Pod (`apps`, `batch` or core), as owner references name them.
const POD_CONTROLLERS: [&str; 5] = ["ReplicaSet", "ReplicationController", "Job", "StatefulSet", "DaemonSet"];

/// Built-in workloads that are always the reported resource, whoever owns them.
const TOP_LEVEL: [&str; 5] = ["Deployment", "StatefulSet", "DaemonSet", "CronJob", "ReplicationController"];

/// The owner kind that may stand above a built-in intermediate kind (a ReplicaSet's Deployment, a Job's CronJob).
fn parent_kind(kind: &str) -> Option<&'static str> {
    match kind {
        "ReplicaSet" => Some("Deployment"),
        "Job" => Some("CronJob"),
        _ => None,
    }
}

/// True when an owner reference's `apiVersion` is a built-in group that has workload kinds.
fn builtin_group(api_version: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    matches!(group, "" | "apps" | "batch" | "extensions")
}

/// Whether a Pod whose controller is `owner` is reported under that controller (or one above it);
/// a Pod controlled by anything else (a custom resource) is reported as itself.
pub fn pod_controller(owner: &Owner) -> bool {
    POD_CONTROLLERS.contains(&owner.kind.as_str())
}

/// Owner facts of workload objects by (namespace, kind, name): each known object's own controller.
#[derive(Debug, Default, Clone)]
pub struct OwnerIndex {
    owners: HashMap<(String, String, String), Option<Owner>>,
}

/// An [`OwnerIndex`] key, borrowed: looks an object up without copying its names. Hashes as the
/// owned key does (a tuple hashes its fields in order; `String` hashes as `str`).
#[derive(Hash)]
struct KeyRef<'a>(&'a str, &'a str, &'a str);

impl hashbrown::Equivalent<(String, String, String)> for KeyRef<'_> {
    fn equivalent(&self, key: &(String, String, String)) -> bool {
        (self.0, self.1, self.2) == (key.0.as_str(), key.1.as_str(), key.2.as_str())
    }
}

impl OwnerIndex {
    /// Records that `kind/name` in `ns` exists, controlled by `owner` (if any).
    pub fn insert(&mut self, ns: &str, kind: &str, name: &str, owner: Option<Owner>) {
        self.owners.insert((ns.to_string(), kind.to_string(), name.to_string()), owner);
    }

    /// Forgets an object.
    pub fn remove(&mut self, ns: &str, kind: &str, name: &str) {
        self.owners.remove(&KeyRef(ns, kind, name));
    }

    /// The controller of a known object: `None` when unknown, `Some(None)` when it has none.
    pub fn get(&self, ns: &str, kind: &str, name: &str) -> Option<Option<&Owner>> {
        self.owners.get(&KeyRef(ns, kind, name)).map(Option::as_ref)
    }

    /// The reported resource for a built-in workload object `me`: a ReplicaSet climbs to its
    /// Deployment and a Job to its CronJob; every other owner (a custom resource) is not followed,
    /// so a StatefulSet owned by a `Prometheus` object stays the StatefulSet. `pod_template_hash`
    /// finds the Deployment of a ReplicaSet that is not in the index.
    pub fn top_level(&self, ns: &str, me: &Owner, pod_template_hash: Option<&str>) -> Owner {
        if TOP_LEVEL.contains(&me.kind.as_str()) {
            return me.clone();
        }
        let Some(parent) = parent_kind(&me.kind) else { return me.clone() };
        match self.get(ns, &me.kind, &me.name) {
            Some(Some(o)) if o.kind == parent => o.clone(),
            Some(_) => me.clone(),
            None => match pod_template_hash.filter(|h| !h.is_empty() && me.kind == "ReplicaSet") {
                Some(hash) => match me.name.strip_suffix(hash).and_then(|n| n.strip_suffix('-')).filter(|d| !d.is_empty()) {
                    Some(deploy) => Owner { kind: "Deployment".into(), name: deploy.to_string() },
                    None => me.clone(),
                },
                None => me.clone(),
            },
        }
    }
}

/// The controlling owner in a list of owner references (controller: true, else the first). An
/// owner outside the built-in workload groups keeps its group in its kind (`Prometheus.monitoring.coreos.com`),
/// so it never passes for a built-in kind of the same name.
pub fn controller_of(refs: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>) -> Option<Owner> {
    let refs = refs?;
    let r = refs.iter().find(|r| r.controller == Some(true)).or_else(|| refs.first())?;
    let kind = if r.api_version.is_empty() || builtin_group(&r.api_version) {
        r.kind.clone()
    } else {
        format!("{}.{}", r.kind, r.api_version.rsplit_once('/').map_or(r.api_version.as_str(), |(g, _)| g))
    };
    Some(Owner { kind, name: r.name.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn owner(kind: &str, name: &str) -> Owner {
        Owner { kind: kind.into(), name: name.into() }
    }

    #[test]
    fn the_owner_index_finds_and_forgets_objects_by_borrowed_names() {
        let mut idx = OwnerIndex::default();
        for i in 0..200 {
            idx.insert("shop", "ReplicaSet", &format!("web-{i}"), Some(owner("Deployment", &format!("web{i}"))));
        }
        idx.insert("shop", "Deployment", "web0", None);
        assert_eq!(idx.get("shop", "ReplicaSet", "web-7"), Some(Some(&owner("Deployment", "web7"))));
        assert_eq!(idx.get("shop", "Deployment", "web0"), Some(None), "known, without a controller");
        assert_eq!(idx.get("shop", "ReplicaSet", "web-200"), None);
        assert_eq!(idx.get("other", "ReplicaSet", "web-7"), None);
        idx.remove("shop", "ReplicaSet", "web-7");
        assert_eq!(idx.get("shop", "ReplicaSet", "web-7"), None);
        assert_eq!(idx.get("shop", "ReplicaSet", "web-8"), Some(Some(&owner("Deployment", "web8"))));
    }

    fn refs(api_version: &str, kind: &str) -> Vec<OwnerReference> {
        vec![OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: "x".into(),
            controller: Some(true),
            ..Default::default()
        }]
    }

    #[test]
    fn built_in_workloads_owned_by_custom_resources_are_the_reported_resource() {
        let mut idx = OwnerIndex::default();
        idx.insert("mon", "StatefulSet", "prometheus-k8s", controller_of(Some(&refs("monitoring.coreos.com/v1", "Prometheus"))));
        assert_eq!(idx.top_level("mon", &owner("StatefulSet", "prometheus-k8s"), None), owner("StatefulSet", "prometheus-k8s"));
        // An Argo Rollout owns its ReplicaSets: the ReplicaSet is the built-in workload reported.
        idx.insert("shop", "ReplicaSet", "web-abc", controller_of(Some(&refs("argoproj.io/v1alpha1", "Rollout"))));
        assert_eq!(idx.top_level("shop", &owner("ReplicaSet", "web-abc"), Some("abc")), owner("ReplicaSet", "web-abc"));
    }

    #[test]
    fn replica_sets_and_jobs_climb_to_their_deployment_and_cron_job() {
        let mut idx = OwnerIndex::default();
        idx.insert("a", "ReplicaSet", "web-7d9f8", Some(owner("Deployment", "web")));
        idx.insert("a", "Job", "backup-123", Some(owner("CronJob", "backup")));
        idx.insert("a", "Job", "once", None);
        assert_eq!(idx.top_level("a", &owner("ReplicaSet", "web-7d9f8"), None), owner("Deployment", "web"));
        assert_eq!(idx.top_level("a", &owner("Job", "backup-123"), None), owner("CronJob", "backup"));
        assert_eq!(idx.top_level("a", &owner("Job", "once"), None), owner("Job", "once"));
        // An unknown ReplicaSet is matched to its Deployment by the pod-template-hash; a known one without owner is not.
        assert_eq!(idx.top_level("a", &owner("ReplicaSet", "api-5c6d"), Some("5c6d")), owner("Deployment", "api"));
        idx.insert("a", "ReplicaSet", "bare-5c6d", None);
        assert_eq!(idx.top_level("a", &owner("ReplicaSet", "bare-5c6d"), Some("5c6d")), owner("ReplicaSet", "bare-5c6d"));
    }

    #[test]
    fn owners_of_other_groups_never_pass_for_built_in_kinds() {
        assert_eq!(controller_of(Some(&refs("apps/v1", "ReplicaSet"))), Some(owner("ReplicaSet", "x")));
        assert_eq!(controller_of(Some(&refs("example.com/v1", "ReplicaSet"))), Some(owner("ReplicaSet.example.com", "x")));
        assert!(!pod_controller(&owner("ReplicaSet.example.com", "x")));
        assert!(pod_controller(&owner("StatefulSet", "x")));
    }
}
