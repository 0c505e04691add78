//! Host access: host namespaces (#10), host network and ports (#22), hostPath volumes (#23).

use super::{Finding, PodView};
use crate::config::Params;
use crate::config::params::HostPathRule;

/// #10: no hostPID, no hostIPC.
pub fn host_namespaces(pod: &PodView<'_>, _: &Params) -> Vec<Finding> {
    let mut out = vec![];
    if pod.facts.host_pid {
        out.push(Finding::object("spec.hostPID is true"));
    }
    if pod.facts.host_ipc {
        out.push(Finding::object("spec.hostIPC is true"));
    }
    out
}

/// #22: hostNetwork only when allowed; every hostPort within [minPort, maxPort].
pub fn host_network_ports(pod: &PodView<'_>, p: &Params) -> Vec<Finding> {
    let host_network = pod.facts.host_network;
    let mut out = vec![];
    if host_network && !p.allow_host_network {
        out.push(Finding::object("spec.hostNetwork is true (allowed only with parameter allowHostNetwork: true)"));
    }
    for c in pod.containers {
        let bad: Vec<String> = c
            .ports
            .iter()
            .filter_map(|port| match port.host_port {
                Some(hp) if hp != 0 => Some(hp),
                // The API server defaults hostPort to containerPort under hostNetwork.
                _ if host_network => Some(port.container_port),
                _ => None,
            })
            .filter(|hp| (*hp as i64) < p.min_port || (*hp as i64) > p.max_port)
            .map(|hp| hp.to_string())
            .collect();
        if !bad.is_empty() {
            out.push(Finding::container(
                c,
                format_args!(
                    "hostPort {} outside the allowed range {}-{} (parameters minPort and maxPort)",
                    bad.join(", "),
                    p.min_port,
                    p.max_port
                ),
            ));
        }
    }
    out
}

fn trim_slash(s: &str) -> &str {
    let t = s.trim_end_matches('/');
    if t.is_empty() { "/" } else { t }
}

/// True when `path` lies under `prefix` by whole segments.
pub fn path_matches(prefix: &str, path: &str) -> bool {
    let (prefix, path) = (trim_slash(prefix), trim_slash(path));
    prefix == "/" || path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

/// #23: every hostPath volume matches an allowed prefix, mounted read-only where every matching entry says so.
pub fn hostpath_volumes(pod: &PodView<'_>, p: &Params) -> Vec<Finding> {
    let mut out = vec![];
    for v in &pod.facts.host_paths {
        let matching: Vec<&HostPathRule> = p.allowed_host_paths.iter().filter(|r| path_matches(&r.path_prefix, v.path)).collect();
        if matching.is_empty() {
            out.push(Finding::object(format!("volume {}: hostPath {:?} is not in allowedHostPaths", v.volume, v.path)));
            continue;
        }
        if matching.iter().all(|r| r.read_only) {
            for c in pod.containers {
                for m in c.volume_mounts.iter().filter(|m| m.name == v.volume && m.read_only != Some(true)) {
                    out.push(Finding::container(
                        c,
                        format!(
                            "mounts hostPath volume {} at {} without readOnly: true (its allowedHostPaths entry is read-only)",
                            v.volume, m.mount_path
                        ),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::path_matches;

    #[test]
    fn segment_matching() {
        assert!(path_matches("/foo", "/foo"));
        assert!(path_matches("/foo", "/foo/"));
        assert!(path_matches("/foo/", "/foo/bar"));
        assert!(!path_matches("/foo", "/fool"));
        assert!(path_matches("/", "/anything/at/all"));
        assert!(!path_matches("/foo/bar", "/foo"));
    }
}
