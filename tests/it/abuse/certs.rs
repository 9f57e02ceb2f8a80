//! Expired and rotated certificates on a running management plane: client certificates out of
//! their dates are refused per request by name and audited; the client-CA bundle and the
//! serving certificate are re-read from their files, and no restart is ever needed.

use std::path::Path;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tsbridge::proto::v1;

use super::{MpState, ORG, apply, tenant};
use crate::support::mp::{Clients, Mp, register_cluster};
use crate::support::pki::Pki;
use crate::support::wait::eventually;

/// How long a rotation may take to show: the files are polled every 5 s.
const ROTATION: Duration = Duration::from_secs(15);

/// Replaces `path` the way a Secret volume does: a new file renamed over the old one.
fn swap(path: &Path, contents: &[u8]) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, contents).expect("write");
    std::fs::rename(&staged, path).expect("rename");
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

/// A list call over a new connection that trusts `server_ca` and presents `identity`; the
/// error text when the handshake or the call fails.
async fn list_as(
    url: &str,
    server_ca: &[u8],
    identity: Option<(&str, &str)>,
) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(server_ca));
    if let Some((crt, key)) = identity {
        tls = tls.identity(Identity::from_pem(read(crt), read(key)));
    }
    let channel = Channel::from_shared(url.to_string())
        .expect("URL")
        .tls_config(tls)
        .expect("TLS")
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut api = Clients::over(channel, tsbridge::cli::ctl::client::Bearer::none());
    api.config
        .list(v1::ListRequest::default())
        .await
        .map(drop)
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

#[tokio::test]
async fn certificates_expire_and_rotate_without_a_restart() {
    let (ca1, ca2) = (Pki::new(), Pki::new());
    let dir = tempfile::tempdir().expect("temp dir");
    let files = |name: &str| dir.path().join(name);
    let (crt, key) = ca1.server("server", None);
    std::fs::write(files("tls.crt"), read(&crt)).expect("write");
    std::fs::write(files("tls.key"), read(&key)).expect("write");
    std::fs::write(files("client-ca.pem"), read(&ca1.path("ca.crt"))).expect("write");
    let store = format!("sqlite:{}", files("mp.db").display());
    let path = |name: &str| files(name).to_str().expect("UTF-8").to_string();
    let (tls_crt, tls_key, client_ca) = (path("tls.crt"), path("tls.key"), path("client-ca.pem"));
    let mut mp = Mp::start_tls(
        &store,
        dir.path(),
        &[
            "--tls-cert",
            &tls_crt,
            "--tls-key",
            &tls_key,
            "--client-ca",
            &client_ca,
        ],
    )
    .await;
    let pid = mp.process.id();
    let ca1_pem = read(&ca1.path("ca.crt"));
    let ca2_pem = read(&ca2.path("ca.crt"));
    let admin = Clients::connect(
        &mp.url,
        Some(&mp.token),
        Some(Path::new(&ca1.path("ca.crt"))),
    )
    .await
    .expect("admin connects");
    let mut admin_api = admin.clone();
    admin_api
        .config
        .apply(apply(tenant("a")))
        .await
        .expect("tenant");
    register_cluster(&mut admin_api, "east", &format!("{ORG}/tenants/a")).await;
    let (east_crt, east_key) = ca1.cluster("east");
    list_as(&mp.url, &ca1_pem, Some((&east_crt, &east_key)))
        .await
        .expect("a valid client certificate works");

    // Out of its dates: through the handshake, refused by name, audited, nothing moves.
    for (file, years, says) in [
        (
            "east-expired",
            -2..-1,
            "the client certificate of cluster east expired at ",
        ),
        (
            "east-future",
            1..2,
            "the client certificate of cluster east is not valid before ",
        ),
    ] {
        let (crt, key) = ca1.cluster_valid(file, "east", Some(years));
        let before = MpState::of(&admin).await;
        let refused = list_as(&mp.url, &ca1_pem, Some((&crt, &key)))
            .await
            .expect_err(file);
        assert!(
            refused.starts_with("Unauthenticated: ") && refused.contains(says),
            "{file}: {refused}"
        );
        assert!(refused.contains("renew it"), "{refused}");
        let rows = before.assert_unmoved(&admin, 1, file).await;
        assert_eq!(rows[0].outcome, "rejected");
        assert!(rows[0].message.contains(says), "{:?}", rows[0]);
    }

    // Another CA's client certificate is refused in the handshake, and nothing is audited.
    let (west_crt, west_key) = ca2.cluster("east");
    let before = MpState::of(&admin).await;
    list_as(&mp.url, &ca1_pem, Some((&west_crt, &west_key)))
        .await
        .expect_err("an unknown CA");
    before
        .assert_unmoved(&admin, 0, "an unknown client CA")
        .await;

    // The client-CA bundle rotates: both CAs while agents move, then the new one alone.
    let both = [ca1_pem.clone(), ca2_pem.clone()].concat();
    swap(&files("client-ca.pem"), &both);
    eventually("the new client CA to be trusted", ROTATION, || async {
        list_as(&mp.url, &ca1_pem, Some((&west_crt, &west_key)))
            .await
            .ok()
    })
    .await;
    list_as(&mp.url, &ca1_pem, Some((&east_crt, &east_key)))
        .await
        .expect("the old CA still works while both are trusted");
    swap(&files("client-ca.pem"), &ca2_pem);
    eventually("the old client CA to be dropped", ROTATION, || async {
        list_as(&mp.url, &ca1_pem, Some((&east_crt, &east_key)))
            .await
            .err()
    })
    .await;
    list_as(&mp.url, &ca1_pem, Some((&west_crt, &west_key)))
        .await
        .expect("the new CA alone");
    // A bundle that does not parse is ignored: the last good one stays.
    swap(&files("client-ca.pem"), b"not a certificate");
    tokio::time::sleep(Duration::from_secs(6)).await;
    list_as(&mp.url, &ca1_pem, Some((&west_crt, &west_key)))
        .await
        .expect("a broken bundle keeps the last good one");

    // The serving certificate rotates to another CA.
    let (crt2, key2) = ca2.server("server2", None);
    swap(&files("tls.key"), &read(&key2));
    swap(&files("tls.crt"), &read(&crt2));
    eventually("the new serving certificate", ROTATION, || async {
        list_as(&mp.url, &ca2_pem, Some((&west_crt, &west_key)))
            .await
            .ok()
    })
    .await;
    list_as(&mp.url, &ca1_pem, Some((&west_crt, &west_key)))
        .await
        .expect_err("clients that trust only the old CA no longer connect");

    // An expired serving certificate: ctl says so; a valid one brings it back.
    let (old_crt, old_key) = ca2.server("server-expired", Some(-2..-1));
    swap(&files("tls.key"), &read(&old_key));
    swap(&files("tls.crt"), &read(&old_crt));
    let ca2_path = ca2.path("ca.crt");
    let ctl = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tsbridge"))
            .args([
                "ctl",
                "--server",
                &mp.url,
                "--ca",
                &ca2_path,
                "--token-file",
            ])
            .arg(&mp.token_file)
            .arg("list")
            .output()
            .expect("ctl runs")
    };
    let stderr = eventually("ctl to see the expired certificate", ROTATION, || async {
        let out = ctl();
        (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
    })
    .await;
    eprintln!("ctl against an expired serving certificate: {stderr}");
    assert!(stderr.to_lowercase().contains("expired"), "{stderr}");
    swap(&files("tls.key"), &read(&key2));
    swap(&files("tls.crt"), &read(&crt2));
    eventually("ctl to work again", ROTATION, || async {
        ctl().status.success().then_some(())
    })
    .await;
    assert!(
        mp.process.is_running() && mp.process.id() == pid,
        "never restarted"
    );
}
