//! #24 in any cluster: the Trivy Operator's VulnerabilityReports, reduced to the vulnerabilities that
//! count, matched to a Pod's containers by owner, container name and exact image.

use crate::checks::Finding;
use crate::config::Params;
use crate::model::{Outcome, Owner};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// An image reference split the way registries name it (Docker Hub's defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host ("docker.io" for Docker Hub under any of its names).
    pub registry: String,
    /// Repository path ("library/nginx").
    pub repository: String,
    /// Tag, if any ("latest" when neither tag nor digest is given).
    pub tag: Option<String>,
    /// Digest, if any ("sha256:...").
    pub digest: Option<String>,
}

fn canonical_registry(host: &str) -> String {
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".into(),
        h => h.to_ascii_lowercase(),
    }
}

/// Docker Hub's official images live under `library/` (`nginx` is `library/nginx`).
fn full_repository(registry: &str, repository: String) -> String {
    if registry == "docker.io" && !repository.contains('/') { format!("library/{repository}") } else { repository }
}

impl ImageRef {
    /// Parses a container's `image` field.
    pub fn parse(image: &str) -> ImageRef {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (image, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t.to_string())),
            _ => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (canonical_registry(first), path.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let repository = full_repository(&registry, repository);
        let tag = if tag.is_none() && digest.is_none() { Some("latest".into()) } else { tag };
        ImageRef { registry, repository, tag, digest }
    }

    /// The artifact of a VulnerabilityReport (`report.registry.server`, `report.artifact`).
    pub fn from_report(report: &Value) -> ImageRef {
        let s = |p: &str| report.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
        let registry = canonical_registry(&s("/registry/server").unwrap_or_default());
        let repository = full_repository(&registry, s("/artifact/repository").unwrap_or_default());
        ImageRef { registry, repository, tag: s("/artifact/tag"), digest: s("/artifact/digest") }
    }

    /// Whether a report's artifact is this container image: same registry and repository, and the
    /// container's digest (when it pins one) or else its tag.
    pub fn is_scanned_by(&self, artifact: &ImageRef) -> bool {
        self.registry == artifact.registry
            && self.repository == artifact.repository
            && match &self.digest {
                Some(d) => artifact.digest.as_ref() == Some(d),
                None => self.tag.is_some() && self.tag == artifact.tag,
            }
    }
}

/// The catalogue row judged from vulnerability data (#24), if the registry has one.
pub fn rule_index() -> Option<usize> {
    crate::catalog::judged_by(|j| matches!(j, crate::catalog::Judge::Vulnerabilities)).map(|(i, _)| i).next()
}

/// The (container, image) pairs of a Pod that #24 judges (its excludedContainers/excludedImages applied).
pub fn scanned_images(facts: &crate::checks::PodFacts<'_>, cfg: &crate::config::Config) -> Vec<(String, String)> {
    let Some(i) = rule_index() else { return vec![] };
    let sc = &cfg.rec(i).scope;
    facts
        .containers
        .iter()
        .filter(|c| !sc.excluded_containers.iter().any(|n| n == c.name) && !crate::checks::image_excluded(c.image, &sc.excluded_images))
        .map(|c| (c.name.to_string(), c.image.to_string()))
        .collect()
}

/// Where #24's verdicts come from, in either front door.
#[derive(Debug, Clone)]
pub enum VulnSource {
    /// No data, with the reason (NotEvaluated).
    Off(Arc<str>),
    /// VulnerabilityReports.
    On(VulnIndex),
}

impl VulnSource {
    /// Replaces the #24 outcome in `outcomes` (if the row was judged) with this source's verdict for
    /// a Pod (or template) of `top` in `ns` running `images`; `resolve` maps a report's resource to its workload.
    pub fn decide(
        &self,
        outcomes: &mut crate::model::Outcomes,
        ns: &str,
        top: &Owner,
        images: &[(String, String)],
        resolve: &dyn Fn(&Owner) -> Owner,
    ) {
        let Some(i24) = rule_index() else { return };
        if let Some((_, slot)) = outcomes.iter_mut().find(|(i, _)| usize::from(*i) == i24) {
            *slot = match self {
                VulnSource::Off(why) => Outcome::NotEvaluated(why.clone()),
                VulnSource::On(index) => index.outcome(ns, top, images, resolve),
            };
        }
    }
}

/// One VulnerabilityReport, reduced: what it scanned, for which workload and container, and the IDs that count.
#[derive(Debug, Clone, PartialEq)]
pub struct VulnSummary {
    /// Namespace of the report.
    pub namespace: String,
    /// The scanned workload (its `trivy-operator.resource.kind`/`name` labels).
    pub resource: Owner,
    /// The container (`trivy-operator.container.name`).
    pub container: String,
    /// The scanned image.
    pub artifact: ImageRef,
    /// IDs of the vulnerabilities that count, sorted.
    pub counted: Vec<String>,
}

impl VulnSummary {
    /// Reads a VulnerabilityReport object; None when its labels do not say what it scanned.
    pub fn read(obj: &Value, p: &Params) -> Option<VulnSummary> {
        let label = |k: &str| obj.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str).map(String::from);
        let namespace = obj.pointer("/metadata/namespace").and_then(Value::as_str)?.to_string();
        let resource = Owner { kind: label("trivy-operator.resource.kind")?, name: label("trivy-operator.resource.name")? };
        let container = label("trivy-operator.container.name")?;
        let report = obj.get("report")?;
        let mut counted: Vec<String> = report
            .get("vulnerabilities")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|v| {
                let sev = v.get("severity").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
                let fixed = v.get("fixedVersion").and_then(Value::as_str).is_some_and(|f| !f.trim().is_empty());
                p.severities.contains(&sev) && (fixed || !p.ignore_unfixed)
            })
            .filter_map(|v| v.get("vulnerabilityID").and_then(Value::as_str).map(String::from))
            .collect();
        counted.sort();
        counted.dedup();
        Some(VulnSummary { namespace, resource, container, artifact: ImageRef::from_report(report), counted })
    }
}

/// Reports of one (namespace, container name), each with its object's name.
type Reports = Vec<(String, Arc<VulnSummary>)>;

/// Every report by namespace and container name, keyed by the report object's name.
#[derive(Debug, Default, Clone)]
pub struct VulnIndex {
    by_container: HashMap<(String, String), Reports>,
    names: HashMap<(String, String), (String, String)>,
}

/// How many IDs a finding message lists before "(+N more)".
const LISTED_IDS: usize = 5;

impl VulnIndex {
    /// Adds or replaces the report object `name`.
    pub fn apply(&mut self, name: &str, summary: VulnSummary) {
        self.remove(&summary.namespace, name);
        let key = (summary.namespace.clone(), summary.container.clone());
        self.names.insert((summary.namespace.clone(), name.to_string()), key.clone());
        self.by_container.entry(key).or_default().push((name.to_string(), Arc::new(summary)));
    }

    /// Forgets the report object `name` in `ns`.
    pub fn remove(&mut self, ns: &str, name: &str) {
        if let Some(key) = self.names.remove(&(ns.to_string(), name.to_string()))
            && let Some(list) = self.by_container.get_mut(&key)
        {
            list.retain(|(n, _)| n != name);
            if list.is_empty() {
                self.by_container.remove(&key);
            }
        }
    }

    /// #24 for a Pod in `ns` whose top-level owner is `top`, with its (container, image) pairs;
    /// `resolve` maps a report's resource to its top-level owner.
    pub fn outcome(&self, ns: &str, top: &Owner, containers: &[(String, String)], resolve: &dyn Fn(&Owner) -> Owner) -> Outcome {
        let mut findings = vec![];
        let mut missing = vec![];
        for (container, image) in containers {
            let wanted = ImageRef::parse(image);
            let report = self
                .by_container
                .get(&(ns.to_string(), container.clone()))
                .into_iter()
                .flatten()
                .map(|(_, s)| s)
                .find(|s| wanted.is_scanned_by(&s.artifact) && (&s.resource == top || &resolve(&s.resource) == top));
            match report {
                None => missing.push(format!("{container} ({image})")),
                Some(s) if s.counted.is_empty() => {}
                Some(s) => {
                    let shown: Vec<&str> = s.counted.iter().take(LISTED_IDS).map(String::as_str).collect();
                    let more = s.counted.len().saturating_sub(LISTED_IDS);
                    let tail = if more > 0 { format!(" (+{more} more)") } else { String::new() };
                    findings.push(Finding {
                        container: Some(container.as_str().into()),
                        message: format!(
                            "container {container}: image {image} has {} vulnerabilities that count: {}{tail}",
                            s.counted.len(),
                            shown.join(", ")
                        )
                        .into(),
                    });
                }
            }
        }
        if !findings.is_empty() {
            Outcome::Fail(findings)
        } else if !missing.is_empty() {
            Outcome::NotEvaluated(format!("no vulnerability report yet for {}", missing.join(", ")).into())
        } else {
            Outcome::Pass
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_normalize_docker_hub_and_match_tag_or_digest() {
        let nginx = ImageRef::parse("nginx:1.27");
        assert_eq!(
            (nginx.registry.as_str(), nginx.repository.as_str(), nginx.tag.as_deref()),
            ("docker.io", "library/nginx", Some("1.27"))
        );
        assert_eq!(ImageRef::parse("nginx").tag.as_deref(), Some("latest"));
        let private = ImageRef::parse("myacr.azurecr.io/team/app:2@sha256:abc");
        assert_eq!(
            (private.registry.as_str(), private.repository.as_str(), private.digest.as_deref()),
            ("myacr.azurecr.io", "team/app", Some("sha256:abc"))
        );
        let local = ImageRef::parse("localhost:5000/app");
        assert_eq!((local.registry.as_str(), local.repository.as_str()), ("localhost:5000", "app"));
        let artifact = ImageRef::from_report(
            &json!({"registry": {"server": "index.docker.io"}, "artifact": {"repository": "library/nginx", "tag": "1.27", "digest": "sha256:def"}}),
        );
        assert!(nginx.is_scanned_by(&artifact));
        assert!(!ImageRef::parse("nginx:1.26").is_scanned_by(&artifact));
        assert!(ImageRef::parse("nginx@sha256:def").is_scanned_by(&artifact));
        assert!(!ImageRef::parse("nginx:1.27@sha256:other").is_scanned_by(&artifact), "a pinned digest must match");
    }

    fn report(name_label: &str, vulns: Value) -> Value {
        json!({"metadata": {"namespace": "shop", "labels": {"trivy-operator.resource.kind": "ReplicaSet", "trivy-operator.resource.name": name_label, "trivy-operator.container.name": "web"}},
               "report": {"registry": {"server": "index.docker.io"}, "artifact": {"repository": "library/nginx", "tag": "1.14"}, "vulnerabilities": vulns}})
    }

    #[test]
    fn counted_vulnerabilities_follow_severities_and_fixes() {
        let p = Params::default();
        let r = report(
            "web-abc",
            json!([
                {"vulnerabilityID": "CVE-1", "severity": "CRITICAL", "fixedVersion": "1.2"},
                {"vulnerabilityID": "CVE-2", "severity": "HIGH", "fixedVersion": ""},
                {"vulnerabilityID": "CVE-3", "severity": "MEDIUM", "fixedVersion": "2"}
            ]),
        );
        assert_eq!(VulnSummary::read(&r, &p).unwrap().counted, vec!["CVE-1"]);
        let all = Params { ignore_unfixed: false, ..Params::default() };
        assert_eq!(VulnSummary::read(&r, &all).unwrap().counted, vec!["CVE-1", "CVE-2"]);
        assert!(VulnSummary::read(&json!({"metadata": {"namespace": "x"}}), &p).is_none());
    }

    #[test]
    fn a_pod_matches_its_owner_container_and_image_and_without_a_report_is_not_evaluated() {
        let p = Params::default();
        let mut idx = VulnIndex::default();
        let top = Owner { kind: "Deployment".into(), name: "web".into() };
        let resolve = |o: &Owner| if o.name == "web-abc" { Owner { kind: "Deployment".into(), name: "web".into() } } else { o.clone() };
        let pod = vec![("web".to_string(), "nginx:1.14".to_string())];
        assert!(matches!(idx.outcome("shop", &top, &pod, &resolve), Outcome::NotEvaluated(_)));
        idx.apply(
            "replicaset-web-abc-web",
            VulnSummary::read(&report("web-abc", json!([{"vulnerabilityID": "CVE-9", "severity": "HIGH", "fixedVersion": "1"}])), &p)
                .unwrap(),
        );
        match idx.outcome("shop", &top, &pod, &resolve) {
            Outcome::Fail(f) => assert!(f[0].message.contains("CVE-9"), "{f:?}"),
            other => panic!("{other:?}"),
        }
        let other_image = vec![("web".to_string(), "nginx:1.27".to_string())];
        assert!(
            matches!(idx.outcome("shop", &top, &other_image, &resolve), Outcome::NotEvaluated(_)),
            "a report of another image does not count"
        );
        idx.apply("replicaset-web-abc-web", VulnSummary::read(&report("web-abc", json!([])), &p).unwrap());
        assert_eq!(idx.outcome("shop", &top, &pod, &resolve), Outcome::Pass);
        idx.remove("shop", "replicaset-web-abc-web");
        assert!(matches!(idx.outcome("shop", &top, &pod, &resolve), Outcome::NotEvaluated(_)));
    }
}
