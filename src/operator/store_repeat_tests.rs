//! The store's records with repeated Pods merged once give what merging every Pod gives.

use super::*;
use crate::engine::NoVulnerabilityData;
use serde_json::json;

fn pod(name: &str, rs: Option<(&str, &str)>, image: &str, privileged: bool, created: i64) -> Pod {
    let mut meta =
        json!({"name": name, "namespace": "shop", "creationTimestamp": jiff::Timestamp::from_second(created).expect("time").to_string()});
    if let Some((rs, hash)) = rs {
        meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": rs, "controller": true}]);
        meta["labels"] = json!({"pod-template-hash": hash, "app": "web"});
    }
    serde_json::from_value(json!({"metadata": meta, "spec": {"containers": [
        {"name": "app", "image": image, "securityContext": {"privileged": privileged}}]}}))
    .expect("pod")
}

#[test]
fn merging_each_shared_verdict_once_gives_the_records_of_merging_every_pod() {
    let cfg = Config::parse(crate::operator::demo::EXAMPLE_CONFIG, "example-config.yaml").expect("config");
    let deploy = || Some(Owner { kind: "Deployment".into(), name: "web".into() });
    for source in [None, Some(Err("no data".to_string())), Some(Ok(()))] {
        let mut s = VerdictStore::new();
        s.set_vulnerability_source(source.clone());
        s.apply_owner("shop", "ReplicaSet", "web-old", deploy(), Default::default());
        s.apply_owner("shop", "ReplicaSet", "web-new", deploy(), Default::default());
        let mut created = 0;
        // A rollout: two templates, each over several Pods; one Pod changed by hand; bare Pods.
        for (rs, hash, image, privileged, n) in [
            ("web-old", "old", "docker.io/web:1", true, 4),
            ("web-new", "new", "myacr.azurecr.io/web:2", false, 5),
            ("web-new", "new", "myacr.azurecr.io/web:2", true, 1),
            ("api", "a1", "myacr.azurecr.io/api:1", false, 3),
        ] {
            for _ in 0..n {
                created += 1;
                s.apply_pod(
                    &pod(&format!("{rs}-{hash}-{created}"), Some((rs, hash)), image, privileged, created),
                    &cfg,
                    &NoVulnerabilityData,
                );
            }
        }
        for (name, privileged) in [("bare-a", true), ("bare-b", false), ("bare-c", true)] {
            created += 1;
            s.apply_pod(&pod(name, None, "docker.io/x:1", privileged, created), &cfg, &NoVulnerabilityData);
        }
        let (once, every) = (s.records_with("shop", true), s.records_with("shop", false));
        assert_eq!(format!("{once:#?}"), format!("{every:#?}"), "vulnerability source {source:?}");
        assert_eq!(once.iter().map(|r| r.pods).sum::<u32>(), 16);
        assert!(once.iter().any(|r| r.outcomes.iter().any(|(_, o)| matches!(o, crate::model::Outcome::Fail(f) if !f.is_empty()))));
    }
}
