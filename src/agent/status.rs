//! Writes CR status through the `/status` subresource with server-side apply (field manager
//! `tsbridge-agent`) and records Events on condition transitions. The reconciler decides what
//! changed; this only writes, a few at a time.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;

use crate::agent::error::{Result, is_not_found, kube_write};
use crate::agent::metrics::AgentMetrics;
use crate::agent::reconciler::ObjectKey;
use crate::model::status::CrStatus;
use crate::runtime::Shutdown;

/// Field manager of status writes (gitops-contract.md, fixed names).
pub const FIELD_MANAGER: &str = "tsbridge-agent";

/// Status writes in flight at once.
const CONCURRENCY: usize = 8;
/// Status writes queued for the writer. The reconciler cannot wait (it owns every other
/// event), so a full queue refuses the write, counts it, and the reconciler writes it again
/// later ([`StatusQueue::send`]).
const QUEUE: usize = 1024;
/// Failed writes queued back to the reconciler; the writer waits when it is full (a lost
/// failure would leave a status wrong until the next change).
const FAILED_QUEUE: usize = 256;

/// Where the reconciler puts status writes: a bounded queue that refuses, and counts, what
/// does not fit.
#[derive(Debug, Clone)]
pub struct StatusQueue {
    jobs: mpsc::Sender<StatusWrite>,
    metrics: AgentMetrics,
}

impl StatusQueue {
    /// A queue into `jobs`, counting refusals in `metrics`.
    pub fn new(jobs: mpsc::Sender<StatusWrite>, metrics: AgentMetrics) -> StatusQueue {
        StatusQueue { jobs, metrics }
    }

    /// Queues `write`; false (and counted) when the queue is full or the writer gone.
    pub fn send(&self, write: StatusWrite) -> bool {
        match self.jobs.try_send(write) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.queue_full("status");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

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
    /// Which object (namespace "" when cluster-scoped).
    pub key: ObjectKey,
    /// Where its kind is served.
    pub resource: ApiResource,
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
    /// The object.
    pub key: ObjectKey,
}

impl StatusWrite {
    fn what(&self, write: &str) -> String {
        format!("{write} of {} {}", self.resource.kind, self.key)
    }
}

async fn write(client: &kube::Client, recorder: &Recorder, job: &StatusWrite) -> Result<()> {
    let (namespace, name) = (&job.key.namespace, &job.key.name);
    let api: Api<DynamicObject> = if namespace.is_empty() {
        Api::all_with(client.clone(), &job.resource)
    } else {
        Api::namespaced_with(client.clone(), namespace, &job.resource)
    };
    if let Some(status) = &job.status {
        let body = serde_json::json!({
            "apiVersion": job.resource.api_version,
            "kind": job.resource.kind,
            "status": status,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patched = kube_write(
            || job.what("status"),
            api.patch_status(name, &params, &Patch::Apply(body)),
        )
        .await;
        match patched {
            Ok(_) => {}
            // Deleted meanwhile: nothing to report on.
            Err(crate::agent::Error::Kube { source, .. }) if is_not_found(&source) => {
                return Ok(());
            }
            Err(error) => return Err(error),
        }
    }
    if let Some(transition) = &job.event {
        let reference = ObjectReference {
            api_version: Some(job.resource.api_version.clone()),
            kind: Some(job.resource.kind.clone()),
            name: Some(name.clone()),
            namespace: (!namespace.is_empty()).then(|| namespace.clone()),
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
        let published =
            kube_write(|| job.what("event"), recorder.publish(&event, &reference)).await;
        if let Err(error) = published {
            // Events are best effort; the status already says it.
            tracing::debug!(%error, "event not recorded");
        }
    }
    Ok(())
}

/// Starts the writer; returns where to send writes.
pub fn spawn(
    client: kube::Client,
    instance: String,
    metrics: AgentMetrics,
    shutdown: &Shutdown,
) -> (StatusQueue, mpsc::Receiver<WriteFailed>) {
    let (jobs, receiver) = mpsc::channel::<StatusWrite>(QUEUE);
    let (failed, failures) = mpsc::channel(FAILED_QUEUE);
    let recorder = Arc::new(Recorder::new(
        client.clone(),
        Reporter {
            controller: "tsbridge-agent".into(),
            instance: Some(instance),
        },
    ));
    let stop = shutdown.clone();
    shutdown.spawn(tracing::info_span!("status-writer"), async move {
        let stream = tokio_stream::wrappers::ReceiverStream::new(receiver)
            .take_until(async move { stop.cancelled().await });
        stream
            .for_each_concurrent(CONCURRENCY, |job| {
                let client = client.clone();
                let recorder = Arc::clone(&recorder);
                let failed = failed.clone();
                async move {
                    if let Err(error) = write(&client, &recorder, &job).await {
                        tracing::warn!(%error, "status write failed");
                        // Only a reconciler that has gone refuses: nothing left to tell.
                        let _ = failed
                            .send(WriteFailed {
                                key: job.key.clone(),
                            })
                            .await;
                    }
                }
            })
            .await;
    });
    (StatusQueue::new(jobs, metrics), failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str) -> StatusWrite {
        let gvk = kube::api::GroupVersionKind::gvk("tsb.tetrate.io", "v2", "Tenant");
        StatusWrite {
            key: ObjectKey::new(0, "config", name),
            resource: ApiResource::from_gvk(&gvk),
            uid: None,
            status: None,
            event: None,
        }
    }

    #[test]
    fn a_full_queue_refuses_and_counts_instead_of_growing() {
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = AgentMetrics::register(&mut registry);
        let (jobs, mut queued) = mpsc::channel(1);
        let queue = StatusQueue::new(jobs, metrics.clone());
        assert!(queue.send(write("a")));
        assert!(!queue.send(write("b")), "the queue holds one");
        let full = metrics
            .queue_full
            .get_or_create(&vec![("queue".to_string(), "status".to_string())])
            .get();
        assert_eq!(full, 1);
        assert_eq!(queued.try_recv().expect("the first").key.name, "a");
        assert!(queue.send(write("c")), "room again");
    }

    #[test]
    fn a_write_names_its_object() {
        assert_eq!(write("a").what("status"), "status of Tenant config/a");
        let mut cluster_scoped = write("b");
        cluster_scoped.key.namespace.clear();
        assert_eq!(cluster_scoped.what("event"), "event of Tenant b");
    }
}
