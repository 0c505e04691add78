//! OpenReports output (`openreports.io/v1alpha1` `Report` and `ClusterReport`): the same judged
//! verdicts as the ComplianceReports, in the format policy-reporter and other policy tools read.
//! `types` holds the object shapes, `render` turns judged resources into results and reports,
//! `filter` decides which outcomes are kept. The operator's writer is `crate::operator::openreports`.

pub mod filter;
pub mod render;
pub mod types;

pub use filter::{FilterError, ResultFilter};
pub use types::*;

use sha2::{Digest, Sha256};

/// API group and version of the reports.
pub const API_VERSION: &str = "openreports.io/v1alpha1";
/// API group of the reports (RBAC, discovery).
pub const GROUP: &str = "openreports.io";
/// `source` of every report and result.
pub const SOURCE: &str = "kompliance";
/// Label on every report kompliance writes (the operator lists and deletes only these).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "kompliance";
/// Name of the one `ClusterReport` (cluster and Azure rows).
pub const CLUSTER_REPORT_NAME: &str = "kompliance-cluster";
/// Name of the per-namespace `Report` of `kompliance audit -o openreports`.
pub const NAMESPACE_REPORT_NAME: &str = "kompliance";

/// First 16 hex digits of the SHA-256 of `parts` joined by NUL bytes.
fn hash16(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (k, p) in parts.iter().enumerate() {
        if k > 0 {
            h.update([0u8]);
        }
        h.update(p.as_bytes());
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The stable `resultID` of one (recommendation, resource) result: a hash of the recommendation id
/// and the resource's namespace, kind and name (not of the message or the time), so the same
/// finding keeps its id across evaluations, restarts and both front doors.
pub fn result_id(rec_id: &str, namespace: &str, kind: &str, name: &str) -> String {
    hash16(&[rec_id, namespace, kind, name])
}

/// Name of a workload's `Report`: its UID (the convention of Kyverno and Kubewarden); without a
/// UID (an object known only by name), `kompliance-` and a hash of kind, namespace and name.
pub fn report_name(uid: Option<&str>, namespace: &str, kind: &str, name: &str) -> String {
    match uid.filter(|u| !u.is_empty()) {
        Some(u) => u.to_string(),
        None => format!("kompliance-{}", hash16(&[kind, namespace, name])),
    }
}

/// The `apiVersion` of a built-in reported kind (custom kinds are not reported units).
pub fn api_version_of(kind: &str) -> &'static str {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps/v1",
        "CronJob" | "Job" => "batch/v1",
        "Ingress" => "networking.k8s.io/v1",
        _ => "v1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_ids_are_stable_and_distinct() {
        let a = result_id("privileged-containers", "shop", "Deployment", "web");
        assert_eq!(a, result_id("privileged-containers", "shop", "Deployment", "web"));
        assert_eq!(a.len(), 16);
        assert_ne!(a, result_id("host-namespaces", "shop", "Deployment", "web"));
        assert_ne!(a, result_id("privileged-containers", "shop", "StatefulSet", "web"));
        // NUL separation: shifting text between fields changes the id.
        assert_ne!(result_id("a", "bc", "K", "n"), result_id("ab", "c", "K", "n"));
    }

    #[test]
    fn report_names_use_the_uid_or_a_hash() {
        assert_eq!(report_name(Some("1234-abcd"), "ns", "Deployment", "web"), "1234-abcd");
        let n = report_name(None, "ns", "Deployment", "web");
        assert!(n.starts_with("kompliance-") && n.len() == "kompliance-".len() + 16, "{n}");
        assert_eq!(n, report_name(Some(""), "ns", "Deployment", "web"));
        assert_ne!(n, report_name(None, "ns", "Deployment", "api"));
    }
}
