//! Garbage collection: deleting an owner deletes its dependents (background propagation,
//! recursively), `propagationPolicy: Orphan` leaves them without the owner reference, and watches
//! see every DELETED event. Through the real kube client.

mod common;

use common::{client, eventually, fixture};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use testkube::TestKube;

fn deployment(ns: &str, name: &str, replicas: u64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}})
}

fn names<K: kube::Resource>(items: &[K]) -> BTreeSet<String> {
    items.iter().map(|o| o.meta().name.clone().unwrap_or_default()).collect()
}

async fn pod_names(pods: &Api<Pod>) -> BTreeSet<String> {
    names(&pods.list(&ListParams::default()).await.unwrap().items)
}

fn uid(v: &Value) -> String {
    v["metadata"]["uid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn deleting_a_deployment_deletes_its_replicasets_and_pods_and_watches_see_them_go() {
    let server = TestKube::start().await.unwrap();
    server.seed([deployment("shop", "web", 2), deployment("shop", "api", 1)]).unwrap();
    let c = client(&server, "gc-test");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
    let before = pods.list(&ListParams::default()).await.unwrap();
    assert_eq!(before.items.len(), 3);
    let web_pods: BTreeSet<String> = names(&before.items).into_iter().filter(|n| n.starts_with("web-")).collect();
    assert_eq!(web_pods.len(), 2);
    let rv = before.metadata.resource_version.clone().unwrap();
    let mut events = pods.watch(&WatchParams::default(), &rv).await.unwrap().boxed();

    Api::<Deployment>::namespaced(c.clone(), "shop").delete("web", &DeleteParams::default()).await.unwrap();

    let replicasets: Api<ReplicaSet> = Api::namespaced(c.clone(), "shop");
    let left = names(&replicasets.list(&ListParams::default()).await.unwrap().items);
    assert!(left.iter().all(|n| n.starts_with("api-")) && left.len() == 1, "web's ReplicaSet is gone, api's stays: {left:?}");
    let left = pod_names(&pods).await;
    assert!(left.iter().all(|n| n.starts_with("api-")) && left.len() == 1, "web's Pods are gone, api's stays: {left:?}");
    let mut deleted = BTreeSet::new();
    while deleted != web_pods {
        match tokio::time::timeout(Duration::from_secs(10), events.try_next()).await {
            Ok(Ok(Some(WatchEvent::Deleted(p)))) => {
                deleted.insert(p.metadata.name.unwrap_or_default());
            }
            Ok(Ok(Some(_))) => {}
            other => panic!("watch ended before both DELETED events ({deleted:?} seen): {other:?}"),
        }
    }
    let gc_deletes = server.writes().iter().filter(|w| w.client == "testkube-garbage-collector" && w.verb == "delete").count();
    assert_eq!(gc_deletes, 3, "the ReplicaSet and its two Pods are deleted by the garbage collector");
}

#[tokio::test]
async fn orphan_propagation_leaves_the_dependents_without_the_owner_reference() {
    let server = TestKube::start().await.unwrap();
    server.seed([deployment("shop", "web", 2)]).unwrap();
    let c = client(&server, "gc-test");
    let replicasets: Api<ReplicaSet> = Api::namespaced(c.clone(), "shop");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
    Api::<Deployment>::namespaced(c.clone(), "shop").delete("web", &DeleteParams::orphan()).await.unwrap();

    let rs = replicasets.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(rs.len(), 1, "the ReplicaSet stays");
    assert_eq!(rs[0].metadata.owner_references, None, "and has no owner reference left");
    let rs_uid = rs[0].metadata.uid.clone().unwrap();
    let ps = pods.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(ps.len(), 2, "the Pods stay");
    for p in &ps {
        let owners = p.metadata.owner_references.clone().unwrap_or_default();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].uid, rs_uid, "Pods keep their ReplicaSet as owner");
    }

    // The query parameter works as the body does; then a background delete of the ReplicaSet takes the Pods.
    let rs_name = rs[0].metadata.name.clone().unwrap();
    let pod_name = ps[0].metadata.name.clone().unwrap();
    let req = http::Request::delete(format!("/api/v1/namespaces/shop/pods/{pod_name}?propagationPolicy=Bogus")).body(vec![]).unwrap();
    let err = c.request_text(req).await.unwrap_err();
    assert!(err.to_string().contains("Unsupported value"), "{err}");
    let url = format!("/apis/apps/v1/namespaces/shop/replicasets/{rs_name}?propagationPolicy=Background");
    c.request_text(http::Request::delete(url).body(vec![]).unwrap()).await.unwrap();
    assert!(pod_names(&pods).await.is_empty(), "the ReplicaSet's Pods are gone");
}

#[tokio::test]
async fn a_dependent_with_another_owner_left_only_loses_the_reference() {
    let server = TestKube::start().await.unwrap();
    let a = server.create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}})).unwrap();
    let b = server.create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "default"}})).unwrap();
    let owner = |o: &Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"], "uid": uid(o)});
    server
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "shared", "namespace": "default", "ownerReferences": [owner(&a), owner(&b)]}}))
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(&server, "gc-test"), "default");
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let shared = cms.get("shared").await.unwrap();
    let owners: Vec<String> = shared.metadata.owner_references.unwrap_or_default().into_iter().map(|r| r.name).collect();
    assert_eq!(owners, vec!["b"], "the dependent stays with its other owner");
    cms.delete("b", &DeleteParams::default()).await.unwrap();
    assert!(cms.get_opt("shared").await.unwrap().is_none(), "with its last owner gone, the dependent goes");
}

#[tokio::test]
async fn an_owner_with_finalizers_takes_its_dependents_when_it_is_finally_removed() {
    let server = TestKube::start().await.unwrap();
    server
        .seed([{
            let mut d = deployment("shop", "web", 1);
            d["metadata"]["finalizers"] = json!(["example.dev/hold"]);
            d
        }])
        .unwrap();
    let c = client(&server, "gc-test");
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), "shop");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
    deployments.delete("web", &DeleteParams::default()).await.unwrap();
    assert_eq!(pod_names(&pods).await.len(), 1, "the owner is only marked for deletion: its Pod stays");
    deployments.patch("web", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    assert!(pod_names(&pods).await.is_empty(), "once the owner is removed, its ReplicaSet and Pod go");
    assert!(Api::<ReplicaSet>::namespaced(c, "shop").list(&ListParams::default()).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn deleting_a_custom_resource_or_its_crd_deletes_the_workloads_it_owns() {
    for round in ["resource", "crd"] {
        let server = TestKube::start().await.unwrap();
        let c = client(&server, "gc-test");
        let crd = fixture("prometheus-crd.yaml");
        let prom =
            json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "metadata": {"name": "k8s", "namespace": "monitoring"}});
        let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "prometheus-k8s", "namespace": "monitoring",
                "ownerReferences": [{"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "name": "k8s", "uid": "from-the-dump", "controller": true}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "prometheus"}},
                "template": {"metadata": {"labels": {"app": "prometheus"}}, "spec": {"containers": [{"name": "prometheus", "image": "quay.io/prometheus/prometheus:v3.0.0"}]}}}});
        // The dump's order (dependents before their owner and its CRD) does not matter.
        server.seed([sts, prom, crd]).unwrap();
        let pods: Api<Pod> = Api::namespaced(c.clone(), "monitoring");
        assert_eq!(pod_names(&pods).await.len(), 2, "{round}: the StatefulSet's Pods");
        let sets: Api<StatefulSet> = Api::namespaced(c.clone(), "monitoring");
        assert_eq!(sets.list(&ListParams::default()).await.unwrap().items.len(), 1);
        if round == "resource" {
            let proms = common_prometheus_api(&c);
            proms.delete("k8s", &DeleteParams::default()).await.unwrap();
        } else {
            let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
                Api::all(c.clone());
            crds.delete("prometheuses.monitoring.coreos.com", &DeleteParams::default()).await.unwrap();
        }
        eventually(&format!("{round}: dependents gone"), || server.list("apps/v1", "StatefulSet").is_empty()).await;
        assert!(pod_names(&pods).await.is_empty(), "{round}: the StatefulSet's Pods are gone too");
    }
}

fn common_prometheus_api(c: &kube::Client) -> Api<kube::api::DynamicObject> {
    let gvk = kube::core::GroupVersionKind::gvk("monitoring.coreos.com", "v1", "Prometheus");
    Api::namespaced_with(c.clone(), "monitoring", &kube::core::ApiResource::from_gvk_with_plural(&gvk, "prometheuses"))
}

#[tokio::test]
async fn an_object_whose_owner_is_missing_is_kept() {
    // Creating an object whose owner does not exist is accepted and left alone: testkube collects on deletes only.
    let server = TestKube::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(&server, "gc-test"), "default");
    let orphan: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "x", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "nope"}]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &orphan).await.unwrap();
    assert!(cms.get_opt("x").await.unwrap().is_some());
}
