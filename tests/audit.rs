//! Audit semantics of contract.md: one resource per top-level owner, skipped Pods, default namespace, scoping.

mod common;

use kompliance::config::Config;
use kompliance::model::Outcome;
use kompliance::report::{RecommendationEntry, State};
use std::path::Path;

fn fixture(name: &str) -> std::path::PathBuf {
    common::root().join("tests/fixtures/audit").join(name)
}

fn row(result: &kompliance::audit::AuditResult, ns: &str, id: &str) -> RecommendationEntry {
    let (_, st) = result.reports().into_iter().find(|(n, _)| n == ns).unwrap_or_else(|| panic!("no report for {ns}"));
    st.recommendations.into_iter().find(|e| e.id == id).expect("row")
}

#[test]
fn pods_merge_into_their_top_level_owner() {
    let result = common::audit(&Config::default(), &[fixture("kubectl-dump.yaml").as_path()], None);
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let mut names: Vec<String> = result.resources().map(|r| r.key.to_string()).collect();
    names.sort();
    assert_eq!(names, ["CronJob/nightly", "Deployment/web"], "ReplicaSets, Jobs and Pods fold into their top-level owners");
    let web = result.resources().find(|r| r.key.name == "web").expect("web");
    assert_eq!(web.pods, 2, "both Pods, one through a ReplicaSet that is not in the dump");
    assert!(web.labels.is_empty(), "labels are kept only when an exemption rule selects by them");
    // The ephemeral debugger container of one Pod makes the whole Deployment privileged.
    let priv_row = row(&result, "shop", "privileged-containers");
    assert_eq!((priv_row.state, priv_row.counts.unhealthy), (State::Unhealthy, 1));
    assert_eq!(priv_row.unhealthy[0].containers, ["debugger"]);
    assert!(priv_row.unhealthy[0].message.starts_with("ephemeral container debugger"));
    assert_eq!(result.stats.skipped_pods, 2, "Succeeded and mirror Pods are skipped and counted");
}

#[test]
fn label_selectors_match_the_pods_labels_not_the_workloads() {
    let by_workload_label = common::config("tests/fixtures/audit/team-a-exemption.yaml");
    let result = common::audit(&by_workload_label, &[fixture("kubectl-dump.yaml").as_path()], None);
    let web = result.resources().find(|r| r.key.name == "web").expect("web");
    assert_eq!(web.labels.get("app").map(String::as_str), Some("web"), "the pod template's labels, not the Deployment's");
    let r = row(&result, "shop", "privileged-containers");
    assert_eq!((r.state, r.counts.unhealthy, r.counts.exempt), (State::Unhealthy, 1, 0), "team: a is on the Deployment only");

    let by_pod_label = common::config("tests/fixtures/audit/pod-label-exemption.yaml");
    let result = common::audit(&by_pod_label, &[fixture("kubectl-dump.yaml").as_path()], None);
    let r = row(&result, "shop", "privileged-containers");
    assert_eq!((r.state, r.counts.unhealthy, r.counts.exempt), (State::Healthy, 0, 1));
    assert_eq!(r.exempt[0].name, "web");
}

#[test]
fn objects_without_namespace_go_to_default_or_the_flag() {
    let cfg = common::config("tests/fixtures/checks/base-config.yaml");
    let result = common::audit(&cfg, &[fixture("no-namespace.yaml").as_path()], None);
    assert_eq!(result.reports().into_iter().map(|(n, _)| n).collect::<Vec<_>>(), ["default"]);
    assert_eq!(result.stats.not_objects, 1, "the dashboard document is counted, not an error");
    assert!(result.errors.is_empty());
    let opts = kompliance::audit::AuditOptions {
        paths: vec![fixture("no-namespace.yaml")],
        default_namespace: "staging".into(),
        kubernetes_version: None,
        now: common::now(),
        lang: Default::default(),
    };
    let moved = kompliance::audit::run(&cfg, &opts, std::io::empty());
    assert_eq!(moved.reports()[0].0, "staging");
    assert_eq!(row(&moved, "staging", "service-allowed-ports").state, State::Unhealthy);
}

#[test]
fn scoping_parameters_select_what_is_judged() {
    let cfg = Config::load(&fixture("scoping-config.yaml")).expect("config");
    let result = common::audit(&cfg, &[Path::new(&fixture("scoping.yaml"))], None);
    // labelSelector: only the Pod labelled tier=web is judged; excludedImages drops istio-proxy.
    let p = row(&result, "team-a", "privileged-containers");
    assert_eq!((p.counts.evaluated, p.counts.unhealthy), (1, 1));
    assert_eq!(p.unhealthy[0].containers, ["app"]);
    // excludedContainers does not touch the Pod-level hostNetwork rule.
    let hn = row(&result, "team-a", "host-network-ports");
    assert_eq!(hn.state, State::Unhealthy);
    assert!(hn.unhealthy.iter().any(|i| i.name == "mixed" && i.message.contains("spec.hostNetwork is true")));
    // effect Disabled and a namespaces include list.
    assert_eq!(row(&result, "team-a", "readonly-root-filesystem").state, State::Disabled);
    let ns = row(&result, "team-a", "host-namespaces");
    assert_eq!((ns.state, ns.reason.as_deref()), (State::NotApplicable, Some("namespace excluded")));
    // Summary counts each unhealthy resource once at its worst severity.
    let reports = result.reports();
    let st = &reports[0].1.summary;
    assert_eq!(st.resources.unhealthy, 2);
    assert_eq!(st.resources.unhealthy, st.unhealthy_by_severity.high + st.unhealthy_by_severity.medium + st.unhealthy_by_severity.low);
    let mixed = result.resources().find(|r| r.key.name == "mixed").expect("mixed");
    assert!(matches!(mixed.outcome(kompliance::catalog::index_of("privileged-containers").expect("row")), Some(Outcome::Fail(_))));
}

#[test]
fn excluded_namespace_gets_no_report() {
    let result = common::audit(&Config::default(), &[Path::new("examples/kube-system.yaml")], None);
    assert!(result.reports().is_empty());
    assert_eq!(result.stats.excluded, 1);
}

#[test]
fn annotation_exemptions_can_be_switched_off_and_config_rules_expire() {
    let pod = fixture("../checks/privileged-containers/exempt.annotation.yaml");
    let off = Config::parse("apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nallowAnnotationExemptions: false\n", "off.yaml")
        .expect("config");
    let r = row(&common::audit(&off, &[pod.as_path()], None), "fixtures", "privileged-containers");
    assert_eq!((r.state, r.counts.unhealthy, r.counts.exempt), (State::Unhealthy, 1, 0), "annotations count for nothing");

    let rule = |expires: &str| {
        Config::parse(
            &format!("apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nallowAnnotationExemptions: false\nexemptions:\n- recommendations: [privileged-containers]\n  kinds: [Pod]\n  names: [\"e*\"]\n  reason: lab\n  expires: \"{expires}\"\n"),
            "rule.yaml",
        )
        .expect("config")
    };
    // The fixed clock is 2026-11-28: a rule valid through that day applies, one that ended the day before does not.
    let through_today = row(&common::audit(&rule("2026-11-28"), &[pod.as_path()], None), "fixtures", "privileged-containers");
    assert_eq!((through_today.counts.exempt, through_today.exempt[0].exemption_source.as_deref()), (1, Some("config")));
    assert_eq!(through_today.exempt[0].exempt_until.as_deref(), Some("2026-11-28"));
    let expired = row(&common::audit(&rule("2026-11-27"), &[pod.as_path()], None), "fixtures", "privileged-containers");
    assert_eq!((expired.counts.unhealthy, expired.counts.exempt), (1, 0));
}

#[test]
fn history_objects_add_nothing_and_custom_owners_do_not_replace_built_in_workloads() {
    let result = common::audit(&Config::default(), &[fixture("history-dump.yaml").as_path()], None);
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let mut names: Vec<String> = result.resources().map(|r| format!("{}/{}", r.key.namespace, r.key)).collect();
    names.sort();
    assert_eq!(
        names,
        ["monitoring/Pod/build-step-1", "monitoring/StatefulSet/prometheus-k8s", "shop/CronJob/nightly", "shop/Deployment/web"],
        "a StatefulSet owned by a Prometheus object is reported as the StatefulSet; a Pod owned by a Workflow as itself"
    );
    // The old revision (0 replicas), the finished Job and the PodTemplate are privileged, but run nothing.
    let p = row(&result, "shop", "privileged-containers");
    assert_eq!((p.state, p.counts.evaluated, p.counts.unhealthy), (State::Healthy, 2, 0), "{p:?}");
    assert_eq!(result.stats.history, 5, "old ReplicaSets, the finished Job and PodTemplates are counted as history");
    // A namespace whose objects all run nothing still gets its (empty) report.
    assert_eq!(row(&result, "archive", "privileged-containers").state, State::NotApplicable);
    let m = row(&result, "monitoring", "privileged-containers");
    assert_eq!(m.counts.unhealthy, 2);
    let sts = result.resources().find(|r| r.key.name == "prometheus-k8s").expect("sts");
    assert_eq!(sts.key.kind, "StatefulSet");
}

#[test]
fn without_vulnerability_reports_image_vulnerabilities_says_so_truthfully() {
    let result = common::audit(&Config::default(), &[fixture("kubectl-dump.yaml").as_path()], None);
    let r = row(&result, "shop", "image-vulnerabilities");
    assert_eq!(r.state, State::NotEvaluated);
    let reason = r.reason.unwrap_or_default();
    assert!(reason.contains("no VulnerabilityReports in the input"), "{reason}");
    assert!(!reason.contains("CRD"), "offline, nothing is known about the cluster's CRDs: {reason}");
}
