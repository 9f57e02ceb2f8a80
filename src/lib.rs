//! tsbridge: GitOps for TSB-style service-mesh configuration.
//!
//! Modules are cut by dependency boundary (see `docs/design.md`); `tests/it/layering.rs`
//! enforces the edges.

pub mod agent;
pub mod cli;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(test)]
mod generated_docs;
pub mod k8s;
pub mod model;
pub mod proto;
pub mod runtime;
pub mod server;
pub mod store;
