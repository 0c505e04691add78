//! The metrics server's accept loop: plain or TLS connections served by hyper (HTTP/1.1), with a
//! cap on concurrent connections and timeouts, so idle or slow clients cannot use up the
//! operator's file descriptors.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

/// Default of [`ServerLimits::header_read_timeout`].
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Default of [`ServerLimits::idle_timeout`].
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of [`ServerLimits::max_connections`].
pub const MAX_CONNECTIONS: usize = 64;

/// Limits of the metrics server's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time a connection has for its TLS handshake, and to send a request's headers once it is
    /// open or after the previous response (slowloris; also how long a kept-alive connection
    /// may wait between requests: longer than a 15 s scrape interval).
    pub header_read_timeout: Duration,
    /// A connection that moves no byte either way for this long is closed (a client that stops
    /// reading a response).
    pub idle_timeout: Duration,
    /// Connections served at once; further ones wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits { header_read_timeout: HEADER_READ_TIMEOUT, idle_timeout: IDLE_TIMEOUT, max_connections: MAX_CONNECTIONS }
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is set) until the task is dropped or aborted.
pub fn spawn(listener: TcpListener, app: Router, tls: Option<TlsAcceptor>, limits: ServerLimits) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let mut connections = tokio::task::JoinSet::new();
        loop {
            // A slot first: at the cap, new connections wait in the kernel's backlog.
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    debug!(error = %e, "accepting a metrics connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (app, tls) = (app.clone(), tls.clone());
            connections.spawn(async move {
                connection(tcp, app, tls, limits).await;
                drop(slot);
                debug!(%peer, "metrics connection closed");
            });
            // Reap finished connection tasks so the set does not grow.
            while connections.try_join_next().is_some() {}
        }
    })
}

async fn connection(tcp: tokio::net::TcpStream, app: Router, tls: Option<TlsAcceptor>, limits: ServerLimits) {
    let activity = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tcp = Tracked { inner: tcp, activity: activity.clone(), start };
    match tls {
        Some(acceptor) => match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => http1(stream, app, limits, activity, start).await,
            Ok(Err(e)) => debug!(error = %e, "TLS handshake of a metrics connection failed"),
            Err(_) => debug!("TLS handshake of a metrics connection timed out"),
        },
        None => http1(tcp, app, limits, activity, start).await,
    }
}

async fn http1<S>(io: S, app: Router, limits: ServerLimits, activity: Arc<AtomicU64>, start: Instant)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::select! {
        r = conn => if let Err(e) = r { debug!(error = %e, "metrics connection ended with an error") },
        () = idle(activity, start, limits.idle_timeout) => debug!("metrics connection idle; closed"),
    }
}

/// Returns once no byte has moved for `timeout` (activity holds milliseconds since `start`).
async fn idle(activity: Arc<AtomicU64>, start: Instant, timeout: Duration) {
    loop {
        let last = start + Duration::from_millis(activity.load(Ordering::Relaxed));
        let deadline = last + timeout;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// A stream that records when bytes last moved.
struct Tracked<S> {
    inner: S,
    activity: Arc<AtomicU64>,
    start: Instant,
}

impl<S> Tracked<S> {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.store(ms, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
