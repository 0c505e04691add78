//! Azure Resource Manager access for the Azure rows: credentials (auth.rs), reads (arm.rs), verdicts (rows.rs).

pub mod arm;
pub mod auth;
pub mod rows;
