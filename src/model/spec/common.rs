//! Spec types shared by several kinds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Fields of partially modelled blocks that tsbridge does not type. They are kept verbatim,
/// so a newer TSB field inside such a block is forwarded rather than silently dropped.
pub type Extra = BTreeMap<String, Value>;

/// `configGenerationMetadata`: labels and annotations copied onto generated Istio objects (§2.5).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ConfigGenerationMetadata {
    /// Labels for generated objects.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations for generated objects.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ConfigGenerationMetadata {
    /// True when neither map has entries.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.annotations.is_empty()
    }

    /// `self` overlaid with `over`: keys in `over` win (child over parent, spec over metadata).
    pub fn merged_with(&self, over: &ConfigGenerationMetadata) -> ConfigGenerationMetadata {
        let mut merged = self.clone();
        merged
            .labels
            .extend(over.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged
            .annotations
            .extend(over.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged
    }
}

/// `namespaceSelector` as written (`names`); [`crate::model::selector::NamespaceSelector`]
/// is the parsed form.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NamespaceSelectorSpec {
    /// `<cluster>/<namespace>` entries; at least one is required (V6).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// `workloadSelector` of gateways: the gateway workload's namespace and pod labels.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WorkloadSelector {
    /// Namespace of the gateway workload (min length 1, V7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Pod labels (at least one, V7).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `configMode` of traffic, security and gateway groups.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConfigMode {
    /// TSB's own API, translated by tsbridge (the default).
    #[default]
    Bridged,
    /// Istio objects passed through.
    Direct,
}
