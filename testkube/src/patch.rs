//! PATCH requests: merge and strategic merge (treated as merge), JSON patch with `test`, and
//! server-side apply with per-manager ownership, conflicts and `force`.

use crate::error::ApiError;
use crate::fields;
use crate::request::{Req, parse_body};
use crate::store::{State, WriteCtx, Written, kind_group};
use serde_json::{Value, json};

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// PATCH: merge, strategic merge (as merge), JSON patch, or server-side apply.
pub(crate) fn patch(st: &mut State, req: &Req) -> Result<(Written, u16), ApiError> {
    let name = req.name.as_deref().ok_or_else(|| ApiError::new(405, "MethodNotAllowed", "PATCH needs an object name"))?;
    let ns = req.ns_str().to_string();
    let ct = req.content_type().split(';').next().unwrap_or_default().trim().to_string();
    if ct == "application/apply-patch+yaml" {
        return apply(st, req, name, &ns);
    }
    let mut current = st.get_or_404(&req.t, &ns, name)?.value();
    match ct.as_str() {
        "application/json-patch+json" => {
            let p: json_patch::Patch =
                serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut current, &p).map_err(|e| ApiError::invalid(&kind_group(&req.t), name, e.to_string()))?;
        }
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let p = parse_body(&req.body)?;
            json_patch::merge(&mut current, &p);
            strip_directives(&mut current);
        }
        other => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
                ),
            ));
        }
    }
    st.replace(&req.t, &ns, name, current, &req.ctx("Update"), None).map(|w| (w, 200))
}

fn apply(st: &mut State, req: &Req, name: &str, ns: &str) -> Result<(Written, u16), ApiError> {
    let manager = req
        .q
        .get("fieldManager")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("PATCH /apply: fieldManager is required for apply requests"))?;
    let force = req.q.get("force").is_some_and(|f| f == "true");
    let body = parse_body(&req.body)?;
    if body.pointer("/metadata/name").and_then(Value::as_str).is_some_and(|n| n != name) {
        return Err(ApiError::bad_request("the name of the object does not match the name on the URL"));
    }
    let mut config = body.clone();
    if let Some(m) = config.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        if req.status {
            m.retain(|k, _| k == "status");
        } else if req.t.has_status {
            m.remove("status");
        }
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["name", "namespace", "resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"] {
                meta.remove(k);
            }
            if meta.is_empty() {
                m.remove("metadata");
            }
        }
    }
    let key = if req.status { format!("{manager}/status") } else { manager.clone() };
    let ctx = WriteCtx { manager: Some(manager), ..req.ctx("Apply") };
    let Some(stored) = st.get(&req.t.group_resource(), ns, name) else {
        if req.status {
            return Err(ApiError::not_found(&req.t.qualified(), name));
        }
        let mut obj = config.clone();
        obj["apiVersion"] = json!(req.t.api_version());
        obj["kind"] = json!(req.t.kind);
        obj["metadata"]["name"] = json!(name);
        let applied = [(key, config)].into_iter().collect();
        return st.create_with(&req.t, req.ns.as_deref(), &mut obj, &ctx, applied).map(|w| (w, 201));
    };
    let current = stored.value();
    let (merged, applied) = fields::apply(&current, &key, &config, &stored.applied, force).map_err(|conflicts| {
        let list: Vec<String> = conflicts.iter().map(|c| format!("conflict with \"{}\": .{}", c.manager, c.path)).collect();
        ApiError::new(
            409,
            "Conflict",
            format!("Apply failed with {} conflict{}: {}", conflicts.len(), if conflicts.len() == 1 { "" } else { "s" }, list.join("\n")),
        )
    })?;
    st.replace(&req.t, ns, name, merged, &ctx, Some(applied)).map(|w| (w, 200))
}
