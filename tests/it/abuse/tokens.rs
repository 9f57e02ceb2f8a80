//! `tsbridge ctl token list` and `revoke` through the binaries: a revoked token is refused at
//! once with its name, audited, never listed with a secret, never brought back by a restart,
//! and refused by every replica sharing one PostgreSQL.

use std::time::Duration;

use tsbridge::proto::v1;

use super::{MpState, apply, tenant};
use crate::store::TestDb;
use crate::support::mp::{Mp, clients};
use crate::support::wait::eventually;

/// `ctl ARGS` with the token in `token_file`: (success, stdout, stderr).
fn ctl_as(mp: &Mp, token_file: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tsbridge"))
        .arg("ctl")
        .args(["--server", &mp.url, "--token-file"])
        .arg(token_file)
        .args(args)
        .output()
        .expect("tsbridge ctl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates a token with `ctl token create`, writes it to `dir/<name>.token`; returns the path
/// and the secret.
fn create(mp: &Mp, dir: &std::path::Path, name: &str, role: &str) -> (std::path::PathBuf, String) {
    let out = mp.ctl(&[
        "token",
        "create",
        "--role",
        role,
        "--scope",
        "*",
        "--subject",
        name,
        "--name",
        name,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let path = dir.join(format!("{name}.token"));
    std::fs::write(&path, &secret).expect("token file");
    (path, secret)
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_and_stays_revoked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    // A low rate, so a flood of refused calls shows how the ledger stays bounded.
    let mut mp = Mp::start(&store, dir.path(), &["--rate-limit-per-identity", "10"]).await;
    let admin = mp.clients(&mp.token).await;
    let (ci_file, ci_secret) = create(&mp, dir.path(), "ci", "editor");
    let (ops_file, _) = create(&mp, dir.path(), "ops", "admin");
    let (ok, _, stderr) = ctl_as(&mp, &ci_file, &["list"]);
    assert!(ok, "{stderr}");

    // Listed by name, role and scope; never a secret, never a hash.
    let (ok, listed, _) = ctl_as(&mp, &ops_file, &["token", "list"]);
    assert!(ok);
    let ci_line = listed
        .lines()
        .find(|l| l.starts_with("ci "))
        .unwrap_or_else(|| panic!("ci listed: {listed}"));
    assert!(
        ci_line.contains("editor") && ci_line.ends_with('-'),
        "{ci_line}"
    );
    let hash = tsbridge::server::auth::token_hash(&ci_secret);
    assert!(!listed.contains(&ci_secret) && !listed.contains(&hash[..16]));
    assert!(!listed.contains(mp.token.as_str()));

    // Revoked: refused at once, by name, and audited; nothing else moves.
    let before = MpState::of(&admin).await;
    let (ok, out, stderr) = ctl_as(&mp, &ops_file, &["token", "revoke", "ci"]);
    assert!(ok, "{stderr}");
    assert!(out.starts_with("token ci of user:ci revoked at "), "{out}");
    let (ok, _, stderr) = ctl_as(&mp, &ci_file, &["list"]);
    assert!(!ok);
    assert!(
        stderr.contains("token \"ci\" (user:ci) was revoked at ")
            && stderr.contains("ask an admin for a new token"),
        "{stderr}"
    );
    let rows = before.assert_unmoved(&admin, 2, "revoking a token").await;
    assert_eq!(
        (rows[0].operation.as_str(), rows[0].actor.as_str()),
        ("token-revoke", "user:ops")
    );
    assert!(rows[0].message.contains("token ci of user:ci"));
    assert_eq!(rows[1].outcome, "rejected");
    assert!(rows[1].message.contains("was revoked"), "{:?}", rows[1]);
    let (_, listed, _) = ctl_as(&mp, &ops_file, &["token", "list", "-o", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
    let ci = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|t| t["name"] == "ci")
        .expect("still listed");
    assert!(
        ci["revoked"].as_str().is_some_and(|t| t.starts_with("20")),
        "{ci}"
    );
    // Revoking again changes nothing; an unknown name is not found.
    let (ok, _, _) = ctl_as(&mp, &ops_file, &["token", "revoke", "ci"]);
    assert!(ok);
    let (ok, _, stderr) = ctl_as(&mp, &ops_file, &["token", "revoke", "nobody"]);
    assert!(
        !ok && stderr.contains("token \"nobody\" not found"),
        "{stderr}"
    );

    // A flood with the revoked token: every call refused, the ledger bounded by the rate.
    let before = MpState::of(&admin).await;
    let mut revoked = clients(&mp.url, Some(&ci_secret)).await;
    let started = std::time::Instant::now();
    for _ in 0..200 {
        let status = revoked
            .config
            .list(v1::ListRequest::default())
            .await
            .expect_err("revoked");
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
    let now = MpState::of(&admin).await;
    assert_eq!(now.objects, before.objects);
    let added = now.audit.len() - before.audit.len();
    // The burst of 10, 10 a second after it, and the row of the episode.
    let bound = 11 + (10.0 * started.elapsed().as_secs_f64()).ceil() as usize;
    assert!(
        (1..=bound).contains(&added),
        "{added} audit rows for 200 refused calls (at most {bound})"
    );

    // The revoked bootstrap token stays revoked across a restart that reads the same file.
    let bootstrap = tsbridge::server::auth::default_token_name(
        "admin",
        &tsbridge::server::auth::token_hash(&mp.token),
    );
    let (ok, _, stderr) = ctl_as(&mp, &ops_file, &["token", "revoke", &bootstrap]);
    assert!(ok, "{stderr}");
    mp.restart().await;
    let out = mp.ctl(&["list"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("was revoked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, _, stderr) = ctl_as(&mp, &ops_file, &["list"]);
    assert!(ok, "{stderr}");
}

/// With two replicas on one PostgreSQL, a token revoked through one is refused by the other,
/// which had it cached: the revocation empties every replica's cache.
#[tokio::test]
async fn a_token_revoked_on_one_replica_is_refused_by_the_other() {
    let db = TestDb::postgres().await;
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = Mp::start(db.url(), dir_a.path(), &[]).await;
    // The second replica reads the same admin token.
    std::fs::copy(&a.token_file, dir_b.path().join("admin.token")).expect("copy token");
    let b = Mp::start(db.url(), dir_b.path(), &[]).await;
    let (_, secret) = create(&a, dir_a.path(), "ci", "editor");
    let mut on_b = clients(&b.url, Some(&secret)).await;
    on_b.config
        .apply(apply(tenant("t")))
        .await
        .expect("the token works on B (and is cached there)");
    let out = a.ctl(&["token", "revoke", "ci"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut on_a = clients(&a.url, Some(&secret)).await;
    let refused = on_a
        .config
        .list(v1::ListRequest::default())
        .await
        .expect_err("refused at once on A");
    assert!(refused.message().contains("was revoked"), "{refused:?}");
    // B learns of it through PostgreSQL's notification (milliseconds; its 1 s poll at worst).
    let refused = eventually(
        "B to refuse the revoked token",
        Duration::from_secs(2),
        || {
            let mut on_b = on_b.clone();
            async move { on_b.config.list(v1::ListRequest::default()).await.err() }
        },
    )
    .await;
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    assert!(
        refused
            .message()
            .contains("token \"ci\" (user:ci) was revoked"),
        "{refused:?}"
    );
}
