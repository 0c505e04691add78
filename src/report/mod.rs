//! Reports: the CRD types, building them from verdicts, and the content hash that decides writes.

pub mod build;
pub mod types;

use sha2::{Digest, Sha256};
pub use types::*;

/// Hash of a namespace report's content, leaving out `lastEvaluated`, `operatorVersion` and `configHash`.
pub fn content_hash(status: &ReportStatus) -> String {
    let stripped = ReportStatus { last_evaluated: None, operator_version: None, config_hash: None, ..status.clone() };
    hash_json(&stripped)
}

/// Hash of the cluster report's content, leaving out the same fields.
pub fn cluster_content_hash(status: &ClusterReportStatus) -> String {
    let stripped = ClusterReportStatus { last_evaluated: None, operator_version: None, config_hash: None, ..status.clone() };
    hash_json(&stripped)
}

/// The fields of a report status that say when, by which version and under which configuration it
/// was evaluated (the fields the content hashes leave out).
pub trait Stamp {
    /// Sets `lastEvaluated`, `operatorVersion` and `configHash`.
    fn stamp(&mut self, evaluated: String, version: String, config_hash: String);
}

impl Stamp for ReportStatus {
    fn stamp(&mut self, evaluated: String, version: String, config_hash: String) {
        (self.last_evaluated, self.operator_version, self.config_hash) = (Some(evaluated), Some(version), Some(config_hash));
    }
}

impl Stamp for ClusterReportStatus {
    fn stamp(&mut self, evaluated: String, version: String, config_hash: String) {
        (self.last_evaluated, self.operator_version, self.config_hash) = (Some(evaluated), Some(version), Some(config_hash));
    }
}

fn hash_json<T: serde::Serialize>(v: &T) -> String {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Wraps a namespace status into the object written to the cluster (`kompliance` in `ns`).
pub fn namespace_object(ns: &str, status: ReportStatus) -> ComplianceReport {
    let mut r = ComplianceReport::new("kompliance", ComplianceReportSpec {});
    r.metadata.namespace = Some(ns.to_string());
    r.status = Some(status);
    r
}

/// Wraps the cluster status into the object named `cluster`.
pub fn cluster_object(status: ClusterReportStatus) -> ComplianceClusterReport {
    let mut r = ComplianceClusterReport::new("cluster", ComplianceClusterReportSpec {});
    r.status = Some(status);
    r
}

/// The CRDs of both report kinds, as YAML documents.
pub fn crds_yaml() -> Vec<(&'static str, String)> {
    use kube::CustomResourceExt;
    vec![
        ("compliancereports.kompliance.dev.yaml", crate::yaml::to_string(&ComplianceReport::crd())),
        ("complianceclusterreports.kompliance.dev.yaml", crate::yaml::to_string(&ComplianceClusterReport::crd())),
    ]
}
