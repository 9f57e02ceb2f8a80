//! Printing a comparison: `text` (for logs), `markdown` (a pull-request comment) and `json`
//! (for scripts; its shape is documented in `docs/day-two.md`). Pure: strings out.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::model::diff::{Counts, FieldChange, IstioKey, ObjectChange};
use crate::model::fqn::Fqn;

/// Output formats of `tsbridge diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DiffFormat {
    /// One line per object and per changed field.
    #[default]
    Text,
    /// A pull-request comment: a summary table and the changed fields as diff blocks.
    Markdown,
    /// One JSON document.
    Json,
}

/// Version of the JSON document's shape; bumped only on incompatible changes.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The first line of the markdown output, so a CI job can find and update its own comment.
pub const MARKDOWN_MARKER: &str = "<!-- tsbridge-diff -->";

/// Longest value shown in text and markdown (JSON has them whole).
const MAX_VALUE_CHARS: usize = 160;

/// What `diff` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The FROM side's name.
    pub from: String,
    /// The TO side's name.
    pub to: String,
    /// True when a mapping rewrote environment-specific values.
    pub mapped: bool,
    /// TSB objects that differ, by FQN.
    pub objects: Vec<ObjectChange<Fqn>>,
    /// Istio objects that differ, by cluster and identity (with `--inventory`).
    pub istio: Option<Vec<ObjectChange<IstioKey>>>,
}

impl Report {
    /// True when anything differs.
    pub fn is_different(&self) -> bool {
        !self.objects.is_empty() || self.istio.as_ref().is_some_and(|i| !i.is_empty())
    }

    /// The clusters with Istio changes, in order, each with its changes.
    fn clusters(&self) -> Vec<(&str, Vec<&ObjectChange<IstioKey>>)> {
        let mut out: Vec<(&str, Vec<&ObjectChange<IstioKey>>)> = Vec::new();
        for change in self.istio.iter().flatten() {
            match out.last_mut() {
                Some((cluster, changes)) if *cluster == change.key.cluster => changes.push(change),
                _ => out.push((&change.key.cluster, vec![change])),
            }
        }
        out
    }
}

fn kind_name(fqn: &Fqn) -> &'static str {
    fqn.kind().map(|k| k.name()).unwrap_or("Organization")
}

/// A value on one line, shortened; `(absent)` for a missing one.
fn shown(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "(absent)".to_string();
    };
    let text = value.to_string();
    if text.chars().count() <= MAX_VALUE_CHARS {
        text
    } else {
        let head: String = text.chars().take(MAX_VALUE_CHARS).collect();
        format!("{head}…")
    }
}

fn field_line(field: &FieldChange) -> String {
    format!(
        "{}: {} → {}",
        field.path,
        shown(field.from.as_ref()),
        shown(field.to.as_ref())
    )
}

/// Text output.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "TSB objects ({} → {}{}): {}",
        report.from,
        report.to,
        if report.mapped {
            ", environment-specific values mapped"
        } else {
            ""
        },
        Counts::of(&report.objects)
    );
    for change in &report.objects {
        let _ = writeln!(
            out,
            "{} {} {}",
            change.change.marker(),
            kind_name(&change.key),
            change.key
        );
        for field in &change.fields {
            let _ = writeln!(out, "    {}", field_line(field));
        }
    }
    if let Some(istio) = &report.istio {
        let _ = writeln!(out, "Istio objects: {}", Counts::of(istio));
        for (cluster, changes) in report.clusters() {
            let counts = Counts::of(&changes.iter().map(|c| (*c).clone()).collect::<Vec<_>>());
            let _ = writeln!(out, "cluster {cluster}: {counts}");
            for change in changes {
                let _ = writeln!(out, "{} {}", change.change.marker(), change.key);
                for field in &change.fields {
                    let _ = writeln!(out, "    {}", field_line(field));
                }
            }
        }
    }
    out
}

/// Markdown output, for a pull-request comment.
pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MARKDOWN_MARKER}");
    let _ = writeln!(
        out,
        "### tsbridge diff: `{}` → `{}`\n",
        report.from, report.to
    );
    if !report.is_different() {
        let _ = writeln!(out, "No differences.");
        return out;
    }
    let _ = writeln!(
        out,
        "**TSB objects:** {}{}\n",
        Counts::of(&report.objects),
        if report.mapped {
            " (environment-specific values mapped)"
        } else {
            ""
        }
    );
    if !report.objects.is_empty() {
        let _ = writeln!(out, "| Change | Kind | FQN |\n|---|---|---|");
        for change in &report.objects {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` |",
                change.change,
                kind_name(&change.key),
                change.key
            );
        }
        out.push('\n');
        fields_block(
            &mut out,
            "Changed fields",
            report
                .objects
                .iter()
                .map(|c| (c.key.to_string(), c.fields.as_slice())),
        );
    }
    if let Some(istio) = &report.istio {
        let _ = writeln!(out, "**Istio objects:** {}\n", Counts::of(istio));
        if !istio.is_empty() {
            let _ = writeln!(out, "| Cluster | Change | Object |\n|---|---|---|");
            for change in istio {
                let _ = writeln!(
                    out,
                    "| {} | {} | `{}` |",
                    change.key.cluster, change.change, change.key
                );
            }
            out.push('\n');
            fields_block(
                &mut out,
                "Changed Istio fields",
                istio
                    .iter()
                    .map(|c| (format!("{}: {}", c.key.cluster, c.key), c.fields.as_slice())),
            );
        }
    }
    out
}

/// A collapsed section with one `diff` block per object that has changed fields.
fn fields_block<'a>(
    out: &mut String,
    title: &str,
    objects: impl Iterator<Item = (String, &'a [FieldChange])>,
) {
    let objects: Vec<_> = objects.filter(|(_, fields)| !fields.is_empty()).collect();
    if objects.is_empty() {
        return;
    }
    let _ = writeln!(out, "<details><summary>{title}</summary>\n");
    for (name, fields) in objects {
        let _ = writeln!(out, "`{name}`\n\n```diff");
        for field in fields {
            if field.from.is_some() {
                let _ = writeln!(out, "- {}: {}", field.path, shown(field.from.as_ref()));
            }
            if field.to.is_some() {
                let _ = writeln!(out, "+ {}: {}", field.path, shown(field.to.as_ref()));
            }
        }
        let _ = writeln!(out, "```\n");
    }
    let _ = writeln!(out, "</details>\n");
}

fn fields_json(fields: &[FieldChange]) -> Value {
    json!(fields)
}

/// JSON output.
pub fn render_json(report: &Report) -> String {
    let objects: Vec<Value> = report
        .objects
        .iter()
        .map(|c| {
            json!({
                "change": c.change,
                "fqn": c.key,
                "kind": kind_name(&c.key),
                "fields": fields_json(&c.fields),
            })
        })
        .collect();
    let istio = report.istio.as_ref().map(|istio| {
        json!({
            "summary": Counts::of(istio),
            "objects": istio.iter().map(|c| json!({
                "change": c.change,
                "cluster": c.key.cluster,
                "apiVersion": c.key.api_version,
                "kind": c.key.kind,
                "namespace": c.key.namespace,
                "name": c.key.name,
                "fields": fields_json(&c.fields),
            })).collect::<Vec<_>>(),
        })
    });
    let document = json!({
        "schemaVersion": JSON_SCHEMA_VERSION,
        "from": report.from,
        "to": report.to,
        "mapped": report.mapped,
        "equal": !report.is_different(),
        "summary": Counts::of(&report.objects),
        "objects": objects,
        "istio": istio,
    });
    let mut text = serde_json::to_string_pretty(&document).expect("the report serializes");
    text.push('\n');
    text
}

/// Renders `report` in `format`.
pub fn render(format: DiffFormat, report: &Report) -> String {
    match format {
        DiffFormat::Text => render_text(report),
        DiffFormat::Markdown => render_markdown(report),
        DiffFormat::Json => render_json(report),
    }
}
