//! `kompliance demo`: the in-memory API server seeded with the examples, the CRDs applied, and the
//! operator running against it on free ports, until Ctrl-C.

use super::cli::{LogFormat, stop_signal};
use super::run::{RunOptions, start};
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `kompliance demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Manifests to seed (workloads are expanded into ReplicaSets and Pods).
    #[arg(long, default_value = "examples")]
    pub seed: Vec<PathBuf>,
    /// ComplianceConfig for the operator.
    #[arg(long, default_value = "example-config.yaml")]
    pub config: PathBuf,
    /// Where to write the kubeconfig of the demo cluster.
    #[arg(long, default_value = "kompliance-demo.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// Address of the operator's /metrics.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub metrics_addr: String,
    /// Kubernetes version the demo API server reports.
    #[arg(long, default_value = "v1.32.4")]
    pub kubernetes_version: String,
}

/// The CRDs as objects to create.
pub fn crd_objects() -> Vec<Value> {
    crate::report::crds_yaml().into_iter().filter_map(|(_, text)| serde_saphyr::from_str::<Value>(&text).ok()).collect()
}

/// `kompliance demo`.
pub fn demo(args: DemoArgs) -> ExitCode {
    let rt = match super::cli::prepare("demo", LogFormat::Text) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let opts = testkube::Options { version: args.kubernetes_version.clone(), ..Default::default() };
        let server = match testkube::TestKube::start_with(opts).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kompliance demo: starting the in-memory API server: {e}");
                return ExitCode::from(1);
            }
        };
        if let Err(e) = server.seed(crd_objects()) {
            eprintln!("kompliance demo: applying the CRDs: {e}");
            return ExitCode::from(1);
        }
        let mut seeded = 0;
        for path in &args.seed {
            match server.seed_path(path) {
                Ok(n) => seeded += n,
                Err(e) => {
                    eprintln!("kompliance demo: seeding {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
        if let Err(e) = server.write_kubeconfig(&args.kubeconfig, "demo-user") {
            eprintln!("kompliance demo: writing {}: {e}", args.kubeconfig.display());
            return ExitCode::from(1);
        }
        let client = match super::cli::config(Some(&args.kubeconfig), "kompliance-demo").await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kompliance demo: {e}");
                return ExitCode::from(1);
            }
        };
        let config = args.config.exists().then(|| args.config.clone());
        let run = RunOptions {
            config,
            metrics_addr: args.metrics_addr.clone(),
            // The demo's API server is in memory: plain HTTP on loopback, as the curl line below says.
            metrics_secure: false,
            debounce: Duration::from_millis(500),
            ..RunOptions::default()
        };
        let running = match start(client, run).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("kompliance demo: {e}");
                return ExitCode::from(1);
            }
        };
        let kubeconfig = std::fs::canonicalize(&args.kubeconfig).unwrap_or(args.kubeconfig.clone());
        println!("kompliance demo: in-memory API server at {} with {seeded} objects from {:?}", server.url(), args.seed);
        println!("  export KUBECONFIG={}", kubeconfig.display());
        println!("  kubectl get compliancereports -A");
        println!("  kubectl get complianceclusterreports");
        println!("  curl -s http://{}/metrics | grep kompliance_unhealthy_resources", running.metrics_addr);
        println!("Ctrl-C stops.");
        stop_signal().await;
        running.shutdown().await;
        ExitCode::SUCCESS
    })
}
