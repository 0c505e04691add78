//! The shapes an audit decodes: just what the checks need, built from k8s-openapi's inner types.

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec, ServiceSpec};
use k8s_openapi::api::networking::v1::IngressTLS;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};

/// A Pod: metadata, spec, phase.
#[derive(Debug, Deserialize, Default)]
pub struct PodDoc {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: Option<PodSpec>,
    /// Status (phase only).
    pub status: Option<PodStatusDoc>,
}

/// The part of a Pod's status an audit uses.
#[derive(Debug, Deserialize, Default)]
pub struct PodStatusDoc {
    /// Phase (`Succeeded` and `Failed` Pods are skipped).
    pub phase: Option<String>,
}

/// Any workload that carries a pod template (Deployment ... CronJob, PodTemplate).
#[derive(Debug, Deserialize, Default)]
pub struct WorkloadDoc {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec with `template` or `jobTemplate`.
    pub spec: Option<WorkloadSpec>,
    /// A PodTemplate object's template.
    pub template: Option<PodTemplateSpec>,
}

/// `spec` of a workload.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// Pod template.
    pub template: Option<PodTemplateSpec>,
    /// CronJob's job template.
    pub job_template: Option<JobTemplate>,
}

/// CronJob's `spec.jobTemplate`.
#[derive(Debug, Deserialize, Default)]
pub struct JobTemplate {
    /// Job spec.
    pub spec: Option<Box<WorkloadSpec>>,
}

impl WorkloadDoc {
    /// The pod template, wherever the kind keeps it.
    pub fn pod_template(&self) -> Option<&PodTemplateSpec> {
        self.template.as_ref().or_else(|| {
            let spec = self.spec.as_ref()?;
            spec.template.as_ref().or_else(|| spec.job_template.as_ref()?.spec.as_ref()?.template.as_ref())
        })
    }
}

/// A Service.
#[derive(Debug, Deserialize, Default)]
pub struct ServiceDoc {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: Option<ServiceSpec>,
}

/// An Ingress of any API version (only metadata and `spec.tls` matter).
#[derive(Debug, Deserialize, Default)]
pub struct IngressDoc {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: Option<IngressSpecDoc>,
}

/// `spec` of an Ingress.
#[derive(Debug, Deserialize, Default)]
pub struct IngressSpecDoc {
    /// TLS entries.
    pub tls: Option<Vec<IngressTLS>>,
}

/// A Node (only the kubelet version matters).
#[derive(Debug, Deserialize, Default)]
pub struct NodeDoc {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Status.
    pub status: Option<NodeStatusDoc>,
}

/// `status` of a Node.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatusDoc {
    /// Node info.
    pub node_info: Option<NodeInfoDoc>,
}

/// `status.nodeInfo` of a Node.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfoDoc {
    /// Kubelet version.
    pub kubelet_version: Option<String>,
}

/// Any object, reduced to metadata (Namespaces and skipped kinds).
#[derive(Debug, Deserialize, Default)]
pub struct MetaDoc {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}

/// Only `apiVersion` and `kind`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Head {
    /// apiVersion.
    #[serde(default, deserialize_with = "lenient_string")]
    pub api_version: Option<String>,
    /// kind.
    #[serde(default, deserialize_with = "lenient_string")]
    pub kind: Option<String>,
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_str().map(str::to_string))
}

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
}

/// Kinds whose pod template the audit evaluates.
pub const WORKLOAD_KINDS: [&str; 8] =
    ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob", "PodTemplate"];

/// True for kinds the audit decodes.
pub fn is_judged_kind(kind: &str) -> bool {
    matches!(kind, "Pod" | "Service" | "Ingress" | "Node" | "Namespace") || WORKLOAD_KINDS.contains(&kind)
}

/// Decodes an object of a judged kind from any serde deserializer.
pub fn decode_kind<'de, D: Deserializer<'de>>(kind: &str, de: D) -> Result<Parsed, D::Error> {
    Ok(match kind {
        "Pod" => Parsed::Pod(Box::new(PodDoc::deserialize(de)?)),
        "Service" => Parsed::Service(Box::new(ServiceDoc::deserialize(de)?)),
        "Ingress" => Parsed::Ingress(Box::new(IngressDoc::deserialize(de)?)),
        "Node" => Parsed::Node(Box::new(NodeDoc::deserialize(de)?)),
        "Namespace" => Parsed::Namespace(Box::new(MetaDoc::deserialize(de)?)),
        other => Parsed::Workload(other.to_string(), Box::new(WorkloadDoc::deserialize(de)?)),
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
pub struct KindDecoder<'k>(pub &'k str);

impl crate::yaml::Decode for KindDecoder<'_> {
    type Out = Parsed;
    fn run<'de, D: Deserializer<'de>>(&self, d: D) -> Result<Parsed, D::Error> {
        decode_kind(self.0, d)
    }
}
