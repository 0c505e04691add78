//! kompliance: evaluates the 24 Azure Security Center container recommendations on Kubernetes objects.

pub mod audit;
pub mod azure;
pub mod catalog;
pub mod checks;
pub mod cluster_facts;
pub mod config;
pub mod engine;
pub mod exempt;
pub mod metrics;
pub mod model;
pub mod openreports;
pub mod operator;
pub mod par;
pub mod quantity;
pub mod report;
pub mod version;
pub mod vulns;
pub mod yaml;

/// This build's version, as written in reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
