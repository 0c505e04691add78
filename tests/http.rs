//! The operator's HTTP endpoints over loopback: /healthz, /readyz (ready after the first
//! evaluation), /metrics with the operational metrics at zero and the compliance gauges.

mod common;

use kompliance::metrics::{ComplianceCollector, ReportSource, Snapshot};
use kompliance::operator::http::{HttpState, serve};
use kompliance::operator::telemetry::OperatorMetrics;
use prometheus::Registry;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Examples(Snapshot);

impl ReportSource for Examples {
    fn snapshot(&self) -> Snapshot {
        self.0.clone()
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes()).await.expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.expect("read");
    let code = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, buf)
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let cfg = common::config("example-config.yaml");
    let result = common::audit(&cfg, &[Path::new("examples")], Some("v1.31.4"));
    let snapshot = Snapshot { namespaces: result.reports(), cluster: result.cluster().clone() };

    let registry = Registry::new();
    let ops = OperatorMetrics::register(&registry, kompliance::VERSION, "test").expect("register");
    registry
        .register(Box::new(ComplianceCollector::new(Arc::new(Examples(snapshot)), true).expect("collector")))
        .expect("register collector");
    let ready = Arc::new(AtomicBool::new(false));
    let (addr, server) = serve(
        "127.0.0.1:0",
        HttpState {
            registry,
            ready: ready.clone(),
            health: Arc::new(kompliance::operator::http::Health::new(std::time::Duration::from_secs(60))),
        },
    )
    .await
    .expect("serve");
    assert!(addr.ip().is_loopback());

    assert_eq!(get(addr, "/healthz").await.0, 200);
    assert_eq!(get(addr, "/readyz").await.0, 503, "not ready before the first evaluation");
    ready.store(true, Ordering::Relaxed);
    assert_eq!(get(addr, "/readyz").await.0, 200);

    ops.report_writes.with_label_values(&["namespace", "applied"]).inc();
    let (code, body) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    for line in [
        "kompliance_report_writes_total{result=\"applied\",scope=\"namespace\"} 1",
        "kompliance_report_writes_total{result=\"error\",scope=\"cluster\"} 0",
        "kompliance_watch_events_total{kind=\"Pod\",type=\"deleted\"} 0",
        "kompliance_config_reloads_total{result=\"failure\"} 0",
        "kompliance_leader 0",
        "kompliance_unhealthy_resources{namespace=\"payments\",recommendation=\"privileged-containers\",severity=\"Medium\"} 1",
    ] {
        assert!(body.lines().any(|l| l == line), "missing {line:?} in\n{body}");
    }
    assert!(body.contains(&format!("kompliance_build_info{{revision=\"test\",version=\"{}\"}} 1", kompliance::VERSION)));
    assert!(body.contains("kompliance_evaluation_duration_seconds_bucket"));
    assert_eq!(get(addr, "/nope").await.0, 404);
    server.abort();
}
