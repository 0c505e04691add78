//! Collects configuration errors and warnings with the key path where each one was found.

use serde_json::Value;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Key path such as `recommendations.trusted-registries.parameters.allowedContainerImagesRegex`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Walks a configuration value, gathering every error instead of stopping at the first.
#[derive(Debug, Default)]
pub struct Walk {
    /// Errors (the config is rejected when any exist).
    pub errors: Vec<Issue>,
    /// Warnings (the config is accepted).
    pub warnings: Vec<Issue>,
}

impl Walk {
    /// Records an error at `path`.
    pub fn err(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(Issue { path: path.to_string(), message: one_line(&message.into()) });
    }

    /// Records a warning at `path`.
    pub fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push(Issue { path: path.to_string(), message: message.into() });
    }

    /// A string value, or an error.
    pub fn string(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                self.err(path, "expected a string");
                None
            }
        }
    }

    /// A list of strings, or an error.
    pub fn string_list(&mut self, v: &Value, path: &str) -> Option<Vec<String>> {
        let Some(items) = v.as_array() else {
            self.err(path, "expected a list of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                Value::Number(n) => out.push(n.to_string()),
                _ => self.err(&format!("{path}[{i}]"), "expected a string"),
            }
        }
        Some(out)
    }

    /// A mapping, or an error.
    pub fn object<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v serde_json::Map<String, Value>> {
        let m = v.as_object();
        if m.is_none() {
            self.err(path, "expected a mapping");
        }
        m
    }
}

/// Joins a parent path and a key.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

/// Azure assignment parameters come as `{"value": x}`: returns `x`, else the value itself.
pub fn unwrap_value(v: &Value) -> &Value {
    match v.as_object() {
        Some(m) if m.len() == 1 && m.contains_key("value") => &m["value"],
        _ => v,
    }
}

/// Folds a multi-line message (regex errors have several lines) into one line.
pub fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty() && l.chars().any(|c| c != '^')).collect::<Vec<_>>().join(" ")
}
