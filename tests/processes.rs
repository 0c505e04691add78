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
async fn demo_from_an_empty_folder_serves_the_built_in_examples_to_kubectl_until_interrupted() {
    let _serial = e2e::SERIAL.lock().await;
    // Only the binary: an empty working folder, no flags. The examples and their configuration are
    // built in, and the kubeconfig goes to a temporary folder the printed lines name.
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("empty");
    std::fs::create_dir(&cwd).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kompliance"))
        .arg("demo")
        .current_dir(&cwd)
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
    // The export line pastes as it is: `export KUBECONFIG=<absolute path>`.
    let export = lines.iter().find_map(|l| l.trim().strip_prefix("export KUBECONFIG=")).expect("export line").to_string();
    let kubeconfig = std::path::PathBuf::from(&export);
    assert!(kubeconfig.is_absolute() && kubeconfig.is_file(), "{export}");
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0, "nothing written to the working folder");
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
    assert!(!kubeconfig.exists(), "the temporary folder is removed on exit");
}

#[test]
fn demo_with_a_missing_config_says_so_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kompliance"))
        .args(["demo", "--config", "no-such.yaml"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("kompliance demo");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config no-such.yaml: no such file"), "{out:?}");
}
