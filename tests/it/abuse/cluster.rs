//! The catalogue through a real kube-apiserver: CRs applied the way Flux does, judged by the
//! agent binary's webhook, watched by the same agent and pushed to the management plane over
//! mTLS. The agent starts with an expired client certificate that is rotated while it runs;
//! hostile CRs are denied at admission with the field named; with the webhook away, the agent
//! marks them Stalled without pushing them and keeps serving the rest; a cluster over its object
//! limit gets the limit named on the CRs it cannot create.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use kube::Client;
use kube::api::ListParams;
use serde_json::{Value, json};
use tsbridge::proto::v1;

use super::{MpState, ORG, apply, nested, tenant};
use crate::agent::{await_ready, flux_apply};
use crate::crds::{dynamic_api, install_crds};
use crate::support::admission::register_webhook;
use crate::support::cluster::{Cluster, with_temp_ns};
use crate::support::mp::{Clients, Mp, free_port, register_cluster};
use crate::support::pki::Pki;
use crate::support::process::ChildProcess;
use crate::support::wait::eventually;

const WAIT: Duration = Duration::from_secs(60);
const WEBHOOK: &str = "abuse.validate.tsbridge.io";
/// The MP's `--max-objects-per-cluster` in this test.
const MAX_OBJECTS: usize = 12;

/// One test's world: its namespace (also the cluster's name and tenant), an mTLS MP, the agent
/// (webhook included) and the files its client certificate is read from.
struct World {
    client: Client,
    ns: String,
    tenant: String,
    api: Clients,
    _mp: Mp,
}

fn workspace(world: &World, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "tsb.tetrate.io/v2",
        "kind": "Workspace",
        "metadata": {
            "name": name,
            "namespace": world.ns,
            "annotations": {
                "tsb.tetrate.io/organization": "acme",
                "tsb.tetrate.io/tenant": world.tenant,
            },
        },
        "spec": spec,
    })
}

fn selecting(name: &str) -> Value {
    json!({ "namespaceSelector": { "names": [format!("*/{}", &name[..name.len().min(60)])] } })
}

/// `spec` with the members of `extra` added.
fn with(mut spec: Value, extra: Value) -> Value {
    if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
    spec
}

fn setting(world: &World, name: &str, failover: Value) -> Value {
    json!({
        "apiVersion": "tsb.tetrate.io/v2",
        "kind": "WorkspaceSetting",
        "metadata": {
            "name": name,
            "namespace": world.ns,
            "annotations": {
                "tsb.tetrate.io/organization": "acme",
                "tsb.tetrate.io/tenant": world.tenant,
                "tsb.tetrate.io/workspace": "base",
            },
        },
        "spec": { "failoverSettings": failover },
    })
}

/// `[[[…]]]` `depth` arrays deep.
fn arrays(depth: usize) -> Value {
    let mut value = json!("leaf");
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

/// Creates `object` (a plain create: the JSON goes to the apiserver as it is). The answer is
/// not decoded: an object nested past the JSON parser's depth would not decode here either.
async fn create(client: &Client, ns: &str, object: &Value) -> Result<(), kube::Error> {
    let api = dynamic_api(client, ns, object);
    let body = serde_json::to_vec(object).expect("JSON");
    let request = kube::core::Request::new(api.resource_url())
        .create(&Default::default(), body)
        .expect("a create request");
    client.request_text(request).await.map(drop)
}

/// The names of every Workspace and WorkspaceSetting in the namespace.
async fn crs(world: &World) -> Vec<String> {
    let mut names = Vec::new();
    for probe in [
        workspace(world, "x", json!({})),
        setting(world, "x", json!({})),
    ] {
        let listed = dynamic_api(&world.client, &world.ns, &probe)
            .list(&ListParams::default())
            .await
            .expect("list");
        names.extend(
            listed
                .items
                .into_iter()
                .map(|o| format!("{}/{}", probe["kind"], o.metadata.name.unwrap_or_default())),
        );
    }
    names
}

/// Waits for a condition of `object` with `reason`; returns its message.
async fn await_reason(world: &World, object: &Value, reason: &str) -> String {
    let name = object["metadata"]["name"].as_str().expect("name");
    let api = dynamic_api(&world.client, &world.ns, object);
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = String::new();
    loop {
        let request = kube::core::Request::new(api.resource_url())
            .get(name, &Default::default())
            .expect("a get request");
        // Read as text: the object may be nested too deep for the client to decode.
        if let Ok(text) = world.client.request_text(request).await {
            // Everything but the status is skipped, which takes no recursion.
            #[derive(serde::Deserialize)]
            struct OnlyStatus {
                #[serde(default)]
                status: Value,
            }
            let status = serde_json::from_str::<OnlyStatus>(&text)
                .map(|o| o.status)
                .unwrap_or(Value::Null);
            if let Some(message) = status["conditions"].as_array().and_then(|conditions| {
                conditions
                    .iter()
                    .find(|c| c["reason"] == reason && c["status"] == "True")
                    .and_then(|c| c["message"].as_str().map(str::to_string))
            }) {
                return message;
            }
            last = status.to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} did not show {reason} within {WAIT:?}; last status: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn unregister(client: &Client, name: &str) {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    let api: kube::Api<ValidatingWebhookConfiguration> = kube::Api::all(client.clone());
    let _ = api.delete(name, &Default::default()).await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn hostile_crs_through_the_apiserver_webhook_and_agent() {
    let cluster = Cluster::default_cluster();
    install_crds(&cluster.client().await).await;
    let inside = cluster.clone();
    with_temp_ns(&cluster, |client, ns| async move {
        let cluster = inside;
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::new();
        let (crt, key) = pki.server("server", None);
        let ca = pki.path("ca.crt");
        let store = format!("sqlite:{}", dir.path().join("mp.db").display());
        let max = MAX_OBJECTS.to_string();
        let mp = Mp::start_tls(
            &store,
            dir.path(),
            &[
                "--tls-cert",
                &crt,
                "--tls-key",
                &key,
                "--client-ca",
                &ca,
                "--max-objects-per-cluster",
                &max,
            ],
        )
        .await;
        let mut api = Clients::connect(&mp.url, Some(&mp.token), Some(std::path::Path::new(&ca)))
            .await
            .expect("admin connects");
        let tenant_name = format!("t-{ns}");
        api.config
            .apply(apply(tenant(&tenant_name)))
            .await
            .expect("tenant");
        register_cluster(&mut api, &ns, &format!("{ORG}/tenants/{tenant_name}")).await;
        let world = World {
            client: client.clone(),
            ns: ns.clone(),
            tenant: tenant_name,
            api,
            _mp: mp,
        };
        let mp = &world._mp;

        // The agent's client certificate has expired; its webhook serves a certificate the
        // apiserver trusts.
        let (expired_crt, expired_key) = pki.cluster_valid("expired", &ns, Some(-2..-1));
        let (agent_crt, agent_key) = (dir.path().join("agent.crt"), dir.path().join("agent.key"));
        std::fs::copy(&expired_crt, &agent_crt).expect("copy");
        std::fs::copy(&expired_key, &agent_key).expect("copy");
        let certs = dir.path().join("webhook");
        std::fs::create_dir(&certs).expect("dir");
        cluster.webhook_cert(&certs);
        let webhook_port = free_port();
        let agent_args: Vec<String> = [
            "agent",
            "--cluster",
            &ns,
            "--server",
            &mp.url,
            "--tls-cert",
            agent_crt.to_str().expect("UTF-8"),
            "--tls-key",
            agent_key.to_str().expect("UTF-8"),
            "--ca",
            &ca,
            "--kubeconfig",
            cluster.kubeconfig.to_str().expect("UTF-8"),
            "--watch-namespace",
            &ns,
            "--lease-namespace",
            &ns,
            "--lease-duration",
            "4s",
            "--admin-listen",
            &format!("127.0.0.1:{}", free_port()),
            "--delete-grace",
            "1s",
            "--webhook-listen",
            &format!("127.0.0.1:{webhook_port}"),
            "--webhook-cert",
            certs.join("tls.crt").to_str().expect("UTF-8"),
            "--webhook-key",
            certs.join("tls.key").to_str().expect("UTF-8"),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        let mut agent = start_agent(&agent_args);
        let url = format!("https://127.0.0.1:{webhook_port}/validate");
        let rules = json!([{ "operations": ["CREATE", "UPDATE", "DELETE"],
                             "apiGroups": ["tsb.tetrate.io"], "apiVersions": ["*"],
                             "resources": ["*"] }]);
        let ca_bundle = std::fs::read(certs.join("ca.crt")).expect("ca.crt");
        eventually("the agent's webhook to listen", WAIT, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", webhook_port))
                .await
                .ok()
        })
        .await;
        let webhook = format!("tsbridge-abuse-{ns}");
        // Deleted by name (by the scenario, and again here): a registration left behind would
        // block the namespace's deletion once the agent is gone.
        drop(register_webhook(&client, &webhook, WEBHOOK, &url, ca_bundle, rules, &ns).await);
        let files = (agent_crt.as_path(), agent_key.as_path());
        let outcome = AssertUnwindSafe(scenario(
            &world,
            &mut agent,
            &agent_args,
            &pki,
            files,
            &webhook,
        ))
        .catch_unwind()
        .await;
        unregister(&client, &webhook).await;
        if let Err(panic) = outcome {
            eprintln!("--- agent ---\n{}", agent.output());
            std::panic::resume_unwind(panic);
        }
    })
    .await;
}

fn start_agent(args: &[String]) -> ChildProcess {
    ChildProcess::tsbridge(args, &[("TSBRIDGE_LOG_LEVEL", "tsbridge=debug,warn")])
}

async fn scenario(
    world: &World,
    agent: &mut ChildProcess,
    agent_args: &[String],
    pki: &Pki,
    (agent_crt, agent_key): (&std::path::Path, &std::path::Path),
    webhook: &str,
) {
    let (client, ns) = (&world.client, world.ns.as_str());
    let base = workspace(world, "base", selecting("base"));
    flux_apply(client, ns, &base).await;

    // 1. An expired client certificate: refused by name; rotated, the agent goes on.
    let log = eventually(
        "the agent to report its expired certificate",
        WAIT,
        || async {
            let log = agent.output();
            log.contains(&format!(
                "the client certificate of cluster {ns} expired at"
            ))
            .then_some(log)
        },
    )
    .await;
    assert!(log.contains("renew it"), "{log}");
    assert!(
        MpState::of(&world.api)
            .await
            .audit
            .iter()
            .any(|e| e.outcome == "rejected" && e.message.contains("expired at"))
    );
    let (valid_crt, valid_key) = pki.cluster_valid("valid", ns, None);
    std::fs::copy(valid_key, agent_key).expect("rotate key");
    std::fs::copy(valid_crt, agent_crt).expect("rotate certificate");
    await_ready(client, ns, &base, "True", "Accepted").await;

    // 2. Hostile CRs are denied at admission, the field named; nothing moves anywhere.
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "a spec over 512 KiB",
            workspace(
                world,
                "huge",
                with(
                    selecting("huge"),
                    json!({ "description": "x".repeat(600 * 1024) }),
                ),
            ),
            vec!["Workspace", "/huge: spec: the spec is", "TSB1108"],
        ),
        (
            "nesting past the limit",
            setting(world, "deep", arrays(40)),
            vec![
                "/deep: spec.failoverSettings[0]",
                "nested deeper than the limit of 32",
                "TSB1108",
            ],
        ),
        (
            "nesting past the JSON parser",
            setting(world, "deeper", nested(200)),
            vec![
                "/deeper: spec: nested deeper than the JSON parser",
                "TSB1108",
            ],
        ),
        (
            "a NUL character",
            workspace(
                world,
                "nul",
                with(selecting("nul"), json!({ "description": "a\u{0}b" })),
            ),
            vec![
                "/nul: spec.description: contains a NUL character",
                "TSB1008",
            ],
        ),
        (
            "a number for a string",
            workspace(
                world,
                "typed",
                with(selecting("typed"), json!({ "displayName": 5 })),
            ),
            vec!["spec.displayName", "string"],
        ),
        (
            "a label Kubernetes would refuse on generated objects",
            workspace(
                world,
                "labels",
                with(
                    selecting("labels"),
                    json!({ "configGenerationMetadata": { "labels": { "tier": "front end" } } }),
                ),
            ),
            vec!["spec.configGenerationMetadata.labels[tier]", "TSB1005"],
        ),
    ];
    for (what, object, says) in &cases {
        let before = (MpState::of(&world.api).await, crs(world).await);
        let denied = create(client, ns, object).await.expect_err(what);
        let text = denied.to_string();
        for words in says {
            assert!(text.contains(words), "{what}: {words:?} not in {text}");
        }
        before.0.assert_unmoved(&world.api, 0, what).await;
        assert_eq!(
            crs(world).await,
            before.1,
            "{what}: nothing new in the cluster"
        );
    }

    // 3. At the limits: admitted, stored, read back exactly.
    let long_name = format!("l{}", "o".repeat(251));
    let at_limits = [
        workspace(world, &long_name, selecting("long")),
        workspace(
            world,
            "big",
            json!({ "namespaceSelector": { "names": ["*/big"] },
                    "description": "x".repeat(500 * 1024) }),
        ),
        workspace(
            world,
            "unicode",
            json!({ "namespaceSelector": { "names": ["*/unicode"] },
                    "displayName": "\u{202e}gnitset\u{202c} 👩\u{200d}👩\u{200d}👧 e\u{301}" }),
        ),
        setting(world, "at-depth", arrays(31)),
    ];
    for object in &at_limits {
        flux_apply(client, ns, object).await;
    }
    for object in &at_limits {
        await_ready(client, ns, object, "True", "Accepted").await;
    }
    let mut api = world.api.clone();
    let stored = api
        .config
        .get(v1::GetRequest {
            fqn: format!("{ORG}/tenants/{}/workspaces/unicode", world.tenant),
        })
        .await
        .expect("stored")
        .into_inner();
    let spec = tsbridge::proto::convert::struct_to_json(&stored.spec.expect("spec"));
    assert_eq!(spec["displayName"], at_limits[2]["spec"]["displayName"]);

    // 4. With the webhook away, the agent marks hostile CRs Stalled without pushing them, and
    // keeps serving the kind: a valid object after them is accepted.
    unregister(client, webhook).await;
    let mut stalled = BTreeMap::new();
    for (what, object, _) in cases
        .iter()
        .filter(|(what, ..)| !what.starts_with("a number"))
    {
        let before = MpState::of(&world.api).await;
        create(client, ns, object)
            .await
            .unwrap_or_else(|e| panic!("{what} without the webhook: {e}"));
        let name = object["metadata"]["name"].as_str().expect("name");
        stalled.insert(name.to_string(), before);
    }
    // The one past the JSON parser's depth too: the agent's client cuts it at 100 levels.
    for (what, object, says) in cases
        .iter()
        .filter(|(what, ..)| !what.starts_with("a number"))
    {
        let message = await_reason(world, object, "Invalid").await;
        eprintln!("{what}: {message}");
        let code = says
            .iter()
            .find(|w| w.starts_with("TSB"))
            .expect("a rule code");
        assert!(message.contains(code), "{what}: {message}");
    }
    let after = setting(world, "after", arrays(2));
    flux_apply(client, ns, &after).await;
    await_ready(client, ns, &after, "True", "Accepted").await;
    // A restarted agent lists the kind with that object in it, and still serves the kind.
    agent.kill();
    *agent = start_agent(agent_args);
    let restarted = setting(world, "after-restart", arrays(2));
    flux_apply(client, ns, &restarted).await;
    await_ready(client, ns, &restarted, "True", "Accepted").await;
    let state = MpState::of(&world.api).await;
    for name in stalled.keys() {
        assert!(
            !state
                .objects
                .keys()
                .any(|fqn| fqn.ends_with(&format!("/{name}"))),
            "{name} never reached the management plane"
        );
    }

    // 5. Over the cluster's object limit: the CRs it cannot create say which limit.
    let originated = state
        .objects
        .keys()
        .filter(|fqn| fqn.contains(&format!("/tenants/{}/", world.tenant)))
        .count();
    let room = MAX_OBJECTS - originated;
    let batch: Vec<Value> = (0..room + 3)
        .map(|i| {
            workspace(
                world,
                &format!("many-{i:02}"),
                selecting(&format!("many-{i:02}")),
            )
        })
        .collect();
    for object in &batch {
        flux_apply(client, ns, object).await;
    }
    let mut limited = 0;
    for object in &batch {
        let message = eventually("each CR of the batch to be answered", WAIT, || async {
            let name = object["metadata"]["name"].as_str().expect("name");
            let live = dynamic_api(client, ns, object).get_opt(name).await.ok()??;
            let ready = live.data["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "Ready")?
                .clone();
            match ready["reason"].as_str()? {
                "Accepted" => Some(String::new()),
                "RateLimited" => Some(ready["message"].as_str()?.to_string()),
                _ => None,
            }
        })
        .await;
        if !message.is_empty() {
            assert!(
                message.contains(&format!("--max-objects-per-cluster limit of {MAX_OBJECTS}")),
                "{message}"
            );
            limited += 1;
        }
    }
    assert_eq!(limited, 3, "exactly the CRs over the limit");
    let refusals = MpState::of(&world.api)
        .await
        .audit
        .into_iter()
        .filter(|e| {
            e.actor == format!("cluster:{ns}") && e.message.contains("--max-objects-per-cluster")
        })
        .count();
    assert!(refusals >= 3, "every refusal audited: {refusals}");
}
