//! The planner's decisions on one cluster's link: away clusters, acknowledgements, subtrees.

use tokio::sync::mpsc;

use super::link::reported_edges;
use super::plan::Planned;
use super::*;
use crate::model::translate::Translation;

fn error(source: &str, ignored: bool) -> v1::ObjectError {
    v1::ObjectError {
        source_fqn: source.into(),
        ignored,
        ..Default::default()
    }
}

/// A translation where `source` generates one Sidecar with `hosts`.
fn sidecar_from(source: &str, hosts: &str) -> Translation {
    let generated = crate::model::translate::Generated {
        api_version: "networking.istio.io/v1".into(),
        kind: "Sidecar".into(),
        namespace: "app".into(),
        name: "default".into(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        spec: serde_json::json!({"egress": [{"hosts": [hosts]}]}),
    };
    let mut translation = Translation::default();
    translation
        .sources
        .insert(source.into(), vec![generated.key()]);
    translation.objects.insert(generated.key(), generated);
    translation
}

fn upserted(planned: &Planned) -> usize {
    planned.chunks.iter().map(|c| c.upserts.len()).sum()
}

/// A link with an open stream (whose messages nobody reads).
fn connected() -> Link {
    let (outbox, received) = mpsc::channel(16);
    std::mem::forget(received);
    Link {
        outbox: Some(Queue::forwarding_to(outbox, "b")),
        ..Link::default()
    }
}

#[tokio::test]
async fn a_change_while_a_cluster_is_away_is_not_applied_there_until_it_is_back() {
    let source = "organizations/acme/tenants/t/workspaces/w/trafficgroups/g/settings/ts";
    let not_self = |_: &str, _: &ObjectKey| false;
    let no_change = |_: &str| 0;
    let mut interner = Interner::default();
    let mut link = connected();
    let first = sidecar_from(source, "./*");
    let planned = recompute(
        "b",
        &mut link,
        Generation::Whole(first.clone()),
        1,
        &not_self,
        &no_change,
        &mut interner,
    );
    assert_eq!(upserted(&planned), 1);
    link.acknowledged(&v1::Ack {
        revision: 1,
        ..Default::default()
    });
    assert_eq!(link.edges[source], EdgeState::Applied);

    // Away: a change makes the edge UNKNOWN; changing it back leaves it so (the
    // acknowledgement of what the agent holds may have been lost with the stream).
    link.closed();
    let changed = BTreeSet::from([source.to_string()]);
    let second = sidecar_from(source, "istio-system/*");
    let marked = mark_unsent(
        &mut link,
        &Generation::Some(second, &changed),
        &not_self,
        &mut interner,
    );
    assert_eq!(marked, changed);
    assert_eq!(link.edges[source], EdgeState::Unknown);
    let marked = mark_unsent(
        &mut link,
        &Generation::Whole(first.clone()),
        &not_self,
        &mut interner,
    );
    assert!(marked.is_empty(), "already UNKNOWN: {marked:?}");
    assert_eq!(link.edges[source], EdgeState::Unknown);

    // Back, resuming with deltas: the UNKNOWN source is sent again and its ACK settles it.
    link.outbox = connected().outbox;
    let planned = recompute(
        "b",
        &mut link,
        Generation::Whole(first),
        2,
        &not_self,
        &no_change,
        &mut interner,
    );
    assert_eq!(upserted(&planned), 1, "the UNKNOWN source is resent");
    assert_eq!(link.edges[source], EdgeState::Unknown);
    link.acknowledged(&v1::Ack {
        revision: 2,
        ..Default::default()
    });
    assert_eq!(link.edges[source], EdgeState::Applied);

    // A source that stops targeting the cluster while it is away loses its edge there.
    link.closed();
    let marked = mark_unsent(
        &mut link,
        &Generation::Some(Translation::default(), &changed),
        &not_self,
        &mut interner,
    );
    assert_eq!(marked, changed);
    assert!(!link.edges.contains_key(source));
}

#[test]
fn the_subtree_of_a_root_is_its_prefix_range_and_nothing_beside_it() {
    let stored: BTreeMap<String, ()> = [
        "organizations/acme/tenants/t",
        "organizations/acme/tenants/t-2",
        "organizations/acme/tenants/t-2/workspaces/w",
        "organizations/acme/tenants/t/workspaces/w",
        "organizations/acme/tenants/t/workspaces/w/trafficgroups/g",
        "organizations/acme/tenants/t/workspaces/w/trafficgroups/g/serviceroutes/r",
        "organizations/acme/tenants/t/workspaces/w2/trafficgroups/g/serviceroutes/r",
        "organizations/acme/tenants/u/workspaces/w",
    ]
    .into_iter()
    .map(|fqn| (fqn.to_string(), ()))
    .collect();
    let root: Fqn = "organizations/acme/tenants/t/workspaces/w".parse().unwrap();
    let changed = BTreeSet::from(["organizations/acme/tenants/u/workspaces/w".to_string()]);
    let affected = within(&stored, &changed, &BTreeSet::from([root]));
    let expected: BTreeSet<String> = [
        "organizations/acme/tenants/t/workspaces/w",
        "organizations/acme/tenants/t/workspaces/w/trafficgroups/g",
        "organizations/acme/tenants/t/workspaces/w/trafficgroups/g/serviceroutes/r",
        "organizations/acme/tenants/u/workspaces/w",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(affected, expected);
}

#[test]
fn a_nack_errors_a_source_unless_every_refusal_was_ignored() {
    let errors = [
        error("a", true),
        error("a", true),
        error("b", true),
        error("b", false),
        error("c", false),
    ];
    let reported = reported_edges(&errors);
    assert_eq!(reported["a"], EdgeState::Ignored);
    assert_eq!(reported["b"], EdgeState::Errored);
    assert_eq!(reported["c"], EdgeState::Errored);
    assert!(!reported.contains_key("d"));
}

#[tokio::test]
async fn a_full_resync_of_unchanged_content_keeps_the_edge_until_the_acknowledgement() {
    let source = "organizations/acme/tenants/t/workspaces/w/trafficgroups/g/settings/ts";
    let not_self = |_: &str, _: &ObjectKey| false;
    let no_change = |_: &str| 0;
    let mut interner = Interner::default();
    let mut link = Link {
        needs_full: true,
        ..connected()
    };
    let translation = sidecar_from(source, "./*");
    let planned = recompute(
        "b",
        &mut link,
        Generation::Whole(translation.clone()),
        1,
        &not_self,
        &no_change,
        &mut interner,
    );
    assert!(
        planned.reported.contains(source),
        "a new source is reported"
    );
    assert_eq!(upserted(&planned), 1);
    link.acknowledged(&v1::Ack {
        revision: 1,
        ..Default::default()
    });
    assert_eq!(link.edges[source], EdgeState::Applied);

    // The agent restarts: a full resync of the same content. It is sent (the cluster may have
    // drifted) but moves no count.
    link.needs_full = true;
    let planned = recompute(
        "b",
        &mut link,
        Generation::Whole(translation),
        2,
        &not_self,
        &no_change,
        &mut interner,
    );
    assert!(planned.reported.is_empty(), "{:?}", planned.reported);
    assert_eq!(link.edges[source], EdgeState::Applied);
    assert_eq!(upserted(&planned), 1, "sent again");
    // A NACK of the resync still settles it.
    link.acknowledged(&v1::Ack {
        revision: 2,
        errors: vec![error(source, false)],
        ..Default::default()
    });
    assert_eq!(link.edges[source], EdgeState::Errored);
}

/// What one replica writes after an acknowledgement is enough for another to rebuild the
/// cluster with the same checksum, so the agent resumes there with deltas only.
#[tokio::test]
async fn a_link_rebuilt_from_the_stored_acknowledgement_has_the_agents_checksum() {
    let not_self = |_: &str, _: &ObjectKey| false;
    let no_change = |_: &str| 0;
    let mut interner = Interner::default();
    let mut link = Link {
        generation: 3,
        ..connected()
    };
    let mut translation = sidecar_from("organizations/acme/tenants/t/a", "./*");
    let other = sidecar_from("organizations/acme/tenants/t/b", "istio-system/*");
    for mut generated in other.objects.into_values() {
        generated.name = "other".into();
        translation.sources.insert(
            "organizations/acme/tenants/t/b".into(),
            vec![generated.key()],
        );
        translation.objects.insert(generated.key(), generated);
    }
    let planned = recompute(
        "b",
        &mut link,
        Generation::Whole(translation),
        7,
        &not_self,
        &no_change,
        &mut interner,
    );
    assert_eq!(upserted(&planned), 2);
    link.acknowledged(&v1::Ack {
        revision: 7,
        ..Default::default()
    });
    let mut outgoing = shared::Outgoing::default();
    outgoing.stage(
        "b",
        &mut link,
        RowChange {
            acked_revision: Some(7),
            ..RowChange::default()
        },
    );
    let links = BTreeMap::from([("b".to_string(), Link::default())]);
    let writes = outgoing.take(&links, 1000);
    assert_eq!(writes.len(), 1);
    // A failed write goes back into the queue and comes out the same.
    outgoing.restore(writes.clone(), &mut interner);
    let again = outgoing.take(&links, 1000);
    assert_eq!(format!("{again:?}"), format!("{writes:?}"));
    assert_eq!(writes[0].generation, 3);
    assert_eq!(writes[0].acked_revision, Some(7));
    let stored = crate::store::ClusterDelivery {
        cluster: "b".into(),
        acked_revision: 7,
        ..Default::default()
    };
    let mut elsewhere = Interner::default();
    let rebuilt = shared::link_from_store(&stored, writes[0].edges.clone(), &mut elsewhere);
    assert_eq!(rebuilt.checksum, link.checksum);
    assert_eq!(rebuilt.revision, 7);
    assert_eq!(rebuilt.edges.len(), 2);
    assert!(rebuilt.edges.values().all(|e| *e == EdgeState::Applied));
}

#[test]
fn a_replica_silent_for_three_heartbeats_no_longer_serves_its_clusters() {
    let seen: std::collections::HashMap<String, i64> = [
        ("a".to_string(), 1_000_000_000),
        ("b".to_string(), 985_000_000),
    ]
    .into();
    let now = 1_000_000_000 + 5_000_000;
    assert!(super::replica_alive(Some(&seen), "a", now));
    assert!(!super::replica_alive(Some(&seen), "b", now), "20 s silent");
    assert!(
        !super::replica_alive(Some(&seen), "gone", now),
        "forgotten or never seen"
    );
    assert!(
        super::replica_alive(None, "b", now),
        "before the first read, the row's word"
    );
}

#[tokio::test]
async fn a_translation_dropped_because_the_epoch_moved_is_made_again_whole() {
    // A round took its changes from the config, then found the link's epoch moved (here a
    // Service inventory change, which leaves the namespaces' resolution as it was).
    let mut link = connected();
    link.namespaces_known = true;
    link.resolution = Some(Arc::new(Resolution::default()));
    link.epoch = 2;
    let nothing_changed = BTreeSet::new();
    assert!(
        Job::of("b", &link, &nothing_changed, false).is_none(),
        "without more, the next round has nothing to do for it: the dropped changes are lost"
    );
    link.retranslate();
    let job = Job::of("b", &link, &nothing_changed, false).expect("a job");
    assert!(
        job.resolution.is_none(),
        "translated whole, not only the (empty) changes"
    );
    assert_eq!(job.epoch, 2);
}
