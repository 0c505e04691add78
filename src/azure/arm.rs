//! Reads Azure Resource Manager: bearer tokens from `azure_identity`, GETs with `nextLink` paging,
//! 429 `Retry-After`, timeouts, and 401/403/404 mapped to the exact reason.

use super::rows::{ArmError, ArmSnapshot, Registry};
use crate::config::AzureConfig;
use azure_core::credentials::TokenCredential;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// ARM api-versions (recommendations.md).
pub const PRICINGS_API: &str = "2024-01-01";
/// `Microsoft.ContainerRegistry/registries`.
pub const REGISTRIES_API: &str = "2023-07-01";
/// `Microsoft.ContainerService/managedClusters`.
pub const CLUSTERS_API: &str = "2024-09-01";
/// `Microsoft.Security/assessments`.
pub const ASSESSMENTS_API: &str = "2020-01-01";
/// Defender Vulnerability Management's assessment of registry images.
pub const ASSESSMENT_KEY: &str = "c0b7cfc6-3172-465a-b378-53c7ff2cc0d5";
/// The retired Qualys assessment, used where only it exists.
pub const LEGACY_ASSESSMENT_KEY: &str = "dbd0cb49-b563-45e7-9724-889e799fa648";

/// Installs ring as rustls' process-wide provider (kube and the Azure client share rustls).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An error with every cause under it, deduplicated (`azure_core` and `reqwest` keep the cause, such
/// as an untrusted certificate or a refused connection, in `source()`).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![];
    let mut next = Some(e);
    while let Some(err) = next {
        let text = crate::config::walk::one_line(&err.to_string());
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// Resource Manager endpoint and token scope of a cloud, with the configuration's overrides.
pub fn endpoints(cfg: &AzureConfig) -> (String, Option<String>) {
    let arm = match cfg.cloud.as_deref().unwrap_or("public") {
        "usgovernment" | "AzureUSGovernment" => "https://management.usgovcloudapi.net",
        "china" | "AzureChinaCloud" => "https://management.chinacloudapi.cn",
        _ => "https://management.azure.com",
    };
    let arm = cfg.endpoints.get("resourceManager").cloned().unwrap_or_else(|| arm.to_string());
    (arm.trim_end_matches('/').to_string(), cfg.endpoints.get("authority").cloned())
}

/// The HTTP client for ARM and the token endpoint; `extra_root` (PEM) is trusted besides the system roots (tests).
pub fn http_client(extra_root: Option<&[u8]>) -> Result<reqwest::Client, AzureSetup> {
    install_crypto_provider();
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30)).user_agent(concat!("kompliance/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = extra_root {
        let cert = reqwest::Certificate::from_pem(pem).map_err(|e| AzureSetup(format!("test CA: {e}")))?;
        b = b.tls_certs_merge([cert]);
    }
    b.build().map_err(|e| AzureSetup(e.to_string()))
}

/// A Resource Manager reader.
pub struct ArmClient {
    http: reqwest::Client,
    base: String,
    scope: String,
    credential: Arc<dyn TokenCredential>,
    /// Longest one request may take.
    pub timeout: Duration,
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("setting up Azure access: {0}")]
pub struct AzureSetup(pub String);

impl ArmClient {
    /// A client for `cfg`'s cloud reading with `http` and tokens from `credential`.
    pub fn new(cfg: &AzureConfig, credential: Arc<dyn TokenCredential>, http: reqwest::Client) -> Self {
        let (base, _) = endpoints(cfg);
        let scope = format!("{base}/.default");
        ArmClient { http, base, scope, credential, timeout: Duration::from_secs(30) }
    }

    /// A token for Resource Manager, bounded by the read timeout; the error names the cause.
    async fn token(&self, what: &str) -> Result<String, ArmError> {
        let failed = |detail: String| ArmError::Failed { what: what.into(), detail: format!("no Azure token: {detail}") };
        match tokio::time::timeout(self.timeout, self.credential.get_token(&[self.scope.as_str()], None)).await {
            Err(_) => Err(failed(format!("the token request timed out after {:?}", self.timeout))),
            Ok(Err(e)) => Err(failed(error_chain(&e))),
            Ok(Ok(t)) => Ok(t.token.secret().to_string()),
        }
    }

    /// True when `link` may receive the token: HTTPS to the configured Resource Manager host and port.
    fn same_resource_manager(&self, link: &str) -> bool {
        match (reqwest::Url::parse(link), reqwest::Url::parse(&self.base)) {
            (Ok(l), Ok(b)) => {
                l.scheme() == "https" && l.host_str() == b.host_str() && l.port_or_known_default() == b.port_or_known_default()
            }
            _ => false,
        }
    }

    /// GETs a URL (absolute, or a path under the Resource Manager endpoint).
    pub async fn get(&self, url: &str, what: &str, scope: &str) -> Result<Value, ArmError> {
        let url = if url.starts_with("https://") || url.starts_with("http://") { url.to_string() } else { format!("{}{url}", self.base) };
        let failed = |detail: String| ArmError::Failed { what: what.into(), detail };
        for attempt in 0..4u32 {
            let token = self.token(what).await?;
            let sent = tokio::time::timeout(self.timeout, self.http.get(&url).bearer_auth(token).send()).await;
            let resp = match sent {
                Err(_) => return Err(failed(format!("timed out after {:?}", self.timeout))),
                Ok(Err(e)) if attempt < 3 => {
                    tracing::debug!(error = %e, "ARM request failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    continue;
                }
                Ok(Err(e)) => return Err(failed(error_chain(&e))),
                Ok(Ok(r)) => r,
            };
            let status = resp.status().as_u16();
            match status {
                200..=299 => return resp.json::<Value>().await.map_err(|e| failed(format!("bad JSON: {e}"))),
                401 | 403 => return Err(ArmError::Forbidden { what: what.into(), scope: scope.into() }),
                404 => return Err(ArmError::NotFound { what: what.into() }),
                429 | 500..=599 if attempt < 3 => {
                    let wait = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1 << attempt);
                    tokio::time::sleep(Duration::from_secs(wait.min(60))).await;
                }
                _ => return Err(failed(format!("HTTP {status}"))),
            }
        }
        Err(failed("gave up after 4 attempts".into()))
    }

    /// GETs a list, following `nextLink`.
    pub async fn list(&self, path: &str, what: &str, scope: &str) -> Result<Vec<Value>, ArmError> {
        let mut out = vec![];
        let mut next = Some(path.to_string());
        let mut pages = 0;
        while let Some(url) = next.take() {
            let page = self.get(&url, what, scope).await?;
            out.extend(page["value"].as_array().cloned().unwrap_or_default());
            next = page["nextLink"].as_str().filter(|l| !l.is_empty()).map(String::from);
            if let Some(link) = next.as_deref().filter(|l| !self.same_resource_manager(l)) {
                // A broken or hostile answer must not send the token anywhere else.
                let detail = format!("nextLink {link:?} is not HTTPS to the configured Resource Manager {}; paging stopped", self.base);
                return Err(ArmError::Failed { what: what.into(), detail });
            }
            pages += 1;
            if pages > 1000 {
                return Err(ArmError::Failed { what: what.into(), detail: "more than 1000 pages".into() });
            }
        }
        Ok(out)
    }

    async fn assessment(&self, registry_id: &str) -> Result<Option<String>, ArmError> {
        for key in [ASSESSMENT_KEY, LEGACY_ASSESSMENT_KEY] {
            let path = format!("{registry_id}/providers/Microsoft.Security/assessments/{key}?api-version={ASSESSMENTS_API}");
            match self.get(&path, "Microsoft.Security/assessments", &format!("registry {registry_id}")).await {
                Ok(a) => return Ok(a.pointer("/properties/status/code").and_then(Value::as_str).map(String::from)),
                Err(ArmError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Reads everything the Azure rows need; without a token nothing is read and every row says why.
    pub async fn snapshot(&self, cfg: &AzureConfig, subscription: &str) -> ArmSnapshot {
        if let Err(e) = self.token("Azure Resource Manager").await {
            return ArmSnapshot::unavailable(subscription, e);
        }
        let sub_scope = format!("subscription {subscription}");
        let pricings = self
            .list(
                &format!("/subscriptions/{subscription}/providers/Microsoft.Security/pricings?api-version={PRICINGS_API}"),
                "Microsoft.Security/pricings",
                &sub_scope,
            )
            .await;
        let registries = async {
            let mut bodies = vec![];
            if cfg.resource_groups.is_empty() {
                let path = format!("/subscriptions/{subscription}/providers/Microsoft.ContainerRegistry/registries?api-version={REGISTRIES_API}");
                bodies = self.list(&path, "Microsoft.ContainerRegistry/registries", &sub_scope).await?;
            } else {
                for rg in &cfg.resource_groups {
                    let path = format!("/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries?api-version={REGISTRIES_API}");
                    bodies.extend(self.list(&path, "Microsoft.ContainerRegistry/registries", &format!("resource group {rg}")).await?);
                }
            }
            let mut out = vec![];
            for body in bodies {
                let id = body["id"].as_str().unwrap_or_default().to_string();
                out.push(Registry { assessment: self.assessment(&id).await, body });
            }
            Ok(out)
        }
        .await;
        let cluster = match (&cfg.cluster_resource_group, &cfg.cluster_name) {
            (Some(rg), Some(name)) => {
                let path = format!(
                    "/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}?api-version={CLUSTERS_API}"
                );
                Some(self.get(&path, &format!("managed cluster {name}"), &format!("the cluster {name} (resource group {rg})")).await)
            }
            _ => None,
        };
        ArmSnapshot { subscription: subscription.to_string(), pricings, registries, cluster }
    }
}
