//! The management plane through its real binary: API, `tsbridge ctl`, both stores, restarts,
//! `kill -9`, two replicas on one PostgreSQL, and the authorization matrix.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use prost::Message;
use serde_json::json;
use tokio_stream::StreamExt;
use tsbridge::proto::convert::json_to_struct;
use tsbridge::proto::v1;

use crate::store::TestDb;
use crate::support::mp::{Clients, Mp, clients};
use crate::support::pki::Pki;
use crate::support::repo_path;

const ORG: &str = "organizations/acme";

fn tenant(name: &str) -> v1::Resource {
    v1::Resource {
        api_version: "tsb.tetrate.io/v2".into(),
        kind: "Tenant".into(),
        name: name.into(),
        parent_fqn: ORG.into(),
        spec: Some(json_to_struct(&json!({ "displayName": name }))),
        ..Default::default()
    }
}

fn workspace(tenant: &str, name: &str, selector: &[&str]) -> v1::Resource {
    v1::Resource {
        api_version: "tsb.tetrate.io/v2".into(),
        kind: "Workspace".into(),
        name: name.into(),
        parent_fqn: format!("{ORG}/tenants/{tenant}"),
        spec: Some(json_to_struct(
            &json!({ "namespaceSelector": { "names": selector } }),
        )),
        ..Default::default()
    }
}

fn apply(resource: v1::Resource) -> v1::ApplyRequest {
    v1::ApplyRequest {
        resource: Some(resource),
        ..Default::default()
    }
}

fn diagnostics(status: &tonic::Status) -> Vec<v1::Diagnostic> {
    v1::Diagnostics::decode(status.details())
        .map(|d| d.diagnostics)
        .unwrap_or_default()
}

/// The newest 1,000 audit rows matching `query`.
async fn audit(api: &mut Clients, query: v1::AuditQuery) -> Vec<v1::AuditEntry> {
    let query = v1::AuditQuery {
        limit: 1000,
        ..query
    };
    api.audit
        .query(query)
        .await
        .expect("audit")
        .into_inner()
        .entries
}

fn ctl(mp: &Mp, args: &[&str]) -> std::process::Output {
    mp.ctl(args)
}

async fn sqlite_mp(dir: &std::path::Path) -> Mp {
    let store = format!("sqlite:{}", dir.join("mp.db").display());
    Mp::start(&store, dir, &[]).await
}

/// The whole API on one store: the fixture hierarchy through `ctl apply`, reads, a rejection
/// with its diagnostic, optimistic concurrency, dry run, recursive delete and the ledger.
async fn api_scenario(mp: &Mp) {
    let out = ctl(
        mp,
        &[
            "apply",
            "-f",
            repo_path("tests/fixtures/crs/every-kind.yaml")
                .to_str()
                .expect("UTF-8"),
        ],
    );
    assert!(
        out.status.success(),
        "ctl apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("Tenant organizations/acme/tenants/payments created"),
        "{printed}"
    );

    let mut api = mp.clients(&mp.token).await;
    let listed = api
        .config
        .list(v1::ListRequest {
            parent_fqn: format!("{ORG}/tenants/payments"),
            recursive: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.resources.len(), 16, "everything below the tenant");

    // A workspace overlapping bookinfo-ws is rejected with the model's diagnostic.
    let status = api
        .config
        .apply(apply(workspace("payments", "rival", &["*/bookinfo"])))
        .await
        .expect_err("overlap is rejected");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    let found = diagnostics(&status);
    assert!(!found.is_empty(), "the rejection carries diagnostics");
    assert!(found[0].object.contains("rival"), "{:?}", found[0]);
    assert!(!found[0].fix.is_empty(), "{:?}", found[0]);
    // The same through ctl: exit 1, the server's message naming the object and the fix.
    let rival = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        rival.path(),
        "apiVersion: tsb.tetrate.io/v2\nkind: Workspace\nmetadata:\n  name: rival\n  annotations:\n    \
         tsb.tetrate.io/organization: acme\n    tsb.tetrate.io/tenant: payments\n\
         spec:\n  namespaceSelector:\n    names: [\"*/bookinfo\"]\n",
    )
    .expect("writes");
    let out = ctl(mp, &["apply", "-f", rival.path().to_str().expect("UTF-8")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rival") && stderr.contains("fix:"),
        "{stderr}"
    );

    // Stale etag → FAILED_PRECONDITION; the current etag works.
    let ws = api
        .config
        .get(v1::GetRequest {
            fqn: format!("{ORG}/tenants/payments/workspaces/bookinfo-ws"),
        })
        .await
        .expect("get")
        .into_inner();
    let mut stale = apply(ws.clone());
    stale.expected_etag = "\"not-it\"".into();
    let status = api.config.apply(stale).await.expect_err("stale etag");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    let mut changed = ws.clone();
    changed.spec = Some(json_to_struct(
        &json!({ "namespaceSelector": { "names": ["*/bookinfo", "*/reviews"] } }),
    ));
    let mut fresh = apply(changed);
    fresh.expected_etag = ws.etag.clone();
    let applied = api
        .config
        .apply(fresh)
        .await
        .expect("current etag applies")
        .into_inner();
    assert_ne!(applied.resource.expect("resource").etag, ws.etag);

    // Dry run stores nothing.
    let mut dry = apply(tenant("dry"));
    dry.dry_run = true;
    api.config.apply(dry).await.expect("dry run validates");
    let missing = api
        .config
        .get(v1::GetRequest {
            fqn: format!("{ORG}/tenants/dry"),
        })
        .await;
    assert_eq!(
        missing.expect_err("not stored").code(),
        tonic::Code::NotFound
    );

    // Recursive delete, children first.
    let deleted = api
        .config
        .delete(v1::DeleteRequest {
            fqn: format!("{ORG}/tenants/payments/workspaces/bookinfo-ws"),
            ..Default::default()
        })
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(deleted.deleted.len(), 15, "{:?}", deleted.deleted);
    assert!(
        deleted
            .deleted
            .last()
            .expect("some")
            .ends_with("workspaces/bookinfo-ws")
    );

    // The ledger saw all of it; ctl audit prints it.
    let entries = audit(
        &mut api,
        v1::AuditQuery {
            fqn_prefix: format!("{ORG}/tenants"),
            ..Default::default()
        },
    )
    .await;
    let outcomes: BTreeSet<(String, String)> = entries
        .iter()
        .map(|e| (e.operation.clone(), e.outcome.clone()))
        .collect();
    for expected in [
        ("apply", "ok"),
        ("apply", "rejected"),
        ("apply", "dry-run"),
        ("delete", "ok"),
    ] {
        assert!(
            outcomes.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} not in {outcomes:?}"
        );
    }
    assert!(entries.iter().all(|e| e.actor == "user:admin"));
    let out = ctl(
        mp,
        &[
            "audit",
            "--fqn-prefix",
            "organizations/acme/tenants/payments",
            "-o",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ctl audit -o json");
    assert!(json.as_array().is_some_and(|a| !a.is_empty()));

    let out = ctl(
        mp,
        &[
            "status",
            "organizations/acme/tenants/payments",
            "-o",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    assert_eq!(status["status"], "ACCEPTED");
}

#[tokio::test]
async fn api_works_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mp = sqlite_mp(dir.path()).await;
    api_scenario(&mp).await;
}

#[tokio::test]
async fn api_works_on_postgres() {
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mp = Mp::start(db.url(), dir.path(), &[]).await;
    api_scenario(&mp).await;
}

/// Applies tenants as fast as acknowledgements come back, kills the server with SIGKILL in the
/// middle, restarts it, and checks every acknowledged tenant is there.
async fn nothing_acknowledged_is_lost(mut mp: Mp) {
    let api = mp.clients(&mp.token).await;
    let (tx, mut acked) = tokio::sync::mpsc::unbounded_channel();
    let writer = tokio::spawn(async move {
        let mut api = api;
        for i in 0..100_000 {
            let name = format!("burst-{i}");
            match api.config.apply(apply(tenant(&name))).await {
                Ok(_) => {
                    if tx.send(name).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    // Let a few hundred writes through, then pull the plug.
    let mut names = Vec::new();
    while names.len() < 300 {
        names.push(acked.recv().await.expect("writes are acknowledged"));
    }
    mp.kill_9();
    let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
    while let Ok(name) = acked.try_recv() {
        names.push(name);
    }
    mp.restart().await;
    let mut api = mp.clients(&mp.token).await;
    let stored: BTreeSet<String> = api
        .config
        .list(v1::ListRequest {
            parent_fqn: ORG.into(),
            kind: "Tenant".into(),
            ..Default::default()
        })
        .await
        .expect("list after restart")
        .into_inner()
        .resources
        .into_iter()
        .map(|r| r.name)
        .collect();
    let lost: Vec<&String> = names.iter().filter(|n| !stored.contains(*n)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

#[tokio::test]
async fn kill_9_loses_nothing_acknowledged_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    nothing_acknowledged_is_lost(sqlite_mp(dir.path()).await).await;
}

#[tokio::test]
async fn kill_9_loses_nothing_acknowledged_on_postgres() {
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().expect("temp dir");
    nothing_acknowledged_is_lost(Mp::start(db.url(), dir.path(), &[]).await).await;
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut mp = sqlite_mp(dir.path()).await;
    let mut api = mp.clients(&mp.token).await;
    let before = api
        .config
        .apply(apply(tenant("durable")))
        .await
        .expect("apply")
        .into_inner();
    mp.restart().await;
    let mut api = mp.clients(&mp.token).await;
    let after = api
        .config
        .get(v1::GetRequest {
            fqn: format!("{ORG}/tenants/durable"),
        })
        .await
        .expect("still there")
        .into_inner();
    assert_eq!(Some(after.etag), before.resource.map(|r| r.etag));
}

#[tokio::test]
async fn two_management_planes_share_one_postgres() {
    let db = TestDb::postgres().await;
    let url = db.url().to_string();
    let dir_a = tempfile::tempdir().expect("temp dir");
    let dir_b = tempfile::tempdir().expect("temp dir");
    let a = Mp::start(&url, dir_a.path(), &[]).await;
    let b = Mp::start(&url, dir_b.path(), &[]).await;
    let mut api_a = a.clients(&a.token).await;
    let mut api_b = b.clients(&b.token).await;
    let start = api_b
        .config
        .list(v1::ListRequest::default())
        .await
        .expect("list on b")
        .into_inner()
        .revision;
    let mut events = api_b
        .config
        .watch(v1::WatchRequest {
            fqn_prefix: ORG.into(),
            from_revision: start,
        })
        .await
        .expect("watch on b")
        .into_inner();
    api_a
        .config
        .apply(apply(tenant("shared")))
        .await
        .expect("apply on a");
    let event = tokio::time::timeout(Duration::from_secs(1), events.next())
        .await
        .expect("b sees a's write within 1 s")
        .expect("an event")
        .expect("not an error");
    assert_eq!(event.fqn, format!("{ORG}/tenants/shared"));
    // Each replica validates against the other's writes.
    api_b
        .config
        .apply(apply(workspace("shared", "one", &["*/ns1"])))
        .await
        .expect("apply on b");
    let status = api_a
        .config
        .apply(apply(workspace("shared", "two", &["*/ns1"])))
        .await
        .expect_err("overlap across replicas");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
}

#[tokio::test]
async fn the_authorization_matrix_denies_and_audits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mp = sqlite_mp(dir.path()).await;
    let mut admin = mp.clients(&mp.token).await;
    for name in ["a", "b"] {
        admin
            .config
            .apply(apply(tenant(name)))
            .await
            .expect("tenant");
    }
    let token = |role: &str, scope: &str, subject: &str| {
        let mut admin = admin.clone();
        let request = v1::CreateTokenRequest {
            role: role.into(),
            scope: scope.into(),
            subject: subject.into(),
            name: String::new(),
        };
        async move {
            admin
                .clusters
                .create_token(request)
                .await
                .expect("token")
                .into_inner()
                .token
        }
    };
    let viewer = token("viewer", "*", "vera").await;
    let editor_a = token("editor", &format!("{ORG}/tenants/a"), "eddie").await;

    let mut as_viewer = clients(&mp.url, Some(&viewer)).await;
    let denied = as_viewer
        .config
        .apply(apply(workspace("a", "w", &["*/x"])))
        .await
        .expect_err("viewer");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    let mut as_editor = clients(&mp.url, Some(&editor_a)).await;
    as_editor
        .config
        .apply(apply(workspace("a", "mine", &["*/x"])))
        .await
        .expect("inside scope");
    let denied = as_editor
        .config
        .apply(apply(workspace("b", "theirs", &["*/y"])))
        .await
        .expect_err("other tenant");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let denied = as_editor
        .config
        .get(v1::GetRequest {
            fqn: format!("{ORG}/tenants/b"),
        })
        .await
        .expect_err("reading another tenant");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let denied = as_editor
        .clusters
        .create_cluster(v1::CreateClusterRequest { name: "x".into() })
        .await
        .expect_err("not admin");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    let mut bad = clients(&mp.url, Some("tsb_not-a-token")).await;
    let status = bad
        .config
        .list(v1::ListRequest::default())
        .await
        .expect_err("bad token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let mut anonymous = clients(&mp.url, None).await;
    let status = anonymous
        .config
        .list(v1::ListRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    let rejected = admin
        .audit
        .query(v1::AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_inner()
        .entries
        .into_iter()
        .filter(|e| e.outcome == "rejected")
        .map(|e| e.actor)
        .collect::<Vec<_>>();
    for actor in ["user:vera", "user:eddie", "user:anonymous"] {
        assert!(
            rejected.iter().any(|a| a == actor),
            "{actor} not audited: {rejected:?}"
        );
    }
    assert!(rejected.len() >= 6, "{rejected:?}");
}

#[tokio::test]
async fn insecure_is_refused_off_loopback() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_tsbridge"))
        .args([
            "server",
            "--insecure",
            "--listen",
            "0.0.0.0:0",
            "--organization",
            "acme",
        ])
        .args([
            "--store",
            &format!("sqlite:{}", dir.path().join("x.db").display()),
        ])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--insecure"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn mtls_client(url: &str, ca: &str, cert: &str, key: &str) -> Result<Clients, String> {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(ca).expect("ca")))
        .identity(Identity::from_pem(
            std::fs::read(cert).expect("cert"),
            std::fs::read(key).expect("key"),
        ));
    let channel = Channel::from_shared(url.to_string())
        .expect("URL")
        .tls_config(tls)
        .expect("TLS config")
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let bearer = tsbridge::cli::ctl::client::Bearer::none();
    Ok(Clients::over(channel, bearer))
}

#[tokio::test]
async fn agents_authenticate_with_mtls_and_write_only_inside_their_grants() {
    let pki = Pki::new();
    let (server_crt, server_key) = pki.leaf(
        "server",
        vec![rcgen::SanType::IpAddress("127.0.0.1".parse().expect("IP"))],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let ca = pki.path("ca.crt");
    let mp = Mp::start_tls(
        &store,
        dir.path(),
        &[
            "--tls-cert",
            &server_crt,
            "--tls-key",
            &server_key,
            "--client-ca",
            &ca,
        ],
    )
    .await;
    let mut admin = Clients::connect(&mp.url, Some(&mp.token), Some(std::path::Path::new(&ca)))
        .await
        .expect("admin connects over TLS with a token");
    for name in ["a", "b"] {
        admin
            .config
            .apply(apply(tenant(name)))
            .await
            .expect("tenant");
    }
    admin
        .clusters
        .create_cluster(v1::CreateClusterRequest {
            name: "east".into(),
        })
        .await
        .expect("cluster");
    admin
        .clusters
        .grant(v1::GrantRequest {
            cluster: "east".into(),
            scope: format!("{ORG}/tenants/a"),
        })
        .await
        .expect("grant");

    let (east_crt, east_key) = pki.cluster("east");
    let mut east = mtls_client(&mp.url, &ca, &east_crt, &east_key)
        .await
        .expect("east connects");
    east.config
        .apply(apply(workspace("a", "from-east", &["east/app"])))
        .await
        .expect("inside the grant");
    let denied = east
        .config
        .apply(apply(workspace("b", "from-east", &["east/other"])))
        .await
        .expect_err("outside the grant");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert!(
        denied.message().contains("not granted"),
        "{}",
        denied.message()
    );

    // A registered name is required, and the certificate must come from the client CA.
    let (west_crt, west_key) = pki.cluster("west");
    let mut west = mtls_client(&mp.url, &ca, &west_crt, &west_key)
        .await
        .expect("TLS works");
    let denied = west
        .config
        .list(v1::ListRequest::default())
        .await
        .expect_err("unregistered");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let rogue = Pki::new();
    let (rogue_crt, rogue_key) = rogue.cluster("east");
    let refused = match mtls_client(&mp.url, &ca, &rogue_crt, &rogue_key).await {
        Err(_) => true,
        Ok(mut client) => client
            .config
            .list(v1::ListRequest::default())
            .await
            .is_err(),
    };
    assert!(
        refused,
        "a client certificate from an unknown CA must be refused"
    );

    let entries = audit(&mut admin, v1::AuditQuery::default()).await;
    assert!(
        entries
            .iter()
            .any(|e| e.actor == "cluster:east" && e.outcome == "ok")
    );
    assert!(
        entries
            .iter()
            .any(|e| e.actor == "cluster:east" && e.outcome == "rejected")
    );
    assert!(
        entries
            .iter()
            .any(|e| e.outcome == "rejected" && e.message.contains("west"))
    );
    drop(pki.ca);
}

/// Concurrent applies are committed in groups: each still gets its own revision and audit row,
/// a group's writes are validated against each other, and a stale etag loses even when the
/// winner is in the same burst.
#[tokio::test]
async fn concurrent_applies_commit_together_and_stay_serializable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mp = sqlite_mp(dir.path()).await;
    let admin = mp.clients(&mp.token).await;
    let mut writers = Vec::new();
    for c in 0..8 {
        let mut api = admin.clone();
        writers.push(tokio::spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..10 {
                let applied = api
                    .config
                    .apply(apply(tenant(&format!("t-{c}-{i}"))))
                    .await
                    .expect("tenant")
                    .into_inner();
                let resource = applied.resource.expect("resource");
                revisions.push((resource.fqn, resource.revision));
            }
            revisions
        }));
    }
    let mut written = Vec::new();
    for writer in writers {
        written.extend(writer.await.expect("writer"));
    }
    let revisions: BTreeSet<u64> = written.iter().map(|(_, r)| *r).collect();
    assert_eq!(revisions.len(), 80, "one revision per change");
    let mut api = admin.clone();
    let entries = audit(
        &mut api,
        v1::AuditQuery {
            operation: "apply".into(),
            ..Default::default()
        },
    )
    .await;
    for (fqn, revision) in &written {
        let rows: Vec<_> = entries.iter().filter(|e| &e.fqn == fqn).collect();
        assert_eq!(rows.len(), 1, "{fqn}");
        assert_eq!(rows[0].outcome, "ok");
        assert_eq!(rows[0].revision, i64::try_from(*revision).expect("small"));
    }

    // Overlapping workspaces racing each other: exactly one wins.
    let mut racers = Vec::new();
    for c in 0..8 {
        let mut api = admin.clone();
        racers.push(tokio::spawn(async move {
            api.config
                .apply(apply(workspace("t-0-0", &format!("w{c}"), &["*/shared"])))
                .await
        }));
    }
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.expect("racer"));
    }
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    for status in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        let rules: Vec<String> = diagnostics(status).into_iter().map(|d| d.rule).collect();
        assert_eq!(rules, ["TSB1011"], "{status:?}");
    }

    // Updates of one object with the same etag: the first wins, the rest are stale.
    let fqn = format!("{ORG}/tenants/t-1-1");
    let etag = api
        .config
        .get(v1::GetRequest { fqn: fqn.clone() })
        .await
        .expect("get")
        .into_inner()
        .etag;
    let mut updaters = Vec::new();
    for c in 0..4 {
        let mut api = admin.clone();
        let mut resource = tenant("t-1-1");
        resource.spec = Some(json_to_struct(&json!({ "displayName": format!("v{c}") })));
        let request = v1::ApplyRequest {
            resource: Some(resource),
            expected_etag: etag.clone(),
            ..Default::default()
        };
        updaters.push(tokio::spawn(async move { api.config.apply(request).await }));
    }
    let mut outcomes = Vec::new();
    for updater in updaters {
        outcomes.push(updater.await.expect("updater"));
    }
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    assert!(
        outcomes
            .iter()
            .filter_map(|o| o.as_ref().err())
            .all(|s| s.code() == tonic::Code::FailedPrecondition)
    );
}

/// GET /metrics on the admin listener.
async fn scrape(admin_url: &str) -> String {
    crate::support::mp::admin_get(admin_url, "/metrics")
        .await
        .expect("admin listener answers")
        .1
}

#[tokio::test]
async fn requests_over_the_rate_of_an_identity_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let args = ["--rate-limit-per-identity", "2", "--rate-limit-burst", "5"];
    let mp = Mp::start(&store, dir.path(), &args).await;
    let mut admin = mp.clients(&mp.token).await;
    let viewer = admin
        .clusters
        .create_token(v1::CreateTokenRequest {
            role: "viewer".into(),
            scope: "*".into(),
            subject: "vera".into(),
            name: String::new(),
        })
        .await
        .expect("token")
        .into_inner()
        .token;
    let mut refused = Vec::new();
    for _ in 0..10 {
        if let Err(status) = admin.config.list(v1::ListRequest::default()).await {
            refused.push(status);
        }
    }
    // 4 of the burst of 5 are left after the token; a slow host may refill one or two.
    assert!((4..=7).contains(&refused.len()), "{refused:?}");
    for status in &refused {
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(
            status.message().starts_with(
                "rate limit: identity \"user:admin\" exceeded 2 requests/s \
                 (--rate-limit-per-identity); retry after "
            ),
            "{}",
            status.message()
        );
    }
    // Another identity has its own bucket.
    let mut as_viewer = clients(&mp.url, Some(&viewer)).await;
    as_viewer
        .config
        .list(v1::ListRequest::default())
        .await
        .expect("viewer's own rate");

    // The rate refills; one audit row for the whole episode, every refusal in the metrics.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let entries = audit(&mut admin, v1::AuditQuery::default()).await;
    let audited: Vec<_> = entries
        .iter()
        .filter(|e| e.message.starts_with("rate limit:"))
        .collect();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0].actor, "user:admin");
    assert_eq!(audited[0].outcome, "rejected");
    let metrics = scrape(&mp.admin_url).await;
    let expected = format!(
        "tsbridge_server_rate_limited_requests_total {}",
        refused.len()
    );
    assert!(metrics.contains(&expected), "{metrics}");
}

/// `--max-objects-per-cluster`, through the engine: a cluster's creations stop at the limit;
/// its updates, and other writers, do not.
#[tokio::test]
async fn a_cluster_may_originate_only_so_many_objects() {
    use tsbridge::model::object::{EnvelopeInput, Origin};
    use tsbridge::model::validate::Organizations;
    use tsbridge::server::auth::{Actor, Role};
    use tsbridge::server::engine::{ApplyInput, Engine, Limits};
    use tsbridge::server::error::{Error, to_status};

    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("mp.db").display());
    let store = tsbridge::store::Store::connect(&url).await.expect("store");
    let orgs = Organizations::Known(BTreeSet::from(["acme".to_string()]));
    let limits = Limits {
        max_objects_per_cluster: 2,
    };
    let metrics = tsbridge::server::metrics::Metrics::unregistered();
    let engine = Engine::load_with(store, orgs, limits, metrics)
        .await
        .expect("engine");
    let east = Actor::Cluster {
        name: "east".into(),
        grants: vec![ORG.parse().expect("FQN")],
    };
    let input = |name: &str, display: &str| ApplyInput {
        envelope: EnvelopeInput {
            api_version: "tsb.tetrate.io/v2".into(),
            kind: "Tenant".into(),
            parent: ORG.into(),
            name: name.into(),
            namespace: None,
            spec: json!({ "displayName": display }),
            labels: Default::default(),
            annotations: Default::default(),
        },
        dry_run: false,
        expected_etag: String::new(),
        force: false,
        origin: Some(Origin {
            cluster: Some("east".into()),
            name: name.into(),
            ..Origin::default()
        }),
    };
    engine.apply(&east, input("a", "a")).await.expect("first");
    engine.apply(&east, input("b", "b")).await.expect("second");
    let refused = engine
        .apply(&east, input("c", "c"))
        .await
        .expect_err("over the limit");
    assert!(matches!(refused, Error::LimitExceeded(_)), "{refused:?}");
    let status = to_status(refused);
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(
        status
            .message()
            .contains("--max-objects-per-cluster limit of 2"),
        "{}",
        status.message()
    );
    engine
        .apply(&east, input("a", "renamed"))
        .await
        .expect("an update creates nothing");
    let admin = Actor::User {
        subject: "admin".into(),
        role: Role::Admin,
        scope: None,
    };
    let mut by_admin = input("d", "d");
    by_admin.origin = None;
    engine
        .apply(&admin, by_admin)
        .await
        .expect("users are not counted");
    let fqn = format!("{ORG}/tenants/b");
    engine
        .delete(&east, &fqn, false, false, "")
        .await
        .expect("delete");
    engine
        .apply(&east, input("c", "c"))
        .await
        .expect("room again");
}

/// The metrics `docs/metrics.md` lists, by name, and whether each is per cluster.
fn documented_metrics() -> Vec<(String, bool)> {
    let doc = std::fs::read_to_string(repo_path("docs/metrics.md")).expect("docs/metrics.md");
    let found: Vec<(String, bool)> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| {
            let (name, rest) = l.split_once('`')?;
            Some((name.to_string(), rest.contains("`cluster`")))
        })
        .collect();
    assert!(found.len() >= 10, "{doc}");
    found
}

/// Whether `metrics` (a scrape) exposes `name`. A counter's TYPE line drops `_total`.
fn exposes(metrics: &str, name: &str) -> bool {
    let family = name.strip_suffix("_total").unwrap_or(name);
    metrics.contains(&format!("# TYPE {family} "))
}

/// Every metric `docs/metrics.md` lists that is not per cluster is on the admin port of a
/// running server, and a write through the API is counted by the store commit histogram.
#[tokio::test]
async fn the_admin_port_exposes_the_documented_metrics_and_times_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    // The limiter's counter is registered only with the flag.
    let args = [
        "--rate-limit-per-identity",
        "1000",
        "--rate-limit-burst",
        "1000",
    ];
    let mp = Mp::start(&store, dir.path(), &args).await;
    let commits = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("tsbridge_server_store_commit_seconds_count "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("a commit count in {text}"))
    };
    let before = commits(&scrape(&mp.admin_url).await);
    let mut api = mp.clients(&mp.token).await;
    api.config
        .apply(apply(tenant("metered")))
        .await
        .expect("apply");
    let metrics = scrape(&mp.admin_url).await;
    assert!(commits(&metrics) > before, "{metrics}");
    for (name, _) in documented_metrics()
        .iter()
        .filter(|(_, per_cluster)| !per_cluster)
    {
        assert!(exposes(&metrics, name), "{name} is not exposed: {metrics}");
    }
}

/// Once an agent's stream is open, every per-cluster metric has its cluster's series.
#[tokio::test]
async fn an_agent_stream_shows_in_every_per_cluster_metric() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let mut api = mp.clients(&mp.token).await;
    crate::support::mp::register_cluster(&mut api, "eu", ORG).await;
    let hello = v1::Hello {
        cluster: "eu".into(),
        ..Default::default()
    };
    let _stream = crate::restart::Stream::open_with(&mp, hello).await;
    let documented = &documented_metrics();
    let admin_url = mp.admin_url.as_str();
    crate::support::wait::eventually(
        "every per-cluster metric to have eu's series",
        Duration::from_secs(10),
        move || async move {
            let metrics = scrape(admin_url).await;
            let connected = metrics
                .lines()
                .any(|l| l == "tsbridge_server_connected_agents 1");
            let every = documented.iter().all(|(name, per_cluster)| {
                !per_cluster || metrics.contains(&format!("{name}{{cluster=\"eu\"}}"))
            });
            (connected && every).then_some(())
        },
    )
    .await;
}
