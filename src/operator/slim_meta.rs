//! Objects read for their metadata (and at most a raw status): the workload watches (ReplicaSets,
//! Deployments...), the writer's answers and the report watches. The metadata is decoded as the Pod's is (`slim.rs`: no `managedFields`), the
//! rest of the object is skipped without being built. kube's `PartialObjectMeta` buffered the whole
//! object first (its `#[serde(flatten)]` type fields) and built every `managedFields` entry: a large
//! part of the initial sync's CPU, measured in BENCHMARKS.md.

use super::slim::slim_meta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// An object of kind `K`: its metadata, and its status as `S` (by default skipped unbuilt). With
/// `META_API`, kube's get, list, watch and patch ask the server for metadata only
/// (`PartialObjectMetadata`, as with kube's `PartialObjectMeta`).
#[derive(Deserialize)]
#[serde(bound = "S: Deserialize<'de> + Default")]
pub struct Slim<K, const META_API: bool, S = Skipped> {
    /// Name, namespace, UID, resourceVersion, creation and deletion times, labels, annotations,
    /// owners.
    #[serde(default, deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    /// The status.
    #[serde(default)]
    pub status: S,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

/// A part of an object that is read past without being built.
#[derive(Clone, Copy, Debug, Default)]
pub struct Skipped;

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Skipped)
    }
}

/// A workload as its metadata watch reads it (the server sends metadata only).
pub type MetaOnly<K> = Slim<K, true>;

/// What the writer reads of the report it wrote (its resourceVersion): the answer to a patch
/// of the whole object, read without building its status.
pub type Written<K> = Slim<K, false>;

/// A report object as the report watches read it: its metadata, and its status as raw JSON that is
/// decoded and hashed only when the writer asks ([`crate::report::LazyHash`]).
pub type RawStatus<K> = Slim<K, false, Option<Box<RawValue>>>;

impl<K, const M: bool, S: Clone> Clone for Slim<K, M, S> {
    fn clone(&self) -> Self {
        Slim { metadata: self.metadata.clone(), status: self.status.clone(), kind: PhantomData }
    }
}

impl<K, const M: bool, S: fmt::Debug> fmt::Debug for Slim<K, M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slim").field("metadata", &self.metadata).field("status", &self.status).finish()
    }
}

impl<K: Resource, const M: bool, S> Resource for Slim<K, M, S> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn metadata_api() -> bool {
        M
    }
    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use kube::api::{DynamicObject, PartialObjectMeta};
    use serde_json::json;

    fn replica_set() -> serde_json::Value {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-7d9f8", "namespace": "shop", "uid": "rs-1", "resourceVersion": "77",
                "creationTimestamp": "2026-11-28T10:00:00Z", "generation": 3,
                "labels": {"app": "web"},
                "annotations": {"kompliance.dev/exempt": "host-namespaces", "kompliance.dev/exempt-reason": "reviewed"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d-1", "controller": true}],
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "x"}]}}},
            "status": {"replicas": 2}})
    }

    #[test]
    fn the_slim_metadata_keeps_what_kube_partial_metadata_gives_but_managed_fields() {
        let slim: MetaOnly<ReplicaSet> = serde_json::from_value(replica_set()).expect("slim");
        let mut full: PartialObjectMeta<ReplicaSet> = serde_json::from_value(replica_set()).expect("partial");
        assert!(full.metadata.managed_fields.is_some(), "the fixture has managedFields");
        assert_eq!(slim.metadata.managed_fields, None, "managedFields are not built");
        // What the slim decode leaves out: managedFields and fields the operator never reads.
        full.metadata.managed_fields = None;
        full.metadata.generation = None;
        assert_eq!(slim.metadata, full.metadata);
    }

    #[test]
    fn metadata_only_watches_ask_for_metadata_and_the_writer_for_the_object() {
        assert!(MetaOnly::<ReplicaSet>::metadata_api(), "the server sends the workloads' metadata only");
        assert!(!Written::<DynamicObject>::metadata_api(), "the report is patched whole");
        assert_eq!(MetaOnly::<ReplicaSet>::kind(&()), "ReplicaSet");
        assert_eq!(MetaOnly::<ReplicaSet>::plural(&()), "replicasets");
        assert_eq!(MetaOnly::<ReplicaSet>::api_version(&()), "apps/v1");
    }

    #[test]
    fn the_written_report_gives_its_resource_version_without_its_status() {
        let answer = json!({"apiVersion": "kompliance.dev/v1alpha1", "kind": "ComplianceReport",
            "metadata": {"name": "kompliance", "namespace": "shop", "resourceVersion": "1234"},
            "status": {"summary": {"resources": {"evaluated": 3}}, "findings": [{"id": "x", "message": "y"}]}});
        let w: Written<DynamicObject> = serde_json::from_value(answer).expect("written");
        assert_eq!(w.metadata.resource_version.as_deref(), Some("1234"));
    }

    #[test]
    fn a_watched_report_keeps_its_status_as_the_server_sent_it_in_events_and_lists() {
        use crate::report::ComplianceReport;
        let object = r#"{"apiVersion":"kompliance.dev/v1alpha1","kind":"ComplianceReport","metadata":{"name":"kompliance","namespace":"shop","resourceVersion":"77"},"status":{"summary": {"score": 50}, "recommendations": []}}"#;
        let text = format!(r#"{{"type":"MODIFIED","object":{object}}}"#);
        let event: kube::api::WatchEvent<RawStatus<ComplianceReport>> = serde_json::from_str(&text).expect("watch event");
        let kube::api::WatchEvent::Modified(r) = event else { panic!("a MODIFIED event") };
        assert_eq!((r.metadata.namespace.as_deref(), r.metadata.resource_version.as_deref()), (Some("shop"), Some("77")));
        assert_eq!(r.status.as_ref().map(|s| s.get()), Some(r#"{"summary": {"score": 50}, "recommendations": []}"#));
        let list = format!(r#"{{"apiVersion":"v1","kind":"List","metadata":{{"resourceVersion":"78"}},"items":[{object}]}}"#);
        let list: kube::api::ObjectList<RawStatus<ComplianceReport>> = serde_json::from_str(&list).expect("list");
        assert!(list.items[0].status.is_some());
        assert_eq!(RawStatus::<ComplianceReport>::plural(&()), "compliancereports");
        assert!(!RawStatus::<ComplianceReport>::metadata_api(), "reports are watched whole");
    }
}
