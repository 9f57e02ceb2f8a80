//! The hierarchy page: organization → tenants → workspaces → groups → config, one level at a
//! time, each row with its status; filtered by name and status, paginated.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::model::Fqn;
use crate::server::auth::Actor;
use crate::server::engine::kind_name;
use crate::server::error::Error;
use crate::server::ui::layout::{self, Nav, badge, encode};
use crate::server::ui::session::Session;
use crate::server::ui::{Console, error_page};
use crate::store::Record;

/// Rows per page.
pub const PAGE_SIZE: usize = 50;

/// The page's query string.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HierarchyQuery {
    /// The node whose children are listed; the organizations when empty.
    #[serde(default)]
    pub fqn: String,
    /// Only children whose name contains this (case-insensitive).
    #[serde(default)]
    pub q: String,
    /// Only children with this status (`READY`, `FAILED`, …).
    #[serde(default)]
    pub status: String,
    /// 1-based page.
    #[serde(default)]
    pub page: Option<usize>,
}

/// A node's status as the API's `ctl status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// ACCEPTED, READY, PARTIAL, FAILED or DIRTY.
    pub status: String,
    /// Clusters where it (or its subtree) is applied.
    pub applied: u32,
    /// Clusters it (or its subtree) targets.
    pub targeted: u32,
    /// Accepted but not enforced fields (TSB1106), and what translation left out.
    pub warnings: Vec<String>,
}

/// One child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its FQN.
    pub fqn: String,
    /// Short kind (`Workspace`, `ServiceRoute`, …).
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Has children worth listing (organization, tenant, workspace, group).
    pub container: bool,
    /// Inside the caller's scope: status shown, object page open. An ancestor of a scoped
    /// token's scope is listed (to navigate to it) without either.
    pub readable: bool,
    /// Its status, when readable.
    pub status: Option<NodeStatus>,
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct HierarchyView {
    /// The listed node, when it is not the root.
    pub fqn: String,
    /// Its status, when readable.
    pub status: Option<NodeStatus>,
    /// Ancestors and the node itself, as (name, FQN).
    pub breadcrumb: Vec<(String, String)>,
    /// This page's rows.
    pub rows: Vec<Row>,
    /// Children matching the filters.
    pub matching: usize,
    /// 1-based page and page count.
    pub page: usize,
    /// Pages.
    pub pages: usize,
    /// The filters, echoed.
    pub query: HierarchyQuery,
}

/// Is `fqn` worth listing for `actor`: readable, or on the way to its scope.
fn navigable(actor: &Actor, fqn: &Fqn) -> bool {
    actor.may_read(fqn) || actor.scope().is_some_and(|scope| fqn.covers(scope))
}

fn is_container(fqn: &Fqn) -> bool {
    fqn.is_organization()
        || fqn
            .kind()
            .is_some_and(|k| k.aggregates_status() || k == crate::model::Kind::Tenant)
}

/// A node's status from the distributor (a parent's from its subtree), with its warnings.
pub fn node_status(console: &Console, record: &Record) -> NodeStatus {
    let state = console.distributor.object_state(&record.fqn);
    let mut warnings: Vec<String> = crate::server::services::status::not_enforced(record)
        .into_iter()
        .map(|d| format!("{} {}: {}", d.rule, d.field, d.message))
        .collect();
    warnings.extend(
        state
            .translation_warnings
            .iter()
            .map(|d| format!("{}: {}", d.rule, d.message)),
    );
    NodeStatus {
        status: state.status,
        applied: state.clusters_applied,
        targeted: state.clusters_targeted,
        warnings,
    }
}

/// Builds the page for `actor`.
pub async fn hierarchy(
    console: &Console,
    actor: &Actor,
    query: HierarchyQuery,
) -> Result<HierarchyView, Error> {
    let mut breadcrumb = Vec::new();
    let mut status = None;
    if !query.fqn.is_empty() {
        let fqn: Fqn = query
            .fqn
            .parse()
            .map_err(|e| Error::BadRequest(format!("fqn {:?}: {e}", query.fqn)))?;
        if !navigable(actor, &fqn) {
            return Err(Error::PermissionDenied(format!(
                "{} may not read {fqn}: outside its scope",
                actor.audit_name()
            )));
        }
        // Organizations are configured (`--organization`), not stored: no record, no status.
        if !fqn.is_organization() {
            let record = console.engine.get(&query.fqn).await?;
            if actor.may_read(&fqn) {
                status = Some(node_status(console, &record));
            }
        }
        let mut at = Some(fqn);
        while let Some(node) = at {
            breadcrumb.push((node.name().to_string(), node.to_string()));
            at = node.parent();
        }
        breadcrumb.reverse();
    }
    if query.fqn.is_empty() {
        return organizations(console, actor, query).await;
    }
    let parent = query.fqn.as_str();
    let needle = query.q.to_lowercase();
    let (_, children) = console
        .engine
        .list_where(|r| {
            r.parent_fqn.as_deref().unwrap_or_default() == parent
                && (needle.is_empty() || r.name.to_lowercase().contains(&needle))
        })
        .await?;
    let mut rows: Vec<(Row, &Record)> = children
        .iter()
        .filter_map(|record| {
            let fqn: Fqn = record.fqn.parse().ok()?;
            navigable(actor, &fqn).then(|| {
                (
                    Row {
                        kind: kind_name(&record.kind).to_string(),
                        name: record.name.clone(),
                        container: is_container(&fqn),
                        readable: actor.may_read(&fqn),
                        fqn: record.fqn.clone(),
                        status: None,
                    },
                    record,
                )
            })
        })
        .collect();
    // A status filter needs every child's status; otherwise only this page's are computed.
    if !query.status.is_empty() {
        for (row, record) in &mut rows {
            if row.readable {
                row.status = Some(node_status(console, record));
            }
        }
        rows.retain(|(row, _)| {
            row.status
                .as_ref()
                .is_some_and(|s| s.status.eq_ignore_ascii_case(&query.status))
        });
    }
    let matching = rows.len();
    let pages = matching.div_ceil(PAGE_SIZE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let rows = rows
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|(mut row, record)| {
            if row.readable && row.status.is_none() {
                row.status = Some(node_status(console, record));
            }
            row
        })
        .collect();
    Ok(HierarchyView {
        fqn: query.fqn.clone(),
        status,
        breadcrumb,
        rows,
        matching,
        page,
        pages,
        query,
    })
}

/// The root: the organizations that hold anything the caller may navigate to.
async fn organizations(
    console: &Console,
    actor: &Actor,
    query: HierarchyQuery,
) -> Result<HierarchyView, Error> {
    let needle = query.q.to_lowercase();
    let (_, tenants) = console
        .engine
        .list_where(|r| r.kind == crate::model::Kind::Tenant.qualified_name())
        .await?;
    let mut names: Vec<Fqn> = tenants
        .iter()
        .filter_map(|r| r.parent_fqn.as_deref()?.parse::<Fqn>().ok())
        .filter(|org| org.is_organization() && navigable(actor, org))
        .filter(|org| needle.is_empty() || org.name().to_lowercase().contains(&needle))
        .collect();
    names.dedup();
    let rows: Vec<Row> = names
        .into_iter()
        .map(|org| Row {
            kind: "Organization".into(),
            name: org.name().to_string(),
            container: true,
            readable: actor.may_read(&org),
            fqn: org.to_string(),
            status: None,
        })
        .collect();
    Ok(HierarchyView {
        fqn: String::new(),
        status: None,
        breadcrumb: Vec::new(),
        matching: rows.len(),
        rows,
        page: 1,
        pages: 1,
        query,
    })
}

/// "applied in N of M clusters" or what stands instead.
pub fn applied(status: &NodeStatus) -> String {
    if status.targeted == 0 {
        "no cluster targeted yet".to_string()
    } else {
        format!(
            "applied in {} of {} clusters",
            status.applied, status.targeted
        )
    }
}

/// Renders the page body.
pub fn render(view: &HierarchyView) -> Markup {
    let base = format!(
        "/hierarchy?fqn={}&q={}&status={}&",
        encode(&view.fqn),
        encode(&view.query.q),
        encode(&view.query.status)
    );
    html! {
        nav.breadcrumb {
            a href="/hierarchy" { "all organizations" }
            @for (name, fqn) in &view.breadcrumb {
                " / " a href={ "/hierarchy?fqn=" (encode(fqn)) } { (name) }
            }
        }
        @if !view.fqn.is_empty() {
            section.summary #node-status {
                h1 { (view.breadcrumb.last().map_or("", |(n, _)| n.as_str())) }
                @if let Some(status) = &view.status {
                    p { (badge(&status.status)) " " (applied(status)) " · "
                        a href={ "/object?fqn=" (encode(&view.fqn)) } { "details" } }
                    @for warning in &status.warnings { p.warning { "not enforced: " (warning) } }
                }
            }
        }
        form.filters method="get" action="/hierarchy" {
            input type="hidden" name="fqn" value=(view.fqn);
            input type="search" name="q" placeholder="name contains…" value=(view.query.q);
            select name="status" {
                @for option in ["", "ACCEPTED", "READY", "PARTIAL", "FAILED", "DIRTY"] {
                    option value=(option) selected[option.eq_ignore_ascii_case(&view.query.status)] {
                        @if option.is_empty() { "any status" } @else { (option) }
                    }
                }
            }
            button type="submit" { "Filter" }
            span.count { (view.matching) " matching" }
        }
        table #children {
            thead { tr { th { "Kind" } th { "Name" } th { "Status" } th { "Clusters" } th { "Warnings" } } }
            tbody {
                @for row in &view.rows {
                    tr data-fqn=(row.fqn) {
                        td { (row.kind) }
                        td {
                            @if row.container {
                                a href={ "/hierarchy?fqn=" (encode(&row.fqn)) } { (row.name) }
                            } @else if row.readable {
                                a href={ "/object?fqn=" (encode(&row.fqn)) } { (row.name) }
                            } @else { (row.name) }
                        }
                        @if let Some(status) = &row.status {
                            td.status { (badge(&status.status)) }
                            td { (applied(status)) }
                            td { @if !status.warnings.is_empty() { span.warning title=(status.warnings.join("\n")) { (status.warnings.len()) " not enforced" } } }
                        } @else if row.readable {
                            td.status { "—" } td {} td {}
                        } @else {
                            td.status { "—" } td { "outside your scope" } td {}
                        }
                    }
                }
            }
        }
        @if view.rows.is_empty() { p.empty { "Nothing here" @if !view.query.q.is_empty() || !view.query.status.is_empty() { " matches the filters" } "." } }
        (layout::pager(&base, view.page, view.pages))
    }
}

/// `GET /hierarchy`.
pub async fn page(
    State(console): State<Console>,
    session: Session,
    Query(query): Query<HierarchyQuery>,
) -> Response {
    // A scoped token lands on its scope rather than on organizations it cannot read.
    let query = match (query.fqn.is_empty(), session.actor.scope()) {
        (true, Some(scope)) => HierarchyQuery {
            fqn: scope.to_string(),
            ..query
        },
        _ => query,
    };
    match hierarchy(&console, &session.actor, query).await {
        Ok(view) => {
            layout::page("Hierarchy", Nav::Hierarchy, &session, render(&view)).into_response()
        }
        Err(error) => error_page(error),
    }
}
