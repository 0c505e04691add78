//! The cluster report's roll-up of namespace reports, kept incrementally: a namespace's report is added, removed or replaced without a pass over the others.

use super::types::*;
use crate::catalog::{CATALOG, index_of};
use std::collections::BTreeSet;

/// Number of [`State`] variants (the index of a state in a row's tally is `state as usize`).
const STATES: usize = 6;

/// One catalogue row's roll-up over the namespaces.
#[derive(Debug, Clone, Default)]
struct Row {
    counts: Counts,
    /// Namespaces whose entry is in each state, by `State as usize`.
    states: [u32; STATES],
    /// Every namespace whose entry is Unhealthy (sorted; the report lists the first few).
    unhealthy: BTreeSet<String>,
}

/// Sums of namespace reports for the cluster report: add, remove or replace one namespace's report
/// at a time (reports need not stay in memory; the operator replaces one report per flush).
#[derive(Debug, Clone, Default)]
pub struct Rollup {
    namespaces: u32,
    rows: Vec<Row>,
    summary: Summary,
}

/// The catalogue index of `id`, looked for from `from` on first (a report's entries are in catalogue order).
fn index_from(id: &str, from: usize) -> Option<usize> {
    CATALOG.get(from..).and_then(|rest| rest.iter().position(|r| r.id == id)).map(|p| p + from).or_else(|| index_of(id))
}

impl Rollup {
    /// Adds one namespace's report.
    pub fn add(&mut self, ns: &str, st: &ReportStatus) {
        if self.rows.is_empty() {
            self.rows = vec![Row::default(); CATALOG.len()];
        }
        self.namespaces += 1;
        self.each_row(st, |row, e| {
            for (to, by) in count_pairs(&mut row.counts, &e.counts) {
                *to += by;
            }
            row.states[e.state as usize] += 1;
            if e.state == State::Unhealthy {
                row.unhealthy.insert(ns.to_string());
            }
        });
        add_resource_counts(&mut self.summary, &st.summary);
    }

    /// Removes one namespace's report, the same one that was added for `ns`.
    pub fn remove(&mut self, ns: &str, st: &ReportStatus) {
        if self.rows.is_empty() {
            return;
        }
        self.namespaces = self.namespaces.saturating_sub(1);
        self.each_row(st, |row, e| {
            for (to, by) in count_pairs(&mut row.counts, &e.counts) {
                *to = to.saturating_sub(by);
            }
            let n = &mut row.states[e.state as usize];
            *n = n.saturating_sub(1);
            if e.state == State::Unhealthy {
                row.unhealthy.remove(ns);
            }
        });
        sub_resource_counts(&mut self.summary, &st.summary);
    }

    /// Calls `f` with the catalogue row of each of the report's entries (found from the previous
    /// entry's position, as reports list them in catalogue order).
    fn each_row(&mut self, st: &ReportStatus, mut f: impl FnMut(&mut Row, &RecommendationEntry)) {
        let mut next = 0;
        for e in &st.recommendations {
            let Some(i) = index_from(&e.id, next) else { continue };
            next = i + 1;
            if let Some(row) = self.rows.get_mut(i) {
                f(row, e);
            }
        }
    }

    /// Replaces the report of `ns` (`old`, if it had one) by `new`.
    pub fn replace(&mut self, ns: &str, old: Option<&ReportStatus>, new: &ReportStatus) {
        if let Some(old) = old {
            self.remove(ns, old);
        }
        self.add(ns, new);
    }

    /// Namespaces added and not removed.
    pub fn namespaces(&self) -> u32 {
        self.namespaces
    }

    /// Summed counts of catalogue row `i`.
    pub fn counts(&self, i: usize) -> Counts {
        self.rows.get(i).map(|r| r.counts.clone()).unwrap_or_default()
    }

    /// Whether some namespace's entry for catalogue row `i` is in `state`.
    pub fn has_state(&self, i: usize, state: State) -> bool {
        self.rows.get(i).is_some_and(|r| r.states[state as usize] > 0)
    }

    /// The first `cap` namespaces (by name) where row `i` is Unhealthy, and how many there are in all.
    pub fn unhealthy_namespaces(&self, i: usize, cap: usize) -> (Vec<String>, u32) {
        match self.rows.get(i) {
            Some(r) => (r.unhealthy.iter().take(cap).cloned().collect(), r.unhealthy.len() as u32),
            None => (vec![], 0),
        }
    }

    /// Summed resource, severity and check counts of the namespace reports.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }
}

/// Adds `from`'s distinct-resource, severity and check counts (not recommendation states) to `to`.
pub fn add_resource_counts(to: &mut Summary, from: &Summary) {
    to.resources.evaluated += from.resources.evaluated;
    to.resources.unhealthy += from.resources.unhealthy;
    to.resources.exempt += from.resources.exempt;
    to.unhealthy_by_severity.high += from.unhealthy_by_severity.high;
    to.unhealthy_by_severity.medium += from.unhealthy_by_severity.medium;
    to.unhealthy_by_severity.low += from.unhealthy_by_severity.low;
    to.checks.healthy += from.checks.healthy;
    to.checks.unhealthy += from.checks.unhealthy;
    to.checks.exempt += from.checks.exempt;
    to.checks.not_evaluated += from.checks.not_evaluated;
}

/// Takes away what [`add_resource_counts`] added.
fn sub_resource_counts(to: &mut Summary, from: &Summary) {
    let sub = |a: &mut u32, b: u32| *a = a.saturating_sub(b);
    sub(&mut to.resources.evaluated, from.resources.evaluated);
    sub(&mut to.resources.unhealthy, from.resources.unhealthy);
    sub(&mut to.resources.exempt, from.resources.exempt);
    sub(&mut to.unhealthy_by_severity.high, from.unhealthy_by_severity.high);
    sub(&mut to.unhealthy_by_severity.medium, from.unhealthy_by_severity.medium);
    sub(&mut to.unhealthy_by_severity.low, from.unhealthy_by_severity.low);
    sub(&mut to.checks.healthy, from.checks.healthy);
    sub(&mut to.checks.unhealthy, from.checks.unhealthy);
    sub(&mut to.checks.exempt, from.checks.exempt);
    sub(&mut to.checks.not_evaluated, from.checks.not_evaluated);
}

/// Each count of a roll-up row beside the same count of one namespace's entry.
fn count_pairs<'a>(c: &'a mut Counts, d: &Counts) -> [(&'a mut u32, u32); 5] {
    [
        (&mut c.evaluated, d.evaluated),
        (&mut c.healthy, d.healthy),
        (&mut c.unhealthy, d.unhealthy),
        (&mut c.exempt, d.exempt),
        (&mut c.not_evaluated, d.not_evaluated),
    ]
}
