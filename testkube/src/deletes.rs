//! Deletes: finalizers, a Namespace's content, and the garbage collector's work on dependents
//! (background propagation, or orphaning when asked).

use crate::ctx::WriteCtx;
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::store::{EventType, State, now_rfc3339};
use serde_json::{Value, json};
use std::sync::Arc;

impl State {
    /// Deletes an object with background propagation (see [`State::delete_with`]).
    pub fn delete(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        ctx: &WriteCtx,
        precondition_rv: Option<&str>,
    ) -> Result<Value, ApiError> {
        self.delete_with(t, ns, name, ctx, precondition_rv, Propagation::Background)
    }

    /// Deletes an object: objects with finalizers get a deletionTimestamp, a Namespace takes its content with it;
    /// then the garbage collector deletes the dependents of whatever was removed, or, with [`Propagation::Orphan`],
    /// the object's dependents lose their owner reference to it first.
    pub fn delete_with(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        ctx: &WriteCtx,
        precondition_rv: Option<&str>,
        propagation: Propagation,
    ) -> Result<Value, ApiError> {
        if propagation == Propagation::Orphan && !ctx.dry_run {
            let stored = self.get_or_404(t, ns, name)?;
            if precondition_rv.is_none_or(|rv| rv == stored.rv.to_string())
                && let Some(uid) = stored.value().pointer("/metadata/uid").and_then(Value::as_str)
            {
                self.orphan_dependents(uid);
            }
        }
        let out = self.delete_one(t, ns, name, ctx, precondition_rv);
        self.collect_garbage();
        out
    }

    fn delete_one(
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
                // Objects with finalizers stay (marked for deletion); nothing else can fail here.
                let _ = self.delete_one(&t, ns, &name, ctx, None);
            }
        }
    }

    /// The garbage collector's pass: the dependents of every removed object are deleted (background
    /// propagation, recursively), except that a dependent with another owner still present only loses
    /// its reference to the removed one.
    pub(crate) fn collect_garbage(&mut self) {
        let ctx = gc_ctx("delete");
        while let Some(uid) = self.gc_queue.pop_front() {
            let Some(dependents) = self.dependents.remove(&uid) else { continue };
            for (gr, ns, name) in dependents {
                let Some(t) = self.registry.all().find(|t| t.group_resource() == gr).cloned() else { continue };
                let Some(obj) = self.get(&gr, &ns, &name).map(|s| s.value()) else { continue };
                let refs: Vec<Value> = obj.pointer("/metadata/ownerReferences").and_then(Value::as_array).cloned().unwrap_or_default();
                if !refs.iter().any(|r| r.get("uid").and_then(Value::as_str) == Some(uid.as_str())) {
                    continue;
                }
                let others_present =
                    refs.iter().filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str())).any(|r| self.owner_present(r, &ns));
                if others_present {
                    self.strip_owner(&t, &ns, &name, obj, &uid);
                } else {
                    // Objects with finalizers stay (marked for deletion); nothing else can fail here.
                    let _ = self.delete_one(&t, &ns, &name, &ctx, None);
                }
            }
        }
    }

    /// Whether the owner an owner reference names exists (same uid), looked up in `ns` for namespaced kinds.
    fn owner_present(&self, r: &Value, ns: &str) -> bool {
        let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
        let Some(t) = self.registry.by_kind(field("apiVersion"), field("kind")) else { return false };
        let stored = self.get(&t.group_resource(), if t.namespaced { ns } else { "" }, field("name"));
        stored.is_some_and(|s| s.value().pointer("/metadata/uid").and_then(Value::as_str) == Some(field("uid")))
    }

    /// Removes the owner reference to `uid` from every dependent of that owner (`propagationPolicy: Orphan`).
    fn orphan_dependents(&mut self, uid: &str) {
        let Some(dependents) = self.dependents.remove(uid) else { return };
        for (gr, ns, name) in dependents {
            let Some(t) = self.registry.all().find(|t| t.group_resource() == gr).cloned() else { continue };
            if let Some(obj) = self.get(&gr, &ns, &name).map(|s| s.value()) {
                self.strip_owner(&t, &ns, &name, obj, uid);
            }
        }
    }

    /// Stores `obj` without its owner reference to `uid` (a MODIFIED event), if it has one.
    fn strip_owner(&mut self, t: &ResourceType, ns: &str, name: &str, mut obj: Value, uid: &str) {
        let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else { return };
        let Some(refs) = meta.get_mut("ownerReferences").and_then(Value::as_array_mut) else { return };
        let before = refs.len();
        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
        if refs.len() == before {
            return;
        }
        if refs.is_empty() {
            meta.remove("ownerReferences");
        }
        let applied = self.get(&t.group_resource(), ns, name).map(|s| s.applied.clone()).unwrap_or_default();
        self.store(t, ns, name, obj, applied, EventType::Modified);
        self.record(t, &gc_ctx("update"), ns, name, self.rv);
    }
}

/// How a delete treats the object's dependents (`propagationPolicy` of DeleteOptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Dependents are deleted after the owner (the default for most kinds).
    #[default]
    Background,
    /// Dependents are deleted; testkube removes the owner at once rather than after its dependents.
    Foreground,
    /// Dependents stay and lose their owner reference.
    Orphan,
}

impl Propagation {
    /// From DeleteOptions' `propagationPolicy` (or the query's), or the legacy `orphanDependents`.
    pub fn parse(policy: Option<&str>, orphan_dependents: Option<bool>) -> Result<Self, ApiError> {
        match (policy, orphan_dependents) {
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "DeleteOptions",
                "",
                "propagationPolicy: Invalid value: orphanDependents and propagationPolicy cannot be both set",
            )),
            (None, Some(true)) | (Some("Orphan"), None) => Ok(Propagation::Orphan),
            (None, Some(false) | None) | (Some("Background"), None) => Ok(Propagation::Background),
            (Some("Foreground"), None) => Ok(Propagation::Foreground),
            (Some(other), None) => Err(ApiError::invalid(
                "DeleteOptions",
                "",
                format!("propagationPolicy: Unsupported value: {other:?}: supported values: \"Orphan\", \"Background\", \"Foreground\""),
            )),
        }
    }
}

/// The garbage collector's identity in the write log.
fn gc_ctx(verb: &str) -> WriteCtx {
    WriteCtx { client: "testkube-garbage-collector".into(), verb: verb.into(), operation: "Update", ..Default::default() }
}
