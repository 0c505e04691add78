//! Pure check functions: one per recommendation, over typed Kubernetes objects; no I/O, no panics.

pub mod cluster;
pub mod containers;
pub mod host;
pub mod objects;
pub mod security;

use k8s_openapi::api::core::v1::{ContainerPort, PodOS, PodSecurityContext, PodSpec, ResourceRequirements, SecurityContext, VolumeMount};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One reason a resource fails a recommendation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Finding {
    /// The container at fault, when there is one.
    pub container: Option<Arc<str>>,
    /// One line saying why.
    pub message: Arc<str>,
}

impl Finding {
    /// A finding about a container.
    pub fn container(c: &ContainerRef<'_>, message: impl std::fmt::Display) -> Finding {
        Finding { container: Some(c.name.into()), message: shared_format(format_args!("{} {}: {message}", c.kind.label(), c.name)) }
    }
    /// A finding about the object as a whole.
    pub fn object(message: impl Into<String>) -> Finding {
        Finding { container: None, message: message.into().into() }
    }
}

/// `args` formatted into a shared string with one allocation: the text is written into a buffer
/// the thread keeps (a `format!` would allocate a `String` and then copy it into the `Arc`).
fn shared_format(args: std::fmt::Arguments<'_>) -> Arc<str> {
    use std::fmt::Write;
    thread_local! {
        static BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    BUF.with_borrow_mut(|buf| {
        buf.clear();
        // Writing into a String fails only when a Display impl does (where format! would panic):
        // the text written up to there is kept, marked as cut short.
        if let Err(std::fmt::Error) = buf.write_fmt(args) {
            buf.push('…');
        }
        Arc::from(buf.as_str())
    })
}

/// Which list of the Pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `spec.containers`.
    Container,
    /// `spec.initContainers`.
    Init,
    /// `spec.ephemeralContainers`.
    Ephemeral,
}

impl ContainerKind {
    /// Word used in messages.
    pub fn label(self) -> &'static str {
        match self {
            ContainerKind::Container => "container",
            ContainerKind::Init => "init container",
            ContainerKind::Ephemeral => "ephemeral container",
        }
    }
}

/// A borrowed view of any kind of container.
#[derive(Debug, Clone, Copy)]
pub struct ContainerRef<'a> {
    /// Container name.
    pub name: &'a str,
    /// Image as written (empty when absent).
    pub image: &'a str,
    /// Which list it is in.
    pub kind: ContainerKind,
    /// Its security context.
    pub security_context: Option<&'a SecurityContext>,
    /// Its resources (never set on ephemeral containers).
    pub resources: Option<&'a ResourceRequirements>,
    /// Declared ports.
    pub ports: &'a [ContainerPort],
    /// Volume mounts.
    pub volume_mounts: &'a [VolumeMount],
}

/// A hostPath volume of a Pod.
#[derive(Debug, Clone, Copy)]
pub struct HostPathRef<'a> {
    /// Volume name.
    pub volume: &'a str,
    /// Host path.
    pub path: &'a str,
}

/// What the Pod-level checks read, borrowed from a k8s-openapi `PodSpec` (operator) or from the
/// audit's slim document, so neither has to be converted into the other.
#[derive(Debug, Clone, Default)]
pub struct PodFacts<'a> {
    /// `spec.hostPID`.
    pub host_pid: bool,
    /// `spec.hostIPC`.
    pub host_ipc: bool,
    /// `spec.hostNetwork`.
    pub host_network: bool,
    /// `spec.os.name` is windows.
    pub windows: bool,
    /// `spec.securityContext`.
    pub security_context: Option<&'a PodSecurityContext>,
    /// hostPath volumes.
    pub host_paths: Vec<HostPathRef<'a>>,
    /// Every container: containers, init containers, ephemeral containers.
    pub containers: Vec<ContainerRef<'a>>,
    /// The Pod's (or pod template's) annotations.
    pub annotations: Option<&'a BTreeMap<String, String>>,
}

/// The Pod-level fields both adapters (k8s-openapi and the audit's documents) read.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodFields<'a> {
    /// `spec.hostPID`.
    pub host_pid: Option<bool>,
    /// `spec.hostIPC`.
    pub host_ipc: Option<bool>,
    /// `spec.hostNetwork`.
    pub host_network: Option<bool>,
    /// `spec.os`.
    pub os: Option<&'a PodOS>,
    /// `spec.securityContext`.
    pub security_context: Option<&'a PodSecurityContext>,
}

impl<'a> PodFacts<'a> {
    /// Assembles the facts from a spec's parts; containers come in spec order (containers, init, ephemeral).
    pub fn assemble(
        f: PodFields<'a>,
        host_paths: impl Iterator<Item = HostPathRef<'a>>,
        containers: impl Iterator<Item = ContainerRef<'a>>,
        annotations: Option<&'a BTreeMap<String, String>>,
    ) -> Self {
        PodFacts {
            host_pid: f.host_pid == Some(true),
            host_ipc: f.host_ipc == Some(true),
            host_network: f.host_network == Some(true),
            windows: f.os.is_some_and(|o| o.name.eq_ignore_ascii_case("windows")),
            security_context: f.security_context,
            host_paths: host_paths.collect(),
            containers: containers.collect(),
            annotations,
        }
    }

    /// Facts of a k8s-openapi Pod spec.
    pub fn from_spec(spec: &'a PodSpec, annotations: Option<&'a BTreeMap<String, String>>) -> Self {
        let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| ContainerRef {
            name: &c.name,
            image: c.image.as_deref().unwrap_or(""),
            kind: ContainerKind::Ephemeral,
            security_context: c.security_context.as_ref(),
            resources: None,
            ports: c.ports.as_deref().unwrap_or(&[]),
            volume_mounts: c.volume_mounts.as_deref().unwrap_or(&[]),
        });
        let containers = spec
            .containers
            .iter()
            .map(|c| plain(c, ContainerKind::Container))
            .chain(spec.init_containers.iter().flatten().map(|c| plain(c, ContainerKind::Init)))
            .chain(ephemeral);
        let fields = PodFields {
            host_pid: spec.host_pid,
            host_ipc: spec.host_ipc,
            host_network: spec.host_network,
            os: spec.os.as_ref(),
            security_context: spec.security_context.as_ref(),
        };
        let host_paths =
            spec.volumes.iter().flatten().filter_map(|v| Some(HostPathRef { volume: &v.name, path: &v.host_path.as_ref()?.path }));
        PodFacts::assemble(fields, host_paths, containers, annotations)
    }
}

/// What a Pod-level check sees: the Pod's facts and the containers in scope for the recommendation.
#[derive(Debug, Clone)]
pub struct PodView<'a> {
    /// The Pod (or pod template).
    pub facts: &'a PodFacts<'a>,
    /// The containers this recommendation judges (after excludedContainers/excludedImages).
    pub containers: &'a [ContainerRef<'a>],
}

fn plain(c: &k8s_openapi::api::core::v1::Container, kind: ContainerKind) -> ContainerRef<'_> {
    ContainerRef {
        name: &c.name,
        image: c.image.as_deref().unwrap_or(""),
        kind,
        security_context: c.security_context.as_ref(),
        resources: c.resources.as_ref(),
        ports: c.ports.as_deref().unwrap_or(&[]),
        volume_mounts: c.volume_mounts.as_deref().unwrap_or(&[]),
    }
}

/// True when `image` is named by an `excludedImages` entry (exact, or prefix ending in `*`).
pub fn image_excluded(image: &str, excluded: &[String]) -> bool {
    excluded.iter().any(|e| match e.strip_suffix('*') {
        Some(prefix) => image.starts_with(prefix),
        None => image == e,
    })
}

/// Signature shared by every Pod-level check.
pub type PodCheck = fn(&PodView<'_>, &crate::config::Params) -> Vec<Finding>;

/// Signature of a Service check.
pub type ServiceCheck = fn(&k8s_openapi::api::core::v1::Service, &crate::config::Params) -> Vec<Finding>;

/// Signature of an Ingress check.
pub type IngressCheck = fn(&k8s_openapi::api::networking::v1::Ingress, &crate::config::Params) -> Vec<Finding>;

/// Signature of a version check: the component's name, its version, the parameters.
pub type VersionCheck = fn(&str, &str, &crate::config::Params) -> cluster::VersionVerdict;
