//! The object store: objects by resource, the resource version counter, watch history and the write log.

use crate::error::ApiError;
use crate::fields;
use crate::kinds::{GroupResource, Registry, ResourceType};
use crate::schema;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// One stored object: its served JSON, labels for selectors, version and server-side-apply configs.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The object as served.
    pub json: Bytes,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its resource version.
    pub rv: u64,
    /// Last applied configuration of each apply field manager ("manager" or "manager/status").
    pub applied: BTreeMap<String, Value>,
}

impl Stored {
    /// The object, parsed.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl EventType {
    /// The wire name (ADDED, MODIFIED, DELETED).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One entry of the watch history.
#[derive(Debug)]
pub struct HistEvent {
    /// Resource version of the change.
    pub rv: u64,
    /// Resource of the object.
    pub gr: GroupResource,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Event type.
    pub kind: EventType,
    /// The object after the change (before it, for deletions, with the new version).
    pub json: Bytes,
    /// Labels, for selector filtering.
    pub labels: BTreeMap<String, String>,
    /// Labels before the change (modifications only), so selector watches see objects enter and leave.
    pub prev_labels: Option<BTreeMap<String, String>>,
}

/// One committed write, for tests that check who wrote what and when.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRecord {
    /// Milliseconds since the server started.
    pub at_ms: u128,
    /// Client identity (User-Agent, or the bearer token's user).
    pub client: String,
    /// create, update, patch, apply or delete.
    pub verb: String,
    /// Resource, e.g. "compliancereports.kompliance.dev".
    pub resource: String,
    /// Subresource ("" or "status").
    pub subresource: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Resource version after the write.
    pub rv: u64,
}

/// What a write is: who does it, with which field manager, on which subresource.
#[derive(Debug, Clone, Default)]
pub struct WriteCtx {
    /// Client identity for the write log.
    pub client: String,
    /// Verb for the write log.
    pub verb: String,
    /// Field manager for managedFields.
    pub manager: Option<String>,
    /// "Update" or "Apply".
    pub operation: &'static str,
    /// Whether this writes the status subresource.
    pub status: bool,
    /// Dry run: validate and answer, do not store.
    pub dry_run: bool,
    /// fieldValidation: Strict, Warn or Ignore.
    pub validation: String,
}

/// Result of a write: the object as served and the warnings to send.
#[derive(Debug)]
pub struct Written {
    /// The object after the write.
    pub object: Value,
    /// Warning header texts.
    pub warnings: Vec<String>,
    /// Whether anything changed.
    pub changed: bool,
}

/// The whole server state behind one lock.
pub struct State {
    /// Latest resource version handed out.
    pub rv: u64,
    /// Served resource types.
    pub registry: Registry,
    objects: HashMap<GroupResource, BTreeMap<(String, String), Stored>>,
    history: VecDeque<Arc<HistEvent>>,
    history_cap: usize,
    /// Events at or below this version are gone from the history.
    pub compacted_to: u64,
    /// Log of committed writes.
    pub writes: Vec<WriteRecord>,
    started: std::time::Instant,
    seed: u64,
}

/// A page of a list answer.
pub struct Page {
    /// Items as served.
    pub items: Vec<Bytes>,
    /// The list's resource version.
    pub rv: u64,
    /// Continue token when more items remain.
    pub continue_token: Option<String>,
    /// Items left after this page.
    pub remaining: usize,
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

/// `metadata.labels` of an object as a map.
pub fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// The parts of an object that count as its spec for `metadata.generation`.
fn spec_part(v: &Value) -> Map<String, Value> {
    let mut m = v.as_object().cloned().unwrap_or_default();
    for k in ["metadata", "status", "apiVersion", "kind"] {
        m.remove(k);
    }
    m
}

/// The object without the fields every write changes, for no-op detection.
fn comparable(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    c
}

impl State {
    /// An empty state with built-in kinds, namespaces `default`, `kube-system` and `kube-public`, and a history of `history_cap` events.
    pub fn new(history_cap: usize) -> Self {
        let mut s = State {
            rv: 1,
            registry: Registry::with_builtins(),
            objects: HashMap::new(),
            history: VecDeque::new(),
            history_cap: history_cap.max(1),
            compacted_to: 0,
            writes: Vec::new(),
            started: std::time::Instant::now(),
            seed: 0x9e37_79b9_7f4a_7c15 ^ std::process::id() as u64,
        };
        let ns_type = s.registry.get("", "v1", "namespaces").expect("namespaces is built in");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let ctx = WriteCtx { client: "testkube".into(), verb: "create".into(), operation: "Update", ..Default::default() };
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let _ = s.create(&ns_type, None, obj, &ctx);
        }
        s
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: enough for uids and generated names in a test double.
        self.seed ^= self.seed >> 12;
        self.seed ^= self.seed << 25;
        self.seed ^= self.seed >> 27;
        self.seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn uid(&mut self) -> String {
        let (a, b) = (self.random(), self.random());
        format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff, (b >> 48) & 0xfff, b & 0xffff_ffff_ffff)
    }

    /// The stored object, if any.
    pub fn get(&self, gr: &GroupResource, ns: &str, name: &str) -> Option<&Stored> {
        self.objects.get(gr).and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    }

    /// The stored object or a 404 naming it.
    pub fn get_or_404(&self, t: &ResourceType, ns: &str, name: &str) -> Result<&Stored, ApiError> {
        self.get(&t.group_resource(), ns, name).ok_or_else(|| ApiError::not_found(&t.qualified(), name))
    }

    /// How many objects a resource holds.
    pub fn count(&self, gr: &GroupResource) -> usize {
        self.objects.get(gr).map_or(0, BTreeMap::len)
    }

    /// One page of objects in namespace `ns` (all when `None`) that pass `keep`, after the continue token's key.
    pub fn list(
        &self,
        t: &ResourceType,
        ns: Option<&str>,
        keep: impl Fn(&str, &str, &Stored) -> bool,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<Page, ApiError> {
        let (list_rv, after) = match continue_token {
            Some(tok) => decode_continue(tok)?,
            None => (self.rv, None),
        };
        let empty = BTreeMap::new();
        let objects = self.objects.get(&t.group_resource()).unwrap_or(&empty);
        let range: Box<dyn Iterator<Item = (&(String, String), &Stored)>> = match (&after, ns) {
            (Some(k), _) => Box::new(objects.range(k.clone()..).filter(move |(key, _)| *key != k)),
            (None, Some(n)) => Box::new(objects.range((n.to_string(), String::new())..)),
            (None, None) => Box::new(objects.iter()),
        };
        let mut items = Vec::new();
        let mut last = None;
        let mut remaining = 0;
        for ((ons, name), s) in range {
            if let Some(n) = ns
                && ons != n
            {
                if ons.as_str() > n {
                    break;
                }
                continue;
            }
            if !keep(ons, name, s) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                remaining += 1;
                continue;
            }
            items.push(s.json.clone());
            last = Some((ons.clone(), name.clone()));
        }
        let continue_token = if remaining > 0 { last.map(|k| encode_continue(list_rv, &k)) } else { None };
        Ok(Page { items, rv: list_rv, continue_token, remaining })
    }

    /// Watch events after `rv` (oldest first), or 410 when the history no longer reaches back that far.
    pub fn events_after(&self, rv: u64) -> Result<Vec<Arc<HistEvent>>, ApiError> {
        if rv < self.compacted_to {
            return Err(ApiError::expired(format!("too old resource version: {rv} ({})", self.compacted_to + 1)));
        }
        let start = self.history.partition_point(|e| e.rv <= rv);
        Ok(self.history.range(start..).cloned().collect())
    }

    /// Forgets the whole watch history: every watch from an older version gets 410.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted_to = self.rv;
    }

    fn record(&mut self, t: &ResourceType, ctx: &WriteCtx, ns: &str, name: &str, rv: u64) {
        self.writes.push(WriteRecord {
            at_ms: self.started.elapsed().as_millis(),
            client: ctx.client.clone(),
            verb: ctx.verb.clone(),
            resource: t.qualified(),
            subresource: if ctx.status { "status".into() } else { String::new() },
            namespace: ns.into(),
            name: name.into(),
            rv,
        });
    }

    fn push_event(&mut self, gr: GroupResource, ns: &str, name: &str, kind: EventType, json: Bytes, labels: BTreeMap<String, String>) {
        let prev_labels = if kind == EventType::Modified { self.get(&gr, ns, name).map(|s| s.labels.clone()) } else { None };
        let ev = HistEvent { rv: self.rv, gr, namespace: ns.into(), name: name.into(), kind, json, labels, prev_labels };
        self.history.push_back(Arc::new(ev));
        while self.history.len() > self.history_cap {
            if let Some(old) = self.history.pop_front() {
                self.compacted_to = old.rv;
            }
        }
    }

    fn store(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        mut obj: Value,
        applied: BTreeMap<String, Value>,
        kind: EventType,
    ) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let json = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default());
        let labels = labels_of(&obj);
        self.push_event(t.group_resource(), ns, name, kind, json.clone(), labels.clone());
        let stored = Stored { json, labels, rv: self.rv, applied };
        self.objects.entry(t.group_resource()).or_default().insert((ns.into(), name.into()), stored);
        if t.group == "apiextensions.k8s.io" && t.plural == "customresourcedefinitions" {
            let _ = self.registry.register_crd(&obj);
        }
        obj
    }

    fn remove(&mut self, t: &ResourceType, ns: &str, name: &str) -> Option<Value> {
        let gr = t.group_resource();
        let old = self.objects.get_mut(&gr)?.remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        let mut obj = old.value();
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let json = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default());
        self.push_event(gr, ns, name, EventType::Deleted, json, old.labels);
        if t.group == "apiextensions.k8s.io" && t.plural == "customresourcedefinitions" {
            self.drop_crd_objects(&obj);
        }
        if t.namespaced {
            self.finish_namespace_if_empty(ns);
        }
        Some(obj)
    }

    fn drop_crd_objects(&mut self, crd: &Value) {
        let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default().to_string();
        let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or_default().to_string();
        let gr = GroupResource { group, plural };
        let Some(t) = self.registry.all().find(|t| t.group_resource() == gr).cloned() else { return };
        let keys: Vec<(String, String)> = self.objects.get(&gr).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        for (ns, name) in keys {
            self.remove(&t, &ns, &name);
        }
        self.registry.remove_resource(&gr);
    }

    fn namespace_phase(&self, ns: &str) -> Option<bool> {
        let s = self.get(&GroupResource { group: String::new(), plural: "namespaces".into() }, "", ns)?;
        Some(s.value().pointer("/metadata/deletionTimestamp").is_some())
    }

    fn finish_namespace_if_empty(&mut self, ns: &str) {
        if self.namespace_phase(ns) != Some(true) {
            return;
        }
        let occupied =
            self.objects.iter().any(|(_, m)| m.range((ns.to_string(), String::new())..).next().is_some_and(|((n, _), _)| n == ns));
        if !occupied && let Some(t) = self.registry.get("", "v1", "namespaces") {
            self.remove(&t, "", ns);
        }
    }

    fn check_namespace(&self, t: &ResourceType, ns: &str) -> Result<(), ApiError> {
        if !t.namespaced {
            return Ok(());
        }
        match self.namespace_phase(ns) {
            None => Err(ApiError::not_found("namespaces", ns)),
            Some(true) => Err(ApiError::new(
                403,
                "Forbidden",
                format!("{} is forbidden: unable to create new content in namespace {ns} because it is being terminated", t.qualified()),
            )),
            Some(false) => Ok(()),
        }
    }

    fn managed_entry(&self, t: &ResourceType, ctx: &WriteCtx, obj: &Value) -> Option<Value> {
        let manager = ctx.manager.as_ref()?;
        let scoped =
            if ctx.status { json!({"status": obj.get("status").cloned().unwrap_or(Value::Null)}) } else { strip_for_fields(obj, t) };
        let mut entry = json!({
            "manager": manager, "operation": ctx.operation, "apiVersion": t.api_version(),
            "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": fields::field_set(&scoped),
        });
        if ctx.status {
            entry["subresource"] = json!("status");
        }
        Some(entry)
    }

    fn set_managed(&self, t: &ResourceType, ctx: &WriteCtx, obj: &mut Value, fields_of: &Value) {
        let Some(entry) = self.managed_entry(t, ctx, fields_of) else { return };
        let list = obj["metadata"].as_object_mut().map(|m| m.entry("managedFields").or_insert_with(|| json!([])));
        if let Some(Value::Array(entries)) = list {
            entries.retain(|e| {
                !(e.get("manager") == entry.get("manager")
                    && e.get("operation") == entry.get("operation")
                    && e.get("subresource") == entry.get("subresource"))
            });
            entries.push(entry);
        }
    }

    /// Creates an object (POST, or server-side apply of a missing object).
    pub fn create(&mut self, t: &ResourceType, path_ns: Option<&str>, mut obj: Value, ctx: &WriteCtx) -> Result<Written, ApiError> {
        self.create_with(t, path_ns, &mut obj, ctx, BTreeMap::new())
    }

    /// Creates an object, keeping the given server-side-apply configurations.
    pub fn create_with(
        &mut self,
        t: &ResourceType,
        path_ns: Option<&str>,
        obj: &mut Value,
        ctx: &WriteCtx,
        applied: BTreeMap<String, Value>,
    ) -> Result<Written, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body of the request was not a JSON object"));
        }
        check_type(t, obj)?;
        obj["apiVersion"] = json!(t.api_version());
        obj["kind"] = json!(t.kind);
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        let body_ns = meta_str(obj, "namespace").map(String::from);
        let ns = if t.namespaced {
            let ns = path_ns.map(String::from).or(body_ns.clone()).unwrap_or_else(|| "default".into());
            if body_ns.as_ref().is_some_and(|b| b != &ns) {
                return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
            }
            obj["metadata"]["namespace"] = json!(ns);
            ns
        } else {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            String::new()
        };
        let name = match meta_str(obj, "name") {
            Some(n) => n.to_string(),
            None => match meta_str(obj, "generateName") {
                Some(prefix) => {
                    let prefix = prefix.to_string();
                    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
                    let suffix: String = (0..5).map(|_| CHARS[(self.random() % CHARS.len() as u64) as usize] as char).collect();
                    format!("{prefix}{suffix}")
                }
                None => {
                    return Err(ApiError::invalid(&kind_group(t), "", "metadata.name: Required value: name or generateName is required"));
                }
            },
        };
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                &kind_group(t),
                &name,
                format!(
                    "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
                ),
            ));
        }
        obj["metadata"]["name"] = json!(name);
        self.check_namespace(t, &ns)?;
        if self.get(&t.group_resource(), &ns, &name).is_some() {
            return Err(ApiError::already_exists(&t.qualified(), &name));
        }
        if t.custom
            && t.has_status
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        let warnings = self.prune_and_validate(t, &name, obj, ctx)?;
        let uid = self.uid();
        let meta = obj["metadata"].as_object_mut().expect("metadata is an object");
        meta.insert("uid".into(), json!(uid));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        meta.remove("managedFields");
        meta.remove("deletionTimestamp");
        if t.kind == "Namespace" {
            obj["status"] = json!({"phase": "Active"});
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
        }
        let snapshot = obj.clone();
        self.set_managed(t, ctx, obj, &snapshot);
        if ctx.dry_run {
            return Ok(Written { object: obj.clone(), warnings, changed: false });
        }
        let object = self.store(t, &ns, &name, obj.clone(), applied, EventType::Added);
        self.record(t, ctx, &ns, &name, self.rv);
        Ok(Written { object, warnings, changed: true })
    }

    fn prune_and_validate(&self, t: &ResourceType, name: &str, obj: &mut Value, ctx: &WriteCtx) -> Result<Vec<String>, ApiError> {
        let Some(schema) = t.schema.as_ref().filter(|_| t.custom) else { return Ok(vec![]) };
        let pruned = schema::prune(obj, schema);
        if !pruned.is_empty() && ctx.validation == "Strict" {
            let list: Vec<String> = pruned.iter().map(|p| format!("unknown field \"{p}\"")).collect();
            return Err(ApiError::bad_request(format!("strict decoding error: {}", list.join(", "))));
        }
        let errors = schema::validate(obj, schema);
        if !errors.is_empty() {
            return Err(ApiError::invalid(&kind_group(t), name, errors.join(", ")));
        }
        Ok(if ctx.validation == "Ignore" { vec![] } else { pruned.iter().map(|p| format!("unknown field \"{p}\"")).collect() })
    }

    /// Replaces an object with `new` (PUT, or the result of a patch): the subresource rules, preconditions, generation and finalizers apply.
    pub fn replace(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        mut new: Value,
        ctx: &WriteCtx,
        applied: Option<BTreeMap<String, Value>>,
    ) -> Result<Written, ApiError> {
        let stored = self.get_or_404(t, ns, name)?;
        let old = stored.value();
        let mut applied_all = stored.applied.clone();
        if !new.is_object() {
            return Err(ApiError::bad_request("the body of the request was not a JSON object"));
        }
        check_type(t, &new)?;
        if let Some(rv) = meta_str(&new, "resourceVersion").filter(|r| !r.is_empty())
            && rv != stored.rv.to_string()
        {
            return Err(ApiError::conflict(&t.qualified(), name));
        }
        if meta_str(&new, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&new, "name").unwrap_or_default()
            )));
        }
        if ctx.status {
            let mut merged = old.clone();
            merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            if merged["status"].is_null()
                && let Some(m) = merged.as_object_mut()
            {
                m.remove("status");
            }
            new = merged;
        } else {
            if !new.get("metadata").is_some_and(Value::is_object) {
                new["metadata"] = json!({});
            }
            for k in ["uid", "creationTimestamp", "namespace", "name", "generation", "deletionTimestamp", "managedFields"] {
                match old["metadata"].get(k) {
                    Some(v) => new["metadata"][k] = v.clone(),
                    None => {
                        if let Some(m) = new["metadata"].as_object_mut() {
                            m.remove(k);
                        }
                    }
                }
            }
            if t.has_status {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            new["apiVersion"] = json!(t.api_version());
            new["kind"] = json!(t.kind);
        }
        let warnings = self.prune_and_validate(t, name, &mut new, ctx)?;
        if spec_part(&new) != spec_part(&old) {
            let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            new["metadata"]["generation"] = json!(g + 1);
        }
        if let Some(all) = applied {
            applied_all = all;
        }
        if comparable(&new) == comparable(&old) && applied_all == stored.applied {
            return Ok(Written { object: old, warnings, changed: false });
        }
        let fields_of = applied_all.get(ctx.manager.as_deref().unwrap_or_default()).cloned().unwrap_or_else(|| new.clone());
        self.set_managed(t, ctx, &mut new, &fields_of);
        if ctx.dry_run {
            return Ok(Written { object: new, warnings, changed: false });
        }
        let finalized = new.pointer("/metadata/deletionTimestamp").is_some()
            && new.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty);
        let object = self.store(t, ns, name, new, applied_all, EventType::Modified);
        self.record(t, ctx, ns, name, self.rv);
        if finalized {
            self.remove(t, ns, name);
        }
        Ok(Written { object, warnings, changed: true })
    }

    /// Deletes an object: objects with finalizers get a deletionTimestamp, a Namespace takes its content with it.
    pub fn delete(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        ctx: &WriteCtx,
        precondition_rv: Option<&str>,
    ) -> Result<Value, ApiError> {
        let stored = self.get_or_404(t, ns, name)?;
        if let Some(rv) = precondition_rv
            && rv != stored.rv.to_string()
        {
            return Err(ApiError::conflict(&t.qualified(), name));
        }
        let mut obj = stored.value();
        if ctx.dry_run {
            return Ok(obj);
        }
        let has_finalizers = obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
        if t.kind == "Namespace" && t.group.is_empty() {
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                obj["status"]["phase"] = json!("Terminating");
                let applied = stored.applied.clone();
                obj = self.store(t, "", name, obj, applied, EventType::Modified);
                self.record(t, ctx, "", name, self.rv);
            }
            self.delete_namespace_content(name, ctx);
            self.finish_namespace_if_empty(name);
            return Ok(obj);
        }
        if has_finalizers {
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                let applied = stored.applied.clone();
                obj = self.store(t, ns, name, obj, applied, EventType::Modified);
                self.record(t, ctx, ns, name, self.rv);
            }
            return Ok(obj);
        }
        let removed = self.remove(t, ns, name).unwrap_or(obj);
        self.record(t, ctx, ns, name, self.rv);
        Ok(removed)
    }

    fn delete_namespace_content(&mut self, ns: &str, ctx: &WriteCtx) {
        let types: Vec<Arc<ResourceType>> = self.registry.all().filter(|t| t.namespaced).cloned().collect();
        let mut seen = std::collections::HashSet::new();
        for t in types {
            if !seen.insert(t.group_resource()) {
                continue;
            }
            let names: Vec<String> = self
                .objects
                .get(&t.group_resource())
                .map(|m| {
                    m.range((ns.to_string(), String::new())..)
                        .take_while(|((n, _), _)| n == ns)
                        .map(|((_, name), _)| name.clone())
                        .collect()
                })
                .unwrap_or_default();
            for name in names {
                let _ = self.delete(&t, ns, &name, ctx, None);
            }
        }
    }
}

/// `kind.group` as used in Invalid messages ("Pod", "ComplianceReport.kompliance.dev").
pub fn kind_group(t: &ResourceType) -> String {
    if t.group.is_empty() { t.kind.clone() } else { format!("{}.{}", t.kind, t.group) }
}

fn check_type(t: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let kind = obj.get("kind").and_then(Value::as_str);
    let api_version = obj.get("apiVersion").and_then(Value::as_str);
    if kind.is_some_and(|k| k != t.kind) || api_version.is_some_and(|a| a.rsplit_once('/').map_or("", |(g, _)| g) != t.group) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({}) or the kind ({}) does not match {}",
            api_version.unwrap_or_default(),
            t.api_version(),
            kind.unwrap_or_default(),
            t.kind
        )));
    }
    Ok(())
}

/// The object without status when status is a subresource, and without server-set metadata: what a main write owns.
fn strip_for_fields(obj: &Value, t: &ResourceType) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        if t.has_status {
            m.remove("status");
        }
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "namespace", "name"] {
                meta.remove(k);
            }
        }
    }
    v
}

fn encode_continue(rv: u64, key: &(String, String)) -> String {
    use base64::Engine;
    let raw = serde_json::to_vec(&json!({"rv": rv, "ns": key.0, "name": key.1})).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

type ContinueKey = (u64, Option<(String, String)>);

fn decode_continue(tok: &str) -> Result<ContinueKey, ApiError> {
    use base64::Engine;
    let bad = || ApiError::bad_request(format!("continue key is not valid: {tok:?}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tok).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let ns = v.get("ns").and_then(Value::as_str).ok_or_else(bad)?.to_string();
    let name = v.get("name").and_then(Value::as_str).ok_or_else(bad)?.to_string();
    Ok((rv, Some((ns, name))))
}
