//! Cluster checks that need no Azure access: Kubernetes versions (#15) of the control plane and Nodes.

use super::Finding;
use crate::config::Params;
use crate::version::Version;

/// The outcome of #15 for one version string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionVerdict {
    /// Not vulnerable.
    Healthy,
    /// Vulnerable or too old.
    Unhealthy(Finding),
    /// The version could not be read.
    Unknown(String),
}

impl VersionVerdict {
    /// The outcome this verdict gives.
    pub fn into_outcome(self) -> crate::model::Outcome {
        match self {
            VersionVerdict::Healthy => crate::model::Outcome::Pass,
            VersionVerdict::Unhealthy(f) => crate::model::Outcome::Fail(vec![f]),
            VersionVerdict::Unknown(why) => crate::model::Outcome::NotEvaluated(why.into()),
        }
    }
}

/// #15 on one version (the API server's `/version`, a kubelet's, or a managed cluster's).
pub fn kubernetes_version(what: &str, version: &str, p: &Params) -> VersionVerdict {
    let Some(v) = Version::parse(version) else {
        return VersionVerdict::Unknown(format!("{what} version {version:?} cannot be read"));
    };
    if v.cve_2019_9946() {
        return VersionVerdict::Unhealthy(Finding::object(format!(
            "{what} version {version} is vulnerable to CVE-2019-9946 (fixed in 1.11.9, 1.12.7, 1.13.5, 1.14.0)"
        )));
    }
    if let Some(min) = p.minimum_version
        && v < min
    {
        return VersionVerdict::Unhealthy(Finding::object(format!("{what} version {version} is older than minimumVersion {min}")));
    }
    VersionVerdict::Healthy
}
