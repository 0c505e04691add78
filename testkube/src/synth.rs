//! Seeded synthetic clusters for benchmarks and load tests: realistic ~3 KB Pods, written as a kubectl-style List.

use serde_json::{Value, json};
use std::io::Write;

/// A small, fast, seeded random source (splitmix64); the same seed gives the same cluster.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// `len` lowercase alphanumerics.
    pub fn word(&mut self, len: usize) -> String {
        const A: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len).map(|_| A[self.below(A.len() as u64) as usize] as char).collect()
    }
}

/// Shape of a synthetic cluster.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Pods in all.
    pub pods: usize,
    /// Namespaces they spread over.
    pub namespaces: usize,
    /// Pods per Deployment (the rest of a namespace's Pods are bare).
    pub replicas: usize,
    /// Seed.
    pub seed: u64,
}

fn container(rng: &mut Rng, name: &str, image: &str, port: u16) -> Value {
    let hardened = rng.chance(60);
    let mut sc = json!({"allowPrivilegeEscalation": !hardened, "readOnlyRootFilesystem": hardened});
    if hardened {
        sc["capabilities"] = json!({"drop": ["ALL"]});
        sc["runAsNonRoot"] = json!(true);
        sc["runAsUser"] = json!(10001);
        sc["runAsGroup"] = json!(10001);
    }
    if rng.chance(3) {
        sc["privileged"] = json!(true);
    }
    let limits = if rng.chance(80) {
        json!({"cpu": format!("{}m", 100 * (1 + rng.below(20))), "memory": format!("{}Mi", 64 * (1 + rng.below(32)))})
    } else {
        json!({})
    };
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["--port", port.to_string(), "--log-level=info"],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
        "ports": [{"containerPort": port, "name": "http", "protocol": "TCP"}],
        "resources": {"limits": limits, "requests": {"cpu": "50m", "memory": "64Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"}, "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "securityContext": sc,
        "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": "kube-api-access", "readOnly": true}, {"mountPath": "/tmp", "name": "tmp"}]
    })
}

/// One Pod of `owner` (a Deployment name, or None for a bare Pod) in `ns`.
pub fn pod(rng: &mut Rng, ns: &str, owner: Option<(&str, &str)>, i: usize) -> Value {
    let (name, labels, owner_refs) = match owner {
        Some((deploy, hash)) => (
            format!("{deploy}-{hash}-{}", rng.word(5)),
            json!({"app": deploy, "pod-template-hash": hash, "app.kubernetes.io/part-of": "shop"}),
            json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{deploy}-{hash}"), "uid": format!("{:016x}-rs", rng.next_u64()), "controller": true, "blockOwnerDeletion": true}]),
        ),
        None => (format!("job-runner-{i}-{}", rng.word(4)), json!({"app": "job-runner"}), json!([])),
    };
    let registry = if rng.chance(85) { "myacr.azurecr.io" } else { "docker.io/library" };
    let app_image = format!("{registry}/shop/app:1.{}.0", rng.below(9));
    let containers = [container(rng, "app", &app_image, 8080), container(rng, "proxy", "myacr.azurecr.io/infra/envoy:1.31.2", 9901)];
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": format!("{:016x}-{:016x}", rng.next_u64(), rng.next_u64()),
            "resourceVersion": (1_000_000 + i).to_string(),
            "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": labels,
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-01T09:59:00Z", "prometheus.io/scrape": "true"},
            "ownerReferences": owner_refs
        },
        "spec": {
            "containers": containers,
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "hostNetwork": rng.chance(1),
            "nodeName": format!("aks-nodepool1-{:08}-vmss{:06}", rng.below(99_999_999), rng.below(50)),
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {"fsGroup": 2000, "seccompProfile": {"type": "RuntimeDefault"}},
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
            ],
            "volumes": [
                {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}},
                {"name": "tmp", "emptyDir": {}}
            ]
        },
        "status": {
            "phase": "Running",
            "podIP": format!("10.244.{}.{}", rng.below(256), rng.below(256)),
            "hostIP": format!("10.224.0.{}", rng.below(256)),
            "qosClass": "Burstable",
            "startTime": "2026-11-01T10:00:01Z",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-01T10:00:09Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-01T10:00:09Z"}
            ],
            "containerStatuses": [
                {"name": "app", "ready": true, "restartCount": 0, "started": true, "image": "shop/app", "imageID": format!("sha256:{:016x}{:016x}", rng.next_u64(), rng.next_u64()), "containerID": format!("containerd://{:016x}{:016x}", rng.next_u64(), rng.next_u64()), "state": {"running": {"startedAt": "2026-11-01T10:00:02Z"}}},
                {"name": "proxy", "ready": true, "restartCount": 0, "started": true, "image": "infra/envoy", "imageID": format!("sha256:{:016x}{:016x}", rng.next_u64(), rng.next_u64()), "containerID": format!("containerd://{:016x}{:016x}", rng.next_u64(), rng.next_u64()), "state": {"running": {"startedAt": "2026-11-01T10:00:02Z"}}}
            ]
        }
    })
}

/// Every Pod of the cluster, in order, with its namespace.
pub fn pods(shape: Shape) -> impl Iterator<Item = Value> {
    let mut rng = Rng::new(shape.seed);
    let per_ns = shape.pods.div_ceil(shape.namespaces.max(1));
    let replicas = shape.replicas.max(1);
    let mut deploy = (String::new(), String::new());
    (0..shape.pods).map(move |i| {
        let ns = format!("ns-{:04}", i / per_ns);
        let k = i % per_ns;
        if k.is_multiple_of(replicas) {
            deploy = (format!("svc-{}-{}", k / replicas, rng.word(3)), rng.word(9));
        }
        // One Pod in fifty is bare (no owner).
        if rng.chance(2) { pod(&mut rng, &ns, None, i) } else { pod(&mut rng, &ns, Some((&deploy.0, &deploy.1)), i) }
    })
}

/// Writes the cluster as `kubectl get pods -A -o json` prints it (items before kind); returns bytes written.
pub fn write_pod_list(shape: Shape, out: &mut impl Write) -> std::io::Result<u64> {
    let mut n: u64 = 0;
    let mut put = |out: &mut dyn Write, b: &[u8]| -> std::io::Result<()> {
        n += b.len() as u64;
        out.write_all(b)
    };
    put(out, b"{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n")?;
    for (i, p) in pods(shape).enumerate() {
        if i > 0 {
            put(out, b",\n")?;
        }
        let text = serde_json::to_vec(&p).map_err(std::io::Error::other)?;
        put(out, &text)?;
    }
    put(out, b"\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\"resourceVersion\": \"\"}\n}\n")?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_cluster_and_pods_are_about_3_kb() {
        let shape = Shape { pods: 50, namespaces: 5, replicas: 5, seed: 7 };
        let mut a = vec![];
        let mut b = vec![];
        write_pod_list(shape, &mut a).unwrap();
        write_pod_list(shape, &mut b).unwrap();
        assert_eq!(a, b);
        let per_pod = a.len() / 50;
        assert!((2500..=4500).contains(&per_pod), "{per_pod} bytes per Pod");
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["items"].as_array().map(Vec::len), Some(50));
    }
}
