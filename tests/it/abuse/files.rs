//! Hostile YAML through `tsbridge validate` and `tsbridge ctl apply`: a wrong type in every
//! field of every CRD, duplicate keys, bytes that are not UTF-8, nesting past the parser's
//! budget, NUL characters and oversize specs. Each is named by file, document and field, and
//! `ctl apply` sends nothing.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use serde_json::{Value, json};

use super::MpState;
use crate::support::mp::Mp;
use crate::support::repo_path;

fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsbridge"))
        .arg("validate")
        .args(args)
        .env_remove("TSBRIDGE_OUTPUT")
        .output()
        .expect("tsbridge runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The YAML documents of a file, as JSON.
fn documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo_path(path)).expect("read");
    text.split("\n---")
        .filter_map(|doc| serde_saphyr::from_str::<Value>(doc).ok())
        .filter(|doc| doc.is_object())
        .collect()
}

/// A value of another JSON type than the schema's `type`; `None` where any value is valid.
fn wrong_value(schema: &Value) -> Option<Value> {
    if schema.get("x-kubernetes-int-or-string").is_some() {
        return Some(json!({ "not": "a number or a string" }));
    }
    match schema.get("type").and_then(Value::as_str)? {
        "string" => Some(json!(12345)),
        "integer" | "number" => Some(json!("not a number")),
        "boolean" => Some(json!("not a boolean")),
        "array" => Some(json!("not a list")),
        "object" => Some(json!("not an object")),
        _ => None,
    }
}

/// Every property path below `schema` (`a.b[0].c`), with its schema. Arrays are entered at
/// index 0; maps (`additionalProperties`) are typed as a whole.
fn fields<'a>(schema: &'a Value, path: &str, depth: usize, out: &mut Vec<(String, &'a Value)>) {
    if depth > 12 {
        return;
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let child = format!("{path}.{name}");
            out.push((child.clone(), property));
            fields(property, &child, depth + 1, out);
        }
    }
    if let Some(items) = schema.get("items") {
        fields(items, &format!("{path}[0]"), depth + 1, out);
    }
}

/// `spec` with `value` at `path` (below `spec`), creating the objects and one-item arrays on
/// the way.
fn with_value_at(spec: &Value, path: &str, value: Value) -> Value {
    let mut spec = spec.clone();
    let mut cursor = &mut spec;
    let steps: Vec<&str> = path.trim_start_matches("spec.").split('.').collect();
    for (i, step) in steps.iter().enumerate() {
        let (key, indexed) = match step.strip_suffix("[0]") {
            Some(key) => (key, step.matches("[0]").count()),
            None => (*step, 0),
        };
        let key = key.trim_end_matches("[0]");
        if !cursor.is_object() {
            *cursor = json!({});
        }
        let last = i + 1 == steps.len();
        let map = cursor.as_object_mut().expect("object");
        let mut slot = map.entry(key.to_string()).or_insert(Value::Null);
        for _ in 0..indexed {
            if !matches!(slot, Value::Array(items) if !items.is_empty()) {
                *slot = json!([{}]);
            }
            slot = &mut slot.as_array_mut().expect("array")[0];
        }
        if last {
            *slot = value;
            return spec;
        }
        cursor = slot;
    }
    spec
}

/// For every field of every CRD's spec: an object of that kind (from the fixture of every
/// kind) with a value of the wrong type in that field. `tsbridge validate` names exactly that
/// field in a `TSB1008` error, for every one.
#[test]
fn a_wrong_type_in_every_field_is_named() {
    let fixtures = documents("tests/fixtures/crs/every-kind.yaml");
    let mut cases: Vec<(String, String, Value)> = Vec::new();
    let crds = std::fs::read_dir(repo_path("charts/tsbridge/files/crds")).expect("CRDs");
    let mut kinds = 0;
    for crd in crds {
        let path = crd.expect("entry").path();
        let crd: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&path).expect("read")).expect("YAML");
        let group = crd["spec"]["group"].as_str().expect("group");
        let kind = crd["spec"]["names"]["kind"].as_str().expect("kind");
        let base = fixtures
            .iter()
            .find(|o| {
                o["kind"] == kind
                    && o["apiVersion"]
                        .as_str()
                        .is_some_and(|v| v.starts_with(&format!("{group}/")))
            })
            .unwrap_or_else(|| panic!("no fixture of {group} {kind}"));
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let mut found = Vec::new();
        fields(schema, "spec", 0, &mut found);
        kinds += 1;
        for (field, property) in found {
            let Some(value) = wrong_value(property) else {
                continue;
            };
            let mut object = base.clone();
            object["spec"] = with_value_at(&base["spec"], &field, value);
            cases.push((format!("{group} {kind}"), field, object));
        }
    }
    assert_eq!(kinds, 18, "every CRD");
    assert!(cases.len() > 1000, "{} fields", cases.len());

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("wrong-types.yaml");
    let mut yaml = String::new();
    for (_, _, object) in &cases {
        yaml.push_str("---\n");
        yaml.push_str(&serde_json::to_string(object).expect("JSON"));
        yaml.push('\n');
    }
    std::fs::write(&file, yaml).expect("write");
    let out = validate(&["-o", "json", file.to_str().expect("UTF-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let mut errors: BTreeMap<u64, Vec<(String, String)>> = BTreeMap::new();
    for d in report["diagnostics"].as_array().expect("diagnostics") {
        if d["severity"] == "error" {
            errors
                .entry(d["document"].as_u64().expect("document"))
                .or_default()
                .push((
                    d["field"].as_str().unwrap_or_default().to_string(),
                    d["code"].as_str().unwrap_or_default().to_string(),
                ));
        }
    }
    let mut missed = Vec::new();
    for (document, (kind, field, _)) in cases.iter().enumerate() {
        let found = errors.get(&(document as u64)).cloned().unwrap_or_default();
        let named = found
            .iter()
            .any(|(f, code)| code == "TSB1008" && f == field);
        if !named {
            missed.push(format!("{kind} {field}: {found:?}"));
        }
    }
    eprintln!(
        "{} fields of {kinds} CRDs, each with a wrong type",
        cases.len()
    );
    assert!(
        missed.is_empty(),
        "{} of {} fields not named:\n{}",
        missed.len(),
        cases.len(),
        missed.join("\n")
    );
}

/// Each hostile file: what `validate` must say (exit code and words), and that `ctl apply` of
/// the same file sends nothing.
#[tokio::test]
async fn hostile_yaml_is_named_by_file_and_field_and_applies_nothing() {
    let tenant = |extra: &str| {
        format!(
            "apiVersion: tsb.tetrate.io/v2\nkind: Tenant\nmetadata:\n  name: t\n  annotations:\n    \
             tsb.tetrate.io/organization: acme\nspec:\n  displayName: T\n{extra}"
        )
    };
    let deep = |levels: usize| {
        let mut yaml = String::from(
            "apiVersion: tsb.tetrate.io/v2\nkind: WorkspaceSetting\nmetadata:\n  name: s\n  \
             annotations:\n    tsb.tetrate.io/organization: acme\n    tsb.tetrate.io/tenant: t\n    \
             tsb.tetrate.io/workspace: w\nspec:\n  failoverSettings:\n",
        );
        for level in 0..levels {
            yaml.push_str(&"  ".repeat(level + 2));
            yaml.push_str("a:\n");
        }
        yaml.push_str(&"  ".repeat(levels + 2));
        yaml.push_str("b: leaf\n");
        yaml
    };
    let cases: Vec<(&str, Vec<u8>, i32, Vec<&str>)> = vec![
        (
            "duplicate-key.yaml",
            tenant("  displayName: again\n").into_bytes(),
            2,
            vec![
                "duplicate-key.yaml",
                "document 0",
                "duplicate",
                "displayName",
            ],
        ),
        (
            "not-utf8.yaml",
            [
                tenant("  description: \"").into_bytes(),
                vec![0xff, 0xfe, b'"', b'\n'],
            ]
            .concat(),
            2,
            vec!["not-utf8.yaml", "UTF-8"],
        ),
        (
            "nul.yaml",
            tenant("  description: \"a\\0b\"\n").into_bytes(),
            1,
            vec!["nul.yaml:0", "TSB1008", "spec.description", "NUL character"],
        ),
        (
            "too-deep.yaml",
            deep(40).into_bytes(),
            1,
            vec![
                "too-deep.yaml:0",
                "TSB1108",
                "spec.failoverSettings.a.a",
                "32 levels",
            ],
        ),
        (
            "past-the-parser.yaml",
            deep(80).into_bytes(),
            2,
            vec!["past-the-parser.yaml", "depth"],
        ),
        (
            "huge.yaml",
            tenant(&format!("  description: {}\n", "x".repeat(600 * 1024))).into_bytes(),
            1,
            vec![
                "huge.yaml:0",
                "TSB1108",
                "over the 524288-byte object limit",
            ],
        ),
        (
            "odd-unicode.yaml",
            [
                vec![0xef, 0xbb, 0xbf],
                tenant("  description: \"\u{202e}\u{200d}👩‍👩‍👧 é\"\n").into_bytes(),
            ]
            .concat(),
            0,
            vec!["1 object checked, 0 errors"],
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let api = mp.clients(&mp.token).await;
    let before = MpState::of(&api).await;
    for (name, bytes, code, says) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).expect("write");
        let path = file.to_str().expect("UTF-8");
        let out = validate(&[path]);
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(code), "{name}: {said}");
        for words in says {
            assert!(said.contains(words), "{name}: {words:?} missing in {said}");
        }
        if code == 0 {
            continue;
        }
        let out = mp.ctl(&["apply", "-f", path]);
        assert!(!out.status.success(), "{name}: ctl apply refused it");
        assert!(
            text(&out.stderr).contains(name),
            "{name}: {}",
            text(&out.stderr)
        );
        before.assert_unmoved(&api, 0, name).await;
    }
}
