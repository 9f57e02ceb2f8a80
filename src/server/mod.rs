//! The management plane: gRPC API, agent sync service, distribution.
//!
//! Depends on: `model`, `proto`, `store`, `runtime`; tonic.
//! Never: kube, `k8s`, `agent`, `runtime::lease`.
