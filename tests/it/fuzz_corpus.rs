//! Replays the committed fuzz corpus (`tests/fuzz/corpus/<target>/*`) through the same entry
//! points the AFL++ targets call (`tsbridge::fuzzing`), so every input the fuzzers kept,
//! crashes they found among them, is a regression test. The long campaigns stay out of CI
//! (`tests/fuzz/run.sh`, docs/fuzzing.md).

use std::path::PathBuf;

use tsbridge::fuzzing::{TARGETS, wire_seeds};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = crate::support::repo_path("tests/fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry reads").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_target_replays_its_committed_corpus() {
    let mut failures = Vec::new();
    for (target, entry) in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "{target} has no committed corpus");
        for file in files {
            let data = std::fs::read(&file).expect("a corpus file reads");
            if std::panic::catch_unwind(|| entry(&data)).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz inputs that fail:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_wire_corpus_holds_a_seed_for_every_message_type() {
    let dir = crate::support::repo_path("tests/fuzz/corpus/wire");
    // TSBRIDGE_FUZZ_WRITE_SEEDS=1 (re)writes them after a proto change.
    let write = std::env::var_os("TSBRIDGE_FUZZ_WRITE_SEEDS").is_some();
    let mut missing = Vec::new();
    for (name, bytes) in wire_seeds() {
        let path = dir.join(&name);
        if write {
            std::fs::write(&path, &bytes).expect("a seed writes");
        } else if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "seeds missing or stale in tests/fuzz/corpus/wire (rerun with TSBRIDGE_FUZZ_WRITE_SEEDS=1): {missing:?}"
    );
}

/// `tests/fuzz/run.sh` builds with `--locked`: the fuzz crate's lock file must follow every
/// dependency the main crate adds, or a campaign stops before it starts.
#[test]
fn the_fuzz_crate_lock_file_is_up_to_date() {
    let manifest = crate::support::repo_path("tests/fuzz/Cargo.toml");
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "tests/fuzz/Cargo.lock is stale: run `cargo update --workspace --offline` in tests/fuzz\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
