//! The clusters page: connection, serving replica, lag, last acknowledgement, per-state
//! object counts (within the caller's scope) and held deletions with the command that
//! confirms them.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use crate::server::auth::Actor;
use crate::server::error::Error;
use crate::server::ui::layout::{self, Nav};
use crate::server::ui::session::Session;
use crate::server::ui::{Console, error_page};

/// One cluster's row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterRow {
    /// Name.
    pub name: String,
    /// Its agent has heard from it: `None` before its agent first connected.
    pub connected: Option<bool>,
    /// The replica serving (or that last served) it.
    pub replica: String,
    /// Last acknowledged distribution revision.
    pub acked_revision: u64,
    /// Store revisions committed after it.
    pub behind: u64,
    /// When its delivery row last changed (its last acknowledgement or connection change).
    pub updated: String,
    /// Objects applied, failed (ERRORED) and pending (sent, UNKNOWN), in the caller's scope.
    pub applied: u32,
    /// See `applied`.
    pub failed: u32,
    /// See `applied`.
    pub pending: u32,
    /// Objects its agent's mass-prune guard holds.
    pub held_prune: u32,
}

/// `tsbridge ctl cluster confirm-deletions` (see `cli::ctl`).
pub fn confirm_command(cluster: &str) -> String {
    format!("tsbridge ctl cluster confirm-deletions {cluster}")
}

/// Builds the page for `actor`: every registered cluster, counts limited to its scope.
pub async fn clusters(console: &Console, actor: &Actor) -> Result<Vec<ClusterRow>, Error> {
    let store = console.engine.store();
    let registered = store.list_clusters().await?;
    let rows = store.delivery_clusters().await?;
    let counts = console.distributor.edge_counts(actor.scope());
    Ok(registered
        .into_iter()
        .map(|cluster| {
            let delivery = console.distributor.delivery(&cluster.name);
            let tally = counts.get(&cluster.name);
            let count = |state: &str| tally.and_then(|t| t.get(state)).copied().unwrap_or(0);
            ClusterRow {
                connected: delivery.as_ref().map(|d| d.connected),
                replica: delivery
                    .as_ref()
                    .map(|d| d.replica.clone())
                    .unwrap_or_default(),
                acked_revision: delivery.as_ref().map_or(0, |d| d.acked_revision),
                behind: delivery.as_ref().map_or(0, |d| d.behind),
                held_prune: delivery.as_ref().map_or(0, |d| d.held_prune),
                updated: rows
                    .iter()
                    .find(|r| r.cluster == cluster.name)
                    .map(|r| r.updated.clone())
                    .unwrap_or_default(),
                applied: count("APPLIED"),
                failed: count("ERRORED"),
                pending: count("UNKNOWN"),
                name: cluster.name,
            }
        })
        .collect())
}

/// Renders the page body.
pub fn render(rows: &[ClusterRow]) -> Markup {
    html! {
        h1 { "Clusters" }
        table #clusters {
            thead { tr {
                th { "Cluster" } th { "Connected" } th { "Replica" } th { "Lag (revisions)" }
                th { "Last ACK" } th { "Applied" } th { "Failed" } th { "Pending" } th { "Held deletions" }
            } }
            tbody {
                @for row in rows {
                    tr data-cluster=(row.name) {
                        td { (row.name) }
                        td { @match row.connected {
                            Some(true) => span.badge.ok { "connected" },
                            Some(false) => span.badge.bad { "disconnected" },
                            None => span.badge.neutral { "never connected" },
                        } }
                        td { (row.replica) }
                        td { (row.behind) }
                        td { @if row.acked_revision > 0 { "r" (row.acked_revision) " · " (row.updated) } @else { "—" } }
                        td.applied { (row.applied) }
                        td.failed { (row.failed) }
                        td.pending { (row.pending) }
                        td { @if row.held_prune > 0 {
                            (row.held_prune) " held by its agent's prune guard; an admin confirms with "
                            code.command { (confirm_command(&row.name)) }
                        } @else { "none" } }
                    }
                }
            }
        }
        @if rows.is_empty() { p.empty { "No cluster is registered (" code { "tsbridge ctl cluster create NAME" } ")." } }
        p.note { "Counts cover the objects your token's scope allows." }
    }
}

/// `GET /clusters`.
pub async fn page(State(console): State<Console>, session: Session) -> Response {
    match clusters(&console, &session.actor).await {
        Ok(rows) => {
            layout::page("Clusters", Nav::Clusters, &session, render(&rows)).into_response()
        }
        Err(error) => error_page(error),
    }
}
