//! Row shapes shared by both backends (`FromRow` is generic over the database) and their
//! conversions to the store's public types.

use std::collections::BTreeMap;

use sqlx::types::Json;

use super::{AuditEntry, ChangeEvent, Record, TokenRecord};

/// A `resources` row.
#[derive(sqlx::FromRow)]
pub(super) struct ResourceRow {
    fqn: String,
    kind: String,
    api_version: String,
    name: String,
    parent_fqn: Option<String>,
    namespace: Option<String>,
    spec: Json<serde_json::Value>,
    labels: Json<BTreeMap<String, String>>,
    annotations: Json<BTreeMap<String, String>>,
    origin: Json<serde_json::Value>,
    content_hash: String,
    etag: String,
    revision: i64,
}

impl From<ResourceRow> for Record {
    fn from(row: ResourceRow) -> Record {
        Record {
            fqn: row.fqn,
            kind: row.kind,
            api_version: row.api_version,
            name: row.name,
            parent_fqn: row.parent_fqn,
            namespace: row.namespace,
            spec: row.spec.0,
            labels: row.labels.0,
            annotations: row.annotations.0,
            origin: row.origin.0,
            content_hash: row.content_hash,
            etag: row.etag,
            revision: row.revision,
        }
    }
}

/// A `revisions` row.
#[derive(sqlx::FromRow)]
pub(super) struct ChangeRow {
    revision: i64,
    fqn: String,
    kind: String,
    record: Option<Json<Record>>,
}

impl From<ChangeRow> for ChangeEvent {
    fn from(row: ChangeRow) -> ChangeEvent {
        ChangeEvent {
            revision: row.revision,
            fqn: row.fqn,
            kind: row.kind,
            record: row.record.map(|r| r.0),
        }
    }
}

/// An `audit` row (without `at_us`, which only serves the filters).
#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    time: String,
    actor: String,
    origin: Json<serde_json::Value>,
    operation: String,
    fqn: String,
    kind: String,
    before_hash: String,
    after_hash: String,
    revision: i64,
    outcome: String,
    message: String,
    forced: bool,
    dry_run: bool,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> AuditEntry {
        AuditEntry {
            id: row.id,
            time: row.time,
            actor: row.actor,
            origin: row.origin.0,
            operation: row.operation,
            fqn: row.fqn,
            kind: row.kind,
            before_hash: row.before_hash,
            after_hash: row.after_hash,
            revision: row.revision,
            outcome: row.outcome,
            message: row.message,
            forced: row.forced,
            dry_run: row.dry_run,
        }
    }
}

/// A `tokens` row.
#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    hash: String,
    name: String,
    subject: String,
    role: String,
    scope: String,
    created: String,
    revoked: Option<String>,
}

impl From<TokenRow> for TokenRecord {
    fn from(row: TokenRow) -> TokenRecord {
        TokenRecord {
            hash: row.hash,
            name: row.name,
            subject: row.subject,
            role: row.role,
            scope: row.scope,
            created: row.created,
            revoked: row.revoked,
        }
    }
}

/// A `grants` row.
#[derive(sqlx::FromRow)]
pub(super) struct GrantRow {
    pub(super) cluster: String,
    pub(super) scope: String,
}

/// An `inventories` row.
#[derive(sqlx::FromRow)]
pub(super) struct InventoryRow {
    pub(super) cluster: String,
    pub(super) namespaces: Json<BTreeMap<String, BTreeMap<String, String>>>,
}

/// Assembles cluster records from the three cluster tables (`names` sorted).
pub(super) fn clusters(
    names: Vec<String>,
    grants: Vec<GrantRow>,
    inventories: Vec<InventoryRow>,
) -> Vec<super::ClusterRecord> {
    let mut by_name: BTreeMap<String, super::ClusterRecord> = names
        .into_iter()
        .map(|name| {
            let record = super::ClusterRecord {
                name: name.clone(),
                grants: Vec::new(),
                namespaces: BTreeMap::new(),
            };
            (name, record)
        })
        .collect();
    for grant in grants {
        if let Some(cluster) = by_name.get_mut(&grant.cluster) {
            cluster.grants.push(grant.scope);
        }
    }
    for inventory in inventories {
        if let Some(cluster) = by_name.get_mut(&inventory.cluster) {
            cluster.namespaces = inventory.namespaces.0;
        }
    }
    for cluster in by_name.values_mut() {
        cluster.grants.sort();
    }
    by_name.into_values().collect()
}
