//! The object store: objects by resource, the resource version counter, watch history and the write log.

pub use crate::ctx::{WriteCtx, Written, kind_group};
use crate::error::ApiError;
use crate::kinds::{GroupResource, Registry, ResourceType};
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
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

/// The whole server state behind one lock.
pub struct State {
    /// Latest resource version handed out.
    pub rv: u64,
    /// Served resource types.
    pub registry: Registry,
    pub(crate) objects: HashMap<GroupResource, BTreeMap<(String, String), Stored>>,
    history: VecDeque<Arc<HistEvent>>,
    history_cap: usize,
    /// Events at or below this version are gone from the history.
    pub compacted_to: u64,
    /// Log of committed writes.
    pub writes: Vec<WriteRecord>,
    pub(crate) started: std::time::Instant,
    seed: u64,
    /// Dependents by owner uid (from `metadata.ownerReferences` as stored; checked again before use).
    pub(crate) dependents: HashMap<String, BTreeSet<ObjectKey>>,
    /// Uids of removed objects whose dependents the garbage collector has not handled yet, oldest first.
    pub(crate) gc_queue: VecDeque<String>,
}

/// Where an object is stored: resource, namespace ("" for cluster-scoped), name.
pub type ObjectKey = (GroupResource, String, String);

/// The owner uids an object's `metadata.ownerReferences` name.
pub fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj.pointer("/metadata/ownerReferences").and_then(Value::as_array).into_iter().flatten().filter_map(|r| r.get("uid")?.as_str())
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

pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

/// `metadata.labels` of an object as a map.
pub fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
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
            dependents: HashMap::new(),
            gc_queue: VecDeque::new(),
        };
        if let Some(ns_type) = s.registry.get("", "v1", "namespaces") {
            let ctx = WriteCtx { client: "testkube".into(), verb: "create".into(), operation: "Update", ..Default::default() };
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let uid = s.uid();
                let obj = json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "uid": uid, "creationTimestamp": now_rfc3339(), "generation": 1},
                    "status": {"phase": "Active"}, "spec": {"finalizers": ["kubernetes"]}});
                s.store(&ns_type, "", ns, obj, BTreeMap::new(), EventType::Added);
                s.record(&ns_type, &ctx, "", ns, s.rv);
            }
        }
        s
    }

    pub(crate) fn random(&mut self) -> u64 {
        // xorshift64*: enough for uids and generated names in a test double.
        self.seed ^= self.seed >> 12;
        self.seed ^= self.seed << 25;
        self.seed ^= self.seed >> 27;
        self.seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn uid(&mut self) -> String {
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

    /// How many watch events are kept.
    pub(crate) fn history_cap(&self) -> usize {
        self.history_cap
    }

    /// Forgets the whole watch history: every watch from an older version gets 410.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted_to = self.rv;
    }

    pub(crate) fn record(&mut self, t: &ResourceType, ctx: &WriteCtx, ns: &str, name: &str, rv: u64) {
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

    pub(crate) fn push_event(
        &mut self,
        gr: GroupResource,
        ns: &str,
        name: &str,
        kind: EventType,
        json: Bytes,
        labels: BTreeMap<String, String>,
    ) {
        let prev_labels = if kind == EventType::Modified { self.get(&gr, ns, name).map(|s| s.labels.clone()) } else { None };
        let ev = HistEvent { rv: self.rv, gr, namespace: ns.into(), name: name.into(), kind, json, labels, prev_labels };
        self.history.push_back(Arc::new(ev));
        while self.history.len() > self.history_cap {
            if let Some(old) = self.history.pop_front() {
                self.compacted_to = old.rv;
            }
        }
    }

    pub(crate) fn store(
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
        for owner in owner_uids(&obj) {
            self.dependents.entry(owner.to_string()).or_default().insert((t.group_resource(), ns.to_string(), name.to_string()));
        }
        let stored = Stored { json, labels, rv: self.rv, applied };
        self.objects.entry(t.group_resource()).or_default().insert((ns.into(), name.into()), stored);
        if t.group == "apiextensions.k8s.io" && t.plural == "customresourcedefinitions" {
            let _ = self.registry.register_crd(&obj);
        }
        obj
    }

    pub(crate) fn remove(&mut self, t: &ResourceType, ns: &str, name: &str) -> Option<Value> {
        let gr = t.group_resource();
        let old = self.objects.get_mut(&gr)?.remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        let mut obj = old.value();
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let json = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default());
        self.push_event(gr.clone(), ns, name, EventType::Deleted, json, old.labels);
        for owner in owner_uids(&obj) {
            if let Some(deps) = self.dependents.get_mut(owner) {
                deps.remove(&(gr.clone(), ns.to_string(), name.to_string()));
                if deps.is_empty() {
                    self.dependents.remove(owner);
                }
            }
        }
        if let Some(uid) = obj.pointer("/metadata/uid").and_then(Value::as_str) {
            self.gc_queue.push_back(uid.to_string());
        }
        if t.group == "apiextensions.k8s.io" && t.plural == "customresourcedefinitions" {
            self.drop_crd_objects(&obj);
        }
        if t.namespaced {
            self.finish_namespace_if_empty(ns);
        }
        Some(obj)
    }

    pub(crate) fn drop_crd_objects(&mut self, crd: &Value) {
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

    pub(crate) fn namespace_phase(&self, ns: &str) -> Option<bool> {
        let s = self.get(&GroupResource { group: String::new(), plural: "namespaces".into() }, "", ns)?;
        Some(s.value().pointer("/metadata/deletionTimestamp").is_some())
    }

    pub(crate) fn finish_namespace_if_empty(&mut self, ns: &str) {
        if self.namespace_phase(ns) != Some(true) {
            return;
        }
        let occupied =
            self.objects.iter().any(|(_, m)| m.range((ns.to_string(), String::new())..).next().is_some_and(|((n, _), _)| n == ns));
        if !occupied && let Some(t) = self.registry.get("", "v1", "namespaces") {
            self.remove(&t, "", ns);
        }
    }
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
