#!/usr/bin/env bash
# The main job on this machine, set-up included: brings up the local tsbridge environment,
# applies an example configuration, and prints where to look. `tests/demo.sh down` stops it.
#
# The environment: two real Kubernetes control planes (demo-east, demo-west) with Istio's CRDs
# and tsbridge's CRDs installed, and the management plane on an embedded SQLite store with the
# example hierarchy applied through `tsbridge ctl`. Agents join as they are built.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$TSBRIDGE_ROOT"
clusters=(demo-east demo-west)
state="${TMPDIR:-/tmp}/tsbridge-demo-$(id -u)"
mp_port=19443
admin_port=19090

stop_mp() {
  if [[ -f "$state/mp.pid" ]]; then
    local pid
    pid="$(cat "$state/mp.pid")"
    # Only the process we started: its command line names our state dir.
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$state"; then
      kill "$pid" 2>/dev/null || true
    fi
    rm -f "$state/mp.pid"
  fi
}

if [[ "${1:-up}" == down ]]; then
  stop_mp
  for c in "${clusters[@]}"; do REALK8S_NAME=$c tests/realk8s.sh down; done
  exit 0
fi
[[ "${1:-up}" == up ]] || { echo "usage: $0 [up|down]" >&2; exit 2; }

setup_log "set-up: packages, toolchains, control-plane binaries (cold: ~10-25 min, warm: seconds)"
setup_all
setup_log "building tsbridge"
cargo build --locked --bin tsbridge
tsbridge="$CARGO_TARGET_DIR/debug/tsbridge"

declare -A kubeconfigs
for c in "${clusters[@]}"; do
  setup_log "starting control plane $c"
  env_lines="$(REALK8S_NAME=$c tests/realk8s.sh up)"
  kubeconfigs[$c]="$(sed -n "s/^export KUBECONFIG='\(.*\)'$/\1/p" <<<"$env_lines")"
  bin="$(sed -n "s/^export REALK8S_BIN='\(.*\)'$/\1/p" <<<"$env_lines")"
  setup_log "installing the tsbridge CRDs into $c"
  "$bin/helm" --kubeconfig "${kubeconfigs[$c]}" upgrade --install tsbridge-crds charts/tsbridge \
    --namespace tsbridge-system --create-namespace --set serviceAccount.create=false >/dev/null
done

stop_mp
# A fresh store each time: the demo applies its example from scratch.
rm -rf "$state"
mkdir -p "$state"
setup_log "starting the management plane (SQLite: $state/mp.db)"
"$tsbridge" server --insecure --listen "127.0.0.1:$mp_port" --admin-listen "127.0.0.1:$admin_port" \
  --store "sqlite:$state/mp.db" --organization acme --bootstrap-token-file "$state/admin.token" \
  >"$state/mp.log" 2>&1 &
echo $! >"$state/mp.pid"
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$admin_port/ready" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$admin_port/ready" >/dev/null || { cat "$state/mp.log" >&2; exit 1; }

ctl=("$tsbridge" ctl --server "http://127.0.0.1:$mp_port" --token-file "$state/admin.token")
setup_log "applying the example configuration (tests/fixtures/crs/every-kind.yaml)"
"${ctl[@]}" apply -f tests/fixtures/crs/every-kind.yaml

cat <<MSG

tsbridge local environment is up.

  management plane  grpc http://127.0.0.1:$mp_port   admin http://127.0.0.1:$admin_port/ready
                    log $state/mp.log   admin token $state/admin.token
  try:
    ${ctl[*]} list -r
    ${ctl[*]} get organizations/acme/tenants/payments/workspaces/bookinfo-ws -o yaml
    ${ctl[*]} status organizations/acme/tenants/payments
    ${ctl[*]} audit --fqn-prefix organizations/acme
    $tsbridge validate tests/fixtures/crs/every-kind.yaml
MSG
for c in "${clusters[@]}"; do
  cat <<MSG
  cluster $c   kubeconfig ${kubeconfigs[$c]}
    shell env:  eval "\$(REALK8S_NAME=$c tests/realk8s.sh env)"
MSG
done
cat <<MSG

  status:  tests/realk8s.sh status --all
  stop:    tests/demo.sh down
MSG
