//! What the Pod watch decodes: the metadata fields, spec fields and phase the verdict store reads,
//! and nothing else (`managedFields`, the rest of `status`, and the spec's fields no check reads
//! are skipped without being built; they were a large part of the initial sync's decoding,
//! measured in BENCHMARKS.md).

use crate::audit::docs::PodSpecDoc;
use crate::checks::PodFacts;
use crate::config::Config;
use crate::engine::VulnerabilitySource;
use crate::operator::store::VerdictStore;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A Pod as the operator reads it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SlimPod {
    /// Name, namespace, labels, annotations, owners, creation time and the fields the watch
    /// itself reads (`resourceVersion`, `uid`, `deletionTimestamp`).
    #[serde(default, deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    /// The spec's fields the checks read, in the audit's shape ([`PodSpecDoc`]: k8s-openapi's own
    /// types for each field read, the rest skipped unbuilt); boxed, so that the list page's `Vec` of
    /// Pods and the watch's hand-overs move a few hundred bytes per Pod, not the spec (an `Arc`,
    /// as kube's watcher wants its objects `Clone` and the audit's shape is not).
    #[serde(default, deserialize_with = "shared_spec")]
    pub spec: Option<Arc<PodSpecDoc>>,
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

fn shared_spec<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<PodSpecDoc>>, D::Error> {
    Ok(Option::<PodSpecDoc>::deserialize(d)?.map(Arc::new))
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
    /// Judges the Pod into `store`, as [`VerdictStore::apply_pod`] judges the full Pod.
    pub fn apply_to(&self, store: &mut VerdictStore, cfg: &Config, vulns: &dyn VulnerabilitySource) {
        let phase = self.status.as_ref().and_then(|s| s.phase.as_deref());
        let annotations = self.metadata.annotations.as_ref();
        let facts = match &self.spec {
            Some(spec) => spec.facts(annotations),
            None => PodFacts { annotations, ..PodFacts::default() },
        };
        store.apply_pod_parts(&self.metadata, &facts, phase, cfg, vulns);
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
    use crate::operator::store::tests::opts;
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

    /// The namespace report of `pod` judged as the full k8s-openapi Pod and through the watch's
    /// slim decode (`SlimPod::apply_to`), as JSON.
    fn both_reports(pod: &serde_json::Value, cfg: &Config) -> (serde_json::Value, serde_json::Value) {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
        let full: Pod = serde_json::from_value(pod.clone()).expect("pod");
        let slim: SlimPod = serde_json::from_str(&pod.to_string()).expect("slim");
        let mut a = VerdictStore::new();
        a.apply_pod(&full, cfg, &NoVulnerabilityData);
        let mut b = VerdictStore::new();
        slim.apply_to(&mut b, cfg, &NoVulnerabilityData);
        let json = |s: &VerdictStore| serde_json::to_value(s.report(&ns, cfg, &opts())).expect("json");
        (json(&a), json(&b))
    }

    #[test]
    fn the_slim_pod_keeps_what_the_store_reads_and_drops_the_rest() {
        let full: Pod = serde_json::from_value(full_pod()).expect("pod");
        let slim = serde_json::from_value::<SlimPod>(full_pod()).expect("slim");
        let (s, f) = (&slim.metadata, &full.metadata);
        assert_eq!((&s.name, &s.namespace, &s.uid, &s.resource_version), (&f.name, &f.namespace, &f.uid, &f.resource_version));
        assert_eq!((&s.labels, &s.annotations, &s.owner_references), (&f.labels, &f.annotations, &f.owner_references));
        assert_eq!(s.creation_timestamp, f.creation_timestamp);
        assert_eq!(s.managed_fields, None, "managedFields are not built");
        assert_eq!(slim.status.as_ref().and_then(|st| st.phase.as_deref()), Some("Running"));
        let spec = slim.spec.as_deref().expect("spec");
        assert_eq!((spec.containers.len(), spec.init_containers.as_ref().map(Vec::len)), (1, Some(1)));
        assert_eq!(spec.host_network, Some(true));
    }

    #[test]
    fn the_store_gives_the_same_report_for_the_slim_and_the_full_pod() {
        let cfg = Config::default();
        let (full, slim) = both_reports(&full_pod(), &cfg);
        assert_eq!(slim, full);
        assert_eq!(full["summary"]["resources"]["evaluated"], 1);
        let mut done = full_pod();
        done["status"]["phase"] = json!("Succeeded");
        let (full, slim) = both_reports(&done, &cfg);
        assert_eq!(slim, full);
        assert_eq!(slim["summary"]["resources"]["evaluated"], 0, "finished Pods are still dropped");
        let mut bare = full_pod();
        bare.as_object_mut().expect("object").remove("spec");
        let (full, slim) = both_reports(&bare, &cfg);
        assert_eq!(slim, full, "a Pod without a spec");
    }

    /// Every field a check reads, in containers of each kind, with values that fail and pass.
    fn every_field_read() -> serde_json::Value {
        let sc = |bad: bool| {
            json!({"privileged": bad, "allowPrivilegeEscalation": bad, "readOnlyRootFilesystem": !bad, "runAsNonRoot": !bad,
                "runAsUser": if bad { 0 } else { 1000 }, "runAsGroup": if bad { 0 } else { 1000 },
                "capabilities": {"add": if bad { json!(["NET_ADMIN", "SYS_ADMIN"]) } else { json!([]) }, "drop": ["ALL"]},
                "appArmorProfile": {"type": if bad { "Unconfined" } else { "RuntimeDefault" }},
                "seccompProfile": {"type": "RuntimeDefault"}, "procMount": "Default", "seLinuxOptions": {"level": "s0"}})
        };
        let container = |name: &str, image: &str, bad: bool| {
            json!({"name": name, "image": image, "env": [{"name": "A", "value": "1"}], "command": ["/bin/app"],
                "ports": [{"containerPort": if bad { 22 } else { 8080 }, "hostPort": if bad { 2222 } else { 0 }, "protocol": "TCP", "name": "p"}],
                "resources": {"limits": if bad { json!({"cpu": "64"}) } else { json!({"cpu": "500m", "memory": "128Mi"}) }, "requests": {"cpu": "10m"}},
                "securityContext": sc(bad),
                "volumeMounts": [{"name": "host", "mountPath": "/host", "readOnly": !bad}, {"name": "kube-api-access-x1", "mountPath": "/var/run/secrets"}],
                "livenessProbe": {"httpGet": {"path": "/", "port": 8080}}})
        };
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "all-1", "namespace": "shop", "creationTimestamp": "2026-11-28T10:00:00Z",
                "labels": {"app": "all"}, "annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}},
            "spec": {"hostPID": true, "hostIPC": false, "hostNetwork": true, "os": {"name": "linux"},
                "securityContext": {"runAsNonRoot": false, "runAsUser": 0, "sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"}],
                    "seccompProfile": {"type": "Unconfined"}, "appArmorProfile": {"type": "Unconfined"}, "supplementalGroups": [1]},
                "volumes": [{"name": "host", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}},
                    {"name": "kube-api-access-x1", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}],
                "containers": [container("app", "docker.io/library/nginx:latest", true), container("ok", "registry.example.com/ok:1", false)],
                "initContainers": [container("init", "busybox", true)],
                "ephemeralContainers": [{"name": "debug", "image": "busybox", "securityContext": sc(true),
                    "ports": [{"containerPort": 22}], "volumeMounts": [{"name": "host", "mountPath": "/h"}]}],
                "tolerations": [{"operator": "Exists"}], "nodeName": "n1", "serviceAccountName": "default"},
            "status": {"phase": "Running"}})
    }

    /// Pods with the spec of every Pod and pod template in `examples/`.
    fn example_pods() -> Vec<serde_json::Value> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
        let mut pods = vec![];
        for entry in std::fs::read_dir(dir).expect("examples") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            for doc in crate::yaml::split_documents(&text) {
                let (obj, _) = crate::yaml::decode::<serde_json::Value>(doc.text).expect("yaml");
                let (meta, spec) = match obj["kind"].as_str() {
                    Some("Pod") => (obj["metadata"].clone(), obj["spec"].clone()),
                    Some("CronJob") => (obj["metadata"].clone(), obj["spec"]["jobTemplate"]["spec"]["template"]["spec"].clone()),
                    Some(_) if obj.pointer("/spec/template/spec").is_some() => {
                        (obj["metadata"].clone(), obj["spec"]["template"]["spec"].clone())
                    }
                    _ => continue,
                };
                pods.push(json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": "Running"}}));
            }
        }
        pods
    }

    #[test]
    fn the_slim_decode_judges_every_example_and_every_field_read_as_the_full_pod() {
        let example_cfg = Config::parse(crate::operator::demo::EXAMPLE_CONFIG, "example-config.yaml").expect("example config");
        let pods: Vec<_> = example_pods().into_iter().chain([every_field_read()]).collect();
        assert!(pods.len() >= 9, "the examples' Pods and pod templates are read ({})", pods.len());
        for cfg in [Config::default(), example_cfg] {
            let mut unhealthy = 0;
            for pod in &pods {
                let (full, slim) = both_reports(pod, &cfg);
                assert_eq!(slim, full, "{}", pod["metadata"]["name"]);
                unhealthy += full["summary"]["recommendations"]["unhealthy"].as_u64().unwrap_or(0);
            }
            assert!(unhealthy > 0, "the comparison covers failing checks");
        }
    }
}
