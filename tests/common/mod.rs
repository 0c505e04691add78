//! Helpers shared by the integration tests: run an audit on paths with a config.

#![allow(dead_code)]

use kompliance::audit::{self, AuditOptions, AuditResult};
use kompliance::catalog::Lang;
use kompliance::config::Config;
use std::path::{Path, PathBuf};

/// The crate's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixed clock so exemption expiry and `lastEvaluated` are reproducible.
pub fn now() -> jiff::Timestamp {
    "2026-11-28T12:00:00Z".parse().expect("valid timestamp")
}

/// Loads a config file relative to the crate root.
pub fn config(rel: &str) -> Config {
    Config::load(&root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Audits `paths` with `cfg`.
pub fn audit(cfg: &Config, paths: &[&Path], kubernetes_version: Option<&str>) -> AuditResult {
    let opts = AuditOptions {
        paths: paths.iter().map(|p| p.to_path_buf()).collect(),
        default_namespace: "default".into(),
        kubernetes_version: kubernetes_version.map(str::to_string),
        now: now(),
        lang: Lang::En,
    };
    audit::run(cfg, &opts, std::io::empty())
}

/// Audits `input` as stdin (`-`) with `cfg`.
pub fn audit_stdin(cfg: &Config, input: Vec<u8>, kubernetes_version: Option<&str>) -> AuditResult {
    let opts = AuditOptions {
        paths: vec!["-".into()],
        default_namespace: "default".into(),
        kubernetes_version: kubernetes_version.map(str::to_string),
        now: now(),
        lang: Lang::En,
    };
    audit::run(cfg, &opts, std::io::Cursor::new(input))
}

/// The shared corpus, when this machine has it.
pub fn corpus() -> Option<PathBuf> {
    let p = root().join("../shared/corpus/manifests");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: ../shared/corpus/manifests is not present on this machine");
        None
    }
}
