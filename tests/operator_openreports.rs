//! The operator's OpenReports (`--openreports`) against the in-memory API server with the real
//! OpenReports CRDs (schema validation on): a Report per workload named after its UID and owned by
//! it, results equal to the ComplianceReports' verdicts, a fixed workload's failure gone, a deleted
//! workload's report gone, nothing rewritten while nothing changes, nothing written when off, and
//! absent CRDs handled (looked for again, then written).

mod e2e;

use e2e::{Cluster, deploy, eventually, namespace, scrape, series};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkube::Fault;

const PRIV: &str = "privileged-containers";
const OR: &str = "openreports.io/v1alpha1";

fn openreports_crds() -> Vec<Value> {
    ["openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(e2e::root().join("tests/fixtures/openreports").join(f)).expect("crd file");
            serde_saphyr::from_str(&text).expect("crd yaml")
        })
        .collect()
}

fn reports(c: &Cluster, ns: &str) -> Vec<Value> {
    c.server.list(OR, "Report").into_iter().filter(|r| r["metadata"]["namespace"] == ns).collect()
}

fn openreport_writes(c: &Cluster) -> usize {
    c.server.writes().iter().filter(|w| w.resource.ends_with("openreports.io")).count()
}

fn uid_of(c: &Cluster, ns: &str, name: &str) -> String {
    c.server.get("apps/v1", "Deployment", ns, name).expect("deployment")["metadata"]["uid"].as_str().expect("uid").to_string()
}

/// Fail results per recommendation over a namespace's Reports.
fn fails(c: &Cluster, ns: &str) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for r in reports(c, ns) {
        for res in r["results"].as_array().into_iter().flatten().filter(|x| x["result"] == "fail") {
            *out.entry(res["policy"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
    }
    out
}

/// Unhealthy counts per recommendation of the namespace's ComplianceReport.
fn unhealthy(c: &Cluster, ns: &str) -> Option<std::collections::BTreeMap<String, u64>> {
    let r = c.report(ns)?;
    Some(
        r.pointer("/status/recommendations")?
            .as_array()?
            .iter()
            .filter_map(|e| Some((e["id"].as_str()?.to_string(), e.pointer("/counts/unhealthy")?.as_u64()?)))
            .filter(|(_, n)| *n > 0)
            .collect(),
    )
}

fn pods_of(c: &Cluster, ns: &str, prefix: &str) -> Vec<Value> {
    c.server
        .list("v1", "Pod")
        .into_iter()
        .filter(|p| p["metadata"]["namespace"] == ns && p["metadata"]["name"].as_str().unwrap_or("").starts_with(prefix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_follow_workloads_and_match_the_compliance_reports() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed(openreports_crds()).unwrap();
    c.server
        .seed([
            namespace("shop"),
            deploy("shop", "web").privileged().replicas(2).build(),
            deploy("shop", "api").build(),
            deploy("shop", "bad").privileged().build(),
        ])
        .unwrap();
    let op = c
        .operator_with("kompliance-test", false, |o| {
            o.openreports = true;
            o.openreports_recheck = Duration::from_secs(1);
        })
        .await;
    let web = uid_of(&c, "shop", "web");
    eventually("web's Report, named after its UID", || c.server.get(OR, "Report", "shop", &web).is_some()).await;
    let r = c.server.get(OR, "Report", "shop", &web).unwrap();
    assert_eq!(r["metadata"]["ownerReferences"][0]["uid"], web.as_str(), "owned by the workload: {r}");
    assert_eq!(r["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!((r["scope"]["kind"].as_str(), r["scope"]["name"].as_str()), (Some("Deployment"), Some("web")));
    assert_eq!(r["source"], "kompliance");
    assert_eq!(r["configuration"]["limits"]["statusFilter"], json!(["fail", "error", "skip"]));
    let p = r["results"].as_array().unwrap().iter().find(|x| x["policy"] == PRIV).expect("privileged result").clone();
    assert_eq!((p["result"].as_str(), p["severity"].as_str(), p["scored"].as_bool()), (Some("fail"), Some("medium"), Some(true)));
    assert_eq!(p["resources"].as_array().map(Vec::len), Some(1));
    assert_eq!(p["resources"][0]["uid"], web.as_str());
    assert!(p["properties"]["resultID"].as_str().is_some_and(|s| s.len() == 16));
    assert!(r["results"].as_array().unwrap().iter().all(|x| x["result"] != "pass"), "passes are not written by default");
    eventually("the ClusterReport", || c.server.get(OR, "ClusterReport", "", "kompliance-cluster").is_some()).await;

    // The same verdicts as the ComplianceReport.
    eventually("fail results equal the ComplianceReport's unhealthy counts", || unhealthy(&c, "shop") == Some(fails(&c, "shop"))).await;
    assert_eq!(fails(&c, "shop").get(PRIV), Some(&2));

    // Nothing changes: nothing is written (timestamps are when a result changed).
    let before = openreport_writes(&c);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(openreport_writes(&c), before, "an unchanged cluster writes no OpenReports");

    // A report deleted by someone is put back (listed again at the recheck, written at the
    // namespace's next evaluation).
    c.server.delete(OR, "Report", "shop", &web).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut pod = pods_of(&c, "shop", "api-").pop().expect("api pod");
    pod["metadata"]["labels"]["touch"] = json!("1");
    c.server.update(pod).unwrap();
    eventually("a deleted report is put back", || c.server.get(OR, "Report", "shop", &web).is_some()).await;

    // Fixing web's Pods removes its failing result.
    for mut pod in pods_of(&c, "shop", "web-") {
        pod["spec"]["containers"][0]["securityContext"]["privileged"] = json!(false);
        c.server.update(pod).unwrap();
    }
    eventually("web's privileged failure is gone", || {
        c.server.get(OR, "Report", "shop", &web).is_none_or(|r| r["results"].as_array().into_iter().flatten().all(|x| x["policy"] != PRIV))
    })
    .await;
    assert_eq!(fails(&c, "shop").get(PRIV), Some(&1));

    // A deleted workload's report goes.
    let bad = uid_of(&c, "shop", "bad");
    assert!(c.server.get(OR, "Report", "shop", &bad).is_some());
    c.server.delete("apps/v1", "Deployment", "shop", "bad").unwrap();
    for p in pods_of(&c, "shop", "bad-") {
        c.server.delete("v1", "Pod", "shop", p["metadata"]["name"].as_str().unwrap()).unwrap();
    }
    eventually("bad's report deleted", || c.server.get(OR, "Report", "shop", &bad).is_none()).await;

    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_writes_nothing() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed(openreports_crds()).unwrap();
    c.server.seed([namespace("shop"), deploy("shop", "web").privileged().build()]).unwrap();
    let op = c.operator("kompliance-test", false).await;
    eventually("the ComplianceReport", || unhealthy(&c, "shop").is_some_and(|u| u.contains_key(PRIV))).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(openreport_writes(&c), 0, "no OpenReports without --openreports");
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_crds_are_looked_for_again_and_never_installed() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").privileged().build()]).unwrap();
    let op = c
        .operator_with("kompliance-test", false, |o| {
            o.openreports = true;
            o.openreports_recheck = Duration::from_millis(500);
        })
        .await;
    eventually("ComplianceReports are written without the OpenReports CRDs", || {
        unhealthy(&c, "shop").is_some_and(|u| u.contains_key(PRIV))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let served = |m: &str| e2e::series(m, "kompliance_openreports_crds_served", &[]);
    assert_eq!(served(&e2e::scrape(op.metrics_addr).await), Some(0.0), "the metric says the CRDs are absent");
    assert!(c.server.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "reports.openreports.io").is_none(), "never installed");
    // Installed later: found at the next recheck, and written at the next evaluation.
    c.server.seed(openreports_crds()).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for mut pod in pods_of(&c, "shop", "web-") {
        pod["metadata"]["labels"]["touch"] = json!("1");
        c.server.update(pod).unwrap();
    }
    let web = uid_of(&c, "shop", "web");
    eventually("written once the CRDs are served", || c.server.get(OR, "Report", "shop", &web).is_some()).await;
    assert_eq!(served(&e2e::scrape(op.metrics_addr).await), Some(1.0));
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_write_is_tried_again_after_its_retry_after() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed(openreports_crds()).unwrap();
    c.server.seed([namespace("shop"), deploy("shop", "web").privileged().build()]).unwrap();
    // The first Report write is answered 429 with Retry-After 3 s; nothing else changes after it,
    // so only the writer's own retry can write the Report.
    c.server.inject(Fault::throttle("patch", "reports", 1, 3));
    let started = Instant::now();
    let op = c.operator_with("kompliance-test", false, |o| o.openreports = true).await;
    let web = uid_of(&c, "shop", "web");
    eventually("web's Report after the throttle", || c.server.get(OR, "Report", "shop", &web).is_some()).await;
    assert!(started.elapsed() >= Duration::from_secs(3), "written {:?} after start, before Retry-After ran out", started.elapsed());
    let m = scrape(op.metrics_addr).await;
    let count = |result| series(&m, "kompliance_report_writes_total", &[("scope", "openreports"), ("result", result)]);
    assert_eq!(count("throttled"), Some(1.0), "{m}");
    assert_eq!(fails(&c, "shop").get(PRIV), Some(&1));
    op.shutdown().await;
}
