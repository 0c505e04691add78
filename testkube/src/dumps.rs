//! What dumps of real clusters hold, made ready to seed: legacy API versions served today under
//! another, the order a cluster would have created things in (CRDs, then Namespaces and Nodes, then
//! owners before their dependents), and which workloads already come with what their controller made.

use serde_json::{Value, json};
use std::collections::HashMap;

/// The object with a legacy `apiVersion` of a kind moved to its current one (as the API server
/// converts stored objects): Deployments, DaemonSets, ReplicaSets, StatefulSets of
/// `extensions/v1beta1` and `apps/v1beta1`/`v1beta2` become `apps/v1`; Ingresses of
/// `extensions/v1beta1` and `networking.k8s.io/v1beta1` become `networking.k8s.io/v1` with their
/// backends rewritten (`serviceName`/`servicePort` to `service.name`/`service.port`); CronJobs of
/// `batch/v1beta1` become `batch/v1`; PodDisruptionBudgets of `policy/v1beta1` become `policy/v1`.
pub fn current_version(mut obj: Value) -> Value {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let current = match (api_version.as_str(), kind.as_str()) {
        ("extensions/v1beta1" | "apps/v1beta1" | "apps/v1beta2", "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet") => "apps/v1",
        ("extensions/v1beta1" | "networking.k8s.io/v1beta1", "Ingress") => "networking.k8s.io/v1",
        ("batch/v1beta1", "CronJob") => "batch/v1",
        ("policy/v1beta1", "PodDisruptionBudget") => "policy/v1",
        _ => return obj,
    };
    obj["apiVersion"] = json!(current);
    if kind == "Ingress"
        && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
    {
        if let Some(backend) = spec.remove("backend") {
            spec.insert("defaultBackend".into(), ingress_backend(backend));
        }
        for rule in spec.get_mut("rules").and_then(Value::as_array_mut).into_iter().flatten() {
            for path in rule.pointer_mut("/http/paths").and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(b) = path.get_mut("backend") {
                    *b = ingress_backend(b.take());
                }
                if path.get("pathType").is_none() {
                    path["pathType"] = json!("ImplementationSpecific");
                }
            }
        }
    }
    obj
}

/// A v1beta1 Ingress backend (`serviceName`, `servicePort`) as a v1 one; other backends unchanged.
fn ingress_backend(b: Value) -> Value {
    let Some(name) = b.get("serviceName").cloned() else { return b };
    let port = match b.get("servicePort") {
        Some(Value::String(s)) => json!({"name": s}),
        Some(n) => json!({"number": n}),
        None => json!({}),
    };
    json!({"service": {"name": name, "port": port}})
}

/// Identity of an object within one seed: kind, namespace ("" when none is given), name.
type Key = (String, String, String);

fn key_of(v: &Value) -> Key {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    (s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
}

/// The keys of the owners an object's owner references name (in its namespace, or cluster-scoped).
fn owner_keys(v: &Value) -> Vec<[Key; 2]> {
    let ns = v.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let kind = r.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
            let name = r.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            [(kind.clone(), ns.to_string(), name.clone()), (kind, String::new(), name)]
        })
        .collect()
}

/// The order to create `objects` in (indices): CustomResourceDefinitions first, then Namespaces and
/// Nodes, then everything else with owners before their dependents; input order otherwise.
pub fn creation_order(objects: &[Value]) -> Vec<usize> {
    let index: HashMap<Key, usize> = objects.iter().enumerate().map(|(i, o)| (key_of(o), i)).collect();
    let mut depth: Vec<Option<usize>> = vec![None; objects.len()];
    fn depth_of(i: usize, objects: &[Value], index: &HashMap<Key, usize>, depth: &mut Vec<Option<usize>>) -> usize {
        if let Some(d) = depth[i] {
            return d;
        }
        depth[i] = Some(0); // while it is being computed: an ownership cycle ends here
        let d = owner_keys(&objects[i])
            .iter()
            .filter_map(|keys| keys.iter().find_map(|k| index.get(k)).copied())
            .map(|o| depth_of(o, objects, index, depth) + 1)
            .max()
            .unwrap_or(0);
        depth[i] = Some(d);
        d
    }
    let class = |o: &Value| match o.get("kind").and_then(Value::as_str) {
        Some("CustomResourceDefinition") => 0,
        Some("Namespace" | "Node") => 1,
        _ => 2,
    };
    let mut order: Vec<(usize, usize, usize)> =
        (0..objects.len()).map(|i| (class(&objects[i]), depth_of(i, objects, &index, &mut depth), i)).collect();
    order.sort();
    order.into_iter().map(|(_, _, i)| i).collect()
}

/// True for an old revision a Deployment keeps beside its current one: a ReplicaSet scaled to 0.
/// (A CronJob's finished Jobs do count: between schedules it runs nothing else.)
fn history(o: &Value) -> bool {
    matches!(o["kind"].as_str(), Some("ReplicaSet" | "ReplicationController"))
        && o.pointer("/spec/replicas").and_then(Value::as_i64) == Some(0)
}

/// For each object, whether another object of `objects` that runs something names it as owner:
/// such a workload came with what its controller made (a dump holds the ReplicaSets and Pods of a
/// Deployment) and is not expanded. An old revision scaled to 0 does not count: the Deployment's
/// current ReplicaSet and Pods are still made.
pub fn has_dependents(objects: &[Value]) -> Vec<bool> {
    let index: HashMap<Key, usize> = objects.iter().enumerate().map(|(i, o)| (key_of(o), i)).collect();
    let mut out = vec![false; objects.len()];
    for (i, o) in objects.iter().enumerate().filter(|(_, o)| !history(o)) {
        for keys in owner_keys(o) {
            if let Some(&owner) = keys.iter().find_map(|k| index.get(k))
                && owner != i
            {
                out[owner] = true;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_ingress_gets_the_v1_shape() {
        let old = json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "old"},
            "spec": {"backend": {"serviceName": "web", "servicePort": 80},
                "rules": [{"http": {"paths": [{"path": "/", "backend": {"serviceName": "api", "servicePort": "http"}}]}}]}});
        let new = current_version(old);
        assert_eq!(new["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(new["spec"]["defaultBackend"], json!({"service": {"name": "web", "port": {"number": 80}}}));
        assert_eq!(new["spec"]["rules"][0]["http"]["paths"][0]["backend"], json!({"service": {"name": "api", "port": {"name": "http"}}}));
        assert_eq!(new["spec"]["rules"][0]["http"]["paths"][0]["pathType"], "ImplementationSpecific");
        let current = json!({"apiVersion": "v1", "kind": "Pod"});
        assert_eq!(current_version(current.clone()), current);
    }

    #[test]
    fn crds_namespaces_and_owners_come_first() {
        let owned = |kind: &str, name: &str, owner_kind: &str, owner: &str| json!({"kind": kind, "metadata": {"name": name, "namespace": "m", "ownerReferences": [{"kind": owner_kind, "name": owner}]}});
        let objects = vec![
            owned("Pod", "p-0", "StatefulSet", "p"),
            owned("StatefulSet", "p", "Prometheus", "k8s"),
            json!({"kind": "Prometheus", "metadata": {"name": "k8s", "namespace": "m"}}),
            json!({"kind": "Namespace", "metadata": {"name": "m"}}),
            json!({"kind": "CustomResourceDefinition", "metadata": {"name": "prometheuses.monitoring.coreos.com"}}),
        ];
        assert_eq!(creation_order(&objects), vec![4, 3, 2, 1, 0]);
        assert_eq!(has_dependents(&objects), vec![false, true, true, false, false]);
        // Owners naming each other (or themselves) still get an order.
        let cycle = vec![
            owned("ConfigMap", "a", "ConfigMap", "b"),
            owned("ConfigMap", "b", "ConfigMap", "a"),
            owned("ConfigMap", "c", "ConfigMap", "c"),
        ];
        let mut order = creation_order(&cycle);
        order.sort();
        assert_eq!(order, vec![0, 1, 2]);
    }
}
