//! `cargo bench --bench validate`: `tsbridge validate` over a generated hierarchy of about
//! 10,000 objects (1 organization setting, 20 tenants with settings, 25 workspaces each, and
//! 20 objects per workspace: settings, traffic/security/gateway groups, service routes and
//! settings, an ingress gateway, a DIRECT group with direct-mode Istio objects).
//!
//! It times the library functions the CLI runs (`input::load` + `check::check`), parse +
//! validate from YAML files in a temp dir and validate only from parsed objects, and prints the
//! min and median of a few repetitions. The target is under 1 s for parse + validate (the
//! analyzer is single-threaded, so this is one core). It also times `tsbridge render`'s core
//! over the same set for one cluster that holds every namespace (target: under 1 s of CPU as
//! well). No criterion: it keeps the build cheap.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tsbridge::cli::render::render_clusters;
use tsbridge::cli::validate::{InputObject, Source, check, load};
use tsbridge::model::resolve::ClusterNamespaces;

const TENANTS: usize = 20;
const WORKSPACES: usize = 25;
const REPETITIONS: usize = 7;
const TARGET: Duration = Duration::from_secs(1);

fn annotations(tenant: &str, workspace: Option<&str>, group: Option<(&str, &str)>) -> Value {
    let mut map = json!({
        "tsb.tetrate.io/organization": "acme",
        "argocd.argoproj.io/tracking-id": "mesh-config:tsb/x",
    });
    if !tenant.is_empty() {
        map["tsb.tetrate.io/tenant"] = json!(tenant);
    }
    if let Some(workspace) = workspace {
        map["tsb.tetrate.io/workspace"] = json!(workspace);
    }
    if let Some((key, name)) = group {
        map[format!("tsb.tetrate.io/{key}")] = json!(name);
    }
    map
}

fn object(api_version: &str, kind: &str, name: &str, annotations: Value, spec: Value) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": "tsb-config",
            "labels": {"app.kubernetes.io/instance": "mesh-config"},
            "annotations": annotations,
        },
        "spec": spec,
    })
}

/// The objects of one workspace (20).
fn workspace_objects(t: usize, w: usize) -> Vec<Value> {
    let tenant = format!("tenant-{t:02}");
    let ws = format!("ws-{t:02}-{w:02}");
    let ns = format!("t{t:02}-w{w:02}");
    let legacy = format!("{ns}-legacy");
    let ws_ann = |group: Option<(&str, &str)>| annotations(&tenant, Some(&ws), group);
    let tg = format!("{ws}-traffic");
    let sg = format!("{ws}-security");
    let gg = format!("{ws}-gateways");
    let dg = format!("{ws}-direct");
    let mut out = vec![
        object(
            "tsb.tetrate.io/v2",
            "Workspace",
            &ws,
            annotations(&tenant, None, None),
            json!({"namespaceSelector": {"names": [
                format!("*/{ns}"), format!("eu-1/{ns}-jobs-*"), format!("*/{legacy}"), format!("*/{ns}-edge")
            ]}}),
        ),
        object(
            "tsb.tetrate.io/v2",
            "WorkspaceSetting",
            &format!("{ws}-settings"),
            ws_ann(None),
            json!({"defaultSecuritySetting": {
                "authenticationSettings": {"trafficMode": "REQUIRED"},
                "authorization": {"mode": "WORKSPACE"}
            }}),
        ),
        object(
            "traffic.tsb.tetrate.io/v2",
            "Group",
            &tg,
            ws_ann(None),
            json!({"namespaceSelector": {"names": [format!("*/{ns}"), format!("eu-1/{ns}-jobs-*")]}, "configMode": "BRIDGED"}),
        ),
        object(
            "traffic.tsb.tetrate.io/v2",
            "TrafficSetting",
            &format!("{ws}-defaults"),
            ws_ann(Some(("trafficGroup", &tg))),
            json!({
                "reachability": {"mode": "CUSTOM", "hosts": ["./*", "shared-db/*"]},
                "resilience": {"httpRequestTimeout": "5s", "circuitBreakerSensitivity": "MEDIUM",
                               "httpRetries": {"attempts": 2, "perTryTimeout": "2s"}},
                "egress": {"host": format!("{ns}-edge/egress.{ns}-edge.svc.cluster.local")}
            }),
        ),
        object(
            "security.tsb.tetrate.io/v2",
            "Group",
            &sg,
            ws_ann(None),
            json!({"namespaceSelector": {"names": ["*/*"]}}),
        ),
        object(
            "security.tsb.tetrate.io/v2",
            "SecuritySetting",
            &format!("{ws}-mtls"),
            ws_ann(Some(("securityGroup", &sg))),
            json!({"authenticationSettings": {"trafficMode": "REQUIRED"}, "authorization": {"mode": "GROUP"}}),
        ),
        object(
            "gateway.tsb.tetrate.io/v2",
            "Group",
            &gg,
            ws_ann(None),
            json!({"namespaceSelector": {"names": [format!("*/{ns}-edge")]}}),
        ),
        object(
            "gateway.tsb.tetrate.io/v2",
            "IngressGateway",
            &format!("{ws}-ingress"),
            ws_ann(Some(("gatewayGroup", &gg))),
            json!({
                "workloadSelector": {"namespace": format!("{ns}-edge"), "labels": {"app": "gw"}},
                "http": [{"name": "web", "port": 443, "hostname": format!("{ns}.acme.example"),
                          "tls": {"mode": "SIMPLE", "secretName": "web-cert"},
                          "routing": {"rules": [{"route": {"host": format!("{ns}/svc-0.{ns}.svc.cluster.local"), "port": 8080}}]}}]
            }),
        ),
        object(
            "traffic.tsb.tetrate.io/v2",
            "Group",
            &dg,
            ws_ann(None),
            json!({"namespaceSelector": {"names": [format!("*/{legacy}")]}, "configMode": "DIRECT"}),
        ),
    ];
    for i in 0..4 {
        out.push(object(
            "traffic.tsb.tetrate.io/v2",
            "ServiceRoute",
            &format!("svc-{i}"),
            ws_ann(Some(("trafficGroup", &tg))),
            json!({
                "service": format!("{ns}/svc-{i}.{ns}.svc.cluster.local"),
                "portLevelSettings": [{"port": 8080, "trafficType": "HTTP"}],
                "subsets": [
                    {"name": "stable", "labels": {"version": "v1"}, "weight": 90},
                    {"name": "canary", "labels": {"version": "v2"}, "weight": 10}
                ]
            }),
        ));
    }
    for i in 0..3 {
        out.push(object(
            "traffic.tsb.tetrate.io/v2",
            "ServiceTrafficSetting",
            &format!("svc-{i}-settings"),
            ws_ann(Some(("trafficGroup", &tg))),
            json!({
                "service": format!("{ns}/svc-{i}.{ns}.svc.cluster.local"),
                "settings": {"resilience": {"httpRequestTimeout": "2s"}}
            }),
        ));
    }
    for i in 0..2 {
        out.push(object(
            "security.tsb.tetrate.io/v2",
            "ServiceSecuritySetting",
            &format!("svc-{i}-authz"),
            ws_ann(Some(("securityGroup", &sg))),
            json!({
                "service": format!("{ns}/svc-{i}.{ns}.svc.cluster.local"),
                "settings": {"authorization": {"mode": "RULES", "rules": {"allow": [
                    {"from": {"fqn": format!("organizations/acme/tenants/{tenant}/workspaces/{ws}")},
                     "to": {"fqn": format!("organizations/acme/tenants/{tenant}/workspaces/{ws}")}}
                ]}}}
            }),
        ));
    }
    let direct = |kind: &str, name: &str, spec: Value| {
        json!({
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": kind,
            "metadata": {
                "name": name,
                "namespace": legacy,
                "labels": {"istio.io/rev": "tsb"},
                "annotations": ws_ann(Some(("trafficGroup", &dg))),
            },
            "spec": spec,
        })
    };
    out.push(direct(
        "VirtualService",
        "legacy-api",
        json!({"hosts": ["legacy-api"], "http": [{"route": [{"destination": {"host": "legacy-api", "subset": "v1"}}]}]}),
    ));
    out.push(direct(
        "DestinationRule",
        "legacy-api",
        json!({"host": "legacy-api", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}),
    ));
    out
}

/// Every generated object, grouped by file (tenancy first, then one file per workspace).
fn generate() -> Vec<(String, Vec<Value>)> {
    let mut tenancy = vec![object(
        "tsb.tetrate.io/v2",
        "OrganizationSetting",
        "acme-defaults",
        annotations("", None, None),
        json!({"defaultSecuritySetting": {
            "propagationStrategy": "STRICTER",
            "authenticationSettings": {"trafficMode": "REQUIRED"},
            "authorization": {"mode": "CLUSTER"}
        }}),
    )];
    for t in 0..TENANTS {
        let tenant = format!("tenant-{t:02}");
        tenancy.push(object(
            "tsb.tetrate.io/v2",
            "Tenant",
            &tenant,
            annotations("", None, None),
            json!({"displayName": format!("Tenant {t}")}),
        ));
        tenancy.push(object(
            "tsb.tetrate.io/v2",
            "TenantSetting",
            &format!("{tenant}-defaults"),
            annotations(&tenant, None, None),
            json!({"defaultSecuritySetting": {"authorization": {"mode": "WORKSPACE"}}}),
        ));
    }
    let mut files = vec![("tenancy.yaml".to_string(), tenancy)];
    for t in 0..TENANTS {
        for w in 0..WORKSPACES {
            files.push((
                format!("tenant-{t:02}/ws-{w:02}.yaml"),
                workspace_objects(t, w),
            ));
        }
    }
    files
}

fn inputs(files: &[(String, Vec<Value>)]) -> Vec<InputObject> {
    let mut out = Vec::new();
    for (file, objects) in files {
        let file: Arc<str> = Arc::from(file.as_str());
        for (document, value) in objects.iter().enumerate() {
            out.push(InputObject {
                source: Source {
                    file: file.clone(),
                    document,
                    item: None,
                    line: None,
                },
                value: value.clone(),
            });
        }
    }
    out
}

fn write_yaml(dir: &std::path::Path, files: &[(String, Vec<Value>)]) -> usize {
    let mut bytes = 0;
    for (file, objects) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("files live in a directory"))
            .expect("create bench dir");
        let mut text = String::new();
        for object in objects {
            text.push_str("---\n");
            text.push_str(&serde_saphyr::to_string(object).expect("object serializes to YAML"));
        }
        bytes += text.len();
        std::fs::write(&path, text).expect("write bench file");
    }
    bytes
}

/// CPU time of this thread (the analyzer is single-threaded), from the scheduler's own count;
/// `None` where `/proc` does not have it.
fn cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Runs `run` REPETITIONS times; returns sorted wall-clock and CPU times and the last result.
fn time<T>(mut run: impl FnMut() -> T) -> (Vec<Duration>, Vec<Duration>, T) {
    let mut wall = Vec::with_capacity(REPETITIONS);
    let mut cpu = Vec::with_capacity(REPETITIONS);
    let mut last = None;
    for _ in 0..REPETITIONS {
        let (start, cpu_start) = (Instant::now(), cpu_time());
        let value = run();
        wall.push(start.elapsed());
        if let (Some(before), Some(after)) = (cpu_start, cpu_time()) {
            cpu.push(after.saturating_sub(before));
        }
        last = Some(value);
    }
    wall.sort();
    cpu.sort();
    (wall, cpu, last.expect("at least one repetition"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let files = generate();
    let objects: usize = files.iter().map(|(_, o)| o.len()).sum();
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = write_yaml(dir.path(), &files);
    let paths = vec![PathBuf::from(dir.path())];
    let parsed = inputs(&files);

    // `check` consumes its input: prepare one copy per repetition outside the timed region.
    let mut copies: Vec<Vec<InputObject>> = (0..REPETITIONS).map(|_| parsed.clone()).collect();
    let (validate_wall, validate_cpu, report) =
        time(|| check(copies.pop().expect("one copy per repetition")));
    assert_eq!(report.checked, objects, "every generated object is config");
    // Valid: no error, and warnings only for fields translation does not enforce.
    assert_eq!(
        report.errors(),
        0,
        "{:?}",
        report
            .findings
            .iter()
            .find(|f| f.diagnostic.severity == tsbridge::model::diagnostic::Severity::Error)
    );
    assert!(
        report.findings.iter().all(|f| f.diagnostic.severity
            != tsbridge::model::diagnostic::Severity::Warning
            || f.diagnostic.rule == tsbridge::model::diagnostic::RuleCode::NotEnforced),
        "the generated set is valid"
    );
    let (parse_wall, parse_cpu, loaded) = time(|| load(&paths).expect("generated YAML loads"));
    assert_eq!(loaded.objects.len(), objects);
    let (both_wall, both_cpu, report) = time(|| {
        let loaded = load(&paths).expect("generated YAML loads");
        check(loaded.objects)
    });
    assert_eq!(report.errors(), 0);
    // render: every namespace the hierarchy selects, in one cluster.
    let strip = tsbridge::model::metadata::StripRules::default();
    let resources: Vec<tsbridge::model::Resource> = parsed
        .iter()
        .filter_map(
            |input| match tsbridge::k8s::convert::to_resource(&input.value, &strip) {
                Ok(tsbridge::model::Converted::Resource { resource, .. }) => Some(*resource),
                _ => None,
            },
        )
        .collect();
    let cluster = ClusterNamespaces {
        cluster: "bench".into(),
        namespaces: (0..TENANTS)
            .flat_map(|t| {
                (0..WORKSPACES).flat_map(move |w| {
                    let ns = format!("t{t:02}-w{w:02}");
                    [format!("{ns}-legacy"), ns]
                })
            })
            .collect(),
        ..Default::default()
    };
    let (render_wall, render_cpu, rendered) =
        time(|| render_clusters(&resources, std::slice::from_ref(&cluster), None));
    assert!(rendered.errors.is_empty(), "{:?}", rendered.errors.first());

    println!(
        "tsbridge validate: {objects} objects in {} files ({:.1} MiB of YAML), {REPETITIONS} repetitions, one thread",
        files.len(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "{:<18} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "phase", "wall min ms", "wall med ms", "cpu min ms", "cpu med ms", "objects/s"
    );
    let median = |t: &[Duration]| t.get(t.len() / 2).copied();
    let cell = |d: Option<Duration>| d.map_or("n/a".to_string(), |d| format!("{:.1}", ms(d)));
    for (name, wall, cpu) in [
        ("parse + validate", &both_wall, &both_cpu),
        ("parse only", &parse_wall, &parse_cpu),
        ("validate only", &validate_wall, &validate_cpu),
        ("render 1 cluster", &render_wall, &render_cpu),
    ] {
        // Throughput from the median CPU time (the work), or wall time without /proc.
        let basis = median(cpu).or(median(wall)).expect("timed at least once");
        println!(
            "{:<18} {:>12} {:>12} {:>12} {:>12} {:>12.0}",
            name,
            cell(wall.first().copied()),
            cell(median(wall)),
            cell(cpu.first().copied()),
            cell(median(cpu)),
            objects as f64 / basis.as_secs_f64()
        );
    }
    // One core: judge the fastest run's CPU time when available (other processes on the
    // machine only add waiting and cache misses), else the fastest wall-clock run.
    let judged = both_cpu.first().copied().unwrap_or(both_wall[0]);
    let met = judged < TARGET;
    println!(
        "target: parse + validate under {} ms of one core: {} ({:.1} ms)",
        TARGET.as_millis(),
        if met { "met" } else { "MISSED" },
        ms(judged)
    );
    let render_judged = render_cpu.first().copied().unwrap_or(render_wall[0]);
    let render_met = render_judged < TARGET;
    println!(
        "target: render of {} objects for one cluster under {} ms of one core: {} ({:.1} ms)",
        rendered.objects.len(),
        TARGET.as_millis(),
        if render_met { "met" } else { "MISSED" },
        ms(render_judged)
    );
    if !met || !render_met {
        std::process::exit(1);
    }
}
