#!/usr/bin/env bash
# The main job on this machine, set-up included: brings up the local tsbridge environment,
# applies an example configuration, and prints where to look. `tests/demo.sh down` stops it.
#
# The environment: two real Kubernetes control planes (demo-east, demo-west) with Istio's CRDs
# and tsbridge's CRDs installed, and the management plane on an embedded SQLite store with the
# one agent per cluster. The example hierarchy is installed into demo-east as a Helm release (the
# way Argo CD or Flux would put it there); the agent of demo-east sends it to the management plane
# and writes each CR's status.
#
# `tests/demo.sh --gitops` (or TSBRIDGE_DEMO_GITOPS=1) puts it there the GitOps way instead: a
# local Git repository served on 127.0.0.1 and Flux's own source-controller and
# kustomize-controller syncing it into demo-east (tests/demo-gitops.sh). `tests/demo.sh flux`
# then prints Flux's view.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
source "$(dirname "${BASH_SOURCE[0]}")/demo-gitops.sh"
gitops="${TSBRIDGE_DEMO_GITOPS:-0}"
args=()
for arg in "$@"; do
  if [[ "$arg" == --gitops ]]; then gitops=1; else args+=("$arg"); fi
done
set -- "${args[@]}"
cd "$TSBRIDGE_ROOT"
clusters=(demo-east demo-west)
state="${TMPDIR:-/tmp}/tsbridge-demo-$(id -u)"
# Overridable for a machine where something else holds them.
mp_port="${TSBRIDGE_DEMO_MP_PORT:-19443}"
admin_port="${TSBRIDGE_DEMO_ADMIN_PORT:-19090}"
ui_port="${TSBRIDGE_DEMO_UI_PORT:-19480}"

stop_processes() {
  local file pid
  for file in "$state"/*.pid; do
    [[ -f "$file" ]] || continue
    pid="$(cat "$file")"
    # Only processes we started: their command lines name our state dir.
    if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$state"; then
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

# Every generated Istio object in every demo cluster as "cluster kind/ns/name resourceVersion".
generated_objects() {
  local c
  for c in "${clusters[@]}"; do
    eval "$(REALK8S_NAME=$c tests/realk8s.sh env)"
    for kind in networking.istio.io/v1/virtualservices networking.istio.io/v1/destinationrules \
      networking.istio.io/v1/gateways networking.istio.io/v1/sidecars \
      networking.istio.io/v1/serviceentries security.istio.io/v1/peerauthentications \
      security.istio.io/v1/authorizationpolicies security.istio.io/v1/requestauthentications \
      networking.istio.io/v1alpha3/envoyfilters; do
      curl -fsS --cacert "$REALK8S_CA_CERT" -H "Authorization: Bearer $(cat "$REALK8S_ADMIN_TOKEN_FILE")" \
        "$REALK8S_API_URL/apis/$kind?labelSelector=tsbridge.io%2Fmanaged-by%3Dtsbridge" |
        python3 -c 'import json,sys
for o in json.load(sys.stdin)["items"]:
    m = o["metadata"]
    print(sys.argv[1], o["kind"] + "/" + m["namespace"] + "/" + m["name"], m["resourceVersion"])' "$c"
    done
  done | sort
}

# `tests/demo.sh restart-agent CLUSTER`: a rolling restart of one agent (SIGTERM, started again
# at once, as a chart upgrade does), then what it changed: nothing (docs/restarts.md).
if [[ "${1:-up}" == restart-agent ]]; then
  c="${2:?usage: $0 restart-agent demo-east|demo-west}"
  [[ -f "$state/agent-$c.cmd" ]] || { echo "no demo agent for $c; run tests/demo.sh first" >&2; exit 1; }
  tsbridge="$CARGO_TARGET_DIR/debug/tsbridge"
  ctl=("$tsbridge" ctl --server "http://127.0.0.1:$mp_port" --token-file "$state/admin.token")
  before="$(generated_objects)"
  audit_before="$("${ctl[@]}" audit --limit 100000 | wc -l)"
  pid="$(cat "$state/agent-$c.pid")"
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  bash -c "$(cat "$state/agent-$c.cmd") >>'$state/agent-$c.log' 2>&1 & echo \$! >'$state/agent-$c.pid'"
  admin="$(cat "$state/agent-$c.admin")"
  for _ in $(seq 1 100); do
    curl -fsS "http://$admin/ready" >/dev/null 2>&1 && break
    curl -sS "http://$admin/ready" 2>/dev/null | grep -q waiting && curl -sS "http://$admin/ready"; echo
    sleep 0.1
  done
  setup_log "agent of $c restarted and ready; watching for 5 s"
  sleep 5
  after="$(generated_objects)"
  audit_after="$("${ctl[@]}" audit --limit 100000 | wc -l)"
  changed="$(diff <(echo "$before") <(echo "$after") | grep -c '^[<>]' || true)"
  echo "generated objects in every cluster: $(wc -l <<<"$before") before, $(wc -l <<<"$after") after, $changed lines differ (resourceVersion included)"
  echo "audit entries: $audit_before before, $audit_after after"
  exit 0
fi
declare -A kubeconfigs api_urls ca_certs admin_tokens
# `tests/demo.sh flux`: Flux's view of the GitOps demo (every Kustomization's Ready condition).
if [[ "${1:-up}" == flux ]]; then
  [[ -f "$state/source-controller.pid" ]] || { echo "no GitOps demo; run tests/demo.sh --gitops" >&2; exit 1; }
  eval "$(REALK8S_NAME=demo-east tests/realk8s.sh env)"
  api_urls[demo-east]="$REALK8S_API_URL" ca_certs[demo-east]="$REALK8S_CA_CERT"
  admin_tokens[demo-east]="$REALK8S_ADMIN_TOKEN_FILE"
  gitops_view demo-east || true
  exit 0
fi
[[ "${1:-up}" == up ]] || { echo "usage: $0 [--gitops] [up|down|restart-agent CLUSTER|flux]" >&2; exit 2; }

setup_log "set-up: packages, toolchains, control-plane binaries (cold: ~10-25 min, warm: seconds)"
setup_all
setup_log "building tsbridge"
cargo build --locked --bin tsbridge
tsbridge="$CARGO_TARGET_DIR/debug/tsbridge"

helm_bin=""
for c in "${clusters[@]}"; do
  setup_log "starting control plane $c"
  env_lines="$(REALK8S_NAME=$c tests/realk8s.sh up)"
  value() { sed -n "s/^export $1='\(.*\)'$/\1/p" <<<"$env_lines"; }
  kubeconfigs[$c]="$(value KUBECONFIG)"
  api_urls[$c]="$(value REALK8S_API_URL)"
  ca_certs[$c]="$(value REALK8S_CA_CERT)"
  admin_tokens[$c]="$(value REALK8S_ADMIN_TOKEN_FILE)"
  helm_bin="$(value REALK8S_BIN)/helm"
done

stop_processes
stop_processes
# A fresh store each time: the demo applies its example from scratch.
rm -rf "$state"
mkdir -p "$state"
# Another process on one of the MP's ports would answer for it (a stopped MP of ours frees them
# within moments).
for port in "$mp_port" "$admin_port" "$ui_port"; do
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || continue 2; sleep 0.1; done
  setup_log "127.0.0.1:$port is held by another process; set TSBRIDGE_DEMO_MP_PORT, TSBRIDGE_DEMO_ADMIN_PORT and TSBRIDGE_DEMO_UI_PORT"
  exit 1
done
setup_log "starting the management plane (SQLite: $state/mp.db)"
"$tsbridge" server --insecure --listen "127.0.0.1:$mp_port" --admin-listen "127.0.0.1:$admin_port" \
  --ui-listen "127.0.0.1:$ui_port" --store "sqlite:$state/mp.db" --organization acme --bootstrap-token-file "$state/admin.token" \
  >"$state/mp.log" 2>&1 &
echo $! >"$state/mp.pid"
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$admin_port/ready" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$admin_port/ready" >/dev/null || { cat "$state/mp.log" >&2; exit 1; }

ctl=("$tsbridge" ctl --server "http://127.0.0.1:$mp_port" --token-file "$state/admin.token")
# The web console's sign-in tokens (docs/console.md): the admin token, and a viewer that sees
# only tenant payments.
"${ctl[@]}" token create --role viewer --scope organizations/acme/tenants/payments \
  --subject demo-viewer --name demo-viewer >"$state/viewer.token" 2>"$state/viewer-token.log" ||
  { cat "$state/viewer-token.log" >&2; exit 1; }
webhook_port=19500
for c in "${clusters[@]}"; do
  setup_log "registering cluster $c and installing the tsbridge chart into it"
  "${ctl[@]}" cluster create "$c" >/dev/null
  "${ctl[@]}" cluster grant "$c" --organization acme >/dev/null
  # The chart as a platform team installs it: CRDs, the agent's ServiceAccount and
  # least-privilege RBAC, the validating webhook and the Deployment. There is no kubelet here, so
  # the Deployment's pod stays Pending and the agent runs beside the apiserver instead, with the
  # chart's ServiceAccount token and nothing more; the webhook URL points at it on 127.0.0.1.
  webhook_port=$((webhook_port + 1))
  REALK8S_NAME=$c tests/realk8s.sh webhook-cert "$state/webhook-$c" >/dev/null
  "$helm_bin" --kubeconfig "${kubeconfigs[$c]}" upgrade --install tsbridge charts/tsbridge \
    --namespace tsbridge-system --create-namespace --take-ownership \
    --set agent.cluster="$c" \
    --set agent.managementPlane.address="http://127.0.0.1:$mp_port" \
    --set agent.managementPlane.tls.insecure=true \
    --set agent.webhook.url="https://127.0.0.1:$webhook_port/validate" \
    --set agent.webhook.tls.mode=external \
    --set agent.webhook.tls.external.secretName=tsbridge-agent-webhook-tls \
    --set agent.webhook.tls.external.caBundle="$(base64 -w0 "$state/webhook-$c/ca.crt")" >/dev/null
  # A TokenRequest for the chart's ServiceAccount, as the kubelet would mount it.
  token="$(curl -fsS --cacert "${ca_certs[$c]}" -H "Authorization: Bearer $(cat "${admin_tokens[$c]}")" \
    -H 'Content-Type: application/json' -X POST -d '{"spec":{"expirationSeconds":86400}}' \
    "${api_urls[$c]}/api/v1/namespaces/tsbridge-system/serviceaccounts/tsbridge-agent/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["token"])')"
  cat >"$state/agent-$c.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: $c, cluster: {server: "${api_urls[$c]}", certificate-authority: "${ca_certs[$c]}"}}]
users: [{name: tsbridge-agent, user: {token: "$token"}}]
contexts: [{name: $c, context: {cluster: $c, user: tsbridge-agent}}]
current-context: $c
KUBECONFIG
  # Loopback demo: the agent speaks plaintext to the MP and acts for its cluster with the admin
  # token; production agents use mTLS client certificates (docs/install.md). The command is kept
  # for `tests/demo.sh restart-agent`.
  agent_admin="127.0.0.1:$((webhook_port + 100))"
  echo "$agent_admin" >"$state/agent-$c.admin"
  agent_cmd=("$tsbridge" agent --cluster "$c" --server "http://127.0.0.1:$mp_port" --insecure
    --token-file "$state/admin.token" --kubeconfig "$state/agent-$c.kubeconfig"
    --lease-namespace tsbridge-system --identity "$c-agent" --admin-listen "$agent_admin"
    --webhook-listen "127.0.0.1:$webhook_port" --webhook-cert "$state/webhook-$c/tls.crt"
    --webhook-key "$state/webhook-$c/tls.key" --delete-grace 2s)
  printf '%q ' "${agent_cmd[@]}" >"$state/agent-$c.cmd"
  "${agent_cmd[@]}" >"$state/agent-$c.log" 2>&1 &
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
  labels:
    istio-injection: enabled
NS
for c in "${clusters[@]}"; do
  "$helm_bin" --kubeconfig "${kubeconfigs[$c]}" upgrade --install demo-namespaces \
    "$state/namespaces" --namespace default >/dev/null
done

setup_log "creating the bookinfo workloads in every cluster (Services, Pending Pods, gateway credentials)"
# What the example's config refers to, so Istio's analyzers see real references (the Pods stay
# Pending: there is no kubelet). The gateways' TLS credentials get a fresh self-signed pair.
mkdir -p "$state/workloads/templates" "$state/certs"
cat >"$state/workloads/Chart.yaml" <<'CHART'
apiVersion: v2
name: tsbridge-demo-workloads
version: 0.1.0
CHART
cp tests/fixtures/crs/workloads.yaml "$state/workloads/templates/workloads.yaml"
for secret in bookinfo-certs bookinfo-tier1-certs; do
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$secret.example.com" \
    -keyout "$state/certs/$secret.key" -out "$state/certs/$secret.crt" 2>/dev/null
  cat >"$state/workloads/templates/$secret.yaml" <<SECRET
apiVersion: v1
kind: Secret
metadata:
  name: $secret
  namespace: bookinfo
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$state/certs/$secret.crt")
  tls.key: $(base64 -w0 "$state/certs/$secret.key")
SECRET
done
for c in "${clusters[@]}"; do
  "$helm_bin" --kubeconfig "${kubeconfigs[$c]}" upgrade --install demo-workloads \
    "$state/workloads" --namespace bookinfo >/dev/null
done

if [[ $gitops == 1 ]]; then
  setup_log "GitOps: a local Git repository with the example configuration, served on 127.0.0.1:$gitops_git_port"
  gitops_repo
  gitops_start_server
  setup_log "GitOps: starting Flux source-controller and kustomize-controller against demo-east"
  flux_started=$SECONDS
  gitops_start_flux
  setup_log "GitOps: waiting for every Kustomization to be Ready (their health checks wait on every CR)"
  gitops_sync
  setup_log "GitOps: Flux synced the repository in $((SECONDS - flux_started)) s"
else
  setup_log "installing the example configuration into demo-east as a Helm release (GitOps-style)"
  mkdir -p "$state/example/templates"
  printf 'apiVersion: v2\nname: tsbridge-example\nversion: 0.1.0\n' >"$state/example/Chart.yaml"
  cp tests/fixtures/crs/every-kind.yaml "$state/example/templates/config.yaml"
  "$helm_bin" --kubeconfig "${kubeconfigs[demo-east]}" upgrade --install example "$state/example" \
    --namespace bookinfo-config --create-namespace >/dev/null
fi
setup_log "waiting for the agent of demo-east to report every CR Ready"
ready=0
for _ in $(seq 1 300); do
  count="$("${ctl[@]}" list -r -o json 2>/dev/null | grep -c '"fqn"' || true)"
  if [[ "$count" -ge 18 ]]; then ready=1; break; fi
  sleep 0.2
done
[[ $ready == 1 ]] || { tail -n 50 "$state/agent-demo-east.log" >&2; exit 1; }

# Istio's own analyzers over each cluster's live objects (generated config, Services, Pods).
analysis=""
for c in "${clusters[@]}"; do
  report="$(timeout 120 "$TSBRIDGE_ISTIOCTL" analyze --kubeconfig "${kubeconfigs[$c]}" -n bookinfo 2>&1 || true)"
  analysis+="    $c: $(grep -cE '^Error \[' <<<"$report" || true) errors, $(grep -cE '^Warning \[' <<<"$report" || true) warnings"$'\n'
  grep -E '^(Error|Warning) \[' <<<"$report" >"$state/analyze-$c.txt" || true
  analysis+="$(sed 's/^/      /' "$state/analyze-$c.txt" 2>/dev/null | head -n 8)"$'\n'
done

# Distribution per cluster, as the store shares it between MP replicas.
cluster_table="$("${ctl[@]}" cluster list 2>&1 | sed 's/^/    /' || true)"
# What reached each cluster, from the delivery ledger (docs/ledger.md).
ledger_report="$("${ctl[@]}" report --fqn-prefix organizations/acme --since 1h 2>&1 | sed 's/^/    /' || true)"
traffic_setting=organizations/acme/tenants/payments/workspaces/bookinfo-ws/trafficgroups/bookinfo-tg/settings/default
source_text='the Helm release is the "Git" side'
gitops_text=""
if [[ $gitops == 1 ]]; then
  source_text="synced by Flux from $state/gitops"
  work="$state/gitops/work"
  gitops_text="  GitOps: Flux's source-controller and kustomize-controller (v1.9.6, out of cluster, namespace
  $gitops_ns of demo-east) sync http://127.0.0.1:$gitops_git_port/platform.git (working copy $work)
                    logs $state/source-controller.log, $state/kustomize-controller.log,
                         $state/git-server.log
  Flux's view (again: tests/demo.sh flux; or the curl below on
  /apis/kustomize.toolkit.fluxcd.io/v1/namespaces/$gitops_ns/kustomizations in demo-east):
$(gitops_view demo-east 2>&1 | sed 's/^/    /' || true)
  make a change the GitOps way: commit -> Flux -> CR -> MP -> Istio objects in both clusters
  (let bookinfo's sidecars reach kube-system; the GitRepository polls every 10 s):
    sed -i 's|^      - \"istio-system/\\*\"\$|&\\n      - \"kube-system/*\"|' $work/teams/traffic/trafficsetting-default.yaml
    git -C $work commit -am 'traffic: let bookinfo reach kube-system' && git -C $work push
    tests/demo.sh flux      # team-traffic Ready at the new revision
    ${ctl[*]} history $traffic_setting
    ${ctl[*]} report --fqn-prefix organizations/acme --since 10m
    eval \"\$(REALK8S_NAME=demo-west tests/realk8s.sh env)\"
    curl -s --cacert \$REALK8S_CA_CERT -H \"Authorization: Bearer \$(cat \$REALK8S_ADMIN_TOKEN_FILE)\" \\
      \$REALK8S_API_URL/apis/networking.istio.io/v1/namespaces/bookinfo/sidecars | grep -B2 -A4 kube-system
"
fi

cat <<MSG

tsbridge local environment is up.

  management plane  grpc http://127.0.0.1:$mp_port   admin http://127.0.0.1:$admin_port/ready
                    log $state/mp.log   admin token $state/admin.token
  agents            logs $state/agent-demo-east.log, $state/agent-demo-west.log
                    ready: curl http://$(cat "$state/agent-demo-east.admin")/ready (names the watches still listing)
                    installed with the Helm chart (release tsbridge, namespace tsbridge-system);
                    each runs with its chart ServiceAccount's token: $state/agent-<cluster>.kubeconfig
  CR status (demo-east, namespace bookinfo-config; $source_text):
    eval "\$(REALK8S_NAME=demo-east tests/realk8s.sh env)"
    curl -s --cacert \$REALK8S_CA_CERT -H "Authorization: Bearer \$(cat \$REALK8S_ADMIN_TOKEN_FILE)" \\
      \$REALK8S_API_URL/apis/tsb.tetrate.io/v2/namespaces/bookinfo-config/workspaces/bookinfo-ws
  generated Istio objects (every cluster, namespace bookinfo; e.g. demo-west):
    eval "\$(REALK8S_NAME=demo-west tests/realk8s.sh env)"
    curl -s --cacert \$REALK8S_CA_CERT -H "Authorization: Bearer \$(cat \$REALK8S_ADMIN_TOKEN_FILE)" \\
      \$REALK8S_API_URL/apis/networking.istio.io/v1/namespaces/bookinfo/sidecars
$gitops_text  clusters (who serves each agent's stream, what it acknowledged, how far behind it is;
  the same on every MP replica: docs/distribution.md):
$cluster_table
  delivery ledger: what became of each change in each cluster (docs/ledger.md):
$ledger_report
    ${ctl[*]} history $traffic_setting
    ${ctl[*]} deliveries --cluster demo-west --outcome failed
  web console (docs/console.md): http://127.0.0.1:$ui_port/
    sign in as admin with   $(cat "$state/admin.token")   ($state/admin.token)
    or as a viewer of tenant payments only with   $(cat "$state/viewer.token")   ($state/viewer.token)
  management-plane metrics (docs/metrics.md):
    curl -s http://127.0.0.1:$admin_port/metrics | grep tsbridge_server_
  try:
    ${ctl[*]} cluster list
    ${ctl[*]} list -r
    ${ctl[*]} get organizations/acme/tenants/payments/workspaces/bookinfo-ws -o yaml
    ${ctl[*]} status organizations/acme/tenants/payments
    ${ctl[*]} audit --fqn-prefix organizations/acme
    $tsbridge validate tests/fixtures/crs/every-kind.yaml
    $tsbridge validate --strict tests/fixtures/crs/every-kind.yaml   # TSB1106: fields not enforced
    $tsbridge render --cluster demo-west --namespaces bookinfo tests/fixtures/crs/every-kind.yaml
  Istio's analyzers on the live objects of namespace bookinfo (istioctl built from istio.io/istio):
$analysis    $TSBRIDGE_ISTIOCTL analyze --kubeconfig ${kubeconfigs[demo-west]} -n bookinfo
  restarts change nothing (docs/restarts.md): restart an agent, then compare every generated
  object (resourceVersion included) and the audit:
    tests/demo.sh restart-agent demo-east
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
