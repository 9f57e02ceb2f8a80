#!/usr/bin/env bash
# The whole test suite on this machine, set-up included: formatting, lints, unit tests, and the
# integration tests against eight real control planes (cluster-a, cluster-b, cluster-c,
# cluster-helm for the chart's cluster-scoped objects, cluster-bare without CRDs, and soak-a,
# soak-b, soak-c for the fault-injection soak) and
# private PostgreSQL clusters. `.ci/run` runs exactly this.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$TSBRIDGE_ROOT"
started=$SECONDS
step() { setup_log "$* (+$((SECONDS - started))s)"; }

step "set-up: packages, toolchains, control-plane binaries"
setup_all

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "one TLS provider: ring only"
if cargo tree --locked -i aws-lc-rs >/dev/null 2>&1; then
  setup_log "aws-lc-rs is in the dependency graph; keep every TLS dependency on ring"
  exit 1
fi

step "cargo build --all-targets"
cargo build --all-targets --locked

# cluster-bare has no Istio CRDs (tests/it/misconfig.rs installs and removes ours there).
# soak-a/b/c and soak-pg-a/b/c are the fault-injection soaks' own, one set per store (they
# restart their apiservers).
clusters=(cluster-a cluster-b cluster-c cluster-helm cluster-bare soak-a soak-b soak-c soak-pg-a soak-pg-b soak-pg-c)
stop_clusters() {
  for c in "${clusters[@]}"; do REALK8S_NAME=$c tests/realk8s.sh down >/dev/null 2>&1 || true; done
}
trap stop_clusters EXIT
step "starting control planes: ${clusters[*]}"
pids=()
for c in "${clusters[@]}"; do
  istio=1
  [[ $c == cluster-bare ]] && istio=0
  APPLY_ISTIO_CRDS=$istio REALK8S_NAME=$c tests/realk8s.sh up >/dev/null 2>"${TMPDIR:-/tmp}/tsbridge-up-$c.log" &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    cat "${TMPDIR:-/tmp}/tsbridge-up-${clusters[$i]}.log" >&2
    setup_log "control plane ${clusters[$i]} did not start"
    exit 1
  fi
done

step "cargo test (every test, cluster tests included)"
cargo test --locked -- --include-ignored

step "done"
