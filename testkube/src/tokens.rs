//! TokenReviews (authentication.k8s.io/v1) from a token→user table a test sets, and per-user
//! decisions of SubjectAccessReviews on non-resource URLs (`/metrics`) for those users; every review
//! answered here is logged so a test can count the API calls a client made.

use crate::TestKube;
use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
const ACCESS_REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

/// A user a token authenticates as.
#[derive(Debug, Clone)]
struct TokenUser {
    name: String,
    groups: Vec<String>,
}

/// The table and the log of reviews.
#[derive(Debug, Default)]
pub struct Tokens {
    users: BTreeMap<String, TokenUser>,
    /// (user, verb, path) allowed; a non-resource review of a user in `users` not listed here is denied.
    grants: BTreeSet<(String, String, String)>,
    reviews: Vec<Value>,
}

impl Tokens {
    fn token_review(&mut self, mut review: Value) -> Value {
        let token = review.pointer("/spec/token").and_then(Value::as_str).unwrap_or_default();
        review["status"] = match self.users.get(token) {
            Some(u) => json!({"authenticated": true, "user": {"username": u.name, "uid": format!("uid-{}", u.name), "groups": u.groups}}),
            None => json!({"authenticated": false, "error": "testkube: unknown token"}),
        };
        review["apiVersion"] = json!("authentication.k8s.io/v1");
        review["kind"] = json!("TokenReview");
        self.reviews.push(review.clone());
        review
    }

    /// Some decision when `review` asks about a non-resource URL for a user of the table.
    fn access_review(&mut self, mut review: Value) -> Option<Value> {
        let user = review.pointer("/spec/user").and_then(Value::as_str)?.to_string();
        let attrs = review.pointer("/spec/nonResourceAttributes")?;
        if !self.users.values().any(|u| u.name == user) {
            return None;
        }
        let verb = attrs.get("verb").and_then(Value::as_str).unwrap_or_default().to_string();
        let path = attrs.get("path").and_then(Value::as_str).unwrap_or_default().to_string();
        let allowed = self.grants.contains(&(user, verb, path));
        review["apiVersion"] = json!("authorization.k8s.io/v1");
        review["kind"] = json!("SubjectAccessReview");
        review["status"] = json!({"allowed": allowed, "reason": if allowed { "testkube: granted" } else { "testkube: not granted" }});
        self.reviews.push(review.clone());
        Some(review)
    }
}

fn created(v: &Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = StatusCode::CREATED;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Answers a TokenReview, or a non-resource SubjectAccessReview of a user of the table; None for
/// every other request (the server's routing answers it).
pub(crate) fn answer(table: &std::sync::Mutex<Tokens>, method: &Method, path: &str, body: &[u8]) -> Option<Response> {
    if method != Method::POST || (path != TOKEN_REVIEWS && path != ACCESS_REVIEWS) {
        return None;
    }
    let review: Value = serde_json::from_slice(body).ok()?;
    let mut tokens = table.lock().unwrap_or_else(|e| e.into_inner());
    if path == TOKEN_REVIEWS { Some(created(&tokens.token_review(review))) } else { tokens.access_review(review).map(|r| created(&r)) }
}

impl TestKube {
    fn tokens(&self) -> std::sync::MutexGuard<'_, Tokens> {
        self.shared.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes TokenReviews of `token` authenticate `user` with `groups`; non-resource
    /// SubjectAccessReviews for `user` are then decided by [`TestKube::grant_non_resource`].
    pub fn add_token(&self, token: &str, user: &str, groups: &[&str]) {
        let groups = groups.iter().map(|g| g.to_string()).collect();
        self.tokens().users.insert(token.into(), TokenUser { name: user.into(), groups });
    }

    /// Allows `user` (added with [`TestKube::add_token`]) `verb` on the non-resource URL `path`.
    pub fn grant_non_resource(&self, user: &str, verb: &str, path: &str) {
        self.tokens().grants.insert((user.into(), verb.into(), path.into()));
    }

    /// The TokenReviews and SubjectAccessReviews answered from the table so far, with their status.
    pub fn reviews(&self) -> Vec<Value> {
        self.tokens().reviews.clone()
    }
}
