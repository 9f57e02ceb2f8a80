//! Fully-qualified names (tsb-model.md §2.3, §6.2).
//!
//! An FQN alternates collection and name segments, e.g.
//! `organizations/acme/tenants/payments/workspaces/checkout-ws`. It is the primary key of the
//! management plane, so parsing is strict: every collection must be one the kind catalogue
//! allows under the previous segment.

use std::fmt;
use std::str::FromStr;

use crate::model::kind::{CATALOGUE, Kind, Parent};

/// FQN collection segments (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    /// `organizations`
    Organizations,
    /// `tenants`
    Tenants,
    /// `workspaces`
    Workspaces,
    /// `settings` (organization, tenant, workspace, traffic and security settings)
    Settings,
    /// `trafficgroups`
    TrafficGroups,
    /// `securitygroups`
    SecurityGroups,
    /// `gatewaygroups`
    GatewayGroups,
    /// `istiointernalgroups`
    IstioInternalGroups,
    /// `serviceroutes`
    ServiceRoutes,
    /// `servicesettings` (service traffic and service security settings)
    ServiceSettings,
    /// `ingressgateways`
    IngressGateways,
    /// `egressgateways`
    EgressGateways,
    /// `tier1gateways`
    Tier1Gateways,
    /// `unifiedgateways`
    UnifiedGateways,
    /// `virtualservices`
    VirtualServices,
    /// `destinationrules`
    DestinationRules,
    /// `sidecars`
    Sidecars,
    /// `gateways` (direct-mode Istio gateways)
    Gateways,
    /// `authorizationpolicies`
    AuthorizationPolicies,
    /// `peerauthentications`
    PeerAuthentications,
    /// `requestauthentications`
    RequestAuthentications,
    /// `envoyfilters`
    EnvoyFilters,
    /// `serviceentries`
    ServiceEntries,
    /// `wasmplugins`
    WasmPlugins,
    /// `applications`
    Applications,
    /// `apis`
    Apis,
    /// `extensions`
    Extensions,
    /// `teams`
    Teams,
    /// `users` (not a GitOps kind; accepted so security rules may name them)
    Users,
    /// `serviceaccounts` (not a GitOps kind)
    ServiceAccounts,
    /// `clusters` (not a GitOps kind)
    Clusters,
    /// `securitydomains` (named in security rules, §6.2)
    SecurityDomains,
    /// `rbac` (roles: `rbac/<name>`)
    Rbac,
}

impl Collection {
    /// Every collection.
    pub const ALL: [Collection; 33] = [
        Collection::Organizations,
        Collection::Tenants,
        Collection::Workspaces,
        Collection::Settings,
        Collection::TrafficGroups,
        Collection::SecurityGroups,
        Collection::GatewayGroups,
        Collection::IstioInternalGroups,
        Collection::ServiceRoutes,
        Collection::ServiceSettings,
        Collection::IngressGateways,
        Collection::EgressGateways,
        Collection::Tier1Gateways,
        Collection::UnifiedGateways,
        Collection::VirtualServices,
        Collection::DestinationRules,
        Collection::Sidecars,
        Collection::Gateways,
        Collection::AuthorizationPolicies,
        Collection::PeerAuthentications,
        Collection::RequestAuthentications,
        Collection::EnvoyFilters,
        Collection::ServiceEntries,
        Collection::WasmPlugins,
        Collection::Applications,
        Collection::Apis,
        Collection::Extensions,
        Collection::Teams,
        Collection::Users,
        Collection::ServiceAccounts,
        Collection::Clusters,
        Collection::SecurityDomains,
        Collection::Rbac,
    ];

    /// The path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Organizations => "organizations",
            Collection::Tenants => "tenants",
            Collection::Workspaces => "workspaces",
            Collection::Settings => "settings",
            Collection::TrafficGroups => "trafficgroups",
            Collection::SecurityGroups => "securitygroups",
            Collection::GatewayGroups => "gatewaygroups",
            Collection::IstioInternalGroups => "istiointernalgroups",
            Collection::ServiceRoutes => "serviceroutes",
            Collection::ServiceSettings => "servicesettings",
            Collection::IngressGateways => "ingressgateways",
            Collection::EgressGateways => "egressgateways",
            Collection::Tier1Gateways => "tier1gateways",
            Collection::UnifiedGateways => "unifiedgateways",
            Collection::VirtualServices => "virtualservices",
            Collection::DestinationRules => "destinationrules",
            Collection::Sidecars => "sidecars",
            Collection::Gateways => "gateways",
            Collection::AuthorizationPolicies => "authorizationpolicies",
            Collection::PeerAuthentications => "peerauthentications",
            Collection::RequestAuthentications => "requestauthentications",
            Collection::EnvoyFilters => "envoyfilters",
            Collection::ServiceEntries => "serviceentries",
            Collection::WasmPlugins => "wasmplugins",
            Collection::Applications => "applications",
            Collection::Apis => "apis",
            Collection::Extensions => "extensions",
            Collection::Teams => "teams",
            Collection::Users => "users",
            Collection::ServiceAccounts => "serviceaccounts",
            Collection::Clusters => "clusters",
            Collection::SecurityDomains => "securitydomains",
            Collection::Rbac => "rbac",
        }
    }

    /// Parses a path segment (exact, lower-case).
    pub fn parse(segment: &str) -> Option<Collection> {
        Collection::ALL.into_iter().find(|c| c.as_str() == segment)
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an FQN (or one of its prefixes) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FqnNode {
    /// An organization.
    Organization,
    /// An object of a catalogue kind.
    Kind(Kind),
    /// An organization-level object outside the catalogue (users, clusters, security domains…).
    Leaf(Collection),
}

/// One `collection/name` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FqnSegment {
    /// The collection.
    pub collection: Collection,
    /// The short name.
    pub name: String,
    /// What the FQN up to and including this segment names.
    pub node: FqnNode,
}

/// A parsed, structurally valid FQN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fqn {
    segments: Vec<FqnSegment>,
}

/// Why a string is not a valid FQN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FqnError {
    /// Nothing to parse.
    #[error("empty FQN")]
    Empty,
    /// Collections and names must alternate.
    #[error("FQN {0:?} must alternate collection and name segments")]
    OddSegments(String),
    /// A name segment is empty (e.g. a doubled slash).
    #[error("FQN {fqn:?} has an empty name after {collection:?}")]
    EmptyName {
        /// The input.
        fqn: String,
        /// The collection whose name is missing.
        collection: String,
    },
    /// The collection is not one TSB defines.
    #[error("FQN {fqn:?} has unknown collection {collection:?}")]
    UnknownCollection {
        /// The input.
        fqn: String,
        /// The unknown segment.
        collection: String,
    },
    /// A name with a `/` would print as more segments (found by fuzzing, docs/fuzzing.md).
    #[error("FQN {fqn:?}: the {collection} name {name:?} contains '/'")]
    SlashInName {
        /// The parent FQN.
        fqn: String,
        /// The collection of the name.
        collection: String,
        /// The name.
        name: String,
    },
    /// The collection exists but cannot appear at this position.
    #[error("FQN {fqn:?}: {collection:?} cannot appear under {parent}")]
    Misplaced {
        /// The input.
        fqn: String,
        /// The misplaced collection.
        collection: String,
        /// What the prefix names ("the root" for the first segment).
        parent: String,
    },
}

/// The node a `collection` names when it is appended under `parent` (`None` = the root).
fn child_node(parent: Option<FqnNode>, collection: Collection) -> Option<FqnNode> {
    match (parent, collection) {
        (None, Collection::Organizations) => return Some(FqnNode::Organization),
        (None, Collection::Rbac) => return Some(FqnNode::Kind(Kind::Role)),
        (None, _) => return None,
        (
            Some(FqnNode::Organization),
            Collection::Users
            | Collection::ServiceAccounts
            | Collection::Clusters
            | Collection::SecurityDomains,
        ) => return Some(FqnNode::Leaf(collection)),
        _ => {}
    }
    let wanted_parent = match parent? {
        FqnNode::Organization => Parent::Organization,
        FqnNode::Kind(kind) => Parent::Kind(kind),
        FqnNode::Leaf(_) => return None,
    };
    CATALOGUE
        .iter()
        .find(|row| row.collection == Some(collection) && row.parents.contains(&wanted_parent))
        .map(|row| FqnNode::Kind(row.kind))
}

fn describe(node: Option<FqnNode>) -> String {
    match node {
        None => "the root".to_string(),
        Some(FqnNode::Organization) => "an organization".to_string(),
        Some(FqnNode::Kind(kind)) => format!("a {kind}"),
        Some(FqnNode::Leaf(collection)) => format!("{collection}"),
    }
}

impl Fqn {
    /// `organizations/<name>`.
    pub fn organization(name: &str) -> Fqn {
        Fqn {
            segments: vec![FqnSegment {
                collection: Collection::Organizations,
                name: name.to_string(),
                node: FqnNode::Organization,
            }],
        }
    }

    /// Appends `/<collection of kind>/<name>`; fails if `kind` cannot live under this FQN or
    /// `name` is empty or holds a `/` (the result always parses back to itself).
    pub fn child(&self, kind: Kind, name: &str) -> Result<Fqn, FqnError> {
        let collection = kind.collection().ok_or_else(|| FqnError::Misplaced {
            fqn: self.to_string(),
            collection: kind.name().to_string(),
            parent: "any FQN (the kind has no collection)".to_string(),
        })?;
        if name.is_empty() {
            return Err(FqnError::EmptyName {
                fqn: self.to_string(),
                collection: collection.to_string(),
            });
        }
        if name.contains('/') {
            return Err(FqnError::SlashInName {
                fqn: self.to_string(),
                collection: collection.to_string(),
                name: name.to_string(),
            });
        }
        let parent = self.node();
        match child_node(Some(parent), collection) {
            Some(node @ FqnNode::Kind(found)) if found == kind => {
                let mut segments = self.segments.clone();
                segments.push(FqnSegment {
                    collection,
                    name: name.to_string(),
                    node,
                });
                Ok(Fqn { segments })
            }
            _ => Err(FqnError::Misplaced {
                fqn: self.to_string(),
                collection: collection.to_string(),
                parent: describe(Some(parent)),
            }),
        }
    }

    /// The segments, root first.
    pub fn segments(&self) -> &[FqnSegment] {
        &self.segments
    }

    /// What this FQN names.
    pub fn node(&self) -> FqnNode {
        // A parsed FQN always has at least one segment.
        self.segments
            .last()
            .map(|s| s.node)
            .expect("FQN is never empty")
    }

    /// The kind this FQN names, if it names a catalogue kind.
    pub fn kind(&self) -> Option<Kind> {
        match self.node() {
            FqnNode::Kind(kind) => Some(kind),
            _ => None,
        }
    }

    /// True if this FQN names an organization.
    pub fn is_organization(&self) -> bool {
        self.node() == FqnNode::Organization
    }

    /// The last name segment (the object's short name).
    pub fn name(&self) -> &str {
        &self.segments.last().expect("FQN is never empty").name
    }

    /// The organization name, unless this is a global FQN such as `rbac/<role>`.
    pub fn organization_name(&self) -> Option<&str> {
        let first = &self.segments[0];
        (first.collection == Collection::Organizations).then_some(first.name.as_str())
    }

    /// The FQN without its last segment; `None` for top-level FQNs.
    pub fn parent(&self) -> Option<Fqn> {
        (self.segments.len() > 1).then(|| Fqn {
            segments: self.segments[..self.segments.len() - 1].to_vec(),
        })
    }

    /// The nearest prefix (this FQN included) that names an object of `kind`.
    pub fn ancestor(&self, kind: Kind) -> Option<Fqn> {
        let index = self
            .segments
            .iter()
            .rposition(|s| s.node == FqnNode::Kind(kind))?;
        Some(Fqn {
            segments: self.segments[..=index].to_vec(),
        })
    }

    /// The nearest prefix (this FQN included) that names a group of any of the four kinds.
    pub fn group_ancestor(&self) -> Option<Fqn> {
        let index = self
            .segments
            .iter()
            .rposition(|s| matches!(s.node, FqnNode::Kind(kind) if kind.is_group()))?;
        Some(Fqn {
            segments: self.segments[..=index].to_vec(),
        })
    }

    /// True if `other` lies strictly below this FQN.
    pub fn is_ancestor_of(&self, other: &Fqn) -> bool {
        other.segments.len() > self.segments.len()
            && other.segments[..self.segments.len()] == self.segments[..]
    }

    /// True if `other` is this FQN or lies below it (grant scopes use this).
    pub fn covers(&self, other: &Fqn) -> bool {
        self == other || self.is_ancestor_of(other)
    }

    /// The hierarchy annotations that place a child of this FQN (§2.2): the inverse of FQN
    /// derivation, used to write a model resource back as a CR. Segments without an
    /// annotation of their own (e.g. an application's parent chain) are skipped.
    pub fn hierarchy_annotations(&self) -> Vec<(crate::model::metadata::HierarchyKey, String)> {
        use crate::model::metadata::HierarchyKey as H;
        self.segments
            .iter()
            .filter_map(|segment| {
                let key = match segment.node {
                    FqnNode::Organization => H::Organization,
                    FqnNode::Kind(Kind::Tenant) => H::Tenant,
                    FqnNode::Kind(Kind::Workspace) => H::Workspace,
                    FqnNode::Kind(Kind::TrafficGroup) => H::TrafficGroup,
                    FqnNode::Kind(Kind::SecurityGroup) => H::SecurityGroup,
                    FqnNode::Kind(Kind::GatewayGroup) => H::GatewayGroup,
                    FqnNode::Kind(Kind::IstioInternalGroup) => H::IstioInternalGroup,
                    FqnNode::Kind(Kind::Application) => H::Application,
                    _ => return None,
                };
                Some((key, segment.name.clone()))
            })
            .collect()
    }
}

impl FromStr for Fqn {
    type Err = FqnError;

    fn from_str(text: &str) -> Result<Fqn, FqnError> {
        if text.is_empty() {
            return Err(FqnError::Empty);
        }
        let parts: Vec<&str> = text.split('/').collect();
        if !parts.len().is_multiple_of(2) {
            return Err(FqnError::OddSegments(text.to_string()));
        }
        let mut segments: Vec<FqnSegment> = Vec::with_capacity(parts.len() / 2);
        for pair in parts.chunks(2) {
            let (raw_collection, name) = (pair[0], pair[1]);
            let collection =
                Collection::parse(raw_collection).ok_or_else(|| FqnError::UnknownCollection {
                    fqn: text.to_string(),
                    collection: raw_collection.to_string(),
                })?;
            if name.is_empty() {
                return Err(FqnError::EmptyName {
                    fqn: text.to_string(),
                    collection: raw_collection.to_string(),
                });
            }
            let parent = segments.last().map(|s| s.node);
            let node = child_node(parent, collection).ok_or_else(|| FqnError::Misplaced {
                fqn: text.to_string(),
                collection: raw_collection.to_string(),
                parent: describe(parent),
            })?;
            segments.push(FqnSegment {
                collection,
                name: name.to_string(),
                node,
            });
        }
        Ok(Fqn { segments })
    }
}

impl fmt::Display for Fqn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{}/{}", segment.collection, segment.name)?;
        }
        Ok(())
    }
}

impl serde::Serialize for Fqn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fqn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "organizations/acme/tenants/payments/workspaces/checkout-ws";

    #[test]
    fn parses_and_prints_every_first_wave_shape() {
        let table = [
            ("organizations/acme/tenants/payments", Kind::Tenant),
            (
                "organizations/acme/settings/default",
                Kind::OrganizationSetting,
            ),
            (
                "organizations/acme/tenants/payments/settings/s",
                Kind::TenantSetting,
            ),
            (WS, Kind::Workspace),
            (&format!("{WS}/settings/s"), Kind::WorkspaceSetting),
            (&format!("{WS}/trafficgroups/t"), Kind::TrafficGroup),
            (&format!("{WS}/securitygroups/s"), Kind::SecurityGroup),
            (&format!("{WS}/gatewaygroups/g"), Kind::GatewayGroup),
            (
                &format!("{WS}/istiointernalgroups/i"),
                Kind::IstioInternalGroup,
            ),
            (
                &format!("{WS}/trafficgroups/t/settings/x"),
                Kind::TrafficSetting,
            ),
            (
                &format!("{WS}/trafficgroups/t/serviceroutes/x"),
                Kind::ServiceRoute,
            ),
            (
                &format!("{WS}/trafficgroups/t/servicesettings/x"),
                Kind::ServiceTrafficSetting,
            ),
            (
                &format!("{WS}/securitygroups/s/settings/x"),
                Kind::SecuritySetting,
            ),
            (
                &format!("{WS}/securitygroups/s/servicesettings/x"),
                Kind::ServiceSecuritySetting,
            ),
            (
                &format!("{WS}/gatewaygroups/g/ingressgateways/x"),
                Kind::IngressGateway,
            ),
            (
                &format!("{WS}/gatewaygroups/g/egressgateways/x"),
                Kind::EgressGateway,
            ),
            (
                &format!("{WS}/gatewaygroups/g/tier1gateways/x"),
                Kind::Tier1Gateway,
            ),
            (
                &format!("{WS}/gatewaygroups/g/unifiedgateways/x"),
                Kind::UnifiedGateway,
            ),
            (
                &format!("{WS}/trafficgroups/t/virtualservices/x"),
                Kind::VirtualService,
            ),
            (
                &format!("{WS}/gatewaygroups/g/virtualservices/x"),
                Kind::VirtualService,
            ),
            (
                &format!("{WS}/gatewaygroups/g/gateways/x"),
                Kind::IstioGateway,
            ),
            (
                &format!("{WS}/securitygroups/s/authorizationpolicies/x"),
                Kind::AuthorizationPolicy,
            ),
            (
                &format!("{WS}/istiointernalgroups/i/wasmplugins/x"),
                Kind::WasmPlugin,
            ),
            ("rbac/admin", Kind::Role),
        ];
        for (text, kind) in table {
            let fqn: Fqn = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(fqn.kind(), Some(kind), "{text}");
            assert_eq!(fqn.to_string(), text);
        }
    }

    #[test]
    fn settings_resolve_by_parent() {
        let org: Fqn = "organizations/acme/settings/x".parse().unwrap();
        let ts: Fqn = format!("{WS}/trafficgroups/t/settings/x").parse().unwrap();
        assert_eq!(org.kind(), Some(Kind::OrganizationSetting));
        assert_eq!(ts.kind(), Some(Kind::TrafficSetting));
    }

    #[test]
    fn rejects_malformed_fqns() {
        let bad = [
            ("", FqnError::Empty),
            (
                "organizations",
                FqnError::OddSegments("organizations".into()),
            ),
            (
                "organizations/acme/tenants/",
                FqnError::EmptyName {
                    fqn: "organizations/acme/tenants/".into(),
                    collection: "tenants".into(),
                },
            ),
            (
                "organizations/acme/widgets/x",
                FqnError::UnknownCollection {
                    fqn: "organizations/acme/widgets/x".into(),
                    collection: "widgets".into(),
                },
            ),
        ];
        for (text, err) in bad {
            assert_eq!(text.parse::<Fqn>(), Err(err), "{text}");
        }
        // Structurally misplaced collections.
        for text in [
            "tenants/payments",
            "organizations/acme/workspaces/w",
            &format!("{WS}/serviceroutes/x"),
            &format!("{WS}/trafficgroups/t/peerauthentications/x"),
            &format!("{WS}/securitygroups/s/sidecars/x"),
            &format!("{WS}/istiointernalgroups/i/virtualservices/x"),
            "organizations/acme/clusters/c/tenants/t",
            "organizations/acme/rbac/admin",
        ] {
            assert!(
                matches!(text.parse::<Fqn>(), Err(FqnError::Misplaced { .. })),
                "{text} should be misplaced"
            );
        }
    }

    #[test]
    fn navigation() {
        let sr: Fqn = format!("{WS}/trafficgroups/checkout-traffic/serviceroutes/cart")
            .parse()
            .unwrap();
        assert_eq!(sr.name(), "cart");
        assert_eq!(sr.organization_name(), Some("acme"));
        let group = sr.parent().unwrap();
        assert_eq!(group.kind(), Some(Kind::TrafficGroup));
        assert_eq!(sr.group_ancestor(), Some(group.clone()));
        assert_eq!(sr.ancestor(Kind::Workspace).unwrap().to_string(), WS);
        assert_eq!(
            sr.ancestor(Kind::Tenant).unwrap().to_string(),
            "organizations/acme/tenants/payments"
        );
        assert!(group.is_ancestor_of(&sr));
        assert!(!sr.is_ancestor_of(&sr));
        assert!(sr.covers(&sr));
        let org = Fqn::organization("acme");
        assert!(org.is_organization());
        assert!(org.is_ancestor_of(&sr));
        assert_eq!(org.parent(), None);
        let role: Fqn = "rbac/admin".parse().unwrap();
        assert_eq!(role.organization_name(), None);
    }

    #[test]
    fn child_checks_the_kind_against_the_parent() {
        let ws: Fqn = WS.parse().unwrap();
        let tg = ws.child(Kind::TrafficGroup, "t").unwrap();
        assert_eq!(tg.to_string(), format!("{WS}/trafficgroups/t"));
        assert!(tg.child(Kind::ServiceRoute, "sr").is_ok());
        assert!(tg.child(Kind::SecuritySetting, "s").is_err());
        assert!(ws.child(Kind::ServiceRoute, "sr").is_err());
        assert!(ws.child(Kind::TrafficGroup, "").is_err());
        assert!(ws.child(Kind::AccessBindings, "x").is_err());
    }

    #[test]
    fn a_child_name_with_a_slash_is_refused_so_every_fqn_reparses() {
        // Found by the `fqn` fuzz target: "me/workspaces/x" printed as three more segments.
        let org = Fqn::organization("a");
        assert!(matches!(
            org.child(Kind::Tenant, "me/workspaces/x"),
            Err(FqnError::SlashInName { .. })
        ));
        let tenant = org.child(Kind::Tenant, "me").unwrap();
        assert_eq!(tenant.to_string().parse::<Fqn>(), Ok(tenant));
    }

    #[test]
    fn serde_round_trip() {
        let fqn: Fqn = WS.parse().unwrap();
        let json = serde_json::to_string(&fqn).unwrap();
        assert_eq!(json, format!("\"{WS}\""));
        assert_eq!(serde_json::from_str::<Fqn>(&json).unwrap(), fqn);
        assert!(serde_json::from_str::<Fqn>("\"organizations/a/x/y\"").is_err());
    }
}

#[cfg(test)]
mod hierarchy_annotation_tests {
    use super::*;
    use crate::model::metadata::HierarchyKey as H;

    #[test]
    fn annotations_invert_fqn_derivation() {
        let group: Fqn = "organizations/acme/tenants/pay/workspaces/ws/trafficgroups/tg"
            .parse()
            .expect("valid FQN");
        assert_eq!(
            group.hierarchy_annotations(),
            vec![
                (H::Organization, "acme".to_string()),
                (H::Tenant, "pay".to_string()),
                (H::Workspace, "ws".to_string()),
                (H::TrafficGroup, "tg".to_string()),
            ]
        );
        assert_eq!(
            Fqn::organization("acme").hierarchy_annotations(),
            vec![(H::Organization, "acme".to_string())]
        );
    }
}
