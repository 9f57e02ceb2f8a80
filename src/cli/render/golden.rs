//! Golden translations (issue 15, item 6): every directory under `tests/fixtures/golden/` is one
//! case, rendered on `render`'s own path ([`render_paths`]) and compared with what it expects.
//!
//! A case holds `input.yaml` (the TSB objects under test; the shared hierarchy in
//! `golden/hierarchy.yaml` is loaded with it), `expected.yaml` (exactly what `tsbridge render`
//! prints), `diagnostics.txt` (what it prints on stderr: errors and warnings, empty when none)
//! and optionally its own `inventory.yaml` (else `golden/inventory.yaml`). A case's first
//! comment says which reference page or example it follows. `TSBRIDGE_UPDATE_GOLDENS=1 cargo
//! test --lib golden` rewrites the expectations; review the diff like code. `tests/it/istio.rs`
//! runs `istioctl validate` over every `expected.yaml`.

use std::path::{Path, PathBuf};

use super::*;

const ROOT: &str = "tests/fixtures/golden";

/// The inventory file of a case: its own, else the shared one.
fn inventory(case: &Path) -> Vec<ClusterNamespaces> {
    let own = case.join("inventory.yaml");
    let path = if own.exists() {
        own
    } else {
        Path::new(ROOT).join("inventory.yaml")
    };
    let text = std::fs::read_to_string(&path).expect("inventory");
    parse_inventory(&text).expect("inventory parses")
}

/// Every case directory, in name order.
pub(crate) fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(ROOT)
        .expect("tests/fixtures/golden")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

/// What `render` gives for a case: (stdout, stderr).
fn render_case(case: &Path) -> (String, String) {
    let paths = [
        Path::new(ROOT).join("hierarchy.yaml"),
        case.join("input.yaml"),
    ];
    let rendering = render_paths(&paths, &inventory(case), None)
        .unwrap_or_else(|code| panic!("{}: unreadable input ({code:?})", case.display()));
    let mut stderr = rendering.diagnostics;
    let stdout = match rendering.output {
        Some(output) => {
            for error in &output.errors {
                stderr.push_str(&format!("error: {error}\n"));
            }
            for warning in &output.warnings {
                stderr.push_str(&format!("warning: {warning}\n"));
            }
            format(&output, RenderFormat::Yaml).expect("yaml")
        }
        None => String::new(),
    };
    (stdout, stderr)
}

#[test]
fn every_golden_case_renders_as_expected() {
    let update = std::env::var_os("TSBRIDGE_UPDATE_GOLDENS").is_some();
    let cases = cases();
    assert!(!cases.is_empty(), "no cases under {ROOT}");
    let mut differ = Vec::new();
    for case in &cases {
        let (stdout, stderr) = render_case(case);
        for (file, actual) in [("expected.yaml", &stdout), ("diagnostics.txt", &stderr)] {
            let path = case.join(file);
            if update {
                std::fs::write(&path, actual).expect("write golden");
                continue;
            }
            let expected = std::fs::read_to_string(&path).unwrap_or_default();
            if &expected != actual {
                differ.push(format!(
                    "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
                    path.display()
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} golden file(s) differ (TSBRIDGE_UPDATE_GOLDENS=1 rewrites them; review the diff):\n{}",
        differ.len(),
        differ.join("\n")
    );
}

#[test]
fn every_golden_case_has_an_input_that_names_its_source() {
    for case in cases() {
        let input = std::fs::read_to_string(case.join("input.yaml"))
            .unwrap_or_else(|e| panic!("{}: input.yaml: {e}", case.display()));
        assert!(
            input.starts_with('#'),
            "{}: input.yaml should open with a comment naming the reference page or example it \
             follows",
            case.display()
        );
    }
}
