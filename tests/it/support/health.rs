//! The golden health states S0–S8 of gitops-contract.md R-A3 (`tests/fixtures/health`), one CR
//! per state, spread over the API groups. Each fixture names its state and what every reader
//! must make of it, in annotations:
//! `health.tsbridge.io/state`, `kstatus.tsbridge.io/expected` (V-KS, also read by the kstatus
//! tests), `argocd.tsbridge.io/expected-health` and `argocd.tsbridge.io/expected-message` (V-LUA).

use std::path::PathBuf;

use serde_json::Value;

use super::repo_path;

pub const STATE: &str = "health.tsbridge.io/state";
pub const EXPECTED_KSTATUS: &str = "kstatus.tsbridge.io/expected";
pub const EXPECTED_ARGOCD: &str = "argocd.tsbridge.io/expected-health";
pub const EXPECTED_ARGOCD_MESSAGE: &str = "argocd.tsbridge.io/expected-message";

/// R-A3's golden table: state → (V-KS, V-LUA).
pub const GOLDEN: [(&str, &str, &str); 9] = [
    ("S0", "InProgress", "Progressing"),
    ("S1", "InProgress", "Progressing"),
    ("S2", "InProgress", "Progressing"),
    ("S3", "InProgress", "Progressing"),
    ("S4", "InProgress", "Progressing"),
    ("S5", "InProgress", "Progressing"),
    ("S6", "Current", "Healthy"),
    ("S7", "Current", "Healthy"),
    ("S8", "Failed", "Degraded"),
];

/// One state fixture.
pub struct StateFixture {
    pub path: PathBuf,
    pub state: String,
    pub object: Value,
}

impl StateFixture {
    /// An annotation the fixture must carry.
    pub fn annotation(&self, key: &str) -> &str {
        self.object["metadata"]["annotations"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{}: annotation {key} is missing", self.path.display()))
    }

    /// The golden row of this fixture's state.
    pub fn golden(&self) -> (&'static str, &'static str) {
        let (_, kstatus, argocd) = GOLDEN
            .iter()
            .find(|(state, _, _)| *state == self.state)
            .unwrap_or_else(|| panic!("{}: unknown state {}", self.path.display(), self.state));
        (kstatus, argocd)
    }
}

/// Every fixture in `tests/fixtures/health`, sorted by file name (so by state); exactly one per
/// state S0–S8.
pub fn state_fixtures() -> Vec<StateFixture> {
    let dir = repo_path("tests/fixtures/health");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let fixtures: Vec<StateFixture> = files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("fixture reads");
            let object: Value =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let state = object["metadata"]["annotations"][STATE]
                .as_str()
                .unwrap_or_else(|| panic!("{}: annotation {STATE} is missing", path.display()))
                .to_string();
            StateFixture {
                path,
                state,
                object,
            }
        })
        .collect();
    let states: Vec<&str> = fixtures.iter().map(|f| f.state.as_str()).collect();
    let golden: Vec<&str> = GOLDEN.iter().map(|(state, _, _)| *state).collect();
    assert_eq!(states, golden, "one fixture per state, in order");
    fixtures
}

/// `object` as a CR of another kind (`apiVersion`, `kind`), everything else unchanged.
pub fn as_kind(object: &Value, api_version: &str, kind: &str) -> Value {
    let mut copy = object.clone();
    copy["apiVersion"] = Value::from(api_version);
    copy["kind"] = Value::from(kind);
    copy
}
