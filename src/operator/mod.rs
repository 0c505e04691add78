//! The long-running operator: watches, verdict store, debounced report writes, probes, leader
//! election, metrics and health endpoints.

pub mod activity;
pub mod auth_cache;
pub mod authz;
pub mod cli;
pub mod connect;
pub mod debounce;
#[cfg(feature = "demo")]
pub mod demo;
mod event_loop;
pub mod events;
pub mod http;
pub mod leader;
pub mod listener;
mod liveness;
pub mod openreports;
pub mod options;
pub mod probes;
pub mod reach;
mod relist;
pub mod reload;
pub mod run;
pub mod scope;
pub mod slim;
pub mod slim_meta;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod tls;
mod verify;
pub mod watch;
pub mod writer;
