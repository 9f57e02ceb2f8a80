//! Kubernetes-facing types: CRDs generated from the model, conversion of Kubernetes objects
//! into model resources and back.
//!
//! Depends on: `model`, `proto`; kube (types, derive), k8s-openapi, schemars.
//! Never: tonic transport, sqlx, `store`, `server`.

pub mod convert;
pub mod crd;
pub mod crds;
pub mod fields;
pub mod lease;
