//! The machine's kubectl against testkube: create -f, apply --server-side, get (tables, -A, -o yaml), delete.

mod common;

use std::path::Path;
use std::process::Command;
use testkube::TestKube;

struct Kubectl {
    kubeconfig: std::path::PathBuf,
    cache: std::path::PathBuf,
}

impl Kubectl {
    fn new(server: &TestKube, dir: &Path) -> Self {
        let kubeconfig = dir.join("kubeconfig");
        server.write_kubeconfig(&kubeconfig, "kubectl-user").unwrap();
        Kubectl { kubeconfig, cache: dir.join("cache") }
    }

    /// Runs kubectl off the async runtime; returns stdout, failing the test with stderr on a non-zero exit.
    async fn run(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).arg("--cache-dir").arg(&self.cache).args(args);
        let shown = format!("kubectl {}", args.join(" "));
        let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap_or_else(|e| panic!("{shown}: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kubectl {} failed: {stderr}", args.join(" "));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn row<'a>(table: &'a str, first_cells: &[&str]) -> Option<Vec<&'a str>> {
    table.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|cells| cells.starts_with(first_cells))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_creates_applies_lists_prints_columns_and_deletes() {
    let server = TestKube::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(&server, dir.path());
    server.seed([common::fixture("widgets-crd.yaml"), serde_json::to_value(common::namespace("shop")).unwrap()]).unwrap();

    assert!(k.run(&["create", "-f", &fixture_path("pod.yaml")]).await.contains("pod/kubectl-made created"));
    let pods = k.run(&["get", "pods", "-A"]).await;
    let header = pods.lines().next().unwrap_or_default();
    assert_eq!(header.split_whitespace().collect::<Vec<_>>(), ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert!(row(&pods, &["shop", "kubectl-made", "0/1"]).is_some(), "{pods}");

    assert!(k.run(&["apply", "--server-side", "-f", &fixture_path("widget.yaml")]).await.contains("serverside-applied"));
    let widgets = k.run(&["get", "widgets", "-A"]).await;
    let header: Vec<&str> = widgets.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAMESPACE", "NAME", "SIZE", "PHASE", "AGE"], "printer columns of the CRD: {widgets}");
    assert!(row(&widgets, &["shop", "blue-one", "3"]).is_some(), "{widgets}");

    let yaml = k.run(&["get", "wd", "blue-one", "-n", "shop", "-o", "yaml"]).await;
    assert!(yaml.contains("color: blue") && yaml.contains("uid: "), "{yaml}");

    // Re-applying the same file changes nothing; a changed size is applied.
    let before = server.get("example.dev/v1", "Widget", "shop", "blue-one").unwrap();
    k.run(&["apply", "--server-side", "-f", &fixture_path("widget.yaml")]).await;
    let after = server.get("example.dev/v1", "Widget", "shop", "blue-one").unwrap();
    assert_eq!(before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"]);

    assert!(k.run(&["delete", "-f", &fixture_path("widget.yaml")]).await.contains("deleted"));
    assert!(k.run(&["delete", "pod", "kubectl-made", "-n", "shop"]).await.contains("deleted"));
    assert!(server.get("v1", "Pod", "shop", "kubectl-made").is_none());
    assert!(server.get("example.dev/v1", "Widget", "shop", "blue-one").is_none());
}
