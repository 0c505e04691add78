//! Faults a test injects: error or slow answers for matching requests, dropped watches, pause and resume.

use crate::error::ApiError;
use std::time::Duration;

/// What a matching request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this HTTP code (500, 429, 503, ...) and, for 429, a Retry-After in seconds.
    Fail {
        /// HTTP status code.
        code: u16,
        /// Retry-After seconds.
        retry_after: Option<u64>,
    },
    /// Answer normally after this delay.
    Delay(Duration),
}

/// A rule: the next `count` requests matching verb, resource and client get `action`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Verb (get, list, watch, create, update, patch, delete) or None for any.
    pub verb: Option<String>,
    /// Plural resource name or None for any.
    pub resource: Option<String>,
    /// Substring of the client's User-Agent, or None for any client.
    pub client: Option<String>,
    /// How many requests it still applies to (u64::MAX for "until cleared").
    pub remaining: u64,
    /// What they get.
    pub action: FaultAction,
}

impl Fault {
    /// The next `count` requests of `verb` on `resource` fail with `code`.
    pub fn fail(verb: &str, resource: &str, count: u64, code: u16) -> Self {
        Fault {
            verb: some(verb),
            resource: some(resource),
            client: None,
            remaining: count,
            action: FaultAction::Fail { code, retry_after: None },
        }
    }

    /// The next `count` requests of `verb` on `resource` get 429 with Retry-After.
    pub fn throttle(verb: &str, resource: &str, count: u64, retry_after: u64) -> Self {
        Fault {
            verb: some(verb),
            resource: some(resource),
            client: None,
            remaining: count,
            action: FaultAction::Fail { code: 429, retry_after: Some(retry_after) },
        }
    }

    /// The next `count` requests of `verb` on `resource` are answered after `delay`.
    pub fn delay(verb: &str, resource: &str, count: u64, delay: Duration) -> Self {
        Fault { verb: some(verb), resource: some(resource), client: None, remaining: count, action: FaultAction::Delay(delay) }
    }

    /// Limits the rule to clients whose User-Agent contains `client`.
    pub fn for_client(mut self, client: &str) -> Self {
        self.client = some(client);
        self
    }

    fn matches(&self, verb: &str, resource: &str, client: &str) -> bool {
        self.remaining > 0
            && self.verb.as_deref().is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
            && self.client.as_deref().is_none_or(|c| client.contains(c))
    }
}

fn some(s: &str) -> Option<String> {
    if s.is_empty() || s == "*" { None } else { Some(s.to_string()) }
}

/// The active fault rules and the clients that are cut off.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<Fault>,
    /// Clients (User-Agent substrings) whose requests hang until resumed; "" hangs everyone.
    pub paused: Vec<String>,
}

impl Faults {
    /// Adds a rule.
    pub fn add(&mut self, f: Fault) {
        self.rules.push(f);
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The action for a request, consuming one use of the first matching rule.
    pub fn take(&mut self, verb: &str, resource: &str, client: &str) -> Option<FaultAction> {
        let rule = self.rules.iter_mut().find(|f| f.matches(verb, resource, client))?;
        rule.remaining = rule.remaining.saturating_sub(1);
        let action = rule.action.clone();
        self.rules.retain(|f| f.remaining > 0);
        Some(action)
    }

    /// Whether requests of this client hang.
    pub fn is_paused(&self, client: &str) -> bool {
        self.paused.iter().any(|p| client.contains(p.as_str()))
    }
}

/// The error answer of a failing fault.
pub fn fault_error(code: u16, retry_after: Option<u64>) -> ApiError {
    let reason = match code {
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    };
    let mut e = ApiError::new(code, reason, format!("injected fault: {code} {reason}"));
    e.retry_after = retry_after;
    e
}
