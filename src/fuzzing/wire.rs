//! Protobuf input: every message of `proto/tsbridge/v1/`, decoded as tonic decodes it, and the
//! messages the server and agent turn into model values converted the way they do.

use prost::Message;

use crate::model::Kind;
use crate::model::metadata::StripRules;
use crate::model::object::Resource;
use crate::proto::convert::{resource_to_proto, struct_to_json};
use crate::proto::v1;
use crate::server::convert::proto_to_envelope;

/// Decodes `bytes` as `M`; a decoded message encodes and decodes back to itself.
fn decode<M: Message + Default + PartialEq>(bytes: &[u8]) -> Option<M> {
    let message = M::decode(bytes).ok()?;
    let again =
        M::decode(message.encode_to_vec().as_slice()).expect("a decoded message re-decodes");
    // NaN in a `google.protobuf.Value` is never equal to itself; its bytes still round-trip.
    #[allow(clippy::eq_op)]
    if message == message {
        assert!(again == message, "a decoded message survives re-encoding");
    }
    Some(message)
}

/// One decoder per message type, as non-capturing closures.
macro_rules! decoders {
    ($($message:ty),+ $(,)?) => {
        &[$(|bytes: &[u8]| { let _ = decode::<$message>(bytes); }),+]
    };
}

/// Every message of the package, for selectors from 4 on.
const DECODERS: &[fn(&[u8])] = decoders![
    v1::AuditQuery,
    v1::AuditResponse,
    v1::AuditEntry,
    v1::Cluster,
    v1::Delivery,
    v1::Namespace,
    v1::Service,
    v1::ServicePort,
    v1::CreateClusterRequest,
    v1::ListClustersRequest,
    v1::ListClustersResponse,
    v1::GetClusterRequest,
    v1::GrantRequest,
    v1::CreateTokenRequest,
    v1::CreateTokenResponse,
    v1::ConfirmDeletionsRequest,
    v1::ConfirmDeletionsResponse,
    v1::Resource,
    v1::Origin,
    v1::GitOpsOrigin,
    v1::ApplyRequest,
    v1::ApplyResponse,
    v1::GetRequest,
    v1::ListRequest,
    v1::ListResponse,
    v1::DeleteRequest,
    v1::DeleteResponse,
    v1::WatchRequest,
    v1::WatchEvent,
    v1::Diagnostic,
    v1::Diagnostics,
    v1::GetStatusRequest,
    v1::SearchStatusRequest,
    v1::SearchStatusResponse,
    v1::ResourceStatus,
    v1::EdgeStatus,
    v1::AgentMessage,
    v1::ObjectKey,
    v1::DesiredObject,
    v1::Delta,
    v1::PruneHold,
    v1::ObjectError,
    v1::Ack,
    v1::StatusUpdate,
    v1::NamespaceInventory,
    v1::ServiceInventory,
    v1::Hello,
    v1::InventoryItem,
    v1::InventoryChunk,
    v1::Push,
    v1::Removal,
    v1::ServerMessage,
    v1::Welcome,
    v1::PushResult,
    v1::ObjectState,
    v1::InventoryItemResult,
    v1::InventoryResult,
];

/// The first byte picks a message type, the rest is its encoding. Selectors 0–3 go to the
/// messages the server and agent convert further (sync stream both ways, API writes, ctl's
/// reads); the others to every message of the package.
pub fn wire(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector {
        0 => {
            if let Some(message) = decode::<v1::AgentMessage>(bytes) {
                agent_message(message);
            }
        }
        1 => {
            if let Some(message) = decode::<v1::ServerMessage>(bytes) {
                server_message(message);
            }
        }
        2 => {
            if let Some(request) = decode::<v1::ApplyRequest>(bytes) {
                request.resource.as_ref().map(api_write);
            }
        }
        3 => {
            if let Some(resource) = decode::<v1::Resource>(bytes) {
                let _ = resource.spec.as_ref().map(struct_to_json);
            }
        }
        n => DECODERS[usize::from(n - 4) % DECODERS.len()](bytes),
    }
}

/// What the server's sync session does with an agent's message before it needs the store.
fn agent_message(message: v1::AgentMessage) {
    use v1::agent_message::Message as Up;
    match message.message {
        Some(Up::Push(push)) => {
            push.resource.as_ref().map(api_write);
        }
        Some(Up::Services(inventory)) => {
            for service in inventory.upserts {
                let _ = crate::server::services::sync::cluster_service(service);
            }
        }
        Some(Up::Removal(removal)) => {
            let _ = removal.fqn.parse::<crate::model::Fqn>();
        }
        _ => {}
    }
}

/// What the agent does with the server's message before it talks to its cluster.
fn server_message(message: v1::ServerMessage) {
    use v1::server_message::Message as Down;
    if let Some(Down::Delta(delta)) = message.message {
        for object in delta.upserts {
            let _ = crate::agent::applier::desired_body(&object, "fuzz-cluster");
        }
    }
}

/// An API write or a push: the envelope → model conversion with the L1 rules (the size and
/// depth limits among them). A resource that passes must come back unchanged from its own
/// wire form.
fn api_write(resource: &v1::Resource) {
    let envelope = proto_to_envelope(resource);
    let _ = Kind::resolve(&resource.kind);
    let strip = StripRules::default();
    let Ok(model) = Resource::from_envelope(&envelope, &strip) else {
        return;
    };
    let again = Resource::from_envelope(&proto_to_envelope(&resource_to_proto(&model)), &strip)
        .unwrap_or_else(|d| {
            panic!("a resource the MP accepted is refused from its wire form: {d:?}")
        });
    assert_eq!(again, model, "a resource survives its wire form");
}

/// Seeds for [`wire`]: `(file name, bytes)`, one per message type (the selector byte and an
/// encoding), with real content for the messages that are converted further. The committed
/// corpus holds them (`tests/it/fuzz_corpus.rs` checks it).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    use v1::agent_message::Message as Up;
    let resource = seed_resource();
    let frame = |selector: u8, message: &dyn Fn() -> Vec<u8>| {
        let mut bytes = vec![selector];
        bytes.extend(message());
        bytes
    };
    let up = |message: Up| {
        v1::AgentMessage {
            message: Some(message),
        }
        .encode_to_vec()
    };
    let mut seeds = vec![
        (
            "seed-push".to_string(),
            frame(0, &|| {
                up(Up::Push(v1::Push {
                    id: 7,
                    resource: Some(resource.clone()),
                }))
            }),
        ),
        (
            "seed-services".to_string(),
            frame(0, &|| {
                up(Up::Services(v1::ServiceInventory {
                    full: true,
                    complete: true,
                    upserts: vec![v1::Service {
                        namespace: "bookinfo".into(),
                        name: "reviews".into(),
                        ports: vec![v1::ServicePort {
                            name: "http".into(),
                            port: 9080,
                            protocol: "TCP".into(),
                            app_protocol: "http".into(),
                        }],
                        selector: [("app".to_string(), "reviews".to_string())]
                            .into_iter()
                            .collect(),
                    }],
                    removed: vec!["bookinfo/ratings".into()],
                }))
            }),
        ),
        (
            "seed-removal".to_string(),
            frame(0, &|| {
                up(Up::Removal(v1::Removal {
                    id: 8,
                    fqn: resource.fqn.clone(),
                    ..Default::default()
                }))
            }),
        ),
        ("seed-delta".to_string(), frame(1, &|| delta(SIDECAR))),
        // Found by reading for this target: a body that is not an object panicked the agent.
        (
            "crash-delta-not-an-object".to_string(),
            frame(1, &|| delta("[]")),
        ),
        (
            "seed-apply".to_string(),
            frame(2, &|| {
                v1::ApplyRequest {
                    resource: Some(resource.clone()),
                    ..Default::default()
                }
                .encode_to_vec()
            }),
        ),
        (
            "seed-resource".to_string(),
            frame(3, &|| resource.encode_to_vec()),
        ),
    ];
    // Selectors from 4 on name every message type; an empty encoding is a valid message.
    for selector in 4..=u8::MAX {
        let name = format!("seed-type-{selector}");
        if usize::from(selector - 4) >= DECODERS.len() {
            break;
        }
        seeds.push((name, vec![selector]));
    }
    seeds
}

const SIDECAR: &str = r#"{"apiVersion":"networking.istio.io/v1","kind":"Sidecar","metadata":{"name":"default","namespace":"bookinfo","labels":{"a":"b"}},"spec":{}}"#;

/// A `ServerMessage` with one desired Sidecar whose body is `object_json`.
fn delta(object_json: &str) -> Vec<u8> {
    let key = v1::ObjectKey {
        api_version: "networking.istio.io/v1".into(),
        kind: "Sidecar".into(),
        namespace: "bookinfo".into(),
        name: "default".into(),
    };
    let delta = v1::Delta {
        revision: 3,
        full: true,
        upserts: vec![v1::DesiredObject {
            key: Some(key),
            object_json: object_json.into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    v1::ServerMessage {
        message: Some(v1::server_message::Message::Delta(delta)),
    }
    .encode_to_vec()
}

fn seed_resource() -> v1::Resource {
    let object: crate::model::KubeObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "tsb.tetrate.io/v2",
        "kind": "Workspace",
        "metadata": {
            "name": "bookinfo-ws",
            "namespace": "config",
            "labels": {"team": "payments"},
            "annotations": {"tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "payments"}
        },
        "spec": {"namespaceSelector": {"names": ["*/bookinfo", "eu-1/reviews-*"]}, "displayName": "Bookinfo"}
    }))
    .expect("a seed object decodes");
    match crate::model::convert(&object, &StripRules::default()) {
        crate::model::Converted::Resource { resource, .. } => resource_to_proto(&resource),
        other => panic!("the seed workspace converts: {other:?}"),
    }
}
