//! `ctl history`, `ctl deliveries`, `ctl report` and `ctl audit`: the audit and delivery
//! ledgers through the API, paged (docs/ledger.md).

use clap::Args;
use serde_json::{Value, json};

use super::output::{Format, print_value, table};
use crate::proto::v1;

/// Rows asked for per API call while paging.
const PAGE: u32 = 1_000;

/// `ctl audit` filters.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Only entries at or below this FQN.
    #[arg(long, env = "TSBRIDGE_AUDIT_FQN_PREFIX")]
    pub fqn_prefix: Option<String>,
    /// Only entries about objects delivered to this target cluster (the delivery ledger).
    #[arg(long, env = "TSBRIDGE_AUDIT_CLUSTER")]
    pub cluster: Option<String>,
    /// Only this kind (`Workspace.tsb.tetrate.io`, …).
    #[arg(long, env = "TSBRIDGE_AUDIT_KIND")]
    pub kind: Option<String>,
    /// Only entries at or after this RFC 3339 time.
    #[arg(long, env = "TSBRIDGE_AUDIT_SINCE")]
    pub since: Option<String>,
    /// Only entries before this RFC 3339 time.
    #[arg(long, env = "TSBRIDGE_AUDIT_UNTIL")]
    pub until: Option<String>,
    /// Only this actor (`user:NAME`, `cluster:NAME`: where the change came from).
    #[arg(long, env = "TSBRIDGE_AUDIT_ACTOR")]
    pub actor: Option<String>,
    /// Only this operation (apply, delete, grant, …).
    #[arg(long, env = "TSBRIDGE_AUDIT_OPERATION")]
    pub operation: Option<String>,
    /// Only this outcome (ok, rejected, dry-run, held, paced).
    #[arg(long, env = "TSBRIDGE_AUDIT_OUTCOME")]
    pub outcome: Option<String>,
    /// Start below this entry id (the last id of a previous listing).
    #[arg(long, env = "TSBRIDGE_AUDIT_BEFORE", default_value_t = 0)]
    pub before: i64,
    /// At most this many entries, fetched a page at a time.
    #[arg(long, env = "TSBRIDGE_AUDIT_LIMIT", default_value_t = 100)]
    pub limit: u32,
}

/// `ctl deliveries` filters.
#[derive(Debug, Clone, Args)]
pub struct DeliveriesArgs {
    /// Only this object.
    #[arg(long, env = "TSBRIDGE_DELIVERIES_FQN")]
    pub fqn: Option<String>,
    /// Only objects at or below this FQN.
    #[arg(long, env = "TSBRIDGE_DELIVERIES_FQN_PREFIX")]
    pub fqn_prefix: Option<String>,
    /// Only this target cluster.
    #[arg(long, env = "TSBRIDGE_DELIVERIES_CLUSTER")]
    pub cluster: Option<String>,
    /// Only this outcome (applied, failed, ignored, pruned, reverted).
    #[arg(long, env = "TSBRIDGE_DELIVERIES_OUTCOME")]
    pub outcome: Option<String>,
    /// Acknowledged at or after this RFC 3339 time.
    #[arg(long, env = "TSBRIDGE_DELIVERIES_SINCE")]
    pub since: Option<String>,
    /// Acknowledged before this RFC 3339 time.
    #[arg(long, env = "TSBRIDGE_DELIVERIES_UNTIL")]
    pub until: Option<String>,
    /// At most this many rows, fetched a page at a time.
    #[arg(long, env = "TSBRIDGE_DELIVERIES_LIMIT", default_value_t = 100)]
    pub limit: u32,
}

/// `ctl report` window.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Only objects at or below this FQN (a tenant, a workspace, …); empty: everything.
    #[arg(long, env = "TSBRIDGE_REPORT_FQN_PREFIX")]
    pub fqn_prefix: Option<String>,
    /// From this RFC 3339 time, or a duration back from now (`7d`, `24h`).
    #[arg(long, env = "TSBRIDGE_REPORT_SINCE", default_value = "7d")]
    pub since: String,
    /// Until this RFC 3339 time (default: now).
    #[arg(long, env = "TSBRIDGE_REPORT_UNTIL")]
    pub until: Option<String>,
}

/// `7d` back from now, or an RFC 3339 time as given.
fn since(text: &str) -> anyhow::Result<String> {
    if text.contains('T') {
        return Ok(text.to_string());
    }
    let back = crate::runtime::keepalive::parse_duration(text)
        .map_err(|e| anyhow::anyhow!("--since {text:?}: an RFC 3339 time or a duration: {e}"))?;
    let span = jiff::SignedDuration::try_from(back)?;
    Ok(jiff::Timestamp::now().checked_sub(span)?.to_string())
}

/// Up to `limit` items, newest first, a page at a time from `before_id` down: `fetch` takes
/// the cursor and the page size, and answers a page and the next cursor (0 at the end).
async fn paged<T, F, Fut>(
    limit: u32,
    mut before_id: i64,
    mut fetch: F,
) -> Result<Vec<T>, tonic::Status>
where
    F: FnMut(i64, u32) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, i64), tonic::Status>>,
{
    let mut items: Vec<T> = Vec::new();
    while items.len() < limit as usize {
        let want = (limit - items.len() as u32).min(PAGE);
        let (page, next) = fetch(before_id, want).await?;
        items.extend(page);
        if next == 0 {
            break;
        }
        before_id = next;
    }
    Ok(items)
}

/// The audit entries the filters select, newest first, paging through the API.
pub async fn audit(
    client: &mut super::client::Client,
    args: AuditArgs,
) -> Result<Vec<v1::AuditEntry>, tonic::Status> {
    let query = v1::AuditQuery {
        fqn_prefix: args.fqn_prefix.unwrap_or_default(),
        kind: args.kind.unwrap_or_default(),
        actor: args.actor.unwrap_or_default(),
        operation: args.operation.unwrap_or_default(),
        since: args.since.unwrap_or_default(),
        until: args.until.unwrap_or_default(),
        outcome: args.outcome.unwrap_or_default(),
        target_cluster: args.cluster.unwrap_or_default(),
        ..Default::default()
    };
    paged(args.limit, args.before, |before_id, limit| {
        let mut audit = client.audit.clone();
        let query = v1::AuditQuery {
            before_id,
            limit,
            ..query.clone()
        };
        async move {
            let page = audit.query(query).await?.into_inner();
            Ok((page.entries, page.next_before_id))
        }
    })
    .await
}

/// The ledger rows the filters select, newest first, paging through the API.
pub async fn deliveries(
    client: &mut super::client::Client,
    args: DeliveriesArgs,
) -> Result<Vec<v1::LedgerRow>, tonic::Status> {
    let request = v1::DeliveriesRequest {
        fqn: args.fqn.unwrap_or_default(),
        fqn_prefix: args.fqn_prefix.unwrap_or_default(),
        cluster: args.cluster.unwrap_or_default(),
        outcome: args.outcome.unwrap_or_default(),
        since: args.since.unwrap_or_default(),
        until: args.until.unwrap_or_default(),
        ..Default::default()
    };
    paged(args.limit, 0, |before_id, limit| {
        let mut ledger = client.ledger.clone();
        let request = v1::DeliveriesRequest {
            before_id,
            limit,
            ..request.clone()
        };
        async move {
            let page = ledger.deliveries(request).await?.into_inner();
            Ok((page.deliveries, page.next_before_id))
        }
    })
    .await
}

/// The report request of `args`.
pub fn report_request(args: ReportArgs) -> anyhow::Result<v1::ReportRequest> {
    Ok(v1::ReportRequest {
        fqn_prefix: args.fqn_prefix.unwrap_or_default(),
        since: since(&args.since)?,
        until: args.until.unwrap_or_default(),
    })
}

fn row_json(d: &v1::LedgerRow) -> Value {
    json!({
        "id": d.id, "fqn": d.fqn, "cluster": d.cluster, "revision": d.revision,
        "change": d.change, "outcome": d.outcome, "message": d.message,
        "rollback": d.rollback, "committed": d.committed, "sent": d.sent,
        "acknowledged": d.acknowledged,
    })
}

/// One object's history: a row per revision and cluster.
pub fn print_history(format: Format, history: &v1::HistoryResponse) -> anyhow::Result<()> {
    if format != Format::Table {
        let revisions: Vec<Value> = history
            .revisions
            .iter()
            .map(|r| {
                json!({
                    "revision": r.revision, "committed": r.committed, "op": r.op,
                    "contentHash": r.content_hash, "rollback": r.rollback, "actor": r.actor,
                    "origin": serde_json::from_str::<Value>(&r.origin_json).unwrap_or(Value::Null),
                    "deliveries": r.deliveries.iter().map(row_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        let redeliveries: Vec<Value> = history.redeliveries.iter().map(row_json).collect();
        return print_value(
            format,
            &json!({"revisions": revisions, "redeliveries": redeliveries}),
        );
    }
    let mut rows = Vec::new();
    for revision in &history.revisions {
        let op = if revision.rollback {
            format!("{} (rollback)", revision.op)
        } else {
            revision.op.clone()
        };
        let head = [
            revision.revision.to_string(),
            revision.committed.clone(),
            op,
            revision.actor.clone(),
        ];
        if revision.deliveries.is_empty() {
            let mut row = head.to_vec();
            row.extend(["-".into(), "-".into(), String::new(), String::new()]);
            rows.push(row);
        }
        for d in &revision.deliveries {
            let mut row = head.to_vec();
            row.extend([
                d.cluster.clone(),
                d.outcome.clone(),
                d.acknowledged.clone(),
                d.message.clone(),
            ]);
            rows.push(row);
        }
    }
    for d in &history.redeliveries {
        rows.push(vec![
            d.revision.to_string(),
            String::new(),
            "(re-delivery)".into(),
            String::new(),
            d.cluster.clone(),
            d.outcome.clone(),
            d.acknowledged.clone(),
            d.message.clone(),
        ]);
    }
    table(
        &[
            "REVISION",
            "COMMITTED",
            "OP",
            "BY",
            "CLUSTER",
            "OUTCOME",
            "ACKNOWLEDGED",
            "MESSAGE",
        ],
        rows,
    );
    Ok(())
}

/// Ledger rows.
pub fn print_deliveries(format: Format, rows: &[v1::LedgerRow]) -> anyhow::Result<()> {
    if format != Format::Table {
        return print_value(format, &Value::Array(rows.iter().map(row_json).collect()));
    }
    table(
        &[
            "ID",
            "ACKNOWLEDGED",
            "CLUSTER",
            "OUTCOME",
            "FQN",
            "REVISION",
            "MESSAGE",
        ],
        rows.iter()
            .map(|d| {
                let outcome = if d.rollback {
                    format!("{} (rollback)", d.outcome)
                } else {
                    d.outcome.clone()
                };
                vec![
                    d.id.to_string(),
                    d.acknowledged.clone(),
                    d.cluster.clone(),
                    outcome,
                    d.fqn.clone(),
                    d.revision.to_string(),
                    d.message.clone(),
                ]
            })
            .collect(),
    );
    Ok(())
}

/// The report, one row per cluster, then each cluster's top failure reasons.
pub fn print_report(format: Format, report: &v1::ReportResponse) -> anyhow::Result<()> {
    if format != Format::Table {
        let clusters: Vec<Value> = report
            .clusters
            .iter()
            .map(|c| {
                json!({
                    "cluster": c.cluster, "applied": c.applied, "failed": c.failed,
                    "ignored": c.ignored, "pruned": c.pruned, "reverted": c.reverted,
                    "rolledBack": c.rolled_back, "applyP50Ms": c.apply_p50_ms,
                    "applyP99Ms": c.apply_p99_ms,
                    "topFailures": c.top_failures.iter()
                        .map(|f| json!({"message": f.message, "count": f.count}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        return print_value(format, &json!({ "clusters": clusters }));
    }
    table(
        &[
            "CLUSTER",
            "APPLIED",
            "FAILED",
            "ROLLED-BACK",
            "REVERTED",
            "PRUNED",
            "IGNORED",
            "P50",
            "P99",
        ],
        report
            .clusters
            .iter()
            .map(|c| {
                vec![
                    c.cluster.clone(),
                    c.applied.to_string(),
                    c.failed.to_string(),
                    c.rolled_back.to_string(),
                    c.reverted.to_string(),
                    c.pruned.to_string(),
                    c.ignored.to_string(),
                    format!("{} ms", c.apply_p50_ms),
                    format!("{} ms", c.apply_p99_ms),
                ]
            })
            .collect(),
    );
    for c in report
        .clusters
        .iter()
        .filter(|c| !c.top_failures.is_empty())
    {
        println!("\n{}: top failures", c.cluster);
        for f in &c.top_failures {
            println!("  {:>5}  {}", f.count, f.message);
        }
    }
    Ok(())
}
