//! The secure metrics server: HTTPS, bearer tokens checked with TokenReview and
//! SubjectAccessReview against testkube (401, 403, 200, cached decisions), probes without a token,
//! certificates from files, plain HTTP with `--metrics-secure=false`, and the connection limits.

mod e2e;

use e2e::{Cluster, SCRAPER, metrics_client};
use kompliance::operator::auth_cache::AuthCache;
use kompliance::operator::authz::Authorizer;
use kompliance::operator::http::{HttpState, Security, serve_with};
use kompliance::operator::listener::ServerLimits;
use kompliance::operator::telemetry::OperatorMetrics;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use testkube::TestKube;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn state() -> (HttpState, Arc<AtomicBool>) {
    let registry = prometheus::Registry::new();
    OperatorMetrics::register(&registry, kompliance::VERSION, "test").expect("register");
    let ready = Arc::new(AtomicBool::new(false));
    let health = Arc::new(kompliance::operator::http::Health::new(Duration::from_secs(300)));
    (HttpState { registry, ready: ready.clone(), health }, ready)
}

fn kube_client(server: &TestKube) -> kube::Client {
    kube::Client::try_from(kube::Config::new(server.url().parse().expect("url"))).expect("client")
}

async fn status(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.expect("request").status().as_u16()
}

fn count(reviews: &[Value], kind: &str) -> usize {
    reviews.iter().filter(|r| r["kind"] == kind).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_a_token_the_api_server_authenticates_and_authorizes_and_probes_do_not() {
    let server = TestKube::start().await.expect("testkube");
    server.add_token("t-prom", SCRAPER, &["system:serviceaccounts", "system:serviceaccounts:monitoring"]);
    server.add_token("t-mallory", "mallory", &[]);
    server.grant_non_resource(SCRAPER, "get", "/metrics");
    let tls = kompliance::operator::tls::acceptor(None).expect("self-signed certificate");
    let auth = Authorizer::new(kube_client(&server), AuthCache::default());
    let (http_state, ready) = state();
    let (addr, task) = serve_with("127.0.0.1:0", http_state, Security::Secure { tls, auth }, ServerLimits::default()).await.expect("serve");
    let client = metrics_client();
    let url = |path: &str| format!("https://{addr}{path}");

    assert_eq!(status(client.get(url("/metrics"))).await, 401, "no token");
    assert_eq!(status(client.get(url("/metrics")).header("Authorization", "Basic dTpw")).await, 401, "not a bearer token");
    assert_eq!(status(client.get(url("/metrics")).bearer_auth("unknown")).await, 401, "a token the API server does not know");
    assert_eq!(status(client.get(url("/metrics")).bearer_auth("t-mallory")).await, 403, "a user the SubjectAccessReview denies");
    let r = client.get(url("/metrics")).bearer_auth("t-prom").send().await.expect("scrape");
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    assert!(body.contains("kompliance_build_info{revision=\"test\""), "{body}");
    assert_eq!(status(client.get(url("/other")).bearer_auth("t-prom")).await, 403, "the grant is for /metrics only");

    // The probes need no token, over the same port and scheme.
    assert_eq!(status(client.get(url("/healthz"))).await, 200);
    assert_eq!(status(client.get(url("/readyz"))).await, 503);
    ready.store(true, Ordering::Relaxed);
    assert_eq!(status(client.get(url("/readyz"))).await, 200);

    // The review asked about the scraper's user and groups, `get` on the path.
    let reviews = server.reviews();
    let sar = reviews.iter().find(|r| r["kind"] == "SubjectAccessReview" && r["spec"]["user"] == SCRAPER).expect("the scraper's review");
    assert_eq!(sar["spec"]["nonResourceAttributes"], serde_json::json!({"path": "/metrics", "verb": "get"}));
    assert_eq!(sar["spec"]["groups"], serde_json::json!(["system:serviceaccounts", "system:serviceaccounts:monitoring"]));
    assert_eq!(sar["spec"]["uid"], format!("uid-{SCRAPER}"));

    // Decisions, allowed and refused, are cached: repeated scrapes make no more API calls.
    let (tokens, sars) = (count(&reviews, "TokenReview"), count(&reviews, "SubjectAccessReview"));
    assert_eq!((tokens, sars), (4, 3), "unknown, mallory, prom and prom on /other; the unknown token needs no access review");
    for _ in 0..3 {
        assert_eq!(status(client.get(url("/metrics")).bearer_auth("t-prom")).await, 200);
        assert_eq!(status(client.get(url("/metrics")).bearer_auth("t-mallory")).await, 403);
        assert_eq!(status(client.get(url("/metrics")).bearer_auth("unknown")).await, 401);
    }
    assert_eq!(server.reviews().len(), tokens + sars, "answered from the cache");

    // Plain HTTP is not served on the TLS port.
    let plain = e2e::http_get(addr, "/healthz").await;
    assert!(plain.as_ref().is_none_or(|b| !b.contains("ok")), "plain HTTP was answered: {plain:?}");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_api_server_cannot_be_asked_metrics_answer_500_and_nothing_is_cached() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let mut cfg = kube::Config::new(format!("http://{closed}").parse().expect("url"));
    cfg.default_retry = false;
    let cache = AuthCache::default();
    let auth = Authorizer::new(kube::Client::try_from(cfg).expect("client"), cache);
    assert!(auth.decide("t", "get", "/metrics").await.is_err());
    let tls = kompliance::operator::tls::acceptor(None).expect("self-signed certificate");
    let (addr, task) =
        serve_with("127.0.0.1:0", state().0, Security::Secure { tls, auth: auth.clone() }, ServerLimits::default()).await.expect("serve");
    let client = metrics_client();
    assert_eq!(status(client.get(format!("https://{addr}/metrics")).bearer_auth("t")).await, 500);
    assert_eq!(
        status(client.get(format!("https://{addr}/metrics")).bearer_auth("t")).await,
        500,
        "the failure was not cached as a decision"
    );
    assert_eq!(status(client.get(format!("https://{addr}/healthz"))).await, 200);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_from_the_cert_dir_is_served() {
    let dir = tempfile::tempdir().expect("tmp");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    std::fs::write(dir.path().join("tls.crt"), made.cert.pem()).expect("write");
    std::fs::write(dir.path().join("tls.key"), made.signing_key.serialize_pem()).expect("write");
    let server = TestKube::start().await.expect("testkube");
    let tls = kompliance::operator::tls::acceptor(Some(dir.path())).expect("certificate files");
    let auth = Authorizer::new(kube_client(&server), AuthCache::default());
    let (addr, task) = serve_with("127.0.0.1:0", state().0, Security::Secure { tls, auth }, ServerLimits::default()).await.expect("serve");
    kompliance::azure::arm::install_crypto_provider();
    let trusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).expect("pem")])
        .resolve("localhost", addr)
        .build()
        .expect("client");
    let r =
        trusting.get(format!("https://localhost:{}/healthz", addr.port())).send().await.expect("verified TLS to the served certificate");
    assert_eq!(r.status(), 200);
    // A client trusting another certificate refuses the connection: the file's certificate is what is served.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let distrusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(other.cert.pem().as_bytes()).expect("pem")])
        .resolve("localhost", addr)
        .build()
        .expect("client");
    assert!(distrusting.get(format!("https://localhost:{}/healthz", addr.port())).send().await.is_err());
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_is_secure_by_default_and_plain_with_the_flag_off() {
    use clap::Parser;
    #[derive(Parser)]
    struct Run {
        #[command(flatten)]
        args: kompliance::operator::cli::RunArgs,
    }
    let parse =
        |extra: &[&str]| kompliance::operator::cli::options(&Run::parse_from(std::iter::once("run").chain(extra.iter().copied())).args);
    assert!(parse(&[]).metrics_secure, "on by default");
    assert!(!parse(&["--metrics-secure=false"]).metrics_secure);
    assert_eq!(parse(&["--metrics-cert-dir=/certs"]).metrics_cert_dir, Some("/certs".into()));

    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    let secure = c.operator("secure", false).await;
    assert!(e2e::scrape(secure.metrics_addr).await.contains("kompliance_leader"), "HTTPS with the scraper's token");
    assert_eq!(status(metrics_client().get(format!("https://{}/metrics", secure.metrics_addr))).await, 401);
    assert!(e2e::http_get(secure.metrics_addr, "/metrics").await.is_none_or(|b| !b.contains("kompliance_leader")), "no plain HTTP");
    secure.shutdown().await;

    let plain = c.operator_with("plain", false, |o| o.metrics_secure = false).await;
    let body = e2e::http_get(plain.metrics_addr, "/metrics").await.expect("plain HTTP answers");
    assert!(body.contains("kompliance_leader"), "{body}");
    assert_eq!(e2e::http_get(plain.metrics_addr, "/healthz").await.as_deref(), Some("ok\n"));
    plain.shutdown().await;
}

/// Whether the server closed `s` within `within` (EOF or a reset).
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(within, s.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

async fn plain_server(limits: ServerLimits) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    serve_with("127.0.0.1:0", state().0, Security::Plain, limits).await.expect("serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_capped_and_closed_after_the_header_timeout_and_healthz_still_answers() {
    let header = Duration::from_millis(600);
    let limits = ServerLimits { header_read_timeout: header, idle_timeout: Duration::from_secs(30), max_connections: 4 };
    let (addr, task) = plain_server(limits).await;
    // Twice the cap of idle connections (bounded, loopback only).
    let mut idle = vec![];
    for _ in 0..8 {
        idle.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    let started = Instant::now();
    let health = e2e::http_get(addr, "/healthz").await;
    let waited = started.elapsed();
    assert_eq!(health.as_deref(), Some("ok\n"), "/healthz answers while idle connections are open");
    assert!(waited >= header / 2, "served only once idle connections made room ({waited:?}): the cap holds");
    for (i, s) in idle.iter_mut().enumerate() {
        assert!(closed_within(s, Duration::from_secs(10)).await, "idle connection {i} was not closed");
    }
    // Slowloris: headers trickled a byte at a time are cut off at the header timeout.
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.expect("write");
    let mut cut = false;
    for _ in 0..100 {
        if slow.write_all(b"X").await.is_err() || closed_within(&mut slow, Duration::from_millis(100)).await {
            cut = true;
            break;
        }
    }
    assert!(cut, "a trickling client was never cut off");
    assert!(started.elapsed() >= header / 2, "cut off before the header timeout: {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_moves_no_bytes_is_closed_after_the_idle_timeout() {
    let limits =
        ServerLimits { header_read_timeout: Duration::from_secs(60), idle_timeout: Duration::from_millis(300), max_connections: 4 };
    let (addr, task) = plain_server(limits).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(10)).await, "not closed");
    assert!(started.elapsed() >= Duration::from_millis(250), "closed too early: {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10), "the header timeout (60 s) did not close it");
    assert_eq!(e2e::http_get(addr, "/healthz").await.as_deref(), Some("ok\n"));
    task.abort();
}
