//! Linux security settings: capabilities (#16), AppArmor (#17), user and group ids (#20).

use super::{ContainerRef, Finding, PodView};
use crate::config::Params;
use crate::config::params::{IdRule, RuleKind, normalize_capability};
use k8s_openapi::api::core::v1::AppArmorProfile;
use std::borrow::Cow;

/// #16: added capabilities must be allowed; required ones must be dropped (`ALL` drops everything).
pub fn capabilities(pod: &PodView<'_>, p: &Params) -> Vec<Finding> {
    let any_allowed = p.allowed_capabilities.iter().any(|c| c == "*");
    let mut out = vec![];
    for c in pod.containers {
        let caps = c.security_context.and_then(|s| s.capabilities.as_ref());
        let added: Vec<String> = caps.and_then(|c| c.add.as_ref()).into_iter().flatten().map(|s| normalize_capability(s)).collect();
        let dropped: Vec<String> = caps.and_then(|c| c.drop.as_ref()).into_iter().flatten().map(|s| normalize_capability(s)).collect();
        let bad_add: Vec<&str> =
            if any_allowed { vec![] } else { added.iter().filter(|a| !p.allowed_capabilities.contains(a)).map(String::as_str).collect() };
        let drops_all = dropped.iter().any(|d| d == "ALL");
        let missing: Vec<&str> =
            p.required_drop_capabilities.iter().filter(|r| !drops_all && !dropped.contains(r)).map(String::as_str).collect();
        let mut why = vec![];
        if !bad_add.is_empty() {
            why.push(format!(
                "adds capabilities not allowed: {} (parameter allowedCapabilities: [{}])",
                bad_add.join(", "),
                p.allowed_capabilities.join(", ")
            ));
        }
        if !missing.is_empty() {
            why.push(format!(
                "does not drop required capabilities: {} (parameter requiredDropCapabilities; drop ALL passes)",
                missing.join(", ")
            ));
        }
        if !why.is_empty() {
            out.push(Finding::container(c, why.join("; ")));
        }
    }
    out
}

fn profile_name(p: &AppArmorProfile) -> Cow<'_, str> {
    match p.type_.as_str() {
        "RuntimeDefault" => "runtime/default".into(),
        "Unconfined" => "unconfined".into(),
        "Localhost" => format!("localhost/{}", p.localhost_profile.as_deref().unwrap_or("")).into(),
        other => other.into(),
    }
}

const APPARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/";

/// The effective profile of a container: its field, else the annotation, else the Pod field, else runtime/default.
pub fn effective_apparmor<'a>(pod: &PodView<'a>, c: &ContainerRef<'a>) -> (Cow<'a, str>, &'static str) {
    if let Some(p) = c.security_context.and_then(|s| s.app_armor_profile.as_ref()) {
        return (profile_name(p), "securityContext.appArmorProfile");
    }
    let annotation = pod.facts.annotations.and_then(|a| a.iter().find(|(k, _)| k.strip_prefix(APPARMOR_ANNOTATION) == Some(c.name)));
    if let Some((_, v)) = annotation {
        return (v.trim().into(), "annotation");
    }
    if let Some(p) = pod.facts.security_context.and_then(|s| s.app_armor_profile.as_ref()) {
        return (profile_name(p), "spec.securityContext.appArmorProfile");
    }
    ("runtime/default".into(), "default")
}

/// #17: the effective AppArmor profile of every container is in `allowedProfiles`.
pub fn apparmor(pod: &PodView<'_>, p: &Params) -> Vec<Finding> {
    let allowed =
        |profile: &str| p.allowed_profiles.iter().any(|a| a == profile || (a == "localhost/*" && profile.starts_with("localhost/")));
    pod.containers
        .iter()
        .filter_map(|c| {
            let (profile, from) = effective_apparmor(pod, c);
            (!allowed(&profile)).then(|| {
                Finding::container(
                    c,
                    format_args!(
                        "AppArmor profile {profile:?} (from {from}) is not in allowedProfiles [{}]",
                        p.allowed_profiles.join(", ")
                    ),
                )
            })
        })
        .collect()
}

fn range_text(rule: &IdRule) -> String {
    let r: Vec<String> = rule.ranges.iter().map(|(a, b)| if *b < 0 { format!("{a}+") } else { format!("{a}-{b}") }).collect();
    if r.is_empty() { "none".into() } else { r.join(", ") }
}

/// `field` judged by `rule`; `param` is the name of the rule's ranges parameter (`runAsGroupRanges`).
fn check_id(field: &str, value: Option<i64>, rule: &IdRule, param: &str) -> Option<String> {
    match (rule.kind, value) {
        (RuleKind::RunAsAny, _) | (RuleKind::MayRunAs, None) | (RuleKind::MustRunAsNonRoot, _) => None,
        (RuleKind::MustRunAs, None) => Some(format!("{field} is not set (must be in {}, parameter {param})", range_text(rule))),
        (_, Some(v)) if !rule.in_range(v) => {
            Some(format!("{field} {v} is outside the allowed ranges {} (parameter {param})", range_text(rule)))
        }
        _ => None,
    }
}

/// #20: runAsUser, runAsGroup (container over Pod), supplementalGroups and fsGroup (Pod) follow their rules.
pub fn run_as_non_root(pod: &PodView<'_>, p: &Params) -> Vec<Finding> {
    let psc = pod.facts.security_context;
    let mut out = vec![];
    for c in pod.containers {
        let sc = c.security_context;
        let user = sc.and_then(|s| s.run_as_user).or_else(|| psc.and_then(|s| s.run_as_user));
        let non_root = sc.and_then(|s| s.run_as_non_root).or_else(|| psc.and_then(|s| s.run_as_non_root));
        let group = sc.and_then(|s| s.run_as_group).or_else(|| psc.and_then(|s| s.run_as_group));
        let mut why = vec![];
        if p.run_as_user.kind == RuleKind::MustRunAsNonRoot {
            match (user, non_root) {
                (Some(0), _) => why.push("runAsUser is 0 (root), and runAsUserRule MustRunAsNonRoot needs a non-zero one".to_string()),
                (None, Some(true)) | (Some(_), _) => {}
                (None, _) => why.push(
                    "runAsNonRoot is not true and runAsUser is not set (runAsUserRule MustRunAsNonRoot needs runAsNonRoot: true or a non-zero runAsUser)"
                        .to_string(),
                ),
            }
        } else if let Some(m) = check_id("runAsUser", user, &p.run_as_user, "runAsUserRanges") {
            why.push(m);
        }
        if let Some(m) = check_id("runAsGroup", group, &p.run_as_group, "runAsGroupRanges") {
            why.push(m);
        }
        if !why.is_empty() {
            out.push(Finding::container(c, why.join("; ")));
        }
    }
    let groups = psc.and_then(|s| s.supplemental_groups.as_ref()).filter(|g| !g.is_empty());
    match (p.supplemental_groups.kind, groups) {
        (RuleKind::MustRunAs, None) => out.push(Finding::object(format!(
            "spec.securityContext.supplementalGroups is not set (must be in {}, parameter supplementalGroupsRanges)",
            range_text(&p.supplemental_groups)
        ))),
        (RuleKind::MustRunAs | RuleKind::MayRunAs, Some(gs)) => {
            let bad: Vec<String> = gs.iter().filter(|g| !p.supplemental_groups.in_range(**g)).map(|g| g.to_string()).collect();
            if !bad.is_empty() {
                out.push(Finding::object(format!(
                    "spec.securityContext.supplementalGroups {} outside the allowed ranges {} (parameter supplementalGroupsRanges)",
                    bad.join(", "),
                    range_text(&p.supplemental_groups)
                )));
            }
        }
        _ => {}
    }
    if let Some(m) = check_id("spec.securityContext.fsGroup", psc.and_then(|s| s.fs_group), &p.fs_group, "fsGroupRanges") {
        out.push(Finding::object(m));
    }
    out
}
