//! Azure Resource Manager access for the Azure rows: credentials (auth.rs), reads (arm.rs), verdicts (rows.rs).

pub mod arm;
pub mod auth;
pub mod rows;

/// The subscription id in an AKS Node's `spec.providerID` (`azure:///subscriptions/<id>/resourceGroups/...`).
pub fn subscription_of_provider_id(provider_id: &str) -> Option<String> {
    let rest = provider_id.strip_prefix("azure://")?.trim_start_matches('/');
    let mut parts = rest.split('/');
    (parts.next()?.eq_ignore_ascii_case("subscriptions")).then_some(())?;
    parts.next().filter(|id| !id.is_empty()).map(String::from)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_subscription_comes_from_an_aks_provider_id() {
        let id = "azure:///subscriptions/1234-abcd/resourceGroups/mc_rg_aks_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-1/virtualMachines/0";
        assert_eq!(super::subscription_of_provider_id(id).as_deref(), Some("1234-abcd"));
        assert_eq!(super::subscription_of_provider_id("aws:///eu-west-1a/i-0abc"), None);
        assert_eq!(super::subscription_of_provider_id("kind://docker/kind/kind-control-plane"), None);
    }
}
