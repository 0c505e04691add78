//! The judged stage: exemptions (config rules and `kompliance.dev/exempt*` annotations, with
//! expiry) applied to each resource's outcomes, giving the verdicts that reports, SARIF, tables and
//! gauges render. Exemption logic lives here only.

use crate::checks::Finding;
use crate::config::{Config, parse_date};
use crate::model::{Outcome, ResourceRecord};
use jiff::civil::Date;

/// An exemption in force for one resource and recommendation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exemption {
    /// Why.
    pub reason: String,
    /// `annotation` or `config`.
    pub source: &'static str,
    /// Last day it holds (YYYY-MM-DD).
    pub until: Option<String>,
}

/// The annotation exemption of a resource after validation, computed once per resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnotationExemption {
    /// No usable annotation.
    None,
    /// Applies to these ids (or `*`).
    Valid {
        /// Recommendation ids or `*`.
        ids: Vec<String>,
        /// Reason.
        reason: String,
        /// Last day.
        until: Option<Date>,
    },
}

/// Reads a resource's annotations; a malformed `exempt-until` yields a warning and no exemption.
fn annotation_exemption(cfg: &Config, rec: &ResourceRecord, today: Date, warnings: &mut Vec<String>) -> AnnotationExemption {
    let a = &rec.annotations;
    let Some(list) = a.exempt.as_deref().filter(|_| cfg.allow_annotation_exemptions) else {
        return AnnotationExemption::None;
    };
    let until = match a.until.as_deref() {
        None => None,
        Some(s) => match parse_date(s) {
            Some(d) => Some(d),
            None => {
                warnings
                    .push(format!("{}: kompliance.dev/exempt-until {s:?} is not a date YYYY-MM-DD; the exemption does not apply", rec.key));
                return AnnotationExemption::None;
            }
        },
    };
    if until.is_some_and(|u| today > u) {
        return AnnotationExemption::None;
    }
    let ids: Vec<String> = list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    for id in ids.iter().filter(|id| *id != "*" && crate::catalog::by_id(id).is_none()) {
        warnings.push(format!("{}: kompliance.dev/exempt names unknown recommendation {id:?}", rec.key));
    }
    let reason =
        a.reason.clone().filter(|r| !r.trim().is_empty()).unwrap_or_else(|| "no reason given (kompliance.dev/exempt-reason)".into());
    AnnotationExemption::Valid { ids, reason, until }
}

/// The exemption (config rules first, then annotations) that turns a failing verdict into Exempt, if any.
fn find(cfg: &Config, id: &str, rec: &ResourceRecord, ann: &AnnotationExemption, today: Date) -> Option<Exemption> {
    for rule in &cfg.exemptions {
        let applies = rule.recommendations.iter().any(|r| r == "*" || r == id)
            && (rule.namespaces.is_empty() || rule.namespaces.contains(&rec.key.namespace))
            && (rule.kinds.is_empty() || rule.kinds.contains(&rec.key.kind))
            && (rule.names.is_empty() || rule.names.iter().any(|g| g.is_match(&rec.key.name)))
            && rule.label_selector.as_ref().is_none_or(|s| s.matches(Some(&rec.labels)))
            && rule.expires.is_none_or(|e| today <= e);
        if applies {
            return Some(Exemption { reason: rule.reason.clone(), source: "config", until: rule.expires.map(|d| d.to_string()) });
        }
    }
    match ann {
        AnnotationExemption::Valid { ids, reason, until } if ids.iter().any(|i| i == "*" || i == id) => {
            Some(Exemption { reason: reason.clone(), source: "annotation", until: until.map(|d| d.to_string()) })
        }
        _ => None,
    }
}

/// The verdict of one recommendation on one resource, exemptions applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Judged and passing.
    Healthy,
    /// Judged and failing.
    Unhealthy(&'a [Finding]),
    /// Failing, but exempt.
    Exempt(&'a [Finding], Exemption),
    /// In scope but not judged, with the reason.
    NotEvaluated(&'a str),
}

/// One resource's verdicts, by catalogue index (rows absent are not applicable to it).
#[derive(Debug, Clone)]
pub struct Judged<'a> {
    /// The resource.
    pub resource: &'a ResourceRecord,
    /// Verdicts by catalogue index, in index order.
    pub verdicts: Vec<(usize, Verdict<'a>)>,
}

impl<'a> Judged<'a> {
    /// The verdict for catalogue index `i`.
    pub fn verdict(&self, i: usize) -> Option<&Verdict<'a>> {
        self.verdicts.iter().find(|(j, _)| *j == i).map(|(_, v)| v)
    }
}

/// Judges one resource: its outcomes with exemptions applied. Problems with its annotations
/// (a malformed date, an unknown id) go to `warnings`.
pub fn judge<'a>(cfg: &Config, rec: &'a ResourceRecord, today: Date, warnings: &mut Vec<String>) -> Judged<'a> {
    let ann = annotation_exemption(cfg, rec, today, warnings);
    let verdicts = rec
        .outcomes
        .iter()
        .map(|(i, o)| {
            let i = usize::from(*i);
            let v = match o {
                Outcome::Pass => Verdict::Healthy,
                Outcome::NotEvaluated(why) => Verdict::NotEvaluated(why),
                Outcome::Fail(f) => match find(cfg, crate::catalog::CATALOG[i].id, rec, &ann, today) {
                    Some(x) => Verdict::Exempt(f, x),
                    None => Verdict::Unhealthy(f),
                },
            };
            (i, v)
        })
        .collect();
    Judged { resource: rec, verdicts }
}
