//! The human table of reports (audit and `kompliance status`): fitted to a width, wrapped at word boundaries, coloured on demand.

use super::output::visible;
use crate::catalog::{Lang, Severity};
use crate::report::{ClusterReportStatus, RecommendationEntry, ReportStatus, State, Summary};
use std::io::{self, Write};
use unicode_width::UnicodeWidthStr;

/// The width used when none is given and standard output is not a terminal.
pub const DEFAULT_WIDTH: usize = 100;

/// The narrowest width the table lays out for (narrower requests are raised to it).
const MIN_WIDTH: usize = 40;

/// Indentation of the lines under a row (findings, fix, reason, title).
const DETAIL: &str = "    ";

/// ANSI colours, or none.
#[derive(Debug, Clone, Copy)]
pub struct Paint(pub bool);

impl Paint {
    /// `text` in the SGR colour `code`, or as it is.
    pub fn wrap(self, code: &str, text: &str) -> String {
        if self.0 { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
    fn state(self, s: State, padded: &str) -> String {
        let code = match s {
            State::Unhealthy => "31;1",
            State::NotEvaluated | State::NotConfigured => "33",
            State::Healthy => "32",
            State::NotApplicable | State::Disabled => "2",
        };
        self.wrap(code, padded)
    }
    fn severity(self, s: Severity, padded: &str) -> String {
        let code = match s {
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
        };
        self.wrap(code, padded)
    }
}

/// How the table is laid out.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// Columns available; lines are wrapped to it (a single word longer than a line is not broken).
    pub width: usize,
    /// Colours.
    pub paint: Paint,
    /// Title language.
    pub lang: Lang,
    /// Every row with its reason, instead of the compact default (failing and exempt rows in full, the rest in one line per state).
    pub all: bool,
    /// The reports come from an offline audit: cluster rows that need a live cluster or Azure are summarised in one line.
    pub offline: bool,
}

/// The width of `s` in terminal columns.
fn cols(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Wraps `text` at spaces into lines of at most `width` columns: the first line starts with
/// `first`, the others with `rest`. A word longer than a line stands alone, unbroken.
pub fn wrap(text: &str, first: &str, rest: &str, width: usize) -> Vec<String> {
    let mut lines = vec![];
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !empty && cols(&line) + 1 + cols(word) > width {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(line);
    lines
}

/// Writes `text` wrapped (see [`wrap`]); with `dim`, the text (not the indentation) is dimmed.
fn put(out: &mut Vec<u8>, text: &str, first: &str, rest: &str, width: usize, dim: Option<Paint>) -> io::Result<()> {
    for (i, line) in wrap(text, first, rest, width).iter().enumerate() {
        let indent = if i == 0 { first } else { rest };
        match dim {
            Some(p) if line.len() > indent.len() => writeln!(out, "{indent}{}", p.wrap("2", &line[indent.len()..]))?,
            _ => writeln!(out, "{line}")?,
        }
    }
    Ok(())
}

/// Writes `text` wrapped, with the first line's `first` prefix replaced by `painted` (same width).
fn put_marked(out: &mut Vec<u8>, text: &str, (first, painted): (&str, &str), rest: &str, width: usize) -> io::Result<()> {
    for (i, line) in wrap(text, first, rest, width).iter().enumerate() {
        match i {
            0 => writeln!(out, "{painted}{}", &line[first.len()..])?,
            _ => writeln!(out, "{line}")?,
        }
    }
    Ok(())
}

/// The counts of a report in one sentence.
pub fn summary_line(s: &Summary) -> String {
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

/// Failing rows first (most severe first), then rows with exempt resources, then the other states; catalogue order within each.
fn rank(e: &RecommendationEntry) -> (u8, std::cmp::Reverse<Severity>) {
    let group = match e.state {
        State::Unhealthy => 0,
        _ if e.counts.exempt > 0 => 1,
        State::NotEvaluated => 2,
        State::NotConfigured => 3,
        State::Disabled => 4,
        State::Healthy => 5,
        State::NotApplicable => 6,
    };
    (group, std::cmp::Reverse(if group == 0 { e.severity } else { Severity::Low }))
}

/// True for the rows shown in full in the compact table.
fn in_full(e: &RecommendationEntry, o: &TableOptions) -> bool {
    o.all || e.state == State::Unhealthy || e.counts.exempt > 0
}

fn title(e: &RecommendationEntry, lang: Lang) -> &str {
    crate::catalog::by_id(&e.id).map_or(e.title.as_str(), |r| r.title_in(lang))
}

/// Writes the rows of one report: a header, the rows shown in full with their details, one line
/// per other state, and the healthy count. `cluster` marks the cluster report's rows.
pub fn write_rows(out: &mut Vec<u8>, entries: &[RecommendationEntry], o: &TableOptions, cluster: bool) -> io::Result<()> {
    let width = o.width.max(MIN_WIDTH);
    let mut sorted: Vec<&RecommendationEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| rank(e));
    let full: Vec<&RecommendationEntry> = sorted.iter().copied().filter(|e| in_full(e, o)).collect();
    let idw = full.iter().map(|e| cols(&e.id)).max().unwrap_or(0).max("RECOMMENDATION".len());
    let head = format!("  {:<idw$} {:<8} {:<13} {:>9} {:>6}", "RECOMMENDATION", "SEVERITY", "STATE", "UNHEALTHY", "EXEMPT");
    // Too narrow for the columns: each row is its id, then its severity, state and counts.
    let columns = cols(&head) <= width;
    let titles_inline = columns && full.iter().all(|e| cols(&head) + 2 + cols(title(e, o.lang)) <= width);
    if !full.is_empty() && columns {
        writeln!(out, "{head}{}", if titles_inline { "  TITLE" } else { "" })?;
    }
    for e in &full {
        let t = title(e, o.lang);
        if columns {
            let row = format!("  {:<idw$} ", visible(&e.id));
            let sev = format!("{:<8}", e.severity.as_str());
            let state = format!("{:<13}", e.state.as_str());
            let counts = format!("{:>9} {:>6}", e.counts.unhealthy, e.counts.exempt);
            let inline = if titles_inline { format!("  {t}") } else { String::new() };
            writeln!(out, "{row}{} {} {counts}{inline}", o.paint.severity(e.severity, &sev), o.paint.state(e.state, &state))?;
        } else {
            writeln!(out, "  {}", visible(&e.id))?;
            let sev = format!("{DETAIL}{} ", e.severity.as_str());
            let painted = format!("{DETAIL}{} ", o.paint.severity(e.severity, e.severity.as_str()));
            let text = format!("{}, {} unhealthy, {} exempt", e.state.as_str(), e.counts.unhealthy, e.counts.exempt);
            put_marked(out, &text, (&sev, &painted), DETAIL, width)?;
        }
        if !titles_inline {
            put(out, t, DETAIL, DETAIL, width, Some(o.paint))?;
        }
        if let Some(r) = &e.reason {
            put(out, &visible(r), DETAIL, DETAIL, width, Some(o.paint))?;
        }
        for it in &e.unhealthy {
            let ns = it.namespace.as_deref().map(|n| format!("{}/", visible(n))).unwrap_or_default();
            let text = format!("{ns}{}/{}: {}", visible(&it.kind), visible(&it.name), visible(&it.message));
            let painted = format!("{DETAIL}{} ", o.paint.wrap("31", "✗"));
            put_marked(out, &text, (&format!("{DETAIL}✗ "), &painted), &format!("{DETAIL}  "), width)?;
        }
        if e.unhealthy_truncated > 0 {
            writeln!(out, "{DETAIL}  ... and {} more", e.unhealthy_truncated)?;
        }
        for it in &e.exempt {
            let until = it.exempt_until.as_deref().map(|u| format!(" until {}", visible(u))).unwrap_or_default();
            let source = visible(it.exemption_source.as_deref().unwrap_or(""));
            let text = format!(
                "{}/{}: exempt ({source}: {}{until})",
                visible(&it.kind),
                visible(&it.name),
                visible(it.exemption_reason.as_deref().unwrap_or(""))
            );
            put(out, &text, &format!("{DETAIL}~ "), &format!("{DETAIL}  "), width, None)?;
        }
        if e.exempt_truncated > 0 {
            writeln!(out, "{DETAIL}  ... and {} more exempt", e.exempt_truncated)?;
        }
        if e.state == State::Unhealthy
            && let Some(rec) = crate::catalog::by_id(&e.id)
        {
            put(out, rec.remediation, &format!("{DETAIL}fix: "), &format!("{DETAIL}     "), width, None)?;
        }
    }
    if !o.all {
        write_folded(out, &sorted, o, cluster, width)?;
    }
    let healthy = entries.iter().filter(|e| e.state == State::Healthy).count();
    let na = entries.iter().filter(|e| e.state == State::NotApplicable).count();
    writeln!(out, "  {}", o.paint.wrap("2", &format!("{healthy} healthy, {na} not applicable")))
}

/// The compact table's one line per state for the rows not shown in full (an offline audit's
/// cluster rows that need a live cluster or Azure get their own line).
fn write_folded(out: &mut Vec<u8>, sorted: &[&RecommendationEntry], o: &TableOptions, cluster: bool, width: usize) -> io::Result<()> {
    let folded = |pick: &dyn Fn(&RecommendationEntry) -> bool| -> Vec<String> {
        sorted.iter().filter(|e| !in_full(e, o) && pick(e)).map(|e| visible(&e.id).into_owned()).collect()
    };
    let needs_live = |e: &RecommendationEntry| o.offline && cluster && e.state == State::NotEvaluated;
    let live = folded(&|e| needs_live(e));
    if !live.is_empty() {
        let text = format!("{} need a live cluster or Azure (kompliance run): {}", live.len(), live.join(", "));
        let painted = format!("  {} ", o.paint.state(State::NotEvaluated, "NotEvaluated"));
        put_marked(out, &text, ("  NotEvaluated ", &painted), "    ", width)?;
    }
    for state in [State::NotEvaluated, State::NotConfigured, State::Disabled] {
        let ids = folded(&|e| e.state == state && !needs_live(e));
        if !ids.is_empty() {
            let text = format!("{} (--all for why)", ids.join(", "));
            let painted = format!("  {} ", o.paint.state(state, state.as_str()));
            put_marked(out, &text, (&format!("  {} ", state.as_str()), &painted), "    ", width)?;
        }
    }
    Ok(())
}

/// One namespace report's section.
pub fn namespace_section(ns: &str, s: &ReportStatus, o: &TableOptions) -> io::Result<Vec<u8>> {
    let mut buf = vec![];
    put(&mut buf, &format!("NAMESPACE {}: {}", visible(ns), summary_line(&s.summary)), "", "  ", o.width.max(MIN_WIDTH), None)?;
    write_rows(&mut buf, &s.recommendations, o, false)?;
    for w in &s.warnings {
        put(&mut buf, &visible(w), "  warning: ", "    ", o.width.max(MIN_WIDTH), None)?;
    }
    writeln!(buf)?;
    Ok(buf)
}

/// The cluster report's section (its rows; the totals line is the caller's).
pub fn cluster_section(c: &ClusterReportStatus, o: &TableOptions) -> io::Result<Vec<u8>> {
    let mut buf = vec![];
    writeln!(buf, "CLUSTER")?;
    write_rows(&mut buf, &c.recommendations, o, true)?;
    Ok(buf)
}

/// The width to lay out for: `--width`, else `COLUMNS`, else the terminal's, else [`DEFAULT_WIDTH`].
pub fn detect_width(flag: Option<usize>, stdout_is_terminal: bool) -> usize {
    if let Some(w) = flag {
        return w;
    }
    if let Some(w) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|w| *w > 0) {
        return w;
    }
    if stdout_is_terminal && let Some(w) = terminal_width() {
        return w;
    }
    DEFAULT_WIDTH
}

#[cfg(unix)]
fn terminal_width() -> Option<usize> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(not(unix))]
fn terminal_width() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_keeps_long_words_whole() {
        let lines = wrap("aaa bbb ccc dddddddddddd e", "> ", "  ", 10);
        assert_eq!(lines, vec!["> aaa bbb", "  ccc", "  dddddddddddd", "  e"]);
        assert_eq!(wrap("", "> ", "  ", 10), vec!["> "]);
    }

    #[test]
    fn wrap_counts_wide_characters_as_two_columns() {
        let lines = wrap("권한 있는 컨테이너를 피해야 함", "", "", 12);
        assert!(lines.iter().all(|l| cols(l) <= 12), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), "권한있는컨테이너를피해야함");
    }

    #[test]
    fn width_comes_from_the_flag_first() {
        assert_eq!(detect_width(Some(77), true), 77);
    }
}
