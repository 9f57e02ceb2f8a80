//! The object page: spec, status per target cluster (edge state, revision, NACK reason), the
//! Istio objects each cluster acknowledged, the object's history from the delivery ledger and
//! its audit rows.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::model::Fqn;
use crate::server::auth::Actor;
use crate::server::engine::kind_name;
use crate::server::error::Error;
use crate::server::ui::hierarchy::{NodeStatus, applied, node_status};
use crate::server::ui::layout::{self, Nav, badge, encode};
use crate::server::ui::session::Session;
use crate::server::ui::{Console, error_page};
use crate::store::{AuditEntry, DeliveredObject, Record};

/// Audit rows shown.
pub const AUDIT: usize = 50;

/// The page's query string.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ObjectQuery {
    /// The object.
    #[serde(default)]
    pub fqn: String,
}

/// The object in one target cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterEdge {
    /// The cluster.
    pub cluster: String,
    /// UNKNOWN (sent, not acknowledged yet), APPLIED, ERRORED or IGNORED.
    pub state: String,
    /// The cluster's distribution revision the stored state refers to (0 before the store
    /// has it).
    pub revision: i64,
    /// The Istio objects the cluster acknowledged for it.
    pub objects: Vec<DeliveredObject>,
    /// Why the cluster refused it: the delivery ledger's reason (or, with the ledger off,
    /// this replica's memory of the NACK).
    pub nack: Option<crate::server::ui::nacks::Nack>,
    /// When the cluster's delivery row last changed (its last acknowledgement or connection).
    pub cluster_updated: String,
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct ObjectView {
    /// The record.
    pub record: Record,
    /// Its status.
    pub status: NodeStatus,
    /// Per target cluster.
    pub edges: Vec<ClusterEdge>,
    /// Its revisions and their deliveries, from the delivery ledger (`ctl history`).
    pub history: crate::proto::v1::HistoryResponse,
    /// Its audit rows (refused writes too), newest first.
    pub audit: Vec<AuditEntry>,
}

/// Builds the page for `actor`.
pub async fn object(console: &Console, actor: &Actor, fqn: &str) -> Result<ObjectView, Error> {
    let parsed: Fqn = fqn
        .parse()
        .map_err(|e| Error::BadRequest(format!("fqn {fqn:?}: {e}")))?;
    actor.authorize_read(&parsed)?;
    let record = console.engine.get(fqn).await?;
    let status = node_status(console, &record);
    let states = console.distributor.edges(fqn);
    let clusters: Vec<String> = states.keys().cloned().collect();
    let store = console.engine.store();
    let stored = store.source_edges(fqn, &clusters).await?;
    let rows = store.delivery_clusters().await?;
    let (history, mut audit) = crate::server::services::ledger::object_history(store, fqn).await?;
    // The newest of the rows the history read.
    audit.truncate(AUDIT);
    let edges = states
        .into_iter()
        .map(|(cluster, state)| {
            let row = stored.iter().find(|e| e.cluster == cluster);
            ClusterEdge {
                state: state.as_str().to_string(),
                revision: row.map_or(0, |e| e.revision),
                objects: row.and_then(|e| e.objects.clone()).unwrap_or_default(),
                nack: (state == crate::model::status::EdgeState::Errored)
                    .then(|| {
                        crate::server::ui::history::nack(&history, &cluster)
                            .or_else(|| console.nacks.reason(fqn, &cluster))
                    })
                    .flatten(),
                cluster_updated: rows
                    .iter()
                    .find(|r| r.cluster == cluster)
                    .map(|r| r.updated.clone())
                    .unwrap_or_default(),
                cluster,
            }
        })
        .collect();
    Ok(ObjectView {
        audit,
        history,
        record,
        status,
        edges,
    })
}

/// Renders the page body.
pub fn render(view: &ObjectView) -> Markup {
    let record = &view.record;
    let spec = serde_json::to_string_pretty(&record.spec).unwrap_or_default();
    let parent = record.parent_fqn.clone().unwrap_or_default();
    html! {
        nav.breadcrumb {
            a href={ "/hierarchy?fqn=" (encode(&parent)) } { "↑ " (parent) }
        }
        section.summary #object-status {
            h1 { (kind_name(&record.kind)) " " (record.name) }
            p.fqn { code { (record.fqn) } }
            p { (badge(&view.status.status)) " " span #applied { (applied(&view.status)) }
                " · revision " (record.revision) }
            @for warning in &view.status.warnings { p.warning { "not enforced: " (warning) } }
        }
        h2 { "Clusters" }
        @if view.edges.is_empty() {
            p.empty { "No cluster holds it yet (stored and validated; no cluster has reported it)." }
        } @else {
            table #edges {
                thead { tr { th { "Cluster" } th { "State" } th { "Revision" } th { "Cluster last changed" } th { "Istio objects" } } }
                tbody {
                    @for edge in &view.edges {
                        tr data-cluster=(edge.cluster) {
                            td { (edge.cluster) }
                            td.state { (badge(&edge.state))
                                @if let Some(nack) = &edge.nack {
                                    div.nack { "NACK (revision " (nack.revision) ", " (nack.time) "): " (nack.message) }
                                } @else if edge.state == "ERRORED" {
                                    div.nack { "refused; the reason is not recorded (the delivery ledger is off or has not written it yet)" }
                                }
                            }
                            td { @if edge.revision > 0 { (edge.revision) } @else { "—" } }
                            td { (edge.cluster_updated) }
                            td { ul.objects { @for object in &edge.objects {
                                li { (object.kind) " " (object.namespace) "/" (object.name) }
                            } } }
                        }
                    }
                }
            }
        }
        h2 { "Spec" }
        pre.spec { (spec) }
        @if !record.labels.is_empty() || !record.annotations.is_empty() {
            h2 { "Labels and annotations" }
            ul { @for (k, v) in record.labels.iter().chain(&record.annotations) { li { code { (k) "=" (v) } } } }
        }
        h2 { "History" }
        (crate::server::ui::history::render(&view.history))
        h2 { "Audit" }
        (crate::server::ui::activity::table(&view.audit))
    }
}

/// `GET /object`.
pub async fn page(
    State(console): State<Console>,
    session: Session,
    Query(query): Query<ObjectQuery>,
) -> Response {
    match object(&console, &session.actor, &query.fqn).await {
        Ok(view) => layout::page(
            &view.record.name.clone(),
            Nav::Hierarchy,
            &session,
            render(&view),
        )
        .into_response(),
        Err(error) => error_page(error),
    }
}
