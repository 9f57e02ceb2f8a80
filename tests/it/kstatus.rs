//! V-KS (gitops-contract.md §2.0): the Rust oracle `model::status::kstatus` agrees with
//! cli-utils' `status.Compute` (the Go program in `tests/kstatus`) and with the verdict each
//! fixture in `tests/fixtures/kstatus` and in the golden health states `tests/fixtures/health`
//! expects (annotation `kstatus.tsbridge.io/expected`).

use std::path::PathBuf;

use serde_json::Value;
use tsbridge::model::status::kstatus::kstatus;

use crate::support::kstatus::{binary, kstatus_of, kstatus_of_files};
use crate::support::repo_path;

const EXPECTED: &str = "kstatus.tsbridge.io/expected";

/// Every fixture file (sorted) and its documents.
fn fixtures() -> Vec<(PathBuf, Vec<Value>)> {
    let mut files: Vec<PathBuf> = ["tests/fixtures/kstatus", "tests/fixtures/health"]
        .into_iter()
        .flat_map(|dir| std::fs::read_dir(repo_path(dir)).expect("fixture dir"))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("fixture reads");
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("fixture parses");
            (path, docs.into_iter().filter(Value::is_object).collect())
        })
        .collect()
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("?")
}

#[test]
fn the_rust_oracle_gives_every_expected_verdict() {
    let fixtures = fixtures();
    let mut seen = std::collections::BTreeSet::new();
    for (path, docs) in &fixtures {
        for object in docs {
            let expected = object["metadata"]["annotations"][EXPECTED]
                .as_str()
                .unwrap_or_else(|| panic!("{}: {} lacks {EXPECTED}", path.display(), name(object)));
            let actual = kstatus(object).to_string();
            assert_eq!(actual, expected, "{}: {}", path.display(), name(object));
            seen.insert(actual);
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["Current", "Failed", "InProgress", "Terminating"],
        "the fixtures cover every state"
    );
}

#[test]
fn the_rust_oracle_agrees_with_cli_utils() {
    if binary().is_none() {
        eprintln!("skipped: no kstatus binary (tests/setup.sh builds it; test.sh always does)");
        return;
    }
    let fixtures = fixtures();
    let files: Vec<PathBuf> = fixtures.iter().map(|(path, _)| path.clone()).collect();
    let go = kstatus_of_files(&files);
    let objects: Vec<(&PathBuf, &Value)> = fixtures
        .iter()
        .flat_map(|(path, docs)| docs.iter().map(move |doc| (path, doc)))
        .collect();
    assert_eq!(go.len(), objects.len(), "one line per document: {go:?}");
    for ((path, object), go) in objects.into_iter().zip(go) {
        assert_eq!(
            kstatus(object).as_str(),
            go,
            "{}: {} (Rust vs Go)",
            path.display(),
            name(object)
        );
    }
    // One object as JSON on stdin, the way agent tests check a live CR.
    let (_, docs) = &fixtures[0];
    assert_eq!(kstatus_of(&docs[0]), kstatus(&docs[0]).as_str());
}
