//! The watches the operator runs, merged into one stream of inputs: Pods, Services, Ingresses,
//! Nodes, Namespaces, workload metadata (owners and exemption annotations of ReplicaSets, Jobs,
//! Deployments, StatefulSets, DaemonSets, CronJobs) and the report objects themselves.

use super::scope::rv_of;
use super::slim::SlimPod;
use super::slim_meta::{MetaOnly, RawStatus};
use crate::model::{ExemptAnnotations, Owner, controller_of};
use crate::report::{
    ClusterReportStatus, ComplianceClusterReport, ComplianceReport, LazyHash, ReportStatus, cluster_content_hash_mut, content_hash_mut,
};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// A watched kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// core/v1 Pod.
    Pod,
    /// core/v1 Service.
    Service,
    /// networking.k8s.io/v1 Ingress.
    Ingress,
    /// core/v1 Node.
    Node,
    /// core/v1 Namespace.
    Namespace,
    /// apps/v1 ReplicaSet metadata.
    ReplicaSet,
    /// batch/v1 Job metadata.
    Job,
    /// apps/v1 Deployment metadata.
    Deployment,
    /// apps/v1 StatefulSet metadata.
    StatefulSet,
    /// apps/v1 DaemonSet metadata.
    DaemonSet,
    /// batch/v1 CronJob metadata.
    CronJob,
    /// The namespace reports.
    Report,
    /// The cluster report.
    ClusterReport,
    /// Trivy Operator VulnerabilityReports.
    VulnerabilityReport,
}

impl Kind {
    /// Label value for the watch and evaluation metrics.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::Ingress => "Ingress",
            Kind::Node => "Node",
            Kind::Namespace => "Namespace",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Job => "Job",
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::CronJob => "CronJob",
            Kind::Report => "ComplianceReport",
            Kind::ClusterReport => "ComplianceClusterReport",
            Kind::VulnerabilityReport => "VulnerabilityReport",
        }
    }
}

/// One watched object, reduced to what the operator keeps or needs.
#[derive(Debug)]
pub enum Obj {
    /// A Pod (evaluated at once, then dropped).
    Pod(Box<SlimPod>),
    /// A Service.
    Service(Box<Service>),
    /// An Ingress.
    Ingress(Box<Ingress>),
    /// A Node.
    Node(Box<Node>),
    /// A Namespace.
    Namespace(String),
    /// A workload's metadata: namespace, kind, name, its own controller, its exemption annotations and its UID.
    Owner(String, &'static str, String, Option<Owner>, ExemptAnnotations, String),
    /// A namespace report on the server: namespace, resourceVersion, content hash (computed if needed).
    Report(String, u64, LazyHash),
    /// The cluster report on the server: resourceVersion, content hash (computed if needed).
    ClusterReport(u64, LazyHash),
    /// A VulnerabilityReport: namespace, name, and its labels and `report` as JSON.
    VulnerabilityReport(String, String, Box<serde_json::Value>),
}

impl Obj {
    /// Namespace and name, the key of relist bookkeeping.
    pub fn key(&self) -> (String, String) {
        let meta_key = |m: &kube::api::ObjectMeta| (m.namespace.clone().unwrap_or_default(), m.name.clone().unwrap_or_default());
        match self {
            Obj::Pod(p) => meta_key(&p.metadata),
            Obj::Service(s) => meta_key(&s.metadata),
            Obj::Ingress(i) => meta_key(&i.metadata),
            Obj::Node(n) => meta_key(&n.metadata),
            Obj::Namespace(n) => (String::new(), n.clone()),
            Obj::Owner(ns, _, name, _, _, _) => (ns.clone(), name.clone()),
            Obj::Report(ns, _, _) => (ns.clone(), "kompliance".into()),
            Obj::ClusterReport(_, _) => (String::new(), "cluster".into()),
            Obj::VulnerabilityReport(ns, name, _) => (ns.clone(), name.clone()),
        }
    }
}

/// A step of a watch.
#[derive(Debug)]
pub enum Op {
    /// A (re)list starts.
    Init,
    /// An object of the (re)list.
    InitApply(Obj),
    /// The (re)list is complete: objects not seen since `Init` are gone.
    InitDone,
    /// An object was added or changed.
    Apply(Obj),
    /// An object was deleted.
    Delete(Obj),
}

/// What the operator loop receives.
#[derive(Debug)]
pub enum Input {
    /// A watch step of a kind, from the watch numbered `usize`.
    Watch(Kind, usize, Op),
    /// A watch error (the watch retries with backoff).
    Error(Kind, String),
}

fn map_events<K, S>(kind: Kind, id: usize, s: S, f: fn(K) -> Obj) -> BoxStream<'static, Input>
where
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    K: Send + 'static,
{
    s.default_backoff()
        .map(move |ev| match ev {
            Ok(watcher::Event::Init) => Input::Watch(kind, id, Op::Init),
            Ok(watcher::Event::InitApply(o)) => Input::Watch(kind, id, Op::InitApply(f(o))),
            Ok(watcher::Event::InitDone) => Input::Watch(kind, id, Op::InitDone),
            Ok(watcher::Event::Apply(o)) => Input::Watch(kind, id, Op::Apply(f(o))),
            Ok(watcher::Event::Delete(o)) => Input::Watch(kind, id, Op::Delete(f(o))),
            Err(e) => Input::Error(kind, e.to_string()),
        })
        .boxed()
}

fn objects<K>(api: Api<K>, kind: Kind, id: usize, f: fn(K) -> Obj) -> BoxStream<'static, Input>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    map_events(kind, id, watcher(api, watcher::Config::default()), f)
}

fn owner<K>(kind: &'static str, m: MetaOnly<K>) -> Obj {
    let meta = m.metadata;
    let annotations = ExemptAnnotations::read(&[meta.annotations.as_ref()]);
    Obj::Owner(
        meta.namespace.unwrap_or_default(),
        kind,
        meta.name.unwrap_or_default(),
        controller_of(meta.owner_references.as_ref()),
        annotations,
        meta.uid.unwrap_or_default(),
    )
}

fn report(r: RawStatus<ComplianceReport>) -> Obj {
    let rv = rv_of(&r.metadata);
    Obj::Report(r.metadata.namespace.unwrap_or_default(), rv, LazyHash::of_raw::<ReportStatus>(r.status, content_hash_mut))
}

fn cluster_report(r: RawStatus<ComplianceClusterReport>) -> Obj {
    let rv = rv_of(&r.metadata);
    Obj::ClusterReport(rv, LazyHash::of_raw::<ClusterReportStatus>(r.status, cluster_content_hash_mut))
}

/// The Trivy Operator's VulnerabilityReport resource.
pub fn vulnerability_reports() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("aquasecurity.github.io", "v1alpha1", "VulnerabilityReport"),
        "vulnerabilityreports",
    )
}

fn vulnerability_report(o: DynamicObject) -> Obj {
    let ns = o.metadata.namespace.clone().unwrap_or_default();
    let name = o.metadata.name.clone().unwrap_or_default();
    let value = serde_json::json!({
        "metadata": {"namespace": ns, "labels": o.metadata.labels.unwrap_or_default()},
        "report": o.data.get("report").cloned().unwrap_or_default(),
    });
    Obj::VulnerabilityReport(ns, name, Box::new(value))
}

/// Every watch, merged, and how many there are: namespaced kinds in each namespace `reach` covers,
/// and, cluster-wide only, Nodes, Namespaces and the cluster report; `vulns` adds the VulnerabilityReport watch.
pub fn start(client: &kube::Client, reach: &super::reach::Reach, vulns: bool) -> (BoxStream<'static, Input>, usize) {
    let mut streams = Vec::new();
    let scoped = reach.scopes();
    fn api<K>(c: &kube::Client, ns: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match ns {
            Some(n) => Api::namespaced(c.clone(), n),
            None => Api::all(c.clone()),
        }
    }
    for ns in &scoped {
        let n = streams.len();
        streams.push(objects::<SlimPod>(api(client, *ns), Kind::Pod, n, |p| Obj::Pod(Box::new(p))));
        streams.push(objects::<Service>(api(client, *ns), Kind::Service, n + 1, |s| Obj::Service(Box::new(s))));
        streams.push(objects::<Ingress>(api(client, *ns), Kind::Ingress, n + 2, |i| Obj::Ingress(Box::new(i))));
        streams.push(objects::<MetaOnly<ReplicaSet>>(api(client, *ns), Kind::ReplicaSet, n + 3, |m| owner("ReplicaSet", m)));
        streams.push(objects::<MetaOnly<Job>>(api(client, *ns), Kind::Job, n + 4, |m| owner("Job", m)));
        streams.push(objects::<RawStatus<ComplianceReport>>(api(client, *ns), Kind::Report, n + 5, report));
        streams.push(objects::<MetaOnly<Deployment>>(api(client, *ns), Kind::Deployment, n + 6, |m| owner("Deployment", m)));
        streams.push(objects::<MetaOnly<StatefulSet>>(api(client, *ns), Kind::StatefulSet, n + 7, |m| owner("StatefulSet", m)));
        streams.push(objects::<MetaOnly<DaemonSet>>(api(client, *ns), Kind::DaemonSet, n + 8, |m| owner("DaemonSet", m)));
        streams.push(objects::<MetaOnly<CronJob>>(api(client, *ns), Kind::CronJob, n + 9, |m| owner("CronJob", m)));
        if vulns {
            let ar = vulnerability_reports();
            let api: Api<DynamicObject> = match ns {
                Some(n) => Api::namespaced_with(client.clone(), n, &ar),
                None => Api::all_with(client.clone(), &ar),
            };
            let id = streams.len();
            streams.push(map_events(Kind::VulnerabilityReport, id, watcher(api, watcher::Config::default()), vulnerability_report));
        }
    }
    if reach.cluster_wide() {
        let n = streams.len();
        streams.push(objects::<Node>(Api::all(client.clone()), Kind::Node, n, |n| Obj::Node(Box::new(n))));
        streams.push(objects::<Namespace>(Api::all(client.clone()), Kind::Namespace, n + 1, |n| Obj::Namespace(n.name_any())));
        streams.push(objects::<RawStatus<ComplianceClusterReport>>(Api::all(client.clone()), Kind::ClusterReport, n + 2, cluster_report));
    }
    let count = streams.len();
    (futures::stream::select_all(streams).boxed(), count)
}
