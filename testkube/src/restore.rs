//! Losing the server's state, as an etcd restore or a cluster rebuilt behind the same address does:
//! every object but the CustomResourceDefinitions is gone and resourceVersions start again.

use crate::TestKube;
use crate::kinds::GroupResource;
use crate::store::State;

impl TestKube {
    /// Loses every object except CustomResourceDefinitions (an install pipeline re-applies those
    /// first), starts resourceVersions again from the beginning, drops the watch history and ends
    /// every open watch. The write log is kept. A watch resumed from an older server's
    /// resourceVersion is then newer than anything here: it gets 504 "Too large resource version",
    /// as from a real API server, until the client lists again.
    pub fn lose_state(&self) {
        let rv = {
            let mut st = self.shared.state();
            let crds_gr = GroupResource { group: "apiextensions.k8s.io".into(), plural: "customresourcedefinitions".into() };
            let crds: Vec<serde_json::Value> =
                st.objects.get(&crds_gr).map(|m| m.values().map(|s| s.value()).collect()).unwrap_or_default();
            let mut fresh = State::new(st.history_cap());
            fresh.writes = std::mem::take(&mut st.writes);
            fresh.started = st.started;
            for mut crd in crds {
                if let Some(m) = crd.get_mut("metadata").and_then(serde_json::Value::as_object_mut) {
                    m.remove("resourceVersion");
                }
                if let Some(t) = fresh.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions") {
                    let ctx = crate::store::WriteCtx {
                        client: "testkube".into(),
                        verb: "create".into(),
                        operation: "Update",
                        ..Default::default()
                    };
                    // A CRD that was served before is valid again.
                    let _ = fresh.create(&t, None, crd, &ctx);
                }
            }
            *st = fresh;
            st.rv
        };
        self.shared.notify(rv);
        self.close_watches();
    }
}
