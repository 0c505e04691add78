//! Load benchmark: N Pods across M namespaces created through HTTP against a testkube process, then listed; prints time and the server's memory.
//! `cargo bench -p testkube --bench load` (env LOAD_PODS, LOAD_NAMESPACES, LOAD_CONCURRENCY change the size).

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;
use testkube::procfs::{cpu_secs, status_kib};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pod(ns: &str, i: usize) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": format!("web-{i:05}"), "namespace": ns, "labels": {"app": format!("app-{}", i % 10), "tier": "web"}},
        "spec": {"containers": [
            {"name": "app", "image": format!("registry.example.com/team/app-{}:1.0", i % 13), "ports": [{"containerPort": 8080}],
             "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
             "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false}},
            {"name": "sidecar", "image": "registry.example.com/proxy:2.1", "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}
    }))
    .expect("pod")
}

#[tokio::main]
async fn main() {
    let pods = env_or("LOAD_PODS", 100_000);
    let namespaces = env_or("LOAD_NAMESPACES", 1_000);
    let concurrency = env_or("LOAD_CONCURRENCY", 16);
    let mut child = Command::new(env!("CARGO_BIN_EXE_testkube"))
        .args(["--history", "20000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start testkube");
    let pid = child.id();
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut url).expect("server url");
    let client = kube::Client::try_from(kube::Config::new(url.trim().parse().expect("url"))).expect("client");
    let idle_kib = status_kib(pid, "VmRSS:");

    let started = Instant::now();
    let ns_api: Api<Namespace> = Api::all(client.clone());
    futures::stream::iter(0..namespaces)
        .map(|n| {
            let api = ns_api.clone();
            async move {
                let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": format!("load-{n:04}")}})).expect("ns");
                api.create(&PostParams::default(), &ns).await.expect("create namespace");
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    futures::stream::iter(0..pods)
        .map(|i| {
            let ns = format!("load-{:04}", i % namespaces);
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            async move {
                api.create(&PostParams::default(), &pod(&ns, i)).await.expect("create pod");
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let create_secs = started.elapsed().as_secs_f64();
    let server_cpu_create = cpu_secs(pid);

    let all: Api<Pod> = Api::all(client.clone());
    let t = Instant::now();
    let whole = all.list(&ListParams::default()).await.expect("list");
    let list_whole = t.elapsed().as_secs_f64();
    assert_eq!(whole.items.len(), pods);
    drop(whole);

    let t = Instant::now();
    let mut seen = 0;
    let mut lp = ListParams::default().limit(500);
    loop {
        let page = all.list(&lp).await.expect("list page");
        seen += page.items.len();
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    let list_paged = t.elapsed().as_secs_f64();
    assert_eq!(seen, pods);

    let t = Instant::now();
    let one: Api<Pod> = Api::namespaced(client.clone(), "load-0007");
    let in_one = one.list(&ListParams::default().labels("app=app-7")).await.expect("ns list").items.len();
    let list_one_ns = t.elapsed().as_secs_f64();

    println!("testkube load: {pods} Pods across {namespaces} namespaces, {concurrency} concurrent POSTs (kube client, JSON over loopback)");
    println!("  create: {create_secs:.2} s ({:.0} Pods/s); server CPU {server_cpu_create:.2} s", pods as f64 / create_secs);
    println!("  list all (one request): {list_whole:.2} s");
    println!("  list all (pages of 500): {list_paged:.2} s");
    println!("  list one namespace with a label selector: {:.1} ms ({in_one} Pods)", list_one_ns * 1000.0);
    println!(
        "  server memory: idle {:.1} MiB, now {:.1} MiB, peak {:.1} MiB",
        idle_kib as f64 / 1024.0,
        status_kib(pid, "VmRSS:") as f64 / 1024.0,
        status_kib(pid, "VmHWM:") as f64 / 1024.0
    );
    let _ = child.kill();
    let _ = child.wait();
}
