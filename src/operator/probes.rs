//! Cluster probes: the API server's version (#15), a SubjectAccessReview for a user with no bindings
//! (#19) and the Azure Policy add-on's Deployments (#3); `cluster_facts` judges what they found.

use crate::azure::rows::ArmSnapshot;
use crate::cluster_facts::{AddonDeployments, ClusterObservations, addon_deployments};
use crate::model::ResourceRecord;
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
    /// The add-on's Deployments as found (judged by `cluster_facts::addon_finding`).
    pub addon: Result<AddonDeployments, String>,
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

/// Reads every Deployment the add-on detection looks at (`cluster_facts` judges them).
async fn addon(client: &kube::Client) -> Result<AddonDeployments, String> {
    let mut seen = AddonDeployments::new();
    for (ns, name) in addon_deployments() {
        if let Some(up) = deployment_state(client, ns, name).await? {
            seen.insert((ns.to_string(), name.to_string()), up);
        }
    }
    Ok(seen)
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

/// Whether the Trivy Operator's VulnerabilityReports are served and readable (in the first namespace reached, or cluster-wide).
pub async fn vulnerability_reports(client: &kube::Client, reach: &super::reach::Reach) -> Result<(), String> {
    let ar = super::watch::vulnerability_reports();
    let api: Api<kube::api::DynamicObject> = match reach.listed().first() {
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
pub async fn run(client: &kube::Client, user: &str, reach: &super::reach::Reach) -> ProbeResults {
    let version = client.apiserver_version().await.map(|v| v.git_version).map_err(|e| format!("reading /version: {e}"));
    ProbeResults {
        version,
        anonymous_allowed: anonymous_allowed(client, user).await,
        addon: addon(client).await,
        vulnerability_reports: vulnerability_reports(client, reach).await,
    }
}

impl ProbeResults {
    /// The probes' results as cluster observations, with the Nodes and Azure's answers.
    pub fn observations(&self, nodes: Vec<ResourceRecord>, azure: Result<ArmSnapshot, String>) -> ClusterObservations {
        ClusterObservations {
            version: self.version.clone(),
            anonymous_allowed: self.anonymous_allowed.clone(),
            addon: self.addon.clone(),
            nodes,
            azure,
            live: true,
        }
    }
}
