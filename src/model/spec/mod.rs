//! Typed specs of the core kinds (tsb-model.md §1.2), one file per family.
//!
//! Field names are the documented camelCase names, enums serialize as the documented
//! UPPER_CASE strings and durations stay strings (`5s`). Every field is optional at the serde
//! level: "required" is a rule (V6/V7) so it gets a diagnostic with a field path and a fix
//! instead of a bare decoding error. Top-level specs deny unknown fields (V8); see
//! `docs/model.md` for the nested-block policy. Direct-mode Istio specs stay JSON values.

pub mod auth;
pub mod common;
pub mod gateway;
pub mod ratelimit;
pub mod route;
pub mod security;
pub mod tenancy;
pub mod traffic;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::kind::Kind;

pub use common::{
    ConfigGenerationMetadata, ConfigMode, Extra, NamespaceSelectorSpec, WorkloadSelector,
};
pub use gateway::{
    EgressGatewaySpec, IngressGatewaySpec, RouteTarget, Tier1GatewaySpec, UnifiedGatewaySpec,
};
pub use ratelimit::{
    ExternalRateLimitDimension, ExternalRateLimitServiceSettings, RateLimitDimension,
    RateLimitSettings, RateLimitUnit, RateLimiting, StringMatch,
};
pub use route::{
    HttpCookie, HttpMatchCondition, HttpRoute, PortLevelSetting, ServiceDestination,
    ServiceRouteSpec, StickySession, Subset, TcpMatchCondition, TcpRoute, TrafficType,
};
pub use security::{
    AuthenticationMode, AuthenticationSettings, AuthorizationMode, AuthorizationRule,
    AuthorizationRules, AuthorizationSettings, PropagationStrategy, RuleTarget,
    SecuritySettingSpec, ServiceSecuritySettingSpec, SubsetSecuritySetting,
};
pub use tenancy::{
    EastWestGatewaySettings, ExposedService, GatewayGroupSpec, IstioInternalGroupSpec,
    OrganizationSettingSpec, SecurityGroupSpec, TenantSettingSpec, TenantSpec, TrafficGroupSpec,
    WorkspaceSettingSpec, WorkspaceSpec,
};
pub use traffic::{
    CircuitBreakerSensitivity, EgressSettings, HttpRetries, InboundSettings, KeepAliveSettings,
    ReachabilityMode, ReachabilitySettings, ResilienceSettings, ServiceTrafficSettingSpec,
    TcpKeepAlive, TrafficSettingSpec,
};

/// A decoded spec: typed for TSB kinds, raw JSON for direct-mode Istio kinds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Spec {
    /// `Tenant`.
    Tenant(TenantSpec),
    /// `OrganizationSetting`.
    OrganizationSetting(OrganizationSettingSpec),
    /// `TenantSetting`.
    TenantSetting(TenantSettingSpec),
    /// `Workspace`.
    Workspace(WorkspaceSpec),
    /// `WorkspaceSetting`.
    WorkspaceSetting(WorkspaceSettingSpec),
    /// Traffic `Group`.
    TrafficGroup(TrafficGroupSpec),
    /// Security `Group`.
    SecurityGroup(SecurityGroupSpec),
    /// Gateway `Group`.
    GatewayGroup(GatewayGroupSpec),
    /// Istio internal `Group`.
    IstioInternalGroup(IstioInternalGroupSpec),
    /// `TrafficSetting`.
    TrafficSetting(TrafficSettingSpec),
    /// `ServiceRoute`.
    ServiceRoute(ServiceRouteSpec),
    /// `ServiceTrafficSetting`.
    ServiceTrafficSetting(ServiceTrafficSettingSpec),
    /// `SecuritySetting`.
    SecuritySetting(SecuritySettingSpec),
    /// `ServiceSecuritySetting`.
    ServiceSecuritySetting(ServiceSecuritySettingSpec),
    /// `IngressGateway`.
    IngressGateway(IngressGatewaySpec),
    /// `EgressGateway`.
    EgressGateway(EgressGatewaySpec),
    /// `Tier1Gateway`.
    Tier1Gateway(Tier1GatewaySpec),
    /// Unified `Gateway`.
    UnifiedGateway(UnifiedGatewaySpec),
    /// A direct-mode Istio spec, passed through unchanged.
    Istio(Value),
}

/// A spec that does not decode (V8): the deepest field that fails on its own, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// Path such as `spec.resilience.circuitBreakerSensitivity`.
    pub field: String,
    /// serde's message, e.g. "unknown field `configMode`, expected one of …".
    pub message: String,
}

impl Spec {
    /// Decodes `spec` for `kind`. `null` object members are dropped first, as the apiserver
    /// prunes them for structural schemas; a missing spec decodes as `{}`. A direct-mode spec
    /// is kept as it is, but must be an object: the wire (`google.protobuf.Struct`) carries
    /// nothing else (found by fuzzing, docs/fuzzing.md).
    pub fn decode(kind: Kind, spec: &Value) -> Result<Spec, SpecError> {
        if kind.is_direct() {
            return match spec {
                Value::Null => Ok(Spec::Istio(Value::Object(Default::default()))),
                Value::Object(_) => Ok(Spec::Istio(spec.clone())),
                _ => Err(SpecError {
                    field: "spec".into(),
                    message: "a direct-mode spec must be an object".into(),
                }),
            };
        }
        // Copy only when there is something to prune: most specs have no nulls.
        let pruned;
        let spec = match spec {
            Value::Null => {
                pruned = Value::Object(Default::default());
                &pruned
            }
            other if has_object_nulls(other) => {
                pruned = strip_nulls(other);
                &pruned
            }
            other => other,
        };
        Ok(match kind {
            Kind::Tenant => Spec::Tenant(decode_typed(spec)?),
            Kind::OrganizationSetting => Spec::OrganizationSetting(decode_typed(spec)?),
            Kind::TenantSetting => Spec::TenantSetting(decode_typed(spec)?),
            Kind::Workspace => Spec::Workspace(decode_typed(spec)?),
            Kind::WorkspaceSetting => Spec::WorkspaceSetting(decode_typed(spec)?),
            Kind::TrafficGroup => Spec::TrafficGroup(decode_typed(spec)?),
            Kind::SecurityGroup => Spec::SecurityGroup(decode_typed(spec)?),
            Kind::GatewayGroup => Spec::GatewayGroup(decode_typed(spec)?),
            Kind::IstioInternalGroup => Spec::IstioInternalGroup(decode_typed(spec)?),
            Kind::TrafficSetting => Spec::TrafficSetting(decode_typed(spec)?),
            Kind::ServiceRoute => Spec::ServiceRoute(decode_typed(spec)?),
            Kind::ServiceTrafficSetting => Spec::ServiceTrafficSetting(decode_typed(spec)?),
            Kind::SecuritySetting => Spec::SecuritySetting(decode_typed(spec)?),
            Kind::ServiceSecuritySetting => Spec::ServiceSecuritySetting(decode_typed(spec)?),
            Kind::IngressGateway => Spec::IngressGateway(decode_typed(spec)?),
            Kind::EgressGateway => Spec::EgressGateway(decode_typed(spec)?),
            Kind::Tier1Gateway => Spec::Tier1Gateway(decode_typed(spec)?),
            Kind::UnifiedGateway => Spec::UnifiedGateway(decode_typed(spec)?),
            // Later kinds are never converted (V1); keep their spec verbatim if asked.
            _ => Spec::Istio(spec.clone()),
        })
    }

    /// The spec as JSON (what is forwarded and hashed).
    pub fn to_value(&self) -> Value {
        // Serializing these plain data types cannot fail: all map keys are strings.
        serde_json::to_value(self).expect("spec serializes to JSON")
    }

    /// The selector of a Workspace or Group (`None` for other kinds or when it is missing).
    pub fn namespace_selector(&self) -> Option<&NamespaceSelectorSpec> {
        match self {
            Spec::Workspace(s) => s.namespace_selector.as_ref(),
            Spec::TrafficGroup(s) => s.namespace_selector.as_ref(),
            Spec::SecurityGroup(s) => s.namespace_selector.as_ref(),
            Spec::GatewayGroup(s) => s.namespace_selector.as_ref(),
            Spec::IstioInternalGroup(s) => s.namespace_selector.as_ref(),
            _ => None,
        }
    }

    /// A group's effective config mode: the field, `BRIDGED` by default, always `DIRECT` for
    /// the Istio internal group; `None` for non-groups.
    pub fn config_mode(&self) -> Option<ConfigMode> {
        match self {
            Spec::TrafficGroup(s) => Some(s.config_mode.unwrap_or_default()),
            Spec::SecurityGroup(s) => Some(s.config_mode.unwrap_or_default()),
            Spec::GatewayGroup(s) => Some(s.config_mode.unwrap_or_default()),
            Spec::IstioInternalGroup(_) => Some(ConfigMode::Direct),
            _ => None,
        }
    }

    /// `deletionProtectionEnabled` (false where the kind has no such field).
    pub fn deletion_protection_enabled(&self) -> bool {
        let flag = match self {
            Spec::Tenant(s) => s.deletion_protection_enabled,
            Spec::Workspace(s) => s.deletion_protection_enabled,
            Spec::TrafficGroup(s) => s.deletion_protection_enabled,
            Spec::SecurityGroup(s) => s.deletion_protection_enabled,
            Spec::GatewayGroup(s) => s.deletion_protection_enabled,
            Spec::IstioInternalGroup(s) => s.deletion_protection_enabled,
            _ => None,
        };
        flag.unwrap_or(false)
    }

    /// `spec.configGenerationMetadata`, where the kind has it.
    pub fn config_generation_metadata(&self) -> Option<&ConfigGenerationMetadata> {
        match self {
            Spec::Tenant(s) => s.config_generation_metadata.as_ref(),
            Spec::Workspace(s) => s.config_generation_metadata.as_ref(),
            Spec::TrafficGroup(s) => s.config_generation_metadata.as_ref(),
            Spec::SecurityGroup(s) => s.config_generation_metadata.as_ref(),
            Spec::GatewayGroup(s) => s.config_generation_metadata.as_ref(),
            Spec::IstioInternalGroup(s) => s.config_generation_metadata.as_ref(),
            Spec::TrafficSetting(s) => s.config_generation_metadata.as_ref(),
            Spec::ServiceRoute(s) => s.config_generation_metadata.as_ref(),
            Spec::ServiceTrafficSetting(s) => s.config_generation_metadata.as_ref(),
            Spec::SecuritySetting(s) => s.config_generation_metadata.as_ref(),
            Spec::ServiceSecuritySetting(s) => s.config_generation_metadata.as_ref(),
            Spec::IngressGateway(s) => s.config_generation_metadata.as_ref(),
            Spec::EgressGateway(s) => s.config_generation_metadata.as_ref(),
            Spec::Tier1Gateway(s) => s.config_generation_metadata.as_ref(),
            Spec::UnifiedGateway(s) => s.config_generation_metadata.as_ref(),
            Spec::OrganizationSetting(_)
            | Spec::TenantSetting(_)
            | Spec::WorkspaceSetting(_)
            | Spec::Istio(_) => None,
        }
    }

    /// `spec.service` of ServiceRoute, ServiceTrafficSetting and ServiceSecuritySetting.
    pub fn service(&self) -> Option<&str> {
        match self {
            Spec::ServiceRoute(s) => s.service.as_deref(),
            Spec::ServiceTrafficSetting(s) => s.service.as_deref(),
            Spec::ServiceSecuritySetting(s) => s.service.as_deref(),
            _ => None,
        }
    }

    /// A gateway's `workloadSelector`.
    pub fn workload_selector(&self) -> Option<&WorkloadSelector> {
        match self {
            Spec::IngressGateway(s) => s.workload_selector.as_ref(),
            Spec::EgressGateway(s) => s.workload_selector.as_ref(),
            Spec::Tier1Gateway(s) => s.workload_selector.as_ref(),
            Spec::UnifiedGateway(s) => s.workload_selector.as_ref(),
            _ => None,
        }
    }
}

/// True if some object member, at any depth, is `null` (what [`strip_nulls`] removes).
fn has_object_nulls(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().any(|v| v.is_null() || has_object_nulls(v)),
        Value::Array(items) => items.iter().any(has_object_nulls),
        _ => false,
    }
}

/// Removes `null` members of objects, recursively.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// Decodes a typed spec; on failure, finds the field responsible (see [`locate_error`]).
pub(crate) fn decode_typed<T: DeserializeOwned>(value: &Value) -> Result<T, SpecError> {
    match T::deserialize(value) {
        Ok(decoded) => Ok(decoded),
        Err(err) => Err(locate_error::<T>(value, err.to_string())),
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

/// Wraps `leaf` in the objects/arrays named by `path`, so it sits where it did in the spec.
fn build_probe(path: &[Segment], leaf: Value) -> Value {
    path.iter()
        .rev()
        .fold(leaf, |inner, segment| match segment {
            Segment::Key(key) => Value::Object([(key.clone(), inner)].into_iter().collect()),
            Segment::Index(_) => Value::Array(vec![inner]),
        })
}

fn render_path(path: &[Segment]) -> String {
    let mut out = String::from("spec");
    for segment in path {
        match segment {
            Segment::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// serde's errors carry no path (and `serde_path_to_error` is not a model dependency), so the
/// failing field is found by probing: re-decode documents that keep only one member along the
/// current path, and descend into the first member that fails on its own. Every field is
/// optional, so a one-member document fails only because of that member. Runs only on the
/// error path.
fn locate_error<T: DeserializeOwned>(root: &Value, top_message: String) -> SpecError {
    let fails = |probe: &Value| T::deserialize(probe).err().map(|e| e.to_string());
    let mut path: Vec<Segment> = Vec::new();
    let mut message = top_message;
    let mut current = root;
    loop {
        let children: Vec<(Segment, &Value)> = match current {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| (Segment::Key(k.clone()), v))
                .collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Segment::Index(i), v))
                .collect(),
            _ => break,
        };
        if !path.is_empty() {
            // Is the container itself the wrong type here (e.g. an object where a string goes)?
            let empty = match current {
                Value::Array(_) => Value::Array(Vec::new()),
                _ => Value::Object(Default::default()),
            };
            if let Some(m) = fails(&build_probe(&path, empty)) {
                message = m;
                break;
            }
        }
        let mut next = None;
        for (segment, child) in children {
            path.push(segment);
            let probe = build_probe(&path, child.clone());
            if let Some(m) = fails(&probe) {
                message = m;
                next = Some(child);
                break;
            }
            path.pop();
        }
        match next {
            Some(child) => current = child,
            None => break,
        }
    }
    SpecError {
        field: render_path(&path),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_example_4_traffic_setting() {
        let spec = json!({
            "reachability": {"mode": "CUSTOM", "hosts": ["./*", "shared-db/*"]},
            "resilience": {
                "httpRequestTimeout": "5s",
                "httpRetries": {"attempts": 2, "perTryTimeout": "2s", "retryOn": "5xx,connect-failure"},
                "circuitBreakerSensitivity": "MEDIUM"
            },
            "egress": {"host": "checkout-edge/egress.checkout-edge.svc.cluster.local"}
        });
        let Spec::TrafficSetting(ts) = Spec::decode(Kind::TrafficSetting, &spec).unwrap() else {
            panic!("wrong variant");
        };
        let resilience = ts.resilience.as_ref().unwrap();
        assert_eq!(
            resilience.circuit_breaker_sensitivity,
            Some(CircuitBreakerSensitivity::Medium)
        );
        assert_eq!(resilience.http_retries.as_ref().unwrap().attempts, Some(2));
        assert_eq!(
            ts.reachability.as_ref().unwrap().mode,
            Some(ReachabilityMode::Custom)
        );
        // Round trip keeps the documented names and values.
        assert_eq!(Spec::TrafficSetting(ts).to_value(), spec);
    }

    #[test]
    fn unknown_top_level_field_is_located_v8() {
        let err = Spec::decode(
            Kind::IstioInternalGroup,
            &json!({"namespaceSelector": {"names": ["*/x"]}, "configMode": "DIRECT"}),
        )
        .unwrap_err();
        assert_eq!(err.field, "spec.configMode");
        assert!(
            err.message.contains("unknown field `configMode`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn nested_errors_are_located() {
        let table = [
            (
                Kind::TrafficSetting,
                json!({"resilience": {"circuitBreakerSensitivity": "EXTREME"}}),
                "spec.resilience.circuitBreakerSensitivity",
                "unknown variant",
            ),
            (
                Kind::TrafficGroup,
                json!({"namespaceSelector": {"names": ["*/a", 7]}}),
                "spec.namespaceSelector.names[1]",
                "invalid type",
            ),
            (
                Kind::Workspace,
                json!({"namespaceSelector": {"name": ["*/a"]}}),
                "spec.namespaceSelector.name",
                "unknown field",
            ),
            (
                Kind::ServiceRoute,
                json!({"service": "a/b", "subsets": [{"name": "v1"}, {"name": "v2", "weight": "ten"}]}),
                "spec.subsets[1].weight",
                "invalid type",
            ),
            (
                Kind::Workspace,
                json!({"namespaceSelector": "*/a"}),
                "spec.namespaceSelector",
                "invalid type",
            ),
            (
                Kind::Workspace,
                json!({"privileged": {"value": true}}),
                "spec.privileged",
                "invalid type",
            ),
            (Kind::Tenant, json!("just a string"), "spec", "invalid type"),
        ];
        for (kind, spec, field, needle) in table {
            let err = Spec::decode(kind, &spec).unwrap_err();
            assert_eq!(err.field, field, "{spec}");
            assert!(err.message.contains(needle), "{field}: {}", err.message);
        }
    }

    #[test]
    fn nulls_are_pruned_and_missing_spec_is_empty() {
        let spec = Spec::decode(
            Kind::Tenant,
            &json!({"displayName": null, "profiles": null}),
        )
        .unwrap();
        assert_eq!(spec, Spec::Tenant(TenantSpec::default()));
        assert_eq!(
            Spec::decode(Kind::Tenant, &Value::Null).unwrap(),
            Spec::Tenant(TenantSpec::default())
        );
    }

    #[test]
    fn typed_traffic_blocks_round_trip_and_reject_unknown_fields() {
        let spec = json!({"resilience": {
            "httpRequestTimeout": "1s",
            "keepAlive": {"tcp": {"upstream": {"probes": 3, "idleTime": 30, "interval": 5}}}
        }});
        let decoded = Spec::decode(Kind::TrafficSetting, &spec).unwrap();
        assert_eq!(decoded.to_value(), spec);
        let unknown = json!({"resilience": {"keepAlive": {"tcp": {"upstream": {"probe": 3}}}}});
        assert!(Spec::decode(Kind::TrafficSetting, &unknown).is_err());
    }

    #[test]
    fn a_direct_mode_spec_is_an_object_as_on_the_wire() {
        // Found by the `cr_json` fuzz target: a missing spec reached the MP as `{}`.
        assert_eq!(
            Spec::decode(Kind::VirtualService, &Value::Null).unwrap(),
            Spec::Istio(json!({}))
        );
        for spec in [json!(5), json!("x"), json!([{"hosts": []}])] {
            let err = Spec::decode(Kind::VirtualService, &spec).unwrap_err();
            assert_eq!(err.field, "spec");
        }
    }

    #[test]
    fn istio_specs_pass_through() {
        let spec = json!({"hosts": ["legacy-api"], "anything": {"goes": null}});
        assert_eq!(
            Spec::decode(Kind::VirtualService, &spec).unwrap(),
            Spec::Istio(spec.clone())
        );
    }

    #[test]
    fn group_helpers() {
        let tg = Spec::decode(Kind::TrafficGroup, &json!({"configMode": "DIRECT"})).unwrap();
        assert_eq!(tg.config_mode(), Some(ConfigMode::Direct));
        let gg = Spec::decode(Kind::GatewayGroup, &json!({})).unwrap();
        assert_eq!(gg.config_mode(), Some(ConfigMode::Bridged));
        let iig = Spec::decode(Kind::IstioInternalGroup, &json!({})).unwrap();
        assert_eq!(iig.config_mode(), Some(ConfigMode::Direct));
        let ws =
            Spec::decode(Kind::Workspace, &json!({"deletionProtectionEnabled": true})).unwrap();
        assert!(ws.deletion_protection_enabled());
        assert_eq!(ws.config_mode(), None);
    }

    #[test]
    fn unified_gateway_route_targets() {
        let spec = json!({
            "http": [{"name": "a", "routing": {"rules": [
                {"route": {"serviceDestination": {"host": "ns/svc"}}},
                {"route": {"clusterDestination": {"clusters": [{"name": "c1"}]}}}
            ]}}],
            "tcp": [{"name": "t", "route": {"serviceDestination": {"host": "ns/db"}}}]
        });
        let Spec::UnifiedGateway(gw) = Spec::decode(Kind::UnifiedGateway, &spec).unwrap() else {
            panic!("wrong variant");
        };
        let targets = gw.route_targets();
        assert_eq!(
            targets,
            [
                (
                    "spec.http[0].routing.rules[0].route.serviceDestination".to_string(),
                    RouteTarget::Services
                ),
                (
                    "spec.http[0].routing.rules[1].route.clusterDestination".to_string(),
                    RouteTarget::Clusters
                ),
                (
                    "spec.tcp[0].route.serviceDestination".to_string(),
                    RouteTarget::Services
                ),
            ]
        );
    }
}
