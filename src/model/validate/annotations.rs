//! Hierarchy annotations → placement (tsb-model.md §2.2, §2.3; V2, V3, V4, V5) and their
//! immutability (gitops-contract.md R-C6).

use std::collections::BTreeMap;

use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode};
use crate::model::fqn::Fqn;
use crate::model::kind::{Kind, Parent};
use crate::model::metadata::{
    DIRECT_MODE_REVISION, HierarchyKey, ISTIO_REV_LABEL, TSB_PREFIX, is_dns1123_subdomain,
};
use crate::model::object::KubeObject;

fn annotation_field(key: &str) -> String {
    format!("metadata.annotations[{key}]")
}

/// The group kind a group annotation names.
fn group_kind(key: HierarchyKey) -> Option<Kind> {
    match key {
        HierarchyKey::TrafficGroup => Some(Kind::TrafficGroup),
        HierarchyKey::SecurityGroup => Some(Kind::SecurityGroup),
        HierarchyKey::GatewayGroup => Some(Kind::GatewayGroup),
        HierarchyKey::IstioInternalGroup => Some(Kind::IstioInternalGroup),
        _ => None,
    }
}

/// Checks one annotation value against V5; returns it when usable.
fn checked_value<'a>(
    annotations: &'a BTreeMap<String, String>,
    key: HierarchyKey,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) -> Option<&'a str> {
    let value = annotations.get(key.annotation())?;
    if value.is_empty() {
        out.push(Diagnostic::error(
            RuleCode::HierarchyAnnotations,
            object,
            annotation_field(key.annotation()),
            "is empty",
            "set it to the name of the parent object",
        ));
        return None;
    }
    if !is_dns1123_subdomain(value) {
        out.push(Diagnostic::error(
            RuleCode::NameRule,
            object,
            annotation_field(key.annotation()),
            format!("value {value:?} is not a DNS-1123 subdomain"),
            "use lower-case letters, digits, '-' and '.', starting and ending alphanumeric",
        ));
        return None;
    }
    Some(value)
}

fn missing(
    key: HierarchyKey,
    kind: Kind,
    annotations: &BTreeMap<String, String>,
    object: &ObjectRef,
) -> Diagnostic {
    let near_miss = annotations
        .keys()
        .find(|k| HierarchyKey::case_insensitive_match(k) == Some(key));
    let fix = match near_miss {
        Some(wrong) => format!(
            "rename annotation {wrong} to {} (keys are case-sensitive)",
            key.annotation()
        ),
        None => format!("add {}: <name> to metadata.annotations", key.annotation()),
    };
    Diagnostic::error(
        RuleCode::HierarchyAnnotations,
        object,
        annotation_field(key.annotation()),
        format!("is required for a {kind} but missing"),
        fix,
    )
}

/// The parent FQN named by the annotations, following the catalogue's parent chain.
fn parent_fqn(parent: Parent, values: &BTreeMap<HierarchyKey, &str>) -> Option<Fqn> {
    match parent {
        Parent::Organization => Some(Fqn::organization(values.get(&HierarchyKey::Organization)?)),
        Parent::Kind(kind) => {
            let grandparent = *kind.info().parents.first()?;
            let base = parent_fqn(grandparent, values)?;
            base.child(kind, values.get(&kind.naming_key()?)?).ok()
        }
        Parent::Global | Parent::PolicyTarget => None,
    }
}

/// V2–V5 and §2.2 rule 3 for one object. Returns the parent FQN when the annotations place
/// the object; every problem is appended to `out`.
pub fn check_placement(kind: Kind, object: &KubeObject, out: &mut Vec<Diagnostic>) -> Option<Fqn> {
    let object_ref = object.object_ref();
    let annotations = &object.metadata.annotations;
    let info = kind.info();
    let errors_before = out.iter().filter(|d| d.is_error()).count();

    if object.metadata.name.is_empty() || !is_dns1123_subdomain(&object.metadata.name) {
        out.push(Diagnostic::error(
            RuleCode::NameRule,
            &object_ref,
            "metadata.name",
            format!("{:?} is not a DNS-1123 subdomain", object.metadata.name),
            "use lower-case letters, digits, '-' and '.', at most 253 characters",
        ));
    }

    let mut values: BTreeMap<HierarchyKey, &str> = BTreeMap::new();
    for key in info.required_annotations {
        if !annotations.contains_key(key.annotation()) {
            out.push(missing(*key, kind, annotations, &object_ref));
        } else if let Some(value) = checked_value(annotations, *key, &object_ref, out) {
            values.insert(*key, value);
        }
    }

    let mut parent = info.parents.first().copied();
    if kind.is_direct() {
        let present: Vec<HierarchyKey> = HierarchyKey::GROUPS
            .into_iter()
            .filter(|k| annotations.contains_key(k.annotation()))
            .collect();
        let allowed: Vec<&str> = info
            .direct_group_keys
            .iter()
            .map(|k| k.annotation())
            .collect();
        match present.as_slice() {
            [] => out.push(Diagnostic::error(
                RuleCode::DirectModeGroup,
                &object_ref,
                "metadata.annotations",
                "a direct-mode object needs exactly one group annotation and has none",
                format!("add one of {}", allowed.join(", ")),
            )),
            [key] if !info.direct_group_keys.contains(key) => out.push(Diagnostic::error(
                RuleCode::DirectModeGroup,
                &object_ref,
                annotation_field(key.annotation()),
                format!("a {kind} is not allowed in this group type"),
                format!("place it with {} instead", allowed.join(" or ")),
            )),
            [key] => {
                if let Some(value) = checked_value(annotations, *key, &object_ref, out) {
                    values.insert(*key, value);
                }
                parent = group_kind(*key).map(Parent::Kind);
            }
            many => out.push(Diagnostic::error(
                RuleCode::DirectModeGroup,
                &object_ref,
                "metadata.annotations",
                format!(
                    "a direct-mode object needs exactly one group annotation and has {}: {}",
                    many.len(),
                    many.iter()
                        .map(|k| k.annotation())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "keep only the annotation of the group the object belongs to",
            )),
        }
        if object
            .metadata
            .labels
            .get(ISTIO_REV_LABEL)
            .map(String::as_str)
            != Some(DIRECT_MODE_REVISION)
        {
            out.push(Diagnostic::error(
                RuleCode::DirectModeLabel,
                &object_ref,
                format!("metadata.labels[{ISTIO_REV_LABEL}]"),
                "a direct-mode object with hierarchy annotations needs the label istio.io/rev: tsb",
                "add the label istio.io/rev: \"tsb\" so the local istiod ignores the GitOps copy",
            ));
        }
    }

    // §2.2 rule 3: annotations outside the required set are ignored, with a warning.
    for key in annotations.keys().filter(|k| k.starts_with(TSB_PREFIX)) {
        let used = match HierarchyKey::from_annotation(key) {
            Some(k) if info.required_annotations.contains(&k) => true,
            Some(k) if kind.is_direct() && k.is_group() => true, // judged by V3 above
            _ => false,
        };
        if used {
            continue;
        }
        let (message, fix) = match HierarchyKey::from_annotation(key) {
            Some(_) => (
                format!("is not used by a {kind} and is ignored"),
                "remove it, or keep it if a shared overlay adds it on purpose".to_string(),
            ),
            None => match HierarchyKey::case_insensitive_match(key) {
                Some(k) => (
                    "is not a known tsb.tetrate.io annotation and is ignored".to_string(),
                    format!("did you mean {}? keys are case-sensitive", k.annotation()),
                ),
                None => (
                    "is not a known tsb.tetrate.io annotation and is ignored".to_string(),
                    "remove it; tsb.tetrate.io annotations are never propagated".to_string(),
                ),
            },
        };
        out.push(Diagnostic::warning(
            RuleCode::IgnoredAnnotation,
            &object_ref,
            annotation_field(key),
            message,
            fix,
        ));
    }

    let new_errors = out.iter().filter(|d| d.is_error()).count() > errors_before;
    if new_errors {
        return None;
    }
    parent_fqn(parent?, &values)
}

/// R-C6: the hierarchy annotations may not be added, removed or changed by an UPDATE.
pub fn check_immutable(old: &KubeObject, new: &KubeObject, out: &mut Vec<Diagnostic>) {
    let object_ref = new.object_ref();
    for key in HierarchyKey::IMMUTABLE {
        let before = old.metadata.annotations.get(key.annotation());
        let after = new.metadata.annotations.get(key.annotation());
        if before != after {
            out.push(Diagnostic::error(
                RuleCode::HierarchyImmutable,
                &object_ref,
                annotation_field(key.annotation()),
                format!(
                    "is immutable after create (was {}, now {})",
                    before.map_or("unset".to_string(), |v| format!("{v:?}")),
                    after.map_or("unset".to_string(), |v| format!("{v:?}"))
                ),
                "delete and recreate the object",
            ));
        }
    }
}
