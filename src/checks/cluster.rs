//! Cluster checks that need no Azure access: Kubernetes versions (#15) of the control plane and Nodes.

use super::Finding;
use crate::config::Params;
use crate::version::Version;
use k8s_openapi::api::core::v1::Node;

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

/// #15 on a Node's kubelet version.
pub fn node_version(node: &Node, p: &Params) -> VersionVerdict {
    match node.status.as_ref().and_then(|s| s.node_info.as_ref()).map(|i| i.kubelet_version.as_str()).filter(|v| !v.is_empty()) {
        Some(v) => kubernetes_version("kubelet", v, p),
        None => VersionVerdict::Unknown("status.nodeInfo.kubeletVersion is not set".into()),
    }
}
