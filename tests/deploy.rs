//! The operator's own install passes its own audit (contract.md: `kubectl kustomize deploy/ | kompliance audit -`).

mod common;

use std::process::Command;

#[test]
fn kustomized_deploy_base_has_nothing_unhealthy() {
    let out = match Command::new("kubectl").args(["kustomize", "deploy/"]).current_dir(common::root()).output() {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => panic!("kubectl kustomize deploy/ failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            eprintln!("skipping: kubectl is not available ({e})");
            return;
        }
    };
    let cfg = common::config("deploy/kompliance-config.yaml");
    let result = common::audit_stdin(&cfg, out, None);
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let mut kinds: Vec<String> = result.resources().map(|r| r.key.to_string()).collect();
    kinds.sort();
    assert_eq!(kinds, ["Deployment/kompliance", "Service/kompliance-metrics"]);
    let s = &result.cluster().summary;
    // The Service is judged only by service-allowed-ports, NotConfigured in the production config.
    assert_eq!((s.resources.evaluated, s.resources.unhealthy, s.resources.exempt), (1, 0, 0), "{s:?}");
    // Every namespaced recommendation that can judge it did, and passed; only those that need a
    // value from the cluster admin are NotConfigured (the production config sets none).
    let reports = result.reports();
    let (ns, st) = &reports[0];
    assert_eq!(ns, "kompliance-system");
    let not_configured: Vec<&str> =
        st.recommendations.iter().filter(|e| e.state == kompliance::report::State::NotConfigured).map(|e| e.id.as_str()).collect();
    assert_eq!(not_configured, ["trusted-registries", "container-allowed-ports", "service-allowed-ports"]);
    // Two replicas and a PodDisruptionBudget, as contract.md asks.
    assert!(result.stats.skipped_kinds.contains_key("policy/PodDisruptionBudget"));
}

#[test]
fn the_deployment_args_are_valid_operator_flags() {
    use clap::Parser;
    #[derive(Parser)]
    struct Run {
        #[command(subcommand)]
        cmd: Cmd,
    }
    #[derive(clap::Subcommand)]
    enum Cmd {
        Run(kompliance::operator::cli::RunArgs),
    }
    let text = std::fs::read_to_string(common::root().join("deploy/deployment.yaml")).expect("deployment.yaml");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
    let args: Vec<String> = doc
        .pointer("/spec/template/spec/containers/0/args")
        .and_then(|a| a.as_array())
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").replace("$(POD_NAMESPACE)", "kompliance-system"))
        .collect();
    let parsed = Run::try_parse_from(std::iter::once("kompliance".to_string()).chain(args)).unwrap_or_else(|e| panic!("{e}"));
    let Cmd::Run(run) = parsed.cmd;
    let opts = kompliance::operator::cli::options(&run);
    assert_eq!(opts.lease.expect("leader election on").namespace, "kompliance-system");
    assert_eq!(opts.metrics_addr, "0.0.0.0:8443");
    assert!(opts.metrics_secure, "the Deployment serves secure metrics");
    let container = doc.pointer("/spec/template/spec/containers/0").expect("container");
    assert_eq!(container["ports"], serde_json::json!([{"name": "https", "containerPort": 8443}]));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(container[probe]["httpGet"]["scheme"], "HTTPS", "{probe} uses the metrics port's TLS");
        assert_eq!(container[probe]["httpGet"]["port"], "https");
    }
    let grace: u64 = doc.pointer("/spec/template/spec/terminationGracePeriodSeconds").and_then(|g| g.as_u64()).expect("grace");
    assert!(opts.grace.as_secs() < grace, "the operator's write grace fits in the Pod's termination grace period");
}

#[test]
fn the_monitoring_component_adds_a_service_monitor_that_selects_the_metrics_service() {
    let Some(docs) = with_component("monitoring") else { return };
    let monitor = docs.iter().find(|d| d["kind"] == "ServiceMonitor").expect("ServiceMonitor");
    let service = docs.iter().find(|d| d["kind"] == "Service").expect("Service");
    for (k, v) in monitor["spec"]["selector"]["matchLabels"].as_object().expect("selector") {
        assert_eq!(&service["metadata"]["labels"][k], v, "the ServiceMonitor selects the metrics Service");
    }
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(service["spec"]["ports"][0]["name"], "https");
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(endpoint["bearerTokenFile"], "/var/run/secrets/kubernetes.io/serviceaccount/token");
    assert_eq!(endpoint["tlsConfig"]["insecureSkipVerify"], true, "the default certificate is self-signed");
}

/// The base rendered by kustomize, as JSON documents (None without kubectl).
fn rendered_base() -> Option<Vec<serde_json::Value>> {
    let out = match Command::new("kubectl").args(["kustomize", "deploy/"]).current_dir(common::root()).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => panic!("kubectl kustomize deploy/ failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            eprintln!("skipping: kubectl is not available ({e})");
            return None;
        }
    };
    Some(out.split("\n---\n").map(|d| serde_saphyr::from_str(d).expect("yaml")).collect())
}

fn find<'a>(docs: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    docs.iter().find(|d| d["kind"] == kind && d["metadata"]["name"] == name).unwrap_or_else(|| panic!("no {kind}/{name}"))
}

/// Each (apiGroup, resource, verb) a rule grants, with `*` spelled out as such.
fn grants(role: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        let list = |k: &str| rule[k].as_array().map(|a| a.iter().map(|v| v.as_str().expect("string").to_string()).collect::<Vec<_>>());
        let verbs = list("verbs").expect("verbs");
        if let Some(urls) = list("nonResourceURLs") {
            out.extend(urls.iter().flat_map(|u| verbs.iter().map(move |v| format!("url {u} {v}"))));
            continue;
        }
        for g in list("apiGroups").expect("apiGroups") {
            for r in list("resources").expect("resources") {
                out.extend(verbs.iter().map(|v| format!("{g}/{r} {v}")));
            }
        }
    }
    out
}

/// What src/ calls, kept by hand (grep `Api::` and the watch list in src/operator/): watches list
/// and watch; the add-on probe gets Deployments; the writer applies reports (create when new,
/// patch) and their status, and deletes namespace reports; leader election gets, creates and
/// replaces its Lease; a rejected configuration is a core Event; the #19 probe and the metrics
/// server create access reviews, the metrics server token reviews.
const CLUSTER_VERBS: &[&str] = &[
    "/namespaces list",
    "/namespaces watch",
    "/nodes list",
    "/nodes watch",
    "/pods list",
    "/pods watch",
    "/services list",
    "/services watch",
    "apps/daemonsets list",
    "apps/daemonsets watch",
    "apps/deployments get",
    "apps/deployments list",
    "apps/deployments watch",
    "apps/replicasets list",
    "apps/replicasets watch",
    "apps/statefulsets list",
    "apps/statefulsets watch",
    "aquasecurity.github.io/vulnerabilityreports list",
    "aquasecurity.github.io/vulnerabilityreports watch",
    "authentication.k8s.io/tokenreviews create",
    "authorization.k8s.io/subjectaccessreviews create",
    "batch/cronjobs list",
    "batch/cronjobs watch",
    "batch/jobs list",
    "batch/jobs watch",
    "kompliance.dev/complianceclusterreports create",
    "kompliance.dev/complianceclusterreports list",
    "kompliance.dev/complianceclusterreports patch",
    "kompliance.dev/complianceclusterreports watch",
    "kompliance.dev/complianceclusterreports/status patch",
    "kompliance.dev/compliancereports create",
    "kompliance.dev/compliancereports delete",
    "kompliance.dev/compliancereports list",
    "kompliance.dev/compliancereports patch",
    "kompliance.dev/compliancereports watch",
    "kompliance.dev/compliancereports/status patch",
    "networking.k8s.io/ingresses list",
    "networking.k8s.io/ingresses watch",
];
const OWN_NAMESPACE_VERBS: &[&str] =
    &["/events create", "coordination.k8s.io/leases create", "coordination.k8s.io/leases get", "coordination.k8s.io/leases update"];

#[test]
fn the_operator_is_granted_exactly_the_verbs_its_code_uses() {
    let Some(docs) = rendered_base() else { return };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(grants(find(&docs, "ClusterRole", "kompliance")), set(CLUSTER_VERBS));
    let role = find(&docs, "Role", "kompliance");
    assert_eq!(role["metadata"]["namespace"], "kompliance-system", "Leases and Events in its own namespace only");
    assert_eq!(grants(role), set(OWN_NAMESPACE_VERBS));
    // Each role is bound to the operator's ServiceAccount, and no other role or binding exists.
    let sa = serde_json::json!([{"kind": "ServiceAccount", "name": "kompliance", "namespace": "kompliance-system"}]);
    assert_eq!(find(&docs, "ClusterRoleBinding", "kompliance")["subjects"], sa);
    assert_eq!(find(&docs, "ClusterRoleBinding", "kompliance")["roleRef"]["name"], "kompliance");
    assert_eq!(find(&docs, "RoleBinding", "kompliance")["subjects"], sa);
    assert_eq!(find(&docs, "RoleBinding", "kompliance")["roleRef"]["kind"], "Role");
    let mut rbac: Vec<String> = docs
        .iter()
        .filter(|d| d["apiVersion"] == "rbac.authorization.k8s.io/v1")
        .map(|d| format!("{}/{}", d["kind"].as_str().unwrap_or(""), d["metadata"]["name"].as_str().unwrap_or("")))
        .collect();
    rbac.sort();
    assert_eq!(
        rbac,
        [
            "ClusterRole/kompliance",
            "ClusterRole/kompliance-metrics-reader",
            "ClusterRoleBinding/kompliance",
            "Role/kompliance",
            "RoleBinding/kompliance"
        ]
    );
    // The scrapers' role: get on /metrics, nothing else (bound by the user to Prometheus).
    assert_eq!(grants(find(&docs, "ClusterRole", "kompliance-metrics-reader")), set(&["url /metrics get"]));
}

#[test]
fn a_network_policy_admits_only_the_metrics_port() {
    let Some(docs) = rendered_base() else { return };
    let policy = find(&docs, "NetworkPolicy", "kompliance");
    let deployment = find(&docs, "Deployment", "kompliance");
    assert_eq!(policy["metadata"]["namespace"], "kompliance-system");
    for (k, v) in policy["spec"]["podSelector"]["matchLabels"].as_object().expect("podSelector") {
        assert_eq!(&deployment["spec"]["template"]["metadata"]["labels"][k], v, "the policy selects the operator's Pods");
    }
    assert_eq!(policy["spec"]["policyTypes"], serde_json::json!(["Ingress"]));
    let ingress = policy["spec"]["ingress"].as_array().expect("ingress rules");
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0]["ports"], serde_json::json!([{"protocol": "TCP", "port": "https"}]));
    let ports = &deployment["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert_eq!(ports.as_array().map(Vec::len), Some(1), "the metrics port is the only inbound port");
    assert_eq!(ports[0]["name"], "https");
}

/// What the OpenReports writer calls (src/operator/openreports.rs), kept by hand like CLUSTER_VERBS.
const OPENREPORTS_VERBS: &[&str] = &[
    "openreports.io/clusterreports create",
    "openreports.io/clusterreports get",
    "openreports.io/clusterreports patch",
    "openreports.io/reports create",
    "openreports.io/reports delete",
    "openreports.io/reports list",
    "openreports.io/reports patch",
];

#[test]
fn the_openreports_component_renders_with_least_privilege_and_turns_the_feature_on() {
    use clap::Parser;
    let Some(docs) = with_component("openreports") else { return };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<std::collections::BTreeSet<_>>();
    let role = find(&docs, "ClusterRole", "kompliance-openreports");
    assert_eq!(grants(role), set(OPENREPORTS_VERBS));
    let cluster_rule =
        role["rules"].as_array().expect("rules").iter().find(|r| r["verbs"].as_array().is_some_and(|v| v.contains(&"get".into())));
    assert_eq!(cluster_rule.expect("get rule")["resourceNames"], serde_json::json!([kompliance::openreports::CLUSTER_REPORT_NAME]));
    let binding = find(&docs, "ClusterRoleBinding", "kompliance-openreports");
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "kompliance", "namespace": "kompliance-system"}])
    );
    assert_eq!(binding["roleRef"]["name"], "kompliance-openreports");
    // The base's own role is unchanged: the extra rights come with the component only.
    assert_eq!(grants(find(&docs, "ClusterRole", "kompliance")), set(CLUSTER_VERBS));
    assert!(
        !docs.iter().any(|d| d["kind"] == "CustomResourceDefinition" && d["spec"]["group"] == "openreports.io"),
        "never installs the CRDs"
    );
    // The Deployment's args, with the component, parse to options with OpenReports on.
    #[derive(Parser)]
    struct Run {
        #[command(flatten)]
        run: kompliance::operator::cli::RunArgs,
    }
    let deployment = find(&docs, "Deployment", "kompliance");
    let args: Vec<String> = deployment
        .pointer("/spec/template/spec/containers/0/args")
        .and_then(|a| a.as_array())
        .expect("args")
        .iter()
        .skip(1)
        .map(|a| a.as_str().expect("string arg").replace("$(POD_NAMESPACE)", "kompliance-system"))
        .collect();
    let parsed = Run::try_parse_from(std::iter::once("kompliance".to_string()).chain(args)).unwrap_or_else(|e| panic!("{e}"));
    assert!(kompliance::operator::cli::options(&parsed.run).openreports, "the component turns --openreports on");
    // Without the component the feature stays off.
    let base = rendered_base().expect("kubectl works");
    let base_args = find(&base, "Deployment", "kompliance").pointer("/spec/template/spec/containers/0/args").cloned().expect("args");
    assert!(!base_args.as_array().expect("args").iter().any(|a| a.as_str().is_some_and(|s| s.starts_with("--openreports"))));
}

/// The recommendations that need a value (a parameter required and without default in the catalogue).
fn needing_a_value() -> Vec<(&'static str, &'static str)> {
    kompliance::catalog::CATALOG
        .iter()
        .flat_map(|r| r.parameters.iter().filter(|p| p.required && p.default.is_none()).map(move |p| (r.id, p.name)))
        .collect()
}

#[test]
fn the_production_config_leaves_exactly_the_recommendations_needing_a_value_not_configured() {
    let needed = needing_a_value();
    assert_eq!(needed.len(), 3, "{needed:?}");
    let cfg = common::config("deploy/kompliance-config.yaml");
    // A small manifest with a Pod and a Service, so every workload and Service row is judged.
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
    - name: web
      image: nginx:1.27
      ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{port: 80}]
"#;
    let result = common::audit_stdin(&cfg, manifest.as_bytes().to_vec(), Some("v1.31.4"));
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let reports = result.reports();
    let (_, st) = reports.iter().find(|(ns, _)| ns == "shop").expect("a report for shop");
    let not_configured: Vec<(&str, &str)> = st
        .recommendations
        .iter()
        .filter(|e| e.state == kompliance::report::State::NotConfigured)
        .map(|e| (e.id.as_str(), e.reason.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(not_configured.iter().map(|(id, _)| *id).collect::<Vec<_>>(), needed.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    for ((id, reason), (_, param)) in not_configured.iter().zip(&needed) {
        assert!(reason.contains(param), "{id}: the reason names {param}: {reason}");
    }
    // No example-specific settings: no exemptions, no regex, the spec's excluded namespaces.
    let text = std::fs::read_to_string(common::root().join("deploy/kompliance-config.yaml")).expect("config");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
    assert_eq!(doc["exemptions"], serde_json::json!([]));
    assert_eq!(
        doc["excludedNamespaces"],
        serde_json::json!(["kube-system", "gatekeeper-system", "azure-arc", "azure-extensions-usage-system"])
    );
}

/// `deploy/` rendered with one of its components (`kubectl kustomize` of an overlay), as documents;
/// None (and a note) when kubectl is not there.
fn with_component(component: &str) -> Option<Vec<serde_json::Value>> {
    let overlay = tempfile::tempdir_in(common::root()).expect("overlay folder");
    let kustomization = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../deploy]\ncomponents: [../deploy/{component}]\n"
    );
    std::fs::write(overlay.path().join("kustomization.yaml"), kustomization).expect("write");
    let out = match Command::new("kubectl").arg("kustomize").arg(overlay.path()).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => panic!("kubectl kustomize failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            eprintln!("skipping: kubectl is not available ({e})");
            return None;
        }
    };
    Some(out.split("\n---\n").map(|d| serde_saphyr::from_str(d).expect("yaml")).collect())
}
