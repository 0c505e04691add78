//! `kompliance run`: options, start-up (metrics server, writer, leader election, probes) and the
//! handle of a running operator; the loop itself is in event_loop.rs.

use super::activity::{ActivityLayer, WatchActivity};
use super::debounce::Debouncer;
use super::event_loop::Operator;
use super::leader::{self, Leadership, LeaseSettings};
use super::probes::{self, ProbeResults};
use super::reload::ConfigReloader;
use super::store::VerdictStore;
use super::telemetry::OperatorMetrics;
use super::writer::{Writer, WriterSettings};
use crate::azure::arm::ArmClient;
use crate::metrics::{ComplianceCollector, ReportSource, Snapshot};
use crate::report::{ClusterReportStatus, ReportStatus};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch as tokio_watch};
use tracing::info;

/// Default of `--write-timeout`: longest one report write may take.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the cluster report waits for the probes' first answer after start (or one `--probe-interval`, if shorter).
const PROBE_WAIT: Duration = Duration::from_secs(30);
/// Default of `--stall-timeout`: five bookmark periods of a Kubernetes API server (about one a minute).
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Settings of `kompliance run` (contract.md's operator flags).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Configuration file; None runs with the defaults.
    pub config: Option<PathBuf>,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub metrics_addr: String,
    /// Quiet window before a changed namespace is written.
    pub debounce: Duration,
    /// Longest a changed namespace waits.
    pub max_delay: Duration,
    /// Interval of full passes (exemption expiry, probes).
    pub resync_interval: Duration,
    /// Interval of the cluster probes.
    pub probe_interval: Duration,
    /// How often the configuration file is checked for changes.
    pub config_poll: Duration,
    /// Lease settings, or None to lead always.
    pub lease: Option<LeaseSettings>,
    /// Export namespace labels on the compliance gauges.
    pub namespace_label: bool,
    /// Restrict to these namespaces (empty: all).
    pub namespaces: Vec<String>,
    /// Time allowed after a stop request to write what is pending.
    pub grace: Duration,
    /// Interval of the Azure Resource Manager reads.
    pub azure_poll: Duration,
    /// Makes the ARM reader for an `azure:` configuration (None: the environment's credential and system roots).
    pub arm_factory: Option<ArmFactory>,
    /// Longest one report write may take; a 429's Retry-After is waited out between attempts, not within one.
    pub write_timeout: Duration,
    /// A watch that delivers nothing (no event, no bookmark) this long is restarted with a relist, and
    /// `/healthz` fails while a watch or the event loop is stalled this long.
    pub stall_timeout: Duration,
}

/// A function that makes the ARM reader for a configuration.
pub type MakeArm = dyn Fn(&crate::config::AzureConfig) -> Result<ArmClient, String> + Send + Sync;

/// Builds the Azure Resource Manager reader for a configuration (injected by tests).
#[derive(Clone)]
pub struct ArmFactory(pub Arc<MakeArm>);

impl std::fmt::Debug for ArmFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArmFactory")
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            config: None,
            metrics_addr: "0.0.0.0:8080".into(),
            debounce: Duration::from_secs(2),
            max_delay: Duration::from_secs(30),
            resync_interval: Duration::from_secs(300),
            probe_interval: Duration::from_secs(300),
            config_poll: Duration::from_secs(2),
            lease: None,
            namespace_label: true,
            namespaces: vec![],
            grace: Duration::from_secs(20),
            azure_poll: Duration::from_secs(15 * 60),
            arm_factory: None,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }
}

/// Why the operator could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration file is invalid at start-up.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The metrics server could not bind.
    #[error(transparent)]
    Bind(#[from] super::http::BindMetrics),
    /// Metrics could not be registered.
    #[error(transparent)]
    Metrics(#[from] super::telemetry::RegisterMetrics),
    /// The compliance collector could not be registered.
    #[error("registering the compliance gauges")]
    Collector(#[source] prometheus::Error),
    /// The report CRDs are not served by the cluster.
    #[error("the ComplianceReport CRD is not installed in the cluster: apply crds/ first (kompliance crd | kubectl apply -f -)")]
    CrdsMissing,
    /// The kube client could not be made from the configuration.
    #[error("creating the kube client: {0}")]
    Client(#[source] kube::Error),
    /// The API server could not be reached or refused the first request.
    #[error("cannot read compliancereports.kompliance.dev from the API server: {0}")]
    ApiServer(String),
}

/// A running operator.
pub struct Running {
    /// Bound address of the metrics server.
    pub metrics_addr: std::net::SocketAddr,
    /// Set after the first full evaluation.
    pub ready: Arc<AtomicBool>,
    stop: tokio_watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    http: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops: writes what is pending (within the grace period), releases the lease, waits for the end.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
        self.http.abort();
    }
}

/// The reports as the metrics see them: leader only.
pub(super) struct LiveReports {
    pub(super) namespaces: RwLock<BTreeMap<String, ReportStatus>>,
    pub(super) cluster: RwLock<ClusterReportStatus>,
    pub(super) leadership: Leadership,
}

impl ReportSource for LiveReports {
    fn snapshot(&self) -> Snapshot {
        if !self.leadership.is_leader() {
            return Snapshot::default();
        }
        let namespaces = self.namespaces.read().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        Snapshot { namespaces, cluster: self.cluster.read().map(|c| c.clone()).unwrap_or_default() }
    }
}

/// Starts the operator on the cluster of `config`. It makes two clients: one for reads and watches
/// (kube's retries on, watch liveness noted), one for report writes without kube's retries (the
/// writer honours Retry-After itself, within its leadership).
pub async fn start(config: kube::Config, opts: RunOptions) -> Result<Running, RunError> {
    let activity = Arc::new(WatchActivity::default());
    let client = kube::client::ClientBuilder::try_from(config.clone())
        .map_err(RunError::Client)?
        .with_layer(&ActivityLayer(activity.clone()))
        .build();
    let mut write_config = config;
    write_config.default_retry = false;
    let write_client = kube::Client::try_from(write_config).map_err(RunError::Client)?;
    let reloader = match &opts.config {
        Some(path) => Some(ConfigReloader::start(path.clone())?),
        None => None,
    };
    check_crds(&client, &opts.namespaces).await?;
    let registry = prometheus::Registry::new();
    let metrics = OperatorMetrics::register(&registry, env!("CARGO_PKG_VERSION"), option_env!("KOMPLIANCE_REVISION").unwrap_or("unknown"))?;
    metrics.config_last_reload_ok.set(1);
    metrics.config_reloads.with_label_values(&["success"]).inc();
    let (lead_tx, leadership) = if opts.lease.is_some() { Leadership::pending() } else { Leadership::always() };
    let live = Arc::new(LiveReports { namespaces: RwLock::default(), cluster: RwLock::default(), leadership: leadership.clone() });
    let collector = ComplianceCollector::new(live.clone(), opts.namespace_label).map_err(RunError::Collector)?;
    registry.register(Box::new(collector)).map_err(RunError::Collector)?;
    let ready = Arc::new(AtomicBool::new(false));
    let health = Arc::new(super::http::Health::new(opts.stall_timeout));
    let state = super::http::HttpState { registry, ready: ready.clone(), health: health.clone() };
    let (metrics_addr, http) = super::http::serve(&opts.metrics_addr, state).await?;
    info!(addr = %metrics_addr, "metrics server listening");

    let (stop, stop_rx) = tokio_watch::channel(false);
    let (writer_tx, writer_rx) = mpsc::unbounded_channel();
    let settings = WriterSettings { timeout: opts.write_timeout, namespaces: opts.namespaces.clone() };
    let writer = Writer::new(write_client, metrics.clone(), leadership.clone(), settings);
    let grace = opts.grace;
    let writer_task = tokio::spawn(writer.run(writer_rx, grace));
    // The lease is released only after the writer has written what was pending.
    let (release, release_rx) = tokio_watch::channel(false);
    let election = match opts.lease.clone() {
        Some(s) => {
            let api = kube::Api::namespaced(client.clone(), &s.namespace);
            Some(tokio::spawn(leader::run(api, s, lead_tx, release_rx)))
        }
        None => {
            drop(lead_tx);
            None
        }
    };
    let (probe_tx, probe_rx) = mpsc::unbounded_channel();
    let (azure_tx, azure_rx) = mpsc::unbounded_channel();
    let (probe_now, probe_now_rx) = mpsc::unbounded_channel();
    tokio::spawn(probe_loop(client.clone(), opts.probe_interval, opts.namespaces.clone(), probe_tx, probe_now_rx));
    let vulns = probes::vulnerability_reports(&client, &opts.namespaces).await;
    let cfg = reloader.as_ref().map(|r| r.current().clone()).unwrap_or_default();
    let op = Operator {
        client,
        cfg,
        reloader,
        store: VerdictStore::new(),
        debouncer: Debouncer::new(opts.debounce, opts.max_delay),
        known: HashMap::new(),
        relisting: HashMap::new(),
        synced: HashSet::new(),
        streams: 0,
        syncing: true,
        full_pass: false,
        report_namespaces: HashSet::new(),
        live,
        report_hashes: HashMap::new(),
        probes: ProbeResults::default(),
        probed: false,
        probe_wait_until: std::time::Instant::now() + PROBE_WAIT.min(opts.probe_interval),
        watch_term: None,
        activity,
        health,
        vulns,
        azure: None,
        detected_subscription: None,
        azure_task: None,
        azure_tx,
        writer: writer_tx,
        metrics,
        ready: ready.clone(),
        leadership,
        probe_now,
        opts,
    };
    let task = tokio::spawn(async move {
        op.run(stop_rx, probe_rx, azure_rx).await;
        let _ = writer_task.await;
        release.send_replace(true);
        if let Some(e) = election {
            let _ = e.await;
        }
    });
    Ok(Running { metrics_addr, ready, stop, task, http })
}

/// Fails early, with the fix, when the report CRDs are missing (every watch would retry for ever).
async fn check_crds(client: &kube::Client, namespaces: &[String]) -> Result<(), RunError> {
    let api: kube::Api<crate::report::ComplianceReport> = match namespaces.first() {
        Some(ns) => kube::Api::namespaced(client.clone(), ns),
        None => kube::Api::all(client.clone()),
    };
    match api.list_metadata(&kube::api::ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(RunError::CrdsMissing),
        Err(e) => Err(RunError::ApiServer(super::writer::brief(&e))),
    }
}

async fn probe_loop(
    client: kube::Client,
    every: Duration,
    namespaces: Vec<String>,
    tx: mpsc::UnboundedSender<ProbeResults>,
    mut now: mpsc::UnboundedReceiver<()>,
) {
    let user = format!("kompliance-probe-{:08x}", std::process::id() ^ 0x5eed_1234);
    loop {
        if tx.send(probes::run(&client, &user, &namespaces).await).is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            r = now.recv() => if r.is_none() { return },
        }
    }
}
