//! Fault scenarios end to end against testkube: each injects one kind of trouble (dropped, stalled
//! and expired watches, 5xx and 429 answers, slow writes, an API server that loses its state, leader
//! changes) and asserts the end state: every report present and right, and the counters.

mod e2e;

use e2e::{Cluster, deploy, eventually, namespace, report_writes, scrape, series, state};
use kompliance::operator::run::Running;
use serde_json::Value;
use std::time::{Duration, Instant};
use testkube::{Fault, Options};

const PRIV: &str = "privileged-containers";
const TEAMS: usize = 4;

/// Namespaces team-0..3, each with a Deployment; team-0's is privileged.
fn fleet() -> Vec<Value> {
    let mut objs = vec![];
    for n in 0..TEAMS {
        let ns = format!("team-{n}");
        objs.push(namespace(&ns));
        let d = deploy(&ns, "web");
        objs.push(if n == 0 { d.privileged() } else { d }.build());
    }
    objs
}

/// Every report of the fleet is on the server and says what its Pods are.
fn fleet_reported(c: &Cluster) -> bool {
    (0..TEAMS).all(|n| {
        let want = if n == 0 { ("Unhealthy".to_string(), 1) } else { ("Healthy".to_string(), 0) };
        state(&c.row(&format!("team-{n}"), PRIV)) == want
    }) && c.cluster_report().is_some_and(|r| r.get("status").is_some())
}

fn fast_bookmarks() -> Options {
    Options { bookmark_every: Duration::from_millis(200), ..Options::default() }
}

async fn metric(op: &Running, name: &str, labels: &[(&str, &str)]) -> f64 {
    series(&scrape(op.metrics_addr).await, name, labels).unwrap_or(0.0)
}

/// `/healthz` over the metrics server's TLS, without a token (kubelet probes send none).
async fn healthz(op: &Running) -> (u16, String) {
    let r = e2e::metrics_client().get(format!("https://{}/healthz", op.metrics_addr)).send().await.expect("healthz answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

const RESTARTED: [(&str, &str); 2] = [("kind", "Pod"), ("type", "restarted")];
const LAST_EVALUATION: &str = "kompliance_last_evaluation_timestamp_seconds";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_restarted_empty_gets_every_report_back_through_a_watch_restart() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::with(fast_bookmarks()).await;
    c.server.seed(fleet()).unwrap();
    let op = c.operator_with("kompliance-test", false, |o| o.stall_timeout = Duration::from_millis(1500)).await;
    eventually("every report written", || fleet_reported(&c)).await;
    let restarts = metric(&op, "kompliance_watch_events_total", &RESTARTED).await;

    // The cluster is rebuilt behind the same address: same objects, new resourceVersions, no reports.
    c.server.lose_state().unwrap();
    assert!(c.report("team-0").is_none());
    c.server.seed(fleet()).unwrap();
    eventually("every report re-created", || fleet_reported(&c)).await;
    assert!(metric(&op, "kompliance_watch_events_total", &RESTARTED).await > restarts, "the stuck watches were restarted with a relist");
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_rewrites_reports_lost_on_the_server_and_the_timestamp_waits_for_them() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed(fleet()).unwrap();
    // The watches stay stuck (no stall restart within the test): only the resync can notice.
    let op = c.operator_with("kompliance-test", false, |o| o.resync_interval = Duration::from_secs(1)).await;
    eventually("every report written", || fleet_reported(&c)).await;

    // Writes fail from before the loss, so no pass after it can land.
    c.server.inject(Fault::fail("patch", "compliancereports", u64::MAX, 500));
    c.server.lose_state().unwrap();
    c.server.seed(fleet()).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stuck = metric(&op, LAST_EVALUATION, &[]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(metric(&op, LAST_EVALUATION, &[]).await, stuck, "no pass counts while its reports cannot be written");
    assert!(c.report("team-1").is_none());

    c.server.clear_faults();
    eventually("every report re-created by the resync", || fleet_reported(&c)).await;
    let start = Instant::now();
    while metric(&op, LAST_EVALUATION, &[]).await <= stuck {
        assert!(start.elapsed() < Duration::from_secs(20), "the evaluation timestamp never advanced after the writes landed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_watch_is_restarted_and_healthz_fails_meanwhile() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::with(fast_bookmarks()).await;
    c.server.seed([namespace("shop"), deploy("shop", "web").build()]).unwrap();
    let op = c.operator_with("kompliance-test", false, |o| o.stall_timeout = Duration::from_millis(1500)).await;
    eventually("report written", || state(&c.row("shop", PRIV)) == ("Healthy".into(), 0)).await;
    assert_eq!(healthz(&op).await.0, 200);
    let restarts = metric(&op, "kompliance_watch_events_total", &RESTARTED).await;

    // Cut off: open watches end, and every request after hangs.
    c.server.pause("kompliance-test");
    c.server.close_watches();
    let start = Instant::now();
    let failing = loop {
        let (code, body) = healthz(&op).await;
        if code == 503 {
            break body;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "/healthz stayed {code} while every watch was cut off");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(failing.contains("watches stalled"), "{failing}");
    c.server.seed([deploy("shop", "bad").privileged().build()]).unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(healthz(&op).await.0, 503, "still failing while cut off");
    assert!(metric(&op, "kompliance_watch_events_total", &RESTARTED).await > restarts, "the silent watches were restarted");

    c.server.resume("kompliance-test");
    eventually("the change made while cut off is reported", || state(&c.row("shop", PRIV)) == ("Unhealthy".into(), 1)).await;
    let start = Instant::now();
    while healthz(&op).await.0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(15), "/healthz did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_retry_after_is_waited_out_in_full_and_counted_as_throttled() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").build()]).unwrap();
    // Retry-After 3 s, two seconds longer than one write may take.
    c.server.inject(Fault::throttle("patch", "compliancereports", 1, 3));
    let started = Instant::now();
    let op = c
        .operator_with("kompliance-test", false, |o| {
            o.write_timeout = Duration::from_secs(1);
            o.reach = kompliance::operator::reach::Reach::Namespaces(vec!["shop".into()]);
        })
        .await;
    eventually("report written after the throttle", || c.report("shop").is_some_and(|r| r.get("status").is_some())).await;
    assert!(started.elapsed() >= Duration::from_secs(3), "written {:?} after start, before Retry-After ran out", started.elapsed());
    let m = scrape(op.metrics_addr).await;
    let count = |result| series(&m, "kompliance_report_writes_total", &[("scope", "namespace"), ("result", result)]);
    assert_eq!((count("throttled"), count("error")), (Some(1.0), Some(0.0)), "{m}");
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_writes_time_out_and_are_retried_until_they_land() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed(fleet()).unwrap();
    c.server.inject(Fault::delay("patch", "compliancereports", 3, Duration::from_millis(2500)));
    let op = c.operator_with("kompliance-test", false, |o| o.write_timeout = Duration::from_secs(1)).await;
    eventually("every report written despite slow answers", || fleet_reported(&c)).await;
    let m = scrape(op.metrics_addr).await;
    assert!(series(&m, "kompliance_report_writes_total", &[("scope", "namespace"), ("result", "error")]).unwrap_or(0.0) >= 1.0, "{m}");
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_report_is_written_once_per_start_with_the_probe_results() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop")]).unwrap();
    // The probes answer after the watches have synced.
    c.server.inject(Fault::delay("create", "subjectaccessreviews", 1, Duration::from_millis(1500)));
    let op = c.operator("kompliance-test", false).await;
    eventually("cluster report written", || c.cluster_report().is_some_and(|r| r.get("status").is_some())).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let writes: Vec<_> = report_writes(&c).into_iter().filter(|w| w.2.starts_with("complianceclusterreports") && w.3 == "status").collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    let rbac = e2e::row_of(&c.cluster_report().unwrap(), "kubernetes-rbac");
    assert_eq!(state(&rbac).0, "Healthy", "written with the probe's result: {rbac:?}");
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_that_hang_do_not_keep_the_cluster_report_away() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop")]).unwrap();
    c.server.inject(Fault::delay("create", "subjectaccessreviews", 1, Duration::from_secs(60)));
    let op = c.operator_with("kompliance-test", false, |o| o.probe_interval = Duration::from_secs(1)).await;
    eventually("cluster report written without the probes", || c.cluster_report().is_some_and(|r| r.get("status").is_some())).await;
    let rbac = e2e::row_of(&c.cluster_report().unwrap(), "kubernetes-rbac");
    assert_eq!(state(&rbac).0, "NotEvaluated", "{rbac:?}");
    op.shutdown().await;
}

fn lease_holder(c: &Cluster) -> Option<String> {
    c.server.get("coordination.k8s.io/v1", "Lease", "default", "kompliance")?["spec"]["holderIdentity"].as_str().map(String::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_honours_the_lease_duration_its_holder_recorded() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").build()]).unwrap();
    let set =
        |d: u64| move |o: &mut kompliance::operator::run::RunOptions| o.lease.iter_mut().for_each(|l| l.duration = Duration::from_secs(d));
    let a = c.operator_with("replica-a", true, set(6)).await;
    eventually("replica-a leads and writes", || c.report("shop").is_some()).await;
    // A replica of a rolling update with a shorter --lease-duration must not take a lease that is renewed in time.
    let b = c.operator_with("replica-b", true, set(1)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(lease_holder(&c).as_deref(), Some("replica-a"));
    let standby = scrape(b.metrics_addr).await;
    assert_eq!(series(&standby, "kompliance_leader", &[]), Some(0.0));
    assert_eq!(series(&standby, LAST_EVALUATION, &[]), Some(0.0), "a standby writes nothing, so no pass of its counts");
    assert!(metric(&a, LAST_EVALUATION, &[]).await > 0.0);
    let writers: Vec<String> = report_writes(&c).into_iter().map(|w| w.1).collect();
    assert!(writers.iter().all(|w| w == "replica-a"), "{writers:?}");
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_never_writes_a_report_older_than_the_server() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").build()]).unwrap();
    let a = c.operator("replica-a", true).await;
    eventually("replica-a writes", || state(&c.row("shop", PRIV)) == ("Healthy".into(), 0)).await;
    let b = c.operator("replica-b", true).await;
    eventually("standby ready", || b.ready.load(std::sync::atomic::Ordering::Relaxed)).await;

    // The standby's Pod watch lags: it still believes the namespace healthy when the leader reports otherwise.
    c.server.inject(Fault::delay("watch", "pods", 1, Duration::from_secs(8)).for_client("replica-b"));
    c.server.close_watches();
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.server.seed([deploy("shop", "bad").privileged().build()]).unwrap();
    eventually("the leader reports the change", || state(&c.row("shop", PRIV)) == ("Unhealthy".into(), 1)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    a.shutdown().await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        assert_eq!(state(&c.row("shop", PRIV)), ("Unhealthy".into(), 1), "the new leader wrote its stale verdict: {:?}", report_writes(&c));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(lease_holder(&c).as_deref(), Some("replica-b"));
    b.shutdown().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_watches_410s_5xx_and_429s_lose_nothing() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    let mut objs = vec![];
    for n in 0..5 {
        objs.push(namespace(&format!("team-{n}")));
        objs.push(deploy(&format!("team-{n}"), "web").build());
    }
    c.server.seed(objs).unwrap();
    c.server.inject(Fault::fail("patch", "compliancereports", 4, 500));
    c.server.inject(Fault::throttle("patch", "compliancereports", 2, 1));
    let op = c.operator("kompliance-test", false).await;
    eventually("every report written despite 500s and 429s", || {
        (0..5).all(|n| state(&c.row(&format!("team-{n}"), PRIV)) == ("Healthy".into(), 0))
    })
    .await;

    // Changes while watches drop and history is compacted (forcing 410 and relists).
    for n in 0..5 {
        c.server.close_watches();
        let ns = format!("team-{n}");
        if n % 2 == 0 {
            c.server.seed([deploy(&ns, "bad").privileged().build()]).unwrap();
        }
        c.server.compact();
    }
    c.server.inject(Fault::fail("patch", "compliancereports", 3, 503));
    eventually("every change reflected exactly", || {
        (0..5).all(|n| {
            let expect = if n % 2 == 0 { ("Unhealthy".to_string(), 1) } else { ("Healthy".to_string(), 0) };
            state(&c.row(&format!("team-{n}"), PRIV)) == expect
        })
    })
    .await;
    // Nothing counted twice after relists: each unhealthy namespace has exactly one unhealthy resource with one Pod.
    for n in [0, 2, 4] {
        let row = c.row(&format!("team-{n}"), PRIV).unwrap();
        assert_eq!(row["unhealthy"].as_array().map(Vec::len), Some(1));
        assert_eq!(row["unhealthy"][0]["pods"], 1);
        assert_eq!(c.report(&format!("team-{n}")).unwrap()["status"]["summary"]["resources"]["evaluated"], 2);
    }
    let m = scrape(op.metrics_addr).await;
    let count = |result| series(&m, "kompliance_report_writes_total", &[("scope", "namespace"), ("result", result)]).unwrap_or(0.0);
    assert!(count("error") >= 1.0 && count("throttled") >= 1.0, "{m}");
    assert!(series(&m, "kompliance_watch_events_total", &[("kind", "Pod"), ("type", "restarted")]).unwrap_or(0.0) >= 2.0, "{m}");
    op.shutdown().await;
}

fn spawn_run(c: &Cluster, kubeconfig: &std::path::Path, identity: &str) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_kompliance"))
        .args(["run", "--metrics-addr", "127.0.0.1:0", "--lease-namespace", "default", "--lease-duration", "2s", "--debounce", "200ms"])
        .args(["--identity", identity])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--config")
        .arg(c.config_path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kompliance run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaders_killed_one_after_another_hand_over_and_lose_no_change() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").build()]).unwrap();
    let kubeconfig = c.dir.path().join("kubeconfig");
    c.server.write_kubeconfig(&kubeconfig, "operator").unwrap();
    let mut procs: Vec<(String, std::process::Child)> =
        ["proc-0", "proc-1"].iter().map(|id| (id.to_string(), spawn_run(&c, &kubeconfig, id))).collect();
    eventually("the first leader writes", || state(&c.row("shop", PRIV)) == ("Healthy".into(), 0)).await;
    for round in 0..3u64 {
        let mut holder = String::new();
        eventually("a running replica holds the lease", || {
            holder = lease_holder(&c).unwrap_or_default();
            procs.iter().any(|(id, _)| *id == holder)
        })
        .await;
        let i = procs.iter().position(|(id, _)| *id == holder).unwrap();
        let (_, mut leader) = procs.remove(i);
        leader.kill().unwrap(); // SIGKILL: no release of the lease, no flush
        leader.wait().unwrap();
        let next = format!("proc-{}", round + 2);
        procs.push((next.clone(), spawn_run(&c, &kubeconfig, &next)));
        c.server.seed([deploy("shop", &format!("bad-{round}")).privileged().build()]).unwrap();
        eventually(&format!("round {round}: a new leader reports the change"), || {
            state(&c.row("shop", PRIV)) == ("Unhealthy".into(), round + 1) && lease_holder(&c).is_some_and(|h| h != holder)
        })
        .await;
    }
    for (_, mut child) in procs {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
