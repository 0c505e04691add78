//! Audit output, streamed: the human table, and the report objects as one `kind: List` in JSON or YAML.

use super::{AuditResult, noteworthy};
use crate::catalog::Lang;
use crate::report::{RecommendationEntry, State, Summary, cluster_object, namespace_object};
use std::borrow::Cow;
use std::io::{self, Write};

/// A string from the input as it may reach a terminal: control characters (C0 including newline
/// and carriage return, DEL, C1) and bidirectional overrides are shown escaped (`\x1b`, `\n`,
/// `\u{9b}`), so a hostile name can neither move the cursor nor forge a line.
pub fn visible(s: &str) -> Cow<'_, str> {
    let hidden = |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}');
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && hidden(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Writes the report objects the operator would write, as one pretty-printed JSON `v1/List`.
pub fn write_json(result: &AuditResult, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": [\n")?;
    result.write_reports(
        |ns, st| {
            let mut v = serde_json::to_vec_pretty(&namespace_object(ns, st.clone())).unwrap_or_default();
            v.extend_from_slice(b",\n");
            v
        },
        out,
    )?;
    serde_json::to_writer_pretty(&mut *out, &cluster_object(result.cluster().clone())).map_err(io::Error::other)?;
    out.write_all(b"\n  ]\n}\n")
}

fn yaml_item(item: &impl serde::Serialize) -> Vec<u8> {
    let text = crate::yaml::to_string(item);
    let mut out = Vec::with_capacity(text.len() + text.len() / 8);
    for (i, line) in text.lines().enumerate() {
        out.extend_from_slice(if i == 0 { b"- " } else { b"  " });
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Writes the same `v1/List` as YAML.
pub fn write_yaml(result: &AuditResult, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"apiVersion: v1\nkind: List\nitems:\n")?;
    result.write_reports(|ns, st| yaml_item(&namespace_object(ns, st.clone())), out)?;
    out.write_all(&yaml_item(&cluster_object(result.cluster().clone())))
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
    let score = s.score.map_or_else(|| "no score".to_string(), |n| format!("score {n}"));
    format!(
        "{score}, {} resources evaluated, {} unhealthy (High {}, Medium {}, Low {}), {} exempt",
        s.resources.evaluated,
        s.resources.unhealthy,
        s.unhealthy_by_severity.high,
        s.unhealthy_by_severity.medium,
        s.unhealthy_by_severity.low,
        s.resources.exempt
    )
}

fn rows(out: &mut Vec<u8>, entries: &[RecommendationEntry], paint: Paint, lang: Lang) -> io::Result<()> {
    let shown: Vec<&RecommendationEntry> = entries.iter().filter(|e| noteworthy(e.state) || e.counts.exempt > 0).collect();
    let healthy = entries.iter().filter(|e| e.state == State::Healthy).count();
    let na = entries.iter().filter(|e| e.state == State::NotApplicable).count();
    if !shown.is_empty() {
        writeln!(out, "  {:<36} {:<8} {:<13} {:>9} {:>6}  TITLE", "RECOMMENDATION", "SEVERITY", "STATE", "UNHEALTHY", "EXEMPT")?;
    }
    for e in shown {
        let title = crate::catalog::by_id(&e.id).map_or(e.title.as_str(), |r| r.title_in(lang));
        writeln!(
            out,
            "  {:<36} {:<8} {} {:>9} {:>6}  {}",
            e.id,
            e.severity.as_str(),
            paint.state(e.state),
            e.counts.unhealthy,
            e.counts.exempt,
            title
        )?;
        if let Some(r) = &e.reason {
            writeln!(out, "      {}", paint.wrap("2", &visible(r)))?;
        }
        for it in &e.unhealthy {
            let ns = it.namespace.as_deref().map(|n| format!("{}/", visible(n))).unwrap_or_default();
            writeln!(out, "      {} {ns}{}/{}: {}", paint.wrap("31", "✗"), visible(&it.kind), visible(&it.name), visible(&it.message))?;
        }
        if e.unhealthy_truncated > 0 {
            writeln!(out, "      ... and {} more", e.unhealthy_truncated)?;
        }
        for it in &e.exempt {
            let until = it.exempt_until.as_deref().map(|u| format!(" until {}", visible(u))).unwrap_or_default();
            let source = visible(it.exemption_source.as_deref().unwrap_or(""));
            writeln!(
                out,
                "      {} {}/{}: exempt ({source}: {}{until})",
                paint.wrap("2", "~"),
                visible(&it.kind),
                visible(&it.name),
                visible(it.exemption_reason.as_deref().unwrap_or(""))
            )?;
        }
        if e.exempt_truncated > 0 {
            writeln!(out, "      ... and {} more exempt", e.exempt_truncated)?;
        }
    }
    writeln!(out, "  {}", paint.wrap("2", &format!("{healthy} healthy, {na} not applicable")))
}

/// Writes the human-readable table: one section per namespace, the cluster, then totals.
pub fn write_table(result: &AuditResult, paint: Paint, lang: Lang, out: &mut dyn Write) -> io::Result<()> {
    let section = |ns: &str, s: &crate::report::ReportStatus| -> io::Result<Vec<u8>> {
        let mut buf = vec![];
        writeln!(buf, "NAMESPACE {}: {}", visible(ns), summary_line(&s.summary))?;
        rows(&mut buf, &s.recommendations, paint, lang)?;
        for w in &s.warnings {
            writeln!(buf, "  warning: {}", visible(w))?;
        }
        writeln!(buf)?;
        Ok(buf)
    };
    result.write_reports(|ns, s| section(ns, s).unwrap_or_default(), out)?;
    let c = result.cluster();
    writeln!(out, "CLUSTER")?;
    let mut buf = vec![];
    rows(&mut buf, &c.recommendations, paint, lang)?;
    out.write_all(&buf)?;
    let st = &result.stats;
    let skipped: u64 = st.skipped_kinds.values().sum();
    writeln!(out, "\nkompliance audit: {} namespaces, {}", c.namespaces, summary_line(&c.summary))?;
    writeln!(
        out,
        "read {} objects; {} of kinds not judged, {} not Kubernetes objects, {} finished or mirror Pods, {} in excluded namespaces; {} errors, {} warnings",
        st.objects,
        skipped,
        st.not_objects,
        st.skipped_pods,
        st.excluded,
        result.errors.len(),
        result.warnings.len()
    )
}
