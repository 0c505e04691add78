//! `kompliance audit`: manifests in, the same reports the operator writes out (plus table and SARIF).

pub mod collect;
pub mod docs;
mod dup_keys;
mod identify;
mod json_read;
pub mod json_stream;
pub mod kinds;
pub mod openreports;
pub mod output;
pub mod read;
pub mod sarif;
pub mod table;

use crate::catalog::{Lang, Severity};
use crate::cluster_facts::{ClusterObservations, cluster_facts};
use crate::config::Config;
use crate::engine::NoVulnerabilityData;
use crate::model::ResourceRecord;
use crate::report::build::{BuildOptions, ClusterFacts, Rollup, cluster_report, namespace_report};
use crate::report::{ClusterReportStatus, ReportStatus, State};
use collect::{Ctx, Stats};
use read::{InputError, Reader};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What to audit and how.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Files or directories; `-` is standard input.
    pub paths: Vec<PathBuf>,
    /// Namespace of objects that have none.
    pub default_namespace: String,
    /// API server version for #15.
    pub kubernetes_version: Option<String>,
    /// The clock (exemption expiry, `lastEvaluated`).
    pub now: jiff::Timestamp,
    /// Title language.
    pub lang: Lang,
}

/// Everything an audit produced. Namespace reports are built on demand, one at a time, so that
/// a huge input never holds every report in memory.
#[derive(Debug)]
pub struct AuditResult {
    namespaces: BTreeMap<String, Vec<ResourceRecord>>,
    facts: ClusterFacts,
    cfg: Config,
    opts: BuildOptions,
    stamp: String,
    cluster: std::sync::OnceLock<ClusterReportStatus>,
    /// Inputs or objects that could not be read.
    pub errors: Vec<InputError>,
    /// Oddities read anyway.
    pub warnings: Vec<String>,
    /// What was read.
    pub stats: Stats,
}

impl AuditResult {
    /// True when any unhealthy resource has a severity at or above `threshold`.
    pub fn fails_at(&self, threshold: Severity) -> bool {
        let s = &self.cluster().summary.unhealthy_by_severity;
        let n = match threshold {
            Severity::High => s.high,
            Severity::Medium => s.high + s.medium,
            Severity::Low => s.high + s.medium + s.low,
        };
        n > 0
    }

    /// Why `--fail-on threshold` fails, or `None` when it passes: how many resources are unhealthy at which severities.
    pub fn fail_reason(&self, threshold: Severity) -> Option<String> {
        let s = &self.cluster().summary.unhealthy_by_severity;
        let counted: Vec<(Severity, u32)> = [(Severity::High, s.high), (Severity::Medium, s.medium), (Severity::Low, s.low)]
            .into_iter()
            .filter(|(sev, n)| *sev >= threshold && *n > 0)
            .collect();
        let total: u32 = counted.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return None;
        }
        let parts: Vec<String> = counted.iter().map(|(sev, n)| format!("{n} at {}", sev.as_str())).collect();
        let plural = if total == 1 { "resource is" } else { "resources are" };
        Some(format!(
            "exit 1 (--fail-on {}): {total} {plural} unhealthy at {} or above ({})",
            threshold.as_str().to_ascii_lowercase(),
            threshold.as_str(),
            parts.join(", ")
        ))
    }

    /// Builds one namespace's report.
    fn build(&self, ns: &str, resources: &[ResourceRecord]) -> ReportStatus {
        let mut status = namespace_report(ns, resources, &self.cfg, &self.opts);
        status.last_evaluated = Some(self.stamp.clone());
        status.operator_version = Some(crate::VERSION.to_string());
        status.config_hash = Some(self.cfg.hash.clone());
        status
    }

    /// Calls `f` with each namespace report in namespace order, building one at a time; the same
    /// pass rolls them up into the cluster report.
    pub fn each_report<E>(&self, mut f: impl FnMut(&str, ReportStatus) -> Result<(), E>) -> Result<(), E> {
        let mut rollup = Rollup::default();
        for (ns, resources) in &self.namespaces {
            let st = self.build(ns, resources);
            rollup.add(ns, &st);
            f(ns, st)?;
        }
        self.cluster.get_or_init(|| self.finish_cluster(&rollup));
        Ok(())
    }

    /// Renders every namespace report with `render` on all cores, in chunks, and writes the
    /// results in namespace order; the same pass rolls them up into the cluster report.
    pub fn write_reports(
        &self,
        render: impl Fn(&str, &ReportStatus) -> Vec<u8> + Sync,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        let namespaces: Vec<(&String, &Vec<ResourceRecord>)> = self.namespaces.iter().collect();
        let mut rollup = Rollup::default();
        for chunk in namespaces.chunks(64) {
            let rendered = crate::par::par_map(chunk, |(ns, resources)| {
                let st = self.build(ns, resources);
                let bytes = render(ns, &st);
                Some((st, bytes))
            });
            for ((ns, _), r) in chunk.iter().zip(rendered) {
                let Some((st, bytes)) = r else { continue };
                rollup.add(ns, &st);
                out.write_all(&bytes)?;
            }
        }
        self.cluster.get_or_init(|| self.finish_cluster(&rollup));
        Ok(())
    }

    /// The cluster report (cluster rows and the roll-up of every namespace).
    pub fn cluster(&self) -> &ClusterReportStatus {
        if let Some(c) = self.cluster.get() {
            return c;
        }
        let _ = self.each_report::<()>(|_, _| Ok(()));
        self.cluster.get_or_init(|| self.finish_cluster(&Rollup::default()))
    }

    fn finish_cluster(&self, rollup: &Rollup) -> ClusterReportStatus {
        let mut cluster = cluster_report(&self.facts, rollup, &self.cfg, &self.opts);
        cluster.warnings.extend(self.warnings.iter().cloned());
        cluster.warnings.sort();
        cluster.warnings.truncate(crate::report::build::LIST_CAP);
        cluster.last_evaluated = Some(self.stamp.clone());
        cluster.operator_version = Some(crate::VERSION.to_string());
        cluster.config_hash = Some(self.cfg.hash.clone());
        cluster
    }

    /// Every namespace report (convenient for small inputs and tests).
    pub fn reports(&self) -> Vec<(String, ReportStatus)> {
        let mut out = vec![];
        let _ = self.each_report::<()>(|ns, st| {
            out.push((ns.to_string(), st));
            Ok(())
        });
        out
    }

    /// Every judged resource: cluster resources first, then by namespace.
    pub fn resources(&self) -> impl Iterator<Item = &ResourceRecord> {
        self.facts.resources.iter().chain(self.namespaces.values().flatten())
    }

    /// The judged resources by namespace, in namespace order (cluster resources are in [`AuditResult::facts`]).
    pub fn namespaces(&self) -> impl Iterator<Item = (&str, &[ResourceRecord])> {
        self.namespaces.iter().map(|(ns, r)| (ns.as_str(), r.as_slice()))
    }

    /// The cluster facts: cluster and Azure resources, and why rows without data were not judged.
    pub fn facts(&self) -> &ClusterFacts {
        &self.facts
    }

    /// The audit's clock (RFC 3339), as written in `lastEvaluated`.
    pub fn stamp(&self) -> &str {
        &self.stamp
    }

    /// The configuration the audit ran with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The language of titles.
    pub fn lang(&self) -> Lang {
        self.opts.lang
    }

    /// The day exemptions were judged against.
    pub fn today(&self) -> jiff::civil::Date {
        self.opts.today
    }
}

/// What the offline audit knows of the cluster: the Nodes in its input and `--kubernetes-version`;
/// the probes and Azure need a live cluster.
fn offline_observations(cfg: &Config, opts: &AuditOptions, nodes: Vec<ResourceRecord>) -> ClusterObservations {
    let azure = if cfg.azure.is_some() {
        "Azure Resource Manager is not read by the offline audit"
    } else {
        "no Azure access configured (azure: in the config)"
    };
    ClusterObservations {
        version: opts
            .kubernetes_version
            .clone()
            .ok_or_else(|| "no API server version (--kubernetes-version) and no Nodes in the input".to_string()),
        anonymous_allowed: Err("needs a live API server (SubjectAccessReview probe)".into()),
        addon: Err("needs a live cluster (add-on Deployments) or Azure access".into()),
        nodes,
        azure: Err(azure.into()),
        live: false,
    }
}

/// Runs an audit over the given inputs.
pub fn run(cfg: &Config, opts: &AuditOptions, stdin: impl std::io::Read) -> AuditResult {
    let vulns = NoVulnerabilityData;
    let mut reader = Reader::new(Ctx { cfg, vulns: &vulns, default_ns: &opts.default_namespace, keep_labels: cfg.exemptions_use_labels() });
    let mut stdin = Some(stdin);
    for p in &opts.paths {
        if p.as_os_str() == "-" {
            match stdin.take() {
                Some(s) => reader.read_stdin(s),
                None => reader.errors.push(InputError {
                    file: "-".into(),
                    document: None,
                    line: None,
                    object: None,
                    field: None,
                    message: "standard input named more than once".into(),
                }),
            }
        } else {
            reader.read_path(p);
        }
    }
    let Reader { collector, errors, mut warnings, .. } = reader;
    let collected = collector.finish();
    let today = opts.now.to_zoned(jiff::tz::TimeZone::UTC).date();
    // No message cut: the audit's output has no size bound (the operator's reports do).
    let bopts = BuildOptions { lang: opts.lang, today, show_pods: false, message_cap: None };

    let facts = cluster_facts(&offline_observations(cfg, opts, collected.nodes), cfg);

    warnings.extend(cfg.warnings.iter().cloned());
    AuditResult {
        namespaces: collected.namespaces,
        facts,
        cfg: cfg.clone(),
        opts: bopts,
        stamp: opts.now.to_string(),
        cluster: std::sync::OnceLock::new(),
        errors,
        warnings,
        stats: collected.stats,
    }
}

/// True for states that need attention in a table.
pub fn noteworthy(s: State) -> bool {
    !matches!(s, State::Healthy | State::NotApplicable)
}
