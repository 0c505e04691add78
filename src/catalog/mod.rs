//! The catalogue: the 24 recommendations as data (ids, titles, severities, Azure policy ids, parameters).

use serde::Serialize;

/// How severe a failing recommendation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub enum Severity {
    /// Least severe.
    Low,
    /// Middle severity.
    Medium,
    /// Most severe.
    High,
}

impl Severity {
    /// Parses `high`/`High`/`HIGH` etc.
    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "high" => Some(Severity::High),
            "medium" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            _ => None,
        }
    }
    /// The PascalCase name used in reports and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "High",
            Severity::Medium => "Medium",
            Severity::Low => "Low",
        }
    }
}

/// What kind of resource a recommendation judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Scope {
    /// Workloads (Pods and their top-level owners).
    Pod,
    /// Services.
    Service,
    /// Ingresses.
    Ingress,
    /// The cluster as a whole (control plane, Nodes, managed cluster).
    Cluster,
    /// An Azure subscription.
    AzureSubscription,
    /// Azure container registries.
    AzureRegistry,
}

impl Scope {
    /// True for rows that appear in the per-namespace reports.
    pub fn is_namespaced(self) -> bool {
        matches!(self, Scope::Pod | Scope::Service | Scope::Ingress)
    }
}

/// Where a recommendation's data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Source {
    /// Only Kubernetes objects.
    InCluster,
    /// Kubernetes objects, and Azure Resource Manager when configured.
    InClusterAndAzure,
    /// Only Azure Resource Manager.
    Azure,
}

/// The shape of a parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ParamKind {
    /// A Kubernetes quantity (`500m`, `64Gi`).
    Quantity,
    /// A regular expression.
    Regex,
    /// A list of port numbers written as strings.
    PortList,
    /// A list of strings.
    StringList,
    /// A run-as rule: `MustRunAsNonRoot`, `MustRunAs`, `MayRunAs`, `RunAsAny`.
    Rule,
    /// `{ranges: [{min, max}]}`.
    Ranges,
    /// true/false.
    Bool,
    /// An integer.
    Int,
    /// `{paths: [{pathPrefix, readOnly}]}`.
    HostPaths,
    /// A Kubernetes version such as `1.28.0`.
    Version,
}

/// One parameter of a recommendation.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ParamSpec {
    /// Azure's parameter name.
    pub name: &'static str,
    /// Value shape.
    pub kind: ParamKind,
    /// Default as YAML/JSON text; `None` when unset (the recommendation may be NotConfigured).
    pub default: Option<&'static str>,
    /// When true, an unset value makes the recommendation NotConfigured.
    pub required: bool,
}

/// One recommendation of the catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// Number in the source list (1-24).
    pub number: u8,
    /// Stable kebab-case id: config key, metric label, fixture folder, exemption token.
    pub id: &'static str,
    /// English title.
    pub title: &'static str,
    /// Korean title from the seed list.
    pub title_ko: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// What it judges.
    pub scope: Scope,
    /// Where its data comes from.
    pub source: Source,
    /// GUID of the related Azure Policy definition.
    #[serde(skip)]
    pub policy_guid: &'static str,
    /// What it checks, in one or two sentences.
    pub description: &'static str,
    /// How to fix a failing resource.
    pub remediation: &'static str,
    /// Its own parameters (the common scoping parameters are not listed).
    pub parameters: &'static [ParamSpec],
    /// How it is judged.
    #[serde(skip)]
    pub judge: Judge,
    /// Only meaningful on Linux nodes (NotApplicable for Windows Pods).
    pub linux_only: bool,
    /// Judges individual containers (findings name them).
    pub container_level: bool,
}

/// How a recommendation is judged: the pure check each front door calls, or the facts that decide it.
#[derive(Clone, Copy)]
pub enum Judge {
    /// A pure check of a Pod (a Pod's spec or a workload's pod template).
    Pod(crate::checks::PodCheck),
    /// Per container, from vulnerability data the front door supplies (VulnerabilityReports).
    Vulnerabilities,
    /// A pure check of a Service.
    Service(crate::checks::ServiceCheck),
    /// A pure check of an Ingress.
    Ingress(crate::checks::IngressCheck),
    /// A Kubernetes version of a component (Nodes, the API server, the managed cluster).
    Version(crate::checks::VersionCheck),
    /// Cluster or Azure facts (`cluster_facts`, `azure::rows`).
    Facts,
}

impl std::fmt::Debug for Judge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Judge::Pod(_) => "Pod",
            Judge::Vulnerabilities => "Vulnerabilities",
            Judge::Service(_) => "Service",
            Judge::Ingress(_) => "Ingress",
            Judge::Version(_) => "Version",
            Judge::Facts => "Facts",
        })
    }
}

impl Recommendation {
    /// `/providers/Microsoft.Authorization/policyDefinitions/<guid>`.
    pub fn policy_definition_id(&self) -> String {
        format!("/providers/Microsoft.Authorization/policyDefinitions/{}", self.policy_guid)
    }
    /// Title in the given language (`ko` or anything else for English).
    pub fn title_in(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ko => self.title_ko,
            Lang::En => self.title,
        }
    }
}

/// Language of printed titles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Korean (the seed list's titles).
    Ko,
}

pub mod explain;
pub mod links;
mod table;
pub use table::CATALOG;

/// Looks a recommendation up by id.
pub fn by_id(id: &str) -> Option<&'static Recommendation> {
    CATALOG.iter().find(|r| r.id == id)
}

/// Index (0-based) of a recommendation id in [`CATALOG`].
pub fn index_of(id: &str) -> Option<usize> {
    CATALOG.iter().position(|r| r.id == id)
}

/// The rows judged by a given kind of [`Judge`], with their catalogue index.
pub fn judged_by(pick: fn(&Judge) -> bool) -> impl Iterator<Item = (usize, &'static Recommendation)> {
    CATALOG.iter().enumerate().filter(move |(_, r)| pick(&r.judge))
}

/// The row that judges Kubernetes versions (#15) and its check.
pub fn version_rule() -> Option<(usize, crate::checks::VersionCheck)> {
    CATALOG.iter().enumerate().find_map(|(i, r)| match r.judge {
        Judge::Version(f) => Some((i, f)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_numbered_in_order() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in CATALOG.iter().enumerate() {
            assert_eq!(r.number as usize, i + 1);
            assert!(seen.insert(r.id), "duplicate id {}", r.id);
            assert!(r.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{}", r.id);
            assert_eq!(r.policy_guid.len(), 36);
            assert!(!r.title_ko.is_empty());
        }
    }

    #[test]
    fn every_remediation_names_a_field_and_the_parameters_that_allow_more() {
        for r in &CATALOG {
            // A field path (`securityContext.privileged`, `spec.tls`, `networkRuleSet.defaultAction`).
            let names_field = r.remediation.split([' ', '(', ')', ',', ';']).any(|w| {
                let w = w.trim_end_matches(['.', ':']);
                w.contains('.') && w.split('.').all(|part| !part.is_empty())
            });
            assert!(names_field, "{}: remediation names no field: {}", r.id, r.remediation);
            for p in r.parameters.iter().filter(|p| p.required) {
                assert!(r.remediation.contains(p.name), "{}: remediation does not name {}", r.id, p.name);
            }
        }
    }

    #[test]
    fn defaults_parse_as_json() {
        for r in &CATALOG {
            for p in r.parameters {
                if let Some(d) = p.default {
                    serde_json::from_str::<serde_json::Value>(d).unwrap_or_else(|e| panic!("{}.{}: {e}", r.id, p.name));
                }
            }
        }
    }
}
