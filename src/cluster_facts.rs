//! Cluster facts for both front doors: #3, #15 and #19 from probes, Nodes, the API server's
//! version and Azure's answers, and the rule of which source wins. Pure: no I/O.

use crate::azure::rows::{ArmSnapshot, add_facts, not_read};
use crate::catalog::{index_of, version_rule};
use crate::checks::Finding;
use crate::config::{Config, Effect};
use crate::model::{Outcome, ResourceKey, ResourceRecord};
use crate::report::build::ClusterFacts;
use std::collections::BTreeMap;

/// The row these facts judge from the add-on's Deployments (#3).
pub const AZURE_POLICY_ADDON: &str = "azure-policy-addon";
/// The row these facts judge from the access review (#19).
pub const KUBERNETES_RBAC: &str = "kubernetes-rbac";

/// The namespace of the Azure Policy add-on's own Deployments.
pub const ADDON_NAMESPACE: &str = "kube-system";
/// The add-on's own Deployments: each must exist and be available.
pub const ADDON_DEPLOYMENTS: [&str; 2] = ["azure-policy", "azure-policy-webhook"];
/// The namespace of Gatekeeper's Deployments.
pub const GATEKEEPER_NAMESPACE: &str = "gatekeeper-system";
/// Gatekeeper's controller: AKS's add-on names it `gatekeeper-controller`, upstream Gatekeeper
/// `gatekeeper-controller-manager`; either counts.
pub const GATEKEEPER_CONTROLLERS: [&str; 2] = ["gatekeeper-controller", "gatekeeper-controller-manager"];
/// Gatekeeper's audit Deployment (the same name in both distributions).
pub const GATEKEEPER_AUDIT: &str = "gatekeeper-audit";

/// Every Deployment the add-on detection reads, as (namespace, name).
pub fn addon_deployments() -> impl Iterator<Item = (&'static str, &'static str)> {
    ADDON_DEPLOYMENTS
        .iter()
        .map(|n| (ADDON_NAMESPACE, *n))
        .chain(GATEKEEPER_CONTROLLERS.iter().map(|n| (GATEKEEPER_NAMESPACE, *n)))
        .chain(std::iter::once((GATEKEEPER_NAMESPACE, GATEKEEPER_AUDIT)))
}

/// What was seen of the add-on's Deployments: (namespace, name) -> available; absent = not found.
pub type AddonDeployments = BTreeMap<(String, String), bool>;

/// #3 in the cluster: `None` when the add-on runs, or the message saying what is missing.
pub fn addon_finding(seen: &AddonDeployments) -> Option<String> {
    let up = |ns: &str, name: &str| seen.get(&(ns.to_string(), name.to_string())) == Some(&true);
    let addon_ok = ADDON_DEPLOYMENTS.iter().all(|n| up(ADDON_NAMESPACE, n));
    let gatekeeper_ok = GATEKEEPER_CONTROLLERS.iter().any(|n| up(GATEKEEPER_NAMESPACE, n)) && up(GATEKEEPER_NAMESPACE, GATEKEEPER_AUDIT);
    match (addon_ok, gatekeeper_ok) {
        (true, true) => None,
        (false, true) => Some("Gatekeeper runs in gatekeeper-system but the Azure Policy add-on (azure-policy, azure-policy-webhook in kube-system) does not: a self-installed Gatekeeper is not the add-on".into()),
        (true, false) => Some("the Azure Policy add-on Deployments exist but Gatekeeper's controller (gatekeeper-controller or gatekeeper-controller-manager) and audit are not available in gatekeeper-system".into()),
        (false, false) => Some("the Azure Policy add-on is not installed (no available azure-policy Deployments in kube-system)".into()),
    }
}

/// What a front door observed about the cluster; each fact is a value or why it is unknown.
#[derive(Debug, Clone)]
pub struct ClusterObservations {
    /// The API server's `gitVersion`.
    pub version: Result<String, String>,
    /// Whether a user with no bindings may list Secrets cluster-wide.
    pub anonymous_allowed: Result<bool, String>,
    /// The add-on's Deployments as seen.
    pub addon: Result<AddonDeployments, String>,
    /// Node records (already judged for #15).
    pub nodes: Vec<ResourceRecord>,
    /// Azure Resource Manager's answers, or why there are none.
    pub azure: Result<ArmSnapshot, String>,
    /// True in the operator: a fact that could not be read makes the control plane NotEvaluated
    /// for its row. Offline the control plane is not in the input: an unknown fact is only the
    /// row's reason when no other resource (a Node) judges it.
    pub live: bool,
}

fn outcome_of(r: &Result<Outcome, String>) -> Outcome {
    match r {
        Ok(o) => o.clone(),
        Err(e) => Outcome::NotEvaluated(e.as_str().into()),
    }
}

/// The control-plane resource: #15 from the server's version, #19 from the access review, #3 from
/// the add-on's Deployments; offline, unknown facts go to `unavailable` instead.
fn control_plane(obs: &ClusterObservations, cfg: &Config, unavailable: &mut BTreeMap<usize, String>) -> ResourceRecord {
    let mut cp = ResourceRecord::new(ResourceKey { namespace: String::new(), kind: "ControlPlane".into(), name: "kube-apiserver".into() });
    let version_rule = version_rule();
    let version = obs.version.as_ref().map_err(Clone::clone).and_then(|v| match version_rule {
        Some((i, check)) => Ok(check("API server", v, &cfg.rec(i).params).into_outcome()),
        None => Err("no version rule in the catalogue".to_string()),
    });
    let rbac = obs.anonymous_allowed.as_ref().map_err(Clone::clone).map(|allowed| match allowed {
        true => Outcome::Fail(vec![Finding::object(
            "a user with no role bindings may list Secrets in all namespaces: the authorizer allows everyone (AlwaysAllow)",
        )]),
        false => Outcome::Pass,
    });
    let addon = obs.addon.as_ref().map_err(Clone::clone).map(|seen| match addon_finding(seen) {
        None => Outcome::Pass,
        Some(why) => Outcome::Fail(vec![Finding::object(why)]),
    });
    let rows = [(version_rule.map(|(i, _)| i), version), (index_of(KUBERNETES_RBAC), rbac), (index_of(AZURE_POLICY_ADDON), addon)];
    for (i, o) in rows {
        if let Some(i) = i
            && cfg.rec(i).effect == Effect::Audit
        {
            match (&o, obs.live) {
                (Err(why), false) => {
                    unavailable.insert(i, why.clone());
                }
                _ => cp.outcomes.push((i as u8, outcome_of(&o))),
            }
        }
    }
    cp
}

fn push_control_plane(facts: &mut ClusterFacts, cp: ResourceRecord) {
    if !cp.outcomes.is_empty() {
        facts.resources.push(cp);
    }
}

/// The facts of the cluster rows. Which source wins: where Azure knows the managed cluster, its
/// `addonProfiles` decides #3 instead of the in-cluster detection; #15 and #19 count every source
/// (the control plane, each Node, the managed cluster), so any failing one makes the row unhealthy.
pub fn cluster_facts(obs: &ClusterObservations, cfg: &Config) -> ClusterFacts {
    let mut facts = ClusterFacts::default();
    let mut cp = control_plane(obs, cfg, &mut facts.unavailable);
    match (&cfg.azure, &obs.azure) {
        (Some(_), Ok(snap)) => {
            if matches!(snap.cluster, Some(Ok(_)))
                && let Some(i3) = index_of(AZURE_POLICY_ADDON)
            {
                cp.outcomes.retain(|(i, _)| usize::from(*i) != i3);
            }
            push_control_plane(&mut facts, cp);
            add_facts(snap, cfg, &mut facts);
        }
        (configured, azure) => {
            push_control_plane(&mut facts, cp);
            let why = match (configured, azure) {
                (None, _) => "no Azure access configured (azure: in the configuration)",
                (Some(_), Err(why)) => why.as_str(),
                (Some(_), Ok(_)) => "Azure Resource Manager has not been read yet",
            };
            not_read(&mut facts, why);
        }
    }
    facts.resources.extend(obs.nodes.iter().cloned());
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(names: &[(&str, &str)]) -> AddonDeployments {
        names.iter().map(|(ns, n)| ((ns.to_string(), n.to_string()), true)).collect()
    }

    #[test]
    fn the_aks_add_on_and_upstream_gatekeeper_namings_both_count() {
        let aks = seen(&[
            ("kube-system", "azure-policy"),
            ("kube-system", "azure-policy-webhook"),
            ("gatekeeper-system", "gatekeeper-controller"),
            ("gatekeeper-system", "gatekeeper-audit"),
        ]);
        assert_eq!(addon_finding(&aks), None, "AKS names the controller gatekeeper-controller");
        let upstream = seen(&[
            ("kube-system", "azure-policy"),
            ("kube-system", "azure-policy-webhook"),
            ("gatekeeper-system", "gatekeeper-controller-manager"),
            ("gatekeeper-system", "gatekeeper-audit"),
        ]);
        assert_eq!(addon_finding(&upstream), None);
    }

    #[test]
    fn missing_or_unavailable_pieces_fail_with_what_is_missing() {
        let mut no_audit = seen(&[
            ("kube-system", "azure-policy"),
            ("kube-system", "azure-policy-webhook"),
            ("gatekeeper-system", "gatekeeper-controller"),
        ]);
        assert!(addon_finding(&no_audit).is_some_and(|m| m.contains("Gatekeeper's controller")));
        no_audit.insert(("gatekeeper-system".into(), "gatekeeper-audit".into()), false);
        assert!(addon_finding(&no_audit).is_some(), "an unavailable audit Deployment does not count");
        let gatekeeper_only = seen(&[("gatekeeper-system", "gatekeeper-controller-manager"), ("gatekeeper-system", "gatekeeper-audit")]);
        assert!(addon_finding(&gatekeeper_only).is_some_and(|m| m.contains("self-installed")));
        assert!(addon_finding(&AddonDeployments::new()).is_some_and(|m| m.contains("not installed")));
    }
}
