//! A stand-in Azure Resource Manager and token endpoint, served over TLS on loopback with a test CA
//! made here (azure_identity insists on https), for tests/azure.rs.

use kompliance::azure::rows::add_facts;
use kompliance::config::Config;
use kompliance::report::State;
use kompliance::report::build::{BuildOptions, ClusterFacts, Rollup, cluster_report};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the stand-in answers and what it saw.
#[derive(Default)]
pub struct Stand {
    pub denied: AtomicBool,
    pub tokens: AtomicUsize,
    pub valid: Mutex<HashMap<String, Instant>>,
    pub throttled: AtomicBool,
    pub rejected_tokens: AtomicUsize,
    pub wrong_api_versions: Mutex<Vec<String>>,
    pub base: Mutex<String>,
    /// Query strings of the managed-identity token requests that carried the right secret header.
    pub identity_requests: Mutex<Vec<String>>,
    /// When set, Resource Manager answers only after this long.
    pub delay: Mutex<Option<Duration>>,
    /// When set, the first page of registries links its next page here.
    pub next_link: Mutex<Option<String>>,
    /// `Host` of every request that carried a bearer token.
    pub bearer_hosts: Mutex<Vec<String>>,
}

pub const TOKEN_LIFETIME: u64 = 2;

fn answer(code: u16, body: Value) -> axum::response::Response {
    let mut r = axum::response::Response::new(axum::body::Body::from(body.to_string()));
    *r.status_mut() = axum::http::StatusCode::from_u16(code).unwrap();
    r.headers_mut().insert("content-type", "application/json".parse().unwrap());
    r
}

fn registry(name: &str, props: Value) -> Value {
    json!({"id": format!("/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/{name}"), "name": name,
           "type": "Microsoft.ContainerRegistry/registries", "location": "westeurope", "properties": props})
}

async fn handle(
    s: Arc<Stand>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    if method == axum::http::Method::POST && path.ends_with("/oauth2/v2.0/token") {
        let n = s.tokens.fetch_add(1, Ordering::SeqCst);
        let token = format!("tok-{n}");
        s.valid.lock().unwrap().insert(token.clone(), Instant::now() + Duration::from_secs(TOKEN_LIFETIME));
        return answer(
            200,
            json!({"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "ext_expires_in": TOKEN_LIFETIME, "access_token": token}),
        );
    }
    // The managed-identity endpoint of App Service-style platforms (IDENTITY_ENDPOINT).
    if method == axum::http::Method::GET && path == "/msi/token" {
        if headers.get("x-identity-header").and_then(|h| h.to_str().ok()) != Some("mi-secret") {
            return answer(401, json!({"error": "missing or wrong X-IDENTITY-HEADER"}));
        }
        s.identity_requests.lock().unwrap().push(query);
        let n = s.tokens.fetch_add(1, Ordering::SeqCst);
        let token = format!("mi-tok-{n}");
        s.valid.lock().unwrap().insert(token.clone(), Instant::now() + Duration::from_secs(TOKEN_LIFETIME));
        let expires_on = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + TOKEN_LIFETIME;
        return answer(
            200,
            json!({"access_token": token, "expires_on": expires_on.to_string(), "token_type": "Bearer", "resource": "https://management.azure.com"}),
        );
    }
    let delay = *s.delay.lock().unwrap();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let bearer =
        headers.get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default().to_string();
    if !bearer.is_empty() {
        let host = headers.get("host").and_then(|h| h.to_str().ok()).map(String::from).or_else(|| uri.authority().map(|a| a.to_string()));
        s.bearer_hosts.lock().unwrap().push(host.unwrap_or_default());
    }
    if s.valid.lock().unwrap().get(&bearer).is_none_or(|until| Instant::now() > *until) {
        s.rejected_tokens.fetch_add(1, Ordering::SeqCst);
        return answer(401, json!({"error": {"code": "ExpiredAuthenticationToken", "message": "The access token expiry has passed."}}));
    }
    let expect = |v: &str| {
        if !query.contains(&format!("api-version={v}")) {
            s.wrong_api_versions.lock().unwrap().push(format!("{path}?{query}"));
        }
    };
    let denied = s.denied.load(Ordering::SeqCst);
    let forbidden = || {
        answer(
            403,
            json!({"error": {"code": "AuthorizationFailed", "message": "The client does not have authorization to perform action."}}),
        )
    };
    let not_found = || answer(404, json!({"error": {"code": "ResourceNotFound", "message": "not found"}}));
    if path == "/subscriptions/sub-1/providers/Microsoft.Security/pricings" {
        expect("2024-01-01");
        if denied {
            return forbidden();
        }
        if !s.throttled.swap(true, Ordering::SeqCst) {
            let mut r = answer(429, json!({"error": {"code": "TooManyRequests"}}));
            r.headers_mut().insert("retry-after", "1".parse().unwrap());
            return r;
        }
        return answer(
            200,
            json!({"value": [
            {"id": "/subscriptions/sub-1/providers/Microsoft.Security/pricings/Containers", "name": "Containers", "properties": {"pricingTier": "Standard"}},
            {"id": "/subscriptions/sub-1/providers/Microsoft.Security/pricings/KubernetesService", "name": "KubernetesService", "properties": {"pricingTier": "Free"}}]}),
        );
    }
    if path == "/subscriptions/sub-1/providers/Microsoft.ContainerRegistry/registries" {
        expect("2023-07-01");
        if denied {
            return forbidden();
        }
        if !query.contains("skiptoken=2") {
            let next = s.next_link.lock().unwrap().clone().unwrap_or_else(|| s.base.lock().unwrap().clone());
            let next =
                format!("{next}/subscriptions/sub-1/providers/Microsoft.ContainerRegistry/registries?api-version=2023-07-01&$skiptoken=2");
            let locked = registry(
                "locked",
                json!({"encryption": {"status": "enabled"}, "networkRuleSet": {"defaultAction": "Deny"}, "publicNetworkAccess": "Disabled",
                "privateEndpointConnections": [{"properties": {"privateLinkServiceConnectionState": {"status": "Approved"}}}]}),
            );
            return answer(200, json!({"value": [locked], "nextLink": next}));
        }
        let open = registry(
            "open",
            json!({"encryption": {"status": "disabled"}, "publicNetworkAccess": "Enabled", "privateEndpointConnections": []}),
        );
        return answer(200, json!({"value": [open]}));
    }
    if let Some(rest) = path.strip_prefix("/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/") {
        expect("2020-01-01");
        let (name, key) = rest.split_once("/providers/Microsoft.Security/assessments/").unwrap_or((rest, ""));
        return match (name, key) {
            ("locked", "c0b7cfc6-3172-465a-b378-53c7ff2cc0d5") => not_found(),
            ("locked", "dbd0cb49-b563-45e7-9724-889e799fa648") => answer(200, json!({"properties": {"status": {"code": "Healthy"}}})),
            ("open", "c0b7cfc6-3172-465a-b378-53c7ff2cc0d5") => {
                answer(200, json!({"properties": {"status": {"code": "Unhealthy", "cause": "vulnerabilities found"}}}))
            }
            _ => not_found(),
        };
    }
    if path == "/subscriptions/sub-1/resourceGroups/aks-rg/providers/Microsoft.ContainerService/managedClusters/prod-aks" {
        expect("2024-09-01");
        if denied {
            return not_found();
        }
        return answer(
            200,
            json!({"name": "prod-aks", "properties": {"kubernetesVersion": "1.30.4", "enableRBAC": true,
            "addonProfiles": {"azurepolicy": {"enabled": false}}, "apiServerAccessProfile": {"authorizedIPRanges": []}}}),
        );
    }
    not_found()
}

/// Starts the stand-in on a free loopback port over TLS; returns its base URL and the CA (PEM).
pub async fn stand_in(s: Arc<Stand>) -> (String, String) {
    kompliance::azure::arm::install_crypto_provider();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "kompliance test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    *s.base.lock().unwrap() = base.clone();
    let app = axum::Router::new().fallback(move |m, u, h| handle(s.clone(), m, u, h));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (base, ca_cert.pem())
}

/// The environment of a service principal (the stand-in's token endpoint accepts any).
pub fn service_principal(k: &str) -> Option<String> {
    match k {
        "AZURE_TENANT_ID" => Some("tenant-1".to_string()),
        "AZURE_CLIENT_ID" => Some("client-1".to_string()),
        "AZURE_CLIENT_SECRET" => Some("secret-1".to_string()),
        _ => None,
    }
}

pub fn config(base: &str) -> Config {
    let text = format!(
        "apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nazure:\n  subscriptionId: sub-1\n  clusterResourceGroup: aks-rg\n  clusterName: prod-aks\n  endpoints:\n    resourceManager: {base}\n    authority: {base}\n"
    );
    Config::parse(&text, "azure-test.yaml").unwrap()
}

pub fn states(snap: &kompliance::azure::rows::ArmSnapshot, cfg: &Config) -> HashMap<String, (State, Option<String>, u32)> {
    let mut facts = ClusterFacts::default();
    add_facts(snap, cfg, &mut facts);
    let opts = BuildOptions {
        lang: Default::default(),
        today: "2026-11-29".parse().unwrap(),
        show_pods: false,
        message_cap: Some(kompliance::report::build::MESSAGE_CAP),
    };
    let st = cluster_report(&facts, &Rollup::default(), cfg, &opts);
    st.recommendations.into_iter().map(|e| (e.id.clone(), (e.state, e.reason.clone(), e.counts.unhealthy))).collect()
}
