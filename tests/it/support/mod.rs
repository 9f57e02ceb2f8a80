//! Shared test support: real control planes, PostgreSQL, child processes and bounded waits.

#![allow(dead_code)] // each helper is used by some test modules, not all

pub mod admission;
pub mod argocd;
pub mod cluster;
pub mod fanout;
pub mod flux;
pub mod git;
pub mod health;
pub mod kstatus;
pub mod mp;
pub mod pki;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod sim_agent;
pub mod wait;

use std::path::{Path, PathBuf};

/// The Kubernetes version `tests/realk8s.sh` builds by default.
pub const PINNED_K8S_VERSION: &str = "1.37.2";

/// The repository root (where `Cargo.toml` is).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool `tests/setup.sh` builds: `$env` if set, else `<XDG cache>/tsbridge/<sub>`.
pub fn cached_tool_dir(env: &str, sub: &str) -> PathBuf {
    std::env::var_os(env).map_or_else(
        || {
            let cache = std::env::var_os("XDG_CACHE_HOME").map_or_else(
                || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"),
                PathBuf::from,
            );
            cache.join("tsbridge").join(sub)
        },
        PathBuf::from,
    )
}

/// A path inside the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

/// Fails the test unless `url` points at the loopback interface: tests never dial anything else.
pub fn assert_loopback(url: &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    assert!(
        loopback,
        "{url} is not a loopback address; tests only dial 127.0.0.1"
    );
}

/// A short random suffix for names that must not collide between test runs.
pub fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[test]
fn loopback_guard_rejects_other_hosts() {
    assert_loopback("https://127.0.0.1:6443/api");
    assert_loopback("http://localhost:8080");
    assert_loopback("https://[::1]:9443/validate");
    assert!(std::panic::catch_unwind(|| assert_loopback("https://10.0.0.1:443")).is_err());
    assert!(
        std::panic::catch_unwind(|| assert_loopback("https://kubernetes.default.svc")).is_err()
    );
}

/// Copies the directory tree `from` into `to` (created), files and directories only.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for entry in std::fs::read_dir(from).expect("read the directory to copy") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// Runs `tsbridge ARGS` in `dir` with no `TSBRIDGE_*` variable of the test's environment.
pub fn tsbridge_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tsbridge"));
    command.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("TSBRIDGE_") {
            command.env_remove(key);
        }
    }
    command.output().expect("tsbridge runs")
}
