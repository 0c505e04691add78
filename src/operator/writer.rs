//! The report writer: server-side apply (field manager `kompliance`) of report objects and their
//! status, only when the content differs from what is on the server, with retries and backoff.
//! The decisions are [`plan::Plan`]'s (no I/O); this file runs the I/O they call for.

mod plan;

use super::leader::Leadership;
pub use super::scope::{Scope, brief, rv_of};
use super::slim_meta::Written;
use super::telemetry::OperatorMetrics;
use crate::report::{ComplianceClusterReport, ComplianceReport};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
pub use plan::{Job, Msg};
use plan::{Plan, Step, WriteResult};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Field manager of every write.
pub const FIELD_MANAGER: &str = "kompliance";

/// How the writer writes.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Longest one write may take (bounded further by the time left of certain leadership).
    pub timeout: Duration,
    /// The namespaces whose reports it writes (and the cluster report when cluster-wide).
    pub reach: super::reach::Reach,
}

/// The writer: its client and metrics, and the state machine deciding what to write.
pub struct Writer {
    client: kube::Client,
    metrics: OperatorMetrics,
    leadership: Leadership,
    settings: WriterSettings,
    plan: Plan,
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

/// The instant the plan reasons with (tokio's clock, so paused test time would hold for it too).
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Writer {
    /// A writer for `client`, writing only while `leadership` says so. `client` should not retry on
    /// its own (`kube::Config::default_retry` false): the writer honours Retry-After itself, and a
    /// retry inside the client could land after leadership lapsed.
    pub fn new(client: kube::Client, metrics: OperatorMetrics, leadership: Leadership, settings: WriterSettings) -> Self {
        Writer { client, metrics, leadership, settings, plan: Plan::default() }
    }

    /// The plan, told the current leadership term first.
    fn plan(&mut self) -> &mut Plan {
        self.plan.set_term(self.leadership.term());
        &mut self.plan
    }

    /// Runs until told to finish (then writes what is pending, within `grace`) or the channel closes.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>, grace: Duration) {
        let mut leadership = self.leadership.clone();
        loop {
            // Jobs of an earlier term wait for the event loop's fresh evaluation to replace them.
            let leader = self.leadership.is_leader();
            if leader && self.work_once().await {
                while let Ok(msg) = rx.try_recv() {
                    if !self.plan().handle(msg, now()) {
                        return self.finish(grace).await;
                    }
                }
                continue;
            }
            let wake = self.plan().wake().map(Instant::from_std);
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => if !self.plan().handle(m, now()) { return self.finish(grace).await },
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
        while self.plan().busy() && Instant::now() < deadline && self.leadership.is_leader() {
            if !self.work_once().await {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let left = self.plan().left();
        if left > 0 {
            warn!(left, "stopping with report writes pending");
        }
    }

    /// Does what the plan says is due now; false when nothing was done.
    async fn work_once(&mut self) -> bool {
        match self.plan().next(now()) {
            Step::Remove(ns) => {
                let done = self.remove(&ns).await;
                self.plan.removed(ns, done);
                done
            }
            Step::Verify => {
                self.verify().await;
                true
            }
            Step::Write { job, create } => {
                self.write(job, create).await;
                true
            }
            Step::Unchanged(scope) => {
                self.metrics.report_writes.with_label_values(&[scope.label(), plan::Outcome::Unchanged.label()]).inc();
                true
            }
            Step::Landed(at) => {
                self.metrics.last_evaluation.set(at);
                false
            }
            Step::Idle => false,
        }
    }

    /// Deletes the report of `ns`; true when it is gone.
    async fn remove(&self, ns: &str) -> bool {
        let api: Api<ComplianceReport> = Api::namespaced(self.client.clone(), ns);
        match api.delete("kompliance", &DeleteParams::default()).await {
            Ok(_) => info!(namespace = %ns, "report removed"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                warn!(namespace = %ns, error = %brief(&e), "removing report; will retry");
                return false;
            }
        }
        true
    }

    /// Lists the reports on the server and hands the listing to the plan.
    async fn verify(&mut self) {
        match super::verify::on_server(&self.client, &self.settings.reach, self.settings.timeout).await {
            Ok(listed) => self.plan().verified(&listed, now()),
            Err(e) => {
                if let Some(after) = self.plan().verify_failed(now()) {
                    warn!(error = %e, retry_in = ?after, "listing the reports to verify them; will retry");
                }
            }
        }
    }

    /// Writes `job`, tells the plan how it went and counts it.
    async fn write(&mut self, job: Job, create: bool) {
        let started = std::time::Instant::now();
        let (result, error) = match self.apply(&job, create).await {
            Ok(rv) => (WriteResult::Applied(rv), None),
            Err((result, error)) => (result, Some(error)),
        };
        let Some(written) = self.plan().written(result, now()) else { return };
        self.metrics.report_writes.with_label_values(&[job.scope.label(), written.outcome.label()]).inc();
        match (written.retry_in, error) {
            (None, _) => {
                self.metrics.write_duration.observe(started.elapsed().as_secs_f64());
                debug!(scope = ?job.scope, rv = ?result, "report applied");
            }
            (Some(after), error) => {
                warn!(scope = ?job.scope, error = error.as_deref().unwrap_or("unknown"), retry_in = ?after, "report write failed; will retry")
            }
        }
    }

    /// Applies the object (when `create`) and the status of `job`: its resourceVersion, or how it
    /// failed and why.
    async fn apply(&self, job: &Job, create: bool) -> Result<u64, (WriteResult, String)> {
        let remaining = self.leadership.remaining();
        if remaining.is_zero() {
            return Err((WriteResult::NotLeader, "not leading".to_string()));
        }
        // A write must land while leadership is certain, or not at all.
        let limit = remaining.min(self.settings.timeout);
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let (ar, name, ns) = match &job.scope {
            Scope::Namespace(ns) => (ApiResource::erase::<ComplianceReport>(&()), "kompliance", Some(ns.as_str())),
            Scope::Cluster => (ApiResource::erase::<ComplianceClusterReport>(&()), "cluster", None),
        };
        let api: Api<Written<DynamicObject>> = match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        };
        let mut meta = json!({"name": name});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        let result = tokio::time::timeout(limit, async {
            if create {
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
            Ok(Err(e)) => Err((classify(&e), brief(&e))),
            Err(_) => Err((WriteResult::TimedOut, format!("no answer within {limit:?}"))),
        }
    }
}

/// A write's error as the plan knows it.
fn classify(e: &kube::Error) -> WriteResult {
    match e {
        kube::Error::Api(s) if s.code == 409 => WriteResult::Conflict,
        kube::Error::Api(s) if s.code == 429 => WriteResult::Throttled(s.details.as_ref().map_or(0, |d| d.retry_after_seconds)),
        kube::Error::Api(s) if s.code == 404 => WriteResult::NotFound,
        _ => WriteResult::Failed,
    }
}
