//! The operator's own install passes its own audit (contract.md: `kubectl kustomize deploy/ | kompliance audit -`).

mod common;

use kompliance::audit::{self, AuditOptions};
use std::process::Command;

#[test]
fn kustomized_deploy_base_has_nothing_unhealthy() {
    let out = match Command::new("kubectl").args(["kustomize", "deploy/"]).current_dir(common::root()).output() {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => panic!("kubectl kustomize deploy/ failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            eprintln!("skipping: kubectl is not available ({e})");
            return;
        }
    };
    let cfg = common::config("deploy/kompliance-config.yaml");
    let opts = AuditOptions {
        paths: vec!["-".into()],
        default_namespace: "default".into(),
        kubernetes_version: None,
        now: common::now(),
        lang: Default::default(),
    };
    let result = audit::run(&cfg, &opts, std::io::Cursor::new(out));
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let mut kinds: Vec<String> = result.resources().map(|r| r.key.to_string()).collect();
    kinds.sort();
    assert_eq!(kinds, ["Deployment/kompliance", "Service/kompliance-metrics"]);
    let s = &result.cluster().summary;
    assert_eq!((s.resources.evaluated, s.resources.unhealthy, s.resources.exempt), (2, 0, 0), "{s:?}");
    // Every namespaced recommendation that can judge it did, and passed (none NotConfigured).
    let reports = result.reports();
    let (ns, st) = &reports[0];
    assert_eq!(ns, "kompliance-system");
    assert!(st.recommendations.iter().all(|e| e.state != kompliance::report::State::NotConfigured), "{:?}", st.recommendations);
    // Two replicas and a PodDisruptionBudget, as contract.md asks.
    assert!(result.stats.skipped_kinds.contains_key("policy/PodDisruptionBudget"));
}

#[test]
fn the_deployment_args_are_valid_operator_flags() {
    use clap::Parser;
    #[derive(Parser)]
    struct Run {
        #[command(subcommand)]
        cmd: Cmd,
    }
    #[derive(clap::Subcommand)]
    enum Cmd {
        Run(kompliance::operator::cli::RunArgs),
    }
    let text = std::fs::read_to_string(common::root().join("deploy/deployment.yaml")).expect("deployment.yaml");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
    let args: Vec<String> = doc
        .pointer("/spec/template/spec/containers/0/args")
        .and_then(|a| a.as_array())
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").replace("$(POD_NAMESPACE)", "kompliance-system"))
        .collect();
    let parsed = Run::try_parse_from(std::iter::once("kompliance".to_string()).chain(args)).unwrap_or_else(|e| panic!("{e}"));
    let Cmd::Run(run) = parsed.cmd;
    let opts = kompliance::operator::cli::options(&run);
    assert_eq!(opts.lease.expect("leader election on").namespace, "kompliance-system");
    assert_eq!(opts.metrics_addr, "0.0.0.0:8080");
    let grace: u64 = doc.pointer("/spec/template/spec/terminationGracePeriodSeconds").and_then(|g| g.as_u64()).expect("grace");
    assert!(opts.grace.as_secs() < grace, "the operator's write grace fits in the Pod's termination grace period");
}

#[test]
fn the_monitoring_component_adds_a_service_monitor_that_selects_the_metrics_service() {
    let overlay = tempfile::tempdir_in(common::root()).expect("overlay folder");
    let kustomization =
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../deploy]\ncomponents: [../deploy/monitoring]\n";
    std::fs::write(overlay.path().join("kustomization.yaml"), kustomization).expect("write");
    let out = match Command::new("kubectl").arg("kustomize").arg(overlay.path()).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => panic!("kubectl kustomize failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            eprintln!("skipping: kubectl is not available ({e})");
            return;
        }
    };
    let docs: Vec<serde_json::Value> = out.split("\n---\n").map(|d| serde_saphyr::from_str(d).expect("yaml")).collect();
    let monitor = docs.iter().find(|d| d["kind"] == "ServiceMonitor").expect("ServiceMonitor");
    let service = docs.iter().find(|d| d["kind"] == "Service").expect("Service");
    for (k, v) in monitor["spec"]["selector"]["matchLabels"].as_object().expect("selector") {
        assert_eq!(&service["metadata"]["labels"][k], v, "the ServiceMonitor selects the metrics Service");
    }
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], service["spec"]["ports"][0]["name"]);
}
