//! `tsbridge.v1.LedgerService`: the delivery ledger's questions (docs/ledger.md). A caller
//! sees what its token's scope may read; a report over everything is for admins.

use std::collections::{BTreeMap, HashSet};

use tonic::{Request, Response, Status};

use crate::model::fqn::Fqn;
use crate::proto::v1;
use crate::proto::v1::ledger_service_server::LedgerService;
use crate::server::auth::{Actor, Authenticator};
use crate::server::engine::Engine;
use crate::server::error::{Error, to_status};
use crate::server::services::{caller, denied};
use crate::store::{AuditEntry, AuditQuery, LedgerEntry, LedgerQuery, ObjectChange, Outcome};

/// Most rows one history or page reads.
const MOST: u32 = 10_000;

/// The ledger service.
#[derive(Debug, Clone)]
pub struct LedgerApi {
    /// Store access.
    pub engine: Engine,
    /// Who calls.
    pub auth: Authenticator,
}

/// RFC 3339 of µs since the epoch; empty for 0 (unknown).
fn time(us: i64) -> String {
    if us <= 0 {
        return String::new();
    }
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A ledger row on the wire.
pub fn delivery_to_proto(entry: &LedgerEntry) -> v1::LedgerRow {
    v1::LedgerRow {
        id: entry.id,
        fqn: entry.fqn.clone(),
        cluster: entry.cluster.clone(),
        revision: entry.revision,
        change: entry.change,
        outcome: entry.outcome.as_str().to_string(),
        message: entry.message.clone(),
        rollback: entry.rollback,
        committed: time(entry.committed_us),
        sent: time(entry.sent_us),
        acknowledged: time(entry.acked_us),
    }
}

/// An object's history from its revision log, its audit rows and its ledger rows (pure): each
/// revision with who made it and what became of it in each cluster; a revision whose content
/// an earlier one had is a rollback.
pub fn history(
    changes: &[ObjectChange],
    audit: &[AuditEntry],
    deliveries: &[LedgerEntry],
) -> v1::HistoryResponse {
    let mut by_revision: BTreeMap<i64, Vec<v1::LedgerRow>> = BTreeMap::new();
    let mut redeliveries = Vec::new();
    let known: HashSet<i64> = changes.iter().map(|c| c.revision).collect();
    for entry in deliveries {
        if entry.change > 0 && known.contains(&entry.change) {
            by_revision
                .entry(entry.change)
                .or_default()
                .push(delivery_to_proto(entry));
        } else {
            redeliveries.push(delivery_to_proto(entry));
        }
    }
    let mut seen: HashSet<&str> = HashSet::new();
    let revisions = changes
        .iter()
        .map(|change| {
            let rollback = change.upsert && !seen.insert(change.content_hash.as_str());
            // The audit row of the write that made this revision (not a refusal).
            let made = audit
                .iter()
                .find(|a| a.revision == change.revision && a.outcome == "ok");
            v1::ObjectRevision {
                revision: change.revision,
                committed: time(change.at_us),
                op: if change.upsert { "upsert" } else { "delete" }.to_string(),
                content_hash: change.content_hash.clone(),
                rollback,
                actor: made.map(|a| a.actor.clone()).unwrap_or_default(),
                origin_json: made
                    .filter(|a| !a.origin.is_null())
                    .map(|a| a.origin.to_string())
                    .unwrap_or_default(),
                deliveries: by_revision.remove(&change.revision).unwrap_or_default(),
            }
        })
        .collect();
    v1::HistoryResponse {
        revisions,
        redeliveries,
    }
}

/// `fqn`'s history as `History` answers it (`ctl history`, the console's object page), and
/// the audit rows of exactly `fqn` it was built from, newest first: read from the store, so it
/// is the same on every replica and after a restart.
pub async fn object_history(
    store: &crate::store::Store,
    fqn: &str,
) -> Result<(v1::HistoryResponse, Vec<AuditEntry>), crate::store::Error> {
    let changes = store.object_changes(fqn).await?;
    // Exactly this object: a prefix would let its children's entries fill the limit.
    let audit: Vec<AuditEntry> = store
        .query_audit(&AuditQuery {
            fqn: fqn.to_string(),
            limit: MOST,
            ..AuditQuery::default()
        })
        .await?;
    let deliveries = store
        .query_ledger(&LedgerQuery {
            fqn: fqn.to_string(),
            limit: MOST,
            ..LedgerQuery::default()
        })
        .await?;
    Ok((history(&changes, &audit, &deliveries), audit))
}

impl LedgerApi {
    /// Checks the caller may read under `fqn` (an FQN or a prefix; empty: everything, admins).
    async fn may_read(&self, actor: &Actor, operation: &str, fqn: &str) -> Result<(), Status> {
        let allowed = if fqn.is_empty() {
            actor.require_admin()
        } else {
            match fqn.trim_end_matches('/').parse::<Fqn>() {
                Ok(parsed) => actor.authorize_read(&parsed),
                Err(error) => {
                    return Err(Status::invalid_argument(format!(
                        "{fqn:?} is not an FQN: {error}"
                    )));
                }
            }
        };
        match allowed {
            Ok(()) => Ok(()),
            Err(error) => Err(to_status(
                denied(&self.engine, actor, operation, fqn, error).await,
            )),
        }
    }
}

fn store_error(error: crate::store::Error) -> Status {
    to_status(Error::from(error))
}

#[tonic::async_trait]
impl LedgerService for LedgerApi {
    async fn history(
        &self,
        request: Request<v1::HistoryRequest>,
    ) -> Result<Response<v1::HistoryResponse>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "history")
            .await
            .map_err(to_status)?;
        let fqn = request.into_inner().fqn;
        if fqn.is_empty() {
            return Err(Status::invalid_argument("give the FQN of the object"));
        }
        self.may_read(&actor, "history", &fqn).await?;
        let (history, _) = object_history(self.engine.store(), &fqn)
            .await
            .map_err(store_error)?;
        if history.revisions.is_empty() && history.redeliveries.is_empty() {
            return Err(Status::not_found(format!("{fqn} has no history")));
        }
        Ok(Response::new(history))
    }

    async fn deliveries(
        &self,
        request: Request<v1::DeliveriesRequest>,
    ) -> Result<Response<v1::DeliveriesResponse>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "deliveries")
            .await
            .map_err(to_status)?;
        let request = request.into_inner();
        let scope = if request.fqn.is_empty() {
            &request.fqn_prefix
        } else {
            &request.fqn
        };
        self.may_read(&actor, "deliveries", scope).await?;
        let outcome = match request.outcome.as_str() {
            "" => None,
            name => Some(Outcome::from_name(name).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "outcome {name:?}: use applied, failed, ignored, pruned or reverted"
                ))
            })?),
        };
        let limit = if request.limit == 0 {
            1_000
        } else {
            request.limit.min(MOST)
        };
        let rows = self
            .engine
            .store()
            .query_ledger(&LedgerQuery {
                fqn: request.fqn,
                fqn_prefix: request.fqn_prefix,
                cluster: request.cluster,
                outcome,
                since: request.since,
                until: request.until,
                before_id: request.before_id,
                limit,
            })
            .await
            .map_err(store_error)?;
        let full = rows.len() == usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(Response::new(v1::DeliveriesResponse {
            next_before_id: if full {
                rows.last().map_or(0, |r| r.id)
            } else {
                0
            },
            deliveries: rows.iter().map(delivery_to_proto).collect(),
        }))
    }

    async fn report(
        &self,
        request: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::ReportResponse>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "report")
            .await
            .map_err(to_status)?;
        let request = request.into_inner();
        self.may_read(&actor, "report", &request.fqn_prefix).await?;
        let reports = self
            .engine
            .store()
            .ledger_report(&crate::store::ReportQuery {
                fqn_prefix: request.fqn_prefix,
                since: request.since,
                until: request.until,
            })
            .await
            .map_err(store_error)?;
        let ms = |us: i64| u64::try_from(us / 1_000).unwrap_or_default();
        Ok(Response::new(v1::ReportResponse {
            clusters: reports
                .into_iter()
                .map(|r| v1::ClusterReport {
                    cluster: r.cluster,
                    applied: r.applied,
                    failed: r.failed,
                    ignored: r.ignored,
                    pruned: r.pruned,
                    reverted: r.reverted,
                    rolled_back: r.rolled_back,
                    top_failures: r
                        .top_failures
                        .into_iter()
                        .map(|(message, count)| v1::FailureReason { message, count })
                        .collect(),
                    apply_p50_ms: ms(r.apply_p50_us),
                    apply_p99_ms: ms(r.apply_p99_us),
                })
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(revision: i64, hash: &str) -> ObjectChange {
        ObjectChange {
            revision,
            upsert: !hash.is_empty(),
            content_hash: hash.into(),
            at_us: 1_796_000_000_000_000 + revision,
        }
    }

    fn delivered(change: i64, cluster: &str, outcome: Outcome) -> LedgerEntry {
        LedgerEntry {
            id: change * 10,
            fqn: "organizations/acme/tenants/t".into(),
            cluster: cluster.into(),
            revision: change.max(9),
            change,
            outcome,
            message: String::new(),
            rollback: false,
            committed_us: 0,
            sent_us: 1,
            acked_us: 2,
        }
    }

    #[test]
    fn a_history_puts_each_outcome_under_its_revision_and_names_rollbacks() {
        let changes = [
            change(3, "h1"),
            change(5, "h2"),
            change(7, "h1"),
            change(8, ""),
        ];
        let mut made = AuditEntry {
            revision: 5,
            actor: "cluster:east".into(),
            outcome: "ok".into(),
            origin: serde_json::json!({"namespace": "config"}),
            ..AuditEntry::default()
        };
        let refused = AuditEntry {
            revision: 0,
            actor: "user:mallory".into(),
            outcome: "rejected".into(),
            ..AuditEntry::default()
        };
        let audit = vec![made.clone(), refused];
        made.revision = 3;
        let deliveries = [
            delivered(5, "east", Outcome::Applied),
            delivered(5, "west", Outcome::Failed),
            delivered(0, "west", Outcome::Applied),
        ];
        let shown = history(&changes, &audit, &deliveries);
        let revisions: Vec<(i64, bool, &str)> = shown
            .revisions
            .iter()
            .map(|r| (r.revision, r.rollback, r.op.as_str()))
            .collect();
        assert_eq!(
            revisions,
            [
                (3, false, "upsert"),
                (5, false, "upsert"),
                (7, true, "upsert"),
                (8, false, "delete")
            ]
        );
        let five = &shown.revisions[1];
        assert_eq!(five.actor, "cluster:east");
        assert_eq!(five.origin_json, r#"{"namespace":"config"}"#);
        let clusters: Vec<&str> = five.deliveries.iter().map(|d| d.cluster.as_str()).collect();
        assert_eq!(clusters, ["east", "west"]);
        assert!(
            shown.revisions[0].actor.is_empty(),
            "only the write that made it names one"
        );
        assert_eq!(shown.redeliveries.len(), 1);
        assert_eq!(shown.redeliveries[0].cluster, "west");
        assert!(five.committed.starts_with("2026-"), "{}", five.committed);
    }
}
