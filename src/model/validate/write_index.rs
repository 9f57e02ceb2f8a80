//! The MP's validation index: the stored resources, kept up to date one insert or removal at a
//! time, so validating a write costs the same whatever the store holds ([`validate_write`]
//! builds its index over every resource, which makes a stream of n writes O(n²)).
//!
//! [`validate_write`]: crate::model::validate::validate_write

use std::collections::{BTreeSet, HashMap};

use crate::model::diagnostic::Diagnostic;
use crate::model::fqn::Fqn;
use crate::model::kind::Kind;
use crate::model::object::Resource;
use crate::model::selector::NamespaceSelector;
use crate::model::validate::set::{
    Lookup, Organizations, WorkspaceEntries, check_one, parsed_selector,
};

/// Stored resources by FQN, with the same lookups as a file set's index (parsed selectors,
/// children by kind, ServiceTrafficSettings by service, workspace entries by namespace stem),
/// maintained incrementally. Lists are in FQN order.
#[derive(Debug, Clone, Default)]
pub struct WriteIndex {
    resources: HashMap<Fqn, Resource>,
    selectors: HashMap<Fqn, NamespaceSelector>,
    children: HashMap<(Fqn, Kind), BTreeSet<Fqn>>,
    service_settings: HashMap<String, BTreeSet<Fqn>>,
    workspace_entries: WorkspaceEntries<Fqn>,
}

impl WriteIndex {
    /// An empty index.
    pub fn new() -> WriteIndex {
        WriteIndex::default()
    }

    /// Number of resources.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// The resource with this FQN.
    pub fn get(&self, fqn: &Fqn) -> Option<&Resource> {
        self.resources.get(fqn)
    }

    /// Adds `resource`, replacing (and returning) the one with its FQN.
    pub fn insert(&mut self, resource: Resource) -> Option<Resource> {
        let previous = self.remove(&resource.fqn);
        let fqn = resource.fqn.clone();
        if let Some(selector) = parsed_selector(&resource) {
            if resource.kind == Kind::Workspace {
                self.workspace_entries.insert(&fqn, &selector);
            }
            self.selectors.insert(fqn.clone(), selector);
        }
        if let Some(parent) = &resource.parent {
            self.children
                .entry((parent.clone(), resource.kind))
                .or_default()
                .insert(fqn.clone());
        }
        if let Some(service) = service_of(&resource) {
            self.service_settings
                .entry(service.to_string())
                .or_default()
                .insert(fqn.clone());
        }
        self.resources.insert(fqn, resource);
        previous
    }

    /// Removes (and returns) the resource with this FQN.
    pub fn remove(&mut self, fqn: &Fqn) -> Option<Resource> {
        let resource = self.resources.remove(fqn)?;
        if let Some(selector) = self.selectors.remove(fqn)
            && resource.kind == Kind::Workspace
        {
            self.workspace_entries.remove(fqn, &selector);
        }
        if let Some(parent) = &resource.parent {
            let key = (parent.clone(), resource.kind);
            if let Some(children) = self.children.get_mut(&key) {
                children.remove(fqn);
                if children.is_empty() {
                    self.children.remove(&key);
                }
            }
        }
        if let Some(service) = service_of(&resource)
            && let Some(settings) = self.service_settings.get_mut(service)
        {
            settings.remove(fqn);
            if settings.is_empty() {
                self.service_settings.remove(service);
            }
        }
        Some(resource)
    }

    /// L2 + L3 for one write, as [`validate_write`] over the stored resources with `pending`
    /// (writes validated but not yet committed, later ones replacing earlier ones with the same
    /// FQN) written over them. Only the candidate is judged; the stored or pending object with
    /// its FQN is replaced.
    ///
    /// [`validate_write`]: crate::model::validate::validate_write
    pub fn validate(
        &self,
        pending: &[&Resource],
        candidate: &Resource,
        orgs: &Organizations,
    ) -> Vec<Diagnostic> {
        let view = View::new(self, pending, candidate);
        let mut out = Vec::new();
        check_one(&view, candidate, orgs, &mut out);
        out
    }
}

/// The ServiceTrafficSetting's service, the key of `service_settings`.
fn service_of(resource: &Resource) -> Option<&str> {
    (resource.kind == Kind::ServiceTrafficSetting)
        .then(|| resource.spec.service())
        .flatten()
}

/// A [`WriteIndex`] with a few resources written over it. The overlay is scanned linearly: it
/// holds one group commit's writes, not the store.
struct View<'a> {
    base: &'a WriteIndex,
    /// Overlay resources with their selectors; only the last one per FQN counts.
    overlay: Vec<(&'a Resource, Option<NamespaceSelector>)>,
    /// FQN → position of the live overlay entry.
    live: HashMap<&'a Fqn, usize>,
}

impl<'a> View<'a> {
    fn new(base: &'a WriteIndex, pending: &[&'a Resource], candidate: &'a Resource) -> View<'a> {
        let mut overlay = Vec::with_capacity(pending.len() + 1);
        let mut live = HashMap::with_capacity(pending.len() + 1);
        for resource in pending.iter().copied().chain(std::iter::once(candidate)) {
            live.insert(&resource.fqn, overlay.len());
            overlay.push((resource, parsed_selector(resource)));
        }
        View {
            base,
            overlay,
            live,
        }
    }

    /// The overlay entries that are not replaced by a later one.
    fn overlay(&self) -> impl Iterator<Item = &(&'a Resource, Option<NamespaceSelector>)> {
        self.overlay
            .iter()
            .enumerate()
            .filter(|(i, (r, _))| self.live.get(&r.fqn) == Some(i))
            .map(|(_, entry)| entry)
    }

    /// True unless the overlay replaces the stored resource with this FQN.
    fn visible(&self, fqn: &Fqn) -> bool {
        !self.live.contains_key(fqn)
    }

    /// Stored resources with these FQNs that the overlay does not replace, then the overlay's
    /// resources that `keep` accepts.
    fn merged<'s>(
        &'s self,
        stored: Option<&'s BTreeSet<Fqn>>,
        keep: impl Fn(&Resource) -> bool,
    ) -> Vec<&'s Resource> {
        let mut out: Vec<&Resource> = stored
            .into_iter()
            .flatten()
            .filter(|fqn| self.visible(fqn))
            .filter_map(|fqn| self.base.resources.get(fqn))
            .collect();
        out.extend(self.overlay().map(|(r, _)| *r).filter(|r| keep(r)));
        out
    }
}

impl Lookup for View<'_> {
    fn get(&self, fqn: &Fqn) -> Option<&Resource> {
        match self.live.get(fqn) {
            Some(i) => Some(self.overlay[*i].0),
            None => self.base.resources.get(fqn),
        }
    }

    fn selector(&self, fqn: &Fqn) -> Option<&NamespaceSelector> {
        match self.live.get(fqn) {
            Some(i) => self.overlay[*i].1.as_ref(),
            None => self.base.selectors.get(fqn),
        }
    }

    fn children_of_kind(&self, parent: &Fqn, kind: Kind) -> Vec<&Resource> {
        let stored = self.base.children.get(&(parent.clone(), kind));
        self.merged(stored, |r| {
            r.kind == kind && r.parent.as_ref() == Some(parent)
        })
    }

    fn service_settings(&self, service: &str) -> Vec<&Resource> {
        let stored = self.base.service_settings.get(service);
        self.merged(stored, |r| service_of(r) == Some(service))
    }

    fn workspace_overlaps(
        &self,
        mine: &NamespaceSelector,
    ) -> Vec<(&Resource, &NamespaceSelector, usize, usize)> {
        let mut out: Vec<(&Resource, &NamespaceSelector, usize, usize)> = self
            .base
            .workspace_entries
            .overlaps(mine, |fqn| self.base.selectors.get(fqn))
            .into_iter()
            .filter(|(fqn, _, _)| self.visible(fqn))
            .filter_map(|(fqn, i, j)| {
                let resource = self.base.resources.get(fqn)?;
                Some((resource, self.base.selectors.get(fqn)?, i, j))
            })
            .collect();
        for (resource, selector) in self.overlay() {
            if let (Kind::Workspace, Some(theirs)) = (resource.kind, selector) {
                out.extend(
                    mine.overlapping_pairs(theirs)
                        .into_iter()
                        .map(|(i, j)| (*resource, theirs, i, j)),
                );
            }
        }
        out.sort_by(|a, b| (&a.0.fqn, a.2, a.3).cmp(&(&b.0.fqn, b.2, b.3)));
        out
    }
}
