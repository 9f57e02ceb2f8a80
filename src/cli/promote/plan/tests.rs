use std::path::Path;

use serde_json::json;

use super::*;
use crate::cli::diff::tree::load_tree;
use crate::model::diff::mapping::{MappingFile, Rewrite};

const ENVS: &str = "tests/fixtures/environments";

fn trees() -> (Tree, Tree, Rewrite) {
    let text = std::fs::read_to_string(Path::new(ENVS).join("mapping.yaml")).unwrap();
    let mapping: MappingFile = serde_saphyr::from_str(&text).unwrap();
    let rewrite = mapping.rewrite("staging", "production").unwrap();
    let source = load_tree(&Path::new(ENVS).join("staging"), &rewrite).unwrap();
    let target = load_tree(&Path::new(ENVS).join("production"), &Rewrite::default()).unwrap();
    (source, target, rewrite)
}

fn names(steps: &[Step<'_>]) -> Vec<(&'static str, String)> {
    steps
        .iter()
        .map(|s| {
            let what = match s {
                Step::Add(_) => "add",
                Step::Update { .. } => "update",
                Step::Remove(_) => "remove",
            };
            (what, s.fqn().name().to_string())
        })
        .collect()
}

#[test]
fn the_plan_adds_and_updates_and_removes_only_when_pruning() {
    let (source, target, _) = trees();
    let steps = plan(&source, &target, None, false);
    assert_eq!(
        names(&steps),
        [
            ("update", "cart".to_string()),
            ("add", "checkout-security".to_string()),
            ("add", "checkout-mtls".to_string()),
        ]
    );
    let pruned = plan(&source, &target, None, true);
    assert_eq!(names(&pruned)[1], ("remove", "cart-timeouts".to_string()));
    let only: Fqn =
        "organizations/acme/tenants/payments/workspaces/checkout/trafficgroups/checkout-traffic"
            .parse()
            .unwrap();
    assert_eq!(
        names(&plan(&source, &target, Some(&only), true)),
        [
            ("update", "cart".to_string()),
            ("remove", "cart-timeouts".to_string()),
        ]
    );
}

#[test]
fn an_update_keeps_the_targets_own_metadata() {
    let source = json!({
        "apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
        "metadata": {"name": "g", "namespace": "config-staging",
            "labels": {"team": "a", "app.kubernetes.io/instance": "stg"},
            "annotations": {"tsb.tetrate.io/workspace": "w", "owner": "new"}},
        "spec": {"configMode": "BRIDGED"}
    });
    let target = json!({
        "apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
        "metadata": {"name": "g", "namespace": "config-prod",
            "labels": {"app.kubernetes.io/instance": "prod", "gone": "x"},
            "annotations": {"tsb.tetrate.io/workspace": "w",
                "argocd.argoproj.io/sync-wave": "-2", "owner": "old"}},
        "spec": {"configMode": "DIRECT"}
    });
    let merged = merged(&source, &target, Kind::TrafficGroup, &StripRules::default());
    assert_eq!(
        merged,
        json!({
            "apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
            "metadata": {"name": "g", "namespace": "config-prod",
                "labels": {"app.kubernetes.io/instance": "prod", "team": "a"},
                "annotations": {"tsb.tetrate.io/workspace": "w",
                    "argocd.argoproj.io/sync-wave": "-2", "owner": "new"}},
            "spec": {"configMode": "BRIDGED"}
        })
    );
}

const FILE: &str = "\
# File header: kept.
apiVersion: v1
kind: A
metadata: {name: a}
---
# About b: kept when b is replaced.
apiVersion: v1
kind: B
metadata: {name: b}
spec: {x: 1}  # replaced with b
---
# About c.
apiVersion: v1
kind: C
metadata: {name: c}
";

#[test]
fn edits_touch_only_their_documents() {
    let b = json!({"apiVersion": "v1", "kind": "B", "metadata": {"name": "b"}, "spec": {"x": 2}});
    let own = "apiVersion: v1\nkind: B\nmetadata: {name: b}\nspec: {x: 2}   # from the source\n";
    let edits = BTreeMap::from([
        (
            (1, None),
            Edit::Replace {
                value: b.clone(),
                text: Some(own.to_string()),
            },
        ),
        ((2, None), Edit::Remove),
    ]);
    let edited = edit_file(FILE, &edits).unwrap().unwrap();
    assert_eq!(
        edited,
        "# File header: kept.\napiVersion: v1\nkind: A\nmetadata: {name: a}\n---\n# About b: kept \
         when b is replaced.\napiVersion: v1\nkind: B\nmetadata: {name: b}\nspec: {x: 2}   # \
         from the source\n"
    );
    // A candidate text that is not the object is not used: the object is serialized.
    let wrong = BTreeMap::from([(
        (1, None),
        Edit::Replace {
            value: b.clone(),
            text: Some("apiVersion: v1\nkind: B\n".to_string()),
        },
    )]);
    let serialized = edit_file(FILE, &wrong).unwrap().unwrap();
    let docs = split_documents(&serialized);
    assert_eq!(docs.len(), 3);
    assert!(docs[1].text.starts_with("---\n# About b"));
    let parsed: Value = serde_saphyr::from_str(docs[1].text).unwrap();
    assert_eq!(parsed, b);
    assert!(serialized.ends_with("# About c.\napiVersion: v1\nkind: C\nmetadata: {name: c}\n"));
}

#[test]
fn removing_every_document_empties_the_file() {
    let all = BTreeMap::from([
        ((0, None), Edit::Remove),
        ((1, None), Edit::Remove),
        ((2, None), Edit::Remove),
    ]);
    assert_eq!(edit_file(FILE, &all).unwrap(), None);
}

#[test]
fn list_items_are_edited_in_their_list() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- {kind: A, n: 1}\n- {kind: B, n: 2}\n- {kind: C, n: 3}\n";
    let edits = BTreeMap::from([
        ((0, Some(0)), Edit::Remove),
        (
            (0, Some(2)),
            Edit::Replace {
                value: json!({"kind": "C", "n": 4}),
                text: None,
            },
        ),
    ]);
    let edited = edit_file(list, &edits).unwrap().unwrap();
    let parsed: Value = serde_saphyr::from_str(&edited).unwrap();
    assert_eq!(
        parsed["items"],
        json!([{"kind": "B", "n": 2}, {"kind": "C", "n": 4}])
    );
    let missing = BTreeMap::from([((0, Some(7)), Edit::Remove)]);
    assert!(edit_file(list, &missing).is_err());
}

#[test]
fn documents_are_appended_or_start_a_file() {
    let a = (json!({"kind": "A"}), Some("# new A\nkind: A\n".to_string()));
    let b = (json!({"kind": "B"}), None);
    assert_eq!(
        append_documents("", &[a.clone(), b.clone()]),
        "# new A\nkind: A\n---\nkind: B\n"
    );
    assert_eq!(
        append_documents("kind: X", &[a]),
        "kind: X\n---\n# new A\nkind: A\n"
    );
}
