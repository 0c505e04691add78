//! Report objects: CRDs in `crds/` match the types and describe every field; lists are capped with
//! exact counts; size bound; the compliance score and the counts beside it, hand-counted on
//! `tests/fixtures/score/` (four recommendations enabled): reports, audit output and gauges agree.

mod common;

use kompliance::checks::PodFacts;
use kompliance::config::Config;
use kompliance::engine::{NoVulnerabilityData, evaluate_pod};
use kompliance::metrics::{ComplianceCollector, ReportSource, Snapshot};
use kompliance::model::{ResourceKey, ResourceRecord};
use kompliance::report::build::{BuildOptions, namespace_report};
use kompliance::report::{CheckCounts, score};
use kompliance::report::{State, content_hash, namespace_object};
use prometheus::{Encoder, Registry, TextEncoder};
use std::sync::Arc;

#[test]
fn committed_crds_match_the_rust_types() {
    for (name, yaml) in kompliance::report::crds_yaml() {
        for dir in ["crds", "deploy/crds"] {
            let path = common::root().join(dir).join(name);
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(committed == yaml, "{} drifted from the Rust types; run `make crds`", path.display());
        }
    }
}

/// Every property of `schema` (recursively, through `properties` and `items`) that has no
/// description or kube's placeholder text, as JSON paths.
fn undescribed(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    let d = schema.get("description").and_then(|d| d.as_str()).unwrap_or_default();
    if d.trim().is_empty() || d.contains("Auto-generated") {
        out.push(format!("{path}: {d:?}"));
    }
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, sub) in props {
            undescribed(sub, &format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        // An array's items share the array's description in `kubectl explain`: they need none of their own
        // when they are scalars, but an object's fields still do.
        if items.get("properties").is_some() {
            undescribed(items, &format!("{path}[]"), out);
        }
    }
}

#[test]
fn kubectl_explain_describes_every_field_of_the_generated_crds() {
    let mut problems = vec![];
    let mut walked = 0;
    for (name, _) in kompliance::report::crds_yaml() {
        for dir in ["crds", "deploy/crds"] {
            let path = common::root().join(dir).join(name);
            let (crd, _) = kompliance::yaml::decode::<serde_json::Value>(&std::fs::read_to_string(&path).expect("crd")).expect("yaml");
            for v in crd["spec"]["versions"].as_array().expect("versions") {
                undescribed(
                    &v["schema"]["openAPIV3Schema"],
                    &format!("{}:{}", path.display(), v["name"].as_str().unwrap_or("")),
                    &mut problems,
                );
                walked += 1;
            }
        }
    }
    assert_eq!(walked, 4);
    assert!(problems.is_empty(), "fields without a description (doc comment) in the CRDs:\n{}", problems.join("\n"));
}

fn failing_spec() -> k8s_openapi::api::core::v1::PodSpec {
    // The legacy example's bare Pod fails almost every recommendation.
    let text = std::fs::read_to_string(common::root().join("examples/legacy.yaml")).expect("example");
    let doc = kompliance::yaml::split_documents(&text)[0].text.to_string();
    let (pod, _) = kompliance::yaml::decode::<k8s_openapi::api::core::v1::Pod>(&doc).expect("pod");
    pod.spec.expect("spec")
}

#[test]
fn ten_thousand_failing_workloads_fit_in_256_kib_with_exact_counts() {
    let cfg = common::config("example-config.yaml");
    let spec = failing_spec();
    let outcomes = evaluate_pod("big", &PodFacts::from_spec(&spec, None), None, &cfg, &NoVulnerabilityData);
    assert!(outcomes.len() >= 10);
    let resources: Vec<ResourceRecord> = (0..10_000)
        .map(|i| {
            let mut r = ResourceRecord::new(ResourceKey {
                namespace: "big".into(),
                kind: "Deployment".into(),
                name: format!("payment-service-backend-worker-{i:05}-eu-west"),
            });
            r.outcomes = outcomes.clone();
            r.pods = 3;
            r
        })
        .collect();
    let opts = BuildOptions {
        lang: Default::default(),
        today: "2026-11-28".parse().expect("date"),
        show_pods: true,
        message_cap: Some(kompliance::report::build::MESSAGE_CAP),
    };
    let status = namespace_report("big", &resources, &cfg, &opts);
    let privileged = status.recommendations.iter().find(|e| e.id == "readonly-root-filesystem").expect("row");
    assert_eq!(privileged.state, State::Unhealthy);
    assert_eq!(privileged.counts.unhealthy, 10_000);
    assert_eq!(privileged.unhealthy.len(), 50);
    assert_eq!(privileged.unhealthy_truncated, 9_950);
    assert!(privileged.unhealthy.windows(2).all(|w| (&w[0].kind, &w[0].name) < (&w[1].kind, &w[1].name)), "sorted by kind, name");
    assert_eq!(privileged.unhealthy[0].name, "payment-service-backend-worker-00000-eu-west");
    assert_eq!(status.summary.resources.unhealthy, 10_000);
    assert!(status.recommendations.iter().flat_map(|e| &e.unhealthy).all(|i| i.message.chars().count() <= 256));
    let bytes = serde_json::to_vec(&namespace_object("big", status)).expect("json").len();
    println!("report for 10,000 failing workloads: {bytes} bytes");
    assert!(bytes < 256 * 1024, "report is {bytes} bytes");
}

#[test]
fn content_hash_ignores_timestamps_and_versions_only() {
    let cfg = Config::default();
    let spec = failing_spec();
    let mut r = ResourceRecord::new(ResourceKey { namespace: "a".into(), kind: "Pod".into(), name: "p".into() });
    r.outcomes = evaluate_pod("a", &PodFacts::from_spec(&spec, None), None, &cfg, &NoVulnerabilityData);
    let opts = BuildOptions {
        lang: Default::default(),
        today: "2026-11-28".parse().expect("date"),
        show_pods: false,
        message_cap: Some(kompliance::report::build::MESSAGE_CAP),
    };
    let a = namespace_report("a", std::slice::from_ref(&r), &cfg, &opts);
    let mut b = a.clone();
    b.last_evaluated = Some("2030-01-01T00:00:00Z".into());
    b.operator_version = Some("9.9.9".into());
    b.config_hash = Some("other".into());
    assert_eq!(content_hash(&a), content_hash(&b));
    b.recommendations[0].counts.healthy += 1;
    assert_ne!(content_hash(&a), content_hash(&b));
}

#[test]
fn cluster_rollup_lists_50_namespaces_and_counts_the_rest_exactly() {
    use kompliance::report::build::{ClusterFacts, Rollup, cluster_report};
    let cfg = Config::default();
    let spec = failing_spec();
    let opts = BuildOptions {
        lang: Default::default(),
        today: "2026-11-28".parse().expect("date"),
        show_pods: false,
        message_cap: Some(kompliance::report::build::MESSAGE_CAP),
    };
    let mut rollup = Rollup::default();
    // 1,000 namespaces, in reverse order, each unhealthy for run-as-non-root (the Pod runs as root).
    for k in (0..1000).rev() {
        let ns = format!("team-{k:04}");
        let mut r = ResourceRecord::new(ResourceKey { namespace: ns.clone(), kind: "Pod".into(), name: "p".into() });
        r.outcomes = evaluate_pod(&ns, &PodFacts::from_spec(&spec, None), None, &cfg, &NoVulnerabilityData);
        rollup.add(&ns, &namespace_report(&ns, std::slice::from_ref(&r), &cfg, &opts));
    }
    let cluster = cluster_report(&ClusterFacts::default(), &rollup, &cfg, &opts);
    let row = cluster.namespaced.iter().find(|e| e.id == "run-as-non-root").expect("row");
    assert_eq!(row.state, State::Unhealthy);
    assert_eq!(row.counts.unhealthy, 1000);
    assert_eq!(row.unhealthy_namespaces.len(), 50);
    assert_eq!(row.unhealthy_namespaces[0], "team-0000");
    assert_eq!(row.unhealthy_namespaces[49], "team-0049");
    assert_eq!(row.unhealthy_namespaces_truncated, 950);
    assert_eq!(cluster.namespaces, 1000);
    assert_eq!(cluster.summary.resources.unhealthy, 1000);
}

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
    let options = kompliance::audit::output::TableOptions {
        width: 200,
        paint: kompliance::audit::output::Paint(false),
        lang: Default::default(),
        all: false,
        offline: true,
    };
    kompliance::audit::output::write_table(&result, &options, &mut table).expect("table");
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
