//! The Azure rows against a stand-in Resource Manager and token endpoint served over TLS with a test
//! CA made here (azure_identity insists on https): paging, 429, 403, 404, token expiry, api-versions.

use kompliance::azure::arm::{ArmClient, http_client};
use kompliance::azure::auth::credential_from;
use kompliance::report::State;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

mod azure_stand;
use azure_stand::{Stand, TOKEN_LIFETIME, config, service_principal, stand_in, states};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_rows_from_a_stand_in_resource_manager_over_tls() {
    let stand = Arc::new(Stand::default());
    let (base, ca) = stand_in(stand.clone()).await;
    let cfg = config(&base);
    let azure = cfg.azure.clone().unwrap();
    let http = http_client(Some(ca.as_bytes())).unwrap();
    let credential = credential_from(&azure, Some(http.clone()), service_principal).unwrap();
    let arm = ArmClient::new(&azure, credential, http);

    let snap = arm.snapshot(&azure, "sub-1").await;
    assert!(stand.throttled.load(Ordering::SeqCst), "the 429 was answered and retried");
    let registries = snap.registries.as_ref().unwrap();
    assert_eq!(registries.len(), 2, "both pages of registries were read");
    let s = states(&snap, &cfg);
    let st = |id: &str| s[id].0;
    assert_eq!(st("defender-for-registries"), State::Healthy, "the Containers plan on Standard covers registries");
    assert_eq!(st("defender-for-kubernetes"), State::Healthy);
    for id in ["registry-cmk-encryption", "registry-network-access", "registry-private-link", "image-vulnerabilities"] {
        assert_eq!(s[id].0, State::Unhealthy, "{id}: {:?}", s[id]);
        assert_eq!(s[id].2, 1, "{id}: only the open registry fails");
    }
    assert_eq!(st("azure-policy-addon"), State::Unhealthy, "add-on disabled on the managed cluster");
    assert_eq!(st("api-server-restricted-access"), State::Unhealthy);
    assert_eq!(st("kubernetes-rbac"), State::Healthy);
    assert_eq!(st("non-vulnerable-kubernetes-version"), State::Healthy);
    assert!(stand.wrong_api_versions.lock().unwrap().is_empty(), "{:?}", stand.wrong_api_versions.lock().unwrap());

    // Tokens expire: the next poll gets a fresh one and no request is refused.
    tokio::time::sleep(Duration::from_secs(TOKEN_LIFETIME + 1)).await;
    let before = stand.tokens.load(Ordering::SeqCst);
    let again = arm.snapshot(&azure, "sub-1").await;
    assert!(again.pricings.is_ok() && again.registries.is_ok());
    assert!(stand.tokens.load(Ordering::SeqCst) > before, "a new token after expiry");
    assert_eq!(stand.rejected_tokens.load(Ordering::SeqCst), 0, "no expired token was sent");

    // Without permissions: NotEvaluated with the exact reason and the role to grant, nothing guessed.
    stand.denied.store(true, Ordering::SeqCst);
    let denied = arm.snapshot(&azure, "sub-1").await;
    let s = states(&denied, &cfg);
    for id in [
        "defender-for-registries",
        "defender-for-kubernetes",
        "registry-cmk-encryption",
        "registry-network-access",
        "registry-private-link",
        "image-vulnerabilities",
    ] {
        assert_eq!(s[id].0, State::NotEvaluated, "{id}");
        let reason = s[id].1.clone().unwrap_or_default();
        assert!(
            reason.contains("permission denied") && reason.contains("Reader") && reason.contains("subscription sub-1"),
            "{id}: {reason}"
        );
    }
    let missing = s["api-server-restricted-access"].clone();
    assert_eq!(missing.0, State::NotEvaluated);
    assert!(missing.1.unwrap_or_default().contains("managed cluster prod-aks not found"));
}

/// Managed identity, through the App Service-style endpoint that azure_identity reads from the
/// process environment (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`; IMDS itself cannot be reached
/// here). The environment is the process's own, so the test runs itself again as a child with it.
#[test]
fn managed_identity_gets_tokens_from_the_identity_endpoint() {
    if let (Ok(base), Ok(ca)) = (std::env::var("KOMPLIANCE_TEST_ARM"), std::env::var("KOMPLIANCE_TEST_CA")) {
        return managed_identity_child(&base, &ca);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stand = Arc::new(Stand::default());
    let (base, ca) = rt.block_on(stand_in(stand.clone()));
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "managed_identity_gets_tokens_from_the_identity_endpoint", "--nocapture", "--test-threads=1"])
        .env("KOMPLIANCE_TEST_ARM", &base)
        .env("KOMPLIANCE_TEST_CA", &ca)
        .env("IDENTITY_ENDPOINT", format!("{base}/msi/token"))
        .env("IDENTITY_HEADER", "mi-secret")
        .env("AZURE_CLIENT_ID", "kubelet-identity")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_TENANT_ID")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "the child run failed:\n{text}");
    let seen = stand.identity_requests.lock().unwrap().clone();
    assert!(!seen.is_empty(), "no token was asked of the identity endpoint");
    for q in &seen {
        assert!(q.contains("client_id=kubelet-identity"), "AZURE_CLIENT_ID names the user-assigned identity: {q}");
        let resource = base.replace(':', "%3A").replace('/', "%2F");
        assert!(q.contains(&format!("resource={resource}")), "a token for the configured Resource Manager: {q}");
    }
    assert_eq!(stand.rejected_tokens.load(Ordering::SeqCst), 0, "Resource Manager accepted every managed-identity token");
}

fn managed_identity_child(base: &str, ca: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = config(base);
        let azure = cfg.azure.clone().unwrap();
        let http = http_client(Some(ca.as_bytes())).unwrap();
        let credential = kompliance::azure::auth::credential(&azure, Some(http.clone())).unwrap();
        let snap = ArmClient::new(&azure, credential, http).snapshot(&azure, "sub-1").await;
        assert_eq!(snap.registries.as_ref().map(Vec::len).ok(), Some(2), "registries read with the managed identity's token");
        assert!(snap.pricings.is_ok());
    });
}

/// A Resource Manager that does not answer in time gives NotEvaluated saying so, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_manager_that_does_not_answer_times_out() {
    let stand = Arc::new(Stand::default());
    let (base, ca) = stand_in(stand.clone()).await;
    *stand.delay.lock().unwrap() = Some(Duration::from_secs(5));
    let cfg = config(&base);
    let azure = cfg.azure.clone().unwrap();
    let http = http_client(Some(ca.as_bytes())).unwrap();
    let mut arm = ArmClient::new(&azure, credential_from(&azure, Some(http.clone()), service_principal).unwrap(), http);
    arm.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let snap = arm.snapshot(&azure, "sub-1").await;
    assert!(started.elapsed() < Duration::from_secs(5), "gave up before the stand-in answered: {:?}", started.elapsed());
    let s = states(&snap, &cfg);
    for id in ["defender-for-registries", "registry-network-access", "api-server-restricted-access"] {
        assert_eq!(s[id].0, State::NotEvaluated, "{id}");
        let reason = s[id].1.clone().unwrap_or_default();
        assert!(reason.contains("timed out after 300ms"), "{id}: {reason}");
    }
}

/// A token request that cannot succeed (an authority whose certificate is not trusted, a port that
/// refuses connections) ends the poll within the ARM timeout, and every row's reason names the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_request_is_bounded_and_named() {
    let stand = Arc::new(Stand::default());
    let (base, ca) = stand_in(stand.clone()).await;
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("https://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let cases =
        [("untrusted certificate", base.clone(), "invalid peer certificate"), ("refused connection", refused, "Connection refused")];
    for (case, authority, cause) in cases {
        let mut cfg = config(&base);
        cfg.azure.as_mut().unwrap().endpoints.insert("authority".into(), authority);
        let azure = cfg.azure.clone().unwrap();
        // Resource Manager is trusted (the test CA); the token endpoint is reached without it.
        let untrusting = http_client(None).unwrap();
        let mut arm = ArmClient::new(
            &azure,
            credential_from(&azure, Some(untrusting), service_principal).unwrap(),
            http_client(Some(ca.as_bytes())).unwrap(),
        );
        arm.timeout = Duration::from_millis(300);
        let started = Instant::now();
        let snap = tokio::time::timeout(Duration::from_secs(20), arm.snapshot(&azure, "sub-1")).await;
        let elapsed = started.elapsed();
        let snap = snap.unwrap_or_else(|_| panic!("{case}: the poll still ran after 20 s"));
        assert!(elapsed < Duration::from_secs(10), "{case}: the poll took {elapsed:?}");
        let s = states(&snap, &cfg);
        for id in ["defender-for-registries", "registry-network-access", "api-server-restricted-access"] {
            assert_eq!(s[id].0, State::NotEvaluated, "{case}: {id}");
            let reason = s[id].1.clone().unwrap_or_default();
            assert!(reason.contains("no Azure token") && reason.contains(cause), "{case}: {id}: {reason}");
            assert!(!reason.contains("retry policy expired") && !reason.contains('\n'), "{case}: {id}: one line: {reason}");
        }
    }
    assert!(stand.bearer_hosts.lock().unwrap().is_empty(), "no token, no Resource Manager request");
}

/// `SSL_CERT_FILE` (docs/azure.md) makes a custom CA trusted for ARM and the token endpoint. The
/// variable is read from the process environment, so the test runs itself again as a child with it.
#[test]
fn ssl_cert_file_trusts_a_custom_ca() {
    if let Ok(base) = std::env::var("KOMPLIANCE_TEST_ARM_SSL") {
        let rt = tokio::runtime::Runtime::new().unwrap();
        return rt.block_on(async {
            let cfg = config(&base);
            let azure = cfg.azure.clone().unwrap();
            let http = http_client(None).unwrap();
            let credential = credential_from(&azure, None, service_principal).unwrap();
            let snap = ArmClient::new(&azure, credential, http).snapshot(&azure, "sub-1").await;
            assert!(snap.pricings.is_ok(), "{:?}", snap.pricings);
            assert_eq!(snap.registries.as_ref().map(Vec::len).ok(), Some(2), "{:?}", snap.registries);
        });
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stand = Arc::new(Stand::default());
    let (base, ca) = rt.block_on(stand_in(stand.clone()));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "ssl_cert_file_trusts_a_custom_ca", "--nocapture", "--test-threads=1"])
        .env("KOMPLIANCE_TEST_ARM_SSL", &base)
        .env("SSL_CERT_FILE", &ca_file)
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "the child run failed:\n{text}");
    assert!(stand.tokens.load(Ordering::SeqCst) > 0, "the token endpoint was trusted too");
}

/// `nextLink` is followed only over HTTPS to the configured Resource Manager host: a link elsewhere
/// ends paging with a reason, and the token goes nowhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_link_elsewhere_is_not_followed() {
    let stand = Arc::new(Stand::default());
    let (base, ca) = stand_in(stand.clone()).await;
    let port = base.rsplit(':').next().unwrap().to_string();
    let cfg = config(&base);
    let azure = cfg.azure.clone().unwrap();
    let http = http_client(Some(ca.as_bytes())).unwrap();
    let arm = ArmClient::new(&azure, credential_from(&azure, Some(http.clone()), service_principal).unwrap(), http);
    // The same server under another host name (its certificate covers localhost): another host all the same.
    for other in [format!("https://localhost:{port}"), format!("http://127.0.0.1:{port}"), "ftp://127.0.0.1".to_string()] {
        *stand.next_link.lock().unwrap() = Some(other.clone());
        stand.bearer_hosts.lock().unwrap().clear();
        let snap = arm.snapshot(&azure, "sub-1").await;
        let hosts = stand.bearer_hosts.lock().unwrap().clone();
        assert!(hosts.iter().all(|h| *h == format!("127.0.0.1:{port}")), "{other}: a token went to {hosts:?}");
        let s = states(&snap, &cfg);
        let (state, reason, _) = s["registry-cmk-encryption"].clone();
        assert_eq!(state, State::NotEvaluated, "{other}");
        let reason = reason.unwrap_or_default();
        assert!(reason.contains("nextLink") && reason.contains(&base), "{other}: {reason}");
        assert_eq!(s["defender-for-registries"].0, State::Healthy, "other reads go on");
    }
}

mod e2e;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_reports_the_azure_rows_and_follows_lost_access() {
    use kompliance::operator::run::ArmFactory;
    let _serial = e2e::SERIAL.lock().await;
    let stand = Arc::new(Stand::default());
    let (base, ca) = stand_in(stand.clone()).await;
    let c = e2e::Cluster::new().await;
    let good = std::fs::read_to_string(c.config_path()).unwrap();
    // No subscriptionId: it is read from the Node's providerID, as on AKS.
    let azure = format!(
        "azure:\n  clusterResourceGroup: aks-rg\n  clusterName: prod-aks\n  endpoints:\n    resourceManager: {base}\n    authority: {base}\n"
    );
    let cut = good.find("\n# Azure access").unwrap_or(good.len());
    c.write_config(&format!("{}\n{azure}", &good[..cut]));
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "aks-nodepool1-0"},
        "spec": {"providerID": "azure:///subscriptions/sub-1/resourceGroups/mc_aks-rg_prod-aks_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1/virtualMachines/0"},
        "status": {"nodeInfo": {"kubeletVersion": "v1.30.4"}}});
    c.server.seed([e2e::namespace("shop"), node]).unwrap();
    let factory = ArmFactory(Arc::new(move |az: &kompliance::config::AzureConfig| {
        let http = http_client(Some(ca.as_bytes())).map_err(|e| e.to_string())?;
        let credential = credential_from(az, Some(http.clone()), service_principal)?;
        Ok(ArmClient::new(az, credential, http))
    }));
    let op = c
        .operator_with("kompliance-test", false, move |o| {
            o.arm_factory = Some(factory);
            o.azure_poll = Duration::from_millis(500);
        })
        .await;
    let row = |id: &str| c.cluster_report().and_then(|r| e2e::row_of(&r, id));
    e2e::eventually("Azure rows in the cluster report", || row("defender-for-registries").is_some_and(|r| r["state"] == "Healthy")).await;
    assert_eq!(e2e::state(&row("registry-private-link")), ("Unhealthy".into(), 1));
    let addon = row("azure-policy-addon").unwrap();
    let items: Vec<&str> = addon["unhealthy"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(items, ["ManagedCluster"], "Azure's verdict on the add-on wins over in-cluster detection: {addon}");
    let listed = row("registry-cmk-encryption").unwrap();
    assert_eq!(
        (listed["unhealthy"][0]["kind"].as_str(), listed["unhealthy"][0]["name"].as_str()),
        (Some("AzureContainerRegistry"), Some("open"))
    );

    stand.denied.store(true, Ordering::SeqCst);
    e2e::eventually("lost access makes the rows NotEvaluated with the role to grant", || {
        row("defender-for-registries")
            .is_some_and(|r| r["state"] == "NotEvaluated" && r["reason"].as_str().unwrap_or("").contains("Reader"))
    })
    .await;
    op.shutdown().await;
}
