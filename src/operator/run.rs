//! `kompliance run`: options, start-up (metrics server, writer, leader election, probes) and the
//! handle of a running operator; the loop itself is in event_loop.rs.

use super::activity::{ActivityLayer, WatchActivity};
use super::auth_cache::AuthCache;
use super::authz::Authorizer;
use super::debounce::Debouncer;
use super::event_loop::Operator;
use super::http::Security;
use super::leader::{self, Leadership};
pub use super::options::{ArmFactory, DEFAULT_STALL_TIMEOUT, DEFAULT_WRITE_TIMEOUT, LiveReports, METRICS_SECURE, MakeArm, RunOptions};
use super::probes::{self, ProbeResults};
use super::reach::Reach;
use super::reload::ConfigReloader;
use super::store::VerdictStore;
use super::telemetry::{CachedCounters, OperatorMetrics};
use super::writer::{Writer, WriterSettings};
use crate::metrics::ComplianceCollector;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch as tokio_watch};
use tracing::info;

/// Longest the cluster report waits for the probes' first answer after start (or one `--probe-interval`, if shorter).
const PROBE_WAIT: Duration = Duration::from_secs(30);

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
    /// The kube client could not be made from the configuration.
    #[error("creating the kube client: {0}")]
    Client(#[source] kube::Error),
    /// The API server refused the first request.
    #[error("cannot read compliancereports.kompliance.dev from the API server: {0}")]
    ApiServer(String),
    /// The API server could not be reached at all.
    #[error("cannot connect to the API server at {url}: {cause}")]
    Unreachable {
        /// The cluster URL from the kubeconfig.
        url: String,
        /// Why (`connection refused`, `connection timed out`, ...).
        cause: String,
    },
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

/// Starts the operator on the cluster of `config`. It makes two clients: one for reads and watches
/// (kube's retries on, watch liveness noted), one for report writes without kube's retries (the
/// writer honours Retry-After itself, within its leadership).
pub async fn start(config: kube::Config, opts: RunOptions) -> Result<Running, RunError> {
    let url = config.cluster_url.to_string();
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
    check_crds(&client, &opts.reach, &url).await?;
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
    let security = if opts.metrics_secure {
        let tls = super::tls::acceptor(opts.metrics_cert_dir.as_deref())?;
        Security::Secure { tls, auth: Authorizer::new(client.clone(), AuthCache::default()) }
    } else {
        Security::Plain
    };
    let state = super::http::HttpState { registry, ready: ready.clone(), health: health.clone() };
    let (metrics_addr, http) = super::http::serve_with(&opts.metrics_addr, state, security, opts.metrics_limits).await?;
    info!(addr = %metrics_addr, secure = opts.metrics_secure, "metrics server listening");

    let (stop, stop_rx) = tokio_watch::channel(false);
    let (writer_tx, writer_rx) = mpsc::unbounded_channel();
    let settings = WriterSettings { timeout: opts.write_timeout, reach: opts.reach.clone() };
    let writer = Writer::new(write_client.clone(), metrics.clone(), leadership.clone(), settings);
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
    tokio::spawn(probe_loop(client.clone(), opts.probe_interval, opts.reach.clone(), probe_tx, probe_now_rx));
    let vulns = probes::vulnerability_reports(&client, &opts.reach).await;
    let openreports = opts.openreports.then(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        let w = super::openreports::OrWriter::new(
            write_client.clone(),
            leadership.clone(),
            metrics.clone(),
            opts.openreports_results,
            opts.openreports_recheck,
        );
        tokio::spawn(w.run(rx));
        tx
    });
    let cfg = reloader.as_ref().map(|r| r.current().clone()).unwrap_or_default();
    let op = Operator {
        client,
        cfg,
        reloader,
        store: VerdictStore::new(),
        debouncer: Debouncer::new(opts.debounce, opts.max_delay),
        relists: Default::default(),
        syncing: true,
        full_pass: false,
        pass_at: jiff::Timestamp::now(),
        report_namespaces: HashSet::new(),
        live,
        report_hashes: HashMap::new(),
        rollup: Default::default(),
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
        openreports,
        uids: Default::default(),
        event_counts: CachedCounters::new(metrics.watch_events.clone()),
        evaluation_counts: CachedCounters::new(metrics.evaluations.clone()),
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
async fn check_crds(client: &kube::Client, reach: &Reach, url: &str) -> Result<(), RunError> {
    let api: kube::Api<crate::report::ComplianceReport> = match reach.listed().first() {
        Some(ns) => kube::Api::namespaced(client.clone(), ns),
        None => kube::Api::all(client.clone()),
    };
    match api.list_metadata(&kube::api::ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(RunError::CrdsMissing),
        Err(e) => Err(match super::connect::connection_cause(&e) {
            Some(cause) => RunError::Unreachable { url: url.to_string(), cause },
            None => RunError::ApiServer(super::scope::brief(&e)),
        }),
    }
}

async fn probe_loop(
    client: kube::Client,
    every: Duration,
    reach: Reach,
    tx: mpsc::UnboundedSender<ProbeResults>,
    mut now: mpsc::UnboundedReceiver<()>,
) {
    let user = format!("kompliance-probe-{:08x}", std::process::id() ^ 0x5eed_1234);
    loop {
        if tx.send(probes::run(&client, &user, &reach).await).is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            r = now.recv() => if r.is_none() { return },
        }
    }
}
