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
    assert!(result.stats.skipped_kinds.contains_key("PodDisruptionBudget"));
}
