//! Per-recommendation parameters: typed values, defaults and parsing of Azure's shapes.

use super::walk::Walk;
use crate::catalog::Recommendation;
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

impl Params {
    /// Every field at its "unset" value; the catalogue's defaults are applied on top (see `Default`).
    fn blank() -> Self {
        let any = |kind| IdRule { kind, ranges: vec![] };
        Params {
            cpu_limit: Quantity::from_nanos("0", 0),
            memory_limit: Quantity::from_nanos("0", 0),
            allowed_images: None,
            allowed_container_ports: None,
            allowed_capabilities: vec![],
            required_drop_capabilities: vec![],
            allowed_profiles: vec![],
            run_as_user: any(RuleKind::RunAsAny),
            run_as_group: any(RuleKind::RunAsAny),
            supplemental_groups: any(RuleKind::RunAsAny),
            fs_group: any(RuleKind::RunAsAny),
            allowed_service_ports: None,
            allow_host_network: false,
            min_port: 0,
            max_port: 0,
            allowed_host_paths: vec![],
            minimum_version: None,
            severities: vec![],
            ignore_unfixed: false,
        }
    }

    /// Whether a required parameter (`ParamSpec::required`) still has no value.
    fn unset(&self, name: &str) -> bool {
        match name {
            "allowedContainerImagesRegex" => self.allowed_images.is_none(),
            "allowedContainerPortsList" => self.allowed_container_ports.is_none(),
            "allowedServicePortsList" => self.allowed_service_ports.is_none(),
            _ => false,
        }
    }

    /// The first required parameter of `rec` that has no value, if any.
    pub fn missing_required(&self, rec: &Recommendation) -> Option<&'static str> {
        rec.parameters.iter().find(|p| p.required && self.unset(p.name)).map(|p| p.name)
    }

    /// Parses one parameter of `rec` at `path`; errors go to `w`. Each name sets its own field only.
    pub fn set(&mut self, rec: &Recommendation, name: &str, v: &Value, path: &str, w: &mut Walk) {
        if !rec.parameters.iter().any(|p| p.name == name) {
            let known: Vec<_> = rec.parameters.iter().map(|p| p.name).collect();
            w.err(
                path,
                format!("unknown parameter for {} (known: {})", rec.id, if known.is_empty() { "none".into() } else { known.join(", ") }),
            );
            return;
        }
        match name {
            "cpuLimit" => set_some(&mut self.cpu_limit, quantity(v, path, w)),
            "memoryLimit" => set_some(&mut self.memory_limit, quantity(v, path, w)),
            "allowedContainerImagesRegex" => set_some(&mut self.allowed_images, regex(v, path, w).map(Some)),
            "allowedContainerPortsList" => set_some(&mut self.allowed_container_ports, port_list(v, path, w).map(Some)),
            "allowedServicePortsList" => set_some(&mut self.allowed_service_ports, port_list(v, path, w).map(Some)),
            "allowedCapabilities" => set_some(&mut self.allowed_capabilities, capabilities(v, path, w)),
            "requiredDropCapabilities" => set_some(&mut self.required_drop_capabilities, capabilities(v, path, w)),
            "allowedProfiles" => set_some(&mut self.allowed_profiles, w.string_list(v, path)),
            "severities" => {
                set_some(&mut self.severities, w.string_list(v, path).map(|l| l.iter().map(|s| s.to_ascii_uppercase()).collect()))
            }
            "runAsUserRule" => set_some(&mut self.run_as_user.kind, rule(v, path, w, true)),
            "runAsGroupRule" => set_some(&mut self.run_as_group.kind, rule(v, path, w, false)),
            "supplementalGroupsRule" => set_some(&mut self.supplemental_groups.kind, rule(v, path, w, false)),
            "fsGroupRule" => set_some(&mut self.fs_group.kind, rule(v, path, w, false)),
            "runAsUserRanges" => set_some(&mut self.run_as_user.ranges, ranges(v, path, w)),
            "runAsGroupRanges" => set_some(&mut self.run_as_group.ranges, ranges(v, path, w)),
            "supplementalGroupsRanges" => set_some(&mut self.supplemental_groups.ranges, ranges(v, path, w)),
            "fsGroupRanges" => set_some(&mut self.fs_group.ranges, ranges(v, path, w)),
            "allowHostNetwork" => set_some(&mut self.allow_host_network, boolean(v, path, w)),
            "ignoreUnfixed" => set_some(&mut self.ignore_unfixed, boolean(v, path, w)),
            "minPort" => set_some(&mut self.min_port, port_number(v, path, w)),
            "maxPort" => set_some(&mut self.max_port, port_number(v, path, w)),
            "allowedHostPaths" => set_some(&mut self.allowed_host_paths, host_paths(v, path, w)),
            "minimumVersion" => set_some(&mut self.minimum_version, version(v, path, w).map(Some)),
            other => w.err(path, format!("parameter {other} of {} has no field to hold it (a catalogue row without its setter)", rec.id)),
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
}

/// The catalogue's defaults (`ParamSpec::default`), parsed once: the one source of default values.
static DEFAULTS: std::sync::LazyLock<Params> = std::sync::LazyLock::new(|| {
    let mut p = Params::blank();
    let mut w = Walk::default();
    for rec in &crate::catalog::CATALOG {
        for spec in rec.parameters {
            if let Some(v) = spec.default.and_then(|d| serde_json::from_str::<Value>(d).ok()) {
                p.set(rec, spec.name, &v, spec.name, &mut w);
            }
        }
    }
    p
});

impl Default for Params {
    /// Every parameter at the catalogue's default (required ones unset).
    fn default() -> Self {
        DEFAULTS.clone()
    }
}

fn set_some<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

fn quantity(v: &Value, path: &str, w: &mut Walk) -> Option<Quantity> {
    let q = w.string(v, path).and_then(|s| Quantity::parse(&s).map_err(|e| w.err(path, e.to_string())).ok())?;
    if q.is_negative() {
        w.err(path, "must not be negative");
        return None;
    }
    Some(q)
}

fn regex(v: &Value, path: &str, w: &mut Walk) -> Option<Regex> {
    let s = w.string(v, path)?;
    Regex::new(&s).map_err(|e| w.err(path, format!("invalid regular expression: {e}"))).ok()
}

fn capabilities(v: &Value, path: &str, w: &mut Walk) -> Option<Vec<String>> {
    w.string_list(v, path).map(|l| l.iter().map(|c| normalize_capability(c)).collect())
}

fn rule(v: &Value, path: &str, w: &mut Walk, run_as_user: bool) -> Option<RuleKind> {
    let s = w.string(v, path)?;
    match s.as_str() {
        "MustRunAsNonRoot" if run_as_user => Some(RuleKind::MustRunAsNonRoot),
        "MustRunAs" => Some(RuleKind::MustRunAs),
        "MayRunAs" if !run_as_user => Some(RuleKind::MayRunAs),
        "RunAsAny" => Some(RuleKind::RunAsAny),
        _ => {
            w.err(path, format!("{s:?} is not a valid rule here (runAsUserRule: MustRunAsNonRoot, MustRunAs, RunAsAny; others: MustRunAs, MayRunAs, RunAsAny)"));
            None
        }
    }
}

fn boolean(v: &Value, path: &str, w: &mut Walk) -> Option<bool> {
    let b = v.as_bool();
    if b.is_none() {
        w.err(path, "expected true or false");
    }
    b
}

fn port_number(v: &Value, path: &str, w: &mut Walk) -> Option<i64> {
    match int(v) {
        Some(n) if (0..=65535).contains(&n) => Some(n),
        Some(_) => {
            w.err(path, "must be a port number between 0 and 65535");
            None
        }
        None => {
            w.err(path, "expected an integer");
            None
        }
    }
}

fn version(v: &Value, path: &str, w: &mut Walk) -> Option<Version> {
    let s = w.string(v, path)?;
    let parsed = Version::parse(&s);
    if parsed.is_none() {
        w.err(path, format!("{s:?} is not a Kubernetes version such as 1.28.0"));
    }
    parsed
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CATALOG;

    #[test]
    fn every_catalogue_parameter_has_its_own_field_and_its_default_parses() {
        for rec in &CATALOG {
            for spec in rec.parameters {
                let mut w = Walk::default();
                let v = match spec.default {
                    Some(d) => serde_json::from_str(d).expect("default is JSON"),
                    None => Value::Null,
                };
                let mut p = Params::blank();
                p.set(rec, spec.name, &v, spec.name, &mut w);
                let unhandled = w.errors.iter().any(|e| e.message.contains("has no field"));
                assert!(!unhandled, "{}.{} has no setter", rec.id, spec.name);
                if spec.default.is_some() {
                    assert!(w.errors.is_empty(), "{}.{}: {:?}", rec.id, spec.name, w.errors);
                }
            }
        }
    }

    #[test]
    fn defaults_come_from_the_catalogue_and_required_parameters_start_unset() {
        let p = Params::default();
        assert_eq!(p.allowed_profiles, ["runtime/default"]);
        assert_eq!(p.severities, ["CRITICAL", "HIGH"]);
        assert!(p.ignore_unfixed);
        assert_eq!(p.run_as_user.kind, RuleKind::MustRunAsNonRoot);
        assert_eq!(p.run_as_group, IdRule { kind: RuleKind::MustRunAs, ranges: vec![(1, -1)] });
        assert_eq!(p.cpu_limit, Quantity::parse("32").expect("q"));
        for rec in &CATALOG {
            for spec in rec.parameters.iter().filter(|s| s.required) {
                assert!(p.unset(spec.name), "required {}.{} must start unset and be checked by `unset`", rec.id, spec.name);
            }
        }
    }

    #[test]
    fn a_parameter_sets_only_its_own_field() {
        let rec = crate::catalog::by_id("container-allowed-ports").expect("row");
        let mut p = Params::default();
        let mut w = Walk::default();
        p.set(rec, "allowedContainerPortsList", &serde_json::json!(["443"]), "x", &mut w);
        assert_eq!(p.allowed_container_ports, Some(vec![443]));
        assert_eq!(p.allowed_service_ports, None, "the Service port list is another recommendation's");
    }
}
