//! WATCH answers: replay from the history, live events, bookmarks, timeouts, 410 when too old.

use crate::error::ApiError;
use crate::kinds::GroupResource;
use crate::request::{Req, Shared, error_response};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{EventType, HistEvent};
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

struct WatchState {
    shared: Arc<Shared>,
    gr: GroupResource,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    cursor: u64,
    pending: VecDeque<Bytes>,
    done: bool,
    deadline: Instant,
    bookmarks: bool,
    bookmark_every: Duration,
    next_bookmark: Instant,
    changed: watch::Receiver<u64>,
    closed: watch::Receiver<u64>,
    kind: String,
    api_version: String,
    /// Objects go out reduced to PartialObjectMetadata.
    metadata_only: bool,
}

fn line(kind: &str, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

impl WatchState {
    fn render(&self, ev: &HistEvent) -> Option<Bytes> {
        if ev.gr != self.gr || self.ns.as_ref().is_some_and(|n| n != &ev.namespace) || !self.fields.matches(&ev.namespace, &ev.name) {
            return None;
        }
        let now = self.labels.matches(&ev.labels);
        let before = ev.prev_labels.as_ref().map(|p| self.labels.matches(p));
        let kind = match (ev.kind, before, now) {
            (EventType::Modified, Some(false), true) => "ADDED",
            (EventType::Modified, Some(true), false) => "DELETED",
            (_, _, false) => return None,
            (k, _, true) => k.as_str(),
        };
        Some(self.event(kind, &ev.json))
    }

    /// One event line, the object reduced to its metadata when the client asked for that.
    fn event(&self, kind: &str, object: &[u8]) -> Bytes {
        if self.metadata_only { line(kind, &crate::table::partial_object_metadata_json(object)) } else { line(kind, object) }
    }

    fn bookmark(&self, annotations: Option<Value>) -> Bytes {
        let mut obj = json!({"kind": self.kind, "apiVersion": self.api_version, "metadata": {"resourceVersion": self.cursor.to_string()}});
        if let Some(a) = annotations {
            obj["metadata"]["annotations"] = a;
        }
        line("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default())
    }

    /// Moves every new event into `pending`; false when the history no longer reaches the cursor.
    fn poll(&mut self) {
        self.changed.borrow_and_update();
        let st = self.shared.state();
        match st.events_after(self.cursor) {
            Ok(events) => {
                for ev in events {
                    if let Some(b) = self.render(&ev) {
                        self.pending.push_back(b);
                    }
                }
                self.cursor = st.rv;
            }
            Err(e) => {
                self.pending.push_back(line("ERROR", &serde_json::to_vec(&e.status()).unwrap_or_default()));
                self.done = true;
            }
        }
    }

    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Self)> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some((Ok(b), self));
            }
            if self.done {
                return None;
            }
            self.poll();
            if !self.pending.is_empty() || self.done {
                continue;
            }
            tokio::select! {
                r = self.changed.changed() => if r.is_err() { return None },
                _ = self.closed.changed() => return None,
                _ = tokio::time::sleep_until(self.deadline) => return None,
                _ = tokio::time::sleep_until(self.next_bookmark), if self.bookmarks => {
                    self.next_bookmark = Instant::now() + self.bookmark_every;
                    let b = self.bookmark(None);
                    self.pending.push_back(b);
                }
            }
        }
    }
}

/// Starts a watch for a request; answers 400 for bad selectors or versions.
pub fn watch_response(shared: Arc<Shared>, req: Req) -> Response {
    let parse = || -> Result<WatchState, ApiError> {
        let labels =
            LabelSelector::parse(req.q.get("labelSelector").map(String::as_str).unwrap_or_default()).map_err(ApiError::bad_request)?;
        let mut fields =
            FieldSelector::parse(req.q.get("fieldSelector").map(String::as_str).unwrap_or_default()).map_err(ApiError::bad_request)?;
        if let Some(name) = &req.name {
            fields = FieldSelector::parse(&format!("metadata.name={name}")).map_err(ApiError::bad_request)?;
        }
        let timeout = req.q.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).unwrap_or(1800);
        let cfg = shared.config();
        let rv_param = req.q.get("resourceVersion").filter(|r| !r.is_empty()).cloned();
        let send_initial = req.q.get("sendInitialEvents").is_some_and(|s| s == "true");
        let ns = if req.t.namespaced { req.ns.clone() } else { None };
        let mut ws = WatchState {
            shared: shared.clone(),
            gr: req.t.group_resource(),
            ns: ns.clone(),
            labels,
            fields,
            cursor: 0,
            pending: VecDeque::new(),
            done: false,
            deadline: Instant::now() + Duration::from_secs(timeout),
            bookmarks: req.q.get("allowWatchBookmarks").is_some_and(|b| b == "true"),
            bookmark_every: cfg.bookmark_every,
            next_bookmark: Instant::now() + cfg.bookmark_every,
            changed: shared.changed.subscribe(),
            closed: shared.close_watches.subscribe(),
            kind: req.t.kind.clone(),
            api_version: req.t.api_version(),
            metadata_only: req.wants_metadata(),
        };
        ws.closed.borrow_and_update();
        if rv_param.as_deref().is_none_or(|r| r == "0") || send_initial {
            let st = shared.state();
            let page =
                st.list(&req.t, ns.as_deref(), |n, name, s| ws.labels.matches(&s.labels) && ws.fields.matches(n, name), None, None)?;
            let added: Vec<Bytes> = page.items.iter().map(|b| ws.event("ADDED", b)).collect();
            ws.pending.extend(added);
            ws.cursor = st.rv;
            drop(st);
            if send_initial {
                let b = ws.bookmark(Some(json!({"k8s.io/initial-events-end": "true"})));
                ws.pending.push_back(b);
            }
        } else {
            let rv = rv_param.as_deref().unwrap_or_default();
            ws.cursor = rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))?;
            // A version this server never handed out (its state was lost): the client must list again.
            let latest = shared.state().rv;
            if ws.cursor > latest {
                return Err(ApiError::new(504, "Timeout", format!("Too large resource version: {}, current: {latest}", ws.cursor)));
            }
        }
        Ok(ws)
    };
    match parse() {
        Ok(ws) => {
            let stream = futures::stream::unfold(ws, WatchState::next);
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(e) => error_response(&e),
    }
}
