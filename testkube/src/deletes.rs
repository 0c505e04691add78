//! Deletes: finalizers, a Namespace's content, and the garbage collector's work on dependents
//! (background propagation, or orphaning when asked).

use crate::ctx::WriteCtx;
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::store::{EventType, State, now_rfc3339};
use serde_json::{Value, json};
use std::sync::Arc;

impl State {
    /// Deletes an object: objects with finalizers get a deletionTimestamp, a Namespace takes its content with it.
    pub fn delete(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        ctx: &WriteCtx,
        precondition_rv: Option<&str>,
    ) -> Result<Value, ApiError> {
        let stored = self.get_or_404(t, ns, name)?;
        if let Some(rv) = precondition_rv
            && rv != stored.rv.to_string()
        {
            return Err(ApiError::conflict(&t.qualified(), name));
        }
        let mut obj = stored.value();
        if ctx.dry_run {
            return Ok(obj);
        }
        let has_finalizers = obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
        if t.kind == "Namespace" && t.group.is_empty() {
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                obj["status"]["phase"] = json!("Terminating");
                let applied = stored.applied.clone();
                obj = self.store(t, "", name, obj, applied, EventType::Modified);
                self.record(t, ctx, "", name, self.rv);
            }
            self.delete_namespace_content(name, ctx);
            self.finish_namespace_if_empty(name);
            return Ok(obj);
        }
        if has_finalizers {
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                let applied = stored.applied.clone();
                obj = self.store(t, ns, name, obj, applied, EventType::Modified);
                self.record(t, ctx, ns, name, self.rv);
            }
            return Ok(obj);
        }
        let removed = self.remove(t, ns, name).unwrap_or(obj);
        self.record(t, ctx, ns, name, self.rv);
        Ok(removed)
    }

    fn delete_namespace_content(&mut self, ns: &str, ctx: &WriteCtx) {
        let types: Vec<Arc<ResourceType>> = self.registry.all().filter(|t| t.namespaced).cloned().collect();
        let mut seen = std::collections::HashSet::new();
        for t in types {
            if !seen.insert(t.group_resource()) {
                continue;
            }
            let names: Vec<String> = self
                .objects
                .get(&t.group_resource())
                .map(|m| {
                    m.range((ns.to_string(), String::new())..)
                        .take_while(|((n, _), _)| n == ns)
                        .map(|((_, name), _)| name.clone())
                        .collect()
                })
                .unwrap_or_default();
            for name in names {
                let _ = self.delete(&t, ns, &name, ctx, None);
            }
        }
    }
}
