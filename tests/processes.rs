//! The `kompliance run` and `kompliance demo` binaries as processes: SIGTERM stops cleanly, the demo serves kubectl.

mod e2e;

use e2e::{Cluster, deploy, eventually, namespace};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(start.elapsed() < within, "process did not exit within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exits_cleanly_on_sigterm_and_releases_its_lease() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").privileged().build()]).unwrap();
    let kubeconfig = c.dir.path().join("kubeconfig");
    c.server.write_kubeconfig(&kubeconfig, "operator").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kompliance"))
        .args([
            "run",
            "--metrics-addr",
            "127.0.0.1:0",
            "--lease-namespace",
            "default",
            "--lease-duration",
            "3s",
            "--identity",
            "proc-a",
            "--debounce",
            "200ms",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--config")
        .arg(c.config_path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kompliance run");
    eventually("the process writes the report", || c.report("shop").is_some_and(|r| r.get("status").is_some())).await;
    let holder = c.server.get("coordination.k8s.io/v1", "Lease", "default", "kompliance").unwrap()["spec"]["holderIdentity"].clone();
    assert_eq!(holder, "proc-a");
    // SAFETY: sending a signal to our own child process by its pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(15))).await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    let lease = c.server.get("coordination.k8s.io/v1", "Lease", "default", "kompliance").unwrap();
    assert!(lease["spec"].get("holderIdentity").is_none_or(serde_json::Value::is_null), "{lease}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_reports_to_kubectl_until_interrupted() {
    let _serial = e2e::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("demo.kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kompliance"))
        .arg("demo")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .current_dir(e2e::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kompliance demo");
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut out = vec![];
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.starts_with("Ctrl-C stops");
            out.push(line);
            if done {
                break;
            }
        }
        out
    })
    .await
    .unwrap();
    assert!(lines.iter().any(|l| l.contains("kubectl get compliancereports -A")), "{lines:?}");
    let cache = dir.path().join("cache");
    let start = Instant::now();
    let mut table = String::new();
    while start.elapsed() < Duration::from_secs(30) {
        let (kc, cache) = (kubeconfig.clone(), cache.clone());
        table = tokio::task::spawn_blocking(move || {
            let out = Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(kc)
                .arg("--cache-dir")
                .arg(cache)
                .args(["get", "compliancereports", "-A"])
                .output()
                .expect("kubectl");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .await
        .unwrap();
        if ["shop", "payments", "legacy", "monitoring"].iter().all(|ns| table.lines().any(|l| l.starts_with(ns))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(table.lines().any(|l| l.starts_with("legacy ")), "{table}");
    assert!(!table.lines().any(|l| l.starts_with("kube-system ")), "kube-system is excluded by the example config: {table}");
    // SAFETY: sending a signal to our own child process by its pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(15))).await.unwrap();
    assert!(status.success(), "{status:?}");
}
