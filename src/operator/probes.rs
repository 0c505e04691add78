//! Cluster probes: the API server's version (#15), a SubjectAccessReview for a user with no bindings
//! (#19) and the Azure Policy add-on's Deployments (#3); their outcomes make the control-plane resource.

use crate::catalog::index_of;
use crate::checks::Finding;
use crate::checks::cluster::kubernetes_version;
use crate::config::{Config, Effect};
use crate::model::{Outcome, ResourceKey, ResourceRecord};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use kube::api::{Api, PostParams};

/// What the probes found; each is a result or the reason it failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResults {
    /// `gitVersion` of `/version`.
    pub version: Result<String, String>,
    /// Whether a user with no bindings may list secrets cluster-wide.
    pub anonymous_allowed: Result<bool, String>,
    /// Add-on detection: Ok(None) when the add-on runs, Ok(Some(message)) when it does not.
    pub addon: Result<Option<String>, String>,
    /// Whether VulnerabilityReports can be read (Ok), or why not.
    pub vulnerability_reports: Result<(), String>,
}

impl Default for ProbeResults {
    fn default() -> Self {
        let pending = "probe not run yet".to_string();
        ProbeResults {
            version: Err(pending.clone()),
            anonymous_allowed: Err(pending.clone()),
            addon: Err(pending.clone()),
            vulnerability_reports: Err(pending),
        }
    }
}

fn available(d: &Deployment) -> bool {
    let status = d.status.as_ref();
    status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")))
        || status.and_then(|s| s.available_replicas).is_some_and(|n| n > 0)
}

async fn deployment_state(client: &kube::Client, ns: &str, name: &str) -> Result<Option<bool>, String> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(d) => Ok(d.map(|d| available(&d))),
        Err(kube::Error::Api(s)) if s.code == 403 => Err(format!("permission denied reading Deployment {ns}/{name}")),
        Err(e) => Err(format!("reading Deployment {ns}/{name}: {e}")),
    }
}

async fn addon(client: &kube::Client) -> Result<Option<String>, String> {
    let mut addon_ok = true;
    for name in ["azure-policy", "azure-policy-webhook"] {
        addon_ok &= deployment_state(client, "kube-system", name).await? == Some(true);
    }
    let mut gatekeeper_ok = true;
    for name in ["gatekeeper-controller-manager", "gatekeeper-audit"] {
        gatekeeper_ok &= deployment_state(client, "gatekeeper-system", name).await? == Some(true);
    }
    Ok(match (addon_ok, gatekeeper_ok) {
        (true, true) => None,
        (false, true) => Some("Gatekeeper runs in gatekeeper-system but the Azure Policy add-on (azure-policy, azure-policy-webhook in kube-system) does not: a self-installed Gatekeeper is not the add-on".into()),
        (true, false) => Some("the Azure Policy add-on Deployments exist but Gatekeeper's controller and audit are not available".into()),
        (false, false) => Some("the Azure Policy add-on is not installed (no available azure-policy Deployments in kube-system)".into()),
    })
}

async fn anonymous_allowed(client: &kube::Client, user: &str) -> Result<bool, String> {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_string()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some("list".into()),
                resource: Some("secrets".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    match api.create(&PostParams::default(), &review).await {
        Ok(r) => r.status.map(|s| s.allowed).ok_or_else(|| "SubjectAccessReview answered without a status".to_string()),
        Err(kube::Error::Api(s)) if s.code == 403 => Err("permission denied creating SubjectAccessReviews".into()),
        Err(e) => Err(format!("SubjectAccessReview: {e}")),
    }
}

/// Whether the Trivy Operator's VulnerabilityReports are served and readable (with `namespaces`, in the first of them).
pub async fn vulnerability_reports(client: &kube::Client, namespaces: &[String]) -> Result<(), String> {
    let ar = super::watch::vulnerability_reports();
    let api: Api<kube::api::DynamicObject> = match namespaces.first() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    match api.list_metadata(&kube::api::ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(crate::engine::NO_VULN_DATA.to_string()),
        Err(kube::Error::Api(s)) if s.code == 403 => Err("permission denied listing vulnerabilityreports.aquasecurity.github.io".into()),
        Err(e) => Err(format!("listing VulnerabilityReports: {e}")),
    }
}

/// Runs the probes; `user` is the made-up user name of the access review.
pub async fn run(client: &kube::Client, user: &str, namespaces: &[String]) -> ProbeResults {
    let version = client.apiserver_version().await.map(|v| v.git_version).map_err(|e| format!("reading /version: {e}"));
    ProbeResults {
        version,
        anonymous_allowed: anonymous_allowed(client, user).await,
        addon: addon(client).await,
        vulnerability_reports: vulnerability_reports(client, namespaces).await,
    }
}

/// The control-plane resource with the probes' outcomes for #3, #15 and #19 (rows whose effect is Audit).
pub fn control_plane(results: &ProbeResults, cfg: &Config) -> ResourceRecord {
    let mut cp = ResourceRecord::new(ResourceKey { namespace: String::new(), kind: "ControlPlane".into(), name: "kube-apiserver".into() });
    let mut push = |id: &str, outcome: Outcome| {
        if let Some(i) = index_of(id)
            && cfg.rec(i).effect == Effect::Audit
        {
            cp.outcomes.push((i as u8, outcome));
        }
    };
    let i15 = index_of("non-vulnerable-kubernetes-version").unwrap_or(0);
    push(
        "non-vulnerable-kubernetes-version",
        match &results.version {
            Ok(v) => kubernetes_version("API server", v, &cfg.rec(i15).params).into_outcome(),
            Err(e) => Outcome::NotEvaluated(e.as_str().into()),
        },
    );
    push(
        "kubernetes-rbac",
        match &results.anonymous_allowed {
            Ok(true) => Outcome::Fail(vec![Finding::object(
                "a user with no role bindings may list Secrets in all namespaces: the authorizer allows everyone (AlwaysAllow)",
            )]),
            Ok(false) => Outcome::Pass,
            Err(e) => Outcome::NotEvaluated(e.as_str().into()),
        },
    );
    push(
        "azure-policy-addon",
        match &results.addon {
            Ok(None) => Outcome::Pass,
            Ok(Some(why)) => Outcome::Fail(vec![Finding::object(why)]),
            Err(e) => Outcome::NotEvaluated(e.as_str().into()),
        },
    );
    cp
}
