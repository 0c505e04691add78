//! Hostile and unusual inputs to `kompliance audit`: every spelling kubectl reads as a Pod is
//! judged as one, objects are recognised by API group and kind, and inputs that cannot be read are
//! errors.

mod common;

use kompliance::audit::AuditResult;
use kompliance::config::Config;
use kompliance::model::Outcome;

/// Audits `input` given on standard input.
fn stdin(input: &[u8]) -> AuditResult {
    let opts = kompliance::audit::AuditOptions {
        paths: vec!["-".into()],
        default_namespace: "default".into(),
        kubernetes_version: None,
        now: common::now(),
        lang: Default::default(),
    };
    kompliance::audit::run(&Config::default(), &opts, input)
}

fn privileged_idx() -> usize {
    kompliance::catalog::index_of("privileged-containers").expect("privileged-containers")
}

/// True when the resource `kind/name` was judged unhealthy for privileged-containers.
fn judged_privileged(r: &AuditResult, kind: &str, name: &str) -> bool {
    r.resources().any(|res| res.key.kind == kind && res.key.name == name && matches!(res.outcome(privileged_idx()), Some(Outcome::Fail(_))))
}

const BODY: &str = "metadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n    securityContext: {privileged: true}\n";

/// A tiny deterministic generator (xorshift), so the spellings below run the same in CI.
struct Rng(u64);

impl Rng {
    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        &from[(self.0 % from.len() as u64) as usize]
    }
}

/// Ways to write a mapping key `k` (block style); `{}` is the key.
const KEYS: &[&str] = &["{}", "\"{}\"", "'{}'", "!!str {}", "? {}\n", "!<tag:yaml.org,2002:str> {}"];

/// Ways to write the scalar `Pod` as a block-mapping value (after `key:`).
const POD: &[&str] = &[
    " Pod",
    " \"Pod\"",
    " 'Pod'",
    " !!str Pod",
    " \"P\\x6fd\"",
    " \"\\u0050od\"",
    " \"\\x50\\x6F\\x64\"",
    " |-\n  Pod",
    " >-\n  Pod",
    " &k Pod",
    "\n  Pod",
    " Pod # a comment",
    " Pod\t# after a tab",
    " \"P\\\n  od\"",
    " 'Pod'  \t",
    " !<tag:yaml.org,2002:str> Pod",
    " \"\\U00000050od\"",
];

/// Ways to write `v1`.
const V1: &[&str] = &[" v1", " \"v1\"", " 'v1'", " !!str v1", " \"\\x76\\x31\"", " |-\n  v1", " >-\n  v1\n", " v1 # c", " v1\t#c"];

fn key(rng: &mut Rng, k: &str) -> String {
    let form = *rng.pick(KEYS);
    if form.starts_with('?') {
        // An explicit key: `? kind` on its own line, then `: value`.
        return format!("? {k}\n");
    }
    form.replace("{}", k)
}

/// One generated document: the head in some spelling, then the privileged Pod's body.
fn generate(rng: &mut Rng) -> String {
    let kind_key = key(rng, "kind");
    let api_key = key(rng, "apiVersion");
    let pod = *rng.pick(POD);
    let v1 = *rng.pick(V1);
    let kind_line = format!("{kind_key}:{pod}\n");
    let api_line = format!("{api_key}:{v1}\n");
    let layout = *rng.pick(&[0, 1, 2, 3, 4, 5]);
    match layout {
        // The usual order.
        0 => format!("{api_line}{kind_line}{BODY}"),
        // kind last, after the spec.
        1 => format!("{BODY}{api_line}{kind_line}"),
        // Comments and blank lines first.
        2 => format!("# a header\n\n   # indented comment\n{kind_line}{api_line}{BODY}"),
        // A UTF-8 byte order mark first.
        3 => format!("\u{feff}{api_line}{kind_line}{BODY}"),
        // An explicit document start; apiVersion last.
        4 => format!("---\n{kind_line}{BODY}{api_line}"),
        // The head around the body.
        _ => format!("{api_line}{BODY}{kind_line}"),
    }
}

/// Whole documents that kubectl reads as the privileged Pod (forms the generator does not make).
const HAND_WRITTEN: &[&str] = &[
    // Flow mapping spread over lines (after a comment: input that starts with `{` is JSON to
    // kubectl and to the audit).
    "# flow\n{apiVersion: v1,\n kind:\n   Pod, metadata: {name: p},\n spec: {containers: [{name: c, image: nginx,\n   securityContext: {privileged: true}}]}}\n",
    // JSON in a YAML document.
    "{\"apiVersion\": \"v1\", \"kind\": \"P\\u006fd\", \"metadata\": {\"name\": \"p\"}, \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"nginx\", \"securityContext\": {\"privileged\": true}}]}}\n",
    // An alias to an anchor defined earlier.
    "metadata:\n  name: p\n  labels: {x: &k Pod}\napiVersion: v1\nkind: *k\nspec:\n  containers:\n  - name: c\n    image: nginx\n    securityContext: {privileged: true}\n",
    // A merge key.
    "<<: {apiVersion: v1, kind: Pod}\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n    securityContext: {privileged: true}\n",
    // Explicit keys with values on their own lines.
    "? apiVersion\n: v1\n? kind\n: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: nginx, securityContext: {privileged: true}}\n",
    // A duplicate kind: the last value wins (as the contract says for duplicate keys).
    "apiVersion: v1\nkind: ConfigMap\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: nginx, securityContext: {privileged: true}}\n",
    // Escaped key and a comment after a tab on the kind line.
    "apiVersion: v1\n\"k\\x69nd\": Pod\t# hidden\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: nginx, securityContext: {privileged: true}}\n",
    // Indented top-level mapping.
    "  apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec:\n    containers:\n    - {name: c, image: nginx, securityContext: {privileged: true}}\n",
];

#[test]
fn every_spelling_of_a_pod_is_judged_as_a_pod() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let generated: Vec<String> = (0..400).map(|_| generate(&mut rng)).collect();
    let mut failures = vec![];
    for doc in generated.iter().map(String::as_str).chain(HAND_WRITTEN.iter().copied()) {
        let r = stdin(doc.as_bytes());
        if !r.errors.is_empty() || !judged_privileged(&r, "Pod", "p") || !r.fails_at(kompliance::catalog::Severity::High) {
            failures.push(format!("{doc:?}: errors {:?}, skipped {:?}", r.errors, r.stats.skipped_kinds));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} spellings not judged:\n{}",
        failures.len(),
        generated.len() + HAND_WRITTEN.len(),
        failures.join("\n")
    );
}

#[test]
fn the_name_an_object_is_judged_under_is_the_parsed_name() {
    // The name comes from the full parse: a block scalar and an escape are not mistaken for text.
    let r = stdin(b"apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: \"sh\\x6fp\"\n  name: |-\n    web\nspec:\n  containers:\n  - {name: c, image: nginx, securityContext: {privileged: true}}\n");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let res = r.resources().next().expect("one resource");
    assert_eq!((res.key.namespace.as_str(), res.key.name.as_str()), ("shop", "web"));
}

/// A privileged pod template under the given apiVersion and kind.
fn workload(api: &str, kind: &str, name: &str) -> String {
    format!(
        "apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n  template:\n    spec:\n      containers:\n      - {{name: c, image: nginx, securityContext: {{privileged: true}}}}\n"
    )
}

#[test]
fn objects_are_recognised_by_api_group_and_kind() {
    // Look-alikes from other API groups are kinds not judged, counted under group/kind.
    let lookalikes = [
        ("config.openshift.io/v1", "Ingress"),
        ("serving.knative.dev/v1", "Service"),
        ("example.com/v1", "Deployment"),
        ("example.com/v1", "Pod"),
        ("cluster.x-k8s.io/v1beta1", "MachineDeployment"),
        ("v1", "Deployment"),
    ];
    let text: String = lookalikes.iter().enumerate().map(|(i, (a, k))| format!("---\n{}", workload(a, k, &format!("x{i}")))).collect();
    let r = stdin(text.as_bytes());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.resources().count(), 0, "nothing judged: {:?}", r.resources().map(|r| r.key.to_string()).collect::<Vec<_>>());
    let skipped: Vec<(&str, u64)> = r.stats.skipped_kinds.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(
        skipped,
        [
            ("Deployment", 1),
            ("cluster.x-k8s.io/MachineDeployment", 1),
            ("config.openshift.io/Ingress", 1),
            ("example.com/Deployment", 1),
            ("example.com/Pod", 1),
            ("serving.knative.dev/Service", 1)
        ]
    );
    // The built-in kinds in each of their groups are judged.
    let builtin = [
        ("apps/v1", "Deployment"),
        ("apps/v1beta2", "StatefulSet"),
        ("apps/v1beta1", "Deployment"),
        ("extensions/v1beta1", "DaemonSet"),
        ("extensions/v1beta1", "ReplicaSet"),
        ("batch/v1", "Job"),
        ("v1", "ReplicationController"),
    ];
    let text: String = builtin.iter().enumerate().map(|(i, (a, k))| format!("---\n{}", workload(a, k, &format!("w{i}")))).collect();
    let r = stdin(text.as_bytes());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    for (i, (_, k)) in builtin.iter().enumerate() {
        assert!(judged_privileged(&r, k, &format!("w{i}")), "{k} w{i} judged");
    }
}

#[test]
fn lists_and_json_streams_recognise_groups_too() {
    let pod = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "real"}, "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": true}}]}}"#;
    let fake =
        r#"{"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "kn"}, "spec": {"ports": [{"port": 22}]}}"#;
    let ing = r#"{"apiVersion": "config.openshift.io/v1", "kind": "Ingress", "metadata": {"name": "cluster"}, "spec": {"domain": "x"}}"#;
    let json = format!("{{\"apiVersion\": \"v1\", \"items\": [{pod}, {fake}, {ing}], \"kind\": \"List\"}}");
    let yaml = format!("apiVersion: v1\nkind: List\nitems: [{pod}, {fake}, {ing}]\n");
    for input in [json, yaml] {
        let r = stdin(input.as_bytes());
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let judged: Vec<String> = r.resources().map(|r| r.key.to_string()).collect();
        assert_eq!(judged, ["Pod/real"], "{input}");
        assert_eq!(r.stats.skipped_kinds.get("serving.knative.dev/Service"), Some(&1));
        assert_eq!(r.stats.skipped_kinds.get("config.openshift.io/Ingress"), Some(&1));
    }
    // A typed list's items take the list's group: a DeploymentList of a CRD group is not judged.
    let crd_list = r#"{"apiVersion": "example.com/v1", "kind": "DeploymentList", "items": [{"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": true}}]}}}}]}"#;
    let r = stdin(crd_list.as_bytes());
    assert_eq!((r.resources().count(), r.stats.skipped_kinds.get("example.com/Deployment")), (0, Some(&1)), "{:?}", r.errors);
    let apps_list = crd_list.replace("example.com/v1", "apps/v1");
    assert!(judged_privileged(&stdin(apps_list.as_bytes()), "Deployment", "d"));
}

#[test]
fn a_judged_object_that_cannot_be_read_is_an_error() {
    // A kind that is not a string, a metadata that is not a mapping, a type error in a list item.
    let cases: [(&str, &str); 4] = [
        ("apiVersion: v1\nkind: [Pod]\nmetadata: {name: p}\n", "kind"),
        ("apiVersion: v1\nkind: Pod\nmetadata: p\nspec: {containers: []}\n", "metadata"),
        (
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: {name: c}}}\n",
            "items[0].spec.containers",
        ),
        (r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": 5, "metadata": {"name": "p"}}]}"#, "kind"),
    ];
    for (input, field) in cases {
        let r = stdin(input.as_bytes());
        assert_eq!(
            r.errors.len(),
            1,
            "{input}: {:?} / skipped {:?} / not objects {}",
            r.errors,
            r.stats.skipped_kinds,
            r.stats.not_objects
        );
        let e = r.errors[0].to_string();
        assert!(e.contains(field) && e.starts_with("-: document 1 (line "), "{input}: {e}");
    }
}

/// A Pod whose container repeats `securityContext`; the last value must win, with a warning.
const DUP_POD: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
 "spec": {"containers": [{"name": "c", "image": "nginx",
 "securityContext": {"privileged": false}, "securityContext": {"privileged": true}}]}}"#;

#[test]
fn json_duplicate_keys_last_wins_with_a_warning() {
    // A single object, on stdin and in a .json file; and the same object as an item of a list.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pod.json");
    std::fs::write(&file, DUP_POD).expect("write");
    let listed = format!("{{\"apiVersion\": \"v1\", \"kind\": \"List\",\n\"items\": [{DUP_POD}]}}");
    let from_file = common::audit(&Config::default(), &[file.as_path()], None);
    for (what, r) in [("stdin", stdin(DUP_POD.as_bytes())), ("file", from_file), ("list", stdin(listed.as_bytes()))] {
        assert!(r.errors.is_empty(), "{what}: {:?}", r.errors);
        assert!(judged_privileged(&r, "Pod", "p"), "{what}: the last securityContext wins");
        assert_eq!(r.warnings.len(), 1, "{what}: {:?}", r.warnings);
        assert!(r.warnings[0].contains("duplicate key \"securityContext\""), "{what}: {}", r.warnings[0]);
        assert!(r.warnings[0].contains("(line 3)") || r.warnings[0].contains("(line 4)"), "{what}: {}", r.warnings[0]);
    }
    // A duplicate kind: the last one decides what the object is.
    let kinds = r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}, "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": true}}]}}"#;
    let listed = format!("{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{kinds}]}}");
    for input in [kinds.to_string(), listed] {
        let r = stdin(input.as_bytes());
        assert!(judged_privileged(&r, "Pod", "p"), "{input}: {:?} {:?}", r.errors, r.stats.skipped_kinds);
        assert!(r.warnings.iter().any(|w| w.contains("duplicate key \"kind\"")), "{:?}", r.warnings);
    }
    // A list item that starts as a Pod (the shape the fast path takes) but repeats `kind`, plainly
    // or escaped, later on: the last kind decides, so the privileged Pod is a ConfigMap.
    for later in [r#""kind": "ConfigMap""#, r#""\u006bind": "ConfigMap""#, r#""k\u0069nd": "ConfigMap""#] {
        let item = format!(
            r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "p"}}, "spec": {{"containers": [{{"name": "c", "image": "nginx", "securityContext": {{"privileged": true}}}}]}}, {later}}}"#
        );
        let listed = format!("{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{item}]}}");
        let r = stdin(listed.as_bytes());
        assert!(!judged_privileged(&r, "Pod", "p"), "{later}: judged as a Pod");
        assert!(r.stats.skipped_kinds.keys().any(|k| k.contains("ConfigMap")), "{later}: {:?}", r.stats.skipped_kinds);
        assert!(r.warnings.iter().any(|w| w.contains("duplicate key \"kind\"")), "{later}: {:?}", r.warnings);
    }
}

#[test]
fn byte_order_marks_and_utf16_are_read_as_kubectl_reads_them() {
    let yaml = workload("apps/v1", "Deployment", "web");
    let json = r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": true}}]}}]}"#;
    let utf16 = |text: &str, be: bool| -> Vec<u8> {
        let mut out = if be { vec![0xFE, 0xFF] } else { vec![0xFF, 0xFE] };
        for u in text.encode_utf16() {
            out.extend_from_slice(&if be { u.to_be_bytes() } else { u.to_le_bytes() });
        }
        out
    };
    let bom8 = |text: &str| -> Vec<u8> { [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat() };
    let dir = tempfile::tempdir().expect("tempdir");
    for (text, kind, ext) in [(yaml.as_str(), "Deployment", "yaml"), (json, "Pod", "json")] {
        for (enc, bytes) in [("utf-8 bom", bom8(text)), ("utf-16le", utf16(text, false)), ("utf-16be", utf16(text, true))] {
            let r = stdin(&bytes);
            assert!(r.errors.is_empty() && judged_privileged(&r, kind, "web"), "stdin {ext} {enc}: {:?}", r.errors);
            let file = dir.path().join(format!("in-{enc}.{ext}").replace(' ', "-"));
            std::fs::write(&file, &bytes).expect("write");
            let r = common::audit(&Config::default(), &[file.as_path()], None);
            assert!(r.errors.is_empty() && judged_privileged(&r, kind, "web"), "file {ext} {enc}: {:?}", r.errors);
        }
    }
    // Error lines are the file's lines, whatever the encoding.
    let bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: c, ports: [{containerPort: http}]}]\n";
    for bytes in [bom8(bad), utf16(bad, false)] {
        let r = stdin(&bytes);
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert_eq!(r.errors[0].line, Some(5), "{}", r.errors[0]);
    }
}

fn run_cli(args: &[&str], input: &[u8]) -> (Option<i32>, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kompliance"))
        .args(args)
        .current_dir(common::root())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn names_from_the_input_are_printed_escaped_in_the_table() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"evil\\e[2J\\e]0;owned\\a\\nline\\r\\x7f\\u009b\"\n  namespace: \"ns\\e[31m\"\nspec:\n  containers:\n  - {name: \"c\\e[1m\", image: nginx, securityContext: {privileged: true}}\n";
    let (code, out, err) = run_cli(&["audit", "-"], pod.as_bytes());
    assert_eq!(code, Some(0), "{err}");
    assert!(!out.chars().any(|c| c == '\u{1b}' || c == '\r' || c == '\u{7}' || c == '\u{7f}' || c == '\u{9b}'), "{out:?}");
    assert!(out.starts_with("NAMESPACE ns\\x1b[31m: "), "{out}");
    assert!(out.contains("✗ Pod/evil\\x1b[2J\\x1b]0;owned\\x07\\nline\\r\\x7f\\u{9b}: container c\\x1b[1m"), "{out}");
    assert!(out.lines().all(|l| !l.starts_with("line")), "no raw newline from a name: {out}");
}

#[test]
fn inputs_that_cannot_be_read_exit_2_with_their_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("ok.yaml"), workload("apps/v1", "Deployment", "web")).expect("write");
    std::os::unix::fs::symlink(d.join("gone.yaml"), d.join("dangling.yaml")).expect("symlink");
    // A file whose read fails (EIO), reached through a symlink with a manifest's name.
    std::os::unix::fs::symlink("/proc/self/mem", d.join("eio.yaml")).expect("symlink");
    let fifo = d.join("fifo.yaml");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a plain mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let shown = d.display().to_string();
    let (code, out, err) = run_cli(&["audit", &shown], b"");
    assert_eq!(code, Some(2), "{out}\n{err}");
    for name in ["dangling.yaml", "eio.yaml", "fifo.yaml"] {
        assert!(err.lines().any(|l| l.starts_with(&format!("error: {shown}/{name}: "))), "{name} named: {err}");
    }
    assert!(out.contains("Deployment/web"), "the readable file is still judged: {out}");
    // A dangling symlink given as a path.
    let dangling = d.join("dangling.yaml").display().to_string();
    let (code, _, err) = run_cli(&["audit", &dangling], b"");
    assert_eq!(code, Some(2));
    assert!(err.contains(&format!("{dangling}: cannot read")), "{err}");
    // A directory without read permission cannot be made here: the tests run as root, which
    // lists any directory whatever its mode. Its error takes the same path as a failed listing
    // (Reader::gather_dir), whose message the dangling cases above share.
}

#[test]
fn json_errors_are_placed_on_the_files_lines() {
    // A single object (decoded like a list item, member by member back on its own lines) and an
    // item of a list: the line is where the bad value is, not where the object starts.
    let single = "\n{\"apiVersion\": \"v1\",\n \"kind\": \"Pod\",\n \"metadata\": {\"name\": \"p\"},\n \"spec\": {\"containers\": [\n  {\"name\": \"c\", \"ports\": [{\"containerPort\": \"http\"}]}]}}\n";
    let listed = format!("{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n{}]}}", single.trim());
    for (input, line) in [(single.to_string(), 6), (listed, 6)] {
        let r = stdin(input.as_bytes());
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        let e = &r.errors[0];
        assert_eq!((e.line, e.object.as_deref()), (Some(line), Some("Pod/p")), "{e}");
        assert!(e.field.as_deref().is_some_and(|f| f.ends_with("spec.containers[0].ports[0].containerPort")), "{e}");
    }
    // As kubectl writes a list, indented: the stream hands items on without their indentation,
    // yet the line is the file's, and no position counted within the item (serde_json's "at line
    // L column C", L from the item's first line) reaches the message.
    let pretty = serde_json::to_string_pretty(&serde_json::json!({
        "apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ok", "namespace": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "a"},
             "spec": {"containers": [{"name": "c", "image": "i", "securityContext": {"privileged": "yes"}}]}},
        ]
    }))
    .expect("json");
    let at = pretty.lines().position(|l| l.trim() == "\"privileged\": \"yes\"").expect("line") + 1;
    let r = stdin(pretty.as_bytes());
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    let e = &r.errors[0];
    assert_eq!((e.line, e.object.as_deref()), (Some(at), Some("Pod/bad")), "{e}");
    assert!(e.message.contains("expected a boolean") && !e.message.contains(" at line "), "{e}");
    // Malformed JSON that is no object is an error too, not "not an object".
    let r = stdin(b"{\"a\": [1, 2}\n");
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
}

#[test]
fn a_yaml_list_too_big_for_one_parse_is_read_item_by_item() {
    // `kubectl get pods -A -o yaml` with thousands of Pods: more nodes than one parse may hold.
    let labels: String = (0..40).map(|i| format!("      l{i}: v{i}\n")).collect();
    let mut text = String::from("apiVersion: v1\nitems:\n");
    let n = 3000;
    for i in 0..n {
        let privileged = i == n - 1;
        text.push_str(&format!(
            "- apiVersion: v1\n  kind: Pod\n  metadata:\n    labels:\n{labels}    name: p{i}\n    namespace: big\n  spec:\n    containers:\n    - image: nginx\n      name: c\n      securityContext:\n        privileged: {privileged}\n"
        ));
    }
    text.push_str("kind: List\nmetadata:\n  resourceVersion: \"\"\n");
    let r = stdin(text.as_bytes());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.resources().count(), n);
    assert!(judged_privileged(&r, "Pod", &format!("p{}", n - 1)));
    // A bad item is reported at its own line; the others are still read.
    let bad = text.replacen("name: p7\n", "name: p7\n    annotations: 5\n", 1);
    let r = stdin(bad.as_bytes());
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    let lines: Vec<&str> = bad.lines().collect();
    let at = lines.iter().position(|l| *l == "    annotations: 5").expect("line");
    let item_start = lines[..at].iter().rposition(|l| l.starts_with("- ")).expect("item") + 1;
    assert!(r.errors[0].field.as_deref().is_some_and(|f| f.starts_with("items[7].metadata.annotations")), "{}", r.errors[0]);
    assert_eq!(r.errors[0].line, Some(item_start), "{}", r.errors[0]);
    assert_eq!(r.resources().count(), n - 1);
}
