//! Writes CR status through the `/status` subresource with server-side apply (field manager
//! `tsbridge-agent`) and records Events on condition transitions. The reconciler decides what
//! changed; this only writes, a few at a time.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;

use crate::model::status::CrStatus;
use crate::runtime::Shutdown;

/// Field manager of status writes (gitops-contract.md, fixed names).
pub const FIELD_MANAGER: &str = "tsbridge-agent";

/// Status writes in flight at once.
const CONCURRENCY: usize = 8;

/// An Event for a transition.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Warning instead of Normal.
    pub warning: bool,
    /// The condition reason.
    pub reason: String,
    /// One line.
    pub note: String,
}

/// One status write.
#[derive(Debug, Clone)]
pub struct StatusWrite {
    /// Where.
    pub resource: ApiResource,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// uid, for the Event's reference.
    pub uid: Option<String>,
    /// The new status (None: only the Event).
    pub status: Option<CrStatus>,
    /// Event to record.
    pub event: Option<Transition>,
}

/// Failed writes come back so the reconciler tries again.
#[derive(Debug)]
pub struct WriteFailed {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: String,
}

async fn write(
    client: &kube::Client,
    recorder: &Recorder,
    job: &StatusWrite,
) -> Result<(), kube::Error> {
    let api: Api<DynamicObject> = if job.namespace.is_empty() {
        Api::all_with(client.clone(), &job.resource)
    } else {
        Api::namespaced_with(client.clone(), &job.namespace, &job.resource)
    };
    if let Some(status) = &job.status {
        let body = serde_json::json!({
            "apiVersion": job.resource.api_version,
            "kind": job.resource.kind,
            "status": status,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        match api
            .patch_status(&job.name, &params, &Patch::Apply(body))
            .await
        {
            Ok(_) => {}
            // Deleted meanwhile: nothing to report on.
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
            Err(error) => return Err(error),
        }
    }
    if let Some(transition) = &job.event {
        let reference = ObjectReference {
            api_version: Some(job.resource.api_version.clone()),
            kind: Some(job.resource.kind.clone()),
            name: Some(job.name.clone()),
            namespace: (!job.namespace.is_empty()).then(|| job.namespace.clone()),
            uid: job.uid.clone(),
            ..ObjectReference::default()
        };
        let event = Event {
            type_: if transition.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: transition.reason.clone(),
            note: Some(transition.note.clone()),
            action: "Sync".into(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, &reference).await {
            // Events are best effort; the status already says it.
            tracing::debug!(%error, name = %job.name, "event not recorded");
        }
    }
    Ok(())
}

/// Starts the writer; returns where to send writes.
pub fn spawn(
    client: kube::Client,
    instance: String,
    failed: mpsc::UnboundedSender<WriteFailed>,
    shutdown: &Shutdown,
) -> mpsc::UnboundedSender<StatusWrite> {
    let (jobs, receiver) = mpsc::unbounded_channel::<StatusWrite>();
    let recorder = Arc::new(Recorder::new(
        client.clone(),
        Reporter {
            controller: "tsbridge-agent".into(),
            instance: Some(instance),
        },
    ));
    let stop = shutdown.clone();
    shutdown.spawn(tracing::info_span!("status-writer"), async move {
        let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(receiver)
            .take_until(async move { stop.cancelled().await });
        stream
            .for_each_concurrent(CONCURRENCY, |job| {
                let client = client.clone();
                let recorder = Arc::clone(&recorder);
                let failed = failed.clone();
                async move {
                    if let Err(error) = write(&client, &recorder, &job).await {
                        tracing::warn!(%error, kind = %job.resource.kind, namespace = %job.namespace, name = %job.name, "status write failed");
                        let _ = failed.send(WriteFailed {
                            namespace: job.namespace.clone(),
                            name: job.name.clone(),
                            kind: job.resource.kind.clone(),
                        });
                    }
                }
            })
            .await;
    });
    jobs
}
