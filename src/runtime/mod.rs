//! Process plumbing shared by the server and the agent: logging, shutdown, admin endpoints, TLS.
//!
//! Depends on: nothing in the crate; tokio, rustls, tracing (kube only in `lease`).
//! Never: domain logic, sqlx.

pub mod admin;
pub mod keepalive;
pub mod log;
pub mod shutdown;
pub mod tls;

pub use admin::AdminArgs;
pub use keepalive::KeepaliveArgs;
pub use log::LogArgs;
pub use shutdown::Shutdown;
