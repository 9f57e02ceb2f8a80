//! The agent's end of the sync stream: connects while this replica leads, says hello, and
//! relays the management plane's answers to the reconciler. Reconnects with backoff; the
//! reconciler re-sends the full inventory on every `Connected`.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::proto::v1;
use crate::proto::v1::agent_sync_service_client::AgentSyncServiceClient;
use crate::proto::v1::server_message::Message as Down;
use crate::runtime::Shutdown;

/// Messages queued towards the MP before the reconciler waits.
const OUTBOX: usize = 4096;

/// What the reconciler hears from the management plane.
#[derive(Debug)]
pub enum MpEvent {
    /// A stream is open; send through this.
    Connected(mpsc::Sender<v1::AgentMessage>, v1::Welcome),
    /// The stream ended or could not be opened.
    Disconnected(String),
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
    /// URL.
    pub server: String,
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
}

impl Connection {
    /// Files are read on every connect, so rotated certificates take effect on reconnect.
    async fn endpoint(&self) -> Result<Endpoint, String> {
        let mut endpoint = Endpoint::from_shared(self.server.clone())
            .map_err(|e| format!("--server {}: {e}", self.server))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_timeout(Duration::from_secs(10));
        if self.server.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = &self.ca {
                let pem = tokio::fs::read(ca)
                    .await
                    .map_err(|e| format!("--ca {}: {e}", ca.display()))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            if let Some((cert, key)) = &self.identity {
                let cert_pem = tokio::fs::read(cert)
                    .await
                    .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
                let key_pem = tokio::fs::read(key)
                    .await
                    .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
                tls = tls.identity(Identity::from_pem(cert_pem, key_pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| format!("TLS to {}: {e}", self.server))?;
        }
        Ok(endpoint)
    }

    async fn token(&self) -> Result<Option<String>, String> {
        match &self.token_file {
            None => Ok(None),
            Some(path) => tokio::fs::read_to_string(path)
                .await
                .map(|t| Some(t.trim().to_string()))
                .map_err(|e| format!("--token-file {}: {e}", path.display())),
        }
    }

    /// One session: open, hello, relay until the stream ends, leadership is lost or shutdown.
    async fn session(
        &self,
        events: &mpsc::Sender<MpEvent>,
        leading: &mut watch::Receiver<bool>,
        shutdown: &Shutdown,
    ) -> Result<(), String> {
        let channel = self
            .endpoint()
            .await?
            .connect()
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.server))?;
        let bearer = self
            .token()
            .await?
            .map(|t| format!("Bearer {t}").parse::<tonic::metadata::AsciiMetadataValue>())
            .transpose()
            .map_err(|e| format!("--token-file: {e}"))?;
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
            })),
        };
        outbox
            .send(hello)
            .await
            .map_err(|_| "outbox closed".to_string())?;
        let mut incoming = client
            .sync(ReceiverStream::new(outgoing))
            .await
            .map_err(|status| format!("{}: {}", code_of(&status), status.message()))?
            .into_inner();
        let welcome = match incoming.message().await {
            Ok(Some(v1::ServerMessage {
                message: Some(Down::Welcome(welcome)),
            })) => welcome,
            Ok(_) => return Err("the management plane did not answer hello".into()),
            Err(status) => return Err(format!("{}: {}", code_of(&status), status.message())),
        };
        tracing::info!(grants = ?welcome.grants, "connected to the management plane");
        if events
            .send(MpEvent::Connected(outbox.clone(), welcome))
            .await
            .is_err()
        {
            return Ok(());
        }
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                changed = leading.changed() => {
                    if changed.is_err() || !*leading.borrow() {
                        return Err("no longer the leader".into());
                    }
                    continue;
                }
                message = incoming.message() => message,
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
                Ok(None) => return Err("the management plane closed the stream".into()),
                Err(status) => return Err(format!("{}: {}", code_of(&status), status.message())),
            };
            if events.send(event).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// `UNAVAILABLE`-style name of a status code.
fn code_of(status: &tonic::Status) -> String {
    format!("{:?}", status.code())
}

/// Keeps a session open while this replica leads.
pub fn spawn(
    connection: Connection,
    mut leading: watch::Receiver<bool>,
    events: mpsc::Sender<MpEvent>,
    shutdown: &Shutdown,
) {
    let stop = shutdown.clone();
    let span = tracing::info_span!("upstream", server = %connection.server);
    shutdown.spawn(span, async move {
        let mut backoff = Duration::from_millis(250);
        loop {
            while !*leading.borrow_and_update() {
                tokio::select! {
                    () = stop.cancelled() => return,
                    changed = leading.changed() => if changed.is_err() { return },
                }
            }
            let started = tokio::time::Instant::now();
            let ended = connection.session(&events, &mut leading, &stop).await;
            if stop.token().is_cancelled() {
                return;
            }
            let reason = match ended {
                Ok(()) => "stream ended".to_string(),
                Err(reason) => reason,
            };
            tracing::warn!(%reason, "management plane stream down");
            if events.send(MpEvent::Disconnected(reason)).await.is_err() {
                return;
            }
            if started.elapsed() > Duration::from_secs(30) {
                backoff = Duration::from_millis(250);
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
}
