//! `docs/recommendations.md` is generated from the catalogue and the scenario fixtures
//! (`tests/fixtures/checks/<id>/`): this test fails when the committed file is stale.
//! Regenerate with `UPDATE_DOCS=1 cargo test --test recommendations_doc` and review the diff.

mod common;

use kompliance::catalog::{CATALOG, Judge, Recommendation, Scope};
use kompliance::config::Config;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

const DOC: &str = "docs/recommendations.md";

fn header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().take_while(|l| l.starts_with('#')).find_map(|l| l.strip_prefix(&format!("# {key}: ")))
}

/// The fixture without its `# ...` header lines.
fn body(text: &str) -> String {
    text.lines().skip_while(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect()
}

/// The shortest fixture of a state (`healthy`, `unhealthy`) judged with the folder's own config,
/// ties broken by name, so the choice is stable.
fn example(id: &str, state: &str) -> Option<(PathBuf, String)> {
    let folder = common::root().join("tests/fixtures/checks").join(id);
    let mut files: Vec<(usize, PathBuf, String)> = fs::read_dir(&folder)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{state}.")) && n.ends_with(".yaml")))
        .filter_map(|p| {
            let text = fs::read_to_string(&p).ok()?;
            (header(&text, "config").is_none()).then(|| (body(&text).len(), p, text))
        })
        .collect();
    files.sort();
    files.into_iter().next().map(|(_, p, t)| (p, t))
}

fn folder_config(id: &str) -> (Config, Option<String>) {
    let folder = common::root().join("tests/fixtures/checks").join(id);
    let own = folder.join("config.yaml");
    if own.is_file() {
        let text = fs::read_to_string(&own).expect("read folder config");
        (Config::load(&own).expect("folder config"), Some(body(&text)))
    } else {
        (common::config("tests/fixtures/checks/base-config.yaml"), None)
    }
}

/// The first finding message the audit gives for the example.
fn finding(rec: &Recommendation, cfg: &Config, file: &Path) -> Option<String> {
    let result = common::audit(cfg, &[file], None);
    let entries = if rec.scope.is_namespaced() {
        result.reports().into_iter().flat_map(|(_, st)| st.recommendations).collect::<Vec<_>>()
    } else {
        result.cluster().recommendations.clone()
    };
    entries.into_iter().find(|e| e.id == rec.id)?.unhealthy.first().map(|i| i.message.clone())
}

fn judged_on(rec: &Recommendation) -> &'static str {
    match rec.scope {
        Scope::Pod => "workloads (a Pod's spec, a workload's pod template)",
        Scope::Service => "Services",
        Scope::Ingress => "Ingresses",
        Scope::Cluster => "the cluster (control plane, Nodes, managed cluster)",
        Scope::AzureSubscription => "the Azure subscription (read by the operator through Azure Resource Manager)",
        Scope::AzureRegistry => "Azure container registries (read by the operator through Azure Resource Manager)",
    }
}

fn rel(p: &Path) -> String {
    p.strip_prefix(common::root()).unwrap_or(p).display().to_string()
}

fn section(rec: &Recommendation) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## {}\n", rec.id);
    let _ = writeln!(s, "**#{} {}** ({})  ", rec.number, rec.title, rec.title_ko);
    let _ = writeln!(s, "Severity {}; judged on {}.\n", rec.severity.as_str(), judged_on(rec));
    let _ = writeln!(s, "**Rule.** {}\n", rec.description);
    let _ = writeln!(s, "**Fix.** {}\n", rec.remediation);
    if rec.parameters.is_empty() {
        let _ = writeln!(s, "**Parameters.** None of its own.");
    } else {
        let _ = writeln!(s, "**Parameters** (`recommendations.{}.parameters` in the config):\n", rec.id);
        let _ = writeln!(s, "| name | value | default |\n|---|---|---|");
        for p in rec.parameters {
            let default = match (p.default, p.required) {
                (Some(d), _) => format!("`{d}`"),
                (None, true) => "none: NotConfigured until set".to_string(),
                (None, false) => "none".to_string(),
            };
            let _ = writeln!(s, "| `{}` | {:?} | {default} |", p.name, p.kind);
        }
    }
    if matches!(rec.judge, Judge::Pod(_)) {
        let _ = writeln!(
            s,
            "\nLike every workload recommendation it also takes the scoping parameters `namespaces`, `excludedNamespaces`, `labelSelector`, `excludedContainers` and `excludedImages`."
        );
    }
    let (cfg, cfg_text) = folder_config(rec.id);
    match (example(rec.id, "unhealthy"), example(rec.id, "healthy")) {
        (Some((bad, bad_text)), Some((good, good_text))) => {
            if let Some(c) = cfg_text {
                let _ = writeln!(s, "\nThe examples are judged with this configuration:\n\n```yaml\n{c}```");
            }
            let _ = writeln!(s, "\n**Unhealthy** (`{}`):\n\n```yaml\n{}```", rel(&bad), body(&bad_text));
            if let Some(m) = finding(rec, &cfg, &bad) {
                let _ = writeln!(s, "\nkompliance reports: `{m}`");
            }
            let _ = writeln!(s, "\n**Fixed** (`{}`):\n\n```yaml\n{}```", rel(&good), body(&good_text));
        }
        _ => {
            let _ = writeln!(
                s,
                "\n**Examples.** Not judged from manifests alone: the operator reads it from a live cluster{}. The offline audit reports it NotEvaluated with the reason.",
                if rec.scope == Scope::Cluster { "" } else { " or from Azure" }
            );
        }
    }
    let _ = writeln!(s, "\n**Azure Policy.** {} (`{}`)\n", rec.title, rec.policy_definition_id());
    s
}

fn render() -> String {
    let mut s = String::from(
        "# The recommendations\n\n\
         <!-- Generated by tests/recommendations_doc.rs from the catalogue (src/catalog/table.rs) and the\n     \
         fixtures (tests/fixtures/checks/); regenerate with `UPDATE_DOCS=1 cargo test --test recommendations_doc`. -->\n\n\
         One section per recommendation, headed by its id (the link every surface gives:\n\
         `docs/recommendations.md#<id>`). `kompliance explain ID` prints a section in the terminal.\n\n",
    );
    for rec in &CATALOG {
        let _ = writeln!(s, "- [`{}`](#{}) {}", rec.id, rec.id, rec.title);
    }
    s.push('\n');
    for rec in &CATALOG {
        s.push_str(&section(rec));
    }
    s.truncate(s.trim_end().len());
    s.push('\n');
    s
}

#[test]
fn the_committed_doc_matches_the_catalogue_and_fixtures() {
    let text = render();
    let path = common::root().join(DOC);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        fs::write(&path, &text).expect("write doc");
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == text, "{DOC} is stale; rerun with UPDATE_DOCS=1 cargo test --test recommendations_doc and review the diff");
}

#[test]
fn every_recommendation_has_a_section_whose_anchor_is_its_id() {
    let committed = fs::read_to_string(common::root().join(DOC)).unwrap_or_default();
    for rec in &CATALOG {
        assert!(committed.contains(&format!("\n## {}\n", rec.id)), "{}: no section", rec.id);
        let url = kompliance::catalog::links::recommendation_doc_url(rec.id);
        assert!(url.ends_with(&format!("recommendations.md#{}", rec.id)));
        let shown = kompliance::catalog::explain::section(rec.id).unwrap_or_default();
        assert!(shown.contains(rec.remediation), "{}: explain does not show the fix", rec.id);
    }
}

#[test]
fn workload_examples_are_really_unhealthy_and_fixed() {
    for rec in CATALOG.iter().filter(|r| matches!(r.judge, Judge::Pod(_) | Judge::Service(_) | Judge::Ingress(_))) {
        let (cfg, _) = folder_config(rec.id);
        if let Some((bad, _)) = example(rec.id, "unhealthy") {
            assert!(finding(rec, &cfg, &bad).is_some(), "{}: the unhealthy example has no finding", rec.id);
        }
        if let Some((good, _)) = example(rec.id, "healthy") {
            assert!(finding(rec, &cfg, &good).is_none(), "{}: the fixed example has a finding", rec.id);
        }
    }
}
