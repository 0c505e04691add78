//! Azure Resource Manager access for the Azure rows: what is read (rows.rs decides the verdicts).

pub mod rows;
