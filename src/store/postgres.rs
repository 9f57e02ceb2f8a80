//! The PostgreSQL backend, shared by any number of management-plane replicas.
//!
//! **Commits.** A commit is one call of the `tsbridge_commit` function
//! (`migrations/postgres/0002_commit.sql`) as a single statement: one round trip and one
//! implicit transaction. It locks the one `meta` row (`SELECT … FOR UPDATE`) before it reads the
//! current revision, and holds the lock until it commits, so commits from every replica run one
//! at a time: revisions are unique, strictly increasing and gap-free, and revision N is
//! committed (visible to `changes_since`) before revision N+1 is even assigned. The lock is held
//! only while the function runs on the server, never across a network round trip. Reads take no
//! lock; `snapshot` reads in one `REPEATABLE READ` transaction.
//!
//! **Notifications.** A commit runs `pg_notify('tsbridge_revisions', '<revision>')` in its
//! transaction, so the notification goes out when (and only if) it commits; delivery writes
//! likewise announce their last seq on `tsbridge_delivery`, and token revocations the
//! revocation epoch on `tsbridge_tokens`. `connect` spawns one task (span `store_notify`) that
//! `LISTEN`s on the three channels on its own connection and also polls the revision, the
//! delivery seq and the revocation epoch every second, so a lost connection or notification
//! delays a replica by at most a second. It reconnects with exponential backoff (1 s to 30 s) while
//! polling on.
//!
//! **Task lifetime.** The task stops when the last clone of the store is dropped: the shared
//! state holds a [`DropGuard`] of the task's cancellation token. It then drops the revision
//! sender, so every [`PgStore::subscribe`] receiver sees the channel close.
//!
//! **Connections.** Reads use an sqlx pool without its ping before each acquire (that ping
//! doubled the round trips of every query). Commits use up to four connections of their own
//! (see `Committers`), and delivery writes four more: sqlx's pool would still add a ping on
//! release to each commit.
//!
//! **Delivery state.** `claim_cluster`, `confirm_prune` and `write_deliveries` are each one
//! call of a function of `migrations/postgres/0003_delivery.sql`, which locks the one
//! `delivery_meta` row first, so delivery seqs are committed in order (see `delivery.rs`).
//!
//! **Migrations.** sqlx's migrator takes a PostgreSQL advisory lock, so replicas may start
//! together.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Connection, Postgres, Transaction};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use super::delivery::{self, ClusterRow};
use super::rows::TokenRow;
use super::{
    AuditEntry, ClusterDelivery, Committed, DeliveryWrite, Error, Result, TokenRecord, WriteBatch,
};

static MIGRATOR: Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// The notification channel commits announce their revision on.
pub const CHANNEL: &str = "tsbridge_revisions";

/// The notification channel delivery writes announce their last seq on.
pub const DELIVERY_CHANNEL: &str = "tsbridge_delivery";

/// The notification channel token revocations announce the revocation epoch on.
pub const TOKENS_CHANNEL: &str = "tsbridge_tokens";

/// Connections per replica (the listener has one more of its own).
const POOL_SIZE: u32 = 16;

/// How often the revision is polled, whatever the listener does.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// First and longest waits between attempts to re-establish the listener.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A PostgreSQL store; clones share the pool, the revision watch and the notification task.
#[derive(Clone, Debug)]
pub struct PgStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    committers: Committers,
    /// Delivery writes have their own connections: they must not queue behind config commits.
    deliverers: Committers,
    revision: Arc<watch::Sender<i64>>,
    delivery: Arc<watch::Sender<i64>>,
    tokens: Arc<watch::Sender<i64>>,
    /// Stops the notification task when the last clone is dropped.
    _stop: DropGuard,
}

impl PgStore {
    /// Connects to a `postgres://` URL, migrates the database and starts following revisions.
    pub(super) async fn connect(url: &str) -> Result<PgStore> {
        let options =
            PgConnectOptions::from_str(url).map_err(|_| Error::BadUrl(super::redact_url(url)))?;
        // No ping before each acquire: it doubled the round trips of every query. A connection
        // that broke while idle fails one query (the server answers Unavailable), and the pool
        // still checks each connection when it is released.
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        let (current, seq, epoch) = current_positions(&pool).await?;
        let revision = Arc::new(watch::channel(current).0);
        let delivery = Arc::new(watch::channel(seq).0);
        let tokens = Arc::new(watch::channel(epoch).0);
        let stop = CancellationToken::new();
        let span = tracing::info_span!("store_notify", channel = CHANNEL);
        tokio::spawn(
            follow(
                options.clone(),
                pool.clone(),
                Watches {
                    revision: revision.clone(),
                    delivery: delivery.clone(),
                    tokens: tokens.clone(),
                },
                stop.clone(),
            )
            .instrument(span),
        );
        Ok(PgStore {
            inner: Arc::new(Inner {
                committers: Committers::new(options.clone()),
                deliverers: Committers::new(options),
                pool,
                revision,
                delivery,
                tokens,
                _stop: stop.drop_guard(),
            }),
        })
    }

    /// The pool reads use (every replica reads and writes through one pool).
    pub(super) fn reader(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The pool writes use: the same as [`PgStore::reader`].
    pub(super) fn writer(&self) -> &PgPool {
        &self.inner.pool
    }

    /// A read-only transaction reading one snapshot.
    pub(super) async fn read_tx(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self
            .inner
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?)
    }

    /// A write transaction (`READ COMMITTED`).
    pub(super) async fn write_tx(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.inner.pool.begin().await?)
    }

    pub(super) async fn commit(&self, batch: WriteBatch) -> Result<Committed> {
        let WriteBatch {
            expected_revision,
            upserts,
            deletes,
            audit,
        } = batch;
        let audit = audit
            .iter()
            .map(|entry| {
                let at = super::instant(&entry.time)?;
                let mut row = serde_json::to_value(entry)?;
                row["at_us"] = at.into();
                Ok(row)
            })
            .collect::<Result<Vec<_>>>()?;

        // One statement, one implicit transaction: see migrations/postgres/0002_commit.sql.
        let query = sqlx::query_as("SELECT * FROM tsbridge_commit($1, $2, $3, $4, $5)")
            .bind(expected_revision)
            .bind(Json(&upserts))
            .bind(&deletes)
            .bind(Json(&audit))
            .bind(CHANNEL);
        let outcome: CommitRow = self.inner.committers.fetch_one(query).await?;
        if outcome.moved {
            return Err(Error::RevisionMoved {
                expected: expected_revision.unwrap_or_default(),
                actual: outcome.start_revision,
            });
        }
        if outcome.etags.len() != upserts.len() {
            return Err(Error::Database(sqlx::Error::Protocol(format!(
                "tsbridge_commit returned {} etags for {} upserts",
                outcome.etags.len(),
                upserts.len()
            ))));
        }
        let upserted = upserts
            .into_iter()
            .zip(outcome.etags)
            .zip(outcome.start_revision + 1..)
            .map(|((mut record, etag), revision)| {
                record.revision = revision;
                record.etag = etag;
                record
            })
            .collect();
        super::advance(&self.inner.revision, outcome.final_revision);
        Ok(Committed {
            revision: outcome.final_revision,
            upserted,
        })
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<i64> {
        self.inner.revision.subscribe()
    }

    pub(super) async fn append_audit(&self, entry: AuditEntry) -> Result<i64> {
        let at = super::instant(&entry.time)?;
        let mut conn = self.inner.pool.acquire().await?;
        insert_audit(&mut conn, &entry, at).await
    }

    pub(super) async fn create_token(&self, token: TokenRecord) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO tokens (hash, name, subject, role, scope, created, revoked) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&token.hash)
        .bind(&token.name)
        .bind(&token.subject)
        .bind(&token.role)
        .bind(&token.scope)
        .bind(&token.created)
        .bind(&token.revoked)
        .execute(&self.inner.pool)
        .await?;
        if done.rows_affected() == 0 {
            let taken: Option<String> =
                sqlx::query_scalar("SELECT name FROM tokens WHERE hash = $1 OR name = $2")
                    .bind(&token.hash)
                    .bind(&token.name)
                    .fetch_optional(&self.inner.pool)
                    .await?;
            return Err(super::token_taken(&token, &taken.unwrap_or_default()));
        }
        Ok(())
    }

    pub(super) async fn revoke_token(&self, name: &str, at: &str) -> Result<TokenRecord> {
        let mut tx = self.inner.pool.begin().await?;
        let revoked =
            sqlx::query("UPDATE tokens SET revoked = $2 WHERE name = $1 AND revoked IS NULL")
                .bind(name)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        // The meta row's lock orders concurrent revocations: each gets its own epoch.
        let epoch: i64 = if revoked.rows_affected() > 0 {
            sqlx::query_scalar(
                "UPDATE token_meta SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch",
            )
            .fetch_one(&mut *tx)
            .await?
        } else {
            sqlx::query_scalar("SELECT epoch FROM token_meta WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?
        };
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(TOKENS_CHANNEL)
            .bind(epoch.to_string())
            .execute(&mut *tx)
            .await?;
        let row: Option<TokenRow> = sqlx::query_as("SELECT * FROM tokens WHERE name = $1")
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

/// The current revision and delivery seq, in one round trip.
async fn current_positions(pool: &PgPool) -> Result<(i64, i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT (SELECT revision FROM meta WHERE id = 1), \
         (SELECT seq FROM delivery_meta WHERE id = 1), \
         (SELECT epoch FROM token_meta WHERE id = 1)",
    )
    .fetch_one(pool)
    .await?)
}

// === commit connections ===

/// Connections that run commits, at most [`COMMITTERS`] at a time.
///
/// A commit is one statement on the hot path, and sqlx's pool would add a round trip to each
/// (it pings every connection it takes back). A connection here belongs to the commit using it:
/// a commit cancelled mid-statement drops (closes) its connection rather than returning it in an
/// unknown state, and a connection that failed below SQL (I/O, protocol) is dropped too.
#[derive(Debug)]
struct Committers {
    options: PgConnectOptions,
    idle: std::sync::Mutex<Vec<(PgConnection, Instant)>>,
    permits: tokio::sync::Semaphore,
}

/// Commit connections per replica.
const COMMITTERS: usize = 4;

/// Idle commit connections older than this are closed rather than reused (servers and proxies
/// drop idle sessions; a commit is never retried, so it should not meet a dead connection).
const COMMITTER_IDLE: Duration = Duration::from_secs(60);

impl Committers {
    fn new(options: PgConnectOptions) -> Committers {
        Committers {
            options,
            idle: std::sync::Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(COMMITTERS),
        }
    }

    /// Runs `query` on a commit connection and returns its one row.
    async fn fetch_one<'q, T>(
        &self,
        query: sqlx::query::QueryAs<'q, sqlx::Postgres, T, sqlx::postgres::PgArguments>,
    ) -> Result<T>
    where
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Database(sqlx::Error::PoolClosed))?;
        let mut conn = match self.take_idle() {
            Some(conn) => conn,
            None => PgConnection::connect_with(&self.options).await?,
        };
        let result = query.fetch_one(&mut conn).await;
        // The server answered (even with an error): the connection is in a known state.
        if matches!(result, Ok(_) | Err(sqlx::Error::Database(_))) {
            self.lock_idle().push((conn, Instant::now()));
        }
        Ok(result?)
    }

    fn take_idle(&self) -> Option<PgConnection> {
        let mut idle = self.lock_idle();
        let fresh = Instant::now().checked_sub(COMMITTER_IDLE);
        // Stale connections are dropped here, which closes them.
        idle.retain(|(_, since)| fresh.is_none_or(|fresh| *since >= fresh));
        idle.pop().map(|(conn, _)| conn)
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<(PgConnection, Instant)>> {
        // The lock is never held across an await or a panic site; a poisoned Vec is still valid.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What `tsbridge_commit` returns.
#[derive(sqlx::FromRow)]
struct CommitRow {
    moved: bool,
    start_revision: i64,
    final_revision: i64,
    etags: Vec<String>,
}

/// Appends one audit row (`at` = its time in microseconds); returns its id.
async fn insert_audit(conn: &mut PgConnection, entry: &AuditEntry, at: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO audit (time, at_us, actor, origin, operation, fqn, kind, before_hash, \
         after_hash, revision, outcome, message, forced, dry_run) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
    )
    .bind(&entry.time)
    .bind(at)
    .bind(&entry.actor)
    .bind(Json(&entry.origin))
    .bind(&entry.operation)
    .bind(&entry.fqn)
    .bind(&entry.kind)
    .bind(&entry.before_hash)
    .bind(&entry.after_hash)
    .bind(entry.revision)
    .bind(&entry.outcome)
    .bind(&entry.message)
    .bind(entry.forced)
    .bind(entry.dry_run)
    .fetch_one(&mut *conn)
    .await?)
}

// === the notification task ===

/// The positions the notification task moves.
struct Watches {
    /// Config revisions ([`CHANNEL`], `meta`).
    revision: Arc<watch::Sender<i64>>,
    /// Delivery seqs ([`DELIVERY_CHANNEL`], `delivery_meta`).
    delivery: Arc<watch::Sender<i64>>,
    /// Token revocations ([`TOKENS_CHANNEL`], `token_meta`).
    tokens: Arc<watch::Sender<i64>>,
}

/// Feeds both watches from NOTIFY and a 1 s poll until `stop` is cancelled.
async fn follow(
    options: PgConnectOptions,
    pool: PgPool,
    watches: Watches,
    stop: CancellationToken,
) {
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut listener: Option<PgListener> = None;
    let mut backoff = MIN_BACKOFF;
    let mut next_attempt = Instant::now();
    loop {
        if listener.is_none() && Instant::now() >= next_attempt {
            match listen(&options).await {
                Ok(established) => {
                    tracing::debug!("listening for revisions");
                    listener = Some(established);
                    backoff = MIN_BACKOFF;
                }
                Err(error) => {
                    tracing::warn!(%error, ?backoff, "cannot listen for revisions; polling");
                    next_attempt = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            notification = next_notification(&mut listener) => match notification {
                Ok((channel, payload)) => {
                    let watch = match channel.as_str() {
                        DELIVERY_CHANNEL => &watches.delivery,
                        TOKENS_CHANNEL => &watches.tokens,
                        _ => &watches.revision,
                    };
                    match payload.parse::<i64>() {
                        Ok(announced) => super::advance(watch, announced),
                        Err(_) => tracing::warn!(%payload, "ignoring a malformed notification"),
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "lost the revision listener; reconnecting");
                    listener = None;
                    next_attempt = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            },
            _ = poll.tick() => match current_positions(&pool).await {
                Ok((current, seq, epoch)) => {
                    super::advance(&watches.revision, current);
                    super::advance(&watches.delivery, seq);
                    super::advance(&watches.tokens, epoch);
                }
                Err(error) => tracing::debug!(%error, "revision poll failed"),
            },
        }
    }
    tracing::debug!("store dropped; stopped following revisions");
}

/// A listener on its own connection, subscribed to [`CHANNEL`], [`DELIVERY_CHANNEL`] and
/// [`TOKENS_CHANNEL`].
async fn listen(options: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener
        .listen_all([CHANNEL, DELIVERY_CHANNEL, TOKENS_CHANNEL])
        .await?;
    Ok(listener)
}

/// The next notification's channel and payload; never resolves without a listener.
async fn next_notification(
    listener: &mut Option<PgListener>,
) -> Result<(String, String), sqlx::Error> {
    match listener {
        Some(listener) => {
            let notification = listener.recv().await?;
            Ok((
                notification.channel().to_string(),
                notification.payload().to_string(),
            ))
        }
        None => std::future::pending().await,
    }
}

// === delivery state ===

impl PgStore {
    pub(super) async fn claim_cluster(
        &self,
        cluster: &str,
        replica: &str,
    ) -> Result<ClusterDelivery> {
        let row: ClusterRow = sqlx::query_as("SELECT * FROM tsbridge_claim($1, $2, $3, $4)")
            .bind(cluster)
            .bind(replica)
            .bind(delivery::now())
            .bind(DELIVERY_CHANNEL)
            .fetch_one(&self.inner.pool)
            .await?;
        let claimed = ClusterDelivery::from(row);
        super::advance(&self.inner.delivery, claimed.seq);
        Ok(claimed)
    }

    pub(super) async fn write_deliveries(&self, writes: &[DeliveryWrite]) -> Result<Vec<bool>> {
        let (merged, index) = delivery::merge(writes);
        if merged.is_empty() {
            return Ok(Vec::new());
        }
        // One statement, one implicit transaction: see migrations/postgres/0003_delivery.sql.
        let query = sqlx::query_as("SELECT * FROM tsbridge_deliver($1, $2, $3)")
            .bind(Json(&merged))
            .bind(delivery::now())
            .bind(DELIVERY_CHANNEL);
        let outcome: DeliverRow = self.inner.deliverers.fetch_one(query).await?;
        if outcome.applied.len() != merged.len() {
            return Err(Error::Database(sqlx::Error::Protocol(format!(
                "tsbridge_deliver answered {} writes for {}",
                outcome.applied.len(),
                merged.len()
            ))));
        }
        super::advance(&self.inner.delivery, outcome.last_seq);
        Ok(delivery::unmerge(&outcome.applied, &index))
    }

    pub(super) async fn confirm_prune(&self, cluster: &str) -> Result<Option<serde_json::Value>> {
        let mut tx = self.inner.pool.begin().await?;
        let held: Option<Json<serde_json::Value>> =
            sqlx::query_scalar("SELECT held FROM tsbridge_confirm_prune($1, $2, $3)")
                .bind(cluster)
                .bind(delivery::now())
                .bind(DELIVERY_CHANNEL)
                .fetch_optional(&mut *tx)
                .await?;
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM delivery_meta WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        super::advance(&self.inner.delivery, seq);
        Ok(held.map(|held| held.0))
    }

    pub(super) fn subscribe_delivery(&self) -> watch::Receiver<i64> {
        self.inner.delivery.subscribe()
    }
}

/// What `tsbridge_deliver` returns.
#[derive(sqlx::FromRow)]
struct DeliverRow {
    applied: Vec<bool>,
    last_seq: i64,
}
