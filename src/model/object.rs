//! Kubernetes objects in, model resources out (tsb-model.md §1.3, §2, §2.7; architecture.md §3).
//!
//! [`convert`] is the one conversion the agent, the webhook and `tsbridge validate` share:
//! classify the object, check it object-locally (L1), derive its FQN from the hierarchy
//! annotations, decode the typed spec and keep only forwardable metadata.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode, Severity, has_errors};
use crate::model::fqn::{Fqn, FqnError};
use crate::model::kind::{Kind, Wave};
use crate::model::metadata::{HierarchyKey, MetadataMap, StripRules};
use crate::model::spec::{ConfigGenerationMetadata, Spec};
use crate::model::validate;

/// `metadata` fields the model reads; everything else (managedFields, ownerReferences,
/// finalizers, timestamps) is never config (§2.6) and is not even deserialized.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.labels`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// `metadata.generation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// `metadata.uid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// A generic Kubernetes object (a CR, an Istio object, or anything else in a manifest).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KubeObject {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `spec`, untyped (`null` when absent).
    pub spec: Value,
}

impl KubeObject {
    /// The API group part of `apiVersion` (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .split_once('/')
            .map(|(group, _)| group)
            .unwrap_or("")
    }

    /// True if any hierarchy annotation (§2.1) is present.
    pub fn has_hierarchy_annotation(&self) -> bool {
        HierarchyKey::ALL
            .iter()
            .any(|k| self.metadata.annotations.contains_key(k.annotation()))
    }

    /// A reference for diagnostics about this object.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            group: self.group().to_string(),
            kind: self.kind.clone(),
            name: self.metadata.name.clone(),
            namespace: self.metadata.namespace.clone(),
            fqn: None,
        }
    }
}

/// Why an object is not converted (V1, §1.3, §2.7). Admission allows all of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoreReason {
    /// A later TSB kind (`Team`, `Application`, …): ignored with an Event until it arrives.
    LaterKind(Kind),
    /// `install.tetrate.io` objects belong to the install API, not to the config hierarchy.
    InstallApi,
    /// `Organization` and `Cluster` are managed in the MP only.
    ManagementPlaneOnly,
    /// `SharedGatewayReferenceGrant`, `InstallGateway`, `InstallGatewayTemplate`: GitOps shape
    /// not documented yet.
    UndocumentedShape,
    /// An Istio object without hierarchy annotations: ordinary Istio config.
    PlainIstio,
    /// Anything else.
    Unknown,
}

impl IgnoreReason {
    /// A short explanation.
    pub fn message(self) -> String {
        match self {
            IgnoreReason::LaterKind(kind) => {
                format!("{kind} is recognised but not processed by tsbridge yet")
            }
            IgnoreReason::InstallApi => {
                "install.tetrate.io objects are handled by the local operator, not forwarded"
                    .to_string()
            }
            IgnoreReason::ManagementPlaneOnly => {
                "Organization and Cluster are managed in the management plane only".to_string()
            }
            IgnoreReason::UndocumentedShape => {
                "this gateway kind has no documented GitOps shape yet".to_string()
            }
            IgnoreReason::PlainIstio => {
                "Istio object without tsb.tetrate.io hierarchy annotations: ordinary Istio config"
                    .to_string()
            }
            IgnoreReason::Unknown => "not a kind tsbridge knows".to_string(),
        }
    }

    /// An informational V1 diagnostic for `tsbridge validate` listings.
    pub fn diagnostic(self, object: &KubeObject) -> Diagnostic {
        Diagnostic {
            rule: RuleCode::KindRecognition,
            severity: Severity::Info,
            object: object.object_ref(),
            field: "kind".to_string(),
            message: self.message(),
            fix: "none needed; the object is not forwarded".to_string(),
        }
    }
}

/// What an object is, before any validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Classification {
    /// A first-wave config kind, converted and forwarded.
    Config(Kind),
    /// Not converted.
    Ignored(IgnoreReason),
}

const ISTIO_GROUPS: [&str; 3] = [
    "networking.istio.io",
    "security.istio.io",
    "extensions.istio.io",
];

/// Classifies an object by apiVersion, kind and (for Istio objects) its annotations.
pub fn classify(object: &KubeObject) -> Classification {
    let group = object.group();
    if group == "install.tetrate.io" {
        return Classification::Ignored(IgnoreReason::InstallApi);
    }
    if matches!(group, "tsb.tetrate.io" | "api.tsb.tetrate.io")
        && matches!(object.kind.as_str(), "Organization" | "Cluster")
    {
        return Classification::Ignored(IgnoreReason::ManagementPlaneOnly);
    }
    if group == "gateway.tsb.tetrate.io"
        && matches!(
            object.kind.as_str(),
            "SharedGatewayReferenceGrant" | "InstallGateway" | "InstallGatewayTemplate"
        )
    {
        return Classification::Ignored(IgnoreReason::UndocumentedShape);
    }
    match Kind::from_api_version(&object.api_version, &object.kind) {
        Some(kind) if kind.info().wave == Wave::Later => {
            Classification::Ignored(IgnoreReason::LaterKind(kind))
        }
        Some(kind) if kind.is_direct() && !object.has_hierarchy_annotation() => {
            Classification::Ignored(IgnoreReason::PlainIstio)
        }
        Some(kind) => Classification::Config(kind),
        None if ISTIO_GROUPS.contains(&group) => Classification::Ignored(IgnoreReason::PlainIstio),
        None => Classification::Ignored(IgnoreReason::Unknown),
    }
}

/// Where a resource came from (architecture.md §3); the agent fills in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    /// Cluster name, set by the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// CR namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// CR name.
    pub name: String,
    /// CR uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// CR generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Argo CD application / Flux Kustomization and Git revision, when stamped on the CR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    /// `tsbridge.io/deletion-policy` (`Orphan` keeps the MP object when the CR goes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<String>,
}

/// A model resource: the MP envelope of architecture.md §3 minus etag and revision, which the
/// store assigns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Primary key.
    pub fqn: Fqn,
    /// Catalogue kind.
    pub kind: Kind,
    /// `apiVersion` as written (direct-mode objects keep their Istio version).
    pub api_version: String,
    /// Short name (`metadata.name`).
    pub name: String,
    /// Parent FQN (`None` only for global objects).
    pub parent: Option<Fqn>,
    /// Target namespace of a direct-mode object; `None` for TSB kinds, where the namespace
    /// has no hierarchy meaning (it stays in [`Origin`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Decoded spec.
    pub spec: Spec,
    /// Forwarded labels: `metadata.labels` minus the strip list (§2.5, §2.6).
    pub labels: BTreeMap<String, String>,
    /// Forwarded annotations: `metadata.annotations` minus the strip list.
    pub annotations: BTreeMap<String, String>,
    /// Provenance (GitOps writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

impl Resource {
    /// A diagnostic reference, FQN included.
    pub fn object_ref(&self) -> ObjectRef {
        let namespace = self
            .namespace
            .clone()
            .or_else(|| self.origin.as_ref().and_then(|o| o.namespace.clone()));
        ObjectRef {
            group: self.kind.group().to_string(),
            kind: self.kind.name().to_string(),
            name: self.name.clone(),
            namespace,
            fqn: Some(self.fqn.clone()),
        }
    }

    /// This object's own config-generation metadata: forwarded metadata merged with
    /// `spec.configGenerationMetadata`, the spec winning on equal keys (§2.5). Parents'
    /// defaults are layered on top of this by the translator.
    pub fn config_generation_metadata(&self) -> ConfigGenerationMetadata {
        let from_metadata = ConfigGenerationMetadata {
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
        };
        match self.spec.config_generation_metadata() {
            Some(spec) => from_metadata.merged_with(spec),
            None => from_metadata,
        }
    }

    /// A stable content hash over (apiVersion, kind, FQN, spec, forwarded labels and
    /// annotations): the agent pushes when it changes (§5.9). The FQN stands for the hierarchy
    /// annotations it was derived from. FNV-1a over canonical JSON, so it is the same on every
    /// build and platform.
    pub fn content_hash(&self) -> String {
        let document = serde_json::json!({
            "apiVersion": self.api_version,
            "kind": self.kind,
            "fqn": self.fqn,
            "namespace": self.namespace,
            "spec": self.spec.to_value(),
            "labels": self.labels,
            "annotations": self.annotations,
        });
        canonical_hash(&document)
    }
}

/// FNV-1a 64 over the canonical JSON of `value`, as 16 hex digits: the same on every build
/// and platform, whatever map order serde_json was built with.
pub(crate) fn canonical_hash(value: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    format!("{:016x}", fnv1a(canonical.as_bytes()))
}

/// FNV-1a 64: tiny, stable and good enough to tell contents (not adversaries) apart.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// JSON with object keys sorted, whatever map order serde_json was built with.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// User-set control annotation: `Orphan` keeps the MP object when the CR is deleted (G-14).
pub const DELETION_POLICY_ANNOTATION: &str = "tsbridge.io/deletion-policy";

/// Which delivery tool applied the object, from the tracking metadata it stamps (R-H3):
/// `argocd:<tracking-id>`, `argocd:<instance>` or `flux:<namespace>/<kustomization>`.
fn provenance(meta: &ObjectMeta) -> Option<String> {
    if let Some(id) = meta.annotations.get("argocd.argoproj.io/tracking-id") {
        return Some(format!("argocd:{id}"));
    }
    if let Some(app) = meta.labels.get("app.kubernetes.io/instance") {
        return Some(format!("argocd:{app}"));
    }
    let flux = |key: &str| {
        meta.labels
            .get(&format!("kustomize.toolkit.fluxcd.io/{key}"))
    };
    if let (Some(name), Some(namespace)) = (flux("name"), flux("namespace")) {
        return Some(format!("flux:{namespace}/{name}"));
    }
    None
}

/// The result of [`convert`].
#[derive(Debug, Clone, PartialEq)]
pub enum Converted {
    /// A valid config object, with any warnings (ignored annotations, deprecated fields).
    Resource {
        /// The resource.
        resource: Box<Resource>,
        /// Warnings and info.
        warnings: Vec<Diagnostic>,
    },
    /// Not config; admission allows it and the agent does not forward it.
    Ignored(IgnoreReason),
    /// Object-local errors (and any warnings); admission denies it.
    Invalid(Vec<Diagnostic>),
}

impl Converted {
    /// Every diagnostic (empty for ignored objects).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Converted::Resource { warnings, .. } => warnings,
            Converted::Invalid(diagnostics) => diagnostics,
            Converted::Ignored(_) => &[],
        }
    }
}

/// Converts a Kubernetes object into a model resource, running the object-local rules (L1)
/// on the way. Pure: the verdict depends only on `object` and `strip`.
///
/// ```
/// use tsbridge::model::metadata::StripRules;
/// use tsbridge::model::{Converted, KubeObject, convert};
///
/// let tenant: KubeObject = serde_json::from_value(serde_json::json!({
///     "apiVersion": "tsb.tetrate.io/v2",
///     "kind": "Tenant",
///     "metadata": {"name": "payments", "annotations": {"tsb.tetrate.io/organization": "acme"}},
///     "spec": {"displayName": "Payments"}
/// })).unwrap();
/// let Converted::Resource { resource, .. } = convert(&tenant, &StripRules::default()) else {
///     panic!("a valid tenant converts");
/// };
/// assert_eq!(resource.fqn.to_string(), "organizations/acme/tenants/payments");
/// ```
pub fn convert(object: &KubeObject, strip: &StripRules) -> Converted {
    let kind = match classify(object) {
        Classification::Config(kind) => kind,
        Classification::Ignored(reason) => return Converted::Ignored(reason),
    };
    let mut diagnostics = Vec::new();
    let placement = validate::check_placement(kind, object, &mut diagnostics);
    let mut object_ref = object.object_ref();
    let fqn = placement
        .as_ref()
        .and_then(|parent| parent.child(kind, &object.metadata.name).ok());
    if let Some(fqn) = &fqn {
        object_ref = object_ref.with_fqn(fqn.clone());
    }
    // First: the other rules walk the spec recursively and assume it is within the limits.
    if !validate::limits::check_spec(&object.spec, &object_ref, &mut diagnostics) {
        return Converted::Invalid(diagnostics);
    }
    validate::limits::check_metadata(
        &object.metadata.labels,
        &object.metadata.annotations,
        "metadata",
        &object_ref,
        &mut diagnostics,
    );
    let spec = match Spec::decode(kind, &object.spec) {
        Ok(spec) => Some(spec),
        Err(err) => {
            diagnostics.push(Diagnostic::error(
                RuleCode::SpecSchema,
                &object_ref,
                err.field,
                err.message,
                "remove the field or fix its type; the CRD schema lists the accepted fields",
            ));
            None
        }
    };
    if let Some(spec) = &spec {
        validate::check_spec(kind, spec, &object_ref, &mut diagnostics);
        validate::check_generation_metadata(spec, &object_ref, &mut diagnostics);
    }
    validate::check_inline_secrets(&object.spec, &object_ref, &mut diagnostics);
    crate::model::catalogue::not_enforced(kind, &object.spec, &object_ref, &mut diagnostics);
    if kind.is_direct() {
        validate::check_namespace(
            object.metadata.namespace.as_deref(),
            "metadata.namespace",
            &object_ref,
            &mut diagnostics,
        );
    }
    if kind.is_direct()
        && object
            .metadata
            .namespace
            .as_deref()
            .unwrap_or("")
            .is_empty()
    {
        diagnostics.push(Diagnostic::error(
            RuleCode::RequiredField,
            &object_ref,
            "metadata.namespace",
            "a direct-mode object needs a namespace: it is the target namespace",
            "set metadata.namespace to a namespace of the parent group",
        ));
    }
    if has_errors(&diagnostics) {
        return Converted::Invalid(diagnostics);
    }
    let (Some(fqn), Some(spec)) = (fqn, spec) else {
        // Unreachable: a missing FQN or spec always comes with an error above.
        return Converted::Invalid(diagnostics);
    };
    let resource = Resource {
        parent: fqn.parent(),
        fqn,
        kind,
        api_version: object.api_version.clone(),
        name: object.metadata.name.clone(),
        namespace: kind
            .is_direct()
            .then(|| object.metadata.namespace.clone())
            .flatten(),
        spec,
        labels: strip.forwarded(&object.metadata.labels, MetadataMap::Labels),
        annotations: strip.forwarded(&object.metadata.annotations, MetadataMap::Annotations),
        origin: Some(Origin {
            cluster: None,
            namespace: object.metadata.namespace.clone(),
            name: object.metadata.name.clone(),
            uid: object.metadata.uid.clone(),
            generation: object.metadata.generation,
            provenance: provenance(&object.metadata),
            deletion_policy: object
                .metadata
                .annotations
                .get(DELETION_POLICY_ANNOTATION)
                .cloned(),
        }),
    };
    Converted::Resource {
        resource: Box::new(resource),
        warnings: diagnostics,
    }
}

/// A write that arrives through the MP API instead of a CR (architecture.md §3 envelope).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvelopeInput {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Parent FQN.
    pub parent: String,
    /// Short name.
    pub name: String,
    /// Target namespace (direct mode only).
    pub namespace: Option<String>,
    /// Spec as JSON.
    pub spec: Value,
    /// Config-generation labels.
    pub labels: BTreeMap<String, String>,
    /// Config-generation annotations.
    pub annotations: BTreeMap<String, String>,
}

impl EnvelopeInput {
    /// The FQN this write names, for the audit of a write refused before it had one: through
    /// its kind's collection where the group and kind name one (even at a version refused), so a
    /// Workspace `evil` under `…/tenants/storefront` is `…/tenants/storefront/workspaces/evil`,
    /// not `…/tenants/storefront/evil`; `parent/name` when nothing better can be said.
    pub fn claimed_fqn(&self) -> String {
        let group = self.api_version.split('/').next().unwrap_or_default();
        Kind::from_group_kind(group, &self.kind)
            .and_then(|kind| {
                let parent: Fqn = self.parent.parse().ok()?;
                parent.child(kind, &self.name).ok()
            })
            .map_or_else(
                || format!("{}/{}", self.parent, self.name),
                |fqn| fqn.to_string(),
            )
    }
}

impl Resource {
    /// Builds a resource from an API write, running the L1 rules that apply without
    /// annotations: kind, parent FQN shape, name rule (V5 for API names), spec rules.
    pub fn from_envelope(
        input: &EnvelopeInput,
        strip: &StripRules,
    ) -> Result<Resource, Vec<Diagnostic>> {
        let fallback_ref = ObjectRef {
            group: input
                .api_version
                .split('/')
                .next()
                .unwrap_or("")
                .to_string(),
            kind: input.kind.clone(),
            name: input.name.clone(),
            namespace: input.namespace.clone(),
            fqn: None,
        };
        let kind = match Kind::from_api_version(&input.api_version, &input.kind) {
            Some(kind) if kind.is_first_wave() => kind,
            _ => {
                return Err(vec![Diagnostic::error(
                    RuleCode::KindRecognition,
                    &fallback_ref,
                    "kind",
                    format!(
                        "{} {} is not a kind the management plane accepts",
                        input.api_version, input.kind
                    ),
                    "use one of the first-wave kinds of the tsbridge catalogue",
                )]);
            }
        };
        let parent: Fqn = match input.parent.parse() {
            Ok(parent) => parent,
            Err(err) => {
                return Err(vec![Diagnostic::error(
                    RuleCode::ParentExists,
                    &fallback_ref,
                    "parent",
                    err.to_string(),
                    "give the parent's FQN, e.g. organizations/<org>/tenants/<tenant>",
                )]);
            }
        };
        let fqn = match parent.child(kind, &input.name) {
            Ok(fqn) => fqn,
            Err(err @ FqnError::SlashInName { .. }) => {
                return Err(vec![Diagnostic::error(
                    RuleCode::NameRule,
                    &fallback_ref,
                    "name",
                    err.to_string(),
                    "use lower-case letters, digits, '-' and '.', starting and ending alphanumeric",
                )]);
            }
            Err(err) => {
                return Err(vec![Diagnostic::error(
                    RuleCode::HierarchyAnnotations,
                    &fallback_ref,
                    "parent",
                    err.to_string(),
                    format!("a {kind} must be created under one of its parent kinds"),
                )]);
            }
        };
        let object_ref = fallback_ref.clone().with_fqn(fqn.clone());
        let mut limits = Vec::new();
        if !validate::limits::check_spec(&input.spec, &object_ref, &mut limits) {
            return Err(limits);
        }
        let spec = Spec::decode(kind, &input.spec).map_err(|err| {
            vec![Diagnostic::error(
                RuleCode::SpecSchema,
                &object_ref,
                err.field,
                err.message,
                "remove the field or fix its type",
            )]
        })?;
        let resource = Resource {
            parent: fqn.parent(),
            fqn,
            kind,
            api_version: input.api_version.clone(),
            name: input.name.clone(),
            namespace: kind.is_direct().then(|| input.namespace.clone()).flatten(),
            spec,
            labels: strip.forwarded(&input.labels, MetadataMap::Labels),
            annotations: strip.forwarded(&input.annotations, MetadataMap::Annotations),
            origin: None,
        };
        let diagnostics = validate::validate_resource(&resource);
        if has_errors(&diagnostics) {
            Err(diagnostics)
        } else {
            Ok(resource)
        }
    }
}

#[cfg(test)]
mod tests;
