//! The upstream inventories: what the MP learns of this cluster as a whole (its objects and its
//! namespaces), sent only from complete lists (`docs/restarts.md`), and the MP's answer.

use std::collections::{BTreeMap, HashMap};

use tokio::time::Instant;

use super::{INVENTORY_CHUNK, INVENTORY_WAIT, InventoryPhase, Reconciler};
use crate::agent::watch::NamespaceEvent;
use crate::model::status::PushState;
use crate::proto::v1;
use crate::proto::v1::agent_message::Message as Up;

impl Reconciler {
    /// Every watch has a complete list: the object inventory is the truth.
    pub(super) fn objects_listed(&self) -> bool {
        self.listed.iter().all(|l| *l)
    }

    /// What readiness waits for: the watches whose initial list (or re-list) is not complete.
    pub fn pending_lists(&self) -> Vec<String> {
        let mut pending: Vec<String> = self
            .listed
            .iter()
            .zip(&self.watched)
            .filter(|(listed, _)| !**listed)
            .map(|(_, w)| format!("{}.{}", w.resource.plural, w.resource.group))
            .collect();
        if !self.namespaces_listed {
            pending.push("namespaces".into());
        }
        pending
    }

    /// Sends what this stream still lacks and the lists now allow: the full namespace
    /// inventory, then the object inventory.
    /// A watch that cannot list (say RBAC forbids its kind) must not stop the rest: after
    /// [`INVENTORY_WAIT`] an incomplete inventory goes up, which lets pushes flow and deletes
    /// nothing in the MP, and the complete one follows when the lists are done.
    pub(super) fn send_inventories(&mut self) {
        if !self.leading || self.outbox.is_none() {
            return;
        }
        if self.namespaces_listed && !self.namespaces_sent {
            self.send_full_namespaces();
        }
        let listed = self.objects_listed();
        let due = match self.inventory {
            InventoryPhase::Unsent => {
                listed
                    || self
                        .stream_opened
                        .is_some_and(|at| at.elapsed() >= INVENTORY_WAIT)
            }
            InventoryPhase::Answered => listed && !self.inventory_complete,
            InventoryPhase::Pending(..) => false,
        };
        if !due {
            return;
        }
        if !listed {
            tracing::warn!(
                pending = ?self.pending_lists(),
                "watches have not listed within {INVENTORY_WAIT:?}; sending an incomplete inventory \
                 (the management plane deletes nothing on it)"
            );
        }
        self.send_inventory();
    }

    /// Applies one namespace event and tells the MP what changed.
    pub fn on_namespace(&mut self, event: NamespaceEvent) {
        match event {
            NamespaceEvent::Relist => self.namespaces_relist = Some(BTreeMap::new()),
            NamespaceEvent::Seen(name, labels) => {
                if let Some(relist) = self.namespaces_relist.as_mut() {
                    relist.insert(name, labels);
                } else if self.namespaces.get(&name) != Some(&labels) {
                    self.namespaces.insert(name.clone(), labels.clone());
                    self.send_namespace_change(vec![(name, labels)], Vec::new());
                }
            }
            NamespaceEvent::Listed => {
                if let Some(listed) = self.namespaces_relist.take() {
                    self.namespaces = listed;
                    self.namespaces_listed = true;
                    // A re-list replaces the whole list: send it whole again.
                    self.namespaces_sent = false;
                    self.send_inventories();
                }
            }
            NamespaceEvent::Deleted(name) => {
                if let Some(relist) = self.namespaces_relist.as_mut() {
                    relist.remove(&name);
                }
                if self.namespaces.remove(&name).is_some() {
                    self.send_namespace_change(Vec::new(), vec![name]);
                }
            }
        }
    }

    pub(super) fn send_full_namespaces(&mut self) {
        let all: Vec<(String, BTreeMap<String, String>)> = self
            .namespaces
            .iter()
            .map(|(n, l)| (n.clone(), l.clone()))
            .collect();
        self.namespaces_sent = self.send_namespaces(true, all, Vec::new());
    }

    /// One namespace changed: told at once when the stream has the full list, else it is in
    /// the full list that follows.
    pub(super) fn send_namespace_change(
        &mut self,
        upserts: Vec<(String, BTreeMap<String, String>)>,
        removed: Vec<String>,
    ) {
        if self.namespaces_sent {
            self.send_namespaces(false, upserts, removed);
        }
    }

    pub(super) fn send_namespaces(
        &mut self,
        full: bool,
        upserts: Vec<(String, BTreeMap<String, String>)>,
        removed: Vec<String>,
    ) -> bool {
        if !self.leading || self.outbox.is_none() {
            // The full list goes up on the next connect.
            return false;
        }
        let message = Up::Namespaces(v1::NamespaceInventory {
            complete: full && self.namespaces_listed,
            full,
            upserts: upserts
                .into_iter()
                .map(|(name, labels)| v1::Namespace {
                    name,
                    labels: labels.into_iter().collect(),
                })
                .collect(),
            removed,
        });
        let sent = self.send(message);
        if !sent {
            tracing::warn!("namespace inventory not sent; it is re-sent on reconnect");
            // The MP's view is now behind: the next full list (on reconnect) repairs it.
            self.namespaces_sent = false;
        }
        sent
    }

    pub(super) fn send_inventory(&mut self) {
        let mut items: Vec<v1::InventoryItem> = Vec::new();
        for tracked in self.objects.values() {
            if let Some(fqn) = tracked.fqn() {
                items.push(v1::InventoryItem {
                    fqn,
                    content_hash: tracked.hash().unwrap_or_default().to_string(),
                });
            }
        }
        // Deletes still inside their grace are not gone yet.
        items.extend(self.pending_deletes.values().map(|p| v1::InventoryItem {
            fqn: p.fqn.clone(),
            content_hash: p.hash.clone(),
        }));
        let id = self.next_id;
        self.next_id += 1;
        let sent: HashMap<String, String> = items
            .iter()
            .map(|i| (i.fqn.clone(), i.content_hash.clone()))
            .collect();
        let chunks: Vec<Vec<v1::InventoryItem>> = if items.is_empty() {
            vec![Vec::new()]
        } else {
            items.chunks(INVENTORY_CHUNK).map(<[_]>::to_vec).collect()
        };
        let count = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let last = i + 1 == count;
            let message = Up::Inventory(v1::InventoryChunk {
                inventory_id: id,
                items: chunk,
                last,
                complete: last && self.objects_listed(),
            });
            if !self.send(message) {
                tracing::warn!("inventory not sent: the stream is full or closed");
                return;
            }
        }
        self.inventory_complete = self.objects_listed();
        tracing::info!(
            items = sent.len(),
            complete = self.inventory_complete,
            "inventory sent"
        );
        self.inventory = InventoryPhase::Pending(id, sent);
        if !self.settings.resync_interval.is_zero() {
            self.next_resync = Some(Instant::now() + self.settings.resync_interval);
        }
    }

    pub(super) fn on_inventory(&mut self, result: v1::InventoryResult) {
        let sent = match std::mem::take(&mut self.inventory) {
            InventoryPhase::Pending(id, sent) if id == result.inventory_id => sent,
            other => {
                self.inventory = other;
                return;
            }
        };
        self.inventory = InventoryPhase::Answered;
        for item in &result.items {
            let Some(key) = self.by_fqn.get(&item.fqn).cloned() else {
                continue;
            };
            let Some(tracked) = self.objects.get_mut(&key) else {
                continue;
            };
            let sent_hash = sent.get(&item.fqn).cloned().unwrap_or_default();
            if item.current && !sent_hash.is_empty() {
                let state = tracked.accepted(&item.fqn, &item.etag, item.state.as_ref());
                tracked.answered = Some((sent_hash, state));
            } else if tracked
                .answered
                .as_ref()
                .is_some_and(|(_, s)| matches!(s, PushState::Accepted(_)))
            {
                // The MP lost or changed it: push again.
                tracked.answered = None;
            }
        }
        if !result.deleted.is_empty() {
            tracing::info!(deleted = ?result.deleted, "the MP removed objects this cluster no longer has");
        }
        self.metrics
            .held
            .set(i64::try_from(result.held.len()).unwrap_or(i64::MAX));
        if !result.held.is_empty() {
            tracing::warn!(held = result.held.len(), message = %result.held_message, "deletions held");
        }
        self.mark_all_dirty();
        // An incomplete inventory is followed by the complete one once the lists are done.
        self.send_inventories();
    }
}
