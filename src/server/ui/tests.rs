//! The console's page data, built from a real store, engine and distributor, without HTTP.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::model::Fqn;
use crate::runtime::Shutdown;
use crate::server::auth::{Actor, Role};
use crate::server::ui::fixture::{self, Scale};
use crate::server::ui::hierarchy::{HierarchyQuery, PAGE_SIZE, hierarchy};
use crate::server::ui::{Console, activity, clusters, object, session};
use crate::store::{LedgerEntry, Outcome, Store};

const SCALE: Scale = Scale {
    tenants: 2,
    objects: 120,
    clusters: 3,
};

async fn console(dir: &tempfile::TempDir) -> (Console, Shutdown) {
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("ui.db").display()))
        .await
        .expect("store");
    fixture::populate(&store, SCALE).await.expect("fixture");
    let shutdown = Shutdown::new();
    (fixture::console(store, SCALE, &shutdown).await, shutdown)
}

fn admin() -> Actor {
    Actor::User {
        subject: "root".into(),
        role: Role::Admin,
        scope: None,
    }
}

fn viewer_of(tenant: usize) -> Actor {
    Actor::User {
        subject: "vera".into(),
        role: Role::Viewer,
        scope: Some(
            format!("organizations/acme/tenants/t{tenant}")
                .parse::<Fqn>()
                .expect("fqn"),
        ),
    }
}

#[tokio::test]
async fn a_group_with_many_objects_is_paginated_and_filtered_with_statuses() {
    let dir = tempfile::tempdir().expect("dir");
    let (console, _stop) = console(&dir).await;
    let query = |q: &str, status: &str, page: Option<usize>| HierarchyQuery {
        fqn: fixture::group(0),
        q: q.into(),
        status: status.into(),
        page,
    };
    let first = hierarchy(&console, &admin(), query("", "", None))
        .await
        .expect("page");
    assert_eq!(first.matching, SCALE.objects / SCALE.tenants);
    assert_eq!((first.page, first.pages), (1, 2));
    assert_eq!(first.rows.len(), PAGE_SIZE);
    let status = first.rows[1].status.as_ref().expect("a status");
    assert_eq!(status.targeted, 3, "{status:?}");
    let last = hierarchy(&console, &admin(), query("", "", Some(9)))
        .await
        .expect("page");
    assert_eq!((last.page, last.rows.len()), (2, 60 - PAGE_SIZE));

    let named = hierarchy(&console, &admin(), query("svc-10", "", None))
        .await
        .expect("filtered");
    let names: Vec<&str> = named.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "svc-10", "svc-100", "svc-102", "svc-104", "svc-106", "svc-108"
        ]
    );
    let ready = hierarchy(&console, &admin(), query("", "READY", None))
        .await
        .expect("filtered");
    assert!(
        ready.matching > 0 && ready.matching < 60,
        "{}",
        ready.matching
    );
    assert!(ready.rows.iter().all(|r| {
        let s = r.status.as_ref().expect("status");
        s.status == "READY" && s.applied == 3
    }));
    // The group's own status is its subtree's.
    let group = first.status.expect("the group's status");
    assert_eq!(group.targeted, 3);
}

#[tokio::test]
async fn a_scoped_viewer_sees_its_tenant_only() {
    let dir = tempfile::tempdir().expect("dir");
    let (console, _stop) = console(&dir).await;
    let viewer = viewer_of(0);
    let root = hierarchy(&console, &viewer, HierarchyQuery::default())
        .await
        .expect("root");
    assert_eq!(root.rows.len(), 1);
    assert!(
        !root.rows[0].readable,
        "the organization is only on the way"
    );
    let organization = hierarchy(
        &console,
        &viewer,
        HierarchyQuery {
            fqn: "organizations/acme".into(),
            ..HierarchyQuery::default()
        },
    )
    .await
    .expect("organization");
    let tenants: Vec<&str> = organization.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(tenants, ["t0"]);
    let other = hierarchy(
        &console,
        &viewer,
        HierarchyQuery {
            fqn: fixture::group(1),
            ..HierarchyQuery::default()
        },
    )
    .await;
    assert!(other.is_err());
    assert!(
        object::object(&console, &viewer, &fixture::route(&SCALE, 1))
            .await
            .is_err()
    );

    // Cluster counts cover the tenant's objects only.
    let all = clusters::clusters(&console, &admin())
        .await
        .expect("clusters");
    let mine = clusters::clusters(&console, &viewer)
        .await
        .expect("clusters");
    assert_eq!(all.len(), 3);
    let total = |rows: &[clusters::ClusterRow]| rows[0].applied + rows[0].failed + rows[0].pending;
    assert_eq!(total(&all), 120);
    assert_eq!(total(&mine), 60);
    assert!(
        all.iter()
            .all(|c| c.connected == Some(true) && c.acked_revision == 1)
    );

    // Audit queries are bounded by the scope, whatever prefix is asked for.
    let bounded = activity::scoped_query(
        &viewer,
        &activity::ActivityQuery {
            fqn_prefix: "organizations/acme/tenants/t1".into(),
            ..Default::default()
        },
    )
    .expect("query");
    assert_eq!(bounded.fqn_prefix, "organizations/acme/tenants/t0");
    let narrower = activity::scoped_query(
        &viewer,
        &activity::ActivityQuery {
            fqn_prefix: fixture::group(0),
            ..Default::default()
        },
    )
    .expect("query");
    assert_eq!(narrower.fqn_prefix, fixture::group(0));
    assert!(
        activity::scoped_query(
            &admin(),
            &activity::ActivityQuery {
                since: "yesterday".into(),
                ..Default::default()
            }
        )
        .is_err()
    );
}

/// A delivery ledger row of `fqn` in cluster `c`, as the serving replica writes it on an ACK.
fn delivered(fqn: &str, c: usize, change: i64, outcome: Outcome, message: &str) -> LedgerEntry {
    let now = jiff::Timestamp::now().as_microsecond();
    LedgerEntry {
        id: 0,
        fqn: fqn.to_string(),
        cluster: fixture::cluster(c),
        revision: 1,
        change,
        outcome,
        message: message.into(),
        rollback: false,
        committed_us: 0,
        sent_us: now,
        acked_us: now,
    }
}

#[tokio::test]
async fn an_object_shows_each_clusters_edge_objects_history_and_nack_reason_from_the_ledger() {
    let dir = tempfile::tempdir().expect("dir");
    let (console, _stop) = console(&dir).await;
    // ServiceRoute 0 is ERRORED in cluster c000 ((0 + 0) % 50 == 0). The console is fresh:
    // its memory of NACKs is empty, as on a replica that restarted after the NACK; the
    // reason is the ledger's.
    let fqn = fixture::route(&SCALE, 0);
    let store = console.engine.store();
    let change = store.object_changes(&fqn).await.expect("changes")[0].revision;
    store
        .append_ledger(vec![
            delivered(&fqn, 0, change, Outcome::Failed, "an older refusal"),
            delivered(
                &fqn,
                0,
                change,
                Outcome::Failed,
                "admission webhook denied the request",
            ),
            delivered(&fqn, 2, change, Outcome::Applied, ""),
        ])
        .await
        .expect("ledger rows");
    let view = object::object(&console, &admin(), &fqn)
        .await
        .expect("object");
    let states: Vec<(&str, &str)> = view
        .edges
        .iter()
        .map(|e| (e.cluster.as_str(), e.state.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("c000", "ERRORED"),
            ("c001", "UNKNOWN"),
            ("c002", "APPLIED")
        ]
    );
    assert!(
        view.edges
            .iter()
            .all(|e| e.revision == 1 && e.objects.len() == 1)
    );
    let nack = view.edges[0].nack.as_ref().expect("the reason");
    assert_eq!(nack.message, "admission webhook denied the request");
    assert_eq!(view.edges[2].nack, None);
    assert_eq!(view.status.status, "FAILED");
    let revision = view.history.revisions.last().expect("its revision");
    assert_eq!(revision.revision, change);
    let outcomes: Vec<(&str, &str)> = revision
        .deliveries
        .iter()
        .map(|d| (d.cluster.as_str(), d.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [("c002", "applied"), ("c000", "failed"), ("c000", "failed")]
    );
    let html = object::render(&view).into_string();
    assert!(html.contains("admission webhook denied the request"));
    assert!(html.contains(&format!("Revision {change}")), "{html}");
}

#[tokio::test]
async fn without_a_ledger_row_the_nack_reason_is_this_replicas_memory() {
    let dir = tempfile::tempdir().expect("dir");
    let (console, _stop) = console(&dir).await;
    let fqn = fixture::route(&SCALE, 0);
    console.nacks.record(
        &fixture::cluster(0),
        &crate::proto::v1::Ack {
            revision: 1,
            errors: vec![crate::proto::v1::ObjectError {
                key: None,
                source_fqn: fqn.clone(),
                message: "denied while the ledger is off".into(),
                ignored: false,
            }],
            ..Default::default()
        },
    );
    let view = object::object(&console, &admin(), &fqn)
        .await
        .expect("object");
    let nack = view.edges[0].nack.as_ref().expect("the reason");
    assert_eq!(nack.message, "denied while the ledger is off");
}

#[test]
fn audit_text_is_escaped() {
    let row = crate::store::AuditEntry {
        message: "<script>alert(1)</script>".into(),
        outcome: "rejected".into(),
        ..Default::default()
    };
    let html = activity::table(&[row]).into_string();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
}

#[test]
fn posts_must_come_from_the_consoles_own_origin() {
    let headers = |pairs: &[(&'static str, &'static str)]| {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    };
    let host = ("host", "console.example:8080");
    assert!(session::same_origin(&headers(&[
        host,
        ("origin", "https://console.example:8080")
    ])));
    assert!(!session::same_origin(&headers(&[
        host,
        ("origin", "https://evil.example")
    ])));
    assert!(!session::same_origin(&headers(&[
        host,
        ("sec-fetch-site", "cross-site")
    ])));
    let mut cookies = HeaderMap::new();
    cookies.insert(
        header::COOKIE,
        HeaderValue::from_static("a=1; tsbridge_csrf=xyz; tsbridge_session=tok"),
    );
    assert_eq!(session::cookie(&cookies, session::CSRF_COOKIE), Some("xyz"));
    assert_eq!(
        session::cookie(&cookies, session::SESSION_COOKIE),
        Some("tok")
    );
    assert_eq!(session::cookie(&cookies, "missing"), None);
}

#[tokio::test]
async fn a_refused_console_login_is_audited_as_the_api_audits_a_refused_token() {
    use axum::extract::{Form, State};
    use axum::response::IntoResponse;

    let dir = tempfile::tempdir().expect("dir");
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("ui.db").display()))
        .await
        .expect("store");
    let shutdown = Shutdown::new();
    let console = fixture::console(
        store,
        Scale {
            tenants: 1,
            objects: 0,
            clusters: 0,
        },
        &shutdown,
    )
    .await;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::COOKIE,
        HeaderValue::from_static("tsbridge_csrf=abc"),
    );
    for token in ["not-a-token-this-mp-issued", "<script>"] {
        let response = session::login(
            State(console.clone()),
            headers.clone(),
            axum::http::Extensions::new(),
            Form(session::LoginForm {
                token: token.into(),
                csrf: "abc".into(),
            }),
        )
        .await
        .into_response();
        assert_eq!(response.status(), axum::http::StatusCode::UNAUTHORIZED);
    }
    let rejected = || async {
        console
            .engine
            .store()
            .query_audit(&crate::store::AuditQuery {
                operation: session::LOGIN_OPERATION.into(),
                ..Default::default()
            })
            .await
            .expect("audit")
    };
    let rows = rejected().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(row.outcome, "rejected");
        assert!(row.actor.contains("anonymous"), "{row:?}");
        assert!(!row.message.is_empty(), "{row:?}");
    }
    // A stale form is refused before any token is looked at: nothing to audit.
    let stale = session::login(
        State(console.clone()),
        HeaderMap::new(),
        axum::http::Extensions::new(),
        Form(session::LoginForm {
            token: "whatever".into(),
            csrf: "abc".into(),
        }),
    )
    .await
    .into_response();
    assert_eq!(stale.status(), axum::http::StatusCode::FORBIDDEN);
    assert_eq!(rejected().await.len(), 2);
    shutdown.begin();
}

#[tokio::test]
async fn every_page_sends_a_caller_without_a_valid_session_to_the_login_page() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    let dir = tempfile::tempdir().expect("dir");
    let (console, shutdown) = console(&dir).await;
    let secret = crate::server::auth::new_token();
    let hash = crate::server::auth::token_hash(&secret);
    console
        .engine
        .store()
        .create_token(crate::store::TokenRecord {
            name: crate::server::auth::default_token_name("user:root", &hash),
            hash,
            subject: "user:root".into(),
            role: "admin".into(),
            scope: "*".into(),
            created: String::new(),
            revoked: None,
        })
        .await
        .expect("token");
    let app = super::router(console);
    let get = |path: &str, cookie: Option<String>| {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        app.clone()
            .oneshot(request.body(Body::empty()).expect("request"))
    };
    let pages = [
        "/hierarchy",
        "/object?fqn=organizations/acme/tenants/t0",
        "/clusters",
        "/activity",
    ];
    for path in pages.into_iter().chain(["/events"]) {
        for cookie in [
            None,
            Some("tsbridge_session=not-a-token-this-mp-issued".to_string()),
        ] {
            let response = get(path, cookie.clone()).await.expect("response");
            assert_eq!(
                response.status(),
                StatusCode::SEE_OTHER,
                "{path} {cookie:?}"
            );
            assert_eq!(response.headers()[header::LOCATION], "/login", "{path}");
        }
    }
    for path in pages {
        let signed_in = Some(format!("{}={secret}", session::SESSION_COOKIE));
        let response = get(path, signed_in).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    shutdown.begin();
}
