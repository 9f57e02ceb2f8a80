//! One side of a comparison read from disk: a config tree (directory or file of YAML), loaded
//! with `validate`'s loader and converted with the model's conversion, each object keyed by
//! its FQN and kept with its source (which `promote` edits).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::validate::input::{Source, load};
use crate::model::diff::mapping::Rewrite;
use crate::model::fqn::Fqn;
use crate::model::metadata::StripRules;
use crate::model::object::{Converted, KubeObject, Resource, convert};

/// One configuration object of a tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeObject {
    /// The model resource (after the rewrite).
    pub resource: Resource,
    /// Where it is.
    pub source: Source,
    /// The object as written (after the rewrite).
    pub value: Value,
}

/// A config tree's configuration objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tree {
    /// The path given.
    pub root: PathBuf,
    /// Configuration objects by FQN.
    pub objects: BTreeMap<Fqn, TreeObject>,
    /// Documents that are not configuration (Namespaces, Kustomizations, install objects).
    pub skipped: usize,
}

impl Tree {
    /// The resources, in FQN order.
    pub fn resources(&self) -> Vec<Resource> {
        self.objects.values().map(|o| o.resource.clone()).collect()
    }

    /// `file` relative to the root (the file itself when the root is a file).
    pub fn relative(&self, file: &str) -> PathBuf {
        let path = Path::new(file);
        match path.strip_prefix(&self.root) {
            Ok(rest) if !rest.as_os_str().is_empty() => rest.to_path_buf(),
            _ => path
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| path.to_path_buf()),
        }
    }
}

/// Reads `root`, rewrites every object with `rewrite` and converts it. Errors (one line each):
/// unreadable input, an object that does not convert (an L1 error: `tsbridge validate` says
/// more), two objects with one FQN.
pub fn load_tree(root: &Path, rewrite: &Rewrite) -> Result<Tree, Vec<String>> {
    let loaded = load(&[root.to_path_buf()])
        .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let strip = StripRules::default();
    let mut tree = Tree {
        root: root.to_path_buf(),
        ..Tree::default()
    };
    let mut errors = Vec::new();
    for input in loaded.objects {
        let at = format!("{}:{}", input.source.file, input.source.document);
        let mut value = input.value;
        rewrite.object(&mut value);
        let Ok(object) = serde_json::from_value::<KubeObject>(value.clone()) else {
            if is_configuration_kind(&value) {
                errors.push(format!(
                    "{at}: the object's metadata does not decode; run `tsbridge validate`"
                ));
            } else {
                tree.skipped += 1;
            }
            continue;
        };
        match convert(&object, &strip) {
            Converted::Ignored(_) => tree.skipped += 1,
            Converted::Invalid(diagnostics) => {
                for d in diagnostics.iter().filter(|d| d.is_error()) {
                    errors.push(format!("{at}: {d}"));
                }
            }
            Converted::Resource { resource, .. } => {
                let fqn = resource.fqn.clone();
                if let Some(first) = tree.objects.get(&fqn) {
                    errors.push(format!(
                        "{at}: {fqn} is also defined at {}:{}; an FQN names one object",
                        first.source.file, first.source.document
                    ));
                    continue;
                }
                tree.objects.insert(
                    fqn,
                    TreeObject {
                        resource: *resource,
                        source: input.source,
                        value,
                    },
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(tree)
    } else {
        Err(errors)
    }
}

/// True for documents that look like configuration (an `apiVersion` and `kind` the model
/// would convert); the rest is skipped quietly.
fn is_configuration_kind(value: &Value) -> bool {
    let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default();
    let object = KubeObject {
        api_version: text("apiVersion").to_string(),
        kind: text("kind").to_string(),
        ..KubeObject::default()
    };
    matches!(
        crate::model::object::classify(&object),
        crate::model::object::Classification::Config(_)
    )
}

/// Keeps the objects at or below `only` (all when `None`).
pub fn within(fqn: &Fqn, only: Option<&Fqn>) -> bool {
    only.is_none_or(|only| only.covers(fqn))
}
