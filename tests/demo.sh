#!/usr/bin/env bash
# The main job on this machine, set-up included: brings up the local tsbridge environment and
# prints how to use it. `tests/demo.sh down` stops it.
#
# Today the environment is two real Kubernetes control planes (demo-east, demo-west) with Istio's
# CRDs installed; the management plane and one agent per cluster join it as they are built.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$TSBRIDGE_ROOT"
clusters=(demo-east demo-west)

if [[ "${1:-up}" == down ]]; then
  for c in "${clusters[@]}"; do REALK8S_NAME=$c tests/realk8s.sh down; done
  exit 0
fi
[[ "${1:-up}" == up ]] || { echo "usage: $0 [up|down]" >&2; exit 2; }

setup_log "set-up: packages, toolchains, control-plane binaries (cold: ~10 min, warm: seconds)"
setup_all
setup_log "building tsbridge"
cargo build --locked --bin tsbridge
tsbridge="$CARGO_TARGET_DIR/debug/tsbridge"

declare -A kubeconfigs
for c in "${clusters[@]}"; do
  setup_log "starting control plane $c"
  env_lines="$(REALK8S_NAME=$c tests/realk8s.sh up)"
  kubeconfigs[$c]="$(sed -n "s/^export KUBECONFIG='\(.*\)'$/\1/p" <<<"$env_lines")"
done
helm_bin="$(REALK8S_NAME=${clusters[0]} tests/realk8s.sh env | sed -n "s/^export REALK8S_BIN='\(.*\)'$/\1/p")/helm"

cat <<MSG

tsbridge local environment is up.

  tsbridge:     $tsbridge  ($("$tsbridge" --version))
MSG
for c in "${clusters[@]}"; do
  cat <<MSG
  cluster $c
    kubeconfig: ${kubeconfigs[$c]}
    shell env:  eval "\$(REALK8S_NAME=$c tests/realk8s.sh env)"
    try:        $helm_bin --kubeconfig ${kubeconfigs[$c]} list -A
MSG
done
cat <<MSG

  status:       tests/realk8s.sh status --all
  stop:         tests/demo.sh down
MSG
