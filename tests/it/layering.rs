//! The dependency rule of `docs/design.md`: each module names what it must never use, and this
//! test fails with file:line when a source file does.

use std::path::Path;

/// (module dir under `src/`, forbidden path prefixes, files exempt from the rule).
const RULES: &[(&str, &[&str], &[&str])] = &[
    (
        "model",
        &[
            "kube::",
            "k8s_openapi::",
            "tonic::",
            "prost::",
            "sqlx::",
            "tokio::",
            // schemars (derive only) is allowed: the CRD schemas come from the model's types.
            "crate::k8s",
            "crate::proto",
            "crate::store",
            "crate::server",
            "crate::agent",
            "crate::cli",
            "crate::runtime",
        ],
        &[],
    ),
    (
        "proto",
        &[
            "kube::",
            "k8s_openapi::",
            "sqlx::",
            "crate::k8s",
            "crate::store",
            "crate::server",
            "crate::agent",
            "crate::cli",
            "crate::runtime",
        ],
        &[],
    ),
    (
        "k8s",
        &[
            "tonic::transport",
            "sqlx::",
            "crate::store",
            "crate::server",
            "crate::agent",
            "crate::cli",
        ],
        &[],
    ),
    (
        "store",
        &[
            "kube::",
            "k8s_openapi::",
            "tonic::transport",
            "crate::k8s",
            "crate::server",
            "crate::agent",
            "crate::cli",
            "crate::runtime",
        ],
        &[],
    ),
    (
        "runtime",
        &[
            "kube::",
            "sqlx::",
            "crate::model",
            "crate::store",
            "crate::server",
            "crate::agent",
            "crate::k8s",
            "crate::proto",
            "crate::cli",
        ],
        &["lease.rs"],
    ),
    (
        "server",
        &[
            "kube::",
            "k8s_openapi::",
            "crate::k8s",
            "crate::agent",
            "crate::runtime::lease",
            "crate::cli",
        ],
        &[],
    ),
    (
        "agent",
        &["sqlx::", "crate::store", "crate::server", "crate::cli"],
        &[],
    ),
    ("cli/ctl", &["sqlx::", "crate::store"], &[]),
    ("cli/validate", &["sqlx::", "crate::store"], &[]),
    ("cli/crds", &["sqlx::", "crate::store"], &[]),
    ("cli/diff", &["sqlx::", "crate::store"], &[]),
    ("cli/promote", &["sqlx::", "crate::store", "tonic::"], &[]),
    (
        "fuzzing",
        &["sqlx::", "tokio::", "crate::store", "crate::runtime"],
        &[],
    ),
];

/// Lines of `source` that use a forbidden prefix, as `(line number, prefix)`.
fn violations(source: &str, forbidden: &[&str]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for prefix in forbidden {
            let hit = code.match_indices(prefix).any(|(at, _)| {
                // A whole path segment: not the tail of another identifier or path.
                let before = code[..at].chars().next_back();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if hit {
                found.push((index + 1, (*prefix).to_string()));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_respect_the_dependency_rule() {
    let src = crate::support::repo_path("src");
    let mut problems = Vec::new();
    for (module, forbidden, exempt) in RULES {
        let mut files = Vec::new();
        rust_files(&src.join(module), &mut files);
        // A single-file module (`cli/crds.rs`) counts as the module too.
        let single = src.join(format!("{module}.rs"));
        if single.is_file() {
            files.push(single);
        }
        for file in files {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if exempt.contains(&name) {
                continue;
            }
            let source = std::fs::read_to_string(&file).expect("source file reads");
            for (line, prefix) in violations(&source, forbidden) {
                problems.push(format!(
                    "{}:{line}: `{module}` must not use `{prefix}`",
                    file.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "dependency rule broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_finds_forbidden_paths() {
    let source = "use kube::Api;\n// kube::Client in a comment\nlet x = crate::k8s::convert();\nuse my_kube::Thing;\n";
    let found = violations(source, &["kube::", "crate::k8s"]);
    assert_eq!(
        found,
        vec![(1, "kube::".to_string()), (3, "crate::k8s".to_string())]
    );
}
