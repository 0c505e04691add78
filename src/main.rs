//! The `kompliance` command line: audit, run, demo, catalog, config check, crd.

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

#[derive(Parser)]
#[command(name = "kompliance", version, about = "Evaluates the 24 Azure Security Center container recommendations on Kubernetes objects")]
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
    /// List the recommendations.
    Catalog {
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = CatalogFormat::Table)]
        output: CatalogFormat,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let opts = AuditOptions {
        paths: args.paths,
        default_namespace: args.namespace,
        kubernetes_version: args.kubernetes_version,
        now,
        lang: args.lang,
    };
    let result = audit::run(&cfg, &opts, std::io::stdin().lock());
    let stdout = std::io::stdout();
    let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = match args.output {
        Format::Table => output::write_table(&result, output::Paint(color), args.lang, &mut out),
        Format::Json => output::write_json(&result, &mut out),
        Format::Yaml => output::write_yaml(&result, &mut out),
        Format::Sarif => audit::sarif::write_sarif(&result, &mut out),
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
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    for e in &result.errors {
        eprintln!("error: {e}");
    }
    if !result.errors.is_empty() {
        return ExitCode::from(2);
    }
    let threshold = args.fail_on.map(|f| match f {
        FailOn::High => Severity::High,
        FailOn::Medium => Severity::Medium,
        FailOn::Low => Severity::Low,
    });
    if threshold.is_some_and(|t| result.fails_at(t)) { ExitCode::from(1) } else { ExitCode::SUCCESS }
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
