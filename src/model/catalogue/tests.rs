//! The catalogue's rules: paths, coverage and warnings.

use serde_json::json;

use super::*;

#[test]
fn an_entry_covers_its_subtree_and_a_longer_one_wins() {
    assert!(covers("a", "a"));
    assert!(covers("a", "a.b"));
    assert!(covers("a", "a[].b"));
    assert!(!covers("a", "ab"));
    assert!(covers("", "anything"));
    assert_eq!(
        relative_to("settings", "settings.resilience"),
        Some("resilience")
    );
    assert_eq!(
        relative_to("subsets[].settings", "subsets[].settings.x"),
        Some("x")
    );
    assert_eq!(relative_to("settings", "settingsx"), None);
    assert_eq!(join("subsets[].settings", "a"), "subsets[].settings.a");
    assert_eq!(join("", "a"), "a");
}

#[test]
fn set_means_something_other_than_a_default() {
    let spec = json!({"a": {"b": [{"c": 0}, {"c": 3}]}, "off": false, "empty": {}, "m": {"k": {"v": "x"}}});
    assert!(is_set(&spec, "a.b[].c"));
    assert!(!is_set(&spec, "off"));
    assert!(!is_set(&spec, "empty"));
    assert!(!is_set(&spec, "missing.x"));
    assert!(is_set(&spec, "m{}.v"));
    assert!(!is_set(&json!({"a": {"b": [{"c": 0}]}}), "a.b[].c"));
}

/// A warning goes out when anything under a not-enforced path is set, so such an entry must not
/// have entries below it (a translated child would raise false warnings).
#[test]
fn a_not_enforced_entry_has_nothing_below_it() {
    let mut wrong = Vec::new();
    for mount in MOUNTS {
        for field in mount.message.fields {
            if !matches!(field.fate, Fate::NotEnforced(_)) {
                continue;
            }
            for other in mount.message.fields {
                if other.path != field.path && covers(field.path, other.path) {
                    wrong.push(format!(
                        "{}: {} covers {}",
                        mount.message.name, field.path, other.path
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn a_set_field_that_is_not_enforced_warns_by_name_and_reason() {
    let Some((kind, path, reason)) = MOUNTS.iter().find_map(|m| {
        m.message.fields.iter().find_map(|f| match f.fate {
            Fate::NotEnforced(reason) if !f.path.contains(['[', '{']) && !f.path.is_empty() => {
                Some((m.kind, join(m.at, f.path), reason))
            }
            _ => None,
        })
    }) else {
        return;
    };
    let mut spec = json!({});
    let mut cursor = &mut spec;
    for key in path.split('.') {
        cursor = &mut cursor[key];
    }
    *cursor = json!("set");
    let object = ObjectRef {
        group: String::new(),
        kind: kind.name().into(),
        name: "x".into(),
        namespace: None,
        fqn: None,
    };
    let mut out = Vec::new();
    not_enforced(kind, &spec, &object, &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].rule, RuleCode::NotEnforced);
    assert_eq!(out[0].field, format!("spec.{path}"));
    assert!(out[0].message.contains(reason), "{}", out[0].message);
    let mut none = Vec::new();
    not_enforced(kind, &json!({}), &object, &mut none);
    assert!(none.is_empty());
}

/// `docs/translation.md` shows the catalogue as generated; `TSBRIDGE_UPDATE_DOCS=1` rewrites it.
#[test]
fn the_translation_docs_show_the_catalogue() {
    const BEGIN: &str = "<!-- catalogue:begin (generated from model::catalogue; do not edit) -->\n";
    const END: &str = "<!-- catalogue:end -->";
    crate::generated_docs::assert_in_step(
        "docs/translation.md",
        BEGIN,
        END,
        &markdown(),
        "the_translation_docs_show_the_catalogue",
    );
}
