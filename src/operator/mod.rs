//! The long-running operator: watches, verdict store, debounced report writes, probes, leader
//! election, metrics and health endpoints.

pub mod auth_cache;
pub mod authz;
pub mod cli;
pub mod debounce;
pub mod demo;
mod event_loop;
pub mod events;
pub mod http;
pub mod leader;
pub mod listener;
pub mod probes;
pub mod reload;
pub mod run;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod watch;
pub mod writer;
