//! Evaluates one object under a configuration: scoping, exclusions, then the pure checks.

use crate::catalog::{CATALOG, Judge, version_rule};
use crate::checks::{self, ContainerRef, PodFacts, PodView, image_excluded};
use crate::config::{Config, Effect};
use crate::model::{Outcome, Outcomes};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where #24 gets vulnerability data from.
pub trait VulnerabilitySource {
    /// The outcome of #24 for the containers of a Pod, or `None` to use the default NotEvaluated reason.
    fn image_vulnerabilities(&self, namespace: &str, view: &PodView<'_>) -> Option<Outcome>;
}

/// No vulnerability data at all (the offline audit, or the CRD is not served).
pub struct NoVulnerabilityData;

impl VulnerabilitySource for NoVulnerabilityData {
    fn image_vulnerabilities(&self, _: &str, _: &PodView<'_>) -> Option<Outcome> {
        None
    }
}

/// [`NO_VULN_DATA`] as the shared string each Pod's outcome holds: one per thread, not one per Pod.
fn no_vuln_data() -> Arc<str> {
    thread_local! {
        static TEXT: Arc<str> = Arc::from(NO_VULN_DATA);
    }
    TEXT.with(Arc::clone)
}

/// Reason given for #24 when no vulnerability reports exist.
pub const NO_VULN_DATA: &str = "no vulnerability data: the Trivy Operator's VulnerabilityReport CRD is not available";

/// Whether recommendation `i` is judged at all in namespace `ns` (effect, parameters, namespace scope).
pub fn rec_active(cfg: &Config, i: usize, ns: &str) -> bool {
    let rc = cfg.rec(i);
    rc.effect == Effect::Audit && rc.missing.is_none() && cfg.namespace_excluded(i, ns).is_none()
}

fn selected(cfg: &Config, i: usize, labels: Option<&BTreeMap<String, String>>) -> bool {
    cfg.rec(i).scope.label_selector.as_ref().is_none_or(|s| s.matches(labels))
}

/// Evaluates a Pod (a Pod's spec, or a workload's pod template) in namespace `ns`.
pub fn evaluate_pod(
    ns: &str,
    facts: &PodFacts<'_>,
    labels: Option<&BTreeMap<String, String>>,
    cfg: &Config,
    vulns: &dyn VulnerabilitySource,
) -> Outcomes {
    let all = &facts.containers;
    let windows = facts.windows;
    let mut out = Vec::with_capacity(13);
    for (i, rec) in CATALOG.iter().enumerate() {
        let check = match rec.judge {
            Judge::Pod(f) => Some(f),
            Judge::Vulnerabilities => None,
            _ => continue,
        };
        if !rec_active(cfg, i, ns) || !selected(cfg, i, labels) || (windows && rec.linux_only) {
            continue;
        }
        let rc = cfg.rec(i);
        let filtered: Vec<ContainerRef<'_>>;
        let containers: &[ContainerRef<'_>] = if rc.scope.excluded_containers.is_empty() && rc.scope.excluded_images.is_empty() {
            all
        } else {
            let sc = &rc.scope;
            filtered = all
                .iter()
                .filter(|c| !sc.excluded_containers.iter().any(|n| n == c.name) && !image_excluded(c.image, &sc.excluded_images))
                .copied()
                .collect();
            &filtered
        };
        let view = PodView { facts, containers };
        let outcome = match check {
            Some(check) => Outcome::from_findings(check(&view, &rc.params)),
            None => vulns.image_vulnerabilities(ns, &view).unwrap_or_else(|| Outcome::NotEvaluated(no_vuln_data())),
        };
        out.push((i as u8, outcome));
    }
    out
}

/// A pure check of one object kind (the registry's Service and Ingress checks have this shape).
type ObjectCheck<T> = fn(&T, &crate::config::Params) -> Vec<checks::Finding>;

/// Runs every rule whose check `pick` finds (a Service's or an Ingress's) on `obj`.
fn evaluate_object<T>(
    ns: &str,
    obj: &T,
    labels: Option<&BTreeMap<String, String>>,
    cfg: &Config,
    pick: fn(&Judge) -> Option<ObjectCheck<T>>,
) -> Outcomes {
    CATALOG
        .iter()
        .enumerate()
        .filter_map(|(i, rec)| {
            let check = pick(&rec.judge)?;
            (rec_active(cfg, i, ns) && selected(cfg, i, labels)).then(|| (i as u8, Outcome::from_findings(check(obj, &cfg.rec(i).params))))
        })
        .collect()
}

/// Evaluates a Service with every Service rule; the API server's own Service is not judged.
pub fn evaluate_service(ns: &str, svc: &Service, cfg: &Config) -> Outcomes {
    if checks::objects::is_api_service(svc) {
        return vec![];
    }
    evaluate_object(ns, svc, svc.metadata.labels.as_ref(), cfg, |j| match j {
        Judge::Service(f) => Some(*f),
        _ => None,
    })
}

/// Evaluates an Ingress with every Ingress rule.
pub fn evaluate_ingress(ns: &str, ing: &Ingress, cfg: &Config) -> Outcomes {
    evaluate_object(ns, ing, ing.metadata.labels.as_ref(), cfg, |j| match j {
        Judge::Ingress(f) => Some(*f),
        _ => None,
    })
}

/// Pods that are not judged: finished ones (`Succeeded`, `Failed`) and mirror Pods.
pub fn pod_skipped(phase: Option<&str>, annotations: Option<&BTreeMap<String, String>>) -> bool {
    matches!(phase, Some("Succeeded" | "Failed")) || annotations.is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
}

/// Evaluates a Node's kubelet version with the version rule (#15).
pub fn evaluate_node(kubelet_version: Option<&str>, cfg: &Config) -> Outcomes {
    let Some((i, check)) = version_rule() else { return vec![] };
    if cfg.rec(i).effect != Effect::Audit {
        return vec![];
    }
    let outcome = match kubelet_version.filter(|v| !v.is_empty()) {
        None => Outcome::NotEvaluated(Arc::from("status.nodeInfo.kubeletVersion is not set")),
        Some(v) => check("kubelet", v, &cfg.rec(i).params).into_outcome(),
    };
    vec![(i as u8, outcome)]
}
