//! TLS material from files, reloaded when the files change (Secret volumes swap a symlink), and
//! the accept loop that hands finished TLS streams to tonic.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::runtime::shutdown::Shutdown;

/// How often certificate files are checked for changes.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// TLS set-up failures, each naming the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// rustls refused the material.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA bundle does not make a verifier.
    #[error("--client-ca: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// Reads a PEM certificate chain.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let file_error = |message: String| Error::File {
        path: path.to_path_buf(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(format!("cannot read certificates: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(format!("not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(file_error("holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// A certificate and key read from files, swapped atomically when the files change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl ReloadingCert {
    /// Loads the pair once; fails when either file is unusable. A certificate outside its
    /// validity period loads (it may be replaced in a moment) with a warning.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<ReloadingCert>, Error> {
        let key = load_pair(cert_path, key_path)?;
        warn_if_invalid_now(cert_path, &key);
        Ok(Arc::new(ReloadingCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: ArcSwap::from_pointee(key),
        }))
    }

    /// The pair currently served.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    /// Re-reads the files; a pair that does not load is logged and the old one stays.
    pub fn reload(&self) -> bool {
        match load_pair(&self.cert_path, &self.key_path) {
            Ok(key) => {
                let changed = key.cert != self.current.load().cert;
                if changed {
                    tracing::info!(cert = %self.cert_path.display(), "reloaded TLS certificate");
                    warn_if_invalid_now(&self.cert_path, &key);
                    self.current.store(Arc::new(key));
                }
                changed
            }
            Err(error) => {
                tracing::warn!(%error, "keeping the previous TLS certificate");
                false
            }
        }
    }

    /// Polls the files until shutdown.
    pub fn watch(self: &Arc<Self>, shutdown: &Shutdown) {
        let this = Arc::clone(self);
        let stop = shutdown.clone();
        shutdown.spawn(tracing::info_span!("tls-reload"), async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(RELOAD_INTERVAL) => { this.reload(); }
                }
            }
        });
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl rustls::client::ResolvesClientCert for ReloadingCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn load_pair(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, Error> {
    let certs = read_certs(cert_path)?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| Error::File {
        path: key_path.to_path_buf(),
        message: format!("not a PEM private key: {e}"),
    })?;
    let provider = rustls::crypto::ring::default_provider();
    Ok(CertifiedKey::from_der(certs, key, &provider)?)
}

/// A server config with the reloading certificate; with `client_ca`, client certificates are
/// verified against it but optional, so token-authenticated API clients need none.
pub fn server_config(
    cert: Arc<ReloadingCert>,
    client_ca: Option<&Path>,
) -> Result<rustls::ServerConfig, Error> {
    let roots = client_ca.map(read_roots).transpose()?;
    build_config(cert, roots)
}

fn read_roots(path: &Path) -> Result<rustls::RootCertStore, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

fn build_config(
    cert: Arc<ReloadingCert>,
    roots: Option<rustls::RootCertStore>,
) -> Result<rustls::ServerConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match roots {
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()?;
            builder.with_client_cert_verifier(Arc::new(DeferredExpiry { inner: verifier }))
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The server config in force; [`incoming`] reads it for every new connection.
pub type SharedConfig = Arc<ArcSwap<rustls::ServerConfig>>;

/// The management plane's TLS: the serving certificate and the client-CA bundle, both re-read
/// when their files change. A new certificate is served at once (through the resolver); a new
/// CA bundle rebuilds and swaps the whole config, so the next handshake trusts exactly the new
/// bundle. Connections already open keep the identity they proved. A file that does not load is
/// logged and the previous material stays.
#[derive(Debug)]
pub struct ReloadingServerConfig {
    cert: Arc<ReloadingCert>,
    client_ca: Option<(PathBuf, std::sync::Mutex<Vec<u8>>)>,
    current: SharedConfig,
}

impl ReloadingServerConfig {
    /// Loads the certificate and the CA bundle once; fails when any file is unusable.
    pub fn load(
        cert: Arc<ReloadingCert>,
        client_ca: Option<&Path>,
    ) -> Result<Arc<ReloadingServerConfig>, Error> {
        let config = server_config(Arc::clone(&cert), client_ca)?;
        let client_ca = client_ca
            .map(|path| {
                let bytes = std::fs::read(path).map_err(|e| Error::File {
                    path: path.to_path_buf(),
                    message: format!("cannot read: {e}"),
                })?;
                Ok::<_, Error>((path.to_path_buf(), std::sync::Mutex::new(bytes)))
            })
            .transpose()?;
        Ok(Arc::new(ReloadingServerConfig {
            cert,
            client_ca,
            current: Arc::new(ArcSwap::from_pointee(config)),
        }))
    }

    /// The config new connections get.
    pub fn shared(&self) -> SharedConfig {
        Arc::clone(&self.current)
    }

    /// Re-reads the certificate and the CA bundle; true when the bundle changed and the new
    /// one is in force.
    pub fn reload(&self) -> bool {
        self.cert.reload();
        let Some((path, seen)) = &self.client_ca else {
            return false;
        };
        let Ok(bytes) = std::fs::read(path) else {
            tracing::warn!(ca = %path.display(), "cannot read the client CA bundle; keeping the previous one");
            return false;
        };
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == bytes {
            return false;
        }
        match read_roots(path).and_then(|roots| build_config(Arc::clone(&self.cert), Some(roots))) {
            Ok(config) => {
                tracing::info!(ca = %path.display(), "reloaded the client CA bundle");
                self.current.store(Arc::new(config));
                *seen = bytes;
                true
            }
            Err(error) => {
                tracing::warn!(%error, "keeping the previous client CA bundle");
                false
            }
        }
    }

    /// Polls the files until shutdown.
    pub fn watch(self: &Arc<Self>, shutdown: &Shutdown) {
        let this = Arc::clone(self);
        let stop = shutdown.clone();
        shutdown.spawn(tracing::info_span!("tls-reload"), async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(RELOAD_INTERVAL) => { this.reload(); }
                }
            }
        });
    }
}

/// Lets a client certificate whose only fault is being outside its validity period through the
/// handshake, its chain and signatures still verified at a time it was valid. The server then
/// refuses every request on the connection with a message naming the certificate's identity
/// and dates, and audits it, instead of a bare TLS alert that an agent's log cannot explain.
#[derive(Debug)]
struct DeferredExpiry {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for DeferredExpiry {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        use rustls::CertificateError::{Expired, ExpiredContext, NotValidYet, NotValidYetContext};
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now);
        let Err(rustls::Error::InvalidCertificate(
            Expired | ExpiredContext { .. } | NotValidYet | NotValidYetContext { .. },
        )) = &verified
        else {
            return verified;
        };
        // Only the leaf's own dates are deferred: an expired CA or intermediate under a valid
        // leaf is refused here, in the handshake.
        let Some((not_before, not_after)) = validity(end_entity) else {
            return verified;
        };
        let now_secs = now.as_secs();
        let at = if now_secs > not_after {
            not_after
        } else if now_secs < not_before {
            not_before
        } else {
            return verified;
        };
        self.inner.verify_client_cert(
            end_entity,
            intermediates,
            UnixTime::since_unix_epoch(Duration::from_secs(at)),
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A certificate's validity period, seconds since the Unix epoch (`notBefore`, `notAfter`).
pub fn validity(der: &[u8]) -> Option<(u64, u64)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let seconds = |t: x509_parser::time::ASN1Time| u64::try_from(t.timestamp()).unwrap_or(0);
    Some((
        seconds(cert.validity().not_before),
        seconds(cert.validity().not_after),
    ))
}

/// Warns when the certificate now loaded for serving is outside its validity period.
fn warn_if_invalid_now(path: &Path, key: &CertifiedKey) {
    let Some((not_before, not_after)) = key.cert.first().and_then(|c| validity(c)) else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if now > not_after || now < not_before {
        tracing::warn!(
            cert = %path.display(),
            not_before,
            not_after,
            "the serving certificate is outside its validity period; clients will refuse it \
             until the file holds a valid one"
        );
    }
}

/// Accepts TCP connections and yields finished TLS streams; each handshake runs in its own
/// task so a slow client never blocks `accept`. Ends on shutdown.
pub fn incoming(
    listener: TcpListener,
    config: SharedConfig,
    shutdown: Shutdown,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<TlsStream<tokio::net::TcpStream>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let stop = shutdown.clone();
    shutdown.spawn(tracing::info_span!("tls-accept"), async move {
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            };
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%peer, %error, "TCP_NODELAY not set");
            }
            // The config in force now: a reloaded client-CA bundle holds from the next handshake.
            let acceptor = TlsAcceptor::from(config.load_full());
            let tx = tx.clone();
            tokio::spawn(async move {
                let handshake =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await;
                match handshake {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA valid over `years` (relative to now, e.g. `-3..-1`) and a way to sign leaves.
    fn ca(
        years: std::ops::Range<i32>,
    ) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        set_validity(&mut params, years);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA");
        (cert, rcgen::Issuer::new(params, key))
    }

    /// From January 1st of this year + `years.start` to January 1st of this year + `years.end`.
    fn set_validity(params: &mut rcgen::CertificateParams, years: std::ops::Range<i32>) {
        let year = i32::from(jiff::Zoned::now().year());
        params.not_before = rcgen::date_time_ymd(year + years.start, 1, 1);
        params.not_after = rcgen::date_time_ymd(year + years.end, 1, 1);
    }

    fn leaf(
        issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
        years: std::ops::Range<i32>,
    ) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = vec![rcgen::SanType::URI(
            "spiffe://tsbridge.local/cluster/east"
                .try_into()
                .expect("URI"),
        )];
        set_validity(&mut params, years);
        let key = rcgen::KeyPair::generate().expect("key");
        params
            .signed_by(&key, issuer)
            .expect("signed")
            .der()
            .clone()
    }

    fn verifier_for(ca: &rcgen::Certificate) -> DeferredExpiry {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("verifier");
        DeferredExpiry { inner }
    }

    #[test]
    fn only_a_leaf_out_of_its_dates_is_deferred() {
        let now = UnixTime::now();
        let (root, issuer) = ca(-5..5);
        let verifier = verifier_for(&root);
        assert!(
            verifier
                .verify_client_cert(&leaf(&issuer, -1..1), &[], now)
                .is_ok()
        );
        // Expired and not yet valid leaves pass the handshake: the server refuses them per
        // request, by name.
        let expired = leaf(&issuer, -2..-1);
        assert!(verifier.verify_client_cert(&expired, &[], now).is_ok());
        let (_, not_after) = validity(&expired).expect("dates");
        assert!(not_after < now.as_secs());
        assert!(
            verifier
                .verify_client_cert(&leaf(&issuer, 1..2), &[], now)
                .is_ok()
        );
        // Another CA's leaf is refused, expired or not.
        let (_, stranger) = ca(-5..5);
        assert!(
            verifier
                .verify_client_cert(&leaf(&stranger, -2..-1), &[], now)
                .is_err()
        );
        assert!(
            verifier
                .verify_client_cert(&leaf(&stranger, -1..1), &[], now)
                .is_err()
        );
        // An expired intermediate under a valid leaf is refused in the handshake: only the
        // leaf's own dates are deferred. (webpki never checks a trust anchor's dates.)
        for (years, accepted) in [(-3..3, true), (-3..-1, false)] {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            set_validity(&mut params, years);
            let key = rcgen::KeyPair::generate().expect("key");
            let intermediate = params.signed_by(&key, &issuer).expect("intermediate");
            let by_intermediate = rcgen::Issuer::new(params, key);
            let chain = [intermediate.der().clone()];
            let valid_leaf = leaf(&by_intermediate, -2..1);
            let verified = verifier.verify_client_cert(&valid_leaf, &chain, now);
            assert_eq!(verified.is_ok(), accepted, "{verified:?}");
        }
    }
}
