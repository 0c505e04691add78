//! SARIF 2.1.0 output for code-scanning UIs: one result per failing resource and recommendation.

use super::AuditResult;
use crate::catalog::links::recommendation_doc_url;
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

/// Writes the SARIF log one result at a time (a huge input never holds every result in memory);
/// exempt findings are results with a suppression.
pub fn write_sarif(result: &AuditResult, out: &mut dyn std::io::Write) -> std::io::Result<()> {
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
                "help": {"text": r.remediation, "markdown": format!("{} [Documentation]({})", r.remediation, recommendation_doc_url(r.id))},
                "helpUri": recommendation_doc_url(r.id),
                "defaultConfiguration": {"level": level(sev)},
                "properties": {"security-severity": security_severity(sev), "precision": "very-high", "tags": ["security", "kubernetes"], "policyDefinitionId": r.policy_definition_id()}
            })
        })
        .collect();
    let head = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "kompliance", "version": crate::VERSION, "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": []
        }]
    });
    // The head with its empty results list, opened up so the results stream into it.
    let text = serde_json::to_string(&head).map_err(std::io::Error::other)?;
    let Some(open) = text.strip_suffix("]}]}") else {
        return Err(std::io::Error::other("SARIF head does not end with its results list"));
    };
    out.write_all(open.as_bytes())?;
    let mut first = true;
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
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            serde_json::to_writer(&mut *out, &res).map_err(std::io::Error::other)?;
        }
    }
    out.write_all(b"\n]}]}\n")
}
