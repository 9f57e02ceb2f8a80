//! The delivery ledger: what became of each change in each target cluster (applied, failed
//! with the agent's reason, ignored, pruned, drift reverted), with when it was committed, sent
//! and acknowledged. Written by the replica serving the cluster as it learns it; read by
//! `ctl history`, `ctl report` and `ctl audit --target-cluster` (docs/ledger.md).
//!
//! Replica liveness (`Store::replica_alive`) lives here too: it is the same kind of small
//! table the backends share the SQL of.
//!
//! One SQL text serves both backends (`?N` placeholders become `$N` on PostgreSQL), and one
//! macro-made module per backend runs it on that backend's pool.

use serde::{Deserialize, Serialize};
use sqlx::{FromRow, Pool};

use super::Result;
use super::shared::Dialect;

/// What became of one change in one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The agent applied every object of it.
    Applied,
    /// The agent refused or failed to apply an object of it (the NACK's reason).
    Failed,
    /// The cluster does not serve a kind of it.
    Ignored,
    /// Its objects were removed from the cluster (the object was deleted or no longer targets it).
    Pruned,
    /// Someone changed or deleted a generated object in the cluster; the agent put it back.
    Reverted,
}

impl Outcome {
    /// Every outcome, in a stable order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Applied,
        Outcome::Failed,
        Outcome::Ignored,
        Outcome::Pruned,
        Outcome::Reverted,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Failed => "failed",
            Outcome::Ignored => "ignored",
            Outcome::Pruned => "pruned",
            Outcome::Reverted => "reverted",
        }
    }

    /// From the stored name.
    pub fn from_name(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Assigned by the store; strictly increasing.
    pub id: i64,
    /// The source object (a TSB object's FQN).
    pub fqn: String,
    /// The target cluster.
    pub cluster: String,
    /// The revision of the delta that carried it.
    pub revision: i64,
    /// The object's own change it delivered; 0 for a re-delivery no change of the object
    /// caused (the cluster's namespaces changed, say).
    pub change: i64,
    pub outcome: Outcome,
    /// The agent's reason for a failure; what was reverted for a drift.
    pub message: String,
    /// The change restored a content the object had before (set by the store).
    pub rollback: bool,
    /// When `change` was committed, µs since the epoch; 0 when unknown (set by the store).
    pub committed_us: i64,
    /// When it was sent to the cluster, µs since the epoch.
    pub sent_us: i64,
    /// When the cluster acknowledged it, µs since the epoch.
    pub acked_us: i64,
}

/// Filters of a ledger query; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct LedgerQuery {
    /// Exact source FQN.
    pub fqn: String,
    /// Source FQN prefix (path-segment aware).
    pub fqn_prefix: String,
    /// Target cluster.
    pub cluster: String,
    pub outcome: Option<Outcome>,
    /// RFC 3339 bounds on the acknowledgement: since inclusive, until exclusive.
    pub since: String,
    pub until: String,
    /// Only rows older than this id (0: from the newest): the next page of a query.
    pub before_id: i64,
    /// Most rows, newest first (0 = 1,000).
    pub limit: u32,
}

/// One change of an object as the revision log has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectChange {
    pub revision: i64,
    /// False for a delete.
    pub upsert: bool,
    /// Empty for a delete.
    pub content_hash: String,
    /// When it was committed, µs since the epoch (0 before the ledger existed).
    pub at_us: i64,
}

/// The counting questions for one cluster over a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterReport {
    pub cluster: String,
    pub applied: u64,
    pub failed: u64,
    pub ignored: u64,
    pub pruned: u64,
    pub reverted: u64,
    /// Applied changes that restored an earlier content.
    pub rolled_back: u64,
    /// The most frequent failure reasons, most frequent first, with their counts.
    pub top_failures: Vec<(String, u64)>,
    /// Commit (or send, for a re-delivery) to acknowledgement of applied changes, µs.
    pub apply_p50_us: i64,
    pub apply_p99_us: i64,
}

/// What a report counts: a window of acknowledgements under a prefix.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    pub fqn_prefix: String,
    /// RFC 3339; empty = unbounded.
    pub since: String,
    pub until: String,
}

/// Failure reasons a report lists per cluster.
const TOP_FAILURES: usize = 5;

/// Ledger rows written per statement (11 parameters each, within SQLite's bound).
const ROWS_PER_STATEMENT: usize = 500;

#[derive(FromRow)]
struct LedgerRow {
    id: i64,
    fqn: String,
    cluster: String,
    revision: i64,
    change: i64,
    outcome: String,
    message: String,
    rollback: bool,
    committed_us: i64,
    sent_us: i64,
    acked_us: i64,
}

impl From<LedgerRow> for LedgerEntry {
    fn from(row: LedgerRow) -> LedgerEntry {
        LedgerEntry {
            id: row.id,
            fqn: row.fqn,
            cluster: row.cluster,
            revision: row.revision,
            change: row.change,
            // The table's CHECK admits only known names.
            outcome: Outcome::from_name(&row.outcome).unwrap_or(Outcome::Failed),
            message: row.message,
            rollback: row.rollback,
            committed_us: row.committed_us,
            sent_us: row.sent_us,
            acked_us: row.acked_us,
        }
    }
}

#[derive(FromRow)]
struct ChangeRow {
    revision: i64,
    op: String,
    content_hash: Option<String>,
    at_us: i64,
}

#[derive(FromRow)]
struct CommitRow {
    revision: i64,
    at_us: i64,
    rollback: bool,
}

#[derive(FromRow)]
struct CountRow {
    cluster: String,
    outcome: String,
    rollback: bool,
    bucket: i64,
    n: i64,
}

#[derive(FromRow)]
struct ReasonRow {
    cluster: String,
    message: String,
    n: i64,
}

/// A change is a rollback when an earlier upsert of its object had its content.
const COMMIT_OF: &str = "SELECT c.revision AS revision, c.at_us AS at_us, \
     (c.op = 'upsert' AND EXISTS (SELECT 1 FROM revisions p WHERE p.fqn = c.fqn \
        AND p.revision < c.revision AND p.op = 'upsert' \
        AND HASH(p.record) = HASH(c.record))) AS rollback \
     FROM revisions c WHERE c.revision = ?1";

const INSERT: &str = "INSERT INTO ledger (fqn, cluster, revision, change, outcome, message, \
     rollback, committed_us, sent_us, acked_us) ";

const CHANGES_OF: &str = "SELECT revision, op, HASH(record) AS content_hash, at_us \
     FROM revisions WHERE fqn = ?1 ORDER BY revision";

/// An applied row's time to apply in µs (from the commit, or the send of a re-delivery),
/// bucketed so that one scan can count a report: exact to the millisecond below a second
/// (buckets 0–999), to 100 ms below a minute (1000–1589), to 10 s beyond (1590–).
fn bucket_sql() -> String {
    const T: &str = "(acked_us - CASE WHEN committed_us > 0 THEN committed_us ELSE sent_us END)";
    format!(
        "CASE WHEN outcome <> 'applied' THEN -1 WHEN {T} < 0 THEN 0 \
              WHEN {T} < 1000000 THEN {T} / 1000 \
              WHEN {T} < 60000000 THEN 1000 + ({T} - 1000000) / 100000 \
              ELSE 1590 + ({T} - 60000000) / 10000000 END"
    )
}

/// The lower bound of a bucket of [`bucket_sql`], µs.
fn bucket_us(bucket: i64) -> i64 {
    match bucket {
        ..1_000 => bucket * 1_000,
        1_000..1_590 => 1_000_000 + (bucket - 1_000) * 100_000,
        _ => 60_000_000 + (bucket - 1_590) * 10_000_000,
    }
}

/// A value a [`Filter`] binds.
enum Bind {
    Text(String),
    Int(i64),
}

/// The WHERE clause of the filters a query has (an absent one adds nothing, so the planner
/// sees plain conditions it can use an index for), with its values bound, never spliced.
struct Filter {
    dialect: Dialect,
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    fn new(dialect: Dialect) -> Filter {
        Filter {
            dialect,
            clauses: Vec::new(),
            binds: Vec::new(),
        }
    }

    fn param(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        match self.dialect {
            Dialect::Sqlite => format!("?{}", self.binds.len()),
            Dialect::Postgres => format!("${}", self.binds.len()),
        }
    }

    fn text(&mut self, column: &str, value: &str) {
        if !value.is_empty() {
            let p = self.param(Bind::Text(value.to_string()));
            self.clauses.push(format!("{column} = {p}"));
        }
    }

    fn int(&mut self, condition: &str, value: Option<i64>) {
        if let Some(value) = value {
            let p = self.param(Bind::Int(value));
            self.clauses.push(condition.replace("{}", &p));
        }
    }

    /// `prefix` and everything below it (path-segment aware).
    fn prefix(&mut self, prefix: &str) {
        let Some(prefix) = super::normalize_prefix(Some(prefix)).map(str::to_string) else {
            return;
        };
        let (lower, upper) = super::descendant_bounds(Some(&prefix));
        let exact = self.param(Bind::Text(prefix));
        let lower = self.param(Bind::Text(lower));
        let upper = self.param(Bind::Text(upper.unwrap_or_default()));
        self.clauses.push(format!(
            "(fqn = {exact} OR (fqn > {lower} AND fqn < {upper}))"
        ));
    }

    /// A window on the acknowledgement, RFC 3339 bounds (empty: open).
    fn window(&mut self, since: &str, until: &str) -> Result<()> {
        self.int("acked_us >= {}", super::bound(since)?);
        self.int("acked_us < {}", super::bound(until)?);
        Ok(())
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".to_string()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

/// A replica silent this long is forgotten (µs).
const REPLICA_FORGOTTEN_US: i64 = 86_400_000_000;

const PRUNE_OLD: &str = "DELETE FROM ledger WHERE ?1 IS NOT NULL AND acked_us < ?1";
/// Ids increase: everything below the oldest row kept goes.
const PRUNE_OVER: &str =
    "DELETE FROM ledger WHERE id < (SELECT id FROM ledger ORDER BY id DESC LIMIT 1 OFFSET ?1)";

/// Every statement in one dialect, made once (sqlx runs only `'static` SQL text).
struct Statements {
    commit_of: String,
    changes_of: String,
    replica_alive: String,
    replicas_forget: String,
    replicas_seen: String,
    prune_old: String,
    prune_over: String,
}

impl Statements {
    fn new(dialect: Dialect) -> Statements {
        Statements {
            commit_of: dialect.sql(COMMIT_OF),
            changes_of: dialect.sql(CHANGES_OF),
            replica_alive: dialect.sql(
                "INSERT INTO replicas (id, seen_us) VALUES (?1, ?2) \
                 ON CONFLICT (id) DO UPDATE SET seen_us = excluded.seen_us",
            ),
            replicas_forget: dialect.sql("DELETE FROM replicas WHERE seen_us < ?1"),
            replicas_seen: dialect.sql("SELECT id, seen_us FROM replicas"),
            prune_old: dialect.sql(PRUNE_OLD),
            prune_over: dialect.sql(PRUNE_OVER),
        }
    }
}

/// Binds a [`Filter`]'s values to a query, in order.
macro_rules! bind {
    ($query:expr, $filter:expr) => {{
        let mut query = $query;
        for value in &$filter.binds {
            query = match value {
                Bind::Text(text) => query.bind(text.clone()),
                Bind::Int(int) => query.bind(*int),
            };
        }
        query
    }};
}

/// The same functions for each backend's pool (their query results differ in type only).
macro_rules! backend {
    ($module:ident, $db:ty, $dialect:expr) => {
        pub(in crate::store) mod $module {
            use super::*;

            type Db = $db;
            static SQL: std::sync::LazyLock<Statements> =
                std::sync::LazyLock::new(|| Statements::new($dialect));

            /// Appends `entries`, their `rollback` and `committed_us` filled from the
            /// revision log, in one transaction.
            pub async fn append(pool: &Pool<Db>, mut entries: Vec<LedgerEntry>) -> Result<()> {
                if entries.is_empty() {
                    return Ok(());
                }
                let mut changes: Vec<i64> = entries
                    .iter()
                    .map(|e| e.change)
                    .filter(|c| *c > 0)
                    .collect();
                changes.sort_unstable();
                changes.dedup();
                let mut tx = pool.begin().await?;
                let mut known = std::collections::HashMap::new();
                for change in changes {
                    let row: Option<CommitRow> = sqlx::query_as(SQL.commit_of.as_str())
                        .bind(change)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(row) = row {
                        known.insert(row.revision, (row.at_us, row.rollback));
                    }
                }
                for entry in &mut entries {
                    if let Some((at_us, rollback)) = known.get(&entry.change) {
                        entry.committed_us = *at_us;
                        entry.rollback = *rollback;
                    }
                }
                for chunk in entries.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = sqlx::QueryBuilder::<Db>::new(INSERT);
                    insert.push_values(chunk, |mut row, e| {
                        row.push_bind(e.fqn.clone())
                            .push_bind(e.cluster.clone())
                            .push_bind(e.revision)
                            .push_bind(e.change)
                            .push_bind(e.outcome.as_str().to_string())
                            .push_bind(e.message.replace('\0', "\u{FFFD}"))
                            .push_bind(e.rollback)
                            .push_bind(e.committed_us)
                            .push_bind(e.sent_us)
                            .push_bind(e.acked_us);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// Rows matching `query`, newest first.
            pub async fn query(pool: &Pool<Db>, query: &LedgerQuery) -> Result<Vec<LedgerEntry>> {
                let mut filter = Filter::new($dialect);
                filter.text("fqn", &query.fqn);
                filter.prefix(&query.fqn_prefix);
                filter.text("cluster", &query.cluster);
                filter.text("outcome", query.outcome.map_or("", Outcome::as_str));
                filter.window(&query.since, &query.until)?;
                filter.int("id < {}", (query.before_id > 0).then_some(query.before_id));
                let limit = filter.param(Bind::Int(super::super::limit_or_default(query.limit)));
                let sql = format!(
                    "SELECT * FROM ledger WHERE {} ORDER BY id DESC LIMIT {limit}",
                    filter.sql()
                );
                let rows: Vec<LedgerRow> = bind!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), filter)
                    .fetch_all(pool)
                    .await?;
                Ok(rows.into_iter().map(LedgerEntry::from).collect())
            }

            /// Every change of `fqn` in the revision log, oldest first.
            pub async fn changes_of(pool: &Pool<Db>, fqn: &str) -> Result<Vec<ObjectChange>> {
                let rows: Vec<ChangeRow> = sqlx::query_as(SQL.changes_of.as_str())
                    .bind(fqn)
                    .fetch_all(pool)
                    .await?;
                Ok(rows.into_iter().map(ObjectChange::from).collect())
            }

            /// Per cluster: counts by outcome, rollbacks, top failure reasons and apply-time
            /// percentiles, for acknowledgements in the window under the prefix: one scan
            /// counts outcomes and apply-time buckets together, another the failure reasons.
            pub async fn report(
                pool: &Pool<Db>,
                query: &ReportQuery,
            ) -> Result<Vec<ClusterReport>> {
                let mut filter = Filter::new($dialect);
                filter.prefix(&query.fqn_prefix);
                filter.window(&query.since, &query.until)?;
                let counts = format!(
                    "SELECT cluster, outcome, rollback, {} AS bucket, COUNT(*) AS n \
                     FROM ledger WHERE {} GROUP BY cluster, outcome, rollback, bucket",
                    bucket_sql(),
                    filter.sql()
                );
                let counts: Vec<CountRow> =
                    bind!(sqlx::query_as(sqlx::AssertSqlSafe(counts)), filter)
                        .fetch_all(pool)
                        .await?;
                let reasons = format!(
                    "SELECT cluster, message, COUNT(*) AS n FROM ledger \
                     WHERE {} AND outcome = 'failed' GROUP BY cluster, message \
                     ORDER BY cluster, n DESC, message",
                    filter.sql()
                );
                let reasons: Vec<ReasonRow> =
                    bind!(sqlx::query_as(sqlx::AssertSqlSafe(reasons)), filter)
                        .fetch_all(pool)
                        .await?;
                Ok(assemble(counts, reasons))
            }

            /// See [`crate::store::Store::replica_alive`].
            pub async fn replica_alive(
                pool: &Pool<Db>,
                replica: &str,
                now_us: i64,
            ) -> Result<std::collections::HashMap<String, i64>> {
                sqlx::query(SQL.replica_alive.as_str())
                    .bind(replica)
                    .bind(now_us)
                    .execute(pool)
                    .await?;
                sqlx::query(SQL.replicas_forget.as_str())
                    .bind(now_us - REPLICA_FORGOTTEN_US)
                    .execute(pool)
                    .await?;
                let rows: Vec<(String, i64)> = sqlx::query_as(SQL.replicas_seen.as_str())
                    .fetch_all(pool)
                    .await?;
                Ok(rows.into_iter().collect())
            }

            /// Deletes rows acknowledged before `older_than_us`, then the oldest beyond `keep`
            /// rows; returns how many.
            pub async fn prune(
                pool: &Pool<Db>,
                older_than_us: Option<i64>,
                keep: i64,
            ) -> Result<u64> {
                let old = sqlx::query(SQL.prune_old.as_str())
                    .bind(older_than_us)
                    .execute(pool)
                    .await?;
                let over = sqlx::query(SQL.prune_over.as_str())
                    .bind(keep.max(1) - 1)
                    .execute(pool)
                    .await?;
                Ok(old.rows_affected() + over.rows_affected())
            }
        }
    };
}

backend!(sqlite, sqlx::Sqlite, Dialect::Sqlite);
backend!(postgres, sqlx::Postgres, Dialect::Postgres);

impl From<ChangeRow> for ObjectChange {
    fn from(row: ChangeRow) -> ObjectChange {
        ObjectChange {
            revision: row.revision,
            upsert: row.op == "upsert",
            content_hash: row.content_hash.unwrap_or_default(),
            at_us: row.at_us,
        }
    }
}

/// The report's rows put together per cluster (pure): counts by outcome, and the apply-time
/// percentiles (nearest rank) from the applied rows' buckets.
fn assemble(counts: Vec<CountRow>, reasons: Vec<ReasonRow>) -> Vec<ClusterReport> {
    use std::collections::BTreeMap;
    let mut reports: BTreeMap<String, ClusterReport> = BTreeMap::new();
    let mut buckets: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
    fn report<'a>(
        reports: &'a mut BTreeMap<String, ClusterReport>,
        cluster: &str,
    ) -> &'a mut ClusterReport {
        reports
            .entry(cluster.to_string())
            .or_insert_with(|| ClusterReport {
                cluster: cluster.to_string(),
                ..ClusterReport::default()
            })
    }
    for row in counts {
        let n = u64::try_from(row.n).unwrap_or_default();
        let entry = report(&mut reports, &row.cluster);
        match Outcome::from_name(&row.outcome) {
            Some(Outcome::Applied) => {
                entry.applied += n;
                if row.rollback {
                    entry.rolled_back += n;
                }
                *buckets
                    .entry(row.cluster.clone())
                    .or_default()
                    .entry(row.bucket)
                    .or_default() += n;
            }
            Some(Outcome::Failed) => entry.failed += n,
            Some(Outcome::Ignored) => entry.ignored += n,
            Some(Outcome::Pruned) => entry.pruned += n,
            Some(Outcome::Reverted) => entry.reverted += n,
            None => {}
        }
    }
    for row in reasons {
        let entry = report(&mut reports, &row.cluster);
        if entry.top_failures.len() < TOP_FAILURES {
            entry
                .top_failures
                .push((row.message, u64::try_from(row.n).unwrap_or_default()));
        }
    }
    for (cluster, counts) in buckets {
        let entry = report(&mut reports, &cluster);
        entry.apply_p50_us = percentile(&counts, 50);
        entry.apply_p99_us = percentile(&counts, 99);
    }
    reports.into_values().collect()
}

/// The nearest-rank `p`th percentile of bucketed times: the lower bound of the bucket holding
/// the ⌈p·N/100⌉th smallest.
fn percentile(buckets: &std::collections::BTreeMap<i64, u64>, p: u64) -> i64 {
    let total: u64 = buckets.values().sum();
    let rank = (total * p).div_ceil(100).max(1);
    let mut seen = 0;
    for (bucket, n) in buckets {
        seen += n;
        if seen >= rank {
            return bucket_us(*bucket);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_start_where_their_sql_puts_them() {
        // The SQL's bucket of t µs, mirrored: bucket_us(bucket(t)) <= t < the next bucket's.
        let bucket = |t: i64| match t {
            ..0 => 0,
            0..1_000_000 => t / 1_000,
            1_000_000..60_000_000 => 1_000 + (t - 1_000_000) / 100_000,
            _ => 1_590 + (t - 60_000_000) / 10_000_000,
        };
        for t in [
            0,
            999,
            1_000,
            999_999,
            1_000_000,
            1_099_999,
            59_999_999,
            60_000_000,
            3_600_000_000,
        ] {
            let b = bucket(t);
            assert!(
                bucket_us(b) <= t && t < bucket_us(b + 1),
                "{t} µs in bucket {b}"
            );
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_over_buckets() {
        let buckets: std::collections::BTreeMap<i64, u64> = (1..=100).map(|ms| (ms, 1)).collect();
        assert_eq!(percentile(&buckets, 50), 50_000);
        assert_eq!(percentile(&buckets, 99), 99_000);
        assert_eq!(percentile(&Default::default(), 50), 0);
    }

    #[test]
    fn a_filter_binds_only_what_is_given() {
        let mut filter = Filter::new(Dialect::Postgres);
        filter.text("cluster", "");
        filter.text("cluster", "east");
        filter.int("acked_us >= {}", Some(5));
        filter.prefix("organizations/acme/");
        assert_eq!(
            filter.sql(),
            "cluster = $1 AND acked_us >= $2 AND (fqn = $3 OR (fqn > $4 AND fqn < $5))"
        );
        assert_eq!(filter.binds.len(), 5);
        assert_eq!(Filter::new(Dialect::Sqlite).sql(), "1 = 1");
    }
}
