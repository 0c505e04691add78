//! The command line as a user runs it: exit codes, stdin, output formats, config check.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kompliance"))
        .args(args)
        .current_dir(common::root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or("").as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const CFG: &str = "example-config.yaml";
const NOW: &str = "2026-11-28T00:00:00Z";

#[test]
fn exit_codes_follow_fail_on() {
    let ok = run(&["audit", "examples", "--config", CFG, "--now", NOW], None);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let high = run(&["audit", "examples", "--config", CFG, "--now", NOW, "--fail-on", "high"], None);
    assert_eq!(high.status.code(), Some(1));
    let clean = run(&["audit", "examples/shop.yaml", "--config", CFG, "--now", NOW, "--fail-on", "high"], None);
    assert_eq!(clean.status.code(), Some(1), "shop has a High finding (untrusted registry)");
    let web_only = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: a}\nspec:\n  ports: [{port: 2222}]\n";
    let medium_only = run(&["audit", "-", "--config", CFG, "--fail-on", "high"], Some(web_only));
    assert_eq!(medium_only.status.code(), Some(0), "only a Medium finding: --fail-on high passes");
    let medium = run(&["audit", "-", "--config", CFG, "--fail-on", "medium"], Some(web_only));
    assert_eq!(medium.status.code(), Some(1));
}

#[test]
fn unreadable_input_exits_2_and_still_prints_the_report() {
    let out = run(&["audit", "examples/shop.yaml", "no/such/file.yaml", "--config", CFG], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("NAMESPACE shop"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("no/such/file.yaml: cannot read"), "{}", text(&out.stderr));
    let malformed = run(
        &["audit", "-"],
        Some(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: c, ports: [{containerPort: http}]}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: c, image: x}]}\n",
        ),
    );
    assert_eq!(malformed.status.code(), Some(2));
    let err = text(&malformed.stderr);
    assert!(err.contains("-: document 1 (line 5): Pod/a: field spec.containers[0].ports[0].containerPort:"), "{err}");
    assert!(text(&malformed.stdout).contains("Pod/b"), "the second document is still evaluated");
}

#[test]
fn bad_arguments_and_bad_config_exit_2() {
    assert_eq!(run(&["audit", "examples", "-o", "xml"], None).status.code(), Some(2));
    assert_eq!(run(&["audit"], None).status.code(), Some(2));
    let bad = run(&["audit", "examples", "--config", "tests/fixtures/config/errors.yaml"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("errors.yaml: excludedNamespace: unknown key"));
}

#[test]
fn stdin_json_list_as_kubectl_prints_it() {
    let json = std::fs::read_to_string(common::root().join("examples/nodes.json")).expect("nodes");
    let out = run(&["audit", "-", "-o", "json", "--kubernetes-version", "1.31.0"], Some(&json));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!(v["kind"], "List");
    let cluster = v["items"].as_array().and_then(|i| i.last()).expect("cluster report");
    assert_eq!(cluster["kind"], "ComplianceClusterReport");
    let row = cluster["status"]["recommendations"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["id"] == "non-vulnerable-kubernetes-version")
        .expect("row");
    assert_eq!(row["state"], "Unhealthy");
    assert_eq!(row["counts"]["evaluated"], 3, "control plane + 2 nodes");
    assert_eq!(row["unhealthy"][0]["name"], "legacy-worker-1");
}

#[test]
fn yaml_output_parses_back_into_report_types() {
    let out = run(&["audit", "examples", "--config", CFG, "--now", NOW, "-o", "yaml"], None);
    assert_eq!(out.status.code(), Some(0));
    #[derive(serde::Deserialize)]
    struct List {
        items: Vec<serde_json::Value>,
    }
    let list: List = kompliance::yaml::decode(&text(&out.stdout)).expect("yaml").0;
    let n = list.items.len();
    for item in &list.items[..n - 1] {
        let r: kompliance::report::ComplianceReport = serde_json::from_value(item.clone()).expect("ComplianceReport");
        assert_eq!(r.metadata.name.as_deref(), Some("kompliance"));
        assert!(r.status.is_some());
    }
    let c: kompliance::report::ComplianceClusterReport = serde_json::from_value(list.items[n - 1].clone()).expect("cluster report");
    assert_eq!(c.status.expect("status").namespaces as usize, n - 1);
}

#[test]
fn sarif_has_rules_results_lines_and_suppressions() {
    let out = run(&["audit", "examples", "--config", CFG, "--now", NOW, "-o", "sarif"], None);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sarif json");
    assert_eq!(v["version"], "2.1.0");
    let run0 = &v["runs"][0];
    assert_eq!(run0["tool"]["driver"]["rules"].as_array().map(Vec::len), Some(24));
    let results = run0["results"].as_array().expect("results");
    let cart = results
        .iter()
        .find(|r| r["ruleId"] == "trusted-registries" && r["message"]["text"].as_str().is_some_and(|m| m.contains("Deployment/cart")))
        .expect("cart result");
    assert_eq!(cart["level"], "error");
    let loc = &cart["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "examples/shop.yaml");
    // `kind: Deployment` of cart is on line 39 of shop.yaml (its document starts after the second ---).
    let expected_line = std::fs::read_to_string(common::root().join("examples/shop.yaml"))
        .expect("shop")
        .lines()
        .position(|l| l == "  name: cart")
        .expect("cart")
        - 1;
    assert_eq!(loc["region"]["startLine"], expected_line as u64);
    let suppressed = results.iter().filter(|r| r.get("suppressions").is_some()).count();
    assert!(suppressed >= 5, "exempt findings are suppressed results, not dropped: {suppressed}");
}

#[test]
fn korean_titles_and_catalog() {
    let out = run(&["catalog", "--lang", "ko"], None);
    assert!(text(&out.stdout).contains("권한 있는 컨테이너를 피해야 함"));
    let json = run(&["catalog", "-o", "json"], None);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("catalog json");
    assert_eq!(v.as_array().map(Vec::len), Some(24));
    assert_eq!(v[17]["id"], "privileged-containers");
    assert_eq!(v[17]["policyDefinitionId"], "/providers/Microsoft.Authorization/policyDefinitions/95edb821-ddaf-4404-9732-666045e056b4");
    assert_eq!(v[17]["titleKo"], "권한 있는 컨테이너를 피해야 함");
    assert_eq!(v[3]["parameters"][0]["name"], "cpuLimit");
    let audit = run(&["audit", "examples/payments.yaml", "--config", CFG, "--lang", "ko"], None);
    assert!(text(&audit.stdout).contains("권한 있는 컨테이너를 피해야 함"), "{}", text(&audit.stdout));
}

#[test]
fn config_check_reports_every_problem() {
    let good = run(&["config", "check", CFG], None);
    assert_eq!(good.status.code(), Some(0));
    let bad = run(&["config", "check", "tests/fixtures/config/errors.yaml"], None);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(text(&bad.stderr).lines().count(), 20, "{}", text(&bad.stderr));
}

#[test]
fn crd_command_prints_both_crds() {
    let out = run(&["crd"], None);
    let t = text(&out.stdout);
    assert!(t.contains("name: compliancereports.kompliance.dev") && t.contains("name: complianceclusterreports.kompliance.dev"));
}

#[test]
fn deploy_example_config_is_clean_on_its_own_example_workloads_table() {
    // The table shows per-namespace headers and the cluster section; colour is off when not a terminal.
    let out = run(&["audit", "examples", "--config", CFG, "--now", NOW], None);
    let t = text(&out.stdout);
    assert!(t.starts_with("NAMESPACE legacy:"), "{t}");
    assert!(t.contains("\nkompliance audit: 4 namespaces, "), "totals come last: {t}");
    assert!(!t.contains('\u{1b}'), "no ANSI colour when stdout is not a terminal");
    assert!(t.contains("~ DaemonSet/node-exporter: exempt (config:"));
    assert!(!t.contains("kube-proxy"), "kube-system is excluded globally");
}

#[test]
fn sarif_rule_titles_follow_lang() {
    let out = run(&["audit", "examples/payments.yaml", "--config", CFG, "-o", "sarif", "--lang", "ko"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sarif");
    let rule = &v["runs"][0]["tool"]["driver"]["rules"][17];
    assert_eq!(rule["id"], "privileged-containers");
    assert_eq!(rule["shortDescription"]["text"], "권한 있는 컨테이너를 피해야 함");
}

/// The allocator's options are in force from the start (BENCHMARKS.md: with mimalloc's defaults
/// the audit's peak memory doubled on the corpus and crossed the 25% target on large lists).
#[test]
#[cfg(target_os = "linux")]
fn mimalloc_options_are_set_before_the_runtime_allocates() {
    let out = Command::new(env!("CARGO_BIN_EXE_kompliance")).arg("catalog").env("MIMALLOC_VERBOSE", "1").output().expect("run");
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("option 'arena_eager_commit': 0"), "{err}");
    assert!(err.contains("option 'purge_delay': 10"), "{err}");
}

#[test]
fn version_prints_the_crate_version_and_the_git_commit() {
    let out = run(&["--version"], None);
    assert!(out.status.success());
    let line = text(&out.stdout);
    let expected_commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_string());
    let commit = match std::env::var("KOMPLIANCE_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => expected_commit.unwrap_or_else(|| "unknown".into()),
    };
    assert_eq!(line.trim(), format!("kompliance {} (commit {commit})", env!("CARGO_PKG_VERSION")));
}
