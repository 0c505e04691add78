//! Leader election end to end against the in-memory API server: one leader writes, a standby takes
//! over when it is cut off or stops, and stopping writes what is pending and releases the lease.

mod e2e;

use e2e::{Cluster, deploy, eventually, namespace, pods_of, report_writes, scrape, series, state};
use serde_json::Value;

const PRIV: &str = "privileged-containers";

/// When and by which replica each report write was made.
fn report_writers(c: &Cluster) -> Vec<(u128, String)> {
    report_writes(c).into_iter().map(|(at, client, ..)| (at, client)).collect()
}

/// Asserts that writers took turns: once a replica has written after another, the other never writes again before it stops.
fn assert_no_overlap(writes: &[(u128, String)], old: &str, new: &str) {
    let first_new = writes.iter().position(|(_, w)| w == new);
    if let Some(i) = first_new {
        assert!(writes[i..].iter().all(|(_, w)| w != old), "{old} wrote after {new} took over: {writes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_writes_and_a_standby_takes_over_when_it_is_cut_off_or_stops() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").build()]).unwrap();
    let a = c.operator("replica-a", true).await;
    eventually("replica-a leads and writes", || c.report("shop").is_some()).await;
    let b = c.operator("replica-b", true).await;
    eventually("standby ready", || b.ready.load(std::sync::atomic::Ordering::Relaxed)).await;
    let writers: Vec<String> = report_writers(&c).into_iter().map(|(_, w)| w).collect();
    assert!(writers.iter().all(|w| w == "replica-a"), "only the leader writes: {writers:?}");
    let standby = scrape(b.metrics_addr).await;
    assert_eq!(series(&standby, "kompliance_leader", &[]), Some(0.0));
    assert!(
        series(&standby, "kompliance_unhealthy_resources", &[("namespace", "shop")]).is_none(),
        "compliance gauges come from the leader only"
    );
    assert!(series(&scrape(a.metrics_addr).await, "kompliance_unhealthy_resources", &[("namespace", "shop")]).is_some());

    // The leader is cut off: the standby takes over within the lease duration and writes the change.
    c.server.pause("replica-a");
    c.server.seed([deploy("shop", "bad").privileged().build()]).unwrap();
    eventually("replica-b writes after taking over", || state(&c.row("shop", PRIV)) == ("Unhealthy".into(), 1)).await;
    let lease = c.server.get("coordination.k8s.io/v1", "Lease", "default", "kompliance").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    c.server.resume("replica-a");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_no_overlap(&report_writers(&c), "replica-a", "replica-b");

    // The new leader stops cleanly: it releases the lease and replica-a takes over.
    b.shutdown().await;
    let released = c.server.get("coordination.k8s.io/v1", "Lease", "default", "kompliance").unwrap();
    // Released: no holder, or already replica-a, which may take the free lease before this read.
    let holder = released["spec"].get("holderIdentity").and_then(Value::as_str);
    assert!(holder.is_none_or(|h| h == "replica-a"), "lease released on stop: {released}");
    let before = report_writers(&c).len();
    c.server.delete("apps/v1", "Deployment", "shop", "bad").unwrap();
    for p in pods_of(&c, "shop", "bad-") {
        c.server.delete("v1", "Pod", "shop", p["metadata"]["name"].as_str().unwrap()).unwrap();
    }
    eventually("replica-a writes again", || state(&c.row("shop", PRIV)) == ("Healthy".into(), 0)).await;
    let writes = report_writers(&c);
    assert!(writes[before..].iter().all(|(_, w)| w == "replica-a"), "{writes:?}");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_writes_pending_changes_and_releases_the_lease() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").build()]).unwrap();
    let op = c
        .operator_with("replica-a", true, |o| {
            o.debounce = std::time::Duration::from_secs(60);
            o.max_delay = std::time::Duration::from_secs(60);
        })
        .await;
    eventually("initial reports", || state(&c.row("shop", PRIV)) == ("Healthy".into(), 0)).await;
    let writes_before = c.server.writes().len();
    c.server.seed([deploy("shop", "bad").privileged().build()]).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(state(&c.row("shop", PRIV)), ("Healthy".into(), 0), "the change waits for the 60 s debounce");
    let stopping = std::time::Instant::now();
    op.shutdown().await;
    assert!(stopping.elapsed() < std::time::Duration::from_secs(5), "stopped within the grace period");
    assert_eq!(state(&c.row("shop", PRIV)), ("Unhealthy".into(), 1), "the pending change was written on stop");
    assert!(c.server.writes().len() > writes_before);
    let lease = c.server.get("coordination.k8s.io/v1", "Lease", "default", "kompliance").unwrap();
    assert!(lease["spec"].get("holderIdentity").is_none_or(Value::is_null), "lease released: {lease}");
}
