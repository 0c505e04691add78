//! The operator's settings (`RunOptions`, with every default defined once and shared by the
//! flags) and the state the event loop shares with the metrics (`LiveReports`).

use super::leader::{Leadership, LeaseSettings};
use super::listener::ServerLimits;
use super::reach::Reach;
use crate::azure::arm::ArmClient;
use crate::metrics::{ReportSource, Snapshot};
use crate::report::{ClusterReportStatus, ReportStatus};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Default of `--metrics-addr` (9090 is Prometheus's own port).
pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:8080";
/// Default of `--metrics-secure`: HTTPS with authentication and authorization of `/metrics`.
pub const METRICS_SECURE: bool = true;
/// Default of `--debounce`: quiet window before a changed namespace is written.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_secs(2);
/// Default of `--max-delay`: longest a changed namespace waits.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
/// Default of `--resync-interval`.
pub const DEFAULT_RESYNC_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Default of `--probe-interval`.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Default of `--lease-duration`.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// Default of `--grace-period`: time allowed after SIGTERM to write what is pending.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(20);
/// Default of `--azure-poll-interval`.
pub const DEFAULT_AZURE_POLL: Duration = Duration::from_secs(15 * 60);
/// How often the configuration file is checked for changes.
pub const DEFAULT_CONFIG_POLL: Duration = Duration::from_secs(2);
/// Default of `--write-timeout`: longest one report write may take.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `--stall-timeout`: five bookmark periods of a Kubernetes API server (about one a minute).
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Default of `--openreports`: OpenReports output is opt-in.
pub const DEFAULT_OPENREPORTS: bool = false;
/// Default of `--openreports-results` (and of the audit's): failures, errors and exempt findings.
pub const DEFAULT_OPENREPORTS_RESULTS: &str = "fail,error,skip-exempt";
/// How often the operator looks again for OpenReports CRDs that are not served.
pub const DEFAULT_OPENREPORTS_RECHECK: Duration = Duration::from_secs(60);

/// [`DEFAULT_OPENREPORTS_RESULTS`] parsed (a constant list of valid tokens).
pub fn default_openreports_results() -> crate::openreports::ResultFilter {
    crate::openreports::ResultFilter::parse(DEFAULT_OPENREPORTS_RESULTS).unwrap_or_default()
}

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
    /// Every namespace, or only some (installs with Roles only).
    pub reach: Reach,
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
    /// Title language of the reports (None: the configuration's `language`, else English).
    pub lang: Option<crate::catalog::Lang>,
    /// Write OpenReports (`Report` per workload, one `ClusterReport`) beside the ComplianceReports.
    pub openreports: bool,
    /// The outcomes written as OpenReports results.
    pub openreports_results: crate::openreports::ResultFilter,
    /// How often the OpenReports on the server are listed again (and absent CRDs looked for).
    pub openreports_recheck: Duration,
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
            metrics_addr: DEFAULT_METRICS_ADDR.into(),
            metrics_secure: METRICS_SECURE,
            metrics_cert_dir: None,
            metrics_limits: ServerLimits::default(),
            debounce: DEFAULT_DEBOUNCE,
            max_delay: DEFAULT_MAX_DELAY,
            resync_interval: DEFAULT_RESYNC_INTERVAL,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            config_poll: DEFAULT_CONFIG_POLL,
            lease: None,
            namespace_label: true,
            lang: None,
            reach: Reach::Cluster,
            grace: DEFAULT_GRACE,
            azure_poll: DEFAULT_AZURE_POLL,
            arm_factory: None,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            openreports: DEFAULT_OPENREPORTS,
            openreports_results: default_openreports_results(),
            openreports_recheck: DEFAULT_OPENREPORTS_RECHECK,
        }
    }
}

/// The reports as the metrics see them: leader only.
pub struct LiveReports {
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
