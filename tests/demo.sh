#!/usr/bin/env bash
# The main job on this machine, set-up included: brings up the local tsbridge environment,
# applies an example configuration, and prints where to look. `tests/demo.sh down` stops it.
#
# The environment: two real Kubernetes control planes (demo-east, demo-west) with Istio's CRDs
# and tsbridge's CRDs installed, and the management plane on an embedded SQLite store with the
# one agent per cluster. The example hierarchy is installed into demo-east as a Helm release (the
# way Argo CD or Flux would put it there); the agent of demo-east sends it to the management plane
# and writes each CR's status.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$TSBRIDGE_ROOT"
clusters=(demo-east demo-west)
state="${TMPDIR:-/tmp}/tsbridge-demo-$(id -u)"
mp_port=19443
admin_port=19090

stop_processes() {
  local file pid
  for file in "$state"/*.pid; do
    [[ -f "$file" ]] || continue
    pid="$(cat "$file")"
    # Only processes we started: their command lines name our state dir.
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$state"; then
      kill "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
  done
}

if [[ "${1:-up}" == down ]]; then
  stop_processes
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
helm_bin=""
for c in "${clusters[@]}"; do
  setup_log "starting control plane $c"
  env_lines="$(REALK8S_NAME=$c tests/realk8s.sh up)"
  kubeconfigs[$c]="$(sed -n "s/^export KUBECONFIG='\(.*\)'$/\1/p" <<<"$env_lines")"
  bin="$(sed -n "s/^export REALK8S_BIN='\(.*\)'$/\1/p" <<<"$env_lines")"
  helm_bin="$bin/helm"
  setup_log "installing the tsbridge CRDs into $c"
  "$bin/helm" --kubeconfig "${kubeconfigs[$c]}" upgrade --install tsbridge-crds charts/tsbridge \
    --namespace tsbridge-system --create-namespace --set agent.enabled=false >/dev/null
done

stop_processes
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
for c in "${clusters[@]}"; do
  setup_log "registering cluster $c and starting its agent"
  "${ctl[@]}" cluster create "$c" >/dev/null
  "${ctl[@]}" cluster grant "$c" --organization acme >/dev/null
  # Loopback demo: the agent speaks plaintext and acts for its cluster with the admin token;
  # production agents use mTLS client certificates (docs/agent.md).
  "$tsbridge" agent --cluster "$c" --server "http://127.0.0.1:$mp_port" --insecure \
    --token-file "$state/admin.token" --kubeconfig "${kubeconfigs[$c]}" \
    --lease-namespace tsbridge-system --identity "$c-agent" --admin-listen 127.0.0.1:0 \
    --delete-grace 2s >"$state/agent-$c.log" 2>&1 &
  echo $! >"$state/agent-$c.pid"
done

setup_log "creating namespace bookinfo in every cluster (the example workspace selects */bookinfo)"
mkdir -p "$state/namespaces/templates"
cat >"$state/namespaces/Chart.yaml" <<'CHART'
apiVersion: v2
name: tsbridge-demo-namespaces
version: 0.1.0
CHART
cat >"$state/namespaces/templates/bookinfo.yaml" <<'NS'
apiVersion: v1
kind: Namespace
metadata:
  name: bookinfo
NS
for c in "${clusters[@]}"; do
  "$helm_bin" --kubeconfig "${kubeconfigs[$c]}" upgrade --install demo-namespaces \
    "$state/namespaces" --namespace default >/dev/null
done

setup_log "installing the example configuration into demo-east as a Helm release (GitOps-style)"
mkdir -p "$state/example/templates"
cat >"$state/example/Chart.yaml" <<'CHART'
apiVersion: v2
name: tsbridge-example
version: 0.1.0
CHART
cp tests/fixtures/crs/every-kind.yaml "$state/example/templates/config.yaml"
"$helm_bin" --kubeconfig "${kubeconfigs[demo-east]}" upgrade --install example "$state/example" \
  --namespace bookinfo-config --create-namespace >/dev/null
setup_log "waiting for the agent of demo-east to report every CR Ready"
ready=0
for _ in $(seq 1 300); do
  count="$("${ctl[@]}" list -r -o json 2>/dev/null | grep -c '"fqn"' || true)"
  if [[ "$count" -ge 18 ]]; then ready=1; break; fi
  sleep 0.2
done
[[ $ready == 1 ]] || { tail -n 50 "$state/agent-demo-east.log" >&2; exit 1; }

cat <<MSG

tsbridge local environment is up.

  management plane  grpc http://127.0.0.1:$mp_port   admin http://127.0.0.1:$admin_port/ready
                    log $state/mp.log   admin token $state/admin.token
  agents            logs $state/agent-demo-east.log, $state/agent-demo-west.log
  CR status (demo-east, namespace bookinfo-config; the Helm release is the "Git" side):
    eval "\$(REALK8S_NAME=demo-east tests/realk8s.sh env)"
    curl -s --cacert \$REALK8S_CA_CERT -H "Authorization: Bearer \$(cat \$REALK8S_ADMIN_TOKEN_FILE)" \\
      \$REALK8S_API_URL/apis/tsb.tetrate.io/v2/namespaces/bookinfo-config/workspaces/bookinfo-ws
  generated Istio objects (every cluster, namespace bookinfo; e.g. demo-west):
    eval "\$(REALK8S_NAME=demo-west tests/realk8s.sh env)"
    curl -s --cacert \$REALK8S_CA_CERT -H "Authorization: Bearer \$(cat \$REALK8S_ADMIN_TOKEN_FILE)" \\
      \$REALK8S_API_URL/apis/networking.istio.io/v1/namespaces/bookinfo/sidecars
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
