//! Writes on the store: create, replace (PUT, patches, apply), delete; subresource rules, preconditions,
//! generation, managedFields, finalizers, namespace cascade, and CRD schema pruning.

use crate::ctx::{WriteCtx, Written, kind_group};
use crate::error::ApiError;
use crate::fields;
use crate::kinds::ResourceType;
use crate::schema;
use crate::store::{EventType, State, now_rfc3339};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// The parts of an object that count as its spec for `metadata.generation`.
fn spec_part(v: &Value) -> Map<String, Value> {
    let mut m = v.as_object().cloned().unwrap_or_default();
    for k in ["metadata", "status", "apiVersion", "kind"] {
        m.remove(k);
    }
    m
}

/// The object without the fields every write changes, for no-op detection.
fn comparable(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    c
}

impl State {
    fn check_namespace(&self, t: &ResourceType, ns: &str) -> Result<(), ApiError> {
        if !t.namespaced {
            return Ok(());
        }
        match self.namespace_phase(ns) {
            None => Err(ApiError::not_found("namespaces", ns)),
            Some(true) => Err(ApiError::new(
                403,
                "Forbidden",
                format!("{} is forbidden: unable to create new content in namespace {ns} because it is being terminated", t.qualified()),
            )),
            Some(false) => Ok(()),
        }
    }

    fn managed_entry(&self, t: &ResourceType, ctx: &WriteCtx, obj: &Value) -> Option<Value> {
        let manager = ctx.manager.as_ref()?;
        let scoped =
            if ctx.status { json!({"status": obj.get("status").cloned().unwrap_or(Value::Null)}) } else { strip_for_fields(obj, t) };
        let mut entry = json!({
            "manager": manager, "operation": ctx.operation, "apiVersion": t.api_version(),
            "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": fields::field_set(&scoped),
        });
        if ctx.status {
            entry["subresource"] = json!("status");
        }
        Some(entry)
    }

    fn set_managed(&self, t: &ResourceType, ctx: &WriteCtx, obj: &mut Value, fields_of: &Value) {
        let Some(entry) = self.managed_entry(t, ctx, fields_of) else { return };
        let list = obj["metadata"].as_object_mut().map(|m| m.entry("managedFields").or_insert_with(|| json!([])));
        if let Some(Value::Array(entries)) = list {
            entries.retain(|e| {
                !(e.get("manager") == entry.get("manager")
                    && e.get("operation") == entry.get("operation")
                    && e.get("subresource") == entry.get("subresource"))
            });
            entries.push(entry);
        }
    }

    /// Creates an object (POST, or server-side apply of a missing object).
    pub fn create(&mut self, t: &ResourceType, path_ns: Option<&str>, mut obj: Value, ctx: &WriteCtx) -> Result<Written, ApiError> {
        self.create_with(t, path_ns, &mut obj, ctx, BTreeMap::new())
    }

    /// Creates an object, keeping the given server-side-apply configurations.
    pub fn create_with(
        &mut self,
        t: &ResourceType,
        path_ns: Option<&str>,
        obj: &mut Value,
        ctx: &WriteCtx,
        applied: BTreeMap<String, Value>,
    ) -> Result<Written, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body of the request was not a JSON object"));
        }
        check_type(t, obj)?;
        obj["apiVersion"] = json!(t.api_version());
        obj["kind"] = json!(t.kind);
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        let body_ns = meta_str(obj, "namespace").map(String::from);
        let ns = if t.namespaced {
            let ns = path_ns.map(String::from).or(body_ns.clone()).unwrap_or_else(|| "default".into());
            if body_ns.as_ref().is_some_and(|b| b != &ns) {
                return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
            }
            obj["metadata"]["namespace"] = json!(ns);
            ns
        } else {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            String::new()
        };
        let name = match meta_str(obj, "name") {
            Some(n) => n.to_string(),
            None => match meta_str(obj, "generateName") {
                Some(prefix) => {
                    let prefix = prefix.to_string();
                    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
                    let suffix: String = (0..5).map(|_| CHARS[(self.random() % CHARS.len() as u64) as usize] as char).collect();
                    format!("{prefix}{suffix}")
                }
                None => {
                    return Err(ApiError::invalid(&kind_group(t), "", "metadata.name: Required value: name or generateName is required"));
                }
            },
        };
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                &kind_group(t),
                &name,
                format!(
                    "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
                ),
            ));
        }
        obj["metadata"]["name"] = json!(name);
        self.check_namespace(t, &ns)?;
        if self.get(&t.group_resource(), &ns, &name).is_some() {
            return Err(ApiError::already_exists(&t.qualified(), &name));
        }
        if t.custom
            && t.has_status
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        let warnings = self.prune_and_validate(t, &name, obj, ctx)?;
        let uid = self.uid();
        if let Some(meta) = obj["metadata"].as_object_mut() {
            meta.insert("uid".into(), json!(uid));
            meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
            meta.insert("generation".into(), json!(1));
            meta.remove("managedFields");
            meta.remove("deletionTimestamp");
        }
        if t.kind == "Namespace" {
            obj["status"] = json!({"phase": "Active"});
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
        }
        let snapshot = obj.clone();
        self.set_managed(t, ctx, obj, &snapshot);
        if ctx.dry_run {
            return Ok(Written { object: obj.clone(), warnings, changed: false });
        }
        let object = self.store(t, &ns, &name, obj.clone(), applied, EventType::Added);
        self.record(t, ctx, &ns, &name, self.rv);
        Ok(Written { object, warnings, changed: true })
    }

    fn prune_and_validate(&self, t: &ResourceType, name: &str, obj: &mut Value, ctx: &WriteCtx) -> Result<Vec<String>, ApiError> {
        let Some(schema) = t.schema.as_ref().filter(|_| t.custom) else { return Ok(vec![]) };
        let pruned = schema::prune(obj, schema);
        if !pruned.is_empty() && ctx.validation == "Strict" {
            let list: Vec<String> = pruned.iter().map(|p| format!("unknown field \"{p}\"")).collect();
            return Err(ApiError::bad_request(format!("strict decoding error: {}", list.join(", "))));
        }
        let errors = schema::validate(obj, schema);
        if !errors.is_empty() {
            return Err(ApiError::invalid(&kind_group(t), name, errors.join(", ")));
        }
        Ok(if ctx.validation == "Ignore" { vec![] } else { pruned.iter().map(|p| format!("unknown field \"{p}\"")).collect() })
    }

    /// Replaces an object with `new` (PUT, or the result of a patch): the subresource rules, preconditions, generation and finalizers apply.
    pub fn replace(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        mut new: Value,
        ctx: &WriteCtx,
        applied: Option<BTreeMap<String, Value>>,
    ) -> Result<Written, ApiError> {
        let stored = self.get_or_404(t, ns, name)?;
        let old = stored.value();
        let mut applied_all = stored.applied.clone();
        if !new.is_object() {
            return Err(ApiError::bad_request("the body of the request was not a JSON object"));
        }
        check_type(t, &new)?;
        if let Some(rv) = meta_str(&new, "resourceVersion").filter(|r| !r.is_empty())
            && rv != stored.rv.to_string()
        {
            return Err(ApiError::conflict(&t.qualified(), name));
        }
        if meta_str(&new, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&new, "name").unwrap_or_default()
            )));
        }
        if ctx.status {
            let mut merged = old.clone();
            merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            if merged["status"].is_null()
                && let Some(m) = merged.as_object_mut()
            {
                m.remove("status");
            }
            new = merged;
        } else {
            if !new.get("metadata").is_some_and(Value::is_object) {
                new["metadata"] = json!({});
            }
            for k in ["uid", "creationTimestamp", "namespace", "name", "generation", "deletionTimestamp", "managedFields"] {
                match old["metadata"].get(k) {
                    Some(v) => new["metadata"][k] = v.clone(),
                    None => {
                        if let Some(m) = new["metadata"].as_object_mut() {
                            m.remove(k);
                        }
                    }
                }
            }
            if t.has_status {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            new["apiVersion"] = json!(t.api_version());
            new["kind"] = json!(t.kind);
        }
        let warnings = self.prune_and_validate(t, name, &mut new, ctx)?;
        if spec_part(&new) != spec_part(&old) {
            let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            new["metadata"]["generation"] = json!(g + 1);
        }
        if let Some(all) = applied {
            applied_all = all;
        }
        if comparable(&new) == comparable(&old) && applied_all == stored.applied {
            return Ok(Written { object: old, warnings, changed: false });
        }
        let fields_of = applied_all.get(ctx.manager.as_deref().unwrap_or_default()).cloned().unwrap_or_else(|| new.clone());
        self.set_managed(t, ctx, &mut new, &fields_of);
        if ctx.dry_run {
            return Ok(Written { object: new, warnings, changed: false });
        }
        let finalized = new.pointer("/metadata/deletionTimestamp").is_some()
            && new.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty);
        let object = self.store(t, ns, name, new, applied_all, EventType::Modified);
        self.record(t, ctx, ns, name, self.rv);
        if finalized {
            self.remove(t, ns, name);
            self.collect_garbage();
        }
        Ok(Written { object, warnings, changed: true })
    }
}

fn check_type(t: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let kind = obj.get("kind").and_then(Value::as_str);
    let api_version = obj.get("apiVersion").and_then(Value::as_str);
    if kind.is_some_and(|k| k != t.kind) || api_version.is_some_and(|a| a.rsplit_once('/').map_or("", |(g, _)| g) != t.group) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({}) or the kind ({}) does not match {}",
            api_version.unwrap_or_default(),
            t.api_version(),
            kind.unwrap_or_default(),
            t.kind
        )));
    }
    Ok(())
}

/// The object without status when status is a subresource, and without server-set metadata: what a main write owns.
fn strip_for_fields(obj: &Value, t: &ResourceType) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        if t.has_status {
            m.remove("status");
        }
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "namespace", "name"] {
                meta.remove(k);
            }
        }
    }
    v
}
