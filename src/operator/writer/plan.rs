//! The report writer's decisions, without I/O or clocks of its own: what the operator wants on the
//! server, what the server was last seen to hold, and which write, removal or verification is due
//! at the instant it is given. The async shell (`writer.rs`) runs what it says and feeds back results.

use crate::operator::scope::Scope;
use crate::report::LazyHash;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// A report to have on the server: its status as JSON and its content hash.
#[derive(Debug, Clone)]
pub struct Job {
    /// Which report.
    pub scope: Scope,
    /// The status, serialized once (shared, not re-parsed).
    pub status: Arc<RawValue>,
    /// Content hash of the status (leaves out timestamps and versions).
    pub hash: String,
    /// Leadership term whose evaluation made it (see `Leadership::term`; 0: made while not leading):
    /// only a job of the current term is written, so a new leader writes only its own fresh verdicts.
    pub term: u64,
}

/// What the writer is told.
#[derive(Debug)]
pub enum Msg {
    /// Make the server hold this report.
    Write(Job),
    /// A report as seen on the server by the watch (None: deleted), with its resourceVersion.
    Observed {
        /// Which report.
        scope: Scope,
        /// Its resourceVersion.
        rv: u64,
        /// Content hash of its status (computed only if needed), None when it was deleted.
        hash: Option<LazyHash>,
    },
    /// The report of this namespace must not exist (namespace excluded or out of scope).
    Remove(String),
    /// The namespace is gone, and its report with it: forget it, delete nothing.
    Forget(String),
    /// A full evaluation pass ended at Unix time `at` and its reports (of leadership term `term`) were
    /// sent: verify them on the server, then advance `kompliance_last_evaluation_timestamp_seconds`
    /// once every write landed. A pass of another term than the current one does not count.
    PassDone {
        /// End of the pass, Unix seconds.
        at: f64,
        /// Term of its reports (see [`Job::term`]).
        term: u64,
    },
    /// Write everything pending now and stop.
    Finish,
}

/// What to do next, as answered by [`Plan::next`].
#[derive(Debug, Clone)]
pub enum Step {
    /// Delete the report of this namespace (absent counts as done), then tell [`Plan::removed`].
    Remove(String),
    /// List the reports on the server, then tell [`Plan::verified`] or [`Plan::verify_failed`].
    Verify,
    /// Apply this report (first its object when `create`: not known on the server), then tell
    /// [`Plan::written`].
    Write {
        /// The report.
        job: Job,
        /// Whether the object itself must be applied before its status.
        create: bool,
    },
    /// The server already holds this content: count the write as `unchanged`.
    Unchanged(Scope),
    /// Every write of the verified pass landed: the evaluation timestamp becomes this.
    Landed(f64),
    /// Nothing due now (see [`Plan::wake`] for when something will be).
    Idle,
}

/// How one write ended, as the shell saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteResult {
    /// Applied; the server's resourceVersion of the report.
    Applied(u64),
    /// 409 Conflict.
    Conflict,
    /// 429 Too Many Requests, with its Retry-After in seconds (0: none given).
    Throttled(u32),
    /// 404: the report was deleted between the object and the status write.
    NotFound,
    /// Any other error.
    Failed,
    /// No answer in time.
    TimedOut,
    /// Leadership lapsed before the write was sent: nothing was written.
    NotLeader,
}

/// A write's result in `kompliance_report_writes_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written.
    Applied,
    /// Not written: the server held that content already.
    Unchanged,
    /// 409.
    Conflict,
    /// 429.
    Throttled,
    /// Any other failure.
    Error,
}

impl Outcome {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Conflict => "conflict",
            Outcome::Throttled => "throttled",
            Outcome::Error => "error",
        }
    }
}

/// What [`Plan::written`] counts, and when the write is tried again (None: it landed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The metric outcome.
    pub outcome: Outcome,
    /// Delay before the next attempt.
    pub retry_in: Option<Duration>,
}

/// Wait before retrying a write or a verification after a timeout.
const TIMEOUT_RETRY: Duration = Duration::from_millis(500);

/// Wait after the `attempts`-th failure: 200 ms doubling, at most 10 s.
fn backoff(attempts: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempts.min(6))).min(Duration::from_secs(10))
}

/// A pass waiting for its reports to be verified and written.
#[derive(Debug)]
struct Pass {
    at: f64,
    term: u64,
    verified: bool,
    not_before: Instant,
    attempts: u32,
}

/// A write to do, not before an instant.
#[derive(Debug)]
struct Pending {
    job: Job,
    attempts: u32,
    not_before: Instant,
}

/// The writer's state.
#[derive(Debug, Default)]
pub struct Plan {
    /// The current leadership term (None: not leading).
    term: Option<u64>,
    pass: Option<Pass>,
    /// resourceVersion and content hash of what the server holds, as last written or observed.
    on_server: HashMap<Scope, (u64, String)>,
    /// What was last wanted on the server, per report.
    last: HashMap<Scope, Job>,
    pending: BTreeMap<Scope, Pending>,
    /// The write handed out by [`Plan::next`] and not yet answered.
    in_flight: Option<Pending>,
    removals: Vec<String>,
}

impl Plan {
    /// Leadership is now in this term (None: not leading); only jobs of the current term are written.
    pub fn set_term(&mut self, term: Option<u64>) {
        self.term = term;
    }

    fn current(&self, job: &Job) -> bool {
        self.term == Some(job.term)
    }

    fn queue(&mut self, job: Job, now: Instant) {
        self.last.insert(job.scope.clone(), job.clone());
        let entry = Pending { job, attempts: 0, not_before: now };
        self.pending.insert(entry.job.scope.clone(), entry);
    }

    /// Takes in a message at `now`; false when it says to finish.
    pub fn handle(&mut self, msg: Msg, now: Instant) -> bool {
        match msg {
            Msg::Write(job) => self.queue(job, now),
            Msg::Observed { scope, rv, hash } => self.observed(scope, rv, hash, now),
            Msg::Forget(ns) => {
                let scope = Scope::Namespace(ns);
                self.pending.remove(&scope);
                self.last.remove(&scope);
                self.on_server.remove(&scope);
            }
            Msg::Remove(ns) => {
                let scope = Scope::Namespace(ns.clone());
                self.pending.remove(&scope);
                self.last.remove(&scope);
                self.removals.push(ns);
            }
            Msg::PassDone { at, term } => self.pass = Some(Pass { at, term, verified: false, not_before: now, attempts: 0 }),
            Msg::Finish => return false,
        }
        true
    }

    fn observed(&mut self, scope: Scope, rv: u64, hash: Option<LazyHash>, now: Instant) {
        let known_rv = self.on_server.get(&scope).map_or(0, |(r, _)| *r);
        if rv <= known_rv && hash.is_some() {
            return;
        }
        match hash {
            Some(h) => {
                self.on_server.insert(scope.clone(), (rv, h.get()));
            }
            None => {
                self.on_server.remove(&scope);
            }
        }
        // Someone else changed or deleted it: put back what we last wanted there (this term's verdicts only).
        if let Some(job) = self.last.get(&scope).cloned()
            && self.current(&job)
            && self.on_server.get(&scope).map(|(_, h)| h) != Some(&job.hash)
            && !self.pending.contains_key(&scope)
        {
            info!(scope = ?scope, "report changed or deleted on the server; putting it back");
            self.queue(job, now);
        }
    }

    /// What to do at `now`: a removal first, then a due verification, then the first due write of
    /// the current term; when none is due, the end of a verified pass whose writes all landed. One
    /// write at a time: while one is in flight (not yet told to [`Plan::written`]), nothing is due.
    pub fn next(&mut self, now: Instant) -> Step {
        if self.in_flight.is_some() {
            return Step::Idle;
        }
        if let Some(ns) = self.removals.pop() {
            return Step::Remove(ns);
        }
        if self.pass.as_ref().is_some_and(|p| self.term != Some(p.term)) {
            // Evaluated before this term: its reports are not the ones this leader writes.
            self.pass = None;
        }
        if self.pass.as_ref().is_some_and(|p| !p.verified && p.not_before <= now) {
            return Step::Verify;
        }
        let due = self.pending.iter().find(|(_, p)| p.not_before <= now && self.current(&p.job)).map(|(s, _)| s.clone());
        let Some(p) = due.and_then(|scope| self.pending.remove(&scope)) else {
            return self.landed();
        };
        if self.on_server.get(&p.job.scope).map(|(_, h)| h) == Some(&p.job.hash) {
            return Step::Unchanged(p.job.scope);
        }
        let step = Step::Write { job: p.job.clone(), create: !self.on_server.contains_key(&p.job.scope) };
        self.in_flight = Some(p);
        step
    }

    /// The verified pass's timestamp when nothing of it is left to write.
    fn landed(&mut self) -> Step {
        let done = self.removals.is_empty() && self.left() == 0;
        match self.pass.take_if(|p| p.verified && done) {
            Some(pass) => Step::Landed(pass.at),
            None => Step::Idle,
        }
    }

    /// The removal of `ns` handed out by [`Plan::next`] ended: done, or to be tried again.
    pub fn removed(&mut self, ns: String, done: bool) {
        if done {
            self.on_server.remove(&Scope::Namespace(ns));
        } else {
            self.removals.push(ns);
        }
    }

    /// The write handed out by [`Plan::next`] ended at `now`: what to count and when to retry it
    /// (None: there was no write in flight, or leadership lapsed and it waits for the next term).
    pub fn written(&mut self, result: WriteResult, now: Instant) -> Option<Written> {
        let mut p = self.in_flight.take()?;
        let scope = p.job.scope.clone();
        let (outcome, after) = match result {
            WriteResult::Applied(rv) => {
                self.on_server.insert(scope, (rv, p.job.hash.clone()));
                return Some(Written { outcome: Outcome::Applied, retry_in: None });
            }
            WriteResult::NotLeader => {
                self.pending.insert(scope, p);
                return None;
            }
            WriteResult::Conflict => (Outcome::Conflict, backoff(p.attempts)),
            WriteResult::Throttled(secs) => (Outcome::Throttled, Duration::from_secs(u64::from(secs.max(1)))),
            WriteResult::NotFound => {
                // Deleted between the two writes: create it again next time.
                self.on_server.remove(&scope);
                (Outcome::Error, backoff(p.attempts))
            }
            WriteResult::Failed => (Outcome::Error, backoff(p.attempts)),
            WriteResult::TimedOut => (Outcome::Error, TIMEOUT_RETRY),
        };
        p.attempts += 1;
        p.not_before = now + after;
        self.pending.insert(scope, p);
        Some(Written { outcome, retry_in: Some(after) })
    }

    /// The server's listing (resourceVersion per report) for the pass's verification: every report
    /// of this term missing there or differing from what was last written or seen is queued again
    /// (an API server restored from a backup or rebuilt empty keeps no watch informed).
    pub fn verified(&mut self, listed: &HashMap<Scope, u64>, now: Instant) {
        let wanted: Vec<Job> = self.last.values().filter(|j| self.current(j)).cloned().collect();
        for job in wanted {
            let known = self.on_server.get(&job.scope).map(|(rv, _)| *rv);
            if listed.get(&job.scope).copied() != known || known.is_none() {
                if known.is_some() {
                    warn!(scope = ?job.scope, "report missing or changed on the server; writing it again");
                }
                self.on_server.remove(&job.scope);
                if !self.pending.contains_key(&job.scope) {
                    self.queue(job, now);
                }
            }
        }
        if let Some(p) = self.pass.as_mut() {
            p.verified = true;
        }
    }

    /// Listing the reports failed at `now`: the verification is tried again after the returned delay.
    pub fn verify_failed(&mut self, now: Instant) -> Option<Duration> {
        let p = self.pass.as_mut()?;
        p.attempts += 1;
        let after = backoff(p.attempts);
        p.not_before = now + after;
        Some(after)
    }

    /// When the next write of this term or the verification is due (None: nothing waits).
    pub fn wake(&self) -> Option<Instant> {
        self.pending
            .values()
            .filter(|p| self.current(&p.job))
            .map(|p| p.not_before)
            .chain(self.pass.as_ref().filter(|p| !p.verified).map(|p| p.not_before))
            .min()
    }

    /// Writes of this term or removals are left to do.
    pub fn busy(&self) -> bool {
        self.left() > 0 || !self.removals.is_empty()
    }

    /// How many writes of this term are left to do.
    pub fn left(&self) -> usize {
        self.pending.values().chain(&self.in_flight).filter(|p| self.current(&p.job)).count()
    }
}

#[cfg(test)]
mod tests;
