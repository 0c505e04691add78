//! The compliance gauges equal the reports they are computed from (contract.md's names and labels).

mod common;

use kompliance::metrics::{ComplianceCollector, ReportSource, Snapshot};
use kompliance::report::State;
use prometheus::{Encoder, Registry, TextEncoder};
use std::path::Path;
use std::sync::{Arc, Mutex};

struct Fixed(Mutex<Snapshot>);

impl ReportSource for Fixed {
    fn snapshot(&self) -> Snapshot {
        self.0.lock().expect("lock").clone()
    }
}

fn example_snapshot() -> Snapshot {
    let cfg = common::config("example-config.yaml");
    let result = common::audit(&cfg, &[Path::new("examples")], Some("v1.31.4"));
    Snapshot { namespaces: result.reports(), cluster: result.cluster().clone() }
}

fn scrape(source: Arc<Fixed>, ns_label: bool) -> String {
    let registry = Registry::new();
    registry.register(Box::new(ComplianceCollector::new(source, ns_label).expect("collector"))).expect("register");
    let mut out = vec![];
    TextEncoder::new().encode(&registry.gather(), &mut out).expect("encode");
    String::from_utf8(out).expect("utf-8")
}

/// A series as the text encoder writes it (labels sorted by name).
fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut l = labels.to_vec();
    l.sort();
    format!("{name}{{{}}}", l.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(","))
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

#[test]
fn gauges_equal_the_reports() {
    let snap = example_snapshot();
    let text = scrape(Arc::new(Fixed(Mutex::new(snap.clone()))), true);
    let mut checked = 0;
    for (ns, st) in &snap.namespaces {
        for e in &st.recommendations {
            let labels = [("recommendation", e.id.as_str()), ("severity", e.severity.as_str()), ("namespace", ns.as_str())];
            let unhealthy = series("kompliance_unhealthy_resources", &labels);
            if matches!(e.state, State::Healthy | State::Unhealthy) {
                assert_eq!(value(&text, &unhealthy), Some(e.counts.unhealthy as f64), "{unhealthy}");
                assert_eq!(value(&text, &series("kompliance_healthy_resources", &labels)), Some(e.counts.healthy as f64));
                assert_eq!(value(&text, &series("kompliance_exempt_resources", &labels)), Some(e.counts.exempt as f64));
                checked += 1;
            } else {
                assert_eq!(value(&text, &unhealthy), None, "no resource gauge for a {:?} row: {unhealthy}", e.state);
            }
            let state =
                series("kompliance_recommendation_state", &[("recommendation", &e.id), ("namespace", ns), ("state", e.state.as_str())]);
            assert_eq!(value(&text, &state), Some(1.0), "{state}");
            let other_states = State::ALL
                .iter()
                .filter(|s| **s != e.state)
                .map(|s| series("kompliance_recommendation_state", &[("recommendation", &e.id), ("namespace", ns), ("state", s.as_str())]));
            assert!(other_states.into_iter().all(|s| value(&text, &s).is_none()), "only the current state has a series");
        }
    }
    assert!(checked > 20);
    // Cluster rows have namespace="".
    let cluster_row = series(
        "kompliance_unhealthy_resources",
        &[("recommendation", "non-vulnerable-kubernetes-version"), ("severity", "High"), ("namespace", "")],
    );
    assert_eq!(value(&text, &cluster_row), Some(1.0));
    assert_eq!(text.lines().filter(|l| l.starts_with("kompliance_recommendation_info{")).count(), 24);
    assert!(
        text.contains("policy_definition_id=\"/providers/Microsoft.Authorization/policyDefinitions/95edb821-ddaf-4404-9732-666045e056b4\"")
    );
}

#[test]
fn a_deleted_namespace_leaves_no_series_and_the_namespace_label_can_be_dropped() {
    let snap = example_snapshot();
    let source = Arc::new(Fixed(Mutex::new(snap.clone())));
    assert!(scrape(source.clone(), true).contains("namespace=\"legacy\""));
    source.0.lock().expect("lock").namespaces.retain(|(ns, _)| ns != "legacy");
    assert!(!scrape(source.clone(), true).contains("namespace=\"legacy\""), "computed at scrape time: no stale series");

    let summed = scrape(Arc::new(Fixed(Mutex::new(snap.clone()))), false);
    assert!(!summed.contains("namespace="));
    let total: u32 = snap
        .namespaces
        .iter()
        .flat_map(|(_, st)| &st.recommendations)
        .filter(|e| e.id == "privilege-escalation")
        .map(|e| e.counts.unhealthy)
        .sum();
    let summed_series = series("kompliance_unhealthy_resources", &[("recommendation", "privilege-escalation"), ("severity", "Medium")]);
    assert_eq!(value(&summed, &summed_series), Some(total as f64));
}

#[test]
fn recommendation_info_carries_the_configured_severity_and_comes_from_the_leader_only() {
    let text = "apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nrecommendations:\n  privilege-escalation: {severity: High}\n  defender-for-registries: {severity: Low}\n";
    let cfg = kompliance::config::Config::parse(text, "severity.yaml").expect("valid");
    let result = common::audit(&cfg, &[Path::new("examples")], Some("v1.31.4"));
    let snap = Snapshot { namespaces: result.reports(), cluster: result.cluster().clone() };
    let text = scrape(Arc::new(Fixed(Mutex::new(snap))), true);
    let info = |id: &str| {
        text.lines()
            .filter(|l| l.starts_with("kompliance_recommendation_info{") && l.contains(&format!("recommendation=\"{id}\"")))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    for (id, severity) in [("privilege-escalation", "High"), ("defender-for-registries", "Low"), ("privileged-containers", "Medium")] {
        let lines = info(id);
        assert_eq!(lines.len(), 1, "{id}: {lines:?}");
        assert!(lines[0].contains(&format!("severity=\"{severity}\"")), "{id}: {}", lines[0]);
    }
    // A replica that is not the leader has no reports (LiveReports gives an empty snapshot): no compliance series at all.
    let follower = scrape(Arc::new(Fixed(Mutex::new(Snapshot::default()))), true);
    let series: Vec<&str> = follower.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(series.is_empty(), "a follower exports no compliance gauges: {series:?}");
}
