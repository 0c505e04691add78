//! `kompliance demo`: the in-memory API server seeded with the examples (built into the binary), the
//! CRDs applied, and the operator running against it on free ports, until Ctrl-C.

use super::cli::{LogFormat, stop_signal};
use super::run::{RunOptions, start};
use clap::Args;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The example cluster (`examples/`), built into the binary so the demo runs from any folder.
pub const EXAMPLES: [(&str, &str); 6] = [
    ("kube-system.yaml", include_str!("../../examples/kube-system.yaml")),
    ("legacy.yaml", include_str!("../../examples/legacy.yaml")),
    ("monitoring.yaml", include_str!("../../examples/monitoring.yaml")),
    ("nodes.json", include_str!("../../examples/nodes.json")),
    ("payments.yaml", include_str!("../../examples/payments.yaml")),
    ("shop.yaml", include_str!("../../examples/shop.yaml")),
];

/// The examples' configuration (`example-config.yaml`), built into the binary.
pub const EXAMPLE_CONFIG: &str = include_str!("../../example-config.yaml");

/// Flags of `kompliance demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Manifests to seed instead of the built-in examples (files or folders; workloads are expanded
    /// into ReplicaSets and Pods).
    #[arg(long)]
    pub seed: Vec<PathBuf>,
    /// ComplianceConfig for the operator instead of the built-in example configuration.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where to write the kubeconfig of the demo cluster (default: in a temporary folder removed on exit).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
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

/// The demo's scratch folder under the system's temporary folder: the built-in examples, their
/// configuration and (by default) the kubeconfig; removed when the demo stops.
struct Scratch(PathBuf);

impl Scratch {
    fn create() -> std::io::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("kompliance-demo-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("examples"))?;
        for (name, text) in EXAMPLES {
            std::fs::write(dir.join("examples").join(name), text)?;
        }
        std::fs::write(dir.join("example-config.yaml"), EXAMPLE_CONFIG)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("kompliance demo: removing {}: {e}", self.0.display());
        }
    }
}

/// A path as a shell word that pastes as it is (single-quoted unless it is plain).
fn shell_word(p: &Path) -> String {
    let s = p.display().to_string();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c)) {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `kompliance demo`.
pub fn demo(args: DemoArgs) -> ExitCode {
    if let Some(c) = args.config.as_ref().filter(|c| !c.is_file()) {
        eprintln!("kompliance demo: --config {}: no such file", c.display());
        return ExitCode::from(2);
    }
    let scratch = match Scratch::create() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kompliance demo: writing the built-in examples under {}: {e}", std::env::temp_dir().display());
            return ExitCode::from(1);
        }
    };
    let seed = if args.seed.is_empty() { vec![scratch.0.join("examples")] } else { args.seed.clone() };
    let config = args.config.clone().unwrap_or_else(|| scratch.0.join("example-config.yaml"));
    let kubeconfig = args.kubeconfig.clone().unwrap_or_else(|| scratch.0.join("kubeconfig"));
    let shown = if args.seed.is_empty() { "the built-in examples".to_string() } else { format!("{:?}", args.seed) };
    let rt = match super::cli::prepare("demo", LogFormat::Text, super::cli::Threads::PerCore) {
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
        for path in &seed {
            match server.seed_path(path) {
                Ok(n) => seeded += n,
                Err(e) => {
                    eprintln!("kompliance demo: seeding {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
        if let Err(e) = server.write_kubeconfig(&kubeconfig, "demo-user") {
            eprintln!("kompliance demo: writing {}: {e}", kubeconfig.display());
            return ExitCode::from(1);
        }
        let client = match super::cli::config(Some(&kubeconfig), "kompliance-demo").await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kompliance demo: {e}");
                return ExitCode::from(1);
            }
        };
        let run = RunOptions {
            config: Some(config),
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
        let kubeconfig = std::fs::canonicalize(&kubeconfig).unwrap_or(kubeconfig);
        println!("kompliance demo: in-memory API server at {} with {seeded} objects from {shown}", server.url());
        println!("In another terminal:");
        println!("  export KUBECONFIG={}", shell_word(&kubeconfig));
        println!("  kubectl get compliancereports -A");
        println!("  kubectl get complianceclusterreports");
        println!("  curl -s http://{}/metrics | grep kompliance_score", running.metrics_addr);
        println!("Ctrl-C stops (and removes {}).", shell_word(&scratch.0));
        stop_signal().await;
        running.shutdown().await;
        drop(scratch);
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_examples_are_every_manifest_of_examples_and_the_same_text() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk: Vec<String> = std::fs::read_dir(root.join("examples"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".json"))
            .collect();
        on_disk.sort();
        assert_eq!(EXAMPLES.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(), on_disk, "update EXAMPLES");
        for (name, text) in EXAMPLES {
            assert_eq!(std::fs::read_to_string(root.join("examples").join(name)).unwrap(), text, "{name}");
        }
        assert_eq!(std::fs::read_to_string(root.join("example-config.yaml")).unwrap(), EXAMPLE_CONFIG);
    }

    #[test]
    fn printed_paths_paste_as_they_are() {
        assert_eq!(shell_word(Path::new("/tmp/kompliance-demo-1/kubeconfig")), "/tmp/kompliance-demo-1/kubeconfig");
        assert_eq!(shell_word(Path::new("/Users/A B/it's")), "'/Users/A B/it'\\''s'");
    }
}
