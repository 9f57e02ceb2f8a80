//! Generated protobuf and gRPC code for package `tsbridge.v1`; the only place that includes it.
//!
//! Depends on: `model`; prost, tonic (generated code).
//! Never: kube, sqlx.

pub mod convert;

/// Messages and services of `proto/tsbridge/v1/`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("tsbridge.v1");
}

/// Encoded `FileDescriptorSet` of every tsbridge proto, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tsbridge_descriptor");

/// gRPC metadata key a refusal of the sync stream carries its machine-readable reason in.
pub const REASON_METADATA: &str = "tsbridge-reason";
/// [`REASON_METADATA`] when the cluster is not registered.
pub const CLUSTER_NOT_REGISTERED: &str = "cluster-not-registered";
