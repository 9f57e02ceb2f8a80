//! The agent's single owner of state: every watched object, what the management plane last
//! said about it, and the status it should show. Watches, the MP stream, leadership and a
//! clock feed it events; it decides pushes, removals, inventories and status writes.
//!
//! Rules it keeps (gitops-contract.md):
//! * only a changed content hash is pushed (R-I2): annotation-only churn costs nothing;
//! * parents are pushed before children, and a child waiting for its parent is retried as
//!   soon as any push is accepted;
//! * a delete waits `delete_grace`; a re-create within it is one update (R-E1);
//! * inventories (objects, namespaces, Services) go up only from complete lists: after every connect
//!   and every resync interval, once every watch has finished its initial list or re-list. A
//!   partial list would make the MP delete what is simply not listed yet;
//! * status is written only by the leader, only when it changes (G-5), and a restart does not
//!   flap Ready objects: nothing is written for an object until the MP has answered for it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use kube::api::DynamicObject;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::agent::metrics::AgentMetrics;
use crate::agent::status::{StatusQueue, StatusWrite, Transition};
use crate::agent::watch::{WatchEvent, Watched};
use crate::model::metadata::StripRules;
use crate::model::object::DELETION_POLICY_ANNOTATION;
use crate::model::status::{
    ClusterCounts, Condition, ConditionStatus, ConditionType, CrStatus, EventType, Finding,
    MpStatus, PushState, Reason, TsbStatus, desired_status,
};
use crate::model::{Converted, Resource, RuleCode};
use crate::proto::v1;
use crate::proto::v1::agent_message::Message as Up;

/// After this long without a stream, CRs say `ManagementPlaneUnavailable`.
pub const MP_GRACE: Duration = Duration::from_secs(3);
/// Pushes awaiting an answer at once.
const MAX_IN_FLIGHT: usize = 256;
/// Inventory items per message (far below gRPC limits).
const INVENTORY_CHUNK: usize = 500;
/// How long a new stream waits for every watch's list before an incomplete inventory goes up.
const INVENTORY_WAIT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A status write that failed or did not fit the writer's queue is tried again after this.
const WRITE_RETRY: Duration = Duration::from_secs(1);

/// (watched kind index, namespace, name).
pub type Key = (usize, String, String);

#[derive(Debug, Clone)]
enum Conv {
    Valid {
        resource: Box<Resource>,
        hash: String,
        findings: Vec<Finding>,
    },
    Invalid(String),
    Ignored,
}

#[derive(Debug)]
struct Tracked {
    object: DynamicObject,
    generation: i64,
    conv: Conv,
    /// The MP's last answer and the content hash it was for.
    answered: Option<(String, PushState)>,
    in_flight: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Written but not yet seen back on the watch.
    sent_status: Option<CrStatus>,
    /// Whether an interim status is being held back (see [`STATUS_HOLD`]).
    status_hold: StatusHold,
    /// What translation left out in some cluster, as the MP last said (status `analysis`).
    translation: Vec<Finding>,
}

/// How long an interim status ("accepted, not yet applied in every target cluster") waits
/// before it is written. Clusters usually apply within tens of milliseconds, and then the final
/// status replaces it: one status write per change instead of one per acknowledging cluster,
/// and no Propagated Pending/Applied event pair. Well inside the 2 s freshness target (R-A4).
const STATUS_HOLD: Duration = Duration::from_millis(400);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusHold {
    /// Nothing held.
    None,
    /// An interim status is held until then.
    Until(Instant),
    /// Held long enough: interim statuses are written from now on.
    Expired,
}

/// A state that usually lasts only until the target clusters acknowledge.
fn is_interim(status: &CrStatus) -> bool {
    condition_of(Some(status), ConditionType::Propagated)
        .is_some_and(|c| c.status == ConditionStatus::False && c.reason == Reason::Pending)
}

impl Tracked {
    fn observed_status(&self) -> Option<CrStatus> {
        self.object
            .data
            .get("status")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
    }

    fn fqn(&self) -> Option<String> {
        match &self.conv {
            Conv::Valid { resource, .. } => Some(resource.fqn.to_string()),
            _ => self.observed_status().and_then(|s| s.tsb).map(|t| t.fqn),
        }
    }

    fn hash(&self) -> Option<&str> {
        match &self.conv {
            Conv::Valid { hash, .. } => Some(hash),
            _ => None,
        }
    }

    /// The MP's answer for `etag`. While the MP's counts are provisional (it restarted and
    /// has not heard from every cluster yet), the status already shown for the same etag
    /// stays: a restart of the MP writes no CR status.
    fn accepted(&mut self, fqn: &str, etag: &str, state: Option<&v1::ObjectState>) -> PushState {
        if let Some(state) = state.filter(|s| !s.provisional) {
            self.translation = state
                .translation_warnings
                .iter()
                .map(translation_finding)
                .collect();
        }
        if state.is_some_and(|s| s.provisional)
            && let Some(shown) = self
                .sent_status
                .clone()
                .or_else(|| self.observed_status())
                .and_then(|s| s.tsb)
            && shown.fqn == fqn
            && shown.etag == etag
        {
            return PushState::Accepted(shown);
        }
        accepted_state(fqn, etag, state)
    }
}

/// Where the object inventory of the current stream stands.
#[derive(Debug, Default)]
enum InventoryPhase {
    /// Not sent on this stream yet: it waits for every watch's list.
    #[default]
    Unsent,
    /// Sent (its id and what it listed); pushes wait for the answer.
    Pending(u64, HashMap<String, String>),
    /// Answered: pushes flow.
    Answered,
}

#[derive(Debug)]
struct PendingDelete {
    fqn: String,
    hash: String,
    deadline: Instant,
}

/// Settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This cluster.
    pub cluster: String,
    /// MP URL, for messages.
    pub server: String,
    /// Delete coalescing grace.
    pub delete_grace: Duration,
    /// Inventory resend interval (zero = off).
    pub resync_interval: Duration,
}

/// See the module docs.
pub struct Reconciler {
    settings: Settings,
    watched: Vec<Watched>,
    strip: StripRules,
    objects: HashMap<Key, Tracked>,
    by_fqn: HashMap<String, Key>,
    relisting: HashMap<usize, HashSet<Key>>,
    pending_deletes: HashMap<Key, PendingDelete>,
    dirty: HashSet<Key>,
    push_queue: BTreeSet<(usize, String, Key)>,
    in_flight: HashMap<u64, (Key, String, Instant)>,
    removals: HashMap<u64, String>,
    waiting_parent: HashSet<Key>,
    next_id: u64,
    leading: bool,
    outbox: Option<mpsc::Sender<v1::AgentMessage>>,
    inventory: InventoryPhase,
    /// The last inventory sent on this stream was complete.
    inventory_complete: bool,
    /// When the current stream opened.
    stream_opened: Option<Instant>,
    /// Per watched kind: its (re)list is complete.
    listed: Vec<bool>,
    down_since: Option<Instant>,
    unavailable_reported: bool,
    last_error: String,
    next_resync: Option<Instant>,
    status_writes: StatusQueue,
    metrics: AgentMetrics,
    /// The cluster's namespaces, reported to the MP.
    namespaces: Listing<String, BTreeMap<String, String>>,
    /// The cluster's Services, reported to the MP.
    services: Listing<(String, String), v1::Service>,
}

fn now_text() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

fn key_of(index: usize, object: &DynamicObject) -> Key {
    (
        index,
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone().unwrap_or_default(),
    )
}

fn parse_upper<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

fn accepted_state(fqn: &str, etag: &str, state: Option<&v1::ObjectState>) -> PushState {
    let state = state.cloned().unwrap_or_default();
    PushState::Accepted(TsbStatus {
        fqn: fqn.to_string(),
        etag: etag.to_string(),
        status: parse_upper(&state.status).unwrap_or(MpStatus::Accepted),
        last_event: parse_upper(&state.last_event).unwrap_or(EventType::MpcAccepted),
        clusters: ClusterCounts {
            applied: state.clusters_applied,
            targeted: state.clusters_targeted,
        },
    })
}

/// A translation warning of the MP as a status finding.
fn translation_finding(warning: &v1::Diagnostic) -> Finding {
    Finding {
        code: warning.rule.clone(),
        level: crate::model::status::FindingLevel::Warning,
        message: crate::model::status::condition_message(&format!(
            "{}; fix: {}",
            warning.message, warning.fix
        )),
        field_path: (!warning.field.is_empty()).then(|| warning.field.clone()),
    }
}

fn condition_of(status: Option<&CrStatus>, type_: ConditionType) -> Option<&Condition> {
    status?.conditions.iter().find(|c| c.type_ == type_)
}

fn ready_of(status: Option<&CrStatus>) -> Option<(ConditionStatus, Reason)> {
    status?
        .conditions
        .iter()
        .find(|c| c.type_ == ConditionType::Ready)
        .map(|c| (c.status, c.reason))
}

impl Reconciler {
    /// A reconciler for `watched` kinds.
    pub fn new(
        settings: Settings,
        watched: Vec<Watched>,
        status_writes: StatusQueue,
        metrics: AgentMetrics,
    ) -> Reconciler {
        let kinds = watched.len();
        Reconciler {
            settings,
            watched,
            strip: StripRules::default(),
            objects: HashMap::new(),
            by_fqn: HashMap::new(),
            relisting: HashMap::new(),
            pending_deletes: HashMap::new(),
            dirty: HashSet::new(),
            push_queue: BTreeSet::new(),
            in_flight: HashMap::new(),
            removals: HashMap::new(),
            waiting_parent: HashSet::new(),
            next_id: 1,
            leading: false,
            outbox: None,
            inventory: InventoryPhase::Unsent,
            inventory_complete: false,
            stream_opened: None,
            listed: vec![false; kinds],
            down_since: Some(Instant::now()),
            unavailable_reported: false,
            last_error: "not connected yet".into(),
            next_resync: None,
            status_writes,
            metrics,
            namespaces: Listing::default(),
            services: Listing::default(),
        }
    }

    fn mark_all_dirty(&mut self) {
        self.dirty.extend(self.objects.keys().cloned());
    }

    fn connected(&self) -> bool {
        self.leading && self.outbox.is_some() && matches!(self.inventory, InventoryPhase::Answered)
    }

    fn mp_unavailable(&self) -> bool {
        self.leading
            && self
                .down_since
                .is_some_and(|since| since.elapsed() >= MP_GRACE)
    }

    // ---- watch events -------------------------------------------------------------------

    /// Applies one watch event.
    pub fn on_watch(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::Relist(index) => {
                self.relisting.insert(index, HashSet::new());
                if let Some(listed) = self.listed.get_mut(index) {
                    *listed = false;
                }
            }
            WatchEvent::Seen(index, object) => {
                let key = key_of(index, &object);
                if let Some(seen) = self.relisting.get_mut(&index) {
                    seen.insert(key.clone());
                }
                self.seen(key, *object);
            }
            WatchEvent::Listed(index) => {
                if let Some(seen) = self.relisting.remove(&index) {
                    let gone: Vec<Key> = self
                        .objects
                        .keys()
                        .filter(|k| k.0 == index && !seen.contains(*k))
                        .cloned()
                        .collect();
                    for key in gone {
                        self.gone(&key);
                    }
                }
                if let Some(listed) = self.listed.get_mut(index) {
                    *listed = true;
                }
                self.send_inventories();
            }
            WatchEvent::Deleted(index, object) => {
                let key = key_of(index, &object);
                self.gone(&key);
            }
        }
    }

    fn convert(&self, object: &DynamicObject) -> Conv {
        let kube_object = match crate::k8s::convert::to_kube_object(object) {
            Ok(o) => o,
            Err(error) => return Conv::Invalid(error.to_string()),
        };
        match crate::model::convert(&kube_object, &self.strip) {
            Converted::Resource {
                mut resource,
                warnings,
            } => {
                if let Some(origin) = resource.origin.as_mut() {
                    origin.cluster = Some(self.settings.cluster.clone());
                }
                Conv::Valid {
                    hash: resource.content_hash(),
                    resource,
                    findings: warnings.iter().map(Finding::from).collect(),
                }
            }
            Converted::Invalid(diagnostics) => Conv::Invalid(
                diagnostics
                    .iter()
                    .find(|d| d.is_error())
                    .map_or_else(|| "invalid".to_string(), ToString::to_string),
            ),
            Converted::Ignored(_) => Conv::Ignored,
        }
    }

    fn seen(&mut self, key: Key, object: DynamicObject) {
        if self.pending_deletes.remove(&key).is_some() {
            tracing::info!(name = %key.2, namespace = %key.1, "re-created within the delete grace: one update");
        }
        let conv = self.convert(&object);
        let generation = object.metadata.generation.unwrap_or(0);
        let tracked = self.objects.entry(key.clone()).or_insert_with(|| Tracked {
            object: object.clone(),
            generation,
            conv: Conv::Ignored,
            answered: None,
            in_flight: false,
            retry_at: None,
            backoff: Duration::from_millis(500),
            sent_status: None,
            status_hold: StatusHold::None,
            translation: Vec::new(),
        });
        let changed = tracked.hash()
            != match &conv {
                Conv::Valid { hash, .. } => Some(hash.as_str()),
                _ => None,
            };
        tracked.object = object;
        tracked.generation = generation;
        tracked.conv = conv;
        if changed {
            tracked.retry_at = None;
            tracked.backoff = Duration::from_millis(500);
        }
        if tracked.sent_status.is_some() && tracked.sent_status == tracked.observed_status() {
            tracked.sent_status = None;
        }
        if let Some(fqn) = tracked.fqn() {
            self.by_fqn.insert(fqn, key.clone());
        }
        self.dirty.insert(key);
    }

    fn gone(&mut self, key: &Key) {
        let Some(tracked) = self.objects.remove(key) else {
            return;
        };
        self.dirty.remove(key);
        self.waiting_parent.remove(key);
        let Some(fqn) = tracked.fqn() else { return };
        if self.by_fqn.get(&fqn) == Some(key) {
            self.by_fqn.remove(&fqn);
        }
        let orphan = tracked
            .object
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DELETION_POLICY_ANNOTATION))
            .is_some_and(|p| p == "Orphan");
        if orphan {
            return;
        }
        self.pending_deletes.insert(
            key.clone(),
            PendingDelete {
                fqn,
                hash: tracked.hash().unwrap_or_default().to_string(),
                deadline: Instant::now() + self.settings.delete_grace,
            },
        );
    }

    // ---- MP events ----------------------------------------------------------------------

    /// Leadership changed.
    pub fn on_leading(&mut self, leading: bool) {
        // The Lease task says so on every renewal; only a change matters.
        if leading == self.leading {
            return;
        }
        self.leading = leading;
        if !leading {
            self.new_stream(None);
            self.clear_in_flight();
        }
        if self.outbox.is_none() {
            // A replica that just took over has not tried to reach the MP yet: its grace
            // starts now, not when the process (a standby until now) started.
            if leading {
                self.down_since = Some(Instant::now());
            } else {
                self.down_since.get_or_insert_with(Instant::now);
            }
        }
        self.unavailable_reported = false;
        self.mark_all_dirty();
    }

    /// A stream opened (`Some`) or ended: nothing of the old one's inventories counts.
    fn new_stream(&mut self, outbox: Option<mpsc::Sender<v1::AgentMessage>>) {
        self.stream_opened = outbox.is_some().then(Instant::now);
        self.outbox = outbox;
        self.inventory = InventoryPhase::Unsent;
        self.namespaces.sent = false;
        self.services.sent = false;
    }

    fn clear_in_flight(&mut self) {
        for (key, _, _) in self.in_flight.drain().map(|(_, v)| v) {
            if let Some(t) = self.objects.get_mut(&key) {
                t.in_flight = false;
            }
            self.dirty.insert(key);
        }
        self.removals.clear();
    }

    /// Applies one event of the MP stream.
    pub fn on_mp(&mut self, event: crate::agent::upstream::MpEvent) {
        use crate::agent::upstream::MpEvent;
        match event {
            MpEvent::Connected(outbox, _welcome) => {
                self.new_stream(Some(outbox));
                self.down_since = None;
                self.unavailable_reported = false;
                self.clear_in_flight();
                // Only what is completely listed goes up now; the rest when its list is done.
                self.send_inventories();
            }
            MpEvent::Disconnected(reason) => {
                self.new_stream(None);
                self.last_error = reason.to_string();
                self.down_since.get_or_insert_with(Instant::now);
                self.clear_in_flight();
            }
            MpEvent::Result(result) => self.on_result(result),
            MpEvent::Inventory(result) => self.on_inventory(result),
            MpEvent::Status(update) => self.on_status_update(&update),
        }
    }

    fn send(&mut self, message: Up) -> bool {
        let Some(outbox) = &self.outbox else {
            return false;
        };
        match outbox.try_send(v1::AgentMessage {
            message: Some(message),
        }) {
            Ok(()) => true,
            // The caller keeps what it could not send (a push stays queued) or leaves it to
            // the next inventory, which repairs the MP's view.
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.queue_full("outbox");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.outbox = None;
                false
            }
        }
    }

    /// New propagation counts (or MP status) for an accepted object.
    fn on_status_update(&mut self, update: &v1::StatusUpdate) {
        let Some(key) = self.by_fqn.get(&update.fqn).cloned() else {
            return;
        };
        let Some(tracked) = self.objects.get_mut(&key) else {
            return;
        };
        if let Some((hash, PushState::Accepted(tsb))) = &tracked.answered
            && tsb.etag == update.etag
        {
            let hash = hash.clone();
            let state = tracked.accepted(&update.fqn, &update.etag, update.state.as_ref());
            tracked.answered = Some((hash, state));
            self.dirty.insert(key);
        }
    }

    fn on_result(&mut self, result: v1::PushResult) {
        if let Some(fqn) = self.removals.remove(&result.id) {
            self.metrics.result(result.accepted, &result.code);
            if !result.accepted {
                tracing::warn!(%fqn, message = %result.message, "removal refused");
            }
            return;
        }
        let Some((key, hash, started)) = self.in_flight.remove(&result.id) else {
            return;
        };
        self.metrics
            .push_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.result(result.accepted, &result.code);
        let Some(tracked) = self.objects.get_mut(&key) else {
            return;
        };
        tracked.in_flight = false;
        let state = if result.accepted {
            tracked.accepted(&result.fqn, &result.etag, result.state.as_ref())
        } else {
            PushState::from_push_error(
                &result.code,
                RuleCode::from_code(&result.rule),
                &result.message,
            )
        };
        let transient =
            matches!(&state, PushState::NotAccepted { reason, .. } if !reason.is_terminal());
        if transient {
            let delay = tracked.backoff;
            tracked.retry_at = Some(Instant::now() + delay);
            tracked.backoff = (delay * 2).min(MAX_BACKOFF);
            if matches!(
                &state,
                PushState::NotAccepted {
                    reason: Reason::DependencyNotReady,
                    ..
                }
            ) {
                self.waiting_parent.insert(key.clone());
            }
        } else {
            tracked.retry_at = None;
            tracked.backoff = Duration::from_millis(500);
            self.waiting_parent.remove(&key);
        }
        tracked.answered = Some((hash, state));
        self.dirty.insert(key);
        if result.accepted {
            // A parent may have arrived: children waiting for it go again now.
            for waiting in self.waiting_parent.drain() {
                if let Some(t) = self.objects.get_mut(&waiting) {
                    t.retry_at = None;
                }
                self.dirty.insert(waiting);
            }
        }
    }

    // ---- clock --------------------------------------------------------------------------

    /// Timers: due retries, delete graces, resync, the MP-unavailable grace.
    pub fn on_tick(&mut self) {
        let now = Instant::now();
        if self.mp_unavailable() && !self.unavailable_reported {
            self.unavailable_reported = true;
            self.mark_all_dirty();
        }
        let due: Vec<Key> = self
            .objects
            .iter()
            .filter(|(_, t)| t.retry_at.is_some_and(|at| at <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some(t) = self.objects.get_mut(&key) {
                t.retry_at = None;
            }
            self.dirty.insert(key);
        }
        for (key, tracked) in &mut self.objects {
            if matches!(tracked.status_hold, StatusHold::Until(at) if at <= now) {
                tracked.status_hold = StatusHold::Expired;
                self.dirty.insert(key.clone());
            }
        }
        let expired: Vec<Key> = self
            .pending_deletes
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            let Some(pending) = self.pending_deletes.remove(&key) else {
                continue;
            };
            if !self.connected() {
                // The inventory of the next connect finds it gone.
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let removal = Up::Removal(v1::Removal {
                id,
                fqn: pending.fqn.clone(),
                origin: Some(v1::GitOpsOrigin {
                    cluster: self.settings.cluster.clone(),
                    namespace: key.1.clone(),
                    name: key.2.clone(),
                    ..Default::default()
                }),
            });
            if self.send(removal) {
                self.removals.insert(id, pending.fqn);
            }
        }
        // A resync waits while a watch re-lists: its list is not the truth until it is done.
        if self.connected() && self.objects_listed() && self.next_resync.is_some_and(|at| at <= now)
        {
            self.send_inventory();
        }
        self.send_inventories();
    }

    // ---- decisions ----------------------------------------------------------------------

    fn push_state(&self, tracked: &Tracked) -> Option<PushState> {
        match &tracked.conv {
            Conv::Ignored => None,
            Conv::Invalid(message) => Some(PushState::NotAccepted {
                reason: Reason::Invalid,
                message: message.clone(),
            }),
            Conv::Valid { hash, .. } => {
                if self.mp_unavailable() {
                    return Some(PushState::NotAccepted {
                        reason: Reason::ManagementPlaneUnavailable,
                        message: format!(
                            "the management plane at {} is unavailable ({}); the change is sent when it is back",
                            self.settings.server, self.last_error
                        ),
                    });
                }
                // No answer for this content yet: keep the current status (no flapping).
                tracked
                    .answered
                    .as_ref()
                    .filter(|(h, _)| h == hash)
                    .map(|(_, state)| state.clone())
            }
        }
    }

    fn needs_push(&self, tracked: &Tracked) -> bool {
        let Conv::Valid { hash, .. } = &tracked.conv else {
            return false;
        };
        if tracked.in_flight || tracked.retry_at.is_some_and(|at| at > Instant::now()) {
            return false;
        }
        match &tracked.answered {
            Some((h, PushState::Accepted(_))) if h == hash => false,
            Some((h, PushState::NotAccepted { reason, .. })) if h == hash => !reason.is_terminal(),
            _ => true,
        }
    }

    /// Acts on everything that changed since the last flush.
    pub fn flush(&mut self) {
        let dirty: Vec<Key> = self.dirty.drain().collect();
        for key in dirty {
            if self.leading {
                self.write_status(&key);
            }
            let Some(tracked) = self.objects.get(&key) else {
                continue;
            };
            if self.connected()
                && self.needs_push(tracked)
                && let Conv::Valid { resource, .. } = &tracked.conv
            {
                let fqn = resource.fqn.to_string();
                let depth = fqn.matches('/').count();
                self.push_queue.insert((depth, fqn, key.clone()));
            }
        }
        self.send_pushes();
    }

    fn send_pushes(&mut self) {
        while self.connected() && self.in_flight.len() < MAX_IN_FLIGHT {
            let Some(entry) = self.push_queue.pop_first() else {
                break;
            };
            let key = entry.2.clone();
            let Some(tracked) = self.objects.get(&key) else {
                continue;
            };
            if !self.needs_push(tracked) {
                continue;
            }
            let Conv::Valid { resource, hash, .. } = &tracked.conv else {
                continue;
            };
            let hash = hash.clone();
            let id = self.next_id;
            let push = Up::Push(v1::Push {
                id,
                resource: Some(crate::proto::convert::resource_to_proto(resource)),
            });
            if !self.send(push) {
                self.push_queue.insert(entry);
                break;
            }
            self.next_id += 1;
            self.in_flight
                .insert(id, (key.clone(), hash, Instant::now()));
            if let Some(t) = self.objects.get_mut(&key) {
                t.in_flight = true;
            }
        }
    }

    fn write_status(&mut self, key: &Key) {
        let Some(tracked) = self.objects.get(key) else {
            return;
        };
        let Some(state) = self.push_state(tracked) else {
            return;
        };
        let watched = &self.watched[key.0];
        let observed = tracked.observed_status();
        let previous = tracked.sent_status.clone().or(observed);
        let mut findings = match &tracked.conv {
            Conv::Valid { findings, .. } => findings.clone(),
            _ => Vec::new(),
        };
        findings.extend(tracked.translation.iter().cloned());
        let desired = desired_status(
            &state,
            tracked.generation,
            previous.as_ref(),
            &findings,
            &now_text(),
        );
        if previous.as_ref() == Some(&desired) {
            return;
        }
        let hold = match (is_interim(&desired), tracked.status_hold) {
            (false, _) => StatusHold::None,
            (true, StatusHold::None) => StatusHold::Until(Instant::now() + STATUS_HOLD),
            (true, held) => held,
        };
        let uid = tracked.object.metadata.uid.clone();
        if let Some(t) = self.objects.get_mut(key) {
            t.status_hold = hold;
        }
        if matches!(hold, StatusHold::Until(_)) {
            return;
        }
        // Events on transitions of Ready, else of Propagated (a cluster applying or refusing
        // the generated objects), never on unchanged conditions. When both moved in one write
        // (an interim status was held), a bad turn wins: "Errored" matters more than
        // "Accepted".
        let transitions: Vec<&Condition> = [ConditionType::Ready, ConditionType::Propagated]
            .into_iter()
            .filter_map(|type_| {
                let before = condition_of(previous.as_ref(), type_);
                let after = condition_of(Some(&desired), type_);
                (before.map(|c| (c.status, c.reason)) != after.map(|c| (c.status, c.reason)))
                    .then_some(after)
                    .flatten()
            })
            .collect();
        let event = transitions
            .iter()
            .find(|c| c.status != ConditionStatus::True)
            .or(transitions.first())
            .map(|condition| Transition {
                warning: condition.status != ConditionStatus::True,
                reason: condition.reason.as_str().to_string(),
                note: condition.message.clone(),
            });
        let has_status = watched.has_our_status();
        if !has_status && event.is_none() {
            return;
        }
        let write = StatusWrite {
            resource: watched.resource.clone(),
            namespace: key.1.clone(),
            name: key.2.clone(),
            uid,
            status: has_status.then(|| desired.clone()),
            event,
        };
        let queued = self.status_writes.send(write);
        if let Some(t) = self.objects.get_mut(key) {
            if queued {
                t.sent_status = Some(desired);
            } else {
                // The writer is behind: write it again a little later.
                t.retry_at = Some(Instant::now() + WRITE_RETRY);
            }
        }
    }

    /// A status write failed: forget what was sent so the next flush writes again.
    pub fn on_write_failed(&mut self, failed: &crate::agent::status::WriteFailed) {
        let key = self
            .objects
            .keys()
            .find(|(index, namespace, name)| {
                namespace == &failed.namespace
                    && name == &failed.name
                    && self.watched[*index].resource.kind == failed.kind
            })
            .cloned();
        if let Some(t) = key.and_then(|key| self.objects.get_mut(&key)) {
            t.sent_status = None;
            t.retry_at = Some(Instant::now() + WRITE_RETRY);
        }
    }

    /// CR counts by Ready state, for the metrics.
    pub fn update_gauges(&self) {
        let mut counts: HashMap<&'static str, i64> = HashMap::new();
        for tracked in self.objects.values() {
            if matches!(tracked.conv, Conv::Ignored) {
                continue;
            }
            let status = tracked
                .sent_status
                .clone()
                .or_else(|| tracked.observed_status());
            let state = match status.as_ref().map(|s| {
                (
                    ready_of(Some(s)),
                    s.conditions.iter().any(|c| {
                        c.type_ == ConditionType::Stalled && c.status == ConditionStatus::True
                    }),
                )
            }) {
                Some((Some((ConditionStatus::True, _)), _)) => "ready",
                Some((_, true)) => "stalled",
                Some((Some(_), false)) => "reconciling",
                _ => "unprocessed",
            };
            *counts.entry(state).or_default() += 1;
        }
        for state in ["ready", "reconciling", "stalled", "unprocessed"] {
            self.metrics
                .crs
                .get_or_create(&vec![("state".to_string(), state.to_string())])
                .set(counts.get(state).copied().unwrap_or(0));
        }
    }
}

mod inventory;
mod listing;
use listing::Listing;
#[cfg(test)]
mod tests;
