//! The reconciler's work towards the management plane: pushes waiting for a slot (parents
//! first), pushes and removals awaiting their answer, and children waiting for a parent. One
//! owner, so an object is never both queued and forgotten, nor in flight twice.

use std::collections::{BTreeSet, HashMap, HashSet};

use tokio::time::Instant;

use super::PendingDelete;
use super::key::ObjectKey;

/// Id of a message to the MP that its answer names (pushes, removals, inventories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct RequestId(pub u64);

/// A push waiting for a slot. Ordered by depth of the FQN, so parents go before children.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Queued {
    /// Segments of the FQN: a parent has fewer than its children.
    depth: usize,
    fqn: String,
    pub key: ObjectKey,
}

impl Queued {
    pub fn new(fqn: String, key: ObjectKey) -> Queued {
        Queued {
            depth: fqn.matches('/').count(),
            fqn,
            key,
        }
    }
}

/// A push awaiting its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pending {
    pub key: ObjectKey,
    /// The content hash pushed: the answer is for this content.
    pub hash: String,
    pub started: Instant,
}

/// What an answer of the MP was for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Answered {
    Push(Pending),
    /// The removal of a deleted object, kept so a transient refusal can send it again.
    Removal(ObjectKey, PendingDelete),
    /// Not (any longer) awaited: from an older stream, or already answered.
    Unknown,
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct Work {
    next_id: u64,
    queue: BTreeSet<Queued>,
    pushes: HashMap<RequestId, Pending>,
    pushing: HashMap<ObjectKey, RequestId>,
    removals: HashMap<RequestId, (ObjectKey, PendingDelete)>,
    waiting_parent: HashSet<ObjectKey>,
}

impl Default for Work {
    fn default() -> Work {
        Work {
            next_id: 1,
            queue: BTreeSet::new(),
            pushes: HashMap::new(),
            pushing: HashMap::new(),
            removals: HashMap::new(),
            waiting_parent: HashSet::new(),
        }
    }
}

impl Work {
    /// A fresh id for a message.
    pub fn next_id(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Pushes awaiting an answer.
    pub fn in_flight(&self) -> usize {
        self.pushes.len()
    }

    /// Whether a push of `key` awaits its answer.
    pub fn is_pushing(&self, key: &ObjectKey) -> bool {
        self.pushing.contains_key(key)
    }

    /// Queues a push (once: queuing again keeps one entry).
    pub fn enqueue(&mut self, queued: Queued) {
        self.queue.insert(queued);
    }

    /// The next push to send, parents first.
    pub fn pop(&mut self) -> Option<Queued> {
        self.queue.pop_first()
    }

    /// A push sent as `id`.
    pub fn pushed(&mut self, id: RequestId, key: ObjectKey, hash: String) {
        self.pushing.insert(key.clone(), id);
        self.pushes.insert(
            id,
            Pending {
                key,
                hash,
                started: Instant::now(),
            },
        );
    }

    /// The removal of `key`'s deleted object sent as `id`.
    pub fn removed(&mut self, id: RequestId, key: ObjectKey, pending: PendingDelete) {
        self.removals.insert(id, (key, pending));
    }

    /// The MP answered `id`: what it was for, no longer awaited.
    pub fn answer(&mut self, id: RequestId) -> Answered {
        if let Some((key, pending)) = self.removals.remove(&id) {
            return Answered::Removal(key, pending);
        }
        match self.pushes.remove(&id) {
            Some(pending) => {
                if self.pushing.get(&pending.key) == Some(&id) {
                    self.pushing.remove(&pending.key);
                }
                Answered::Push(pending)
            }
            None => Answered::Unknown,
        }
    }

    /// The stream ended: nothing sent on it will be answered. Returns the objects whose push
    /// was lost, to be pushed again on the next stream. Removals are dropped: the next
    /// stream's complete inventory lacks their objects, which deletes them in the MP.
    pub fn stream_ended(&mut self) -> Vec<ObjectKey> {
        self.removals.clear();
        self.pushing.clear();
        self.pushes.drain().map(|(_, p)| p.key).collect()
    }

    /// `key` waits for its parent: it goes again when any push is accepted.
    pub fn wait_for_parent(&mut self, key: ObjectKey) {
        self.waiting_parent.insert(key);
    }

    /// `key` no longer waits (accepted, terminally refused, or gone).
    pub fn forget(&mut self, key: &ObjectKey) {
        self.waiting_parent.remove(key);
    }

    /// A push was accepted, so a parent may have arrived: every waiting child, to go again.
    pub fn parent_arrived(&mut self) -> Vec<ObjectKey> {
        self.waiting_parent.drain().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new(0, "config", name)
    }

    fn gone(fqn: &str) -> PendingDelete {
        PendingDelete::new(fqn.into(), "h".into(), Instant::now())
    }

    #[test]
    fn parents_leave_the_queue_before_children_and_once() {
        let mut work = Work::default();
        let child = Queued::new("organizations/acme/tenants/t/workspaces/w".into(), key("w"));
        let parent = Queued::new("organizations/acme/tenants/t".into(), key("t"));
        work.enqueue(child.clone());
        work.enqueue(parent.clone());
        work.enqueue(child.clone());
        assert_eq!(work.pop(), Some(parent));
        assert_eq!(work.pop(), Some(child));
        assert_eq!(work.pop(), None);
    }

    #[test]
    fn an_answer_is_for_what_was_sent_and_only_once() {
        let mut work = Work::default();
        let push = work.next_id();
        work.pushed(push, key("a"), "h1".into());
        let removal = work.next_id();
        let b = gone("organizations/acme/tenants/b");
        work.removed(removal, key("b"), b.clone());
        assert!(work.is_pushing(&key("a")));
        assert_eq!(work.in_flight(), 1);
        assert_eq!(work.answer(removal), Answered::Removal(key("b"), b));
        let Answered::Push(pending) = work.answer(push) else {
            panic!("the push")
        };
        assert_eq!((pending.key, pending.hash.as_str()), (key("a"), "h1"));
        assert!(!work.is_pushing(&key("a")));
        assert_eq!(work.answer(push), Answered::Unknown);
    }

    #[test]
    fn a_stream_that_ends_returns_its_lost_pushes_and_forgets_removals() {
        let mut work = Work::default();
        let first = work.next_id();
        work.pushed(first, key("a"), "h".into());
        let removal = work.next_id();
        work.removed(removal, key("b"), gone("gone"));
        assert_eq!(work.stream_ended(), vec![key("a")]);
        assert!(!work.is_pushing(&key("a")));
        assert_eq!(work.answer(first), Answered::Unknown);
        assert_eq!(work.answer(removal), Answered::Unknown);
        // Ids are never reused: an answer from the old stream cannot match a new message.
        assert!(work.next_id() > removal);
    }

    #[test]
    fn children_waiting_for_a_parent_go_again_once() {
        let mut work = Work::default();
        work.wait_for_parent(key("w"));
        work.wait_for_parent(key("x"));
        work.forget(&key("x"));
        assert_eq!(work.parent_arrived(), vec![key("w")]);
        assert!(work.parent_arrived().is_empty());
    }
}
