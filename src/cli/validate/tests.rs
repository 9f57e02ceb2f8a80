//! Unit tests for the pure parts: document splitting, List expansion, attribution, output.

use serde_json::{Value, json};

use super::check::check;
use super::input::{Loaded, is_list, parse_str, split_documents};
use super::output::{
    path_to_uri, render_json, render_sarif, render_text, rule_description, summary_line,
};
use crate::model::diagnostic::{RuleCode, Severity};

fn parse(text: &str) -> Loaded {
    let (objects, documents) = parse_str("t.yaml", text).expect("test YAML parses");
    Loaded {
        objects,
        files: 1,
        documents,
    }
}

// === splitting ===

#[test]
fn split_counts_documents_from_markers() {
    let text = "# header comment\n\n---\na: 1\n---\n---\n# only a comment\n---\nb: 2\n";
    let docs = split_documents(text);
    let summary: Vec<(usize, u32, Option<u32>)> = docs
        .iter()
        .map(|d| (d.index, d.first_line, d.content_line))
        .collect();
    // The leading comment is no document; `---` always opens one, empty or not.
    assert_eq!(
        summary,
        vec![(0, 3, Some(4)), (1, 5, None), (2, 6, None), (3, 8, Some(9))]
    );
    assert_eq!(docs[0].text, "---\na: 1\n");
    assert_eq!(docs[3].text, "---\nb: 2\n");
}

#[test]
fn split_without_markers_is_one_document() {
    let docs = split_documents("a: 1\nb:\n  - x\n");
    assert_eq!(docs.len(), 1);
    assert_eq!((docs[0].index, docs[0].content_line), (0, Some(1)));
    assert!(split_documents("").is_empty());
    assert!(split_documents("# nothing\n\n").is_empty());
}

#[test]
fn split_handles_end_markers_inline_content_bom_and_crlf() {
    let text =
        "\u{feff}a: 1\r\n...\r\n--- {b: 2}\r\nc: |\r\n  ---not a marker\r\n---x: not a marker\r\n";
    let docs = split_documents(text);
    assert_eq!(docs.len(), 2, "{docs:?}");
    assert_eq!(docs[0].text, "a: 1\r\n...\r\n");
    assert_eq!(docs[1].content_line, Some(3), "content on the marker line");
    assert!(docs[1].text.ends_with("---x: not a marker\r\n"));
    // Markers need a following blank: `---x` does not start a document.
    assert_eq!(split_documents("---x: 1\n").len(), 1);
}

// === parsing ===

#[test]
fn parse_tracks_documents_and_lines() {
    let loaded = parse(
        "# c\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\n\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
    );
    let sources: Vec<(usize, Option<usize>, Option<u32>)> = loaded
        .objects
        .iter()
        .map(|o| (o.source.document, o.source.item, o.source.line))
        .collect();
    assert_eq!(sources, vec![(0, None, Some(3)), (2, None, Some(9))]);
    assert_eq!(loaded.documents, 2);
    assert_eq!(&*loaded.objects[0].source.file, "t.yaml");
}

#[test]
fn lists_expand_into_items_with_their_lines() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: first}\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n-   apiVersion: v1\n    kind: Namespace\n    metadata: {name: b}\n";
    let loaded = parse(text);
    let items: Vec<(usize, Option<usize>, Option<u32>, &str)> = loaded
        .objects
        .iter()
        .map(|o| {
            (
                o.source.document,
                o.source.item,
                o.source.line,
                o.value["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![
            (0, None, Some(1), "first"),
            (1, Some(0), Some(8), "a"),
            (1, Some(1), Some(11), "b"),
        ]
    );
    // An empty list yields nothing; a List-kind CR with a spec is not kubectl's List.
    assert!(
        parse("apiVersion: v1\nkind: List\nitems: []\n")
            .objects
            .is_empty()
    );
    assert!(parse("apiVersion: v1\nkind: List\n").objects.is_empty());
    assert!(is_list(&json!({"kind": "List", "items": []})));
    assert!(!is_list(&json!({"kind": "List", "items": {"a": 1}})));
    assert!(!is_list(&json!({"kind": "Workspace"})));
}

#[test]
fn parse_errors_name_the_file_document_and_file_line() {
    let err = parse_str("dir/bad.yaml", "a: 1\n---\nb: [1, 2\nc: 3\n").unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("dir/bad.yaml: YAML parse error in document 1"),
        "{text}"
    );
    // The line is the file's (4), not the document's (3).
    assert!(text.contains("dir/bad.yaml:4:"), "{text}");
}

// === checking ===

const TENANT: &str = "apiVersion: tsb.tetrate.io/v2\nkind: Tenant\nmetadata:\n  name: payments\n  annotations: {tsb.tetrate.io/organization: acme}\n";

fn workspace(name: &str, selector: &str) -> String {
    format!(
        "apiVersion: tsb.tetrate.io/v2\nkind: Workspace\nmetadata:\n  name: {name}\n  annotations: {{tsb.tetrate.io/organization: acme, tsb.tetrate.io/tenant: payments}}\nspec:\n  namespaceSelector: {{names: [\"{selector}\"]}}\n"
    )
}

fn group(workspace: &str) -> String {
    format!(
        "apiVersion: traffic.tsb.tetrate.io/v2\nkind: Group\nmetadata:\n  name: tg\n  annotations: {{tsb.tetrate.io/organization: acme, tsb.tetrate.io/tenant: payments, tsb.tetrate.io/workspace: {workspace}}}\nspec:\n  namespaceSelector: {{names: [\"*/*\"]}}\n"
    )
}

fn codes(loaded: &Loaded) -> Vec<(usize, &'static str, Severity)> {
    check(loaded.objects.clone())
        .findings
        .iter()
        .map(|f| (f.object, f.diagnostic.rule.code(), f.diagnostic.severity))
        .collect()
}

#[test]
fn a_valid_set_has_no_findings() {
    let text = [TENANT.to_string(), workspace("ws", "*/ns"), group("ws")].join("---\n");
    let loaded = parse(&text);
    let report = check(loaded.objects.clone());
    assert_eq!(report.findings, vec![]);
    assert_eq!((report.checked, report.skipped), (3, 0));
}

#[test]
fn an_invalid_parent_does_not_cascade_into_missing_parent_errors() {
    let text = [TENANT.to_string(), workspace("ws", "bad"), group("ws")].join("---\n");
    let found = codes(&parse(&text));
    assert_eq!(found, vec![(1, "TSB1006", Severity::Error)]);
    // A parent that is really missing is still reported.
    let text = [TENANT.to_string(), group("other")].join("---\n");
    assert_eq!(codes(&parse(&text)), vec![(1, "TSB1009", Severity::Error)]);
}

#[test]
fn symmetric_conflicts_are_attributed_to_each_object() {
    let text = [
        TENANT.to_string(),
        workspace("a", "*/shop*"),
        workspace("b", "eu-1/shop-front"),
    ]
    .join("---\n");
    let found = codes(&parse(&text));
    assert_eq!(
        found,
        vec![
            (1, "TSB1011", Severity::Error),
            (2, "TSB1011", Severity::Error)
        ]
    );
    // The same object twice: one FQN conflict on each copy.
    let text = [TENANT, TENANT].join("---\n");
    let found = codes(&parse(&text));
    assert_eq!(
        found,
        vec![
            (0, "TSB1104", Severity::Error),
            (1, "TSB1104", Severity::Error)
        ]
    );
}

#[test]
fn non_config_documents_are_skipped_as_info() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\nreplicas: 3\n---\n- a\n---\napiVersion: install.tetrate.io/v1alpha1\nkind: IngressGateway\nmetadata: {name: gw}\n";
    let loaded = parse(text);
    let report = check(loaded.objects.clone());
    assert_eq!((report.checked, report.skipped), (0, 4));
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.diagnostic.severity == Severity::Info
                && f.diagnostic.rule == RuleCode::KindRecognition)
    );
    assert!(
        report.findings[1]
            .diagnostic
            .message
            .contains("no apiVersion and kind")
    );
}

#[test]
fn mistyped_metadata_of_config_objects_is_an_error_with_a_field() {
    let text = "apiVersion: tsb.tetrate.io/v2\nkind: Tenant\nmetadata:\n  name: t\n  labels: {version: 2}\n  annotations: {tsb.tetrate.io/organization: acme}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {version: 2}\n";
    let report = check(parse(text).objects);
    assert_eq!(report.findings.len(), 2);
    let d = &report.findings[0].diagnostic;
    assert_eq!(
        (d.rule, d.severity, d.field.as_str()),
        (
            RuleCode::SpecSchema,
            Severity::Error,
            "metadata.labels[version]"
        )
    );
    assert!(d.fix.contains("version: \"2\""), "{}", d.fix);
    // Not configuration: skipped, whatever its metadata.
    assert_eq!(report.findings[1].diagnostic.severity, Severity::Info);
}

// === output ===

fn sample() -> (Loaded, super::Report) {
    let text = [
        TENANT.to_string(),
        workspace("a", "*/shop*"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n".to_string(),
    ]
    .join("---\n");
    let loaded = parse(&text);
    let report = check(loaded.objects.clone());
    (loaded, report)
}

#[test]
fn text_lines_name_file_document_code_object_field_and_fix() {
    let text = [TENANT.to_string(), workspace("ws", "bad")].join("---\n");
    let report = check(parse(&text).objects);
    let out = render_text(&report, false);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            "t.yaml:1: error[TSB1006] Workspace/ws: spec.namespaceSelector.names[0]: entry \"bad\" has no cluster part (grammar ^(\\*|[^/*]+)/(\\*|[^/*]+\\*?)$); fix: write <cluster>/<namespace>, e.g. */bookinfo for every cluster",
            "2 objects checked, 1 error, 0 warnings, 0 skipped (not configuration)",
        ]
    );
}

#[test]
fn verbose_text_lists_skipped_objects() {
    let (_, report) = sample();
    assert!(!render_text(&report, false).contains("info["));
    let verbose = render_text(&report, true);
    assert!(
        verbose.contains("t.yaml:2: info[TSB1001] Namespace/x: kind: not a kind tsbridge knows"),
        "{verbose}"
    );
    assert_eq!(
        summary_line(&report),
        "2 objects checked, 0 errors, 0 warnings, 1 skipped (not configuration)"
    );
}

#[test]
fn json_has_the_documented_shape() {
    let text = [TENANT.to_string(), workspace("ws", "bad")].join("---\n");
    let loaded = parse(&text);
    let report = check(loaded.objects.clone());
    let json: Value = serde_json::from_str(&render_json(&loaded, &report)).unwrap();
    assert_eq!(json["schemaVersion"], 1);
    assert_eq!(json["tool"]["name"], "tsbridge");
    assert_eq!(
        json["summary"],
        json!({"files": 1, "documents": 2, "objects": 2, "checked": 2, "skipped": 0,
               "errors": 1, "warnings": 0, "infos": 0})
    );
    assert_eq!(
        json["diagnostics"][0],
        json!({
            "file": "t.yaml", "document": 1, "item": null, "line": 7,
            "severity": "error", "code": "TSB1006", "rule": "V6", "ruleName": "SelectorGrammar",
            "object": {"apiGroup": "tsb.tetrate.io", "kind": "Workspace", "name": "ws",
                       "namespace": null, "fqn": "organizations/acme/tenants/payments/workspaces/ws"},
            "field": "spec.namespaceSelector.names[0]",
            "message": "entry \"bad\" has no cluster part (grammar ^(\\*|[^/*]+)/(\\*|[^/*]+\\*?)$)",
            "fix": "write <cluster>/<namespace>, e.g. */bookinfo for every cluster"
        })
    );
}

#[test]
fn sarif_is_2_1_0_with_rules_and_located_results() {
    let text = [TENANT.to_string(), workspace("ws", "bad")].join("---\n");
    let mut loaded = parse(&text);
    for object in &mut loaded.objects {
        object.source.file = "dir with space/t.yaml".into();
    }
    let report = check(loaded.objects.clone());
    let sarif: Value = serde_json::from_str(&render_sarif(&report, false)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let driver = &sarif["runs"][0]["tool"]["driver"];
    assert_eq!(driver["name"], "tsbridge");
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), RuleCode::ALL.len());
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "TSB1006");
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "TSB1006");
    assert_eq!(rules[index]["name"], "SelectorGrammar");
    assert_eq!(result["level"], "error");
    assert!(
        result["message"]["text"]
            .as_str()
            .unwrap()
            .contains("; fix: write <cluster>/<namespace>")
    );
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "dir%20with%20space/t.yaml"
    );
    assert_eq!(location["region"]["startLine"], 7);
}

#[test]
fn uris_stay_relative_and_are_escaped() {
    assert_eq!(path_to_uri("a/b-c_d.yaml"), "a/b-c_d.yaml");
    assert_eq!(path_to_uri("./x y/ü.yml"), "./x%20y/%C3%BC.yml");
    assert_eq!(path_to_uri("a\\b.yaml"), "a/b.yaml");
    assert_eq!(path_to_uri("/abs/p.yaml"), "/abs/p.yaml");
}

#[test]
fn every_rule_has_a_description() {
    for rule in RuleCode::ALL {
        assert!(!rule_description(rule).is_empty());
    }
}
