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
    /// A namespace's workloads with at least one kept result (a workload missing here has none).
    Namespace(String, Vec<(ResourceKey, Vec<ReportResult>)>),
    /// The cluster report's results.
    Cluster(Vec<ReportResult>),
}

/// `Report` and `ClusterReport` of openreports.io/v1alpha1.
fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, "v1alpha1", kind))
}

/// A report as last written or seen: its results, and the workload it is about.
#[derive(Debug, Clone)]
struct Held {
    key: Option<ResourceKey>,
    results: Vec<ReportResult>,
}

/// The writer's state.
pub struct OrWriter {
    client: kube::Client,
    leadership: Leadership,
    filter: ResultFilter,
    recheck: Duration,
    /// Whether the CRDs are served (None: not known yet).
    served: Option<bool>,
    /// Reports on the server, by (namespace, name); "" is the cluster report's namespace.
    held: HashMap<(String, String), Held>,
    /// UIDs of workloads, by key.
    uids: HashMap<ResourceKey, String>,
    /// Writes done (applies and deletes), for the logs and tests.
    writes: u64,
}

impl OrWriter {
    /// A writer writing while `leadership` says so.
    pub fn new(client: kube::Client, leadership: Leadership, filter: ResultFilter, recheck: Duration) -> Self {
        OrWriter { client, leadership, filter, recheck, served: None, held: HashMap::new(), uids: HashMap::new(), writes: 0 }
    }

    /// Runs until the channel closes; the latest message per namespace wins.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<OrMsg>) {
        let mut last_list = tokio::time::Instant::now();
        self.refresh().await;
        loop {
            let msg = tokio::select! {
                m = rx.recv() => match m { Some(m) => Some(m), None => return },
                _ = tokio::time::sleep_until(last_list + self.recheck) => None,
            };
            if last_list.elapsed() >= self.recheck {
                self.refresh().await;
                last_list = tokio::time::Instant::now();
            }
            let Some(msg) = msg else { continue };
            // Coalesce what is queued: only the newest state of each scope counts.
            let mut pending: BTreeMap<String, OrMsg> = BTreeMap::new();
            let mut next = Some(msg);
            while let Some(m) = next {
                let key = match &m {
                    OrMsg::Namespace(ns, _) => ns.clone(),
                    OrMsg::Cluster(_) => String::new(),
                };
                pending.insert(key, m);
                next = rx.try_recv().ok();
            }
            if self.served != Some(true) || !self.leadership.is_leader() {
                continue;
            }
            for m in pending.into_values() {
                match m {
                    OrMsg::Namespace(ns, workloads) => self.namespace(&ns, workloads).await,
                    OrMsg::Cluster(results) => self.cluster(results).await,
                }
            }
        }
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
        let mut held = HashMap::new();
        for obj in listed.items {
            let ns = obj.metadata.namespace.clone().unwrap_or_default();
            let name = obj.metadata.name.clone().unwrap_or_default();
            let results: Vec<ReportResult> = serde_json::from_value(obj.data["results"].clone()).unwrap_or_default();
            let key = obj.data.get("scope").and_then(|s| {
                Some(ResourceKey { namespace: ns.clone(), kind: s.get("kind")?.as_str()?.into(), name: s.get("name")?.as_str()?.into() })
            });
            if let (Some(k), Some(uid)) = (&key, obj.data.pointer("/scope/uid").and_then(|u| u.as_str())) {
                self.uids.insert(k.clone(), uid.to_string());
            }
            held.insert((ns, name), Held { key, results });
        }
        let capi: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource("ClusterReport"));
        if let Ok(c) = capi.get_opt(CLUSTER_REPORT_NAME).await
            && let Some(c) = c
        {
            let results: Vec<ReportResult> = serde_json::from_value(c.data["results"].clone()).unwrap_or_default();
            held.insert((String::new(), CLUSTER_REPORT_NAME.to_string()), Held { key: None, results });
        }
        self.held = held;
    }

    /// The UID of a workload (read once, then remembered).
    async fn uid(&mut self, key: &ResourceKey) -> Option<String> {
        if let Some(u) = self.uids.get(key) {
            return Some(u.clone());
        }
        let api_version = crate::openreports::api_version_of(&key.kind);
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &key.kind));
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &key.namespace, &ar);
        match api.get_metadata_opt(&key.name).await {
            Ok(Some(m)) => {
                let uid = m.metadata.uid?;
                self.uids.insert(key.clone(), uid.clone());
                Some(uid)
            }
            Ok(None) => None,
            Err(e) => {
                debug!(workload = %key, error = %super::scope::brief(&e), "reading the workload's uid failed");
                None
            }
        }
    }

    async fn namespace(&mut self, ns: &str, workloads: Vec<(ResourceKey, Vec<ReportResult>)>) {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &resource("Report"));
        let mut wanted = std::collections::HashSet::new();
        for (key, mut results) in workloads {
            let Some(uid) = self.uid(&key).await else { continue };
            let name = report_name(Some(&uid), &key.namespace, &key.kind, &key.name);
            wanted.insert(name.clone());
            for r in &mut results {
                for o in &mut r.resources {
                    o.uid = Some(uid.clone());
                }
            }
            let slot = (ns.to_string(), name.clone());
            if let Some(h) = self.held.get(&slot) {
                carry_timestamps(&mut results, &h.results);
                if h.results == results {
                    continue;
                }
            }
            let owner = object_ref(&key, Some(&uid));
            let meta = ReportMeta { name: name.clone(), namespace: Some(ns.to_string()), scope: Some(owner.clone()), owner: Some(owner) };
            let obj = report_object(&meta, &results, &self.filter);
            match api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&obj)).await {
                Ok(_) => {
                    self.writes += 1;
                    self.held.insert(slot, Held { key: Some(key), results });
                }
                Err(e) => warn!(namespace = ns, report = %name, error = %super::scope::brief(&e), "writing an OpenReport failed"),
            }
        }
        let stale: Vec<(String, String)> = self.held.keys().filter(|(n, name)| n == ns && !wanted.contains(name)).cloned().collect();
        for slot in stale {
            match api.delete(&slot.1, &DeleteParams::default()).await {
                Ok(_) => self.writes += 1,
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    warn!(namespace = ns, report = %slot.1, error = %super::scope::brief(&e), "deleting an OpenReport failed");
                    continue;
                }
            }
            if let Some(Held { key: Some(k), .. }) = self.held.remove(&slot) {
                self.uids.remove(&k);
            }
        }
    }

    async fn cluster(&mut self, mut results: Vec<ReportResult>) {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource("ClusterReport"));
        let slot = (String::new(), CLUSTER_REPORT_NAME.to_string());
        if let Some(h) = self.held.get(&slot) {
            carry_timestamps(&mut results, &h.results);
            if h.results == results {
                return;
            }
        }
        let meta = ReportMeta { name: CLUSTER_REPORT_NAME.into(), ..Default::default() };
        let obj = report_object(&meta, &results, &self.filter);
        match api.patch(CLUSTER_REPORT_NAME, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&obj)).await {
            Ok(_) => {
                self.writes += 1;
                self.held.insert(slot, Held { key: None, results });
            }
            Err(e) => warn!(error = %super::scope::brief(&e), "writing the OpenReports ClusterReport failed"),
        }
    }
}
