//! Configuration: the documented example loads with every key in force; every error names file and key.

mod common;

use kompliance::catalog::{CATALOG, Severity, index_of};
use kompliance::config::params::RuleKind;
use kompliance::config::{Config, ConfigError, Effect};

fn idx(id: &str) -> usize {
    index_of(id).expect("known id")
}

#[test]
fn documented_example_config_sets_every_key() {
    let cfg = common::config("example-config.yaml");
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    assert_eq!(cfg.excluded_namespaces, ["kube-system", "gatekeeper-system", "azure-arc", "azure-extensions-usage-system"]);
    assert!(cfg.allow_annotation_exemptions);
    let r = |id| cfg.rec(idx(id));
    assert_eq!(r("container-resource-limits").params.cpu_limit.as_str(), "4");
    assert_eq!(r("container-resource-limits").params.memory_limit.as_str(), "8Gi");
    assert_eq!(r("trusted-registries").severity, Severity::High);
    assert!(r("trusted-registries").params.allowed_images.as_ref().is_some_and(|re| re.is_match("ghcr.io/kompliance/kompliance:0.1.0")));
    assert_eq!(r("privilege-escalation").scope.excluded_containers, ["istio-init"]);
    assert_eq!(r("container-allowed-ports").scope.excluded_images, ["registry.k8s.io/ingress-nginx/*"]);
    assert!(r("container-allowed-ports").params.allowed_container_ports.as_ref().is_some_and(|p| p.contains(&8080)));
    assert!(r("https-only-ingress").scope.label_selector.is_some());
    assert_eq!(r("non-vulnerable-kubernetes-version").params.minimum_version.map(|v| v.to_string()).as_deref(), Some("1.28.0"));
    assert_eq!(r("least-privileged-capabilities").params.allowed_capabilities, ["NET_BIND_SERVICE"]);
    assert_eq!(r("apparmor-profile").params.allowed_profiles, ["runtime/default", "localhost/*"]);
    assert_eq!(
        r("privileged-containers").scope.excluded_namespaces.as_deref(),
        Some(&["kube-system".to_string(), "monitoring-privileged".to_string()][..])
    );
    assert_eq!(r("run-as-non-root").params.run_as_group.kind, RuleKind::MayRunAs);
    assert_eq!(r("run-as-non-root").params.fs_group.ranges, [(1, -1)]);
    assert!(r("service-allowed-ports").params.allowed_service_ports.as_ref().is_some_and(|p| p.contains(&443)));
    assert_eq!(r("hostpath-volumes").params.allowed_host_paths.len(), 1);
    assert_eq!(r("image-vulnerabilities").params.severities, ["CRITICAL", "HIGH"]);
    assert_eq!(cfg.exemptions.len(), 1);
    assert_eq!(cfg.exemptions[0].expires.map(|d| d.to_string()).as_deref(), Some("2027-06-30"));
    assert!(CATALOG.iter().all(|r| cfg.rec(idx(r.id)).missing.is_none()), "the example configures every required parameter");
}

#[test]
fn example_config_mentions_every_parameter_and_common_key() {
    let text = std::fs::read_to_string(common::root().join("example-config.yaml")).expect("read");
    for r in CATALOG.iter() {
        for p in r.parameters {
            assert!(text.contains(&format!("{}:", p.name)), "example config lacks {}.{}", r.id, p.name);
        }
    }
    for key in [
        "effect:",
        "severity:",
        "namespaces:",
        "excludedNamespaces:",
        "labelSelector:",
        "excludedContainers:",
        "excludedImages:",
        "exemptions:",
        "azure:",
        "allowAnnotationExemptions:",
        "language:",
        "matchLabels:",
        "matchExpressions:",
        "expires:",
    ] {
        assert!(text.contains(key), "example config lacks {key}");
    }
}

#[test]
fn azure_assignment_parameters_paste_as_they_are() {
    let cfg = common::config("tests/fixtures/config/azure-paste.yaml");
    let tr = cfg.rec(idx("trusted-registries"));
    assert_eq!(tr.effect, Effect::Audit);
    assert_eq!(tr.scope.excluded_namespaces.as_deref(), Some(&["kube-system".to_string(), "tools".to_string()][..]));
    assert!(tr.params.allowed_images.is_some());
    assert_eq!(cfg.rec(idx("privileged-containers")).effect, Effect::Audit);
    assert_eq!(cfg.rec(idx("privilege-escalation")).effect, Effect::Disabled);
    let ranas = &cfg.rec(idx("run-as-non-root")).params.run_as_user;
    assert_eq!((ranas.kind, ranas.ranges.clone()), (RuleKind::MustRunAs, vec![(1000, 2000)]));
    assert!(cfg.rec(idx("hostpath-volumes")).params.allowed_host_paths[0].read_only);
    let az = cfg.azure.as_ref().expect("azure block");
    assert_eq!(az.cluster_name.as_deref(), Some("prod"));
    assert_eq!(az.endpoints.get("resourceManager").map(String::as_str), Some("https://127.0.0.1:8443"));
    let joined = cfg.warnings.join("\n");
    assert!(joined.contains("recommendations.trusted-registries.parameters.source: Azure-only parameter, ignored"), "{joined}");
    assert!(joined.contains("recommendations.trusted-registries.parameters.warn"), "{joined}");
    assert!(joined.contains("recommendations.privileged-containers.effect: Deny is treated as Audit"), "{joined}");
}

#[test]
fn every_error_names_the_file_and_key_path() {
    let file = common::root().join("tests/fixtures/config/errors.yaml");
    let err = Config::load(&file).expect_err("must be rejected");
    let lines = err.lines();
    let text = lines.join("\n");
    let expect = [
        "excludedNamespace: unknown key",
        "recommendations.no-such-recommendation: unknown recommendation id",
        "recommendations.trusted-registries.parameters.allowedContainerImagesRegex: invalid regular expression",
        "recommendations.container-resource-limits.parameters.cpuLimit: \"lots\" is not a valid Kubernetes quantity",
        "recommendations.container-resource-limits.parameters.memoryLimit: \"64GB\" is not a valid Kubernetes quantity",
        "recommendations.container-resource-limits.parameters.cpuLimits: unknown parameter for container-resource-limits (known: cpuLimit, memoryLimit)",
        "recommendations.privileged-containers.effect: \"Block\" is not an effect (expected Audit, AuditIfNotExists, Deny or Disabled, in any case)",
        "excludedNamespaces is given both beside and inside parameters",
        "recommendations.container-allowed-ports.parameters.allowedContainerPortsList[1]: \"http\" is not a port number",
        "recommendations.container-allowed-ports.parameters.allowedContainerPortsList[2]: 70000 is not a port number",
        "recommendations.run-as-non-root.parameters.runAsUserRule: \"MayRunAs\" is not a valid rule here",
        "recommendations.run-as-non-root.parameters.fsGroupRanges.ranges[0]: min is greater than max",
        "recommendations.hostpath-volumes.parameters.allowedHostPaths.paths[0].pathPrefix: required: an absolute path",
        "recommendations.https-only-ingress.labelSelector.matchExpressions[0].operator: expected In, NotIn, Exists or DoesNotExist",
        "recommendations.non-vulnerable-kubernetes-version.parameters.minimumVersion: \"latest\" is not a Kubernetes version",
        "exemptions[0].recommendations[1]: unknown recommendation id \"not-an-id\"",
        "exemptions[0].names[0]: invalid glob",
        "exemptions[0].reason: required",
        "exemptions[0].expires: \"2027-02-30\" is not a date YYYY-MM-DD",
        "azure.tenant: unknown key",
    ];
    for e in expect {
        assert!(text.contains(e), "missing error {e:?} in:\n{text}");
    }
    assert_eq!(lines.len(), expect.len(), "unexpected extra errors:\n{text}");
    assert!(lines.iter().all(|l| l.starts_with(&file.display().to_string())), "{text}");
}

#[test]
fn yaml_syntax_and_duplicate_keys_are_rejected_with_the_line() {
    let bad = Config::load(&common::root().join("tests/fixtures/config/not-yaml.yaml")).expect_err("bad yaml");
    assert!(matches!(bad, ConfigError::Yaml { .. }), "{bad}");
    assert!(bad.to_string().contains("not-yaml.yaml: not valid YAML"), "{bad}");
    let dup = Config::load(&common::root().join("tests/fixtures/config/duplicate-key.yaml")).expect_err("duplicate");
    assert!(dup.to_string().contains("line 4"), "{dup}");
    let missing = Config::load(&common::root().join("tests/fixtures/config/absent.yaml")).expect_err("absent");
    assert!(matches!(missing, ConfigError::Read { .. }), "{missing}");
}

#[test]
fn wrong_kind_and_api_version_are_errors() {
    let err = Config::parse("apiVersion: v1\nkind: ConfigMap\n", "cm.yaml").expect_err("not a ComplianceConfig");
    let text = err.to_string();
    assert!(text.contains("cm.yaml: apiVersion: \"v1\" is not kompliance.dev/v1alpha1"), "{text}");
    assert!(text.contains("kind: \"ConfigMap\" is not ComplianceConfig"), "{text}");
}

#[test]
fn global_exclusions_and_per_recommendation_replacement() {
    let cfg = Config::parse(
        "apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nexcludedNamespaces: []\nrecommendations:\n  privileged-containers: {excludedNamespaces: [ops]}\n  host-namespaces: {namespaces: [prod]}\n",
        "t.yaml",
    )
    .expect("valid");
    assert!(!cfg.globally_excluded("kube-system"), "an empty global list excludes nothing");
    assert_eq!(cfg.namespace_excluded(idx("privileged-containers"), "ops"), Some("namespace excluded"));
    assert_eq!(cfg.namespace_excluded(idx("privileged-containers"), "kube-system"), None);
    assert_eq!(
        cfg.namespace_excluded(idx("host-namespaces"), "dev"),
        Some("namespace excluded"),
        "outside the include list: the contract's reason"
    );
    assert_eq!(cfg.namespace_excluded(idx("host-namespaces"), "prod"), None);
}

fn one_rec(body: &str) -> String {
    format!("apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nrecommendations:\n  privileged-containers:\n{body}")
}

#[test]
fn every_azure_effect_in_any_case_beside_or_inside_parameters() {
    let cases = [
        ("Audit", Effect::Audit, false),
        ("audit", Effect::Audit, false),
        ("AuditIfNotExists", Effect::Audit, false),
        ("auditifnotexists", Effect::Audit, false),
        ("Deny", Effect::Audit, true),
        ("DENY", Effect::Audit, true),
        ("Disabled", Effect::Disabled, false),
        ("DISABLED", Effect::Disabled, false),
    ];
    for (spelling, effect, warned) in cases {
        for body in [format!("    effect: {spelling}\n"), format!("    parameters:\n      effect: {{value: {spelling}}}\n")] {
            let cfg = Config::parse(&one_rec(&body), "effects.yaml").unwrap_or_else(|e| panic!("{spelling:?} rejected: {e}"));
            assert_eq!(cfg.rec(idx("privileged-containers")).effect, effect, "{body}");
            let warning = cfg
                .warnings
                .iter()
                .any(|w| w.starts_with("effects.yaml: recommendations.privileged-containers.") && w.contains("Deny is treated as Audit"));
            assert_eq!(warning, warned, "{body}: {:?}", cfg.warnings);
        }
    }
    let err = Config::parse(&one_rec("    effect: Enforce\n"), "effects.yaml").expect_err("not an Azure effect");
    assert!(err.to_string().contains("recommendations.privileged-containers.effect: \"Enforce\" is not an effect"), "{err}");
}

#[test]
fn a_host_port_range_with_min_above_max_names_file_and_key() {
    let text = "apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nrecommendations:\n  host-network-ports:\n    parameters:\n      minPort: {value: 9000}\n      maxPort: {value: 80}\n";
    let err = Config::parse(text, "ports.yaml").expect_err("empty range");
    let lines = err.lines();
    assert_eq!(
        lines,
        [
            "ports.yaml: recommendations.host-network-ports.parameters.minPort: 9000 is greater than maxPort 80 (no host port could be allowed)"
        ]
    );
    let ok = text.replace("{value: 9000}", "{value: 80}").replace("maxPort: {value: 80}", "maxPort: {value: 8080}");
    let cfg = Config::parse(&ok, "ports.yaml").expect("a real range");
    let p = &cfg.rec(idx("host-network-ports")).params;
    assert_eq!((p.min_port, p.max_port), (80, 8080));
}

#[test]
fn azure_out_of_box_port_lists_allow_no_port() {
    let text = "apiVersion: kompliance.dev/v1alpha1\nkind: ComplianceConfig\nrecommendations:\n  container-allowed-ports:\n    parameters: {allowedContainerPortsList: {value: [\"-1\"]}}\n  service-allowed-ports:\n    parameters: {allowedServicePortsList: [\"-1\"]}\n";
    let cfg = Config::parse(text, "ports.yaml").expect("Azure's default is a configured value");
    for id in ["container-allowed-ports", "service-allowed-ports"] {
        assert_eq!(cfg.rec(idx(id)).missing, None, "{id} is configured, not NotConfigured");
    }
    assert_eq!(cfg.rec(idx("container-allowed-ports")).params.allowed_container_ports.as_deref(), Some(&[][..]));
    assert_eq!(cfg.rec(idx("service-allowed-ports")).params.allowed_service_ports.as_deref(), Some(&[][..]));
}
