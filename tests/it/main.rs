//! The one integration-test binary: every module links kube, tonic, sqlx and rustls once.
//!
//! Tests that need a kube-apiserver are `#[ignore = "needs kube-apiserver"]`; the README's test
//! command brings the control planes up and runs them all with `--include-ignored`.

mod abuse;
mod agent;
mod argocd;
mod argocd_engine;
mod chart;
mod chart_agent;
mod ci_examples;
mod cli;
mod console;
mod crds;
mod diff;
mod distribute;
mod failover;
mod fanout;
mod flux;
mod flux_engine;
mod fuzz_corpus;
mod gitops_stage;
mod inventory;
mod istio;
mod kstatus;
mod layering;
mod misconfig;
mod promote;
mod replicas;
mod restart;
mod server;
mod smoke;
mod soak;
mod stall;
mod store;
mod support;
mod translate;
mod validate;
mod webhook;
