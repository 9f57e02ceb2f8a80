//! `tsbridge promote --from DIR --to DIR`: writes into the target tree the objects that differ
//! from the source tree, keeping the target's environment-specific values through the mapping,
//! validates the result with `validate`'s rules before writing anything, and prints a summary
//! fit for a commit message. It never runs Git. See `docs/day-two.md`.
//!
//! Depends on: `model`, `cli::diff` (trees, mapping flags), `cli::validate` (loading, rules),
//! clap. Never: `store`, the management plane.
//!
//! Planning and text editing are pure ([`plan`]); this module reads, writes and prints.

pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use serde_json::Value;

use crate::cli::diff::tree::{Tree, TreeObject, load_tree};
use crate::cli::diff::{MappingArgs, Side, rewrite};
use crate::cli::validate::input::{InputFile, expand_paths, parse_str, split_documents};
use crate::cli::validate::{EXIT_ERRORS, EXIT_INPUT, EXIT_OK, OutputFormat, check};
use crate::model::diff::field_changes;
use crate::model::diff::mapping::Rewrite;
use crate::model::fqn::Fqn;
use crate::model::metadata::StripRules;
use plan::{Edit, Step, append_documents, comments, edit_file, merged, split_header};

/// Flags of `tsbridge promote`.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The source config tree (e.g. the staging overlay).
    #[arg(long, env = "TSBRIDGE_PROMOTE_FROM")]
    pub from: PathBuf,
    /// The target config tree, edited in place (e.g. the production overlay).
    #[arg(long, env = "TSBRIDGE_PROMOTE_TO")]
    pub to: PathBuf,
    /// Only objects at or below this FQN.
    #[arg(long, env = "TSBRIDGE_PROMOTE_ONLY")]
    pub only: Option<Fqn>,
    /// Values that differ between environments by design.
    #[command(flatten)]
    pub mapping: MappingArgs,
    /// Also remove target objects the source does not have (within --only).
    #[arg(
        long,
        env = "TSBRIDGE_PROMOTE_PRUNE",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub prune: bool,
    /// Print the summary without writing.
    #[arg(
        long,
        env = "TSBRIDGE_DRY_RUN",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub dry_run: bool,
}

/// The new contents of the files a promotion touches (`None`: delete the file).
type Writes = BTreeMap<PathBuf, Option<String>>;

/// Source files' text, read once.
#[derive(Default)]
struct Texts(BTreeMap<PathBuf, String>);

impl Texts {
    fn get(&mut self, path: &Path) -> anyhow::Result<&str> {
        if !self.0.contains_key(path) {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            self.0.insert(path.to_path_buf(), text);
        }
        Ok(&self.0[path])
    }
}

/// The source document's own text (header comments if `with_comments`, and body), rewritten
/// into the target environment: the candidate text of a promoted object.
fn source_text(
    texts: &mut Texts,
    object: &TreeObject,
    rewrite: &Rewrite,
    with_comments: bool,
) -> anyhow::Result<Option<String>> {
    if object.source.item.is_some() {
        return Ok(None);
    }
    let text = texts.get(Path::new(&*object.source.file))?;
    let Some(document) = split_documents(text)
        .into_iter()
        .find(|d| d.index == object.source.document)
    else {
        return Ok(None);
    };
    let (header, body) = split_header(&document);
    let text = if with_comments {
        format!("{}{body}", comments(header))
    } else {
        body.to_string()
    };
    Ok(Some(rewrite.text(&text)))
}

/// The files to write for `steps`.
fn writes(
    steps: &[Step<'_>],
    source: &Tree,
    target_root: &Path,
    rewrite: &Rewrite,
) -> anyhow::Result<Writes> {
    let strip = StripRules::default();
    let mut texts = Texts::default();
    let mut edits: BTreeMap<PathBuf, BTreeMap<(usize, Option<usize>), Edit>> = BTreeMap::new();
    let mut appends: BTreeMap<PathBuf, Vec<(Value, Option<String>)>> = BTreeMap::new();
    for step in steps {
        match step {
            Step::Update {
                source: from,
                target,
            } => {
                let value = merged(&from.value, &target.value, target.resource.kind, &strip);
                let text = source_text(&mut texts, from, rewrite, false)?;
                edits
                    .entry(PathBuf::from(&*target.source.file))
                    .or_default()
                    .insert(
                        (target.source.document, target.source.item),
                        Edit::Replace { value, text },
                    );
            }
            Step::Remove(target) => {
                edits
                    .entry(PathBuf::from(&*target.source.file))
                    .or_default()
                    .insert((target.source.document, target.source.item), Edit::Remove);
            }
            Step::Add(from) => {
                let path = target_root.join(source.relative(&from.source.file));
                let text = source_text(&mut texts, from, rewrite, true)?;
                appends
                    .entry(path)
                    .or_default()
                    .push((from.value.clone(), text));
            }
        }
    }
    let files: BTreeSet<PathBuf> = edits.keys().chain(appends.keys()).cloned().collect();
    let mut out = Writes::new();
    for file in files {
        let original = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(anyhow!("reading {}: {err}", file.display())),
        };
        let mut text = Some(original);
        if let Some(edits) = edits.get(&file) {
            text = edit_file(text.as_deref().unwrap_or_default(), edits)
                .map_err(|e| anyhow!("{}: {e}", file.display()))?;
        }
        if let Some(documents) = appends.get(&file) {
            text = Some(append_documents(
                text.as_deref().unwrap_or_default(),
                documents,
            ));
        }
        out.insert(file, text);
    }
    Ok(out)
}

/// `validate`'s verdict on the target tree as it would be after `writes`: the report text
/// when it has errors.
fn validate_result(target_root: &Path, writes: &Writes) -> anyhow::Result<Option<String>> {
    let (files, errors) = expand_paths(&[target_root.to_path_buf()]);
    if let Some(error) = errors.first() {
        return Err(anyhow!("{error}"));
    }
    let mut paths: BTreeSet<PathBuf> = files
        .into_iter()
        .filter_map(|f| match f {
            InputFile::Path(path) => Some(path),
            InputFile::Stdin => None,
        })
        .collect();
    paths.extend(writes.keys().cloned());
    let mut loaded = crate::cli::validate::Loaded::default();
    for path in paths {
        let text = match writes.get(&path) {
            Some(Some(text)) => text.clone(),
            Some(None) => continue,
            None => std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?,
        };
        let (objects, documents) =
            parse_str(&path.display().to_string(), &text).map_err(|e| anyhow!("{e}"))?;
        loaded.files += 1;
        loaded.documents += documents;
        loaded.objects.extend(objects);
    }
    let report = check(std::mem::take(&mut loaded.objects));
    Ok((report.errors() > 0)
        .then(|| crate::cli::validate::render(OutputFormat::Text, &loaded, &report, false)))
}

/// A directory's name for the summary.
fn name_of(path: &Path) -> String {
    std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| path.display().to_string())
}

/// The summary: a subject line, a blank line and a body, as a commit message.
pub fn summary(
    steps: &[Step<'_>],
    from: &Path,
    to: &Path,
    (source, target): (&Tree, &Tree),
    mapping: Option<&Path>,
) -> String {
    let count = |f: fn(&Step<'_>) -> bool| steps.iter().filter(|s| f(s)).count();
    let added = count(|s| matches!(s, Step::Add(_)));
    let changed = count(|s| matches!(s, Step::Update { .. }));
    let removed = count(|s| matches!(s, Step::Remove(_)));
    let mut out = format!(
        "promote {} to {}: {added} added, {changed} changed, {removed} removed\n\n",
        name_of(from),
        name_of(to)
    );
    let _ = writeln!(
        out,
        "Written by `tsbridge promote --from {} --to {}`{}.",
        from.display(),
        to.display(),
        mapping
            .map(|m| format!(", environment-specific values mapped by {}", m.display()))
            .unwrap_or_default()
    );
    for (title, pick) in [
        (
            "Added",
            (|s| matches!(s, Step::Add(_))) as fn(&Step<'_>) -> bool,
        ),
        ("Changed", |s| matches!(s, Step::Update { .. })),
        ("Removed", |s| matches!(s, Step::Remove(_))),
    ] {
        let picked: Vec<&Step<'_>> = steps.iter().filter(|s| pick(s)).collect();
        if picked.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}:");
        for step in picked {
            let (object, fields) = match step {
                Step::Add(o) => (*o, String::new()),
                Step::Remove(o) => (*o, String::new()),
                Step::Update { source, target } => {
                    let from = crate::model::diff::Entry::of(&target.resource).document;
                    let to = crate::model::diff::Entry::of(&source.resource).document;
                    let paths: Vec<String> = field_changes(&from, &to)
                        .into_iter()
                        .map(|f| f.path)
                        .collect();
                    (*target, format!(": {}", paths.join(", ")))
                }
            };
            // An added object goes to the same relative path in the target.
            let relative = match step {
                Step::Add(o) => source.relative(&o.source.file),
                _ => target.relative(&object.source.file),
            }
            .display()
            .to_string();
            let _ = writeln!(
                out,
                "- {} {} ({relative}){fields}",
                object.resource.kind.name(),
                object.resource.fqn
            );
        }
    }
    out
}

/// Notes for new files a `kustomization.yaml` beside or above them does not list.
fn kustomize_notes(target_root: &Path, writes: &Writes) -> Vec<String> {
    let mut notes = Vec::new();
    for (file, text) in writes {
        if text.is_none() || file.exists() {
            continue;
        }
        let mut dir = file.parent();
        while let Some(current) = dir {
            let kustomization = ["kustomization.yaml", "kustomization.yml"]
                .iter()
                .map(|n| current.join(n))
                .find(|p| p.is_file());
            if let Some(kustomization) = kustomization {
                let listed = file
                    .strip_prefix(current)
                    .ok()
                    .map(|r| r.to_string_lossy().into_owned())
                    .zip(std::fs::read_to_string(&kustomization).ok())
                    .is_some_and(|(relative, text)| text.contains(&relative));
                if !listed {
                    notes.push(format!(
                        "note: {} is new; add it to the resources of {}",
                        file.display(),
                        kustomization.display()
                    ));
                }
                break;
            }
            if current == target_root {
                break;
            }
            dir = current.parent();
        }
    }
    notes
}

fn write_all(writes: &Writes) -> anyhow::Result<()> {
    for (path, text) in writes {
        match text {
            Some(text) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
            }
            None => std::fs::remove_file(path)
                .with_context(|| format!("removing {}", path.display()))?,
        }
    }
    Ok(())
}

/// What a run ended with.
enum Outcome {
    /// Written (or nothing to do, or a dry run).
    Done,
    /// The result does not validate; nothing was written.
    Invalid,
}

fn execute(args: PromoteArgs) -> anyhow::Result<Outcome> {
    let PromoteArgs {
        from,
        to,
        only,
        mapping,
        prune,
        dry_run,
    } = args;
    let rewrite = rewrite(&mapping, &Side::Tree(from.clone()), &Side::Tree(to.clone()))?;
    let load = |path: &Path, rewrite: &Rewrite| {
        load_tree(path, rewrite).map_err(|errors| {
            anyhow!(
                "{} cannot be read:\n  {}",
                path.display(),
                errors.join("\n  ")
            )
        })
    };
    let source = load(&from, &rewrite)?;
    let target = load(&to, &Rewrite::default())?;
    let steps = plan::plan(&source, &target, only.as_ref(), prune);
    if steps.is_empty() {
        println!(
            "nothing to promote: {} already matches {}",
            to.display(),
            from.display()
        );
        return Ok(Outcome::Done);
    }
    let writes = writes(&steps, &source, &to, &rewrite)?;
    if let Some(report) = validate_result(&to, &writes)? {
        eprint!("{report}");
        eprintln!(
            "error: the promoted {} would not validate; nothing was written",
            to.display()
        );
        return Ok(Outcome::Invalid);
    }
    for note in kustomize_notes(&to, &writes) {
        eprintln!("{note}");
    }
    if dry_run {
        eprintln!("dry run: nothing written");
    } else {
        write_all(&writes)?;
    }
    print!(
        "{}",
        summary(
            &steps,
            &from,
            &to,
            (&source, &target),
            mapping.mapping.as_deref()
        )
    );
    Ok(Outcome::Done)
}

/// Runs `promote`: exit 0 when written (or nothing to do), 1 when the result would not
/// validate (nothing written), 2 when a tree or the mapping cannot be read.
pub fn run(args: PromoteArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(match execute(args) {
        Ok(Outcome::Done) => EXIT_OK,
        Ok(Outcome::Invalid) => EXIT_ERRORS,
        Err(err) => {
            eprintln!("error: {err:#}");
            EXIT_INPUT
        }
    }))
}
