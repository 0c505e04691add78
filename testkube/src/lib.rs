//! testkube: an in-memory Kubernetes API server on loopback, a test double for kompliance's tests and demo (not a Kubernetes).
//!
//! It serves discovery, `/version`, `/openapi/v3`, reads, lists with selectors and paging, watches with
//! bookmarks and 410s, writes (POST, PUT, PATCH incl. server-side apply, DELETE with finalizers and the garbage
//! collector's deletion of dependents), the
//! status subresource, CRDs (served once created, pruned to their schema), kubectl tables and
//! metadata-only answers (`PartialObjectMetadata`). It runs
//! no controllers: [`TestKube::seed`] creates the ReplicaSets, Jobs and Pods of workloads itself.

mod ctx;
mod deletes;
mod dumps;
pub mod error;
pub mod faults;
mod fields;
pub mod kinds;
mod openapi;
mod patch;
pub mod procfs;
mod request;
mod restore;
pub mod schema;
pub mod seed;
pub mod selector;
mod server;
pub mod store;
pub mod synth;
mod table;
mod tokens;
mod watch;
mod writes;

pub use deletes::Propagation;
pub use error::ApiError;
pub use faults::{Fault, FaultAction};
pub use store::WriteRecord;

use request::{ServerConfig, Shared};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{State, WriteCtx};

/// How to start a server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// `gitVersion` at `/version` (keep within kubectl's 1.27–1.33 range).
    pub version: String,
    /// Watch events kept for replay; older versions get 410.
    pub history: usize,
    /// Interval of watch bookmarks.
    pub bookmark_every: Duration,
    /// Whether SubjectAccessReviews answer allowed.
    pub sar_allowed: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { port: 0, version: "v1.32.4".into(), history: 200_000, bookmark_every: Duration::from_secs(5), sar_allowed: false }
    }
}

/// A running server. Dropping it stops the server.
pub struct TestKube {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestKube {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn ctx(verb: &str) -> WriteCtx {
    WriteCtx {
        client: "testkube-seed".into(),
        verb: verb.into(),
        manager: Some("testkube-seed".into()),
        operation: "Update",
        validation: "Warn".into(),
        ..Default::default()
    }
}

impl TestKube {
    /// Starts a server with default options on a free loopback port (needs a tokio runtime).
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(Options::default()).await
    }

    /// Starts a server with the given options.
    pub async fn start_with(opts: Options) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(opts.history)),
            changed: tokio::sync::watch::channel(0).0,
            close_watches: tokio::sync::watch::channel(0).0,
            faults: Mutex::new(Default::default()),
            resumed: tokio::sync::Notify::new(),
            config: Mutex::new(ServerConfig {
                git_version: opts.version,
                sar_allowed: opts.sar_allowed,
                bookmark_every: opts.bookmark_every,
            }),
            tokens: Mutex::default(),
        });
        let app_shared = shared.clone();
        let app =
            axum::Router::new().fallback(move |method, uri, headers, body| server::handle(app_shared.clone(), method, uri, headers, body));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(TestKube { shared, addr, stop: Some(stop) })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig for this server with a token user named `user`.
    pub fn kubeconfig(&self, user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: testkube\n  cluster:\n    server: {}\ncontexts:\n- name: testkube\n  context:\n    cluster: testkube\n    user: {user}\n    namespace: default\ncurrent-context: testkube\nusers:\n- name: {user}\n  user:\n    token: {user}\n",
            self.url()
        )
    }

    /// Writes a kubeconfig for this server to `path`.
    pub fn write_kubeconfig(&self, path: &Path, user: &str) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig(user))
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let (out, rv) = {
            let mut st = self.shared.state();
            let out = f(&mut st);
            (out, st.rv)
        };
        self.shared.notify(rv);
        out
    }

    /// Creates an object directly (no HTTP); its type comes from apiVersion and kind.
    pub fn create(&self, obj: Value) -> Result<Value, ApiError> {
        self.with_state(|st| create_in(st, obj))
    }

    /// Creates objects as a cluster holding them would (see [`TestKube::seed_path`] for what dumps may hold), and what
    /// controllers would make of workloads (ReplicaSets, Jobs, Pods); creates missing namespaces. Returns how many
    /// objects were created. An error names the object it is about.
    pub fn seed(&self, objects: impl IntoIterator<Item = Value>) -> Result<usize, ApiError> {
        let objects: Vec<Value> = objects.into_iter().collect();
        self.seed_all(&objects).map_err(|(i, e)| ApiError { message: format!("seeding {}: {}", describe(&objects[i]), e.message), ..e })
    }

    /// Seeds every object in the YAML/JSON files under `path`, in one go: CustomResourceDefinitions first and owners
    /// before their dependents whatever the order of the files; owner references get the uids of the owners as seeded;
    /// a workload that comes with objects it owns (a dump's ReplicaSets, Jobs or Pods) is not expanded again; finished
    /// Jobs get terminated Pods (Succeeded, or Failed); legacy API versions are stored under their current one.
    pub fn seed_path(&self, path: &Path) -> Result<usize, seed::SeedError> {
        let (files, objects): (Vec<_>, Vec<Value>) = seed::read_objects(path)?.into_iter().unzip();
        self.seed_all(&objects).map_err(|(i, source)| {
            let field = |p: &str| objects[i].pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
            seed::SeedError::Create {
                path: files[i].clone(),
                kind: field("/kind"),
                name: field("/metadata/name"),
                source: Box::new(source),
            }
        })
    }

    /// Seeds `objects`; an error comes with the index of the object it is about.
    fn seed_all(&self, objects: &[Value]) -> Result<usize, (usize, ApiError)> {
        let objects: Vec<Value> = objects.iter().cloned().map(dumps::current_version).collect();
        let came_with_children = dumps::has_dependents(&objects);
        self.with_state(|st| {
            let mut created = 0;
            for i in dumps::creation_order(&objects) {
                let fail = |e| (i, e);
                let mut obj = objects[i].clone();
                if let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str)
                    && st.get(&namespaces(), "", ns).is_none()
                {
                    create_in(st, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})).map_err(fail)?;
                    created += 1;
                }
                if merge_into_existing_namespace(st, &obj).map_err(fail)? {
                    continue;
                }
                resolve_owners(st, &mut obj);
                let stored = create_in(st, obj).map_err(fail)?;
                created += 1;
                if came_with_children[i] {
                    continue;
                }
                let nodes = if stored["kind"] == "DaemonSet" { node_names(st).map_err(fail)? } else { vec![] };
                seed::expand(&stored, &nodes, &mut |child| {
                    created += 1;
                    create_in(st, child)
                })
                .map_err(fail)?;
            }
            Ok(created)
        })
    }

    /// The stored object, if any.
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let st = self.shared.state();
        let t = st.registry.by_kind(api_version, kind)?;
        st.get(&t.group_resource(), if t.namespaced { namespace } else { "" }, name).map(|s| s.value())
    }

    /// Every stored object of a kind, ordered by namespace and name.
    pub fn list(&self, api_version: &str, kind: &str) -> Vec<Value> {
        let st = self.shared.state();
        let Some(t) = st.registry.by_kind(api_version, kind) else { return vec![] };
        st.list(&t, None, |_, _, _| true, None, None)
            .map(|p| p.items.iter().filter_map(|b| serde_json::from_slice(b).ok()).collect())
            .unwrap_or_default()
    }

    /// Replaces an object (as a PUT without resourceVersion would); status included for kinds without a status subresource.
    pub fn update(&self, obj: Value) -> Result<Value, ApiError> {
        self.with_state(|st| {
            let t = type_of(st, &obj)?;
            let (ns, name) = ns_name(&t, &obj);
            let mut c = ctx("update");
            let mut main = obj.clone();
            if let Some(m) = main.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            let w = st.replace(&t, &ns, &name, main.clone(), &c, None)?;
            if t.has_status && obj.get("status").is_some() {
                c.status = true;
                return st.replace(&t, &ns, &name, main, &c, None).map(|w| w.object);
            }
            Ok(w.object)
        })
    }

    /// Deletes an object (finalizers, namespace contents and dependents as the server does, background propagation).
    pub fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.with_state(|st| {
            let t =
                st.registry.by_kind(api_version, kind).ok_or_else(|| ApiError::bad_request(format!("no kind {kind} in {api_version}")))?;
            st.delete(&t, if t.namespaced { namespace } else { "" }, name, &ctx("delete"), None)
        })
    }

    /// Adds a fault rule.
    pub fn inject(&self, fault: Fault) {
        self.shared.faults().add(fault);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// Ends every open watch (clients see the connection end and must rewatch).
    pub fn close_watches(&self) {
        self.shared.close_watches.send_modify(|g| *g += 1);
    }

    /// Drops the watch history: a watch from any earlier version gets 410 Expired.
    pub fn compact(&self) {
        self.shared.state().compact();
    }

    /// Cuts off clients whose User-Agent contains `client` ("" for everyone): their requests hang until [`TestKube::resume`], then fail with 504 unapplied.
    pub fn pause(&self, client: &str) {
        self.shared.faults().paused.push(client.to_string());
    }

    /// Lets paused requests of `client` proceed.
    pub fn resume(&self, client: &str) {
        self.shared.faults().paused.retain(|p| p != client);
        self.shared.resumed.notify_waiters();
    }

    /// Sets the version answered at `/version`.
    pub fn set_version(&self, git_version: &str) {
        self.shared.config.lock().unwrap_or_else(|e| e.into_inner()).git_version = git_version.into();
    }

    /// Sets whether SubjectAccessReviews are allowed.
    pub fn set_sar_allowed(&self, allowed: bool) {
        self.shared.config.lock().unwrap_or_else(|e| e.into_inner()).sar_allowed = allowed;
    }

    /// The write log so far.
    pub fn writes(&self) -> Vec<WriteRecord> {
        self.shared.state().writes.clone()
    }
}

fn type_of(st: &State, obj: &Value) -> Result<Arc<kinds::ResourceType>, ApiError> {
    let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    st.registry.by_kind(av, kind).ok_or_else(|| ApiError::bad_request(format!("no kind \"{kind}\" is registered for version \"{av}\"")))
}

fn ns_name(t: &kinds::ResourceType, obj: &Value) -> (String, String) {
    let ns = if t.namespaced {
        obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string()
    } else {
        String::new()
    };
    (ns, obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string())
}

fn create_in(st: &mut State, obj: Value) -> Result<Value, ApiError> {
    let t = type_of(st, &obj)?;
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).map(String::from);
    st.create(&t, ns.as_deref(), obj, &ctx("create")).map(|w| w.object)
}

fn namespaces() -> kinds::GroupResource {
    kinds::GroupResource { group: String::new(), plural: "namespaces".into() }
}

/// "Kind namespace/name" of an object, for messages.
fn describe(obj: &Value) -> String {
    let field = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    match field("/metadata/namespace") {
        "" => format!("{} {}", field("/kind"), field("/metadata/name")),
        ns => format!("{} {ns}/{}", field("/kind"), field("/metadata/name")),
    }
}

fn node_names(st: &State) -> Result<Vec<String>, ApiError> {
    let t = st.registry.get("", "v1", "nodes").ok_or_else(|| ApiError::new(500, "InternalError", "nodes are not served"))?;
    let page = st.list(&t, None, |_, _, _| true, None, None)?;
    Ok(page
        .items
        .iter()
        .filter_map(|b| serde_json::from_slice::<Value>(b).ok()?.pointer("/metadata/name")?.as_str().map(String::from))
        .collect())
}

/// A dump's Namespace that the server already has (`default`, `kube-system`, ...): its labels and annotations are
/// taken over, as applying it to a cluster would. Returns whether `obj` was such a Namespace.
fn merge_into_existing_namespace(st: &mut State, obj: &Value) -> Result<bool, ApiError> {
    if obj.get("kind").and_then(Value::as_str) != Some("Namespace") || obj.get("apiVersion").and_then(Value::as_str) != Some("v1") {
        return Ok(false);
    }
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let Some(mut current) = st.get(&namespaces(), "", name).map(|s| s.value()) else { return Ok(false) };
    for field in ["labels", "annotations"] {
        for (k, v) in obj.pointer(&format!("/metadata/{field}")).and_then(Value::as_object).into_iter().flatten() {
            current["metadata"][field][k] = v.clone();
        }
    }
    let t = type_of(st, &current)?;
    st.replace(&t, "", name, current, &ctx("update"), None)?;
    Ok(true)
}

/// Points each owner reference at the owner's uid as stored, when the owner is on the server.
fn resolve_owners(st: &State, obj: &mut Value) {
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string();
    let Some(refs) = obj.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) else { return };
    for r in refs {
        let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(t) = st.registry.by_kind(&field("apiVersion"), &field("kind")) else { continue };
        let owner = st.get(&t.group_resource(), if t.namespaced { &ns } else { "" }, &field("name"));
        if let Some(uid) = owner.and_then(|o| o.value().pointer("/metadata/uid").cloned()) {
            r["uid"] = uid;
        }
    }
}
