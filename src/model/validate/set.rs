//! L2 hierarchy rules over a set of resources (tsb-model.md §3.3–§3.5, §4.2 V9–V14, V16, V18).
//!
//! The same checks serve `tsbridge validate` (a whole file set, [`validate_set`]) and the MP
//! (one write against the stored state, [`validate_write`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode};
use crate::model::fqn::Fqn;
use crate::model::kind::{ConfigClass, Kind};
use crate::model::object::Resource;
use crate::model::selector::{NamespacePattern, NamespaceSelector};
use crate::model::spec::ConfigMode;
use crate::model::validate::analysis;

/// Which organizations exist. Organizations are not GitOps objects (§2.7), so a set cannot
/// contain them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Organizations {
    /// Every organization named by an annotation is taken to exist (`tsbridge validate`).
    #[default]
    AnyNamed,
    /// Only these exist (the MP's configured organizations).
    Known(BTreeSet<String>),
}

impl Organizations {
    /// True if the organization exists.
    pub fn exists(&self, name: &str) -> bool {
        match self {
            Organizations::AnyNamed => true,
            Organizations::Known(names) => names.contains(name),
        }
    }
}

/// Every workspace selector entry, indexed by its namespace stem (`a` of `c/a` and `c/a*`), so
/// V11 looks only at entries that can overlap instead of comparing every pair of workspaces.
/// Two namespace patterns overlap only if one stem is a prefix of the other (or one is `*`).
/// `W` names a workspace: its position in a file set, or its FQN in the MP's [`WriteIndex`]
/// (which inserts and removes workspaces as writes commit).
///
/// [`WriteIndex`]: crate::model::validate::WriteIndex
#[derive(Debug, Clone)]
pub(crate) struct WorkspaceEntries<W> {
    /// (workspace, entry) of entries whose namespace is `*`.
    any: BTreeSet<(W, usize)>,
    /// Stem → (workspace, entry, is a prefix pattern).
    by_stem: BTreeMap<String, BTreeSet<(W, usize, bool)>>,
}

impl<W> Default for WorkspaceEntries<W> {
    fn default() -> Self {
        WorkspaceEntries {
            any: BTreeSet::new(),
            by_stem: BTreeMap::new(),
        }
    }
}

impl<W: Ord + Clone> WorkspaceEntries<W> {
    /// Adds the entries of workspace `w`.
    pub(crate) fn insert(&mut self, w: &W, selector: &NamespaceSelector) {
        for (e, entry) in selector.entries().iter().enumerate() {
            match &entry.namespace {
                NamespacePattern::Any => {
                    self.any.insert((w.clone(), e));
                }
                NamespacePattern::Exact(stem) | NamespacePattern::Prefix(stem) => {
                    let is_prefix = matches!(entry.namespace, NamespacePattern::Prefix(_));
                    self.by_stem
                        .entry(stem.clone())
                        .or_default()
                        .insert((w.clone(), e, is_prefix));
                }
            }
        }
    }

    /// Removes the entries of workspace `w` (`selector` is the one it was inserted with).
    pub(crate) fn remove(&mut self, w: &W, selector: &NamespaceSelector) {
        for (e, entry) in selector.entries().iter().enumerate() {
            match &entry.namespace {
                NamespacePattern::Any => {
                    self.any.remove(&(w.clone(), e));
                }
                NamespacePattern::Exact(stem) | NamespacePattern::Prefix(stem) => {
                    let is_prefix = matches!(entry.namespace, NamespacePattern::Prefix(_));
                    if let Some(found) = self.by_stem.get_mut(stem) {
                        found.remove(&(w.clone(), e, is_prefix));
                        if found.is_empty() {
                            self.by_stem.remove(stem);
                        }
                    }
                }
            }
        }
    }

    /// Every (workspace, entry) whose namespace pattern may overlap `pattern` (a superset of
    /// the overlapping ones; clusters are not looked at), sorted and without duplicates.
    fn candidates(&self, pattern: &NamespacePattern) -> Vec<(&W, usize)> {
        let mut out: Vec<(&W, usize)> = self.any.iter().map(|(w, e)| (w, *e)).collect();
        let (stem, is_prefix) = match pattern {
            NamespacePattern::Any => {
                out.extend(self.by_stem.values().flatten().map(|c| (&c.0, c.1)));
                out.sort_unstable();
                out.dedup();
                return out;
            }
            NamespacePattern::Exact(a) => (a.as_str(), false),
            NamespacePattern::Prefix(p) => (p.as_str(), true),
        };
        // Prefix patterns whose stem is a proper prefix of ours.
        for (end, _) in stem.char_indices().skip(1) {
            if let Some(found) = self.by_stem.get(&stem[..end]) {
                out.extend(found.iter().filter(|c| c.2).map(|c| (&c.0, c.1)));
            }
        }
        if is_prefix {
            // Every pattern whose stem starts with ours (our stem included).
            for (key, found) in self.by_stem.range(stem.to_string()..) {
                if !key.starts_with(stem) {
                    break;
                }
                out.extend(found.iter().map(|c| (&c.0, c.1)));
            }
        } else if let Some(found) = self.by_stem.get(stem) {
            // Equal stem: an exact name, or a prefix equal to it.
            out.extend(found.iter().map(|c| (&c.0, c.1)));
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// (workspace, my entry, their entry) for every entry of `mine` that overlaps an entry of
    /// an indexed workspace, sorted; `theirs` gives an indexed workspace's selector.
    pub(crate) fn overlaps<'s>(
        &'s self,
        mine: &NamespaceSelector,
        theirs: impl Fn(&W) -> Option<&'s NamespaceSelector>,
    ) -> Vec<(&'s W, usize, usize)> {
        let mut pairs = Vec::new();
        for (i, entry) in mine.entries().iter().enumerate() {
            for (w, j) in self.candidates(&entry.namespace) {
                if theirs(w).is_some_and(|s| entry.overlaps(&s.entries()[j])) {
                    pairs.push((w, i, j));
                }
            }
        }
        pairs.sort_unstable();
        pairs
    }
}

/// What the L2 and L3 checks look up about the other resources: a file set's [`Index`], or
/// the MP's stored objects plus pending writes ([`WriteIndex`]). Lists come in a stable order
/// (input order for a file set, FQN order in the MP).
///
/// [`WriteIndex`]: crate::model::validate::WriteIndex
pub(crate) trait Lookup {
    /// The resource with this FQN.
    fn get(&self, fqn: &Fqn) -> Option<&Resource>;

    /// The parsed namespace selector of the resource with this FQN, if it has a valid one.
    fn selector(&self, fqn: &Fqn) -> Option<&NamespaceSelector>;

    /// The resources of `kind` whose parent is `parent`.
    fn children_of_kind(&self, parent: &Fqn, kind: Kind) -> Vec<&Resource>;

    /// The ServiceTrafficSettings for `service` (`spec.service`).
    fn service_settings(&self, service: &str) -> Vec<&Resource>;

    /// (workspace, its selector, my entry, its entry) for every entry of `mine` that overlaps
    /// an entry of a workspace with a valid selector, sorted by workspace, then entries.
    fn workspace_overlaps(
        &self,
        mine: &NamespaceSelector,
    ) -> Vec<(&Resource, &NamespaceSelector, usize, usize)>;

    /// The group and workspace selectors around an object under a group.
    fn group_and_workspace(&self, group: &Fqn) -> Option<(&NamespaceSelector, &NamespaceSelector)> {
        let workspace = group.parent()?;
        Some((self.selector(group)?, self.selector(&workspace)?))
    }
}

/// A resource's namespace selector, when it has one that parses.
pub(crate) fn parsed_selector(resource: &Resource) -> Option<NamespaceSelector> {
    resource
        .spec
        .namespace_selector()
        .and_then(|s| NamespaceSelector::parse(&s.names).ok())
}

/// Resources by FQN, with parsed selectors, shared by the L2 and L3 checks. Also indexed by
/// parent and (ServiceTrafficSettings) by service, so no check scans the
/// whole set per resource: `tsbridge validate` stays linear in practice (BENCHMARKS.md).
pub(crate) struct Index<'a> {
    pub all: Vec<&'a Resource>,
    by_fqn: HashMap<&'a Fqn, &'a Resource>,
    selectors: HashMap<&'a Fqn, NamespaceSelector>,
    by_parent: HashMap<&'a Fqn, Vec<&'a Resource>>,
    service_settings: HashMap<&'a str, Vec<&'a Resource>>,
    /// Workspaces with a valid selector, in input order.
    workspaces: Vec<(&'a Resource, NamespaceSelector)>,
    /// Their entries by namespace stem (V11), by position in `workspaces`.
    workspace_entries: WorkspaceEntries<usize>,
}

impl<'a> Index<'a> {
    pub fn new(all: Vec<&'a Resource>) -> Index<'a> {
        let mut by_fqn = HashMap::with_capacity(all.len());
        let mut selectors = HashMap::new();
        let mut by_parent: HashMap<&'a Fqn, Vec<&'a Resource>> = HashMap::new();
        let mut service_settings: HashMap<&'a str, Vec<&'a Resource>> = HashMap::new();
        let mut workspaces = Vec::new();
        let mut workspace_entries = WorkspaceEntries::default();
        for resource in &all {
            by_fqn.entry(&resource.fqn).or_insert(*resource);
            if let Some(selector) = parsed_selector(resource) {
                if resource.kind == Kind::Workspace {
                    workspace_entries.insert(&workspaces.len(), &selector);
                    workspaces.push((*resource, selector.clone()));
                }
                selectors.entry(&resource.fqn).or_insert(selector);
            }
            if let Some(parent) = &resource.parent {
                by_parent.entry(parent).or_default().push(*resource);
            }
            if resource.kind == Kind::ServiceTrafficSetting
                && let Some(service) = resource.spec.service()
            {
                service_settings.entry(service).or_default().push(*resource);
            }
        }
        Index {
            all,
            by_fqn,
            selectors,
            by_parent,
            service_settings,
            workspaces,
            workspace_entries,
        }
    }
}

impl Lookup for Index<'_> {
    fn get(&self, fqn: &Fqn) -> Option<&Resource> {
        self.by_fqn.get(fqn).copied()
    }

    fn selector(&self, fqn: &Fqn) -> Option<&NamespaceSelector> {
        self.selectors.get(fqn)
    }

    fn children_of_kind(&self, parent: &Fqn, kind: Kind) -> Vec<&Resource> {
        self.by_parent
            .get(parent)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|r| r.kind == kind)
            .copied()
            .collect()
    }

    fn service_settings(&self, service: &str) -> Vec<&Resource> {
        self.service_settings
            .get(service)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .to_vec()
    }

    fn workspace_overlaps(
        &self,
        mine: &NamespaceSelector,
    ) -> Vec<(&Resource, &NamespaceSelector, usize, usize)> {
        self.workspace_entries
            .overlaps(mine, |w| self.workspaces.get(*w).map(|(_, s)| s))
            .into_iter()
            .map(|(w, i, j)| {
                let (resource, selector) = &self.workspaces[*w];
                (*resource, selector, i, j)
            })
            .collect()
    }
}

fn parent_kind_name(fqn: &Fqn) -> String {
    match fqn.kind() {
        Some(kind) => kind.to_string(),
        None => "organization".to_string(),
    }
}

/// V9: the parent exists.
fn check_parent(
    index: &impl Lookup,
    resource: &Resource,
    orgs: &Organizations,
    out: &mut Vec<Diagnostic>,
) {
    let Some(parent) = &resource.parent else {
        return;
    };
    let object = resource.object_ref();
    if parent.is_organization() {
        if !orgs.exists(parent.name()) {
            out.push(Diagnostic::error(
                RuleCode::ParentExists,
                &object,
                "metadata.annotations[tsb.tetrate.io/organization]",
                format!(
                    "organization {:?} does not exist in the management plane",
                    parent.name()
                ),
                "use an organization the management plane is configured with",
            ));
        }
        return;
    }
    if index.get(parent).is_none() {
        let annotation = parent
            .kind()
            .and_then(Kind::naming_key)
            .map(|k| format!("metadata.annotations[{}]", k.annotation()))
            .unwrap_or_else(|| "metadata.annotations".to_string());
        out.push(Diagnostic::error(
            RuleCode::ParentExists,
            &object,
            annotation,
            format!(
                "parent {} {parent} does not exist",
                parent_kind_name(parent)
            ),
            format!(
                "create the {} {:?} first (it may still be on its way), or correct the annotation",
                parent_kind_name(parent),
                parent.name()
            ),
        ));
    }
}

/// V14: BRIDGED kinds under BRIDGED groups, direct-mode kinds under DIRECT groups.
fn check_config_mode(index: &impl Lookup, resource: &Resource, out: &mut Vec<Diagnostic>) {
    let class = resource.kind.class();
    if !matches!(class, ConfigClass::Bridged | ConfigClass::Direct) {
        return;
    }
    let Some(group) = resource.parent.as_ref().and_then(|p| index.get(p)) else {
        return;
    };
    let Some(mode) = group.spec.config_mode() else {
        return;
    };
    let object = resource.object_ref();
    match (class, mode) {
        (ConfigClass::Bridged, ConfigMode::Direct) => out.push(Diagnostic::error(
            RuleCode::ConfigModeMismatch,
            &object,
            "metadata.annotations",
            format!(
                "{} is a BRIDGED kind but its group {} has configMode DIRECT",
                resource.kind, group.fqn
            ),
            "move it to a BRIDGED group, or use direct-mode Istio objects in this group",
        )),
        (ConfigClass::Direct, ConfigMode::Bridged) => out.push(Diagnostic::error(
            RuleCode::ConfigModeMismatch,
            &object,
            "metadata.annotations",
            format!(
                "{} is a direct-mode object but its group {} has configMode BRIDGED",
                resource.kind, group.fqn
            ),
            "set configMode: DIRECT on the group, or move the object to a DIRECT group",
        )),
        _ => {}
    }
}

/// V10: every group entry overlaps some entry of the parent workspace.
fn check_group_in_workspace(index: &impl Lookup, resource: &Resource, out: &mut Vec<Diagnostic>) {
    if !resource.kind.is_group() {
        return;
    }
    let Some(workspace) = &resource.parent else {
        return;
    };
    let (Some(group), Some(ws)) = (index.selector(&resource.fqn), index.selector(workspace)) else {
        return;
    };
    let ws_entries: Vec<String> = ws.entries().iter().map(ToString::to_string).collect();
    for i in group.entries_outside(ws) {
        out.push(Diagnostic::error(
            RuleCode::SelectorOutsideWorkspace,
            &resource.object_ref(),
            format!("spec.namespaceSelector.names[{i}]"),
            format!(
                "entry {:?} can select nothing workspace {workspace} owns ({})",
                group.entries()[i].to_string(),
                ws_entries.join(", ")
            ),
            "select namespaces of the workspace (*/* means all of it), or extend the workspace selector",
        ));
    }
}

/// V11: workspaces of one organization (across tenants) never potentially overlap.
fn check_workspace_overlap(index: &impl Lookup, resource: &Resource, out: &mut Vec<Diagnostic>) {
    if resource.kind != Kind::Workspace {
        return;
    }
    let Some(mine) = index.selector(&resource.fqn) else {
        return;
    };
    let org = resource.fqn.organization_name();
    // Overlapping pairs in the order a full pairwise comparison would find them.
    let mut reported = BTreeSet::new();
    for (other, theirs, i, j) in index.workspace_overlaps(mine) {
        if other.fqn == resource.fqn || other.fqn.organization_name() != org {
            continue;
        }
        if reported.insert((i, &other.fqn)) {
            out.push(Diagnostic::error(
                RuleCode::WorkspaceOverlap,
                &resource.object_ref(),
                format!("spec.namespaceSelector.names[{i}]"),
                format!(
                    "entry {:?} overlaps entry {:?} of workspace {}; a workspace owns its namespaces exclusively",
                    mine.entries()[i].to_string(),
                    theirs.entries()[j].to_string(),
                    other.fqn
                ),
                "make the selectors disjoint (exact namespaces or clusters instead of wildcards)",
            ));
        }
    }
}

/// V12: a direct-mode object's namespace belongs to its group.
fn check_direct_namespace(index: &impl Lookup, resource: &Resource, out: &mut Vec<Diagnostic>) {
    if !resource.kind.is_direct() {
        return;
    }
    let (Some(group), Some(namespace)) = (&resource.parent, &resource.namespace) else {
        return;
    };
    let Some((group_selector, ws_selector)) = index.group_and_workspace(group) else {
        return;
    };
    if !group_selector.may_contain_namespace(ws_selector, namespace) {
        out.push(Diagnostic::error(
            RuleCode::NamespaceNotInGroup,
            &resource.object_ref(),
            "metadata.namespace",
            format!("namespace {namespace:?} is not selected by group {group} within its workspace"),
            "move the object to a namespace of the group, or add the namespace to the group and workspace selectors",
        ));
    }
}

/// V13: one ServiceTrafficSetting per service (`spec.service`) within a workspace.
fn check_duplicate_service_setting(
    index: &impl Lookup,
    resource: &Resource,
    out: &mut Vec<Diagnostic>,
) {
    if resource.kind != Kind::ServiceTrafficSetting {
        return;
    }
    let Some(service) = resource.spec.service() else {
        return;
    };
    let workspace = resource.fqn.ancestor(Kind::Workspace);
    for other in index.service_settings(service) {
        if other.fqn != resource.fqn && other.fqn.ancestor(Kind::Workspace) == workspace {
            out.push(Diagnostic::error(
                RuleCode::DuplicateServiceSetting,
                &resource.object_ref(),
                "spec.service",
                format!(
                    "service {service:?} already has ServiceTrafficSetting {}",
                    other.fqn
                ),
                "merge the settings into one ServiceTrafficSetting per service",
            ));
        }
    }
}

/// §2.3: two objects of the set map to one FQN (e.g. same name in two namespaces). Each
/// diagnostic comes with the index of its resource in `resources`.
fn check_fqn_conflicts(resources: &[&Resource], out: &mut Vec<(usize, Diagnostic)>) {
    let mut by_fqn: BTreeMap<&Fqn, Vec<(usize, &Resource)>> = BTreeMap::new();
    for (index, resource) in resources.iter().enumerate() {
        by_fqn
            .entry(&resource.fqn)
            .or_default()
            .push((index, resource));
    }
    for (fqn, holders) in by_fqn.into_iter().filter(|(_, h)| h.len() > 1) {
        for (i, (index, resource)) in holders.iter().enumerate() {
            let others: Vec<String> = holders
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, r))| r.object_ref().to_string())
                .collect();
            out.push((
                *index,
                Diagnostic::error(
                    RuleCode::FqnConflict,
                    &resource.object_ref(),
                    "metadata.name",
                    format!("FQN {fqn} is also produced by {}", others.join(", ")),
                    "rename one of them: the namespace is not part of the FQN",
                ),
            ));
        }
    }
}

pub(crate) fn check_one(
    index: &impl Lookup,
    resource: &Resource,
    orgs: &Organizations,
    out: &mut Vec<Diagnostic>,
) {
    check_parent(index, resource, orgs, out);
    check_config_mode(index, resource, out);
    check_group_in_workspace(index, resource, out);
    check_workspace_overlap(index, resource, out);
    check_direct_namespace(index, resource, out);
    check_duplicate_service_setting(index, resource, out);
    analysis::analyze(index, resource, out);
}

/// L2 + L3 over a whole set (`tsbridge validate`). Symmetric conflicts (overlapping
/// workspaces, duplicate service settings, FQN collisions) are reported on every member, since
/// a file set has no order.
pub fn validate_set(resources: &[Resource], orgs: &Organizations) -> Vec<Diagnostic> {
    validate_set_attributed(resources, orgs)
        .into_iter()
        .map(|(_, diagnostic)| diagnostic)
        .collect()
}

/// [`validate_set`], with the index in `resources` of the resource each diagnostic is about
/// (same diagnostics, same order). `tsbridge validate` uses it to point at files: two
/// resources can share an [`ObjectRef`] (the same object twice), an index cannot.
pub fn validate_set_attributed(
    resources: &[Resource],
    orgs: &Organizations,
) -> Vec<(usize, Diagnostic)> {
    let all: Vec<&Resource> = resources.iter().collect();
    let mut out = Vec::new();
    check_fqn_conflicts(&all, &mut out);
    let index = Index::new(all);
    let mut found = Vec::new();
    for (i, resource) in index.all.iter().enumerate() {
        check_one(&index, resource, orgs, &mut found);
        out.extend(found.drain(..).map(|diagnostic| (i, diagnostic)));
    }
    out
}

/// L2 + L3 for one write against the stored state (the MP). Only the candidate is judged:
/// the later write is the one that conflicts. A stored object with the candidate's FQN is
/// replaced (an update is not a conflict).
pub fn validate_write<'a>(
    existing: impl IntoIterator<Item = &'a Resource>,
    candidate: &'a Resource,
    orgs: &Organizations,
) -> Vec<Diagnostic> {
    let mut all: Vec<&Resource> = existing
        .into_iter()
        .filter(|r| r.fqn != candidate.fqn)
        .collect();
    all.push(candidate);
    let index = Index::new(all);
    let mut out = Vec::new();
    check_one(&index, candidate, orgs, &mut out);
    out
}

/// V16: deleting `target` is blocked while it or a descendant has
/// `deletionProtectionEnabled: true`, unless `force` is set (never by the agent).
pub fn validate_delete(existing: &[Resource], target: &Fqn, force: bool) -> Vec<Diagnostic> {
    if force {
        return Vec::new();
    }
    let target_ref = existing
        .iter()
        .find(|r| &r.fqn == target)
        .map(Resource::object_ref)
        .unwrap_or_else(|| match target.kind() {
            Some(kind) => ObjectRef::new(kind, target.name(), None).with_fqn(target.clone()),
            None => ObjectRef {
                group: String::new(),
                kind: "Organization".to_string(),
                name: target.name().to_string(),
                namespace: None,
                fqn: Some(target.clone()),
            },
        });
    existing
        .iter()
        .filter(|r| target.covers(&r.fqn) && r.spec.deletion_protection_enabled())
        .map(|r| {
            let message = if &r.fqn == target {
                "deletion protection is enabled".to_string()
            } else {
                format!("descendant {} has deletion protection enabled", r.fqn)
            };
            Diagnostic::error(
                RuleCode::DeletionProtected,
                &target_ref,
                if &r.fqn == target {
                    "spec.deletionProtectionEnabled".to_string()
                } else {
                    "metadata.name".to_string()
                },
                message,
                format!(
                    "set spec.deletionProtectionEnabled: false on {} first",
                    r.fqn
                ),
            )
        })
        .collect()
}

/// V18: a cluster writes only inside its grants (organization, tenant or workspace FQNs).
pub fn validate_grant(resource: &Resource, grants: &[Fqn]) -> Option<Diagnostic> {
    if grants.iter().any(|grant| grant.covers(&resource.fqn)) {
        return None;
    }
    let granted: Vec<String> = grants.iter().map(ToString::to_string).collect();
    Some(Diagnostic::error(
        RuleCode::GrantScope,
        &resource.object_ref(),
        "metadata.annotations",
        format!(
            "{} is not granted to this cluster (grants: {})",
            resource.fqn,
            if granted.is_empty() {
                "none".to_string()
            } else {
                granted.join(", ")
            }
        ),
        "grant the cluster this organization, tenant or workspace, or move the object",
    ))
}
