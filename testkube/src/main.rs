//! `testkube`: runs the in-memory Kubernetes API server from the command line until Ctrl-C.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// An in-memory Kubernetes API server on loopback, for tests and demos (a test double, not a Kubernetes).
#[derive(Parser)]
#[command(name = "testkube", version)]
struct Cli {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Kubernetes version answered at /version.
    #[arg(long, default_value = "v1.32.4")]
    kubernetes_version: String,
    /// Write a kubeconfig for the server to this file.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Seed objects from YAML/JSON files or directories (CRDs first, workloads expanded into Pods).
    #[arg(long)]
    seed: Vec<PathBuf>,
    /// Seed this many synthetic Pods (in Deployments of 10) for load tests.
    #[arg(long, default_value_t = 0)]
    synthetic_pods: usize,
    /// Spread the synthetic Pods over this many namespaces.
    #[arg(long, default_value_t = 100)]
    synthetic_namespaces: usize,
    /// Watch events kept for replay.
    #[arg(long, default_value_t = 200_000)]
    history: usize,
    /// Answer SubjectAccessReviews with allowed: true.
    #[arg(long)]
    allow_all: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let opts = testkube::Options {
        port: cli.port,
        version: cli.kubernetes_version,
        history: cli.history,
        bookmark_every: Duration::from_secs(5),
        sar_allowed: cli.allow_all,
    };
    let server = match testkube::TestKube::start_with(opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("testkube: cannot listen on 127.0.0.1:{}: {e}", cli.port);
            return std::process::ExitCode::from(1);
        }
    };
    for path in &cli.seed {
        match server.seed_path(path) {
            Ok(n) => eprintln!("testkube: seeded {n} objects from {}", path.display()),
            Err(e) => {
                eprintln!("testkube: {e}");
                return std::process::ExitCode::from(1);
            }
        }
    }
    if cli.synthetic_pods > 0 {
        let started = std::time::Instant::now();
        match server.seed(testkube::seed::synthetic_workloads(cli.synthetic_pods, cli.synthetic_namespaces)) {
            Ok(n) => eprintln!("testkube: seeded {n} synthetic objects in {:.2?}", started.elapsed()),
            Err(e) => {
                eprintln!("testkube: seeding synthetic load: {e}");
                return std::process::ExitCode::from(1);
            }
        }
    }
    if let Some(path) = &cli.kubeconfig {
        if let Err(e) = server.write_kubeconfig(path, "testkube-user") {
            eprintln!("testkube: writing kubeconfig {}: {e}", path.display());
            return std::process::ExitCode::from(1);
        }
        eprintln!("testkube: kubeconfig written to {}", path.display());
    }
    println!("{}", server.url());
    let _ = tokio::signal::ctrl_c().await;
    std::process::ExitCode::SUCCESS
}
