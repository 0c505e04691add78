//! Every recommendation's scenario fixtures: `tests/fixtures/checks/<id>/<state>.<scenario>.yaml`.
//!
//! The file name's first word is the expected state (`healthy`, `unhealthy`, `exempt`,
//! `notapplicable`, `notconfigured`, `notevaluated`). The config is the folder's `config.yaml`, else
//! `base-config.yaml`; a fixture may name another with `# config: FILE` (`none` = built-in
//! defaults), and require a message with `# expect-message: TEXT`, in its first lines.

mod common;

use kompliance::catalog::{CATALOG, Scope};
use kompliance::config::Config;
use kompliance::report::{RecommendationEntry, State};
use std::fs;
use std::path::Path;

fn dir() -> std::path::PathBuf {
    common::root().join("tests/fixtures/checks")
}

fn header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().take_while(|l| l.starts_with('#')).find_map(|l| l.strip_prefix(&format!("# {key}: ")))
}

fn config_for(folder: &Path, text: &str) -> Config {
    match header(text, "config") {
        Some("none") => Config::default(),
        Some(file) => Config::load(&folder.join(file)).expect("fixture config"),
        None if folder.join("config.yaml").is_file() => Config::load(&folder.join("config.yaml")).expect("folder config"),
        None => Config::load(&dir().join("base-config.yaml")).expect("base config"),
    }
}

fn entry(result: &kompliance::audit::AuditResult, id: &str) -> RecommendationEntry {
    let scope = kompliance::catalog::by_id(id).expect("id").scope;
    let list = if scope.is_namespaced() {
        let reports = result.reports();
        assert_eq!(reports.len(), 1, "fixture must hold one namespace");
        reports.into_iter().next().expect("report").1.recommendations
    } else {
        result.cluster().recommendations.clone()
    };
    list.into_iter().find(|e| e.id == id).expect("entry")
}

fn fixture_files(id: &str) -> Vec<std::path::PathBuf> {
    let Ok(rd) = fs::read_dir(dir().join(id)) else { return vec![] };
    let mut files: Vec<_> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.split('.').count() >= 3 && name.ends_with(".yaml")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_fixture_gives_its_expected_state() {
    let mut checked = 0;
    let mut failures = vec![];
    for rec in CATALOG.iter() {
        for file in fixture_files(rec.id) {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let text = fs::read_to_string(&file).expect("read fixture");
            let cfg = config_for(file.parent().expect("folder"), &text);
            let result = common::audit(&cfg, &[file.as_path()], None);
            assert!(result.errors.is_empty(), "{name}: input errors {:?}", result.errors);
            let e = entry(&result, rec.id);
            let expected = name.split('.').next().unwrap_or_default();
            let ok = match expected {
                "healthy" => e.state == State::Healthy && e.counts.exempt == 0 && e.counts.healthy >= 1,
                "unhealthy" => e.state == State::Unhealthy && e.counts.unhealthy == 1,
                "exempt" => e.state == State::Healthy && e.counts.exempt == 1 && e.exempt[0].exemption_reason.is_some(),
                "notapplicable" => e.state == State::NotApplicable,
                "notconfigured" => e.state == State::NotConfigured,
                "notevaluated" => e.state == State::NotEvaluated && e.reason.is_some(),
                other => panic!("{}/{name}: unknown expected state {other:?}", rec.id),
            };
            if !ok {
                failures.push(format!("{}/{name}: expected {expected}, got {:?} {:?} {:?}", rec.id, e.state, e.counts, e.reason));
            }
            if let Some(msg) = header(&text, "expect-message") {
                let all: Vec<&str> = e.unhealthy.iter().chain(&e.exempt).map(|i| i.message.as_str()).collect();
                if !all.iter().any(|m| m.contains(msg)) {
                    failures.push(format!("{}/{name}: no message contains {msg:?}: {all:?}", rec.id));
                }
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{} of {checked} fixtures failed:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 80, "only {checked} fixtures found");
}

#[test]
fn every_in_cluster_recommendation_has_healthy_and_unhealthy_fixtures() {
    let mut missing = vec![];
    for rec in CATALOG.iter() {
        // Rows judged from Kubernetes objects alone; #24 needs vulnerability data (offline: NotEvaluated).
        let judged_offline = matches!(rec.scope, Scope::Pod | Scope::Service | Scope::Ingress) && rec.number != 24 || rec.number == 15;
        let names: Vec<String> = fixture_files(rec.id).iter().filter_map(|p| p.file_name()?.to_str().map(str::to_string)).collect();
        if judged_offline {
            for state in ["healthy.", "unhealthy."] {
                if !names.iter().any(|n| n.starts_with(state)) {
                    missing.push(format!("{}: no {state}* fixture", rec.id));
                }
            }
        } else if rec.number == 24 && names.is_empty() {
            missing.push(format!("{}: no fixture", rec.id));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
