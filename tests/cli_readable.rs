//! The command line's readability (issue 14): explain, SARIF links, `--fail-on` reasons, warnings,
//! unreadable inputs and connection failures.

mod common;

use std::process::{Command, Output, Stdio};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kompliance"))
        .args(args)
        .current_dir(common::root())
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .output()
        .expect("spawn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const CFG: &str = "example-config.yaml";
const NOW: &str = "2026-11-28T00:00:00Z";

#[test]
fn explain_prints_the_section_with_its_fix_and_link() {
    let out = run(&["explain", "privileged-containers"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.starts_with("## privileged-containers\n"), "{t}");
    assert!(t.contains("**Fix.** Remove securityContext.privileged: true"), "{t}");
    assert!(t.contains("**Unhealthy**") && t.contains("**Fixed**"), "{t}");
    assert!(t.contains("policyDefinitions/95edb821-ddaf-4404-9732-666045e056b4"), "{t}");
    assert!(t.trim_end().ends_with("docs/recommendations.md#privileged-containers"), "{t}");
    assert!(!t.contains("## kubernetes-rbac"), "the next section is not printed");
    let ko = text(&run(&["explain", "privileged-containers", "--lang", "ko"]).stdout);
    assert!(ko.contains("**#18 권한 있는 컨테이너를 피해야 함**"), "{ko}");
}

#[test]
fn explain_of_an_unknown_id_lists_close_ids() {
    let out = run(&["explain", "privileged-container"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let e = text(&out.stderr);
    assert!(e.contains("no recommendation \"privileged-container\"; did you mean privileged-containers"), "{e}");
}

#[test]
fn sarif_rules_link_their_documentation() {
    let out = run(&["audit", "examples/payments.yaml", "--config", CFG, "--now", NOW, "-o", "sarif"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sarif");
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().expect("rules");
    for rule in rules {
        let id = rule["id"].as_str().expect("id");
        assert_eq!(rule["helpUri"], kompliance::catalog::links::recommendation_doc_url(id));
        assert_eq!(rule["help"]["text"], kompliance::catalog::by_id(id).expect("known").remediation);
    }
}

#[test]
fn fail_on_says_why_it_exits_1() {
    let out = run(&["audit", "examples", "--config", CFG, "--now", NOW, "--kubernetes-version", "v1.31.4", "--fail-on", "medium"]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.contains("exit 1 (--fail-on medium): 7 resources are unhealthy at Medium or above (4 at High, 3 at Medium)"), "{e}");
    let passing = run(&["audit", "examples/monitoring.yaml", "--config", CFG, "--now", NOW, "--fail-on", "low"]);
    assert_eq!(passing.status.code(), Some(0));
    assert!(!text(&passing.stderr).contains("exit 1"));
}

#[test]
fn the_summary_counts_every_warning_printed() {
    // examples/legacy.yaml has a malformed exempt-until (a report warning); a duplicate key adds an input warning.
    let dir = tempfile::tempdir().expect("tempdir");
    let dup = dir.path().join("dup.yaml");
    std::fs::write(&dup, "apiVersion: v1\nkind: Pod\nmetadata: {name: d, namespace: dup}\nspec:\n  containers: [{name: c, image: x}]\n  containers: [{name: c, image: y}]\n")
        .expect("write");
    let out = run(&["audit", "examples", dup.to_str().expect("utf-8"), "--config", CFG, "--now", NOW]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let printed = stdout.lines().chain(stderr.lines()).filter(|l| l.trim_start().starts_with("warning:")).count();
    assert!(printed >= 2, "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("0 errors, {printed} warnings")), "printed {printed}:\n{stdout}\n{stderr}");
}

#[test]
fn an_unreadable_input_is_reported_before_any_output() {
    let bin = env!("CARGO_BIN_EXE_kompliance");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("'{bin}' audit examples/shop.yaml no/such/file.yaml --config {CFG} 2>&1"))
        .current_dir(common::root())
        .env("NO_COLOR", "1")
        .output()
        .expect("sh");
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out.stdout);
    let first = t.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: no/such/file.yaml: cannot read"), "first line: {first:?}\n{t}");
    assert!(t.contains("NAMESPACE shop"), "the report is still printed");
}

#[test]
fn colour_only_on_request_or_a_terminal() {
    let plain = run(&["audit", "examples/payments.yaml", "--config", CFG, "--now", NOW]);
    assert!(!text(&plain.stdout).contains('\x1b'), "not a terminal: no colour");
    let always = run(&["audit", "examples/payments.yaml", "--config", CFG, "--now", NOW, "--color", "always"]);
    let t = text(&always.stdout);
    assert!(t.contains("\x1b[31mHigh    \x1b[0m") && t.contains("\x1b[31;1mUnhealthy    \x1b[0m"), "{t}");
}

#[test]
fn the_width_comes_from_columns_or_the_flag() {
    let wide_line = |out: &Output| text(&out.stdout).lines().map(unicode_width::UnicodeWidthStr::width).max().unwrap_or(0);
    let narrow = Command::new(env!("CARGO_BIN_EXE_kompliance"))
        .args(["audit", "examples/payments.yaml", "--config", CFG, "--now", NOW])
        .current_dir(common::root())
        .env("COLUMNS", "60")
        .output()
        .expect("spawn");
    assert!(wide_line(&narrow) <= 60, "{}", text(&narrow.stdout));
    let flag = run(&["audit", "examples/payments.yaml", "--config", CFG, "--now", NOW, "--width", "200"]);
    assert!(wide_line(&flag) > 100, "--width 200 puts titles on the row");
    let default = run(&["audit", "examples/payments.yaml", "--config", CFG, "--now", NOW]);
    assert!(wide_line(&default) <= kompliance::audit::table::DEFAULT_WIDTH, "{}", text(&default.stdout));
}

/// A kubeconfig for an API server on a loopback port nothing listens on.
fn closed_port_kubeconfig(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{port}");
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{url}\"}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\nusers: [{{name: u, user: {{token: x}}}}]\n"
    );
    std::fs::write(&path, text).expect("write kubeconfig");
    (path, url)
}

#[test]
fn a_connection_failure_names_the_url_and_the_cause_and_logs_carry_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (kubeconfig, url) = closed_port_kubeconfig(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_kompliance"))
        .args(["run", "--kubeconfig", kubeconfig.to_str().expect("utf-8"), "--leader-election=false"])
        .args(["--metrics-addr", "127.0.0.1:0", "--metrics-secure=false"])
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(e.contains(&format!("cannot connect to the API server at {url}/: connection refused")), "{e}");
    assert!(!e.contains("CRD") && !e.contains("compliancereports"), "not a CRD problem: {e}");
    assert!(!e.contains('\x1b'), "stderr is a pipe: no colour codes in the logs: {e:?}");
}

#[test]
fn the_audit_keeps_long_messages_whole() {
    // old-monolith fails trusted-registries on two containers: a message longer than the reports' cap.
    let out = run(&["audit", "examples/legacy.yaml", "--config", CFG, "--now", NOW, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let row =
        v["items"][0]["status"]["recommendations"].as_array().expect("rows").iter().find(|r| r["id"] == "trusted-registries").cloned();
    let message = row.as_ref().and_then(|r| r["unhealthy"][0]["message"].as_str()).expect("message").to_string();
    assert!(message.chars().count() > kompliance::report::build::MESSAGE_CAP, "{message}");
    assert!(!message.contains('…'), "{message}");
    assert!(message.ends_with("init container setup: image \"busybox:1.36\" is not from a trusted registry (allowedContainerImagesRegex \"^([a-z0-9]+\\\\.azurecr\\\\.io|registry\\\\.k8s\\\\.io|ghcr\\\\.io/kompliance)/.+$\")"), "{message}");
}
