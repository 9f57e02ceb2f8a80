//! The analyzer's core: objects in, findings out. Pure (no I/O), so the benchmark and the tests
//! call exactly what the CLI runs.
//!
//! Every rule is the model's: L1 through [`convert`] (the same conversion the agent and the
//! webhook run), L2 and L3 through [`validate_set_attributed`] (`validate_set` with the index
//! of each diagnostic's resource) with [`Organizations::AnyNamed`]. This file only decodes
//! objects, attributes the model's diagnostics to sources and drops the "parent does not
//! exist" errors whose parent is in the set but invalid (its own errors say why).

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use crate::cli::validate::input::{InputObject, Source};
use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode, Severity};
use crate::model::fqn::Fqn;
use crate::model::metadata::StripRules;
use crate::model::object::{Classification, Converted, KubeObject, Resource, classify, convert};
use crate::model::validate::{Organizations, validate_set_attributed};

/// One diagnostic and where its object came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Index of the object in the input.
    pub object: usize,
    /// Where the object came from.
    pub source: Source,
    /// The model's diagnostic.
    pub diagnostic: Diagnostic,
}

/// The result of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Findings in input order (an object's L1 findings before its L2/L3 ones). Objects that
    /// are not configuration appear as `Info` findings of rule V1.
    pub findings: Vec<Finding>,
    /// Objects given (after `List` expansion): `checked` + `skipped`.
    pub objects: usize,
    /// Configuration objects checked (valid or not).
    pub checked: usize,
    /// Objects (and documents) skipped because they are not configuration.
    pub skipped: usize,
}

impl Report {
    /// Findings of one severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.diagnostic.severity == severity)
            .count()
    }

    /// Errors found.
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    /// Warnings found.
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }
}

/// What one input decodes to.
enum Decoded {
    /// A Kubernetes object.
    Object(Box<KubeObject>),
    /// A config object whose metadata has the wrong shape (an L1 error).
    BadMetadata(Diagnostic),
    /// Not a Kubernetes object at all (no `apiVersion`/`kind`, or not a mapping).
    NotAnObject(Diagnostic),
}

/// The V1 info for a document that is not a Kubernetes object.
fn not_an_object(value: &Value, why: &str) -> Diagnostic {
    let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or("");
    Diagnostic {
        rule: RuleCode::KindRecognition,
        severity: Severity::Info,
        object: ObjectRef {
            group: String::new(),
            kind: text("kind").to_string(),
            name: value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            namespace: None,
            fqn: None,
        },
        field: "apiVersion".to_string(),
        message: format!("not a Kubernetes object ({why})"),
        fix: "none needed; the document is not forwarded".to_string(),
    }
}

/// The first metadata member that does not have the type Kubernetes requires, as
/// (field path, message, fix); `None` when `metadata` decodes (a missing one does).
fn metadata_problem(metadata: &Value) -> Option<(String, String, String)> {
    let metadata = match metadata {
        Value::Null => return None,
        Value::Object(metadata) => metadata,
        other => {
            return Some((
                "metadata".to_string(),
                format!("must be a mapping, found {}", type_name(other)),
                "write metadata as a mapping with name, namespace, labels and annotations"
                    .to_string(),
            ));
        }
    };
    for key in ["name", "namespace", "uid"] {
        match metadata.get(key) {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(other) => {
                return Some((
                    format!("metadata.{key}"),
                    format!("must be a string, found {}", type_name(other)),
                    format!("quote the value: {key}: \"{}\"", scalar_text(other)),
                ));
            }
        }
    }
    for key in ["labels", "annotations"] {
        match metadata.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                if let Some((k, v)) = map.iter().find(|(_, v)| !v.is_string()) {
                    return Some((
                        format!("metadata.{key}[{k}]"),
                        format!("must be a string, found {}", type_name(v)),
                        format!("quote the value: {k}: \"{}\"", scalar_text(v)),
                    ));
                }
            }
            Some(other) => {
                return Some((
                    format!("metadata.{key}"),
                    format!("must be a mapping of strings, found {}", type_name(other)),
                    format!("write metadata.{key} as key: \"value\" pairs"),
                ));
            }
        }
    }
    match metadata.get("generation") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_i64() => None,
        Some(other) => Some((
            "metadata.generation".to_string(),
            format!("must be an integer, found {}", type_name(other)),
            "remove metadata.generation; the apiserver sets it".to_string(),
        )),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        _ => "…".to_string(),
    }
}

/// Decodes one input, moving its strings into the object. Objects whose metadata does not
/// decode are judged on what does (kind, string annotations): only configuration objects turn
/// that into an error.
fn decode(value: Value) -> Decoded {
    let Value::Object(map) = &value else {
        return Decoded::NotAnObject(not_an_object(
            &value,
            &format!("the document is {}", type_name(&value)),
        ));
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let (api_version, kind) = (text(map.get("apiVersion")), text(map.get("kind")));
    if api_version.is_empty() || kind.is_empty() {
        return Decoded::NotAnObject(not_an_object(&value, "no apiVersion and kind"));
    }
    let metadata = map.get("metadata").unwrap_or(&Value::Null);
    let Some((field, message, fix)) = metadata_problem(metadata) else {
        return match KubeObject::deserialize(value) {
            Ok(object) => Decoded::Object(Box::new(object)),
            // Unreachable: apiVersion, kind and metadata were checked, spec is any value.
            Err(err) => Decoded::BadMetadata(Diagnostic::error(
                RuleCode::SpecSchema,
                &KubeObject {
                    api_version,
                    kind,
                    ..KubeObject::default()
                }
                .object_ref(),
                "metadata",
                err.to_string(),
                "fix the object's shape; see the CRD schema",
            )),
        };
    };
    let mut lenient = KubeObject {
        api_version,
        kind,
        ..KubeObject::default()
    };
    lenient.metadata.name = text(metadata.get("name"));
    lenient.metadata.namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(Value::Object(annotations)) = metadata.get("annotations") {
        lenient.metadata.annotations = annotations
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
    }
    match classify(&lenient) {
        Classification::Ignored(reason) => Decoded::NotAnObject(reason.diagnostic(&lenient)),
        Classification::Config(_) => Decoded::BadMetadata(Diagnostic::error(
            RuleCode::SpecSchema,
            &lenient.object_ref(),
            field,
            message,
            fix,
        )),
    }
}

/// Runs L1 on every object and L2/L3 over the whole set; organizations named in annotations
/// are taken to exist. Never fails: every problem is a finding.
pub fn check(inputs: Vec<InputObject>) -> Report {
    let strip = StripRules::default();
    let mut report = Report {
        objects: inputs.len(),
        ..Report::default()
    };
    let (sources, values): (Vec<Source>, Vec<Value>) = inputs
        .into_iter()
        .map(|input| (input.source, input.value))
        .unzip();
    let mut resources: Vec<Resource> = Vec::new();
    let mut owners: Vec<usize> = Vec::new();
    // FQNs of configuration objects that failed L1: present in the set, but not valid.
    let mut invalid: BTreeSet<Fqn> = BTreeSet::new();
    let push = |report: &mut Report, object: usize, diagnostic: Diagnostic| {
        report.findings.push(Finding {
            object,
            source: sources[object].clone(),
            diagnostic,
        });
    };

    for (i, value) in values.into_iter().enumerate() {
        let object = match decode(value) {
            Decoded::Object(object) => object,
            Decoded::BadMetadata(diagnostic) => {
                report.checked += 1;
                push(&mut report, i, diagnostic);
                continue;
            }
            Decoded::NotAnObject(diagnostic) => {
                report.skipped += 1;
                push(&mut report, i, diagnostic);
                continue;
            }
        };
        match convert(&object, &strip) {
            Converted::Ignored(reason) => {
                report.skipped += 1;
                push(&mut report, i, reason.diagnostic(&object));
            }
            Converted::Invalid(diagnostics) => {
                report.checked += 1;
                invalid.extend(diagnostics.iter().filter_map(|d| d.object.fqn.clone()));
                for diagnostic in diagnostics {
                    push(&mut report, i, diagnostic);
                }
            }
            Converted::Resource { resource, warnings } => {
                report.checked += 1;
                for diagnostic in warnings {
                    push(&mut report, i, diagnostic);
                }
                resources.push(*resource);
                owners.push(i);
            }
        }
    }

    for (index, diagnostic) in validate_set_attributed(&resources, &Organizations::AnyNamed) {
        let parent_invalid = diagnostic.rule == RuleCode::ParentExists
            && diagnostic
                .object
                .fqn
                .as_ref()
                .and_then(Fqn::parent)
                .is_some_and(|parent| invalid.contains(&parent));
        if !parent_invalid {
            push(&mut report, owners[index], diagnostic);
        }
    }
    report.findings.sort_by_key(|f| f.object);
    report
}
