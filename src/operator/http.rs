//! The operator's HTTP endpoints: `/metrics` (text exposition of an injected registry), `/healthz`
//! (fails while the event loop or a watch is stalled) and `/readyz` (ready after the first full evaluation).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Liveness of the event loop and the watches, for `/healthz`.
#[derive(Debug)]
pub struct Health {
    bound: Duration,
    beat: Mutex<Instant>,
    stalled: Mutex<Vec<String>>,
}

impl Health {
    /// Unhealthy when the event loop has not beaten for `bound`.
    pub fn new(bound: Duration) -> Self {
        Health { bound, beat: Mutex::new(Instant::now()), stalled: Mutex::new(vec![]) }
    }

    /// The event loop is alive now.
    pub fn beat(&self) {
        *self.beat.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// The watched paths that are stalled now (empty: none).
    pub fn set_stalled(&self, paths: Vec<String>) {
        *self.stalled.lock().unwrap_or_else(|e| e.into_inner()) = paths;
    }

    /// Why the replica is unhealthy, if it is.
    pub fn problem(&self) -> Option<String> {
        let since = self.beat.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
        if since > self.bound {
            return Some(format!("event loop stalled for {}s\n", since.as_secs()));
        }
        let stalled = self.stalled.lock().unwrap_or_else(|e| e.into_inner());
        (!stalled.is_empty()).then(|| format!("watches stalled (nothing received for {}s): {}\n", self.bound.as_secs(), stalled.join(", ")))
    }
}

/// What the endpoints read.
#[derive(Clone)]
pub struct HttpState {
    /// Every metric this replica exports.
    pub registry: Registry,
    /// Set after the first full evaluation.
    pub ready: Arc<AtomicBool>,
    /// Liveness of the event loop and the watches.
    pub health: Arc<Health>,
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    let mut out = vec![];
    match TextEncoder::new().encode(&s.registry.gather(), &mut out) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {e}")).into_response(),
    }
}

async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "first evaluation not finished\n")
    }
}

async fn healthz(State(s): State<HttpState>) -> axum::response::Response {
    match s.health.problem() {
        None => (StatusCode::OK, "ok\n").into_response(),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}

/// The routes.
pub fn router(state: HttpState) -> Router {
    Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(state)
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("binding the metrics server to {addr}")]
pub struct BindMetrics {
    /// Address asked for.
    pub addr: String,
    /// Cause.
    #[source]
    pub source: std::io::Error,
}

/// How the metrics server serves its endpoints.
pub enum Security {
    /// Plain HTTP, no authentication (`--metrics-secure=false`, for local use).
    Plain,
    /// HTTPS; every path but the probes needs a bearer token the API server accepts and
    /// authorizes (authz.rs).
    Secure {
        /// The TLS acceptor (tls.rs).
        tls: tokio_rustls::TlsAcceptor,
        /// Checks tokens with the API server.
        auth: super::authz::Authorizer,
    },
}

/// Binds `addr` and serves plain HTTP with the default limits until the task is aborted; returns
/// the bound address (for port 0).
pub async fn serve(addr: &str, state: HttpState) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), BindMetrics> {
    serve_with(addr, state, Security::Plain, super::listener::ServerLimits::default()).await
}

/// Binds `addr` and serves with `security` and `limits` until the task is aborted; returns the
/// bound address (for port 0).
pub async fn serve_with(
    addr: &str,
    state: HttpState,
    security: Security,
    limits: super::listener::ServerLimits,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), BindMetrics> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| BindMetrics { addr: addr.to_string(), source })?;
    let bound = listener.local_addr().map_err(|source| BindMetrics { addr: addr.to_string(), source })?;
    let (app, tls) = match security {
        Security::Plain => (router(state), None),
        Security::Secure { tls, auth } => {
            (router(state).layer(axum::middleware::from_fn_with_state(auth, super::authz::require_access)), Some(tls))
        }
    };
    Ok((bound, super::listener::spawn(listener, app, tls, limits)))
}
