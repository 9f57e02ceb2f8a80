//! The kind catalogue (tsb-model.md §1.2, §1.4, §2.2).
//!
//! One static row per kind keeps the API group, versions, names, FQN collection, parents and
//! required hierarchy annotations in one place, so FQN parsing, annotation checks, CRD naming
//! and CLI aliases cannot drift apart.

use std::fmt;

use crate::model::fqn::Collection;
use crate::model::metadata::HierarchyKey;

/// Every kind tsbridge knows about: the first-wave core kinds, the direct-mode Istio kinds,
/// and the later TSB kinds that are recognised but not processed yet (V1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `tsb.tetrate.io/v2` `Tenant`.
    Tenant,
    /// `tsb.tetrate.io/v2` `OrganizationSetting`.
    OrganizationSetting,
    /// `tsb.tetrate.io/v2` `TenantSetting`.
    TenantSetting,
    /// `tsb.tetrate.io/v2` `Workspace`.
    Workspace,
    /// `tsb.tetrate.io/v2` `WorkspaceSetting`.
    WorkspaceSetting,
    /// `traffic.tsb.tetrate.io/v2` `Group`.
    TrafficGroup,
    /// `security.tsb.tetrate.io/v2` `Group`.
    SecurityGroup,
    /// `gateway.tsb.tetrate.io/v2` `Group`.
    GatewayGroup,
    /// `istiointernal.tsb.tetrate.io/v2` `Group` (always direct).
    IstioInternalGroup,
    /// `traffic.tsb.tetrate.io/v2` `TrafficSetting`.
    TrafficSetting,
    /// `traffic.tsb.tetrate.io/v2` `ServiceRoute`.
    ServiceRoute,
    /// `traffic.tsb.tetrate.io/v2` `ServiceTrafficSetting`.
    ServiceTrafficSetting,
    /// `security.tsb.tetrate.io/v2` `SecuritySetting`.
    SecuritySetting,
    /// `security.tsb.tetrate.io/v2` `ServiceSecuritySetting`.
    ServiceSecuritySetting,
    /// `gateway.tsb.tetrate.io/v2` `IngressGateway`.
    IngressGateway,
    /// `gateway.tsb.tetrate.io/v2` `EgressGateway`.
    EgressGateway,
    /// `gateway.tsb.tetrate.io/v2` `Tier1Gateway`.
    Tier1Gateway,
    /// `gateway.tsb.tetrate.io/v2` `Gateway` (the unified gateway).
    UnifiedGateway,
    /// Direct mode `networking.istio.io` `VirtualService`.
    VirtualService,
    /// Direct mode `networking.istio.io` `DestinationRule`.
    DestinationRule,
    /// Direct mode `networking.istio.io` `Sidecar`.
    Sidecar,
    /// Direct mode `networking.istio.io` `Gateway`.
    IstioGateway,
    /// Direct mode `security.istio.io` `AuthorizationPolicy`.
    AuthorizationPolicy,
    /// Direct mode `security.istio.io` `PeerAuthentication`.
    PeerAuthentication,
    /// Direct mode `security.istio.io` `RequestAuthentication`.
    RequestAuthentication,
    /// Direct mode `networking.istio.io` `EnvoyFilter`.
    EnvoyFilter,
    /// Direct mode `networking.istio.io` `ServiceEntry`.
    ServiceEntry,
    /// Direct mode `extensions.istio.io` `WasmPlugin`.
    WasmPlugin,
    /// Later kind: `tsb.tetrate.io/v2` `Team`.
    Team,
    /// Later kind: `application.tsb.tetrate.io/v2` `Application`.
    Application,
    /// Later kind: `application.tsb.tetrate.io/v2` `API`.
    Api,
    /// Later kind: `extension.tsb.tetrate.io/v2` `WasmExtension`.
    WasmExtension,
    /// Later kind: `rbac.tsb.tetrate.io/v2` `AccessBindings`.
    AccessBindings,
    /// Later kind: `rbac.tsb.tetrate.io/v2` `Role`.
    Role,
}

/// How an object's configuration reaches Istio (V14 needs this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigClass {
    /// Tenancy and scope objects: tenants, workspaces, groups and their settings.
    Tenancy,
    /// TSB's own API, translated by tsbridge; only valid under a `BRIDGED` group.
    Bridged,
    /// Istio objects passed through; only valid under a `DIRECT` group (or an Istio internal group).
    Direct,
    /// RBAC and other later kinds that generate no mesh config.
    Other,
}

/// Whether the kind is processed now or only recognised (§1.2 scope, V1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wave {
    /// Processed: converted, validated, forwarded.
    First,
    /// Recognised but ignored with an Event until its feature arrives; admission allows it.
    Later,
}

/// What an object of a kind hangs under in the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parent {
    /// The organization (not a GitOps kind; it is assumed to exist once named).
    Organization,
    /// An object of the given kind.
    Kind(Kind),
    /// Global objects (`Role`, referenced as `rbac/<name>`).
    Global,
    /// The object named by `tsb.tetrate.io/fqn` (`AccessBindings`).
    PolicyTarget,
}

/// One catalogue row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The kind this row describes.
    pub kind: Kind,
    /// API group, e.g. `traffic.tsb.tetrate.io`.
    pub group: &'static str,
    /// Accepted versions; the first one is what tsbridge serves and writes.
    pub versions: &'static [&'static str],
    /// `kind` exactly as TSB and Istio spell it.
    pub name: &'static str,
    /// Lower-case plural resource name.
    pub plural: &'static str,
    /// CRD `shortNames` for tsbridge's own CRDs (empty for Istio kinds, whose CRDs Istio owns).
    /// Chosen not to clash with built-in or Istio short names (gitops-contract.md R-A10).
    pub short_names: &'static [&'static str],
    /// CLI aliases, as `tctl x audit` accepts them (§1.4).
    pub aliases: &'static [&'static str],
    /// FQN collection segment (§1.2); `None` for `AccessBindings`, which has no FQN of its own.
    pub collection: Option<Collection>,
    /// Allowed parents; direct-mode kinds may have several group types.
    pub parents: &'static [Parent],
    /// Hierarchy annotations that must be present (§2.2). For direct-mode kinds this is the
    /// fixed part; exactly one of [`KindInfo::direct_group_keys`] must be added.
    pub required_annotations: &'static [HierarchyKey],
    /// For direct-mode kinds: the group annotation keys of which exactly one must be present.
    pub direct_group_keys: &'static [HierarchyKey],
    /// Bridged, direct, tenancy or other.
    pub class: ConfigClass,
    /// Processed now or later.
    pub wave: Wave,
}

use HierarchyKey as H;
use Parent as P;

const V2: &[&str] = &["v2"];
const NETWORKING: &[&str] = &["v1beta1", "v1alpha3", "v1"];
const SECURITY: &[&str] = &["v1beta1", "v1"];
const OTW: &[HierarchyKey] = &[H::Organization, H::Tenant, H::Workspace];
const OT: &[HierarchyKey] = &[H::Organization, H::Tenant];
const O: &[HierarchyKey] = &[H::Organization];
const OTW_TG: &[HierarchyKey] = &[H::Organization, H::Tenant, H::Workspace, H::TrafficGroup];
const OTW_SG: &[HierarchyKey] = &[H::Organization, H::Tenant, H::Workspace, H::SecurityGroup];
const OTW_GG: &[HierarchyKey] = &[H::Organization, H::Tenant, H::Workspace, H::GatewayGroup];

#[allow(clippy::too_many_arguments)]
const fn row(
    kind: Kind,
    group: &'static str,
    versions: &'static [&'static str],
    name: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    aliases: &'static [&'static str],
    collection: Option<Collection>,
    parents: &'static [Parent],
    required_annotations: &'static [HierarchyKey],
    direct_group_keys: &'static [HierarchyKey],
    class: ConfigClass,
    wave: Wave,
) -> KindInfo {
    KindInfo {
        kind,
        group,
        versions,
        name,
        plural,
        short_names,
        aliases,
        collection,
        parents,
        required_annotations,
        direct_group_keys,
        class,
        wave,
    }
}

use Collection as C;
use ConfigClass::{Bridged, Direct, Other, Tenancy};
use Wave::{First, Later};

/// The catalogue, in hierarchy order (parents before children).
#[rustfmt::skip]
pub const CATALOGUE: &[KindInfo] = &[
    row(Kind::Tenant, "tsb.tetrate.io", V2, "Tenant", "tenants", &["tnt"], &[], Some(C::Tenants), &[P::Organization], O, &[], Tenancy, First),
    row(Kind::OrganizationSetting, "tsb.tetrate.io", V2, "OrganizationSetting", "organizationsettings", &["os"], &["os"], Some(C::Settings), &[P::Organization], O, &[], Tenancy, First),
    row(Kind::TenantSetting, "tsb.tetrate.io", V2, "TenantSetting", "tenantsettings", &["tns"], &["tns"], Some(C::Settings), &[P::Kind(Kind::Tenant)], OT, &[], Tenancy, First),
    row(Kind::Workspace, "tsb.tetrate.io", V2, "Workspace", "workspaces", &["ws"], &["ws"], Some(C::Workspaces), &[P::Kind(Kind::Tenant)], OT, &[], Tenancy, First),
    row(Kind::WorkspaceSetting, "tsb.tetrate.io", V2, "WorkspaceSetting", "workspacesettings", &["wss"], &["wss"], Some(C::Settings), &[P::Kind(Kind::Workspace)], OTW, &[], Tenancy, First),
    row(Kind::TrafficGroup, "traffic.tsb.tetrate.io", V2, "Group", "groups", &["tg"], &["tg", "TrafficGroup"], Some(C::TrafficGroups), &[P::Kind(Kind::Workspace)], OTW, &[], Tenancy, First),
    row(Kind::SecurityGroup, "security.tsb.tetrate.io", V2, "Group", "groups", &["sg"], &["sg", "SecurityGroup"], Some(C::SecurityGroups), &[P::Kind(Kind::Workspace)], OTW, &[], Tenancy, First),
    row(Kind::GatewayGroup, "gateway.tsb.tetrate.io", V2, "Group", "groups", &["gg"], &["gg", "GatewayGroup"], Some(C::GatewayGroups), &[P::Kind(Kind::Workspace)], OTW, &[], Tenancy, First),
    row(Kind::IstioInternalGroup, "istiointernal.tsb.tetrate.io", V2, "Group", "groups", &["iig"], &["iig", "IstioInternalGroup"], Some(C::IstioInternalGroups), &[P::Kind(Kind::Workspace)], OTW, &[], Tenancy, First),
    row(Kind::TrafficSetting, "traffic.tsb.tetrate.io", V2, "TrafficSetting", "trafficsettings", &["ts"], &["ts"], Some(C::Settings), &[P::Kind(Kind::TrafficGroup)], OTW_TG, &[], Bridged, First),
    row(Kind::ServiceRoute, "traffic.tsb.tetrate.io", V2, "ServiceRoute", "serviceroutes", &["sr"], &["sr"], Some(C::ServiceRoutes), &[P::Kind(Kind::TrafficGroup)], OTW_TG, &[], Bridged, First),
    // `sts` would clash with StatefulSet, so the CRD short name is `svcts`.
    row(Kind::ServiceTrafficSetting, "traffic.tsb.tetrate.io", V2, "ServiceTrafficSetting", "servicetrafficsettings", &["svcts"], &[], Some(C::ServiceSettings), &[P::Kind(Kind::TrafficGroup)], OTW_TG, &[], Bridged, First),
    row(Kind::SecuritySetting, "security.tsb.tetrate.io", V2, "SecuritySetting", "securitysettings", &["ss"], &["ss"], Some(C::Settings), &[P::Kind(Kind::SecurityGroup)], OTW_SG, &[], Bridged, First),
    row(Kind::ServiceSecuritySetting, "security.tsb.tetrate.io", V2, "ServiceSecuritySetting", "servicesecuritysettings", &["sss"], &["sss"], Some(C::ServiceSettings), &[P::Kind(Kind::SecurityGroup)], OTW_SG, &[], Bridged, First),
    row(Kind::IngressGateway, "gateway.tsb.tetrate.io", V2, "IngressGateway", "ingressgateways", &["ig"], &["ig"], Some(C::IngressGateways), &[P::Kind(Kind::GatewayGroup)], OTW_GG, &[], Bridged, First),
    row(Kind::EgressGateway, "gateway.tsb.tetrate.io", V2, "EgressGateway", "egressgateways", &["eg"], &["eg"], Some(C::EgressGateways), &[P::Kind(Kind::GatewayGroup)], OTW_GG, &[], Bridged, First),
    row(Kind::Tier1Gateway, "gateway.tsb.tetrate.io", V2, "Tier1Gateway", "tier1gateways", &["t1"], &["t1"], Some(C::Tier1Gateways), &[P::Kind(Kind::GatewayGroup)], OTW_GG, &[], Bridged, First),
    row(Kind::UnifiedGateway, "gateway.tsb.tetrate.io", V2, "Gateway", "gateways", &["gwt"], &["gwt"], Some(C::UnifiedGateways), &[P::Kind(Kind::GatewayGroup)], OTW_GG, &[], Bridged, First),
    row(Kind::VirtualService, "networking.istio.io", NETWORKING, "VirtualService", "virtualservices", &[], &["vs"], Some(C::VirtualServices), &[P::Kind(Kind::TrafficGroup), P::Kind(Kind::GatewayGroup)], OTW, &[H::TrafficGroup, H::GatewayGroup], Direct, First),
    row(Kind::DestinationRule, "networking.istio.io", NETWORKING, "DestinationRule", "destinationrules", &[], &["dr"], Some(C::DestinationRules), &[P::Kind(Kind::TrafficGroup)], OTW, &[H::TrafficGroup], Direct, First),
    row(Kind::Sidecar, "networking.istio.io", NETWORKING, "Sidecar", "sidecars", &[], &["sd"], Some(C::Sidecars), &[P::Kind(Kind::TrafficGroup)], OTW, &[H::TrafficGroup], Direct, First),
    row(Kind::IstioGateway, "networking.istio.io", NETWORKING, "Gateway", "gateways", &[], &["gw"], Some(C::Gateways), &[P::Kind(Kind::GatewayGroup)], OTW, &[H::GatewayGroup], Direct, First),
    row(Kind::AuthorizationPolicy, "security.istio.io", SECURITY, "AuthorizationPolicy", "authorizationpolicies", &[], &["ap"], Some(C::AuthorizationPolicies), &[P::Kind(Kind::GatewayGroup), P::Kind(Kind::SecurityGroup)], OTW, &[H::GatewayGroup, H::SecurityGroup], Direct, First),
    row(Kind::PeerAuthentication, "security.istio.io", SECURITY, "PeerAuthentication", "peerauthentications", &[], &["pa"], Some(C::PeerAuthentications), &[P::Kind(Kind::SecurityGroup)], OTW, &[H::SecurityGroup], Direct, First),
    row(Kind::RequestAuthentication, "security.istio.io", SECURITY, "RequestAuthentication", "requestauthentications", &[], &["ra"], Some(C::RequestAuthentications), &[P::Kind(Kind::GatewayGroup), P::Kind(Kind::SecurityGroup)], OTW, &[H::GatewayGroup, H::SecurityGroup], Direct, First),
    row(Kind::EnvoyFilter, "networking.istio.io", &["v1alpha3"], "EnvoyFilter", "envoyfilters", &[], &["ef"], Some(C::EnvoyFilters), &[P::Kind(Kind::IstioInternalGroup)], OTW, &[H::IstioInternalGroup], Direct, First),
    row(Kind::ServiceEntry, "networking.istio.io", NETWORKING, "ServiceEntry", "serviceentries", &[], &["se"], Some(C::ServiceEntries), &[P::Kind(Kind::IstioInternalGroup)], OTW, &[H::IstioInternalGroup], Direct, First),
    row(Kind::WasmPlugin, "extensions.istio.io", &["v1alpha1"], "WasmPlugin", "wasmplugins", &[], &["wp"], Some(C::WasmPlugins), &[P::Kind(Kind::IstioInternalGroup)], OTW, &[H::IstioInternalGroup], Direct, First),
    row(Kind::Team, "tsb.tetrate.io", V2, "Team", "teams", &[], &[], Some(C::Teams), &[P::Organization], O, &[], Other, Later),
    row(Kind::Application, "application.tsb.tetrate.io", V2, "Application", "applications", &["app"], &["app"], Some(C::Applications), &[P::Kind(Kind::Tenant)], OT, &[], Other, Later),
    row(Kind::Api, "application.tsb.tetrate.io", V2, "API", "apis", &[], &[], Some(C::Apis), &[P::Kind(Kind::Application)], &[H::Organization, H::Tenant, H::Application], &[], Other, Later),
    row(Kind::WasmExtension, "extension.tsb.tetrate.io", V2, "WasmExtension", "wasmextensions", &["wext"], &["wext"], Some(C::Extensions), &[P::Organization], O, &[], Other, Later),
    row(Kind::AccessBindings, "rbac.tsb.tetrate.io", V2, "AccessBindings", "accessbindings", &["ab"], &["ab"], None, &[P::PolicyTarget], &[H::Fqn], &[], Other, Later),
    row(Kind::Role, "rbac.tsb.tetrate.io", V2, "Role", "roles", &[], &[], Some(C::Rbac), &[P::Global], &[], &[], Other, Later),
];

/// Why an alias lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindLookupError {
    /// Nothing matches.
    #[error("unknown kind or alias {0:?}")]
    Unknown(String),
    /// Several kinds share the name (e.g. `Group`, `Gateway`); the caller must qualify it.
    #[error("{name:?} is ambiguous; use one of: {}", .candidates.join(", "))]
    Ambiguous {
        /// The name that was looked up.
        name: String,
        /// Unambiguous spellings to choose from.
        candidates: Vec<String>,
    },
}

impl Kind {
    /// Every kind, in catalogue order.
    pub fn all() -> impl Iterator<Item = Kind> {
        CATALOGUE.iter().map(|row| row.kind)
    }

    /// The catalogue row of this kind.
    pub fn info(self) -> &'static KindInfo {
        // Each variant has exactly one row; the `catalogue_is_complete` test pins this.
        CATALOGUE
            .iter()
            .find(|row| row.kind == self)
            .expect("every Kind has a catalogue row")
    }

    /// API group.
    pub fn group(self) -> &'static str {
        self.info().group
    }

    /// `kind` as written in manifests.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// `<group>/<first version>`, the apiVersion tsbridge writes.
    pub fn api_version(self) -> String {
        format!("{}/{}", self.group(), self.info().versions[0])
    }

    /// `Kind.group`, unambiguous across API groups (kubectl resource style); used for serde.
    pub fn qualified_name(self) -> String {
        format!("{}.{}", self.name(), self.group())
    }

    /// FQN collection segment.
    pub fn collection(self) -> Option<Collection> {
        self.info().collection
    }

    /// Bridged, direct, tenancy or other.
    pub fn class(self) -> ConfigClass {
        self.info().class
    }

    /// True for the first-wave kinds that tsbridge converts and forwards.
    pub fn is_first_wave(self) -> bool {
        self.info().wave == Wave::First
    }

    /// True for direct-mode Istio kinds.
    pub fn is_direct(self) -> bool {
        self.class() == ConfigClass::Direct
    }

    /// True for the four `Group` kinds.
    pub fn is_group(self) -> bool {
        matches!(
            self,
            Kind::TrafficGroup
                | Kind::SecurityGroup
                | Kind::GatewayGroup
                | Kind::IstioInternalGroup
        )
    }

    /// True for kinds whose spec carries a `namespaceSelector` (Workspace and the groups; V6).
    pub fn has_namespace_selector(self) -> bool {
        self == Kind::Workspace || self.is_group()
    }

    /// The annotation that names an object of this kind when it is somebody's parent
    /// (e.g. `tsb.tetrate.io/trafficGroup` for a traffic group).
    pub fn naming_key(self) -> Option<HierarchyKey> {
        match self {
            Kind::Tenant => Some(H::Tenant),
            Kind::Workspace => Some(H::Workspace),
            Kind::TrafficGroup => Some(H::TrafficGroup),
            Kind::SecurityGroup => Some(H::SecurityGroup),
            Kind::GatewayGroup => Some(H::GatewayGroup),
            Kind::IstioInternalGroup => Some(H::IstioInternalGroup),
            Kind::Application => Some(H::Application),
            _ => None,
        }
    }

    /// Whether this kind produces mesh config and so goes through the MP event stages before
    /// READY (§5.5). Tenants, teams and RBAC objects are READY at creation.
    pub fn generates_config(self) -> bool {
        !matches!(
            self,
            Kind::Tenant | Kind::Team | Kind::Role | Kind::AccessBindings
        )
    }

    /// Whether the MP aggregates children's status into this kind's (§5.6: Workspace and groups).
    pub fn aggregates_status(self) -> bool {
        self == Kind::Workspace || self.is_group()
    }

    /// Looks a kind up by exact API group and kind name (admission and watch dispatch).
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Kind> {
        CATALOGUE
            .iter()
            .find(|row| row.group == group && row.name == kind)
            .map(|row| row.kind)
    }

    /// Looks a kind up by `apiVersion` and `kind`; the version must be one tsbridge accepts.
    pub fn from_api_version(api_version: &str, kind: &str) -> Option<Kind> {
        let (group, version) = api_version.split_once('/')?;
        let found = Kind::from_group_kind(group, kind)?;
        found.info().versions.contains(&version).then_some(found)
    }

    /// Resolves a CLI spelling: a §1.4 alias (`tg`, `TrafficGroup`, `gwt`, `gw`, …), a CRD short
    /// name, a kind name, a plural, or a group-qualified `Kind.group` / `plural.group`.
    /// Case-insensitive, like kubectl.
    pub fn resolve(name: &str) -> Result<Kind, KindLookupError> {
        let wanted = name.to_ascii_lowercase();
        let mut found: Vec<Kind> = Vec::new();
        let mut push = |kind: Kind| {
            if !found.contains(&kind) {
                found.push(kind);
            }
        };
        // Aliases and short names are unique by construction, so they win outright.
        for row in CATALOGUE {
            if row
                .aliases
                .iter()
                .chain(row.short_names)
                .any(|alias| alias.eq_ignore_ascii_case(&wanted))
            {
                return Ok(row.kind);
            }
        }
        for row in CATALOGUE {
            let qualified = [
                format!("{}.{}", row.name, row.group),
                format!("{}.{}", row.plural, row.group),
            ];
            if qualified.iter().any(|q| q.eq_ignore_ascii_case(&wanted)) {
                return Ok(row.kind);
            }
            let singular = row.name.to_ascii_lowercase();
            if singular == wanted || row.plural == wanted {
                push(row.kind);
            }
        }
        match found.as_slice() {
            [] => Err(KindLookupError::Unknown(name.to_string())),
            [one] => Ok(*one),
            many => Err(KindLookupError::Ambiguous {
                name: name.to_string(),
                candidates: many
                    .iter()
                    .map(|kind| {
                        let row = kind.info();
                        match row.aliases.first() {
                            Some(alias) => format!("{alias} ({})", kind.qualified_name()),
                            None => kind.qualified_name(),
                        }
                    })
                    .collect(),
            }),
        }
    }
}

impl fmt::Display for Kind {
    /// The plain kind name when it is unique, else the group-qualified one
    /// (`Group.traffic.tsb.tetrate.io`), so messages never leave the reader guessing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unique = CATALOGUE
            .iter()
            .filter(|row| row.name == self.name())
            .count()
            == 1;
        if unique {
            f.write_str(self.name())
        } else {
            f.write_str(&self.qualified_name())
        }
    }
}

impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.qualified_name())
    }
}

impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        CATALOGUE
            .iter()
            .find(|row| format!("{}.{}", row.name, row.group) == text)
            .map(|row| row.kind)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown kind {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_complete_and_unique() {
        let kinds: Vec<Kind> = Kind::all().collect();
        assert_eq!(kinds.len(), 34);
        for (i, kind) in kinds.iter().enumerate() {
            assert!(!kinds[i + 1..].contains(kind), "{kind:?} listed twice");
            let _ = kind.info();
        }
        let first_wave = kinds.iter().filter(|k| k.is_first_wave()).count();
        assert_eq!(first_wave, 28, "18 core kinds + 10 direct-mode Istio kinds");
    }

    #[test]
    fn group_kind_lookup_is_exact() {
        assert_eq!(
            Kind::from_group_kind("traffic.tsb.tetrate.io", "Group"),
            Some(Kind::TrafficGroup)
        );
        assert_eq!(
            Kind::from_group_kind("gateway.tsb.tetrate.io", "Gateway"),
            Some(Kind::UnifiedGateway)
        );
        assert_eq!(
            Kind::from_group_kind("networking.istio.io", "Gateway"),
            Some(Kind::IstioGateway)
        );
        assert_eq!(Kind::from_group_kind("tsb.tetrate.io", "workspace"), None);
        // tctl's group is not a CRD group (§1.1).
        assert_eq!(
            Kind::from_group_kind("api.tsb.tetrate.io", "Workspace"),
            None
        );
    }

    #[test]
    fn api_version_lookup_checks_the_version() {
        assert_eq!(
            Kind::from_api_version("networking.istio.io/v1alpha3", "VirtualService"),
            Some(Kind::VirtualService)
        );
        assert_eq!(
            Kind::from_api_version("networking.istio.io/v1beta1", "VirtualService"),
            Some(Kind::VirtualService)
        );
        assert_eq!(
            Kind::from_api_version("tsb.tetrate.io/v3", "Workspace"),
            None
        );
        assert_eq!(Kind::from_api_version("tsb.tetrate.io", "Workspace"), None);
        assert_eq!(
            Kind::from_api_version("security.istio.io/v1", "PeerAuthentication"),
            Some(Kind::PeerAuthentication)
        );
    }

    #[test]
    fn every_documented_alias_resolves() {
        let table = [
            ("ws", Kind::Workspace),
            ("wss", Kind::WorkspaceSetting),
            ("tg", Kind::TrafficGroup),
            ("sg", Kind::SecurityGroup),
            ("gg", Kind::GatewayGroup),
            ("iig", Kind::IstioInternalGroup),
            ("ts", Kind::TrafficSetting),
            ("ss", Kind::SecuritySetting),
            ("sr", Kind::ServiceRoute),
            ("sss", Kind::ServiceSecuritySetting),
            ("ig", Kind::IngressGateway),
            ("eg", Kind::EgressGateway),
            ("t1", Kind::Tier1Gateway),
            ("gwt", Kind::UnifiedGateway),
            ("gw", Kind::IstioGateway),
            ("vs", Kind::VirtualService),
            ("dr", Kind::DestinationRule),
            ("sd", Kind::Sidecar),
            ("pa", Kind::PeerAuthentication),
            ("ra", Kind::RequestAuthentication),
            ("ap", Kind::AuthorizationPolicy),
            ("se", Kind::ServiceEntry),
            ("ef", Kind::EnvoyFilter),
            ("wp", Kind::WasmPlugin),
            ("wext", Kind::WasmExtension),
            ("app", Kind::Application),
            ("ab", Kind::AccessBindings),
            ("os", Kind::OrganizationSetting),
            ("tns", Kind::TenantSetting),
            ("TrafficGroup", Kind::TrafficGroup),
            ("securitygroup", Kind::SecurityGroup),
            ("GatewayGroup", Kind::GatewayGroup),
            ("IstioInternalGroup", Kind::IstioInternalGroup),
            ("workspace", Kind::Workspace),
            ("Workspaces", Kind::Workspace),
            ("tenant", Kind::Tenant),
            ("servicetrafficsettings", Kind::ServiceTrafficSetting),
            ("group.security.tsb.tetrate.io", Kind::SecurityGroup),
            ("Gateway.gateway.tsb.tetrate.io", Kind::UnifiedGateway),
            ("gateways.networking.istio.io", Kind::IstioGateway),
        ];
        for (alias, kind) in table {
            assert_eq!(Kind::resolve(alias), Ok(kind), "alias {alias}");
        }
    }

    #[test]
    fn ambiguous_and_unknown_names_are_errors() {
        match Kind::resolve("group") {
            Err(KindLookupError::Ambiguous { candidates, .. }) => {
                assert_eq!(candidates.len(), 4);
                assert!(candidates.iter().any(|c| c.starts_with("tg ")));
            }
            other => panic!("expected ambiguity, got {other:?}"),
        }
        assert!(matches!(
            Kind::resolve("gateway"),
            Err(KindLookupError::Ambiguous { .. })
        ));
        assert_eq!(
            Kind::resolve("nope"),
            Err(KindLookupError::Unknown("nope".into()))
        );
    }

    #[test]
    fn crd_short_names_avoid_builtin_and_istio_names() {
        // Built-in kubectl short names and Istio's own CRD short names (R-A10).
        let taken = [
            "sts", "ns", "svc", "sa", "cm", "ds", "rs", "deploy", "ing", "po", "no", "pv", "pvc",
            "ep", "ev", "hpa", "pdb", "pc", "sc", "crd", "csr", "netpol", "rc", "vs", "dr", "gw",
            "se", "pa", "ra", "ap", "we", "wg",
        ];
        let mut seen = Vec::new();
        for row in CATALOGUE {
            for short in row.short_names {
                assert!(!taken.contains(short), "{short} clashes");
                assert!(!seen.contains(short), "{short} used twice");
                seen.push(*short);
            }
            if row.wave == Wave::First && row.class != ConfigClass::Direct {
                assert!(
                    !row.short_names.is_empty(),
                    "{:?} has no short name",
                    row.kind
                );
            }
        }
    }

    #[test]
    fn direct_kinds_allow_the_documented_group_types() {
        assert_eq!(
            Kind::VirtualService.info().direct_group_keys,
            &[H::TrafficGroup, H::GatewayGroup]
        );
        assert_eq!(Kind::Sidecar.info().direct_group_keys, &[H::TrafficGroup]);
        assert_eq!(
            Kind::AuthorizationPolicy.info().direct_group_keys,
            &[H::GatewayGroup, H::SecurityGroup]
        );
        assert_eq!(
            Kind::WasmPlugin.info().direct_group_keys,
            &[H::IstioInternalGroup]
        );
        for kind in Kind::all().filter(|k| k.is_direct()) {
            assert_eq!(kind.info().required_annotations, OTW);
            assert_eq!(
                kind.info().parents.len(),
                kind.info().direct_group_keys.len()
            );
        }
    }

    #[test]
    fn display_and_serde_use_unambiguous_names() {
        assert_eq!(Kind::Workspace.to_string(), "Workspace");
        assert_eq!(
            Kind::TrafficGroup.to_string(),
            "Group.traffic.tsb.tetrate.io"
        );
        let json = serde_json::to_string(&Kind::IstioGateway).unwrap();
        assert_eq!(json, "\"Gateway.networking.istio.io\"");
        let back: Kind = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Kind::IstioGateway);
        assert!(serde_json::from_str::<Kind>("\"Gateway\"").is_err());
    }
}
