//! The dashboard, alert rules and metrics docs, proven with the real Prometheus and Alertmanager
//! (Debian's packages, installed by .ci/run) on loopback: promtool checks and unit tests, an alert
//! that reaches a webhook receiver and resolves, and every dashboard query returning data.

mod e2e;

use e2e::{Cluster, deploy, eventually, namespace, scrape};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tool from Debian's packages: required under CI (.ci/run installs it), else the test is skipped.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()));
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is missing; .ci/run installs it (apt-get install prometheus prometheus-alertmanager)"
        );
        eprintln!("skipping: {name} is not installed (apt-get install prometheus prometheus-alertmanager)");
    }
    found
}

fn yaml(rel: &str) -> Value {
    let text = std::fs::read_to_string(e2e::root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn alerts(rules: &Value) -> Vec<Value> {
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .filter(|r| r.get("alert").is_some())
        .collect()
}

#[test]
fn rule_files_agree_and_pass_promtool_check_and_unit_tests() {
    let plain = yaml("deploy/monitoring/prometheus-rules.yaml");
    let cr = yaml("deploy/monitoring/prometheusrule.yaml");
    assert_eq!(plain["groups"], cr["spec"]["groups"], "prometheusrule.yaml and prometheus-rules.yaml must hold the same groups");
    let Some(promtool) = tool("promtool") else { return };
    let check = Command::new(&promtool)
        .args(["check", "rules", "deploy/monitoring/prometheus-rules.yaml"])
        .current_dir(e2e::root())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    let test = Command::new(&promtool)
        .args(["test", "rules", "tests/alerts/kompliance-rules.test.yaml"])
        .current_dir(e2e::root())
        .output()
        .unwrap();
    assert!(test.status.success(), "{}{}", String::from_utf8_lossy(&test.stdout), String::from_utf8_lossy(&test.stderr));
    // Every alert is unit-tested.
    let tests = std::fs::read_to_string(e2e::root().join("tests/alerts/kompliance-rules.test.yaml")).unwrap();
    for a in alerts(&plain) {
        let name = a["alert"].as_str().unwrap();
        assert!(tests.contains(&format!("alertname: {name}")), "{name} has no promtool test");
    }
}

#[test]
fn every_alert_has_a_summary_a_description_and_a_runbook() {
    let docs = std::fs::read_to_string(e2e::root().join("docs/alerts.md")).unwrap();
    let plain = yaml("deploy/monitoring/prometheus-rules.yaml");
    let names: Vec<String> = alerts(&plain).iter().map(|a| a["alert"].as_str().unwrap().to_string()).collect();
    assert!(names.len() >= 7, "{names:?}");
    for a in alerts(&plain) {
        let name = a["alert"].as_str().unwrap();
        for key in ["summary", "description", "runbook_url"] {
            assert!(a["annotations"][key].as_str().is_some_and(|s| !s.is_empty()), "{name}: no {key}");
        }
        assert!(
            a["annotations"]["runbook_url"].as_str().unwrap().ends_with(&format!("docs/alerts.md#{}", name.to_lowercase())),
            "{name}: runbook anchor"
        );
        assert!(docs.contains(&format!("\n## {name}\n")), "{name}: no runbook section in docs/alerts.md");
    }
}

#[test]
fn only_the_operator_absent_or_stale_pages_and_links_use_the_docs_base_url() {
    use kompliance::catalog::links::{DOCS_BASE_URL, recommendation_doc_url};
    let plain = yaml("deploy/monitoring/prometheus-rules.yaml");
    let mut critical: Vec<String> =
        alerts(&plain).iter().filter(|a| a["labels"]["severity"] == "critical").map(|a| a["alert"].as_str().unwrap().to_string()).collect();
    critical.sort();
    // Posture findings are warnings (a cluster has many on day one); paging is for the operator.
    assert_eq!(critical, ["KomplianceEvaluationStale", "KomplianceNoLeader", "KomplianceOperatorAbsent"]);
    for a in alerts(&plain) {
        let name = a["alert"].as_str().unwrap();
        assert!(["critical", "warning"].contains(&a["labels"]["severity"].as_str().unwrap()), "{name}");
        let runbook = a["annotations"]["runbook_url"].as_str().unwrap();
        assert!(runbook.starts_with(&format!("{DOCS_BASE_URL}/alerts.md#")), "{name}: {runbook} (the chart replaces DOCS_BASE_URL)");
        // An alert about one recommendation links that recommendation's documentation.
        let per_recommendation = a["expr"].as_str().unwrap().contains("by (namespace, recommendation)")
            || a["expr"].as_str().unwrap().contains("by (recommendation");
        let link = a["annotations"]["recommendation_url"].as_str();
        if per_recommendation {
            assert_eq!(link, Some(recommendation_doc_url("{{ $labels.recommendation }}").as_str()), "{name}");
        } else {
            assert_eq!(link, None, "{name} has no recommendation label");
        }
    }
}

/// Metric families and the label names of their samples, from a scrape.
fn families(scrape: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in scrape.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            out.entry(rest.split_whitespace().next().unwrap_or_default().to_string()).or_default();
        }
    }
    for l in scrape.lines().filter(|l| !l.starts_with('#')) {
        let (name, labels) = l
            .split_once('{')
            .map(|(n, r)| (n, r.split_once('}').map(|(a, _)| a).unwrap_or("")))
            .unwrap_or((l.split_whitespace().next().unwrap_or(""), ""));
        let family =
            ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s).filter(|f| out.contains_key(*f))).unwrap_or(name);
        if let Some(set) = out.get_mut(family) {
            for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                let key = pair.split('=').next().unwrap_or_default().trim().to_string();
                if key != "le" {
                    set.insert(key);
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_page_documents_exactly_what_metrics_serves() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").privileged().build()]).unwrap();
    let op = c.operator("kompliance-test", false).await;
    // Both reports: the cluster gauges (score, unhealthy resources) come from the cluster report,
    // which follows the namespace report (under load, a scrape in between lacked the cluster score).
    eventually("reports written", || {
        c.report("shop").is_some_and(|r| r.get("status").is_some()) && c.cluster_report().is_some_and(|r| r.get("status").is_some())
    })
    .await;
    let served = families(&scrape(op.metrics_addr).await);
    op.shutdown().await;
    let doc = std::fs::read_to_string(e2e::root().join("docs/metrics.md")).unwrap();
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in doc.lines().filter(|l| l.starts_with("| `kompliance_")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let labels = cells[3].split(',').map(|l| l.trim().trim_matches('`').to_string()).filter(|l| !l.is_empty()).collect();
        documented.insert(name, labels);
    }
    assert_eq!(documented, served, "docs/metrics.md (left) and /metrics (right) differ");
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn get(port: u16, path: &str) -> Option<Value> {
    serde_json::from_str(&e2e::http_get(([127, 0, 0, 1], port).into(), path).await?).ok()
}

async fn query(port: u16, promql: &str) -> Vec<Value> {
    match get(port, &format!("/api/v1/query?query={}", encode(promql))).await {
        Some(v) if v["status"] == "success" => v["data"]["result"].as_array().cloned().unwrap_or_default(),
        other => panic!("query {promql:?} failed: {other:?}"),
    }
}

/// A webhook receiver collecting Alertmanager's notifications.
async fn receiver() -> (u16, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    store.lock().unwrap().push(v);
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, got)
}

fn notified(got: &Mutex<Vec<Value>>, status: &str) -> bool {
    got.lock().unwrap().iter().any(|n| {
        n["alerts"].as_array().into_iter().flatten().any(|a| {
            a["status"] == status
                && a["labels"]["alertname"] == "KomplianceHighSeverityUnhealthy"
                && a["labels"]["namespace"] == "prod"
                && a["labels"]["recommendation"] == "trusted-registries"
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_reaches_alertmanager_and_resolves_and_every_dashboard_query_returns_data() {
    let (Some(prometheus), Some(alertmanager)) = (tool("prometheus"), tool("prometheus-alertmanager")) else { return };
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed(testkube::seed::read_objects(&e2e::root().join("examples")).unwrap().into_iter().map(|(_, o)| o)).unwrap();
    let op = c.operator("kompliance-test", false).await;
    c.server.seed([namespace("prod"), deploy("prod", "web").build()]).unwrap();
    eventually("reports of the examples", || c.report("shop").is_some_and(|r| r.get("status").is_some())).await;

    let (hook_port, got) = receiver().await;
    let dir = c.dir.path();
    let (am_port, prom_port) = (free_port(), free_port());
    std::fs::write(
        dir.join("alertmanager.yml"),
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname, namespace, recommendation]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{hook_port}/hook\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    // The shipped rules with short `for:` durations: the only change for the test.
    let rules = std::fs::read_to_string(e2e::root().join("deploy/monitoring/prometheus-rules.yaml")).unwrap();
    let fast: String = rules
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("for: ") {
                format!("{}for: 1s\n", &l[..l.len() - l.trim_start().len()])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(dir.join("rules.yaml"), fast).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yaml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\nscrape_configs:\n  - job_name: kompliance\n    scheme: https\n    authorization:\n      credentials: {}\n    tls_config:\n      insecure_skip_verify: true\n    static_configs:\n      - targets: ['{}']\n",
            e2e::SCRAPE_TOKEN,
            op.metrics_addr
        ),
    )
    .unwrap();
    let _am = Proc(
        Command::new(alertmanager)
            .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alertmanager"),
    );
    let _prom = Proc(
        Command::new(prometheus)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("prom-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );
    let start = std::time::Instant::now();
    loop {
        if get(prom_port, "/api/v1/query?query=up")
            .await
            .is_some_and(|v| v["data"]["result"].as_array().is_some_and(|r| r.iter().any(|s| s["value"][1] == "1")))
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "Prometheus never scraped the operator");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // An untrusted image is a High-severity finding (the example config raises trusted-registries to High).
    c.server.seed([deploy("prod", "miner").image("docker.io/evil/miner:1").build()]).unwrap();
    let wait = |what: &'static str, status: &'static str| {
        let got = got.clone();
        async move {
            let start = std::time::Instant::now();
            while !notified(&got, status) {
                assert!(start.elapsed() < Duration::from_secs(90), "no {what} notification; got {:?}", got.lock().unwrap());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait("firing", "firing").await;
    assert!(!notified(&got, "resolved"), "nothing resolved before the fix");
    c.server.delete("apps/v1", "Deployment", "prod", "miner").unwrap();
    for p in c
        .server
        .list("v1", "Pod")
        .into_iter()
        .filter(|p| p["metadata"]["namespace"] == "prod" && p["metadata"]["name"].as_str().unwrap_or("").starts_with("miner-"))
    {
        c.server.delete("v1", "Pod", "prod", p["metadata"]["name"].as_str().unwrap()).unwrap();
    }
    wait("resolved", "resolved").await;

    // Every PromQL expression of the dashboard returns data from this Prometheus.
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(e2e::root().join("deploy/monitoring/grafana-dashboard.json")).unwrap()).unwrap();
    let vars: Vec<String> =
        dashboard["templating"]["list"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(vars, ["datasource", "cluster", "namespace", "recommendation", "severity"]);
    for v in &dashboard["templating"]["list"].as_array().unwrap()[1..] {
        let q = v["query"]["query"].as_str().unwrap().replace("$cluster", ".*");
        let (metric, label) = q.trim_start_matches("label_values(").trim_end_matches(')').split_once(", ").unwrap();
        let values = get(prom_port, &format!("/api/v1/label/{label}/values?match[]={}", encode(metric))).await.unwrap();
        // No `cluster` label on a single-cluster Prometheus: that variable is empty and matches everything.
        let has_values = values["data"].as_array().is_some_and(|a| !a.is_empty());
        assert!(has_values || v["name"] == "cluster", "variable {q} has no values");
    }
    let mut exprs = vec![];
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            exprs.push((p["title"].as_str().unwrap().to_string(), t["expr"].as_str().unwrap().to_string()));
        }
    }
    assert!(exprs.len() >= 15);
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (title, expr) in exprs {
        let promql = expr
            .replace("$cluster", ".*")
            .replace("$namespace", ".*")
            .replace("$recommendation", ".*")
            .replace("$severity", ".*")
            .replace("$__rate_interval", "1m");
        let result = query(prom_port, &promql).await;
        assert!(!result.is_empty(), "panel {title:?}: {promql} returned no data");
    }
    op.shutdown().await;
}

#[test]
fn the_dashboard_is_importable_with_a_datasource_variable_on_every_query() {
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(e2e::root().join("deploy/monitoring/grafana-dashboard.json")).unwrap()).unwrap();
    assert!(d["uid"].is_string() && d["title"].is_string() && d["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let vars = d["templating"]["list"].as_array().unwrap();
    assert_eq!(vars[0]["type"], "datasource");
    assert_eq!(vars[0]["query"], "prometheus");
    let mut ids = BTreeSet::new();
    let mut titles = vec![];
    for p in d["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate panel id {}", p["id"]);
        let g = &p["gridPos"];
        assert!(g["w"].as_u64().is_some_and(|w| w > 0 && w <= 24) && g["h"].as_u64().is_some(), "{}", p["title"]);
        if p["type"] == "row" {
            continue;
        }
        titles.push(p["title"].as_str().unwrap().to_string());
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
    for wanted in [
        "by severity",
        "Compliance score",
        "score by namespace",
        "score over time",
        "Top offenders",
        "per recommendation",
        "namespace × recommendation",
        "over time",
        "Exempt",
        "last evaluation",
        "writes",
        "Watch events",
        "reload",
        "Leader",
    ] {
        assert!(titles.iter().any(|t| t.contains(wanted)), "no panel about {wanted:?}: {titles:?}");
    }
}

/// The threshold steps of a panel's defaults and overrides (a Stat panel colours by them).
fn threshold_steps(p: &Value) -> Vec<usize> {
    let fc = &p["fieldConfig"];
    let mut out = vec![fc["defaults"]["thresholds"]["steps"].as_array().map_or(0, Vec::len)];
    for o in fc["overrides"].as_array().into_iter().flatten() {
        for prop in o["properties"].as_array().into_iter().flatten().filter(|p| p["id"] == "thresholds") {
            out.push(prop["value"]["steps"].as_array().map_or(0, Vec::len));
        }
    }
    out
}

/// The value mappings of a panel (defaults and overrides), as (value, text) pairs.
fn mapped_values(p: &Value) -> Vec<(String, String)> {
    let fc = &p["fieldConfig"];
    let mut lists = vec![fc["defaults"]["mappings"].clone()];
    for o in fc["overrides"].as_array().into_iter().flatten() {
        lists.extend(o["properties"].as_array().into_iter().flatten().filter(|p| p["id"] == "mappings").map(|p| p["value"].clone()));
    }
    let mut out = vec![];
    for m in lists.iter().filter_map(Value::as_array).flatten() {
        for (value, to) in m["options"].as_object().into_iter().flatten() {
            out.push((value.clone(), to["text"].as_str().unwrap_or_default().to_string()));
        }
    }
    out
}

#[test]
fn stat_panels_have_thresholds_0_1_panels_mappings_and_namespaces_link_to_their_view() {
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(e2e::root().join("deploy/monitoring/grafana-dashboard.json")).unwrap()).unwrap();
    // Import dialog: one Prometheus input, the datasource variable defaults to it.
    assert_eq!(d["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(d["__inputs"][0]["pluginId"], "prometheus");
    assert_eq!(d["templating"]["list"][0]["current"]["value"], "${DS_PROMETHEUS}");
    // The cluster variable matches everything when Prometheus has no `cluster` label, and every query is scoped by it.
    let cluster = d["templating"]["list"].as_array().unwrap().iter().find(|v| v["name"] == "cluster").expect("cluster variable");
    assert_eq!((cluster["includeAll"].as_bool(), cluster["allValue"].as_str()), (Some(true), Some(".*")));
    let (zero_one, mut stats, mut linked) = (["kompliance_leader", "kompliance_config_last_reload_successful"], 0, 0);
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap_or_default();
        let exprs: Vec<&str> = p["targets"].as_array().into_iter().flatten().filter_map(|t| t["expr"].as_str()).collect();
        for e in &exprs {
            assert!(e.matches("kompliance_").count() == e.matches("cluster=~\"$cluster\"").count(), "{title}: {e} not scoped by $cluster");
        }
        if p["type"] == "stat" {
            stats += 1;
            let steps = threshold_steps(p);
            assert!(steps.iter().any(|n| *n >= 2) && steps[0] >= 1, "{title}: Stat panel without meaningful thresholds {steps:?}");
            assert_eq!(p["fieldConfig"]["defaults"]["color"]["mode"], "thresholds", "{title}: colour by thresholds");
        }
        if exprs.iter().any(|e| zero_one.iter().any(|m| e.contains(m))) {
            let mapped = mapped_values(p);
            for v in ["0", "1"] {
                assert!(mapped.iter().any(|(k, t)| k == v && !t.is_empty()), "{title}: 0/1 panel without a mapping for {v}: {mapped:?}");
            }
        }
        if exprs.iter().any(|e| e.contains("by (namespace") || e.contains("kompliance_score{")) {
            let text = p["fieldConfig"].to_string();
            assert!(text.contains("var-namespace="), "{title}: shows namespaces but does not link to their view");
            linked += 1;
        }
    }
    assert!(stats >= 6 && linked >= 4, "{stats} Stat panels, {linked} linked");
    // High unhealthy resources are red from 1.
    let sev = d["panels"].as_array().unwrap().iter().find(|p| p["title"] == "Unhealthy resources by severity").unwrap();
    let high = sev["fieldConfig"]["overrides"].as_array().unwrap().iter().find(|o| o["matcher"]["options"] == "High").unwrap();
    assert_eq!(high["properties"][0]["value"]["steps"][1], serde_json::json!({"color": "red", "value": 1}));
}
