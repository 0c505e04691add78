//! The `ComplianceConfig` file: global scoping, per-recommendation settings, exemptions, Azure access.

pub mod params;
pub mod selector;
pub mod walk;

use crate::catalog::{CATALOG, Severity};
use jiff::civil::Date;
pub use params::Params;
use selector::{Selector, read_selector};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use walk::{Issue, Walk, join, unwrap_value};

/// Namespaces excluded when the file does not say otherwise.
pub const DEFAULT_EXCLUDED_NAMESPACES: [&str; 4] = ["kube-system", "gatekeeper-system", "azure-arc", "azure-extensions-usage-system"];

const COMMON_KEYS: [&str; 5] = ["namespaces", "excludedNamespaces", "labelSelector", "excludedContainers", "excludedImages"];

/// Whether a recommendation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Evaluated and reported.
    Audit,
    /// Not evaluated (state Disabled).
    Disabled,
}

/// Which resources a recommendation looks at.
#[derive(Debug, Clone, Default)]
pub struct Scoping {
    /// Include list of namespaces (empty = all).
    pub namespaces: Vec<String>,
    /// Replaces the global excluded list for this recommendation when set.
    pub excluded_namespaces: Option<Vec<String>>,
    /// Only resources whose labels match.
    pub label_selector: Option<Selector>,
    /// Container names skipped by container-level rules.
    pub excluded_containers: Vec<String>,
    /// Images skipped by container-level rules (exact, or prefix when ending in `*`).
    pub excluded_images: Vec<String>,
}

/// The resolved settings of one recommendation.
#[derive(Debug, Clone)]
pub struct RecConfig {
    /// Audit or Disabled.
    pub effect: Effect,
    /// Effective severity (catalogue default or override).
    pub severity: Severity,
    /// Scoping.
    pub scope: Scoping,
    /// Own parameters.
    pub params: Params,
    /// A required parameter without value (state NotConfigured).
    pub missing: Option<&'static str>,
}

/// An exemption rule from the configuration.
#[derive(Debug, Clone)]
pub struct ExemptionRule {
    /// Recommendation ids, or `*`.
    pub recommendations: Vec<String>,
    /// Namespaces (empty = any).
    pub namespaces: Vec<String>,
    /// Resource kinds (empty = any).
    pub kinds: Vec<String>,
    /// Globs on the resource name or its top-level owner (empty = any).
    pub names: Vec<globset::GlobMatcher>,
    /// Label selector on the resource.
    pub label_selector: Option<Selector>,
    /// Why.
    pub reason: String,
    /// Last day (UTC) the exemption holds.
    pub expires: Option<Date>,
}

/// Azure access settings (used by the Azure rows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AzureConfig {
    /// Subscription id.
    pub subscription_id: Option<String>,
    /// Resource groups that scope registries.
    pub resource_groups: Vec<String>,
    /// The AKS cluster's resource group.
    pub cluster_resource_group: Option<String>,
    /// The AKS cluster's name.
    pub cluster_name: Option<String>,
    /// `public` or a sovereign cloud name.
    pub cloud: Option<String>,
    /// Endpoint overrides (`resourceManager`, `authority`).
    pub endpoints: std::collections::BTreeMap<String, String>,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Namespaces excluded for every recommendation without its own list.
    pub excluded_namespaces: Vec<String>,
    /// Whether `kompliance.dev/exempt` annotations count.
    pub allow_annotation_exemptions: bool,
    /// One entry per catalogue row, same order.
    pub recs: Vec<RecConfig>,
    /// Exemption rules.
    pub exemptions: Vec<ExemptionRule>,
    /// Azure access, when configured.
    pub azure: Option<AzureConfig>,
    /// `language`: title language of the operator's reports and metrics (its `--lang` wins).
    pub language: Option<crate::catalog::Lang>,
    /// Warnings found while loading (accepted oddities).
    pub warnings: Vec<String>,
    /// Short hash of the configuration's content.
    pub hash: String,
}

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config file {file}: {source}")]
    Read {
        /// File path.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("config file {file}: not valid YAML: {message}")]
    Yaml {
        /// File path.
        file: String,
        /// Parser message.
        message: String,
    },
    /// The file holds no document (empty, or comments only).
    #[error("config file {file} is empty (expected apiVersion: kompliance.dev/v1alpha1 and kind: ComplianceConfig)")]
    Empty {
        /// File path.
        file: String,
    },
    /// Keys or values are wrong.
    #[error("config file {file}: {}", issues.iter().map(|i| format!("{}: {}", i.path, i.message)).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// File path.
        file: String,
        /// Every problem found.
        issues: Vec<Issue>,
    },
}

impl ConfigError {
    /// One line per problem, each naming the file and key path.
    pub fn lines(&self) -> Vec<String> {
        match self {
            ConfigError::Invalid { file, issues } => issues.iter().map(|i| format!("{file}: {}: {}", i.path, i.message)).collect(),
            other => vec![other.to_string()],
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            excluded_namespaces: DEFAULT_EXCLUDED_NAMESPACES.iter().map(|s| s.to_string()).collect(),
            language: None,
            allow_annotation_exemptions: true,
            recs: CATALOG
                .iter()
                .map(|r| {
                    let params = Params::default();
                    RecConfig {
                        effect: Effect::Audit,
                        severity: r.severity,
                        scope: Scoping::default(),
                        missing: params.missing_required(r),
                        params,
                    }
                })
                .collect(),
            exemptions: vec![],
            azure: None,
            warnings: vec![],
            hash: hex16(b"default"),
        }
    }
}

fn hex16(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read { file: file.clone(), source })?;
        Config::from_bytes(&bytes, &file)
    }

    /// Validates a file's content: what `config check` and the operator's reloads both accept.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Config, ConfigError> {
        let text = std::str::from_utf8(bytes).map_err(|e| ConfigError::Read {
            file: file.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8: {e}")),
        })?;
        Config::parse(text, file)
    }

    /// Validates configuration text; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let value: Value = crate::yaml::from_str_strict(text).map_err(|message| ConfigError::Yaml { file: file.to_string(), message })?;
        let mut w = Walk::default();
        let mut cfg = Config { hash: hex16(text.as_bytes()), ..Config::default() };
        match &value {
            Value::Object(top) => read_top(top, &mut cfg, &mut w),
            // An empty file is what a truncating editor or a half-written update leaves: never "all defaults".
            Value::Null => return Err(ConfigError::Empty { file: file.to_string() }),
            _ => w.err("(top)", "expected a mapping with kind: ComplianceConfig"),
        }
        if !w.errors.is_empty() {
            return Err(ConfigError::Invalid { file: file.to_string(), issues: w.errors });
        }
        cfg.warnings = w.warnings.iter().map(|i| format!("{file}: {}: {}", i.path, i.message)).collect();
        Ok(cfg)
    }

    /// Settings of the recommendation at catalogue index `i`.
    pub fn rec(&self, i: usize) -> &RecConfig {
        &self.recs[i]
    }

    /// Whether recommendation `i` applies to namespace `ns` (None = in scope), else why not.
    pub fn namespace_excluded(&self, i: usize, ns: &str) -> Option<&'static str> {
        let s = &self.recs[i].scope;
        let excluded = s.excluded_namespaces.as_ref().unwrap_or(&self.excluded_namespaces);
        if excluded.iter().any(|n| n == ns) {
            return Some("namespace excluded");
        }
        if !s.namespaces.is_empty() && !s.namespaces.iter().any(|n| n == ns) {
            // Outside the include list: the same reason as an excluded namespace (contract.md).
            return Some("namespace excluded");
        }
        None
    }

    /// True when the namespace is excluded globally (it gets no report).
    pub fn globally_excluded(&self, ns: &str) -> bool {
        self.excluded_namespaces.iter().any(|n| n == ns)
    }

    /// True when some exemption rule selects resources by their labels (else labels need not be kept).
    pub fn exemptions_use_labels(&self) -> bool {
        self.exemptions.iter().any(|r| r.label_selector.is_some())
    }
}

fn read_top(top: &Map<String, Value>, cfg: &mut Config, w: &mut Walk) {
    match top.get("apiVersion").and_then(Value::as_str) {
        Some("kompliance.dev/v1alpha1") => {}
        Some(other) => w.err("apiVersion", format!("{other:?} is not kompliance.dev/v1alpha1")),
        None => w.err("apiVersion", "required: kompliance.dev/v1alpha1"),
    }
    match top.get("kind").and_then(Value::as_str) {
        Some("ComplianceConfig") => {}
        Some(other) => w.err("kind", format!("{other:?} is not ComplianceConfig")),
        None => w.err("kind", "required: ComplianceConfig"),
    }
    for (key, v) in top {
        match key.as_str() {
            "apiVersion" | "kind" | "metadata" => {}
            "excludedNamespaces" => {
                if let Some(l) = w.string_list(v, key) {
                    cfg.excluded_namespaces = l;
                }
            }
            "allowAnnotationExemptions" => match v.as_bool() {
                Some(b) => cfg.allow_annotation_exemptions = b,
                None => w.err(key, "expected true or false"),
            },
            "recommendations" => {
                if let Some(m) = w.object(v, key) {
                    for (id, rv) in m {
                        let path = join(key, id);
                        match crate::catalog::index_of(id) {
                            Some(i) => read_rec(i, rv, &path, &mut cfg.recs[i], w),
                            None => w.err(&path, "unknown recommendation id (see `kompliance catalog`)"),
                        }
                    }
                }
            }
            "exemptions" => match v.as_array() {
                Some(list) => {
                    for (i, e) in list.iter().enumerate() {
                        if let Some(rule) = read_exemption(e, &format!("exemptions[{i}]"), w) {
                            cfg.exemptions.push(rule);
                        }
                    }
                }
                None => w.err(key, "expected a list of exemption rules"),
            },
            "azure" => cfg.azure = read_azure(v, key, w),
            "language" => match v.as_str() {
                Some("en") => cfg.language = Some(crate::catalog::Lang::En),
                Some("ko") => cfg.language = Some(crate::catalog::Lang::Ko),
                _ => w.err(key, "expected en or ko"),
            },
            _ => w.err(
                key,
                "unknown key (expected apiVersion, kind, metadata, excludedNamespaces, allowAnnotationExemptions, language, recommendations, exemptions, azure)",
            ),
        }
    }
}

fn read_rec(i: usize, v: &Value, path: &str, rc: &mut RecConfig, w: &mut Walk) {
    let rec = &CATALOG[i];
    let Some(m) = w.object(v, path) else { return };
    let mut common: Vec<(String, &Value, String)> = vec![];
    for (key, val) in m {
        let p = join(path, key);
        match key.as_str() {
            "effect" => common.push((key.clone(), val, p)),
            "severity" => match val.as_str().and_then(Severity::parse) {
                Some(s) => rc.severity = s,
                None => w.err(&p, "expected High, Medium or Low"),
            },
            "parameters" => {
                let Some(pm) = w.object(val, &p) else { continue };
                for (pk, pv) in pm {
                    let pp = join(&p, pk);
                    let pv = unwrap_value(pv);
                    if pk == "effect" || COMMON_KEYS.contains(&pk.as_str()) {
                        common.push((pk.clone(), pv, pp));
                    } else if pk == "source" || pk == "warn" {
                        w.warn(&pp, "Azure-only parameter, ignored");
                    } else {
                        rc.params.set(rec, pk, pv, &pp, w);
                    }
                }
            }
            k if COMMON_KEYS.contains(&k) => common.push((key.clone(), unwrap_value(val), p)),
            _ => w.err(&p, "unknown key (expected effect, severity, parameters, namespaces, excludedNamespaces, labelSelector, excludedContainers, excludedImages)"),
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (key, val, p) in common {
        if !seen.insert(key.clone()) {
            w.err(&p, format!("{key} is given both beside and inside parameters"));
            continue;
        }
        match key.as_str() {
            "effect" => match val.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("audit" | "auditifnotexists") => rc.effect = Effect::Audit,
                Some("disabled") => rc.effect = Effect::Disabled,
                Some("deny") => {
                    rc.effect = Effect::Audit;
                    w.warn(&p, "Deny is treated as Audit (kompliance reports, it does not block)");
                }
                _ => w.err(&p, format!("{val} is not an effect (expected Audit, AuditIfNotExists, Deny or Disabled, in any case)")),
            },
            "namespaces" => rc.scope.namespaces = w.string_list(val, &p).unwrap_or_default(),
            "excludedNamespaces" => rc.scope.excluded_namespaces = w.string_list(val, &p),
            "excludedContainers" => rc.scope.excluded_containers = w.string_list(val, &p).unwrap_or_default(),
            "excludedImages" => rc.scope.excluded_images = w.string_list(val, &p).unwrap_or_default(),
            _ => rc.scope.label_selector = read_selector(val, &p, w),
        }
    }
    rc.params.check_ranges(rec, &join(path, "parameters"), w);
    rc.missing = rc.params.missing_required(rec);
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.len() != 10 {
        return None;
    }
    s.parse::<Date>().ok()
}

fn read_exemption(v: &Value, path: &str, w: &mut Walk) -> Option<ExemptionRule> {
    let m = w.object(v, path)?;
    let mut rule = ExemptionRule {
        recommendations: vec![],
        namespaces: vec![],
        kinds: vec![],
        names: vec![],
        label_selector: None,
        reason: String::new(),
        expires: None,
    };
    let errors_before = w.errors.len();
    for (key, val) in m {
        let p = join(path, key);
        match key.as_str() {
            "recommendations" => {
                for (i, id) in w.string_list(val, &p).unwrap_or_default().into_iter().enumerate() {
                    if id != "*" && crate::catalog::by_id(&id).is_none() {
                        w.err(&format!("{p}[{i}]"), format!("unknown recommendation id {id:?}"));
                    }
                    rule.recommendations.push(id);
                }
            }
            "namespaces" => rule.namespaces = w.string_list(val, &p).unwrap_or_default(),
            "kinds" => rule.kinds = w.string_list(val, &p).unwrap_or_default(),
            "names" => {
                for (i, g) in w.string_list(val, &p).unwrap_or_default().into_iter().enumerate() {
                    match globset::Glob::new(&g) {
                        Ok(glob) => rule.names.push(glob.compile_matcher()),
                        Err(e) => w.err(&format!("{p}[{i}]"), format!("invalid glob: {e}")),
                    }
                }
            }
            "labelSelector" => rule.label_selector = read_selector(val, &p, w),
            "reason" => rule.reason = w.string(val, &p).unwrap_or_default(),
            "expires" => match val.as_str().and_then(parse_date) {
                Some(d) => rule.expires = Some(d),
                None => w.err(&p, format!("{val} is not a date YYYY-MM-DD")),
            },
            _ => w.err(&p, "unknown key (expected recommendations, namespaces, kinds, names, labelSelector, reason, expires)"),
        }
    }
    if rule.recommendations.is_empty() {
        w.err(&join(path, "recommendations"), "required: recommendation ids or \"*\"");
    }
    if rule.reason.trim().is_empty() {
        w.err(&join(path, "reason"), "required: say why the resources are exempt");
    }
    (w.errors.len() == errors_before).then_some(rule)
}

fn read_azure(v: &Value, path: &str, w: &mut Walk) -> Option<AzureConfig> {
    let m = w.object(v, path)?;
    let mut az = AzureConfig::default();
    for (key, val) in m {
        let p = join(path, key);
        match key.as_str() {
            "subscriptionId" => az.subscription_id = w.string(val, &p),
            "resourceGroups" => az.resource_groups = w.string_list(val, &p).unwrap_or_default(),
            "clusterResourceGroup" => az.cluster_resource_group = w.string(val, &p),
            "clusterName" => az.cluster_name = w.string(val, &p),
            "cloud" => az.cloud = w.string(val, &p),
            "endpoints" => {
                let Some(em) = w.object(val, &p) else { continue };
                for (ek, ev) in em {
                    let ep = join(&p, ek);
                    if !["resourceManager", "authority"].contains(&ek.as_str()) {
                        w.err(&ep, "unknown endpoint (expected resourceManager, authority)");
                    } else if let Some(s) = w.string(ev, &ep) {
                        az.endpoints.insert(ek.clone(), s);
                    }
                }
            }
            _ => w.err(&p, "unknown key (expected subscriptionId, resourceGroups, clusterResourceGroup, clusterName, cloud, endpoints)"),
        }
    }
    Some(az)
}
