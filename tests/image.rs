//! The OCI image `make image` builds (image/build.sh): its config, its root filesystem alone runs
//! the binary (`chroot`), `kompliance run` from inside it writes reports to testkube, and a rebuild
//! from the same inputs gives the same manifest digest. `.ci/run` builds the image and names it in
//! `KOMPLIANCE_IMAGE`; without it (or without root, umoci, skopeo) the test fails under CI and skips
//! with the reason elsewhere.

#[allow(dead_code)]
mod azure_stand;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The image archive, or `None` (skip) outside CI when something it needs is missing.
fn image() -> Option<PathBuf> {
    let missing = |why: String| -> Option<PathBuf> {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why}");
        }
        eprintln!("skipping: {why}");
        None
    };
    for tool in ["umoci", "skopeo", "chroot"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return missing(format!("{tool} is not installed (.ci/run installs umoci and skopeo)"));
        }
    }
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return missing("chroot needs root".into());
    }
    match std::env::var_os("KOMPLIANCE_IMAGE").map(PathBuf::from) {
        Some(p) if p.is_file() => Some(p),
        Some(p) => missing(format!("KOMPLIANCE_IMAGE={} is not a file (make image builds it)", p.display())),
        None => missing("KOMPLIANCE_IMAGE is not set (.ci/run runs make image and sets it)".into()),
    }
}

fn run(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = cmd.output().unwrap_or_else(|e| panic!("{shown}: {e}"));
    assert!(out.status.success(), "{shown} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn image_config(archive: &Path) -> Value {
    let text = run(Command::new("skopeo").args(["inspect", "--config"]).arg(format!("oci-archive:{}", archive.display())));
    serde_json::from_str(&text).expect("image config JSON")
}

fn manifest_digest(archive: &Path) -> String {
    use sha2::Digest;
    let raw = run(Command::new("skopeo").args(["inspect", "--raw"]).arg(format!("oci-archive:{}", archive.display())));
    format!("sha256:{:x}", sha2::Sha256::digest(raw.as_bytes()))
}

/// Unpacks the image rootless into `dir`; returns its root filesystem.
fn unpack(archive: &Path, dir: &Path) -> PathBuf {
    let layout = dir.join("oci");
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("oci:{}:kompliance", layout.display())));
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:kompliance", layout.display()))
        .arg(dir.join("bundle")));
    dir.join("bundle/rootfs")
}

fn files_under(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_under(&path, base, out);
        } else {
            out.push(path.strip_prefix(base).expect("prefix").display().to_string());
        }
    }
}

#[test]
fn the_image_config_names_the_non_root_user_the_entrypoint_and_the_labels() {
    let Some(archive) = image() else { return };
    let cfg = image_config(&archive);
    let c = &cfg["config"];
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/local/bin/kompliance"]));
    let labels = &c["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(labels["org.opencontainers.image.source"], "https://github.com/kompliance/kompliance");
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    let revision = labels["org.opencontainers.image.revision"].as_str().unwrap_or("");
    assert!(revision.len() == 40 && revision.chars().all(|ch| ch.is_ascii_hexdigit()), "revision {revision:?}");
    assert_eq!(cfg["created"], labels["org.opencontainers.image.created"]);
}

#[test]
fn the_root_filesystem_alone_runs_the_binary() {
    let Some(archive) = image() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = unpack(&archive, dir.path());
    let mut files = vec![];
    files_under(&rootfs, &rootfs, &mut files);
    files.sort();
    // The binary, the C runtime and loader, the CA bundle and the user: nothing else.
    let others: Vec<&String> =
        files.iter().filter(|f| !f.starts_with("lib/") && !f.starts_with("lib64/") && !f.starts_with("usr/lib")).collect();
    assert_eq!(others, ["etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt", "usr/local/bin/kompliance"]);
    assert!(files.iter().any(|f| f.contains("ld-linux")), "the dynamic loader: {files:?}");
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).expect("passwd");
    assert!(passwd.contains(":65532:65532:"), "{passwd}");
    let catalog = run(Command::new("chroot").arg("--userspec=65532:65532").arg(&rootfs).args(["/usr/local/bin/kompliance", "catalog"]));
    assert_eq!(catalog.lines().filter(|l| l.trim_start().starts_with(char::is_numeric)).count(), 24, "{catalog}");
    let version = run(Command::new("chroot").arg(&rootfs).args(["/usr/local/bin/kompliance", "--version"]));
    assert!(version.starts_with(&format!("kompliance {} (commit ", env!("CARGO_PKG_VERSION"))), "{version}");
    assert!(!version.contains("unknown"), "the image's binary knows its commit: {version}");
}

#[test]
fn kompliance_run_inside_the_image_writes_reports_to_testkube() {
    let Some(archive) = image() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = unpack(&archive, dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let server = testkube::TestKube::start().await.expect("testkube");
        server.seed_path(&root().join("crds")).expect("seed crds/");
        server.seed_path(&root().join("examples")).expect("seed examples/");
        let etc = rootfs.join("etc/kompliance");
        std::fs::create_dir_all(&etc).expect("etc/kompliance");
        server.write_kubeconfig(&etc.join("kubeconfig"), "image-test").expect("kubeconfig");
        // Azure Resource Manager over TLS: a stand-in on loopback whose test CA is added to the image's
        // CA bundle. The operator trusts only the system store there, so the Azure rows are read only
        // when the bundle sits where the binary's TLS stack looks for it.
        let stand = std::sync::Arc::new(azure_stand::Stand::default());
        let (base, ca) = azure_stand::stand_in(stand.clone()).await;
        let bundle = rootfs.join("etc/ssl/certs/ca-certificates.crt");
        let mut certs = std::fs::read_to_string(&bundle).expect("CA bundle");
        certs.push_str(&ca);
        std::fs::write(&bundle, certs).expect("CA bundle");
        let mut config = std::fs::read_to_string(root().join("example-config.yaml")).expect("example-config.yaml");
        assert!(!config.contains("\nazure:"), "example-config.yaml has no azure: block to replace");
        config.push_str(&format!(
            "\nazure:\n  subscriptionId: sub-1\n  clusterResourceGroup: aks-rg\n  clusterName: prod-aks\n  endpoints:\n    resourceManager: {base}\n    authority: {base}\n"
        ));
        std::fs::write(etc.join("config.yaml"), config).expect("config");
        let mut child = Command::new("chroot")
            .arg("--userspec=65532:65532")
            .arg(&rootfs)
            .args([
                "/usr/local/bin/kompliance",
                "run",
                "--kubeconfig=/etc/kompliance/kubeconfig",
                "--config=/etc/kompliance/config.yaml",
                "--leader-election=false",
                "--metrics-addr=127.0.0.1:0",
                "--metrics-secure=false",
                "--debounce=200ms",
            ])
            .env("AZURE_TENANT_ID", "tenant-1")
            .env("AZURE_CLIENT_ID", "client-1")
            .env("AZURE_CLIENT_SECRET", "secret-1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chroot kompliance run");
        let start = Instant::now();
        let written = loop {
            let reports = server.list("kompliance.dev/v1alpha1", "ComplianceReport");
            let with_status = reports.iter().filter(|r| r.get("status").is_some()).count();
            let cluster = server.get("kompliance.dev/v1alpha1", "ComplianceClusterReport", "", "cluster");
            let defender = cluster.as_ref().and_then(|c| {
                c["status"]["recommendations"].as_array()?.iter().find(|e| e["id"] == "defender-for-registries").cloned()
            });
            if with_status > 0 && defender.as_ref().is_some_and(|d| d["state"] != "NotEvaluated") {
                // Read from the stand-in over TLS, verified with the image's CA bundle.
                assert_eq!(defender.as_ref().map(|d| d["state"].clone()), Some(Value::from("Healthy")), "{defender:?}");
                break reports;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    std::io::Read::read_to_string(&mut e, &mut err).ok();
                }
                panic!("kompliance run exited early ({status}): {err}");
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no reports with the Azure rows read within 60 s: {:?}", server.get("kompliance.dev/v1alpha1", "ComplianceClusterReport", "", "cluster"));
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        child.kill().expect("kill");
        child.wait().expect("wait");
        let mut namespaces: Vec<&str> = written.iter().filter_map(|r| r["metadata"]["namespace"].as_str()).collect();
        namespaces.sort();
        assert!(!namespaces.is_empty());
        let report = &written[0];
        assert!(report["status"]["summary"].is_object(), "{report}");
    });
}

#[test]
fn a_rebuild_from_the_same_inputs_gives_the_same_manifest_digest() {
    let Some(archive) = image() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = unpack(&archive, dir.path());
    let labels = image_config(&archive)["config"]["Labels"].clone();
    let created: jiff::Timestamp = labels["org.opencontainers.image.created"].as_str().unwrap_or("").parse().expect("created label");
    let revision = labels["org.opencontainers.image.revision"].as_str().unwrap_or("").to_string();
    let rebuilt = dir.path().join("rebuilt.tar");
    run(Command::new("bash")
        .arg(root().join("image/build.sh"))
        .env("KOMPLIANCE_BIN", rootfs.join("usr/local/bin/kompliance"))
        .env("IMAGE_OUT", &rebuilt)
        .env("SOURCE_DATE_EPOCH", created.as_second().to_string())
        .env("KOMPLIANCE_GIT_COMMIT", &revision));
    assert_eq!(manifest_digest(&rebuilt), manifest_digest(&archive));
}
