//! The operator's flushes: building the namespace and cluster reports (and the OpenReports) from
//! the verdict store, stamping them and handing them to the writers.

use super::*;

impl Operator {
    pub(super) fn build_options(&self) -> BuildOptions {
        let lang = self.opts.lang.or(self.cfg.language).unwrap_or_default();
        BuildOptions {
            lang,
            today: jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC).date(),
            show_pods: true,
            message_cap: Some(crate::report::build::MESSAGE_CAP),
        }
    }

    pub(super) fn ready_condition(&self) -> crate::report::Condition {
        crate::report::ready_condition(self.pass_at, self.opts.resync_interval)
    }

    pub(super) fn stamp(&self, status: &mut impl Stamp) {
        let now = jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default();
        status.stamp(now, env!("CARGO_PKG_VERSION").to_string(), self.cfg.hash.clone());
    }

    pub(super) fn flush(&mut self, scopes: Vec<String>) {
        let _span = info_span!("flush", scopes = scopes.len()).entered();
        let opts = self.build_options();
        let mut cluster = false;
        for ns in scopes {
            if ns == CLUSTER {
                cluster = true;
                continue;
            }
            if !self.store.has_namespace(&ns) {
                continue;
            }
            let records = self.store.records(&ns);
            let mut st = crate::report::build::namespace_report(&ns, &records, &self.cfg, &opts);
            self.to_openreports(&ns, &records, &opts);
            // Changed findings (not only a new pass's condition) make the cluster report follow.
            let findings = content_hash_mut(&mut st);
            st.set_ready(self.ready_condition());
            let hash = content_hash_mut(&mut st);
            self.stamp(&mut st);
            let changed = self.report_hashes.insert(ns.clone(), findings.clone()).as_ref() != Some(&findings);
            let status = raw(&st);
            if let Ok(mut m) = self.live.namespaces.write() {
                self.rollup.replace(&ns, m.get(&ns), &st);
                m.insert(ns.clone(), st);
            }
            if changed {
                info!(namespace = %ns, "report changed");
                cluster = true;
            }
            let term = self.watch_term.unwrap_or(0);
            self.to_writer(Msg::Write(Job { scope: Scope::Namespace(ns), status, hash, term }));
        }
        // The cluster report waits for the probes' first answer: written once per start, with their results.
        if cluster && self.opts.reach.cluster_wide() {
            if self.probed || std_now() >= self.probe_wait_until {
                self.flush_cluster(&opts);
            } else {
                self.debouncer.touch(CLUSTER, std_now());
            }
        }
        if cluster && self.full_pass {
            // The resync's reports are rebuilt: that is the end of the full pass.
            self.full_pass = false;
            self.pass_done();
        }
    }

    /// Sends a namespace's workloads with kept OpenReports results to their writer (when on).
    pub(super) fn to_openreports(&self, ns: &str, records: &[crate::model::ResourceRecord], opts: &BuildOptions) {
        let Some(tx) = &self.openreports else { return };
        let now = crate::openreports::Timestamp::of(jiff::Timestamp::now());
        let mut ignore = vec![];
        let workloads = records
            .iter()
            .map(|rec| {
                let judged = crate::exempt::judge(&self.cfg, rec, opts.today, &mut ignore);
                let uid = self.uids.get(&rec.key);
                let results = crate::openreports::render::resource_results(&judged, &self.cfg, &self.opts.openreports_results, uid, now);
                (rec.key.clone(), uid.map(str::to_string), results)
            })
            .filter(|(_, _, r)| !r.is_empty())
            .collect();
        if tx.send(crate::operator::openreports::OrMsg::Namespace(ns.to_string(), workloads)).is_err() {
            warn!("the OpenReports writer has stopped");
        }
    }

    pub(super) fn flush_cluster(&mut self, opts: &BuildOptions) {
        let azure = match &self.azure {
            Some(snap) => Ok(snap.clone()),
            None => Err("Azure Resource Manager has not been read yet".to_string()),
        };
        let obs = self.probes.observations(self.store.nodes().cloned().collect(), azure);
        let facts = crate::cluster_facts::cluster_facts(&obs, &self.cfg);
        let mut st = cluster_report(&facts, &self.rollup, &self.cfg, opts);
        st.set_ready(self.ready_condition());
        if let Some(tx) = &self.openreports {
            let now = crate::openreports::Timestamp::of(jiff::Timestamp::now());
            let results = crate::openreports::render::cluster_results(&facts, &self.cfg, opts.today, &self.opts.openreports_results, now);
            if tx.send(crate::operator::openreports::OrMsg::Cluster(results)).is_err() {
                warn!("the OpenReports writer has stopped");
            }
        }
        let hash = cluster_content_hash_mut(&mut st);
        self.stamp(&mut st);
        let status = raw(&st);
        if let Ok(mut c) = self.live.cluster.write() {
            *c = st;
        }
        let term = self.watch_term.unwrap_or(0);
        self.to_writer(Msg::Write(Job { scope: Scope::Cluster, status, hash, term }));
    }
}
