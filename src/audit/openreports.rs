//! `kompliance audit -o openreports`: one `v1/List` with a `Report` per namespace (named
//! `kompliance`, every workload's results; a file has no size limit, so grouping by namespace is
//! fine offline) and one `ClusterReport` for the cluster and Azure rows.

use super::AuditResult;
use crate::exempt::judge;
use crate::openreports::render::{ReportMeta, cluster_results, report_object, resource_results, sort_results};
use crate::openreports::{CLUSTER_REPORT_NAME, NAMESPACE_REPORT_NAME, ResultFilter, Timestamp};
use std::io::{self, Write};

/// Writes the list as JSON; namespaces without a kept result get no `Report`.
pub fn write_openreports(result: &AuditResult, filter: &ResultFilter, out: &mut dyn Write) -> io::Result<()> {
    let (cfg, today) = (result.config(), result.today());
    let now = Timestamp::of(result.stamp().parse().map_err(|e| io::Error::other(format!("audit clock {:?}: {e}", result.stamp())))?);
    out.write_all(b"{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": [\n")?;
    let mut ignore = vec![];
    for (ns, resources) in result.namespaces() {
        let mut results = vec![];
        for rec in resources {
            results.extend(resource_results(&judge(cfg, rec, today, &mut ignore), cfg, filter, None, now));
        }
        if results.is_empty() {
            continue;
        }
        sort_results(&mut results);
        let meta = ReportMeta { name: NAMESPACE_REPORT_NAME.into(), namespace: Some(ns.to_string()), ..Default::default() };
        serde_json::to_writer_pretty(&mut *out, &report_object(&meta, &results, filter)).map_err(io::Error::other)?;
        out.write_all(b",\n")?;
        ignore.clear();
    }
    let results = cluster_results(result.facts(), cfg, today, filter, now);
    let meta = ReportMeta { name: CLUSTER_REPORT_NAME.into(), ..Default::default() };
    serde_json::to_writer_pretty(&mut *out, &report_object(&meta, &results, filter)).map_err(io::Error::other)?;
    out.write_all(b"\n  ]\n}\n")
}
