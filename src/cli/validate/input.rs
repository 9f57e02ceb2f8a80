//! Reading `validate`'s input: paths → YAML files → documents → objects, each with its source.
//!
//! Directories are walked recursively for `*.yaml` / `*.yml` (hidden entries skipped, names
//! sorted byte-wise, so the output is deterministic). A file is split into its documents by
//! hand, so every object keeps its document index and line even where a document is empty,
//! and each document is parsed with serde-saphyr into a `serde_json::Value`. `kind: List`
//! documents are expanded into their items.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

/// Where one object came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    /// The file as given on the command line (joined with the walked names for directories);
    /// `<stdin>` for `-`.
    pub file: Arc<str>,
    /// Index of the YAML document in the file, from 0 (as yq's `document_index`). Empty
    /// documents between `---` markers count.
    pub document: usize,
    /// Index in `items` when the document is a `kind: List`.
    pub item: Option<usize>,
    /// 1-based line where the object starts, when known.
    pub line: Option<u32>,
}

/// One parsed object (or non-object document) and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct InputObject {
    /// Where it came from.
    pub source: Source,
    /// The document (or List item) as JSON.
    pub value: Value,
}

/// Everything read from the paths.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// Objects in input order.
    pub objects: Vec<InputObject>,
    /// Files read.
    pub files: usize,
    /// Non-empty documents read.
    pub documents: usize,
}

/// Why the input could not be read (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A path does not exist or cannot be read.
    #[error("{path}: {message}")]
    Io {
        /// The path as given.
        path: String,
        /// The OS error.
        message: String,
    },
    /// A directory holds no YAML file (most likely a wrong path in CI).
    #[error("{path}: no *.yaml or *.yml files found")]
    NoYaml {
        /// The directory as given.
        path: String,
    },
    /// A document is not valid YAML.
    #[error("{file}: YAML parse error in document {document}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The document index.
        document: usize,
        /// The parser's message, with line numbers of the whole file.
        message: String,
    },
}

/// What `-` stands for.
pub const STDIN_LABEL: &str = "<stdin>";

// === Documents ===

/// One YAML document of a file, before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawDocument<'a> {
    /// Index in the file, from 0.
    pub index: usize,
    /// 1-based line of the first line of `text` in the file.
    pub first_line: u32,
    /// 1-based line of the first content line, if the document has content.
    pub content_line: Option<u32>,
    /// The document's text, markers included.
    pub text: &'a str,
}

/// A line that starts a document (`---`, alone or followed by whitespace).
fn is_start_marker(line: &str) -> bool {
    marker(line, "---")
}

/// A line that ends a document (`...`).
fn is_end_marker(line: &str) -> bool {
    marker(line, "...")
}

fn marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// True for lines that hold YAML content: not blank, not a comment, not a directive, not a
/// marker alone. `--- value` is content.
fn content_on(line: &str) -> bool {
    let body = if is_start_marker(line) {
        &line[3..]
    } else if is_end_marker(line) || line.starts_with('%') {
        return false;
    } else {
        line
    };
    let trimmed = body.trim_start_matches([' ', '\t']);
    !(trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(['\r', '\n']))
}

/// Splits a YAML stream into documents at `---` and `...` lines (column 0), which YAML forbids
/// inside scalars, so this agrees with the parser. A `---` always starts a document, even an
/// empty one; text before the first `---` (or after a `...`) is a document only if it holds
/// content, so a leading comment block is not one.
pub fn split_documents(text: &str) -> Vec<RawDocument<'_>> {
    /// The document being read.
    struct Open {
        start: usize,
        first_line: u32,
        content_line: Option<u32>,
        /// Opened by a `---`: a document even when empty.
        explicit: bool,
    }
    fn close<'a>(open: &Open, end: usize, text: &'a str, out: &mut Vec<RawDocument<'a>>) {
        if open.explicit || open.content_line.is_some() {
            out.push(RawDocument {
                index: out.len(),
                first_line: open.first_line,
                content_line: open.content_line,
                text: &text[open.start..end],
            });
        }
    }

    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut documents = Vec::new();
    let mut open = Open {
        start: 0,
        first_line: 1,
        content_line: None,
        explicit: false,
    };
    let mut offset = 0usize;
    for (number, line) in (1u32..).zip(text.split_inclusive('\n')) {
        if is_start_marker(line) {
            close(&open, offset, text, &mut documents);
            open = Open {
                start: offset,
                first_line: number,
                content_line: None,
                explicit: true,
            };
        }
        if open.content_line.is_none() && content_on(line) {
            open.content_line = Some(number);
        }
        offset += line.len();
        if is_end_marker(line) {
            close(&open, offset, text, &mut documents);
            open = Open {
                start: offset,
                first_line: number + 1,
                content_line: None,
                explicit: false,
            };
        }
    }
    close(&open, offset, text, &mut documents);
    documents
}

/// Parses one file's text into its objects. `kind: List` documents become one object per item.
pub fn parse_str(file: &str, text: &str) -> Result<(Vec<InputObject>, usize), InputError> {
    let file: Arc<str> = Arc::from(file);
    let mut objects = Vec::new();
    let mut documents = 0;
    for raw in split_documents(text) {
        let Some(content_line) = raw.content_line else {
            continue;
        };
        // Comments are never needed; not capturing them makes parsing cheaper.
        let options = serde_saphyr::options! { emit_comments: false };
        let value: Value = serde_saphyr::from_str_with_options(raw.text, options)
            .map_err(|err| parse_error(&file, &raw, &err))?;
        if value.is_null() {
            continue;
        }
        documents += 1;
        let source = Source {
            file: file.clone(),
            document: raw.index,
            item: None,
            line: Some(content_line),
        };
        if is_list(&value) {
            let lines = item_lines(&raw);
            let Value::Object(mut list) = value else {
                unreachable!("is_list checked that the document is a mapping");
            };
            let Some(Value::Array(items)) = list.remove("items") else {
                continue; // `items: null` or missing: an empty list.
            };
            for (i, item) in items.into_iter().enumerate() {
                objects.push(InputObject {
                    source: Source {
                        item: Some(i),
                        line: lines.get(i).copied().or(Some(content_line)),
                        ..source.clone()
                    },
                    value: item,
                });
            }
        } else {
            objects.push(InputObject { source, value });
        }
    }
    Ok((objects, documents))
}

/// `kind: List` with `items` a sequence (or null/missing): kubectl's generic list.
pub fn is_list(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("List")
        && matches!(
            value.get("items"),
            None | Some(Value::Array(_) | Value::Null)
        )
}

/// The 1-based file line of each List item. Parses the document a second time with spans,
/// which only List documents pay for.
fn item_lines(raw: &RawDocument<'_>) -> Vec<u32> {
    #[derive(serde::Deserialize)]
    struct Items {
        #[serde(default)]
        items: Option<Vec<serde_saphyr::Spanned<serde::de::IgnoredAny>>>,
    }
    let Ok(parsed) = serde_saphyr::from_str::<Items>(raw.text) else {
        return Vec::new();
    };
    parsed
        .items
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let line = u32::try_from(item.referenced.line()).unwrap_or(u32::MAX);
            raw.first_line.saturating_add(line.saturating_sub(1))
        })
        .collect()
}

fn parse_error(file: &str, raw: &RawDocument<'_>, err: &serde_saphyr::Error) -> InputError {
    let options = serde_saphyr::render_options! {
        line_offset: u64::from(raw.first_line.saturating_sub(1)),
        source_name: Some(file),
    };
    let message = err.render_with_options(options);
    InputError::Parse {
        file: file.to_string(),
        document: raw.index,
        message: message
            .strip_prefix("error: ")
            .map(str::to_string)
            .unwrap_or(message),
    }
}

// === Paths ===

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "yaml" || e == "yml")
}

fn io_error(path: &Path, err: &std::io::Error) -> InputError {
    InputError::Io {
        path: path.display().to_string(),
        message: err.to_string(),
    }
}

/// The YAML files under `dir`, sorted by name at every level. Hidden entries (`.git`,
/// `.github`) and symlinked directories are skipped; symlinked files are read.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let mut entries = std::fs::read_dir(dir)
        .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
        .map_err(|err| io_error(dir, &err))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type().map_err(|err| io_error(&path, &err))?;
        if file_type.is_dir() {
            walk(&path, out)?;
        } else if is_yaml(&path) && (file_type.is_file() || path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

/// One input to read: a file or standard input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum InputFile {
    /// `-`.
    Stdin,
    /// A file path.
    Path(PathBuf),
}

impl fmt::Display for InputFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputFile::Stdin => f.write_str(STDIN_LABEL),
            InputFile::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Expands the command-line paths into files: files as given (any extension), directories
/// walked. The same file reached twice is read once. Returns the files found and every problem.
pub fn expand_paths(paths: &[PathBuf]) -> (Vec<InputFile>, Vec<InputError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            files.push(InputFile::Stdin);
            continue;
        }
        match std::fs::metadata(path) {
            Err(err) => errors.push(io_error(path, &err)),
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                match walk(path, &mut found) {
                    Err(err) => errors.push(err),
                    Ok(()) if found.is_empty() => errors.push(InputError::NoYaml {
                        path: path.display().to_string(),
                    }),
                    Ok(()) => files.extend(found.into_iter().map(InputFile::Path)),
                }
            }
            Ok(_) => files.push(InputFile::Path(path.clone())),
        }
    }
    let mut seen = BTreeSet::new();
    files.retain(|file| match file {
        InputFile::Stdin => seen.insert(None),
        InputFile::Path(path) => seen.insert(Some(
            std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
        )),
    });
    (files, errors)
}

/// Reads and parses every path. Returns every I/O and parse error, not just the first.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, Vec<InputError>> {
    let (files, mut errors) = expand_paths(paths);
    let mut loaded = Loaded::default();
    for file in files {
        let label = file.to_string();
        let text = match &file {
            InputFile::Stdin => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map(|_| text)
                    .map_err(|err| io_error(Path::new(STDIN_LABEL), &err))
            }
            InputFile::Path(path) => {
                std::fs::read_to_string(path).map_err(|err| io_error(path, &err))
            }
        };
        let parsed = text.and_then(|text| parse_str(&label, &text));
        match parsed {
            Ok((objects, documents)) => {
                loaded.files += 1;
                loaded.documents += documents;
                loaded.objects.extend(objects);
            }
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors)
    }
}
