//! Parity: the same manifests given to the offline audit and seeded into testkube with the
//! operator running produce the same namespace reports (state, counts, listed resources) for every
//! namespaced recommendation. Inputs: `examples/` and every scenario fixture under
//! `tests/fixtures/checks/`, each fixture in a namespace of its own, grouped by configuration.

mod e2e;

use e2e::{Cluster, SERIAL, root};
use kompliance::audit::AuditOptions;
use kompliance::config::Config;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What is compared of one recommendation entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    id: String,
    state: String,
    /// The reason, where both doors know the same facts (not for #24's missing data).
    reason: Option<String>,
    counts: [u64; 5],
    unhealthy: Vec<String>,
    exempt: Vec<String>,
}

fn names(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| format!("{}/{}", i["kind"].as_str().unwrap_or_default(), i["name"].as_str().unwrap_or_default()))
        .collect();
    out.sort();
    out
}

/// The rows of a report status (the JSON both doors serialise), then its summary's score and
/// check counts as one more row.
fn rows(status: &Value) -> Vec<Row> {
    let checks = &status["summary"]["checks"];
    let check = |k: &str| checks[k].as_u64().unwrap_or(0);
    let summary = Row {
        id: "(summary)".into(),
        state: format!("score {}", status["summary"]["score"]),
        reason: None,
        counts: [0, check("healthy"), check("unhealthy"), check("exempt"), check("notEvaluated")],
        unhealthy: vec![],
        exempt: vec![],
    };
    let mut out: Vec<Row> = status["recommendations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let c = &e["counts"];
            let count = |k: &str| c[k].as_u64().unwrap_or(0);
            let state = e["state"].as_str().unwrap_or_default().to_string();
            let reason = (state != "NotEvaluated").then(|| e["reason"].as_str().map(str::to_string)).flatten();
            Row {
                id: e["id"].as_str().unwrap_or_default().to_string(),
                state,
                reason,
                counts: [count("evaluated"), count("healthy"), count("unhealthy"), count("exempt"), count("notEvaluated")],
                unhealthy: names(&e["unhealthy"]),
                exempt: names(&e["exempt"]),
            }
        })
        .collect();
    out.push(summary);
    out
}

/// A fixture's objects moved into namespace `ns` (Nodes and Namespaces dropped: the comparison is
/// of namespaced rows, and cluster-scoped names would collide between fixtures).
fn objects_in(path: &Path, ns: Option<&str>) -> Vec<Value> {
    let objects = testkube::seed::read_objects(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = vec![];
    for (_, mut o) in objects {
        let kind = o["kind"].as_str().unwrap_or_default().to_string();
        if kind == "ComplianceConfig" || (ns.is_some() && matches!(kind.as_str(), "Node" | "Namespace")) {
            continue;
        }
        if let Some(ns) = ns {
            o["metadata"]["namespace"] = json!(ns);
        }
        out.push(o);
    }
    out
}

fn header(text: &str, key: &str) -> Option<String> {
    text.lines().take_while(|l| l.starts_with('#')).find_map(|l| l.strip_prefix(&format!("# {key}: ")).map(str::to_string))
}

/// The configuration file a fixture is judged with (as tests/fixtures.rs chooses it); `None` = defaults.
fn config_of(file: &Path) -> Option<PathBuf> {
    let folder = file.parent().expect("folder");
    let text = std::fs::read_to_string(file).expect("fixture");
    match header(&text, "config").as_deref() {
        Some("none") => None,
        Some(other) => Some(folder.join(other)),
        None if folder.join("config.yaml").is_file() => Some(folder.join("config.yaml")),
        None => Some(root().join("tests/fixtures/checks/base-config.yaml")),
    }
}

/// Every scenario fixture, grouped by configuration, each with the namespace it is moved to.
fn fixture_groups() -> BTreeMap<Option<PathBuf>, Vec<(PathBuf, String)>> {
    let mut groups: BTreeMap<Option<PathBuf>, Vec<(PathBuf, String)>> = BTreeMap::new();
    let dir = root().join("tests/fixtures/checks");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&dir).expect("fixtures").filter_map(Result::ok).map(|e| e.path()).collect();
    folders.sort();
    let mut n = 0;
    for folder in folders.into_iter().filter(|p| p.is_dir()) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder).expect("folder").filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.split('.').count() < 3 || !name.ends_with(".yaml") {
                continue;
            }
            n += 1;
            groups.entry(config_of(&f)).or_default().push((f, format!("parity-{n}")));
        }
    }
    groups
}

fn audit(cfg: &Config, objects: &[Value]) -> BTreeMap<String, Vec<Row>> {
    let input = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": objects})).expect("json");
    let opts = AuditOptions {
        paths: vec!["-".into()],
        default_namespace: "default".into(),
        kubernetes_version: None,
        now: jiff::Timestamp::now(),
        lang: Default::default(),
    };
    let result = kompliance::audit::run(cfg, &opts, input.as_slice());
    assert!(result.errors.is_empty(), "audit input errors: {:?}", result.errors);
    result.reports().into_iter().map(|(ns, st)| (ns, rows(&serde_json::to_value(&st).expect("status")))).collect()
}

fn operator_rows(c: &Cluster, ns: &str) -> Option<Vec<Row>> {
    c.report(ns).map(|r| rows(&r["status"]))
}

/// Seeds `objects`, runs the operator with `config`, and waits until every namespace the audit
/// reports has the same report from the operator; fails with the differences otherwise.
async fn check(what: &str, config: Option<&Path>, objects: Vec<Value>, namespaces: &[String]) -> usize {
    let cfg = match config {
        Some(p) => Config::load(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        None => Config::default(),
    };
    let expected = audit(&cfg, &objects);
    let c = Cluster::new().await;
    match config {
        Some(p) => c.write_config(&std::fs::read_to_string(p).expect("config")),
        None => c.write_config("apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\n"),
    }
    let mut seeded: Vec<Value> = namespaces.iter().map(|n| e2e::namespace(n)).collect();
    seeded.extend(objects);
    c.server.seed(seeded).unwrap_or_else(|e| panic!("{what}: seeding: {e:?}"));
    let op = c.operator("kompliance-parity", false).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut diffs = vec![];
    while Instant::now() < deadline {
        diffs.clear();
        for (ns, want) in &expected {
            match operator_rows(&c, ns) {
                None => diffs.push(format!("{ns}: no report from the operator")),
                Some(got) => {
                    for (w, g) in want.iter().zip(&got) {
                        if w != g {
                            diffs.push(format!("{ns}: audit {w:?}\n{}operator {g:?}", " ".repeat(ns.len() + 2)));
                        }
                    }
                    if want.len() != got.len() {
                        diffs.push(format!("{ns}: {} rows in the audit, {} from the operator", want.len(), got.len()));
                    }
                }
            }
        }
        if diffs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    op.shutdown().await;
    assert!(diffs.is_empty(), "{what}: the audit and the operator disagree:\n{}", diffs.join("\n"));
    // Rows that found something to list: the comparison is not of empty reports only.
    expected.values().flatten().filter(|r| !r.unhealthy.is_empty() || !r.exempt.is_empty()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_give_the_same_reports_in_the_audit_and_the_operator() {
    let _serial = SERIAL.lock().await;
    let objects = objects_in(&root().join("examples"), None);
    let namespaces: Vec<String> =
        objects.iter().filter(|o| o["kind"] == "Namespace").filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string)).collect();
    let objects: Vec<Value> = objects.into_iter().filter(|o| o["kind"] != "Namespace").collect();
    let listed = check("examples/", Some(&root().join("example-config.yaml")), objects, &namespaces).await;
    assert!(listed >= 10, "only {listed} rows with findings compared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_folder_gives_the_same_reports_in_the_audit_and_the_operator() {
    let _serial = SERIAL.lock().await;
    let groups = fixture_groups();
    let total: usize = groups.values().map(Vec::len).sum();
    assert!(total > 80, "only {total} fixtures found");
    let mut listed = 0;
    for (config, fixtures) in groups {
        let mut objects = vec![];
        let mut namespaces = vec![];
        for (file, ns) in &fixtures {
            objects.extend(objects_in(file, Some(ns)));
            namespaces.push(ns.clone());
        }
        if objects.is_empty() {
            continue; // Nodes only (#15): cluster rows, not compared here.
        }
        let what = format!("fixtures with {}", config.as_deref().map_or("the default configuration".into(), |p| p.display().to_string()));
        listed += check(&what, config.as_deref(), objects, &namespaces).await;
    }
    assert!(listed >= 80, "only {listed} rows with findings compared");
}
