//! The Helm chart `charts/tsbridge`: its values contract (`values.yaml`, the generated
//! `values.schema.json`), `helm lint --strict`, properties of the rendered objects for the
//! important value combinations, the templates' `fail` rules, and `helm install` into the real
//! apiserver of `cluster-helm` under the `restricted` Pod Security Standard.
//!
//! Rendering needs only the helm binary `tests/realk8s.sh build` made (the test setup guarantees
//! it), so those tests always run; installing needs `cluster-helm` and is ignored by default.

mod values;

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use serde_json::{Value, json};

use crate::support::cluster::{Cluster, with_temp_ns};
use crate::support::wait::{DEFAULT_TIMEOUT, eventually};
use crate::support::{PINNED_K8S_VERSION, random_suffix, repo_path};

const CHART: &str = "charts/tsbridge";
const SCHEMA: &str = "charts/tsbridge/values.schema.json";
/// The namespace `helm template` renders into.
const NAMESPACE: &str = "tsb-system";

/// An agent with everything it requires.
const AGENT: &[&str] = &[
    "agent.cluster=east",
    "agent.managementPlane.address=https://mp.example:9443",
    "agent.managementPlane.tls.secretName=mp-client",
];
/// Only the management plane, on SQLite (the default store).
const SERVER: &[&str] = &[
    "agent.enabled=false",
    "server.enabled=true",
    "server.tls.secretName=mp-serving",
];
/// What PostgreSQL adds to [`SERVER`].
const POSTGRES: &[&str] = &[
    "server.store.type=postgres",
    "server.replicas=3",
    "server.store.postgres.urlSecret.name=mp-db",
    "server.bootstrapTokenSecret.name=mp-admin",
];
/// Every optional object of both components.
const TOGGLES: &[&str] = &[
    "agent.podDisruptionBudget.enabled=true",
    "agent.podDisruptionBudget.maxUnavailable=1",
    "agent.networkPolicy.enabled=true",
    "agent.serviceMonitor.enabled=true",
    "server.podDisruptionBudget.enabled=true",
    "server.podDisruptionBudget.minAvailable=50%",
    "server.networkPolicy.enabled=true",
    "server.serviceMonitor.enabled=true",
];

/// Both components with every optional object.
fn everything() -> Vec<&'static str> {
    [
        AGENT,
        &["server.enabled=true", "server.tls.secretName=mp-serving"],
        TOGGLES,
    ]
    .concat()
}

/// The helm `tests/realk8s.sh build` made; rendering needs no cluster.
pub(crate) fn helm_binary() -> PathBuf {
    let cache = std::env::var_os("REALK8S_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/realk8s")))
        .expect("REALK8S_CACHE or HOME is set");
    let helm = cache.join(format!("k8s-v{PINNED_K8S_VERSION}/bin/helm"));
    assert!(
        helm.exists(),
        "{} is not built: run tests/realk8s.sh build",
        helm.display()
    );
    helm
}

fn chart_path() -> String {
    repo_path(CHART).to_str().expect("UTF-8 path").to_string()
}

fn set_args(sets: &[&str]) -> Vec<String> {
    sets.iter()
        .flat_map(|s| ["--set".to_string(), s.to_string()])
        .collect()
}

/// `helm template` with `--set` for each of `sets`: the rendered objects, or helm's error.
pub(crate) fn render(sets: &[&str]) -> Result<Vec<Value>, String> {
    let output = std::process::Command::new(helm_binary())
        .args(["template", "t", &chart_path(), "--namespace", NAMESPACE])
        .args(set_args(sets))
        .output()
        .expect("helm runs");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&output.stdout))
            .expect("helm template prints YAML");
    Ok(documents.into_iter().filter(Value::is_object).collect())
}

fn render_ok(sets: &[&str]) -> Vec<Value> {
    render(sets).unwrap_or_else(|e| panic!("rendering with {sets:?} failed:\n{e}"))
}

fn render_err(sets: &[&str]) -> String {
    match render(sets) {
        Ok(_) => panic!("rendering with {sets:?} succeeded, expected a failure"),
        Err(e) => e,
    }
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| {
            let present: Vec<String> = objects
                .iter()
                .map(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]))
                .collect();
            panic!("no {kind}/{name} in {present:?}")
        })
}

fn kinds(objects: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = objects
        .iter()
        .map(|o| o["kind"].as_str().expect("kind").to_string())
        .collect();
    kinds.sort();
    kinds
}

fn args_of(deployment: &Value) -> Vec<String> {
    serde_json::from_value(deployment["spec"]["template"]["spec"]["containers"][0]["args"].clone())
        .expect("container args are strings")
}

fn assert_has_args(args: &[String], expected: &[&str]) {
    let missing: Vec<&&str> = expected
        .iter()
        .filter(|e| !args.iter().any(|a| a == *e))
        .collect();
    assert!(missing.is_empty(), "{missing:?} not in {args:?}");
}

#[test]
fn values_yaml_matches_the_values_type() {
    let text = std::fs::read_to_string(repo_path("charts/tsbridge/values.yaml")).expect("reads");
    let yaml: Value = serde_saphyr::from_str(&text).expect("values.yaml is YAML");
    let typed: values::Values = serde_json::from_value(yaml.clone())
        .unwrap_or_else(|e| panic!("values.yaml does not fit the Values type: {e}"));
    // Back to JSON: equal only if values.yaml sets every key the type has, and nothing else.
    let round_trip = serde_json::to_value(&typed).expect("serializes");
    assert_eq!(
        round_trip, yaml,
        "values.yaml and tests/it/chart/values.rs disagree on which keys exist"
    );
}

#[test]
fn values_schema_is_generated_from_the_values_type() {
    let mut schema = serde_json::to_value(schemars::schema_for!(values::Values)).expect("JSON");
    // The types' Default (0, "") is not the chart's default (values.yaml is), and Rust integer
    // formats like `uint16` mean nothing to Helm: drop both.
    strip_keywords(&mut schema, &["default", "format"]);
    let generated = serde_json::to_string_pretty(&schema).expect("JSON") + "\n";
    let path = repo_path(SCHEMA);
    if std::env::var("TSBRIDGE_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).expect("writes the schema");
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == generated,
        "{SCHEMA} differs from the schema of tests/it/chart/values.rs; regenerate it with \
         TSBRIDGE_BLESS=1 cargo test --test it chart::values_schema"
    );
}

/// Removes `keywords` from every schema in `schema`. The maps of named schemas (`properties`,
/// `$defs`) are not schemas themselves, so a property called `default` survives.
fn strip_keywords(schema: &mut Value, keywords: &[&str]) {
    match schema {
        Value::Object(map) => {
            map.retain(|key, _| !keywords.contains(&key.as_str()));
            for (key, child) in map.iter_mut() {
                match (key.as_str(), child) {
                    ("properties" | "$defs", Value::Object(named)) => named
                        .values_mut()
                        .for_each(|schema| strip_keywords(schema, keywords)),
                    (_, child) => strip_keywords(child, keywords),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| strip_keywords(i, keywords)),
        _ => {}
    }
}

#[test]
fn helm_lint_strict_accepts_every_supported_combination() {
    let postgres = [SERVER, POSTGRES].concat();
    let everything = everything();
    let dev = [
        "agent.cluster=dev",
        "agent.managementPlane.address=http://127.0.0.1:9443",
        "agent.managementPlane.tls.insecure=true",
        "agent.webhook.enabled=false",
        "server.enabled=true",
        "server.tls.insecure=true",
        "crds.install=false",
    ];
    let cert_manager = [AGENT, &["agent.webhook.tls.mode=certManager"]].concat();
    let external = [
        AGENT,
        &[
            "agent.webhook.tls.mode=external",
            "agent.webhook.tls.external.secretName=webhook-tls",
            "agent.webhook.tls.external.caBundle=Cg==",
        ],
    ]
    .concat();
    for sets in [
        AGENT,
        SERVER,
        &postgres[..],
        &everything[..],
        &dev[..],
        &cert_manager[..],
        &external[..],
    ] {
        let output = std::process::Command::new(helm_binary())
            .args(["lint", "--strict", &chart_path(), "--namespace", NAMESPACE])
            .args(set_args(sets))
            .output()
            .expect("helm runs");
        assert!(
            output.status.success(),
            "helm lint --strict with {sets:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_schema_rejects_unknown_keys_and_values_out_of_range() {
    for (set, expected) in [
        ("agent.webhok.port=1", "'webhok' not allowed"),
        (
            "serviceAccount.create=false",
            "'serviceAccount' not allowed",
        ),
        (
            "agent.webhook.timeoutSeconds=6",
            "/agent/webhook/timeoutSeconds",
        ),
        (
            "agent.webhook.failurePolicy=Retry",
            "/agent/webhook/failurePolicy",
        ),
        ("server.store.type=mysql", "/server/store/type"),
        ("agent.resyncInterval=soon", "/agent/resyncInterval"),
    ] {
        let error = render_err(&[AGENT, &[set]].concat());
        assert!(
            error.contains("values don't meet the specifications of the schema")
                && error.contains(expected),
            "--set {set}: expected a schema error about {expected}, got:\n{error}"
        );
    }
}

#[test]
fn the_default_agent_is_hardened_and_configured_from_values() {
    let objects = render_ok(AGENT);
    let deployment = find(&objects, "Deployment", "t-tsbridge-agent");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["securityContext"],
        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "ghcr.io/tsbridge/tsbridge:0.1.0");
    assert_eq!(
        container["securityContext"],
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
               "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}})
    );
    assert_eq!(pod["serviceAccountName"], "t-tsbridge-agent");
    let ports = &container["ports"];
    assert_eq!(
        ports,
        &json!([{"name": "admin", "containerPort": 9090, "protocol": "TCP"},
                {"name": "webhook", "containerPort": 8443, "protocol": "TCP"}])
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"],
        json!({"path": "/live", "port": "admin"})
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"],
        json!({"path": "/ready", "port": "admin"})
    );
    let args = args_of(deployment);
    assert_has_args(
        &args,
        &[
            "agent",
            "--cluster=east",
            "--server=https://mp.example:9443",
            "--lease-namespace=tsb-system",
            "--log-level=tsbridge=info,warn",
            "--webhook-listen=0.0.0.0:8443",
            "--webhook-cert=/etc/tsbridge/webhook/tls.crt",
            "--webhook-key=/etc/tsbridge/webhook/tls.key",
            "--tls-cert=/etc/tsbridge/mp/tls.crt",
            "--tls-key=/etc/tsbridge/mp/tls.key",
            "--ca=/etc/tsbridge/mp/ca.crt",
        ],
    );
    assert!(!args.iter().any(|a| a == "--insecure"));
    assert_eq!(
        pod["volumes"],
        json!([{"name": "webhook-tls", "secret": {"secretName": "t-tsbridge-agent-webhook-tls"}},
               {"name": "mp-tls", "secret": {"secretName": "mp-client"}}])
    );
    // Nothing writable: no emptyDir anywhere in the agent.
    assert!(!pod.to_string().contains("emptyDir"));

    let service = find(&objects, "Service", "t-tsbridge-agent");
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"},
               {"name": "admin", "port": 9090, "targetPort": "admin", "protocol": "TCP"}])
    );
    assert_eq!(
        service["spec"]["selector"]["app.kubernetes.io/component"],
        "agent"
    );
    // Off by default: the server and every optional object.
    let rendered = kinds(&objects);
    for absent in ["PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor"] {
        assert!(
            !rendered.iter().any(|k| k == absent),
            "{absent} in {rendered:?}"
        );
    }
    assert!(
        !objects
            .iter()
            .any(|o| o["metadata"]["name"] == "t-tsbridge-server")
    );

    // Security overrides merge over the defaults; the webhook and MP TLS can be turned off.
    let objects = render_ok(&[
        "agent.cluster=east",
        "agent.managementPlane.address=http://127.0.0.1:9443",
        "agent.managementPlane.tls.insecure=true",
        "agent.webhook.enabled=false",
        "agent.podSecurityContext.runAsUser=1000",
        "agent.logLevel=tsbridge=debug\\,kube=info",
        "agent.extraArgs={--watch-namespace=apps}",
    ]);
    let deployment = find(&objects, "Deployment", "t-tsbridge-agent");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], 1000);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(pod["volumes"].is_null(), "{}", pod["volumes"]);
    let args = args_of(deployment);
    assert_has_args(
        &args,
        &[
            "--insecure",
            "--log-level=tsbridge=debug,kube=info",
            "--watch-namespace=apps",
        ],
    );
    assert!(!args.iter().any(|a| a.starts_with("--webhook")), "{args:?}");
    let service = find(&objects, "Service", "t-tsbridge-agent");
    assert_eq!(service["spec"]["ports"].as_array().expect("ports").len(), 1);
}

#[test]
fn the_sqlite_server_is_one_replica_on_a_volume() {
    let objects = render_ok(SERVER);
    assert!(
        !objects
            .iter()
            .any(|o| o["metadata"]["name"] == "t-tsbridge-agent")
    );
    let deployment = find(&objects, "Deployment", "t-tsbridge-server");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"], json!({"type": "Recreate"}));
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["fsGroup"], 65532);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["serviceAccountName"], "t-tsbridge-server");
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let args = args_of(deployment);
    assert_has_args(
        &args,
        &[
            "server",
            "--organization=tetrate",
            "--listen=0.0.0.0:9443",
            "--store=sqlite:/var/lib/tsbridge/tsbridge.db",
            "--bootstrap-token-file=/var/lib/tsbridge/admin.token",
            "--tls-cert=/etc/tsbridge/tls/tls.crt",
            "--tls-key=/etc/tsbridge/tls/tls.key",
            "--client-ca=/etc/tsbridge/tls/ca.crt",
        ],
    );
    let mounts = container["volumeMounts"].to_string();
    assert!(
        mounts.contains(r#"{"mountPath":"/var/lib/tsbridge","name":"data"}"#),
        "{mounts}"
    );
    let volumes = &pod["volumes"];
    assert_eq!(
        volumes[0],
        json!({"name": "data", "persistentVolumeClaim": {"claimName": "t-tsbridge-server-data"}})
    );
    let claim = find(&objects, "PersistentVolumeClaim", "t-tsbridge-server-data");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    let account = find(&objects, "ServiceAccount", "t-tsbridge-server");
    assert_eq!(account["automountServiceAccountToken"], false);
    // No RBAC for the management plane.
    let rendered = kinds(&objects);
    assert!(!rendered.iter().any(|k| k.contains("Role")), "{rendered:?}");
    let service = find(&objects, "Service", "t-tsbridge-server");
    assert_eq!(service["spec"]["ports"][0]["port"], 9443);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "grpc");

    // An existing claim replaces the chart's.
    let objects = render_ok(
        &[
            SERVER,
            &["server.store.sqlite.persistence.existingClaim=mine"],
        ]
        .concat(),
    );
    assert!(!kinds(&objects).iter().any(|k| k == "PersistentVolumeClaim"));
    let deployment = find(&objects, "Deployment", "t-tsbridge-server");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "mine"
    );
}

#[test]
fn the_postgres_server_scales_and_reads_its_url_from_a_secret() {
    let objects = render_ok(&[SERVER, POSTGRES].concat());
    assert!(!kinds(&objects).iter().any(|k| k == "PersistentVolumeClaim"));
    let deployment = find(&objects, "Deployment", "t-tsbridge-server");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert!(deployment["spec"]["strategy"].is_null(), "rolling updates");
    let pod = &deployment["spec"]["template"]["spec"];
    assert!(pod["securityContext"]["fsGroup"].is_null());
    let container = &pod["containers"][0];
    assert_eq!(
        container["env"],
        json!([{"name": "TSBRIDGE_STORE",
                "valueFrom": {"secretKeyRef": {"name": "mp-db", "key": "url"}}}])
    );
    let args = args_of(deployment);
    assert!(!args.iter().any(|a| a.starts_with("--store")), "{args:?}");
    assert!(
        args.iter()
            .any(|a| a == "--bootstrap-token-file=/etc/tsbridge/bootstrap/token")
    );
    let volumes = pod["volumes"].to_string();
    assert!(!volumes.contains("persistentVolumeClaim"), "{volumes}");
    assert!(!volumes.contains("emptyDir"), "{volumes}");
    assert!(volumes.contains(r#""secretName":"mp-admin""#), "{volumes}");
}

#[test]
fn template_rules_fail_with_clear_messages() {
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            [SERVER, &["server.replicas=2"]].concat(),
            "server.replicas is 2 but server.store.type=sqlite allows exactly 1 replica",
        ),
        (
            [SERVER, &["server.replicas=2"]].concat(),
            "use server.store.type=postgres",
        ),
        (
            vec!["agent.managementPlane.address=https://mp.example:9443"],
            "agent.cluster is required when agent.enabled",
        ),
        (
            vec!["agent.cluster=east"],
            "agent.managementPlane.address is required when agent.enabled",
        ),
        (
            [
                AGENT,
                &[
                    "agent.podDisruptionBudget.enabled=true",
                    "agent.podDisruptionBudget.minAvailable=1",
                    "agent.podDisruptionBudget.maxUnavailable=1",
                ],
            ]
            .concat(),
            "agent.podDisruptionBudget: set minAvailable or maxUnavailable, not both",
        ),
        (
            [SERVER, &["server.podDisruptionBudget.enabled=true"]].concat(),
            "server.podDisruptionBudget.enabled is true but neither minAvailable nor maxUnavailable",
        ),
        (
            [
                SERVER,
                &[
                    "server.store.type=postgres",
                    "server.bootstrapTokenSecret.name=a",
                ],
            ]
            .concat(),
            "server.store.postgres.urlSecret.name is required with server.store.type=postgres",
        ),
        (
            [
                SERVER,
                &[
                    "server.store.type=postgres",
                    "server.store.postgres.urlSecret.name=db",
                ],
            ]
            .concat(),
            "server.bootstrapTokenSecret.name is required with server.store.type=postgres",
        ),
        (
            vec!["agent.enabled=false", "server.enabled=true"],
            "server.tls.secretName is required",
        ),
        (
            [SERVER, &["server.tls.insecure=true"]].concat(),
            "server.tls: secretName and insecure exclude each other",
        ),
        (
            [AGENT, &["agent.managementPlane.tls.insecure=true"]].concat(),
            "agent.managementPlane.tls: secretName and insecure exclude each other",
        ),
    ];
    for (sets, expected) in cases {
        let error = render_err(&sets);
        assert!(
            error.contains(expected),
            "{sets:?}: expected {expected:?} in:\n{error}"
        );
    }
}

#[test]
fn toggles_render_pdb_network_policy_and_service_monitor_for_both_components() {
    let objects = render_ok(&everything());
    for component in ["agent", "server"] {
        let name = format!("t-tsbridge-{component}");
        let selector = json!({
            "app.kubernetes.io/name": "tsbridge",
            "app.kubernetes.io/instance": "t",
            "app.kubernetes.io/component": component,
        });
        let pdb = find(&objects, "PodDisruptionBudget", &name);
        assert_eq!(pdb["spec"]["selector"]["matchLabels"], selector);
        let policy = find(&objects, "NetworkPolicy", &name);
        assert_eq!(policy["spec"]["podSelector"]["matchLabels"], selector);
        assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        let monitor = find(&objects, "ServiceMonitor", &name);
        assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(monitor["spec"]["selector"]["matchLabels"], selector);
        assert_eq!(
            monitor["spec"]["endpoints"],
            json!([{"port": "admin", "path": "/metrics", "interval": "30s"}])
        );
        // The selectors match the pods they are about.
        let deployment = find(&objects, "Deployment", &name);
        assert_eq!(deployment["spec"]["selector"]["matchLabels"], selector);
    }
    let agent_pdb = find(&objects, "PodDisruptionBudget", "t-tsbridge-agent");
    assert_eq!(
        agent_pdb["spec"],
        json!({"maxUnavailable": 1, "selector": agent_pdb["spec"]["selector"]})
    );
    let server_pdb = find(&objects, "PodDisruptionBudget", "t-tsbridge-server");
    assert_eq!(server_pdb["spec"]["minAvailable"], "50%");

    // The agent may reach DNS, the apiserver and the management plane's port (from its URL).
    let agent_policy = find(&objects, "NetworkPolicy", "t-tsbridge-agent");
    let egress_ports: Vec<&Value> = agent_policy["spec"]["egress"]
        .as_array()
        .expect("egress")
        .iter()
        .flat_map(|rule| rule["ports"].as_array().expect("ports"))
        .map(|port| &port["port"])
        .collect();
    assert_eq!(egress_ports, [53, 53, 443, 6443, 9443]);
    assert_eq!(
        agent_policy["spec"]["ingress"][0]["ports"],
        json!([{"port": "webhook", "protocol": "TCP"}, {"port": "admin", "protocol": "TCP"}])
    );
}

#[test]
fn crds_follow_install_keep_and_annotations() {
    let crd_count = |objects: &[Value]| {
        objects
            .iter()
            .filter(|o| o["kind"] == "CustomResourceDefinition")
            .count()
    };
    assert_eq!(
        crd_count(&render_ok(AGENT)),
        tsbridge::k8s::crds::all().expect("CRDs generate").len()
    );
    assert_eq!(
        crd_count(&render_ok(&[AGENT, &["crds.install=false"]].concat())),
        0
    );
    let annotated = render_ok(&["agent.enabled=false", "crds.annotations.team=mesh"]);
    let crds: Vec<&Value> = annotated
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .collect();
    assert!(!crds.is_empty());
    for crd in crds {
        assert_eq!(
            crd["metadata"]["annotations"],
            json!({"helm.sh/resource-policy": "keep", "team": "mesh"})
        );
    }
}

/// The chart's own objects are tracked by whatever installs them (Helm, Argo CD, Flux); a
/// tracking key baked into a template would make one tool adopt or prune another's objects.
#[test]
fn rendered_objects_carry_no_gitops_tracking_metadata() {
    let objects = render_ok(&everything());
    let tracking = |key: &str| {
        key.starts_with("argocd.argoproj.io/")
            || key.contains("toolkit.fluxcd.io/")
            || key == "kubectl.kubernetes.io/last-applied-configuration"
    };
    for object in &objects {
        let name = format!("{}/{}", object["kind"], object["metadata"]["name"]);
        for metadata in [&object["metadata"], &object["spec"]["template"]["metadata"]] {
            for field in ["labels", "annotations"] {
                if let Some(map) = metadata[field].as_object() {
                    let found: Vec<&String> = map.keys().filter(|k| tracking(k)).collect();
                    assert!(found.is_empty(), "{name} {field} carry {found:?}");
                }
            }
        }
        assert_eq!(
            object["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm",
            "{name}"
        );
    }
}

/// Installs the chart with `sets` into `ns` of `cluster-helm`, checks that every rendered object
/// exists with the release label and that the component's pod is admitted under the namespace's
/// `restricted` Pod Security Standard (it stays Pending: there is no kubelet), then uninstalls.
async fn install_and_check(client: kube::Client, ns: String, component: &str, sets: &[&str]) {
    let cluster = Cluster::attach("cluster-helm");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            }}})),
        )
        .await
        .expect("labels the namespace");
    let release = format!("chart-{}", random_suffix());
    let chart = chart_path();
    let sets = set_args(&[sets, &["crds.install=false"]].concat());
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let rendered = cluster.helm(
        &[
            &["template", &release, &chart, "--namespace", &ns][..],
            &sets,
        ]
        .concat(),
    );
    let objects: Vec<Value> =
        serde_saphyr::from_multiple(&rendered).expect("helm template prints YAML");
    let objects: Vec<Value> = objects.into_iter().filter(Value::is_object).collect();
    assert!(
        objects.iter().any(|o| o["kind"] == "Deployment"),
        "no Deployment rendered:\n{rendered}"
    );

    cluster.helm(
        &[
            &["install", &release, &chart, "--namespace", &ns][..],
            &sets,
        ]
        .concat(),
    );
    let discovery = kube::Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    for object in &objects {
        let api_version = object["apiVersion"].as_str().expect("apiVersion");
        let kind = object["kind"].as_str().expect("kind");
        let name = object["metadata"]["name"].as_str().expect("name");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let (resource, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk(group, version, kind))
            .unwrap_or_else(|| panic!("{api_version}/{kind} is not served"));
        assert_eq!(
            caps.scope,
            Scope::Namespaced,
            "{kind}/{name} is cluster-scoped"
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
        let stored = api
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("{kind}/{name} was not created: {e}"));
        let labels = stored.metadata.labels.unwrap_or_default();
        assert_eq!(
            labels.get("app.kubernetes.io/instance"),
            Some(&release),
            "{kind}/{name} lacks the release label"
        );
    }

    // The ReplicaSet controller creates the pod only if Pod Security admission accepts it; a
    // refusal shows as the ReplicaSet's ReplicaFailure condition.
    let selector =
        format!("app.kubernetes.io/instance={release},app.kubernetes.io/component={component}");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
    let admitted = eventually(
        &format!("the {component} pod to be created"),
        DEFAULT_TIMEOUT,
        || {
            let (pods, replica_sets, selector) =
                (pods.clone(), replica_sets.clone(), selector.clone());
            async move {
                let params = ListParams::default().labels(&selector);
                if let Some(pod) = pods.list(&params).await.ok()?.items.into_iter().next() {
                    return Some(Ok(pod));
                }
                let failure = replica_sets
                    .list(&params)
                    .await
                    .ok()?
                    .items
                    .into_iter()
                    .flat_map(|rs| rs.status.and_then(|s| s.conditions).unwrap_or_default())
                    .find(|c| c.type_ == "ReplicaFailure")?;
                Some(Err(failure.message.unwrap_or_default()))
            }
        },
    )
    .await;
    let pod =
        admitted.unwrap_or_else(|refusal| panic!("the {component} pod was refused: {refusal}"));
    assert_eq!(
        pod.status.and_then(|s| s.phase).as_deref(),
        Some("Pending"),
        "no kubelet runs in cluster-helm"
    );

    cluster.helm(&["uninstall", &release, "--namespace", &ns]);
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn the_server_installs_into_a_restricted_namespace() {
    let cluster = Cluster::attach("cluster-helm");
    with_temp_ns(&cluster, |client, ns| async move {
        install_and_check(client, ns, "server", SERVER).await;
    })
    .await;
}

/// Only namespaced agent objects: the RBAC and webhook configuration are cluster-scoped and
/// installed by the RBAC end-to-end test alone; the pod runs as the namespace's default account.
#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn the_agent_installs_into_a_restricted_namespace() {
    let cluster = Cluster::attach("cluster-helm");
    with_temp_ns(&cluster, |client, ns| async move {
        let sets = [
            AGENT,
            &[
                "agent.rbac.create=false",
                "agent.webhook.enabled=false",
                "agent.serviceAccount.create=false",
                "agent.serviceAccount.name=default",
            ],
        ]
        .concat();
        install_and_check(client, ns, "agent", &sets).await;
    })
    .await;
}

#[test]
fn the_console_is_off_by_default_and_served_on_its_port_when_enabled() {
    let off = render_ok(SERVER);
    let args = args_of(find(&off, "Deployment", "t-tsbridge-server"));
    assert!(!args.iter().any(|a| a.starts_with("--ui-")), "{args:?}");
    let on = render_ok(
        &[
            SERVER,
            &[
                "server.console.enabled=true",
                "server.console.secureCookie=true",
                "server.networkPolicy.enabled=true",
            ][..],
        ]
        .concat(),
    );
    let deployment = find(&on, "Deployment", "t-tsbridge-server");
    assert_has_args(
        &args_of(deployment),
        &["--ui-listen=0.0.0.0:9480", "--ui-secure-cookie"],
    );
    let ports = &deployment["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert!(
        ports
            .as_array()
            .expect("ports")
            .contains(&json!({"name": "console", "containerPort": 9480, "protocol": "TCP"})),
        "{ports}"
    );
    let service = find(&on, "Service", "t-tsbridge-server");
    assert!(
        service["spec"]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["name"] == "console" && p["port"] == 9480),
        "{service}"
    );
    let policy = find(&on, "NetworkPolicy", "t-tsbridge-server");
    assert!(
        policy["spec"]["ingress"][0]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["port"] == "console"),
        "{policy}"
    );
}
