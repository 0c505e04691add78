//! `ComplianceReport` and `ComplianceClusterReport` (kompliance.dev/v1alpha1): the types behind `crds/`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Per-namespace report; all data is under `.status`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kompliance.dev",
    version = "v1alpha1",
    kind = "ComplianceReport",
    doc = "The compliance report of one namespace (named `kompliance`), written by the kompliance operator: score, counts and one entry per namespaced recommendation under `.status` (docs/counts.md defines every count).",
    plural = "compliancereports",
    singular = "compliancereport",
    shortname = "kreport",
    category = "kompliance",
    namespaced,
    status = "ReportStatus",
    printcolumn = r#"{"name":"Score","type":"integer","description":"Compliance score: percent of evaluated (resource, recommendation) checks that pass, rounded down; empty when nothing was evaluated (docs/counts.md)","jsonPath":".status.summary.score"}"#,
    printcolumn = r#"{"name":"High","type":"integer","description":"Unhealthy resources whose worst failing recommendation is High","jsonPath":".status.summary.unhealthyBySeverity.high"}"#,
    printcolumn = r#"{"name":"Medium","type":"integer","description":"Unhealthy resources whose worst failing recommendation is Medium","jsonPath":".status.summary.unhealthyBySeverity.medium"}"#,
    printcolumn = r#"{"name":"Low","type":"integer","description":"Unhealthy resources whose worst failing recommendation is Low","jsonPath":".status.summary.unhealthyBySeverity.low"}"#,
    printcolumn = r#"{"name":"Exempt","type":"integer","description":"Exempt resources: exempt from at least one recommendation they fail","jsonPath":".status.summary.resources.exempt"}"#,
    printcolumn = r#"{"name":"Evaluated","type":"date","description":"Age of the last full evaluation (the Ready condition's lastTransitionTime)","jsonPath":".status.conditions[0].lastTransitionTime"}"#,
    printcolumn = r#"{"name":"Resources","type":"integer","priority":1,"description":"Evaluated resources: judged by at least one recommendation","jsonPath":".status.summary.resources.evaluated"}"#,
    printcolumn = r#"{"name":"Unhealthy Recs","type":"integer","priority":1,"description":"Unhealthy recommendations: recommendations in state Unhealthy","jsonPath":".status.summary.recommendations.unhealthy"}"#
)]
pub struct ComplianceReportSpec {}

/// Cluster-wide report (one object named `cluster`); all data is under `.status`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kompliance.dev",
    version = "v1alpha1",
    kind = "ComplianceClusterReport",
    doc = "The cluster's compliance report (one object named `cluster`), written by the kompliance operator: cluster and Azure rows, and every namespaced recommendation rolled up across namespaces, under `.status`.",
    plural = "complianceclusterreports",
    singular = "complianceclusterreport",
    shortname = "kclusterreport",
    category = "kompliance",
    status = "ClusterReportStatus",
    printcolumn = r#"{"name":"Score","type":"integer","description":"Compliance score of the whole cluster: percent of evaluated (resource, recommendation) checks that pass, rounded down; empty when nothing was evaluated (docs/counts.md)","jsonPath":".status.summary.score"}"#,
    printcolumn = r#"{"name":"High","type":"integer","description":"Unhealthy resources whose worst failing recommendation is High","jsonPath":".status.summary.unhealthyBySeverity.high"}"#,
    printcolumn = r#"{"name":"Medium","type":"integer","description":"Unhealthy resources whose worst failing recommendation is Medium","jsonPath":".status.summary.unhealthyBySeverity.medium"}"#,
    printcolumn = r#"{"name":"Low","type":"integer","description":"Unhealthy resources whose worst failing recommendation is Low","jsonPath":".status.summary.unhealthyBySeverity.low"}"#,
    printcolumn = r#"{"name":"Exempt","type":"integer","description":"Exempt resources: exempt from at least one recommendation they fail","jsonPath":".status.summary.resources.exempt"}"#,
    printcolumn = r#"{"name":"Namespaces","type":"integer","description":"Namespace reports rolled up","jsonPath":".status.namespaces"}"#,
    printcolumn = r#"{"name":"Evaluated","type":"date","description":"Age of the last full evaluation (the Ready condition's lastTransitionTime)","jsonPath":".status.conditions[0].lastTransitionTime"}"#,
    printcolumn = r#"{"name":"Unhealthy Recs","type":"integer","priority":1,"description":"Unhealthy recommendations: recommendations in state Unhealthy (cluster rows and namespaced roll-ups)","jsonPath":".status.summary.recommendations.unhealthy"}"#
)]
pub struct ComplianceClusterReportSpec {}

/// Status of a namespace report.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportStatus {
    /// Counts over the whole namespace.
    pub summary: Summary,
    /// One entry per namespaced recommendation, in catalogue order.
    pub recommendations: Vec<RecommendationEntry>,
    /// Problems met while evaluating (e.g. a malformed exempt-until), sorted, capped at 50.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// When the content was computed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluated: Option<String>,
    /// Version of the kompliance that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_version: Option<String>,
    /// Hash of the configuration in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// Standard conditions (operator only): one `Ready` condition (True once evaluated; stale past its `nextEvaluation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Status of the cluster report.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReportStatus {
    /// Counts over cluster rows and every namespace.
    pub summary: Summary,
    /// Number of namespace reports rolled up.
    pub namespaces: u32,
    /// Cluster and Azure rows (#1, #2, #3, #6, #7, #8, #14, #15, #19, #24's registries).
    pub recommendations: Vec<RecommendationEntry>,
    /// Every namespaced recommendation rolled up across namespaces.
    pub namespaced: Vec<RollupEntry>,
    /// Problems met while evaluating, sorted, capped at 50.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// When the content was computed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluated: Option<String>,
    /// Version of the kompliance that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_version: Option<String>,
    /// Hash of the configuration in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// Standard conditions (operator only): one `Ready` condition (True once evaluated; stale past its `nextEvaluation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Summary counts of a report (every count is defined in docs/counts.md).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Compliance score: floor(100 × healthy checks / (healthy + unhealthy checks)); exempt and
    /// not-evaluated checks are left out. Absent when no check was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u32>,
    /// Distinct resources.
    pub resources: ResourceCounts,
    /// Each unhealthy resource once, at its worst failing severity.
    pub unhealthy_by_severity: SeverityCounts,
    /// Checks (resource, recommendation pairs) by outcome: the score's inputs.
    #[serde(default)]
    pub checks: CheckCounts,
    /// Recommendations by state.
    pub recommendations: StateCounts,
}

/// Checks: one resource judged by one recommendation, counted by outcome.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckCounts {
    /// The resource passes the recommendation.
    pub healthy: u32,
    /// The resource fails it and is not exempt.
    pub unhealthy: u32,
    /// The resource fails it and is exempt (left out of the score).
    pub exempt: u32,
    /// In scope but without the data to judge it (left out of the score).
    pub not_evaluated: u32,
}

/// The compliance score of `healthy` and `unhealthy` checks: a whole percent rounded down, `None`
/// when there is none of either.
pub fn score(healthy: u32, unhealthy: u32) -> Option<u32> {
    let total = u64::from(healthy) + u64::from(unhealthy);
    (total > 0).then(|| (100 * u64::from(healthy) / total) as u32)
}

/// A standard Kubernetes condition. kompliance writes one, `Ready`: `True` once the operator has
/// evaluated the report; `lastTransitionTime` is the start of the last full evaluation pass that
/// rebuilt it (the operator rebuilds every report at least once per `--resync-interval`), and
/// `message` says when the next one is due. A report is stale when the current time is past
/// `nextEvaluation` (kept in the message too).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type: `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason in CamelCase (`Evaluated`).
    pub reason: String,
    /// Human-readable detail: when it was evaluated and when the next evaluation is due.
    pub message: String,
    /// Start of the last full evaluation pass that rebuilt this report (RFC 3339).
    pub last_transition_time: String,
    /// When the next full evaluation is due (RFC 3339): past this time (plus a few seconds of
    /// writing) the report is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_evaluation: Option<String>,
}

/// Distinct resource counts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ResourceCounts {
    /// Judged by at least one recommendation.
    pub evaluated: u32,
    /// Unhealthy for at least one recommendation.
    pub unhealthy: u32,
    /// Exempt from at least one recommendation it fails.
    pub exempt: u32,
}

/// Counts by severity.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SeverityCounts {
    /// High.
    pub high: u32,
    /// Medium.
    pub medium: u32,
    /// Low.
    pub low: u32,
}

/// Recommendations by state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateCounts {
    /// Healthy.
    pub healthy: u32,
    /// Unhealthy.
    pub unhealthy: u32,
    /// NotApplicable.
    pub not_applicable: u32,
    /// NotConfigured.
    pub not_configured: u32,
    /// NotEvaluated.
    pub not_evaluated: u32,
    /// Disabled.
    pub disabled: u32,
}

/// State of a recommendation in a scope.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum State {
    /// At least one resource fails.
    Unhealthy,
    /// Some resource could not be judged.
    NotEvaluated,
    /// A required parameter has no value.
    NotConfigured,
    /// Judged, none fails.
    Healthy,
    /// Nothing in scope.
    NotApplicable,
    /// Effect Disabled.
    Disabled,
}

impl State {
    /// PascalCase name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unhealthy => "Unhealthy",
            State::NotEvaluated => "NotEvaluated",
            State::NotConfigured => "NotConfigured",
            State::Healthy => "Healthy",
            State::NotApplicable => "NotApplicable",
            State::Disabled => "Disabled",
        }
    }
    /// Every state, in the order above.
    pub const ALL: [State; 6] =
        [State::Unhealthy, State::NotEvaluated, State::NotConfigured, State::Healthy, State::NotApplicable, State::Disabled];
}

/// Severity as written in reports.
pub type SeverityName = crate::catalog::Severity;

/// One recommendation in one scope.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecommendationEntry {
    /// Stable id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Effective severity.
    pub severity: SeverityName,
    /// `/providers/Microsoft.Authorization/policyDefinitions/<guid>`.
    pub policy_definition_id: String,
    /// Documentation of the recommendation: its rule, parameters, a failing and a fixed example.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub documentation: String,
    /// State.
    pub state: State,
    /// Why, when not Healthy/Unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Resource counts.
    pub counts: Counts,
    /// Unhealthy resources, sorted by (kind, name), at most 50.
    #[serde(default)]
    pub unhealthy: Vec<ResourceItem>,
    /// How many unhealthy resources were left out of the list.
    #[serde(default)]
    pub unhealthy_truncated: u32,
    /// Exempt resources, sorted by (kind, name), at most 50.
    #[serde(default)]
    pub exempt: Vec<ResourceItem>,
    /// How many exempt resources were left out of the list.
    #[serde(default)]
    pub exempt_truncated: u32,
}

/// Resource counts of one recommendation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Judged (healthy + unhealthy + exempt).
    pub evaluated: u32,
    /// Passing.
    pub healthy: u32,
    /// Failing, not exempt.
    pub unhealthy: u32,
    /// Failing but exempt.
    pub exempt: u32,
    /// In scope but without data.
    pub not_evaluated: u32,
}

/// One resource in a list.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceItem {
    /// Kind (Deployment, Pod, Service, Node, ...).
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (cluster report only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Pods judged (operator only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<u32>,
    /// Containers at fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    /// Why, at most 256 characters.
    pub message: String,
    /// Why it is exempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption_reason: Option<String>,
    /// `annotation` or `config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption_source: Option<String>,
    /// Last day of the exemption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exempt_until: Option<String>,
}

/// A namespaced recommendation rolled up across namespaces.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollupEntry {
    /// Stable id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Effective severity.
    pub severity: SeverityName,
    /// Worst state across namespaces.
    pub state: State,
    /// Documentation of the recommendation: its rule, parameters, a failing and a fixed example.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub documentation: String,
    /// Sum of the namespaces' counts.
    pub counts: Counts,
    /// Namespaces where it is Unhealthy, sorted, at most 50.
    #[serde(default)]
    pub unhealthy_namespaces: Vec<String>,
    /// How many namespaces were left out of that list.
    #[serde(default)]
    pub unhealthy_namespaces_truncated: u32,
}
