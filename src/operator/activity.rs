//! Watch liveness seen on the wire: a client layer that notes, per watched path, when bytes of a
//! successful list or watch answer last arrived (events and bookmarks alike, which kube's watcher
//! does not surface), so a watch that delivers nothing for several bookmark periods can be restarted.

use http::{Method, Request, Response};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What is known of one watched path.
#[derive(Debug)]
struct PathState {
    /// Last bytes of a successful list or watch answer (or the first watch request).
    last_data: Instant,
    /// Last read sent.
    last_request: Instant,
    /// Reads sent whose answer has not ended (a hanging list counts, as a silent watch does).
    open: usize,
}

/// Liveness of every watched path, shared by the client layer and the event loop.
#[derive(Debug, Default)]
pub struct WatchActivity {
    paths: Mutex<HashMap<String, PathState>>,
}

impl WatchActivity {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, PathState>> {
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A read was sent: a watch registers its path; a list counts only on a path already watched
    /// (plain reads such as the probes' are not watches). True when it is tracked.
    fn requested(&self, path: &str, watch: bool) -> bool {
        let now = Instant::now();
        let mut paths = self.lock();
        if !watch && !paths.contains_key(path) {
            return false;
        }
        let p = paths.entry(path.to_string()).or_insert(PathState { last_data: now, last_request: now, open: 0 });
        p.last_request = now;
        p.open += 1;
        true
    }

    fn data(&self, path: &str) {
        if let Some(p) = self.lock().get_mut(path) {
            p.last_data = Instant::now();
        }
    }

    fn closed(&self, path: &str) {
        if let Some(p) = self.lock().get_mut(path) {
            p.open = p.open.saturating_sub(1);
        }
    }

    /// Paths, sorted, still being read (a request open, or sent within `after`) that delivered
    /// nothing for `after`: no event, no bookmark, no list page.
    pub fn stalled(&self, after: Duration) -> Vec<String> {
        let now = Instant::now();
        let mut out: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, p)| now.duration_since(p.last_data) > after && (p.open > 0 || now.duration_since(p.last_request) < after))
            .map(|(k, _)| k.clone())
            .collect();
        out.sort();
        out
    }

    /// Forgets paths no longer watched (none open and no request for `after`).
    pub fn prune(&self, after: Duration) {
        let now = Instant::now();
        self.lock().retain(|_, p| p.open > 0 || now.duration_since(p.last_request) < after);
    }
}

/// The layer that feeds a [`WatchActivity`] with the watches and lists of the watched paths.
#[derive(Clone)]
pub struct ActivityLayer(pub Arc<WatchActivity>);

impl<S> tower_layer::Layer<S> for ActivityLayer {
    type Service = ActivityService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ActivityService { inner, activity: self.0.clone() }
    }
}

/// A client service that notes watch activity.
#[derive(Clone)]
pub struct ActivityService<S> {
    inner: S,
    activity: Arc<WatchActivity>,
}

/// Decrements the open count of a path when its request fails or its answer ends.
struct Open {
    activity: Arc<WatchActivity>,
    path: String,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.activity.closed(&self.path);
    }
}

/// The path of a read, the key of the liveness record (a watch and its lists share it), and whether it watches.
fn read_path<B>(req: &Request<B>) -> Option<(String, bool)> {
    if req.method() != Method::GET {
        return None;
    }
    let watch = req.uri().query().unwrap_or_default().split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
    Some((req.uri().path().to_string(), watch))
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> tower_service::Service<Request<RB>> for ActivityService<S>
where
    S: tower_service::Service<Request<RB>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
{
    type Response = Response<ActivityBody<B>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<RB>) -> Self::Future {
        let path = read_path(&req).filter(|(p, watch)| self.activity.requested(p, *watch)).map(|(p, _)| p);
        let activity = self.activity.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            // The guard lives until the answer ends or the request fails.
            let guard = path.clone().map(|path| Open { activity: activity.clone(), path });
            let resp = fut.await?;
            let track = path.filter(|_| resp.status().is_success());
            Ok(resp.map(|inner| ActivityBody { inner: Box::pin(inner), track, activity, _open: guard }))
        })
    }
}

/// A response body that notes each frame of a successful list or watch answer.
pub struct ActivityBody<B> {
    inner: Pin<Box<B>>,
    track: Option<String>,
    activity: Arc<WatchActivity>,
    _open: Option<Open>,
}

impl<B: http_body::Body> http_body::Body for ActivityBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        let polled = this.inner.as_mut().poll_frame(cx);
        if let (Poll::Ready(Some(Ok(_))), Some(path)) = (&polled, &this.track) {
            this.activity.data(path);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// How often the loop beats and looks for stalled watches, for a stall timeout.
pub(super) fn tick(stall: std::time::Duration) -> std::time::Duration {
    (stall / 4).clamp(std::time::Duration::from_millis(50), std::time::Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_open_watch_is_stalled_and_a_forgotten_path_is_not() {
        let a = WatchActivity::default();
        assert!(!a.requested("/apis/apps/v1/namespaces/kube-system/deployments/azure-policy", false), "a plain read is not tracked");
        assert!(a.requested("/api/v1/pods", true));
        assert!(a.requested("/api/v1/nodes", true));
        a.closed("/api/v1/nodes");
        assert!(a.requested("/api/v1/nodes", false), "a relist of a watched path is tracked");
        a.closed("/api/v1/nodes");
        assert!(a.stalled(Duration::from_millis(30)).is_empty(), "fresh watches are live");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(a.stalled(Duration::from_millis(30)), ["/api/v1/pods"], "the closed, unretried nodes watch is not stalled");
        a.data("/api/v1/pods");
        assert!(a.stalled(Duration::from_millis(30)).is_empty(), "a bookmark or event makes it live again");
        a.prune(Duration::from_millis(30));
        assert_eq!(a.lock().len(), 1, "the nodes watch is forgotten");
    }
}
