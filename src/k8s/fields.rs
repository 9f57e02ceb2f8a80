//! The spec fields each CRD accepts, read from the generated schema: what the translation
//! catalogue (`model::catalogue`) must give a fate to, and the rows of its documentation table.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::model::Kind;

/// Every field path under `spec` of `kind`'s CRD schema, as `a.b[].c` (`[]` steps into list
/// items, `{}` into map values). A free-form field (preserved unknown fields) is a leaf.
pub fn spec_paths(kind: Kind) -> BTreeSet<String> {
    let crd = super::crds::generated()
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map(|(kind, crd)| super::crds::finish(kind, crd).expect("the CRD finishes"))
        .expect("every CRD kind is generated");
    let schema = serde_json::to_value(&crd.spec.versions[0].schema)
        .expect("schema serializes")["openAPIV3Schema"]["properties"]["spec"]
        .clone();
    let mut paths = BTreeSet::new();
    walk(&schema, "", &mut paths);
    paths
}

fn walk(schema: &Value, path: &str, out: &mut BTreeSet<String>) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let child = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            out.insert(child.clone());
            walk(property, &child, out);
        }
    }
    if let Some(items) = schema.get("items") {
        walk(items, &format!("{path}[]"), out);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        walk(values, &format!("{path}{{}}"), out);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for variant in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(variant, path, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_route_has_its_nested_fields() {
        let paths = spec_paths(Kind::ServiceRoute);
        assert!(paths.contains("service"), "{paths:?}");
        assert!(
            paths.iter().any(|p| p.starts_with("subsets[].")),
            "{paths:?}"
        );
    }

    /// Nothing is silent: every field a CRD accepts has a fate in the catalogue.
    #[test]
    fn every_field_of_every_kind_has_a_fate() {
        let mut missing = Vec::new();
        for kind in crate::k8s::crds::kinds() {
            for path in spec_paths(kind) {
                if crate::model::catalogue::fate_of(kind, &path).is_none() {
                    missing.push(format!("{kind:?} spec.{path}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "fields without a fate in model::catalogue (add an entry saying whether translation \
             enforces them):\n{}",
            missing.join("\n")
        );
    }

    /// Every entry names a field the CRD has (a renamed field cannot leave a stale entry).
    #[test]
    fn every_catalogue_entry_is_a_field_of_its_kind() {
        use crate::model::catalogue::{covers, join};
        let mut stale = Vec::new();
        for mount in crate::model::catalogue::MOUNTS {
            let paths = spec_paths(mount.kind);
            for field in mount.message.fields {
                let full = join(mount.at, field.path);
                // Below a free-form field (no schema children) an entry names what the
                // translator reads or ignores inside it.
                let below_free_form = paths
                    .iter()
                    .any(|p| covers(p, &full) && !paths.iter().any(|q| q != p && covers(p, q)));
                if !full.is_empty() && !paths.contains(&full) && !below_free_form {
                    stale.push(format!(
                        "{:?} spec.{full} ({})",
                        mount.kind, mount.message.name
                    ));
                }
            }
        }
        assert!(
            stale.is_empty(),
            "entries for fields the CRDs do not have:\n{}",
            stale.join("\n")
        );
    }

    /// Prints every kind's paths (`cargo test --lib dump_spec_paths -- --ignored --nocapture`).
    #[test]
    #[ignore = "a listing for people, not a check"]
    fn dump_spec_paths() {
        for kind in crate::k8s::crds::kinds() {
            for path in spec_paths(kind) {
                println!("{kind:?}\t{path}");
            }
        }
    }
}
