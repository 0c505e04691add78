//! `kompliance status`: the reports the operator wrote, read through the kubeconfig and printed as the audit's table.

use crate::audit::table::{self, TableOptions};
use crate::report::{ClusterReportStatus, ComplianceClusterReport, ComplianceReport, ReportStatus};
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use serde_json::Value;
use std::time::Duration;

/// Which reports to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One namespace's report.
    Namespace(String),
    /// Every namespace's report and the cluster report.
    All,
}

/// Why the reports could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The API server could not be reached.
    #[error("cannot connect to the API server at {url}: {cause}")]
    Unreachable {
        /// The cluster URL.
        url: String,
        /// `connection refused`, ...
        cause: String,
    },
    /// The CRDs are not installed: kompliance is not deployed in this cluster.
    #[error(
        "the ComplianceReport CRD is not installed in the cluster at {url}: is kompliance deployed? (deploy/, or kompliance crd | kubectl apply -f -)"
    )]
    CrdsMissing {
        /// The cluster URL.
        url: String,
    },
    /// The API server answered with an error.
    #[error("listing {what} from {url}: {message}")]
    Api {
        /// What was read.
        what: &'static str,
        /// The cluster URL.
        url: String,
        /// The answer.
        message: String,
    },
    /// A report's status is not what this version of kompliance writes.
    #[error("{object}: .status is not a report this kompliance can read: {message}")]
    Decode {
        /// `ComplianceReport ns/kompliance`.
        object: String,
        /// The decoding error.
        message: String,
    },
}

/// One report as read, with what makes it stale (if anything).
#[derive(Debug, Clone)]
pub struct Fetched<S> {
    /// Namespace (empty for the cluster report).
    pub namespace: String,
    /// The report's status.
    pub status: S,
    /// Why it should not be trusted as current, when so.
    pub stale: Option<String>,
}

/// Every report of a scope.
#[derive(Debug, Clone, Default)]
pub struct Reports {
    /// Namespace reports, sorted by namespace.
    pub namespaces: Vec<Fetched<ReportStatus>>,
    /// The cluster report (only for [`Scope::All`], when written).
    pub cluster: Option<Fetched<ClusterReportStatus>>,
}

fn api_error(e: kube::Error, what: &'static str, url: &str) -> StatusError {
    match super::connect::connection_cause(&e) {
        Some(cause) => StatusError::Unreachable { url: url.to_string(), cause },
        None => match e {
            kube::Error::Api(s) if s.code == 404 => StatusError::CrdsMissing { url: url.to_string() },
            other => StatusError::Api { what, url: url.to_string(), message: super::scope::brief(&other) },
        },
    }
}

/// Why a report (its JSON) is stale at `now`: its `Ready` condition is not `True`, or its last
/// evaluation is older than `resync` (or missing). Reports without conditions are judged on
/// `status.lastEvaluated` alone.
pub fn staleness(obj: &Value, now: jiff::Timestamp, resync: Duration) -> Option<String> {
    let status = obj.get("status")?;
    let ready = status.get("conditions").and_then(Value::as_array).and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    if let Some(r) = ready
        && r["status"] != "True"
    {
        let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        return Some(
            format!("not Ready ({}): {}", field("reason"), field("message")).replace(" ()", "").trim_end_matches(": ").to_string(),
        );
    }
    let last = status.get("lastEvaluated").and_then(Value::as_str);
    let Some(at) = last.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return Some("never evaluated (no status.lastEvaluated)".into());
    };
    let age = now.duration_since(at);
    let resync_signed = jiff::SignedDuration::try_from(resync).unwrap_or(jiff::SignedDuration::MAX);
    (age > resync_signed).then(|| {
        let secs = age.as_secs().max(0).unsigned_abs();
        let shown = Duration::from_secs(if secs >= 60 { secs / 60 * 60 } else { secs });
        format!(
            "stale: last evaluated {at} ({} ago), longer ago than the resync interval ({}); is the operator running?",
            super::cli::Span(shown),
            super::cli::Span(resync)
        )
    })
}

fn name_of(o: &DynamicObject) -> String {
    format!("{}/{}", o.metadata.namespace.as_deref().unwrap_or(""), o.metadata.name.as_deref().unwrap_or(""))
}

/// Reads the reports of `scope`.
pub async fn fetch(
    client: &kube::Client,
    url: &str,
    scope: &Scope,
    now: jiff::Timestamp,
    resync: Duration,
) -> Result<Reports, StatusError> {
    let ar = ApiResource::erase::<ComplianceReport>(&());
    let api: Api<DynamicObject> = match scope {
        Scope::Namespace(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        Scope::All => Api::all_with(client.clone(), &ar),
    };
    let list = api.list(&ListParams::default()).await.map_err(|e| api_error(e, "compliancereports", url))?;
    let mut out = Reports::default();
    for o in list.items {
        let json = serde_json::to_value(&o).unwrap_or_default();
        let Some(status) = json.get("status") else { continue };
        let st: ReportStatus = serde_json::from_value(status.clone())
            .map_err(|e| StatusError::Decode { object: format!("ComplianceReport {}", name_of(&o)), message: e.to_string() })?;
        let namespace = o.metadata.namespace.clone().unwrap_or_default();
        out.namespaces.push(Fetched { namespace, status: st, stale: staleness(&json, now, resync) });
    }
    out.namespaces.sort_by(|a, b| a.namespace.cmp(&b.namespace));
    if *scope == Scope::All {
        let car = ApiResource::erase::<ComplianceClusterReport>(&());
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &car);
        if let Some(o) = api.get_opt("cluster").await.map_err(|e| api_error(e, "complianceclusterreports", url))?
            && let Some(status) = serde_json::to_value(&o).unwrap_or_default().get("status")
        {
            let json = serde_json::to_value(&o).unwrap_or_default();
            let st: ClusterReportStatus = serde_json::from_value(status.clone())
                .map_err(|e| StatusError::Decode { object: "ComplianceClusterReport cluster".into(), message: e.to_string() })?;
            out.cluster = Some(Fetched { namespace: String::new(), status: st, stale: staleness(&json, now, resync) });
        }
    }
    Ok(out)
}

/// Renders the reports as the audit's table: a section per namespace (a stale one says so under
/// its heading), the cluster's rows, and the totals.
pub fn render(reports: &Reports, scope: &Scope, o: &TableOptions) -> std::io::Result<Vec<u8>> {
    let mut out = vec![];
    for r in &reports.namespaces {
        let section = table::namespace_section(&r.namespace, &r.status, o)?;
        match &r.stale {
            Some(why) => {
                let cut = section.iter().position(|b| *b == b'\n').map_or(section.len(), |i| i + 1);
                out.extend_from_slice(&section[..cut]);
                for line in table::wrap(why, "  ! ", "    ", o.width) {
                    out.extend_from_slice(o.paint.wrap("33", &line).as_bytes());
                    out.push(b'\n');
                }
                out.extend_from_slice(&section[cut..]);
            }
            None => out.extend_from_slice(&section),
        }
    }
    let totals = match (scope, &reports.cluster) {
        (Scope::All, Some(c)) => {
            out.extend_from_slice(&table::cluster_section(&c.status, o)?);
            if let Some(why) = &c.stale {
                for line in table::wrap(why, "  ! ", "    ", o.width) {
                    out.extend_from_slice(o.paint.wrap("33", &line).as_bytes());
                    out.push(b'\n');
                }
            }
            format!(
                "kompliance status: {} namespaces, {}; last evaluated {}",
                c.status.namespaces,
                table::summary_line(&c.status.summary),
                c.status.last_evaluated.as_deref().unwrap_or("never")
            )
        }
        (Scope::All, None) => format!("kompliance status: {} namespace reports, no cluster report yet", reports.namespaces.len()),
        (Scope::Namespace(ns), _) if reports.namespaces.is_empty() => {
            format!("kompliance status: no ComplianceReport in namespace {ns} (excluded, empty, or not evaluated yet)")
        }
        (Scope::Namespace(_), _) => {
            let last = reports.namespaces.iter().filter_map(|r| r.status.last_evaluated.as_deref()).next().unwrap_or("never");
            format!("kompliance status: last evaluated {last}")
        }
    };
    out.push(b'\n');
    for line in table::wrap(&totals, "", "  ", o.width) {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_report_is_stale_after_the_resync_interval_or_when_not_ready() {
        let resync = Duration::from_secs(300);
        let now = at("2026-12-03T12:00:00Z");
        let fresh = json!({"status": {"lastEvaluated": "2026-12-03T11:58:00Z"}});
        assert_eq!(staleness(&fresh, now, resync), None);
        let old = json!({"status": {"lastEvaluated": "2026-12-03T10:00:00Z"}});
        let why = staleness(&old, now, resync).unwrap_or_default();
        assert!(why.starts_with("stale: last evaluated 2026-12-03T10:00:00Z (2h ago)") && why.contains("(5m)"), "{why}");
        let never = json!({"status": {}});
        assert!(staleness(&never, now, resync).is_some_and(|w| w.contains("never evaluated")));
        let not_ready = json!({"status": {"lastEvaluated": "2026-12-03T11:59:00Z", "conditions": [{"type": "Ready", "status": "False", "reason": "Stale", "message": "no evaluation for 20m"}]}});
        assert_eq!(staleness(&not_ready, now, resync).as_deref(), Some("not Ready (Stale): no evaluation for 20m"));
        let ready = json!({"status": {"lastEvaluated": "2026-12-03T11:59:00Z", "conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(staleness(&ready, now, resync), None);
    }
}
