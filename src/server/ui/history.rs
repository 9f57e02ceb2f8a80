//! The object page's history from the delivery ledger (`docs/ledger.md`): each revision of the
//! object with who made it and what became of it in each cluster, as `ctl history` shows it,
//! and the latest NACK reason per cluster. Both come from the store, so every replica shows
//! them, and a restarted one too.

use maud::{Markup, html};

use crate::proto::v1;
use crate::server::ui::nacks::Nack;

/// Revisions shown, newest first.
pub const REVISIONS: usize = 50;

/// Every delivery row of the history, those of a revision and the re-deliveries.
fn rows(history: &v1::HistoryResponse) -> impl Iterator<Item = &v1::LedgerRow> {
    history
        .revisions
        .iter()
        .flat_map(|r| &r.deliveries)
        .chain(&history.redeliveries)
}

/// Why `cluster` refused the object, when its latest delivery there failed: the agent's
/// reason as the ledger's failed row keeps it. A drift revert is not a delivery outcome and
/// is skipped.
pub fn nack(history: &v1::HistoryResponse, cluster: &str) -> Option<Nack> {
    let latest = rows(history)
        .filter(|row| row.cluster == cluster && row.outcome != "reverted")
        .max_by_key(|row| row.id)?;
    (latest.outcome == "failed").then(|| Nack {
        message: latest.message.clone(),
        revision: u64::try_from(latest.revision).unwrap_or_default(),
        time: latest.acknowledged.clone(),
    })
}

/// An outcome's badge, coloured as edge states are.
fn outcome(name: &str) -> Markup {
    let class = match name {
        "applied" => "ok",
        "failed" => "bad",
        "reverted" => "warn",
        _ => "neutral",
    };
    html! { span class={ "badge " (class) } { (name) } }
}

fn deliveries(rows: &[v1::LedgerRow], with_revision: bool) -> Markup {
    html! {
        table.deliveries {
            thead { tr {
                @if with_revision { th { "Delta" } }
                th { "Cluster" } th { "Outcome" } th { "Acknowledged" } th { "Message" }
            } }
            tbody {
                @for row in rows {
                    tr data-cluster=(row.cluster) data-outcome=(row.outcome) {
                        @if with_revision { td { (row.revision) } }
                        td { (row.cluster) }
                        td { (outcome(&row.outcome)) }
                        td.time { (row.acknowledged) }
                        td { @if row.outcome == "failed" { span.nack { (row.message) } } @else { (row.message) } }
                    }
                }
            }
        }
    }
}

/// The history section: revisions newest first, each with its deliveries; rollbacks marked.
pub fn render(history: &v1::HistoryResponse) -> Markup {
    html! {
        section #history {
            @if history.revisions.is_empty() && history.redeliveries.is_empty() {
                p.empty { "No revision recorded yet." }
            }
            @for revision in history.revisions.iter().rev().take(REVISIONS) {
                div.revision.rollback[revision.rollback] data-revision=(revision.revision) {
                    h3 {
                        "Revision " (revision.revision) " · " (revision.op)
                        @if revision.rollback { " " span.badge.warn title="its content equals an earlier revision's" { "rollback" } }
                        " · by " @if revision.actor.is_empty() { "unknown" } @else { (revision.actor) }
                        @if !revision.committed.is_empty() { " · " span.time { (revision.committed) } }
                    }
                    @if revision.deliveries.is_empty() {
                        p.empty { "Not delivered to a cluster (yet)." }
                    } @else {
                        (deliveries(&revision.deliveries, false))
                    }
                }
            }
            @if history.revisions.len() > REVISIONS {
                p.note { "Older revisions: " code.command { "tsbridge ctl history FQN" } }
            }
            @if !history.redeliveries.is_empty() {
                h3 { "Re-deliveries and drift reverted" }
                (deliveries(&history.redeliveries, true))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, cluster: &str, outcome: &str, message: &str) -> v1::LedgerRow {
        v1::LedgerRow {
            id,
            cluster: cluster.into(),
            outcome: outcome.into(),
            message: message.into(),
            revision: id,
            ..Default::default()
        }
    }

    #[test]
    fn the_nack_is_the_latest_delivery_when_it_failed_not_an_older_one_or_a_revert() {
        let history = v1::HistoryResponse {
            revisions: vec![
                v1::ObjectRevision {
                    revision: 3,
                    deliveries: vec![
                        row(1, "b", "failed", "old reason"),
                        row(2, "a", "applied", ""),
                    ],
                    ..Default::default()
                },
                v1::ObjectRevision {
                    revision: 5,
                    deliveries: vec![row(4, "b", "failed", "denied by policy")],
                    ..Default::default()
                },
            ],
            redeliveries: vec![
                row(6, "b", "reverted", "VirtualService app/r was changed"),
                row(7, "a", "failed", "webhook down"),
            ],
        };
        let b = nack(&history, "b").expect("b failed last");
        assert_eq!((b.message.as_str(), b.revision), ("denied by policy", 4));
        assert_eq!(
            nack(&history, "a").map(|n| n.message),
            Some("webhook down".into())
        );
        let mut fixed = history.clone();
        fixed.redeliveries.push(row(8, "b", "applied", ""));
        assert_eq!(nack(&fixed, "b"), None);
        assert_eq!(nack(&history, "c"), None);
    }

    #[test]
    fn revisions_are_newest_first_with_rollbacks_marked_and_text_escaped() {
        let history = v1::HistoryResponse {
            revisions: vec![
                v1::ObjectRevision {
                    revision: 3,
                    op: "upsert".into(),
                    actor: "cluster:east".into(),
                    deliveries: vec![row(1, "b", "failed", "<b>no</b>")],
                    ..Default::default()
                },
                v1::ObjectRevision {
                    revision: 9,
                    op: "upsert".into(),
                    rollback: true,
                    ..Default::default()
                },
            ],
            redeliveries: Vec::new(),
        };
        let html = render(&history).into_string();
        let (nine, three) = (
            html.find("Revision 9").expect("9"),
            html.find("Revision 3").expect("3"),
        );
        assert!(nine < three, "{html}");
        assert!(html.contains("rollback</span>"), "{html}");
        assert!(html.contains("by cluster:east"), "{html}");
        assert!(
            html.contains("&lt;b&gt;no&lt;/b&gt;") && !html.contains("<b>no"),
            "{html}"
        );
    }
}
