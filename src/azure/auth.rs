//! Azure credentials the way workloads get them, through `azure_identity`: workload identity (a
//! federated token file), a service principal from the environment, else managed identity.

use super::arm::{endpoints, http_client};
use crate::config::AzureConfig;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use azure_identity::{
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use std::sync::Arc;

/// Which credential the environment selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// `AZURE_FEDERATED_TOKEN_FILE` is set (AKS workload identity).
    WorkloadIdentity,
    /// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` are set.
    ServicePrincipal,
    /// Neither: a managed identity (user-assigned when `AZURE_CLIENT_ID` is set).
    ManagedIdentity,
}

/// The credential the environment asks for.
pub fn kind_from_env(var: &impl Fn(&str) -> Option<String>) -> CredentialKind {
    if var("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        CredentialKind::WorkloadIdentity
    } else if ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"].iter().all(|k| var(k).is_some()) {
        CredentialKind::ServicePrincipal
    } else {
        CredentialKind::ManagedIdentity
    }
}

fn client_options(cfg: &AzureConfig, http: reqwest::Client) -> ClientOptions {
    let mut o = ClientOptions::default();
    let (_, authority) = endpoints(cfg);
    o.cloud = match (authority, cfg.cloud.as_deref()) {
        (Some(host), _) => {
            let mut custom = CustomConfiguration::default();
            custom.authority_host = host;
            Some(Arc::new(CloudConfiguration::Custom(custom)))
        }
        (None, Some("usgovernment" | "AzureUSGovernment")) => Some(Arc::new(CloudConfiguration::AzureGovernment)),
        (None, Some("china" | "AzureChinaCloud")) => Some(Arc::new(CloudConfiguration::AzureChina)),
        _ => None,
    };
    o.transport = Some(Transport::new(Arc::new(http)));
    // No retries inside azure_core: a failing token request (an untrusted certificate, an unreachable
    // authority) then ends within the ARM read timeout and its cause reaches the row's reason; the
    // next poll tries again. (IMDS's own credential keeps its retries; ArmClient's timeout bounds them.)
    o.retry = RetryOptions::none();
    o
}

/// The credential the process environment selects.
pub fn credential(cfg: &AzureConfig, http: Option<reqwest::Client>) -> Result<Arc<dyn TokenCredential>, String> {
    credential_from(cfg, http, |k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// The credential `var` (an environment) selects; its token requests go through `http` (tests trust
/// their own CA through it), else through [`http_client`]`(None)`, the client of the ARM reads.
pub fn credential_from(
    cfg: &AzureConfig,
    http: Option<reqwest::Client>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn TokenCredential>, String> {
    // Token requests use the same HTTP client (TLS roots, SSL_CERT_FILE, timeouts) as the ARM reads.
    let http = match http {
        Some(h) => h,
        None => http_client(None).map_err(|e| e.to_string())?,
    };
    let options = client_options(cfg, http);
    let made: azure_core::Result<Arc<dyn TokenCredential>> = match kind_from_env(&var) {
        CredentialKind::WorkloadIdentity => WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions { client_options: options },
            ..Default::default()
        }))
        .map(|c| c as Arc<dyn TokenCredential>),
        CredentialKind::ServicePrincipal => ClientSecretCredential::new(
            &var("AZURE_TENANT_ID").unwrap_or_default(),
            var("AZURE_CLIENT_ID").unwrap_or_default(),
            var("AZURE_CLIENT_SECRET").unwrap_or_default().into(),
            Some(ClientSecretCredentialOptions { client_options: options }),
        )
        .map(|c| c as Arc<dyn TokenCredential>),
        // As in Azure's own SDKs, AZURE_CLIENT_ID alone names a user-assigned identity (an AKS
        // node pool's kubelet identity, say); without it the system-assigned identity is used.
        CredentialKind::ManagedIdentity => ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
            client_options: options,
            user_assigned_id: var("AZURE_CLIENT_ID").map(UserAssignedId::ClientId),
        }))
        .map(|c| c as Arc<dyn TokenCredential>),
    };
    made.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_picks_the_credential() {
        let env =
            |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert_eq!(
            kind_from_env(&env(&[("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"), ("AZURE_CLIENT_SECRET", "s")])),
            CredentialKind::WorkloadIdentity
        );
        assert_eq!(
            kind_from_env(&env(&[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c"), ("AZURE_CLIENT_SECRET", "s")])),
            CredentialKind::ServicePrincipal
        );
        assert_eq!(kind_from_env(&env(&[("AZURE_CLIENT_ID", "c")])), CredentialKind::ManagedIdentity);
    }
}
