//! Reports: the CRD types, building them from verdicts, and the content hash that decides writes.

pub mod build;
pub mod rollup;
#[cfg(test)]
mod rollup_tests;
pub mod types;

use sha2::{Digest, Sha256};
pub use types::*;

/// The content hash of a report as a watch saw it, computed when first asked for: the writer does
/// not need it for a report it wrote itself (it knows that resourceVersion already), so that
/// report's status is neither decoded nor hashed again.
pub struct LazyHash(Lazy);

enum Lazy {
    Known(String),
    Later(Box<dyn FnOnce() -> String + Send>),
}

impl LazyHash {
    /// The hash of a status kept as raw JSON (`""` for none); one that does not decode as `S` hashes
    /// as `""` too, which no written report has, so the writer puts its own back.
    pub fn of_raw<S: serde::de::DeserializeOwned + 'static>(
        status: Option<Box<serde_json::value::RawValue>>,
        hash: fn(&mut S) -> String,
    ) -> Self {
        Self::later(move || status.and_then(|raw| serde_json::from_str::<S>(raw.get()).ok()).map(|mut s| hash(&mut s)).unwrap_or_default())
    }

    /// A hash that `f` computes when first asked for.
    pub fn later(f: impl FnOnce() -> String + Send + 'static) -> Self {
        LazyHash(Lazy::Later(Box::new(f)))
    }

    /// The hash (computed now if it was not yet).
    pub fn get(self) -> String {
        match self.0 {
            Lazy::Known(h) => h,
            Lazy::Later(f) => f(),
        }
    }
}

impl From<String> for LazyHash {
    fn from(h: String) -> Self {
        LazyHash(Lazy::Known(h))
    }
}

impl From<&str> for LazyHash {
    fn from(h: &str) -> Self {
        LazyHash(Lazy::Known(h.to_string()))
    }
}

impl std::fmt::Debug for LazyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Lazy::Known(h) => write!(f, "LazyHash({h:?})"),
            Lazy::Later(_) => f.write_str("LazyHash(not computed)"),
        }
    }
}

/// Hash of a namespace report's content, leaving out `lastEvaluated`, `operatorVersion` and `configHash`.
pub fn content_hash(status: &ReportStatus) -> String {
    content_hash_mut(&mut status.clone())
}

/// [`content_hash`] without copying the status: the left-out fields are taken out for the hash
/// and put back.
pub fn content_hash_mut(status: &mut ReportStatus) -> String {
    unstamped_hash(status)
}

/// Hash of the cluster report's content, leaving out the same fields.
pub fn cluster_content_hash(status: &ClusterReportStatus) -> String {
    cluster_content_hash_mut(&mut status.clone())
}

/// [`cluster_content_hash`] without copying the status (as [`content_hash_mut`]).
pub fn cluster_content_hash_mut(status: &mut ClusterReportStatus) -> String {
    unstamped_hash(status)
}

/// The hash of a status's JSON without its stamp, which is taken out for the hash and put back.
fn unstamped_hash<S: Stamp + serde::Serialize>(status: &mut S) -> String {
    let taken = status.stamp_fields().map(Option::take);
    let hash = hash_json(status);
    for (field, value) in status.stamp_fields().into_iter().zip(taken) {
        *field = value;
    }
    hash
}

/// The fields of a report status that say when, by which version and under which configuration it
/// was evaluated (the fields the content hashes leave out), and its conditions (which they keep).
pub trait Stamp {
    /// `lastEvaluated`, `operatorVersion` and `configHash`, in that order.
    fn stamp_fields(&mut self) -> [&mut Option<String>; 3];
    /// Sets `conditions` to `[ready]`.
    fn set_ready(&mut self, ready: Condition);
    /// Sets `lastEvaluated`, `operatorVersion` and `configHash`.
    fn stamp(&mut self, evaluated: String, version: String, config_hash: String) {
        for (field, value) in self.stamp_fields().into_iter().zip([evaluated, version, config_hash]) {
            *field = Some(value);
        }
    }
}

impl Stamp for ReportStatus {
    fn stamp_fields(&mut self) -> [&mut Option<String>; 3] {
        [&mut self.last_evaluated, &mut self.operator_version, &mut self.config_hash]
    }
    fn set_ready(&mut self, ready: Condition) {
        self.conditions = vec![ready];
    }
}

impl Stamp for ClusterReportStatus {
    fn stamp_fields(&mut self) -> [&mut Option<String>; 3] {
        [&mut self.last_evaluated, &mut self.operator_version, &mut self.config_hash]
    }
    fn set_ready(&mut self, ready: Condition) {
        self.conditions = vec![ready];
    }
}

/// Type of the one condition kompliance writes.
pub const READY: &str = "Ready";

/// The `Ready` condition of a report rebuilt by the full evaluation pass that started at `pass_at`,
/// when the next pass is due `resync` later. Both times are whole seconds, so the condition (part
/// of the content hash) changes once per pass: every report is written again once per pass, and a
/// reader can tell a stale report from `nextEvaluation` (see [`is_stale`]).
pub fn ready_condition(pass_at: jiff::Timestamp, resync: std::time::Duration) -> Condition {
    let at = pass_at.round(jiff::Unit::Second).unwrap_or(pass_at);
    let span = jiff::SignedDuration::try_from(resync).unwrap_or(jiff::SignedDuration::MAX);
    let next = at.checked_add(span).unwrap_or(at);
    Condition {
        type_: READY.into(),
        status: "True".into(),
        reason: "Evaluated".into(),
        message: format!("evaluated at {at}; the next full evaluation is due by {next} (resync interval {}s)", resync.as_secs()),
        last_transition_time: at.to_string(),
        next_evaluation: Some(next.to_string()),
    }
}

/// Slack allowed past `nextEvaluation` for the pass's writes to land before a report counts as stale.
pub const STALE_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether a report with these conditions is stale at `now`: no `Ready` condition, not `True`, or
/// `now` later than its `nextEvaluation` plus [`STALE_GRACE`].
pub fn is_stale(conditions: &[Condition], now: jiff::Timestamp) -> bool {
    let Some(ready) = conditions.iter().find(|c| c.type_ == READY) else { return true };
    let due = ready.next_evaluation.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let grace = jiff::SignedDuration::try_from(STALE_GRACE).unwrap_or_default();
    ready.status != "True" || due.is_none_or(|d| d.checked_add(grace).is_ok_and(|d| now > d))
}

/// SHA-256 of the JSON of `v`, in hex; the JSON streams into the hash (no copy of it is built).
fn hash_json<T: serde::Serialize>(v: &T) -> String {
    let mut hasher = Sha256::new();
    if serde_json::to_writer(&mut hasher, v).is_err() {
        hasher = Sha256::new();
    }
    let mut hex = String::with_capacity(64);
    for b in hasher.finalize() {
        use std::fmt::Write;
        // Writing into a String cannot fail.
        write!(hex, "{b:02x}").ok();
    }
    hex
}

/// Wraps a namespace status into the object written to the cluster (`kompliance` in `ns`).
pub fn namespace_object(ns: &str, status: ReportStatus) -> ComplianceReport {
    let mut r = ComplianceReport::new("kompliance", ComplianceReportSpec {});
    r.metadata.namespace = Some(ns.to_string());
    r.status = Some(status);
    r
}

/// Wraps the cluster status into the object named `cluster`.
pub fn cluster_object(status: ClusterReportStatus) -> ComplianceClusterReport {
    let mut r = ComplianceClusterReport::new("cluster", ComplianceClusterReportSpec {});
    r.status = Some(status);
    r
}

/// The CRDs of both report kinds, as YAML documents.
pub fn crds_yaml() -> Vec<(&'static str, String)> {
    use kube::CustomResourceExt;
    vec![
        ("compliancereports.kompliance.dev.yaml", crate::yaml::to_string(&ComplianceReport::crd())),
        ("complianceclusterreports.kompliance.dev.yaml", crate::yaml::to_string(&ComplianceClusterReport::crd())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_content_hash_streams_the_json_and_leaves_the_status_as_it_was() {
        let mut st = ReportStatus::default();
        st.stamp("2026-12-03T12:00:00Z".into(), "1.0.0".into(), "cfg".into());
        st.set_ready(ready_condition("2026-12-03T12:00:00Z".parse().unwrap(), Duration::from_secs(300)));
        let before = st.clone();
        let unstamped = ReportStatus { last_evaluated: None, operator_version: None, config_hash: None, ..st.clone() };
        let bytes = serde_json::to_vec(&unstamped).unwrap();
        let expected: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(content_hash(&st), expected, "the hash of the JSON without the stamp");
        assert_eq!(content_hash_mut(&mut st), expected);
        assert_eq!(st, before, "the stamp is put back");
        let mut cl = ClusterReportStatus::default();
        cl.stamp("2026-12-03T12:00:00Z".into(), "1.0.0".into(), "cfg".into());
        let cl_before = cl.clone();
        let cl_unstamped = ClusterReportStatus::default();
        assert_eq!(cluster_content_hash_mut(&mut cl), cluster_content_hash(&cl_unstamped));
        assert_eq!(cl, cl_before);
    }

    #[test]
    fn a_lazy_hash_of_the_raw_status_is_the_content_hash_of_the_decoded_one() {
        let mut st = ReportStatus::default();
        st.stamp("2026-12-03T12:00:00Z".into(), "1.0.0".into(), "cfg".into());
        st.set_ready(ready_condition("2026-12-03T12:00:00Z".parse().unwrap(), Duration::from_secs(300)));
        let raw = |json: String| Some(serde_json::value::RawValue::from_string(json).unwrap());
        assert_eq!(LazyHash::of_raw::<ReportStatus>(raw(serde_json::to_string(&st).unwrap()), content_hash_mut).get(), content_hash(&st));
        let cl = ClusterReportStatus::default();
        let cl_raw = raw(serde_json::to_string(&cl).unwrap());
        assert_eq!(LazyHash::of_raw::<ClusterReportStatus>(cl_raw, cluster_content_hash_mut).get(), cluster_content_hash(&cl));
        // No status, or one that is not a report's: a hash no written report has.
        assert_eq!(LazyHash::of_raw::<ReportStatus>(None, content_hash_mut).get(), "");
        let odd = Some(serde_json::value::RawValue::from_string("{\"recommendations\": 7}".into()).unwrap());
        assert_eq!(LazyHash::of_raw::<ReportStatus>(odd, content_hash_mut).get(), "");
        assert_eq!(LazyHash::from("h").get(), "h");
    }

    #[test]
    fn the_ready_condition_says_when_the_next_evaluation_is_due_and_goes_stale_after_it() {
        let at: jiff::Timestamp = "2026-12-03T12:00:00.4Z".parse().unwrap();
        let c = ready_condition(at, Duration::from_secs(300));
        assert_eq!((c.type_.as_str(), c.status.as_str(), c.reason.as_str()), ("Ready", "True", "Evaluated"));
        assert_eq!(c.last_transition_time, "2026-12-03T12:00:00Z");
        assert_eq!(c.next_evaluation.as_deref(), Some("2026-12-03T12:05:00Z"));
        assert!(c.message.contains("2026-12-03T12:05:00Z"), "{}", c.message);
        let cs = vec![c];
        assert!(!is_stale(&cs, "2026-12-03T12:05:59Z".parse().unwrap()));
        assert!(is_stale(&cs, "2026-12-03T12:06:01Z".parse().unwrap()));
        assert!(is_stale(&[], at));
    }

    #[test]
    fn the_condition_is_part_of_the_content_hash_so_each_pass_writes_once() {
        let mut a = ReportStatus::default();
        let mut b = ReportStatus::default();
        a.set_ready(ready_condition("2026-12-03T12:00:00Z".parse().unwrap(), Duration::from_secs(300)));
        b.set_ready(ready_condition("2026-12-03T12:00:00.2Z".parse().unwrap(), Duration::from_secs(300)));
        assert_eq!(content_hash(&a), content_hash(&b), "the same pass, the same hash");
        b.set_ready(ready_condition("2026-12-03T12:05:00Z".parse().unwrap(), Duration::from_secs(300)));
        assert_ne!(content_hash(&a), content_hash(&b), "the next pass writes again");
    }
}
