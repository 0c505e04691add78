//! Field sets (managedFields' FieldsV1) and the server-side-apply merge with ownership and conflicts.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The FieldsV1 set of an object: every key as `f:key`, lists atomic.
pub fn field_set(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, c)| (format!("f:{k}"), field_set(c))).collect()),
        _ => json!({}),
    }
}

/// Leaf paths of a configuration (objects are walked, lists and scalars are leaves) with their values.
fn leaves<'a>(v: &'a Value, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'a Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                prefix.push(k.clone());
                leaves(c, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push((prefix.clone(), v)),
    }
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k.as_str()))
}

fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = v;
    for k in parents {
        match cur.get_mut(k.as_str()) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

/// Merges `patch` into `target`: objects recursively, everything else replaced.
pub fn deep_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => deep_merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictField {
    /// The other manager.
    pub manager: String,
    /// Dotted path of the field.
    pub path: String,
}

/// Server-side apply: the object after applying `config` as `manager`, and every manager's updated configuration.
pub fn apply(
    current: &Value,
    manager: &str,
    config: &Value,
    applied: &BTreeMap<String, Value>,
    force: bool,
) -> Result<(Value, BTreeMap<String, Value>), Vec<ConflictField>> {
    let mut others: BTreeMap<String, Value> =
        applied.iter().filter(|(m, _)| m.as_str() != manager).map(|(m, v)| (m.clone(), v.clone())).collect();
    let mut new_leaves = Vec::new();
    leaves(config, &mut Vec::new(), &mut new_leaves);
    let mut conflicts = Vec::new();
    for (path, value) in &new_leaves {
        for (m, cfg) in others.iter_mut() {
            if let Some(theirs) = lookup(cfg, path)
                && theirs != *value
                && !theirs.is_object()
            {
                if force {
                    remove_path(cfg, path);
                } else {
                    conflicts.push(ConflictField { manager: m.clone(), path: path.join(".") });
                }
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let mut result = current.clone();
    if let Some(prev) = applied.get(manager) {
        let mut old_leaves = Vec::new();
        leaves(prev, &mut Vec::new(), &mut old_leaves);
        for (path, _) in old_leaves {
            let still_mine = lookup(config, &path).is_some();
            let owned_by_other = others.values().any(|c| lookup(c, &path).is_some());
            if !still_mine && !owned_by_other {
                remove_path(&mut result, &path);
                prune_empty_parents(&mut result, &path);
            }
        }
    }
    deep_merge(&mut result, config);
    others.insert(manager.to_string(), config.clone());
    Ok((result, others))
}

fn prune_empty_parents(v: &mut Value, path: &[String]) {
    for depth in (1..path.len()).rev() {
        let parent = &path[..depth];
        if lookup(v, parent).is_some_and(|p| p.as_object().is_some_and(Map::is_empty)) && depth > 1 {
            remove_path(v, parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_removes_fields_the_manager_dropped_and_keeps_others() {
        let current = json!({"spec": {"a": 1, "b": 2, "c": 3}});
        let mut applied = BTreeMap::new();
        applied.insert("me".to_string(), json!({"spec": {"a": 1, "b": 2}}));
        applied.insert("you".to_string(), json!({"spec": {"c": 3}}));
        let (out, cfgs) = apply(&current, "me", &json!({"spec": {"a": 5}}), &applied, false).unwrap();
        assert_eq!(out, json!({"spec": {"a": 5, "c": 3}}));
        assert_eq!(cfgs["me"], json!({"spec": {"a": 5}}));
    }

    #[test]
    fn apply_conflicts_unless_forced() {
        let mut applied = BTreeMap::new();
        applied.insert("you".to_string(), json!({"spec": {"a": 1}}));
        let current = json!({"spec": {"a": 1}});
        let err = apply(&current, "me", &json!({"spec": {"a": 2}}), &applied, false).unwrap_err();
        assert_eq!(err, vec![ConflictField { manager: "you".into(), path: "spec.a".into() }]);
        let (out, cfgs) = apply(&current, "me", &json!({"spec": {"a": 2}}), &applied, true).unwrap();
        assert_eq!(out, json!({"spec": {"a": 2}}));
        assert_eq!(cfgs["you"], json!({"spec": {}}));
    }
}
