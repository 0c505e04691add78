//! The compliance score and the counts beside it, hand-counted on `tests/fixtures/score/` (four
//! recommendations enabled): the reports, the audit's JSON and summary line, and the gauges agree.

mod common;

use kompliance::metrics::{ComplianceCollector, ReportSource, Snapshot};
use kompliance::report::{CheckCounts, score};
use prometheus::{Encoder, Registry, TextEncoder};
use std::sync::Arc;

fn audit() -> kompliance::audit::AuditResult {
    let cfg = common::config("tests/fixtures/score/config.yaml");
    common::audit(&cfg, &[&common::root().join("tests/fixtures/score/manifests.yaml")], None)
}

fn checks(healthy: u32, unhealthy: u32, exempt: u32) -> CheckCounts {
    CheckCounts { healthy, unhealthy, exempt, not_evaluated: 0 }
}

#[test]
fn the_score_is_the_share_of_healthy_checks_rounded_down() {
    assert_eq!(score(0, 0), None, "nothing evaluated: no score, not 100");
    assert_eq!(score(2, 1), Some(66), "rounded down, not to 67");
    assert_eq!(score(199, 1), Some(99), "99.5 is not 100");
    assert_eq!(score(5, 0), Some(100));
    assert_eq!(score(0, 5), Some(0));
    assert_eq!(score(u32::MAX, u32::MAX), Some(50), "no overflow");
}

#[test]
fn hand_counted_fixture_gives_the_expected_scores_and_counts() {
    let result = audit();
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let reports: std::collections::BTreeMap<String, _> = result.reports().into_iter().collect();
    // alpha: web 3 healthy; root 1 healthy (privileged) + 2 unhealthy (limits, root user); priv 2
    // healthy + 1 exempt (privileged); the Ingress 1 unhealthy. 6 / (6 + 3) = 66.6 -> 66.
    let alpha = &reports["alpha"].summary;
    assert_eq!(alpha.checks, checks(6, 3, 1));
    assert_eq!(alpha.score, Some(66));
    assert_eq!((alpha.resources.evaluated, alpha.resources.unhealthy, alpha.resources.exempt), (4, 2, 1));
    assert_eq!((alpha.unhealthy_by_severity.high, alpha.unhealthy_by_severity.medium), (2, 0), "root's worst is High (run-as-non-root)");
    // gamma: one Deployment passing the three Pod checks.
    let gamma = &reports["gamma"].summary;
    assert_eq!((gamma.checks.clone(), gamma.score), (checks(3, 0, 0), Some(100)));
    // beta: a ConfigMap only: no score at all.
    let beta = &reports["beta"].summary;
    assert_eq!((beta.checks.clone(), beta.score), (checks(0, 0, 0), None));
    // The cluster: every namespace's checks (the cluster rows are disabled): 9 / 12 = 75.
    let cluster = &result.cluster().summary;
    assert_eq!((cluster.checks.clone(), cluster.score), (checks(9, 3, 1), Some(75)));
}

#[test]
fn the_audit_prints_and_serialises_the_same_score() {
    let result = audit();
    let mut json = vec![];
    kompliance::audit::output::write_json(&result, &mut json).expect("json");
    let list: serde_json::Value = serde_json::from_slice(&json).expect("valid json");
    let items = list["items"].as_array().expect("items");
    let of = |ns: &str| items.iter().find(|i| i["metadata"]["namespace"] == ns).expect("report")["status"]["summary"].clone();
    assert_eq!(of("alpha")["score"], 66);
    assert!(of("beta").get("score").is_none(), "no score field when nothing was evaluated: {}", of("beta"));
    assert_eq!(items.last().expect("cluster")["status"]["summary"]["score"], 75);
    let mut table = vec![];
    kompliance::audit::output::write_table(&result, kompliance::audit::output::Paint(false), Default::default(), &mut table)
        .expect("table");
    let table = String::from_utf8(table).expect("utf-8");
    assert!(table.contains("NAMESPACE alpha: score 66, 4 resources evaluated"), "{table}");
    assert!(table.contains("NAMESPACE beta: no score, 0 resources evaluated"), "{table}");
    assert!(table.contains("kompliance audit: 3 namespaces, score 75, 5 resources evaluated, 2 unhealthy (High 2"), "{table}");
}

struct Fixed(Snapshot);

impl ReportSource for Fixed {
    fn snapshot(&self) -> Snapshot {
        self.0.clone()
    }
}

fn scrape(ns_label: bool) -> String {
    let result = audit();
    let snap = Snapshot { namespaces: result.reports(), cluster: result.cluster().clone() };
    let registry = Registry::new();
    registry.register(Box::new(ComplianceCollector::new(Arc::new(Fixed(snap)), ns_label).expect("collector"))).expect("register");
    let mut out = vec![];
    TextEncoder::new().encode(&registry.gather(), &mut out).expect("encode");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn the_score_gauges_equal_the_reports_and_are_absent_without_a_score() {
    let text = scrape(true);
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(has("kompliance_score{namespace=\"alpha\"} 66"), "{text}");
    assert!(has("kompliance_score{namespace=\"gamma\"} 100"), "{text}");
    assert!(!text.contains("kompliance_score{namespace=\"beta\"}"), "no score series for beta: {text}");
    assert!(has("kompliance_cluster_score 75"), "{text}");
    assert!(has("kompliance_namespace_unhealthy_resources{namespace=\"alpha\",severity=\"High\"} 2"), "{text}");
    assert!(has("kompliance_cluster_unhealthy_resources{severity=\"High\"} 2"), "{text}");
    let text = scrape(false);
    assert!(!text.contains("kompliance_score{"), "no namespace series without the namespace label: {text}");
    assert!(text.lines().any(|l| l == "kompliance_cluster_score 75"), "{text}");
}
