//! Label selectors (matchLabels / matchExpressions) as used by scoping and exemption rules.

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
