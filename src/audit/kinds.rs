//! What the audit judges, recognised by API group and kind (the one table), and decoding an
//! object of a judged kind into its slim shape from any serde deserializer.

use super::docs::{IngressDoc, MetaDoc, NodeDoc, PodDoc, ServiceDoc, WorkloadDoc};
use serde::{Deserialize, Deserializer};

/// A decoded object of a kind the audit judges.
#[derive(Debug)]
pub enum Parsed {
    /// Pod.
    Pod(Box<PodDoc>),
    /// A workload kind, with its kind name.
    Workload(String, Box<WorkloadDoc>),
    /// Service.
    Service(Box<ServiceDoc>),
    /// Ingress.
    Ingress(Box<IngressDoc>),
    /// Node.
    Node(Box<NodeDoc>),
    /// Namespace.
    Namespace(Box<MetaDoc>),
    /// A Trivy Operator VulnerabilityReport (#24), as a generic value.
    VulnerabilityReport(Box<serde_json::Value>),
}

/// A kind the audit judges, as recognised by its API group and kind (see [`judged`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// core/v1 Pod.
    Pod,
    /// core/v1 Service.
    Service,
    /// networking.k8s.io or extensions/v1beta1 Ingress.
    Ingress,
    /// core/v1 Node.
    Node,
    /// core/v1 Namespace.
    Namespace,
    /// A kind that carries a pod template, by its kind name.
    Workload(&'static str),
    /// aquasecurity.github.io VulnerabilityReport (#24).
    VulnerabilityReport,
}

/// The one table of what is judged: (API group, version or `*` for any, kind) -> judged kind.
/// Everything else, including a CRD whose kind is `Deployment` or `Service`, is a kind not judged.
const JUDGED: [(&str, &str, &str, Judged); 18] = [
    ("", "v1", "Pod", Judged::Pod),
    ("", "v1", "Service", Judged::Service),
    ("", "v1", "Node", Judged::Node),
    ("", "v1", "Namespace", Judged::Namespace),
    ("", "v1", "ReplicationController", Judged::Workload("ReplicationController")),
    ("", "v1", "PodTemplate", Judged::Workload("PodTemplate")),
    ("apps", "*", "Deployment", Judged::Workload("Deployment")),
    ("apps", "*", "StatefulSet", Judged::Workload("StatefulSet")),
    ("apps", "*", "DaemonSet", Judged::Workload("DaemonSet")),
    ("apps", "*", "ReplicaSet", Judged::Workload("ReplicaSet")),
    ("extensions", "v1beta1", "Deployment", Judged::Workload("Deployment")),
    ("extensions", "v1beta1", "DaemonSet", Judged::Workload("DaemonSet")),
    ("extensions", "v1beta1", "ReplicaSet", Judged::Workload("ReplicaSet")),
    ("batch", "*", "Job", Judged::Workload("Job")),
    ("batch", "*", "CronJob", Judged::Workload("CronJob")),
    ("networking.k8s.io", "*", "Ingress", Judged::Ingress),
    ("extensions", "v1beta1", "Ingress", Judged::Ingress),
    ("aquasecurity.github.io", "*", "VulnerabilityReport", Judged::VulnerabilityReport),
];

/// Splits an apiVersion into (group, version) as Kubernetes does: `v1` is the core group (``),
/// `apps/v1` is group `apps`; None when it is not of either form.
pub fn group_version(api_version: &str) -> Option<(&str, &str)> {
    match api_version.split_once('/') {
        None if !api_version.is_empty() => Some(("", api_version)),
        Some((g, v)) if !g.is_empty() && !v.is_empty() && !v.contains('/') => Some((g, v)),
        _ => None,
    }
}

/// What an object of this apiVersion and kind is judged as, if at all.
pub fn judged(api_version: &str, kind: &str) -> Option<Judged> {
    let (group, version) = group_version(api_version)?;
    JUDGED.iter().find(|(g, v, k, _)| *k == kind && *g == group && (*v == "*" || *v == version)).map(|e| e.3)
}

/// The key a kind not judged is counted under: `Kind` in core `v1`, `group/Kind` in another group,
/// `apiVersion/Kind` for an apiVersion no API server serves (`v2`, `a/b/c`).
pub fn skipped_key(api_version: &str, kind: &str) -> String {
    match group_version(api_version) {
        Some(("", "v1")) => kind.to_string(),
        Some(("", _)) | None => format!("{api_version}/{kind}"),
        Some((group, _)) => format!("{group}/{kind}"),
    }
}

/// True for a `kind: List` or a typed list such as `PodList`.
pub fn is_list_kind(kind: &str) -> bool {
    kind.strip_suffix("List").is_some()
}

/// Decodes an object of a judged kind from any serde deserializer.
pub fn decode_kind<'de, D: Deserializer<'de>>(kind: Judged, de: D) -> Result<Parsed, D::Error> {
    Ok(match kind {
        Judged::Pod => Parsed::Pod(Box::new(PodDoc::deserialize(de)?)),
        Judged::Service => Parsed::Service(Box::new(ServiceDoc::deserialize(de)?)),
        Judged::Ingress => Parsed::Ingress(Box::new(IngressDoc::deserialize(de)?)),
        Judged::Node => Parsed::Node(Box::new(NodeDoc::deserialize(de)?)),
        Judged::Namespace => Parsed::Namespace(Box::new(MetaDoc::deserialize(de)?)),
        Judged::Workload(kind) => Parsed::Workload(kind.to_string(), Box::new(WorkloadDoc::deserialize(de)?)),
        Judged::VulnerabilityReport => Parsed::VulnerabilityReport(Box::new(serde_json::Value::deserialize(de)?)),
    })
}

/// A `kind: List` (or `*List`) document's items.
#[derive(Debug, Deserialize)]
pub struct ListDoc {
    /// Items as generic values.
    #[serde(default)]
    pub items: Vec<serde_json::Value>,
}

/// Decodes "the document type of this kind".
pub struct KindDecoder(pub Judged);

impl crate::yaml::Decode for KindDecoder {
    type Out = Parsed;
    fn run<'de, D: Deserializer<'de>>(&self, d: D) -> Result<Parsed, D::Error> {
        decode_kind(self.0, d)
    }
}
