//! The `tsbridge` binary's own surface: help, version, exit codes.

use std::process::Command;

fn tsbridge(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tsbridge"))
        .args(args)
        .output()
        .expect("tsbridge runs")
}

#[test]
fn version_prints_the_package_version() {
    let out = tsbridge(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("tsbridge {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_describes_the_tool() {
    let out = tsbridge(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: tsbridge"), "{help}");
    assert!(help.contains("--version"), "{help}");
}

#[test]
fn unknown_flags_are_usage_errors() {
    let out = tsbridge(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}
