//! What a write is (who does it, with which field manager, on which subresource) and what it gives back.

use crate::kinds::ResourceType;
use serde_json::Value;

/// What a write is: who does it, with which field manager, on which subresource.
#[derive(Debug, Clone, Default)]
pub struct WriteCtx {
    /// Client identity for the write log.
    pub client: String,
    /// Verb for the write log.
    pub verb: String,
    /// Field manager for managedFields.
    pub manager: Option<String>,
    /// "Update" or "Apply".
    pub operation: &'static str,
    /// Whether this writes the status subresource.
    pub status: bool,
    /// Dry run: validate and answer, do not store.
    pub dry_run: bool,
    /// fieldValidation: Strict, Warn or Ignore.
    pub validation: String,
}

/// Result of a write: the object as served and the warnings to send.
#[derive(Debug)]
pub struct Written {
    /// The object after the write.
    pub object: Value,
    /// Warning header texts.
    pub warnings: Vec<String>,
    /// Whether anything changed.
    pub changed: bool,
}

/// `kind.group` as used in Invalid messages ("Pod", "ComplianceReport.kompliance.dev").
pub fn kind_group(t: &ResourceType) -> String {
    if t.group.is_empty() { t.kind.clone() } else { format!("{}.{}", t.kind, t.group) }
}
