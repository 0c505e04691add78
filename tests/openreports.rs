//! OpenReports from the audit: every object of `kompliance audit -o openreports` is accepted by
//! the real OpenReports CRDs (seeded into testkube, schema validation on, nothing pruned), and its
//! results say what the ComplianceReports of the same audit say, for `examples/` and every
//! scenario fixture.

mod common;

use common::{audit, config, root};
use kompliance::audit::openreports::write_openreports;
use kompliance::openreports::ResultFilter;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The OpenReports CRDs (copied from ../shared/thirdparty/openreports, see the README there).
pub fn openreports_crds() -> Vec<Value> {
    ["openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(root().join("tests/fixtures/openreports").join(f)).expect("crd file");
            serde_saphyr::from_str(&text).expect("crd yaml")
        })
        .collect()
}

fn list(result: &kompliance::audit::AuditResult, filter: &ResultFilter) -> Vec<Value> {
    let mut out = vec![];
    write_openreports(result, filter, &mut out).expect("write");
    let v: Value = serde_json::from_slice(&out).expect("the output is JSON");
    assert_eq!((v["apiVersion"].as_str(), v["kind"].as_str()), (Some("v1"), Some("List")));
    v["items"].as_array().expect("items").clone()
}

/// Creates every item in a testkube that has the CRDs; fails on a rejection or a pruned field.
async fn accepted(items: &[Value]) {
    let server = testkube::TestKube::start().await.expect("testkube");
    server.seed(openreports_crds()).expect("crds");
    for item in items {
        let ns = item["metadata"]["namespace"].as_str().unwrap_or_default();
        if !ns.is_empty() && server.get("v1", "Namespace", "", ns).is_none() {
            server.create(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})).expect("namespace");
        }
        let stored = server.create(item.clone()).unwrap_or_else(|e| panic!("{} rejected: {}", item["metadata"]["name"], e.message));
        for field in ["scope", "source", "summary", "results", "configuration"] {
            assert_eq!(stored.get(field), item.get(field), "{field} of {} was changed (pruned?)", item["metadata"]["name"]);
        }
    }
}

#[tokio::test]
async fn a_schema_violation_is_rejected_by_the_seeded_crds() {
    // Proves the acceptance check can fail: testkube validates these CRDs' enums.
    let server = testkube::TestKube::start().await.expect("testkube");
    server.seed(openreports_crds()).expect("crds");
    let bad = serde_json::json!({"apiVersion": "openreports.io/v1alpha1", "kind": "ClusterReport", "metadata": {"name": "bad"},
        "results": [{"policy": "p", "result": "broken", "severity": "urgent"}]});
    let err = server.create(bad).expect_err("an unknown result is rejected");
    assert!(err.message.contains("result"), "{}", err.message);
    let sample: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root().join("tests/fixtures/openreports/sample-cis-k8s.yaml")).expect("sample"))
            .expect("yaml");
    let mut sample = sample;
    sample["metadata"]["namespace"] = "default".into();
    server.create(sample).expect("the project's own sample is accepted");
}

/// Per namespace and recommendation: [fail, pass, skip (exempt), error] results.
fn counts_of_reports(items: &[Value]) -> BTreeMap<(String, String), [u64; 4]> {
    let mut out: BTreeMap<(String, String), [u64; 4]> = BTreeMap::new();
    for item in items.iter().filter(|i| i["kind"] == "Report") {
        let ns = item["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
        for r in item["results"].as_array().into_iter().flatten() {
            let c = out.entry((ns.clone(), r["policy"].as_str().unwrap_or_default().to_string())).or_default();
            match r["result"].as_str() {
                Some("fail") => c[0] += 1,
                Some("pass") => c[1] += 1,
                Some("skip") => c[2] += 1,
                Some("error") => c[3] += 1,
                other => panic!("unexpected result {other:?}"),
            }
        }
    }
    out
}

fn counts_of_compliance(result: &kompliance::audit::AuditResult) -> BTreeMap<(String, String), [u64; 4]> {
    let mut out = BTreeMap::new();
    for (ns, st) in result.reports() {
        for e in &st.recommendations {
            let c = [e.counts.unhealthy, e.counts.healthy, e.counts.exempt, e.counts.not_evaluated].map(u64::from);
            if c != [0; 4] {
                out.insert((ns.clone(), e.id.clone()), c);
            }
        }
    }
    out
}

fn check(what: &str, result: &kompliance::audit::AuditResult) -> Vec<Value> {
    let items = list(result, &ResultFilter::ALL);
    assert_eq!(counts_of_reports(&items), counts_of_compliance(result), "{what}: OpenReports and ComplianceReports disagree");
    // Every failing resource the ComplianceReport lists is a fail result naming it.
    for (ns, st) in result.reports() {
        for e in st.recommendations.iter().filter(|e| !e.unhealthy.is_empty()) {
            let report = items.iter().find(|i| i["kind"] == "Report" && i["metadata"]["namespace"] == ns.as_str()).expect("report");
            for u in &e.unhealthy {
                let found = report["results"].as_array().into_iter().flatten().any(|r| {
                    r["policy"] == e.id.as_str()
                        && r["result"] == "fail"
                        && r["resources"][0]["kind"] == u.kind.as_str()
                        && r["resources"][0]["name"] == u.name.as_str()
                });
                assert!(found, "{what}: {ns} {} {}/{} has no fail result", e.id, u.kind, u.name);
            }
        }
    }
    items
}

#[tokio::test]
async fn the_examples_render_alike_and_are_accepted_by_the_crds() {
    let cfg = config("example-config.yaml");
    let result = audit(&cfg, &[&root().join("examples")], Some("v1.31.4"));
    let items = check("examples", &result);
    assert!(items.iter().any(|i| i["kind"] == "ClusterReport"), "one ClusterReport");
    assert_eq!(items.iter().filter(|i| i["kind"] == "ClusterReport").count(), 1);
    accepted(&items).await;
    // The default filter: no passes, and statusFilter says so.
    let filter = ResultFilter::parse(kompliance::operator::options::DEFAULT_OPENREPORTS_RESULTS).expect("default");
    let default_items = list(&result, &filter);
    for item in &default_items {
        assert_eq!(item["configuration"]["limits"]["statusFilter"], serde_json::json!(["fail", "error", "skip"]));
        assert!(item["results"].as_array().into_iter().flatten().all(|r| r["result"] != "pass"));
        assert_eq!(item["summary"]["pass"], 0);
    }
    assert!(default_items.iter().any(|i| i["summary"]["fail"].as_u64() > Some(0)), "the examples have failures");
    accepted(&default_items).await;
}

fn header(text: &str, key: &str) -> Option<String> {
    text.lines().take_while(|l| l.starts_with('#')).find_map(|l| l.strip_prefix(&format!("# {key}: ")).map(str::to_string))
}

/// The configuration a fixture is judged with (as tests/fixtures.rs and tests/parity.rs choose it).
fn fixture_config(file: &Path) -> kompliance::config::Config {
    let folder = file.parent().expect("folder");
    let text = std::fs::read_to_string(file).expect("fixture");
    let path = match header(&text, "config").as_deref() {
        Some("none") => return Default::default(),
        Some(other) => folder.join(other),
        None if folder.join("config.yaml").is_file() => folder.join("config.yaml"),
        None => root().join("tests/fixtures/checks/base-config.yaml"),
    };
    kompliance::config::Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn every_fixture_renders_alike_and_is_accepted() {
    let dir = root().join("tests/fixtures/checks");
    let mut folders: Vec<_> = std::fs::read_dir(&dir).expect("fixtures").filter_map(Result::ok).map(|e| e.path()).collect();
    folders.sort();
    let mut files = vec![];
    for folder in folders.into_iter().filter(|p| p.is_dir()) {
        let mut more: Vec<_> = std::fs::read_dir(&folder).expect("folder").filter_map(Result::ok).map(|e| e.path()).collect();
        more.sort();
        files.extend(more.into_iter().filter(|f| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.split('.').count() >= 3 && name.ends_with(".yaml")
        }));
    }
    assert!(files.len() > 20, "fixtures found: {}", files.len());
    let server = testkube::TestKube::start().await.expect("testkube");
    server.seed(openreports_crds()).expect("crds");
    let (mut fails, mut n) = (0, 0);
    for f in &files {
        let cfg = fixture_config(f);
        let result = audit(&cfg, &[f.as_path()], Some("v1.31.4"));
        for item in check(&f.display().to_string(), &result) {
            fails += item["summary"]["fail"].as_u64().unwrap_or(0);
            // Accept each item under a fresh name (fixtures share namespaces).
            let mut item = item;
            n += 1;
            item["metadata"]["name"] = format!("f{n}").into();
            if let Some(ns) = item["metadata"]["namespace"].as_str()
                && server.get("v1", "Namespace", "", ns).is_none()
            {
                server.create(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})).expect("namespace");
            }
            let stored = server.create(item.clone()).unwrap_or_else(|e| panic!("{}: rejected: {}", f.display(), e.message));
            assert_eq!(stored["results"], item["results"], "{}: results changed (pruned?)", f.display());
        }
    }
    assert!(fails > 0, "the unhealthy fixtures give fail results");
}
