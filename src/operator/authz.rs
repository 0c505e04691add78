//! Authentication and authorization of metrics requests delegated to the API server, as
//! controller-runtime's secure metrics and kube-rbac-proxy do: the bearer token is checked with a
//! TokenReview, then a SubjectAccessReview asks whether that user may `get` the non-resource URL
//! (`/metrics`). Decisions are cached briefly (auth_cache.rs).

use super::auth_cache::{AuthCache, Decision};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use kube::Api;
use kube::api::PostParams;
use std::sync::Arc;
use tracing::warn;

/// Paths served without a token: the kubelet's probes.
pub const UNAUTHENTICATED_PATHS: &[&str] = &["/healthz", "/readyz"];

/// Checks requests against the API server, with a cache of decisions.
#[derive(Clone)]
pub struct Authorizer {
    client: kube::Client,
    cache: Arc<AuthCache>,
}

impl Authorizer {
    /// An authorizer asking the API server of `client` (which needs `create` on tokenreviews and
    /// subjectaccessreviews), caching decisions in `cache`.
    pub fn new(client: kube::Client, cache: AuthCache) -> Self {
        Authorizer { client, cache: Arc::new(cache) }
    }

    /// The decision for `token` asking `verb` on `path`: cached, else from the API server.
    pub async fn decide(&self, token: &str, verb: &str, path: &str) -> Result<Decision, String> {
        let key = AuthCache::key(token, verb, path);
        if let Some(d) = self.cache.get(&key) {
            return Ok(d);
        }
        let decision = self.ask(token, verb, path).await?;
        self.cache.insert(key, decision);
        Ok(decision)
    }

    async fn ask(&self, token: &str, verb: &str, path: &str) -> Result<Decision, String> {
        let review = TokenReview { spec: TokenReviewSpec { token: token.to_string(), ..Default::default() }, ..Default::default() };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| format!("TokenReview: {}", super::writer::brief(&e)))?;
        let status = reviewed.status.unwrap_or_default();
        let Some(user) = status.user.filter(|_| status.authenticated == Some(true)) else {
            return Ok(Decision::Unauthenticated);
        };
        let spec = SubjectAccessReviewSpec {
            user: user.username,
            groups: user.groups,
            uid: user.uid,
            extra: user.extra,
            non_resource_attributes: Some(NonResourceAttributes { path: Some(path.to_string()), verb: Some(verb.to_string()) }),
            ..Default::default()
        };
        let review = SubjectAccessReview { spec, ..Default::default() };
        let reviewed = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| format!("SubjectAccessReview: {}", super::writer::brief(&e)))?;
        Ok(if reviewed.status.is_some_and(|s| s.allowed) { Decision::Allowed } else { Decision::Forbidden })
    }
}

/// The Kubernetes verb of a request's method, as the API server's non-resource authorization names it.
fn verb(method: &Method) -> &'static str {
    match *method {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "get",
    }
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Middleware: the probe paths pass; every other request needs a bearer token whose user may
/// access the path (401 without a valid token, 403 when not allowed, 500 when the API server
/// could not answer).
pub async fn require_access(State(auth): State<Authorizer>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if UNAUTHENTICATED_PATHS.contains(&path.as_str()) {
        return next.run(req).await;
    }
    let Some(token) = bearer(&req) else {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "Unauthorized: a bearer token is required\n")
            .into_response();
    };
    match auth.decide(token, verb(req.method()), &path).await {
        Ok(Decision::Allowed) => next.run(req).await,
        Ok(Decision::Unauthenticated) => {
            (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "Unauthorized: the token is not valid\n").into_response()
        }
        Ok(Decision::Forbidden) => {
            (StatusCode::FORBIDDEN, format!("Forbidden: the user may not {} {path}\n", verb(req.method()))).into_response()
        }
        Err(e) => {
            warn!(error = %e, "authorizing a metrics request");
            (StatusCode::INTERNAL_SERVER_ERROR, "the API server could not check the request's token\n").into_response()
        }
    }
}
