//! The long-running operator's parts that need no API server: the verdict store (watch loop,
//! writer, probes and metrics come with issue 4).

pub mod debounce;
pub mod http;
pub mod reload;
pub mod store;
pub mod telemetry;
