//! Helpers shared by testkube's contract tests: clients, object builders, polling.

#![allow(dead_code)]

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::Client;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkube::TestKube;

/// A kube client for the server that identifies itself with `agent` as User-Agent.
pub fn client(server: &TestKube, agent: &str) -> Client {
    let mut cfg = kube::Config::new(server.url().parse().expect("server url"));
    cfg.headers.push((http::header::USER_AGENT, http::HeaderValue::from_str(agent).expect("agent")));
    cfg.default_retry = false;
    Client::try_from(cfg).expect("client")
}

/// A Namespace named `name`.
pub fn namespace(name: &str) -> Namespace {
    serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace")
}

/// A Pod `name` in `ns` with label app=`app`.
pub fn pod(ns: &str, name: &str, app: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}
    }))
    .expect("pod")
}

/// A ConfigMap `name` in `ns` with one data key.
pub fn config_map(ns: &str, name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}, "data": {"k": name}})).expect("configmap")
}

/// Parses a fixture file of this crate's tests/fixtures.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Polls `check` until it holds, failing after 30 s with `what`.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
