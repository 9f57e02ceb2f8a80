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

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

pub use delivery::{ClusterDelivery, DeliveredObject, DeliveryChanges, DeliveryWrite, EdgeRecord};
pub use ledger::{ClusterReport, LedgerEntry, LedgerQuery, ObjectChange, Outcome, ReportQuery};

pub mod delivery;
pub mod ledger;
pub mod postgres;
mod rows;
mod shared;
pub mod sqlite;
mod time;

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
    /// Exactly this FQN, not its descendants (an object's own history).
    pub fqn: String,
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
    /// Exact outcome (`ok`, `rejected`, `dry-run`, `held`, `paced`, …).
    pub outcome: String,
    /// Only entries older than this id (0: from the newest): the next page.
    pub before_id: i64,
    /// Entries about objects the delivery ledger shows delivered to this cluster.
    pub target_cluster: String,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TokenRecord {
    /// Hex SHA-256 of the secret.
    pub hash: String,
    /// Unique name, what listings show and revocations take (never the secret).
    pub name: String,
    /// Who it identifies (`user:<name>`).
    pub subject: String,
    /// `admin`, `editor` or `viewer`.
    pub role: String,
    /// The FQN it is bound to (`organizations/acme`, or `*` for everything).
    pub scope: String,
    /// When it was created, RFC 3339 (empty for tokens created before this was recorded).
    pub created: String,
    /// When it was revoked, RFC 3339; a revoked token authenticates no one.
    pub revoked: Option<String>,
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
    /// `--store` does not name a supported backend (any password in it is redacted).
    #[error("--store {0:?} is not sqlite:PATH or postgres://…")]
    BadUrl(String),
    /// A time is not RFC 3339: an audit entry's `time`, or an audit query's `since`/`until`.
    #[error("{0:?} is not an RFC 3339 time")]
    BadTime(String),
}

/// Results of store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// === impl Store ===

/// The store: SQLite or PostgreSQL, picked once from `--store`. Cheap to clone (the clones
/// share one connection pool and one revision watch).
#[derive(Clone, Debug)]
pub enum Store {
    /// A SQLite file (WAL), for one management-plane replica.
    Sqlite(sqlite::SqliteStore),
    /// A PostgreSQL database, shared by any number of replicas.
    Postgres(postgres::PgStore),
}

/// Calls the same method on whichever backend `self` is.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(store) => store.$method($($arg),*).await,
            Store::Postgres(store) => store.$method($($arg),*).await,
        }
    };
}

/// Calls the ledger's `$function` (`ledger.rs`) for whichever backend `self` is, on its
/// `$pool` (`reader` or `writer`).
macro_rules! ledger {
    ($self:ident, $pool:ident, $function:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(store) => ledger::sqlite::$function(store.$pool(), $($arg),*).await,
            Store::Postgres(store) => ledger::postgres::$function(store.$pool(), $($arg),*).await,
        }
    };
}

impl Store {
    /// Connects to `sqlite:PATH` (the file is created if missing) or `postgres://…` /
    /// `postgresql://…`, and runs the migrations. [`Error::BadUrl`] for anything else.
    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(sqlite::SqliteStore::connect(url).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(postgres::PgStore::connect(url).await?))
        } else {
            Err(Error::BadUrl(redact_url(url)))
        }
    }

    /// The object at `fqn`, if any.
    pub async fn get(&self, fqn: &str) -> Result<Option<Record>> {
        dispatch!(self.get(fqn))
    }

    /// The descendants of `fqn_prefix` (path-segment aware: `…/tenants/a` matches
    /// `…/tenants/a/…` but neither `…/tenants/ab` nor `…/tenants/a` itself), or every object
    /// for `None` (or an empty prefix); only objects of `kind` when given. Sorted by FQN
    /// (byte-wise).
    pub async fn list(&self, fqn_prefix: Option<&str>, kind: Option<&str>) -> Result<Vec<Record>> {
        dispatch!(self.list(fqn_prefix, kind))
    }

    /// Every object and the revision they are the state of, read in one transaction.
    pub async fn snapshot(&self) -> Result<(i64, Vec<Record>)> {
        dispatch!(self.snapshot())
    }

    /// The current revision; 0 for an empty store.
    pub async fn revision(&self) -> Result<i64> {
        dispatch!(self.revision())
    }

    /// Commits `batch` in one transaction, or nothing of it on any error.
    ///
    /// Checks [`WriteBatch::expected_revision`] first ([`Error::RevisionMoved`]); then each
    /// upsert, in order, and each delete of an existing object, in order, is one change with
    /// the next revision (every upsert is a change, even one that rewrites identical content;
    /// a delete of a missing FQN is a no-op). Each changed object gets a new etag, each change
    /// a change-log row. Audit rows get their `id`, and their `revision` becomes the revision
    /// of the last change to their FQN in this batch, else the batch's final revision. A batch
    /// without changes only appends its audit rows (their `revision` is kept) and leaves the
    /// revision alone.
    pub async fn commit(&self, mut batch: WriteBatch) -> Result<Committed> {
        batch.audit.iter_mut().for_each(storable_audit);
        dispatch!(self.commit(batch))
    }

    /// Change-log entries with revisions above `after`, ascending, at most `limit`
    /// (0 = a default of 1,000).
    pub async fn changes_since(&self, after: i64, limit: u32) -> Result<Vec<ChangeEvent>> {
        dispatch!(self.changes_since(after, limit))
    }

    /// The latest revision known to this process, starting at the revision at connect time.
    ///
    /// SQLite: moved by this process's commits. PostgreSQL: also moved by every replica's
    /// commits (LISTEN/NOTIFY, with a 1 s poll as a fallback), so a write through any replica
    /// shows here within about a second. The value only grows. Watches coalesce: read the
    /// changes with [`Store::changes_since`]. The sender closes once every clone of this
    /// store is dropped.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        match self {
            Store::Sqlite(store) => store.subscribe(),
            Store::Postgres(store) => store.subscribe(),
        }
    }

    /// Appends one audit row on its own; returns its id. [`Error::BadTime`] unless
    /// `entry.time` is RFC 3339.
    pub async fn append_audit(&self, mut entry: AuditEntry) -> Result<i64> {
        storable_audit(&mut entry);
        dispatch!(self.append_audit(entry))
    }

    /// Audit rows matching every non-empty filter of `query`, newest (highest id) first.
    /// The FQN prefix matches the object itself and its descendants.
    pub async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        dispatch!(self.query_audit(query))
    }

    /// Registers a cluster with no grants; [`Error::AlreadyExists`] if it is known.
    pub async fn create_cluster(&self, name: &str) -> Result<()> {
        dispatch!(self.create_cluster(name))
    }

    /// A cluster with its grants (sorted) and namespaces.
    pub async fn get_cluster(&self, name: &str) -> Result<Option<ClusterRecord>> {
        dispatch!(self.get_cluster(name))
    }

    /// Every cluster, sorted by name.
    pub async fn list_clusters(&self) -> Result<Vec<ClusterRecord>> {
        dispatch!(self.list_clusters())
    }

    /// Lets `cluster` write in `scope`; idempotent. [`Error::NotFound`] for an unknown cluster.
    pub async fn grant(&self, cluster: &str, scope: &str) -> Result<()> {
        dispatch!(self.grant(cluster, scope))
    }

    /// Removes a grant; idempotent. [`Error::NotFound`] for an unknown cluster.
    pub async fn revoke(&self, cluster: &str, scope: &str) -> Result<()> {
        dispatch!(self.revoke(cluster, scope))
    }

    /// Replaces the cluster's reported namespaces and their labels. [`Error::NotFound`] for an
    /// unknown cluster.
    pub async fn set_namespaces(
        &self,
        cluster: &str,
        namespaces: BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<()> {
        dispatch!(self.set_namespaces(cluster, namespaces))
    }

    /// Stores a token; [`Error::AlreadyExists`] if its hash or its name is already stored
    /// (revoked tokens included: a revoked secret never comes back).
    pub async fn create_token(&self, token: TokenRecord) -> Result<()> {
        dispatch!(self.create_token(token))
    }

    /// Every token, revoked ones included, sorted by name.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        dispatch!(self.list_tokens())
    }

    /// Marks the token `name` revoked at `at` (RFC 3339) and moves the revocation epoch
    /// ([`Store::subscribe_tokens`]) in the same transaction; returns the token. Revoking a
    /// revoked token changes nothing. [`Error::NotFound`] for an unknown name.
    pub async fn revoke_token(&self, name: &str, at: &str) -> Result<TokenRecord> {
        dispatch!(self.revoke_token(name, at))
    }

    /// The revocation epoch this process knows: moved by its own revocations at once, and on
    /// PostgreSQL by every replica's (LISTEN/NOTIFY, with the 1 s poll of
    /// [`Store::subscribe`]). Anyone caching tokens drops the cache when it moves.
    pub fn subscribe_tokens(&self) -> tokio::sync::watch::Receiver<i64> {
        match self {
            Store::Sqlite(store) => store.subscribe_tokens(),
            Store::Postgres(store) => store.subscribe_tokens(),
        }
    }

    /// Holds `fqns` as the cluster's deletions awaiting confirmation (replacing any earlier
    /// hold).
    pub async fn hold_deletions(&self, cluster: &str, fqns: &[String]) -> Result<()> {
        dispatch!(self.hold_deletions(cluster, fqns))
    }

    /// Removes and returns the cluster's held deletions, if any: one caller gets them.
    pub async fn take_deletions(&self, cluster: &str) -> Result<Option<Vec<String>>> {
        dispatch!(self.take_deletions(cluster))
    }

    /// The token with this hash, if any.
    pub async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        dispatch!(self.find_token(hash))
    }

    // --- distribution state (see `delivery.rs`) ---

    /// Claims `cluster`'s stream for `replica`: in one transaction creates the row if missing,
    /// increments generation, sets replica and connected = true, assigns a new seq; returns the
    /// row. The cluster need not be registered (no foreign key to the clusters table).
    pub async fn claim_cluster(&self, cluster: &str, replica: &str) -> Result<ClusterDelivery> {
        dispatch!(self.claim_cluster(cluster, replica))
    }

    /// Applies every write whose generation still matches (a cluster without a row has
    /// generation 0), in ONE transaction; returns, per write in order, whether it was applied.
    /// Every changed row (edge or cluster) gets the next seq; the cluster row changes only when
    /// a cluster field is set (a write of edges alone leaves it, and creates none). An edge's
    /// `cluster` is the write's. Several writes of one (cluster, generation) in a call apply
    /// in order (objects None keeps an earlier Some). Then notifies (see
    /// [`Store::subscribe_delivery`]).
    pub async fn write_deliveries(&self, writes: &[DeliveryWrite]) -> Result<Vec<bool>> {
        dispatch!(self.write_deliveries(writes))
    }

    /// If the cluster has a held prune: sets confirm_prune = true (new seq, notify) and returns
    /// the held prune; None otherwise. Any replica may call it.
    pub async fn confirm_prune(&self, cluster: &str) -> Result<Option<serde_json::Value>> {
        dispatch!(self.confirm_prune(cluster))
    }

    /// Cluster rows and edge rows (objects = None) with seq > after, ascending by seq, at most
    /// `limit` rows of each (0 = 1,000), read from one snapshot. When a table fills its limit,
    /// rows of the other beyond it are left for the next call, so `last_seq` is always a
    /// position before which nothing is left unread.
    pub async fn delivery_since(&self, after: i64, limit: u32) -> Result<DeliveryChanges> {
        dispatch!(self.delivery_since(after, limit))
    }

    /// One cluster's row and its edge rows that are not tombstones (sorted by source), WITH
    /// objects.
    pub async fn cluster_delivery(
        &self,
        cluster: &str,
    ) -> Result<(Option<ClusterDelivery>, Vec<EdgeRecord>)> {
        dispatch!(self.cluster_delivery(cluster))
    }

    // --- replica liveness ---

    /// Records that `replica` is alive at `now_us` (µs since the epoch), and forgets replicas
    /// silent for more than a day; returns when each replica known was last seen.
    pub async fn replica_alive(&self, replica: &str, now_us: i64) -> Result<HashMap<String, i64>> {
        ledger!(self, writer, replica_alive(replica, now_us))
    }

    // --- delivery ledger (see `ledger.rs`) ---

    /// Appends ledger rows in one transaction, each with `rollback` and `committed_us` taken
    /// from the revision log of its `change`.
    pub async fn append_ledger(&self, entries: Vec<LedgerEntry>) -> Result<()> {
        ledger!(self, writer, append(entries))
    }

    /// Ledger rows matching `query`, newest first.
    pub async fn query_ledger(&self, query: &LedgerQuery) -> Result<Vec<LedgerEntry>> {
        ledger!(self, reader, query(query))
    }

    /// Every change of `fqn` in the revision log, oldest first.
    pub async fn object_changes(&self, fqn: &str) -> Result<Vec<ObjectChange>> {
        ledger!(self, reader, changes_of(fqn))
    }

    /// Per target cluster, what the ledger counts in a window under a prefix.
    pub async fn ledger_report(&self, query: &ReportQuery) -> Result<Vec<ClusterReport>> {
        ledger!(self, reader, report(query))
    }

    /// Deletes ledger rows acknowledged before `older_than_us`, then the oldest beyond `keep`
    /// rows; returns how many.
    pub async fn prune_ledger(&self, older_than_us: Option<i64>, keep: i64) -> Result<u64> {
        ledger!(self, writer, prune(older_than_us, keep))
    }

    /// Read-only, for the web console: every cluster's delivery row, by name.
    pub async fn delivery_clusters(&self) -> Result<Vec<ClusterDelivery>> {
        dispatch!(self.delivery_clusters())
    }

    /// Read-only, for the web console: the edges of `source` in `clusters` that are not
    /// tombstones, WITH objects (one primary-key lookup per cluster).
    pub async fn source_edges(&self, source: &str, clusters: &[String]) -> Result<Vec<EdgeRecord>> {
        dispatch!(self.source_edges(source, clusters))
    }

    /// The latest delivery seq known to this process, starting at the seq at connect time;
    /// moved by this process's writes, and on PostgreSQL by every replica's (LISTEN/NOTIFY on
    /// [`postgres::DELIVERY_CHANNEL`], with the 1 s poll fallback of [`Store::subscribe`]).
    /// Only grows; read the changes with [`Store::delivery_since`].
    pub fn subscribe_delivery(&self) -> tokio::sync::watch::Receiver<i64> {
        match self {
            Store::Sqlite(store) => store.subscribe_delivery(),
            Store::Postgres(store) => store.subscribe_delivery(),
        }
    }
}

/// `--store` flag group, flattened into the server's args.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// `sqlite:PATH` (one replica) or `postgres://…` (any number of replicas).
    #[arg(
        long = "store",
        env = "TSBRIDGE_STORE",
        default_value = "sqlite:tsbridge.db",
        hide_env_values = true
    )]
    pub url: String,
}

// === helpers shared by the backends ===

/// Most rows a query returns when its limit is 0.
const DEFAULT_LIMIT: u32 = 1_000;

/// A query's limit as SQL wants it.
fn limit_or_default(limit: u32) -> i64 {
    i64::from(if limit == 0 { DEFAULT_LIMIT } else { limit })
}

/// A prefix without trailing slashes; `None` when it selects everything.
fn normalize_prefix(prefix: Option<&str>) -> Option<&str> {
    prefix
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty())
}

/// SQLite's etag: 64-bit FNV-1a of (fqn, revision, content hash) in hex, quoted. Revisions are
/// unique per change, so every change gets a new etag. (PostgreSQL computes its etags in
/// `tsbridge_commit`: the first 16 hex digits of a SHA-256 of the same inputs. Etags are opaque.)
fn etag(fqn: &str, revision: i64, content_hash: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let revision = revision.to_string();
    for part in [
        fqn.as_bytes(),
        b"\0",
        revision.as_bytes(),
        b"\0",
        content_hash.as_bytes(),
    ] {
        for byte in part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("\"{hash:016x}\"")
}

/// `time` as microseconds since the epoch, or [`Error::BadTime`].
fn instant(time: &str) -> Result<i64> {
    time::parse_rfc3339_micros(time).ok_or_else(|| Error::BadTime(time.to_string()))
}

/// An optional query bound (empty = none) as microseconds since the epoch.
fn bound(time: &str) -> Result<Option<i64>> {
    if time.is_empty() {
        Ok(None)
    } else {
        instant(time).map(Some)
    }
}

/// Fills in the audit rows' revisions after a batch's changes (see [`Store::commit`]).
fn assign_audit_revisions(audit: &mut [AuditEntry], changed: &HashMap<String, i64>, last: i64) {
    if changed.is_empty() {
        return;
    }
    for entry in audit {
        entry.revision = changed.get(&entry.fqn).copied().unwrap_or(last);
    }
}

/// Moves a revision watch forward to `revision` (never back).
fn advance(watch: &tokio::sync::watch::Sender<i64>, revision: i64) {
    watch.send_if_modified(|current| {
        let newer = revision > *current;
        if newer {
            *current = revision;
        }
        newer
    });
}

/// The `(lower, upper)` FQN bounds of a prefix's descendants: every FQN strictly between
/// `prefix/` and `prefix0` (`'0'` is the byte after `'/'`) starts with `prefix/`.
fn descendant_bounds(prefix: Option<&str>) -> (String, Option<String>) {
    match normalize_prefix(prefix) {
        Some(prefix) => (format!("{prefix}/"), Some(format!("{prefix}0"))),
        None => (String::new(), None),
    }
}

/// An audit row quotes what callers sent (names, messages), and PostgreSQL's `text` and `jsonb`
/// refuse U+0000: a NUL becomes U+FFFD, so recording an abusive request never fails (and never
/// fails the group commit it shares with other writers).
fn storable_audit(entry: &mut AuditEntry) {
    fn clean(text: &mut String) {
        if text.contains('\0') {
            *text = text.replace('\0', "\u{fffd}");
        }
    }
    for text in [
        &mut entry.time,
        &mut entry.actor,
        &mut entry.operation,
        &mut entry.fqn,
        &mut entry.kind,
        &mut entry.before_hash,
        &mut entry.after_hash,
        &mut entry.outcome,
        &mut entry.message,
    ] {
        clean(text);
    }
    // Origins are built by the server from a few flat fields: shallow.
    fn clean_json(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) => clean(text),
            serde_json::Value::Array(items) => items.iter_mut().for_each(clean_json),
            serde_json::Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(k, v)| (k.replace('\0', "\u{fffd}"), v))
                        .collect();
                }
                map.values_mut().for_each(clean_json);
            }
            _ => {}
        }
    }
    clean_json(&mut entry.origin);
}

/// Why `token` cannot be created: a stored token (`taken` is its name) has its hash or name.
fn token_taken(token: &TokenRecord, taken: &str) -> Error {
    Error::AlreadyExists {
        what: if taken == token.name {
            format!("a token named {taken:?}")
        } else {
            "a token with this secret".to_string()
        },
    }
}

/// `url` with any `user:password@` removed, for error messages.
fn redact_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://…@{host}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests;
