//! The OpenReports writer (opt-in, `--openreports`): one `Report` per reported workload, named
//! after its UID and owned by it, and one `ClusterReport`, applied with server-side apply only when
//! their content changed; reports with no result left, or of workloads gone, are deleted. What is
//! on the server is listed again every recheck period, so a report edited or deleted by someone is
//! put back at the namespace's next evaluation (a resync at the latest). When the CRDs are not
//! served it says so once and looks again every recheck period; it never installs them.

use super::leader::Leadership;
use super::writer::FIELD_MANAGER;
use crate::model::ResourceKey;
use crate::openreports::render::{ReportMeta, carry_timestamps, object_ref, report_object};
use crate::openreports::{CLUSTER_REPORT_NAME, GROUP, MANAGED_BY, MANAGED_BY_LABEL, ReportResult, ResultFilter, report_name};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// What the event loop sends: the kept results of every workload of a namespace, or of the cluster.
#[derive(Debug)]
pub enum OrMsg {
    /// A namespace's workloads (with their UIDs, when known) with at least one kept result (a
    /// workload missing here has none).
    Namespace(String, Vec<(ResourceKey, Option<String>, Vec<ReportResult>)>),
    /// The cluster report's results.
    Cluster(Vec<ReportResult>),
}

/// `Report` and `ClusterReport` of openreports.io/v1alpha1.
fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, "v1alpha1", kind))
}

/// A report as last written or seen: its results.
#[derive(Debug, Clone)]
struct Held {
    results: Vec<ReportResult>,
}

/// UIDs of the reported workloads, from the watches: top-level workloads' metadata, Pods that no
/// built-in controller owns, Services and Ingresses.
#[derive(Debug, Default)]
pub struct Uids(HashMap<(String, String, String), String>);

impl Uids {
    /// Records a UID.
    pub fn insert(&mut self, ns: &str, kind: &str, name: &str, uid: String) {
        if !uid.is_empty() {
            self.0.insert((ns.to_string(), kind.to_string(), name.to_string()), uid);
        }
    }

    /// Records a Pod's UID when the Pod is itself the reported unit (no built-in controller).
    /// A ReplicationController (a reported workload whose kind is not watched) gets its UID from
    /// the owner reference of its Pods.
    pub fn pod(&mut self, meta: &kube::api::ObjectMeta) {
        match crate::model::controller_of(meta.owner_references.as_ref()) {
            Some(o) if o.kind == "ReplicationController" => {
                let ns = meta.namespace.as_deref().unwrap_or("default");
                let owner = meta.owner_references.iter().flatten().find(|r| r.kind == o.kind && r.name == o.name && r.api_version == "v1");
                if let Some(r) = owner {
                    self.insert(ns, "ReplicationController", &r.name, r.uid.clone());
                }
            }
            Some(o) if crate::model::pod_controller(&o) => {}
            _ => self.object("Pod", meta),
        }
    }

    /// Records an object's UID from its metadata.
    pub fn object(&mut self, kind: &str, meta: &kube::api::ObjectMeta) {
        let ns = meta.namespace.as_deref().unwrap_or("default");
        self.insert(ns, kind, meta.name.as_deref().unwrap_or_default(), meta.uid.clone().unwrap_or_default());
    }

    /// Forgets an object.
    pub fn remove(&mut self, ns: &str, kind: &str, name: &str) {
        self.0.remove(&(ns.to_string(), kind.to_string(), name.to_string()));
    }

    /// Forgets a namespace's objects.
    pub fn remove_namespace(&mut self, ns: &str) {
        self.0.retain(|(n, _, _), _| n != ns);
    }

    /// The UID of a reported resource.
    pub fn get(&self, key: &ResourceKey) -> Option<&str> {
        self.0.get(&(key.namespace.clone(), key.kind.clone(), key.name.clone())).map(String::as_str)
    }
}

/// The writer's state.
pub struct OrWriter {
    client: kube::Client,
    leadership: Leadership,
    metrics: super::telemetry::OperatorMetrics,
    filter: ResultFilter,
    recheck: Duration,
    /// Whether the CRDs are served (None: not known yet).
    served: Option<bool>,
    /// Reports on the server, by (namespace, name); "" is the cluster report's namespace.
    held: HashMap<(String, String), Held>,
}

impl OrWriter {
    /// A writer writing while `leadership` says so.
    pub fn new(
        client: kube::Client,
        leadership: Leadership,
        metrics: super::telemetry::OperatorMetrics,
        filter: ResultFilter,
        recheck: Duration,
    ) -> Self {
        OrWriter { client, leadership, metrics, filter, recheck, served: None, held: HashMap::new() }
    }

    /// Counts one write (`kompliance_report_writes_total{scope="openreports"}`).
    fn count(&self, result: &str) {
        self.metrics.report_writes.with_label_values(&["openreports", result]).inc();
    }

    /// Runs until the channel closes; the latest message per namespace wins. A write the server
    /// throttles (429, waited out for its Retry-After) or fails for a passing reason (5xx, no
    /// connection) is tried again, from that message on, unless a newer one replaces it.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<OrMsg>) {
        let mut last_list = tokio::time::Instant::now();
        self.refresh().await;
        let mut pending: BTreeMap<String, OrMsg> = BTreeMap::new();
        let mut resume_at: Option<tokio::time::Instant> = None;
        loop {
            let recheck_at = last_list + self.recheck;
            let wake = resume_at.map_or(recheck_at, |t| t.min(recheck_at));
            let msg = tokio::select! {
                m = rx.recv() => match m { Some(m) => Some(m), None => return },
                _ = tokio::time::sleep_until(wake) => None,
            };
            if last_list.elapsed() >= self.recheck {
                self.refresh().await;
                last_list = tokio::time::Instant::now();
            }
            // Coalesce what is queued: only the newest state of each scope counts.
            let mut next = msg;
            while let Some(m) = next {
                let key = match &m {
                    OrMsg::Namespace(ns, _) => ns.clone(),
                    OrMsg::Cluster(_) => String::new(),
                };
                pending.insert(key, m);
                next = rx.try_recv().ok();
            }
            if resume_at.is_some_and(|t| tokio::time::Instant::now() < t) {
                continue;
            }
            resume_at = None;
            if self.served != Some(true) || !self.leadership.is_leader() {
                pending.clear();
                continue;
            }
            while let Some((key, m)) = pending.pop_first() {
                let retry = match &m {
                    OrMsg::Namespace(ns, workloads) => self.namespace(ns, workloads).await,
                    OrMsg::Cluster(results) => self.cluster(results).await,
                };
                if let Some(after) = retry {
                    pending.insert(key, m);
                    resume_at = Some(tokio::time::Instant::now() + after);
                    break;
                }
            }
        }
    }

    /// Counts a failed write; how long to wait before trying again, when it is worth it.
    fn failed(&self, e: &kube::Error) -> Option<Duration> {
        let retry = retry_delay(e);
        self.count(if matches!(e, kube::Error::Api(s) if s.code == 429) { "throttled" } else { "error" });
        retry
    }

    /// Checks that the CRDs are served and lists the reports kompliance wrote (what is held).
    async fn refresh(&mut self) {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource("Report"));
        let lp = ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
        let listed = match api.list(&lp).await {
            Ok(l) => l,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                if self.served != Some(false) {
                    warn!(recheck = ?self.recheck, "OpenReports CRDs (reports.openreports.io) are not served: no OpenReports are written; install them (OpenReports project or Kyverno) to get them");
                }
                self.served = Some(false);
                self.metrics.openreports_crds.set(0);
                return;
            }
            Err(e) => {
                warn!(error = %super::scope::brief(&e), "listing OpenReports failed; will retry");
                return;
            }
        };
        if self.served != Some(true) {
            info!("OpenReports CRDs are served: writing OpenReports");
        }
        self.served = Some(true);
        self.metrics.openreports_crds.set(1);
        let mut held = HashMap::new();
        for obj in listed.items {
            let ns = obj.metadata.namespace.clone().unwrap_or_default();
            let name = obj.metadata.name.clone().unwrap_or_default();
            let results: Vec<ReportResult> = serde_json::from_value(obj.data["results"].clone()).unwrap_or_default();
            held.insert((ns, name), Held { results });
        }
        let capi: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource("ClusterReport"));
        if let Ok(c) = capi.get_opt(CLUSTER_REPORT_NAME).await
            && let Some(c) = c
        {
            let results: Vec<ReportResult> = serde_json::from_value(c.data["results"].clone()).unwrap_or_default();
            held.insert((String::new(), CLUSTER_REPORT_NAME.to_string()), Held { results });
        }
        self.held = held;
    }

    async fn namespace(&mut self, ns: &str, workloads: &[(ResourceKey, Option<String>, Vec<ReportResult>)]) -> Option<Duration> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &resource("Report"));
        let mut wanted = std::collections::HashSet::new();
        for (key, uid, results) in workloads {
            let mut results = results.clone();
            // Without a UID (not seen yet) there is no owner for the garbage collector: no report.
            let Some(uid) = uid.as_deref() else {
                debug!(workload = %key, "no UID known: no OpenReport");
                continue;
            };
            let name = report_name(Some(uid), &key.namespace, &key.kind, &key.name);
            wanted.insert(name.clone());
            let slot = (ns.to_string(), name.clone());
            if let Some(h) = self.held.get(&slot) {
                carry_timestamps(&mut results, &h.results);
                if h.results == results {
                    continue;
                }
            }
            let owner = object_ref(key, Some(uid));
            let meta = ReportMeta { name: name.clone(), namespace: Some(ns.to_string()), scope: Some(owner.clone()), owner: Some(owner) };
            let obj = report_object(&meta, &results, &self.filter);
            match api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&obj)).await {
                Ok(_) => {
                    self.count("applied");
                    self.held.insert(slot, Held { results });
                }
                Err(e) => {
                    warn!(namespace = ns, report = %name, error = %super::scope::brief(&e), "writing an OpenReport failed");
                    if let Some(after) = self.failed(&e) {
                        return Some(after);
                    }
                }
            }
        }
        let stale: Vec<(String, String)> = self.held.keys().filter(|(n, name)| n == ns && !wanted.contains(name)).cloned().collect();
        for slot in stale {
            match api.delete(&slot.1, &DeleteParams::default()).await {
                Ok(_) => self.count("applied"),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    warn!(namespace = ns, report = %slot.1, error = %super::scope::brief(&e), "deleting an OpenReport failed");
                    if let Some(after) = self.failed(&e) {
                        return Some(after);
                    }
                    continue;
                }
            }
            self.held.remove(&slot);
        }
        None
    }

    async fn cluster(&mut self, results: &[ReportResult]) -> Option<Duration> {
        let mut results = results.to_vec();
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource("ClusterReport"));
        let slot = (String::new(), CLUSTER_REPORT_NAME.to_string());
        if let Some(h) = self.held.get(&slot) {
            carry_timestamps(&mut results, &h.results);
            if h.results == results {
                return None;
            }
        }
        let meta = ReportMeta { name: CLUSTER_REPORT_NAME.into(), ..Default::default() };
        let obj = report_object(&meta, &results, &self.filter);
        match api.patch(CLUSTER_REPORT_NAME, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&obj)).await {
            Ok(_) => {
                self.count("applied");
                self.held.insert(slot, Held { results });
                None
            }
            Err(e) => {
                warn!(error = %super::scope::brief(&e), "writing the OpenReports ClusterReport failed");
                self.failed(&e)
            }
        }
    }
}

/// How long to wait before writing again after `e`: a 429's Retry-After (at least 1 s, at most
/// [`MAX_RETRY_AFTER`]), a second after a 5xx or a failed connection; None for an answer that a
/// retry would not change (the next evaluation writes again).
fn retry_delay(e: &kube::Error) -> Option<Duration> {
    match e {
        kube::Error::Api(s) if s.code == 429 => {
            let secs = s.details.as_ref().map_or(0, |d| u64::from(d.retry_after_seconds));
            Some(Duration::from_secs(secs.clamp(1, MAX_RETRY_AFTER.as_secs())))
        }
        kube::Error::Api(s) if s.code >= 500 => Some(TRANSIENT_RETRY),
        kube::Error::Api(_) => None,
        _ => Some(TRANSIENT_RETRY),
    }
}

/// The longest Retry-After waited out before writing again.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The wait after a 5xx or a failed connection.
const TRANSIENT_RETRY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod uid_tests {
    use super::Uids;
    use crate::model::ResourceKey;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::api::ObjectMeta;

    fn pod(name: &str, owner: Option<(&str, &str, &str, &str)>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("shop".into()),
            uid: Some(format!("uid-{name}")),
            owner_references: owner.map(|(api_version, kind, name, uid)| {
                vec![OwnerReference {
                    api_version: api_version.into(),
                    kind: kind.into(),
                    name: name.into(),
                    uid: uid.into(),
                    controller: Some(true),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
    }

    fn key(kind: &str, name: &str) -> ResourceKey {
        ResourceKey { namespace: "shop".into(), kind: kind.into(), name: name.into() }
    }

    #[test]
    fn reported_units_get_their_uid_bare_pods_and_replication_controllers_from_the_pod() {
        let mut uids = Uids::default();
        uids.pod(&pod("bare", None));
        uids.pod(&pod("legacy-x1", Some(("v1", "ReplicationController", "legacy", "rc-uid"))));
        uids.pod(&pod("web-1", Some(("apps/v1", "ReplicaSet", "web-5d", "rs-uid"))));
        assert_eq!(uids.get(&key("Pod", "bare")), Some("uid-bare"));
        assert_eq!(uids.get(&key("ReplicationController", "legacy")), Some("rc-uid"));
        assert_eq!(uids.get(&key("Pod", "legacy-x1")), None, "a controlled Pod is not the reported unit");
        assert_eq!(uids.get(&key("Pod", "web-1")), None);
        assert_eq!(uids.get(&key("ReplicaSet", "web-5d")), None, "ReplicaSets come from their own watch");
    }
}
