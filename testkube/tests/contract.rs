//! Contract tests: the real kube client and kube-runtime watcher against testkube.

mod common;

use common::{client, config_map, eventually, fixture, namespace, pod};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{reflector, watcher};
use serde_json::json;
use std::collections::BTreeSet;
use testkube::{Fault, TestKube};

fn names(store: &reflector::Store<Pod>) -> BTreeSet<String> {
    store.state().iter().map(|p| p.metadata.name.clone().unwrap_or_default()).collect()
}

fn server_names(server: &TestKube, ns: &str) -> BTreeSet<String> {
    server
        .list("v1", "Pod")
        .iter()
        .filter(|p| p["metadata"]["namespace"] == ns)
        .map(|p| p["metadata"]["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn reflector_follows_adds_updates_deletes_and_recovers_from_dropped_watches_and_410() {
    let server = TestKube::start().await.unwrap();
    let c = client(&server, "contract-test");
    Api::<Namespace>::all(c.clone()).create(&PostParams::default(), &namespace("shop")).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
    for i in 0..5 {
        pods.create(&PostParams::default(), &pod("shop", &format!("early-{i}"), "web")).await.unwrap();
    }
    let (reader, writer) = reflector::store::<Pod>();
    let applied = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let relists = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (seen, lists) = (applied.clone(), relists.clone());
    let watched: Api<Pod> = Api::namespaced(client(&server, "reflector"), "shop");
    let stream = reflector(writer, watcher(watched, watcher::Config::default().page_size(2)));
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                    let labels = p.metadata.labels.clone().unwrap_or_default();
                    seen.lock().unwrap().push((p.metadata.name.clone().unwrap_or_default(), labels.get("v").cloned().unwrap_or_default()));
                }
                Ok(watcher::Event::Init) => {
                    lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                _ => {}
            }
        }
    });
    eventually("initial list of 5 pods in pages of 2", || names(&reader).len() == 5).await;

    pods.create(&PostParams::default(), &pod("shop", "late", "web")).await.unwrap();
    for v in 1..=3 {
        let patch = json!({"metadata": {"labels": {"v": v.to_string()}}});
        pods.patch("late", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }
    pods.delete("early-0", &DeleteParams::default()).await.unwrap();
    eventually("add, updates and delete reflected", || names(&reader) == server_names(&server, "shop")).await;
    eventually("updates of 'late' seen in order", || {
        let order: Vec<String> = applied.lock().unwrap().iter().filter(|(n, _)| n == "late").map(|(_, v)| v.clone()).collect();
        order.ends_with(&["1".into(), "2".into(), "3".into()])
    })
    .await;
    let late: Vec<String> = applied.lock().unwrap().iter().filter(|(n, _)| n == "late").map(|(_, v)| v.clone()).collect();
    assert_eq!(late, vec!["", "1", "2", "3"], "each change of 'late' seen once, in order");

    // Dropped watches: changes made while no watch is open are not lost.
    server.close_watches();
    pods.delete("early-1", &DeleteParams::default()).await.unwrap();
    pods.create(&PostParams::default(), &pod("shop", "after-drop", "web")).await.unwrap();
    eventually("changes during a dropped watch", || names(&reader) == server_names(&server, "shop")).await;

    // Forced 410: the watcher is cut off, history is compacted, so its rewatch gets 410 and it must relist.
    assert_eq!(relists.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.pause("reflector");
    server.close_watches();
    pods.delete("early-2", &DeleteParams::default()).await.unwrap();
    pods.create(&PostParams::default(), &pod("shop", "after-410", "web")).await.unwrap();
    server.compact();
    server.resume("reflector");
    eventually("relist after 410", || names(&reader) == server_names(&server, "shop")).await;
    assert_eq!(relists.load(std::sync::atomic::Ordering::SeqCst), 2, "the 410 made the watcher relist once");
    let in_store = reader.state().len();
    assert_eq!(in_store, server_names(&server, "shop").len(), "no duplicates after relist");
    assert!(names(&reader).contains("after-410") && !names(&reader).contains("early-2"));
}

#[tokio::test]
async fn a_watch_from_a_compacted_version_gets_410_expired() {
    let server = TestKube::start().await.unwrap();
    let c = client(&server, "contract-test");
    let cms: Api<ConfigMap> = Api::namespaced(c, "default");
    let first = cms.create(&PostParams::default(), &config_map("default", "a")).await.unwrap();
    cms.create(&PostParams::default(), &config_map("default", "b")).await.unwrap();
    server.compact();
    let rv = first.metadata.resource_version.unwrap();
    let mut stream = cms.watch(&kube::api::WatchParams::default(), &rv).await.unwrap().boxed();
    match stream.next().await {
        Some(Err(kube::Error::Api(s))) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        Some(Ok(kube::api::WatchEvent::Error(s))) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

fn widgets(c: kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.dev", "v1", "Widget"), "widgets");
    Api::namespaced_with(c, "shop", &ar)
}

async fn with_widget_crd(server: &TestKube) -> kube::Client {
    server.seed([fixture("widgets-crd.yaml"), serde_json::to_value(namespace("shop")).unwrap()]).unwrap();
    client(server, "contract-test")
}

#[tokio::test]
async fn server_side_apply_creates_updates_and_owns_fields_and_status() {
    let server = TestKube::start().await.unwrap();
    let api = widgets(with_widget_crd(&server).await);
    let pp = PatchParams::apply("kompliance").force();
    let w1 = json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"size": 1, "color": "red", "tags": {"a": "1", "b": "2"}, "unknown": true}, "status": {"phase": "ignored"}});
    let created = api.patch("w", &pp, &Patch::Apply(&w1)).await.unwrap();
    assert_eq!(created.data["spec"]["size"], 1);
    assert!(created.data["spec"].get("unknown").is_none(), "fields outside the schema are pruned");
    assert!(created.data.get("status").is_none(), "main-resource apply ignores status");
    assert_eq!(created.metadata.generation, Some(1));
    let managers: Vec<String> = created.metadata.managed_fields.unwrap().iter().filter_map(|m| m.manager.clone()).collect();
    assert_eq!(managers, vec!["kompliance"]);

    // Another manager owns tags.c; kompliance drops tags.b and color: they go, tags.c stays.
    let other =
        json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1, "tags": {"c": "3"}}});
    api.patch("w", &PatchParams::apply("someone-else"), &Patch::Apply(&other)).await.unwrap();
    let w2 = json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 2, "tags": {"a": "1"}}});
    let updated = api.patch("w", &pp, &Patch::Apply(&w2)).await.unwrap();
    assert_eq!(updated.data["spec"], json!({"size": 2, "tags": {"a": "1", "c": "3"}}));
    assert_eq!(updated.metadata.generation, Some(3), "two spec changes since creation");

    // A conflicting apply without force is refused with 409.
    let grab = json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 9}});
    match api.patch("w", &PatchParams::apply("someone-else"), &Patch::Apply(&grab)).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409, "{s:?}"),
        other => panic!("expected a conflict, got {other:?}"),
    }

    // Status through the subresource; the same apply again changes nothing (same resourceVersion).
    let status =
        json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"phase": "Ready", "count": 4}});
    let with_status = api.patch_status("w", &pp, &Patch::Apply(&status)).await.unwrap();
    assert_eq!(with_status.data["status"], json!({"phase": "Ready", "count": 4}));
    assert_eq!(with_status.data["spec"]["size"], 2, "a status write leaves spec alone");
    let again = api.patch_status("w", &pp, &Patch::Apply(&status)).await.unwrap();
    assert_eq!(again.metadata.resource_version, with_status.metadata.resource_version, "a no-op apply does not bump the version");

    // Schema validation: a wrong type is 422 Invalid.
    let bad = json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"count": "four"}});
    match api.patch_status("w", &pp, &Patch::Apply(&bad)).await {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}"),
        other => panic!("expected 422, got {other:?}"),
    }
}

#[tokio::test]
async fn json_patch_test_failure_is_422_and_stale_update_is_409() {
    let server = TestKube::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(&server, "contract-test"), "default");
    let cm = cms.create(&PostParams::default(), &config_map("default", "a")).await.unwrap();
    let failing: json_patch::Patch = serde_json::from_value(
        json!([{"op": "test", "path": "/data/k", "value": "nope"}, {"op": "replace", "path": "/data/k", "value": "x"}]),
    )
    .unwrap();
    match cms.patch("a", &PatchParams::default(), &Patch::<()>::Json(failing)).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 422),
        other => panic!("expected 422, got {other:?}"),
    }
    let passing: json_patch::Patch = serde_json::from_value(
        json!([{"op": "test", "path": "/data/k", "value": "a"}, {"op": "replace", "path": "/data/k", "value": "x"}]),
    )
    .unwrap();
    let patched = cms.patch("a", &PatchParams::default(), &Patch::<()>::Json(passing)).await.unwrap();
    assert_eq!(patched.data.unwrap()["k"], "x");
    // `cm` carries the old resourceVersion: replacing with it is a conflict.
    match cms.replace("a", &PostParams::default(), &cm).await {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (409, "Conflict")),
        other => panic!("expected 409, got {other:?}"),
    }
    match cms.create(&PostParams::default(), &config_map("default", "a")).await {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists")),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    match cms.get("missing").await {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (404, "NotFound")),
        other => panic!("expected 404, got {other:?}"),
    }
}

#[tokio::test]
async fn paging_returns_every_object_exactly_once_and_selectors_filter() {
    let server = TestKube::start().await.unwrap();
    let c = client(&server, "contract-test");
    let mut objs = Vec::new();
    for n in 0..7 {
        objs.push(serde_json::to_value(namespace(&format!("ns-{n}"))).unwrap());
        for i in 0..150 {
            let mut p = serde_json::to_value(pod(&format!("ns-{n}"), &format!("p-{i:03}"), if i % 3 == 0 { "db" } else { "web" })).unwrap();
            p["apiVersion"] = json!("v1");
            p["kind"] = json!("Pod");
            objs.push(p);
        }
    }
    server.seed(objs).unwrap();
    let all: Api<Pod> = Api::all(c.clone());
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(97);
    loop {
        let page = all.list(&lp).await.unwrap();
        seen.extend(page.items.iter().map(|p| format!("{}/{}", p.metadata.namespace.clone().unwrap(), p.metadata.name.clone().unwrap())));
        match page.metadata.continue_ {
            Some(tok) if !tok.is_empty() => lp = lp.continue_token(&tok),
            _ => break,
        }
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (1050, 1050));
    let one_ns: Api<Pod> = Api::namespaced(c.clone(), "ns-3");
    let dbs = one_ns.list(&ListParams::default().labels("app in (db),app!=web")).await.unwrap();
    assert_eq!(dbs.items.len(), 50);
    let named = all.list(&ListParams::default().fields("metadata.name=p-007,metadata.namespace!=ns-0")).await.unwrap();
    assert_eq!(named.items.len(), 6);
}

#[tokio::test]
async fn faults_hit_only_their_verb_resource_and_client() {
    let server = TestKube::start().await.unwrap();
    let a: Api<ConfigMap> = Api::namespaced(client(&server, "replica-a"), "default");
    let b: Api<ConfigMap> = Api::namespaced(client(&server, "replica-b"), "default");
    server.inject(Fault::throttle("create", "configmaps", 1, 7).for_client("replica-a"));
    server.inject(Fault::fail("create", "configmaps", 1, 500));
    match a.create(&PostParams::default(), &config_map("default", "x")).await {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests")),
        other => panic!("expected 429, got {other:?}"),
    }
    match b.create(&PostParams::default(), &config_map("default", "x")).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 500),
        other => panic!("expected 500 for replica-b, got {other:?}"),
    }
    b.create(&PostParams::default(), &config_map("default", "x")).await.expect("rules are used up");

    // Pausing replica-a leaves replica-b served; resuming lets a's request finish.
    server.pause("replica-a");
    let a2 = a.clone();
    let pending = tokio::spawn(async move { a2.get("x").await.map(|cm| cm.metadata.name) });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!pending.is_finished(), "a paused client's request hangs");
    b.get("x").await.expect("other clients are served");
    server.resume("replica-a");
    match pending.await.unwrap() {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 504, "a held request fails once the client is let back in"),
        other => panic!("expected 504, got {other:?}"),
    }
    a.get("x").await.expect("served again after resume");
    let writers: Vec<String> = server.writes().iter().filter(|w| w.resource == "configmaps").map(|w| w.client.clone()).collect();
    assert_eq!(writers, vec!["replica-b".to_string()]);
}

#[tokio::test]
async fn deleting_a_namespace_takes_its_content_and_finalizers_delay_deletion() {
    let server = TestKube::start().await.unwrap();
    let c = client(&server, "contract-test");
    let nss: Api<Namespace> = Api::all(c.clone());
    nss.create(&PostParams::default(), &namespace("gone")).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "gone");
    cms.create(&PostParams::default(), &config_map("gone", "plain")).await.unwrap();
    let mut held = config_map("gone", "held");
    held.metadata.finalizers = Some(vec!["example.dev/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();

    nss.delete("gone", &DeleteParams::default()).await.unwrap();
    assert!(cms.get_opt("plain").await.unwrap().is_none());
    let marked = cms.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some(), "finalizer keeps the object, marked for deletion");
    let ns = nss.get("gone").await.unwrap();
    assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Terminating"));
    match cms.create(&PostParams::default(), &config_map("gone", "new")).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403),
        other => panic!("expected 403 in a terminating namespace, got {other:?}"),
    }
    cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none(), "removing the last finalizer deletes the object");
    assert!(nss.get_opt("gone").await.unwrap().is_none(), "the emptied namespace goes too");
}

#[tokio::test]
async fn subject_access_reviews_answer_as_configured_and_version_is_settable() {
    use k8s_openapi::api::authorization::v1::SubjectAccessReview;
    let server = TestKube::start().await.unwrap();
    let c = client(&server, "contract-test");
    let sar: SubjectAccessReview =
        serde_json::from_value(json!({"spec": {"user": "nobody-x1", "resourceAttributes": {"verb": "list", "resource": "secrets"}}}))
            .unwrap();
    let api: Api<SubjectAccessReview> = Api::all(c.clone());
    let denied = api.create(&PostParams::default(), &sar).await.unwrap();
    assert!(!denied.status.unwrap().allowed);
    server.set_sar_allowed(true);
    assert!(api.create(&PostParams::default(), &sar).await.unwrap().status.unwrap().allowed);
    server.set_version("v1.29.7");
    let v = c.apiserver_version().await.unwrap();
    assert_eq!((v.git_version.as_str(), v.minor.as_str()), ("v1.29.7", "29"));
}

#[tokio::test]
async fn watches_send_bookmarks_end_at_their_timeout_and_follow_selectors() {
    use kube::api::{WatchEvent, WatchParams};
    let opts = testkube::Options { bookmark_every: std::time::Duration::from_millis(100), ..Default::default() };
    let server = TestKube::start_with(opts).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(&server, "contract-test"), "default");
    let rv = cms.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let wp = WatchParams::default().labels("team=a").timeout(2);
    let mut events = cms.watch(&wp, &rv).await.unwrap().boxed();
    let mut generated = config_map("default", "unused");
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    generated.metadata.labels = Some([("team".to_string(), "a".to_string())].into());
    let made = cms.create(&PostParams::default(), &generated).await.unwrap();
    let name = made.metadata.name.clone().unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    cms.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}}))).await.unwrap();
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    while let Some(ev) = events.next().await {
        match ev.unwrap() {
            WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.metadata.name.unwrap())),
            WatchEvent::Modified(o) => seen.push(format!("MODIFIED {}", o.metadata.name.unwrap())),
            WatchEvent::Deleted(o) => seen.push(format!("DELETED {}", o.metadata.name.unwrap())),
            WatchEvent::Bookmark(b) => {
                assert!(b.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap());
                seen.push("BOOKMARK".into());
            }
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= std::time::Duration::from_millis(1500), "the watch ended at its timeout, not before: {elapsed:?}");
    assert_eq!(&seen[..2], &[format!("ADDED {name}"), format!("DELETED {name}")], "leaving the selector is a DELETED: {seen:?}");
    assert!(seen[2..].iter().all(|s| s == "BOOKMARK") && seen.len() > 3, "periodic bookmarks: {seen:?}");
}

#[tokio::test]
async fn deleting_a_crd_stops_serving_it_and_drops_its_objects() {
    let server = TestKube::start().await.unwrap();
    let api = widgets(with_widget_crd(&server).await);
    let w = json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}});
    api.patch("w", &PatchParams::apply("t"), &Patch::Apply(&w)).await.unwrap();
    server.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.dev").unwrap();
    match api.get("w").await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 404),
        other => panic!("expected 404 once the CRD is gone, got {other:?}"),
    }
    assert!(server.list("example.dev/v1", "Widget").is_empty());
}

/// What kube sends for `Api<PartialObjectMeta<K>>` (list, get and watch): metadata only comes back.
#[tokio::test]
async fn metadata_only_requests_get_partial_object_metadata() {
    let server = TestKube::start().await.unwrap();
    let c = client(&server, "contract-test");
    Api::<Namespace>::all(c.clone()).create(&PostParams::default(), &namespace("shop")).await.unwrap();
    Api::<Pod>::namespaced(c.clone(), "shop").create(&PostParams::default(), &pod("shop", "web-1", "web")).await.unwrap();
    let get = |path: &str, accept: &str| {
        http::Request::get(format!("/api/v1/namespaces/shop/pods{path}")).header("Accept", accept).body(Vec::new()).unwrap()
    };
    let list: serde_json::Value =
        serde_json::from_str(&c.request_text(get("", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")).await.unwrap())
            .unwrap();
    assert_eq!((list["kind"].as_str(), list["apiVersion"].as_str()), (Some("PartialObjectMetadataList"), Some("meta.k8s.io/v1")));
    assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(list["items"][0]["metadata"]["name"], "web-1");
    assert!(list["items"][0].get("spec").is_none(), "{list}");
    let one: serde_json::Value =
        serde_json::from_str(&c.request_text(get("/web-1", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")).await.unwrap())
            .unwrap();
    assert!(one["kind"] == "PartialObjectMetadata" && one.get("spec").is_none(), "{one}");
    let events = c
        .request_text(get("?watch=true&resourceVersion=0&timeoutSeconds=1", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"))
        .await
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(events.lines().next().unwrap_or_default()).unwrap();
    assert_eq!(first["type"], "ADDED");
    assert!(first["object"]["kind"] == "PartialObjectMetadata" && first["object"].get("spec").is_none(), "{first}");
    // Without the header, whole objects as before.
    let full: serde_json::Value = serde_json::from_str(&c.request_text(get("", "application/json")).await.unwrap()).unwrap();
    assert_eq!((full["kind"].as_str(), full["items"][0]["kind"].as_str()), (Some("PodList"), Some("Pod")));
    assert!(full["items"][0].get("spec").is_some());
}
