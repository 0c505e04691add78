//! The whole real-world corpus audits without a panic; every malformed input is reported.

mod common;

use kompliance::config::Config;

#[test]
fn whole_corpus_audits_and_reports_every_bad_document() {
    let Some(corpus) = common::corpus() else { return };
    let result = common::audit(&Config::default(), &[corpus.as_path()], None);
    // SOURCES.md counts 1,157 objects; each is either read or reported as an error.
    assert_eq!(result.stats.objects + result.errors.len() as u64, 1157, "stats {:?}", result.stats);
    // The one invalid object: `lun: <ADD LUN ID Here>` where an integer is required.
    assert_eq!(result.errors.len(), 1, "{:?}", result.errors);
    let e = &result.errors[0];
    assert!(e.file.ends_with("kubernetes-examples/_archived/volumes/fibre_channel/fc.yaml"), "{e}");
    assert_eq!((e.document, e.line), (Some(1), Some(17)));
    assert_eq!(e.object.as_deref(), Some("Pod/fibre-channel-example-pod"));
    assert_eq!(e.field.as_deref(), Some("spec.volumes[0].fc.lun"));
    // The five files with duplicate keys are read (last value wins) and warned about.
    assert_eq!(result.warnings.len(), 5, "{:#?}", result.warnings);
    assert!(result.warnings.iter().all(|w| w.contains("duplicate key") && w.contains("(line ")));
    assert!(result.warnings.iter().any(|w| w.contains("etcd-controller.yaml") && w.contains("\"selector\"")));
    // The workloads of those files are still evaluated.
    assert!(result.resources().any(|r| r.key.name == "etcd"), "etcd controller from a duplicate-key file is evaluated");
    // List wrappers are looked into (kube-prometheus RoleList: Roles are skipped kinds, counted).
    assert!(result.stats.skipped_kinds.get("Role").copied().unwrap_or(0) >= 37);
    // Objects whose metadata.name is a template are still evaluated (vttablet-{{uid}}).
    assert!(result.resources().any(|r| r.key.name.contains("{{uid}}")));
}
