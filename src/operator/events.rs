//! Kubernetes Events the operator records (a rejected configuration), on its own Pod when it knows it.

use super::leader::LeaseSettings;
use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, PostParams};
use tracing::warn;

/// Records a Warning Event saying the new configuration was rejected.
pub async fn config_rejected(client: kube::Client, lease: Option<LeaseSettings>, message: String) {
    let pod = std::env::var("POD_NAME").ok();
    let namespace =
        std::env::var("POD_NAMESPACE").ok().or_else(|| lease.as_ref().map(|l| l.namespace.clone())).unwrap_or_else(|| "default".into());
    let involved = match (&pod, &lease) {
        (Some(p), _) => ObjectReference {
            kind: Some("Pod".into()),
            name: Some(p.clone()),
            namespace: Some(namespace.clone()),
            api_version: Some("v1".into()),
            ..Default::default()
        },
        (None, Some(l)) => ObjectReference {
            kind: Some("Lease".into()),
            name: Some(l.name.clone()),
            namespace: Some(namespace.clone()),
            api_version: Some("coordination.k8s.io/v1".into()),
            ..Default::default()
        },
        (None, None) => ObjectReference {
            kind: Some("Namespace".into()),
            name: Some(namespace.clone()),
            api_version: Some("v1".into()),
            ..Default::default()
        },
    };
    let now = jiff::Timestamp::now();
    let event = Event {
        metadata: ObjectMeta { generate_name: Some("kompliance-config-".into()), namespace: Some(namespace.clone()), ..Default::default() },
        involved_object: involved,
        reason: Some("ConfigRejected".into()),
        message: Some(crate::report::build::cap_message(&format!("configuration rejected, the last good one stays in force: {message}"))),
        type_: Some("Warning".into()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        reporting_component: Some("kompliance".into()),
        reporting_instance: pod.clone().or_else(|| lease.as_ref().map(|l| l.identity.clone())),
        action: Some("ReloadConfig".into()),
        count: Some(1),
        ..Default::default()
    };
    if let Err(e) = Api::<Event>::namespaced(client, &namespace).create(&PostParams::default(), &event).await {
        warn!(error = %e, "recording the ConfigRejected event");
    }
}
