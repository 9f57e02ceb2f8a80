//! V-LUA (gitops-contract.md §2.0, R-A8): the shipped Argo CD health check
//! (`charts/tsbridge/argocd/health.lua` and its `argocd-cm` snippet) on the golden states S0–S8,
//! run the way Argo CD runs it: Lua 5.1 (Argo CD embeds gopher-lua, a 5.1 VM), only the base and
//! table libraries, no string methods, a 1 s limit, `obj` with JSON null as nil, and
//! gitops-engine's "Pending deletion" and `Unknown` rules around the script.
//! [argo-cd `util/lua/lua.go`; gitops-engine `pkg/health/health.go`]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mlua::serde::SerializeOptions;
use mlua::{HookTriggers, Lua, LuaOptions, LuaSerdeExt, StdLib, VmState};
use serde_json::{Value, json};
use tsbridge::k8s::crds;
use tsbridge::model::kind::Kind;
use tsbridge::model::status::kstatus::kstatus;
use tsbridge::model::status::{CrStatus, PushState, TsbStatus, desired_status};

use crate::support::health::{
    EXPECTED_ARGOCD, EXPECTED_ARGOCD_MESSAGE, EXPECTED_KSTATUS, StateFixture, as_kind,
    state_fixtures,
};
use crate::support::repo_path;

const SCRIPT: &str = "charts/tsbridge/argocd/health.lua";
const SNIPPET: &str = "charts/tsbridge/argocd/argocd-cm.yaml";
/// The two `resource.customizations` keys: the bare group and every subgroup, never both.
const KEYS: [&str; 2] = ["tsb.tetrate.io/*", "*.tsb.tetrate.io/*"];

/// gitops-engine's `HealthStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Health {
    status: String,
    message: String,
}

impl Health {
    fn new(status: &str, message: &str) -> Health {
        Health {
            status: status.to_string(),
            message: message.to_string(),
        }
    }
}

/// Argo CD's verdict on `object` with health script `script`.
fn argocd_health(object: &Value, script: &str) -> Health {
    // gitops-engine answers before any script runs.
    if object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return Health::new("Progressing", "Pending deletion");
    }
    // A script error (timeouts included) becomes Unknown with the error as message.
    run_health_lua(object, script).unwrap_or_else(|e| Health::new("Unknown", &e.to_string()))
}

/// `ExecuteHealthLua` of argo-cd's `util/lua/lua.go` for an `argocd-cm` override (no
/// `useOpenLibs`). Argo CD also loads `package` and a cut-down `os`; a tsbridge script uses
/// neither, so they stay out.
fn run_health_lua(object: &Value, script: &str) -> mlua::Result<Health> {
    const VALID: [&str; 6] = [
        "Unknown",
        "Progressing",
        "Suspended",
        "Healthy",
        "Degraded",
        "Missing",
    ];
    // The base library comes with every state.
    let lua = Lua::new_with(StdLib::TABLE, LuaOptions::default())?;
    // gopher-lua without the string library has no string methods: `s:find()` must fail.
    lua.load("local mt = getmetatable('') if mt ~= nil then mt.__index = nil end")
        .exec()?;
    let options = SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false)
        .set_array_metatable(false);
    lua.globals()
        .set("obj", lua.to_value_with(object, options)?)?;
    // Argo CD runs each script under a 1 s context deadline.
    let start = Instant::now();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(1_000),
        move |_, _| {
            if start.elapsed() > Duration::from_secs(1) {
                return Err(mlua::Error::runtime("context deadline exceeded"));
            }
            Ok(VmState::Continue)
        },
    )?;
    let returned: mlua::Value = lua.load(script).set_name("health.lua").eval()?;
    let table = match returned {
        mlua::Value::Table(table) => table,
        mlua::Value::Nil => return Ok(Health::new("", "")),
        other => {
            return Err(mlua::Error::runtime(format!(
                "expect table output from Lua script, not {}",
                other.type_name()
            )));
        }
    };
    // Argo CD JSON-encodes the table into `HealthStatus`: a non-string field is an error.
    let field = |name: &str| -> mlua::Result<String> {
        match table.get::<mlua::Value>(name)? {
            mlua::Value::Nil => Ok(String::new()),
            mlua::Value::String(s) => Ok(s.to_str()?.to_string()),
            other => Err(mlua::Error::runtime(format!(
                "health.{name} is a {}, not a string",
                other.type_name()
            ))),
        }
    };
    let health = Health::new(&field("status")?, &field("message")?);
    if table.pairs::<mlua::Value, mlua::Value>().next().is_none() {
        return Ok(health);
    }
    if !VALID.contains(&health.status.as_str()) {
        return Ok(Health::new(
            "Unknown",
            "Lua returned an invalid health status",
        ));
    }
    Ok(health)
}

fn script() -> String {
    std::fs::read_to_string(repo_path(SCRIPT)).expect("health.lua reads")
}

/// The snippet's `resource.customizations`: key → `health.lua`.
fn snippet_scripts() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo_path(SNIPPET)).expect("snippet reads");
    let config_map: Value = serde_saphyr::from_str(&text).expect("the snippet parses as YAML");
    assert_eq!(config_map["kind"], "ConfigMap");
    assert_eq!(config_map["metadata"]["name"], "argocd-cm");
    let block = config_map["data"]["resource.customizations"]
        .as_str()
        .expect("data.resource.customizations is a string");
    let overrides: BTreeMap<String, BTreeMap<String, String>> =
        serde_saphyr::from_str(block).expect("resource.customizations parses as YAML");
    overrides
        .into_iter()
        .map(|(key, fields)| {
            assert_eq!(
                fields.keys().collect::<Vec<_>>(),
                ["health.lua"],
                "{key}: only a health check"
            );
            (key, fields["health.lua"].clone())
        })
        .collect()
}

/// gobwas/glob without separators, as `util/glob.Match` uses it, for patterns whose only
/// metacharacter is `*` (any run of characters, `.` and `/` included).
fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            text.starts_with(head)
                && (head.len()..=text.len())
                    .any(|at| text.is_char_boundary(at) && glob_match(rest, &text[at..]))
        }
    }
}

/// `GetHealthScript`: an exact `group/Kind` key first, else the wildcard keys that match
/// (Argo CD takes the first in map order, so a correct snippet has at most one).
fn matching_keys<'a>(
    scripts: &'a BTreeMap<String, String>,
    group: &str,
    kind: &str,
) -> Vec<&'a str> {
    let key = format!("{group}/{kind}");
    if scripts.contains_key(&key) {
        return vec![scripts.get_key_value(&key).expect("present").0];
    }
    scripts
        .keys()
        .filter(|pattern| glob_match(pattern, &key))
        .map(String::as_str)
        .collect()
}

fn expected_health(fixture: &StateFixture) -> Health {
    Health::new(
        fixture.annotation(EXPECTED_ARGOCD),
        fixture.annotation(EXPECTED_ARGOCD_MESSAGE),
    )
}

#[test]
fn the_snippet_embeds_health_lua_verbatim_under_two_wildcard_keys() {
    let script = script();
    let scripts = snippet_scripts();
    assert_eq!(scripts.keys().collect::<Vec<_>>(), {
        let mut keys = KEYS.to_vec();
        keys.sort();
        keys
    });
    for (key, embedded) in &scripts {
        assert!(
            embedded.as_bytes() == script.as_bytes(),
            "{key}: the embedded script differs from {SCRIPT}; regenerate {SNIPPET}"
        );
    }
    // The base library only: the script behaves the same with or without useOpenLibs.
    // The code without comments: no library but base, no string methods (`s:find`).
    let code: String = script
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect();
    for library in ["string.", "math.", "os.", "table.", "require", ":"] {
        assert!(!code.contains(library), "health.lua uses {library}");
    }
    assert!(
        script.contains("kstatus-compatible"),
        "R-A8 wants the comment"
    );
}

#[test]
fn state_fixtures_hold_the_status_the_agent_writes() {
    let crds: Vec<Value> = crds::all()
        .expect("CRDs generate")
        .iter()
        .map(|crd| serde_json::to_value(crd).expect("CRD JSON"))
        .collect();
    // The transient and terminal states as the MP's answers (gRPC code) that cause them.
    let codes = [
        ("S2", "ABORTED"),
        ("S3", "UNAVAILABLE"),
        ("S4", "RESOURCE_EXHAUSTED"),
        ("S5", "NOT_FOUND"),
        ("S8", "PERMISSION_DENIED"),
    ];
    for fixture in state_fixtures() {
        let name = fixture.path.display();
        let status = &fixture.object["status"];
        if fixture.state == "S0" {
            let (group, version) = fixture.object["apiVersion"]
                .as_str()
                .and_then(|v| v.split_once('/'))
                .expect("apiVersion group/version");
            let crd = crds
                .iter()
                .find(|crd| {
                    crd["spec"]["group"] == group
                        && crd["spec"]["names"]["kind"] == fixture.object["kind"]
                })
                .unwrap_or_else(|| panic!("{name}: no CRD"));
            let schema = crd["spec"]["versions"]
                .as_array()
                .and_then(|vs| vs.iter().find(|v| v["name"] == version))
                .map(|v| &v["schema"]["openAPIV3Schema"])
                .unwrap_or_else(|| panic!("{name}: CRD lacks {version}"));
            assert_eq!(status, &schema["properties"]["status"]["default"], "{name}");
            continue;
        }
        let observed = status["observedGeneration"]
            .as_i64()
            .expect("observedGeneration");
        let now = status["conditions"][0]["lastTransitionTime"]
            .as_str()
            .expect("lastTransitionTime");
        let state = match codes.iter().find(|(state, _)| *state == fixture.state) {
            Some((_, code)) => {
                let message = status["conditions"][0]["message"]
                    .as_str()
                    .expect("message");
                PushState::from_push_error(code, None, message)
            }
            None => PushState::Accepted(
                serde_json::from_value::<TsbStatus>(status["tsb"].clone())
                    .unwrap_or_else(|e| panic!("{name}: status.tsb: {e}")),
            ),
        };
        let written: CrStatus = desired_status(&state, observed, None, &[], now);
        assert_eq!(
            status,
            &serde_json::to_value(&written).expect("status JSON"),
            "{name}: not what the agent writes for {state:?}"
        );
        if fixture.state == "S1" {
            assert!(fixture.object["metadata"]["generation"].as_i64() > Some(observed));
        } else {
            assert_eq!(
                fixture.object["metadata"]["generation"].as_i64(),
                Some(observed)
            );
        }
    }
}

#[test]
fn health_lua_maps_every_state_to_the_golden_table() {
    let script = script();
    for fixture in state_fixtures() {
        let name = fixture.path.display();
        let (want_kstatus, want_argocd) = fixture.golden();
        assert_eq!(fixture.annotation(EXPECTED_KSTATUS), want_kstatus, "{name}");
        assert_eq!(
            kstatus(&fixture.object).as_str(),
            want_kstatus,
            "{name}: V-KS"
        );
        let health = argocd_health(&fixture.object, &script);
        assert_eq!(health.status, want_argocd, "{name}: V-LUA {health:?}");
        assert_eq!(health, expected_health(&fixture), "{name}: V-LUA");
    }
    // S8 shows the Stalled condition's message.
    let s8 = &state_fixtures()[8].object;
    let stalled = s8["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Stalled"))
        .expect("S8 has Stalled");
    assert_eq!(argocd_health(s8, &script).message, stalled["message"]);
}

#[test]
fn every_api_group_gets_the_golden_health_through_exactly_one_snippet_key() {
    let scripts = snippet_scripts();
    let fixtures = state_fixtures();
    // Every kind of our groups, those without a CRD yet included.
    let kinds: Vec<Kind> = Kind::all()
        .filter(|kind| kind.group().ends_with("tsb.tetrate.io"))
        .collect();
    let groups: std::collections::BTreeSet<&str> = kinds.iter().map(|k| k.group()).collect();
    assert_eq!(groups.len(), 8, "tsb. plus seven subgroups: {groups:?}");
    for kind in kinds {
        let keys = matching_keys(&scripts, kind.group(), kind.name());
        assert_eq!(keys.len(), 1, "{}: keys {keys:?}", kind.qualified_name());
        let script = &scripts[keys[0]];
        for fixture in &fixtures {
            let object = as_kind(&fixture.object, &kind.api_version(), kind.name());
            assert_eq!(
                argocd_health(&object, script),
                expected_health(fixture),
                "{} as {}",
                fixture.path.display(),
                kind.qualified_name()
            );
        }
    }
    // Istio's own kinds keep Argo CD's built-in behaviour.
    for (group, kind) in [
        ("networking.istio.io", "VirtualService"),
        ("security.istio.io", "AuthorizationPolicy"),
    ] {
        assert!(
            matching_keys(&scripts, group, kind).is_empty(),
            "{group}/{kind}"
        );
    }
}

#[test]
fn deletion_is_pending_before_any_script_runs() {
    let script = script();
    for fixture in state_fixtures() {
        let mut object = fixture.object.clone();
        object["metadata"]["deletionTimestamp"] = json!("2026-11-26T11:00:00Z");
        assert_eq!(
            argocd_health(&object, &script),
            Health::new("Progressing", "Pending deletion"),
            "{}",
            fixture.path.display()
        );
    }
}

#[test]
fn the_sandbox_behaves_like_argo_cds() {
    let s7 = &state_fixtures()[7].object;
    let health = |script: &str| argocd_health(s7, script);
    // Base and table libraries only, and strings without methods.
    assert_eq!(
        health(r#"return {status = (string == nil and math == nil and os == nil and table.insert ~= nil) and "Healthy" or "Degraded", message = ""}"#)
            .status,
        "Healthy"
    );
    assert_eq!(
        health(r#"local s = "ab"; s:find("b"); return {status = "Healthy"}"#).status,
        "Unknown"
    );
    // Script errors, endless loops and wrong return types end in Unknown.
    assert_eq!(health("error('boom')").status, "Unknown");
    let endless = health("while true do end");
    assert_eq!(endless.status, "Unknown");
    assert!(endless.message.contains("deadline"), "{endless:?}");
    assert_eq!(health("return 42").status, "Unknown");
    assert_eq!(
        health("return {status = 'Fine'}"),
        Health::new("Unknown", "Lua returned an invalid health status")
    );
    assert_eq!(health("return nil"), Health::new("", ""));
    // JSON null is nil, and numbers compare as numbers.
    let nulled = json!({"metadata": {"generation": 2}, "status": null});
    assert_eq!(argocd_health(&nulled, &script()).status, "Progressing");
    assert_eq!(
        health("return {status = obj.metadata.generation == 1 and obj.spec.missing == nil and 'Healthy' or 'Degraded'}")
            .status,
        "Healthy"
    );
}
