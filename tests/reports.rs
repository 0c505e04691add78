//! Report objects: CRDs in `crds/` match the types; lists are capped with exact counts; size bound.

mod common;

use kompliance::checks::PodFacts;
use kompliance::config::Config;
use kompliance::engine::{NoVulnerabilityData, evaluate_pod};
use kompliance::model::{ResourceKey, ResourceRecord};
use kompliance::report::build::{BuildOptions, namespace_report};
use kompliance::report::{State, content_hash, namespace_object};

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
