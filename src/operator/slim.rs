//! What the Pod watch decodes: the metadata fields, spec and phase the verdict store reads, and
//! nothing else (`managedFields` and the rest of `status` are skipped without being built; they
//! were a large part of the initial sync's decoding, measured in BENCHMARKS.md).

use crate::config::Config;
use crate::engine::VulnerabilitySource;
use crate::operator::store::VerdictStore;
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// A Pod as the operator reads it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SlimPod {
    /// Name, namespace, labels, annotations, owners, creation time and the fields the watch
    /// itself reads (`resourceVersion`, `uid`, `deletionTimestamp`).
    #[serde(default, deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    /// The spec, whole (every check reads it); boxed, so that the list page's `Vec` of Pods and the
    /// watch's hand-overs move a few hundred bytes per Pod, not the whole spec.
    #[serde(default)]
    pub spec: Option<Box<PodSpec>>,
    /// The status, phase only.
    #[serde(default)]
    pub status: Option<SlimStatus>,
}

/// The part of a Pod's status the operator reads.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SlimStatus {
    /// `status.phase` (finished Pods are not judged).
    #[serde(default)]
    pub phase: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    creation_timestamp: Option<Time>,
    #[serde(default)]
    deletion_timestamp: Option<Time>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    owner_references: Option<Vec<OwnerReference>>,
}

/// Decodes an object's metadata without `managedFields` and the fields the operator never reads.
pub(super) fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let m = Meta::deserialize(d)?;
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resource_version: m.resource_version,
        creation_timestamp: m.creation_timestamp,
        deletion_timestamp: m.deletion_timestamp,
        labels: m.labels,
        annotations: m.annotations,
        owner_references: m.owner_references,
        ..ObjectMeta::default()
    })
}

impl SlimPod {
    /// Judges the Pod into `store` (what [`VerdictStore::apply_pod`] does with [`into_pod`](Self::into_pod)'s
    /// Pod, without building it).
    pub fn apply_to(&self, store: &mut VerdictStore, cfg: &Config, vulns: &dyn VulnerabilitySource) {
        let phase = self.status.as_ref().and_then(|s| s.phase.as_deref());
        store.apply_pod_parts(&self.metadata, self.spec.as_deref(), phase, cfg, vulns);
    }

    /// The Pod the verdict store judges (moves, copies no string or list).
    pub fn into_pod(self) -> Pod {
        Pod {
            metadata: self.metadata,
            spec: self.spec.map(|s| *s),
            status: self.status.map(|s| PodStatus { phase: s.phase, ..PodStatus::default() }),
        }
    }
}

impl k8s_openapi::Resource for SlimPod {
    const API_VERSION: &'static str = <Pod as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Pod as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Pod as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Pod as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Pod as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for SlimPod {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::engine::NoVulnerabilityData;
    use crate::operator::store::VerdictStore;
    use crate::report::build::BuildOptions;
    use serde_json::json;

    fn full_pod() -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-7d9f8-aaaaa", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
                "creationTimestamp": "2026-11-28T10:00:00Z", "generateName": "web-7d9f8-",
                "labels": {"app": "web", "pod-template-hash": "7d9f8"},
                "annotations": {"kompliance.dev/exempt": "host-namespaces", "kompliance.dev/exempt-reason": "reviewed"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8", "uid": "rs", "controller": true}],
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:containers": {}}}}]},
            "spec": {"hostNetwork": true, "containers": [{"name": "app", "image": "registry.example.com/app:1",
                "securityContext": {"privileged": true}, "resources": {"limits": {"cpu": "1"}}}],
                "initContainers": [{"name": "init", "image": "busybox"}], "volumes": [{"name": "h", "hostPath": {"path": "/var/run"}}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "image": "x", "imageID": "y", "ready": true, "restartCount": 0}]}})
    }

    #[test]
    fn the_slim_pod_keeps_what_the_store_reads_and_drops_the_rest() {
        let full: Pod = serde_json::from_value(full_pod()).expect("pod");
        let slim = serde_json::from_value::<SlimPod>(full_pod()).expect("slim").into_pod();
        assert_eq!(slim.spec, full.spec);
        let (s, f) = (&slim.metadata, &full.metadata);
        assert_eq!((&s.name, &s.namespace, &s.uid, &s.resource_version), (&f.name, &f.namespace, &f.uid, &f.resource_version));
        assert_eq!((&s.labels, &s.annotations, &s.owner_references), (&f.labels, &f.annotations, &f.owner_references));
        assert_eq!(s.creation_timestamp, f.creation_timestamp);
        assert_eq!(s.managed_fields, None, "managedFields are not built");
        assert_eq!(slim.status.and_then(|st| st.phase).as_deref(), Some("Running"));
    }

    #[test]
    fn the_store_gives_the_same_report_for_the_slim_and_the_full_pod() {
        let cfg = Config::default();
        let opts = BuildOptions {
            lang: Default::default(),
            today: "2026-11-28".parse().expect("date"),
            show_pods: true,
            message_cap: Some(crate::report::build::MESSAGE_CAP),
        };
        let report = |pod: Pod| {
            let mut s = VerdictStore::new();
            s.apply_pod(&pod, &cfg, &NoVulnerabilityData);
            serde_json::to_value(s.report("shop", &cfg, &opts)).expect("json")
        };
        let full: Pod = serde_json::from_value(full_pod()).expect("pod");
        let slim = serde_json::from_value::<SlimPod>(full_pod()).expect("slim");
        let mut direct = VerdictStore::new();
        slim.apply_to(&mut direct, &cfg, &NoVulnerabilityData);
        let direct = serde_json::to_value(direct.report("shop", &cfg, &opts)).expect("json");
        assert_eq!(report(slim.into_pod()), report(full.clone()));
        assert_eq!(direct, report(full), "the watch's path (apply_to) gives the same report");
        let mut done = full_pod();
        done["status"]["phase"] = json!("Succeeded");
        let slim = serde_json::from_value::<SlimPod>(done).expect("slim").into_pod();
        assert_eq!(report(slim)["summary"]["resources"]["evaluated"], 0, "finished Pods are still dropped");
    }
}
