//! The catalogue: the 24 recommendations as data (ids, titles, severities, Azure policy ids, parameters).

use serde::Serialize;

/// How severe a failing recommendation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub enum Severity {
    /// Least severe.
    Low,
    /// Middle severity.
    Medium,
    /// Most severe.
    High,
}

impl Severity {
    /// Parses `high`/`High`/`HIGH` etc.
    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "high" => Some(Severity::High),
            "medium" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            _ => None,
        }
    }
    /// The PascalCase name used in reports and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "High",
            Severity::Medium => "Medium",
            Severity::Low => "Low",
        }
    }
}

/// What kind of resource a recommendation judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Scope {
    /// Workloads (Pods and their top-level owners).
    Pod,
    /// Services.
    Service,
    /// Ingresses.
    Ingress,
    /// The cluster as a whole (control plane, Nodes, managed cluster).
    Cluster,
    /// An Azure subscription.
    AzureSubscription,
    /// Azure container registries.
    AzureRegistry,
}

impl Scope {
    /// True for rows that appear in the per-namespace reports.
    pub fn is_namespaced(self) -> bool {
        matches!(self, Scope::Pod | Scope::Service | Scope::Ingress)
    }
}

/// Where a recommendation's data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Source {
    /// Only Kubernetes objects.
    InCluster,
    /// Kubernetes objects, and Azure Resource Manager when configured.
    InClusterAndAzure,
    /// Only Azure Resource Manager.
    Azure,
}

/// The shape of a parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ParamKind {
    /// A Kubernetes quantity (`500m`, `64Gi`).
    Quantity,
    /// A regular expression.
    Regex,
    /// A list of port numbers written as strings.
    PortList,
    /// A list of strings.
    StringList,
    /// A run-as rule: `MustRunAsNonRoot`, `MustRunAs`, `MayRunAs`, `RunAsAny`.
    Rule,
    /// `{ranges: [{min, max}]}`.
    Ranges,
    /// true/false.
    Bool,
    /// An integer.
    Int,
    /// `{paths: [{pathPrefix, readOnly}]}`.
    HostPaths,
    /// A Kubernetes version such as `1.28.0`.
    Version,
}

/// One parameter of a recommendation.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ParamSpec {
    /// Azure's parameter name.
    pub name: &'static str,
    /// Value shape.
    pub kind: ParamKind,
    /// Default as YAML/JSON text; `None` when unset (the recommendation may be NotConfigured).
    pub default: Option<&'static str>,
    /// When true, an unset value makes the recommendation NotConfigured.
    pub required: bool,
}

/// One recommendation of the catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// Number in the source list (1-24).
    pub number: u8,
    /// Stable kebab-case id: config key, metric label, fixture folder, exemption token.
    pub id: &'static str,
    /// English title.
    pub title: &'static str,
    /// Korean title from the seed list.
    pub title_ko: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// What it judges.
    pub scope: Scope,
    /// Where its data comes from.
    pub source: Source,
    /// GUID of the related Azure Policy definition.
    #[serde(skip)]
    pub policy_guid: &'static str,
    /// What it checks, in one or two sentences.
    pub description: &'static str,
    /// How to fix a failing resource.
    pub remediation: &'static str,
    /// Its own parameters (the common scoping parameters are not listed).
    pub parameters: &'static [ParamSpec],
}

impl Recommendation {
    /// `/providers/Microsoft.Authorization/policyDefinitions/<guid>`.
    pub fn policy_definition_id(&self) -> String {
        format!("/providers/Microsoft.Authorization/policyDefinitions/{}", self.policy_guid)
    }
    /// Title in the given language (`ko` or anything else for English).
    pub fn title_in(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ko => self.title_ko,
            Lang::En => self.title,
        }
    }
    /// True for checks that only make sense on Linux nodes.
    pub fn linux_only(&self) -> bool {
        matches!(self.number, 9 | 12 | 16 | 17 | 20)
    }
    /// True when this recommendation judges individual containers.
    pub fn container_level(&self) -> bool {
        matches!(self.number, 4 | 5 | 9 | 11 | 12 | 16 | 17 | 18 | 20 | 23 | 24)
    }
}

/// Language of printed titles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Korean (the seed list's titles).
    Ko,
}

const fn p(name: &'static str, kind: ParamKind, default: Option<&'static str>, required: bool) -> ParamSpec {
    ParamSpec { name, kind, default, required }
}

use ParamKind as K;
use Scope as S;
use Severity::{High, Medium};
use Source::{Azure, InCluster, InClusterAndAzure};

const RANGE_DEFAULT: &str = r#"{"ranges":[{"min":1,"max":-1}]}"#;

/// All 24 recommendations, in the source list's order.
pub static CATALOG: [Recommendation; 24] = [
    Recommendation {
        number: 1,
        id: "defender-for-registries",
        title: "Azure Defender for container registries should be enabled",
        title_ko: "컨테이너 레지스트리용 Azure Defender를 사용해야 합니다.",
        severity: High,
        scope: S::AzureSubscription,
        source: Azure,
        policy_guid: "c25d9a16-bc35-4e15-a7e5-9db606bf9ed4",
        description: "The subscription's Microsoft Defender plan for containers (or the legacy ContainerRegistry plan) must be on the Standard tier, so pushed images are scanned.",
        remediation: "Enable the Defender for Containers plan on the subscription.",
        parameters: &[],
    },
    Recommendation {
        number: 2,
        id: "defender-for-kubernetes",
        title: "Azure Defender for Kubernetes should be enabled",
        title_ko: "Azure Defender for Kubernetes를 사용해야 합니다.",
        severity: High,
        scope: S::AzureSubscription,
        source: Azure,
        policy_guid: "523b5cd1-3e23-492f-a539-13118b6d1e3a",
        description: "The subscription's Defender plan for containers (or the legacy KubernetesService plan) must be on the Standard tier for run-time threat protection.",
        remediation: "Enable the Defender for Containers plan on the subscription.",
        parameters: &[],
    },
    Recommendation {
        number: 3,
        id: "azure-policy-addon",
        title: "Azure Policy Add-on for Kubernetes should be installed and enabled on your clusters",
        title_ko: "클러스터에 Kubernetes용 Azure Policy 추가 기능을 설치하고 사용하도록 설정해야 함",
        severity: High,
        scope: S::Cluster,
        source: InClusterAndAzure,
        policy_guid: "0a15ec92-a229-4763-bb14-0ea34a568f8d",
        description: "The Azure Policy add-on (azure-policy and Gatekeeper deployments) must run in the cluster; on AKS the managed cluster's azurepolicy add-on must be enabled.",
        remediation: "Enable the azure-policy add-on (az aks enable-addons --addons azure-policy).",
        parameters: &[],
    },
    Recommendation {
        number: 4,
        id: "container-resource-limits",
        title: "Container CPU and memory limits should be enforced",
        title_ko: "컨테이너 CPU 및 메모리 한도를 적용해야 함",
        severity: Medium,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "e345eecc-fa47-480f-9e88-67dcc122b164",
        description: "Every container and init container sets resources.limits.cpu and resources.limits.memory, each a valid quantity no larger than the allowed maximum.",
        remediation: "Set resources.limits.cpu and resources.limits.memory on every container, within cpuLimit and memoryLimit.",
        parameters: &[p("cpuLimit", K::Quantity, Some("\"32\""), false), p("memoryLimit", K::Quantity, Some("\"64Gi\""), false)],
    },
    Recommendation {
        number: 5,
        id: "trusted-registries",
        title: "Container images should be deployed from trusted registries only",
        title_ko: "신뢰할 수 있는 레지스트리의 컨테이너 이미지만 배포해야 함",
        severity: High,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "febd0533-8e55-448f-b837-bd0e06f16469",
        description: "Every container image matches allowedContainerImagesRegex (an unanchored search).",
        remediation: "Pull images from a trusted registry, or extend allowedContainerImagesRegex.",
        parameters: &[p("allowedContainerImagesRegex", K::Regex, None, true)],
    },
    Recommendation {
        number: 6,
        id: "registry-cmk-encryption",
        title: "Container registries should be encrypted with a customer-managed key (CMK)",
        title_ko: "컨테이너 레지스트리는 CMK(고객 관리형 키)로 암호화해야 함",
        severity: Medium,
        scope: S::AzureRegistry,
        source: Azure,
        policy_guid: "5b9159ae-1701-4a6f-9a7a-aa9c8ddd0580",
        description: "Each Azure container registry has encryption.status enabled (a customer-managed key).",
        remediation: "Create the registry with a customer-managed key in Azure Key Vault.",
        parameters: &[],
    },
    Recommendation {
        number: 7,
        id: "registry-network-access",
        title: "Container registries should not allow unrestricted network access",
        title_ko: "컨테이너 레지스트리는 무제한 네트워크 액세스를 허용하지 않아야 함",
        severity: Medium,
        scope: S::AzureRegistry,
        source: Azure,
        policy_guid: "d0793b48-0edc-4296-a390-4c75d1bdfd71",
        description: "Each Azure container registry denies by default (networkRuleSet.defaultAction Deny) or disables public network access.",
        remediation: "Set the registry's default network action to Deny with IP/VNet rules, or disable public network access.",
        parameters: &[],
    },
    Recommendation {
        number: 8,
        id: "registry-private-link",
        title: "Container registries should use private link",
        title_ko: "컨테이너 레지스트리는 프라이빗 링크를 사용해야 함",
        severity: Medium,
        scope: S::AzureRegistry,
        source: Azure,
        policy_guid: "e8eef0a8-67cf-4eb4-9386-14b0e78733d4",
        description: "Each Azure container registry has at least one approved private endpoint connection.",
        remediation: "Create a private endpoint for the registry and approve its connection.",
        parameters: &[],
    },
    Recommendation {
        number: 9,
        id: "privilege-escalation",
        title: "Container with privilege escalation should be avoided",
        title_ko: "권한 상승을 포함하는 컨테이너를 사용하지 않아야 함",
        severity: Medium,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "1c6e92c9-99f0-4e55-9cf2-0c234dc48f99",
        description: "Every container sets securityContext.allowPrivilegeEscalation to false (absent means allowed).",
        remediation: "Set securityContext.allowPrivilegeEscalation: false on every container.",
        parameters: &[],
    },
    Recommendation {
        number: 10,
        id: "host-namespaces",
        title: "Containers sharing sensitive host namespaces should be avoided",
        title_ko: "중요한 호스트 네임스페이스를 공유하는 컨테이너를 사용하지 않아야 함",
        severity: Medium,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "47a1ee2f-2a2a-4576-bf2a-e0e36709c2b8",
        description: "The Pod does not share the host's process ID (hostPID) or IPC (hostIPC) namespace.",
        remediation: "Remove hostPID: true and hostIPC: true from the Pod spec.",
        parameters: &[],
    },
    Recommendation {
        number: 11,
        id: "container-allowed-ports",
        title: "Containers should listen on allowed ports only",
        title_ko: "컨테이너는 허용되는 포트에서만 수신 대기해야 함",
        severity: Medium,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "440b515e-a580-421e-abeb-b159a61ddcbc",
        description: "Every declared containerPort is in allowedContainerPortsList.",
        remediation: "Declare only allowed container ports, or extend allowedContainerPortsList.",
        parameters: &[p("allowedContainerPortsList", K::PortList, None, true)],
    },
    Recommendation {
        number: 12,
        id: "readonly-root-filesystem",
        title: "Immutable (read-only) root filesystem should be enforced for containers",
        title_ko: "변경 불가능한(읽기 전용) 루트 파일 시스템을 컨테이너에 적용해야 함",
        severity: Medium,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "df49d893-a74c-421d-bc95-c663042e5b80",
        description: "Every container sets securityContext.readOnlyRootFilesystem to true.",
        remediation: "Set securityContext.readOnlyRootFilesystem: true and mount writable emptyDir volumes where the app writes.",
        parameters: &[],
    },
    Recommendation {
        number: 13,
        id: "https-only-ingress",
        title: "Kubernetes clusters should be accessible only over HTTPS",
        title_ko: "Kubernetes 클러스터는 HTTPS를 통해서만 액세스할 수 있어야 함",
        severity: High,
        scope: S::Ingress,
        source: InCluster,
        policy_guid: "1a5b4dca-0b6f-4cf5-907c-56316bc1bf3d",
        description: "Every Ingress has spec.tls and the annotation kubernetes.io/ingress.allow-http: \"false\".",
        remediation: "Add a spec.tls section and annotate the Ingress with kubernetes.io/ingress.allow-http: \"false\".",
        parameters: &[],
    },
    Recommendation {
        number: 14,
        id: "api-server-restricted-access",
        title: "Kubernetes Services Management API server should be configured with restricted access",
        title_ko: "제한된 액세스 권한으로 Kubernetes Services Management API 서버를 구성해야 함",
        severity: High,
        scope: S::Cluster,
        source: Azure,
        policy_guid: "0e246bcf-5f6f-4f87-bc6f-775d4712c7ea",
        description: "The AKS cluster has authorized IP ranges for its API server or is a private cluster.",
        remediation: "Set apiServerAccessProfile.authorizedIPRanges or make the cluster private.",
        parameters: &[],
    },
    Recommendation {
        number: 15,
        id: "non-vulnerable-kubernetes-version",
        title: "Kubernetes Services should be upgraded to a non-vulnerable Kubernetes version",
        title_ko: "Kubernetes Services를 취약하지 않은 Kubernetes 버전으로 업그레이드해야 함",
        severity: High,
        scope: S::Cluster,
        source: InClusterAndAzure,
        policy_guid: "fb893a29-21bb-418c-a157-e99480ec364c",
        description: "The API server and every kubelet run a version outside CVE-2019-9946's vulnerable ranges (and not older than minimumVersion when set).",
        remediation: "Upgrade the control plane and node pools (1.11.9+, 1.12.7+, 1.13.5+, 1.14.0+).",
        parameters: &[p("minimumVersion", K::Version, None, false)],
    },
    Recommendation {
        number: 16,
        id: "least-privileged-capabilities",
        title: "Least privileged Linux capabilities should be enforced for containers",
        title_ko: "최소 권한 Linux 기능을 컨테이너에 적용해야 함",
        severity: Medium,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "c26596ff-4d70-4e6a-9a30-c2506bd2f80c",
        description: "No container adds a capability outside allowedCapabilities, and every container drops requiredDropCapabilities.",
        remediation: "Drop ALL capabilities and add back only the allowed ones.",
        parameters: &[
            p("allowedCapabilities", K::StringList, Some("[]"), false),
            p("requiredDropCapabilities", K::StringList, Some("[]"), false),
        ],
    },
    Recommendation {
        number: 17,
        id: "apparmor-profile",
        title: "Overriding or disabling of containers AppArmor profile should be restricted",
        title_ko: "컨테이너 AppArmor 프로필의 재정의 또는 비활성화를 제한해야 함",
        severity: High,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "511f5417-5d12-434d-ab2e-816901e72a5e",
        description: "Every container's effective AppArmor profile (container field, annotation, Pod field, else runtime/default) is in allowedProfiles.",
        remediation: "Remove Unconfined AppArmor profiles; use RuntimeDefault or an allowed Localhost profile.",
        parameters: &[p("allowedProfiles", K::StringList, Some("[\"runtime/default\"]"), false)],
    },
    Recommendation {
        number: 18,
        id: "privileged-containers",
        title: "Privileged containers should be avoided",
        title_ko: "권한 있는 컨테이너를 피해야 함",
        severity: Medium,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "95edb821-ddaf-4404-9732-666045e056b4",
        description: "No container sets securityContext.privileged: true.",
        remediation: "Remove securityContext.privileged: true; grant only the capabilities needed.",
        parameters: &[],
    },
    Recommendation {
        number: 19,
        id: "kubernetes-rbac",
        title: "Role-Based Access Control should be used on Kubernetes Services",
        title_ko: "Kubernetes 서비스에서 역할 기반 액세스 제어를 사용해야 함",
        severity: High,
        scope: S::Cluster,
        source: InClusterAndAzure,
        policy_guid: "ac4a19c2-fa67-49b4-8ae5-0b2e78c49457",
        description: "The authorizer denies an unbound user (SubjectAccessReview probe); on AKS, enableRBAC is not false.",
        remediation: "Run the API server with --authorization-mode including RBAC (not AlwaysAllow); create AKS clusters with RBAC.",
        parameters: &[],
    },
    Recommendation {
        number: 20,
        id: "run-as-non-root",
        title: "Running containers as root user should be avoided",
        title_ko: "컨테이너를 루트 사용자로 실행하지 않아야 함",
        severity: High,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "f06ddb64-5fa3-4b77-b166-acb36f7f6042",
        description: "Each container's resolved runAsUser, runAsGroup, supplementalGroups and fsGroup satisfy their rules (by default: not root, non-zero group).",
        remediation: "Set runAsNonRoot: true and a non-zero runAsUser/runAsGroup in the securityContext.",
        parameters: &[
            p("runAsUserRule", K::Rule, Some("\"MustRunAsNonRoot\""), false),
            p("runAsUserRanges", K::Ranges, Some(r#"{"ranges":[]}"#), false),
            p("runAsGroupRule", K::Rule, Some("\"MustRunAs\""), false),
            p("runAsGroupRanges", K::Ranges, Some(RANGE_DEFAULT), false),
            p("supplementalGroupsRule", K::Rule, Some("\"MayRunAs\""), false),
            p("supplementalGroupsRanges", K::Ranges, Some(RANGE_DEFAULT), false),
            p("fsGroupRule", K::Rule, Some("\"MayRunAs\""), false),
            p("fsGroupRanges", K::Ranges, Some(RANGE_DEFAULT), false),
        ],
    },
    Recommendation {
        number: 21,
        id: "service-allowed-ports",
        title: "Services should listen on allowed ports only",
        title_ko: "서비스는 허용되는 포트에서만 수신 대기해야 함",
        severity: Medium,
        scope: S::Service,
        source: InCluster,
        policy_guid: "233a2a17-77ca-4fb1-9b6b-69223d272a44",
        description: "Every spec.ports[].port of a Service is in allowedServicePortsList (default/kubernetes is skipped).",
        remediation: "Expose only allowed ports, or extend allowedServicePortsList.",
        parameters: &[p("allowedServicePortsList", K::PortList, None, true)],
    },
    Recommendation {
        number: 22,
        id: "host-network-ports",
        title: "Usage of host networking and ports should be restricted",
        title_ko: "호스트 네트워킹 및 포트 사용을 제한해야 함",
        severity: Medium,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "82985f06-dc18-4a48-bc1c-b9f4f0098cfe",
        description: "The Pod does not use hostNetwork (unless allowed) and every hostPort is within [minPort, maxPort].",
        remediation: "Remove hostNetwork and hostPort; expose the workload through a Service.",
        parameters: &[
            p("allowHostNetwork", K::Bool, Some("false"), false),
            p("minPort", K::Int, Some("0"), false),
            p("maxPort", K::Int, Some("0"), false),
        ],
    },
    Recommendation {
        number: 23,
        id: "hostpath-volumes",
        title: "Usage of pod HostPath volume mounts should be restricted to a known list",
        title_ko: "손상된 컨테이너에서 노드 액세스를 제한하려면 Pod HostPath 볼륨 탑재 사용을 알려진 목록으로 제한해야 함",
        severity: Medium,
        scope: S::Pod,
        source: InCluster,
        policy_guid: "098fc59e-46c7-4d99-9b16-64990e543d75",
        description: "Every hostPath volume matches an allowedHostPaths prefix (by whole path segments), mounted read-only where the entry requires it.",
        remediation: "Replace hostPath volumes with other volume types, or list the path in allowedHostPaths.",
        parameters: &[p("allowedHostPaths", K::HostPaths, Some(r#"{"paths":[]}"#), false)],
    },
    Recommendation {
        number: 24,
        id: "image-vulnerabilities",
        title: "Vulnerabilities in Azure Container Registry images should be remediated",
        title_ko: "Azure Container Registry 이미지의 취약성을 수정해야 함(Qualys 제공)",
        severity: High,
        scope: S::Pod,
        source: InClusterAndAzure,
        policy_guid: "5f0f936f-2f01-4bf5-b6be-d423792fa562",
        description: "No container image has a vulnerability of the listed severities (from Trivy Operator VulnerabilityReports, or Defender's registry assessment).",
        remediation: "Rebuild the image on patched base images and packages, then redeploy.",
        parameters: &[
            p("severities", K::StringList, Some("[\"CRITICAL\",\"HIGH\"]"), false),
            p("ignoreUnfixed", K::Bool, Some("true"), false),
        ],
    },
];

/// Looks a recommendation up by id.
pub fn by_id(id: &str) -> Option<&'static Recommendation> {
    CATALOG.iter().find(|r| r.id == id)
}

/// Index (0-based) of a recommendation id in [`CATALOG`].
pub fn index_of(id: &str) -> Option<usize> {
    CATALOG.iter().position(|r| r.id == id)
}

/// Index of the recommendation with the given number (1-24).
pub const fn idx(number: u8) -> usize {
    number as usize - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_numbered_in_order() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in CATALOG.iter().enumerate() {
            assert_eq!(r.number as usize, i + 1);
            assert!(seen.insert(r.id), "duplicate id {}", r.id);
            assert!(r.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{}", r.id);
            assert_eq!(r.policy_guid.len(), 36);
            assert!(!r.title_ko.is_empty());
        }
    }

    #[test]
    fn defaults_parse_as_json() {
        for r in &CATALOG {
            for p in r.parameters {
                if let Some(d) = p.default {
                    serde_json::from_str::<serde_json::Value>(d).unwrap_or_else(|e| panic!("{}.{}: {e}", r.id, p.name));
                }
            }
        }
    }
}
