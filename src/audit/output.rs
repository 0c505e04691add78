//! Audit output, streamed: the human table, and the report objects as one `kind: List` in JSON or YAML.

use super::AuditResult;
use crate::report::{cluster_object, namespace_object};
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

pub use super::table::{Paint, TableOptions, summary_line};

/// Writes the human-readable table: one section per namespace, the cluster, then totals. The
/// totals' warning count is every warning printed: the reports' (in the table) and the input's
/// (which the caller prints on stderr).
pub fn write_table(result: &AuditResult, o: &TableOptions, out: &mut dyn Write) -> io::Result<()> {
    let report_warnings = std::sync::atomic::AtomicUsize::new(0);
    let section = |ns: &str, s: &crate::report::ReportStatus| {
        report_warnings.fetch_add(s.warnings.len(), std::sync::atomic::Ordering::Relaxed);
        super::table::namespace_section(ns, s, o).unwrap_or_default()
    };
    result.write_reports(section, out)?;
    let c = result.cluster();
    out.write_all(&super::table::cluster_section(c, o)?)?;
    let st = &result.stats;
    let skipped: u64 = st.skipped_kinds.values().sum();
    writeln!(out)?;
    for line in
        super::table::wrap(&format!("kompliance audit: {} namespaces, {}", c.namespaces, summary_line(&c.summary)), "", "  ", o.width)
    {
        writeln!(out, "{line}")?;
    }
    let warnings = result.warnings.len() + report_warnings.load(std::sync::atomic::Ordering::Relaxed);
    let read = format!(
        "read {} objects; {} of kinds not judged, {} not Kubernetes objects, {} finished or mirror Pods, {} in excluded namespaces; {} errors, {} warnings",
        st.objects,
        skipped,
        st.not_objects,
        st.skipped_pods,
        st.excluded,
        result.errors.len(),
        warnings
    );
    for line in super::table::wrap(&read, "", "  ", o.width) {
        writeln!(out, "{line}")?;
    }
    if c.summary.resources.unhealthy > 0 {
        for line in super::table::wrap("`kompliance explain ID` shows a recommendation's rule, examples and fix.", "", "", o.width) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}
