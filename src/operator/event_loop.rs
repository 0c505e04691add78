//! The operator's event loop: watch inputs into the verdict store, debounced flushes of namespace
//! and cluster reports to the writer, probes, Azure snapshots, config reloads and resyncs.

use super::activity::WatchActivity;
use super::debounce::Debouncer;
use super::http::Health;
use super::leader::Leadership;
use super::options::{LiveReports, RunOptions};
use super::probes::ProbeResults;
use super::relist::Relists;
use super::reload::{ConfigReloader, Reload};
use super::store::VerdictStore;
use super::telemetry::{CachedCounters, OperatorMetrics};
use super::watch::{self, Input, Kind, Obj, Op};
use super::writer::{Job, Msg, Scope};
use crate::azure::arm::ArmClient;
use crate::azure::rows::{ArmError, ArmSnapshot};
use crate::config::Config;
use crate::engine::NoVulnerabilityData;
use crate::report::build::{BuildOptions, Rollup, cluster_report};
use crate::report::{Stamp, cluster_content_hash_mut, content_hash_mut};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, watch as tokio_watch};
use tracing::{error, info, info_span, warn};

mod flush;

/// Key of the cluster report in the debouncer (no namespace can be named "").
const CLUSTER: &str = "";

/// The loop's state: configuration, verdicts, debouncer, relist bookkeeping and what it sends the writer.
pub(super) struct Operator {
    pub(super) client: kube::Client,
    pub(super) cfg: Config,
    pub(super) reloader: Option<ConfigReloader>,
    pub(super) store: VerdictStore,
    pub(super) debouncer: Debouncer,
    pub(super) relists: Relists,
    pub(super) syncing: bool,
    pub(super) full_pass: bool,
    pub(super) report_namespaces: HashSet<String>,
    pub(super) live: Arc<LiveReports>,
    /// Content hash of each namespace report in `live` without its Ready condition (tells whether the cluster report must follow).
    pub(super) report_hashes: HashMap<String, String>,
    /// The cluster report's roll-up of the namespace reports in `live`, updated as each is replaced or removed.
    pub(super) rollup: Rollup,
    pub(super) probes: ProbeResults,
    /// The probes have answered once: the cluster report waits for them (written once per start).
    pub(super) probed: bool,
    /// ... but not beyond this instant: probes that hang must not keep the cluster report away.
    pub(super) probe_wait_until: std::time::Instant,
    /// Leadership term in force when the watches were (re)started: their verdicts may be written in that term only.
    pub(super) watch_term: Option<u64>,
    /// Watch liveness seen on the wire.
    pub(super) activity: Arc<WatchActivity>,
    /// What `/healthz` answers.
    pub(super) health: Arc<Health>,
    pub(super) vulns: Result<(), String>,
    pub(super) azure: Option<ArmSnapshot>,
    pub(super) detected_subscription: Option<String>,
    pub(super) azure_task: Option<tokio::task::JoinHandle<()>>,
    pub(super) azure_tx: mpsc::UnboundedSender<ArmSnapshot>,
    pub(super) writer: mpsc::UnboundedSender<Msg>,
    /// The OpenReports writer, when `--openreports` is on.
    pub(super) openreports: Option<mpsc::UnboundedSender<super::openreports::OrMsg>>,
    /// UIDs of reported workloads (kept only with `--openreports`).
    pub(super) uids: super::openreports::Uids,
    pub(super) metrics: OperatorMetrics,
    /// `metrics.watch_events` and `metrics.evaluations`, looked up once per label values.
    pub(super) event_counts: CachedCounters<2>,
    pub(super) evaluation_counts: CachedCounters<1>,
    pub(super) ready: Arc<AtomicBool>,
    pub(super) leadership: Leadership,
    pub(super) probe_now: mpsc::UnboundedSender<()>,
    pub(super) opts: RunOptions,
    /// Start of the current full evaluation pass: the reports' `Ready` condition.
    pub(super) pass_at: jiff::Timestamp,
}

/// A status serialized once, to be shared by the writer's queue and memory of what it wants.
fn raw<T: serde::Serialize>(status: &T) -> Arc<serde_json::value::RawValue> {
    match serde_json::value::to_raw_value(status) {
        Ok(r) => Arc::from(r),
        Err(_) => Arc::from(serde_json::value::RawValue::from_string("{}".into()).unwrap_or_default()),
    }
}

fn std_now() -> std::time::Instant {
    std::time::Instant::now()
}

impl Operator {
    pub(super) fn start_watches(&mut self) -> BoxStream<'static, Input> {
        let (stream, count) = watch::start(&self.client, &self.opts.reach, self.vulns.is_ok());
        self.relists = Relists::new(count);
        self.watch_term = self.leadership.term();
        self.store = VerdictStore::new();
        self.store.set_vulnerability_source(Some(self.vulns.clone()));
        for ns in self.opts.reach.listed() {
            self.store.apply_namespace(ns, &self.cfg);
        }
        self.syncing = true;
        self.pass_at = jiff::Timestamp::now();
        stream
    }

    pub(super) async fn run(
        mut self,
        mut stop: tokio_watch::Receiver<bool>,
        mut probe_rx: mpsc::UnboundedReceiver<ProbeResults>,
        mut azure_rx: mpsc::UnboundedReceiver<ArmSnapshot>,
    ) {
        let mut events = self.start_watches();
        self.start_azure();
        let mut leadership = self.leadership.clone();
        let mut resync = tokio::time::interval(self.opts.resync_interval);
        resync.tick().await;
        let mut reload = tokio::time::interval(self.opts.config_poll);
        let mut liveness = tokio::time::interval(super::activity::tick(self.opts.stall_timeout));
        let mut restarted = tokio::time::Instant::now();
        loop {
            let deadline = if self.syncing { None } else { self.debouncer.next_deadline().map(tokio::time::Instant::from_std) };
            tokio::select! {
                input = events.next() => match input {
                    Some(i) => self.on_input(i),
                    None => events = self.start_watches(),
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                    let due = self.debouncer.due(std_now());
                    self.flush(due);
                }
                Some(p) = probe_rx.recv() => {
                    if p.vulnerability_reports.is_ok() != self.vulns.is_ok() {
                        info!(available = p.vulnerability_reports.is_ok(), "VulnerabilityReports changed availability; re-evaluating");
                        self.vulns = p.vulnerability_reports.clone();
                        events = self.start_watches();
                    } else if p.vulnerability_reports != self.vulns {
                        self.vulns = p.vulnerability_reports.clone();
                        self.store.set_vulnerability_source(Some(self.vulns.clone()));
                    }
                    if p != self.probes || !self.probed {
                        self.probes = p;
                        self.probed = true;
                        self.debouncer.touch(CLUSTER, std_now());
                    }
                }
                Some(snap) = azure_rx.recv() => {
                    if self.azure.as_ref() != Some(&snap) {
                        info!(subscription = %snap.subscription, "Azure Resource Manager data changed");
                        self.azure = Some(snap);
                        self.debouncer.touch(CLUSTER, std_now());
                    }
                }
                // The gauge is set after every turn: leadership also lapses without a notification.
                _ = leadership.changed() => if self.new_term() {
                    events = self.start_watches();
                },
                _ = liveness.tick() => if self.watches_stalled(&mut restarted) {
                    events = self.start_watches();
                },
                _ = reload.tick() => {
                    if self.poll_config() {
                        events = self.start_watches();
                        self.start_azure();
                    }
                }
                _ = resync.tick() => self.resync(),
                _ = stop.wait_for(|s| *s) => break,
            }
            self.metrics.leader.set(i64::from(self.leadership.is_leader()));
        }
        let pending = self.debouncer.drain();
        if !self.syncing {
            self.flush(pending);
        }
        if let Some(t) = self.azure_task.take() {
            t.abort();
        }
        let _ = self.writer.send(Msg::Finish);
        info!("operator stopping");
    }

    /// (Re)starts the Azure reads for the configuration in force.
    fn start_azure(&mut self) {
        if let Some(t) = self.azure_task.take() {
            t.abort();
        }
        self.azure = None;
        let Some(az) = self.cfg.azure.clone() else { return };
        let Some(subscription) = az.subscription_id.clone().or_else(|| self.detected_subscription.clone()) else { return };
        let factory = self.opts.arm_factory.clone();
        let (tx, every) = (self.azure_tx.clone(), self.opts.azure_poll);
        self.azure_task = Some(tokio::spawn(async move {
            let made = match factory {
                Some(f) => (f.0)(&az),
                None => crate::azure::arm::http_client(None)
                    .map_err(|e| e.to_string())
                    .and_then(|http| crate::azure::auth::credential(&az, None).map(|c| ArmClient::new(&az, c, http))),
            };
            loop {
                let snap = match &made {
                    Ok(arm) => arm.snapshot(&az, &subscription).await,
                    Err(e) => {
                        ArmSnapshot::unavailable(&subscription, ArmError::Failed { what: "Azure credentials".into(), detail: e.clone() })
                    }
                };
                if tx.send(snap).is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        }));
    }

    fn resync(&mut self) {
        let _span = info_span!("resync").entered();
        let now = std_now();
        let all: Vec<String> = self.store.namespaces().cloned().collect();
        for ns in &all {
            self.debouncer.touch(ns, now);
        }
        self.debouncer.touch(CLUSTER, now);
        self.full_pass = true;
        self.pass_at = jiff::Timestamp::now();
        let _ = self.probe_now.send(());
    }

    /// Checks the configuration file; true when a new valid configuration is in force (re-evaluate everything).
    fn poll_config(&mut self) -> bool {
        let Some(r) = self.reloader.as_mut() else { return false };
        match r.poll() {
            Reload::Unchanged => false,
            Reload::Reloaded => {
                self.cfg = r.current().clone();
                self.metrics.config_reloads.with_label_values(&["success"]).inc();
                self.metrics.config_last_reload_ok.set(1);
                info!("configuration reloaded; re-evaluating everything");
                true
            }
            Reload::Rejected(e) => {
                self.metrics.config_reloads.with_label_values(&["failure"]).inc();
                self.metrics.config_last_reload_ok.set(0);
                error!(error = %e, "configuration rejected; the last good configuration stays in force");
                tokio::spawn(super::events::config_rejected(self.client.clone(), self.opts.lease.clone(), e.to_string()));
                false
            }
        }
    }

    fn on_input(&mut self, input: Input) {
        let (kind, id, op) = match input {
            Input::Watch(k, id, op) => (k, id, op),
            Input::Error(k, e) => {
                warn!(kind = k.label(), error = %e, "watch error; retrying");
                return;
            }
        };
        match op {
            Op::Init => {
                self.count_event(kind, "restarted");
                self.relists.begin(id);
            }
            Op::InitApply(obj) => {
                let known = self.relists.listed(id, obj.key());
                self.count_event(kind, if known { "modified" } else { "added" });
                self.apply(obj);
            }
            Op::InitDone => {
                for (ns, name) in self.relists.done(id) {
                    self.delete(kind, &ns, &name);
                }
                if self.syncing && self.relists.all_synced() {
                    self.initial_sync_done();
                }
            }
            Op::Apply(obj) => {
                let known = self.relists.applied(id, obj.key());
                self.count_event(kind, if known { "modified" } else { "added" });
                self.apply(obj);
            }
            Op::Delete(obj) => {
                let (ns, name) = obj.key();
                self.relists.deleted(id, &(ns.clone(), name.clone()));
                self.count_event(kind, "deleted");
                self.delete(kind, &ns, &name);
            }
        }
        let now = std_now();
        for ns in self.store.take_dirty() {
            self.debouncer.touch(&ns, now);
        }
    }

    fn count_event(&mut self, kind: Kind, t: &'static str) {
        self.event_counts.inc([kind.label(), t]);
    }

    fn evaluated(&mut self, kind: Kind, started: std::time::Instant) {
        self.evaluation_counts.inc([kind.label()]);
        self.metrics.evaluation_duration.observe(started.elapsed().as_secs_f64());
    }

    fn in_scope(&self, ns: &str) -> bool {
        self.opts.reach.includes(ns)
    }

    fn apply(&mut self, obj: Obj) {
        let started = std_now();
        match obj {
            Obj::Pod(p) => {
                if self.openreports.is_some() {
                    self.uids.pod(&p.metadata);
                }
                p.apply_to(&mut self.store, &self.cfg, &NoVulnerabilityData);
                self.evaluated(Kind::Pod, started);
            }
            Obj::Service(s) => {
                if self.openreports.is_some() {
                    self.uids.object("Service", &s.metadata);
                }
                self.store.apply_service(&s, &self.cfg);
                self.evaluated(Kind::Service, started);
            }
            Obj::Ingress(i) => {
                if self.openreports.is_some() {
                    self.uids.object("Ingress", &i.metadata);
                }
                self.store.apply_ingress(&i, &self.cfg);
                self.evaluated(Kind::Ingress, started);
            }
            Obj::Node(n) => {
                if self.detected_subscription.is_none()
                    && let Some(sub) =
                        n.spec.as_ref().and_then(|s| s.provider_id.as_deref()).and_then(crate::azure::subscription_of_provider_id)
                {
                    info!(subscription = %sub, "Azure subscription detected from the Nodes");
                    self.detected_subscription = Some(sub);
                    if self.cfg.azure.as_ref().is_some_and(|a| a.subscription_id.is_none()) {
                        self.start_azure();
                    }
                }
                self.store.apply_node(&n, &self.cfg);
                self.evaluated(Kind::Node, started);
                self.debouncer.touch(CLUSTER, started);
            }
            Obj::Namespace(name) => {
                if self.in_scope(&name) {
                    self.store.apply_namespace(&name, &self.cfg);
                }
            }
            Obj::Owner(ns, kind, name, controller, annotations, uid) => {
                if self.openreports.is_some() {
                    self.uids.insert(&ns, kind, &name, uid);
                }
                self.store.apply_owner(&ns, kind, &name, controller, annotations)
            }
            Obj::Report(ns, rv, hash) => {
                self.report_namespaces.insert(ns.clone());
                if !self.syncing && !self.store.has_namespace(&ns) {
                    let _ = self.writer.send(Msg::Remove(ns));
                    return;
                }
                let _ = self.writer.send(Msg::Observed { scope: Scope::Namespace(ns), rv, hash: Some(hash) });
            }
            Obj::ClusterReport(rv, hash) => {
                let _ = self.writer.send(Msg::Observed { scope: Scope::Cluster, rv, hash: Some(hash) });
            }
            Obj::VulnerabilityReport(_, name, report) => self.store.apply_vulnerability_report(&name, &report, &self.cfg),
        }
    }

    fn delete(&mut self, kind: Kind, ns: &str, name: &str) {
        self.uids.remove(ns, kind.label(), name);
        match kind {
            Kind::Pod => self.store.delete_pod(ns, name),
            Kind::Service => self.store.delete_object(ns, "Service", name),
            Kind::Ingress => self.store.delete_object(ns, "Ingress", name),
            Kind::Node => {
                self.store.delete_node(name);
                self.debouncer.touch(CLUSTER, std_now());
            }
            Kind::Namespace => {
                self.uids.remove_namespace(name);
                self.store.delete_namespace(name);
                self.report_hashes.remove(name);
                if let Ok(mut m) = self.live.namespaces.write()
                    && let Some(old) = m.remove(name)
                {
                    self.rollup.remove(name, &old);
                }
                let _ = self.writer.send(Msg::Forget(name.to_string()));
                self.debouncer.touch(CLUSTER, std_now());
            }
            Kind::ReplicaSet | Kind::Job | Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::CronJob => {
                self.store.delete_owner(ns, kind.label(), name)
            }
            Kind::Report => {
                self.report_namespaces.remove(ns);
                // Deleted (hash None): whatever gets created again is the next observed version.
                let _ = self.writer.send(Msg::Observed { scope: Scope::Namespace(ns.to_string()), rv: u64::MAX, hash: None });
            }
            Kind::ClusterReport => {
                let _ = self.writer.send(Msg::Observed { scope: Scope::Cluster, rv: u64::MAX, hash: None });
            }
            Kind::VulnerabilityReport => self.store.delete_vulnerability_report(ns, name),
        }
    }

    fn initial_sync_done(&mut self) {
        self.syncing = false;
        let reported: Vec<String> = self.store.namespaces().cloned().collect();
        info!(namespaces = reported.len(), "initial sync complete; writing reports");
        // Reports of namespaces that are gone, excluded or out of scope are removed.
        let keep: HashSet<&String> = reported.iter().collect();
        let stale: Vec<String> = self.report_namespaces.iter().filter(|ns| !keep.contains(ns)).cloned().collect();
        for ns in stale {
            let _ = self.writer.send(Msg::Remove(ns));
        }
        self.report_hashes.retain(|ns, _| keep.contains(ns));
        if let Ok(mut m) = self.live.namespaces.write() {
            let rollup = &mut self.rollup;
            m.retain(|ns, st| {
                let kept = keep.contains(ns);
                if !kept {
                    rollup.remove(ns, st);
                }
                kept
            });
        }
        self.debouncer.drain();
        let mut all = reported;
        all.push(CLUSTER.to_string());
        self.flush(all);
        self.ready.store(true, Ordering::Relaxed);
        self.pass_done();
    }
}
