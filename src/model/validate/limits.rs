//! Object limits (docs/limits.md): size and nesting of a spec, characters no store can hold,
//! and Kubernetes' own rules for the labels and annotations tsbridge forwards onto generated
//! objects. They are L1 rules, so the webhook, `tsbridge validate`, `ctl apply`, the agent and
//! the management plane give the same verdict, and an object over a limit is refused where it
//! enters instead of failing later in a store or an apiserver.
//!
//! The checks walk values iteratively: an input nested deeper than any parser here allows must
//! still get a diagnostic, not a stack overflow. [`check_spec`] runs before any other rule, and
//! an object it refuses gets no further checks (those walk the spec recursively).

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::Value;

use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode};
use crate::model::metadata::is_dns1123_subdomain;

/// Largest spec accepted, as compact JSON (the management plane's object limit).
pub const MAX_SPEC_BYTES: usize = 512 * 1024;

/// Deepest nesting of objects and arrays in a spec (the spec itself is level 1). Real TSB
/// specs stay under 15; gRPC's decoder and the JSON parsers give up not far above 32.
pub const MAX_DEPTH: usize = 32;

/// Kubernetes' limit on the total size of an object's annotations (keys and values).
pub const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

/// Kubernetes' limit on a label value and on the name part of a label or annotation key.
pub const MAX_LABEL_VALUE: usize = 63;

/// Checks the spec's size, depth and strings; false when it is refused (the caller then skips
/// every other rule).
pub fn check_spec(spec: &Value, object: &ObjectRef, out: &mut Vec<Diagnostic>) -> bool {
    let before = out.len();
    let mut size = 0usize;
    // Paths are only spelled out for a finding: each node records its step from its parent.
    let mut steps: Vec<Step<'_>> = vec![Step {
        parent: None,
        segment: Segment::Root,
    }];
    let mut stack: Vec<(&Value, usize, usize)> = vec![(spec, 0, 1)];
    while let Some((value, at, depth)) = stack.pop() {
        match value {
            Value::Array(_) | Value::Object(_) if depth > MAX_DEPTH => {
                out.push(Diagnostic::error(
                    RuleCode::ObjectLimit,
                    object,
                    path_of(&steps, at),
                    format!("nested deeper than the limit of {MAX_DEPTH} levels"),
                    "flatten the structure",
                ));
                return false;
            }
            Value::Array(items) => {
                // Brackets and commas.
                size += 2 + items.len().saturating_sub(1);
                for (i, item) in items.iter().enumerate().rev() {
                    steps.push(Step {
                        parent: Some(at),
                        segment: Segment::Index(i),
                    });
                    stack.push((item, steps.len() - 1, depth + 1));
                }
            }
            Value::Object(map) => {
                // Braces, commas and colons.
                size += 2 + map.len().saturating_sub(1) + map.len();
                for (key, item) in map.iter().rev() {
                    size += json_size(key);
                    if has_nul(key) {
                        check_text(key, &path_of(&steps, at), object, out);
                    }
                    steps.push(Step {
                        parent: Some(at),
                        segment: Segment::Key(key),
                    });
                    stack.push((item, steps.len() - 1, depth + 1));
                }
            }
            Value::String(text) => {
                size += json_size(text);
                if has_nul(text) {
                    check_text(text, &path_of(&steps, at), object, out);
                }
            }
            scalar => size += json_size(scalar),
        }
        if out.len() - before >= 8 {
            return false; // Enough to fix: a flood of findings helps no one.
        }
    }
    if size > MAX_SPEC_BYTES {
        out.push(Diagnostic::error(
            RuleCode::ObjectLimit,
            object,
            "spec",
            format!(
                "the spec is {size} bytes as JSON, over the {MAX_SPEC_BYTES}-byte object limit"
            ),
            "split the object, or move large free-form content out of the spec",
        ));
    }
    out.len() == before
}

/// One node of [`check_spec`]'s walk: where it hangs from its parent.
struct Step<'a> {
    parent: Option<usize>,
    segment: Segment<'a>,
}

enum Segment<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// The field path of node `at` (`spec.a.b[2]`), built only when a finding names it.
fn path_of(steps: &[Step<'_>], at: usize) -> String {
    let mut chain = Vec::new();
    let mut next = Some(at);
    while let Some(i) = next {
        chain.push(&steps[i].segment);
        next = steps[i].parent;
    }
    let mut path = String::new();
    for segment in chain.into_iter().rev() {
        match segment {
            Segment::Root => path.push_str("spec"),
            Segment::Key(key) => {
                path.push('.');
                path.push_str(key);
            }
            Segment::Index(i) => {
                let _ = std::fmt::Write::write_fmt(&mut path, format_args!("[{i}]"));
            }
        }
    }
    path
}

fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

/// Labels and annotations as Kubernetes accepts them on the objects tsbridge generates:
/// qualified-name keys, label values of at most 63 characters, at most 256 KiB of annotations.
/// `field` names the maps' place (`metadata`, `spec.configGenerationMetadata`).
pub fn check_metadata(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    field: &str,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    for (key, value) in labels {
        let path = format!("{field}.labels[{key}]");
        check_key(key, &path, object, out);
        if !is_label_value(value) {
            out.push(Diagnostic::error(
                RuleCode::NameRule,
                object,
                path.clone(),
                format!(
                    "label value {:?} is not a Kubernetes label value",
                    shorten(value)
                ),
                "use at most 63 characters: letters, digits, '-', '_' and '.', starting and \
                 ending with a letter or digit (put longer text in an annotation)",
            ));
        }
        check_text(value, &path, object, out);
    }
    let mut total = 0;
    for (key, value) in annotations {
        let path = format!("{field}.annotations[{key}]");
        check_key(key, &path, object, out);
        check_text(value, &path, object, out);
        total += key.len() + value.len();
    }
    if total > MAX_ANNOTATION_BYTES {
        out.push(Diagnostic::error(
            RuleCode::ObjectLimit,
            object,
            format!("{field}.annotations"),
            format!(
                "the annotations hold {total} bytes, over Kubernetes' limit of \
                 {MAX_ANNOTATION_BYTES} bytes"
            ),
            "shorten or drop annotations; large content belongs in the spec or a ConfigMap",
        ));
    }
}

fn check_key(key: &str, path: &str, object: &ObjectRef, out: &mut Vec<Diagnostic>) {
    if !is_qualified_name(key) {
        out.push(Diagnostic::error(
            RuleCode::NameRule,
            object,
            path,
            format!("key {:?} is not a Kubernetes qualified name", shorten(key)),
            "write [prefix/]name: an optional DNS subdomain prefix, and a name of at most 63 \
             letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
        ));
    }
}

/// Strings the stores cannot hold: PostgreSQL's `jsonb` and `text` refuse U+0000.
fn check_text(text: &str, path: &str, object: &ObjectRef, out: &mut Vec<Diagnostic>) {
    if has_nul(text) {
        out.push(Diagnostic::error(
            RuleCode::SpecSchema,
            object,
            path,
            "contains a NUL character (U+0000), which no store or Kubernetes object can hold",
            "remove the NUL character",
        ));
    }
}

/// A Kubernetes qualified name (label and annotation keys): `[prefix/]name`.
pub fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(is_dns1123_subdomain) && !name.is_empty() && is_label_value(name)
}

/// A Kubernetes label value: empty, or at most 63 alphanumerics, `-`, `_` and `.`, starting and
/// ending alphanumeric.
pub fn is_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    value.is_empty()
        || (bytes.len() <= MAX_LABEL_VALUE
            && alnum(&bytes[0])
            && alnum(&bytes[bytes.len() - 1])
            && bytes
                .iter()
                .all(|b| alnum(b) || matches!(b, b'-' | b'_' | b'.')))
}

/// The compact JSON size of a scalar or string, without building the text (containers are
/// counted by [`check_spec`]'s walk, which never recurses).
fn json_size(value: &impl serde::Serialize) -> usize {
    struct Counter(usize);
    impl Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail, and strings and JSON scalars always serialize.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// A long value cut for a message.
fn shorten(text: &str) -> String {
    const KEEP: usize = 40;
    if text.chars().count() <= KEEP {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(KEEP).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Kind;

    fn object() -> ObjectRef {
        ObjectRef::new(Kind::Tenant, "t", None)
    }

    fn nested(depth: usize) -> Value {
        let mut value = json!("leaf");
        for _ in 1..depth {
            value = json!({ "a": value });
        }
        json!({ "a": value })
    }

    #[test]
    fn nesting_stops_at_the_limit_and_names_the_path() {
        let mut out = Vec::new();
        assert!(
            check_spec(&nested(MAX_DEPTH), &object(), &mut out),
            "{out:?}"
        );
        assert!(!check_spec(&nested(MAX_DEPTH + 1), &object(), &mut out));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rule, RuleCode::ObjectLimit);
        assert_eq!(out[0].field, format!("spec{}", ".a".repeat(MAX_DEPTH)));
        // Far deeper than any recursion could take: still one finding, no overflow.
        let mut deep = json!(1);
        for _ in 0..200_000 {
            deep = Value::Array(vec![deep]);
        }
        let mut out = Vec::new();
        assert!(!check_spec(&deep, &object(), &mut out));
        assert_eq!(out.len(), 1);
        // serde_json drops values recursively; take it apart by hand.
        let mut stack = vec![deep];
        while let Some(value) = stack.pop() {
            if let Value::Array(items) = value {
                stack.extend(items);
            }
        }
    }

    #[test]
    fn size_counts_compact_json() {
        let mixed = json!({ "a": [1, 2.5, null, true, "é\"\n\u{1}"], "b": {}, "c": [[]] });
        let sized = |pad: usize| json!({ "d": "x".repeat(pad), "m": mixed });
        let base = serde_json::to_string(&sized(0)).unwrap().len();
        let at = sized(MAX_SPEC_BYTES - base);
        assert_eq!(serde_json::to_string(&at).unwrap().len(), MAX_SPEC_BYTES);
        let mut out = Vec::new();
        assert!(check_spec(&at, &object(), &mut out), "{out:?}");
        let over = sized(MAX_SPEC_BYTES - base + 1);
        assert!(!check_spec(&over, &object(), &mut out));
        assert_eq!(out[0].field, "spec");
        assert!(
            out[0].message.contains("524289 bytes"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn nul_characters_are_refused_in_values_and_keys() {
        let mut out = Vec::new();
        let spec = json!({ "displayName": "a\u{0}b", "x": [{ "k\u{0}": 1 }] });
        assert!(!check_spec(&spec, &object(), &mut out));
        let fields: Vec<&str> = out.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["spec.displayName", "spec.x[0]"]);
        // Other odd characters are text like any other.
        let mut out = Vec::new();
        let odd = json!({ "displayName": "\u{202e}é\u{200d}👩‍👩‍👧\u{feff}\u{7}" });
        assert!(check_spec(&odd, &object(), &mut out));
    }

    #[test]
    fn metadata_follows_kubernetes_rules() {
        let good = BTreeMap::from([
            ("app".to_string(), "v1.2_x-y".to_string()),
            ("example.com/team".to_string(), String::new()),
        ]);
        let mut out = Vec::new();
        check_metadata(&good, &good, "metadata", &object(), &mut out);
        assert!(out.is_empty(), "{out:?}");
        let bad_labels = BTreeMap::from([
            ("bad key".to_string(), "ok".to_string()),
            ("long".to_string(), "v".repeat(64)),
            ("Example.com/x".to_string(), "ok".to_string()),
        ]);
        let big = BTreeMap::from([("big".to_string(), "x".repeat(MAX_ANNOTATION_BYTES))]);
        check_metadata(&bad_labels, &big, "metadata", &object(), &mut out);
        let fields: Vec<&str> = out.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "metadata.labels[Example.com/x]",
                "metadata.labels[bad key]",
                "metadata.labels[long]",
                "metadata.annotations",
            ]
        );
        assert!(is_qualified_name("a.b/c"));
        assert!(!is_qualified_name("a/"));
        assert!(!is_qualified_name(&"k".repeat(64)));
        assert!(!is_label_value("-a"));
    }
}
