//! Just enough of `/openapi/v3` for kubectl: every PATCH path declares `fieldValidation`, so kubectl leaves validation to the server.

use crate::kinds::{Registry, ResourceType};
use serde_json::{Map, Value, json};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

fn hash_of(types: &[&ResourceType]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for t in types {
        (&t.kind, &t.plural, t.namespaced, t.has_status, t.schema.as_ref().map(Value::to_string)).hash(&mut h);
    }
    format!("{:016X}", h.finish())
}

/// The `/openapi/v3` index: one entry per group version with a hash that changes when its resources do.
pub fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in reg.groups() {
        for v in versions {
            let types: Vec<&ResourceType> = reg.all().filter(|t| t.group == group && t.version == v).map(|t| t.as_ref()).collect();
            let p = gv_path(&group, &v);
            paths.insert(p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash_of(&types))}));
        }
    }
    json!({"paths": paths})
}

/// The document of one group version (`api/v1`, `apis/apps/v1`), or None when it is not served.
pub fn group_version(reg: &Registry, gv: &str, server_version: &str) -> Option<Value> {
    let (group, version) = match gv.strip_prefix("api/") {
        Some(v) => (String::new(), v.to_string()),
        None => {
            let rest = gv.strip_prefix("apis/")?;
            let (g, v) = rest.split_once('/')?;
            (g.to_string(), v.to_string())
        }
    };
    let types: Vec<_> = reg.all().filter(|t| t.group == group && t.version == version).collect();
    if types.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for t in types {
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}}
        ]);
        let schema_name = format!("{}.{}.{}", if t.group.is_empty() { "io.k8s.api.core" } else { &t.group }, t.version, t.kind);
        let reference = json!({"$ref": format!("#/components/schemas/{schema_name}")});
        let op = |action: &str| {
            json!({"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk, "parameters": params,
                   "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}}})
        };
        let base = format!("/{}", gv_path(&t.group, &t.version));
        let (collection, item) = if t.namespaced {
            (format!("{base}/namespaces/{{namespace}}/{}", t.plural), format!("{base}/namespaces/{{namespace}}/{}/{{name}}", t.plural))
        } else {
            (format!("{base}/{}", t.plural), format!("{base}/{}/{{name}}", t.plural))
        };
        paths.insert(collection, json!({"get": op("list"), "post": op("post")}));
        paths.insert(item.clone(), json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}));
        if t.has_status {
            paths.insert(format!("{item}/status"), json!({"get": op("get"), "put": op("put"), "patch": op("patch")}));
        }
        let mut schema = t.schema.clone().unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        schemas.insert(schema_name, schema);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": server_version},
        "paths": paths,
        "components": {"schemas": schemas}
    }))
}
