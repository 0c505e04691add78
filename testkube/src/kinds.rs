//! The resource types the server knows: built-in kinds and those added by CustomResourceDefinitions.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A printer column of a table response: its header, type and where its value comes from.
#[derive(Debug, Clone)]
pub struct Column {
    /// Header shown by kubectl.
    pub name: String,
    /// OpenAPI type of the cells: string, integer, number, boolean or date.
    pub kind: String,
    /// JSONPath into the object (CRD columns) or a built-in cell function name.
    pub path: String,
    /// Column description.
    pub description: String,
    /// kubectl shows columns of priority 0 by default, the others with `-o wide`.
    pub priority: i64,
}

/// One served resource: group/version/kind, plural name, scope and what it supports.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group ("" for core).
    pub group: String,
    /// API version, e.g. "v1".
    pub version: String,
    /// Kind, e.g. "Pod".
    pub kind: String,
    /// Plural resource name, e.g. "pods".
    pub plural: String,
    /// Singular resource name, e.g. "pod".
    pub singular: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names for kubectl, e.g. "po".
    pub short_names: Vec<String>,
    /// Whether the kind has a `/status` subresource.
    pub has_status: bool,
    /// Whether objects of this kind are custom resources (pruned against `schema`).
    pub custom: bool,
    /// The CRD's openAPIV3Schema for this version.
    pub schema: Option<Value>,
    /// Table columns after Name.
    pub columns: Vec<Column>,
    /// Categories, e.g. "all".
    pub categories: Vec<String>,
    /// The verbs listed in discovery.
    pub verbs: Vec<&'static str>,
}

impl ResourceType {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The key objects of this resource are stored under: group and plural (versions share storage).
    pub fn group_resource(&self) -> GroupResource {
        GroupResource { group: self.group.clone(), plural: self.plural.clone() }
    }

    /// `plural.group` as used in error messages ("pods", "compliancereports.kompliance.dev").
    pub fn qualified(&self) -> String {
        if self.group.is_empty() { self.plural.clone() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// The discovery entry (APIResource) of this resource.
    pub fn discovery(&self) -> Vec<Value> {
        let mut out = vec![json!({
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "verbs": self.verbs, "shortNames": self.short_names,
            "categories": self.categories,
        })];
        if self.has_status {
            out.push(json!({"name": format!("{}/status", self.plural), "singularName": "", "namespaced": self.namespaced,
                "kind": self.kind, "verbs": ["get", "patch", "update"]}));
        }
        out
    }
}

/// Storage key of a resource: objects of every version of a group's resource are one set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// API group.
    pub group: String,
    /// Plural resource name.
    pub plural: String,
}

const ALL_VERBS: [&str; 8] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

fn col(name: &str, kind: &str, path: &str) -> Column {
    Column { name: name.into(), kind: kind.into(), path: path.into(), description: String::new(), priority: 0 }
}

fn builtin(
    group: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short: &[&str],
    has_status: bool,
    columns: Vec<Column>,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        has_status,
        custom: false,
        schema: None,
        columns,
        categories: if ["Pod", "Service", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"].contains(&kind) {
            vec!["all".into()]
        } else {
            vec![]
        },
        verbs: ALL_VERBS.to_vec(),
    }
}

/// The built-in kinds the server serves from the start.
pub fn builtins() -> Vec<ResourceType> {
    let age = || col("Age", "date", ".metadata.creationTimestamp");
    let mut sar = builtin("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", false, &[], false, vec![]);
    sar.verbs = vec!["create"];
    let mut ssar = builtin("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false, &[], false, vec![]);
    ssar.verbs = vec!["create"];
    vec![
        builtin("", "Namespace", "namespaces", false, &["ns"], true, vec![col("Status", "string", ".status.phase"), age()]),
        builtin(
            "",
            "Pod",
            "pods",
            true,
            &["po"],
            true,
            vec![
                col("Ready", "string", "pod-ready"),
                col("Status", "string", "pod-status"),
                col("Restarts", "integer", "pod-restarts"),
                age(),
            ],
        ),
        builtin(
            "",
            "Service",
            "services",
            true,
            &["svc"],
            true,
            vec![
                col("Type", "string", ".spec.type"),
                col("Cluster-IP", "string", ".spec.clusterIP"),
                col("Port(s)", "string", "svc-ports"),
                age(),
            ],
        ),
        builtin(
            "",
            "Node",
            "nodes",
            false,
            &["no"],
            true,
            vec![col("Status", "string", "node-status"), age(), col("Version", "string", ".status.nodeInfo.kubeletVersion")],
        ),
        builtin(
            "",
            "Event",
            "events",
            true,
            &["ev"],
            false,
            vec![col("Reason", "string", ".reason"), col("Message", "string", ".message")],
        ),
        builtin(
            "events.k8s.io",
            "Event",
            "events",
            true,
            &["ev"],
            false,
            vec![col("Reason", "string", ".reason"), col("Note", "string", ".note")],
        ),
        builtin("", "ConfigMap", "configmaps", true, &["cm"], false, vec![age()]),
        builtin("", "Secret", "secrets", true, &[], false, vec![col("Type", "string", ".type"), age()]),
        builtin("", "ServiceAccount", "serviceaccounts", true, &["sa"], false, vec![age()]),
        // Kinds that cluster dumps hold beside workloads: stored and served, nothing acts on them.
        builtin("", "PodTemplate", "podtemplates", true, &[], false, vec![age()]),
        builtin(
            "",
            "ReplicationController",
            "replicationcontrollers",
            true,
            &["rc"],
            true,
            vec![col("Desired", "integer", ".spec.replicas"), age()],
        ),
        builtin("", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], true, vec![age()]),
        builtin("", "PersistentVolume", "persistentvolumes", false, &["pv"], true, vec![age()]),
        builtin("", "Endpoints", "endpoints", true, &["ep"], false, vec![age()]),
        builtin("", "ResourceQuota", "resourcequotas", true, &["quota"], true, vec![age()]),
        builtin("", "LimitRange", "limitranges", true, &["limits"], false, vec![age()]),
        builtin("networking.k8s.io", "NetworkPolicy", "networkpolicies", true, &["netpol"], false, vec![age()]),
        builtin("networking.k8s.io", "IngressClass", "ingressclasses", false, &[], false, vec![age()]),
        builtin("storage.k8s.io", "StorageClass", "storageclasses", false, &["sc"], false, vec![age()]),
        builtin("scheduling.k8s.io", "PriorityClass", "priorityclasses", false, &["pc"], false, vec![age()]),
        builtin(
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            false,
            &[],
            false,
            vec![age()],
        ),
        builtin(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            false,
            &[],
            false,
            vec![age()],
        ),
        builtin(
            "apps",
            "Deployment",
            "deployments",
            true,
            &["deploy"],
            true,
            vec![col("Ready", "string", "ready-replicas"), col("Up-to-date", "integer", ".status.updatedReplicas"), age()],
        ),
        builtin("apps", "ReplicaSet", "replicasets", true, &["rs"], true, vec![col("Desired", "integer", ".spec.replicas"), age()]),
        builtin("apps", "StatefulSet", "statefulsets", true, &["sts"], true, vec![col("Ready", "string", "ready-replicas"), age()]),
        builtin(
            "apps",
            "DaemonSet",
            "daemonsets",
            true,
            &["ds"],
            true,
            vec![col("Desired", "integer", ".status.desiredNumberScheduled"), age()],
        ),
        builtin("batch", "Job", "jobs", true, &[], true, vec![col("Completions", "string", "job-completions"), age()]),
        builtin("batch", "CronJob", "cronjobs", true, &["cj"], true, vec![col("Schedule", "string", ".spec.schedule"), age()]),
        builtin(
            "networking.k8s.io",
            "Ingress",
            "ingresses",
            true,
            &["ing"],
            true,
            vec![col("Class", "string", ".spec.ingressClassName"), age()],
        ),
        builtin("coordination.k8s.io", "Lease", "leases", true, &[], false, vec![col("Holder", "string", ".spec.holderIdentity"), age()]),
        builtin("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", false, &[], false, vec![age()]),
        builtin("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", false, &[], false, vec![age()]),
        builtin("rbac.authorization.k8s.io", "Role", "roles", true, &[], false, vec![age()]),
        builtin("rbac.authorization.k8s.io", "RoleBinding", "rolebindings", true, &[], false, vec![age()]),
        builtin("policy", "PodDisruptionBudget", "poddisruptionbudgets", true, &["pdb"], true, vec![age()]),
        builtin(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            &["crd", "crds"],
            true,
            vec![col("Created At", "string", ".metadata.creationTimestamp")],
        ),
        sar,
        ssar,
    ]
}

/// Every served resource type, by group, version and plural, plus lookups by kind.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    by_gvr: BTreeMap<(String, String, String), Arc<ResourceType>>,
}

impl Registry {
    /// A registry holding the built-in kinds.
    pub fn with_builtins() -> Self {
        let mut r = Registry::default();
        for t in builtins() {
            r.insert(t);
        }
        r
    }

    /// Adds or replaces a resource type.
    pub fn insert(&mut self, t: ResourceType) {
        self.by_gvr.insert((t.group.clone(), t.version.clone(), t.plural.clone()), Arc::new(t));
    }

    /// The resource type served at group/version/plural.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.by_gvr.get(&(group.to_string(), version.to_string(), plural.to_string())).cloned()
    }

    /// The resource type of an `apiVersion` and `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.by_gvr.values().find(|t| t.group == group && t.version == version && t.kind == kind).cloned()
    }

    /// Every resource type, ordered by group, version, plural.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.by_gvr.values()
    }

    /// The groups with their versions, core group first.
    pub fn groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (g, v, _) in self.by_gvr.keys() {
            let versions = out.entry(g.clone()).or_default();
            if !versions.contains(v) {
                versions.push(v.clone());
            }
        }
        out
    }

    /// Removes every version of a custom resource (group + plural).
    pub fn remove_resource(&mut self, gr: &GroupResource) {
        self.by_gvr.retain(|(g, _, p), _| !(g == &gr.group && p == &gr.plural));
    }

    /// Registers the served versions of a CustomResourceDefinition object; returns its group resource.
    pub fn register_crd(&mut self, crd: &Value) -> Result<GroupResource, String> {
        let spec = crd.get("spec").ok_or("spec: Required value")?;
        let group = spec.get("group").and_then(Value::as_str).ok_or("spec.group: Required value")?;
        let names = spec.get("names").ok_or("spec.names: Required value")?;
        let plural = names.get("plural").and_then(Value::as_str).ok_or("spec.names.plural: Required value")?;
        let kind = names.get("kind").and_then(Value::as_str).ok_or("spec.names.kind: Required value")?;
        let singular = names.get("singular").and_then(Value::as_str).unwrap_or(&kind.to_lowercase()).to_string();
        let strs = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array).map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
        };
        let short_names = strs(names.get("shortNames"));
        let categories = strs(names.get("categories"));
        let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
        let versions = spec.get("versions").and_then(Value::as_array).ok_or("spec.versions: Required value")?;
        let gr = GroupResource { group: group.into(), plural: plural.into() };
        self.remove_resource(&gr);
        for v in versions {
            if v.get("served").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let name = v.get("name").and_then(Value::as_str).ok_or("spec.versions[].name: Required value")?;
            let columns = v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .map(|cols| {
                    cols.iter()
                        .map(|c| Column {
                            name: c.get("name").and_then(Value::as_str).unwrap_or_default().into(),
                            kind: c.get("type").and_then(Value::as_str).unwrap_or("string").into(),
                            path: c.get("jsonPath").and_then(Value::as_str).unwrap_or_default().into(),
                            description: c.get("description").and_then(Value::as_str).unwrap_or_default().into(),
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        })
                        .collect()
                })
                .unwrap_or_else(|| vec![col("Age", "date", ".metadata.creationTimestamp")]);
            self.insert(ResourceType {
                group: group.into(),
                version: name.into(),
                kind: kind.into(),
                plural: plural.into(),
                singular: singular.clone(),
                namespaced,
                short_names: short_names.clone(),
                has_status: v.pointer("/subresources/status").is_some(),
                custom: true,
                schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                columns,
                categories: categories.clone(),
                verbs: ALL_VERBS.to_vec(),
            });
        }
        Ok(gr)
    }
}
