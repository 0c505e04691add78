//! Losing the server's state, as an etcd restore or a cluster rebuilt behind the same address does:
//! every object but the CustomResourceDefinitions is gone and resourceVersions start again.

use crate::kinds::GroupResource;
use crate::store::State;
use crate::{ApiError, TestKube};

impl TestKube {
    /// Loses every object except CustomResourceDefinitions (an install pipeline re-applies those
    /// first), starts resourceVersions again from the beginning, drops the watch history and ends
    /// every open watch. The write log is kept. A watch resumed from an older server's
    /// resourceVersion is then newer than anything here: it gets 504 "Too large resource version",
    /// as from a real API server, until the client lists again. Fails when a CRD cannot be created
    /// again (the state is lost all the same).
    pub fn lose_state(&self) -> Result<(), ApiError> {
        let (rv, restored) = {
            let mut st = self.shared.state();
            let crds_gr = GroupResource { group: "apiextensions.k8s.io".into(), plural: "customresourcedefinitions".into() };
            let crds: Vec<serde_json::Value> =
                st.objects.get(&crds_gr).map(|m| m.values().map(|s| s.value()).collect()).unwrap_or_default();
            let mut fresh = State::new(st.history_cap());
            let mut restored = Ok(());
            fresh.writes = std::mem::take(&mut st.writes);
            fresh.started = st.started;
            for mut crd in crds {
                if let Some(m) = crd.get_mut("metadata").and_then(serde_json::Value::as_object_mut) {
                    m.remove("resourceVersion");
                }
                let t = fresh.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions");
                if let Some(t) = t {
                    let ctx = crate::store::WriteCtx {
                        client: "testkube".into(),
                        verb: "create".into(),
                        operation: "Update",
                        ..Default::default()
                    };
                    if let Err(e) = fresh.create(&t, None, crd, &ctx) {
                        restored = Err(e);
                    }
                }
            }
            *st = fresh;
            (st.rv, restored)
        };
        self.shared.notify(rv);
        self.close_watches();
        restored
    }
}
