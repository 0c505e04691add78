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
    pod.containers.iter().filter_map(|c| untrusted_image(re, c.image).map(|why| Finding::container(c, why))).collect()
}

/// How many images' verdicts a thread remembers for #5 before it forgets them all.
const IMAGE_VERDICTS_CAP: usize = 4096;

/// #5's verdicts on the images seen, for one pattern: the Pods of a workload share their images,
/// so the operator's sync matches and formats each distinct image once, not once per Pod. Per
/// thread (the audit judges on several), bounded, and keyed by the pattern's text, so it can only
/// give what matching the image again would.
#[derive(Default)]
struct ImageVerdicts {
    pattern: String,
    by_image: hashbrown::HashMap<String, Option<std::sync::Arc<str>>>,
}

thread_local! {
    static IMAGE_VERDICTS: std::cell::RefCell<ImageVerdicts> = std::cell::RefCell::default();
}

/// Why `image` fails #5's pattern `re`, or `None` when it matches.
fn untrusted_image(re: &regex::Regex, image: &str) -> Option<std::sync::Arc<str>> {
    IMAGE_VERDICTS.with_borrow_mut(|memo| {
        if memo.pattern != re.as_str() || memo.by_image.len() >= IMAGE_VERDICTS_CAP {
            memo.pattern = re.as_str().to_string();
            memo.by_image.clear();
        }
        if let Some(verdict) = memo.by_image.get(image) {
            return verdict.clone();
        }
        let verdict = untrusted_image_uncached(re, image);
        memo.by_image.insert(image.to_string(), verdict.clone());
        verdict
    })
}

fn untrusted_image_uncached(re: &regex::Regex, image: &str) -> Option<std::sync::Arc<str>> {
    (!re.is_match(image))
        .then(|| format!("image {image:?} is not from a trusted registry (allowedContainerImagesRegex {:?})", re.as_str()).into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_image_verdicts_are_the_verdicts_of_matching_again() {
        let trusted = regex::Regex::new("^registry\\.example\\.com/").expect("regex");
        let other = regex::Regex::new("^docker\\.io/").expect("regex");
        let images = ["registry.example.com/a:1", "docker.io/library/nginx", "", "quay.io/\"x\"\n", "registry.example.com/a:1"];
        for _ in 0..2 {
            for re in [&trusted, &other, &trusted] {
                for image in images {
                    assert_eq!(untrusted_image(re, image), untrusted_image_uncached(re, image), "{image:?} under {re}");
                }
            }
        }
        assert!(untrusted_image(&trusted, "registry.example.com/a:1").is_none());
        let why = untrusted_image(&trusted, "docker.io/library/nginx").expect("untrusted");
        assert!(why.contains("\"docker.io/library/nginx\"") && why.contains("allowedContainerImagesRegex"), "{why}");
    }

    #[test]
    fn the_memory_of_image_verdicts_is_bounded() {
        let re = regex::Regex::new("^ok/").expect("regex");
        for i in 0..IMAGE_VERDICTS_CAP + 10 {
            let image = format!("bad/{i}");
            assert_eq!(untrusted_image(&re, &image), untrusted_image_uncached(&re, &image));
            assert!(IMAGE_VERDICTS.with_borrow(|m| m.by_image.len()) <= IMAGE_VERDICTS_CAP);
        }
    }
}
