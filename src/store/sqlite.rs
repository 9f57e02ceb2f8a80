//! The SQLite backend: one database file in WAL mode, for a single management-plane replica.
//!
//! **Durability.** `journal_mode=WAL` with `synchronous=NORMAL`: a commit returns once its
//! pages are appended to the WAL file (written into the OS page cache), and the WAL is fsynced
//! at checkpoints rather than on every commit. An acknowledged commit therefore survives any
//! crash of the process (`kill -9`, panic, OOM kill): the kernel still holds the written pages.
//! A power loss or kernel crash may roll back the most recent commits, but never corrupts the
//! file. `tests/it/store.rs` SIGKILLs a writing process and checks every acknowledged revision.
//!
//! **Concurrency.** Writes go through a one-connection pool and `BEGIN IMMEDIATE`, so this
//! process's writers queue for the pool instead of spinning on `SQLITE_BUSY`, and a writer in
//! another process waits up to the busy timeout. Reads use their own pool; WAL lets them run
//! beside the writer, and a read transaction sees one snapshot.
//!
//! **Notifications.** [`SqliteStore::subscribe`] and [`SqliteStore::subscribe_delivery`] move
//! with this process's writes only: one replica is the supported SQLite deployment.
//!
//! **Delivery state.** Written through the same one-connection writer, so delivery seqs are
//! assigned and committed in order (see `delivery.rs`); a write of many clusters is a few
//! multi-row statements in one transaction.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite, Transaction};
use tokio::sync::watch;

use super::delivery::{self, ClusterRow};
use super::rows::TokenRow;
use super::{
    AuditEntry, ClusterDelivery, Committed, DeliveryWrite, Error, Record, Result, TokenRecord,
    WriteBatch,
};

static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/sqlite");

/// How long a write waits for another process's write lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections of the read pool.
const READERS: u32 = 8;

/// A SQLite store; clones share the pools and the revision watch.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// One connection: every write, in arrival order.
    writer: SqlitePool,
    /// Reads (the writer itself for an in-memory database, which one connection holds).
    reader: SqlitePool,
    revision: watch::Sender<i64>,
    /// The last delivery seq this process wrote (or saw at connect).
    delivery: watch::Sender<i64>,
    /// The token revocation epoch.
    tokens: watch::Sender<i64>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database of a `sqlite:PATH` URL and migrates it.
    pub(super) async fn connect(url: &str) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| Error::BadUrl(url.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        // A SQLite connection does not break while idle: no ping before each acquire.
        let mut writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false);
        if in_memory {
            // The database lives as long as its one connection: never let the pool close it.
            writer = writer
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let writer = writer.connect_with(options.clone()).await?;
        MIGRATOR.run(&writer).await?;
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(READERS)
                .test_before_acquire(false)
                .connect_with(options)
                .await?
        };
        let current = current_revision(&reader).await?;
        let (revision, _) = watch::channel(current);
        let seq = sqlx::query_scalar("SELECT seq FROM delivery_meta WHERE id = 1")
            .fetch_one(&reader)
            .await?;
        let (delivery, _) = watch::channel(seq);
        let epoch = sqlx::query_scalar("SELECT epoch FROM token_meta WHERE id = 1")
            .fetch_one(&reader)
            .await?;
        let (tokens, _) = watch::channel(epoch);
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer,
                reader,
                revision,
                delivery,
                tokens,
            }),
        })
    }

    /// The one writing connection.
    pub(super) fn writer(&self) -> &SqlitePool {
        &self.inner.writer
    }

    /// The reading connections.
    pub(super) fn reader(&self) -> &SqlitePool {
        &self.inner.reader
    }

    /// A read transaction: in WAL mode it reads one snapshot from its first SELECT to its end.
    pub(super) async fn read_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.inner.reader.begin().await?)
    }

    /// A write transaction holding the file's write lock from its start, so it never fails
    /// with `SQLITE_BUSY` halfway.
    pub(super) async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.inner.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(super) async fn commit(&self, batch: WriteBatch) -> Result<Committed> {
        let WriteBatch {
            expected_revision,
            upserts,
            deletes,
            mut audit,
        } = batch;
        // Dropping `tx` on any error rolls everything back.
        let mut tx = self.inner.writer.begin_with("BEGIN IMMEDIATE").await?;
        // Read the current revision and reserve the upserts' revisions in one statement.
        let reserved = i64::try_from(upserts.len()).unwrap_or(i64::MAX);
        let current: i64 = sqlx::query_scalar(
            "UPDATE meta SET revision = revision + ?1 WHERE id = 1 RETURNING revision - ?1",
        )
        .bind(reserved)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(expected) = expected_revision
            && expected != current
        {
            return Err(Error::RevisionMoved {
                expected,
                actual: current,
            });
        }

        let mut revision = current;
        let mut changed = HashMap::new();
        let mut upserted = Vec::with_capacity(upserts.len());
        for mut record in upserts {
            revision += 1;
            record.revision = revision;
            record.etag = super::etag(&record.fqn, revision, &record.content_hash);
            changed.insert(record.fqn.clone(), revision);
            upserted.push(record);
        }
        let at_us = jiff::Timestamp::now().as_microsecond();
        for chunk in upserted.chunks(ROWS_PER_STATEMENT) {
            upsert(&mut tx, chunk, at_us).await?;
        }
        for fqn in deletes {
            let kind: Option<String> =
                sqlx::query_scalar("DELETE FROM resources WHERE fqn = ?1 RETURNING kind")
                    .bind(&fqn)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(kind) = kind else { continue };
            revision += 1;
            sqlx::query(
                "INSERT INTO revisions (revision, fqn, kind, op, record, at_us) \
                 VALUES (?1, ?2, ?3, 'delete', NULL, ?4)",
            )
            .bind(revision)
            .bind(&fqn)
            .bind(kind)
            .bind(at_us)
            .execute(&mut *tx)
            .await?;
            changed.insert(fqn, revision);
        }

        super::assign_audit_revisions(&mut audit, &changed, revision);
        for chunk in audit.chunks(ROWS_PER_STATEMENT) {
            // A bad time fails the whole batch, after the changes above: nothing is kept.
            insert_audits(&mut tx, chunk).await?;
        }
        if revision != current + reserved {
            sqlx::query("UPDATE meta SET revision = ?1 WHERE id = 1")
                .bind(revision)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        super::advance(&self.inner.revision, revision);
        Ok(Committed { revision, upserted })
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<i64> {
        self.inner.revision.subscribe()
    }

    pub(super) async fn append_audit(&self, entry: AuditEntry) -> Result<i64> {
        let mut conn = self.inner.writer.acquire().await?;
        insert_audits(&mut conn, std::slice::from_ref(&entry)).await
    }

    pub(super) async fn create_token(&self, token: TokenRecord) -> Result<()> {
        let mut tx = self.inner.writer.begin().await?;
        let taken: Option<String> =
            sqlx::query_scalar("SELECT name FROM tokens WHERE hash = ?1 OR name = ?2")
                .bind(&token.hash)
                .bind(&token.name)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(taken) = taken {
            return Err(super::token_taken(&token, &taken));
        }
        sqlx::query(
            "INSERT INTO tokens (hash, name, subject, role, scope, created, revoked) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&token.hash)
        .bind(&token.name)
        .bind(&token.subject)
        .bind(&token.role)
        .bind(&token.scope)
        .bind(&token.created)
        .bind(&token.revoked)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn revoke_token(&self, name: &str, at: &str) -> Result<TokenRecord> {
        let mut tx = self.inner.writer.begin().await?;
        let revoked =
            sqlx::query("UPDATE tokens SET revoked = ?2 WHERE name = ?1 AND revoked IS NULL")
                .bind(name)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        let epoch: i64 = if revoked.rows_affected() > 0 {
            sqlx::query_scalar(
                "UPDATE token_meta SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch",
            )
            .fetch_one(&mut *tx)
            .await?
        } else {
            *self.inner.tokens.borrow()
        };
        let row: Option<TokenRow> = sqlx::query_as("SELECT * FROM tokens WHERE name = ?1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        super::advance(&self.inner.tokens, epoch);
        row.map(TokenRecord::from).ok_or_else(|| Error::NotFound {
            what: format!("token {name:?}"),
        })
    }

    pub(super) fn subscribe_tokens(&self) -> watch::Receiver<i64> {
        self.inner.tokens.subscribe()
    }
}

async fn current_revision(pool: &SqlitePool) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT revision FROM meta WHERE id = 1")
        .fetch_one(pool)
        .await?)
}

/// Rows per multi-row `INSERT`: a group commit's rows go in a few statements instead of one
/// round trip to the connection's thread per row, within SQLite's 32,766 bound parameters
/// (14 per audit row).
const ROWS_PER_STATEMENT: usize = 256;

/// Writes `records` (revisions and etags assigned), in order, and their change-log rows,
/// committed at `at_us`.
async fn upsert(conn: &mut SqliteConnection, records: &[Record], at_us: i64) -> Result<()> {
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO resources (fqn, kind, api_version, name, parent_fqn, namespace, spec, \
         labels, annotations, origin, content_hash, etag, revision) ",
    );
    insert.push_values(records, |mut row, record| {
        row.push_bind(&record.fqn)
            .push_bind(&record.kind)
            .push_bind(&record.api_version)
            .push_bind(&record.name)
            .push_bind(&record.parent_fqn)
            .push_bind(&record.namespace)
            .push_bind(Json(&record.spec))
            .push_bind(Json(&record.labels))
            .push_bind(Json(&record.annotations))
            .push_bind(Json(&record.origin))
            .push_bind(&record.content_hash)
            .push_bind(&record.etag)
            .push_bind(record.revision);
    });
    // Rows of one statement are inserted in order, so a later row of the same FQN wins.
    insert.push(
        " ON CONFLICT (fqn) DO UPDATE SET kind = excluded.kind, \
         api_version = excluded.api_version, name = excluded.name, \
         parent_fqn = excluded.parent_fqn, namespace = excluded.namespace, \
         spec = excluded.spec, labels = excluded.labels, annotations = excluded.annotations, \
         origin = excluded.origin, content_hash = excluded.content_hash, \
         etag = excluded.etag, revision = excluded.revision",
    );
    insert.build().execute(&mut *conn).await?;
    let mut log = QueryBuilder::<Sqlite>::new(
        "INSERT INTO revisions (revision, fqn, kind, op, record, at_us) ",
    );
    log.push_values(records, |mut row, record| {
        row.push_bind(record.revision)
            .push_bind(&record.fqn)
            .push_bind(&record.kind)
            .push_bind("upsert")
            .push_bind(Json(record))
            .push_bind(at_us);
    });
    log.build().execute(&mut *conn).await?;
    Ok(())
}

/// Appends audit rows in order and returns the last one's id; [`Error::BadTime`] unless every
/// time is RFC 3339.
async fn insert_audits(conn: &mut SqliteConnection, entries: &[AuditEntry]) -> Result<i64> {
    let times = entries
        .iter()
        .map(|e| super::instant(&e.time))
        .collect::<Result<Vec<i64>>>()?;
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO audit (time, at_us, actor, origin, operation, fqn, kind, before_hash, \
         after_hash, revision, outcome, message, forced, dry_run) ",
    );
    insert.push_values(entries.iter().zip(times), |mut row, (entry, at)| {
        row.push_bind(&entry.time)
            .push_bind(at)
            .push_bind(&entry.actor)
            .push_bind(Json(&entry.origin))
            .push_bind(&entry.operation)
            .push_bind(&entry.fqn)
            .push_bind(&entry.kind)
            .push_bind(&entry.before_hash)
            .push_bind(&entry.after_hash)
            .push_bind(entry.revision)
            .push_bind(&entry.outcome)
            .push_bind(&entry.message)
            .push_bind(entry.forced)
            .push_bind(entry.dry_run);
    });
    Ok(insert
        .build()
        .execute(&mut *conn)
        .await?
        .last_insert_rowid())
}

// === delivery state ===

/// One touched cluster row of a delivery write, as `UPDATE … FROM json_each` reads it.
#[derive(serde::Serialize)]
struct ClusterChange<'a> {
    cluster: &'a str,
    seq: i64,
    acked_revision: Option<i64>,
    set_held: bool,
    held_prune: Option<&'a str>,
    confirm_prune: Option<bool>,
    connected: Option<bool>,
}

impl SqliteStore {
    pub(super) async fn claim_cluster(
        &self,
        cluster: &str,
        replica: &str,
    ) -> Result<ClusterDelivery> {
        let mut tx = self.inner.writer.begin_with("BEGIN IMMEDIATE").await?;
        let seq = next_seq(&mut tx, 1).await?;
        let row: ClusterRow = sqlx::query_as(
            "INSERT INTO delivery_clusters (cluster, replica, generation, connected, \
             acked_revision, held_prune, confirm_prune, updated, seq) \
             VALUES (?1, ?2, 1, 1, 0, NULL, 0, ?3, ?4) \
             ON CONFLICT (cluster) DO UPDATE SET replica = excluded.replica, \
             generation = generation + 1, connected = 1, updated = excluded.updated, \
             seq = excluded.seq \
             RETURNING *",
        )
        .bind(cluster)
        .bind(replica)
        .bind(delivery::now())
        .bind(seq)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        super::advance(&self.inner.delivery, seq);
        Ok(row.into())
    }

    pub(super) async fn write_deliveries(&self, writes: &[DeliveryWrite]) -> Result<Vec<bool>> {
        let (merged, index) = delivery::merge(writes);
        if merged.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.inner.writer.begin_with("BEGIN IMMEDIATE").await?;
        let base: i64 = sqlx::query_scalar("SELECT seq FROM delivery_meta WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let names: Vec<&str> = merged.iter().map(|w| w.cluster.as_str()).collect();
        let stored: HashMap<String, i64> = sqlx::query_as(
            "SELECT cluster, generation FROM delivery_clusters \
             WHERE cluster IN (SELECT value FROM json_each(?1))",
        )
        .bind(Json(&names))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let applied: Vec<bool> = merged
            .iter()
            .map(|w| stored.get(&w.cluster).copied().unwrap_or(0) == w.generation)
            .collect();
        let writing = || merged.iter().zip(&applied).filter(|(_, a)| **a);

        let mut seq = base;
        let edges: Vec<(&str, &delivery::WireEdge, i64)> = writing()
            .flat_map(|(w, _)| w.edges.iter().map(move |e| (w.cluster.as_str(), e)))
            .map(|(cluster, edge)| {
                seq += 1;
                (cluster, edge, seq)
            })
            .collect();
        for chunk in edges.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO delivery_edges (cluster, source, state, revision, objects, seq) ",
            );
            insert.push_values(chunk, |mut row, (cluster, edge, seq)| {
                row.push_bind(*cluster)
                    .push_bind(&edge.source)
                    .push_bind(&edge.state)
                    .push_bind(edge.revision)
                    .push_bind(edge.objects.as_ref().map(Json))
                    .push_bind(*seq);
            });
            insert.push(
                " ON CONFLICT (cluster, source) DO UPDATE SET state = excluded.state, \
                 revision = excluded.revision, objects = coalesce(excluded.objects, objects), \
                 seq = excluded.seq",
            );
            insert.build().execute(&mut *tx).await?;
        }

        let clusters: Vec<ClusterChange<'_>> = writing()
            .filter(|(w, _)| w.touches)
            .map(|(w, _)| {
                seq += 1;
                ClusterChange {
                    cluster: &w.cluster,
                    seq,
                    acked_revision: w.acked_revision,
                    set_held: w.set_held,
                    held_prune: w.held_prune.as_deref(),
                    confirm_prune: w.confirm_prune,
                    connected: w.connected,
                }
            })
            .collect();
        if !clusters.is_empty() {
            let now = delivery::now();
            // A cluster without a row matched generation 0: give it one first.
            sqlx::query(
                "INSERT INTO delivery_clusters (cluster, replica, generation, connected, \
                 acked_revision, held_prune, confirm_prune, updated, seq) \
                 SELECT json_extract(value, '$.cluster'), '', 0, 0, 0, NULL, 0, ?2, 0 \
                 FROM json_each(?1) WHERE true \
                 ON CONFLICT (cluster) DO NOTHING",
            )
            .bind(Json(&clusters))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE delivery_clusters AS d SET \
                 acked_revision = coalesce(json_extract(w.value, '$.acked_revision'), \
                   d.acked_revision), \
                 held_prune = CASE WHEN json_extract(w.value, '$.set_held') \
                   THEN json_extract(w.value, '$.held_prune') ELSE d.held_prune END, \
                 confirm_prune = coalesce(json_extract(w.value, '$.confirm_prune'), \
                   d.confirm_prune), \
                 connected = coalesce(json_extract(w.value, '$.connected'), d.connected), \
                 updated = ?2, \
                 seq = json_extract(w.value, '$.seq') \
                 FROM json_each(?1) AS w WHERE d.cluster = json_extract(w.value, '$.cluster')",
            )
            .bind(Json(&clusters))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        if seq != base {
            sqlx::query("UPDATE delivery_meta SET seq = ?1 WHERE id = 1")
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        super::advance(&self.inner.delivery, seq);
        Ok(delivery::unmerge(&applied, &index))
    }

    pub(super) async fn confirm_prune(&self, cluster: &str) -> Result<Option<serde_json::Value>> {
        let mut tx = self.inner.writer.begin_with("BEGIN IMMEDIATE").await?;
        let seq: i64 = sqlx::query_scalar("SELECT seq + 1 FROM delivery_meta WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let held: Option<Json<serde_json::Value>> = sqlx::query_scalar(
            "UPDATE delivery_clusters SET confirm_prune = 1, updated = ?2, seq = ?3 \
             WHERE cluster = ?1 AND held_prune IS NOT NULL RETURNING held_prune",
        )
        .bind(cluster)
        .bind(delivery::now())
        .bind(seq)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(held) = held else {
            return Ok(None);
        };
        next_seq(&mut tx, 1).await?;
        tx.commit().await?;
        super::advance(&self.inner.delivery, seq);
        Ok(Some(held.0))
    }

    pub(super) fn subscribe_delivery(&self) -> watch::Receiver<i64> {
        self.inner.delivery.subscribe()
    }
}

/// Takes the next `count` delivery seqs; returns the last one.
async fn next_seq(conn: &mut SqliteConnection, count: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar("UPDATE delivery_meta SET seq = seq + ?1 WHERE id = 1 RETURNING seq")
            .bind(count)
            .fetch_one(&mut *conn)
            .await?,
    )
}
