//! The incremental roll-up gives the same cluster report as one rebuilt from every namespace report.

use super::build::{BuildOptions, ClusterFacts, LIST_CAP, Rollup, cluster_report};
use super::types::*;
use crate::catalog::{CATALOG, Lang};
use crate::config::Config;
use std::collections::BTreeMap;

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A namespace report's entry for catalogue row `id` (only what the roll-up reads varies).
fn entry(id: &str, state: State, counts: Counts) -> RecommendationEntry {
    let cfg = Config::default();
    let i = crate::catalog::index_of(id).unwrap_or(0);
    RecommendationEntry {
        id: id.to_string(),
        title: String::new(),
        severity: cfg.rec(i).severity,
        policy_definition_id: String::new(),
        documentation: String::new(),
        state,
        reason: None,
        counts,
        unhealthy: vec![],
        unhealthy_truncated: 0,
        exempt: vec![],
        exempt_truncated: 0,
    }
}

const STATES: [State; 6] =
    [State::Unhealthy, State::NotEvaluated, State::NotConfigured, State::Healthy, State::NotApplicable, State::Disabled];

/// A namespace report with random states and counts on a random subset of the namespaced rows.
fn random_report(rng: &mut Rng) -> ReportStatus {
    let mut st = ReportStatus::default();
    // Some reports lean Unhealthy so that more than LIST_CAP namespaces are listed for a row.
    let unhealthy_bias = rng.below(4) > 0;
    for r in CATALOG.iter().filter(|r| r.scope.is_namespaced()) {
        if rng.below(8) == 0 {
            continue;
        }
        let state = if unhealthy_bias && rng.below(8) > 0 { State::Unhealthy } else { STATES[rng.below(6) as usize] };
        let mut n = || rng.below(20) as u32;
        let counts = Counts { evaluated: n(), healthy: n(), unhealthy: n(), exempt: n(), not_evaluated: n() };
        st.recommendations.push(entry(r.id, state, counts));
    }
    let mut n = || rng.below(50) as u32;
    st.summary.resources = ResourceCounts { evaluated: n(), unhealthy: n(), exempt: n() };
    st.summary.unhealthy_by_severity = SeverityCounts { high: n(), medium: n(), low: n() };
    st.summary.checks = CheckCounts { healthy: n(), unhealthy: n(), exempt: n(), not_evaluated: n() };
    st
}

fn report(rollup: &Rollup) -> ClusterReportStatus {
    let opts = BuildOptions { lang: Lang::En, today: jiff::civil::date(2026, 12, 3), show_pods: true, message_cap: None };
    cluster_report(&ClusterFacts::default(), rollup, &Config::default(), &opts)
}

fn rebuilt(reports: &BTreeMap<String, ReportStatus>) -> Rollup {
    let mut r = Rollup::default();
    for (ns, st) in reports {
        r.add(ns, st);
    }
    r
}

#[test]
fn replacing_and_removing_reports_one_at_a_time_matches_a_rollup_rebuilt_from_all_of_them() {
    let names: Vec<String> = (0..(2 * LIST_CAP + 20)).map(|i| format!("ns-{i:03}")).collect();
    for seed in 1..=3u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut reports: BTreeMap<String, ReportStatus> = BTreeMap::new();
        let mut incremental = Rollup::default();
        let mut listed_past_cap = false;
        for step in 0..800 {
            let ns = &names[rng.below(names.len() as u64) as usize];
            if rng.below(5) == 0 {
                if let Some(old) = reports.remove(ns) {
                    incremental.remove(ns, &old);
                }
            } else {
                let new = random_report(&mut rng);
                incremental.replace(ns, reports.get(ns), &new);
                reports.insert(ns.clone(), new);
            }
            let (got, want) = (report(&incremental), report(&rebuilt(&reports)));
            assert_eq!(got, want, "seed {seed}, step {step}: incremental roll-up differs from the rebuilt one");
            listed_past_cap |= want.namespaced.iter().any(|e| e.unhealthy_namespaces_truncated > 0);
        }
        assert!(listed_past_cap, "seed {seed}: the sequence never had more than {LIST_CAP} unhealthy namespaces in a row");
        assert_eq!(report(&incremental).namespaces as usize, reports.len());
    }
}

#[test]
fn a_namespace_unhealthy_before_and_after_its_report_is_replaced_stays_listed_once() {
    let unhealthy = |n: u32| ReportStatus {
        recommendations: CATALOG
            .iter()
            .filter(|r| r.scope.is_namespaced())
            .map(|r| entry(r.id, State::Unhealthy, Counts { unhealthy: n, ..Default::default() }))
            .collect(),
        ..Default::default()
    };
    let mut r = Rollup::default();
    r.replace("a", None, &unhealthy(1));
    r.replace("a", Some(&unhealthy(1)), &unhealthy(3));
    let got = report(&r);
    let row = &got.namespaced[0];
    assert_eq!((row.unhealthy_namespaces.clone(), row.counts.unhealthy, row.state), (vec!["a".to_string()], 3, State::Unhealthy));
    assert_eq!(got.namespaces, 1);
}
