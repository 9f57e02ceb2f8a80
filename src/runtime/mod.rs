//! Process plumbing shared by the server and the agent: logging, shutdown, admin endpoints, TLS.
//!
//! Depends on: nothing in the crate; tokio, rustls, tracing (kube only in `lease`).
//! Never: domain logic, sqlx.

pub mod log;

pub use log::LogArgs;
