//! The audit's table for people: snapshots at 80, 120 and 200 columns (`tests/golden/table-*.txt`,
//! regenerated with `UPDATE_GOLDEN=1 cargo test --test table`), and no line wider than the width
//! except one holding a single unbreakable token.

mod common;

use kompliance::audit::output::{Paint, TableOptions, write_table};
use kompliance::catalog::Lang;
use std::path::Path;
use unicode_width::UnicodeWidthStr;

fn table(width: usize, all: bool, lang: Lang) -> String {
    let cfg = common::config("example-config.yaml");
    let result = common::audit(&cfg, &[Path::new("examples")], Some("v1.31.4"));
    let mut out = vec![];
    let o = TableOptions { width, paint: Paint(false), lang, all, offline: true };
    write_table(&result, &o, &mut out).expect("write table");
    String::from_utf8(out).expect("utf-8")
}

fn snapshot(name: &str, text: &str) {
    let golden = common::root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, text).expect("write golden");
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(expected == text, "{name}: table differs from {}; rerun with UPDATE_GOLDEN=1 and review\n{text}", golden.display());
}

#[test]
fn snapshots_at_80_120_and_200_columns() {
    for width in [80, 120, 200] {
        snapshot(&format!("table-{width}.txt"), &table(width, false, Lang::En));
    }
    snapshot("table-120-all.txt", &table(120, true, Lang::En));
}

#[test]
fn no_line_is_wider_than_the_width_unless_it_is_one_word() {
    for width in [40, 60, 80, 120, 200] {
        for all in [false, true] {
            for lang in [Lang::En, Lang::Ko] {
                for line in table(width, all, lang).lines() {
                    if line.width() <= width {
                        continue;
                    }
                    let rest = line.trim_start().trim_start_matches("✗ ").trim_start_matches("~ ").trim_start_matches("fix: ");
                    assert!(!rest.contains(' '), "width {width} (all {all}, {lang:?}): {} columns, breakable: {line:?}", line.width());
                }
            }
        }
    }
}

#[test]
fn the_compact_table_shows_failing_rows_first_and_folds_the_rest() {
    let t = table(120, false, Lang::En);
    let legacy: Vec<&str> = t.lines().skip_while(|l| !l.starts_with("NAMESPACE legacy")).take_while(|l| !l.is_empty()).collect();
    let rows: Vec<&str> = legacy.iter().filter(|l| l.starts_with("  ") && !l.starts_with("   ")).copied().collect();
    assert!(rows[1].contains("trusted-registries") && rows[1].contains("High"), "High failing rows first: {rows:?}");
    assert!(rows.iter().any(|r| r.starts_with("  NotEvaluated image-vulnerabilities")), "{rows:?}");
    assert!(legacy.iter().any(|l| l.starts_with("    fix: Set each containers[].image")), "the fix is under the failing row");
    // Offline, the cluster rows that need a live cluster or Azure are one line, not nine.
    let cluster: Vec<&str> = t.lines().skip_while(|l| *l != "CLUSTER").take_while(|l| !l.is_empty()).collect();
    assert!(cluster.iter().any(|l| l.contains("9 need a live cluster or Azure")), "{cluster:?}");
    assert!(!cluster.iter().any(|l| l.contains("no Azure access configured")), "{cluster:?}");
    let all = table(120, true, Lang::En);
    assert!(all.contains("no Azure access configured"), "--all shows every row with its reason");
    assert!(all.lines().filter(|l| l.contains(" Healthy ")).count() > 10, "--all shows the healthy rows");
}
