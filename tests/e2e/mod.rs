//! Support for the operator's end-to-end tests: a testkube server with the committed CRDs, the
//! operator started in-process against it, object builders, polling, metrics scraping.

#![allow(dead_code)]

use kompliance::operator::leader::LeaseSettings;
use kompliance::operator::run::{RunOptions, Running, start};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::{Duration, Instant};
use testkube::TestKube;

/// The operator tests compete for two cores: they run one at a time.
pub static SERIAL: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

/// The crate's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed CRDs (`crds/`), parsed.
pub fn committed_crds() -> Vec<Value> {
    let mut out = vec![];
    for f in ["compliancereports.kompliance.dev.yaml", "complianceclusterreports.kompliance.dev.yaml"] {
        let text = std::fs::read_to_string(root().join("crds").join(f)).expect("crd file");
        out.push(serde_saphyr::from_str(&text).expect("crd yaml"));
    }
    out
}

/// A server with the committed CRDs, and a folder for the config file and kubeconfigs.
pub struct Cluster {
    /// The in-memory API server.
    pub server: TestKube,
    /// Scratch folder.
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts a server with the CRDs and the example configuration copied to `config.yaml`.
    pub async fn new() -> Self {
        Cluster::with(testkube::Options::default()).await
    }

    /// Starts a server with `opts`, the CRDs, the scrape token and the example configuration.
    pub async fn with(opts: testkube::Options) -> Self {
        let server = TestKube::start_with(opts).await.expect("testkube");
        server.seed(committed_crds()).expect("crds");
        server.add_token(SCRAPE_TOKEN, SCRAPER, &["system:serviceaccounts"]);
        server.grant_non_resource(SCRAPER, "get", "/metrics");
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::copy(root().join("example-config.yaml"), dir.path().join("config.yaml")).expect("config");
        Cluster { server, dir }
    }

    /// Path of the operator's configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// A kube client configuration that identifies itself as `agent`.
    pub fn config(&self, agent: &str) -> kube::Config {
        let mut cfg = kube::Config::new(self.server.url().parse().expect("url"));
        cfg.headers.push((http::header::USER_AGENT, http::HeaderValue::from_str(agent).expect("agent")));
        cfg
    }

    /// A kube client that identifies itself as `agent`.
    pub fn client(&self, agent: &str) -> kube::Client {
        kube::Client::try_from(self.config(agent)).expect("client")
    }

    /// Starts an operator named `agent` with fast timings; `lease` turns on leader election.
    pub async fn operator(&self, agent: &str, lease: bool) -> Running {
        self.operator_with(agent, lease, |_| {}).await
    }

    /// Starts an operator with fast timings changed by `tweak`.
    pub async fn operator_with(&self, agent: &str, lease: bool, tweak: impl FnOnce(&mut RunOptions)) -> Running {
        let mut opts = RunOptions {
            config: Some(self.config_path()),
            metrics_addr: "127.0.0.1:0".into(),
            debounce: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            config_poll: Duration::from_millis(200),
            lease: lease.then(|| LeaseSettings {
                name: "kompliance".into(),
                namespace: "default".into(),
                identity: agent.into(),
                duration: Duration::from_secs(3),
            }),
            grace: Duration::from_secs(5),
            ..RunOptions::default()
        };
        tweak(&mut opts);
        start(self.config(agent), opts).await.expect("operator starts")
    }

    /// The report of a namespace as stored.
    pub fn report(&self, ns: &str) -> Option<Value> {
        self.server.get("kompliance.dev/v1alpha1", "ComplianceReport", ns, "kompliance")
    }

    /// The cluster report as stored.
    pub fn cluster_report(&self) -> Option<Value> {
        self.server.get("kompliance.dev/v1alpha1", "ComplianceClusterReport", "", "cluster")
    }

    /// One recommendation entry of a namespace report.
    pub fn row(&self, ns: &str, id: &str) -> Option<Value> {
        row_of(&self.report(ns)?, id)
    }

    /// Writes a new configuration file.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config");
    }
}

/// The entry `id` of a report object.
pub fn row_of(report: &Value, id: &str) -> Option<Value> {
    report.pointer("/status/recommendations")?.as_array()?.iter().find(|e| e["id"] == id).cloned()
}

/// `state` and `counts.unhealthy` of a row.
pub fn state(row: &Option<Value>) -> (String, u64) {
    match row {
        Some(r) => {
            (r["state"].as_str().unwrap_or_default().to_string(), r.pointer("/counts/unhealthy").and_then(Value::as_u64).unwrap_or(0))
        }
        None => ("<none>".into(), 0),
    }
}

/// A Deployment builder.
pub struct Deploy(Value);

/// A Deployment `name` in `ns` with one container and one replica.
pub fn deploy(ns: &str, name: &str) -> Deploy {
    Deploy(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}},
            "spec": {"automountServiceAccountToken": false, "containers": [{"name": "app", "image": "myacr.azurecr.io/app:1.0",
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false}}]}}}}))
}

impl Deploy {
    /// Makes the container privileged.
    pub fn privileged(mut self) -> Self {
        self.0["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = json!(true);
        self
    }
    /// Sets the container image.
    pub fn image(mut self, image: &str) -> Self {
        self.0["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
        self
    }
    /// Sets the replica count.
    pub fn replicas(mut self, n: u64) -> Self {
        self.0["spec"]["replicas"] = json!(n);
        self
    }
    /// The object.
    pub fn build(self) -> Value {
        self.0
    }
}

/// A Namespace object.
pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// Polls `check` every 50 ms until it holds; fails after 30 s naming `what`.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out after 30 s waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GETs `path` over plain HTTP/1.0 on loopback; the body, or None when the server cannot be reached.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// The bearer token [`scrape`] sends; [`Cluster::new`] makes testkube authenticate it as [`SCRAPER`].
pub const SCRAPE_TOKEN: &str = "e2e-scrape-token";
/// The user of [`SCRAPE_TOKEN`], allowed `get` on `/metrics`.
pub const SCRAPER: &str = "system:serviceaccount:monitoring:prometheus";

/// A client for the operator's secure metrics server (self-signed certificate: not verified).
pub fn metrics_client() -> reqwest::Client {
    kompliance::azure::arm::install_crypto_provider();
    reqwest::Client::builder().tls_danger_accept_invalid_certs(true).build().expect("reqwest client")
}

/// Fetches `/metrics` of an operator over HTTPS with [`SCRAPE_TOKEN`], as Prometheus does.
pub async fn scrape(addr: std::net::SocketAddr) -> String {
    let r =
        metrics_client().get(format!("https://{addr}/metrics")).bearer_auth(SCRAPE_TOKEN).send().await.expect("metrics endpoint answers");
    assert_eq!(r.status(), 200, "scraping /metrics");
    r.text().await.expect("metrics body")
}

/// The value of one series in a scrape, if present.
pub fn series(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.lines().filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' '])).find_map(|l| {
        let (head, value) = l.rsplit_once(' ')?;
        labels.iter().all(|(k, v)| head.contains(&format!("{k}=\"{v}\""))).then(|| value.parse().ok()).flatten()
    })
}

/// The Pods in `ns` whose names start with `prefix`.
pub fn pods_of(c: &Cluster, ns: &str, prefix: &str) -> Vec<Value> {
    c.server
        .list("v1", "Pod")
        .into_iter()
        .filter(|p| p["metadata"]["namespace"] == ns && p["metadata"]["name"].as_str().unwrap_or("").starts_with(prefix))
        .collect()
}

/// Writes of report objects (both kinds): when, by which client (first word of its User-Agent), which resource, subresource and namespace.
pub fn report_writes(c: &Cluster) -> Vec<(u128, String, String, String, String)> {
    c.server
        .writes()
        .into_iter()
        .filter(|w| w.resource.starts_with("compliance"))
        .map(|w| (w.at_ms, w.client.split_whitespace().next().unwrap_or_default().to_string(), w.resource, w.subresource, w.namespace))
        .collect()
}
