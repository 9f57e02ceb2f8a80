//! The activity page: the audit timeline, newest first, with the filters of `ctl audit`
//! (the delivery ledger's events join it once that ledger exists). A scoped token sees only
//! rows at or below its scope.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::model::Fqn;
use crate::server::auth::Actor;
use crate::server::error::Error;
use crate::server::ui::layout::{self, Nav, encode};
use crate::server::ui::session::Session;
use crate::server::ui::{Console, error_page};
use crate::store::{AuditEntry, AuditQuery};

/// Rows shown when no limit is given (`ctl audit`'s default).
pub const DEFAULT_LIMIT: u32 = 100;
/// Most rows one page shows.
pub const MAX_LIMIT: u32 = 1_000;

/// The filters of `ctl audit` (and the API's `AuditQuery`), from the query string.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ActivityQuery {
    /// At or below this FQN.
    #[serde(default)]
    pub fqn_prefix: String,
    /// This kind.
    #[serde(default)]
    pub kind: String,
    /// This actor (`user:NAME`, `cluster:NAME`).
    #[serde(default)]
    pub actor: String,
    /// Rows of `cluster:NAME`.
    #[serde(default)]
    pub cluster: String,
    /// This operation.
    #[serde(default)]
    pub operation: String,
    /// At or after (RFC 3339).
    #[serde(default)]
    pub since: String,
    /// Before (RFC 3339).
    #[serde(default)]
    pub until: String,
    /// At most this many rows.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// The store query for `actor`: its scope bounds the FQN prefix (rows on no object, such as
/// token and cluster operations, are then left out as well).
pub fn scoped_query(actor: &Actor, query: &ActivityQuery) -> Result<AuditQuery, Error> {
    let mut fqn_prefix = query.fqn_prefix.trim().to_string();
    if let Some(scope) = actor.scope() {
        let inside = fqn_prefix
            .parse::<Fqn>()
            .is_ok_and(|prefix| scope.covers(&prefix));
        if !inside {
            fqn_prefix = scope.to_string();
        }
    }
    for time in [&query.since, &query.until] {
        if !time.is_empty() && time.parse::<jiff::Timestamp>().is_err() {
            return Err(Error::BadRequest(format!(
                "{time:?} is not an RFC 3339 time (e.g. 2026-12-07T10:00:00Z)"
            )));
        }
    }
    Ok(AuditQuery {
        fqn_prefix,
        kind: query.kind.trim().to_string(),
        actor: query.actor.trim().to_string(),
        cluster: query.cluster.trim().to_string(),
        operation: query.operation.trim().to_string(),
        since: query.since.trim().to_string(),
        until: query.until.trim().to_string(),
        limit: query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        ..AuditQuery::default()
    })
}

/// The rows `actor` may see.
pub async fn activity(
    console: &Console,
    actor: &Actor,
    query: &ActivityQuery,
) -> Result<Vec<AuditEntry>, Error> {
    let query = scoped_query(actor, query)?;
    Ok(console.engine.store().query_audit(&query).await?)
}

/// Audit rows as a table (the object page's history too).
pub fn table(rows: &[AuditEntry]) -> Markup {
    html! {
        @if rows.is_empty() { p.empty { "No activity." } } @else {
            table.activity {
                thead { tr { th { "Time" } th { "Actor" } th { "Operation" } th { "Object" } th { "Outcome" } th { "Revision" } th { "Message" } } }
                tbody {
                    @for row in rows {
                        tr {
                            td.time { (row.time) }
                            td { (row.actor) }
                            td { (row.operation) @if row.forced { " (forced)" } }
                            td { @if !row.fqn.is_empty() { a href={ "/object?fqn=" (encode(&row.fqn)) } { (row.fqn) } } }
                            td { span class={ "badge " (if row.outcome == "ok" { "ok" } else if row.outcome == "rejected" { "bad" } else { "neutral" }) } { (row.outcome) } }
                            td { @if row.revision > 0 { (row.revision) } }
                            td { (row.message) }
                        }
                    }
                }
            }
        }
    }
}

/// Renders the page body.
pub fn render(query: &ActivityQuery, rows: &[AuditEntry]) -> Markup {
    let field = |name: &str, value: &str, hint: &str| {
        html! { label { (name) " " input type="text" name=(name) value=(value) placeholder=(hint); } }
    };
    html! {
        h1 { "Activity" }
        form.filters method="get" action="/activity" {
            (field("fqn_prefix", &query.fqn_prefix, "organizations/acme/tenants/…"))
            (field("kind", &query.kind, "Workspace.tsb.tetrate.io"))
            (field("actor", &query.actor, "user:alice"))
            (field("cluster", &query.cluster, "cluster name"))
            (field("operation", &query.operation, "apply, delete, reject…"))
            (field("since", &query.since, "RFC 3339"))
            (field("until", &query.until, "RFC 3339"))
            label { "limit " input type="number" name="limit" min="1" max=(MAX_LIMIT) value=(query.limit.unwrap_or(DEFAULT_LIMIT)); }
            button type="submit" { "Filter" }
        }
        (table(rows))
    }
}

/// `GET /activity`.
pub async fn page(
    State(console): State<Console>,
    session: Session,
    Query(query): Query<ActivityQuery>,
) -> Response {
    match activity(&console, &session.actor, &query).await {
        Ok(rows) => {
            layout::page("Activity", Nav::Activity, &session, render(&query, &rows)).into_response()
        }
        Err(error) => error_page(error),
    }
}
