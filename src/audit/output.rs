//! Audit output: the human table, and the report objects as one `kind: List` in JSON or YAML.

use super::{AuditResult, noteworthy};
use crate::catalog::Lang;
use crate::report::{RecommendationEntry, State, Summary, cluster_object, namespace_object};
use std::fmt::Write as _;

/// The report objects the operator would write, as one `v1/List`.
pub fn list_value(result: &AuditResult) -> serde_json::Value {
    let mut items: Vec<serde_json::Value> =
        result.reports.iter().map(|(ns, s)| serde_json::to_value(namespace_object(ns, s.clone())).unwrap_or_default()).collect();
    items.push(serde_json::to_value(cluster_object(result.cluster.clone())).unwrap_or_default());
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// ANSI colours, or none.
#[derive(Debug, Clone, Copy)]
pub struct Paint(pub bool);

impl Paint {
    fn state(self, s: State) -> String {
        let code = match s {
            State::Unhealthy => "31;1",
            State::NotEvaluated | State::NotConfigured => "33",
            State::Healthy => "32",
            State::NotApplicable | State::Disabled => "2",
        };
        self.wrap(code, &format!("{:<13}", s.as_str()))
    }
    fn wrap(self, code: &str, text: &str) -> String {
        if self.0 { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
}

fn summary_line(s: &Summary) -> String {
    format!(
        "{} resources evaluated, {} unhealthy (High {}, Medium {}, Low {}), {} exempt",
        s.resources.evaluated,
        s.resources.unhealthy,
        s.unhealthy_by_severity.high,
        s.unhealthy_by_severity.medium,
        s.unhealthy_by_severity.low,
        s.resources.exempt
    )
}

fn rows(out: &mut String, entries: &[RecommendationEntry], paint: Paint, lang: Lang) {
    let shown: Vec<&RecommendationEntry> = entries.iter().filter(|e| noteworthy(e.state) || e.counts.exempt > 0).collect();
    let healthy = entries.iter().filter(|e| e.state == State::Healthy).count();
    let na = entries.iter().filter(|e| e.state == State::NotApplicable).count();
    if !shown.is_empty() {
        let _ = writeln!(out, "  {:<36} {:<8} {:<13} {:>9} {:>6}  TITLE", "RECOMMENDATION", "SEVERITY", "STATE", "UNHEALTHY", "EXEMPT");
    }
    for e in shown {
        let title = crate::catalog::by_id(&e.id).map_or(e.title.as_str(), |r| r.title_in(lang));
        let _ = writeln!(
            out,
            "  {:<36} {:<8} {} {:>9} {:>6}  {}",
            e.id,
            e.severity.as_str(),
            paint.state(e.state),
            e.counts.unhealthy,
            e.counts.exempt,
            title
        );
        if let Some(r) = &e.reason {
            let _ = writeln!(out, "      {}", paint.wrap("2", r));
        }
        for it in &e.unhealthy {
            let ns = it.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default();
            let _ = writeln!(out, "      {} {ns}{}/{}: {}", paint.wrap("31", "✗"), it.kind, it.name, it.message);
        }
        if e.unhealthy_truncated > 0 {
            let _ = writeln!(out, "      ... and {} more", e.unhealthy_truncated);
        }
        for it in &e.exempt {
            let until = it.exempt_until.as_deref().map(|u| format!(" until {u}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "      {} {}/{}: exempt ({}: {}{until})",
                paint.wrap("2", "~"),
                it.kind,
                it.name,
                it.exemption_source.as_deref().unwrap_or(""),
                it.exemption_reason.as_deref().unwrap_or("")
            );
        }
    }
    let _ = writeln!(out, "  {}", paint.wrap("2", &format!("{healthy} healthy, {na} not applicable")));
}

/// The human-readable table.
pub fn table(result: &AuditResult, paint: Paint, lang: Lang) -> String {
    let mut out = String::new();
    let c = &result.cluster;
    let _ = writeln!(out, "kompliance audit: {} namespaces, {}", c.namespaces, summary_line(&c.summary));
    let st = &result.stats;
    let skipped: u64 = st.skipped_kinds.values().sum();
    let _ = writeln!(
        out,
        "read {} objects; {} of kinds not judged, {} not Kubernetes objects, {} finished or mirror Pods, {} in excluded namespaces; {} errors, {} warnings",
        st.objects,
        skipped,
        st.not_objects,
        st.skipped_pods,
        st.excluded,
        result.errors.len(),
        result.warnings.len()
    );
    for (ns, s) in &result.reports {
        let _ = writeln!(out, "\nNAMESPACE {ns}: {}", summary_line(&s.summary));
        rows(&mut out, &s.recommendations, paint, lang);
        for w in &s.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
    }
    let _ = writeln!(out, "\nCLUSTER");
    rows(&mut out, &c.recommendations, paint, lang);
    out
}
