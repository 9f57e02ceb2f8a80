//! One inventory list (namespaces, Services) as a watch delivers it: a (re)list is collected
//! aside and replaces the list only when complete, so the MP never sees a partial list.

use std::collections::BTreeMap;

use crate::agent::watch::InventoryEvent;

/// A list the agent reports to the MP.
#[derive(Debug)]
pub(super) struct Listing<K, V> {
    /// The items of the last complete list, with the changes since.
    pub items: BTreeMap<K, V>,
    /// A (re)list in progress: the previous list stays in force meanwhile.
    relist: Option<BTreeMap<K, V>>,
    /// The watch has completed a list.
    pub listed: bool,
    /// This stream has had the full list.
    pub sent: bool,
}

impl<K, V> Default for Listing<K, V> {
    fn default() -> Self {
        Listing {
            items: BTreeMap::new(),
            relist: None,
            listed: false,
            sent: false,
        }
    }
}

/// What the MP must learn after an event.
#[derive(Debug, PartialEq)]
pub(super) enum Change<K, V> {
    /// Nothing.
    None,
    /// A (re)list completed: the whole list goes up again.
    Whole,
    /// Items changed or were deleted.
    Delta(Vec<(K, V)>, Vec<K>),
}

impl<K: Ord + Clone, V: PartialEq + Clone> Listing<K, V> {
    /// Applies one watch event.
    pub fn apply(&mut self, event: InventoryEvent<K, V>) -> Change<K, V> {
        match event {
            InventoryEvent::Relist => {
                self.relist = Some(BTreeMap::new());
                Change::None
            }
            InventoryEvent::Seen(key, value) => {
                if let Some(relist) = self.relist.as_mut() {
                    relist.insert(key, value);
                    Change::None
                } else if self.items.get(&key) != Some(&value) {
                    self.items.insert(key.clone(), value.clone());
                    Change::Delta(vec![(key, value)], Vec::new())
                } else {
                    Change::None
                }
            }
            InventoryEvent::Listed => match self.relist.take() {
                Some(listed) => {
                    self.items = listed;
                    self.listed = true;
                    // A re-list replaces the whole list: send it whole again.
                    self.sent = false;
                    Change::Whole
                }
                None => Change::None,
            },
            InventoryEvent::Deleted(key) => {
                if let Some(relist) = self.relist.as_mut() {
                    relist.remove(&key);
                }
                if self.items.remove(&key).is_some() {
                    Change::Delta(Vec::new(), vec![key])
                } else {
                    Change::None
                }
            }
        }
    }

    /// Every item, for a full list.
    pub fn all(&self) -> Vec<(K, V)> {
        self.items
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
