//! The Go kstatus reference (`tests/kstatus`, built by `tests/setup.sh`): cli-utils'
//! `status.Compute` on real objects, the check behind gitops-contract.md V-KS.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binary: `TSBRIDGE_KSTATUS` (set by `tests/setup.sh`), else where setup.sh puts it;
/// `None` when neither is set and the default path has no binary.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TSBRIDGE_KSTATUS") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "TSBRIDGE_KSTATUS={} does not exist; run tests/setup.sh (setup_kstatus)",
            path.display()
        );
        return Some(path);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    Some(cache.join("tsbridge/bin/kstatus")).filter(|path| path.is_file())
}

fn required() -> PathBuf {
    binary()
        .expect("the kstatus binary is missing: `source tests/setup.sh && setup_kstatus` builds it")
}

/// kstatus's verdict on one object (`InProgress`, `Failed`, `Current` or `Terminating`).
pub fn kstatus_of(object: &serde_json::Value) -> String {
    let mut child = Command::new(required())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kstatus starts");
    let json = serde_json::to_vec(object).expect("JSON");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&json)
        .expect("kstatus reads stdin");
    let output = child.wait_with_output().expect("kstatus runs");
    let lines = checked(output);
    assert_eq!(lines.len(), 1, "one object, one line: {lines:?}");
    lines.into_iter().next().expect("checked above")
}

/// kstatus's verdicts on every document of `files`, in order.
pub fn kstatus_of_files(files: &[PathBuf]) -> Vec<String> {
    let output = Command::new(required())
        .args(files)
        .output()
        .expect("kstatus runs");
    checked(output)
}

fn checked(output: std::process::Output) -> Vec<String> {
    assert!(
        output.status.success(),
        "kstatus failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("kstatus prints UTF-8")
        .lines()
        .map(str::to_string)
        .collect()
}
