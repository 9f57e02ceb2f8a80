//! Status and counts read from every cluster's edges without copying them: a parent's
//! aggregate (`docs/status.md`), an object's own counts, and the console's per-cluster tallies.
//!
//! With 10,000 objects in 100 clusters a tenant's subtree has 100,000 edges. Copying them into
//! per-member maps, as `model::status::aggregate` takes them, cost seconds per page under the
//! hub's lock; here each edge is visited once and only flags are kept per member. The result
//! is the same [`Aggregate`] (a unit test compares both on the same edges).

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::model::status::{
    Aggregate, ClusterCounts, EdgeState, MpStatus, PipelineStage, TypeInfo, aggregate_status,
    edge_event, merge_edge, resource_status, status_for_event,
};
use crate::server::distribute::link::Source;

/// One cluster's edges, by source.
pub(super) type Edges = BTreeMap<Source, EdgeState>;

const STATES: [EdgeState; 4] = [
    EdgeState::Applied,
    EdgeState::Ignored,
    EdgeState::Unknown,
    EdgeState::Errored,
];

/// A state as one bit of a member's set of states.
fn bit(state: EdgeState) -> u8 {
    match state {
        EdgeState::Applied => 1,
        EdgeState::Ignored => 2,
        EdgeState::Unknown => 4,
        EdgeState::Errored => 8,
    }
}

/// The states of a set, one each: enough for `edge_event`, which asks only "any" and "all".
fn states_of(set: u8) -> impl Iterator<Item = EdgeState> {
    STATES.into_iter().filter(move |s| set & bit(*s) != 0)
}

/// `fqn` and its descendants in one cluster, in FQN order (not a sibling such as `fqn-x`).
pub(super) fn subtree_range<'a>(
    edges: &'a Edges,
    fqn: &'a str,
) -> impl Iterator<Item = (&'a Source, &'a EdgeState)> {
    let below = format!("{fqn}/");
    let own = edges.get_key_value(fqn);
    let descendants = edges
        .range::<str, _>((Bound::Included(below.as_str()), Bound::Unbounded))
        .take_while(move |(source, _)| source.starts_with(&below));
    own.into_iter().chain(descendants)
}

/// Is `a` the same source as `b`: one interned allocation usually, else equal text.
fn same(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// The aggregate of `fqn`'s subtree over `clusters` (each cluster's name and edges), equal to
/// `model::status::aggregate` over the same members; `None` when no member targets a cluster.
pub(super) fn subtree(clusters: &[(&str, &Edges)], fqn: &str) -> Option<Aggregate> {
    // Members in FQN order, each with the set of its states over all clusters (its own status
    // needs nothing more); a cluster's edges are in FQN order too, so they are merged in.
    let mut members: Vec<(&str, u8)> = Vec::new();
    let mut merged: BTreeMap<String, EdgeState> = BTreeMap::new();
    for (cluster, edges) in clusters {
        let mut state_here: Option<EdgeState> = None;
        let mut at = 0;
        let mut new: Vec<(&str, u8)> = Vec::new();
        for (source, state) in subtree_range(edges, fqn) {
            let source: &str = source;
            state_here = Some(state_here.map_or(*state, |s| merge_edge(s, *state)));
            loop {
                match members.get_mut(at) {
                    Some((member, set)) if same(member, source) => {
                        *set |= bit(*state);
                        at += 1;
                        break;
                    }
                    Some((member, _)) if *member < source => at += 1,
                    _ => {
                        new.push((source, bit(*state)));
                        break;
                    }
                }
            }
        }
        if !new.is_empty() {
            members = merge_sorted(members, new);
        }
        if let Some(state) = state_here {
            merged.insert((*cluster).to_string(), state);
        }
    }
    let last_event = edge_event(merged.values().copied())?;
    let statuses = members
        .iter()
        .filter_map(|(_, set)| edge_event(states_of(*set)))
        .map(|event| status_for_event(event, TypeInfo::CONFIG));
    let status = aggregate_status(MpStatus::Accepted, statuses);
    let clusters_counts = ClusterCounts::of(&merged);
    // The first member not applied everywhere, with its own message (as `aggregate` words it).
    let lagging = members
        .iter()
        .find(|(_, set)| set & !bit(EdgeState::Applied) != 0)
        .map(|(member, _)| {
            let own = edges_of(clusters, member);
            let why = resource_status(TypeInfo::CONFIG, PipelineStage::Translated, &own, false, "");
            format!(
                "{}; first not applied everywhere: {member} ({})",
                clusters_counts.message(),
                why.message
            )
        });
    Some(Aggregate {
        status,
        last_event,
        message: lagging.unwrap_or_else(|| clusters_counts.message()),
        edges: merged,
        clusters: clusters_counts,
    })
}

/// Two lists sorted by member, without common members, as one.
fn merge_sorted<'a>(a: Vec<(&'a str, u8)>, b: Vec<(&'a str, u8)>) -> Vec<(&'a str, u8)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => break,
        };
        out.extend(next);
    }
    out
}

/// `fqn`'s edge in each cluster that has one, by cluster.
pub(super) fn edges_of(clusters: &[(&str, &Edges)], fqn: &str) -> BTreeMap<String, EdgeState> {
    clusters
        .iter()
        .filter_map(|(cluster, edges)| edges.get(fqn).map(|s| (cluster.to_string(), *s)))
        .collect()
}

/// `fqn`'s own state in each cluster that targets it: how many applied, how many target it,
/// and its event (`None`: no cluster targets it).
pub(super) fn own(
    clusters: &[(&str, &Edges)],
    fqn: &str,
) -> (ClusterCounts, Option<crate::model::status::EventType>) {
    let states = || {
        clusters
            .iter()
            .filter_map(|(_, edges)| edges.get(fqn).copied())
    };
    let mut counts = ClusterCounts::default();
    for state in states() {
        counts.targeted += 1;
        counts.applied += u32::from(state == EdgeState::Applied);
    }
    (counts, edge_event(states()))
}

/// Per cluster, how many sources in `scope` (all when `None`) are in each edge state (by
/// `EdgeState::as_str`); a scope is read as a range, not tested edge by edge.
pub(super) fn counts(
    clusters: &[(&str, &Edges)],
    scope: Option<&str>,
) -> BTreeMap<String, BTreeMap<&'static str, u32>> {
    clusters
        .iter()
        .map(|(cluster, edges)| {
            let mut tally = [0u32; 4];
            let mut add = |state: &EdgeState| tally[bit(*state).trailing_zeros() as usize] += 1;
            match scope {
                Some(scope) => subtree_range(edges, scope).for_each(|(_, s)| add(s)),
                None => edges.values().for_each(add),
            }
            let by_name = STATES
                .iter()
                .zip(tally)
                .filter(|(_, n)| *n > 0)
                .map(|(s, n)| (s.as_str(), n))
                .collect();
            ((*cluster).to_string(), by_name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::status::aggregate;

    /// The walk `subtree` replaces: every member of `fqn`'s subtree with its per-cluster
    /// edges, copied into maps, in FQN order.
    fn old_walk(
        clusters: &[(&str, &Edges)],
        fqn: &str,
    ) -> BTreeMap<String, BTreeMap<String, EdgeState>> {
        let below = format!("{fqn}/");
        let mut members: BTreeMap<String, BTreeMap<String, EdgeState>> = BTreeMap::new();
        for (cluster, edges) in clusters {
            if let Some(state) = edges.get(fqn) {
                members
                    .entry(fqn.to_string())
                    .or_default()
                    .insert(cluster.to_string(), *state);
            }
            let range = edges
                .range::<str, _>((Bound::Included(below.as_str()), Bound::Unbounded))
                .take_while(|(source, _)| source.starts_with(&below));
            for (source, state) in range {
                members
                    .entry(source.to_string())
                    .or_default()
                    .insert(cluster.to_string(), *state);
            }
        }
        members
    }

    fn old_aggregate(clusters: &[(&str, &Edges)], fqn: &str) -> Option<Aggregate> {
        let members = old_walk(clusters, fqn);
        aggregate(members.iter().map(|(f, e)| (f.as_str(), e)))
    }

    const WS: &str = "organizations/acme/tenants/t/workspaces/ws";

    /// Sources under and beside `WS`: its groups and settings, a sibling whose name extends
    /// it, one that sorts after it, and the tenant.
    fn sources() -> Vec<String> {
        let mut sources = vec![
            "organizations/acme/tenants/t".to_string(),
            WS.to_string(),
            format!("{WS}-x"),
            format!("{WS}-x/trafficgroups/tg/serviceroutes/r"),
            format!("{WS}0/trafficgroups/tg"),
            format!("{WS}/trafficgroups/tg"),
        ];
        for i in 0..6 {
            sources.push(format!("{WS}/trafficgroups/tg/serviceroutes/r{i}"));
            sources.push(format!("{WS}/securitygroups/sg/settings/s{i}"));
        }
        sources
    }

    /// A tiny deterministic generator (no dependency needed for a few thousand draws).
    struct Draw(u64);

    impl Draw {
        fn next(&mut self, below: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % below
        }
    }

    /// `clusters` clusters, each holding a random part of the sources in random states; the
    /// same source is one allocation in some clusters and its own copy in others, as the
    /// interner and the store's mirror can leave them.
    fn fixture(seed: u64, clusters: usize) -> Vec<(String, Edges)> {
        let mut draw = Draw(seed);
        let interned: Vec<Source> = sources().iter().map(|s| Source::from(s.as_str())).collect();
        (0..clusters)
            .map(|c| {
                let mut edges = Edges::new();
                for source in &interned {
                    match draw.next(6) {
                        0 => continue,
                        1 => edges.insert(Source::from(&**source), STATES[draw.next(4) as usize]),
                        _ => edges.insert(source.clone(), STATES[draw.next(4) as usize]),
                    };
                }
                (format!("c{c}"), edges)
            })
            .collect()
    }

    fn view(fixture: &[(String, Edges)]) -> Vec<(&str, &Edges)> {
        fixture.iter().map(|(c, e)| (c.as_str(), e)).collect()
    }

    #[test]
    fn the_one_pass_aggregate_equals_the_old_walk_on_random_subtrees() {
        let parents = [
            "organizations/acme",
            "organizations/acme/tenants/t",
            WS,
            &format!("{WS}/trafficgroups/tg"),
            &format!("{WS}-x"),
            &format!("{WS}/trafficgroups/tg/serviceroutes/r0"),
            "organizations/acme/tenants/none",
        ];
        let mut compared = 0;
        for seed in 0..300 {
            let fixture = fixture(seed, 1 + (seed % 5) as usize);
            let clusters = view(&fixture);
            for parent in parents {
                let old = old_aggregate(&clusters, parent);
                assert_eq!(subtree(&clusters, parent), old, "seed {seed}, {parent}");
                compared += usize::from(old.is_some());
            }
        }
        assert!(
            compared > 1000,
            "most subtrees target a cluster: {compared}"
        );
    }

    #[test]
    fn members_that_agree_per_cluster_but_not_per_member_keep_their_own_statuses() {
        // Per cluster both cases hold one APPLIED and one UNKNOWN member; per member, the
        // first has both members ACCEPTED (ACCEPTED), the second one READY and one ACCEPTED
        // (PARTIAL). A tally per cluster alone could not tell them apart.
        let (a, b) = (
            format!("{WS}/trafficgroups/tg/serviceroutes/a"),
            format!("{WS}/trafficgroups/tg/serviceroutes/b"),
        );
        let edges = |pairs: [(&str, EdgeState); 2]| -> Edges {
            pairs
                .into_iter()
                .map(|(s, e)| (Source::from(s), e))
                .collect()
        };
        let crossed = [
            (
                "c1".to_string(),
                edges([(&a, EdgeState::Applied), (&b, EdgeState::Unknown)]),
            ),
            (
                "c2".to_string(),
                edges([(&a, EdgeState::Unknown), (&b, EdgeState::Applied)]),
            ),
        ];
        let straight = [
            (
                "c1".to_string(),
                edges([(&a, EdgeState::Applied), (&b, EdgeState::Unknown)]),
            ),
            (
                "c2".to_string(),
                edges([(&a, EdgeState::Applied), (&b, EdgeState::Unknown)]),
            ),
        ];
        let status = |fixture: &[(String, Edges)]| subtree(&view(fixture), WS).map(|a| a.status);
        assert_eq!(status(&crossed), Some(MpStatus::Accepted));
        assert_eq!(status(&straight), Some(MpStatus::Partial));
        assert_eq!(
            status(&crossed),
            old_aggregate(&view(&crossed), WS).map(|a| a.status)
        );
        assert_eq!(
            status(&straight),
            old_aggregate(&view(&straight), WS).map(|a| a.status)
        );
    }

    #[test]
    fn counts_in_a_scope_are_those_of_its_subtree_only() {
        for seed in 0..50 {
            let fixture = fixture(seed, 3);
            let clusters = view(&fixture);
            let scoped = counts(&clusters, Some(WS));
            let all = counts(&clusters, None);
            for (cluster, edges) in &clusters {
                let mut expected: BTreeMap<&'static str, u32> = BTreeMap::new();
                for state in old_walk(&[(cluster, edges)], WS)
                    .values()
                    .flat_map(|e| e.values())
                {
                    *expected.entry(state.as_str()).or_default() += 1;
                }
                assert_eq!(scoped[*cluster], expected, "seed {seed}, {cluster}");
                assert_eq!(all[*cluster].values().sum::<u32>() as usize, edges.len());
            }
        }
    }

    #[test]
    fn an_objects_own_counts_are_its_edges_in_every_cluster() {
        let fixture = fixture(7, 4);
        let clusters = view(&fixture);
        for source in sources() {
            let edges = edges_of(&clusters, &source);
            assert_eq!(
                own(&clusters, &source),
                (
                    ClusterCounts::of(&edges),
                    edge_event(edges.values().copied())
                )
            );
        }
    }
}
