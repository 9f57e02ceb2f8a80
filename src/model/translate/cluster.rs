//! Translating a whole stored set for one cluster: resolve, build contexts from an FQN index,
//! translate every targeted resource, and catch two sources writing one object.

use std::collections::{BTreeMap, HashMap};

use crate::model::diagnostic::{Diagnostic, RuleCode};
use crate::model::fqn::Fqn;
use crate::model::kind::Kind;
use crate::model::object::Resource;
use crate::model::resolve::{ClusterNamespaces, Resolution, resolve, target_namespaces};
use crate::model::translate::{
    Context, Generated, ObjectKey, ServiceRoutes, generates_objects, translate_with_warnings,
};

/// The desired Istio objects of one cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Translation {
    /// Every generated object by key.
    pub objects: BTreeMap<ObjectKey, Generated>,
    /// The keys each source resource (by FQN) generated.
    pub sources: BTreeMap<String, Vec<ObjectKey>>,
    /// Resources that did not translate, by FQN. A resource whose objects clash with another
    /// source's contributes none of them.
    pub errors: Vec<(String, Diagnostic)>,
    /// Resources that translated without some part in this cluster, by FQN (e.g. a
    /// ServiceSecuritySetting whose service the cluster does not have).
    pub warnings: Vec<(String, Diagnostic)>,
}

/// The settings whose defaults reach a resource, and the ServiceTrafficSettings by service.
struct Index<'a> {
    /// Ancestors and settings by FQN (never the config-generating objects: see `new`).
    by_fqn: HashMap<&'a Fqn, &'a Resource>,
    /// Organization, tenant and workspace settings by their parent's FQN.
    settings: HashMap<&'a Fqn, Vec<&'a Resource>>,
    /// ServiceTrafficSettings by (workspace, `spec.service`).
    service_settings: HashMap<(Fqn, &'a str), Vec<&'a Resource>>,
    /// TrafficSettings by their traffic group.
    group_settings: HashMap<&'a Fqn, Vec<&'a Resource>>,
    /// ServiceTrafficSettings by their traffic group ([`Context::group_service_settings`]).
    group_service_settings: HashMap<&'a Fqn, Vec<&'a Resource>>,
    /// ServiceRoutes by service, for gateway routes ([`Context::service_routes`]).
    service_routes: ServiceRoutes<'a>,
}

impl<'a> Index<'a> {
    /// `routes`: also index the ServiceRoutes by service (only [`reads_service_routes`] kinds
    /// look there; sorting every route of a large set was most of an incremental translation).
    fn new(resources: impl IntoIterator<Item = &'a Resource>, routes: bool) -> Index<'a> {
        let mut index = Index {
            by_fqn: HashMap::new(),
            settings: HashMap::new(),
            service_settings: HashMap::new(),
            group_settings: HashMap::new(),
            group_service_settings: HashMap::new(),
            service_routes: ServiceRoutes::new(),
        };
        for resource in resources {
            if routes
                && resource.kind == Kind::ServiceRoute
                && let Some(service) = resource.spec.service()
            {
                index
                    .service_routes
                    .entry(service)
                    .or_default()
                    .push(resource);
            }
            // Only what can be an ancestor or a setting: the objects that generate config (all
            // but a few of a large set) are never looked up, and hashing their FQNs was most
            // of an incremental translation's cost.
            if !affects_others(resource.kind) {
                continue;
            }
            index.by_fqn.entry(&resource.fqn).or_insert(resource);
            match resource.kind {
                Kind::OrganizationSetting | Kind::TenantSetting | Kind::WorkspaceSetting => {
                    if let Some(parent) = &resource.parent {
                        index.settings.entry(parent).or_default().push(resource);
                    }
                }
                Kind::TrafficSetting => {
                    if let Some(group) = &resource.parent {
                        index
                            .group_settings
                            .entry(group)
                            .or_default()
                            .push(resource);
                    }
                }
                Kind::ServiceTrafficSetting => {
                    if let Some(group) = &resource.parent {
                        index
                            .group_service_settings
                            .entry(group)
                            .or_default()
                            .push(resource);
                    }
                    if let (Some(workspace), Some(service)) = (
                        resource.fqn.ancestor(Kind::Workspace),
                        resource.spec.service(),
                    ) {
                        index
                            .service_settings
                            .entry((workspace, service))
                            .or_default()
                            .push(resource);
                    }
                }
                _ => {}
            }
        }
        for routes in index.service_routes.values_mut() {
            routes.sort_by(|a, b| a.fqn.cmp(&b.fqn));
        }
        index
    }

    /// Existing ancestors, root first.
    fn ancestors(&self, resource: &Resource) -> Vec<&'a Resource> {
        let mut ancestors = Vec::new();
        let mut next = resource.parent.clone();
        while let Some(fqn) = next {
            if let Some(found) = self.by_fqn.get(&fqn) {
                ancestors.push(*found);
            }
            next = fqn.parent();
        }
        ancestors.reverse();
        ancestors
    }

    /// Settings of the organization, tenant and workspace above `resource`, root first, then,
    /// for a ServiceRoute or a ServiceTrafficSetting, its group's TrafficSetting, and for a
    /// ServiceRoute its service's ServiceTrafficSetting.
    fn settings(&self, resource: &Resource) -> Vec<&'a Resource> {
        let levels = [
            resource.fqn.organization_name().map(Fqn::organization),
            resource.fqn.ancestor(Kind::Tenant),
            resource.fqn.ancestor(Kind::Workspace),
        ];
        let mut settings: Vec<&'a Resource> = levels
            .iter()
            .flatten()
            .flat_map(|level| self.settings.get(level).into_iter().flatten().copied())
            .collect();
        if matches!(
            resource.kind,
            Kind::ServiceRoute | Kind::ServiceTrafficSetting
        ) && let Some(group) = resource.fqn.ancestor(Kind::TrafficGroup)
        {
            settings.extend(
                self.group_settings
                    .get(&group)
                    .into_iter()
                    .flatten()
                    .copied(),
            );
        }
        if resource.kind == Kind::ServiceRoute
            && let (Some(workspace), Some(service)) = (
                resource.fqn.ancestor(Kind::Workspace),
                resource.spec.service(),
            )
        {
            settings.extend(
                self.service_settings
                    .get(&(workspace, service))
                    .into_iter()
                    .flatten()
                    .copied(),
            );
        }
        settings
    }

    /// For a TrafficSetting, the ServiceTrafficSettings of its group.
    fn group_service_settings(&self, resource: &Resource) -> Vec<&'a Resource> {
        match (&resource.kind, &resource.parent) {
            (Kind::TrafficSetting, Some(group)) => self
                .group_service_settings
                .get(group)
                .cloned()
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

/// Whether a change to an object of `kind` can change how *other* objects translate (scope,
/// inherited defaults, a ServiceRoute's TrafficSetting or ServiceTrafficSetting): such a
/// change re-translates its [`influence_root`]'s subtree; any other change only the object.
pub fn affects_others(kind: Kind) -> bool {
    !generates_objects(kind) || kind == Kind::ServiceTrafficSetting || kind == Kind::TrafficSetting
}

/// The roots of the subtrees a change from `old` to `new` (`None`: absent) can alter beyond
/// the object itself, given an unchanged resolution ([`influence_root`] of each side whose kind
/// [`affects_others`]). A TrafficSetting reaches its group's ServiceRoutes and
/// ServiceTrafficSettings only through the settings they inherit, so a change that keeps them
/// (and the group), e.g. of its description or metadata, alters only the setting.
pub fn influenced_roots(old: Option<&Resource>, new: Option<&Resource>) -> Vec<Fqn> {
    let inherited = |r: &Resource| match &r.spec {
        crate::model::spec::Spec::TrafficSetting(s) => {
            Some(crate::model::spec::TrafficSettingSpec {
                display_name: None,
                description: None,
                config_generation_metadata: None,
                ..s.clone()
            })
        }
        _ => None,
    };
    // What reads a ServiceRoute's service and subsets elsewhere (gateways, service security
    // settings) is found by kind, not by subtree: see [`stale_readers`].
    if [old, new]
        .into_iter()
        .flatten()
        .any(|r| r.kind == Kind::ServiceRoute)
    {
        return Vec::new();
    }
    // A group's ServiceRoutes read only what its TrafficSetting says about resilience
    // ([`read_by_routes`]); its ServiceTrafficSettings read the rest and are found by kind
    // ([`stale_readers`]), so a reachability change does not re-translate every route.
    if let (Some(old), Some(new)) = (old, new)
        && old.kind == Kind::TrafficSetting
        && new.kind == Kind::TrafficSetting
        && old.parent == new.parent
        && (inherited(old) == inherited(new) || read_by_routes(old) == read_by_routes(new))
    {
        return Vec::new();
    }
    let mut roots: Vec<Fqn> = [old, new]
        .into_iter()
        .flatten()
        .filter(|r| affects_others(r.kind))
        .map(influence_root)
        .collect();
    roots.dedup();
    roots
}

/// What a group's ServiceRoutes read of its TrafficSetting: everything but reachability,
/// egress and rate limiting (Sidecars and inbound filters of the group's namespaces and of
/// its ServiceTrafficSettings' workloads), display fields and metadata.
fn read_by_routes(resource: &Resource) -> Option<crate::model::spec::TrafficSettingSpec> {
    let crate::model::spec::Spec::TrafficSetting(s) = &resource.spec else {
        return None;
    };
    let mut view = s.clone();
    view.display_name = None;
    view.description = None;
    view.config_generation_metadata = None;
    view.reachability = None;
    view.egress = None;
    view.rate_limiting = None;
    if let Some(outbound) = &mut view.outbound {
        outbound.reachability = None;
        outbound.egress = None;
    }
    if let Some(inbound) = &mut view.inbound {
        inbound.rate_limiting = None;
    }
    Some(view)
}

/// The kinds whose every object translates again after a change from `old` to `new`, on top
/// of [`influenced_roots`]' subtrees: the objects that read the changed one from elsewhere in
/// the organization, found by kind because they are few (gateways, service settings) while
/// the subtree would hold every ServiceRoute.
pub fn stale_readers(old: Option<&Resource>, new: Option<&Resource>) -> &'static [Kind] {
    const ROUTE_READERS: &[Kind] = &[
        Kind::IngressGateway,
        Kind::EgressGateway,
        Kind::Tier1Gateway,
        Kind::UnifiedGateway,
        Kind::ServiceSecuritySetting,
        Kind::TrafficSetting,
        Kind::ServiceTrafficSetting,
    ];
    if service_route_split_changed(old, new) {
        return ROUTE_READERS;
    }
    let traffic_setting = |r: Option<&Resource>| r.is_some_and(|r| r.kind == Kind::TrafficSetting);
    if traffic_setting(old) || traffic_setting(new) {
        // Its ServiceTrafficSettings overlay it (their Sidecars carry its reachability).
        return &[Kind::ServiceTrafficSetting];
    }
    &[]
}

/// Whether a change from `old` to `new` alters what other objects read of ServiceRoutes: the
/// service and the subsets (names, labels, weights). Gateways anywhere split their routes to a
/// service over its ServiceRoute's subsets, and ServiceSecuritySettings select a subset's pods
/// by its labels; the distributor then re-translates the objects of the kinds
/// [`stale_readers`] names (few), not the organization (every ServiceRoute in it).
pub fn service_route_split_changed(old: Option<&Resource>, new: Option<&Resource>) -> bool {
    let split = |r: &Resource| match &r.spec {
        crate::model::spec::Spec::ServiceRoute(s) => Some((s.service.clone(), s.subsets.clone())),
        _ => None,
    };
    let routes = [old, new]
        .into_iter()
        .flatten()
        .any(|r| r.kind == Kind::ServiceRoute);
    routes && old.and_then(split) != new.and_then(split)
}

/// The subtree whose translation a change to `resource` (a kind where [`affects_others`] is
/// true) can alter, given an unchanged resolution: a translation reads only the resource, its
/// ancestors, the settings of its organization, tenant and workspace, its workspace's
/// ServiceTrafficSettings and the resolution. So a setting (a group's TrafficSetting
/// included: its ServiceRoutes inherit its timeouts and retries) reaches its parent's subtree,
/// a ServiceTrafficSetting its workspace's, and anything else its own.
pub fn influence_root(resource: &Resource) -> Fqn {
    let parent = || resource.parent.clone().or_else(|| resource.fqn.parent());
    match resource.kind {
        Kind::OrganizationSetting
        | Kind::TenantSetting
        | Kind::WorkspaceSetting
        | Kind::TrafficSetting => parent(),
        Kind::ServiceTrafficSetting => resource.fqn.ancestor(Kind::Workspace),
        _ => None,
    }
    .unwrap_or_else(|| resource.fqn.clone())
}

/// Whether translating an object of `kind` reads the set's ServiceRoutes
/// ([`Context::service_routes`]): gateways, service and traffic settings do; a ServiceRoute,
/// the object written most often, does not.
fn reads_service_routes(kind: Kind) -> bool {
    kind != Kind::ServiceRoute
}

/// Translates only `only` for `cluster`, against the whole set `all` and a resolution computed
/// from it: the incremental path for changes where [`affects_others`] is false. When `only`
/// holds ServiceRoutes alone (as during onboarding, one commit after another), the other
/// ServiceRoutes are not indexed: the cost is that of `only`, not of the whole set.
pub fn translate_only<'a>(
    cluster: &ClusterNamespaces,
    resolution: &Resolution,
    all: impl IntoIterator<Item = &'a Resource>,
    only: &[&'a Resource],
) -> Translation {
    let routes = only.iter().any(|r| reads_service_routes(r.kind));
    let index = Index::new(all, routes);
    translate_with(cluster, resolution, &index, only.iter().copied())
}

/// Resolves `cluster` and translates every resource that targets it. Resources are taken in
/// FQN order, so when two produce the same object the result does not depend on input order:
/// the first keeps it and the second gets an error naming both.
pub fn translate_cluster(cluster: &ClusterNamespaces, resources: &[Resource]) -> Translation {
    translate_resolved(cluster, &resolve(cluster, resources), resources)
}

/// [`translate_cluster`] with the resolution of `resources` already computed (a caller that
/// keeps it for later [`translate_only`] calls).
pub fn translate_resolved(
    cluster: &ClusterNamespaces,
    resolution: &Resolution,
    resources: &[Resource],
) -> Translation {
    let index = Index::new(resources, true);
    translate_with(cluster, resolution, &index, resources.iter())
}

fn translate_with<'a>(
    cluster: &ClusterNamespaces,
    resolution: &Resolution,
    index: &Index<'a>,
    resources: impl Iterator<Item = &'a Resource>,
) -> Translation {
    let mut ordered: Vec<&Resource> = resources.filter(|r| generates_objects(r.kind)).collect();
    ordered.sort_by(|a, b| a.fqn.cmp(&b.fqn));
    let mut translation = Translation::default();
    let mut owners: HashMap<ObjectKey, &Fqn> = HashMap::new();
    for resource in ordered {
        let namespaces = target_namespaces(resolution, resource);
        if namespaces.is_empty() {
            continue;
        }
        let context = Context {
            cluster: &cluster.cluster,
            namespaces: &namespaces,
            ancestors: index.ancestors(resource),
            settings: index.settings(resource),
            group_service_settings: index.group_service_settings(resource),
            resolution,
            inventory: cluster,
            service_routes: &index.service_routes,
        };
        let fqn = resource.fqn.to_string();
        let objects = match translate_with_warnings(resource, &context) {
            Ok((objects, warnings)) => {
                translation
                    .warnings
                    .extend(warnings.into_iter().map(|w| (fqn.clone(), w)));
                objects
            }
            Err(diagnostic) => {
                translation.errors.push((fqn, diagnostic));
                continue;
            }
        };
        let clash = objects.iter().find_map(|o| {
            let key = o.key();
            owners.get(&key).map(|owner| (key, *owner))
        });
        if let Some((key, owner)) = clash {
            translation.errors.push((
                fqn,
                Diagnostic::error(
                    RuleCode::FqnConflict,
                    &resource.object_ref(),
                    "metadata.name",
                    format!("generates {key}, which {owner} already generates"),
                    "rename one of the two objects, or move one to another namespace",
                ),
            ));
            continue;
        }
        let keys: Vec<ObjectKey> = objects.iter().map(Generated::key).collect();
        for object in objects {
            owners.insert(object.key(), &resource.fqn);
            translation.objects.insert(object.key(), object);
        }
        if !keys.is_empty() {
            translation.sources.insert(fqn, keys);
        }
    }
    translation
}
