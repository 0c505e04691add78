//! SARIF 2.1.0 output for code-scanning UIs: one result per failing resource and recommendation.

use super::AuditResult;
use crate::catalog::{CATALOG, Severity};
use crate::exempt::{self, Verdict};
use serde_json::{Value, json};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::High => "8.0",
        Severity::Medium => "5.0",
        Severity::Low => "2.0",
    }
}

/// Builds the SARIF log; exempt findings are results with a suppression.
pub fn sarif(result: &AuditResult) -> Value {
    let (cfg, today) = (result.config(), result.today());
    let rules: Vec<Value> = CATALOG
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let sev = cfg.rec(i).severity;
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": {"text": r.title_in(result.lang())},
                "fullDescription": {"text": r.description},
                "help": {"text": r.remediation},
                "defaultConfiguration": {"level": level(sev)},
                "properties": {"security-severity": security_severity(sev), "precision": "very-high", "tags": ["security", "kubernetes"], "policyDefinitionId": r.policy_definition_id()}
            })
        })
        .collect();
    let mut results = vec![];
    let mut ignore = vec![];
    for rec in result.resources() {
        let judged = exempt::judge(cfg, rec, today, &mut ignore);
        for (i, verdict) in &judged.verdicts {
            let (findings, exemption) = match verdict {
                Verdict::Unhealthy(f) => (*f, None),
                Verdict::Exempt(f, x) => (*f, Some(x)),
                Verdict::Healthy | Verdict::NotEvaluated(_) => continue,
            };
            let i = *i;
            let r = &CATALOG[i];
            let (uri, line) = rec.origin.as_ref().map_or(("-".to_string(), 1), |o| (o.file.to_string(), o.line.max(1)));
            let uri = if uri == "-" { "stdin".to_string() } else { uri };
            let ns = if rec.key.namespace.is_empty() { String::new() } else { format!("{}/", rec.key.namespace) };
            let text = findings.iter().map(|f| &*f.message).collect::<Vec<_>>().join("; ");
            let mut res = json!({
                "ruleId": r.id,
                "ruleIndex": i,
                "level": level(cfg.rec(i).severity),
                "message": {"text": format!("{ns}{}: {text}", rec.key)},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": line}},
                    "logicalLocations": [{"fullyQualifiedName": format!("{ns}{}", rec.key), "kind": "resource"}]
                }],
                "partialFingerprints": {"resource/v1": format!("{}:{ns}{}", r.id, rec.key)}
            });
            if let Some(x) = exemption {
                res["suppressions"] = json!([{"kind": "external", "justification": format!("{} ({})", x.reason, x.source)}]);
            }
            results.push(res);
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "kompliance", "version": crate::VERSION, "rules": rules}},
            "results": results,
            "columnKind": "unicodeCodePoints"
        }]
    })
}
