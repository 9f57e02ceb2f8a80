//! The reconciler's decisions, driven by events as the watches, the MP stream, leadership and
//! the clock deliver them; what it sends is read from the stream's outbox.

use std::collections::BTreeMap;

use serde_json::json;
use tokio::sync::mpsc;

use super::status::ready_of;
use super::*;
use crate::agent::status::StatusWrite;
use crate::agent::upstream::MpEvent;
use crate::agent::watch::{NamespaceEvent, ServiceEvent, ServiceKey, WatchEvent, ours};
use crate::model::status::{ConditionStatus, Reason};

/// The messages of one variant.
macro_rules! only {
    ($messages:expr, $variant:path) => {
        $messages
            .iter()
            .filter_map(|m| match m {
                $variant(inner) => Some(inner),
                _ => None,
            })
            .collect()
    };
}

/// A reconciler over our kinds, leading, with the status writes it makes.
fn reconciler(resync: Duration) -> (Reconciler, mpsc::Receiver<StatusWrite>) {
    let (reconciler, written, _) = reconciler_with(resync, 1024);
    (reconciler, written)
}

/// The same with room for `queued` status writes, and its metrics.
fn reconciler_with(
    resync: Duration,
    queued: usize,
) -> (Reconciler, mpsc::Receiver<StatusWrite>, AgentMetrics) {
    let (writes, written) = mpsc::channel(queued);
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = AgentMetrics::register(&mut registry);
    let writes = StatusQueue::new(writes, metrics.clone());
    let settings = Settings {
        cluster: "eu".into(),
        server: "http://127.0.0.1:1".into(),
        delete_grace: Duration::from_secs(10),
        resync_interval: resync,
    };
    let mut reconciler = Reconciler::new(settings, ours(), writes, metrics.clone());
    reconciler.on_leading(true);
    (reconciler, written, metrics)
}

fn index_of(reconciler: &Reconciler, kind: &str) -> usize {
    reconciler
        .watched
        .iter()
        .position(|w| w.resource.kind == kind)
        .unwrap_or_else(|| panic!("{kind} is watched"))
}

fn tenant(name: &str) -> Box<DynamicObject> {
    Box::new(
        serde_json::from_value(json!({
            "apiVersion": "tsb.tetrate.io/v2", "kind": "Tenant",
            "metadata": {"name": name, "namespace": "config", "uid": format!("uid-{name}"),
                         "generation": 1,
                         "annotations": {"tsb.tetrate.io/organization": "acme"}},
            "spec": {"displayName": name}
        }))
        .expect("a Tenant"),
    )
}

fn workspace(tenant: &str, name: &str) -> Box<DynamicObject> {
    Box::new(
        serde_json::from_value(json!({
            "apiVersion": "tsb.tetrate.io/v2", "kind": "Workspace",
            "metadata": {"name": name, "namespace": "config", "uid": format!("uid-{name}"),
                         "generation": 1,
                         "annotations": {"tsb.tetrate.io/organization": "acme",
                                         "tsb.tetrate.io/tenant": tenant}},
            "spec": {"namespaceSelector": {"names": ["*/app"]}}
        }))
        .expect("a Workspace"),
    )
}

/// Every watch has listed `objects` (by kind); connected; the inventory answered. Returns the
/// stream's messages from then on.
fn synced(
    reconciler: &mut Reconciler,
    objects: Vec<(&str, Box<DynamicObject>)>,
) -> mpsc::Receiver<v1::AgentMessage> {
    let indexes: Vec<usize> = objects
        .iter()
        .map(|(kind, _)| index_of(reconciler, kind))
        .collect();
    list_all_but(reconciler, &indexes);
    for index in &indexes {
        reconciler.on_watch(WatchEvent::Relist(*index));
    }
    for (index, (_, object)) in indexes.iter().zip(objects) {
        reconciler.on_watch(WatchEvent::Seen(*index, object));
    }
    for index in &indexes {
        reconciler.on_watch(WatchEvent::Listed(*index));
    }
    let mut sent = connect(reconciler);
    let messages = drain(&mut sent);
    answer_inventory(reconciler, &messages);
    sent
}

/// The MP answers the inventory among `messages`: it holds none of the objects.
fn answer_inventory(reconciler: &mut Reconciler, messages: &[Up]) {
    let id = inventories(messages)[0].inventory_id;
    reconciler.on_mp(MpEvent::Inventory(v1::InventoryResult {
        inventory_id: id,
        ..Default::default()
    }));
}

fn pushes(messages: &[Up]) -> Vec<&v1::Push> {
    only!(messages, Up::Push)
}

fn fqn_of(push: &v1::Push) -> &str {
    &push.resource.as_ref().expect("a resource").fqn
}

fn accepted(push: &v1::Push) -> MpEvent {
    MpEvent::Result(v1::PushResult {
        id: push.id,
        fqn: fqn_of(push).to_string(),
        accepted: true,
        etag: "\"e1\"".into(),
        ..Default::default()
    })
}

fn refused(push: &v1::Push, code: &str) -> MpEvent {
    MpEvent::Result(v1::PushResult {
        id: push.id,
        fqn: fqn_of(push).to_string(),
        accepted: false,
        code: code.into(),
        message: "no".into(),
        ..Default::default()
    })
}

/// Every watch but `except` lists nothing (complete and empty).
fn list_all_but(reconciler: &mut Reconciler, except: &[usize]) {
    for index in 0..reconciler.watched.len() {
        if !except.contains(&index) {
            reconciler.on_watch(WatchEvent::Relist(index));
            reconciler.on_watch(WatchEvent::Listed(index));
        }
    }
}

fn connect(reconciler: &mut Reconciler) -> mpsc::Receiver<v1::AgentMessage> {
    let (outbox, sent) = mpsc::channel(64);
    reconciler.on_mp(MpEvent::Connected(outbox, v1::Welcome::default()));
    sent
}

fn drain(sent: &mut mpsc::Receiver<v1::AgentMessage>) -> Vec<Up> {
    let mut messages = Vec::new();
    while let Ok(message) = sent.try_recv() {
        messages.extend(message.message);
    }
    messages
}

fn inventories(messages: &[Up]) -> Vec<&v1::InventoryChunk> {
    only!(messages, Up::Inventory)
}

fn namespace_lists(messages: &[Up]) -> Vec<&v1::NamespaceInventory> {
    only!(messages, Up::Namespaces)
}

#[test]
fn nothing_is_inventoried_until_every_watch_has_listed() {
    let (mut reconciler, _written) = reconciler(Duration::ZERO);
    let tenants = index_of(&reconciler, "Tenant");
    list_all_but(&mut reconciler, &[tenants]);
    // Connected while the Tenant watch is still listing: one of two tenants seen so far.
    let mut sent = connect(&mut reconciler);
    reconciler.on_watch(WatchEvent::Relist(tenants));
    reconciler.on_watch(WatchEvent::Seen(tenants, tenant("a")));
    reconciler.flush();
    assert!(
        drain(&mut sent).is_empty(),
        "nothing may go up from a partial list"
    );
    assert_eq!(
        reconciler.pending_lists(),
        vec![
            "tenants.tsb.tetrate.io".to_string(),
            "namespaces".to_string(),
            "services".to_string()
        ]
    );

    reconciler.on_watch(WatchEvent::Seen(tenants, tenant("b")));
    reconciler.on_watch(WatchEvent::Listed(tenants));
    let messages = drain(&mut sent);
    let chunks = inventories(&messages);
    assert_eq!(chunks.len(), 1, "{messages:?}");
    assert!(chunks[0].last && chunks[0].complete);
    assert_eq!(
        chunks[0].items.len(),
        2,
        "both tenants: {:?}",
        chunks[0].items
    );
    assert!(
        namespace_lists(&messages).is_empty(),
        "the namespaces have not listed yet"
    );
    assert_eq!(
        reconciler.pending_lists(),
        vec!["namespaces".to_string(), "services".to_string()]
    );
}

#[test]
fn the_namespace_list_goes_up_whole_and_complete_and_changes_only_after_it() {
    let (mut reconciler, _written) = reconciler(Duration::ZERO);
    let mut sent = connect(&mut reconciler);
    reconciler.on_namespace(NamespaceEvent::Relist);
    reconciler.on_namespace(NamespaceEvent::Seen("app".into(), BTreeMap::new()));
    reconciler.on_namespace(NamespaceEvent::Deleted("gone".into()));
    assert!(
        drain(&mut sent).is_empty(),
        "nothing before the list is complete"
    );

    reconciler.on_namespace(NamespaceEvent::Seen("other".into(), BTreeMap::new()));
    reconciler.on_namespace(NamespaceEvent::Listed);
    let messages = drain(&mut sent);
    let lists = namespace_lists(&messages);
    assert_eq!(lists.len(), 1, "{messages:?}");
    assert!(lists[0].full && lists[0].complete);
    let names: Vec<&str> = lists[0].upserts.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["app", "other"]);

    // A re-list (after 410 Gone) keeps the MP's view until it is complete, then replaces it.
    reconciler.on_namespace(NamespaceEvent::Relist);
    reconciler.on_namespace(NamespaceEvent::Seen("app".into(), BTreeMap::new()));
    assert!(
        drain(&mut sent).is_empty(),
        "a partial re-list says nothing"
    );
    reconciler.on_namespace(NamespaceEvent::Listed);
    let messages = drain(&mut sent);
    let lists = namespace_lists(&messages);
    assert_eq!(lists.len(), 1);
    assert!(lists[0].full && lists[0].complete && lists[0].upserts.len() == 1);

    // Afterwards a change goes up alone.
    reconciler.on_namespace(NamespaceEvent::Seen("new".into(), BTreeMap::new()));
    let messages = drain(&mut sent);
    let lists = namespace_lists(&messages);
    assert!(lists.len() == 1 && !lists[0].full && lists[0].upserts[0].name == "new");

    // On a new stream, the whole list again.
    let mut sent = connect(&mut reconciler);
    let messages = drain(&mut sent);
    let lists = namespace_lists(&messages);
    assert!(lists.len() == 1 && lists[0].full && lists[0].complete);
}

fn service_lists(messages: &[Up]) -> Vec<&v1::ServiceInventory> {
    only!(messages, Up::Services)
}

fn service(namespace: &str, name: &str) -> ServiceEvent {
    let service = v1::Service {
        name: name.into(),
        namespace: namespace.into(),
        selector: [("app".to_string(), name.to_string())].into(),
        ..Default::default()
    };
    ServiceEvent::Seen(ServiceKey::new(namespace, name), service)
}

#[test]
fn the_service_list_goes_up_whole_and_complete_and_changes_only_after_it() {
    let (mut reconciler, _written) = reconciler(Duration::ZERO);
    let mut sent = connect(&mut reconciler);
    reconciler.on_service(ServiceEvent::Relist);
    reconciler.on_service(service("app", "details"));
    reconciler.on_service(ServiceEvent::Deleted(ServiceKey::new("app", "gone")));
    assert!(
        service_lists(&drain(&mut sent)).is_empty(),
        "nothing before the list is complete"
    );
    assert!(reconciler.pending_lists().contains(&"services".to_string()));
    reconciler.on_service(service("app", "reviews"));
    reconciler.on_service(ServiceEvent::Listed);
    assert!(!reconciler.pending_lists().contains(&"services".to_string()));
    let messages = drain(&mut sent);
    let lists = service_lists(&messages);
    assert_eq!(lists.len(), 1, "{messages:?}");
    assert!(lists[0].full && lists[0].complete);
    let names: Vec<&str> = lists[0].upserts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["details", "reviews"]);
    assert_eq!(lists[0].upserts[0].selector["app"], "details");

    // A re-list says nothing until complete, then replaces the list whole.
    reconciler.on_service(ServiceEvent::Relist);
    reconciler.on_service(service("app", "details"));
    assert!(service_lists(&drain(&mut sent)).is_empty());
    reconciler.on_service(ServiceEvent::Listed);
    let messages = drain(&mut sent);
    let lists = service_lists(&messages);
    assert!(lists.len() == 1 && lists[0].full && lists[0].upserts.len() == 1);

    // Then changes alone: an unchanged Service says nothing, a deletion names it.
    reconciler.on_service(service("app", "details"));
    assert!(service_lists(&drain(&mut sent)).is_empty());
    reconciler.on_service(ServiceEvent::Deleted(ServiceKey::new("app", "details")));
    let messages = drain(&mut sent);
    let lists = service_lists(&messages);
    assert!(lists.len() == 1 && !lists[0].full && lists[0].removed == ["app/details"]);

    // On a new stream, the whole list again.
    let mut sent = connect(&mut reconciler);
    let messages = drain(&mut sent);
    let lists = service_lists(&messages);
    assert!(lists.len() == 1 && lists[0].full && lists[0].complete);
}

#[tokio::test(start_paused = true)]
async fn a_resync_waits_while_a_watch_relists() {
    let (mut reconciler, _written) = reconciler(Duration::from_secs(60));
    let tenants = index_of(&reconciler, "Tenant");
    list_all_but(&mut reconciler, &[]);
    reconciler.on_watch(WatchEvent::Relist(tenants));
    reconciler.on_watch(WatchEvent::Seen(tenants, tenant("a")));
    reconciler.on_watch(WatchEvent::Listed(tenants));
    let mut sent = connect(&mut reconciler);
    let messages = drain(&mut sent);
    answer_inventory(&mut reconciler, &messages);
    drain(&mut sent);

    // The watch re-lists (410 Gone) across the resync time: no inventory until it is done.
    reconciler.on_watch(WatchEvent::Relist(tenants));
    tokio::time::advance(Duration::from_secs(61)).await;
    reconciler.on_tick();
    assert!(inventories(&drain(&mut sent)).is_empty());
    reconciler.on_watch(WatchEvent::Seen(tenants, tenant("a")));
    reconciler.on_watch(WatchEvent::Listed(tenants));
    reconciler.on_tick();
    let messages = drain(&mut sent);
    let chunks = inventories(&messages);
    assert!(chunks.len() == 1 && chunks[0].complete && chunks[0].items.len() == 1);
}

#[tokio::test(start_paused = true)]
async fn a_standby_that_takes_over_does_not_call_the_mp_unavailable_at_once() {
    let (mut reconciler, mut written) = reconciler(Duration::ZERO);
    reconciler.on_leading(false);
    let tenants = index_of(&reconciler, "Tenant");
    list_all_but(&mut reconciler, &[]);
    reconciler.on_watch(WatchEvent::Relist(tenants));
    reconciler.on_watch(WatchEvent::Seen(tenants, tenant("a")));
    reconciler.on_watch(WatchEvent::Listed(tenants));
    // A standby for far longer than the grace, then the leader.
    tokio::time::advance(MP_GRACE * 10).await;
    reconciler.on_leading(true);
    reconciler.on_tick();
    reconciler.flush();
    assert!(
        written.try_recv().is_err(),
        "no status before the MP had a chance"
    );
    // Renewals repeat `true`: the grace keeps running.
    tokio::time::advance(MP_GRACE / 2).await;
    reconciler.on_leading(true);
    tokio::time::advance(MP_GRACE / 2).await;
    reconciler.on_tick();
    reconciler.flush();
    let write = written.try_recv().expect("the MP is unavailable now");
    let status = write.status.expect("a status");
    assert_eq!(
        ready_of(Some(&status)),
        Some((ConditionStatus::False, Reason::ManagementPlaneUnavailable))
    );
}

#[test]
fn provisional_counts_keep_the_status_shown_for_the_same_etag() {
    let (mut reconciler, mut written) = reconciler(Duration::ZERO);
    let tenants = index_of(&reconciler, "Tenant");
    list_all_but(&mut reconciler, &[tenants]);
    let mut shown = tenant("a");
    let tsb = json!({"fqn": "organizations/acme/tenants/a", "etag": "\"e1\"", "status": "READY",
                     "lastEvent": "XCP_APPLIED", "clusters": {"applied": 2, "targeted": 2}});
    shown.data["status"] = json!({"observedGeneration": 1, "tsb": tsb});
    reconciler.on_watch(WatchEvent::Relist(tenants));
    reconciler.on_watch(WatchEvent::Seen(tenants, shown));
    reconciler.on_watch(WatchEvent::Listed(tenants));
    let key = reconciler.by_fqn["organizations/acme/tenants/a"].clone();
    let tracked = reconciler.objects.get_mut(&key).expect("tracked");
    let low = v1::ObjectState {
        status: "ACCEPTED".into(),
        last_event: "XCP_ACCEPTED".into(),
        clusters_applied: 0,
        clusters_targeted: 0,
        provisional: true,
        ..Default::default()
    };
    let PushState::Accepted(kept) =
        tracked.accepted("organizations/acme/tenants/a", "\"e1\"", Some(&low))
    else {
        panic!("accepted")
    };
    assert_eq!(kept.clusters.applied, 2, "the shown counts stay");
    // Another etag (the object changed), or final counts: the MP's answer is taken.
    let PushState::Accepted(new) =
        tracked.accepted("organizations/acme/tenants/a", "\"e2\"", Some(&low))
    else {
        panic!("accepted")
    };
    assert_eq!(new.clusters.targeted, 0);
    let last = v1::ObjectState {
        provisional: false,
        ..low
    };
    let PushState::Accepted(last) =
        tracked.accepted("organizations/acme/tenants/a", "\"e1\"", Some(&last))
    else {
        panic!("accepted")
    };
    assert_eq!(last.clusters.targeted, 0);
    assert!(written.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_watch_that_cannot_list_does_not_stop_pushes_and_deletes_nothing() {
    let (mut reconciler, _written) = reconciler(Duration::ZERO);
    let tenants = index_of(&reconciler, "Tenant");
    let workspaces = index_of(&reconciler, "Workspace");
    list_all_but(&mut reconciler, &[tenants, workspaces]);
    reconciler.on_watch(WatchEvent::Relist(tenants));
    reconciler.on_watch(WatchEvent::Seen(tenants, tenant("a")));
    reconciler.on_watch(WatchEvent::Listed(tenants));
    // Workspaces never list (say RBAC forbids them).
    let mut sent = connect(&mut reconciler);
    reconciler.on_tick();
    assert!(inventories(&drain(&mut sent)).is_empty());
    tokio::time::advance(INVENTORY_WAIT).await;
    reconciler.on_tick();
    let messages = drain(&mut sent);
    let chunks = inventories(&messages);
    assert!(chunks.len() == 1 && !chunks[0].complete, "{messages:?}");
    reconciler.on_mp(MpEvent::Inventory(v1::InventoryResult {
        inventory_id: chunks[0].inventory_id,
        ..Default::default()
    }));
    reconciler.flush();
    let messages = drain(&mut sent);
    assert!(
        messages.iter().any(|m| matches!(m, Up::Push(_))),
        "pushes flow: {messages:?}"
    );
    // Once the last list is done, the complete inventory follows.
    reconciler.on_watch(WatchEvent::Relist(workspaces));
    reconciler.on_watch(WatchEvent::Listed(workspaces));
    let messages = drain(&mut sent);
    let chunks = inventories(&messages);
    assert!(chunks.len() == 1 && chunks[0].complete, "{messages:?}");
}

#[tokio::test(start_paused = true)]
async fn parents_are_pushed_first_and_a_child_waiting_for_its_parent_goes_when_one_is_accepted() {
    let (mut reconciler, _written) = reconciler(Duration::ZERO);
    let mut sent = synced(
        &mut reconciler,
        vec![("Workspace", workspace("t", "w")), ("Tenant", tenant("t"))],
    );
    reconciler.flush();
    let messages = drain(&mut sent);
    let order: Vec<&str> = pushes(&messages).into_iter().map(fqn_of).collect();
    assert_eq!(
        order,
        [
            "organizations/acme/tenants/t",
            "organizations/acme/tenants/t/workspaces/w"
        ]
    );
    let (parent, child) = (pushes(&messages)[0].clone(), pushes(&messages)[1].clone());
    // The child overtook its parent in the MP: it waits (with a backoff) for the parent.
    reconciler.on_mp(refused(&child, "NOT_FOUND"));
    reconciler.flush();
    assert!(pushes(&drain(&mut sent)).is_empty(), "the child backs off");
    // The parent is accepted: the child goes again at once, not after its backoff.
    reconciler.on_mp(accepted(&parent));
    reconciler.flush();
    let messages = drain(&mut sent);
    let again: Vec<&str> = pushes(&messages).into_iter().map(fqn_of).collect();
    assert_eq!(again, ["organizations/acme/tenants/t/workspaces/w"]);
    // An accepted object is not pushed again, nor is an answer from before counted twice.
    reconciler.on_mp(accepted(pushes(&messages)[0]));
    reconciler.on_mp(accepted(&parent));
    reconciler.on_tick();
    reconciler.flush();
    assert!(pushes(&drain(&mut sent)).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_ends_with_pushes_in_flight_pushes_them_again_on_the_next() {
    let (mut reconciler, _written) = reconciler(Duration::ZERO);
    let mut sent = synced(&mut reconciler, vec![("Tenant", tenant("a"))]);
    reconciler.flush();
    let lost = pushes(&drain(&mut sent))[0].clone();
    reconciler.on_mp(MpEvent::Disconnected(crate::agent::Error::Closed {
        server: "http://127.0.0.1:1".into(),
    }));
    // A late answer from the old stream is not taken for the new one.
    reconciler.on_mp(accepted(&lost));
    let mut sent = connect(&mut reconciler);
    let messages = drain(&mut sent);
    answer_inventory(&mut reconciler, &messages);
    reconciler.flush();
    let messages = drain(&mut sent);
    let again = pushes(&messages);
    assert_eq!(again.len(), 1, "{messages:?}");
    assert_eq!(fqn_of(again[0]), "organizations/acme/tenants/a");
    assert_ne!(again[0].id, lost.id, "a new id");
}

#[tokio::test(start_paused = true)]
async fn a_delete_waits_its_grace_and_a_recreate_within_it_is_one_update() {
    let (mut reconciler, _written) = reconciler(Duration::ZERO);
    let tenants = index_of(&reconciler, "Tenant");
    let mut sent = two_accepted_tenants(&mut reconciler);
    reconciler.on_watch(WatchEvent::Deleted(tenants, tenant("a")));
    reconciler.on_watch(WatchEvent::Deleted(tenants, tenant("b")));
    tokio::time::advance(Duration::from_secs(5)).await;
    reconciler.on_watch(WatchEvent::Seen(tenants, tenant("b")));
    reconciler.on_tick();
    reconciler.flush();
    let messages = drain(&mut sent);
    assert!(removals(&messages).is_empty(), "none inside the grace");
    // b came back: at most an update of it, never a removal.
    for push in pushes(&messages) {
        assert_eq!(fqn_of(push), "organizations/acme/tenants/b");
        reconciler.on_mp(accepted(push));
    }
    tokio::time::advance(Duration::from_secs(6)).await;
    reconciler.on_tick();
    reconciler.flush();
    let messages = drain(&mut sent);
    let removed = removals(&messages);
    assert_eq!(removed.len(), 1, "only a: {messages:?}");
    assert_eq!(removed[0].fqn, "organizations/acme/tenants/a");
    let origin = removed[0].origin.as_ref().expect("origin");
    assert_eq!(
        (origin.namespace.as_str(), origin.name.as_str()),
        ("config", "a")
    );
    assert!(pushes(&messages).is_empty(), "{messages:?}");
}

/// Tenants a and b listed, pushed and accepted; the stream from then on.
fn two_accepted_tenants(reconciler: &mut Reconciler) -> mpsc::Receiver<v1::AgentMessage> {
    let mut sent = synced(
        reconciler,
        vec![("Tenant", tenant("a")), ("Tenant", tenant("b"))],
    );
    reconciler.flush();
    for push in pushes(&drain(&mut sent)) {
        reconciler.on_mp(accepted(push));
    }
    sent
}

fn removals(messages: &[Up]) -> Vec<&v1::Removal> {
    only!(messages, Up::Removal)
}

#[tokio::test(start_paused = true)]
async fn a_status_write_that_does_not_fit_the_writer_queue_is_written_later() {
    let (mut reconciler, mut written, metrics) = reconciler_with(Duration::ZERO, 1);
    let _sent = two_accepted_tenants(&mut reconciler);
    reconciler.flush();
    // Two statuses to write, room for one.
    let first = written.try_recv().expect("one write");
    assert!(written.try_recv().is_err());
    let full = metrics
        .queue_full
        .get_or_create(&vec![("queue".to_string(), "status".to_string())])
        .get();
    assert_eq!(full, 1);
    // The writer catches up; the refused one is written on a later tick, once.
    tokio::time::advance(WRITE_RETRY).await;
    reconciler.on_tick();
    reconciler.flush();
    let second = written.try_recv().expect("the refused write, later");
    assert_ne!(first.key, second.key);
    reconciler.on_tick();
    reconciler.flush();
    assert!(written.try_recv().is_err(), "each written once");
}

fn removal_answer(removal: &v1::Removal, code: &str) -> MpEvent {
    MpEvent::Result(v1::PushResult {
        id: removal.id,
        fqn: removal.fqn.clone(),
        accepted: code.is_empty(),
        code: code.into(),
        message: "the store is busy with concurrent writes; retry".into(),
        ..Default::default()
    })
}

/// The soak's lost removal: a store busy with another replica's writes refused it, and the
/// agent dropped it until a resync minutes later.
#[tokio::test(start_paused = true)]
async fn a_removal_refused_for_now_goes_again_and_a_terminal_refusal_does_not() {
    let (mut reconciler, _written) = reconciler(Duration::ZERO);
    let tenants = index_of(&reconciler, "Tenant");
    let mut sent = two_accepted_tenants(&mut reconciler);
    reconciler.on_watch(WatchEvent::Deleted(tenants, tenant("a")));
    reconciler.on_watch(WatchEvent::Deleted(tenants, tenant("b")));
    tokio::time::advance(Duration::from_secs(11)).await;
    reconciler.on_tick();
    let messages = drain(&mut sent);
    let removed = removals(&messages);
    assert_eq!(removed.len(), 2, "{messages:?}");
    for removal in &removed {
        let code = if removal.fqn.ends_with("/a") {
            "ABORTED"
        } else {
            "PERMISSION_DENIED"
        };
        reconciler.on_mp(removal_answer(removal, code));
    }
    reconciler.on_tick();
    assert!(
        removals(&drain(&mut sent)).is_empty(),
        "not before the backoff"
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    reconciler.on_tick();
    let messages = drain(&mut sent);
    let again = removals(&messages);
    assert_eq!(again.len(), 1, "only the transient one: {messages:?}");
    assert_eq!(again[0].fqn, "organizations/acme/tenants/a");
    assert!(again[0].id != removed[0].id && again[0].id != removed[1].id);
    // Accepted now: it is not sent a third time.
    reconciler.on_mp(removal_answer(again[0], ""));
    tokio::time::advance(Duration::from_secs(60)).await;
    reconciler.on_tick();
    assert!(removals(&drain(&mut sent)).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_refused_removal_of_an_object_that_came_back_is_not_sent_again() {
    let (mut reconciler, _written) = reconciler(Duration::ZERO);
    let tenants = index_of(&reconciler, "Tenant");
    let mut sent = two_accepted_tenants(&mut reconciler);
    reconciler.on_watch(WatchEvent::Deleted(tenants, tenant("a")));
    tokio::time::advance(Duration::from_secs(11)).await;
    reconciler.on_tick();
    let messages = drain(&mut sent);
    let removed = removals(&messages);
    assert_eq!(removed.len(), 1, "{messages:?}");
    reconciler.on_watch(WatchEvent::Seen(tenants, tenant("a")));
    reconciler.on_mp(removal_answer(removed[0], "ABORTED"));
    tokio::time::advance(Duration::from_secs(60)).await;
    reconciler.on_tick();
    reconciler.flush();
    assert!(removals(&drain(&mut sent)).is_empty());
}

/// Istio installed after the agent (or an apiserver restarting at its start) is picked up
/// without a restart: a group is missing only while none of its kinds is served.
#[test]
fn istio_groups_are_missing_while_unserved_and_clear_when_their_crds_appear() {
    let (writes, _written) = mpsc::channel(16);
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = AgentMetrics::register(&mut registry);
    let settings = Settings {
        cluster: "eu".into(),
        server: "http://127.0.0.1:1".into(),
        delete_grace: Duration::from_secs(10),
        resync_interval: Duration::ZERO,
    };
    let writes = StatusQueue::new(writes, metrics.clone());
    let mut reconciler = Reconciler::new(settings, crate::agent::watch::all(), writes, metrics);
    assert!(reconciler.istio_missing().is_empty(), "nothing known yet");
    let direct: Vec<(usize, &'static str)> = reconciler
        .watched
        .iter()
        .enumerate()
        .filter(|(_, w)| w.kind.is_direct())
        .map(|(index, w)| (index, w.kind.group()))
        .collect();
    for (index, _) in &direct {
        reconciler.on_watch(WatchEvent::Relist(*index));
        reconciler.on_watch(WatchEvent::Listed(*index));
        reconciler.on_watch(WatchEvent::NotServed(*index));
    }
    assert_eq!(
        reconciler.istio_missing(),
        [
            "extensions.istio.io",
            "networking.istio.io",
            "security.istio.io",
            "telemetry.istio.io"
        ]
        .into_iter()
        .filter(|g| direct.iter().any(|(_, group)| group == g))
        .collect::<Vec<_>>()
    );
    // The VirtualService CRD is installed: its watch lists again.
    let virtual_service = index_of(&reconciler, "VirtualService");
    reconciler.on_watch(WatchEvent::Relist(virtual_service));
    reconciler.on_watch(WatchEvent::Listed(virtual_service));
    assert!(
        !reconciler
            .istio_missing()
            .contains(&"networking.istio.io".to_string())
    );
    assert!(
        reconciler
            .pending_lists()
            .iter()
            .all(|l| !l.ends_with(".istio.io"))
    );
}
