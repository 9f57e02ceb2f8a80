//! Validation in three layers (architecture.md §4, tsb-model.md §4):
//!
//! * **L1 object-local** ([`validate_object`], [`admission`], [`validate_resource`]): needs only
//!   the object (and the old object on UPDATE/DELETE); used by the webhook, `tsbridge validate`
//!   and the MP for API writes. Same verdict with or without `dryRun`.
//! * **L2 hierarchy** ([`validate_set`], [`validate_write`], [`validate_delete`],
//!   [`validate_grant`], and [`WriteIndex`] for the MP's incremental index): parents, selectors
//!   across objects, modes, duplicates.
//! * **L3 analysis** (run inside the L2 entry points): STRICTER supersession and references;
//!   warnings only, never blocking.

mod analysis;
mod annotations;
mod findings;
pub mod limits;
mod rules_gateway;
mod rules_route;
mod rules_security;
mod rules_traffic;
mod set;
mod spec_rules;
mod write_index;

#[cfg(test)]
mod tests;

use crate::model::diagnostic::{Diagnostic, RuleCode};
use crate::model::metadata::{StripRules, is_dns1123_subdomain};
use crate::model::object::{Classification, KubeObject, Resource, classify, convert};

pub use annotations::{check_immutable, check_placement};
pub use set::{
    Organizations, validate_delete, validate_grant, validate_set, validate_set_attributed,
    validate_write,
};
pub use spec_rules::{check_inline_secrets, check_spec, is_namespace_slash_name};
pub use write_index::WriteIndex;

/// Admission operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// CREATE
    Create,
    /// UPDATE
    Update,
    /// DELETE
    Delete,
}

/// Every L1 finding for one object (errors deny admission; warnings become admission warnings
/// and `status.analysis[]`). Ignored objects (V1) yield nothing.
pub fn validate_object(object: &KubeObject) -> Vec<Diagnostic> {
    // The strip list changes what is forwarded, never the verdict.
    convert(object, &StripRules::default())
        .diagnostics()
        .to_vec()
}

/// The webhook's verdict input (gitops-contract.md R-B1, R-B2, R-C6, G-8):
/// * CREATE: all L1 rules.
/// * UPDATE: hierarchy annotations are immutable; the other rules apply only when `spec`
///   changed (ratcheting), so metadata-only edits and no-op re-applies pass, except that a
///   change of a direct-mode object's `istio.io/rev` label is checked against V4.
/// * DELETE: only `deletionProtectionEnabled` on the old object (V16).
pub fn admission(
    operation: Operation,
    object: Option<&KubeObject>,
    old_object: Option<&KubeObject>,
) -> Vec<Diagnostic> {
    let is_config = |o: &KubeObject| matches!(classify(o), Classification::Config(_));
    match operation {
        Operation::Create => object.map(validate_object).unwrap_or_default(),
        Operation::Update => {
            let (Some(new), Some(old)) = (object, old_object) else {
                return object.map(validate_object).unwrap_or_default();
            };
            let mut out = Vec::new();
            if is_config(new) || is_config(old) {
                check_immutable(old, new, &mut out);
            }
            if new.spec != old.spec {
                out.extend(validate_object(new));
            } else if is_config(new) && direct_mode_label(new) != direct_mode_label(old) {
                // Dropping the label hands the GitOps copy to the local istiod (V4), so a
                // label edit is judged even when the spec is unchanged.
                out.extend(
                    validate_object(new)
                        .into_iter()
                        .filter(|d| d.rule == RuleCode::DirectModeLabel),
                );
            }
            out
        }
        Operation::Delete => {
            let Some(old) = old_object else {
                return Vec::new();
            };
            let Classification::Config(kind) = classify(old) else {
                return Vec::new();
            };
            let protected = old
                .spec
                .get("deletionProtectionEnabled")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            if protected && !kind.is_direct() {
                vec![Diagnostic::error(
                    RuleCode::DeletionProtected,
                    &old.object_ref(),
                    "spec.deletionProtectionEnabled",
                    "deletion protection is enabled",
                    "set spec.deletionProtectionEnabled: false first, then delete",
                )]
            } else {
                Vec::new()
            }
        }
    }
}

fn direct_mode_label(object: &KubeObject) -> Option<&str> {
    object
        .metadata
        .labels
        .get(crate::model::metadata::ISTIO_REV_LABEL)
        .map(String::as_str)
}

/// A direct-mode object's namespace must be a Kubernetes namespace name (a DNS label): the same
/// rule for a CR the agent converts and for a push or API write the MP checks, so what one
/// accepts the other does too.
pub fn check_namespace(
    namespace: Option<&str>,
    field: &str,
    object: &crate::model::diagnostic::ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    if let Some(namespace) = namespace.filter(|n| !n.is_empty())
        && !(namespace.len() <= 63 && !namespace.contains('.') && is_dns1123_subdomain(namespace))
    {
        out.push(Diagnostic::error(
            RuleCode::NameRule,
            object,
            field,
            format!("namespace {namespace:?} is not a Kubernetes namespace name"),
            "use at most 63 lower-case letters, digits and '-', starting and ending alphanumeric",
        ));
    }
}

/// L1 rules on a resource that did not come from a CR (MP API writes, re-checks at the MP):
/// V5 on every name in the FQN, V6/V7 on the spec, inline secrets, direct-mode namespace.
pub fn validate_resource(resource: &Resource) -> Vec<Diagnostic> {
    let object = resource.object_ref();
    let mut out = Vec::new();
    limits::check_metadata(
        &resource.labels,
        &resource.annotations,
        "metadata",
        &object,
        &mut out,
    );
    check_generation_metadata(&resource.spec, &object, &mut out);
    for segment in resource.fqn.segments() {
        if !is_dns1123_subdomain(&segment.name) {
            out.push(Diagnostic::error(
                RuleCode::NameRule,
                &object,
                if segment.name == resource.name { "name".to_string() } else { "parent".to_string() },
                format!(
                    "{} name {:?} is not a DNS-1123 subdomain (generated Istio names would be rejected)",
                    segment.collection, segment.name
                ),
                "use lower-case letters, digits, '-' and '.', starting and ending alphanumeric",
            ));
        }
    }
    check_spec(resource.kind, &resource.spec, &object, &mut out);
    let spec = resource.spec.to_value();
    check_inline_secrets(&spec, &object, &mut out);
    crate::model::catalogue::not_enforced(resource.kind, &spec, &object, &mut out);
    check_namespace(
        resource.namespace.as_deref(),
        "namespace",
        &object,
        &mut out,
    );
    if resource.kind.is_direct() && resource.namespace.as_deref().unwrap_or("").is_empty() {
        out.push(Diagnostic::error(
            RuleCode::RequiredField,
            &object,
            "namespace",
            "a direct-mode object needs its target namespace",
            "set the namespace the Istio object is applied to",
        ));
    }
    out
}

/// `spec.configGenerationMetadata` lands on generated objects as it is: Kubernetes' metadata
/// rules apply to it.
pub fn check_generation_metadata(
    spec: &crate::model::spec::Spec,
    object: &crate::model::diagnostic::ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    if let Some(metadata) = spec.config_generation_metadata() {
        limits::check_metadata(
            &metadata.labels,
            &metadata.annotations,
            "spec.configGenerationMetadata",
            object,
            out,
        );
    }
}

/// True if the diagnostics say a STRICTER ancestor supersedes the object (MP status `DIRTY`).
pub fn is_superseded(diagnostics: &[Diagnostic]) -> bool {
    diagnostics
        .iter()
        .any(|d| d.rule == RuleCode::StricterSupersession)
}
