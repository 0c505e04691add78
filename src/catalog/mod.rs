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
    /// True for checks that only make sense on Linux nodes.
    pub fn linux_only(&self) -> bool {
        matches!(self.number, 9 | 12 | 16 | 17 | 20)
    }
    /// True when this recommendation judges individual containers.
    pub fn container_level(&self) -> bool {
        matches!(self.number, 4 | 5 | 9 | 11 | 12 | 16 | 17 | 18 | 20 | 23 | 24)
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

/// Index of the recommendation with the given number (1-24).
pub const fn idx(number: u8) -> usize {
    number as usize - 1
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
