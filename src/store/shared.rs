//! What both backends do alike: the SQL dialect, and the store methods whose statements and
//! rows are the same on SQLite and PostgreSQL once placeholders and casts are spelled for each.
//!
//! Writes that need more than one statement to be right with several replicas (commits, token
//! revocation, delivery writes) stay in each backend: PostgreSQL runs them as one function call,
//! SQLite as one `BEGIN IMMEDIATE` transaction on its single writer.
//!
//! Each backend provides the hooks the shared methods use: `reader()` and `writer()` (the pools
//! reads and writes go through; one pool on PostgreSQL), `read_tx()` (one snapshot for several
//! reads) and `write_tx()`.

use std::collections::BTreeMap;

use sqlx::types::Json;

use super::delivery::{self, ClusterRow, EdgeRow};
use super::rows::{AuditRow, ChangeRow, GrantRow, InventoryRow, ResourceRow, TokenRow};
use super::{
    AuditEntry, AuditQuery, ChangeEvent, ClusterDelivery, ClusterRecord, DeliveryChanges,
    EdgeRecord, Error, Record, Result, TokenRecord,
};

/// The SQL dialect: placeholders, casts and JSON access differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `text`, written with `?N` placeholders and PostgreSQL `::type` casts, in this dialect:
    /// placeholders become `$N` on PostgreSQL; casts are dropped on SQLite, whose columns take
    /// any type; and `HASH(x)` is the content hash inside the revision record `x`.
    pub(super) fn sql(self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 32);
        let mut rest = text;
        while let Some(at) = rest.find("HASH(") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 5..];
            let close = after.find(')').unwrap_or(after.len());
            let record = &after[..close];
            match self {
                Dialect::Sqlite => {
                    out.push_str(&format!("json_extract({record}, '$.content_hash')"));
                }
                Dialect::Postgres => out.push_str(&format!("({record} ->> 'content_hash')")),
            }
            rest = after.get(close + 1..).unwrap_or_default();
        }
        out.push_str(rest);
        match self {
            Dialect::Sqlite => drop_casts(&out),
            Dialect::Postgres => out.replace('?', "$"),
        }
    }
}

/// `text` without its `::type` casts.
fn drop_casts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("::") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// A statement in `$dialect`, translated once per call site.
macro_rules! sql {
    ($dialect:expr, $text:expr) => {{
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| $dialect.sql($text));
        SQL.as_str()
    }};
}

/// The methods both stores share, for `$store` on `$db` in `$dialect`; `$lock` is what a cluster's row
/// is read with to keep it until the transaction ends (SQLite's write transaction holds the
/// whole file).
macro_rules! shared_methods {
    ($store:ty, $db:ty, $dialect:expr, $lock:literal) => {
        impl $store {
            pub(in crate::store) async fn get(&self, fqn: &str) -> Result<Option<Record>> {
                let row: Option<ResourceRow> =
                    sqlx::query_as(sql!($dialect, "SELECT * FROM resources WHERE fqn = ?1"))
                        .bind(fqn)
                        .fetch_optional(self.reader())
                        .await?;
                Ok(row.map(Record::from))
            }

            pub(in crate::store) async fn list(
                &self,
                fqn_prefix: Option<&str>,
                kind: Option<&str>,
            ) -> Result<Vec<Record>> {
                let (lower, upper) = super::descendant_bounds(fqn_prefix);
                let rows: Vec<ResourceRow> = sqlx::query_as(sql!(
                    $dialect,
                    "SELECT * FROM resources \
                     WHERE fqn > ?1 AND (?2::text IS NULL OR fqn < ?2) \
                       AND (?3::text IS NULL OR kind = ?3) \
                     ORDER BY fqn"
                ))
                .bind(lower)
                .bind(upper)
                .bind(kind)
                .fetch_all(self.reader())
                .await?;
                Ok(rows.into_iter().map(Record::from).collect())
            }

            pub(in crate::store) async fn snapshot(&self) -> Result<(i64, Vec<Record>)> {
                let mut tx = self.read_tx().await?;
                let revision =
                    sqlx::query_scalar(sql!($dialect, "SELECT revision FROM meta WHERE id = 1"))
                        .fetch_one(&mut *tx)
                        .await?;
                let rows: Vec<ResourceRow> =
                    sqlx::query_as(sql!($dialect, "SELECT * FROM resources ORDER BY fqn"))
                        .fetch_all(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok((revision, rows.into_iter().map(Record::from).collect()))
            }

            pub(in crate::store) async fn revision(&self) -> Result<i64> {
                Ok(
                    sqlx::query_scalar(sql!($dialect, "SELECT revision FROM meta WHERE id = 1"))
                        .fetch_one(self.reader())
                        .await?,
                )
            }

            pub(in crate::store) async fn changes_since(
                &self,
                after: i64,
                limit: u32,
            ) -> Result<Vec<ChangeEvent>> {
                let rows: Vec<ChangeRow> = sqlx::query_as(sql!(
                    $dialect,
                    "SELECT revision, fqn, kind, record FROM revisions \
                     WHERE revision > ?1 ORDER BY revision LIMIT ?2"
                ))
                .bind(after)
                .bind(super::limit_or_default(limit))
                .fetch_all(self.reader())
                .await?;
                Ok(rows.into_iter().map(ChangeEvent::from).collect())
            }

            pub(in crate::store) async fn query_audit(
                &self,
                query: &AuditQuery,
            ) -> Result<Vec<AuditEntry>> {
                let prefix = super::normalize_prefix(Some(&query.fqn_prefix));
                let (lower, upper) = super::descendant_bounds(prefix);
                let rows: Vec<AuditRow> = sqlx::query_as(sql!(
                    $dialect,
                    "SELECT * FROM audit \
                     WHERE (?1::text IS NULL OR fqn = ?1 OR (fqn > ?2 AND fqn < ?3)) \
                       AND (?4 = '' OR kind = ?4) \
                       AND (?5 = '' OR actor = ?5) \
                       AND (?6 = '' OR actor = 'cluster:' || ?6) \
                       AND (?7 = '' OR operation = ?7) \
                       AND (?8::bigint IS NULL OR at_us >= ?8) \
                       AND (?9::bigint IS NULL OR at_us < ?9) \
                       AND (?11 = '' OR outcome = ?11) \
                       AND (?12 = 0 OR id < ?12) \
                       AND (?13 = '' OR fqn IN \
                            (SELECT l.fqn FROM ledger l WHERE l.cluster = ?13)) \
                       AND (?14 = '' OR fqn = ?14) \
                     ORDER BY id DESC LIMIT ?10"
                ))
                .bind(prefix)
                .bind(lower)
                .bind(upper)
                .bind(&query.kind)
                .bind(&query.actor)
                .bind(&query.cluster)
                .bind(&query.operation)
                .bind(super::bound(&query.since)?)
                .bind(super::bound(&query.until)?)
                .bind(super::limit_or_default(query.limit))
                .bind(&query.outcome)
                .bind(query.before_id)
                .bind(&query.target_cluster)
                .bind(&query.fqn)
                .fetch_all(self.reader())
                .await?;
                Ok(rows.into_iter().map(AuditEntry::from).collect())
            }

            pub(in crate::store) async fn create_cluster(&self, name: &str) -> Result<()> {
                let done = sqlx::query(sql!(
                    $dialect,
                    "INSERT INTO clusters (name) VALUES (?1) ON CONFLICT DO NOTHING"
                ))
                .bind(name)
                .execute(self.writer())
                .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::AlreadyExists {
                        what: format!("cluster {name:?}"),
                    });
                }
                Ok(())
            }

            pub(in crate::store) async fn get_cluster(
                &self,
                name: &str,
            ) -> Result<Option<ClusterRecord>> {
                let mut tx = self.read_tx().await?;
                let names: Vec<String> =
                    sqlx::query_scalar(sql!($dialect, "SELECT name FROM clusters WHERE name = ?1"))
                        .bind(name)
                        .fetch_all(&mut *tx)
                        .await?;
                if names.is_empty() {
                    return Ok(None);
                }
                let grants: Vec<GrantRow> =
                    sqlx::query_as(sql!($dialect, "SELECT * FROM grants WHERE cluster = ?1"))
                        .bind(name)
                        .fetch_all(&mut *tx)
                        .await?;
                let inventories: Vec<InventoryRow> = sqlx::query_as(sql!(
                    $dialect,
                    "SELECT * FROM inventories WHERE cluster = ?1"
                ))
                .bind(name)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(super::rows::clusters(names, grants, inventories).pop())
            }

            pub(in crate::store) async fn list_clusters(&self) -> Result<Vec<ClusterRecord>> {
                let mut tx = self.read_tx().await?;
                let names: Vec<String> =
                    sqlx::query_scalar(sql!($dialect, "SELECT name FROM clusters ORDER BY name"))
                        .fetch_all(&mut *tx)
                        .await?;
                let grants: Vec<GrantRow> = sqlx::query_as(sql!($dialect, "SELECT * FROM grants"))
                    .fetch_all(&mut *tx)
                    .await?;
                let inventories: Vec<InventoryRow> =
                    sqlx::query_as(sql!($dialect, "SELECT * FROM inventories"))
                        .fetch_all(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok(super::rows::clusters(names, grants, inventories))
            }

            pub(in crate::store) async fn grant(&self, cluster: &str, scope: &str) -> Result<()> {
                let statement = sql!(
                    $dialect,
                    "INSERT INTO grants (cluster, scope) VALUES (?1, ?2) ON CONFLICT DO NOTHING"
                );
                self.change_grant(cluster, scope, statement).await
            }

            pub(in crate::store) async fn revoke(&self, cluster: &str, scope: &str) -> Result<()> {
                let statement = sql!(
                    $dialect,
                    "DELETE FROM grants WHERE cluster = ?1 AND scope = ?2"
                );
                self.change_grant(cluster, scope, statement).await
            }

            /// Runs a grant's `statement` once the cluster is known to exist.
            async fn change_grant(
                &self,
                cluster: &str,
                scope: &str,
                statement: &'static str,
            ) -> Result<()> {
                let mut tx = self.write_tx().await?;
                Self::require_cluster(&mut tx, cluster).await?;
                sqlx::query(statement)
                    .bind(cluster)
                    .bind(scope)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            /// [`Error::NotFound`] unless the cluster is registered; its row is kept until the
            /// transaction ends, so the cluster cannot be deleted under the write.
            async fn require_cluster(
                conn: &mut <$db as sqlx::Database>::Connection,
                cluster: &str,
            ) -> Result<()> {
                let found: Option<String> = sqlx::query_scalar(sql!(
                    $dialect,
                    concat!("SELECT name FROM clusters WHERE name = ?1", $lock)
                ))
                .bind(cluster)
                .fetch_optional(&mut *conn)
                .await?;
                match found {
                    Some(_) => Ok(()),
                    None => Err(Error::NotFound {
                        what: format!("cluster {cluster:?}"),
                    }),
                }
            }

            pub(in crate::store) async fn set_namespaces(
                &self,
                cluster: &str,
                namespaces: BTreeMap<String, BTreeMap<String, String>>,
            ) -> Result<()> {
                let mut tx = self.write_tx().await?;
                Self::require_cluster(&mut tx, cluster).await?;
                sqlx::query(sql!(
                    $dialect,
                    "INSERT INTO inventories (cluster, namespaces) VALUES (?1, ?2) \
                     ON CONFLICT (cluster) DO UPDATE SET namespaces = excluded.namespaces"
                ))
                .bind(cluster)
                .bind(Json(namespaces))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            pub(in crate::store) async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
                let rows: Vec<TokenRow> =
                    sqlx::query_as(sql!($dialect, "SELECT * FROM tokens ORDER BY name"))
                        .fetch_all(self.reader())
                        .await?;
                Ok(rows.into_iter().map(TokenRecord::from).collect())
            }

            pub(in crate::store) async fn find_token(
                &self,
                hash: &str,
            ) -> Result<Option<TokenRecord>> {
                let row: Option<TokenRow> =
                    sqlx::query_as(sql!($dialect, "SELECT * FROM tokens WHERE hash = ?1"))
                        .bind(hash)
                        .fetch_optional(self.reader())
                        .await?;
                Ok(row.map(TokenRecord::from))
            }

            pub(in crate::store) async fn hold_deletions(
                &self,
                cluster: &str,
                fqns: &[String],
            ) -> Result<()> {
                sqlx::query(sql!(
                    $dialect,
                    "INSERT INTO held_deletions (cluster, fqns) VALUES (?1, ?2) \
                     ON CONFLICT (cluster) DO UPDATE SET fqns = excluded.fqns"
                ))
                .bind(cluster)
                .bind(Json(fqns))
                .execute(self.writer())
                .await?;
                Ok(())
            }

            pub(in crate::store) async fn take_deletions(
                &self,
                cluster: &str,
            ) -> Result<Option<Vec<String>>> {
                let held: Option<Json<Vec<String>>> = sqlx::query_scalar(sql!(
                    $dialect,
                    "DELETE FROM held_deletions WHERE cluster = ?1 RETURNING fqns"
                ))
                .bind(cluster)
                .fetch_optional(self.writer())
                .await?;
                Ok(held.map(|held| held.0))
            }

            pub(in crate::store) async fn delivery_since(
                &self,
                after: i64,
                limit: u32,
            ) -> Result<DeliveryChanges> {
                let limit = super::limit_or_default(limit);
                // Both tables from one snapshot (else a write committing between the two reads
                // could show its edges but not its cluster rows, and last_seq would skip those).
                let mut tx = self.read_tx().await?;
                let clusters: Vec<ClusterRow> = sqlx::query_as(sql!(
                    $dialect,
                    "SELECT * FROM delivery_clusters WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                ))
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                let edges: Vec<EdgeRow> = sqlx::query_as(sql!(
                    $dialect,
                    "SELECT cluster, source, state, revision, NULL::JSONB AS objects, seq \
                     FROM delivery_edges WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                ))
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(delivery::feed_rows(after, limit, clusters, edges))
            }

            pub(in crate::store) async fn cluster_delivery(
                &self,
                cluster: &str,
            ) -> Result<(Option<ClusterDelivery>, Vec<EdgeRecord>)> {
                let mut tx = self.read_tx().await?;
                let row: Option<ClusterRow> = sqlx::query_as(sql!(
                    $dialect,
                    "SELECT * FROM delivery_clusters WHERE cluster = ?1"
                ))
                .bind(cluster)
                .fetch_optional(&mut *tx)
                .await?;
                let edges: Vec<EdgeRow> = sqlx::query_as(sql!(
                    $dialect,
                    "SELECT * FROM delivery_edges WHERE cluster = ?1 AND state IS NOT NULL \
                     ORDER BY source"
                ))
                .bind(cluster)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(delivery::cluster_rows(row, edges))
            }

            pub(in crate::store) async fn delivery_clusters(&self) -> Result<Vec<ClusterDelivery>> {
                let rows: Vec<ClusterRow> = sqlx::query_as(sql!(
                    $dialect,
                    "SELECT * FROM delivery_clusters ORDER BY cluster"
                ))
                .fetch_all(self.reader())
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            pub(in crate::store) async fn source_edges(
                &self,
                source: &str,
                clusters: &[String],
            ) -> Result<Vec<EdgeRecord>> {
                let mut found = Vec::new();
                for cluster in clusters {
                    let row: Option<EdgeRow> = sqlx::query_as(sql!(
                        $dialect,
                        "SELECT * FROM delivery_edges WHERE cluster = ?1 AND source = ?2 \
                         AND state IS NOT NULL"
                    ))
                    .bind(cluster)
                    .bind(source)
                    .fetch_optional(self.reader())
                    .await?;
                    found.extend(row.map(EdgeRecord::from));
                }
                Ok(found)
            }
        }
    };
}

shared_methods!(
    super::sqlite::SqliteStore,
    sqlx::Sqlite,
    Dialect::Sqlite,
    ""
);
shared_methods!(
    super::postgres::PgStore,
    sqlx::Postgres,
    Dialect::Postgres,
    " FOR SHARE"
);

#[cfg(test)]
mod tests {
    use super::Dialect;

    #[test]
    fn each_dialect_spells_placeholders_casts_and_hashes_its_way() {
        let text = "SELECT NULL::JSONB AS o FROM t WHERE (?1::text IS NULL OR a = ?1) \
                    AND HASH(p.record) = ?2 AND b = 'x:y'";
        assert_eq!(
            Dialect::Sqlite.sql(text),
            "SELECT NULL AS o FROM t WHERE (?1 IS NULL OR a = ?1) \
             AND json_extract(p.record, '$.content_hash') = ?2 AND b = 'x:y'"
        );
        assert_eq!(
            Dialect::Postgres.sql(text),
            "SELECT NULL::JSONB AS o FROM t WHERE ($1::text IS NULL OR a = $1) \
             AND (p.record ->> 'content_hash') = $2 AND b = 'x:y'"
        );
    }
}
