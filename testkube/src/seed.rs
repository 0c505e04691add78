//! Seeding: objects from YAML/JSON files, and what controllers would create for workloads (ReplicaSets, Jobs, Pods with owner references).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A seeding error naming the file and document.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// A file or directory could not be read.
    #[error("reading {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A document is not valid YAML/JSON.
    #[error("{path}: document {doc}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based document number.
        doc: usize,
        /// The parser's message.
        message: String,
    },
    /// The server refused an object.
    #[error("{path}: {kind} {name}: {source}")]
    Create {
        /// The file (or "<generated>").
        path: PathBuf,
        /// Kind of the object.
        kind: String,
        /// Name of the object.
        name: String,
        /// The API error.
        source: Box<crate::error::ApiError>,
    },
}

fn files_under(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), SeedError> {
    let read = |source| SeedError::Read { path: path.to_path_buf(), source };
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path).map_err(read)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            if e.is_dir() || e.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json") {
                files_under(&e, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Every object in the files under `path` (directories recursively; multi-document YAML; `List` kinds flattened), with its file.
pub fn read_objects(path: &Path) -> Result<Vec<(PathBuf, Value)>, SeedError> {
    let mut files = Vec::new();
    files_under(path, &mut files)?;
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| SeedError::Read { path: f.clone(), source })?;
        let mut doc_texts = vec![String::new()];
        for l in text.lines() {
            if l == "---" || l.starts_with("--- ") {
                doc_texts.push(String::new());
            } else if let Some(last) = doc_texts.last_mut() {
                last.push_str(l);
                last.push('\n');
            }
        }
        for (i, d) in doc_texts.iter().enumerate() {
            if d.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
                continue;
            }
            let v = parse_document(d).map_err(|e| SeedError::Parse { path: f.clone(), doc: i + 1, message: e.to_string() })?;
            flatten(v, &f, &mut out);
        }
    }
    Ok(out)
}

/// One YAML document as kubectl and kompliance's audit read it: legacy octal numbers (`defaultMode: 0400` is 256),
/// YAML 1.1 booleans (`privileged: yes`), except where Kubernetes wants a string (`name: yes` stays "yes").
fn parse_document(text: &str) -> Result<Value, serde_saphyr::Error> {
    let lax: Value = serde_saphyr::from_str_with_options(text, serde_saphyr::options! { legacy_octal_numbers: true })?;
    if !has_bool(&lax) {
        return Ok(lax);
    }
    let strict: Value =
        serde_saphyr::from_str_with_options(text, serde_saphyr::options! { legacy_octal_numbers: true, strict_booleans: true })?;
    let mut out = lax;
    keep_strings(&mut out, &strict, "", false);
    Ok(out)
}

fn has_bool(v: &Value) -> bool {
    match v {
        Value::Bool(_) => true,
        Value::Object(m) => m.values().any(has_bool),
        Value::Array(a) => a.iter().any(has_bool),
        _ => false,
    }
}

/// Fields of Kubernetes objects that are strings whatever they look like.
const STRING_FIELDS: &[&str] =
    &["name", "namespace", "generateName", "image", "value", "key", "serviceName", "secretName", "path", "mountPath"];
/// Maps whose values are all strings.
const STRING_MAPS: &[&str] = &["labels", "annotations", "data", "stringData", "matchLabels", "nodeSelector", "selector"];

/// Puts back the string a YAML 1.1 boolean was written as (`strict` holds it) where a string belongs.
fn keep_strings(lax: &mut Value, strict: &Value, key: &str, in_string_map: bool) {
    match (lax, strict) {
        (lax @ Value::Bool(_), Value::String(s)) if in_string_map || STRING_FIELDS.contains(&key) => *lax = Value::String(s.clone()),
        (Value::Object(m), Value::Object(sm)) => {
            let map_of_strings = STRING_MAPS.contains(&key);
            for (k, v) in m.iter_mut() {
                if let Some(sv) = sm.get(k) {
                    keep_strings(v, sv, k, map_of_strings);
                }
            }
        }
        (Value::Array(a), Value::Array(sa)) => {
            for (v, sv) in a.iter_mut().zip(sa) {
                keep_strings(v, sv, key, false);
            }
        }
        _ => {}
    }
}

fn flatten(v: Value, file: &Path, out: &mut Vec<(PathBuf, Value)>) {
    let is_list = v.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List")) && v.get("items").is_some_and(Value::is_array);
    if is_list {
        for item in v["items"].as_array().cloned().unwrap_or_default() {
            flatten(item, file, out);
        }
    } else if v.is_object() {
        out.push((file.to_path_buf(), v));
    }
}

/// A stable 10-character hash of a pod template, like the pod-template-hash label.
pub fn template_hash(template: &Value) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    template.to_string().hash(&mut h);
    let mut n = h.finish();
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|_| {
            let c = CHARS[(n % CHARS.len() as u64) as usize] as char;
            n /= CHARS.len() as u64;
            c
        })
        .collect()
}

/// The owner reference to `owner` (a controller reference).
pub fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true
    })
}

/// A running Pod made from a pod template, owned by `owner`.
pub fn pod_from_template(template: &Value, name: &str, namespace: &str, owner: &Value, extra_labels: &[(&str, &str)]) -> Value {
    let mut labels = template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({}));
    for (k, v) in extra_labels {
        labels[*k] = json!(v);
    }
    let spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    let statuses: Vec<Value> = spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| json!({"name": c.get("name").cloned().unwrap_or(Value::Null), "image": c.get("image").cloned().unwrap_or(Value::Null), "ready": true, "restartCount": 0, "started": true}))
        .collect();
    let mut meta = json!({"name": name, "namespace": namespace, "labels": labels, "ownerReferences": [owner_ref(owner)]});
    if let Some(a) = template.pointer("/metadata/annotations") {
        meta["annotations"] = a.clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
           "status": {"phase": "Running", "containerStatuses": statuses}})
}

fn job_condition(job: &Value, kind: &str) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c.get("type").and_then(Value::as_str) == Some(kind) && c.get("status").and_then(Value::as_str) == Some("True"))
}

fn job_failed(job: &Value) -> bool {
    job_condition(job, "Failed")
}

/// A Job that has run to its end: `status.completionTime`, or a Complete or Failed condition.
pub fn job_finished(job: &Value) -> bool {
    job.pointer("/status/completionTime").is_some() || job_condition(job, "Complete") || job_failed(job)
}

/// Turns a running Pod into one whose containers have ended, as the kubelet leaves it (`phase` Succeeded or Failed).
fn terminate(pod: &mut Value, phase: &str) {
    let (code, reason) = if phase == "Succeeded" { (0, "Completed") } else { (1, "Error") };
    pod["status"]["phase"] = json!(phase);
    for c in pod.pointer_mut("/status/containerStatuses").and_then(Value::as_array_mut).into_iter().flatten() {
        c["ready"] = json!(false);
        c["started"] = json!(false);
        c["state"] = json!({"terminated": {"exitCode": code, "reason": reason}});
    }
}

/// The objects a controller would create for a created workload: (ReplicaSet or Job, then Pods), each to be created in order.
/// `children` creates an object and returns it as stored (with its uid).
pub fn expand<E>(workload: &Value, node_names: &[String], children: &mut dyn FnMut(Value) -> Result<Value, E>) -> Result<(), E> {
    let kind = workload.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = workload.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let ns = workload.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string();
    let replicas = workload.pointer("/spec/replicas").and_then(Value::as_u64).unwrap_or(1);
    let template = || workload.pointer("/spec/template").cloned().unwrap_or_else(|| json!({}));
    let suffix = |i: u64| template_hash(&json!([name, i]))[..5].to_string();
    match kind {
        "Deployment" => {
            let tpl = template();
            let hash = template_hash(&tpl);
            let mut rs_tpl = tpl.clone();
            rs_tpl["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut selector = workload.pointer("/spec/selector").cloned().unwrap_or_else(|| json!({"matchLabels": {}}));
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": format!("{name}-{hash}"), "namespace": ns, "labels": rs_tpl["metadata"]["labels"], "ownerReferences": [owner_ref(workload)]},
                "spec": {"replicas": replicas, "selector": selector, "template": rs_tpl}});
            let rs = children(rs)?;
            expand(&rs, node_names, children)
        }
        "ReplicaSet" | "ReplicationController" => {
            let tpl = template();
            let hash = tpl.pointer("/metadata/labels/pod-template-hash").and_then(Value::as_str).unwrap_or_default().to_string();
            for i in 0..replicas {
                let extra: Vec<(&str, &str)> = if hash.is_empty() { vec![] } else { vec![("pod-template-hash", hash.as_str())] };
                children(pod_from_template(&tpl, &format!("{name}-{}", suffix(i)), &ns, workload, &extra))?;
            }
            Ok(())
        }
        "StatefulSet" => {
            for i in 0..replicas {
                let pod_name = format!("{name}-{i}");
                children(pod_from_template(&template(), &pod_name, &ns, workload, &[("statefulset.kubernetes.io/pod-name", &pod_name)]))?;
            }
            Ok(())
        }
        "DaemonSet" => {
            let count = node_names.len().max(1) as u64;
            for i in 0..count {
                children(pod_from_template(&template(), &format!("{name}-{}", suffix(i)), &ns, workload, &[]))?;
            }
            Ok(())
        }
        "Job" => {
            let count = |p: &str| workload.pointer(p).and_then(Value::as_u64);
            let completions = count("/spec/completions").unwrap_or(1);
            // A finished Job keeps its Pods, terminated: Succeeded for each success, Failed for each failure.
            let phases: Vec<&str> = if job_finished(workload) {
                let succeeded = count("/status/succeeded").unwrap_or(if job_failed(workload) { 0 } else { completions });
                let failed = count("/status/failed").unwrap_or(if job_failed(workload) { 1 } else { 0 });
                std::iter::repeat_n("Succeeded", succeeded as usize).chain(std::iter::repeat_n("Failed", failed as usize)).collect()
            } else if workload.pointer("/spec/suspend") == Some(&json!(true)) {
                vec![]
            } else {
                vec!["Running"; count("/spec/parallelism").unwrap_or(1).min(completions) as usize]
            };
            for (i, phase) in phases.into_iter().enumerate() {
                let mut pod =
                    pod_from_template(&template(), &format!("{name}-{}", suffix(i as u64)), &ns, workload, &[("job-name", &name)]);
                if phase != "Running" {
                    terminate(&mut pod, phase);
                }
                children(pod)?;
            }
            Ok(())
        }
        "CronJob" if workload.pointer("/spec/suspend") == Some(&json!(true)) => Ok(()),
        "CronJob" => {
            let job_tpl = workload.pointer("/spec/jobTemplate").cloned().unwrap_or_else(|| json!({}));
            let job = json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": format!("{name}-29000000"), "namespace": ns, "labels": job_tpl.pointer("/metadata/labels").cloned().unwrap_or(json!({})), "ownerReferences": [owner_ref(workload)]},
                "spec": job_tpl.get("spec").cloned().unwrap_or_else(|| json!({}))});
            let job = children(job)?;
            expand(&job, node_names, children)
        }
        _ => Ok(()),
    }
}

/// Namespaces and Deployments for a load test: `pods` Pods in `namespaces` namespaces, 10 replicas per Deployment, some with violations.
pub fn synthetic_workloads(pods: usize, namespaces: usize) -> Vec<Value> {
    let namespaces = namespaces.max(1);
    let per_ns = pods.div_ceil(namespaces);
    let mut out = Vec::new();
    let mut left = pods;
    for n in 0..namespaces {
        let ns = format!("load-{n:04}");
        out.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": format!("t{}", n % 7)}}}));
        let mut in_ns = per_ns.min(left);
        left -= in_ns;
        let mut d = 0;
        while in_ns > 0 {
            let replicas = in_ns.min(10);
            in_ns -= replicas;
            let privileged = (n + d) % 5 == 0;
            let limits = if (n + d) % 3 == 0 { json!({}) } else { json!({"cpu": "500m", "memory": "256Mi"}) };
            out.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": format!("app-{d:03}"), "namespace": ns, "labels": {"app": format!("app-{d:03}")}},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": format!("app-{d:03}")}},
                    "template": {"metadata": {"labels": {"app": format!("app-{d:03}"), "tier": "web"}},
                        "spec": {"automountServiceAccountToken": false, "containers": [{"name": "app", "image": format!("registry.example.com/team/app-{}:1.{}", d % 13, n % 9),
                            "ports": [{"containerPort": 8080}],
                            "resources": {"limits": limits, "requests": {"cpu": "100m", "memory": "64Mi"}},
                            "securityContext": {"privileged": privileged, "runAsNonRoot": !privileged, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": privileged}}]}}}}));
            d += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_expands_into_a_replicaset_and_its_pods() {
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        let mut made = Vec::new();
        expand::<()>(&dep, &[], &mut |mut o| {
            o["metadata"]["uid"] = json!(format!("uid-{}", made.len()));
            made.push(o.clone());
            Ok(o)
        })
        .unwrap();
        assert_eq!(made.len(), 3);
        assert_eq!(made[0]["kind"], "ReplicaSet");
        assert_eq!(made[0]["metadata"]["ownerReferences"][0]["name"], "web");
        for pod in &made[1..] {
            assert_eq!(pod["kind"], "Pod");
            assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "uid-0");
            assert_eq!(pod["metadata"]["labels"]["pod-template-hash"], made[0]["metadata"]["labels"]["pod-template-hash"]);
        }
        assert_ne!(made[1]["metadata"]["name"], made[2]["metadata"]["name"]);
    }

    #[test]
    fn documents_read_as_kubectl_reads_them() {
        let v = parse_document("metadata:\n  name: yes\n  labels: {team: off}\nspec:\n  hostNetwork: yes\n  mode: 0400\n  containers:\n  - name: no\n    image: y\n").unwrap();
        assert_eq!(v["metadata"]["name"], "yes");
        assert_eq!(v["metadata"]["labels"]["team"], "off");
        assert_eq!(v["spec"]["hostNetwork"], true);
        assert_eq!(v["spec"]["mode"], 256);
        assert_eq!(v["spec"]["containers"][0], json!({"name": "no", "image": "y"}));
    }

    #[test]
    fn synthetic_load_has_the_requested_pod_count() {
        let objs = synthetic_workloads(1005, 10);
        let pods: u64 = objs.iter().filter_map(|o| o.pointer("/spec/replicas").and_then(Value::as_u64)).sum();
        assert_eq!(pods, 1005);
        assert_eq!(objs.iter().filter(|o| o["kind"] == "Namespace").count(), 10);
    }
}
