//! What the operator reaches: every namespace (with Nodes, Namespaces and the cluster report), or a
//! list of namespaces (installs with Roles only). One type instead of "an empty list means all".

/// The namespaces the operator watches and reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Reach {
    /// Every namespace, Nodes, Namespaces and the cluster report.
    #[default]
    Cluster,
    /// Only these namespaces (never empty): no cluster-scoped watches and no cluster report.
    Namespaces(Vec<String>),
}

impl Reach {
    /// `Cluster` for an empty list (the `--namespaces` flag unset), else those namespaces.
    pub fn from_list(namespaces: Vec<String>) -> Reach {
        if namespaces.is_empty() { Reach::Cluster } else { Reach::Namespaces(namespaces) }
    }

    /// True when it reaches every namespace and the cluster-scoped objects.
    pub fn cluster_wide(&self) -> bool {
        matches!(self, Reach::Cluster)
    }

    /// Whether namespace `ns` is reached.
    pub fn includes(&self, ns: &str) -> bool {
        match self {
            Reach::Cluster => true,
            Reach::Namespaces(list) => list.iter().any(|n| n == ns),
        }
    }

    /// The scopes of namespaced API calls: `[None]` (all namespaces) or each namespace.
    pub fn scopes(&self) -> Vec<Option<&str>> {
        match self {
            Reach::Cluster => vec![None],
            Reach::Namespaces(list) => list.iter().map(|n| Some(n.as_str())).collect(),
        }
    }

    /// The namespaces named (none for `Cluster`).
    pub fn listed(&self) -> &[String] {
        match self {
            Reach::Cluster => &[],
            Reach::Namespaces(list) => list,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_reaches_the_cluster_and_a_list_only_its_namespaces() {
        let all = Reach::from_list(vec![]);
        assert!(all.cluster_wide() && all.includes("anything"));
        assert_eq!(all.scopes(), [None]);
        let some = Reach::from_list(vec!["a".into(), "b".into()]);
        assert!(!some.cluster_wide() && some.includes("b") && !some.includes("c"));
        assert_eq!(some.scopes(), [Some("a"), Some("b")]);
        assert_eq!(some.listed(), ["a", "b"]);
    }
}
