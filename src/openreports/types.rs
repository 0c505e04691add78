//! The shapes of OpenReports objects kompliance writes (the parts of the CRDs it uses), serialized
//! with the CRDs' field names.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `results[].result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Healthy.
    Pass,
    /// Unhealthy.
    Fail,
    /// Not evaluated (no data), with the reason.
    Error,
    /// Exempt, or not configured, with the reason.
    Skip,
}

/// `results[].severity` (kompliance uses high, medium and low).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultSeverity {
    /// High.
    High,
    /// Medium.
    Medium,
    /// Low.
    Low,
}

impl From<crate::catalog::Severity> for ResultSeverity {
    fn from(s: crate::catalog::Severity) -> Self {
        match s {
            crate::catalog::Severity::High => ResultSeverity::High,
            crate::catalog::Severity::Medium => ResultSeverity::Medium,
            crate::catalog::Severity::Low => ResultSeverity::Low,
        }
    }
}

/// An object reference (`scope`, `results[].resources[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjRef {
    /// API version of the referent.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace, for namespaced referents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// UID, when known (the operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// `results[].timestamp`: when the result last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Nanoseconds (kompliance writes whole seconds).
    pub nanos: i32,
}

impl Timestamp {
    /// Whole seconds of `t`.
    pub fn of(t: jiff::Timestamp) -> Timestamp {
        Timestamp { seconds: t.as_second(), nanos: 0 }
    }
}

/// One result: one recommendation on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportResult {
    /// The recommendation id.
    pub policy: String,
    /// The recommendation id (one result per recommendation and resource).
    pub rule: String,
    /// What the recommendation judges (Workload, Service, Ingress, Cluster, Azure subscription, Azure registry).
    pub category: String,
    /// Effective severity.
    pub severity: ResultSeverity,
    /// Outcome.
    pub result: Status,
    /// Always true: every recommendation counts towards compliance.
    pub scored: bool,
    /// The finding, or the reason for an error or skip.
    pub message: String,
    /// Exactly one resource (none for a row without any resource, e.g. not configured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ObjRef>,
    /// `policyDefinitionId`, `documentation`, `resultID`, and where they apply `containers`,
    /// `exemptReason`, `exemptSource`, `exemptUntil`, `reason`.
    pub properties: BTreeMap<String, String>,
    /// When the result last changed.
    pub timestamp: Timestamp,
}

impl ReportResult {
    /// The stable id in `properties.resultID`.
    pub fn result_id(&self) -> &str {
        self.properties.get("resultID").map_or("", String::as_str)
    }

    /// Whether two results say the same, whatever their timestamps.
    pub fn same_content(&self, other: &ReportResult) -> bool {
        ReportResult { timestamp: other.timestamp, ..self.clone() } == *other
    }
}

/// `summary`: results by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Pass.
    pub pass: u32,
    /// Fail.
    pub fail: u32,
    /// Warn (kompliance writes none).
    pub warn: u32,
    /// Error.
    pub error: u32,
    /// Skip.
    pub skip: u32,
}

impl Summary {
    /// Counts `results`.
    pub fn of(results: &[ReportResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.result {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Error => s.error += 1,
                Status::Skip => s.skip += 1,
            }
        }
        s
    }
}
