//! The `run` and `demo` commands: flags, logging, the kube client, signals.

use super::leader::LeaseSettings;
use super::options::{
    DEFAULT_AZURE_POLL, DEFAULT_DEBOUNCE, DEFAULT_GRACE, DEFAULT_LEASE_DURATION, DEFAULT_MAX_DELAY, DEFAULT_METRICS_ADDR,
    DEFAULT_OPENREPORTS, DEFAULT_OPENREPORTS_RECHECK, DEFAULT_OPENREPORTS_RESULTS, DEFAULT_PROBE_INTERVAL, DEFAULT_RESYNC_INTERVAL,
    DEFAULT_STALL_TIMEOUT, DEFAULT_WRITE_TIMEOUT,
};
use super::reach::Reach;
use super::run::{RunOptions, Running, start};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tracing::{error, info};

/// Parses `500ms`, `2s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 2s, 5m, 1h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    // At most a year: later instants than that would overflow the clock arithmetic they feed.
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(format!("{s:?} is longer than a year")),
    }
}

const MAX_DURATION: Duration = Duration::from_secs(365 * 86400);

/// Parses a period of something repeated (resyncs, probes, lease renewals, Azure reads): not zero.
pub fn parse_period(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("{s:?}: a period must be longer than zero")),
        d => Ok(d),
    }
}

/// A duration flag: parsed by [`parse_duration`], shown in `--help` the way it is written, so the
/// defaults come from the options' constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        match ms {
            _ if ms.is_multiple_of(3_600_000) && ms > 0 => write!(f, "{}h", ms / 3_600_000),
            _ if ms.is_multiple_of(60_000) && ms > 0 => write!(f, "{}m", ms / 60_000),
            _ if ms.is_multiple_of(1000) => write!(f, "{}s", ms / 1000),
            _ => write!(f, "{ms}ms"),
        }
    }
}

fn span(s: &str) -> Result<Span, String> {
    parse_duration(s).map(Span)
}

/// Parses a period flag (`5m`, `30s`) into a [`Span`]: not zero.
pub fn period(s: &str) -> Result<Span, String> {
    parse_period(s).map(Span)
}

/// Log line format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags of `kompliance run` (contract.md).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Kubeconfig file (default: in-cluster config, then $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// ComplianceConfig file; reloaded when it changes.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = DEFAULT_METRICS_ADDR)]
    pub metrics_addr: String,
    /// Serve HTTPS, with /metrics for bearer tokens the API server authenticates (TokenReview) and
    /// authorizes for `get` on the non-resource URL /metrics (SubjectAccessReview); /healthz and
    /// /readyz need no token. false: plain HTTP without authentication, for local use.
    #[arg(long, default_value_t = super::options::METRICS_SECURE, action = clap::ArgAction::Set)]
    pub metrics_secure: bool,
    /// Folder with tls.crt and tls.key (PEM; read again when they change) for the secure metrics
    /// server; without it a self-signed certificate is made at start.
    #[arg(long)]
    pub metrics_cert_dir: Option<PathBuf>,
    /// Quiet window before a changed namespace's report is written.
    #[arg(long, default_value_t = Span(DEFAULT_DEBOUNCE), value_parser = span)]
    pub debounce: Span,
    /// Longest a changed namespace waits for its write.
    #[arg(long, default_value_t = Span(DEFAULT_MAX_DELAY), value_parser = span)]
    pub max_delay: Span,
    /// Interval of full passes (probes, exemption expiry).
    #[arg(long, default_value_t = Span(DEFAULT_RESYNC_INTERVAL), value_parser = period)]
    pub resync_interval: Span,
    /// Interval of the cluster probes (#3, #15, #19).
    #[arg(long, default_value_t = Span(DEFAULT_PROBE_INTERVAL), value_parser = period)]
    pub probe_interval: Span,
    /// Elect one writing replica through a Lease.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the Lease.
    #[arg(long, default_value = "kompliance")]
    pub lease_name: String,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else kompliance-system).
    #[arg(long)]
    pub lease_namespace: Option<String>,
    /// How long a Lease stays valid without renewal.
    #[arg(long, default_value_t = Span(DEFAULT_LEASE_DURATION), value_parser = period)]
    pub lease_duration: Span,
    /// This replica's identity (default: $POD_NAME, else hostname and process id).
    #[arg(long)]
    pub identity: Option<String>,
    /// Title language of the reports and of the info gauge's `title` label (default: the
    /// configuration's `language`, else en).
    #[arg(long, value_enum)]
    pub lang: Option<crate::catalog::Lang>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Put the namespace label on the compliance gauges (false: sums per recommendation).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics_namespace_label: bool,
    /// Restrict to these namespaces (comma-separated), for installs with Roles only.
    #[arg(long, value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Time allowed after SIGTERM to write what is pending.
    #[arg(long, default_value_t = Span(DEFAULT_GRACE), value_parser = span)]
    pub grace_period: Span,
    /// Interval of the Azure Resource Manager reads (with `azure:` in the configuration).
    #[arg(long, default_value_t = Span(DEFAULT_AZURE_POLL), value_parser = period)]
    pub azure_poll_interval: Span,
    /// Longest one report write may take.
    #[arg(long, default_value_t = Span(DEFAULT_WRITE_TIMEOUT), value_parser = period)]
    pub write_timeout: Span,
    /// A watch silent this long (no event, no bookmark) is restarted with a relist; /healthz fails
    /// while a watch or the event loop is stalled this long.
    #[arg(long, default_value_t = Span(DEFAULT_STALL_TIMEOUT), value_parser = period)]
    pub stall_timeout: Span,
    /// Also write OpenReports (openreports.io Report per workload and a ClusterReport) for
    /// policy-reporter and other policy tools; needs the OpenReports CRDs in the cluster.
    #[arg(long, default_value_t = DEFAULT_OPENREPORTS, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub openreports: bool,
    /// Outcomes written as OpenReports results (comma-separated: fail, error, skip-exempt, skip, pass).
    #[arg(long, default_value = DEFAULT_OPENREPORTS_RESULTS, value_parser = openreports_results)]
    pub openreports_results: crate::openreports::ResultFilter,
    /// How often the OpenReports on the server are listed again (edits put back, absent CRDs looked for).
    #[arg(long, default_value_t = Span(DEFAULT_OPENREPORTS_RECHECK), value_parser = period)]
    pub openreports_recheck: Span,
}

fn openreports_results(s: &str) -> Result<crate::openreports::ResultFilter, String> {
    crate::openreports::ResultFilter::parse(s).map_err(|e| e.to_string())
}

fn identity(args: &RunArgs) -> String {
    args.identity.clone().or_else(|| std::env::var("POD_NAME").ok()).unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "kompliance".into());
        format!("{host}-{}", std::process::id())
    })
}

/// Run options from the flags.
pub fn options(args: &RunArgs) -> RunOptions {
    let lease = args.leader_election.then(|| LeaseSettings {
        name: args.lease_name.clone(),
        namespace: args
            .lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "kompliance-system".into()),
        identity: identity(args),
        duration: args.lease_duration.0,
    });
    RunOptions {
        config: args.config.clone(),
        metrics_addr: args.metrics_addr.clone(),
        metrics_secure: args.metrics_secure,
        metrics_cert_dir: args.metrics_cert_dir.clone(),
        debounce: args.debounce.0,
        max_delay: args.max_delay.0,
        resync_interval: args.resync_interval.0,
        probe_interval: args.probe_interval.0,
        lease,
        namespace_label: args.metrics_namespace_label,
        reach: Reach::from_list(args.namespaces.clone()),
        grace: args.grace_period.0,
        azure_poll: args.azure_poll_interval.0,
        write_timeout: args.write_timeout.0,
        stall_timeout: args.stall_timeout.0,
        lang: args.lang,
        openreports: args.openreports,
        openreports_results: args.openreports_results,
        openreports_recheck: args.openreports_recheck.0,
        ..RunOptions::default()
    }
}

/// Sets up logging (RUST_LOG overrides the default level `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // No colour codes where stderr is a file, a pipe or a log collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// A kube client from a kubeconfig file or the environment, identifying itself as `agent`.
pub async fn client(kubeconfig: Option<&Path>, agent: &str) -> Result<kube::Client, String> {
    kube::Client::try_from(config(kubeconfig, agent).await?).map_err(|e| format!("creating the kube client: {e}"))
}

/// A kube client configuration from a kubeconfig file or the environment, identifying itself as `agent`.
pub async fn config(kubeconfig: Option<&Path>, agent: &str) -> Result<kube::Config, String> {
    let mut cfg = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| format!("reading kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?
        }
        None => {
            kube::Config::infer().await.map_err(|e| format!("no cluster configuration (in-cluster, $KUBECONFIG, ~/.kube/config): {e}"))?
        }
    };
    if let Ok(v) = http::HeaderValue::from_str(agent) {
        cfg.headers.push((http::header::USER_AGENT, v));
    }
    Ok(cfg)
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn stop(running: Running, grace: Duration) {
    info!("stop requested; writing what is pending and releasing the lease");
    if tokio::time::timeout(grace + Duration::from_secs(5), running.shutdown()).await.is_err() {
        error!("did not stop within the grace period");
    }
}

/// Which async runtime a long-running command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Every task on the thread that runs the command (`kompliance run`): the watches, the event
    /// loop, the writers and the metrics server hand work to each other all the time, and on one
    /// thread a hand-over is a queue push, not the wake-up of another thread (BENCHMARKS.md, "The
    /// operator at scale": the initial sync of 100k Pods spent a tenth of its CPU switching threads).
    One,
    /// A worker per core (`kompliance demo`, which also serves the in-memory API server).
    PerCore,
}

/// Logging, the crypto provider and the async runtime of a long-running command (`command` names it in errors).
pub fn prepare(command: &str, format: LogFormat, threads: Threads) -> Result<tokio::runtime::Runtime, ExitCode> {
    init_logging(format);
    crate::azure::arm::install_crypto_provider();
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::PerCore => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build().map_err(|e| {
        eprintln!("kompliance {command}: starting the async runtime: {e}");
        ExitCode::from(1)
    })
}

/// `kompliance run`.
pub fn run(args: RunArgs) -> ExitCode {
    let rt = match prepare("run", args.log_format, Threads::One) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let opts = options(&args);
        let agent = format!("kompliance/{} ({})", env!("CARGO_PKG_VERSION"), identity(&args));
        let config = match config(args.kubeconfig.as_deref(), &agent).await {
            Ok(c) => c,
            Err(e) => {
                error!("{e}");
                return ExitCode::from(1);
            }
        };
        let grace = opts.grace;
        let running = match start(config, opts).await {
            Ok(r) => r,
            Err(e) => {
                error!(error = %e, "cannot start");
                eprintln!("kompliance: {e}");
                return ExitCode::from(1);
            }
        };
        stop_signal().await;
        stop(running, grace).await;
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_odd_ones_are_errors() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO), "no debounce is allowed");
        for bad in ["", "s", "-1s", "5d", "1e3s", "99999999999999999999999h", "9000h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_period("0s").unwrap_err().contains("longer than zero"));
        assert_eq!(parse_period("5m"), Ok(Duration::from_secs(300)));
    }

    #[test]
    fn the_flags_defaults_are_the_options_defaults_and_the_help_shows_them() {
        use clap::{CommandFactory, Parser};
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            run: RunArgs,
        }
        let help = T::command().render_long_help().to_string();
        let opts = options(&T::try_parse_from(["t"]).expect("no flags").run);
        let d = RunOptions::default();
        let pairs = [
            (opts.debounce, d.debounce),
            (opts.max_delay, d.max_delay),
            (opts.resync_interval, d.resync_interval),
            (opts.probe_interval, d.probe_interval),
            (opts.grace, d.grace),
            (opts.azure_poll, d.azure_poll),
            (opts.write_timeout, d.write_timeout),
            (opts.stall_timeout, d.stall_timeout),
            (opts.openreports_recheck, d.openreports_recheck),
        ];
        for (flag, default) in pairs {
            assert_eq!(flag, default);
            let shown = Span(default).to_string();
            assert_eq!(parse_duration(&shown), Ok(default), "{shown} reads back");
            assert!(help.contains(&format!("[default: {shown}]")), "{shown} not in\n{help}");
        }
        assert_eq!((opts.metrics_addr.as_str(), opts.reach), (d.metrics_addr.as_str(), d.reach));
        assert_eq!((opts.openreports, opts.openreports_results), (d.openreports, d.openreports_results));
        assert!(help.contains(&format!("[default: {}]", super::super::options::DEFAULT_OPENREPORTS_RESULTS)), "{help}");
        let on = options(&T::try_parse_from(["t", "--openreports", "--openreports-results", "fail,pass"]).expect("flags").run);
        assert!(on.openreports && on.openreports_results.pass && !on.openreports_results.error);
        assert!(T::try_parse_from(["t", "--openreports-results", "fail,warn"]).is_err(), "unknown outcomes are rejected");
        assert_eq!(Span(Duration::from_millis(1500)).to_string(), "1500ms");
    }
}
