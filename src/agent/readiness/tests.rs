//! The readiness decision: what changes, what blocks, what each mistake says.

use std::time::Duration;

use super::*;

fn lease_missing() -> Condition {
    Condition::LeaseNamespaceMissing {
        namespace: "tsbridge-system".into(),
    }
}

#[test]
fn a_condition_is_raised_once_and_cleared_once() {
    let mut readiness = Readiness::default();
    assert_eq!(
        readiness.report(Source::Lease, Some(lease_missing())),
        Some(Change::Raised(lease_missing()))
    );
    // Every lease round sees it again: nothing new to log.
    assert_eq!(readiness.report(Source::Lease, Some(lease_missing())), None);
    assert!(readiness.holds("lease_namespace_missing"));
    assert_eq!(
        readiness.report(Source::Lease, None),
        Some(Change::Cleared(lease_missing()))
    );
    assert_eq!(readiness.report(Source::Lease, None), None);
    assert!(readiness.blocking().is_empty());
    // The same reason with other details is an update, not a new warning.
    let pending =
        |kinds: &[&str]| Condition::WatchesPending(kinds.iter().map(ToString::to_string).collect());
    readiness.report(Source::Watches, Some(pending(&["a", "b"])));
    assert_eq!(
        readiness.report(Source::Watches, Some(pending(&["b"]))),
        Some(Change::Updated(pending(&["b"])))
    );
}

#[test]
fn each_line_names_the_reason_and_the_fix() {
    let line = lease_missing().line();
    assert!(
        line.starts_with("lease_namespace_missing: ")
            && line.contains("kubectl create namespace tsbridge-system")
            && line.contains("--lease-namespace"),
        "{line}"
    );
    let line = Condition::ClusterNotRegistered {
        cluster: "eu-1".into(),
    }
    .line();
    assert!(line.contains("tsbridge ctl cluster create eu-1"), "{line}");
    let line = Condition::ClusterNotGranted {
        cluster: "eu-1".into(),
    }
    .line();
    assert!(line.contains("tsbridge ctl cluster grant eu-1"), "{line}");
    let line = Condition::CrdsMissing(vec!["tenants.tsb.tetrate.io".into()]).line();
    assert!(line.contains("tsbridge crds"), "{line}");
    for condition in [
        Condition::WatchesPending(vec!["namespaces".into()]),
        Condition::IstioCrdsMissing(vec!["networking.istio.io".into()]),
        Condition::LeaseForbidden {
            namespace: "ns".into(),
            message: "forbidden".into(),
        },
        Condition::LeaseFailing("timed out".into()),
        Condition::UpstreamConfig("bad".into()),
        Condition::ServerUnreachable("refused".into()),
        Condition::Stalled("stalled".into()),
        Condition::Refused("no".into()),
        Condition::CertificateNotValid("not yet valid".into()),
    ] {
        assert!(
            REASONS.contains(&condition.reason()),
            "{} is a metric label",
            condition.reason()
        );
    }
}

#[test]
fn an_unreachable_mp_blocks_only_until_the_first_welcome_and_istio_never_blocks() {
    let mut readiness = Readiness::default();
    readiness.report(
        Source::Upstream,
        Some(Condition::ServerUnreachable("connection refused".into())),
    );
    readiness.report(
        Source::Istio,
        Some(Condition::IstioCrdsMissing(vec![
            "networking.istio.io".into(),
        ])),
    );
    assert_eq!(readiness.blocking().len(), 1, "a wrong --server at set-up");
    assert_eq!(readiness.degraded().len(), 1);
    readiness.welcomed();
    // Later the same is an outage: reported, but the webhook stays in service.
    assert!(readiness.blocking().is_empty());
    assert_eq!(readiness.degraded().len(), 2);
    // A set-up mistake still blocks after a welcome.
    readiness.report(
        Source::Upstream,
        Some(Condition::CertificateNotValid("expired".into())),
    );
    assert_eq!(readiness.blocking().len(), 1);
}

#[test]
fn ended_streams_are_classified_by_what_the_mp_or_tls_said() {
    let status = |status: tonic::Status| Error::status("https://mp:9443", status);
    let mut not_registered = tonic::Status::permission_denied("cluster eu-1 is not registered");
    not_registered.metadata_mut().insert(
        crate::proto::REASON_METADATA,
        crate::proto::CLUSTER_NOT_REGISTERED.parse().expect("ASCII"),
    );
    let cases = [
        (status(not_registered), Some("cluster_not_registered")),
        (
            status(tonic::Status::unauthenticated("no credentials")),
            Some("upstream_refused"),
        ),
        (
            status(tonic::Status::unavailable("connection refused")),
            Some("server_unreachable"),
        ),
        (
            Error::Stalled {
                server: "https://mp:9443".into(),
                silent: Duration::from_secs(30),
                cause: None,
            },
            Some("upstream_stalled"),
        ),
        (
            Error::Certificate("--tls-cert is not valid until 2030".into()),
            Some("certificate_not_valid"),
        ),
        (Error::Token, Some("upstream_config")),
        (Error::NotLeader, None),
    ];
    for (error, reason) in cases {
        assert_eq!(
            upstream_condition("eu-1", &error).map(|c| c.reason()),
            reason,
            "{error}"
        );
    }
}

#[test]
fn a_tls_handshake_that_fails_on_validity_names_the_certificate() {
    #[derive(Debug)]
    struct Wrapped(rustls::Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("handshake failed")
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let not_yet = Wrapped(rustls::Error::InvalidCertificate(
        rustls::CertificateError::NotValidYet,
    ));
    let problem = certificate_problem(&not_yet).expect("recognized");
    assert!(problem.contains("not valid yet"), "{problem}");
    let refused = Wrapped(rustls::Error::AlertReceived(
        rustls::AlertDescription::CertificateExpired,
    ));
    assert!(certificate_problem(&refused).is_some());
    let in_io = std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
    );
    let problem = certificate_problem(&in_io).expect("found inside the io::Error");
    assert!(problem.contains("has expired"), "{problem}");
    let other = Wrapped(rustls::Error::InvalidCertificate(
        rustls::CertificateError::UnknownIssuer,
    ));
    assert_eq!(certificate_problem(&other), None);
}
