//! Per-cluster resolution (tsb-model.md §3.6): which namespaces of one cluster each workspace
//! and group owns, and which of them every stored object is sent for.
//!
//! Workspaces are indexed by the namespace part of their selector entries, so resolving a
//! cluster costs about one hash lookup per (namespace, candidate entry) instead of matching
//! every namespace against every workspace.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::fqn::Fqn;
use crate::model::kind::{ConfigClass, Kind};
use crate::model::object::Resource;
use crate::model::selector::{NamespacePattern, NamespaceSelector};
use crate::model::spec::ConfigMode;

/// One cluster's inventory, as its agent reports it: its namespaces and its Services.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterNamespaces {
    /// The registered cluster name.
    pub cluster: String,
    /// Every namespace of the cluster.
    pub namespaces: BTreeSet<String>,
    /// Every Service of the cluster by (namespace, name). Empty when the agent reports none
    /// (an older agent): service-scoped settings then generate nothing there.
    pub services: BTreeMap<(String, String), ClusterService>,
}

/// A Kubernetes Service as the agent reports it: what service-scoped settings select by.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ClusterService {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `spec.ports`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// `spec.selector`: the labels of the Service's workloads (empty: it selects none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
}

/// One port of a [`ClusterService`].
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ServicePort {
    /// `name` (empty when the Service has a single unnamed port).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `port`.
    pub port: i32,
    /// `protocol` (TCP, UDP or SCTP).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// `appProtocol`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

impl ClusterNamespaces {
    /// A cluster with `namespaces` and no Services.
    pub fn new(cluster: impl Into<String>, namespaces: BTreeSet<String>) -> ClusterNamespaces {
        ClusterNamespaces {
            cluster: cluster.into(),
            namespaces,
            services: BTreeMap::new(),
        }
    }

    /// Adds `services` (keyed by their namespace and name).
    #[must_use]
    pub fn with_services(mut self, services: impl IntoIterator<Item = ClusterService>) -> Self {
        self.services.extend(
            services
                .into_iter()
                .map(|s| ((s.namespace.clone(), s.name.clone()), s)),
        );
        self
    }

    /// The Service a mesh host names in `namespace`: `name`, `name.namespace`,
    /// `name.namespace.svc` or `name.namespace.svc.cluster.local`. `None` for a host that is
    /// not a Kubernetes Service of this cluster.
    pub fn service(&self, namespace: &str, host: &str) -> Option<&ClusterService> {
        let name = service_name(namespace, host)?;
        self.services
            .get(&(namespace.to_string(), name.to_string()))
    }
}

/// The Service name in a Kubernetes service host of `namespace` (see
/// [`ClusterNamespaces::service`]).
fn service_name<'h>(namespace: &str, host: &'h str) -> Option<&'h str> {
    let (name, rest) = host.split_once('.').unwrap_or((host, ""));
    let suffixes = [
        String::new(),
        namespace.to_string(),
        format!("{namespace}.svc"),
        format!("{namespace}.svc.cluster.local"),
    ];
    (!name.is_empty() && suffixes.iter().any(|s| s == rest)).then_some(name)
}

/// Effective namespaces of every workspace and group in one cluster. Workspaces and groups
/// without namespaces in the cluster are absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolution {
    /// `eff_ws(W, C)` by workspace FQN.
    pub workspaces: BTreeMap<Fqn, BTreeSet<String>>,
    /// `eff_grp(G, C)` by group FQN.
    pub groups: BTreeMap<Fqn, BTreeSet<String>>,
    /// Groups whose config mode is `DIRECT` (Istio internal groups always are): their BRIDGED
    /// children are never sent, and the direct-mode children of BRIDGED groups neither (V14).
    pub direct_groups: BTreeSet<Fqn>,
}

/// Workspace selector entries by the namespace part, so a namespace is matched only against
/// entries that can match it.
struct WorkspaceIndex<'a> {
    /// Entries with an exact namespace: namespace → (workspace, entry index).
    exact: HashMap<&'a str, Vec<(usize, usize)>>,
    /// Entries with `*` or a prefix (few in practice), matched one by one.
    patterns: Vec<(usize, usize)>,
}

impl<'a> WorkspaceIndex<'a> {
    fn new(workspaces: &'a [(&'a Fqn, NamespaceSelector)]) -> WorkspaceIndex<'a> {
        let mut exact: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        let mut patterns = Vec::new();
        for (w, (_, selector)) in workspaces.iter().enumerate() {
            for (e, entry) in selector.entries().iter().enumerate() {
                match &entry.namespace {
                    NamespacePattern::Exact(name) => {
                        exact.entry(name.as_str()).or_default().push((w, e))
                    }
                    NamespacePattern::Any | NamespacePattern::Prefix(_) => patterns.push((w, e)),
                }
            }
        }
        WorkspaceIndex { exact, patterns }
    }

    /// The workspace owning `namespace` in `cluster`. Exclusivity (§3.4, V11) makes it unique
    /// in a valid set; if an invalid set has several, the smallest FQN wins, so the answer
    /// never depends on input order.
    fn owner(
        &self,
        workspaces: &[(&Fqn, NamespaceSelector)],
        cluster: &str,
        namespace: &str,
    ) -> Option<usize> {
        let exact = self
            .exact
            .get(namespace)
            .map(Vec::as_slice)
            .unwrap_or_default();
        exact
            .iter()
            .chain(&self.patterns)
            .filter(|(w, e)| workspaces[*w].1.entries()[*e].matches(cluster, namespace))
            .map(|(w, _)| *w)
            .min_by(|a, b| workspaces[*a].0.cmp(workspaces[*b].0))
    }
}

/// §3.6 for one cluster: every namespace of the inventory goes to the one workspace that
/// selects it, then to each of that workspace's groups that selects it too. Namespaces no
/// workspace selects are unmanaged and get nothing.
///
/// ```
/// use std::collections::BTreeSet;
/// use tsbridge::model::resolve::{ClusterNamespaces, resolve};
///
/// let cluster = ClusterNamespaces::new("eu-1", BTreeSet::from(["a".into()]));
/// let resolution = resolve(&cluster, []);
/// assert!(resolution.workspaces.is_empty());
/// ```
pub fn resolve<'a>(
    cluster: &ClusterNamespaces,
    resources: impl IntoIterator<Item = &'a Resource>,
) -> Resolution {
    let mut workspaces: Vec<(&Fqn, NamespaceSelector)> = Vec::new();
    let mut groups: HashMap<Fqn, Vec<(&Fqn, NamespaceSelector)>> = HashMap::new();
    let mut direct_groups = BTreeSet::new();
    for resource in resources {
        let Some(Ok(selector)) = resource
            .spec
            .namespace_selector()
            .map(|s| NamespaceSelector::parse(&s.names))
        else {
            continue;
        };
        if resource.kind == Kind::Workspace {
            workspaces.push((&resource.fqn, selector));
        } else if resource.kind.is_group() {
            if resource.spec.config_mode() == Some(ConfigMode::Direct) {
                direct_groups.insert(resource.fqn.clone());
            }
            if let Some(parent) = &resource.parent {
                groups
                    .entry(parent.clone())
                    .or_default()
                    .push((&resource.fqn, selector));
            }
        }
    }
    let index = WorkspaceIndex::new(&workspaces);
    let mut owned: Vec<BTreeSet<String>> = vec![BTreeSet::new(); workspaces.len()];
    for namespace in &cluster.namespaces {
        if let Some(w) = index.owner(&workspaces, &cluster.cluster, namespace) {
            owned[w].insert(namespace.clone());
        }
    }
    let mut resolution = Resolution {
        direct_groups,
        ..Resolution::default()
    };
    for ((workspace, _), namespaces) in workspaces.iter().zip(owned) {
        if namespaces.is_empty() {
            continue;
        }
        for (group, selector) in groups
            .get(*workspace)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let in_group: BTreeSet<String> = namespaces
                .iter()
                .filter(|n| selector.matches(&cluster.cluster, n))
                .cloned()
                .collect();
            if !in_group.is_empty() {
                resolution.groups.insert((*group).clone(), in_group);
            }
        }
        resolution
            .workspaces
            .insert((*workspace).clone(), namespaces);
    }
    resolution
}

impl Resolution {
    /// The namespaces in this cluster of whatever `fqn` names: a group's or a workspace's
    /// effective set, the union over a tenant's or organization's workspaces, or the group's
    /// set for anything under a group. Empty when it has none here.
    pub fn namespaces_of(&self, fqn: &Fqn) -> BTreeSet<String> {
        if let Some(group) = fqn.group_ancestor() {
            return self.groups.get(&group).cloned().unwrap_or_default();
        }
        if let Some(workspace) = fqn.ancestor(Kind::Workspace) {
            return self.workspaces.get(&workspace).cloned().unwrap_or_default();
        }
        // A tenant or organization: every workspace below it. FQNs order segment by segment,
        // so the descendants of `fqn` form one contiguous range after it.
        self.workspaces
            .range(fqn.clone()..)
            .take_while(|(w, _)| fqn.is_ancestor_of(w))
            .flat_map(|(_, namespaces)| namespaces.iter().cloned())
            .collect()
    }
}

/// The namespaces of the resolved cluster that `resource` is sent for (empty = not a target),
/// per §3.6 `targets(C)`: a workspace and the settings of it, its tenant and its organization
/// go where the workspace(s) have namespaces; a group and its BRIDGED children where the group
/// has; a DIRECT object only when its own namespace is in the group's set. Objects whose class
/// does not fit their group's config mode (V14) and kinds that generate nothing per cluster
/// (tenants, later kinds) are never targets.
pub fn target_namespaces(resolution: &Resolution, resource: &Resource) -> BTreeSet<String> {
    match resource.kind {
        Kind::Workspace | Kind::WorkspaceSetting => resolution.namespaces_of(&resource.fqn),
        Kind::TenantSetting | Kind::OrganizationSetting => match &resource.parent {
            Some(parent) => resolution.namespaces_of(parent),
            None => BTreeSet::new(),
        },
        kind if kind.is_group() => resolution.namespaces_of(&resource.fqn),
        kind => {
            let Some(group) = resource.fqn.group_ancestor() else {
                return BTreeSet::new();
            };
            let direct_group = resolution.direct_groups.contains(&group);
            match kind.class() {
                ConfigClass::Bridged if !direct_group => resolution.namespaces_of(&group),
                ConfigClass::Direct if direct_group => {
                    let namespaces = resolution.groups.get(&group);
                    match (&resource.namespace, namespaces) {
                        (Some(ns), Some(set)) if set.contains(ns) => BTreeSet::from([ns.clone()]),
                        _ => BTreeSet::new(),
                    }
                }
                _ => BTreeSet::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests;
