//! Turns resource verdicts into report statuses: states, exact counts, sorted capped lists, roll-ups.

pub use super::rollup::Rollup;
use super::rollup::add_resource_counts;
use super::types::*;
use crate::catalog::links::recommendation_doc_url;
use crate::catalog::{CATALOG, Judge, Lang, Scope, Severity};
use crate::config::{Config, Effect};
use crate::exempt::{Judged, Verdict, judge};
use crate::model::ResourceRecord;
use jiff::civil::Date;
use std::collections::BTreeMap;

/// Most items kept in any list of a report.
pub const LIST_CAP: usize = 50;
/// Longest item message, in characters.
pub const MESSAGE_CAP: usize = 256;

/// Settings that shape a report but not the verdicts.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// Language of titles.
    pub lang: Lang,
    /// Today (UTC), for exemption expiry.
    pub today: Date,
    /// Show `pods` on items (the operator counts Pods; the audit does not).
    pub show_pods: bool,
    /// Longest item message: [`MESSAGE_CAP`] where the report's size bound needs it (the
    /// operator's objects); `None` keeps messages whole (the audit's output has no such bound).
    pub message_cap: Option<usize>,
}

/// Data for the cluster rows: judged resources, and why rows without data could not be judged.
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    /// Control plane, Nodes, managed cluster, registries, subscription.
    pub resources: Vec<ResourceRecord>,
    /// Catalogue index -> reason it is NotEvaluated when no resource carries its outcome.
    pub unavailable: BTreeMap<usize, String>,
}

#[derive(Default, Clone, Copy)]
struct ResFlags {
    judged: bool,
    exempt: bool,
    worst: Option<Severity>,
}

/// Truncates to [`MESSAGE_CAP`] characters, marking the cut.
pub fn cap_message(s: &str) -> String {
    cap_message_at(s, MESSAGE_CAP)
}

/// Truncates to `cap` characters, marking the cut.
fn cap_message_at(s: &str, cap: usize) -> String {
    if s.chars().count() <= cap {
        return s.to_string();
    }
    let mut out: String = s.chars().take(cap.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn item(rec: &ResourceRecord, findings: &[crate::checks::Finding], opts: &BuildOptions, with_ns: bool) -> ResourceItem {
    let mut containers: Vec<String> = findings.iter().filter_map(|f| f.container.as_deref().map(str::to_string)).collect();
    containers.sort();
    containers.dedup();
    let joined = findings.iter().map(|f| &*f.message).collect::<Vec<_>>().join("; ");
    ResourceItem {
        kind: rec.key.kind.clone(),
        name: rec.key.name.clone(),
        namespace: (with_ns && !rec.key.namespace.is_empty()).then(|| rec.key.namespace.clone()),
        pods: opts.show_pods.then_some(rec.pods).filter(|p| *p > 0),
        containers,
        message: match opts.message_cap {
            Some(cap) => cap_message_at(&joined, cap),
            None => joined,
        },
        exemption_reason: None,
        exemption_source: None,
        exempt_until: None,
    }
}

fn sort_cap(list: &mut Vec<ResourceItem>) -> u32 {
    list.sort_by(|a, b| (&a.kind, &a.name, &a.namespace).cmp(&(&b.kind, &b.name, &b.namespace)));
    let cut = list.len().saturating_sub(LIST_CAP) as u32;
    list.truncate(LIST_CAP);
    cut
}

fn entry_shell(i: usize, cfg: &Config, lang: Lang, state: State, reason: Option<String>) -> RecommendationEntry {
    let r = &CATALOG[i];
    RecommendationEntry {
        id: r.id.to_string(),
        title: r.title_in(lang).to_string(),
        severity: cfg.rec(i).severity,
        policy_definition_id: r.policy_definition_id(),
        documentation: recommendation_doc_url(r.id),
        state,
        reason,
        counts: Counts::default(),
        unhealthy: vec![],
        unhealthy_truncated: 0,
        exempt: vec![],
        exempt_truncated: 0,
    }
}

/// The state a row has before looking at resources, if configuration alone decides it (also
/// used by the OpenReports rendering, so both views agree).
pub(crate) fn config_state(i: usize, cfg: &Config, ns: Option<&str>) -> Option<(State, String)> {
    let rc = cfg.rec(i);
    if rc.effect == Effect::Disabled {
        return Some((State::Disabled, "effect is Disabled".into()));
    }
    if let Some(p) = rc.missing {
        return Some((State::NotConfigured, format!("parameter {p} is not set")));
    }
    if let Some(ns) = ns
        && let Some(why) = cfg.namespace_excluded(i, ns)
    {
        return Some((State::NotApplicable, why.into()));
    }
    None
}

fn kind_word(scope: Scope) -> &'static str {
    match scope {
        Scope::Pod => "no workloads in scope",
        Scope::Service => "no Services in scope",
        Scope::Ingress => "no Ingresses in scope",
        _ => "no resources in scope",
    }
}

struct RowCtx<'a> {
    cfg: &'a Config,
    opts: &'a BuildOptions,
    with_ns: bool,
}

/// Aggregates one recommendation over `resources`, updating per-resource flags.
fn row(i: usize, resources: &[Judged<'_>], ctx: &RowCtx<'_>, flags: &mut [ResFlags], unavailable: Option<&String>) -> RecommendationEntry {
    let r = &CATALOG[i];
    let mut e = entry_shell(i, ctx.cfg, ctx.opts.lang, State::Healthy, None);
    let mut first_missing: Option<String> = None;
    let severity = ctx.cfg.rec(i).severity;
    for (k, judged) in resources.iter().enumerate() {
        let Some(verdict) = judged.verdict(i) else {
            continue;
        };
        let rec = judged.resource;
        match verdict {
            Verdict::Healthy => {
                e.counts.healthy += 1;
                flags[k].judged = true;
            }
            Verdict::Exempt(findings, x) => {
                flags[k].judged = true;
                let mut it = item(rec, findings, ctx.opts, ctx.with_ns);
                e.counts.exempt += 1;
                flags[k].exempt = true;
                it.exemption_reason = Some(x.reason.clone());
                it.exemption_source = Some(x.source.to_string());
                it.exempt_until = x.until.clone();
                e.exempt.push(it);
            }
            Verdict::Unhealthy(findings) => {
                flags[k].judged = true;
                e.counts.unhealthy += 1;
                flags[k].worst = flags[k].worst.max(Some(severity));
                e.unhealthy.push(item(rec, findings, ctx.opts, ctx.with_ns));
            }
            Verdict::NotEvaluated(why) => {
                e.counts.not_evaluated += 1;
                first_missing.get_or_insert_with(|| why.to_string());
            }
        }
    }
    e.counts.evaluated = e.counts.healthy + e.counts.unhealthy + e.counts.exempt;
    e.unhealthy_truncated = sort_cap(&mut e.unhealthy);
    e.exempt_truncated = sort_cap(&mut e.exempt);
    let total = e.counts.evaluated + e.counts.not_evaluated;
    (e.state, e.reason) = if total == 0 {
        match unavailable {
            Some(why) => (State::NotEvaluated, Some(why.clone())),
            None => (State::NotApplicable, Some(kind_word(r.scope).into())),
        }
    } else if e.counts.unhealthy > 0 {
        (State::Unhealthy, None)
    } else if let Some(why) = first_missing {
        (State::NotEvaluated, Some(format!("{} of {total} resources not evaluated: {why}", e.counts.not_evaluated)))
    } else {
        (State::Healthy, None)
    };
    e
}

fn summarize(entries: &[RecommendationEntry], flags: &[ResFlags]) -> Summary {
    let mut s = Summary::default();
    for f in flags {
        s.resources.evaluated += f.judged as u32;
        s.resources.exempt += f.exempt as u32;
        if let Some(sev) = f.worst {
            s.resources.unhealthy += 1;
            match sev {
                Severity::High => s.unhealthy_by_severity.high += 1,
                Severity::Medium => s.unhealthy_by_severity.medium += 1,
                Severity::Low => s.unhealthy_by_severity.low += 1,
            }
        }
    }
    for e in entries {
        count_state(&mut s.recommendations, e.state);
        add_checks(&mut s.checks, &e.counts);
    }
    s.score = score(s.checks.healthy, s.checks.unhealthy);
    s
}

/// Adds one recommendation's resource counts to the check counts (a resource counted under a
/// recommendation is one check).
fn add_checks(to: &mut CheckCounts, c: &Counts) {
    to.healthy += c.healthy;
    to.unhealthy += c.unhealthy;
    to.exempt += c.exempt;
    to.not_evaluated += c.not_evaluated;
}

fn count_state(c: &mut StateCounts, state: State) {
    match state {
        State::Healthy => c.healthy += 1,
        State::Unhealthy => c.unhealthy += 1,
        State::NotApplicable => c.not_applicable += 1,
        State::NotConfigured => c.not_configured += 1,
        State::NotEvaluated => c.not_evaluated += 1,
        State::Disabled => c.disabled += 1,
    }
}

fn finish_warnings(mut w: Vec<String>) -> Vec<String> {
    w.sort();
    w.dedup();
    if w.len() > LIST_CAP {
        let more = w.len() - (LIST_CAP - 1);
        w.truncate(LIST_CAP - 1);
        w.push(format!("... and {more} more warnings"));
    }
    w
}

/// Builds the status of one namespace's report from the resources in it.
pub fn namespace_report(ns: &str, resources: &[ResourceRecord], cfg: &Config, opts: &BuildOptions) -> ReportStatus {
    let mut warnings = vec![];
    let judged: Vec<Judged<'_>> = resources.iter().map(|r| judge(cfg, r, opts.today, &mut warnings)).collect();
    let ctx = RowCtx { cfg, opts, with_ns: false };
    let mut flags = vec![ResFlags::default(); resources.len()];
    let mut entries = vec![];
    for (i, r) in CATALOG.iter().enumerate().filter(|(_, r)| r.scope.is_namespaced()) {
        let _ = r;
        entries.push(match config_state(i, cfg, Some(ns)) {
            Some((state, why)) => entry_shell(i, cfg, opts.lang, state, Some(why)),
            None => row(i, &judged, &ctx, &mut flags, None),
        });
    }
    ReportStatus {
        summary: summarize(&entries, &flags),
        recommendations: entries,
        warnings: finish_warnings(warnings),
        ..Default::default()
    }
}

/// Builds the cluster report from the cluster facts and the roll-up of every namespace report.
pub fn cluster_report(facts: &ClusterFacts, rollup: &Rollup, cfg: &Config, opts: &BuildOptions) -> ClusterReportStatus {
    let mut warnings = vec![];
    let judged: Vec<Judged<'_>> = facts.resources.iter().map(|r| judge(cfg, r, opts.today, &mut warnings)).collect();
    let ctx = RowCtx { cfg, opts, with_ns: true };
    let mut flags = vec![ResFlags::default(); facts.resources.len()];
    let mut entries = vec![];
    for (i, r) in CATALOG.iter().enumerate() {
        // Namespaced rows are rolled up; #24 is also judged on Azure registries, so it is listed too.
        if r.scope.is_namespaced() && !matches!(r.judge, Judge::Vulnerabilities) {
            continue;
        }
        entries.push(match config_state(i, cfg, None) {
            Some((state, why)) => entry_shell(i, cfg, opts.lang, state, Some(why)),
            None => row(i, &judged, &ctx, &mut flags, facts.unavailable.get(&i)),
        });
    }
    let mut summary = summarize(&entries, &flags);
    let mut rollups = vec![];
    for (i, r) in CATALOG.iter().enumerate().filter(|(_, r)| r.scope.is_namespaced()) {
        let counts = rollup.counts(i);
        let state = match config_state(i, cfg, None) {
            Some((s, _)) => s,
            None => [State::Unhealthy, State::NotEvaluated, State::Healthy]
                .into_iter()
                .find(|s| rollup.has_state(i, *s))
                .unwrap_or(State::NotApplicable),
        };
        count_state(&mut summary.recommendations, state);
        let (unhealthy_ns, total_unhealthy) = rollup.unhealthy_namespaces(i, LIST_CAP);
        let cut = total_unhealthy.saturating_sub(unhealthy_ns.len() as u32);
        rollups.push(RollupEntry {
            id: r.id.into(),
            title: r.title_in(opts.lang).into(),
            severity: cfg.rec(i).severity,
            state,
            documentation: recommendation_doc_url(r.id),
            counts,
            unhealthy_namespaces: unhealthy_ns,
            unhealthy_namespaces_truncated: cut,
        });
    }
    add_resource_counts(&mut summary, rollup.summary());
    summary.score = score(summary.checks.healthy, summary.checks.unhealthy);
    ClusterReportStatus {
        summary,
        namespaces: rollup.namespaces(),
        recommendations: entries,
        namespaced: rollups,
        warnings: finish_warnings(warnings),
        ..Default::default()
    }
}
