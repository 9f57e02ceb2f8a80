//! Rendering a [`Report`]: `text` (one line per finding plus a summary), `json` (the documented
//! shape of `docs/validate.md`) and `sarif` (SARIF 2.1.0 for code-scanning UIs).

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::validate::check::{Finding, Report};
use crate::cli::validate::input::Loaded;
use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode, Severity, one_line};

/// Output formats of `tsbridge validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// One line per finding and a summary line (for people and CI logs).
    #[default]
    Text,
    /// One JSON document (for scripts); see docs/validate.md.
    Json,
    /// SARIF 2.1.0 (for code-scanning UIs).
    Sarif,
}

/// Version of the JSON document's shape; bumped only on incompatible changes.
pub const JSON_SCHEMA_VERSION: u32 = 1;

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// The rule's identifier-style name (`WorkspaceOverlap`).
pub fn rule_name(rule: RuleCode) -> String {
    format!("{rule:?}")
}

/// One-line description of each rule (SARIF `shortDescription`).
pub fn rule_description(rule: RuleCode) -> &'static str {
    use RuleCode::*;
    match rule {
        KindRecognition => "Objects that are not first-wave configuration are ignored",
        HierarchyAnnotations => "Required hierarchy annotations are present and non-empty",
        DirectModeGroup => {
            "A direct-mode object has exactly one group annotation, allowed for its kind"
        }
        DirectModeLabel => "A direct-mode object carries the label istio.io/rev: tsb",
        NameRule => {
            "Names and annotation values are DNS-1123 subdomains; label and annotation keys and \
             label values follow Kubernetes"
        }
        SelectorGrammar => "namespaceSelector entries follow <cluster>/<namespace> grammar",
        RequiredField => "Required fields are set and match their patterns",
        SpecSchema => "The spec has no unknown or mistyped fields",
        ParentExists => "The parent object exists",
        SelectorOutsideWorkspace => "Every group selector entry lies within its workspace",
        WorkspaceOverlap => "Workspaces of one organization own disjoint namespaces",
        NamespaceNotInGroup => "A direct-mode object's namespace belongs to its group",
        DuplicateServiceSetting => "One ServiceTrafficSetting per service within a workspace",
        ConfigModeMismatch => {
            "BRIDGED kinds live in BRIDGED groups, direct-mode objects in DIRECT groups"
        }
        StricterSupersession => {
            "A setting looser than a STRICTER ancestor is superseded (status DIRTY)"
        }
        DeletionProtected => "Protected objects cannot be deleted",
        RecursiveDelete => "Deletes remove all descendants",
        GrantScope => "A cluster writes only inside its grants",
        RoleCreation => "Roles are not created through GitOps",
        StaleEtag => "Updates carry the latest etag",
        IgnoredAnnotation => "Hierarchy annotations a kind does not use are ignored",
        InlineSecret => "Specs hold no inline private keys or tokens",
        HierarchyImmutable => "Hierarchy annotations are immutable after create",
        FqnConflict => "Two objects map to the same FQN",
        DeprecatedField => "A deprecated field is used",
        ServiceOutsideGroup => "spec.service names a namespace its group selects",
        GatewayOutsideGroup => "A gateway runs in a namespace of its gateway group",
        GatewayBinding => "A DIRECT gateway-group VirtualService binds to Gateways of its group",
        InvalidReference => "FQN references in security rules parse",
        NotEnforced => "A field is accepted but not enforced in Istio",
        ExtensionProvider => "An Istio mesh extension provider must be declared",
        ObjectLimit => "An object stays within the size, nesting and metadata limits",
    }
}

/// The level a rule reports at by default (SARIF `defaultConfiguration`).
fn default_level(rule: RuleCode) -> &'static str {
    match rule {
        RuleCode::KindRecognition => "note",
        rule if rule.grpc_code().is_some() => "error",
        _ => "warning",
    }
}

/// `Kind/name` as the model renders it; documents without a kind read `document`, objects
/// without a name `Kind/(unnamed)`.
fn object_label(object: &ObjectRef) -> String {
    if object.kind.is_empty() {
        "document".to_string()
    } else if object.name.is_empty() {
        format!("{object}(unnamed)")
    } else {
        object.to_string()
    }
}

/// `Kind/name: field: message; fix: hint`, on one line.
fn finding_text(diagnostic: &Diagnostic) -> String {
    one_line(&format!(
        "{}: {}: {}; fix: {}",
        object_label(&diagnostic.object),
        diagnostic.field,
        diagnostic.message,
        diagnostic.fix
    ))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary line: `N objects checked, E errors, W warnings, S skipped`.
pub fn summary_line(report: &Report) -> String {
    format!(
        "{}, {}, {}, {} skipped (not configuration)",
        plural(report.checked, "object checked", "objects checked"),
        plural(report.errors(), "error", "errors"),
        plural(report.warnings(), "warning", "warnings"),
        report.skipped
    )
}

/// `FILE:DOC: severity[CODE] Kind/name: field: message; fix: hint`.
pub fn text_line(finding: &Finding) -> String {
    let d = &finding.diagnostic;
    format!(
        "{}:{}: {}[{}] {}",
        finding.source.file,
        finding.source.document,
        severity_word(d.severity),
        d.rule.code(),
        finding_text(d)
    )
}

/// Text output. Info findings (skipped objects) only with `verbose`.
pub fn render_text(report: &Report, verbose: bool) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        if finding.diagnostic.severity == Severity::Info && !verbose {
            continue;
        }
        out.push_str(&text_line(finding));
        out.push('\n');
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

// === JSON ===

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonOutput<'a> {
    schema_version: u32,
    tool: JsonTool,
    summary: JsonSummary,
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

#[derive(Serialize)]
struct JsonTool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct JsonSummary {
    files: usize,
    documents: usize,
    objects: usize,
    checked: usize,
    skipped: usize,
    errors: usize,
    warnings: usize,
    infos: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonDiagnostic<'a> {
    file: &'a str,
    document: usize,
    item: Option<usize>,
    line: Option<u32>,
    severity: &'static str,
    code: &'static str,
    rule: Option<&'static str>,
    rule_name: String,
    object: JsonObject<'a>,
    field: &'a str,
    message: String,
    fix: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonObject<'a> {
    api_group: &'a str,
    kind: &'a str,
    name: &'a str,
    namespace: Option<&'a str>,
    fqn: Option<String>,
}

/// JSON output: every finding, info included.
pub fn render_json(loaded: &Loaded, report: &Report) -> String {
    let diagnostics = report
        .findings
        .iter()
        .map(|f| {
            let d = &f.diagnostic;
            JsonDiagnostic {
                file: &f.source.file,
                document: f.source.document,
                item: f.source.item,
                line: f.source.line,
                severity: severity_word(d.severity),
                code: d.rule.code(),
                rule: d.rule.rule_id(),
                rule_name: rule_name(d.rule),
                object: JsonObject {
                    api_group: &d.object.group,
                    kind: &d.object.kind,
                    name: &d.object.name,
                    namespace: d.object.namespace.as_deref(),
                    fqn: d.object.fqn.as_ref().map(ToString::to_string),
                },
                field: &d.field,
                message: one_line(&d.message),
                fix: one_line(&d.fix),
            }
        })
        .collect();
    let output = JsonOutput {
        schema_version: JSON_SCHEMA_VERSION,
        tool: JsonTool {
            name: "tsbridge",
            version: env!("CARGO_PKG_VERSION"),
        },
        summary: JsonSummary {
            files: loaded.files,
            documents: loaded.documents,
            objects: report.objects,
            checked: report.checked,
            skipped: report.skipped,
            errors: report.errors(),
            warnings: report.warnings(),
            infos: report.count(Severity::Info),
        },
        diagnostics,
    };
    let mut text = serde_json::to_string_pretty(&output).expect("the report serializes to JSON");
    text.push('\n');
    text
}

// === SARIF ===

/// A path as a URI reference: `\` becomes `/`, and bytes outside RFC 3986's unreserved set
/// (and `/`) are percent-encoded. Relative paths stay relative.
pub fn path_to_uri(path: &str) -> String {
    let mut uri = String::with_capacity(path.len());
    for byte in path.replace('\\', "/").bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            uri.push(char::from(byte));
        } else {
            let _ = write!(uri, "%{byte:02X}");
        }
    }
    uri
}

/// SARIF 2.1.0 output. The rules array lists every rule code; results carry the finding's
/// file and line. Info findings (skipped objects) become `note` results only with `verbose`.
pub fn render_sarif(report: &Report, verbose: bool) -> String {
    let results: Vec<Value> = report
        .findings
        .iter()
        .filter(|f| verbose || f.diagnostic.severity != Severity::Info)
        .map(|f| {
            let d = &f.diagnostic;
            let rule_index = RuleCode::ALL
                .iter()
                .position(|r| *r == d.rule)
                .expect("every rule is in RuleCode::ALL");
            let mut physical = json!({
                "artifactLocation": { "uri": path_to_uri(&f.source.file) },
            });
            if let Some(line) = f.source.line {
                physical["region"] = json!({ "startLine": line });
            }
            let mut logical = json!({
                "name": d.object.name,
                "kind": "resource",
                "fullyQualifiedName": d
                    .object
                    .fqn
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| object_label(&d.object)),
            });
            if d.object.kind.is_empty() {
                logical["kind"] = json!("document");
            }
            json!({
                "ruleId": d.rule.code(),
                "ruleIndex": rule_index,
                "level": sarif_level(d.severity),
                "message": { "text": finding_text(d) },
                "locations": [{
                    "physicalLocation": physical,
                    "logicalLocations": [logical],
                }],
                "properties": {
                    "document": f.source.document,
                    "item": f.source.item,
                    "field": d.field,
                },
            })
        })
        .collect();
    // Fields in alphabetical order: the same bytes `json!` (sorted maps) would give.
    #[derive(Serialize)]
    struct Sarif {
        #[serde(rename = "$schema")]
        schema: &'static str,
        runs: [Run; 1],
        version: &'static str,
    }
    #[derive(Serialize)]
    struct Run {
        results: Vec<Value>,
        tool: Tool,
    }
    #[derive(Serialize)]
    struct Tool {
        driver: Driver,
    }
    #[derive(Serialize)]
    struct Driver {
        name: &'static str,
        rules: &'static Value,
        version: &'static str,
    }
    let sarif = Sarif {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        runs: [Run {
            results,
            tool: Tool {
                driver: Driver {
                    name: "tsbridge",
                    rules: sarif_rules(),
                    version: env!("CARGO_PKG_VERSION"),
                },
            },
        }],
        version: "2.1.0",
    };
    let mut text = serde_json::to_string_pretty(&sarif).expect("SARIF serializes to JSON");
    text.push('\n');
    text
}

/// SARIF's rule table: every rule code, fixed for the binary, so built once, not per report.
fn sarif_rules() -> &'static Value {
    static RULES: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
        RuleCode::ALL
            .iter()
            .map(|rule| {
                let mut properties = json!({ "tags": ["tsb", "gitops"] });
                if let Some(id) = rule.rule_id() {
                    properties["tsbRule"] = json!(id);
                }
                json!({
                    "id": rule.code(),
                    "name": rule_name(*rule),
                    "shortDescription": { "text": rule_description(*rule) },
                    "defaultConfiguration": { "level": default_level(*rule) },
                    "properties": properties,
                })
            })
            .collect()
    });
    &RULES
}

/// Renders `report` in `format`.
pub fn render(format: OutputFormat, loaded: &Loaded, report: &Report, verbose: bool) -> String {
    match format {
        OutputFormat::Text => render_text(report, verbose),
        OutputFormat::Json => render_json(loaded, report),
        OutputFormat::Sarif => render_sarif(report, verbose),
    }
}
