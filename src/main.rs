//! The `kompliance` command line: audit, run, demo, catalog, explain, config check, crd.

use clap::{Parser, Subcommand, ValueEnum};
use kompliance::audit::{self, AuditOptions, output};
use kompliance::catalog::{CATALOG, Lang, Severity};
use kompliance::config::Config;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: an audit allocates and frees millions of small objects on several threads, and
/// glibc's malloc spent a quarter of the CPU time on them (locks included). See BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Index of mimalloc 3's `purge_delay` option (src/options.c); libmimalloc-sys does not name it.
#[cfg(target_os = "linux")]
const MI_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The operator's purge delay (ms): it frees and reallocates list pages, reports and verdicts
/// continually, and returning freed pages after 10 ms made a quarter of its CPU time page faults
/// (the initial sync's profile in BENCHMARKS.md); its peak memory stays far under the target.
#[cfg(target_os = "linux")]
const OPERATOR_PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// Sets mimalloc's options before Rust's runtime allocates (setting them in `main` is too late):
/// arenas are committed as they are used and freed pages are returned after 10 ms, which keeps the
/// peak RSS at glibc's level instead of doubling it (measured in BENCHMARKS.md).
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static MIMALLOC_OPTIONS: extern "C" fn() = {
    extern "C" fn set_options() {
        // Indexes in mimalloc 3's option table (src/options.c); libmimalloc-sys names neither.
        const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
        // SAFETY: plain stores into mimalloc's option table, before any other thread exists.
        unsafe {
            libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
            libmimalloc_sys::mi_option_set(MI_PURGE_DELAY, 10);
        }
    }
    set_options
};

/// `kompliance --version`: the crate's version and the git commit it was built from (build.rs).
const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("KOMPLIANCE_GIT_COMMIT"), ")");

#[derive(Parser)]
#[command(name = "kompliance", version = LONG_VERSION, about = "Evaluates the 24 Azure Security Center container recommendations on Kubernetes objects")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Audit manifest files, directories or standard input (`-`).
    Audit(AuditArgs),
    /// Run the operator: watch the cluster, write reports, export metrics.
    Run(Box<kompliance::operator::cli::RunArgs>),
    /// Run the operator against an in-memory API server seeded with the examples (no cluster needed).
    #[cfg(feature = "demo")]
    Demo(kompliance::operator::demo::DemoArgs),
    /// Show the reports the operator wrote in the cluster (through the kubeconfig), as the audit's table.
    Status(StatusArgs),
    /// List the recommendations.
    Catalog {
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = CatalogFormat::Table)]
        output: CatalogFormat,
        /// Title language.
        #[arg(long, value_enum, default_value_t = Lang::En)]
        lang: Lang,
    },
    /// Print a recommendation's documentation: rule, parameters, examples, fix, Azure Policy.
    Explain {
        /// The recommendation's id (`kompliance catalog` lists them).
        id: String,
        /// Title language.
        #[arg(long, value_enum, default_value_t = Lang::En)]
        lang: Lang,
    },
    /// Configuration file commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the CustomResourceDefinitions of the report kinds (or write them into a folder).
    Crd {
        /// Write one file per CRD into this folder instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct StatusArgs {
    /// The namespace whose report to show (default: the kubeconfig context's namespace).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// Every namespace's report and the cluster report.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The operator's resync interval: a report last evaluated longer ago is marked stale.
    #[arg(long, default_value_t = kompliance::operator::cli::Span(kompliance::operator::options::DEFAULT_RESYNC_INTERVAL), value_parser = kompliance::operator::cli::period)]
    resync_interval: kompliance::operator::cli::Span,
    /// Title language.
    #[arg(long, value_enum, default_value_t = Lang::En)]
    lang: Lang,
    #[command(flatten)]
    table: TableArgs,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a ComplianceConfig file without running anything.
    Check {
        /// The file.
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum CatalogFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Table,
    Json,
    Yaml,
    Sarif,
    /// OpenReports `Report`s (one per namespace) and a `ClusterReport`, as a JSON `v1/List`.
    Openreports,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOn {
    High,
    Medium,
    Low,
}

#[derive(clap::Args)]
struct AuditArgs {
    /// Files, directories (read recursively: .yaml, .yml, .json) or `-` for standard input.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// ComplianceConfig file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Exit 1 when a resource is unhealthy at this severity or above.
    #[arg(long, value_enum)]
    fail_on: Option<FailOn>,
    /// Namespace of objects that have none.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// API server version, for non-vulnerable-kubernetes-version.
    #[arg(long)]
    kubernetes_version: Option<String>,
    /// Title language.
    #[arg(long, value_enum, default_value_t = Lang::En)]
    lang: Lang,
    /// Fixed clock (RFC 3339), for exemption expiry and reproducible output.
    #[arg(long)]
    now: Option<jiff::Timestamp>,
    /// With `-o openreports`: outcomes written (fail, error, skip-exempt, skip, pass).
    #[arg(long, default_value = kompliance::operator::options::DEFAULT_OPENREPORTS_RESULTS)]
    openreports_results: String,
    #[command(flatten)]
    table: TableArgs,
}

/// How the table is shown (audit and status).
#[derive(clap::Args)]
struct TableArgs {
    /// Table: show every recommendation with its reason (default: failing and exempt ones in full, the others in one line per state).
    #[arg(long)]
    all: bool,
    /// Table width in columns (default: $COLUMNS, else the terminal's, else 100).
    #[arg(long)]
    width: Option<usize>,
    /// Colours: auto (on a terminal without NO_COLOR), always or never.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto)]
    color: ColorWhen,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl TableArgs {
    fn options(&self, lang: Lang, offline: bool) -> output::TableOptions {
        let terminal = std::io::stdout().is_terminal();
        let color = match self.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        };
        output::TableOptions {
            width: audit::table::detect_width(self.width, terminal),
            paint: output::Paint(color),
            lang,
            all: self.all,
            offline,
        }
    }
}

/// The name kubectl finds a plugin by: `kubectl kompliance status -A` runs `kubectl-kompliance status -A`.
const KUBECTL_PLUGIN_NAME: &str = "kubectl-kompliance";

/// The command line, read as `kompliance ...`; invoked as the kubectl plugin without a command, it is `status`.
fn parse_cli() -> Cli {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args.first().map(PathBuf::from).and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
    if invoked_as.as_deref() == Some(KUBECTL_PLUGIN_NAME) {
        let mut cmd = <Cli as clap::CommandFactory>::command().bin_name("kubectl kompliance");
        let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
        let is_command = first.as_deref().is_some_and(|f| {
            cmd.find_subcommand(f).is_some() || f == "help" || f.starts_with("--help") || f == "-h" || f == "-V" || f == "--version"
        });
        if !is_command {
            args.insert(1, "status".into());
        }
        let matches = cmd.try_get_matches_from_mut(args).unwrap_or_else(|e| e.exit());
        return <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    }
    Cli::parse()
}

fn main() -> ExitCode {
    let cli = parse_cli();
    match cli.command {
        Command::Audit(args) => run_audit(args),
        Command::Run(args) => {
            // SAFETY: a plain store into mimalloc's option table; no other thread exists yet.
            #[cfg(target_os = "linux")]
            unsafe {
                libmimalloc_sys::mi_option_set(MI_PURGE_DELAY, OPERATOR_PURGE_DELAY_MS)
            };
            kompliance::operator::cli::run(*args)
        }
        #[cfg(feature = "demo")]
        Command::Demo(args) => kompliance::operator::demo::demo(args),
        Command::Catalog { output, lang } => {
            let text = match output {
                CatalogFormat::Json => {
                    let rows: Vec<serde_json::Value> = CATALOG
                        .iter()
                        .map(|r| {
                            let mut v = serde_json::to_value(r).unwrap_or_default();
                            v["policyDefinitionId"] = r.policy_definition_id().into();
                            v
                        })
                        .collect();
                    serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
                }
                CatalogFormat::Table => {
                    let mut t = format!("{:>2}  {:<36} {:<8} {:<18} TITLE\n", "#", "ID", "SEVERITY", "SCOPE");
                    for r in &CATALOG {
                        t += &format!(
                            "{:>2}  {:<36} {:<8} {:<18} {}\n",
                            r.number,
                            r.id,
                            r.severity.as_str(),
                            format!("{:?}", r.scope),
                            r.title_in(lang)
                        );
                    }
                    t
                }
            };
            write_stdout(&text)
        }
        Command::Status(args) => run_status(args),
        Command::Explain { id, lang } => match kompliance::catalog::explain::render(&id, lang) {
            Some(text) => write_stdout(&text),
            None => {
                let close = kompliance::catalog::explain::close_ids(&id);
                eprintln!("error: no recommendation {id:?}; did you mean {}? (`kompliance catalog` lists all 24)", close.join(", "));
                ExitCode::from(2)
            }
        },
        Command::Config { command: ConfigCommand::Check { file } } => match Config::load(&file) {
            Ok(cfg) => {
                for w in &cfg.warnings {
                    eprintln!("warning: {w}");
                }
                println!("{}: valid (config hash {})", file.display(), cfg.hash);
                ExitCode::SUCCESS
            }
            Err(e) => {
                for line in e.lines() {
                    eprintln!("error: {line}");
                }
                ExitCode::from(1)
            }
        },
        Command::Crd { out_dir: None } => {
            let docs: Vec<String> = kompliance::report::crds_yaml().into_iter().map(|(_, y)| y).collect();
            write_stdout(&docs.join("---\n"))
        }
        Command::Crd { out_dir: Some(dir) } => {
            for (name, yaml) in kompliance::report::crds_yaml() {
                let path = dir.join(name);
                if let Err(e) = std::fs::write(&path, yaml) {
                    eprintln!("error: writing {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
    }
}

fn run_audit(args: AuditArgs) -> ExitCode {
    let cfg = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                for line in e.lines() {
                    eprintln!("error: {line}");
                }
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);
    let filter = match kompliance::openreports::ResultFilter::parse(&args.openreports_results) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --openreports-results: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = AuditOptions {
        paths: args.paths,
        default_namespace: args.namespace,
        kubernetes_version: args.kubernetes_version,
        now,
        lang: args.lang,
    };
    // Not dropped: the process ends after this function, and freeing every record one by one
    // took 1.2% of the 100k-Pod list's CPU time (BENCHMARKS.md) for nothing.
    let result = std::mem::ManuallyDrop::new(audit::run(&cfg, &opts, std::io::stdin().lock()));
    // Problems with the input come first, before any output.
    for e in &result.errors {
        eprintln!("error: {e}");
    }
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    let table = args.table.options(args.lang, true);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = match args.output {
        Format::Table => output::write_table(&result, &table, &mut out),
        Format::Json => output::write_json(&result, &mut out),
        Format::Yaml => output::write_yaml(&result, &mut out),
        Format::Sarif => audit::sarif::write_sarif(&result, &mut out),
        Format::Openreports => audit::openreports::write_openreports(&result, &filter, &mut out),
    }
    .and_then(|_| out.flush());
    drop(out);
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("error: writing output: {e}");
            return ExitCode::from(2);
        }
        Ok(()) => {}
    }
    if !result.errors.is_empty() {
        eprintln!("error: {} input problem(s) above; exit 2", result.errors.len());
        return ExitCode::from(2);
    }
    let threshold = args.fail_on.map(|f| match f {
        FailOn::High => Severity::High,
        FailOn::Medium => Severity::Medium,
        FailOn::Low => Severity::Low,
    });
    match threshold.and_then(|t| result.fail_reason(t)) {
        Some(reason) => {
            eprintln!("{reason}");
            ExitCode::from(1)
        }
        None => ExitCode::SUCCESS,
    }
}

fn run_status(args: StatusArgs) -> ExitCode {
    use kompliance::operator::status::{self, Scope};
    let table = args.table.options(args.lang, false);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let fetched = runtime.block_on(async {
        let agent = format!("kompliance-status/{}", kompliance::VERSION);
        let config = kompliance::operator::cli::config(args.kubeconfig.as_deref(), &agent).await?;
        let url = config.cluster_url.to_string();
        let scope = match (args.all_namespaces, args.namespace) {
            (true, _) => Scope::All,
            (false, Some(ns)) => Scope::Namespace(ns),
            (false, None) => Scope::Namespace(config.default_namespace.clone()),
        };
        let client = kube::Client::try_from(config).map_err(|e| format!("creating the kube client: {e}"))?;
        let reports =
            status::fetch(&client, &url, &scope, jiff::Timestamp::now(), args.resync_interval.0).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((scope, reports))
    });
    let (scope, reports) = match fetched {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match status::render(&reports, &scope, &table) {
        Ok(bytes) => write_stdout(&String::from_utf8_lossy(&bytes)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn write_stdout(text: &str) -> ExitCode {
    let mut lock = std::io::stdout().lock();
    match lock.write_all(text.as_bytes()).and_then(|_| lock.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing output: {e}");
            ExitCode::from(2)
        }
    }
}
