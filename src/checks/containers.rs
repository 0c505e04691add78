//! Container-level checks: limits (#4), registries (#5), escalation (#9), ports (#11), read-only root (#12), privileged (#18).

use super::{Finding, PodView};
use crate::config::Params;
use crate::quantity::Value;

/// #4: every container and init container has CPU and memory limits within the maximums.
pub fn resource_limits(pod: &PodView<'_>, p: &Params) -> Vec<Finding> {
    let mut out = vec![];
    for c in pod.containers.iter().filter(|c| c.kind != super::ContainerKind::Ephemeral) {
        let mut why = vec![];
        for (res, max, param) in [("cpu", &p.cpu_limit, "cpuLimit"), ("memory", &p.memory_limit, "memoryLimit")] {
            let value =
                c.resources.and_then(|r| r.limits.as_ref()).and_then(|l| l.get(res)).map(|q| q.0.as_str()).filter(|s| !s.trim().is_empty());
            let Some(value) = value else {
                why.push(format!("resources.limits.{res} is not set (at most {max} passes, parameter {param})"));
                continue;
            };
            match Value::parse(value) {
                Err(e) => why.push(format!("resources.limits.{res} {e}")),
                Ok(q) if q.is_negative() => why.push(format!("resources.limits.{res} {value} is negative")),
                Ok(q) if q > *max.value() => {
                    why.push(format!("resources.limits.{res} {value} exceeds the maximum {max} (parameter {param})"))
                }
                Ok(_) => {}
            }
        }
        if !why.is_empty() {
            out.push(Finding::container(c, why.join(", ")));
        }
    }
    out
}

/// #5: every image matches `allowedContainerImagesRegex` (unanchored search).
pub fn trusted_registries(pod: &PodView<'_>, p: &Params) -> Vec<Finding> {
    let Some(re) = &p.allowed_images else {
        return vec![];
    };
    pod.containers
        .iter()
        .filter(|c| !re.is_match(c.image))
        .map(|c| {
            Finding::container(
                c,
                format!("image {:?} is not from a trusted registry (allowedContainerImagesRegex {:?})", c.image, re.as_str()),
            )
        })
        .collect()
}

/// #9: `allowPrivilegeEscalation` must be explicitly false.
pub fn privilege_escalation(pod: &PodView<'_>, _: &Params) -> Vec<Finding> {
    pod.containers
        .iter()
        .filter_map(|c| match c.security_context.and_then(|s| s.allow_privilege_escalation) {
            Some(false) => None,
            Some(true) => Some(Finding::container(c, "securityContext.allowPrivilegeEscalation is true")),
            None => Some(Finding::container(c, "securityContext.allowPrivilegeEscalation is not set (defaults to true)")),
        })
        .collect()
}

/// #11: every `containerPort` is in `allowedContainerPortsList` (an empty list, Azure's `["-1"]`, allows none).
pub fn container_ports(pod: &PodView<'_>, p: &Params) -> Vec<Finding> {
    let Some(allowed) = &p.allowed_container_ports else {
        return vec![];
    };
    let mut out = vec![];
    for c in pod.containers {
        let bad: Vec<i64> = c.ports.iter().map(|port| port.container_port as i64).filter(|n| !allowed.contains(n)).collect();
        if !bad.is_empty() {
            out.push(Finding::container(c, ports_not_allowed("containerPort", &bad, allowed, "allowedContainerPortsList")));
        }
    }
    out
}

/// How many allowed ports a finding message lists.
const PORTS_SHOWN: usize = 10;

/// Why `bad` ports (of `field`) fail a port list `param` holding `allowed` (#11, #21).
pub fn ports_not_allowed(field: &str, bad: &[i64], allowed: &[i64], param: &str) -> String {
    let list = bad.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    if allowed.is_empty() {
        let verb = if bad.len() == 1 { "is" } else { "are" };
        format!("{field} {list} {verb} not allowed: {param} allows no port ([\"-1\"])")
    } else {
        let shown: Vec<String> = allowed.iter().take(PORTS_SHOWN).map(i64::to_string).collect();
        let more = if allowed.len() > PORTS_SHOWN { ", ..." } else { "" };
        format!("{field} {list} not in {param} [{}{more}]", shown.join(", "))
    }
}

/// #12: `readOnlyRootFilesystem` must be explicitly true.
pub fn readonly_root_filesystem(pod: &PodView<'_>, _: &Params) -> Vec<Finding> {
    pod.containers
        .iter()
        .filter_map(|c| match c.security_context.and_then(|s| s.read_only_root_filesystem) {
            Some(true) => None,
            Some(false) => Some(Finding::container(c, "securityContext.readOnlyRootFilesystem is false")),
            None => Some(Finding::container(c, "securityContext.readOnlyRootFilesystem is not set")),
        })
        .collect()
}

/// #18: no container is privileged.
pub fn privileged(pod: &PodView<'_>, _: &Params) -> Vec<Finding> {
    pod.containers
        .iter()
        .filter(|c| c.security_context.and_then(|s| s.privileged) == Some(true))
        .map(|c| Finding::container(c, "securityContext.privileged is true"))
        .collect()
}
