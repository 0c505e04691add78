//! Churn mode of the operator scale benchmark: after the initial sync, standalone Pods are
//! created, updated (privileged flipped) and deleted through the API at a steady rate across every
//! namespace; measures the operator's CPU per 1,000 events, its peak memory during the churn, the
//! report writes, and the time from the last change until every report shows the final state.

use k8s_openapi::api::core::v1::Pod;
use kompliance::report::ComplianceReport;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkube::procfs::{cpu_secs, status_kib};

/// The recommendation whose count the churn moves (privileged Pods are unhealthy for it).
const PRIVILEGED: &str = "privileged-containers";
/// Longest wait for the reports to reflect the final state.
const CONVERGE_LIMIT: Duration = Duration::from_secs(120);
/// Seed of the operation sequence (the same run does the same operations).
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Churn parameters from `CHURN=rate:seconds` (e.g. `500:60`).
pub fn params() -> Option<(u32, u64)> {
    let v = std::env::var("CHURN").ok()?;
    let (r, s) = v.split_once(':')?;
    Some((r.parse().ok()?, s.parse().ok()?))
}

fn pod_json(ns: &str, name: &str, privileged: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": {"app": "churn"}},
        "spec": {"automountServiceAccountToken": false, "containers": [container(privileged)]}})
}

fn container(privileged: bool) -> Value {
    json!({"name": "app", "image": "registry.example.com/team/churn:1",
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
        "securityContext": {"privileged": privileged, "runAsNonRoot": !privileged, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": privileged}})
}

/// Per namespace: evaluated resources and privileged-containers unhealthy count, as the reports say.
async fn report_counts(reports: &Api<ComplianceReport>) -> BTreeMap<String, (u32, u32)> {
    let list = reports.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
    list.into_iter()
        .filter_map(|r| {
            let ns = r.metadata.namespace.clone()?;
            let st = r.status?;
            let priv_unhealthy = st.recommendations.iter().find(|e| e.id == PRIVILEGED).map_or(0, |e| e.counts.unhealthy);
            Some((ns, (st.summary.resources.evaluated, priv_unhealthy)))
        })
        .collect()
}

async fn report_writes(client: &kube::Client) -> usize {
    let req = http::Request::get("/testkube/writes").body(Vec::new()).expect("request");
    let v: Value = client.request(req).await.expect("write log");
    v["writes"].as_array().map_or(0, |w| w.iter().filter(|w| w["resource"] == "compliancereports.kompliance.dev").count())
}

/// The churn Pods alive in each namespace: (number, privileged).
type Alive = Vec<Vec<(u64, bool)>>;

enum Step {
    Create(usize, u64, bool),
    Update(usize, u64, bool),
    Delete(usize, u64, bool),
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Decides the next operation on namespace `ns` and reserves it in `alive` (a Pod being deleted
/// leaves at once; creates and updates are recorded when they succeed).
fn plan(alive: &mut Alive, ns: usize, rng: &mut u64, serial: &mut u64) -> Step {
    let r = next(rng);
    let pods = &mut alive[ns];
    if pods.is_empty() || r % 10 < 4 {
        *serial += 1;
        return Step::Create(ns, *serial, r.is_multiple_of(3));
    }
    let i = (r / 10) as usize % pods.len();
    if r % 10 < 7 {
        let (n, p) = pods[i];
        Step::Update(ns, n, !p)
    } else {
        let (n, p) = pods.swap_remove(i);
        Step::Delete(ns, n, p)
    }
}

async fn perform(client: kube::Client, names: Arc<Vec<String>>, alive: Arc<Mutex<Alive>>, step: Step) -> bool {
    let pod_name = |n: u64| format!("churn-{n:06}");
    let api = |ns: usize| -> Api<Pod> { Api::namespaced(client.clone(), &names[ns]) };
    match step {
        Step::Create(ns, n, p) => {
            let pod: Pod = serde_json::from_value(pod_json(&names[ns], &pod_name(n), p)).expect("pod");
            let ok = api(ns).create(&PostParams::default(), &pod).await.is_ok();
            if ok {
                alive.lock().expect("alive").get_mut(ns).expect("ns").push((n, p));
            }
            ok
        }
        Step::Update(ns, n, p) => {
            let patch = json!({"spec": {"containers": [container(p)]}});
            let ok = api(ns).patch(&pod_name(n), &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok();
            if ok && let Some(e) = alive.lock().expect("alive")[ns].iter_mut().find(|(m, _)| *m == n) {
                e.1 = p;
            }
            ok
        }
        Step::Delete(ns, n, p) => {
            let ok = api(ns).delete(&pod_name(n), &DeleteParams::default()).await.is_ok();
            if !ok {
                alive.lock().expect("alive")[ns].push((n, p));
            }
            ok
        }
    }
}

/// Runs the churn against the operator `op_pid` watching the server behind `client`.
pub async fn run(client: &kube::Client, op_pid: u32, namespaces: usize, rate: u32, secs: u64) {
    let reports: Api<ComplianceReport> = Api::all(client.clone());
    let baseline = report_counts(&reports).await;
    let names: Arc<Vec<String>> = Arc::new((0..namespaces).map(|n| format!("load-{n:04}")).collect());
    let alive: Arc<Mutex<Alive>> = Arc::new(Mutex::new(vec![Vec::new(); namespaces]));
    let writes0 = report_writes(client).await;
    // Peak memory from here on: writing 5 to clear_refs resets VmHWM.
    let reset = std::fs::write(format!("/proc/{op_pid}/clear_refs"), "5").is_ok();
    let cpu0 = cpu_secs(op_pid);
    let started = Instant::now();
    let total = u64::from(rate) * secs;
    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let (mut rng, mut serial, mut issued) = (SEED, 0u64, 0u64);
    let mut tasks = tokio::task::JoinSet::new();
    while issued < total {
        tick.tick().await;
        for _ in 0..per_tick.min((total - issued) as u32) {
            let ns = (issued % namespaces as u64) as usize;
            let step = plan(&mut alive.lock().expect("alive"), ns, &mut rng, &mut serial);
            tasks.spawn(perform(client.clone(), names.clone(), alive.clone(), step));
            issued += 1;
        }
    }
    let mut failed = 0u64;
    while let Some(ok) = tasks.join_next().await {
        if !ok.unwrap_or(false) {
            failed += 1;
        }
    }
    let last_change = Instant::now();
    let churn_wall = last_change - started;
    let expected: BTreeMap<String, (u32, u32)> = {
        let alive = alive.lock().expect("alive");
        names
            .iter()
            .zip(alive.iter())
            .map(|(ns, pods)| {
                let (e, p) = baseline.get(ns).copied().unwrap_or_default();
                (ns.clone(), (e + pods.len() as u32, p + pods.iter().filter(|(_, p)| *p).count() as u32))
            })
            .collect()
    };
    let mut converged = None;
    let mut mismatched = 0;
    while last_change.elapsed() < CONVERGE_LIMIT {
        let now = report_counts(&reports).await;
        mismatched = expected.iter().filter(|(ns, want)| now.get(*ns) != Some(want)).count();
        if mismatched == 0 {
            converged = Some(last_change.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cpu = cpu_secs(op_pid) - cpu0;
    let peak_mib = status_kib(op_pid, "VmHWM:") as f64 / 1024.0;
    let rss_mib = status_kib(op_pid, "VmRSS:") as f64 / 1024.0;
    let writes = report_writes(client).await - writes0;
    let done = total - failed;
    println!(
        "  churn: {done} Pod changes ({failed} failed) at {rate}/s for {secs} s over {namespaces} namespaces, issued in {:.1} s",
        churn_wall.as_secs_f64()
    );
    println!("    operator CPU {cpu:.2} s = {:.3} s per 1,000 events", cpu / done.max(1) as f64 * 1000.0);
    println!(
        "    operator peak memory during the churn {peak_mib:.1} MiB{} (RSS at the end {rss_mib:.1} MiB)",
        if reset { "" } else { " (VmHWM not reset: peak since start)" }
    );
    println!("    namespace report writes during the churn: {writes} ({:.1} per namespace)", writes as f64 / namespaces as f64);
    match converged {
        Some(t) => println!("    every report shows the final state {:.2} s after the last change", t.as_secs_f64()),
        None => println!("    {mismatched} reports still NOT showing the final state {} s after the last change", CONVERGE_LIMIT.as_secs()),
    }
}
