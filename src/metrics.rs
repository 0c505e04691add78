//! Compliance gauges, computed from the reports at scrape time by a custom prometheus `Collector`,
//! so they always equal the reports and leave no stale series; labels are bounded (no Pod names).

use crate::catalog::{CATALOG, Severity};
use crate::report::{ClusterReportStatus, RecommendationEntry, ReportStatus, State};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, Opts};
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

/// Exports the compliance gauges of contract.md.
pub struct ComplianceCollector {
    source: Arc<dyn ReportSource>,
    namespace_label: bool,
    descs: Vec<Desc>,
}

impl ComplianceCollector {
    /// A collector over `source`; `namespace_label: false` drops the namespace label (sums).
    pub fn new(source: Arc<dyn ReportSource>, namespace_label: bool) -> Result<Self, prometheus::Error> {
        let descs = Self::vecs(namespace_label)?.iter().flat_map(|v| v.desc().into_iter().cloned()).collect();
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
        let Ok(vecs) = Self::vecs(namespace_label) else { return vec![] };
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
            if let Some(sev) = configured_severity(snapshot, r.id) {
                vecs[4].with_label_values(&[r.id, r.title, sev.as_str(), &r.policy_definition_id()]).set(1.0);
            }
        }
        vecs.iter().flat_map(|v| v.collect()).collect()
    }
}

/// The severity the reports give recommendation `id`: its cluster row, its roll-up, else a namespace report's entry.
fn configured_severity(snapshot: &Snapshot, id: &str) -> Option<Severity> {
    let cluster = &snapshot.cluster;
    cluster
        .recommendations
        .iter()
        .find(|e| e.id == id)
        .map(|e| e.severity)
        .or_else(|| cluster.namespaced.iter().find(|e| e.id == id).map(|e| e.severity))
        .or_else(|| snapshot.namespaces.iter().flat_map(|(_, st)| &st.recommendations).find(|e| e.id == id).map(|e| e.severity))
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
