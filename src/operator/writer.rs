//! The report writer: server-side apply (field manager `kompliance`) of report objects and their
//! status, only when the content differs from what is on the server, with retries and backoff.

use super::leader::Leadership;
pub use super::scope::{Scope, brief, rv_of};
use super::telemetry::OperatorMetrics;
use crate::report::{ComplianceClusterReport, ComplianceReport};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Field manager of every write.
pub const FIELD_MANAGER: &str = "kompliance";

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
        /// Content hash of its status, None when it was deleted.
        hash: Option<String>,
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

/// How the writer writes.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Longest one write may take (bounded further by the time left of certain leadership).
    pub timeout: Duration,
    /// The namespaces whose reports it writes (and the cluster report when cluster-wide).
    pub reach: super::reach::Reach,
}

/// A pass waiting for its reports to be verified and written.
struct Pass {
    at: f64,
    term: u64,
    verified: bool,
    not_before: Instant,
    attempts: u32,
}

struct Pending {
    job: Job,
    attempts: u32,
    not_before: Instant,
}

/// The writer's state.
pub struct Writer {
    client: kube::Client,
    metrics: OperatorMetrics,
    leadership: Leadership,
    settings: WriterSettings,
    pass: Option<Pass>,
    on_server: HashMap<Scope, (u64, String)>,
    last: HashMap<Scope, Job>,
    pending: BTreeMap<Scope, Pending>,
    removals: Vec<String>,
}

/// Why one write failed.
enum Failure {
    Retry(Duration),
    NotLeader,
}

/// The body of a status apply: the status goes out as it was serialized.
#[derive(Serialize, Debug)]
struct StatusBody<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: &'a str,
    metadata: Value,
    status: &'a RawValue,
}

impl Writer {
    /// A writer for `client`, writing only while `leadership` says so. `client` should not retry on
    /// its own (`kube::Config::default_retry` false): the writer honours Retry-After itself, and a
    /// retry inside the client could land after leadership lapsed.
    pub fn new(client: kube::Client, metrics: OperatorMetrics, leadership: Leadership, settings: WriterSettings) -> Self {
        Writer {
            client,
            metrics,
            leadership,
            settings,
            pass: None,
            on_server: HashMap::new(),
            last: HashMap::new(),
            pending: BTreeMap::new(),
            removals: vec![],
        }
    }

    /// Whether a job may be written now: made in the current term of leadership.
    fn current(&self, job: &Job) -> bool {
        self.leadership.term() == Some(job.term)
    }

    fn queue(&mut self, job: Job) {
        self.last.insert(job.scope.clone(), job.clone());
        let entry = Pending { job, attempts: 0, not_before: Instant::now() };
        self.pending.insert(entry.job.scope.clone(), entry);
    }

    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Write(job) => self.queue(job),
            Msg::Observed { scope, rv, hash } => {
                let known_rv = self.on_server.get(&scope).map_or(0, |(r, _)| *r);
                if rv <= known_rv && hash.is_some() {
                    return true;
                }
                match hash {
                    Some(h) => {
                        self.on_server.insert(scope.clone(), (rv, h));
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
                    self.queue(job);
                }
            }
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
            Msg::PassDone { at, term } => self.pass = Some(Pass { at, term, verified: false, not_before: Instant::now(), attempts: 0 }),
            Msg::Finish => return false,
        }
        true
    }

    /// Runs until told to finish (then writes what is pending, within `grace`) or the channel closes.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>, grace: Duration) {
        let mut leadership = self.leadership.clone();
        loop {
            // Jobs of an earlier term wait for the event loop's fresh evaluation to replace them.
            let leader = self.leadership.is_leader();
            if leader && self.work_once().await {
                while let Ok(msg) = rx.try_recv() {
                    if !self.handle(msg) {
                        return self.finish(grace).await;
                    }
                }
                continue;
            }
            let wake = self
                .pending
                .values()
                .filter(|p| self.current(&p.job))
                .map(|p| p.not_before)
                .chain(self.pass.as_ref().filter(|p| !p.verified).map(|p| p.not_before))
                .min();
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => if !self.handle(m) { return self.finish(grace).await },
                    None => return,
                },
                _ = leadership.changed() => {}
                _ = tokio::time::sleep_until(wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))), if leader && wake.is_some() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)), if !leader => {}
            }
        }
    }

    async fn finish(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while (self.pending.values().any(|p| self.current(&p.job)) || !self.removals.is_empty())
            && Instant::now() < deadline
            && self.leadership.is_leader()
        {
            if !self.work_once().await {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let left = self.pending.values().filter(|p| self.current(&p.job)).count();
        if left > 0 {
            warn!(left, "stopping with report writes pending");
        }
    }

    /// Does one due piece of work; false when nothing was due.
    async fn work_once(&mut self) -> bool {
        if let Some(ns) = self.removals.pop() {
            let api: Api<ComplianceReport> = Api::namespaced(self.client.clone(), &ns);
            match api.delete("kompliance", &DeleteParams::default()).await {
                Ok(_) => info!(namespace = %ns, "report removed"),
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => {
                    warn!(namespace = %ns, error = %brief(&e), "removing report; will retry");
                    self.removals.push(ns);
                    return false;
                }
            }
            self.on_server.remove(&Scope::Namespace(ns));
            return true;
        }
        let now = Instant::now();
        if self.pass.as_ref().is_some_and(|p| self.leadership.term() != Some(p.term)) {
            // Evaluated before this term: its reports are not the ones this leader writes.
            self.pass = None;
        }
        if self.pass.as_ref().is_some_and(|p| !p.verified && p.not_before <= now) {
            self.verify().await;
            return true;
        }
        let Some(scope) = self.pending.iter().find(|(_, p)| p.not_before <= now && self.current(&p.job)).map(|(s, _)| s.clone()) else {
            self.pass_landed();
            return false;
        };
        let Some(mut p) = self.pending.remove(&scope) else { return false };
        if self.on_server.get(&scope).map(|(_, h)| h) == Some(&p.job.hash) {
            self.metrics.report_writes.with_label_values(&[scope.label(), "unchanged"]).inc();
            return true;
        }
        let started = std::time::Instant::now();
        match self.write(&p.job, p.attempts).await {
            Ok(rv) => {
                self.metrics.write_duration.observe(started.elapsed().as_secs_f64());
                self.metrics.report_writes.with_label_values(&[scope.label(), "applied"]).inc();
                debug!(scope = ?scope, rv, "report applied");
                self.on_server.insert(scope, (rv, p.job.hash.clone()));
            }
            Err(Failure::NotLeader) => {
                self.pending.insert(scope, p);
            }
            Err(Failure::Retry(after)) => {
                p.attempts += 1;
                p.not_before = Instant::now() + after;
                self.pending.insert(scope, p);
            }
        }
        true
    }

    /// Advances the evaluation timestamp when the verified pass has nothing left to write.
    fn pass_landed(&mut self) {
        let Some(pass) = self.pass.as_ref().filter(|p| p.verified) else { return };
        if self.removals.is_empty() && !self.pending.values().any(|p| self.current(&p.job)) {
            self.metrics.last_evaluation.set(pass.at);
            self.pass = None;
        }
    }

    /// Lists the reports on the server and queues again every report of this term that is missing
    /// there or differs from what was last written or seen (an API server restored from a backup or
    /// rebuilt empty keeps no watch informed).
    async fn verify(&mut self) {
        match super::verify::on_server(&self.client, &self.settings.reach, self.settings.timeout).await {
            Ok(listed) => {
                let wanted: Vec<Job> = self.last.values().filter(|j| self.current(j)).cloned().collect();
                for job in wanted {
                    let known = self.on_server.get(&job.scope).map(|(rv, _)| *rv);
                    if listed.get(&job.scope).copied() != known || known.is_none() {
                        if known.is_some() {
                            warn!(scope = ?job.scope, "report missing or changed on the server; writing it again");
                        }
                        self.on_server.remove(&job.scope);
                        if !self.pending.contains_key(&job.scope) {
                            self.queue(job);
                        }
                    }
                }
                if let Some(p) = self.pass.as_mut() {
                    p.verified = true;
                }
            }
            Err(e) => {
                if let Some(p) = self.pass.as_mut() {
                    p.attempts += 1;
                    let after = Duration::from_millis(200u64.saturating_mul(1 << p.attempts.min(6))).min(Duration::from_secs(10));
                    p.not_before = Instant::now() + after;
                    warn!(error = %e, retry_in = ?after, "listing the reports to verify them; will retry");
                }
            }
        }
    }

    fn classify(&self, scope: &Scope, attempts: u32, e: kube::Error) -> Failure {
        let backoff = Duration::from_millis(200u64.saturating_mul(1 << attempts.min(6))).min(Duration::from_secs(10));
        let (result, after) = match &e {
            kube::Error::Api(s) if s.code == 409 => ("conflict", backoff),
            kube::Error::Api(s) if s.code == 429 => {
                let secs = s.details.as_ref().map(|d| d.retry_after_seconds).filter(|s| *s > 0).unwrap_or(1);
                ("throttled", Duration::from_secs(u64::from(secs)))
            }
            _ => ("error", backoff),
        };
        self.metrics.report_writes.with_label_values(&[scope.label(), result]).inc();
        warn!(scope = ?scope, error = %brief(&e), retry_in = ?after, "report write failed; will retry");
        Failure::Retry(after)
    }

    async fn write(&mut self, job: &Job, attempts: u32) -> Result<u64, Failure> {
        let remaining = self.leadership.remaining();
        if remaining.is_zero() {
            return Err(Failure::NotLeader);
        }
        // A write must land while leadership is certain, or not at all.
        let limit = remaining.min(self.settings.timeout);
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let (ar, name, ns) = match &job.scope {
            Scope::Namespace(ns) => (ApiResource::erase::<ComplianceReport>(&()), "kompliance", Some(ns.as_str())),
            Scope::Cluster => (ApiResource::erase::<ComplianceClusterReport>(&()), "cluster", None),
        };
        let api: Api<DynamicObject> = match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        };
        let mut meta = json!({"name": name});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        let exists = self.on_server.contains_key(&job.scope);
        let result = tokio::time::timeout(limit, async {
            if !exists {
                let mut labelled = meta.clone();
                labelled["labels"] = json!({"app.kubernetes.io/managed-by": "kompliance"});
                let object = json!({"apiVersion": ar.api_version, "kind": ar.kind, "metadata": labelled, "spec": {}});
                api.patch(name, &pp, &Patch::Apply(object)).await?;
            }
            let body = StatusBody { api_version: &ar.api_version, kind: &ar.kind, metadata: meta, status: &job.status };
            api.patch_status(name, &pp, &Patch::Apply(body)).await.map(|o| rv_of(&o.metadata))
        })
        .await;
        match result {
            Ok(Ok(rv)) => Ok(rv),
            Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
                // Deleted between the two writes: create it again next time.
                self.on_server.remove(&job.scope);
                Err(self.classify(&job.scope, attempts, kube::Error::Api(s)))
            }
            Ok(Err(e)) => Err(self.classify(&job.scope, attempts, e)),
            Err(_) => {
                self.metrics.report_writes.with_label_values(&[job.scope.label(), "error"]).inc();
                warn!(scope = ?job.scope, "report write timed out");
                Err(Failure::Retry(Duration::from_millis(500)))
            }
        }
    }
}
