//! Operator scale benchmark: testkube in its own process seeded with N Pods across M namespaces,
//! `kompliance run` in another; prints time to every report, status writes per namespace during
//! the initial sync, the operator's peak memory and CPU, one change's latency, and the CPU of just
//! decoding the same Pod list. `cargo bench --bench operator_scale` (env SCALE="10000:100,100000:1000").
//! OPENREPORTS="off,on" runs each scale without and with `--openreports` (default "off"): with it,
//! also the OpenReports writes during the initial sync and the time until they stop.
//! `BASELINE_REPEATS=n` measures the list+decode baseline n times (default 5; the ratio uses the median).
//! `OPERATOR_BINS=label=path,...` runs other builds of `kompliance` in the same run (e.g. main's, for
//! old-vs-new ratios on a noisy host); `CHURN=rate:seconds` adds the churn measurement (`churn.rs`).

#[path = "operator_scale/churn.rs"]
mod churn;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkube::procfs::{cpu_secs, status_kib};

fn self_cpu() -> f64 {
    cpu_secs(std::process::id())
}

/// Child role: run testkube seeded with the CRDs and the synthetic load; print the URL.
async fn serve(pods: usize, namespaces: usize) {
    let server = testkube::TestKube::start_with(testkube::Options { history: 50_000, ..Default::default() }).await.expect("testkube");
    server.seed_path(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/crds"))).expect("crds");
    let openreports: Vec<Value> = ["openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"]
        .iter()
        .map(|f| {
            let path = format!("{}/tests/fixtures/openreports/{f}", env!("CARGO_MANIFEST_DIR"));
            serde_saphyr::from_str(&std::fs::read_to_string(&path).expect("openreports crd")).expect("crd yaml")
        })
        .collect();
    server.seed(openreports).expect("openreports crds");
    let t = Instant::now();
    server.seed(testkube::seed::synthetic_workloads(pods, namespaces)).expect("seed");
    eprintln!("server: seeded {pods} pods in {:.1?}", t.elapsed());
    println!("{}", server.url());
    tokio::signal::ctrl_c().await.ok();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn status_writes(url: &str) -> Vec<Value> {
    let client = kube::Client::try_from(kube::Config::new(url.parse().expect("url"))).expect("client");
    let req = http::Request::get("/testkube/writes").body(Vec::new()).expect("request");
    let v: Value = client.request(req).await.expect("write log");
    v["writes"].as_array().cloned().unwrap_or_default()
}

/// The operator builds to measure: `OPERATOR_BINS` (`label=path`, comma-separated), else this build's.
fn operator_bins() -> Vec<(String, String)> {
    match std::env::var("OPERATOR_BINS") {
        Ok(v) => v.split(',').filter_map(|b| b.split_once('=')).map(|(l, p)| (l.to_string(), p.to_string())).collect(),
        Err(_) => vec![("this build".into(), env!("CARGO_BIN_EXE_kompliance").into())],
    }
}

async fn run(pods: usize, namespaces: usize, label: &str, bin: &str, openreports: bool) {
    let me = std::env::current_exe().expect("self");
    let mut server = Command::new(&me)
        .env("KOMPLIANCE_SCALE_ROLE", format!("server:{pods}:{namespaces}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server process");
    let mut url = String::new();
    BufReader::new(server.stdout.take().expect("stdout")).read_line(&mut url).expect("url");
    let _server = Killed(server);
    let url = url.trim().to_string();
    let dir = tempfile::tempdir().expect("tmp");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: {url}\ncontexts:\n- name: t\n  context:\n    cluster: t\n    user: u\ncurrent-context: t\nusers:\n- name: u\n  user:\n    token: u\n")).expect("kubeconfig");
    let port = free_port();
    let started = Instant::now();
    let op = Command::new(bin)
        .args(["run", "--leader-election=false", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--config", concat!(env!("CARGO_MANIFEST_DIR"), "/example-config.yaml"), "--metrics-addr", &format!("127.0.0.1:{port}")])
        .args(if openreports { &["--openreports=true"][..] } else { &[][..] })
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("operator");
    let op_pid = op.id();
    let _op = Killed(op);

    let client = kube::Client::try_from(kube::Config::new(url.parse().expect("url"))).expect("client");
    let reports: Api<kompliance::report::ComplianceReport> = Api::all(client.clone());
    // Plus default, kube-public and kube-node-lease (kube-system is excluded by the config).
    let expected = namespaces + 3;
    let mut all_written = None;
    while started.elapsed() < Duration::from_secs(600) {
        let list = reports.list(&ListParams::default()).await.map(|l| l.items.iter().filter(|r| r.status.is_some()).count()).unwrap_or(0);
        if list >= expected {
            all_written = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sync_time = all_written.expect("every report written within 600 s");
    let sync_cpu = cpu_secs(op_pid);
    // OpenReports: converged when no OpenReports write came for 3 s.
    let mut or_converged = None;
    if openreports {
        let (mut last, mut quiet_since) = (usize::MAX, Instant::now());
        while started.elapsed() < Duration::from_secs(900) {
            let n =
                status_writes(&url).await.iter().filter(|w| w["resource"].as_str().is_some_and(|r| r.ends_with("openreports.io"))).count();
            if n != last {
                (last, quiet_since) = (n, Instant::now());
            } else if quiet_since.elapsed() >= Duration::from_secs(3) {
                or_converged = Some((quiet_since.duration_since(started), n));
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let writes = status_writes(&url).await;
    let mut per_ns: HashMap<String, (u32, u32)> = HashMap::new();
    for w in writes.iter().filter(|w| w["resource"] == "compliancereports.kompliance.dev") {
        let e = per_ns.entry(w["namespace"].as_str().unwrap_or_default().to_string()).or_default();
        if w["subresource"] == "status" { e.0 += 1 } else { e.1 += 1 }
    }
    let max_status = per_ns.values().map(|(s, _)| *s).max().unwrap_or(0);
    let min_status = per_ns.values().map(|(s, _)| *s).min().unwrap_or(0);
    let creates: u32 = per_ns.values().map(|(_, c)| *c).sum();

    // One changed Pod: time until its namespace's report shows it.
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), "load-0001");
    let target = pods_api.list(&ListParams::default().labels("app=app-001")).await.expect("pods").items;
    let name = target[0].metadata.name.clone().expect("name");
    let one_report: Api<kompliance::report::ComplianceReport> = Api::namespaced(client.clone(), "load-0001");
    let before = one_report.get("kompliance").await.expect("report").metadata.resource_version;
    let patch = json!({"spec": {"hostNetwork": true}});
    let t = Instant::now();
    pods_api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch");
    let mut latency = None;
    while t.elapsed() < Duration::from_secs(30) {
        if one_report.get("kompliance").await.expect("report").metadata.resource_version != before {
            latency = Some(t.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let peak_mib = status_kib(op_pid, "VmHWM:") as f64 / 1024.0;

    // Baseline: CPU to fetch and decode the same Pod list, item by item into k8s-openapi Pods,
    // repeated (`BASELINE_REPEATS`) because one measurement moves by about ±12% between runs.
    let all_pods: Api<Pod> = Api::all(client.clone());
    let mut baselines = Vec::new();
    for _ in 0..baseline_repeats() {
        baselines.push(list_and_decode(&all_pods, pods).await);
    }
    let (decode_wall, decode_cpu) = median(&baselines);
    println!(
        "operator scale ({label}: {bin}): {pods} Pods across {namespaces} namespaces, OpenReports {} (testkube in its own process, kompliance run as a process)",
        if openreports { "on" } else { "off" }
    );
    if let Some((t, n)) = or_converged {
        let reports: Api<kube::api::DynamicObject> = Api::all_with(
            client.clone(),
            &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk("openreports.io", "v1alpha1", "Report")),
        );
        let count = reports.list_metadata(&ListParams::default()).await.map(|l| l.items.len()).unwrap_or(0);
        println!("  OpenReports: {n} writes during the initial sync for {count} Reports; last write {:.2} s after start", t.as_secs_f64());
    }
    println!("  every report written after {:.2} s (target 60 s); operator CPU by then {sync_cpu:.2} s", sync_time.as_secs_f64());
    println!(
        "  status writes per namespace during the sync: min {min_status}, max {max_status}; {creates} creates for {} reports",
        per_ns.len()
    );
    match latency {
        Some(l) => println!("  one changed Pod reflected after {:.2} s (debounce 2 s + 1 s = 3 s target)", l.as_secs_f64()),
        None => println!("  one changed Pod NOT reflected within 30 s"),
    }
    println!("  operator peak memory {peak_mib:.1} MiB (target 200 MiB)");
    println!(
        "  baseline: listing + decoding the {pods} Pods in this process, {} times: CPU {} s; median {:.2} s wall, {decode_cpu:.2} s CPU; operator sync CPU / median decode CPU = {:.2}",
        baselines.len(),
        baselines.iter().map(|(_, c)| format!("{c:.2}")).collect::<Vec<_>>().join(", "),
        decode_wall.as_secs_f64(),
        sync_cpu / decode_cpu.max(0.001)
    );
    if let Some((rate, secs)) = churn::params() {
        churn::run(&client, op_pid, namespaces, rate, secs).await;
    }
}

/// How many times the baseline is measured (`BASELINE_REPEATS`, default 5); its median is the ratio's divisor.
fn baseline_repeats() -> usize {
    std::env::var("BASELINE_REPEATS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(5)
}

/// One baseline measurement: list every Pod in pages of 500, decoded into k8s-openapi `Pod`s;
/// returns its wall time and this process's CPU seconds.
async fn list_and_decode(all_pods: &Api<Pod>, pods: usize) -> (Duration, f64) {
    let cpu0 = self_cpu();
    let t = Instant::now();
    let mut decoded = 0;
    let mut lp = ListParams::default().limit(500);
    loop {
        let page = all_pods.list(&lp).await.expect("list");
        decoded += page.items.len();
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    let measured = (t.elapsed(), self_cpu() - cpu0);
    assert_eq!(decoded, pods);
    measured
}

/// The measurement with the median CPU (the upper one of the middle two for an even count).
fn median(measured: &[(Duration, f64)]) -> (Duration, f64) {
    let mut sorted = measured.to_vec();
    sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
    sorted[sorted.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if let Ok(role) = std::env::var("KOMPLIANCE_SCALE_ROLE") {
        let parts: Vec<usize> = role.trim_start_matches("server:").split(':').filter_map(|p| p.parse().ok()).collect();
        rt.block_on(serve(parts[0], parts[1]));
        return;
    }
    let scales = std::env::var("SCALE").unwrap_or_else(|_| "10000:100,100000:1000".into());
    let modes = std::env::var("OPENREPORTS").unwrap_or_else(|_| "off".into());
    for s in scales.split(',') {
        let (p, n) = s.split_once(':').expect("pods:namespaces");
        for (label, bin) in operator_bins() {
            for mode in modes.split(',') {
                rt.block_on(run(p.parse().expect("pods"), n.parse().expect("namespaces"), &label, &bin, mode.trim() == "on"));
            }
        }
    }
}
