//! The agent's end of the sync stream: connects while this replica leads, says hello, and
//! relays the management plane's answers to the reconciler. When a stream cannot be opened or
//! ends, it moves to the next `--server` address ([`Failover`]); the reconciler re-sends the
//! full inventory on every `Connected`.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tracing::Instrument;

use crate::agent::error::{Error, Result};
use crate::agent::metrics::AgentMetrics;
use crate::proto::v1;
use crate::proto::v1::agent_sync_service_client::AgentSyncServiceClient;
use crate::proto::v1::server_message::Message as Down;
use crate::runtime::Shutdown;
use crate::runtime::keepalive::{KeepaliveArgs, Liveness, expires, spawn_heartbeats};

mod failover;
pub use failover::Failover;

/// Messages queued towards the MP before the reconciler waits.
const OUTBOX: usize = 4096;
/// How long one address may take to accept a connection: what a dead replica costs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connected replica may take to answer hello.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);

/// What the reconciler hears from the management plane.
#[derive(Debug)]
pub enum MpEvent {
    /// A stream is open; send through this.
    Connected(mpsc::Sender<v1::AgentMessage>, v1::Welcome),
    /// The stream ended or could not be opened.
    Disconnected(Error),
    /// The answer to one push or removal.
    Result(v1::PushResult),
    /// The answer to an inventory.
    Inventory(v1::InventoryResult),
    /// The MP's view of an object this cluster originated changed.
    Status(v1::StatusUpdate),
}

/// How to reach the management plane.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Management-plane addresses, tried in turn.
    pub servers: Vec<String>,
    /// This cluster.
    pub cluster: String,
    /// mTLS client pair.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// CA of the MP's certificate.
    pub ca: Option<PathBuf>,
    /// Admin token for a loopback MP without mTLS.
    pub token_file: Option<PathBuf>,
    /// Last applied distribution revision and checksum, for hello.
    pub position: crate::agent::applier::Position,
    /// Where deltas go.
    pub applier: mpsc::Sender<crate::agent::applier::ApplierEvent>,
    /// Which address the agent is on.
    pub metrics: AgentMetrics,
    /// HTTP/2 PINGs and heartbeats: how soon a stalled stream ends.
    pub keepalive: KeepaliveArgs,
}

/// Refuses a client certificate outside its validity period by this host's clock: the MP would
/// reject the handshake with a bare alert, while here the dates can be named.
fn check_validity(pem: &[u8], path: &std::path::Path, now: jiff::Timestamp) -> Result<()> {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(pem) else {
        // Unreadable PEM: tonic's own error names it at the handshake.
        return Ok(());
    };
    let Ok(cert) = pem.parse_x509() else {
        return Ok(());
    };
    let validity = cert.validity();
    let now_secs = now.as_second();
    let not_before = validity.not_before.timestamp();
    let not_after = validity.not_after.timestamp();
    let when = |secs: i64| {
        jiff::Timestamp::from_second(secs).map_or_else(|_| secs.to_string(), |t| t.to_string())
    };
    let problem = if now_secs < not_before {
        format!("is not valid until {}", when(not_before))
    } else if now_secs > not_after {
        format!("expired at {}", when(not_after))
    } else {
        return Ok(());
    };
    Err(Error::Certificate(format!(
        "--tls-cert {}: the client certificate {problem} (this host's clock says {now})",
        path.display()
    )))
}

/// Reads a file a flag names.
async fn read(flag: &'static str, path: &std::path::Path) -> Result<Vec<u8>> {
    tokio::fs::read(path).await.map_err(|source| Error::File {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

impl Connection {
    /// Files are read on every connect, so rotated certificates take effect on reconnect.
    async fn endpoint(&self, server: &str) -> Result<Endpoint> {
        let mut endpoint = Endpoint::from_shared(server.to_string())
            .map_err(|source| Error::Address {
                server: server.to_string(),
                source,
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            // A black-holed connection (no RST) ends within interval + timeout of its last byte.
            .http2_keep_alive_interval(self.keepalive.keepalive_interval)
            .keep_alive_timeout(self.keepalive.keepalive_timeout)
            .keep_alive_while_idle(true);
        if server.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = &self.ca {
                tls = tls.ca_certificate(Certificate::from_pem(read("--ca", ca).await?));
            }
            if let Some((cert, key)) = &self.identity {
                let cert_pem = read("--tls-cert", cert).await?;
                check_validity(&cert_pem, cert, jiff::Timestamp::now())?;
                let key_pem = read("--tls-key", key).await?;
                tls = tls.identity(Identity::from_pem(cert_pem, key_pem));
            }
            endpoint = endpoint.tls_config(tls).map_err(|source| Error::Tls {
                server: server.to_string(),
                source,
            })?;
        }
        Ok(endpoint)
    }

    async fn token(&self) -> Result<Option<String>> {
        match &self.token_file {
            None => Ok(None),
            Some(path) => {
                let text = read("--token-file", path).await?;
                Ok(Some(String::from_utf8_lossy(&text).trim().to_string()))
            }
        }
    }

    /// One session: open, hello, relay until the stream ends, stalls, leadership is lost or
    /// shutdown. `opened` is set when the management plane has welcomed the agent; `reconnect`
    /// says an earlier session had been welcomed.
    async fn session(
        &self,
        server: &str,
        events: &mpsc::Sender<MpEvent>,
        leading: &mut watch::Receiver<bool>,
        shutdown: &Shutdown,
        opened: &mut Option<tokio::time::Instant>,
        reconnect: bool,
    ) -> Result<()> {
        let channel = self
            .endpoint(server)
            .await?
            .connect()
            .await
            .map_err(|source| Error::Connect {
                server: server.to_string(),
                source,
            })?;
        let bearer = self
            .token()
            .await?
            .map(|t| format!("Bearer {t}").parse::<tonic::metadata::AsciiMetadataValue>())
            .transpose()
            .map_err(|_| Error::Token)?;
        let mut client = AgentSyncServiceClient::with_interceptor(
            channel,
            move |mut request: tonic::Request<()>| {
                if let Some(value) = &bearer {
                    request
                        .metadata_mut()
                        .insert("authorization", value.clone());
                }
                Ok(request)
            },
        )
        .max_decoding_message_size(16 * 1024 * 1024);
        let (outbox, outgoing) = mpsc::channel(OUTBOX);
        let (revision, checksum) = self
            .position
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let hello = v1::AgentMessage {
            message: Some(v1::agent_message::Message::Hello(v1::Hello {
                cluster: self.cluster.clone(),
                last_applied_revision: revision,
                checksum,
                agent_version: env!("CARGO_PKG_VERSION").to_string(),
                reports_services: true,
                heartbeat_interval_ms: self.keepalive.interval_ms(),
            })),
        };
        // The receiver is alive: it is moved into the request just below.
        let _ = outbox.try_send(hello);
        // A replica that accepts the connection but never answers hello costs this long, not
        // the agent's whole stream.
        let opening = async {
            let mut incoming = client
                .sync(ReceiverStream::new(outgoing))
                .await
                .map_err(|status| Error::status(server, status))?
                .into_inner();
            match incoming.message().await {
                Ok(Some(v1::ServerMessage {
                    message: Some(Down::Welcome(welcome)),
                })) => Ok((incoming, welcome)),
                Ok(_) => Err(Error::NoWelcome {
                    server: server.to_string(),
                }),
                Err(status) => Err(Error::status(server, status)),
            }
        };
        let (mut incoming, welcome) = tokio::time::timeout(WELCOME_TIMEOUT, opening)
            .await
            .map_err(|_| Error::NoWelcome {
                server: server.to_string(),
            })??;
        *opened = Some(tokio::time::Instant::now());
        self.metrics.upstream(server, true);
        if reconnect {
            self.metrics.reconnected(server);
        }
        tracing::info!(%server, grants = ?welcome.grants, "connected to the management plane");
        // An MP that sends no heartbeats (an older one) is judged by HTTP/2 PINGs alone.
        let mut liveness = Liveness::new(
            &self.keepalive,
            welcome.heartbeat_interval_ms,
            tokio::time::Instant::now(),
        );
        let _heartbeats = spawn_heartbeats(
            outbox.clone(),
            self.keepalive.keepalive_interval,
            || v1::AgentMessage {
                message: Some(v1::agent_message::Message::Heartbeat(v1::Heartbeat {})),
            },
            tracing::info_span!("heartbeats", %server),
            shutdown,
        );
        if events
            .send(MpEvent::Connected(outbox.clone(), welcome))
            .await
            .is_err()
        {
            return Ok(());
        }
        // Only time spent waiting here counts as the MP's silence: handling the previous
        // message (a delta waiting for the applier) is this side being busy. A leadership
        // notice (every Lease renewal sends one) is not a message and restarts nothing.
        let mut heard = true;
        loop {
            if std::mem::take(&mut heard) {
                liveness.waiting(tokio::time::Instant::now());
            }
            let message = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                changed = leading.changed() => {
                    if changed.is_err() || !*leading.borrow() {
                        return Err(Error::NotLeader);
                    }
                    continue;
                }
                message = incoming.message() => {
                    heard = true;
                    message
                }
                () = expires(liveness.deadline()) => {
                    let silent = liveness
                        .stalled(tokio::time::Instant::now())
                        .unwrap_or_default();
                    return Err(Error::Stalled {
                        server: server.to_string(),
                        silent,
                        cause: None,
                    });
                }
            };
            let event = match message {
                Ok(Some(v1::ServerMessage {
                    message: Some(Down::Result(result)),
                })) => MpEvent::Result(result),
                Ok(Some(v1::ServerMessage {
                    message: Some(Down::Inventory(result)),
                })) => MpEvent::Inventory(result),
                Ok(Some(v1::ServerMessage {
                    message: Some(Down::Status(update)),
                })) => MpEvent::Status(update),
                Ok(Some(v1::ServerMessage {
                    message: Some(Down::Delta(delta)),
                })) => {
                    let event = crate::agent::applier::ApplierEvent::Delta(delta, outbox.clone());
                    if self.applier.send(event).await.is_err() {
                        return Ok(());
                    }
                    continue;
                }
                Ok(Some(_)) => continue,
                Ok(None) => {
                    return Err(Error::Closed {
                        server: server.to_string(),
                    });
                }
                // A PING that went unanswered reaches the stream as a broken pipe: after missed
                // heartbeats, an error is the stall it ends.
                Err(status) if liveness.ended_silent(tokio::time::Instant::now()) => {
                    return Err(Error::Stalled {
                        server: server.to_string(),
                        silent: tokio::time::Instant::now()
                            .saturating_duration_since(liveness.waiting_since()),
                        cause: Some(Box::new(status)),
                    });
                }
                Err(status) => return Err(Error::status(server, status)),
            };
            if events.send(event).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Keeps a session open while this replica leads, moving between addresses as [`Failover`]
/// says.
pub fn spawn(
    connection: Connection,
    mut leading: watch::Receiver<bool>,
    events: mpsc::Sender<MpEvent>,
    shutdown: &Shutdown,
) {
    let stop = shutdown.clone();
    let span = tracing::info_span!("upstream", servers = %connection.servers.join(","));
    shutdown.spawn(span, async move {
        let mut failover = Failover::new(connection.servers.clone());
        for server in failover.servers() {
            connection.metrics.upstream(server, false);
        }
        // A stream opened after an earlier one counts as a reconnect.
        let mut ever_opened = false;
        loop {
            while !*leading.borrow_and_update() {
                tokio::select! {
                    () = stop.cancelled() => return,
                    changed = leading.changed() => if changed.is_err() { return },
                }
            }
            let server = failover.current().to_string();
            let mut opened = None;
            let session = connection
                .session(
                    &server,
                    &events,
                    &mut leading,
                    &stop,
                    &mut opened,
                    ever_opened,
                )
                .instrument(tracing::info_span!("session", %server));
            // Shutdown ends a session that is still connecting, too.
            let ended = tokio::select! {
                () = stop.cancelled() => return,
                ended = session => ended,
            };
            connection.metrics.upstream(&server, false);
            if stop.token().is_cancelled() {
                return;
            }
            ever_opened |= opened.is_some();
            let lasted = opened.map_or(Duration::ZERO, |at| at.elapsed());
            let wait = failover.ended(lasted);
            let error = match ended {
                Ok(()) => Error::Closed {
                    server: server.clone(),
                },
                Err(error) => error,
            };
            if error.is_stall() {
                connection.metrics.stalled(&server);
                tracing::warn!(%error, next = %failover.current(), ?wait, "management plane stream stalled; reconnecting");
            } else {
                tracing::warn!(%error, next = %failover.current(), ?wait, "management plane stream down");
            }
            if events.send(MpEvent::Disconnected(error)).await.is_err() {
                return;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(from: i32, to: i32) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["eu-1".to_string()]).expect("params");
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(to, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").pem().into_bytes()
    }

    #[test]
    fn a_client_certificate_outside_its_dates_is_named_with_the_clock() {
        let path = std::path::Path::new("/etc/tsbridge/tls.crt");
        let now = jiff::Timestamp::now();
        assert!(check_validity(&certificate(2000, 2200), path, now).is_ok());
        let future =
            check_validity(&certificate(2200, 2201), path, now).expect_err("not yet valid");
        let text = future.to_string();
        assert!(
            text.contains("--tls-cert /etc/tsbridge/tls.crt")
                && text.contains("is not valid until")
                && text.contains("this host's clock says"),
            "{text}"
        );
        let expired = check_validity(&certificate(2000, 2001), path, now).expect_err("expired");
        assert!(expired.to_string().contains("expired at"), "{expired}");
        // Not a certificate at all: left to the handshake's own error.
        assert!(check_validity(b"junk", path, now).is_ok());
    }
}
