//! What reports the server holds, by resourceVersion: the writer's check after each full pass that
//! what it believes written is really there (metadata only, in pages).

use super::scope::{Scope, brief, rv_of};
use crate::report::{ComplianceClusterReport, ComplianceReport};
use kube::api::{Api, ListParams};
use std::collections::HashMap;
use std::time::Duration;

/// Reports listed per request.
const PAGE: u32 = 500;

/// The resourceVersion of every report on the server that `reach` covers (the namespace reports, and
/// the cluster report when cluster-wide); each request is bounded by `timeout`.
pub async fn on_server(client: &kube::Client, reach: &super::reach::Reach, timeout: Duration) -> Result<HashMap<Scope, u64>, String> {
    let mut out = HashMap::new();
    let apis: Vec<Api<ComplianceReport>> = reach
        .scopes()
        .into_iter()
        .map(|ns| match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        })
        .collect();
    for api in apis {
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(PAGE);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = bounded(timeout, api.list_metadata(&lp)).await?;
            for item in &page.items {
                if item.metadata.name.as_deref() == Some("kompliance") {
                    out.insert(Scope::Namespace(item.metadata.namespace.clone().unwrap_or_default()), rv_of(&item.metadata));
                }
            }
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
    }
    if reach.cluster_wide() {
        let api: Api<ComplianceClusterReport> = Api::all(client.clone());
        if let Some(m) = bounded(timeout, api.get_metadata_opt("cluster")).await? {
            out.insert(Scope::Cluster, rv_of(&m.metadata));
        }
    }
    Ok(out)
}

async fn bounded<T>(timeout: Duration, f: impl Future<Output = Result<T, kube::Error>>) -> Result<T, String> {
    match tokio::time::timeout(timeout, f).await {
        Ok(r) => r.map_err(|e| format!("listing compliance reports: {}", brief(&e))),
        Err(_) => Err(format!("listing compliance reports: no answer within {timeout:?}")),
    }
}
