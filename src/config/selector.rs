//! Label selectors (matchLabels / matchExpressions) as used by scoping and exemption rules: how the
//! config file spells them and how they match.

use super::walk::{Walk, join};
use serde_json::Value;
use std::collections::BTreeMap;

/// A parsed, validated label selector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    /// Labels that must equal.
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    pub expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub op: Op,
    /// Values for In/NotIn.
    pub values: Vec<String>,
}

/// A `matchExpressions` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Value in the set.
    In,
    /// Value not in the set (or label absent).
    NotIn,
    /// Label present.
    Exists,
    /// Label absent.
    DoesNotExist,
}

impl Op {
    /// Parses Kubernetes' operator names.
    pub fn parse(s: &str) -> Option<Op> {
        match s {
            "In" => Some(Op::In),
            "NotIn" => Some(Op::NotIn),
            "Exists" => Some(Op::Exists),
            "DoesNotExist" => Some(Op::DoesNotExist),
            _ => None,
        }
    }
}

impl Selector {
    /// True when the labels satisfy every requirement (an empty selector matches everything).
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k));
        self.match_labels.iter().all(|(k, v)| get(k) == Some(v))
            && self.expressions.iter().all(|r| {
                let value = get(&r.key);
                match r.op {
                    Op::In => value.is_some_and(|v| r.values.contains(v)),
                    Op::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    Op::Exists => value.is_some(),
                    Op::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// Parses a `{matchLabels, matchExpressions}` selector.
pub fn read_selector(v: &Value, path: &str, w: &mut Walk) -> Option<Selector> {
    let m = w.object(v, path)?;
    let mut sel = Selector::default();
    for (key, val) in m {
        let p = join(path, key);
        match key.as_str() {
            "matchLabels" => {
                let Some(labels) = w.object(val, &p) else {
                    continue;
                };
                for (lk, lv) in labels {
                    if let Some(s) = w.string(lv, &join(&p, lk)) {
                        sel.match_labels.insert(lk.clone(), s);
                    }
                }
            }
            "matchExpressions" => {
                let Some(list) = val.as_array() else {
                    w.err(&p, "expected a list");
                    continue;
                };
                for (i, e) in list.iter().enumerate() {
                    let ep = format!("{p}[{i}]");
                    let Some(em) = w.object(e, &ep) else { continue };
                    for k in em.keys().filter(|k| !["key", "operator", "values"].contains(&k.as_str())) {
                        w.err(&join(&ep, k), "unknown key (expected key, operator, values)");
                    }
                    let key = em.get("key").and_then(Value::as_str);
                    let op = em.get("operator").and_then(Value::as_str).and_then(Op::parse);
                    let values = em.get("values").map(|v| w.string_list(v, &join(&ep, "values")).unwrap_or_default()).unwrap_or_default();
                    match (key, op) {
                        (Some(key), Some(op)) => {
                            if matches!(op, Op::In | Op::NotIn) && values.is_empty() {
                                w.err(&join(&ep, "values"), "In and NotIn need at least one value");
                            }
                            sel.expressions.push(Requirement { key: key.to_string(), op, values });
                        }
                        (None, _) => w.err(&join(&ep, "key"), "required"),
                        (_, None) => w.err(&join(&ep, "operator"), "expected In, NotIn, Exists or DoesNotExist"),
                    }
                }
            }
            _ => w.err(&p, "unknown key (expected matchLabels, matchExpressions)"),
        }
    }
    Some(sel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_based_and_equality_requirements() {
        let sel = Selector {
            match_labels: [("app".to_string(), "web".to_string())].into(),
            expressions: vec![
                Requirement { key: "tier".into(), op: Op::In, values: vec!["a".into(), "b".into()] },
                Requirement { key: "legacy".into(), op: Op::DoesNotExist, values: vec![] },
            ],
        };
        let l = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        assert!(sel.matches(Some(&l(&[("app", "web"), ("tier", "a")]))));
        assert!(!sel.matches(Some(&l(&[("app", "web"), ("tier", "c")]))));
        assert!(!sel.matches(Some(&l(&[("app", "web"), ("tier", "a"), ("legacy", "")]))));
        assert!(!sel.matches(None));
        assert!(Selector::default().matches(None));
    }
}
