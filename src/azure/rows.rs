//! The Azure rows decided from Azure Resource Manager's answers (pure): the subscription's Defender
//! plans (#1, #2), each container registry (#6, #7, #8, #24) and the managed cluster (#3, #14, #15, #19).

use crate::catalog::index_of;
use crate::checks::Finding;
use crate::checks::cluster::{VersionVerdict, kubernetes_version};
use crate::config::{Config, Effect};
use crate::model::{Outcome, ResourceKey, ResourceRecord};
use crate::report::build::ClusterFacts;
use crate::version::Version;
use serde_json::Value;

/// Why an ARM read gave no data; the message names the role that is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArmError {
    /// 401/403.
    #[error("permission denied reading {what}: grant the Reader role on {scope}")]
    Forbidden {
        /// What was read.
        what: String,
        /// Where the role is needed.
        scope: String,
    },
    /// 404.
    #[error("{what} not found")]
    NotFound {
        /// What was read.
        what: String,
    },
    /// Anything else (network, timeouts, 5xx after retries, bad JSON, no token).
    #[error("reading {what}: {detail}")]
    Failed {
        /// What was read.
        what: String,
        /// Cause.
        detail: String,
    },
}

/// One container registry with its vulnerability assessment status (None: no assessment exists).
#[derive(Debug, Clone, PartialEq)]
pub struct Registry {
    /// The registry resource as ARM returns it.
    pub body: Value,
    /// `properties.status.code` of its image vulnerability assessment.
    pub assessment: Result<Option<String>, ArmError>,
}

/// Everything read from ARM in one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmSnapshot {
    /// Subscription id.
    pub subscription: String,
    /// `Microsoft.Security/pricings` entries.
    pub pricings: Result<Vec<Value>, ArmError>,
    /// Registries in scope.
    pub registries: Result<Vec<Registry>, ArmError>,
    /// The managed cluster, when one is configured.
    pub cluster: Option<Result<Value, ArmError>>,
}

impl ArmSnapshot {
    /// A snapshot where nothing could be read, for `why`.
    pub fn unavailable(subscription: &str, why: ArmError) -> Self {
        ArmSnapshot { subscription: subscription.into(), pricings: Err(why.clone()), registries: Err(why.clone()), cluster: Some(Err(why)) }
    }
}

/// Rows only Azure Resource Manager decides (#3, #15 and #19 also have in-cluster sources).
pub const AZURE_ONLY_ROWS: [&str; 7] = [
    "defender-for-registries",
    "defender-for-kubernetes",
    "registry-cmk-encryption",
    "registry-network-access",
    "registry-private-link",
    "api-server-restricted-access",
    "image-vulnerabilities",
];

const REGISTRY_ROWS: [&str; 4] = ["registry-cmk-encryption", "registry-network-access", "registry-private-link", "image-vulnerabilities"];
const CLUSTER_ROWS: [&str; 4] =
    ["azure-policy-addon", "api-server-restricted-access", "non-vulnerable-kubernetes-version", "kubernetes-rbac"];

fn s<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn fail(msg: String) -> Outcome {
    Outcome::Fail(vec![Finding::object(msg)])
}

fn pass_if(ok: bool, msg: impl FnOnce() -> String) -> Outcome {
    if ok { Outcome::Pass } else { fail(msg()) }
}

fn plan_standard(pricings: &[Value], plan: &str) -> bool {
    pricings.iter().any(|p| {
        p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(plan))
            && s(p, "/properties/pricingTier").is_some_and(|t| t.eq_ignore_ascii_case("Standard"))
    })
}

/// #6, #7, #8 and #24 of one registry.
pub fn registry_outcomes(r: &Registry) -> [(&'static str, Outcome); 4] {
    let b = &r.body;
    let id = b["id"].as_str().unwrap_or_default();
    let encrypted = s(b, "/properties/encryption/status").is_some_and(|x| x.eq_ignore_ascii_case("enabled"));
    let default_allow = s(b, "/properties/networkRuleSet/defaultAction").is_none_or(|x| x.eq_ignore_ascii_case("Allow"));
    let public = s(b, "/properties/publicNetworkAccess").is_none_or(|x| x.eq_ignore_ascii_case("Enabled"));
    let private_link = b.pointer("/properties/privateEndpointConnections").and_then(Value::as_array).is_some_and(|c| {
        c.iter().any(|e| s(e, "/properties/privateLinkServiceConnectionState/status").is_some_and(|x| x.eq_ignore_ascii_case("Approved")))
    });
    let vulns = match &r.assessment {
        Ok(Some(code)) if code.eq_ignore_ascii_case("Healthy") || code.eq_ignore_ascii_case("NotApplicable") => Outcome::Pass,
        Ok(Some(code)) => {
            fail(format!("the registry's image vulnerability assessment is {code}: images in {id} have vulnerabilities to remediate"))
        }
        Ok(None) => {
            Outcome::NotEvaluated("no image vulnerability assessment exists for the registry (Defender for Containers scans it)".into())
        }
        Err(e) => Outcome::NotEvaluated(e.to_string().into()),
    };
    [
        (
            "registry-cmk-encryption",
            pass_if(encrypted, || format!("{id} is not encrypted with a customer-managed key (encryption.status is not enabled)")),
        ),
        (
            "registry-network-access",
            pass_if(!(default_allow && public), || {
                format!("{id} accepts traffic from any network (networkRuleSet.defaultAction Allow and public network access enabled)")
            }),
        ),
        ("registry-private-link", pass_if(private_link, || format!("{id} has no approved private endpoint connection"))),
        ("image-vulnerabilities", vulns),
    ]
}

/// #3, #14, #15 and #19 of the managed cluster.
pub fn cluster_outcomes(c: &Value, cfg: &Config) -> [(&'static str, Outcome); 4] {
    let p = &c["properties"];
    // ARM spells the key `azurePolicy` for an add-on enabled in the portal, `azurepolicy` elsewhere.
    let addon = p["addonProfiles"].as_object().is_some_and(|profiles| {
        profiles.iter().any(|(k, v)| k.eq_ignore_ascii_case("azurepolicy") && v["enabled"].as_bool() == Some(true))
    });
    let ranges = p.pointer("/apiServerAccessProfile/authorizedIPRanges").and_then(Value::as_array).is_some_and(|r| !r.is_empty());
    let private = p.pointer("/apiServerAccessProfile/enablePrivateCluster").and_then(Value::as_bool) == Some(true);
    let version = match index_of("non-vulnerable-kubernetes-version") {
        Some(i) => managed_version(p, &cfg.rec(i).params),
        None => Outcome::NotEvaluated("no version row in the catalogue".into()),
    };
    [
        ("azure-policy-addon", pass_if(addon, || "the managed cluster's addonProfiles.azurepolicy is not enabled".into())),
        (
            "api-server-restricted-access",
            pass_if(ranges || private, || "the API server is public with no authorized IP ranges (apiServerAccessProfile)".into()),
        ),
        ("non-vulnerable-kubernetes-version", version),
        ("kubernetes-rbac", pass_if(p["enableRBAC"].as_bool() != Some(false), || "the managed cluster has enableRBAC: false".into())),
    ]
}

/// #15 of the managed cluster: `currentKubernetesVersion` (the running patch version) when ARM gives
/// it, else `kubernetesVersion`, which may be `major.minor` only: judged only when every patch of that
/// minor version gets the same verdict, NotEvaluated otherwise (never a guess).
fn managed_version(p: &Value, params: &crate::config::Params) -> Outcome {
    let current = p["currentKubernetesVersion"].as_str().filter(|v| !v.trim().is_empty());
    let Some(v) = current.or_else(|| p["kubernetesVersion"].as_str()) else {
        return Outcome::NotEvaluated("the managed cluster has neither currentKubernetesVersion nor kubernetesVersion".into());
    };
    if current.is_some() || !is_major_minor(v) {
        return kubernetes_version("managed cluster", v, params).into_outcome();
    }
    let Some(lowest) = Version::parse(v) else {
        return kubernetes_version("managed cluster", v, params).into_outcome();
    };
    // Every patch of the minor version: the lowest (x.y.0) and the highest (x.y.max) give the verdict
    // of all when they agree, since the vulnerable ranges and minimumVersion are intervals.
    let highest = Version::new(lowest.major, lowest.minor, u32::MAX);
    let judge = |ver: Version| kubernetes_version("managed cluster", &ver.to_string(), params);
    match (judge(lowest), judge(highest)) {
        (VersionVerdict::Healthy, VersionVerdict::Healthy) => Outcome::Pass,
        (VersionVerdict::Unhealthy(_), VersionVerdict::Unhealthy(_)) if highest.cve_2019_9946() => {
            fail(format!("managed cluster version {v}: every {v}.x patch is vulnerable to CVE-2019-9946 (fixed in 1.11.9, 1.12.7, 1.13.5, 1.14.0)"))
        }
        (VersionVerdict::Unhealthy(_), VersionVerdict::Unhealthy(_)) => {
            let min = params.minimum_version.map(|m| m.to_string()).unwrap_or_default();
            fail(format!("managed cluster version {v}: every {v}.x patch is older than minimumVersion {min}"))
        }
        _ => Outcome::NotEvaluated(
            format!("the managed cluster gives kubernetesVersion {v} without its patch (no currentKubernetesVersion); {v}.x patches differ for this row")
                .into(),
        ),
    }
}

/// True for `1.13` (or `v1.13`): a major.minor version without its patch.
fn is_major_minor(v: &str) -> bool {
    let core = v.trim().trim_start_matches(['v', 'V']).split(['-', '+']).next().unwrap_or("");
    core.split('.').count() == 2
}

fn record(kind: &str, name: &str, outcomes: impl IntoIterator<Item = (&'static str, Outcome)>, cfg: &Config) -> ResourceRecord {
    let mut rec = ResourceRecord::new(ResourceKey { namespace: String::new(), kind: kind.into(), name: name.into() });
    for (id, o) in outcomes {
        if let Some(i) = index_of(id)
            && cfg.rec(i).effect == Effect::Audit
        {
            rec.outcomes.push((i as u8, o));
        }
    }
    rec
}

fn unavailable(facts: &mut ClusterFacts, ids: &[&str], why: &str) {
    for id in ids {
        if let Some(i) = index_of(id) {
            facts.unavailable.insert(i, why.to_string());
        }
    }
}

/// Makes every Azure-only row NotEvaluated for `why` (no Azure access configured, or nothing read yet).
pub fn not_read(facts: &mut ClusterFacts, why: &str) {
    unavailable(facts, &AZURE_ONLY_ROWS, why);
}

/// Adds the Azure resources (subscription, registries, managed cluster) to the cluster facts, and
/// the exact reason for every row whose data could not be read.
pub fn add_facts(snap: &ArmSnapshot, cfg: &Config, facts: &mut ClusterFacts) {
    let defender = ["defender-for-registries", "defender-for-kubernetes"];
    match &snap.pricings {
        Ok(p) => {
            let registries = plan_standard(p, "Containers") || plan_standard(p, "ContainerRegistry");
            let kubernetes = plan_standard(p, "Containers") || plan_standard(p, "KubernetesService");
            let outcomes = [
                (
                    "defender-for-registries",
                    pass_if(registries, || {
                        "neither the Containers plan nor the legacy ContainerRegistry plan of Microsoft Defender is on the Standard tier"
                            .into()
                    }),
                ),
                (
                    "defender-for-kubernetes",
                    pass_if(kubernetes, || {
                        "neither the Containers plan nor the legacy KubernetesService plan of Microsoft Defender is on the Standard tier"
                            .into()
                    }),
                ),
            ];
            facts.resources.push(record("Subscription", &snap.subscription, outcomes, cfg));
        }
        Err(e) => unavailable(facts, &defender, &e.to_string()),
    }
    match &snap.registries {
        Ok(list) => {
            for r in list {
                let name = r.body["name"].as_str().unwrap_or_default();
                facts.resources.push(record("AzureContainerRegistry", name, registry_outcomes(r), cfg));
            }
        }
        Err(e) => unavailable(facts, &REGISTRY_ROWS, &e.to_string()),
    }
    match &snap.cluster {
        Some(Ok(c)) => {
            let name = c["name"].as_str().unwrap_or("managed-cluster");
            facts.resources.push(record("ManagedCluster", name, cluster_outcomes(c, cfg), cfg));
        }
        Some(Err(e)) => {
            // #3, #15 and #19 keep their in-cluster resources; #14 has no other source.
            unavailable(facts, &CLUSTER_ROWS, &e.to_string());
        }
        None => {
            let why = ArmError::Failed {
                what: "the managed cluster".into(),
                detail: "azure.clusterResourceGroup and azure.clusterName are not configured".into(),
            };
            unavailable(facts, &["api-server-restricted-access"], &why.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome<'a>(list: &'a [(&'static str, Outcome)], id: &str) -> &'a Outcome {
        &list.iter().find(|(i, _)| *i == id).expect("row").1
    }

    fn registry(props: Value, assessment: Result<Option<String>, ArmError>) -> Registry {
        Registry {
            body: json!({"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr1", "name": "acr1", "properties": props}),
            assessment,
        }
    }

    #[test]
    fn registry_rows_follow_the_spec() {
        let locked = registry(
            json!({"encryption": {"status": "enabled"}, "networkRuleSet": {"defaultAction": "Deny"}, "publicNetworkAccess": "Enabled",
                   "privateEndpointConnections": [{"properties": {"privateLinkServiceConnectionState": {"status": "Approved"}}}]}),
            Ok(Some("Healthy".into())),
        );
        let o = registry_outcomes(&locked);
        assert!(o.iter().all(|(_, x)| *x == Outcome::Pass), "{o:?}");
        let open = registry(
            json!({"encryption": {"status": "disabled"}, "privateEndpointConnections": [{"properties": {"privateLinkServiceConnectionState": {"status": "Pending"}}}]}),
            Ok(Some("Unhealthy".into())),
        );
        let o = registry_outcomes(&open);
        for id in REGISTRY_ROWS {
            assert!(matches!(outcome(&o, id), Outcome::Fail(_)), "{id}: {o:?}");
        }
        let public_off = registry(json!({"publicNetworkAccess": "Disabled"}), Ok(None));
        let o = registry_outcomes(&public_off);
        assert_eq!(*outcome(&o, "registry-network-access"), Outcome::Pass, "public access disabled is enough");
        assert!(matches!(outcome(&o, "image-vulnerabilities"), Outcome::NotEvaluated(_)), "no assessment: never Healthy");
    }

    #[test]
    fn defender_plans_accept_the_containers_plan_or_the_legacy_one() {
        let cfg = Config::default();
        let snap = |pricings: Value| ArmSnapshot {
            subscription: "s".into(),
            pricings: Ok(pricings.as_array().cloned().unwrap_or_default()),
            registries: Ok(vec![]),
            cluster: None,
        };
        let state = |snap: &ArmSnapshot, id: &str| {
            let mut f = ClusterFacts::default();
            add_facts(snap, &cfg, &mut f);
            f.resources[0].outcome(index_of(id).expect("id")).cloned()
        };
        let containers = snap(json!([{"name": "Containers", "properties": {"pricingTier": "Standard"}}]));
        assert_eq!(state(&containers, "defender-for-registries"), Some(Outcome::Pass));
        assert_eq!(state(&containers, "defender-for-kubernetes"), Some(Outcome::Pass));
        let legacy = snap(
            json!([{"name": "ContainerRegistry", "properties": {"pricingTier": "Standard"}}, {"name": "KubernetesService", "properties": {"pricingTier": "Free"}}]),
        );
        assert_eq!(state(&legacy, "defender-for-registries"), Some(Outcome::Pass));
        assert!(matches!(state(&legacy, "defender-for-kubernetes"), Some(Outcome::Fail(_))));
    }

    #[test]
    fn the_policy_add_on_key_matches_in_any_case() {
        let cfg = Config::default();
        for key in ["azurepolicy", "azurePolicy", "AzurePolicy"] {
            let c = json!({"name": "aks", "properties": {"kubernetesVersion": "1.30", "addonProfiles": {key: {"enabled": true}}}});
            assert_eq!(*outcome(&cluster_outcomes(&c, &cfg), "azure-policy-addon"), Outcome::Pass, "{key}");
            let off = json!({"name": "aks", "properties": {"addonProfiles": {key: {"enabled": false}}}});
            assert!(matches!(outcome(&cluster_outcomes(&off, &cfg), "azure-policy-addon"), Outcome::Fail(_)), "{key}");
        }
    }

    #[test]
    fn the_running_patch_version_is_judged_and_major_minor_alone_is_not_guessed() {
        let mut cfg = Config::default();
        let version = |cfg: &Config, props: Value| {
            let c = json!({"name": "aks", "properties": props});
            outcome(&cluster_outcomes(&c, cfg), "non-vulnerable-kubernetes-version").clone()
        };
        // ARM's kubernetesVersion may be major.minor only; currentKubernetesVersion is what runs.
        assert_eq!(version(&cfg, json!({"kubernetesVersion": "1.13", "currentKubernetesVersion": "1.13.5"})), Outcome::Pass);
        assert!(matches!(version(&cfg, json!({"kubernetesVersion": "1.13", "currentKubernetesVersion": "1.13.4"})), Outcome::Fail(_)));
        match version(&cfg, json!({"kubernetesVersion": "1.13"})) {
            Outcome::NotEvaluated(why) => assert!(why.contains("1.13") && why.contains("patch"), "{why}"),
            other => panic!("1.13 alone cannot be judged: {other:?}"),
        }
        // Where every patch of the minor version gives the same verdict, major.minor is enough.
        assert!(matches!(version(&cfg, json!({"kubernetesVersion": "1.10"})), Outcome::Fail(_)), "every 1.10 patch is vulnerable");
        assert_eq!(version(&cfg, json!({"kubernetesVersion": "1.30"})), Outcome::Pass);
        let i = index_of("non-vulnerable-kubernetes-version").unwrap();
        cfg.recs[i].params.minimum_version = crate::version::Version::parse("1.30.2");
        assert!(matches!(version(&cfg, json!({"kubernetesVersion": "1.30"})), Outcome::NotEvaluated(_)), "1.30.0 or 1.30.5?");
        assert!(matches!(version(&cfg, json!({"kubernetesVersion": "1.29"})), Outcome::Fail(_)));
        assert_eq!(version(&cfg, json!({"kubernetesVersion": "1.31"})), Outcome::Pass);
        assert_eq!(version(&cfg, json!({"kubernetesVersion": "1.30.1", "currentKubernetesVersion": "1.30.4"})), Outcome::Pass);
    }

    #[test]
    fn managed_cluster_rows_and_missing_access_reasons() {
        let cfg = Config::default();
        let open = json!({"name": "aks", "properties": {"kubernetesVersion": "1.13.2", "enableRBAC": false, "addonProfiles": {"azurepolicy": {"enabled": false}}}});
        assert!(cluster_outcomes(&open, &cfg).iter().all(|(_, o)| matches!(o, Outcome::Fail(_))));
        let good = json!({"name": "aks", "properties": {"kubernetesVersion": "1.30.4", "enableRBAC": true, "addonProfiles": {"azurepolicy": {"enabled": true}},
                          "apiServerAccessProfile": {"enablePrivateCluster": true}}});
        assert!(cluster_outcomes(&good, &cfg).iter().all(|(_, o)| *o == Outcome::Pass));
        let denied = ArmError::Forbidden { what: "Microsoft.Security/pricings".into(), scope: "subscription s".into() };
        let snap = ArmSnapshot { subscription: "s".into(), pricings: Err(denied.clone()), registries: Err(denied), cluster: None };
        let mut f = ClusterFacts::default();
        add_facts(&snap, &cfg, &mut f);
        let why = &f.unavailable[&index_of("defender-for-registries").unwrap()];
        assert_eq!(why, "permission denied reading Microsoft.Security/pricings: grant the Reader role on subscription s");
        assert!(f.unavailable.contains_key(&index_of("registry-private-link").unwrap()));
        assert!(f.unavailable[&index_of("api-server-restricted-access").unwrap()].contains("clusterName"));
    }
}
