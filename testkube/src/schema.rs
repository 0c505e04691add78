//! Custom resources against their CRD's structural schema: pruning of undeclared fields and basic validation.

use serde_json::Value;

fn preserves(s: &Value) -> bool {
    s.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true)
}

fn reserved(k: &str) -> bool {
    matches!(k, "apiVersion" | "kind" | "metadata")
}

/// Removes fields the schema does not declare; returns their dotted paths, sorted.
pub fn prune(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(m) = obj.as_object_mut() {
        let props = schema.get("properties").and_then(Value::as_object);
        let keep_unknown = preserves(schema);
        m.retain(|k, _| {
            let keep = reserved(k) || keep_unknown || props.is_some_and(|p| p.contains_key(k));
            if !keep {
                out.push(k.clone());
            }
            keep
        });
        for (k, v) in m.iter_mut().filter(|(k, _)| !reserved(k)) {
            if let Some(sub) = props.and_then(|p| p.get(k)) {
                prune_at(v, sub, k, &mut out);
            }
        }
    }
    out.sort();
    out
}

fn prune_at(v: &mut Value, s: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties");
            let additional_schema = additional.filter(|a| a.is_object());
            let keep_unknown = additional.and_then(Value::as_bool) == Some(true) || preserves(s) || additional_schema.is_some();
            let embedded = s.get("x-kubernetes-embedded-resource").and_then(Value::as_bool) == Some(true);
            let skip = |k: &str| embedded && reserved(k);
            m.retain(|k, _| {
                let keep = skip(k) || keep_unknown || props.is_some_and(|p| p.contains_key(k));
                if !keep {
                    out.push(format!("{path}.{k}"));
                }
                keep
            });
            for (k, child) in m.iter_mut().filter(|(k, _)| !skip(k)) {
                if let Some(sub) = props.and_then(|p| p.get(k)).or(additional_schema) {
                    prune_at(child, sub, &format!("{path}.{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = s.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_at(item, sub, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Type, required, enum, length, item-count and range errors, one line each, in Kubernetes' wording.
pub fn validate(obj: &Value, schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(m), Some(props)) = (obj.as_object(), schema.get("properties").and_then(Value::as_object)) {
        for (k, sub) in props {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(v) = m.get(k) {
                validate_at(v, sub, k, &mut out);
            }
        }
        required(m, schema, "", &mut out);
    }
    out
}

fn required(m: &serde_json::Map<String, Value>, s: &Value, path: &str, out: &mut Vec<String>) {
    for r in s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if !m.contains_key(r) {
            let p = if path.is_empty() { r.to_string() } else { format!("{path}.{r}") };
            out.push(format!("{p}: Required value"));
        }
    }
}

fn type_ok(v: &Value, ty: &str, s: &Value) -> bool {
    if s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        return v.is_i64() || v.is_u64() || v.is_string();
    }
    match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        _ => true,
    }
}

fn validate_at(v: &Value, s: &Value, path: &str, out: &mut Vec<String>) {
    if v.is_null() {
        if s.get("nullable").and_then(Value::as_bool) != Some(true) && s.get("type").is_some() {
            out.push(format!(
                "{path}: Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                s["type"].as_str().unwrap_or("object")
            ));
        }
        return;
    }
    if let Some(ty) = s.get("type").and_then(Value::as_str)
        && !type_ok(v, ty, s)
    {
        out.push(format!("{path}: Invalid value: {v}: {path} in body must be of type {ty}"));
        return;
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        out.push(format!("{path}: Unsupported value: {v}: supported values: {}", list.join(", ")));
    }
    if let (Some(max), Some(text)) = (s.get("maxLength").and_then(Value::as_u64), v.as_str())
        && text.chars().count() as u64 > max
    {
        out.push(format!("{path}: Too long: may not be more than {max} bytes"));
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            out.push(format!("{path}: Invalid value: {v}: {path} in body should be greater than or equal to {min}"));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            out.push(format!("{path}: Invalid value: {v}: {path} in body should be less than or equal to {max}"));
        }
    }
    match v {
        Value::Object(m) => {
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in m {
                let sub = props.and_then(|p| p.get(k)).or(additional);
                if let Some(sub) = sub {
                    validate_at(child, sub, &format!("{path}.{k}"), out);
                }
            }
            required(m, s, path, out);
        }
        Value::Array(items) => {
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                out.push(format!("{path}: Too many: {}: must have at most {max} items", items.len()));
            }
            if let Some(sub) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_at(item, sub, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 0}, "mode": {"type": "string", "enum": ["a", "b"]}},
                     "required": ["size"]},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}
        }})
    }

    #[test]
    fn undeclared_fields_are_pruned_and_reported() {
        let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"size": 1, "extra": true},
                             "status": {"anything": 1}, "labels": {"k": "v"}, "top": 1});
        let pruned = prune(&mut obj, &schema());
        assert_eq!(pruned, vec!["spec.extra".to_string(), "top".to_string()]);
        assert_eq!(obj["status"]["anything"], 1);
        assert_eq!(obj["labels"]["k"], "v");
        assert!(obj["metadata"]["name"].is_string());
    }

    #[test]
    fn validation_reports_type_enum_required_and_range() {
        let obj = json!({"spec": {"size": -1, "mode": "c"}, "labels": {"k": 1}});
        let errs = validate(&obj, &schema());
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("spec.mode: Unsupported value")));
        let missing = validate(&json!({"spec": {}}), &schema());
        assert_eq!(missing, vec!["spec.size: Required value".to_string()]);
    }
}
