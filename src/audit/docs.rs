//! The shapes an audit decodes: just the fields the checks read, each of k8s-openapi's own type;
//! everything else (env, probes, status, managedFields...) is skipped unparsed, which halves
//! decode time on live dumps. The checks read them through borrowed [`PodFacts`], as they read
//! k8s-openapi Pods in the operator.

use crate::checks::{ContainerKind, ContainerRef, HostPathRef, PodFacts, PodFields};
use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, ContainerPort, HostPathVolumeSource, PodOS, PodSecurityContext, ResourceRequirements, SecurityContext,
    ServiceSpec, VolumeMount,
};
use k8s_openapi::api::networking::v1::IngressTLS;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// The metadata the audit uses.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Name.
    pub name: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations.
    pub annotations: Option<BTreeMap<String, String>>,
    /// Owner references (kind, name and controller only).
    #[serde(default, deserialize_with = "slim_owners")]
    pub owner_references: Option<Vec<OwnerReference>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OwnerDoc {
    #[serde(default)]
    api_version: String,
    kind: String,
    name: String,
    controller: Option<bool>,
}

fn slim_owners<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<OwnerReference>>, D::Error> {
    let o: Option<Vec<OwnerDoc>> = Option::deserialize(d)?;
    Ok(o.map(|v| {
        v.into_iter()
            .map(|o| OwnerReference {
                api_version: o.api_version,
                kind: o.kind,
                name: o.name,
                controller: o.controller,
                ..Default::default()
            })
            .collect()
    }))
}

impl From<Meta> for ObjectMeta {
    fn from(m: Meta) -> Self {
        ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            labels: m.labels,
            annotations: m.annotations,
            owner_references: m.owner_references,
            ..Default::default()
        }
    }
}

/// A container, with the fields the checks read.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDoc {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Image.
    pub image: Option<String>,
    /// Ports (containerPort and hostPort only).
    #[serde(default, deserialize_with = "slim_ports")]
    pub ports: Option<Vec<ContainerPort>>,
    /// Resources (limits only).
    #[serde(default, deserialize_with = "slim_resources")]
    pub resources: Option<ResourceRequirements>,
    /// Security context (the fields the checks read).
    #[serde(default, deserialize_with = "slim_security_context")]
    pub security_context: Option<SecurityContext>,
    /// Volume mounts (name, mountPath, readOnly).
    #[serde(default, deserialize_with = "slim_mounts")]
    pub volume_mounts: Option<Vec<VolumeMount>>,
}

// The slim shapes below are decoded, then moved into k8s-openapi's types with the other
// fields unset: fewer allocations for fields no check reads.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortDoc {
    container_port: i32,
    host_port: Option<i32>,
}

fn slim_ports<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<ContainerPort>>, D::Error> {
    let ports: Option<Vec<PortDoc>> = Option::deserialize(d)?;
    Ok(ports.map(|v| {
        v.into_iter().map(|p| ContainerPort { container_port: p.container_port, host_port: p.host_port, ..Default::default() }).collect()
    }))
}

#[derive(Deserialize)]
struct ResourcesDoc {
    limits: Option<BTreeMap<String, Quantity>>,
}

fn slim_resources<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ResourceRequirements>, D::Error> {
    let r: Option<ResourcesDoc> = Option::deserialize(d)?;
    Ok(r.map(|r| ResourceRequirements { limits: r.limits, ..Default::default() }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MountDoc {
    name: String,
    mount_path: String,
    read_only: Option<bool>,
}

fn slim_mounts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<VolumeMount>>, D::Error> {
    let m: Option<Vec<MountDoc>> = Option::deserialize(d)?;
    Ok(m.map(|v| {
        v.into_iter()
            .map(|m| VolumeMount { name: m.name, mount_path: m.mount_path, read_only: m.read_only, ..Default::default() })
            .collect()
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecurityContextDoc {
    allow_privilege_escalation: Option<bool>,
    app_armor_profile: Option<AppArmorProfile>,
    capabilities: Option<Capabilities>,
    privileged: Option<bool>,
    read_only_root_filesystem: Option<bool>,
    run_as_group: Option<i64>,
    run_as_non_root: Option<bool>,
    run_as_user: Option<i64>,
}

fn slim_security_context<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecurityContext>, D::Error> {
    let s: Option<SecurityContextDoc> = Option::deserialize(d)?;
    Ok(s.map(|s| SecurityContext {
        allow_privilege_escalation: s.allow_privilege_escalation,
        app_armor_profile: s.app_armor_profile,
        capabilities: s.capabilities,
        privileged: s.privileged,
        read_only_root_filesystem: s.read_only_root_filesystem,
        run_as_group: s.run_as_group,
        run_as_non_root: s.run_as_non_root,
        run_as_user: s.run_as_user,
        ..Default::default()
    }))
}

/// A volume (only hostPath matters).
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct VolumeDoc {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// hostPath source.
    pub host_path: Option<HostPathVolumeSource>,
}

/// A Pod spec with the fields the checks read.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecDoc {
    /// Containers.
    #[serde(default)]
    pub containers: Vec<ContainerDoc>,
    /// Init containers.
    pub init_containers: Option<Vec<ContainerDoc>>,
    /// Ephemeral containers.
    pub ephemeral_containers: Option<Vec<ContainerDoc>>,
    /// Volumes.
    pub volumes: Option<Vec<VolumeDoc>>,
    /// hostNetwork.
    pub host_network: Option<bool>,
    /// hostPID.
    #[serde(rename = "hostPID")]
    pub host_pid: Option<bool>,
    /// hostIPC.
    #[serde(rename = "hostIPC")]
    pub host_ipc: Option<bool>,
    /// OS.
    pub os: Option<PodOS>,
    /// Pod security context.
    pub security_context: Option<PodSecurityContext>,
}

impl PodSpecDoc {
    /// The facts the checks read, borrowed from this document.
    pub fn facts<'a>(&'a self, annotations: Option<&'a BTreeMap<String, String>>) -> PodFacts<'a> {
        let view = |c: &'a ContainerDoc, kind: ContainerKind| ContainerRef {
            name: &c.name,
            image: c.image.as_deref().unwrap_or(""),
            kind,
            security_context: c.security_context.as_ref(),
            resources: if kind == ContainerKind::Ephemeral { None } else { c.resources.as_ref() },
            ports: c.ports.as_deref().unwrap_or(&[]),
            volume_mounts: c.volume_mounts.as_deref().unwrap_or(&[]),
        };
        let containers = self
            .containers
            .iter()
            .map(|c| view(c, ContainerKind::Container))
            .chain(self.init_containers.iter().flatten().map(|c| view(c, ContainerKind::Init)))
            .chain(self.ephemeral_containers.iter().flatten().map(|c| view(c, ContainerKind::Ephemeral)));
        let fields = PodFields {
            host_pid: self.host_pid,
            host_ipc: self.host_ipc,
            host_network: self.host_network,
            os: self.os.as_ref(),
            security_context: self.security_context.as_ref(),
        };
        let host_paths =
            self.volumes.iter().flatten().filter_map(|v| Some(HostPathRef { volume: &v.name, path: &v.host_path.as_ref()?.path }));
        PodFacts::assemble(fields, host_paths, containers, annotations)
    }
}

/// A pod template.
#[derive(Debug, Deserialize, Default)]
pub struct TemplateDoc {
    /// Template metadata.
    pub metadata: Option<Meta>,
    /// Pod spec.
    pub spec: Option<PodSpecDoc>,
}

/// A Pod: metadata, spec, phase.
#[derive(Debug, Deserialize, Default)]
pub struct PodDoc {
    /// Metadata.
    #[serde(default)]
    pub metadata: Meta,
    /// Spec.
    pub spec: Option<PodSpecDoc>,
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
    pub metadata: Meta,
    /// Spec with `template` or `jobTemplate`.
    pub spec: Option<WorkloadSpec>,
    /// A PodTemplate object's template.
    pub template: Option<TemplateDoc>,
    /// Status (a Job's completion).
    pub status: Option<WorkloadStatusDoc>,
}

/// The part of a workload's status that tells whether it still runs anything (Jobs).
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatusDoc {
    /// A Job's completion time.
    pub completion_time: Option<String>,
    /// Conditions (a Job's `Complete` or `Failed`).
    pub conditions: Option<Vec<ConditionDoc>>,
}

/// A status condition.
#[derive(Debug, Deserialize, Default)]
pub struct ConditionDoc {
    /// `type`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `status`.
    #[serde(default)]
    pub status: String,
}

/// `spec` of a workload.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// Replicas (a ReplicaSet scaled to 0 runs nothing).
    pub replicas: Option<i64>,
    /// Pod template.
    pub template: Option<TemplateDoc>,
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
    /// True for objects that run nothing and are kept as history: a ReplicaSet or
    /// ReplicationController scaled to 0 (a Deployment's old revision), a finished Job, a PodTemplate.
    pub fn runs_nothing(&self, kind: &str) -> bool {
        match kind {
            "PodTemplate" => true,
            "ReplicaSet" | "ReplicationController" => self.spec.as_ref().and_then(|s| s.replicas) == Some(0),
            "Job" => self.status.as_ref().is_some_and(|s| {
                s.completion_time.is_some()
                    || s.conditions.iter().flatten().any(|c| matches!(c.type_.as_str(), "Complete" | "Failed") && c.status == "True")
            }),
            _ => false,
        }
    }

    /// Takes the pod template out, wherever the kind keeps it.
    pub fn take_template(&mut self) -> Option<TemplateDoc> {
        self.template.take().or_else(|| {
            let spec = self.spec.as_mut()?;
            spec.template.take().or_else(|| spec.job_template.as_mut()?.spec.as_mut()?.template.take())
        })
    }
}

/// A Service.
#[derive(Debug, Deserialize, Default)]
pub struct ServiceDoc {
    /// Metadata.
    #[serde(default)]
    pub metadata: Meta,
    /// Spec.
    pub spec: Option<ServiceSpec>,
}

/// An Ingress of any API version (only metadata and `spec.tls` matter).
#[derive(Debug, Deserialize, Default)]
pub struct IngressDoc {
    /// Metadata.
    #[serde(default)]
    pub metadata: Meta,
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
    pub metadata: Meta,
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
    pub metadata: Meta,
}
