//! `kompliance run`: options, start-up (metrics server, writer, leader election, probes) and the
//! handle of a running operator; the loop itself is in event_loop.rs.

use super::auth_cache::AuthCache;
use super::authz::Authorizer;
use super::debounce::Debouncer;
use super::event_loop::Operator;
use super::http::Security;
use super::leader::{self, Leadership, LeaseSettings};
use super::listener::ServerLimits;
use super::probes::{self, ProbeResults};
use super::reload::ConfigReloader;
use super::store::VerdictStore;
use super::telemetry::OperatorMetrics;
use super::writer::Writer;
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

/// Settings of `kompliance run` (contract.md's operator flags).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Configuration file; None runs with the defaults.
    pub config: Option<PathBuf>,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub metrics_addr: String,
    /// Serve HTTPS with `/metrics` behind TokenReview and SubjectAccessReview (false: plain HTTP).
    pub metrics_secure: bool,
    /// Folder with `tls.crt` and `tls.key` for the secure metrics server (None: self-signed).
    pub metrics_cert_dir: Option<PathBuf>,
    /// Connection cap and timeouts of the metrics server.
    pub metrics_limits: ServerLimits,
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
}

/// Default of `--metrics-secure`: HTTPS with authentication and authorization of `/metrics`.
pub const METRICS_SECURE: bool = true;

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
            metrics_secure: METRICS_SECURE,
            metrics_cert_dir: None,
            metrics_limits: ServerLimits::default(),
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
    /// The metrics server's TLS certificate could not be loaded or made.
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    /// Metrics could not be registered.
    #[error(transparent)]
    Metrics(#[from] super::telemetry::RegisterMetrics),
    /// The compliance collector could not be registered.
    #[error("registering the compliance gauges")]
    Collector(#[source] prometheus::Error),
    /// The report CRDs are not served by the cluster.
    #[error("the ComplianceReport CRD is not installed in the cluster: apply crds/ first (kompliance crd | kubectl apply -f -)")]
    CrdsMissing,
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

/// Starts the operator on `client` (a kube client for the cluster).
pub async fn start(client: kube::Client, opts: RunOptions) -> Result<Running, RunError> {
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
    let security = if opts.metrics_secure {
        let tls = super::tls::acceptor(opts.metrics_cert_dir.as_deref())?;
        Security::Secure { tls, auth: Authorizer::new(client.clone(), AuthCache::default()) }
    } else {
        Security::Plain
    };
    let state = super::http::HttpState { registry, ready: ready.clone() };
    let (metrics_addr, http) = super::http::serve_with(&opts.metrics_addr, state, security, opts.metrics_limits).await?;
    info!(addr = %metrics_addr, secure = opts.metrics_secure, "metrics server listening");

    let (stop, stop_rx) = tokio_watch::channel(false);
    let (writer_tx, writer_rx) = mpsc::unbounded_channel();
    let writer = Writer::new(client.clone(), metrics.clone(), leadership.clone());
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
