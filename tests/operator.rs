//! The operator end to end against the in-memory API server: reports, gauges, config reloads,
//! exemptions, put-back of edited reports, faults, CRD conformance, kubectl (leader election: `operator_leader.rs`).

mod e2e;

use e2e::{Cluster, deploy, eventually, namespace, pods_of, row_of, scrape, series, state};
use serde_json::{Value, json};

const PRIV: &str = "privileged-containers";

fn unprivileged(mut pod: Value) -> Value {
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = json!(false);
    pod
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_and_gauges_follow_pods_namespaces_exemptions_and_config() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server
        .seed([
            namespace("shop"),
            namespace("quiet"),
            deploy("shop", "web").privileged().replicas(2).build(),
            deploy("shop", "api").build(),
        ])
        .unwrap();
    let op = c.operator("kompliance-test", false).await;

    eventually("web reported as privileged", || state(&c.row("shop", PRIV)) == ("Unhealthy".into(), 1)).await;
    let row = c.row("shop", PRIV).unwrap();
    assert_eq!(
        (row["unhealthy"][0]["kind"].as_str(), row["unhealthy"][0]["name"].as_str(), row["unhealthy"][0]["pods"].as_u64()),
        (Some("Deployment"), Some("web"), Some(2))
    );
    eventually("an empty namespace gets a report", || c.report("quiet").is_some()).await;
    eventually("the cluster report exists", || c.cluster_report().is_some()).await;
    let m = scrape(op.metrics_addr).await;
    assert_eq!(series(&m, "kompliance_unhealthy_resources", &[("namespace", "shop"), ("recommendation", PRIV)]), Some(1.0), "{m}");
    assert!(op.ready.load(std::sync::atomic::Ordering::Relaxed));

    // Fixing the Pods makes the row Healthy.
    for p in pods_of(&c, "shop", "web-") {
        c.server.update(unprivileged(p)).unwrap();
    }
    eventually("fixed pods are healthy", || state(&c.row("shop", PRIV)) == ("Healthy".into(), 0)).await;

    // A bare privileged Pod is its own resource; deleting it heals the namespace again.
    let mut debug = pods_of(&c, "shop", "api-")[0].clone();
    debug["metadata"] = json!({"name": "debug", "namespace": "shop"});
    debug["spec"]["containers"][0]["securityContext"]["privileged"] = json!(true);
    c.server.create(debug.clone()).unwrap();
    eventually("bare pod reported", || {
        c.row("shop", PRIV).is_some_and(|r| r["unhealthy"][0]["kind"] == "Pod" && r["unhealthy"][0]["name"] == "debug")
    })
    .await;
    c.server.delete("v1", "Pod", "shop", "debug").unwrap();
    eventually("deleted pod forgotten", || state(&c.row("shop", PRIV)) == ("Healthy".into(), 0)).await;

    // An annotation exemption makes it Exempt, counted and listed.
    debug["metadata"]["annotations"] = json!({"kompliance.dev/exempt": PRIV, "kompliance.dev/exempt-reason": "break-glass debugging"});
    c.server.create(debug).unwrap();
    eventually("exempt pod listed", || {
        c.row("shop", PRIV).is_some_and(|r| r["counts"]["exempt"] == 1 && r["exempt"][0]["name"] == "debug")
    })
    .await;
    assert_eq!(c.row("shop", PRIV).unwrap()["exempt"][0]["exemptionReason"], "break-glass debugging");

    // A new configuration is applied without a restart; an invalid one is rejected and the last good one stays.
    let good = std::fs::read_to_string(c.config_path()).unwrap();
    let reloaded = good
        .replace("  privileged-containers:\n", "  privileged-containers:\n    effect: Disabled\n")
        .replace("excludedNamespaces: [kube-system,", "excludedNamespaces: [quiet, kube-system,");
    c.write_config(&reloaded);
    eventually("config reload disables the row", || state(&c.row("shop", PRIV)).0 == "Disabled").await;
    eventually("the report of a newly excluded namespace is removed", || c.report("quiet").is_none()).await;
    c.write_config("apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nexcludedNamespace: [typo]\n");
    let mut rejected = String::new();
    for _ in 0..200 {
        rejected = scrape(op.metrics_addr).await;
        if series(&rejected, "kompliance_config_last_reload_successful", &[]) == Some(0.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(series(&rejected, "kompliance_config_reloads_total", &[("result", "failure")]), Some(1.0), "{rejected}");
    eventually("ConfigRejected event recorded", || c.server.list("v1", "Event").iter().any(|e| e["reason"] == "ConfigRejected")).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(state(&c.row("shop", PRIV)).0, "Disabled", "the last good configuration stays in force");

    // Deleting the namespace removes its report and its series.
    c.server.delete("v1", "Namespace", "", "shop").unwrap();
    eventually("namespace report gone", || c.report("shop").is_none()).await;
    let mut gone = false;
    for _ in 0..200 {
        let m = scrape(op.metrics_addr).await;
        if !m.contains("namespace=\"shop\"") {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "no stale series of a deleted namespace");
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_and_deleted_reports_are_put_back() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").privileged().build()]).unwrap();
    let op = c.operator("kompliance-test", false).await;
    eventually("report written", || state(&c.row("shop", PRIV)) == ("Unhealthy".into(), 1)).await;

    let mut edited = c.report("shop").unwrap();
    edited["status"]["recommendations"] = json!([]);
    c.server.update(edited).unwrap();
    // The put-back may come before this thread reads again on a busy machine: the write log orders them.
    let writes = e2e::report_writes(&c);
    let edit = writes.iter().rposition(|w| w.1 == "testkube-seed" && w.3 == "status").expect("the edit is logged");
    eventually("edited report restored", || {
        state(&c.row("shop", PRIV)) == ("Unhealthy".into(), 1)
            && e2e::report_writes(&c)[edit + 1..].iter().any(|w| w.1 == "kompliance-test" && w.4 == "shop")
    })
    .await;

    c.server.delete("kompliance.dev/v1alpha1", "ComplianceReport", "shop", "kompliance").unwrap();
    eventually("deleted report recreated", || state(&c.row("shop", PRIV)) == ("Unhealthy".into(), 1)).await;
    // The cluster report is written once the probes have answered, maybe after the namespace reports.
    eventually("cluster report written", || c.cluster_report().is_some_and(|r| r.get("status").is_some())).await;
    c.server.delete("kompliance.dev/v1alpha1", "ComplianceClusterReport", "", "cluster").unwrap();
    eventually("deleted cluster report recreated", || c.cluster_report().is_some_and(|r| r.get("status").is_some())).await;
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_reports_match_the_crd_schema_the_metrics_and_kubectl() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed(testkube::seed::read_objects(&e2e::root().join("examples")).unwrap().into_iter().map(|(_, o)| o)).unwrap();
    let op = c.operator("kompliance-test", false).await;
    eventually("reports of the examples", || c.report("legacy").is_some() && c.cluster_report().is_some_and(|r| r.get("status").is_some()))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;

    let schemas: Vec<Value> =
        e2e::committed_crds().iter().map(|crd| crd.pointer("/spec/versions/0/schema/openAPIV3Schema").cloned().unwrap()).collect();
    let mut reports = c.server.list("kompliance.dev/v1alpha1", "ComplianceReport");
    assert!(reports.len() >= 4, "{reports:?}");
    let cluster = c.cluster_report().unwrap();
    for (obj, schema) in reports.iter().map(|r| (r, &schemas[0])).chain([(&cluster, &schemas[1])]) {
        let mut copy = obj.clone();
        assert!(testkube::schema::prune(&mut copy, schema).is_empty(), "fields outside the committed schema");
        assert_eq!(testkube::schema::validate(obj, schema), Vec::<String>::new());
    }

    // /metrics equals the reports.
    let m = scrape(op.metrics_addr).await;
    reports.sort_by_key(|r| r["metadata"]["namespace"].as_str().unwrap_or_default().to_string());
    let mut compared = 0;
    for r in &reports {
        let ns = r["metadata"]["namespace"].as_str().unwrap();
        for e in r["status"]["recommendations"].as_array().unwrap() {
            let id = e["id"].as_str().unwrap();
            let gauge = series(&m, "kompliance_unhealthy_resources", &[("namespace", ns), ("recommendation", id)]);
            match e["state"].as_str().unwrap() {
                "Healthy" | "Unhealthy" => {
                    assert_eq!(gauge, e["counts"]["unhealthy"].as_f64(), "{ns}/{id}");
                    compared += 1;
                }
                _ => assert_eq!(gauge, None, "{ns}/{id}: no resource gauges outside Healthy/Unhealthy"),
            }
            assert_eq!(
                series(
                    &m,
                    "kompliance_recommendation_state",
                    &[("namespace", ns), ("recommendation", id), ("state", e["state"].as_str().unwrap())]
                ),
                Some(1.0)
            );
        }
    }
    assert!(compared > 20, "compared {compared} rows");
    let rv = row_of(&cluster, "kubernetes-rbac").unwrap();
    assert_eq!(rv["state"], "Healthy", "testkube denies access reviews by default: {rv}");

    // kubectl against the test server shows the printer columns.
    let kubeconfig = c.dir.path().join("kubeconfig");
    c.server.write_kubeconfig(&kubeconfig, "kubectl").unwrap();
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(c.dir.path().join("cache"))
        .args(["get", "compliancereports", "-A"])
        .output()
        .expect("kubectl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let header: Vec<&str> = text.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAMESPACE", "NAME", "SCORE", "HIGH", "MEDIUM", "LOW", "EXEMPT", "EVALUATED"], "{text}");
    let legacy = reports.iter().find(|r| r["metadata"]["namespace"] == "legacy").unwrap();
    let summary = &legacy["status"]["summary"];
    let by_sev = &summary["unhealthyBySeverity"];
    let cells = [&summary["score"], &by_sev["high"], &by_sev["medium"], &by_sev["low"]].map(Value::to_string);
    assert!(summary["score"].is_u64(), "{summary}");
    let line = text.lines().find(|l| l.starts_with("legacy ")).unwrap_or_default();
    assert!(line.split_whitespace().skip(2).take(4).eq(cells.iter().map(String::as_str)), "{text}");
    // The Ready condition: True, evaluated by this pass, and the next evaluation due one resync later.
    let ready = &legacy["status"]["conditions"][0];
    assert_eq!(
        (ready["type"].as_str(), ready["status"].as_str(), ready["reason"].as_str()),
        (Some("Ready"), Some("True"), Some("Evaluated"))
    );
    let at: jiff::Timestamp = ready["lastTransitionTime"].as_str().unwrap().parse().unwrap();
    let next: jiff::Timestamp = ready["nextEvaluation"].as_str().unwrap().parse().unwrap();
    assert!((jiff::Timestamp::now() - at).get_seconds().abs() < 120, "{ready}");
    assert!(next > at, "{ready}");
    let age = line.split_whitespace().last().unwrap_or_default();
    assert!(age.ends_with('s') || age.ends_with('m'), "the EVALUATED column shows the condition's age: {text}");
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_probes_judge_rbac_and_the_api_server_version() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop")]).unwrap();
    let op = c.operator_with("kompliance-test", false, |o| o.probe_interval = std::time::Duration::from_millis(300)).await;
    let cluster_row = |id: &str| c.cluster_report().and_then(|r| row_of(&r, id));
    eventually("healthy probes", || {
        state(&cluster_row("kubernetes-rbac")).0 == "Healthy" && state(&cluster_row("non-vulnerable-kubernetes-version")).0 == "Healthy"
    })
    .await;
    assert_eq!(state(&cluster_row("azure-policy-addon")).0, "Unhealthy", "no add-on Deployments on the test server");
    // The add-on as AKS installs it: Gatekeeper's controller is `gatekeeper-controller` there.
    let available = |ns: &str, name: &str| {
        let mut d = e2e::deploy(ns, name).build();
        d["status"] = json!({"availableReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]});
        d
    };
    c.server
        .seed([
            namespace("gatekeeper-system"),
            available("kube-system", "azure-policy"),
            available("kube-system", "azure-policy-webhook"),
            available("gatekeeper-system", "gatekeeper-controller"),
            available("gatekeeper-system", "gatekeeper-audit"),
        ])
        .unwrap();
    eventually("the AKS add-on's naming is healthy", || state(&cluster_row("azure-policy-addon")).0 == "Healthy").await;
    assert_eq!(state(&cluster_row("registry-private-link")).0, "NotEvaluated");
    c.server.set_sar_allowed(true);
    c.server.set_version("v1.13.2");
    eventually("AlwaysAllow and a vulnerable version are unhealthy", || {
        state(&cluster_row("kubernetes-rbac")).0 == "Unhealthy" && state(&cluster_row("non-vulnerable-kubernetes-version")).0 == "Unhealthy"
    })
    .await;
    let version = cluster_row("non-vulnerable-kubernetes-version").unwrap();
    assert!(version["unhealthy"][0]["message"].as_str().unwrap_or_default().contains("CVE-2019-9946"), "{version}");
    op.shutdown().await;
}

fn vulnerability_report(rs: &str, container: &str, repo: &str, tag: &str, vulns: Value) -> Value {
    json!({"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReport",
        "metadata": {"name": format!("replicaset-{rs}-{container}"), "namespace": "shop", "labels": {
            "trivy-operator.resource.kind": "ReplicaSet", "trivy-operator.resource.name": rs,
            "trivy-operator.resource.namespace": "shop", "trivy-operator.container.name": container}},
        "report": {"registry": {"server": "index.docker.io"}, "artifact": {"repository": repo, "tag": tag},
            "scanner": {"name": "Trivy"}, "vulnerabilities": vulns}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_vulnerabilities_follow_trivy_reports_and_the_crd() {
    const VULN: &str = "image-vulnerabilities";
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").image("nginx:1.14").replicas(2).build()]).unwrap();
    let op = c.operator_with("kompliance-test", false, |o| o.probe_interval = std::time::Duration::from_millis(300)).await;
    eventually("no CRD: NotEvaluated", || {
        c.row("shop", VULN).is_some_and(|r| r["state"] == "NotEvaluated" && r["reason"].as_str().unwrap_or("").contains("CRD"))
    })
    .await;

    let crd: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(e2e::root().join("tests/fixtures/trivy/vulnerabilityreports-crd.yaml")).unwrap())
            .unwrap();
    c.server.seed([crd]).unwrap();
    eventually("CRD found, no report yet: NotEvaluated naming the container", || {
        c.row("shop", VULN).is_some_and(|r| r["state"] == "NotEvaluated" && r["reason"].as_str().unwrap_or("").contains("app (nginx:1.14)"))
    })
    .await;

    let rs = c.server.list("apps/v1", "ReplicaSet")[0]["metadata"]["name"].as_str().unwrap().to_string();
    let bad = json!([
        {"vulnerabilityID": "CVE-2024-0001", "severity": "CRITICAL", "fixedVersion": "1.14.3", "installedVersion": "1.14.0", "resource": "openssl"},
        {"vulnerabilityID": "CVE-2024-0002", "severity": "HIGH", "fixedVersion": "", "installedVersion": "1.0", "resource": "zlib"},
        {"vulnerabilityID": "CVE-2024-0003", "severity": "LOW", "fixedVersion": "2", "installedVersion": "1", "resource": "bash"}]);
    // A report of another tag does not count for this container.
    c.server.create(vulnerability_report(&format!("{rs}-old"), "app", "library/nginx", "1.13", bad.clone())).unwrap();
    c.server.create(vulnerability_report(&rs, "app", "library/nginx", "1.14", bad)).unwrap();
    eventually("a fixable CRITICAL vulnerability makes the Deployment unhealthy", || {
        state(&c.row("shop", VULN)) == ("Unhealthy".into(), 1)
    })
    .await;
    let row = c.row("shop", VULN).unwrap();
    let message = row["unhealthy"][0]["message"].as_str().unwrap();
    assert!(message.contains("CVE-2024-0001") && !message.contains("CVE-2024-0002") && !message.contains("CVE-2024-0003"), "{message}");
    assert_eq!(
        (row["unhealthy"][0]["kind"].as_str(), row["unhealthy"][0]["name"].as_str(), row["unhealthy"][0]["pods"].as_u64()),
        (Some("Deployment"), Some("web"), Some(2))
    );
    let m = scrape(op.metrics_addr).await;
    assert_eq!(series(&m, "kompliance_unhealthy_resources", &[("namespace", "shop"), ("recommendation", VULN)]), Some(1.0));

    // The same objects dumped (`kubectl get pods,replicasets,vulnerabilityreports -A -o json`) and
    // given to the audit decide #24 the same way.
    let mut items = c.server.list("v1", "Pod");
    items.extend(c.server.list("apps/v1", "ReplicaSet"));
    items.extend(c.server.list("aquasecurity.github.io/v1alpha1", "VulnerabilityReport"));
    let dump = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": items})).unwrap();
    let cfg = kompliance::config::Config::load(&c.config_path()).unwrap();
    let opts = kompliance::audit::AuditOptions {
        paths: vec!["-".into()],
        default_namespace: "default".into(),
        kubernetes_version: None,
        now: jiff::Timestamp::now(),
        lang: Default::default(),
    };
    let audited = kompliance::audit::run(&cfg, &opts, dump.as_slice());
    assert!(audited.errors.is_empty(), "{:?}", audited.errors);
    let (_, shop) = audited.reports().into_iter().find(|(ns, _)| ns == "shop").expect("shop audited");
    let audit_row = shop.recommendations.iter().find(|e| e.id == VULN).expect("row");
    assert_eq!((audit_row.state, audit_row.counts.unhealthy), (kompliance::report::State::Unhealthy, 1));
    assert_eq!(audit_row.unhealthy[0].message, message, "the audit's finding is the operator's");

    // The scanner re-runs after a fix: the report changes and the row heals.
    c.server.update(vulnerability_report(&rs, "app", "library/nginx", "1.14", json!([]))).unwrap();
    eventually("the fixed report makes it healthy", || state(&c.row("shop", VULN)) == ("Healthy".into(), 0)).await;
    c.server.delete("aquasecurity.github.io/v1alpha1", "VulnerabilityReport", "shop", &format!("replicaset-{rs}-app")).unwrap();
    eventually("without its report it is NotEvaluated again, never Healthy", || state(&c.row("shop", VULN)).0 == "NotEvaluated").await;
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_without_the_crds_fails_with_the_fix() {
    let _serial = e2e::SERIAL.lock().await;
    let server = testkube::TestKube::start().await.unwrap();
    let mut cfg = kube::Config::new(server.url().parse().unwrap());
    cfg.default_retry = false;
    let opts = kompliance::operator::run::RunOptions { metrics_addr: "127.0.0.1:0".into(), ..Default::default() };
    match kompliance::operator::run::start(cfg, opts).await {
        Err(e) => assert!(e.to_string().contains("kompliance crd | kubectl apply -f -"), "{e}"),
        Ok(_) => panic!("started without CRDs"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_to_namespaces_it_reports_only_those() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server
        .seed([
            namespace("shop"),
            namespace("other"),
            deploy("shop", "web").privileged().build(),
            deploy("other", "web").privileged().build(),
        ])
        .unwrap();
    let op =
        c.operator_with("kompliance-test", false, |o| o.reach = kompliance::operator::reach::Reach::Namespaces(vec!["shop".into()])).await;
    eventually("the listed namespace is reported", || state(&c.row("shop", PRIV)) == ("Unhealthy".into(), 1)).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(c.report("other").is_none(), "a namespace outside --namespaces gets no report");
    assert!(c.cluster_report().is_none(), "no cluster report in a Roles-only install");
    let m = scrape(op.metrics_addr).await;
    assert!(series(&m, "kompliance_unhealthy_resources", &[("namespace", "other")]).is_none());
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_own_annotations_and_custom_owners_count_as_in_the_audit() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    // Exempt by the Deployment's own metadata (not its pod template): the audit honours that.
    let mut web = deploy("shop", "web").privileged().build();
    web["metadata"]["annotations"] = json!({"kompliance.dev/exempt": PRIV, "kompliance.dev/exempt-reason": "reviewed"});
    // An operator's StatefulSet, owned by its custom resource: reported as the StatefulSet.
    let mut sts = deploy("shop", "prometheus-k8s").privileged().build();
    sts["kind"] = json!("StatefulSet");
    sts["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "name": "k8s", "uid": "u-prom", "controller": true}]);
    c.server.seed([namespace("shop"), web, sts]).unwrap();
    let _op = c.operator("kompliance-test", false).await;
    eventually("the StatefulSet is reported", || state(&c.row("shop", PRIV)).1 == 1).await;
    let row = c.row("shop", PRIV).unwrap();
    assert_eq!((row["unhealthy"][0]["kind"].as_str(), row["unhealthy"][0]["name"].as_str()), (Some("StatefulSet"), Some("prometheus-k8s")));
    assert_eq!(row["counts"]["exempt"].as_u64(), Some(1), "{row}");
    assert_eq!((row["exempt"][0]["kind"].as_str(), row["exempt"][0]["name"].as_str()), (Some("Deployment"), Some("web")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn korean_titles_from_the_configuration_and_from_lang() {
    use kompliance::catalog::{Lang, by_id};
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").privileged().build()]).unwrap();
    let ko = by_id(PRIV).unwrap().title_in(Lang::Ko);
    let en = by_id(PRIV).unwrap().title_in(Lang::En);
    assert_ne!(ko, en);
    let title = |c: &Cluster| c.row("shop", PRIV).and_then(|r| r["title"].as_str().map(str::to_string));
    let info = |m: &str, t: &str| series(m, "kompliance_recommendation_info", &[("recommendation", PRIV), ("title", t)]);

    // The example configuration says `language: en`; a reload to `ko` writes Korean titles everywhere.
    let op = c.operator("kompliance-test", false).await;
    eventually("English report", || title(&c).as_deref() == Some(en)).await;
    assert_eq!(info(&scrape(op.metrics_addr).await, en), Some(1.0));
    let text = std::fs::read_to_string(e2e::root().join("example-config.yaml")).unwrap();
    assert!(text.contains("\nlanguage: en\n"));
    c.write_config(&text.replace("\nlanguage: en\n", "\nlanguage: ko\n"));
    eventually("Korean report after the reload", || title(&c).as_deref() == Some(ko)).await;
    let rollup_title = |c: &Cluster| {
        let cluster = c.cluster_report()?;
        let rollup = cluster["status"]["namespaced"].as_array()?.iter().find(|e| e["id"] == PRIV)?.clone();
        rollup["title"].as_str().map(str::to_string)
    };
    eventually("the cluster report's roll-up in Korean", || rollup_title(&c).as_deref() == Some(ko)).await;
    let m = scrape(op.metrics_addr).await;
    assert_eq!(info(&m, ko), Some(1.0), "the info gauge's title label is Korean");
    assert_eq!(info(&m, en), None);
    op.shutdown().await;

    // --lang wins over the configuration (the old report is deleted: this operator must write it).
    c.write_config(&text);
    c.server.delete("kompliance.dev/v1alpha1", "ComplianceReport", "shop", "kompliance").unwrap();
    let op = c.operator_with("kompliance-test", false, |o| o.lang = Some(Lang::Ko)).await;
    eventually("Korean report with --lang ko", || title(&c).as_deref() == Some(ko)).await;
    let m = scrape(op.metrics_addr).await;
    assert_eq!((info(&m, ko), info(&m, en)), (Some(1.0), None));
    op.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resync_refreshes_the_ready_condition_of_unchanged_reports() {
    let _serial = e2e::SERIAL.lock().await;
    let c = Cluster::new().await;
    c.server.seed([namespace("shop"), deploy("shop", "web").build()]).unwrap();
    let op = c.operator_with("kompliance-test", false, |o| o.resync_interval = std::time::Duration::from_secs(2)).await;
    let ready = |c: &Cluster| c.report("shop").map(|r| r["status"]["conditions"][0].clone()).filter(|r| r.is_object());
    eventually("a Ready condition", || ready(&c).is_some()).await;
    let first = ready(&c).unwrap();
    let findings = c.report("shop").unwrap()["status"]["recommendations"].clone();
    let due: jiff::Timestamp = first["nextEvaluation"].as_str().unwrap().parse().unwrap();
    let at: jiff::Timestamp = first["lastTransitionTime"].as_str().unwrap().parse().unwrap();
    assert_eq!((due - at).get_seconds(), 2, "due one resync interval later: {first}");
    // Nothing changes in the namespace, yet the next pass writes a newer condition: a reader can
    // tell a live operator's report from a stale one.
    eventually("the next pass's condition", || ready(&c).is_some_and(|r| r["lastTransitionTime"] != first["lastTransitionTime"])).await;
    assert_eq!(c.report("shop").unwrap()["status"]["recommendations"], findings);
    let now = jiff::Timestamp::now();
    let status: kompliance::report::ReportStatus = serde_json::from_value(c.report("shop").unwrap()["status"].clone()).unwrap();
    assert!(!kompliance::report::is_stale(&status.conditions, now));
    op.shutdown().await;
}
