//! The Helm chart `charts/kompliance/`, rendered and linted by Helm 4's engine (PyPI
//! `helm-python-sdk`, in the venv `.ci/run` makes) with several value sets, then checked here:
//! audit, operator flags, testkube accepts it, config check, and equality with `deploy/`.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The value sets under tests/chart/values/ (file stem → rendered documents).
const SETS: [&str; 6] = ["defaults", "roles-only", "monitoring", "azure", "crds-off", "openreports"];

/// The venv's python, or `None` (skip) outside CI; under CI a missing venv fails.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("KOMPLIANCE_VENV").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp/kompliance-venv"));
    let py = venv.join("bin/python");
    let ok = Command::new(&py).args(["-c", "import helm_python"]).output().map(|o| o.status.success()).unwrap_or(false);
    if ok {
        return Some(py);
    }
    let why = format!("{} cannot import helm_python (.ci/run makes the venv: pip install helm-python-sdk)", py.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    eprintln!("skipping: {why}");
    None
}

struct Rendered {
    dir: tempfile::TempDir,
    sets: BTreeMap<String, Vec<Value>>,
}

/// Renders every set once per test process.
fn rendered() -> Option<&'static Rendered> {
    static CELL: OnceLock<Option<Rendered>> = OnceLock::new();
    CELL.get_or_init(|| {
        let py = python()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = common::root();
        let values: Vec<PathBuf> = SETS.iter().map(|s| root.join(format!("tests/chart/values/{s}.yaml"))).collect();
        let out = Command::new(py)
            .arg(root.join("tests/chart/render.py"))
            .arg(root.join("charts/kompliance"))
            .arg(dir.path())
            .args(&values)
            .arg(root.join("tests/chart/values/invalid-config.yaml"))
            .output()
            .expect("run render.py");
        assert!(out.status.success(), "render.py failed: {}", String::from_utf8_lossy(&out.stderr));
        let sets = SETS.iter().map(|s| (s.to_string(), documents(&dir.path().join(format!("{s}.yaml"))))).collect();
        Some(Rendered { dir, sets })
    })
    .as_ref()
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml_documents(&text)
}

fn yaml_documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text).expect("rendered YAML parses").into_iter().filter(|d| !d.is_null()).collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

fn kinds(docs: &[Value]) -> Vec<String> {
    let mut k: Vec<String> =
        docs.iter().map(|d| format!("{}/{}", d["kind"].as_str().unwrap_or("?"), d["metadata"]["name"].as_str().unwrap_or("?"))).collect();
    k.sort();
    k
}

#[test]
fn helm_lint_reports_no_warning_or_error_for_any_value_set() {
    let Some(r) = rendered() else { return };
    for set in SETS {
        let text = std::fs::read_to_string(r.dir.path().join(format!("{set}.lint.json"))).expect("lint report");
        let report: Value = serde_json::from_str(&text).expect("lint json");
        assert_eq!(report["errors"], serde_json::json!([]), "{set}: {report}");
        let serious: Vec<&Value> =
            report["messages"].as_array().expect("messages").iter().filter(|m| m["severity"].as_u64() >= Some(2)).collect();
        assert!(serious.is_empty(), "{set}: {serious:?}");
    }
}

#[test]
fn every_value_set_audits_with_nothing_unhealthy() {
    let Some(r) = rendered() else { return };
    let cfg = common::config("deploy/kompliance-config.yaml");
    for (set, docs) in &r.sets {
        let text = std::fs::read(r.dir.path().join(format!("{set}.yaml"))).expect("rendered");
        let result = common::audit_stdin(&cfg, text, None);
        assert!(result.errors.is_empty(), "{set}: {:?}", result.errors);
        let s = &result.cluster().summary;
        // The Deployment; the Service is judged only by service-allowed-ports, NotConfigured in the production config.
        assert_eq!((s.resources.evaluated, s.resources.unhealthy), (1, 0), "{set}: {s:?}");
        assert!(find(docs, "Deployment", "kompliance").is_some(), "{set}");
    }
}

/// Parses a rendered Deployment's args as `kompliance run` flags.
fn run_options(docs: &[Value]) -> kompliance::operator::options::RunOptions {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Cmd,
    }
    #[derive(clap::Subcommand)]
    enum Cmd {
        Run(kompliance::operator::cli::RunArgs),
    }
    let dep = find(docs, "Deployment", "kompliance").expect("Deployment");
    let args: Vec<String> = dep
        .pointer("/spec/template/spec/containers/0/args")
        .and_then(Value::as_array)
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").replace("$(POD_NAMESPACE)", "kompliance-system"))
        .collect();
    let parsed = Cli::try_parse_from(std::iter::once("kompliance".to_string()).chain(args)).unwrap_or_else(|e| panic!("{e}"));
    let Cmd::Run(run) = parsed.cmd;
    kompliance::operator::cli::options(&run)
}

#[test]
fn the_rendered_deployment_args_parse_as_run_flags() {
    let Some(r) = rendered() else { return };
    for docs in r.sets.values() {
        run_options(docs);
    }
    let defaults = run_options(&r.sets["defaults"]);
    assert_eq!(defaults.lease.expect("leader election").namespace, "kompliance-system");
    assert!(defaults.metrics_secure);
    assert!(defaults.reach.cluster_wide());
    let roles = run_options(&r.sets["roles-only"]);
    assert_eq!(roles.reach.listed(), ["team-a", "team-b"]);
    assert!(!defaults.openreports && defaults.lang.is_none(), "OpenReports off and the config's language by default");
    let or = run_options(&r.sets["openreports"]);
    assert!(or.openreports, "openreports.enabled turns --openreports on");
    assert_eq!(or.lang, Some(kompliance::catalog::Lang::Ko));
    assert_eq!(or.openreports_recheck, std::time::Duration::from_secs(120));
    let off = run_options(&r.sets["crds-off"]);
    assert!(off.lease.is_none(), "leader election off");
    assert_eq!(off.debounce, std::time::Duration::from_secs(5));
    assert_eq!(off.resync_interval, std::time::Duration::from_secs(600));
}

#[test]
fn each_value_set_renders_what_it_asks_for() {
    let Some(r) = rendered() else { return };
    let d = &r.sets;
    // Roles-only: a Role and RoleBinding per namespace; the only ClusterRoles are the reviews and metrics reader.
    let roles = kinds(&d["roles-only"]);
    for ns in ["team-a", "team-b"] {
        let role = d["roles-only"].iter().find(|o| o["kind"] == "Role" && o["metadata"]["namespace"] == ns).expect("Role per namespace");
        assert!(role["rules"].to_string().contains("pods"), "{role}");
        assert!(d["roles-only"].iter().any(|o| o["kind"] == "RoleBinding" && o["metadata"]["namespace"] == ns));
    }
    assert!(!roles.contains(&"ClusterRole/kompliance".to_string()), "{roles:?}");
    let reviews = find(&d["roles-only"], "ClusterRole", "kompliance-reviews").expect("reviews ClusterRole");
    assert!(!reviews["rules"].to_string().contains("pods"), "no cluster-wide reads: {reviews}");
    // Monitoring: the selector labels, the docs base URL and the dashboard's sidecar label and folder.
    let m = &d["monitoring"];
    assert_eq!(find(m, "ServiceMonitor", "kompliance").expect("ServiceMonitor")["metadata"]["labels"]["release"], "kube-prometheus-stack");
    let rule = find(m, "PrometheusRule", "kompliance").expect("PrometheusRule");
    assert_eq!(rule["metadata"]["labels"]["release"], "kube-prometheus-stack");
    let rules = rule.to_string();
    assert!(rules.contains("https://docs.example.com/kompliance/alerts.md#"), "{rules}");
    assert!(!rules.contains("github.com/kompliance/kompliance/blob"), "every link uses docsBaseUrl");
    let dash = find(m, "ConfigMap", "kompliance-grafana-dashboard").expect("dashboard ConfigMap");
    assert_eq!(dash["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(dash["metadata"]["annotations"]["grafana_folder"], "Security");
    let json: Value = serde_json::from_str(dash["data"]["grafana-dashboard.json"].as_str().expect("json")).expect("dashboard JSON");
    assert!(json["panels"].is_array());
    assert!(find(&d["defaults"], "ServiceMonitor", "kompliance").is_none(), "monitoring is off by default");
    // Azure: workload identity on the ServiceAccount and the Pod, `azure:` in the config.
    let a = &d["azure"];
    let sa = find(a, "ServiceAccount", "kompliance").expect("ServiceAccount");
    assert_eq!(sa["metadata"]["annotations"]["azure.workload.identity/client-id"], "11111111-2222-3333-4444-555555555555");
    let dep = find(a, "Deployment", "kompliance").expect("Deployment");
    assert_eq!(dep["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"], "true");
    let cfg = config_of(a);
    assert_eq!(cfg["azure"]["clusterName"], "prod-aks");
    assert_eq!(cfg["azure"]["resourceGroups"], serde_json::json!(["registries-rg"]));
    // CRDs off: none rendered; the digest pins the image.
    let off = &d["crds-off"];
    assert!(!off.iter().any(|o| o["kind"] == "CustomResourceDefinition"));
    assert!(!off.iter().any(|o| o["kind"] == "PodDisruptionBudget"));
    let image = find(off, "Deployment", "kompliance").expect("Deployment").pointer("/spec/template/spec/containers/0/image").cloned();
    assert_eq!(
        image.and_then(|i| i.as_str().map(str::to_string)).unwrap_or_default(),
        format!("ghcr.io/kompliance/kompliance@sha256:{}", "0123456789abcdef".repeat(4))
    );
    let pull = find(off, "Deployment", "kompliance").expect("Deployment").pointer("/spec/template/spec/imagePullSecrets").cloned();
    assert_eq!(pull, Some(serde_json::json!([{"name": "regcred"}])));
    // CRDs on: kept on uninstall.
    let crd = find(&d["defaults"], "CustomResourceDefinition", "compliancereports.kompliance.dev").expect("CRD");
    assert_eq!(crd["metadata"]["annotations"]["helm.sh/resource-policy"], "keep");
}

/// The ComplianceConfig in a rendered ConfigMap.
fn config_of(docs: &[Value]) -> Value {
    let cm = find(docs, "ConfigMap", "kompliance-config").expect("ConfigMap");
    serde_saphyr::from_str(cm["data"]["config.yaml"].as_str().expect("config.yaml")).expect("config YAML")
}

#[test]
fn the_rendered_config_passes_kompliance_config_check() {
    let Some(r) = rendered() else { return };
    for (set, docs) in &r.sets {
        let cm = find(docs, "ConfigMap", "kompliance-config").expect("ConfigMap");
        let path = r.dir.path().join(format!("{set}.config.yaml"));
        std::fs::write(&path, cm["data"]["config.yaml"].as_str().expect("config.yaml")).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_kompliance")).args(["config", "check"]).arg(&path).output().expect("kompliance");
        assert!(out.status.success(), "{set}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}

/// Drops what Helm adds and kustomize does not: its labels, the keep policy and the image pull policy.
fn normalise(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
            for l in ["helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version"] {
                labels.remove(l);
            }
        }
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            ann.remove("helm.sh/resource-policy");
            if ann.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    if v["kind"] == "ConfigMap" && v["metadata"]["name"] == "kompliance-config" {
        let cfg: Value = serde_saphyr::from_str(v["data"]["config.yaml"].as_str().unwrap_or("")).expect("config YAML");
        v["data"]["config.yaml"] = cfg;
    }
    v
}

fn by_key(docs: impl IntoIterator<Item = Value>) -> BTreeMap<String, Value> {
    docs.into_iter()
        .map(normalise)
        .map(|d| {
            let key = format!(
                "{}/{}/{}",
                d["kind"].as_str().unwrap_or(""),
                d["metadata"]["namespace"].as_str().unwrap_or(""),
                d["metadata"]["name"].as_str().unwrap_or("")
            );
            (key, d)
        })
        .collect()
}

#[test]
fn the_default_render_describes_the_same_objects_as_deploy() {
    let Some(r) = rendered() else { return };
    let out = Command::new("kubectl").args(["kustomize", "deploy/"]).current_dir(common::root()).output().expect("kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut deploy = by_key(yaml_documents(&String::from_utf8_lossy(&out.stdout)));
    // deploy/ creates the namespace; the chart does so only with namespace.create (helm's --create-namespace).
    assert!(deploy.remove("Namespace//kompliance-system").is_some());
    let chart = by_key(r.sets["defaults"].clone());
    assert_eq!(chart.keys().collect::<Vec<_>>(), deploy.keys().collect::<Vec<_>>());
    for (key, want) in &deploy {
        assert_eq!(&chart[key], want, "{key}: chart (left) and deploy/ (right) differ");
    }
}

#[test]
fn testkube_accepts_every_rendered_object_with_kubectl_server_side_apply() {
    let Some(r) = rendered() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let server = testkube::TestKube::start().await.expect("testkube");
        for ns in ["kompliance-system", "team-a", "team-b"] {
            server.create(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})).expect("namespace");
        }
        // The Prometheus Operator's CRDs, as much as the objects need.
        for (plural, kind) in [("servicemonitors", "ServiceMonitor"), ("prometheusrules", "PrometheusRule")] {
            server.create(crd("monitoring.coreos.com", plural, kind)).expect("monitoring CRD");
        }
        let kubeconfig = r.dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig, "chart-test").expect("kubeconfig");
        for set in SETS {
            let file = r.dir.path().join(format!("{set}.yaml"));
            let mut cmd = Command::new("kubectl");
            cmd.arg("--kubeconfig").arg(&kubeconfig).arg("--cache-dir").arg(r.dir.path().join("cache"));
            cmd.args(["apply", "--server-side", "--field-manager=helm-test", "-f"]).arg(&file);
            let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("kubectl");
            assert!(out.status.success(), "{set}: {}", String::from_utf8_lossy(&out.stderr));
            for doc in &r.sets[set] {
                let (api, kind, name) = (
                    doc["apiVersion"].as_str().unwrap_or(""),
                    doc["kind"].as_str().unwrap_or(""),
                    doc["metadata"]["name"].as_str().unwrap_or(""),
                );
                let ns = doc["metadata"]["namespace"].as_str().unwrap_or("");
                assert!(server.get(api, kind, ns, name).is_some(), "{set}: {kind} {ns}/{name} is in testkube");
            }
        }
    });
}

fn crd(group: &str, plural: &str, kind: &str) -> Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "listKind": format!("{kind}List")},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })
}

#[test]
fn values_schema_rejects_an_unknown_recommendation_in_config() {
    let Some(r) = rendered() else { return };
    let text = std::fs::read_to_string(r.dir.path().join("invalid-config.rejected.txt")).expect("the invalid set was rejected");
    assert!(text.contains("trusted-registry"), "{text}");
}

#[test]
fn values_schema_names_every_recommendation_and_parameter_of_the_catalogue() {
    let text = std::fs::read_to_string(common::root().join("charts/kompliance/values.schema.json")).expect("values.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("schema JSON");
    let recs =
        schema.pointer("/properties/config/properties/recommendations/properties").and_then(Value::as_object).expect("recommendations");
    let ids: Vec<&str> = recs.keys().map(String::as_str).collect();
    let mut want: Vec<&str> = kompliance::catalog::CATALOG.iter().map(|r| r.id).collect();
    want.sort();
    assert_eq!(ids, want, "make chart-sync regenerates the schema");
    for rec in kompliance::catalog::CATALOG.iter() {
        let params = recs[rec.id].pointer("/properties/parameters/properties").and_then(Value::as_object).expect("parameters");
        for p in rec.parameters {
            assert!(params.contains_key(p.name), "{}: {} in the schema (make chart-sync)", rec.id, p.name);
        }
        assert_eq!(params.len(), rec.parameters.len() + 5, "{}: the catalogue's parameters and the five scoping keys", rec.id);
    }
}

/// The chart's copies of canonical files (kept by `make chart-sync`).
#[test]
fn chart_copies_equal_the_canonical_files() {
    let root = common::root();
    let mut pairs = vec![
        ("deploy/monitoring/grafana-dashboard.json".to_string(), "charts/kompliance/files/grafana-dashboard.json".to_string()),
        ("deploy/monitoring/prometheus-rules.yaml".to_string(), "charts/kompliance/files/prometheus-rules.yaml".to_string()),
    ];
    let mut crds: Vec<String> = std::fs::read_dir(root.join("crds"))
        .expect("crds/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    crds.sort();
    let mut copies: Vec<String> = std::fs::read_dir(root.join("charts/kompliance/files/crds"))
        .expect("chart crds")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    copies.sort();
    assert_eq!(crds, copies, "the chart has a copy of each CRD (make chart-sync)");
    pairs.extend(crds.iter().map(|c| (format!("crds/{c}"), format!("charts/kompliance/files/crds/{c}"))));
    for (canonical, copy) in pairs {
        let a = std::fs::read(root.join(&canonical)).expect("canonical");
        let b = std::fs::read(root.join(&copy)).expect("copy");
        assert!(a == b, "{copy} differs from {canonical}: run make chart-sync");
    }
}

#[test]
fn openreports_rights_come_only_with_the_feature_and_match_the_deploy_component() {
    let Some(r) = rendered() else { return };
    let role =
        |docs: &[Value]| docs.iter().find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "kompliance-openreports").cloned();
    for set in SETS.iter().filter(|s| **s != "openreports") {
        assert!(role(&r.sets[*set]).is_none(), "{set}: no OpenReports rights without the feature");
    }
    let chart = role(&r.sets["openreports"]).expect("ClusterRole kompliance-openreports");
    let text = std::fs::read_to_string(common::root().join("deploy/openreports/rbac.yaml")).expect("deploy/openreports/rbac.yaml");
    let deploy: Value = serde_saphyr::from_str(text.split("\n---\n").next().expect("first document")).expect("yaml");
    assert_eq!(chart["rules"], deploy["rules"], "the chart grants what deploy/openreports grants");
    let binding = r.sets["openreports"]
        .iter()
        .find(|o| o["kind"] == "ClusterRoleBinding" && o["metadata"]["name"] == "kompliance-openreports")
        .expect("ClusterRoleBinding");
    assert_eq!(binding["subjects"][0]["name"], "kompliance");
}
