//! Compliance gauges, computed from the reports at scrape time by a custom prometheus `Collector`,
//! so they always equal the reports and leave no stale series; labels are bounded (no Pod names).

use crate::catalog::{CATALOG, Severity};
use crate::report::{ClusterReportStatus, RecommendationEntry, ReportStatus, State, Summary};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, GaugeVec, Opts};
use std::sync::Arc;

/// The reports as they are now.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Namespace reports.
    pub namespaces: Vec<(String, ReportStatus)>,
    /// The cluster report.
    pub cluster: ClusterReportStatus,
}

/// Where the collector reads reports from at each scrape (the operator's verdict store).
pub trait ReportSource: Send + Sync {
    /// The current reports.
    fn snapshot(&self) -> Snapshot;
}

const RESOURCE_GAUGES: [(&str, &str); 3] = [
    ("kompliance_unhealthy_resources", "Unhealthy resources per recommendation"),
    ("kompliance_healthy_resources", "Healthy resources per recommendation"),
    ("kompliance_exempt_resources", "Exempt resources per recommendation"),
];

/// The per-scope summary gauges (docs/counts.md's score and unhealthy resources by severity).
struct SummaryGauges {
    namespace_score: GaugeVec,
    cluster_score: Gauge,
    namespace_unhealthy: GaugeVec,
    cluster_unhealthy: GaugeVec,
}

impl SummaryGauges {
    fn new() -> Result<Self, prometheus::Error> {
        Ok(SummaryGauges {
            namespace_score: GaugeVec::new(
                Opts::new("kompliance_score", "Compliance score of a namespace (percent of evaluated checks that pass, rounded down)"),
                &["namespace"],
            )?,
            cluster_score: Gauge::new(
                "kompliance_cluster_score",
                "Compliance score of the cluster (percent of evaluated checks that pass, rounded down)",
            )?,
            namespace_unhealthy: GaugeVec::new(
                Opts::new(
                    "kompliance_namespace_unhealthy_resources",
                    "Unhealthy resources of a namespace, each at its worst failing severity",
                ),
                &["namespace", "severity"],
            )?,
            cluster_unhealthy: GaugeVec::new(
                Opts::new(
                    "kompliance_cluster_unhealthy_resources",
                    "Unhealthy resources of the cluster, each at its worst failing severity",
                ),
                &["severity"],
            )?,
        })
    }

    fn descs(&self) -> Vec<Desc> {
        let mut d: Vec<Desc> = self.namespace_score.desc().into_iter().cloned().collect();
        d.extend(self.cluster_score.desc().into_iter().cloned());
        d.extend(self.namespace_unhealthy.desc().into_iter().cloned());
        d.extend(self.cluster_unhealthy.desc().into_iter().cloned());
        d
    }

    /// Sets the namespace series of `s` (no score series when nothing was evaluated).
    fn namespace(&self, ns: &str, s: &Summary) {
        if let Some(score) = s.score {
            self.namespace_score.with_label_values(&[ns]).set(f64::from(score));
        }
        for (sev, n) in severity_counts(s) {
            self.namespace_unhealthy.with_label_values(&[ns, sev.as_str()]).set(f64::from(n));
        }
    }

    fn cluster(&self, s: &Summary) {
        if let Some(score) = s.score {
            self.cluster_score.set(f64::from(score));
        }
        for (sev, n) in severity_counts(s) {
            self.cluster_unhealthy.with_label_values(&[sev.as_str()]).set(f64::from(n));
        }
    }

    fn collect(&self, cluster_has_score: bool, with_ns: bool) -> Vec<MetricFamily> {
        let mut out = vec![];
        if with_ns {
            out.extend(self.namespace_score.collect());
            out.extend(self.namespace_unhealthy.collect());
        }
        if cluster_has_score {
            out.extend(self.cluster_score.collect());
        }
        out.extend(self.cluster_unhealthy.collect());
        out
    }
}

fn severity_counts(s: &Summary) -> [(Severity, u32); 3] {
    let u = &s.unhealthy_by_severity;
    [(Severity::High, u.high), (Severity::Medium, u.medium), (Severity::Low, u.low)]
}

/// Exports the compliance gauges of contract.md.
pub struct ComplianceCollector {
    source: Arc<dyn ReportSource>,
    namespace_label: bool,
    descs: Vec<Desc>,
}

impl ComplianceCollector {
    /// A collector over `source`; `namespace_label: false` drops the namespace label (sums).
    pub fn new(source: Arc<dyn ReportSource>, namespace_label: bool) -> Result<Self, prometheus::Error> {
        let mut descs: Vec<Desc> = Self::vecs(namespace_label)?.iter().flat_map(|v| v.desc().into_iter().cloned()).collect();
        descs.extend(SummaryGauges::new()?.descs());
        Ok(ComplianceCollector { source, namespace_label, descs })
    }

    fn vecs(ns: bool) -> Result<Vec<GaugeVec>, prometheus::Error> {
        let res_labels: &[&str] = if ns { &["recommendation", "severity", "namespace"] } else { &["recommendation", "severity"] };
        let state_labels: &[&str] = if ns { &["recommendation", "namespace", "state"] } else { &["recommendation", "state"] };
        let mut v = RESOURCE_GAUGES.iter().map(|(n, h)| GaugeVec::new(Opts::new(*n, *h), res_labels)).collect::<Result<Vec<_>, _>>()?;
        v.push(GaugeVec::new(
            Opts::new("kompliance_recommendation_state", "1 for the recommendation's current state in a scope"),
            state_labels,
        )?);
        v.push(GaugeVec::new(
            Opts::new("kompliance_recommendation_info", "Recommendation metadata"),
            &["recommendation", "title", "severity", "policy_definition_id"],
        )?);
        Ok(v)
    }

    /// Computes every family from a snapshot.
    pub fn families(snapshot: &Snapshot, namespace_label: bool) -> Vec<MetricFamily> {
        let (Ok(vecs), Ok(summaries)) = (Self::vecs(namespace_label), SummaryGauges::new()) else { return vec![] };
        if namespace_label {
            for (ns, st) in &snapshot.namespaces {
                summaries.namespace(ns, &st.summary);
            }
        }
        summaries.cluster(&snapshot.cluster.summary);
        let scopes = snapshot
            .namespaces
            .iter()
            .map(|(ns, st)| (ns.as_str(), &st.recommendations))
            .chain(std::iter::once(("", &snapshot.cluster.recommendations)));
        for (ns, entries) in scopes {
            for e in entries.iter() {
                record(&vecs, e, ns, namespace_label);
            }
        }
        for r in CATALOG.iter() {
            // The severity in force is the reports' (a `severity:` override in the config); with no
            // report of a row (a replica that is not the leader) it has no info series either.
            // Its title is the reports' too (in the operator's `--lang`).
            if let Some((sev, title)) = configured_severity(snapshot, r.id) {
                vecs[4].with_label_values(&[r.id, title, sev.as_str(), &r.policy_definition_id()]).set(1.0);
            }
        }
        let mut out: Vec<MetricFamily> = vecs.iter().flat_map(|v| v.collect()).collect();
        // A leader with no report yet (or a standby) exports no summary series.
        if !snapshot.namespaces.is_empty() || snapshot.cluster != ClusterReportStatus::default() {
            out.extend(summaries.collect(snapshot.cluster.summary.score.is_some(), namespace_label));
        }
        out
    }
}

/// The severity and title the reports give recommendation `id`: its cluster row, its roll-up, else a namespace report's entry.
fn configured_severity<'a>(snapshot: &'a Snapshot, id: &str) -> Option<(Severity, &'a str)> {
    let cluster = &snapshot.cluster;
    cluster
        .recommendations
        .iter()
        .find(|e| e.id == id)
        .map(|e| (e.severity, e.title.as_str()))
        .or_else(|| cluster.namespaced.iter().find(|e| e.id == id).map(|e| (e.severity, e.title.as_str())))
        .or_else(|| {
            snapshot.namespaces.iter().flat_map(|(_, st)| &st.recommendations).find(|e| e.id == id).map(|e| (e.severity, e.title.as_str()))
        })
}

fn record(vecs: &[GaugeVec], e: &RecommendationEntry, ns: &str, with_ns: bool) {
    let sev = e.severity.as_str();
    if matches!(e.state, State::Healthy | State::Unhealthy) {
        for (v, n) in vecs.iter().zip([e.counts.unhealthy, e.counts.healthy, e.counts.exempt]) {
            let g = if with_ns { v.with_label_values(&[&e.id, sev, ns]) } else { v.with_label_values(&[&e.id, sev]) };
            g.add(n as f64);
        }
    }
    let g = if with_ns {
        vecs[3].with_label_values(&[&e.id, ns, e.state.as_str()])
    } else {
        vecs[3].with_label_values(&[&e.id, e.state.as_str()])
    };
    g.add(1.0);
}

impl Collector for ComplianceCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        Self::families(&self.source.snapshot(), self.namespace_label)
    }
}
