//! Kubernetes-facing types: CRDs generated from the model, conversion of Kubernetes objects
//! into model resources, Istio object types.
//!
//! Depends on: `model`, `proto`; kube (types, derive), k8s-openapi, schemars.
//! Never: tonic transport, sqlx, `store`, `server`.
