//! Durable storage of the hierarchy, revision log and audit ledger (SQLite or PostgreSQL).
//!
//! Depends on: `model`, `proto`; sqlx.
//! Never: kube, tonic transport, `k8s`.
