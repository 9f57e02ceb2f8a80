//! The distributor's decisions on one cluster's link: away clusters, acknowledgements, subtrees.

use super::*;

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

fn upserted(received: &mut mpsc::Receiver<Result<v1::ServerMessage, Status>>) -> usize {
    let mut count = 0;
    while let Ok(Ok(message)) = received.try_recv() {
        if let Some(Down::Delta(delta)) = message.message {
            count += delta.upserts.len();
        }
    }
    count
}

#[tokio::test]
async fn a_change_while_a_cluster_is_away_is_not_applied_there_until_it_is_back() {
    let source = "organizations/acme/tenants/t/workspaces/w/trafficgroups/g/settings/ts";
    let not_self = |_: &str, _: &ObjectKey| false;
    let (outbox, mut received) = mpsc::channel(16);
    let mut link = Link {
        outbox: Some(Queue::forwarding_to(outbox.clone(), "b")),
        ..Link::default()
    };
    let first = sidecar_from(source, "./*");
    recompute(
        "b",
        &mut link,
        Generation::Whole(first.clone()),
        1,
        &not_self,
    );
    link.acknowledged(&v1::Ack {
        revision: 1,
        ..Default::default()
    });
    assert_eq!(link.edges[source], EdgeState::Applied);
    tokio::task::yield_now().await;
    assert_eq!(upserted(&mut received), 1);

    // Away: a change makes the edge UNKNOWN; changing it back leaves it so (the
    // acknowledgement of what the agent holds may have been lost with the stream).
    link.outbox = None;
    link.pending.clear();
    let changed = BTreeSet::from([source.to_string()]);
    let second = sidecar_from(source, "istio-system/*");
    let marked = mark_unsent(&mut link, &Generation::Some(second, &changed), &not_self);
    assert_eq!(marked, changed);
    assert_eq!(link.edges[source], EdgeState::Unknown);
    let marked = mark_unsent(&mut link, &Generation::Whole(first.clone()), &not_self);
    assert!(marked.is_empty(), "already UNKNOWN: {marked:?}");
    assert_eq!(link.edges[source], EdgeState::Unknown);

    // Back, resuming with deltas: the UNKNOWN source is sent again and its ACK settles it.
    link.outbox = Some(Queue::forwarding_to(outbox, "b"));
    recompute("b", &mut link, Generation::Whole(first), 2, &not_self);
    tokio::task::yield_now().await;
    assert_eq!(upserted(&mut received), 1, "the UNKNOWN source is resent");
    assert_eq!(link.edges[source], EdgeState::Unknown);
    link.acknowledged(&v1::Ack {
        revision: 2,
        ..Default::default()
    });
    assert_eq!(link.edges[source], EdgeState::Applied);

    // A source that stops targeting the cluster while it is away loses its edge there.
    link.outbox = None;
    let marked = mark_unsent(
        &mut link,
        &Generation::Some(Translation::default(), &changed),
        &not_self,
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
    let (outbox, mut received) = mpsc::channel(16);
    let mut link = Link {
        outbox: Some(Queue::forwarding_to(outbox, "b")),
        needs_full: true,
        ..Link::default()
    };
    let translation = sidecar_from(source, "./*");
    let reported = recompute(
        "b",
        &mut link,
        Generation::Whole(translation.clone()),
        1,
        &not_self,
    );
    assert!(reported.contains(source), "a new source is reported");
    link.acknowledged(&v1::Ack {
        revision: 1,
        ..Default::default()
    });
    assert_eq!(link.edges[source], EdgeState::Applied);

    // The agent restarts: a full resync of the same content. It is sent (the cluster may have
    // drifted) but moves no count.
    link.needs_full = true;
    let reported = recompute("b", &mut link, Generation::Whole(translation), 2, &not_self);
    assert!(reported.is_empty(), "{reported:?}");
    assert_eq!(link.edges[source], EdgeState::Applied);
    tokio::task::yield_now().await;
    assert_eq!(upserted(&mut received), 2, "sent both times");
    // A NACK of the resync still settles it.
    link.acknowledged(&v1::Ack {
        revision: 2,
        errors: vec![error(source, false)],
        ..Default::default()
    });
    assert_eq!(link.edges[source], EdgeState::Errored);
}
