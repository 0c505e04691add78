//! Golden reports: the audit of `examples/` and of a few corpus folders gives stable YAML.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --test golden` and review the diff.

mod common;

use std::path::Path;

fn render(result: &kompliance::audit::AuditResult) -> String {
    let mut out = vec![];
    kompliance::audit::output::write_yaml(result, &mut out).expect("write yaml");
    String::from_utf8(out).expect("utf-8")
}

fn check(name: &str, paths: &[&Path], config: &str, version: Option<&str>) {
    let cfg = common::config(config);
    let result = common::audit(&cfg, paths, version);
    let yaml = render(&result);
    let golden = common::root().join("tests/golden").join(format!("{name}.yaml"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().expect("dir")).expect("mkdir");
        std::fs::write(&golden, &yaml).expect("write golden");
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(expected == yaml, "{name}: output differs from {}; rerun with UPDATE_GOLDEN=1 and review", golden.display());
    // Same input twice gives byte-identical output.
    let again = render(&common::audit(&cfg, paths, version));
    assert_eq!(yaml, again, "{name}: output is not deterministic");
}

#[test]
fn examples_report() {
    check("examples", &[Path::new("examples")], "example-config.yaml", Some("v1.31.4"));
}

#[test]
fn corpus_folders_reports() {
    let Some(corpus) = common::corpus() else { return };
    for dir in ["kube-bench", "microservices-demo", "kubernetes-dashboard", "kube-prometheus"] {
        let p = corpus.join(dir);
        check(&format!("corpus-{dir}"), &[p.as_path()], "tests/fixtures/checks/base-config.yaml", None);
    }
}
