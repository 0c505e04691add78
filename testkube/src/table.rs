//! `as=Table` answers for kubectl: column definitions and cells from printer columns.

use crate::kinds::ResourceType;
use serde_json::{Value, json};

/// Evaluates a simple JSONPath (`.a.b`, `.a[0].b`, `.a[*].b`, optionally in braces) against a value.
pub fn json_path(v: &Value, path: &str) -> Vec<Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut current = vec![v.clone()];
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, Some(rest.trim_end_matches(']'))),
            None => (seg, None),
        };
        let mut next = Vec::new();
        for c in current {
            let Some(child) = (if name.is_empty() { Some(c) } else { c.get(name).cloned() }) else { continue };
            match index {
                None => next.push(child),
                Some("*") => next.extend(child.as_array().cloned().unwrap_or_default()),
                Some(i) => {
                    if let Some(item) = i.parse::<usize>().ok().and_then(|i| child.get(i).cloned()) {
                        next.push(item);
                    }
                }
            }
        }
        current = next;
    }
    current
}

/// kubectl's short age format ("45s", "3m12s", "5h", "12d").
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match () {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 => format!("{m}m{}s", s % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 => format!("{d}d{}h", h % 24),
        _ if d < 730 => format!("{d}d"),
        _ => format!("{}y{}d", d / 365, d % 365),
    }
}

fn age(ts: &str) -> Value {
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => json!(human_duration(jiff::Timestamp::now().as_second() - t.as_second())),
        Err(_) => json!("<unknown>"),
    }
}

fn builtin_cell(obj: &Value, func: &str) -> Value {
    let arr = |p: &str| obj.pointer(p).and_then(Value::as_array).cloned().unwrap_or_default();
    let int = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    match func {
        "pod-ready" => {
            let statuses = arr("/status/containerStatuses");
            let ready = statuses.iter().filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true)).count();
            json!(format!("{ready}/{}", arr("/spec/containers").len()))
        }
        "pod-status" => json!(
            obj.pointer("/metadata/deletionTimestamp")
                .map(|_| "Terminating")
                .or_else(|| obj.pointer("/status/phase").and_then(Value::as_str))
                .unwrap_or("Pending")
        ),
        "pod-restarts" => {
            json!(arr("/status/containerStatuses").iter().filter_map(|c| c.get("restartCount").and_then(Value::as_i64)).sum::<i64>())
        }
        "svc-ports" => {
            let ports: Vec<String> = arr("/spec/ports")
                .iter()
                .map(|p| {
                    format!(
                        "{}/{}",
                        p.get("port").and_then(Value::as_i64).unwrap_or(0),
                        p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                    )
                })
                .collect();
            json!(if ports.is_empty() { "<none>".to_string() } else { ports.join(",") })
        }
        "node-status" => {
            let ready = arr("/status/conditions")
                .iter()
                .any(|c| c.get("type").and_then(Value::as_str) == Some("Ready") && c.get("status").and_then(Value::as_str) == Some("True"));
            json!(if ready { "Ready" } else { "NotReady" })
        }
        "ready-replicas" => {
            json!(format!("{}/{}", int("/status/readyReplicas"), obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)))
        }
        "job-completions" => {
            json!(format!("{}/{}", int("/status/succeeded"), obj.pointer("/spec/completions").and_then(Value::as_i64).unwrap_or(1)))
        }
        _ => Value::Null,
    }
}

fn cell(obj: &Value, kind: &str, path: &str) -> Value {
    if !path.starts_with('.') && !path.starts_with('{') {
        return builtin_cell(obj, path);
    }
    let found = json_path(obj, path);
    let Some(first) = found.first() else { return Value::Null };
    match kind {
        "date" => first.as_str().map(age).unwrap_or(Value::Null),
        "integer" | "number" | "boolean" if found.len() == 1 => first.clone(),
        _ => {
            let parts: Vec<String> = found.iter().map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).collect();
            json!(parts.join(","))
        }
    }
}

/// An object reduced to its metadata, as `meta.k8s.io/v1` PartialObjectMetadata.
pub fn partial_object_metadata(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))})
}

/// The JSON of an object reduced to its metadata (see [`partial_object_metadata`]).
pub fn partial_object_metadata_json(object: &[u8]) -> Vec<u8> {
    let o: Value = serde_json::from_slice(object).unwrap_or_default();
    serde_json::to_vec(&partial_object_metadata(&o)).unwrap_or_default()
}

/// A `meta.k8s.io/v1` Table of the given objects; `full_objects` embeds whole objects instead of their metadata.
pub fn table(t: &ResourceType, objects: &[Value], rv: u64, continue_token: Option<&str>, full_objects: bool) -> Value {
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for c in &t.columns {
        let (ty, format) = if c.kind == "date" { ("string", "date") } else { (c.kind.as_str(), "") };
        defs.push(json!({"name": c.name, "type": ty, "format": format, "description": c.description, "priority": c.priority}));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cells = vec![o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
            cells.extend(t.columns.iter().map(|c| cell(o, &c.kind, &c.path)));
            let object = if full_objects { o.clone() } else { partial_object_metadata(o) };
            json!({"cells": cells, "object": object})
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_walks_fields_indexes_and_wildcards() {
        let v = json!({"a": {"b": [{"c": 1}, {"c": 2}]}});
        assert_eq!(json_path(&v, ".a.b[1].c"), vec![json!(2)]);
        assert_eq!(json_path(&v, "{.a.b[*].c}"), vec![json!(1), json!(2)]);
        assert!(json_path(&v, ".a.x").is_empty());
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(3 * 60 + 12), "3m12s");
        assert_eq!(human_duration(5 * 3600), "5h0m");
        assert_eq!(human_duration(12 * 86400), "12d");
    }
}
