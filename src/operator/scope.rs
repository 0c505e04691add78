//! Which report an operation is about (a namespace's or the cluster's), its resourceVersion, and
//! API errors in one line: shared by the writer, the server check and the watches.

/// Which report: one namespace's, or the cluster's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The `ComplianceReport` of a namespace.
    Namespace(String),
    /// The `ComplianceClusterReport` named `cluster`.
    Cluster,
}

impl Scope {
    pub(super) fn label(&self) -> &'static str {
        match self {
            Scope::Namespace(_) => "namespace",
            Scope::Cluster => "cluster",
        }
    }
}

/// An object's resourceVersion as a number (0 when absent or not numeric).
pub fn rv_of(meta: &kube::api::ObjectMeta) -> u64 {
    meta.resource_version.as_deref().and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// An error in one line: the API server's message when there is one.
pub fn brief(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => other.to_string(),
    }
}
