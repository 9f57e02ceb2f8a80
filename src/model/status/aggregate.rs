//! A parent's status from its subtree (tsb-model §5.6, `docs/status.md`): what a Workspace,
//! Group, Tenant or Organization shows, computed from the edge states of the objects below it.
//! The status API and the CR status of a parent both use it, so they agree.

use std::collections::BTreeMap;

use super::{
    ClusterCounts, EdgeState, EventType, MpStatus, PipelineStage, TypeInfo, aggregate_status,
    edge_event, resource_status,
};

/// A parent's status from its subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// [`aggregate_status`] over the members' own statuses.
    pub status: MpStatus,
    /// The event of the per-cluster states (§5.4).
    pub last_event: EventType,
    /// Per cluster that some member targets, the subtree's state there ([`merge_edge`]).
    pub edges: BTreeMap<String, EdgeState>,
    /// Applied: clusters where every member that targets it applied; targeted: clusters that
    /// any member targets.
    pub clusters: ClusterCounts,
    /// "applied in N of M clusters", followed, while something is not applied everywhere, by
    /// the first such member (in the order given) and its own message.
    pub message: String,
}

/// One cluster's state of a subtree from two of its members' states there: `ERRORED` wins,
/// then `UNKNOWN` (still on its way), then `IGNORED`; `APPLIED` only when both are.
///
/// ```
/// use tsbridge::model::status::{EdgeState, merge_edge};
///
/// assert_eq!(merge_edge(EdgeState::Applied, EdgeState::Applied), EdgeState::Applied);
/// assert_eq!(merge_edge(EdgeState::Applied, EdgeState::Unknown), EdgeState::Unknown);
/// ```
pub fn merge_edge(a: EdgeState, b: EdgeState) -> EdgeState {
    fn rank(state: EdgeState) -> u8 {
        match state {
            EdgeState::Applied => 0,
            EdgeState::Ignored => 1,
            EdgeState::Unknown => 2,
            EdgeState::Errored => 3,
        }
    }
    if rank(b) > rank(a) { b } else { a }
}

/// A parent's status from its members: itself and its descendants, each with its own
/// per-cluster edge states (`Distributor::edges`), in FQN order. A member that targets no
/// cluster has nothing to apply and does not count (a Tenant, a Group selecting nothing, the
/// parent itself when it produces nothing). `None` when no member targets any cluster: the
/// parent then shows its own status.
pub fn aggregate<'a, I>(members: I) -> Option<Aggregate>
where
    I: IntoIterator<Item = (&'a str, &'a BTreeMap<String, EdgeState>)>,
{
    let mut edges: BTreeMap<String, EdgeState> = BTreeMap::new();
    let mut statuses = Vec::new();
    let mut lagging: Option<(&str, String)> = None;
    for (fqn, own) in members {
        if own.is_empty() {
            continue;
        }
        for (cluster, state) in own {
            edges
                .entry(cluster.clone())
                .and_modify(|merged| *merged = merge_edge(*merged, *state))
                .or_insert(*state);
        }
        let status = resource_status(TypeInfo::CONFIG, PipelineStage::Translated, own, false, "");
        if lagging.is_none() && own.values().any(|s| *s != EdgeState::Applied) {
            lagging = Some((fqn, status.message));
        }
        statuses.push(status.status);
    }
    let last_event = edge_event(edges.values().copied())?;
    let clusters = ClusterCounts::of(&edges);
    let message = match lagging {
        None => clusters.message(),
        Some((fqn, why)) => format!(
            "{}; first not applied everywhere: {fqn} ({why})",
            clusters.message()
        ),
    };
    Some(Aggregate {
        status: aggregate_status(MpStatus::Accepted, statuses),
        last_event,
        edges,
        clusters,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use EdgeState::{Applied, Errored, Ignored, Unknown};

    fn edges(states: &[(&str, EdgeState)]) -> BTreeMap<String, EdgeState> {
        states.iter().map(|(c, s)| (c.to_string(), *s)).collect()
    }

    const WS: &str = "organizations/acme/tenants/t/workspaces/ws";
    const TS: &str = "organizations/acme/tenants/t/workspaces/ws/trafficgroups/tg/settings/ts";
    const SS: &str = "organizations/acme/tenants/t/workspaces/ws/securitygroups/sg/settings/ss";

    #[test]
    fn a_workspace_whose_children_are_applied_everywhere_is_ready_in_all_their_clusters() {
        let (none, both) = (edges(&[]), edges(&[("a", Applied), ("b", Applied)]));
        let found = aggregate([(WS, &none), (SS, &both), (TS, &both)]).expect("targets");
        assert_eq!(
            found,
            Aggregate {
                status: MpStatus::Ready,
                last_event: EventType::XcpApplied,
                edges: both.clone(),
                clusters: ClusterCounts {
                    applied: 2,
                    targeted: 2
                },
                message: "applied in 2 of 2 clusters".into(),
            }
        );
    }

    #[test]
    fn a_cluster_counts_as_applied_only_when_every_member_targeting_it_applied() {
        // ss is only in a; ts is in a and b but not applied in b yet.
        let (ss, ts) = (
            edges(&[("a", Applied)]),
            edges(&[("a", Applied), ("b", Unknown)]),
        );
        let found = aggregate([(SS, &ss), (TS, &ts)]).expect("targets");
        assert_eq!(found.status, MpStatus::Partial);
        assert_eq!(found.last_event, EventType::XcpPartiallyApplied);
        assert_eq!(
            found.clusters,
            ClusterCounts {
                applied: 1,
                targeted: 2
            }
        );
        assert_eq!(
            found.message,
            format!(
                "applied in 1 of 2 clusters; first not applied everywhere: {TS} (applied in 1 of 2 clusters)"
            )
        );
        // Different clusters, each applied: every target cluster counts.
        let b = edges(&[("b", Applied)]);
        let found = aggregate([(SS, &ss), (TS, &b)]).expect("targets");
        assert_eq!((found.status, found.clusters.applied), (MpStatus::Ready, 2));
    }

    #[test]
    fn an_errored_member_fails_its_parent_and_is_named() {
        let (ok, broken) = (
            edges(&[("a", Applied), ("b", Applied)]),
            edges(&[("a", Applied), ("b", Errored)]),
        );
        let found = aggregate([(SS, &broken), (TS, &ok)]).expect("targets");
        assert_eq!(found.status, MpStatus::Failed);
        assert_eq!(found.last_event, EventType::XcpErrored);
        assert_eq!(found.edges, broken);
        assert!(
            found
                .message
                .ends_with(&format!("{SS} (errored in cluster(s) b)")),
            "{}",
            found.message
        );
    }

    #[test]
    fn members_still_on_their_way_leave_the_parent_accepted() {
        let pending = edges(&[("a", Unknown), ("b", Unknown)]);
        let found = aggregate([(SS, &pending), (TS, &pending)]).expect("targets");
        assert_eq!(
            (found.status, found.last_event, found.clusters.applied),
            (MpStatus::Accepted, EventType::XcpUnknown, 0)
        );
    }

    #[test]
    fn a_subtree_that_targets_nothing_has_no_aggregate() {
        let none = edges(&[]);
        assert_eq!(aggregate([(WS, &none), (TS, &none)]), None);
        assert_eq!(aggregate(std::iter::empty()), None);
    }

    #[test]
    fn merging_prefers_errored_then_unknown_then_ignored() {
        let order = [Applied, Ignored, Unknown, Errored];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                let worse = if i >= j { *a } else { *b };
                assert_eq!(merge_edge(*a, *b), worse, "{a:?} {b:?}");
            }
        }
    }
}
