//! Durable storage of the hierarchy, revision log and audit ledger (SQLite or PostgreSQL).
//!
//! Depends on: `model`, `proto`; sqlx.
//! Never: kube, tonic transport, `k8s`.
//!
//! The store knows records, revisions and audit rows, not TSB rules: the server validates a
//! write against a snapshot and commits it with [`WriteBatch::expected_revision`], so a write
//! validated against a stale snapshot (another replica wrote meanwhile) fails with
//! [`Error::RevisionMoved`] and the server re-validates. That makes hierarchy validation
//! serializable across replicas without holding a database lock while validating.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One stored configuration object: the envelope of architecture.md §3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Primary key, e.g. `organizations/acme/tenants/payments`.
    pub fqn: String,
    /// The model's kind in its serde form (`Kind.group`, e.g. `Group.traffic.tsb.tetrate.io`).
    pub kind: String,
    /// `apiVersion` as written.
    pub api_version: String,
    /// Last FQN segment.
    pub name: String,
    /// Parent FQN; `None` only for organizations.
    pub parent_fqn: Option<String>,
    /// Target namespace of a direct-mode object.
    pub namespace: Option<String>,
    /// The spec as JSON.
    pub spec: serde_json::Value,
    /// Forwarded labels.
    pub labels: BTreeMap<String, String>,
    /// Forwarded annotations.
    pub annotations: BTreeMap<String, String>,
    /// Where the write came from (GitOps origin or API user), as JSON.
    pub origin: serde_json::Value,
    /// The model's content hash of what was written.
    pub content_hash: String,
    /// New on every change; opaque to clients.
    pub etag: String,
    /// Global revision of the last change to this object (assigned by the store).
    pub revision: i64,
}

/// One entry of the revision log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    /// Global, strictly increasing, one per changed object.
    pub revision: i64,
    /// The object that changed.
    pub fqn: String,
    /// Its kind (serde form).
    pub kind: String,
    /// The object after the change; `None` for a delete.
    pub record: Option<Record>,
}

/// What a write does, committed atomically or not at all.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    /// Fail with [`Error::RevisionMoved`] unless the store's current revision is this one
    /// (the revision of the snapshot the server validated against).
    pub expected_revision: Option<i64>,
    /// Objects to create or replace; `revision` and `etag` are assigned by the store.
    pub upserts: Vec<Record>,
    /// Objects to delete (the server expands recursive deletes).
    pub deletes: Vec<String>,
    /// Audit rows written in the same transaction; their `revision` is filled in by the store
    /// with the revision of the change to their FQN (or the batch's last revision).
    pub audit: Vec<AuditEntry>,
}

/// What a committed batch did.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The store revision after the batch (unchanged for a batch with no changes).
    pub revision: i64,
    /// The upserted records as stored (with revision and etag).
    pub upserted: Vec<Record>,
}

/// One append-only audit row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AuditEntry {
    /// Assigned by the store; strictly increasing.
    pub id: i64,
    /// RFC 3339 UTC, set by the server.
    pub time: String,
    /// `user:<name>` or `cluster:<name>`.
    pub actor: String,
    /// GitOps origin and provenance when known, as JSON (`null` otherwise).
    pub origin: serde_json::Value,
    /// `apply`, `delete`, `reject`, `grant`, `cluster-create`, `token-create`, …
    pub operation: String,
    /// The object concerned (empty for operations on no object).
    pub fqn: String,
    /// Its kind (serde form), when there is one.
    pub kind: String,
    /// Content hash before the operation (empty when absent).
    pub before_hash: String,
    /// Content hash after the operation (empty when deleted or rejected).
    pub after_hash: String,
    /// Store revision of the change (0 for rejections and dry runs).
    pub revision: i64,
    /// `ok`, `rejected` or `dry-run`.
    pub outcome: String,
    /// The one-line reason for a rejection, or a note.
    pub message: String,
    /// A forced write (GitOps-owned object overwritten through the API, protection overridden).
    pub forced: bool,
    /// A dry run: nothing else was written.
    pub dry_run: bool,
}

/// Filters of an audit query; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// FQN prefix (path-segment aware: `…/tenants/a` does not match `…/tenants/ab`).
    pub fqn_prefix: String,
    /// Kind (serde form).
    pub kind: String,
    /// Exact actor.
    pub actor: String,
    /// Entries by `cluster:<name>`.
    pub cluster: String,
    /// Exact operation.
    pub operation: String,
    /// RFC 3339 lower bound (inclusive).
    pub since: String,
    /// RFC 3339 upper bound (exclusive).
    pub until: String,
    /// Most entries to return, newest first (0 = a default of 1,000).
    pub limit: u32,
}

/// A cluster known to the management plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterRecord {
    /// Cluster name (the `cluster/<name>` of its certificate's SPIFFE ID).
    pub name: String,
    /// FQN scopes it may write in (organization, tenant or workspace FQNs).
    pub grants: Vec<String>,
    /// Its last reported namespaces and their labels.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

/// An API token; only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Hex SHA-256 of the secret.
    pub hash: String,
    /// Who it identifies (`user:<name>`).
    pub subject: String,
    /// `admin`, `editor` or `viewer`.
    pub role: String,
    /// The FQN it is bound to (`organizations/acme`, or `*` for everything).
    pub scope: String,
}

/// Store failures. Each maps to one gRPC code in the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The batch was validated against an older revision; re-validate and retry.
    #[error("the store moved from revision {expected} to {actual} since the write was validated")]
    RevisionMoved {
        /// What the batch expected.
        expected: i64,
        /// What the store has.
        actual: i64,
    },
    /// A unique object already exists (cluster, token).
    #[error("{what} already exists")]
    AlreadyExists {
        /// What it was.
        what: String,
    },
    /// A named object does not exist (cluster for a grant).
    #[error("{what} not found")]
    NotFound {
        /// What it was.
        what: String,
    },
    /// The database failed or is unreachable.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored JSON did not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// `--store` does not name a supported backend.
    #[error("--store {0:?} is not sqlite:PATH or postgres://…")]
    BadUrl(String),
}

/// Results of store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
