//! Seeding what cluster dumps hold: objects stored as a cluster runs them, owner references pointing
//! at the seeded owners' uids, Pods only where a controller would have made them; and every manifest of
//! the project's examples and check fixtures seeds without error. Read back through the kube client.

mod common;

use common::{client, fixture};
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, PodTemplate};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use testkube::TestKube;

fn meta(name: &str, owner: Option<(&str, &str, &str)>) -> Value {
    let mut m = json!({"name": name, "namespace": "dump"});
    if let Some((api_version, kind, owner)) = owner {
        m["ownerReferences"] =
            json!([{"apiVersion": api_version, "kind": kind, "name": owner, "uid": "uid-from-the-dump", "controller": true}]);
    }
    m
}

fn template(app: &str) -> Value {
    json!({"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "registry.example.com/app:1"}]}})
}

fn workload(api_version: &str, kind: &str, name: &str, replicas: u64, owner: Option<(&str, &str, &str)>) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": meta(name, owner),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template(name)}})
}

fn job(name: &str, owner: Option<(&str, &str, &str)>, status: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(name, owner), "spec": {"template": template(name)}, "status": status})
}

fn pod(name: &str, owner: Option<(&str, &str, &str)>, phase: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, owner), "spec": template(name)["spec"], "status": {"phase": phase}})
}

/// Pods of namespace `dump` by name, with their phase and the name and uid of their owner.
async fn pods(c: &kube::Client) -> BTreeMap<String, (String, String, String)> {
    let list = Api::<Pod>::namespaced(c.clone(), "dump").list(&ListParams::default()).await.unwrap();
    list.items
        .into_iter()
        .map(|p| {
            let owner = p.metadata.owner_references.unwrap_or_default().into_iter().next();
            let phase = p.status.and_then(|s| s.phase).unwrap_or_default();
            let (owner, uid) = owner.map(|o| (o.name, o.uid)).unwrap_or_default();
            (p.metadata.name.unwrap_or_default(), (phase, owner, uid))
        })
        .collect()
}

#[tokio::test]
async fn a_dump_is_stored_as_a_cluster_runs_it() {
    let server = TestKube::start().await.unwrap();
    let c = client(&server, "seed-test");
    let rs = |name: &str, replicas: u64| workload("apps/v1", "ReplicaSet", name, replicas, Some(("apps/v1", "Deployment", "web")));
    let done = json!({"succeeded": 1, "completionTime": "2026-01-01T02:00:05Z", "conditions": [{"type": "Complete", "status": "True"}]});
    // Dependents before owners and the CRD last, as a dump may list them.
    let dump = vec![
        pod("web-5d8f-a", Some(("apps/v1", "ReplicaSet", "web-5d8f")), "Running"),
        pod("web-5d8f-b", Some(("apps/v1", "ReplicaSet", "web-5d8f")), "Running"),
        rs("web-5d8f", 2),
        rs("web-old", 0),
        workload("apps/v1", "Deployment", "web", 2, None),
        workload("apps/v1", "Deployment", "idle", 0, None),
        workload("apps/v1", "ReplicaSet", "retired", 0, None),
        json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": meta("tpl", None), "template": template("tpl")}),
        job("migrate", None, done.clone()),
        job("broken", None, json!({"failed": 2, "conditions": [{"type": "Failed", "status": "True"}]})),
        job("nightly-29000001", Some(("batch/v1", "CronJob", "nightly")), done),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("nightly", None),
            "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": template("nightly")}}}}),
        pod("one-off", None, "Succeeded"),
        workload("apps/v1", "StatefulSet", "prometheus-k8s", 2, Some(("monitoring.coreos.com/v1", "Prometheus", "k8s"))),
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "metadata": meta("k8s", None), "spec": {"replicas": 2}}),
        json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": meta("legacy", None),
            "spec": {"backend": {"serviceName": "web", "servicePort": 80}}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "labels": {"team": "platform"}}}),
        fixture("prometheus-crd.yaml"),
    ];
    server.seed(dump).unwrap();
    let uid = |api_version: &str, kind: &str, name: &str| {
        server.get(api_version, kind, "dump", name).unwrap_or_else(|| panic!("{kind} {name} stored"))["metadata"]["uid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let running = |owner: &str, uid: String| ("Running".to_string(), owner.to_string(), uid);
    let pods = pods(&c).await;
    let sts_pods: Vec<&String> = pods.keys().filter(|n| n.starts_with("prometheus-k8s-")).collect();
    assert_eq!(sts_pods.len(), 2, "{pods:?}");
    let rs_uid = uid("apps/v1", "ReplicaSet", "web-5d8f");
    assert_eq!(pods["web-5d8f-a"], running("web-5d8f", rs_uid.clone()), "the dump's Pods point at the ReplicaSet as seeded");
    assert_eq!(pods["web-5d8f-b"], running("web-5d8f", rs_uid));
    assert_eq!(pods["one-off"].0, "Succeeded");
    for p in sts_pods {
        assert_eq!(pods[p], running("prometheus-k8s", uid("apps/v1", "StatefulSet", "prometheus-k8s")));
    }
    let phases_of = |owner: &str| -> Vec<&str> { pods.values().filter(|(_, o, _)| o == owner).map(|(p, _, _)| p.as_str()).collect() };
    assert_eq!(phases_of("migrate"), ["Succeeded"], "a completed Job keeps its Pod, terminated");
    assert_eq!(phases_of("broken"), ["Failed", "Failed"], "a failed Job keeps its failed Pods");
    assert_eq!(phases_of("nightly-29000001"), ["Succeeded"], "the CronJob's history Job");
    assert_eq!(pods.len(), 2 + 1 + 2 + 2 + 1 + 1, "no other Pods (idle, retired, web-old, tpl, nightly have none): {pods:?}");

    let owner_uid = |api_version: &str, kind: &str, name: &str| {
        server.get(api_version, kind, "dump", name).unwrap()["metadata"]["ownerReferences"][0]["uid"].as_str().unwrap().to_string()
    };
    assert_eq!(owner_uid("apps/v1", "ReplicaSet", "web-5d8f"), uid("apps/v1", "Deployment", "web"));
    assert_eq!(owner_uid("apps/v1", "ReplicaSet", "web-old"), uid("apps/v1", "Deployment", "web"));
    assert_eq!(owner_uid("batch/v1", "Job", "nightly-29000001"), uid("batch/v1", "CronJob", "nightly"));
    assert_eq!(owner_uid("apps/v1", "StatefulSet", "prometheus-k8s"), uid("monitoring.coreos.com/v1", "Prometheus", "k8s"));

    let replicasets = Api::<ReplicaSet>::namespaced(c.clone(), "dump").list(&ListParams::default()).await.unwrap();
    let mut rs_names: Vec<String> = replicasets.items.iter().map(|r| r.metadata.name.clone().unwrap()).collect();
    rs_names.sort();
    assert_eq!(rs_names.len(), 4, "the dump's two, retired, and idle's (with 0 replicas): {rs_names:?}");
    assert!(rs_names.iter().any(|n| n.starts_with("idle-")));
    let jobs = Api::<Job>::namespaced(c.clone(), "dump").list(&ListParams::default()).await.unwrap();
    assert_eq!(jobs.items.len(), 3, "the CronJob, which came with its history, is not given another Job");
    assert_eq!(Api::<StatefulSet>::namespaced(c.clone(), "dump").list(&ListParams::default()).await.unwrap().items.len(), 1);
    assert!(Api::<PodTemplate>::namespaced(c.clone(), "dump").get_opt("tpl").await.unwrap().is_some());
    let ingress = Api::<Ingress>::namespaced(c.clone(), "dump").get("legacy").await.unwrap();
    let backend = ingress.spec.and_then(|s| s.default_backend).and_then(|b| b.service).unwrap();
    assert_eq!((backend.name.as_str(), backend.port.and_then(|p| p.number)), ("web", Some(80)), "a legacy Ingress is served as v1");
    let kube_system = Api::<Namespace>::all(c.clone()).get("kube-system").await.unwrap();
    assert_eq!(kube_system.metadata.labels.unwrap_or_default().get("team").map(String::as_str), Some("platform"));
}

#[tokio::test]
async fn a_custom_resource_without_its_crd_is_an_error_naming_it() {
    let server = TestKube::start().await.unwrap();
    let widget = json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": "dump"}});
    let err = server.seed([widget.clone()]).unwrap_err();
    assert!(err.message.contains("Widget dump/w1") && err.message.contains("example.dev/v1"), "{}", err.message);
    // With its CRD in the same call, after it, the Widget is created.
    assert_eq!(server.seed([widget, fixture("widgets-crd.yaml")]).unwrap(), 2);
}

/// Pods a cluster runs for the objects of one seed: bare Pods, workload replicas (a DaemonSet one per Node, or one
/// without Nodes), a Job's parallelism, a CronJob's one Job.
fn expected_pods(objects: &[Value]) -> usize {
    let nodes = objects.iter().filter(|o| o["kind"] == "Node").count().max(1);
    let n = |o: &Value, p: &str| o.pointer(p).and_then(Value::as_u64).unwrap_or(1) as usize;
    objects
        .iter()
        .map(|o| match o["kind"].as_str().unwrap_or_default() {
            "Pod" => 1,
            "Deployment" | "ReplicaSet" | "StatefulSet" => n(o, "/spec/replicas"),
            "DaemonSet" => nodes,
            "Job" => n(o, "/spec/parallelism").min(n(o, "/spec/completions")),
            "CronJob" => n(o, "/spec/jobTemplate/spec/parallelism").min(n(o, "/spec/jobTemplate/spec/completions")),
            _ => 0,
        })
        .sum()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json") {
            out.push(p);
        }
    }
}

#[tokio::test]
async fn every_example_and_check_fixture_seeds_with_the_pods_a_cluster_would_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // The examples, as `kompliance demo` seeds them: one directory.
    let server = TestKube::start().await.unwrap();
    let examples = root.join("examples");
    server.seed_path(&examples).unwrap();
    let objects: Vec<Value> = testkube::seed::read_objects(&examples).unwrap().into_iter().map(|(_, o)| o).collect();
    assert_eq!(server.list("v1", "Pod").len(), expected_pods(&objects));
    assert_eq!(server.list("v1", "Pod").len(), 14, "shop 5, payments 2, monitoring 3, legacy 2, kube-system 2 (a DaemonSet on 2 Nodes)");

    let mut files = Vec::new();
    yaml_files(&root.join("tests/fixtures/checks"), &mut files);
    files.sort();
    assert!(files.len() > 90, "{} fixture files", files.len());
    for file in files {
        let objects: Vec<Value> = testkube::seed::read_objects(&file).unwrap().into_iter().map(|(_, o)| o).collect();
        let server = TestKube::start().await.unwrap();
        let seeded = server.seed_path(&file);
        if objects.iter().all(|o| o["kind"] == "ComplianceConfig") {
            // kompliance's configuration, not a cluster object: refused, by name.
            let err = seeded.unwrap_err().to_string();
            assert!(err.contains("ComplianceConfig"), "{}: {err}", file.display());
            continue;
        }
        seeded.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(server.list("v1", "Pod").len(), expected_pods(&objects), "{}", file.display());
    }
}

#[tokio::test]
async fn a_deployment_dumped_with_only_its_old_revision_still_runs_its_pods() {
    let server = TestKube::start().await.unwrap();
    let c = client(&server, "seed-test");
    let old = workload("apps/v1", "ReplicaSet", "web-old", 0, Some(("apps/v1", "Deployment", "web")));
    server.seed(vec![old, workload("apps/v1", "Deployment", "web", 2, None)]).unwrap();
    let pods = pods(&c).await;
    assert_eq!(pods.len(), 2, "the Deployment's current ReplicaSet runs its replicas: {pods:?}");
    assert!(pods.keys().all(|p| p.starts_with("web-") && !p.starts_with("web-old")), "{pods:?}");
}
