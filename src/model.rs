//! Verdicts and the resources they belong to: outcomes, resource keys, owner resolution, merging.

use crate::checks::Finding;
use std::collections::{BTreeMap, HashMap};
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

/// Owner facts of intermediate objects (ReplicaSets, Jobs) by (namespace, kind, name).
#[derive(Debug, Default, Clone)]
pub struct OwnerIndex {
    owners: HashMap<(String, String, String), Owner>,
}

impl OwnerIndex {
    /// Records that `kind/name` in `ns` is controlled by `owner`.
    pub fn insert(&mut self, ns: &str, kind: &str, name: &str, owner: Owner) {
        self.owners.insert((ns.to_string(), kind.to_string(), name.to_string()), owner);
    }

    /// Forgets an object.
    pub fn remove(&mut self, ns: &str, kind: &str, name: &str) {
        self.owners.remove(&(ns.to_string(), kind.to_string(), name.to_string()));
    }

    /// The top-level owner of an object whose controller is `owner`; `pod_template_hash` helps when the ReplicaSet is unknown.
    pub fn top_level(&self, ns: &str, owner: &Owner, pod_template_hash: Option<&str>) -> Owner {
        let mut current = owner.clone();
        for _ in 0..4 {
            match self.owners.get(&(ns.to_string(), current.kind.clone(), current.name.clone())) {
                Some(next) => current = next.clone(),
                None => break,
            }
        }
        if current.kind == "ReplicaSet"
            && let Some(hash) = pod_template_hash.filter(|h| !h.is_empty())
            && let Some(deploy) = current.name.strip_suffix(hash).and_then(|n| n.strip_suffix('-'))
            && !deploy.is_empty()
        {
            return Owner { kind: "Deployment".into(), name: deploy.to_string() };
        }
        current
    }
}

/// The controlling owner in a list of owner references (controller: true, else the first).
pub fn controller_of(refs: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>) -> Option<Owner> {
    let refs = refs?;
    let r = refs.iter().find(|r| r.controller == Some(true)).or_else(|| refs.first())?;
    Some(Owner { kind: r.kind.clone(), name: r.name.clone() })
}
