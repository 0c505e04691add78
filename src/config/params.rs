//! Per-recommendation parameters: typed values, defaults and parsing of Azure's shapes.

use super::walk::Walk;
use crate::catalog::{ParamKind, Recommendation};
use crate::quantity::Quantity;
use crate::version::Version;
use regex::Regex;
use serde_json::Value;

/// How a user/group id field is judged (#20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Not root (runAsUser only).
    MustRunAsNonRoot,
    /// Must be set and in a range.
    MustRunAs,
    /// When set, must be in a range.
    MayRunAs,
    /// Not checked.
    RunAsAny,
}

/// A rule with its ranges (`max: -1` = no upper bound).
#[derive(Debug, Clone, PartialEq)]
pub struct IdRule {
    /// The rule.
    pub kind: RuleKind,
    /// Inclusive ranges.
    pub ranges: Vec<(i64, i64)>,
}

impl IdRule {
    /// True when `v` lies in one of the ranges.
    pub fn in_range(&self, v: i64) -> bool {
        self.ranges.iter().any(|&(min, max)| v >= min && (max < 0 || v <= max))
    }
}

/// One allowed host path (#23).
#[derive(Debug, Clone, PartialEq)]
pub struct HostPathRule {
    /// Prefix, matched by whole path segments.
    pub path_prefix: String,
    /// Mounts must be read-only.
    pub read_only: bool,
}

/// Every recommendation's own parameters, typed; each recommendation reads its fields.
#[derive(Debug, Clone)]
pub struct Params {
    /// #4 maximum CPU limit.
    pub cpu_limit: Quantity,
    /// #4 maximum memory limit.
    pub memory_limit: Quantity,
    /// #5 allowed image pattern.
    pub allowed_images: Option<Regex>,
    /// #11 allowed container ports (empty: no port is allowed, Azure's `["-1"]`).
    pub allowed_container_ports: Option<Vec<i64>>,
    /// #16 capabilities that may be added (normalised: upper case, no CAP_).
    pub allowed_capabilities: Vec<String>,
    /// #16 capabilities that must be dropped (normalised).
    pub required_drop_capabilities: Vec<String>,
    /// #17 allowed AppArmor profiles.
    pub allowed_profiles: Vec<String>,
    /// #20 runAsUser rule.
    pub run_as_user: IdRule,
    /// #20 runAsGroup rule.
    pub run_as_group: IdRule,
    /// #20 supplementalGroups rule.
    pub supplemental_groups: IdRule,
    /// #20 fsGroup rule.
    pub fs_group: IdRule,
    /// #21 allowed Service ports (empty: no port is allowed, Azure's `["-1"]`).
    pub allowed_service_ports: Option<Vec<i64>>,
    /// #22 whether hostNetwork is allowed.
    pub allow_host_network: bool,
    /// #22 lowest allowed hostPort.
    pub min_port: i64,
    /// #22 highest allowed hostPort.
    pub max_port: i64,
    /// #23 allowed host paths.
    pub allowed_host_paths: Vec<HostPathRule>,
    /// #15 oldest acceptable version.
    pub minimum_version: Option<Version>,
    /// #24 severities that count.
    pub severities: Vec<String>,
    /// #24 ignore vulnerabilities without a fixed version.
    pub ignore_unfixed: bool,
}

/// Normalises a capability name: upper case, without `CAP_`.
pub fn normalize_capability(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").map(str::to_string).unwrap_or(up)
}

impl Default for Params {
    fn default() -> Self {
        let any = |kind| IdRule { kind, ranges: vec![(1, -1)] };
        Params {
            cpu_limit: Quantity::from_nanos("32", 32_000_000_000),
            memory_limit: Quantity::from_nanos("64Gi", 64 * (1 << 30) * 1_000_000_000),
            allowed_images: None,
            allowed_container_ports: None,
            allowed_capabilities: vec![],
            required_drop_capabilities: vec![],
            allowed_profiles: vec!["runtime/default".into()],
            run_as_user: IdRule { kind: RuleKind::MustRunAsNonRoot, ranges: vec![] },
            run_as_group: any(RuleKind::MustRunAs),
            supplemental_groups: any(RuleKind::MayRunAs),
            fs_group: any(RuleKind::MayRunAs),
            allowed_service_ports: None,
            allow_host_network: false,
            min_port: 0,
            max_port: 0,
            allowed_host_paths: vec![],
            minimum_version: None,
            severities: vec!["CRITICAL".into(), "HIGH".into()],
            ignore_unfixed: true,
        }
    }
}

impl Params {
    /// The first required parameter of `rec` that has no value, if any.
    pub fn missing_required(&self, rec: &Recommendation) -> Option<&'static str> {
        match rec.number {
            5 if self.allowed_images.is_none() => Some("allowedContainerImagesRegex"),
            11 if self.allowed_container_ports.is_none() => Some("allowedContainerPortsList"),
            21 if self.allowed_service_ports.is_none() => Some("allowedServicePortsList"),
            _ => None,
        }
    }

    /// Parses one parameter of `rec` at `path`; errors go to `w`.
    pub fn set(&mut self, rec: &Recommendation, name: &str, v: &Value, path: &str, w: &mut Walk) {
        let Some(spec) = rec.parameters.iter().find(|p| p.name == name) else {
            let known: Vec<_> = rec.parameters.iter().map(|p| p.name).collect();
            w.err(
                path,
                format!("unknown parameter for {} (known: {})", rec.id, if known.is_empty() { "none".into() } else { known.join(", ") }),
            );
            return;
        };
        match (spec.kind, name) {
            (ParamKind::Quantity, _) => {
                let Some(q) = w.string(v, path).and_then(|s| Quantity::parse(&s).map_err(|e| w.err(path, e.to_string())).ok()) else {
                    return;
                };
                if q.is_negative() {
                    return w.err(path, "must not be negative");
                }
                if name == "cpuLimit" { self.cpu_limit = q } else { self.memory_limit = q }
            }
            (ParamKind::Regex, _) => {
                if let Some(s) = w.string(v, path) {
                    match Regex::new(&s) {
                        Ok(r) => self.allowed_images = Some(r),
                        Err(e) => w.err(path, format!("invalid regular expression: {e}")),
                    }
                }
            }
            (ParamKind::PortList, _) => {
                let Some(ports) = port_list(v, path, w) else {
                    return;
                };
                if name == "allowedServicePortsList" {
                    self.allowed_service_ports = Some(ports)
                } else {
                    self.allowed_container_ports = Some(ports)
                }
            }
            (ParamKind::StringList, _) => {
                let Some(list) = w.string_list(v, path) else {
                    return;
                };
                match name {
                    "allowedCapabilities" => self.allowed_capabilities = list.iter().map(|c| normalize_capability(c)).collect(),
                    "requiredDropCapabilities" => self.required_drop_capabilities = list.iter().map(|c| normalize_capability(c)).collect(),
                    "allowedProfiles" => self.allowed_profiles = list,
                    _ => self.severities = list.iter().map(|s| s.to_ascii_uppercase()).collect(),
                }
            }
            (ParamKind::Rule, _) => {
                let Some(s) = w.string(v, path) else { return };
                let kind = match s.as_str() {
                    "MustRunAsNonRoot" if name == "runAsUserRule" => RuleKind::MustRunAsNonRoot,
                    "MustRunAs" => RuleKind::MustRunAs,
                    "MayRunAs" if name != "runAsUserRule" => RuleKind::MayRunAs,
                    "RunAsAny" => RuleKind::RunAsAny,
                    _ => return w.err(path, format!("{s:?} is not a valid rule here (runAsUserRule: MustRunAsNonRoot, MustRunAs, RunAsAny; others: MustRunAs, MayRunAs, RunAsAny)")),
                };
                self.rule_mut(name).kind = kind;
            }
            (ParamKind::Ranges, _) => {
                if let Some(r) = ranges(v, path, w) {
                    self.rule_mut(name).ranges = r;
                }
            }
            (ParamKind::Bool, _) => {
                let Some(b) = v.as_bool() else {
                    return w.err(path, "expected true or false");
                };
                if name == "allowHostNetwork" { self.allow_host_network = b } else { self.ignore_unfixed = b }
            }
            (ParamKind::Int, _) => {
                let Some(n) = int(v) else {
                    return w.err(path, "expected an integer");
                };
                if !(0..=65535).contains(&n) {
                    return w.err(path, "must be a port number between 0 and 65535");
                }
                if name == "minPort" { self.min_port = n } else { self.max_port = n }
            }
            (ParamKind::HostPaths, _) => {
                if let Some(p) = host_paths(v, path, w) {
                    self.allowed_host_paths = p;
                }
            }
            (ParamKind::Version, _) => {
                let Some(s) = w.string(v, path) else { return };
                match Version::parse(&s) {
                    Some(ver) => self.minimum_version = Some(ver),
                    None => w.err(path, format!("{s:?} is not a Kubernetes version such as 1.28.0")),
                }
            }
        }
    }

    /// Checks what spans several parameters of `rec` (#22's `minPort` ≤ `maxPort`); `path` is its `parameters`.
    pub fn check_ranges(&self, rec: &Recommendation, path: &str, w: &mut Walk) {
        if rec.parameters.iter().any(|p| p.name == "minPort") && self.min_port > self.max_port {
            w.err(
                &format!("{path}.minPort"),
                format!("{} is greater than maxPort {} (no host port could be allowed)", self.min_port, self.max_port),
            );
        }
    }

    fn rule_mut(&mut self, name: &str) -> &mut IdRule {
        if name.starts_with("runAsUser") {
            &mut self.run_as_user
        } else if name.starts_with("runAsGroup") {
            &mut self.run_as_group
        } else if name.starts_with("supplementalGroups") {
            &mut self.supplemental_groups
        } else {
            &mut self.fs_group
        }
    }
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The port-list entry Azure uses to allow no port at all (its default, `["-1"]`).
pub const NO_PORT: i64 = -1;

fn port_list(v: &Value, path: &str, w: &mut Walk) -> Option<Vec<i64>> {
    let Some(items) = v.as_array() else {
        w.err(path, "expected a list of port numbers");
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match int(item) {
            Some(n) if (1..=65535).contains(&n) => out.push(n),
            // Azure's out-of-box value `["-1"]`: an entry no port equals, so the list allows no port.
            Some(NO_PORT) => {}
            _ => w.err(&format!("{path}[{i}]"), format!("{item} is not a port number (1-65535, or -1 for no port)")),
        }
    }
    Some(out)
}

fn ranges(v: &Value, path: &str, w: &mut Walk) -> Option<Vec<(i64, i64)>> {
    let (list, list_path) = match v {
        Value::Object(m) => {
            for k in m.keys().filter(|k| *k != "ranges") {
                w.err(&format!("{path}.{k}"), "unknown key (expected ranges)");
            }
            (m.get("ranges").cloned().unwrap_or(Value::Array(vec![])), format!("{path}.ranges"))
        }
        _ => (v.clone(), path.to_string()),
    };
    let Some(items) = list.as_array() else {
        w.err(&list_path, "expected a list of {min, max}");
        return None;
    };
    let mut out = vec![];
    for (i, item) in items.iter().enumerate() {
        let p = format!("{list_path}[{i}]");
        let Some(m) = item.as_object() else {
            w.err(&p, "expected {min, max}");
            continue;
        };
        for k in m.keys().filter(|k| *k != "min" && *k != "max") {
            w.err(&format!("{p}.{k}"), "unknown key (expected min, max)");
        }
        match (m.get("min").and_then(int), m.get("max").and_then(int)) {
            (Some(min), Some(max)) if max < 0 || min <= max => out.push((min, max)),
            (Some(_), Some(_)) => w.err(&p, "min is greater than max"),
            _ => w.err(&p, "min and max must both be integers (max -1 = no upper bound)"),
        }
    }
    Some(out)
}

fn host_paths(v: &Value, path: &str, w: &mut Walk) -> Option<Vec<HostPathRule>> {
    let (list, list_path) = match v {
        Value::Object(m) => {
            for k in m.keys().filter(|k| *k != "paths") {
                w.err(&format!("{path}.{k}"), "unknown key (expected paths)");
            }
            (m.get("paths").cloned().unwrap_or(Value::Array(vec![])), format!("{path}.paths"))
        }
        _ => (v.clone(), path.to_string()),
    };
    let Some(items) = list.as_array() else {
        w.err(&list_path, "expected a list of {pathPrefix, readOnly}");
        return None;
    };
    let mut out = vec![];
    for (i, item) in items.iter().enumerate() {
        let p = format!("{list_path}[{i}]");
        let Some(m) = item.as_object() else {
            w.err(&p, "expected {pathPrefix, readOnly}");
            continue;
        };
        for k in m.keys().filter(|k| *k != "pathPrefix" && *k != "readOnly") {
            w.err(&format!("{p}.{k}"), "unknown key (expected pathPrefix, readOnly)");
        }
        let Some(prefix) = m.get("pathPrefix").and_then(Value::as_str).filter(|s| s.starts_with('/')) else {
            w.err(&format!("{p}.pathPrefix"), "required: an absolute path");
            continue;
        };
        let read_only = match m.get("readOnly") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                w.err(&format!("{p}.readOnly"), "expected true or false");
                false
            }
        };
        out.push(HostPathRule { path_prefix: prefix.to_string(), read_only });
    }
    Some(out)
}
