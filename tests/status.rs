//! `kompliance status` (and the kubectl plugin `kubectl-kompliance`) against testkube, with the
//! reports written by the operator: the same table as the audit's renderer, stale reports marked.

mod e2e;

use e2e::{Cluster, eventually};
use kompliance::audit::table::{Paint, TableOptions, namespace_section};
use kompliance::catalog::Lang;
use kompliance::report::ReportStatus;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

fn status(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kompliance"))
        .arg("status")
        .args(args)
        .args(["--kubeconfig", kubeconfig.to_str().expect("utf-8"), "--width", "120"])
        .env("NO_COLOR", "1")
        .output()
        .expect("spawn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn section_of(c: &Cluster, ns: &str) -> String {
    let st: ReportStatus = serde_json::from_value(c.report(ns).expect("report")["status"].clone()).expect("status");
    let o = TableOptions { width: 120, paint: Paint(false), lang: Lang::En, all: false, offline: false };
    String::from_utf8(namespace_section(ns, &st, &o).expect("render")).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_the_operators_reports_as_the_audit_table() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server
        .seed(testkube::seed::read_objects(&e2e::root().join("examples")).expect("examples").into_iter().map(|(_, o)| o))
        .expect("seed");
    let op = c.operator("kompliance-test", false).await;
    eventually("reports of the examples", || {
        ["legacy", "shop", "payments", "monitoring"].iter().all(|ns| c.report(ns).is_some_and(|r| r.get("status").is_some()))
            && c.cluster_report().is_some_and(|r| r.get("status").is_some())
    })
    .await;
    op.shutdown().await;
    let kubeconfig = c.dir.path().join("kubeconfig");
    c.server.write_kubeconfig(&kubeconfig, "reader").expect("kubeconfig");

    let all = status(&kubeconfig, &["-A"]);
    assert_eq!(all.status.code(), Some(0), "{}", text(&all.stderr));
    let out = text(&all.stdout);
    for ns in ["legacy", "monitoring", "payments", "shop"] {
        let section = section_of(&c, ns);
        assert!(out.contains(&section), "{ns}: the status output has the audit renderer's section\n{section}\n---\n{out}");
    }
    assert!(out.contains("    fix: Set each containers[].image"), "failing rows carry their fix:\n{out}");
    assert!(out.contains("\nCLUSTER\n"), "{out}");
    let namespaces = c.server.list("kompliance.dev/v1alpha1", "ComplianceReport").len();
    assert!(out.contains(&format!("kompliance status: {namespaces} namespaces,")), "{out}");
    assert!(!out.contains("stale"), "fresh reports are not stale:\n{out}");
    let legacy = out.split("NAMESPACE ").find(|s| s.starts_with("legacy:")).expect("legacy section");
    assert!(legacy.contains("trusted-registries") && legacy.contains("Unhealthy"), "{legacy}");

    // One namespace: only its section; the context's namespace when -n is not given.
    let one = text(&status(&kubeconfig, &["-n", "shop"]).stdout);
    assert!(one.starts_with("NAMESPACE shop:") && !one.contains("NAMESPACE legacy") && !one.contains("CLUSTER"), "{one}");
    let context = text(&status(&kubeconfig, &[]).stdout);
    assert!(context.starts_with("NAMESPACE default:") && !context.contains("NAMESPACE shop"), "{context}");
    let none = text(&status(&kubeconfig, &["-n", "nothing-here"]).stdout);
    assert!(none.contains("no ComplianceReport in namespace nothing-here"), "{none}");

    // A report last evaluated long ago, or not Ready, is marked stale.
    let mut old = c.report("shop").expect("shop");
    old["status"]["lastEvaluated"] = json!("2020-01-01T00:00:00Z");
    c.server.update(old).expect("update");
    let mut not_ready = c.report("payments").expect("payments");
    not_ready["status"]["conditions"] = json!([{"type": "Ready", "status": "False", "reason": "Stale", "message": "no evaluation for 20m", "lastTransitionTime": "2020-01-01T00:00:00Z"}]);
    c.server.update(not_ready).expect("update");
    let stale = text(&status(&kubeconfig, &["-A"]).stdout);
    let shop = stale.split("NAMESPACE ").find(|s| s.starts_with("shop:")).expect("shop");
    assert!(shop.lines().nth(1).is_some_and(|l| l.starts_with("  ! stale: last evaluated 2020-01-01T00:00:00Z")), "{shop}");
    // The CRD prunes `conditions` until its schema has them; once it keeps them, a not-Ready report is marked.
    if c.report("payments").is_some_and(|r| r["status"].get("conditions").is_some()) {
        let payments = stale.split("NAMESPACE ").find(|s| s.starts_with("payments:")).expect("payments");
        assert!(payments.contains("  ! not Ready (Stale): no evaluation for 20m"), "{payments}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_explains_missing_crds_and_runs_as_a_kubectl_plugin() {
    let _serial = e2e::SERIAL.lock().await;
    let server = testkube::TestKube::start().await.expect("testkube");
    let dir = tempfile::tempdir().expect("tmp");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, "reader").expect("kubeconfig");
    let out = status(&kubeconfig, &["-A"]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(e.contains("the ComplianceReport CRD is not installed in the cluster at http://127.0.0.1:"), "{e}");

    // kubectl finds `kubectl-kompliance` on the PATH; invoked under that name the binary is `kompliance`.
    server.seed(e2e::committed_crds()).expect("crds");
    let report = json!({
        "apiVersion": "kompliance.dev/v1alpha1", "kind": "ComplianceReport",
        "metadata": {"name": "kompliance", "namespace": "team-a"}, "spec": {},
    });
    server.seed([json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}), report.clone()]).expect("seed");
    let mut with_status: Value = report;
    let status_json =
        serde_json::to_value(ReportStatus { last_evaluated: Some(jiff::Timestamp::now().to_string()), ..ReportStatus::default() })
            .expect("status json");
    with_status["status"] = status_json;
    server.update(with_status).expect("status");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kompliance"), bin.join("kubectl-kompliance")).expect("symlink");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let kubectl = Command::new("kubectl")
        .args(["kompliance", "status", "-n", "team-a", "--kubeconfig", kubeconfig.to_str().expect("utf-8")])
        .env("PATH", &path)
        .env("NO_COLOR", "1")
        .output();
    let Ok(kubectl) = kubectl else {
        eprintln!("skipping the kubectl half: kubectl is not installed");
        return;
    };
    assert_eq!(kubectl.status.code(), Some(0), "{}", text(&kubectl.stderr));
    let t = text(&kubectl.stdout);
    assert!(t.starts_with("NAMESPACE team-a: no score, 0 resources evaluated"), "{t}");
    // Without a command, the plugin is `status`.
    let bare = Command::new(bin.join("kubectl-kompliance"))
        .args(["-n", "team-a", "--kubeconfig", kubeconfig.to_str().expect("utf-8")])
        .env("NO_COLOR", "1")
        .output()
        .expect("spawn");
    assert!(text(&bare.stdout).starts_with("NAMESPACE team-a:"), "{}{}", text(&bare.stdout), text(&bare.stderr));
}
