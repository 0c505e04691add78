//! Renders judged resources (`crate::exempt::judge`, the stage the ComplianceReports and SARIF
//! render from) into OpenReports results and report objects, so both views give the same verdicts.

use super::filter::ResultFilter;
use super::types::{ObjRef, ReportResult, ResultSeverity, Status, Summary, Timestamp};
use super::{API_VERSION, MANAGED_BY, MANAGED_BY_LABEL, SOURCE, api_version_of, result_id};
use crate::catalog::links::recommendation_doc_url;
use crate::catalog::{CATALOG, Judge, Scope};
use crate::config::Config;
use crate::exempt::{Judged, Verdict, judge};
use crate::report::State;
use crate::report::build::{ClusterFacts, cap_message, config_state};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `results[].category` of a recommendation: what it judges.
pub fn category(scope: Scope) -> &'static str {
    match scope {
        Scope::Pod => "Workload",
        Scope::Service => "Service",
        Scope::Ingress => "Ingress",
        Scope::Cluster => "Cluster",
        Scope::AzureSubscription => "Azure subscription",
        Scope::AzureRegistry => "Azure registry",
    }
}

/// Whether catalogue row `i` belongs to the cluster report (cluster and Azure rows, and #24's
/// registries), as in the ComplianceClusterReport.
pub fn is_cluster_row(i: usize) -> bool {
    let r = &CATALOG[i];
    !r.scope.is_namespaced() || matches!(r.judge, Judge::Vulnerabilities)
}

/// A result without resource, status or message yet: the recommendation's common fields.
fn shell(i: usize, cfg: &Config, status: Status, message: String, now: Timestamp) -> ReportResult {
    let r = &CATALOG[i];
    let mut properties = BTreeMap::new();
    properties.insert("policyDefinitionId".to_string(), r.policy_definition_id());
    properties.insert("documentation".to_string(), recommendation_doc_url(r.id));
    properties.insert("title".to_string(), r.title.to_string());
    ReportResult {
        policy: r.id.to_string(),
        rule: r.id.to_string(),
        category: category(r.scope).to_string(),
        severity: ResultSeverity::from(cfg.rec(i).severity),
        result: status,
        scored: true,
        message,
        resources: vec![],
        properties,
        timestamp: now,
    }
}

/// The reference to a judged resource (`uid` when the caller knows it).
pub fn object_ref(key: &crate::model::ResourceKey, uid: Option<&str>) -> ObjRef {
    ObjRef {
        api_version: api_version_of(&key.kind).to_string(),
        kind: key.kind.clone(),
        name: key.name.clone(),
        namespace: (!key.namespace.is_empty()).then(|| key.namespace.clone()),
        uid: uid.map(str::to_string),
    }
}

/// The results of one judged resource that `filter` keeps, in catalogue order. Rows whose
/// configuration decides their state (Disabled, NotConfigured, the namespace excluded) give no
/// per-resource result, as in the ComplianceReports (see [`config_results`] for NotConfigured).
pub fn resource_results(judged: &Judged<'_>, cfg: &Config, filter: &ResultFilter, uid: Option<&str>, now: Timestamp) -> Vec<ReportResult> {
    let rec = judged.resource;
    let ns = (!rec.key.namespace.is_empty()).then_some(rec.key.namespace.as_str());
    let mut out = vec![];
    for (i, verdict) in &judged.verdicts {
        let i = *i;
        if config_state(i, cfg, ns).is_some() {
            continue;
        }
        let (status, exempt) = match verdict {
            Verdict::Healthy => (Status::Pass, false),
            Verdict::Unhealthy(_) => (Status::Fail, false),
            Verdict::Exempt(..) => (Status::Skip, true),
            Verdict::NotEvaluated(_) => (Status::Error, false),
        };
        if !filter.keeps(status, exempt) {
            continue;
        }
        let mut res = shell(i, cfg, status, String::new(), now);
        match verdict {
            Verdict::Healthy => res.message = format!("{}: passes", CATALOG[i].title),
            Verdict::Unhealthy(f) | Verdict::Exempt(f, _) => {
                res.message = cap_message(&f.iter().map(|x| &*x.message).collect::<Vec<_>>().join("; "));
                let mut containers: Vec<&str> = f.iter().filter_map(|x| x.container.as_deref()).collect();
                containers.sort();
                containers.dedup();
                if !containers.is_empty() {
                    res.properties.insert("containers".into(), containers.join(","));
                }
            }
            Verdict::NotEvaluated(why) => {
                res.message = cap_message(&format!("not evaluated: {why}"));
                res.properties.insert("reason".into(), why.to_string());
            }
        }
        if let Verdict::Exempt(_, x) = verdict {
            res.properties.insert("exemptReason".into(), x.reason.clone());
            res.properties.insert("exemptSource".into(), x.source.to_string());
            if let Some(u) = &x.until {
                res.properties.insert("exemptUntil".into(), u.clone());
            }
        }
        res.properties.insert("resultID".into(), result_id(CATALOG[i].id, &rec.key.namespace, &rec.key.kind, &rec.key.name));
        res.resources = vec![object_ref(&rec.key, uid)];
        out.push(res);
    }
    out
}

/// Skips for recommendations that are not configured (a parameter missing): one result each,
/// without resource, for the cluster report (they hold for every namespace alike).
pub fn config_results(cfg: &Config, filter: &ResultFilter, now: Timestamp) -> Vec<ReportResult> {
    let mut out = vec![];
    for (i, r) in CATALOG.iter().enumerate() {
        let Some((State::NotConfigured, why)) = config_state(i, cfg, None) else { continue };
        if !filter.keeps(Status::Skip, false) {
            continue;
        }
        let mut res = shell(i, cfg, Status::Skip, format!("not configured: {why}"), now);
        res.properties.insert("reason".into(), why);
        res.properties.insert("resultID".into(), result_id(r.id, "", "", ""));
        out.push(res);
    }
    out
}

/// The results of the cluster report: the cluster and Azure rows judged on the cluster facts,
/// rows without data (error, with the reason, no resource) and rows not configured (skip).
pub fn cluster_results(
    facts: &ClusterFacts,
    cfg: &Config,
    today: jiff::civil::Date,
    filter: &ResultFilter,
    now: Timestamp,
) -> Vec<ReportResult> {
    let mut ignore = vec![];
    let judged: Vec<Judged<'_>> = facts.resources.iter().map(|r| judge(cfg, r, today, &mut ignore)).collect();
    let mut out = vec![];
    for (i, _) in CATALOG.iter().enumerate().filter(|(i, _)| is_cluster_row(*i)) {
        if config_state(i, cfg, None).is_some() {
            continue;
        }
        let carried = judged.iter().any(|j| j.verdict(i).is_some());
        if !carried
            && let Some(why) = facts.unavailable.get(&i)
            && filter.keeps(Status::Error, false)
        {
            let mut res = shell(i, cfg, Status::Error, cap_message(&format!("not evaluated: {why}")), now);
            res.properties.insert("reason".into(), why.clone());
            res.properties.insert("resultID".into(), result_id(CATALOG[i].id, "", "", ""));
            out.push(res);
        }
    }
    for j in &judged {
        let only_cluster =
            Judged { resource: j.resource, verdicts: j.verdicts.iter().filter(|(i, _)| is_cluster_row(*i)).cloned().collect() };
        out.extend(resource_results(&only_cluster, cfg, filter, None, now));
    }
    out.extend(config_results(cfg, filter, now));
    sort_results(&mut out);
    out
}

/// Sorts results by (policy, resource kind, namespace, name): deterministic output.
pub fn sort_results(results: &mut [ReportResult]) {
    results.sort_by(|a, b| {
        let key = |r: &ReportResult| {
            let o = r.resources.first();
            (
                crate::catalog::index_of(&r.policy).unwrap_or(usize::MAX),
                o.map(|o| o.kind.clone()).unwrap_or_default(),
                o.and_then(|o| o.namespace.clone()).unwrap_or_default(),
                o.map(|o| o.name.clone()).unwrap_or_default(),
            )
        };
        key(a).cmp(&key(b))
    });
}

/// Keeps the timestamp of every result that says the same as in `previous` (matched by
/// `resultID`): the timestamp is when a result last changed, not when it was last evaluated.
pub fn carry_timestamps(results: &mut [ReportResult], previous: &[ReportResult]) {
    let old: BTreeMap<&str, &ReportResult> = previous.iter().map(|r| (r.result_id(), r)).collect();
    for r in results.iter_mut() {
        if let Some(o) = old.get(r.result_id())
            && r.same_content(o)
        {
            r.timestamp = o.timestamp;
        }
    }
}

/// Where a report goes and what it is about.
#[derive(Debug, Clone, Default)]
pub struct ReportMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (None for the `ClusterReport`).
    pub namespace: Option<String>,
    /// `scope`: the workload (operator), or none (a namespace's report in the audit).
    pub scope: Option<ObjRef>,
    /// The owner (with `uid`) whose deletion removes the report.
    pub owner: Option<ObjRef>,
}

/// A `Report` (namespaced) or `ClusterReport` object holding `results`.
pub fn report_object(meta: &ReportMeta, results: &[ReportResult], filter: &ResultFilter) -> Value {
    let kind = if meta.namespace.is_some() { "Report" } else { "ClusterReport" };
    let mut metadata = json!({"name": meta.name});
    if let Some(ns) = &meta.namespace {
        metadata["namespace"] = json!(ns);
    }
    metadata["labels"] = json!({MANAGED_BY_LABEL: MANAGED_BY});
    if let Some(o) = meta.owner.as_ref().filter(|o| o.uid.is_some()) {
        metadata["ownerReferences"] = json!([{"apiVersion": o.api_version, "kind": o.kind, "name": o.name, "uid": o.uid}]);
    }
    let mut obj = json!({"apiVersion": API_VERSION, "kind": kind, "metadata": metadata});
    if let Some(s) = &meta.scope {
        obj["scope"] = json!(s);
    }
    obj["source"] = json!(SOURCE);
    obj["configuration"] = json!({"limits": {"statusFilter": filter.status_filter()}});
    obj["summary"] = json!(Summary::of(results));
    obj["results"] = json!(results);
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Finding;
    use crate::model::{Outcome, ResourceKey, ResourceRecord};

    fn rec() -> ResourceRecord {
        let mut r = ResourceRecord::new(ResourceKey { namespace: "shop".into(), kind: "Deployment".into(), name: "web".into() });
        let fail = |msg: &str| Finding { container: Some("app".into()), message: msg.into() };
        let i = |id: &str| crate::catalog::index_of(id).expect("id") as u8;
        r.outcomes = vec![
            (i("privileged-containers"), Outcome::Fail(vec![fail("container app is privileged")])),
            (i("host-namespaces"), Outcome::Pass),
            (i("image-vulnerabilities"), Outcome::NotEvaluated("no Trivy data".into())),
        ];
        r.outcomes.sort_by_key(|(i, _)| *i);
        r
    }

    fn today() -> jiff::civil::Date {
        jiff::civil::date(2026, 12, 3)
    }

    #[test]
    fn verdicts_map_to_results_with_properties() {
        let cfg = Config::default();
        let r = rec();
        let j = judge(&cfg, &r, today(), &mut vec![]);
        let now = Timestamp { seconds: 100, nanos: 0 };
        let all = resource_results(&j, &cfg, &ResultFilter::ALL, Some("u-1"), now);
        let by: BTreeMap<&str, &ReportResult> = all.iter().map(|r| (r.policy.as_str(), r)).collect();
        let p = by["privileged-containers"];
        assert_eq!((p.result, p.severity, p.scored), (Status::Fail, ResultSeverity::Medium, true));
        assert_eq!(p.message, "container app is privileged");
        assert_eq!(p.resources.len(), 1);
        assert_eq!(p.resources[0].uid.as_deref(), Some("u-1"));
        assert_eq!(p.resources[0].api_version, "apps/v1");
        assert_eq!(p.properties["containers"], "app");
        assert_eq!(p.properties["documentation"], recommendation_doc_url("privileged-containers"));
        assert!(p.properties["policyDefinitionId"].starts_with("/providers/Microsoft.Authorization/policyDefinitions/"));
        assert_eq!(p.properties["resultID"], result_id("privileged-containers", "shop", "Deployment", "web"));
        assert_eq!(by["host-namespaces"].result, Status::Pass);
        assert_eq!(by["image-vulnerabilities"].result, Status::Error);
        assert_eq!(by["image-vulnerabilities"].properties["reason"], "no Trivy data");
        // The default filter drops passes.
        let kept = resource_results(&j, &cfg, &ResultFilter::parse("fail,error,skip-exempt").expect("f"), None, now);
        assert_eq!(kept.iter().map(|r| r.result).collect::<Vec<_>>(), [Status::Fail, Status::Error]);
    }

    #[test]
    fn exempt_findings_are_skips_with_the_reason() {
        let cfg = Config::default();
        let mut r = rec();
        r.annotations.exempt = Some("privileged-containers".into());
        r.annotations.reason = Some("needs the GPU driver".into());
        let j = judge(&cfg, &r, today(), &mut vec![]);
        let kept = resource_results(&j, &cfg, &ResultFilter::parse("skip-exempt").expect("f"), None, Timestamp::default());
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].result, Status::Skip);
        assert_eq!(kept[0].properties["exemptReason"], "needs the GPU driver");
        assert_eq!(kept[0].properties["exemptSource"], "annotation");
    }

    #[test]
    fn unchanged_results_keep_their_timestamp() {
        let cfg = Config::default();
        let r = rec();
        let j = judge(&cfg, &r, today(), &mut vec![]);
        let old = resource_results(&j, &cfg, &ResultFilter::ALL, None, Timestamp { seconds: 10, nanos: 0 });
        let mut new = resource_results(&j, &cfg, &ResultFilter::ALL, None, Timestamp { seconds: 99, nanos: 0 });
        new[0].message = "changed".into();
        carry_timestamps(&mut new, &old);
        assert_eq!(new[0].timestamp.seconds, 99, "a changed result gets the new time");
        assert!(new[1..].iter().all(|r| r.timestamp.seconds == 10), "unchanged results keep theirs");
    }

    #[test]
    fn report_objects_carry_filter_summary_and_owner() {
        let cfg = Config::default();
        let r = rec();
        let j = judge(&cfg, &r, today(), &mut vec![]);
        let filter = ResultFilter::parse("fail,error").expect("f");
        let results = resource_results(&j, &cfg, &filter, Some("u-1"), Timestamp::default());
        let owner = object_ref(&r.key, Some("u-1"));
        let meta = ReportMeta { name: "u-1".into(), namespace: Some("shop".into()), scope: Some(owner.clone()), owner: Some(owner) };
        let obj = report_object(&meta, &results, &filter);
        assert_eq!(obj["kind"], "Report");
        assert_eq!(obj["source"], "kompliance");
        assert_eq!(obj["configuration"]["limits"]["statusFilter"], json!(["fail", "error"]));
        assert_eq!(obj["summary"], json!({"pass": 0, "fail": 1, "warn": 0, "error": 1, "skip": 0}));
        assert_eq!(obj["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(obj["scope"]["kind"], "Deployment");
    }
}
