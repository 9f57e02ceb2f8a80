//! CRD types for every core TSB kind, derived from the model's spec types.
//!
//! Each spec type here is a transparent wrapper around the model's type, so the serialized
//! form and the generated schema are exactly the model's: the Rust model is the single source of
//! truth for the CRDs, the webhook, the management plane and `tsbridge validate`. Names, short
//! names and extra printer columns come from the model's kind catalogue in `crds.rs`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::spec;

/// Declares one CRD: a transparent spec wrapper and the kube-derived root type.
macro_rules! tsb_crd {
    (
        $(#[$doc:meta])*
        $spec_type:ident ($model:ty) => $root:literal,
        group = $group:literal, kind = $kind:literal
    ) => {
        $(#[$doc])*
        #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[serde(transparent)]
        #[kube(
            group = $group,
            version = "v2",
            kind = $kind,
            root = $root,
            namespaced,
            status = "crate::model::status::CrStatus",
            category = "tsb",
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
            printcolumn = r#"{"name":"FQN","type":"string","priority":1,"jsonPath":".status.tsb.fqn"}"#
        )]
        pub struct $spec_type {
            /// The model's spec, serialized as-is.
            pub spec: $model,
        }

        impl From<$model> for $spec_type {
            fn from(spec: $model) -> Self {
                Self { spec }
            }
        }
    };
}

tsb_crd! {
    /// `tsb.tetrate.io/v2` `Tenant`.
    TenantCrdSpec(spec::TenantSpec) => "Tenant",
    group = "tsb.tetrate.io", kind = "Tenant"
}
tsb_crd! {
    /// `tsb.tetrate.io/v2` `OrganizationSetting`.
    OrganizationSettingCrdSpec(spec::OrganizationSettingSpec) => "OrganizationSetting",
    group = "tsb.tetrate.io", kind = "OrganizationSetting"
}
tsb_crd! {
    /// `tsb.tetrate.io/v2` `TenantSetting`.
    TenantSettingCrdSpec(spec::TenantSettingSpec) => "TenantSetting",
    group = "tsb.tetrate.io", kind = "TenantSetting"
}
tsb_crd! {
    /// `tsb.tetrate.io/v2` `Workspace`.
    WorkspaceCrdSpec(spec::WorkspaceSpec) => "Workspace",
    group = "tsb.tetrate.io", kind = "Workspace"
}
tsb_crd! {
    /// `tsb.tetrate.io/v2` `WorkspaceSetting`.
    WorkspaceSettingCrdSpec(spec::WorkspaceSettingSpec) => "WorkspaceSetting",
    group = "tsb.tetrate.io", kind = "WorkspaceSetting"
}
tsb_crd! {
    /// `traffic.tsb.tetrate.io/v2` `Group`.
    TrafficGroupCrdSpec(spec::TrafficGroupSpec) => "TrafficGroup",
    group = "traffic.tsb.tetrate.io", kind = "Group"
}
tsb_crd! {
    /// `security.tsb.tetrate.io/v2` `Group`.
    SecurityGroupCrdSpec(spec::SecurityGroupSpec) => "SecurityGroup",
    group = "security.tsb.tetrate.io", kind = "Group"
}
tsb_crd! {
    /// `gateway.tsb.tetrate.io/v2` `Group`.
    GatewayGroupCrdSpec(spec::GatewayGroupSpec) => "GatewayGroup",
    group = "gateway.tsb.tetrate.io", kind = "Group"
}
tsb_crd! {
    /// `istiointernal.tsb.tetrate.io/v2` `Group`.
    IstioInternalGroupCrdSpec(spec::IstioInternalGroupSpec) => "IstioInternalGroup",
    group = "istiointernal.tsb.tetrate.io", kind = "Group"
}
tsb_crd! {
    /// `traffic.tsb.tetrate.io/v2` `TrafficSetting`.
    TrafficSettingCrdSpec(spec::TrafficSettingSpec) => "TrafficSetting",
    group = "traffic.tsb.tetrate.io", kind = "TrafficSetting"
}
tsb_crd! {
    /// `traffic.tsb.tetrate.io/v2` `ServiceRoute`.
    ServiceRouteCrdSpec(spec::ServiceRouteSpec) => "ServiceRoute",
    group = "traffic.tsb.tetrate.io", kind = "ServiceRoute"
}
tsb_crd! {
    /// `traffic.tsb.tetrate.io/v2` `ServiceTrafficSetting`.
    ServiceTrafficSettingCrdSpec(spec::ServiceTrafficSettingSpec) => "ServiceTrafficSetting",
    group = "traffic.tsb.tetrate.io", kind = "ServiceTrafficSetting"
}
tsb_crd! {
    /// `security.tsb.tetrate.io/v2` `SecuritySetting`.
    SecuritySettingCrdSpec(spec::SecuritySettingSpec) => "SecuritySetting",
    group = "security.tsb.tetrate.io", kind = "SecuritySetting"
}
tsb_crd! {
    /// `security.tsb.tetrate.io/v2` `ServiceSecuritySetting`.
    ServiceSecuritySettingCrdSpec(spec::ServiceSecuritySettingSpec) => "ServiceSecuritySetting",
    group = "security.tsb.tetrate.io", kind = "ServiceSecuritySetting"
}
tsb_crd! {
    /// `gateway.tsb.tetrate.io/v2` `IngressGateway`.
    IngressGatewayCrdSpec(spec::IngressGatewaySpec) => "IngressGateway",
    group = "gateway.tsb.tetrate.io", kind = "IngressGateway"
}
tsb_crd! {
    /// `gateway.tsb.tetrate.io/v2` `EgressGateway`.
    EgressGatewayCrdSpec(spec::EgressGatewaySpec) => "EgressGateway",
    group = "gateway.tsb.tetrate.io", kind = "EgressGateway"
}
tsb_crd! {
    /// `gateway.tsb.tetrate.io/v2` `Tier1Gateway`.
    Tier1GatewayCrdSpec(spec::Tier1GatewaySpec) => "Tier1Gateway",
    group = "gateway.tsb.tetrate.io", kind = "Tier1Gateway"
}
tsb_crd! {
    /// `gateway.tsb.tetrate.io/v2` `Gateway` (the unified gateway).
    UnifiedGatewayCrdSpec(spec::UnifiedGatewaySpec) => "UnifiedGateway",
    group = "gateway.tsb.tetrate.io", kind = "Gateway"
}
