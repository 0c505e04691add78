//! API errors, answered as `metav1.Status` objects with Kubernetes' codes and reasons.

use serde_json::{Value, json};

/// An error answer: HTTP code, Kubernetes reason and message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Kubernetes `reason` (NotFound, AlreadyExists, Conflict, Invalid, Expired, ...).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Seconds to send in `Retry-After` (429 and some 5xx).
    pub retry_after: Option<u64>,
    /// `details` of the Status (name, group, kind).
    pub details: Option<Box<Value>>,
}

impl ApiError {
    /// An error with the given code, reason and message.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), retry_after: None, details: None }
    }

    /// 404 for an object of a resource.
    pub fn not_found(resource: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
            .with_details(json!({"name": name, "kind": resource.split('.').next().unwrap_or(resource)}))
    }

    /// 409 AlreadyExists.
    pub fn already_exists(resource: &str, name: &str) -> Self {
        Self::new(409, "AlreadyExists", format!("{resource} \"{name}\" already exists"))
            .with_details(json!({"name": name, "kind": resource.split('.').next().unwrap_or(resource)}))
    }

    /// 409 Conflict on a stale resourceVersion.
    pub fn conflict(resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
    }

    /// 422 Invalid.
    pub fn invalid(kind_group: &str, name: &str, cause: impl Into<String>) -> Self {
        Self::new(422, "Invalid", format!("{kind_group} \"{name}\" is invalid: {}", cause.into()))
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 410 Expired (watch or continue token older than the kept history).
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// Adds Status details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// The `metav1.Status` object of this error.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = (**d).clone();
        }
        if let Some(secs) = self.retry_after {
            s["details"]["retryAfterSeconds"] = json!(secs);
        }
        s
    }
}
