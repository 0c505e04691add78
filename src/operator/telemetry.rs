//! The operator's own metrics (every replica): counters start at zero for every known label set,
//! so each series exists from the first scrape. Registered in an injected registry.

use prometheus::{Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Kinds the operator watches (label values of the watch and evaluation counters).
pub const WATCHED_KINDS: [&str; 5] = ["Pod", "Service", "Ingress", "Node", "Namespace"];
/// Results of a report write.
pub const WRITE_RESULTS: [&str; 5] = ["applied", "unchanged", "conflict", "throttled", "error"];

/// Operational metrics of contract.md.
#[derive(Clone)]
pub struct OperatorMetrics {
    /// `kompliance_evaluations_total{kind}`.
    pub evaluations: IntCounterVec,
    /// `kompliance_watch_events_total{kind,type}`.
    pub watch_events: IntCounterVec,
    /// `kompliance_report_writes_total{scope,result}`.
    pub report_writes: IntCounterVec,
    /// `kompliance_evaluation_duration_seconds`.
    pub evaluation_duration: Histogram,
    /// `kompliance_report_write_duration_seconds`.
    pub write_duration: Histogram,
    /// `kompliance_last_evaluation_timestamp_seconds`.
    pub last_evaluation: Gauge,
    /// `kompliance_config_last_reload_successful`.
    pub config_last_reload_ok: IntGauge,
    /// `kompliance_config_reloads_total{result}`.
    pub config_reloads: IntCounterVec,
    /// `kompliance_leader`.
    pub leader: IntGauge,
    /// `kompliance_openreports_crds_served`.
    pub openreports_crds: IntGauge,
}

/// Why the metrics could not be registered (a name clash in the given registry).
#[derive(Debug, thiserror::Error)]
#[error("registering operator metrics")]
pub struct RegisterMetrics(#[from] prometheus::Error);

impl OperatorMetrics {
    /// Creates and registers every operational metric in `registry`.
    pub fn register(registry: &Registry, version: &str, revision: &str) -> Result<Self, RegisterMetrics> {
        let evaluations = IntCounterVec::new(Opts::new("kompliance_evaluations_total", "Objects evaluated, by kind"), &["kind"])?;
        let watch_events =
            IntCounterVec::new(Opts::new("kompliance_watch_events_total", "Watch events received, by kind and type"), &["kind", "type"])?;
        let report_writes =
            IntCounterVec::new(Opts::new("kompliance_report_writes_total", "Report writes, by scope and result"), &["scope", "result"])?;
        let evaluation_duration =
            Histogram::with_opts(HistogramOpts::new("kompliance_evaluation_duration_seconds", "Time to evaluate one object"))?;
        let write_duration =
            Histogram::with_opts(HistogramOpts::new("kompliance_report_write_duration_seconds", "Time to write one report"))?;
        let last_evaluation =
            Gauge::new("kompliance_last_evaluation_timestamp_seconds", "End of the last full evaluation pass (Unix time)")?;
        let config_last_reload_ok =
            IntGauge::new("kompliance_config_last_reload_successful", "1 when the last configuration load succeeded")?;
        let config_reloads =
            IntCounterVec::new(Opts::new("kompliance_config_reloads_total", "Configuration loads, by result"), &["result"])?;
        let leader = IntGauge::new("kompliance_leader", "1 on the replica that holds the lease")?;
        let openreports_crds = IntGauge::new(
            "kompliance_openreports_crds_served",
            "1 when --openreports is on and the OpenReports CRDs are served, 0 otherwise",
        )?;
        let build_info = GaugeVec::new(Opts::new("kompliance_build_info", "Build of this replica"), &["version", "revision"])?;
        build_info.with_label_values(&[version, revision]).set(1.0);
        for kind in WATCHED_KINDS {
            evaluations.with_label_values(&[kind]);
            for t in ["added", "modified", "deleted", "restarted"] {
                watch_events.with_label_values(&[kind, t]);
            }
        }
        for scope in ["namespace", "cluster", "openreports"] {
            for r in WRITE_RESULTS {
                report_writes.with_label_values(&[scope, r]);
            }
        }
        for r in ["success", "failure"] {
            config_reloads.with_label_values(&[r]);
        }
        registry.register(Box::new(evaluations.clone()))?;
        registry.register(Box::new(watch_events.clone()))?;
        registry.register(Box::new(report_writes.clone()))?;
        registry.register(Box::new(evaluation_duration.clone()))?;
        registry.register(Box::new(write_duration.clone()))?;
        registry.register(Box::new(last_evaluation.clone()))?;
        registry.register(Box::new(config_last_reload_ok.clone()))?;
        registry.register(Box::new(config_reloads.clone()))?;
        registry.register(Box::new(leader.clone()))?;
        registry.register(Box::new(openreports_crds.clone()))?;
        registry.register(Box::new(build_info))?;
        Ok(OperatorMetrics {
            evaluations,
            watch_events,
            report_writes,
            evaluation_duration,
            write_duration,
            last_evaluation,
            config_last_reload_ok,
            config_reloads,
            leader,
            openreports_crds,
        })
    }
}

/// The counters of one vector already looked up, by their label values. The event loop counts
/// every watched object twice (`kompliance_watch_events_total`, `kompliance_evaluations_total`);
/// prometheus's own lookup hashes the label strings under a lock each time (about 1% of the
/// initial sync's CPU, BENCHMARKS.md). The counters are the vector's own: /metrics is unchanged.
#[derive(Debug)]
pub struct CachedCounters<const N: usize> {
    vec: IntCounterVec,
    cache: hashbrown::HashMap<[&'static str; N], IntCounter>,
}

impl<const N: usize> CachedCounters<N> {
    /// Counters of `vec`, looked up once per label values.
    pub fn new(vec: IntCounterVec) -> Self {
        CachedCounters { vec, cache: hashbrown::HashMap::new() }
    }

    /// Adds one to the counter with these label values.
    pub fn inc(&mut self, labels: [&'static str; N]) {
        match self.cache.get(&labels) {
            Some(c) => c.inc(),
            None => {
                let c = self.vec.with_label_values(&labels);
                c.inc();
                self.cache.insert(labels, c);
            }
        }
    }
}

#[cfg(test)]
mod cached_tests {
    use super::*;

    #[test]
    fn cached_counters_count_into_the_vector_itself() {
        let vec = IntCounterVec::new(Opts::new("t_total", "t"), &["kind", "type"]).expect("vec");
        let mut cached = CachedCounters::new(vec.clone());
        for _ in 0..3 {
            cached.inc(["Pod", "added"]);
        }
        cached.inc(["Pod", "deleted"]);
        vec.with_label_values(&["Pod", "added"]).inc();
        assert_eq!(vec.with_label_values(&["Pod", "added"]).get(), 4);
        assert_eq!(vec.with_label_values(&["Pod", "deleted"]).get(), 1);
        assert_eq!(vec.with_label_values(&["Service", "added"]).get(), 0);
    }
}
