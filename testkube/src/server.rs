//! The HTTP front: routing of Kubernetes API paths, discovery, reads, writes and watches.

use crate::deletes::Propagation;
use crate::error::ApiError;
use crate::faults::{FaultAction, fault_error};
use crate::kinds::ResourceType;
use crate::request::{Query, Req, Shared, error_response, json_response, ok_value, parse_body, with_warnings};
use crate::store::{State, Written};
use crate::watch::watch_response;
use crate::{openapi, table};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

/// Where a request goes.
enum Route {
    Plain(Value),
    OpenApiGv(String),
    Resource { t: Arc<ResourceType>, ns: Option<String>, name: Option<String>, status: bool },
}

fn route(shared: &Shared, path: &str) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let st = shared.state();
    let reg = &st.registry;
    let not_found = || ApiError::new(404, "NotFound", "the server could not find the requested resource");
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => {
            let v = shared.config().git_version;
            let (major, minor) = v
                .trim_start_matches('v')
                .split_once('.')
                .map(|(a, b)| (a.to_string(), b.split('.').next().unwrap_or("0").to_string()))
                .unwrap_or_default();
            return Ok(Route::Plain(
                json!({"major": major, "minor": minor, "gitVersion": v, "gitCommit": "testkube", "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc", "platform": "linux/amd64"}),
            ));
        }
        ["healthz"] | ["livez"] | ["readyz"] => return Ok(Route::Plain(json!("ok"))),
        ["testkube", "writes"] => {
            let writes: Vec<Value> = st
                .writes
                .iter()
                .map(|w| json!({"atMs": w.at_ms as u64, "client": w.client, "verb": w.verb, "resource": w.resource, "subresource": w.subresource, "namespace": w.namespace, "name": w.name, "resourceVersion": w.rv}))
                .collect();
            return Ok(Route::Plain(json!({"writes": writes})));
        }
        ["api"] => return Ok(Route::Plain(json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}))),
        ["apis"] => {
            let groups: Vec<Value> = reg.groups().into_iter().filter(|(g, _)| !g.is_empty()).map(|(g, vs)| group_doc(&g, &vs)).collect();
            return Ok(Route::Plain(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})));
        }
        ["openapi", "v3"] => return Ok(Route::Plain(openapi::root(reg))),
        ["openapi", "v3", gv @ ..] => return Ok(Route::OpenApiGv(gv.join("/"))),
        ["apis", g] => {
            let vs = reg.groups().get(*g).cloned().ok_or_else(not_found)?;
            return Ok(Route::Plain(group_doc(g, &vs)));
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found()),
    };
    if rest.is_empty() {
        let resources: Vec<Value> = reg.all().filter(|t| t.group == group && t.version == version).flat_map(|t| t.discovery()).collect();
        if resources.is_empty() {
            return Err(not_found());
        }
        let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
        return Ok(Route::Plain(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})));
    }
    let (ns, plural, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..] if reg.get(group, version, plural).is_some_and(|t| t.namespaced) => {
            (Some(ns.to_string()), *plural, tail)
        }
        [plural, tail @ ..] => (None, *plural, tail),
        [] => return Err(not_found()),
    };
    let t = reg.get(group, version, plural).ok_or_else(not_found)?;
    let (name, status) = match tail {
        [] => (None, false),
        [name] => (Some(name.to_string()), false),
        [name, "status"] if t.has_status => (Some(name.to_string()), true),
        _ => return Err(not_found()),
    };
    if t.namespaced && ns.is_none() && name.is_some() {
        return Err(not_found());
    }
    Ok(Route::Resource { t, ns, name, status })
}

fn group_doc(g: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions.iter().map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v})).collect();
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

fn verb_of(method: &Method, name: bool, q: &Query) -> &'static str {
    match *method {
        Method::GET if matches!(q.get("watch").map(String::as_str), Some("true" | "1")) => "watch",
        Method::GET if name => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "unknown",
    }
}

/// The client identity used for fault scoping and the write log: the User-Agent, plus the bearer token's user when there is one.
fn client_of(headers: &HeaderMap) -> String {
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
    match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|a| a.strip_prefix("Bearer ")) {
        Some(token) => format!("{ua} token={token}"),
        None => ua.to_string(),
    }
}

/// Entry point of every request.
pub async fn handle(shared: Arc<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let q: Query = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let client = client_of(&headers);
    // A cut-off client's requests hang; when it is let back in they fail, as requests lost in a
    // network partition do (they are never applied late).
    let mut held = false;
    loop {
        let wait = shared.resumed.notified();
        if !shared.faults().is_paused(&client) {
            break;
        }
        held = true;
        wait.await;
    }
    if held {
        return error_response(&ApiError::new(504, "Timeout", "the request was held while its client was cut off and is dropped"));
    }
    if let Some(r) = crate::tokens::answer(&shared.tokens, &method, uri.path(), &body) {
        return r;
    }
    let r = match route(&shared, uri.path()) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    match r {
        Route::Plain(v) => ok_value(200, &v),
        Route::OpenApiGv(gv) => {
            let version = shared.config().git_version;
            match openapi::group_version(&shared.state().registry, &gv, &version) {
                Some(doc) => ok_value(200, &doc),
                None => error_response(&ApiError::new(404, "NotFound", "the server could not find the requested resource")),
            }
        }
        Route::Resource { t, ns, name, status } => {
            let verb = verb_of(&method, name.is_some(), &q);
            let action = shared.faults().take(verb, &t.plural, &client);
            match action {
                Some(FaultAction::Fail { code, retry_after }) => return error_response(&fault_error(code, retry_after)),
                Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
                None => {}
            }
            let req = Req { t, ns, name, status, q, headers, body, client, verb };
            resource(&shared, req).await
        }
    }
}

async fn resource(shared: &Arc<Shared>, req: Req) -> Response {
    if !req.body.is_empty() && req.content_type().starts_with("application/vnd.kubernetes.protobuf") {
        return error_response(&ApiError::new(
            415,
            "UnsupportedMediaType",
            "testkube speaks JSON only: send application/json (kubectl create -f and apply do; the typed generators such as 'kubectl create namespace' send protobuf)",
        ));
    }
    if req.verb == "watch" {
        return watch_response(shared.clone(), req);
    }
    let result = match req.verb {
        "get" => get(shared, &req),
        "list" => list(shared, &req),
        "create" if req.t.group == "authorization.k8s.io" => Ok(access_review(shared, &req)),
        "create" => write(shared, &req, |st, r| st.create(&r.t, r.ns.as_deref(), parse_body(&r.body)?, &r.ctx("Update")).map(|w| (w, 201))),
        "update" => write(shared, &req, |st, r| {
            let name = r.name.as_deref().unwrap_or_default();
            st.replace(&r.t, r.ns_str(), name, parse_body(&r.body)?, &r.ctx("Update"), None).map(|w| (w, 200))
        }),
        "patch" => write(shared, &req, crate::patch::patch),
        "delete" => delete(shared, &req),
        _ => Err(ApiError::new(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

fn get(shared: &Shared, req: &Req) -> Result<Response, ApiError> {
    let st = shared.state();
    let stored = st.get_or_404(&req.t, req.ns_str(), req.name.as_deref().unwrap_or_default())?;
    if req.wants_table() {
        return Ok(ok_value(
            200,
            &table::table(&req.t, &[stored.value()], st.rv, None, req.q.get("includeObject").is_some_and(|i| i == "Object")),
        ));
    }
    if req.wants_metadata() {
        return Ok(json_response(200, table::partial_object_metadata_json(&stored.json)));
    }
    Ok(json_response(200, stored.json.to_vec()))
}

fn list(shared: &Shared, req: &Req) -> Result<Response, ApiError> {
    let labels = crate::selector::LabelSelector::parse(req.q.get("labelSelector").map(String::as_str).unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let fields = crate::selector::FieldSelector::parse(req.q.get("fieldSelector").map(String::as_str).unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let limit = req.q.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0);
    let page = {
        let st = shared.state();
        let ns = if req.t.namespaced { req.ns.as_deref() } else { None };
        st.list(
            &req.t,
            ns,
            |ns, name, s| labels.matches(&s.labels) && fields.matches(ns, name),
            limit,
            req.q.get("continue").map(String::as_str),
        )?
    };
    if req.wants_table() {
        let objects: Vec<Value> = page.items.iter().filter_map(|b| serde_json::from_slice(b).ok()).collect();
        let full = req.q.get("includeObject").is_some_and(|i| i == "Object");
        return Ok(ok_value(200, &table::table(&req.t, &objects, page.rv, page.continue_token.as_deref(), full)));
    }
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
        meta["remainingItemCount"] = json!(page.remaining);
    }
    let metadata_only = req.wants_metadata();
    let head = if metadata_only {
        json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta})
    } else {
        json!({"kind": format!("{}List", req.t.kind), "apiVersion": req.t.api_version(), "metadata": meta})
    };
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    out.pop();
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if metadata_only {
            out.extend_from_slice(&table::partial_object_metadata_json(item));
        } else {
            out.extend_from_slice(item);
        }
    }
    out.extend_from_slice(b"]}");
    Ok(json_response(200, out))
}

fn access_review(shared: &Shared, req: &Req) -> Response {
    let mut review = parse_body(&req.body).unwrap_or_else(|_| json!({}));
    let allowed = shared.config().sar_allowed;
    review["apiVersion"] = json!(req.t.api_version());
    review["kind"] = json!(req.t.kind);
    review["status"] = if allowed {
        json!({"allowed": true, "reason": "testkube: allow-all"})
    } else {
        json!({"allowed": false, "reason": "testkube: deny"})
    };
    ok_value(201, &review)
}

fn write(shared: &Shared, req: &Req, op: impl FnOnce(&mut State, &Req) -> Result<(Written, u16), ApiError>) -> Result<Response, ApiError> {
    let (written, code, rv) = {
        let mut st = shared.state();
        let (w, code) = op(&mut st, req)?;
        (w, code, st.rv)
    };
    if written.changed {
        shared.notify(rv);
    }
    Ok(with_warnings(ok_value(code, &written.object), &written.warnings))
}

fn delete(shared: &Shared, req: &Req) -> Result<Response, ApiError> {
    let name =
        req.name.as_deref().ok_or_else(|| ApiError::new(405, "MethodNotAllowed", "deletecollection is not supported by testkube"))?;
    let opts = if req.body.is_empty() { json!({}) } else { parse_body(&req.body).unwrap_or_else(|_| json!({})) };
    let precondition = opts.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(String::from);
    let policy = opts.get("propagationPolicy").and_then(Value::as_str).or(req.q.get("propagationPolicy").map(String::as_str));
    let orphan = opts.get("orphanDependents").and_then(Value::as_bool).or(req.q.get("orphanDependents").map(|o| o == "true"));
    let propagation = Propagation::parse(policy, orphan)?;
    let mut ctx = req.ctx("Update");
    if opts.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|x| x == "All")) {
        ctx.dry_run = true;
    }
    let (obj, rv) = {
        let mut st = shared.state();
        let obj = st.delete_with(&req.t, req.ns_str(), name, &ctx, precondition.as_deref(), propagation)?;
        (obj, st.rv)
    };
    shared.notify(rv);
    Ok(ok_value(200, &obj))
}
