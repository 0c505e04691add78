//! What the HTTP handlers share: the server state and settings, one parsed request, body parsing and JSON answers.

use crate::error::ApiError;
use crate::faults::Faults;
use crate::kinds::ResourceType;
use crate::store::{State, WriteCtx};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Settings a test may change while the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `gitVersion` answered at `/version`.
    pub git_version: String,
    /// Whether SubjectAccessReviews are answered with `allowed: true`.
    pub sar_allowed: bool,
    /// Interval of BOOKMARK events on watches that asked for them.
    pub bookmark_every: Duration,
}

/// Everything the handlers share.
pub struct Shared {
    /// Objects, types, history, write log.
    pub state: Mutex<State>,
    /// Latest resource version; watches wake on changes.
    pub changed: watch::Sender<u64>,
    /// Bumped to end every open watch.
    pub close_watches: watch::Sender<u64>,
    /// Injected faults.
    pub faults: Mutex<Faults>,
    /// Woken when paused clients are resumed.
    pub resumed: Notify,
    /// Changeable settings.
    pub config: Mutex<ServerConfig>,
    /// TokenReview users and non-resource grants (tokens.rs).
    pub tokens: Mutex<crate::tokens::Tokens>,
}

impl Shared {
    /// Locks the state (a poisoned lock is taken over: the state stays usable after a panic in a test).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the faults.
    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current settings.
    pub fn config(&self) -> ServerConfig {
        self.config.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Wakes watches after a write.
    pub fn notify(&self, rv: u64) {
        self.changed.send_replace(rv);
    }
}

/// Query parameters of a request.
pub type Query = HashMap<String, String>;

pub fn json_response(code: u16, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn ok_value(code: u16, v: &Value) -> Response {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

/// The Status answer of an error.
pub fn error_response(e: &ApiError) -> Response {
    let mut r = ok_value(e.code, &e.status());
    if let Some(secs) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

pub fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{}\"", w.replace('"', "'"))) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

/// One request on a resource.
pub struct Req {
    /// The resource type.
    pub t: Arc<ResourceType>,
    /// Namespace from the path.
    pub ns: Option<String>,
    /// Object name from the path.
    pub name: Option<String>,
    /// Whether the path ends in `/status`.
    pub status: bool,
    /// Query parameters.
    pub q: Query,
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
    /// Client identity.
    pub client: String,
    /// The verb.
    pub verb: &'static str,
}

impl Req {
    pub(crate) fn ctx(&self, operation: &'static str) -> WriteCtx {
        let manager = self.q.get("fieldManager").cloned().or_else(|| Some(self.client.split('/').next().unwrap_or("unknown").to_string()));
        WriteCtx {
            client: self.client.clone(),
            verb: self.verb.into(),
            manager,
            operation,
            status: self.status,
            dry_run: self.q.get("dryRun").is_some_and(|d| d == "All"),
            validation: self.q.get("fieldValidation").cloned().unwrap_or_else(|| "Warn".into()),
        }
    }

    pub(crate) fn wants_table(&self) -> bool {
        self.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=Table"))
    }

    /// The client asked for metadata only (`as=PartialObjectMetadata` or `...List`, as kube's `list_metadata` and `metadata_watcher` do).
    pub(crate) fn wants_metadata(&self) -> bool {
        self.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=PartialObjectMetadata"))
    }

    pub(crate) fn content_type(&self) -> &str {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json")
    }

    pub(crate) fn ns_str(&self) -> &str {
        if self.t.namespaced { self.ns.as_deref().unwrap_or("default") } else { "" }
    }
}

/// Parses a request body as JSON, or YAML for apply patches and kubectl.
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).or_else(|_| {
        let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the body is neither JSON nor UTF-8 YAML"))?;
        serde_saphyr::from_str::<Value>(text).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    })
}
