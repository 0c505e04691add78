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
