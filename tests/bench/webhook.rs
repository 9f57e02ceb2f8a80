//! `cargo bench --bench webhook`: the admission webhook under open-loop load (gitops-contract.md
//! R-B4, R-I3).
//!
//! Serves `tsbridge::agent::webhook` on 127.0.0.1 with a self-signed certificate and replays
//! recorded `AdmissionReview` bodies over one HTTP/2 connection (the apiserver keeps its
//! connections open). The bodies are built once from `tests/fixtures/crs/every-kind.yaml` and
//! the direct-mode fixture: CREATE, UPDATE and DELETE, allowed and denied, half as dry-runs.
//! Requests leave on a fixed schedule whatever the answers do, and each latency is measured
//! from its scheduled send time, so a stall shows up as queueing instead of a slower rate.
//!
//! `TSBRIDGE_BENCH_RATE` (default 200/s, the floor of R-I3) and `TSBRIDGE_BENCH_SECONDS`
//! (default 10) set the load. Exits non-zero when p99 exceeds 5 ms or an answer is wrong.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tsbridge::agent::webhook::{WebhookArgs, WebhookMetrics, review, serve};
use tsbridge::runtime::Shutdown;

const TARGET_P99: Duration = Duration::from_millis(5);
const WARM_UP: Duration = Duration::from_secs(1);

/// One recorded request and the verdict it must get.
struct Recorded {
    body: Bytes,
    allowed: bool,
}

fn load_fixtures() -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crs");
    let mut objects = Vec::new();
    for file in ["every-kind.yaml", "direct-mode.yaml"] {
        let text = std::fs::read_to_string(root.join(file)).expect("fixture reads");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("fixture parses");
        objects.extend(docs.into_iter().filter(Value::is_object));
    }
    objects
}

fn review(operation: &str, object: &Value, old: &Value, dry_run: bool) -> Bytes {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let (group, version) = api_version.rsplit_once('/').expect("group/version");
    let kind = object["kind"].as_str().expect("kind");
    let gvk = json!({ "group": group, "version": version, "kind": kind });
    let gvr = json!({ "group": group, "version": version, "resource": format!("{}s", kind.to_lowercase()) });
    let name = object["metadata"]["name"].clone();
    let (object, old) = match operation {
        "CREATE" => (object.clone(), Value::Null),
        "UPDATE" => (object.clone(), old.clone()),
        _ => (Value::Null, old.clone()),
    };
    let request = json!({
        "uid": "3b5a7c9e-0000-4000-8000-000000000000",
        "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
        "name": name, "namespace": "tsb-config", "operation": operation,
        "userInfo": { "username": "system:serviceaccount:flux-system:kustomize-controller",
                      "groups": ["system:serviceaccounts", "system:authenticated"] },
        "object": object, "oldObject": old, "dryRun": dry_run,
        "options": { "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions",
                     "fieldManager": "kustomize-controller" },
    });
    let review = json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request });
    Bytes::from(serde_json::to_vec(&review).expect("JSON"))
}

/// Per fixture: a valid create, a create without a hierarchy annotation, a label edit, a
/// hierarchy move, a delete, and a protected delete where the kind has the flag.
fn recorded() -> Vec<Recorded> {
    let mut out = Vec::new();
    for (i, object) in load_fixtures().into_iter().enumerate() {
        let dry_run = i % 2 == 0;
        let mut orphan = object.clone();
        orphan["metadata"]["annotations"]
            .as_object_mut()
            .expect("annotations")
            .remove("tsb.tetrate.io/organization");
        let mut relabelled = object.clone();
        relabelled["metadata"]["labels"]["team"] = json!("checkout");
        let mut moved = object.clone();
        moved["metadata"]["annotations"]["tsb.tetrate.io/organization"] = json!("other-org");
        let mut protected = object.clone();
        protected["spec"]["deletionProtectionEnabled"] = json!(true);
        let direct = object["apiVersion"]
            .as_str()
            .is_some_and(|v| v.contains("istio.io"));
        let cases = [
            ("CREATE", &object, &object, true),
            ("CREATE", &orphan, &orphan, false),
            ("UPDATE", &relabelled, &object, true),
            ("UPDATE", &moved, &object, false),
            ("DELETE", &object, &object, true),
            // Direct-mode objects ignore the flag (their MP copy is not protected).
            ("DELETE", &protected, &protected, direct),
        ];
        for (operation, new, old, allowed) in cases {
            out.push(Recorded {
                body: review(operation, new, old, dry_run),
                allowed,
            });
        }
    }
    out
}

fn self_signed(dir: &std::path::Path) -> rustls::RootCertStore {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
    std::fs::write(dir.join("tls.crt"), certified.cert.pem()).expect("writes tls.crt");
    std::fs::write(dir.join("tls.key"), certified.signing_key.serialize_pem())
        .expect("writes tls.key");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("root");
    roots
}

async fn connect(
    addr: std::net::SocketAddr,
    roots: rustls::RootCertStore,
) -> http2::SendRequest<Body> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    tcp.set_nodelay(true).expect("nodelay");
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    sender
}

/// Sends one body; the latency from `scheduled`, or what went wrong.
async fn send(
    mut sender: http2::SendRequest<Body>,
    url: &str,
    recorded: &Recorded,
    scheduled: Instant,
) -> Result<Duration, String> {
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(Body::from(recorded.body.clone()))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = axum::body::to_bytes(Body::new(response.into_body()), 1 << 20)
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = scheduled.elapsed();
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    let needle: &[u8] = if recorded.allowed {
        br#""allowed":true"#
    } else {
        br#""allowed":false"#
    };
    if !body.windows(needle.len()).any(|w| w == needle) {
        return Err(format!(
            "wrong verdict: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    Ok(elapsed)
}

/// The in-process cost of one review without HTTP or TLS, averaged over the recorded bodies.
fn handler_micros(bodies: &[Recorded]) -> f64 {
    const ROUNDS: usize = 20;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        for recorded in bodies {
            let request = review::decode(&recorded.body).expect("a recorded body decodes");
            let verdict = review::review(request);
            assert_eq!(verdict.allowed(), recorded.allowed);
            let encoded = serde_json::to_vec(&verdict.response.into_review()).expect("JSON");
            std::hint::black_box(encoded);
        }
    }
    started.elapsed().as_secs_f64() * 1e6 / (ROUNDS * bodies.len()) as f64
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let rate = env_number("TSBRIDGE_BENCH_RATE", 200).max(1);
    let seconds = env_number("TSBRIDGE_BENCH_SECONDS", 10).max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let roots = self_signed(dir.path());
    let shutdown = Shutdown::new();
    let args = WebhookArgs {
        webhook_listen: "127.0.0.1:0".parse().expect("address"),
        webhook_cert: Some(dir.path().join("tls.crt")),
        webhook_key: Some(dir.path().join("tls.key")),
    };
    let addr = serve(&args, WebhookMetrics::unregistered(), shutdown.clone())
        .await
        .expect("the webhook serves");
    let url: Arc<str> = format!("https://127.0.0.1:{}/validate", addr.port()).into();
    let bodies = Arc::new(recorded());
    let denied = bodies.iter().filter(|r| !r.allowed).count();
    let mean_size = bodies.iter().map(|r| r.body.len()).sum::<usize>() / bodies.len();
    println!(
        "webhook bench: {} recorded reviews ({denied} denied, mean {mean_size} bytes), \
         {rate}/s for {seconds} s after {} s warm-up, one HTTP/2 connection",
        bodies.len(),
        WARM_UP.as_secs()
    );
    println!(
        "handler alone (decode, L1 verdict, encode): {:.1} µs per review",
        handler_micros(&bodies)
    );
    let sender = connect(addr, roots).await;

    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let warm_up = (WARM_UP.as_secs_f64() * rate as f64) as u64;
    let total = warm_up + seconds * rate;
    // The schedule runs on its own thread: tokio's timer has 1 ms granularity, which would
    // count against the webhook, while a thread's sleep is accurate to tens of µs.
    let runtime = tokio::runtime::Handle::current();
    let start = Instant::now() + Duration::from_millis(50);
    let scheduler = std::thread::spawn(move || {
        let mut tasks = Vec::with_capacity(total as usize);
        for i in 0..total {
            let scheduled = start + interval.mul_f64(i as f64);
            std::thread::sleep(scheduled.saturating_duration_since(Instant::now()));
            let (sender, url, bodies) = (sender.clone(), url.clone(), bodies.clone());
            tasks.push(runtime.spawn(async move {
                let recorded = &bodies[i as usize % bodies.len()];
                (i >= warm_up, send(sender, &url, recorded, scheduled).await)
            }));
        }
        tasks
    });
    let tasks = tokio::task::spawn_blocking(move || scheduler.join().expect("scheduler"))
        .await
        .expect("scheduler thread");
    let mut latencies = Vec::with_capacity((seconds * rate) as usize);
    let mut errors = Vec::new();
    for task in tasks {
        match task.await.expect("request task") {
            (true, Ok(latency)) => latencies.push(latency),
            (_, Err(error)) => errors.push(error),
            (false, Ok(_)) => {}
        }
    }
    let elapsed = start.elapsed();
    shutdown.begin();
    shutdown.drain(Duration::from_secs(5)).await;

    if latencies.is_empty() {
        eprintln!(
            "no request succeeded; first errors: {:?}",
            &errors[..errors.len().min(3)]
        );
        return std::process::ExitCode::FAILURE;
    }
    latencies.sort();
    let p99 = percentile(&latencies, 0.99);
    println!("| rate/s | requests | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {rate} | {} | {} | {} | {} | {} | {} | {} |",
        latencies.len(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(p99),
        ms(percentile(&latencies, 0.999)),
        ms(*latencies.last().expect("not empty")),
        errors.len()
    );
    println!(
        "achieved {:.0} requests/s over {:.1} s wall",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    if !errors.is_empty() {
        eprintln!(
            "{} errors; first: {:?}",
            errors.len(),
            &errors[..errors.len().min(3)]
        );
        return std::process::ExitCode::FAILURE;
    }
    if p99 > TARGET_P99 {
        eprintln!(
            "p99 {} ms is over the {} ms target",
            ms(p99),
            ms(TARGET_P99)
        );
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
