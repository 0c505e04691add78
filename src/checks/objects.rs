//! Checks on Services (#21) and Ingresses (#13).

use super::Finding;
use crate::config::Params;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;

/// #13: `spec.tls` set and `kubernetes.io/ingress.allow-http: "false"`.
pub fn https_only_ingress(ing: &Ingress, _: &Params) -> Vec<Finding> {
    let mut out = vec![];
    if ing.spec.as_ref().and_then(|s| s.tls.as_ref()).is_none_or(|t| t.is_empty()) {
        out.push(Finding::object("spec.tls is not set"));
    }
    let allow_http = ing.metadata.annotations.as_ref().and_then(|a| a.get("kubernetes.io/ingress.allow-http"));
    match allow_http.map(String::as_str) {
        Some("false") => {}
        Some(v) => out.push(Finding::object(format!("annotation kubernetes.io/ingress.allow-http is {v:?}, not \"false\""))),
        None => out.push(Finding::object("annotation kubernetes.io/ingress.allow-http: \"false\" is missing")),
    }
    out
}

/// True for the API server's own Service, which #21 skips.
pub fn is_api_service(svc: &Service) -> bool {
    svc.metadata.name.as_deref() == Some("kubernetes") && svc.metadata.namespace.as_deref().unwrap_or("default") == "default"
}

/// #21: every `spec.ports[].port` is in `allowedServicePortsList` (an empty list, Azure's `["-1"]`, allows none).
pub fn service_ports(svc: &Service, p: &Params) -> Vec<Finding> {
    let Some(allowed) = &p.allowed_service_ports else {
        return vec![];
    };
    let bad: Vec<i64> =
        svc.spec.iter().flat_map(|s| s.ports.iter().flatten()).map(|port| port.port as i64).filter(|n| !allowed.contains(n)).collect();
    if bad.is_empty() {
        vec![]
    } else {
        vec![Finding::object(super::containers::ports_not_allowed("port", &bad, allowed, "allowedServicePortsList"))]
    }
}
