//! The per-cluster agent: watches, upstream sync, status, webhook, applier.
//!
//! Depends on: `model`, `proto`, `k8s`, `runtime`; kube, tonic (client).
//! Never: `store`, sqlx, `server`.

pub mod webhook;
