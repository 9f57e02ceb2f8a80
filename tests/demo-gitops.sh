# Sourced by tests/demo.sh for `tests/demo.sh --gitops` (or TSBRIDGE_DEMO_GITOPS=1): the example
# configuration reaches demo-east from a Git repository through Flux's own source-controller and
# kustomize-controller (v1.9.6, built by setup_flux), run out of cluster the way
# tests/it/support/flux.rs runs them. The repository is laid out as in tests/it/flux_engine.rs
# and served on 127.0.0.1 by tests/git-http-server.py (`git http-backend` as CGI).
#
# Uses the demo's $state, $tsbridge and the per-cluster arrays api_urls, ca_certs, admin_tokens,
# kubeconfigs. Every process started here names $state in its command line, so
# `tests/demo.sh down` stops it with the others.

gitops_git_port=19700
gitops_storage_port=19701
gitops_ns=flux-system
gitops_config_ns=bookinfo-config
# Every Kustomization of the platform repository (gitops_repo writes them).
gitops_kustomizations=(flux-system tsbridge-crds tenancy team-traffic team-security team-gateway
  team-istiointernal)

# `gitops_curl CLUSTER CURL-ARGS...`: the cluster's apiserver as its admin.
gitops_curl() {
  local c="$1"
  shift
  curl -fsS --cacert "${ca_certs[$c]}" -H "Authorization: Bearer $(cat "${admin_tokens[$c]}")" "$@"
}

# `gitops_apply CLUSTER API-PATH FILE`: server-side apply of the one YAML object in FILE.
gitops_apply() {
  sed '/^---$/d' "$3" | gitops_curl "$1" -X PATCH -H 'Content-Type: application/apply-patch+yaml' \
    --data-binary @- "${api_urls[$1]}$2?fieldManager=tsbridge-demo&force=true" >/dev/null
}

# A platform repository the way Flux users lay one out, with the demo's example configuration:
#   clusters/demo-east/platform.yaml  the Kustomizations (what the bootstrap one applies)
#   infrastructure/tsbridge/          the tsbridge CRDs and the config namespace, never pruned
#   tenancy/                          Tenant, Workspace and their settings
#   teams/<group>/                    one directory and Kustomization per team (here the four
#                                     groups of workspace bookinfo-ws), each file one CR
gitops_repo() {
  local dir="$state/gitops" work="$state/gitops/work"
  mkdir -p "$dir/srv" "$work/infrastructure/tsbridge" "$work/clusters/demo-east"
  git init --quiet --bare -b main "$dir/srv/platform.git"
  git -C "$work" init --quiet -b main
  git -C "$work" config user.name "platform team"
  git -C "$work" config user.email platform@example.com
  git -C "$work" remote add origin "$dir/srv/platform.git"
  "$tsbridge" crds >"$work/infrastructure/tsbridge/crds.yaml"
  cat >"$work/infrastructure/tsbridge/namespace.yaml" <<NS
apiVersion: v1
kind: Namespace
metadata:
  name: $gitops_config_ns
NS
  # Deleting this Kustomization or moving the CRDs must never delete the CRDs (and with them
  # every CR) or the namespace of the CRs (docs/gitops.md, What Flux shows).
  cat >"$work/infrastructure/tsbridge/kustomization.yaml" <<'KUSTOMIZE'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [crds.yaml, namespace.yaml]
commonAnnotations:
  kustomize.toolkit.fluxcd.io/prune: disabled
KUSTOMIZE
  # One file per CR: organization-level kinds to tenancy/, the rest by API group to teams/.
  python3 - "$TSBRIDGE_ROOT/tests/fixtures/crs/every-kind.yaml" "$work" <<'SPLIT'
import os, re, sys
fixture, work = sys.argv[1], sys.argv[2]
for doc in re.split(r"^---\s*$", open(fixture).read(), flags=re.M):
    body = "\n".join(l for l in doc.splitlines() if not l.startswith("#")).strip()
    if not body:
        continue
    group = re.search(r"^apiVersion: (\S+)/", body, re.M).group(1)
    kind = re.search(r"^kind: (\S+)", body, re.M).group(1)
    name = re.search(r"^  name: (\S+)", body, re.M).group(1)
    team = group.split(".")[0]
    path = "tenancy" if group == "tsb.tetrate.io" else os.path.join("teams", team)
    os.makedirs(os.path.join(work, path), exist_ok=True)
    with open(os.path.join(work, path, f"{kind.lower()}-{name}.yaml"), "w") as out:
        out.write(body + "\n")
SPLIT
  {
    gitops_kustomization tsbridge-crds ./infrastructure/tsbridge "" ""
    gitops_kustomization tenancy ./tenancy "$gitops_config_ns" tsbridge-crds
    # The teams wait for tenancy: a team's CRs applied before their Workspace stay InProgress,
    # and its Kustomization's health check holds one of kustomize-controller's --concurrent
    # workers (default 4) meanwhile; four such teams starved tenancy until their 2m timeout.
    local team
    for team in traffic security gateway istiointernal; do
      gitops_kustomization "team-$team" "./teams/$team" "$gitops_config_ns" "tsbridge-crds tenancy"
    done
  } >"$work/clusters/demo-east/platform.yaml"
  git -C "$work" add --all
  git -C "$work" commit --quiet -m "platform: tsbridge CRDs, tenancy and four teams"
  git -C "$work" push --quiet --set-upstream origin main
}

# `gitops_kustomization NAME PATH TARGET-NAMESPACE "DEPENDS-ON..." [WAIT]`: one Flux Kustomization (YAML).
# `wait: true`: Ready only once every CR it applied is Ready (accepted by the MP).
gitops_kustomization() {
  cat <<YAML
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: $1
  namespace: $gitops_ns
spec:
  interval: 1m
  retryInterval: 5s
  timeout: 2m
  sourceRef: {kind: GitRepository, name: platform}
  path: $2
  prune: true
  wait: ${5:-true}
YAML
  [[ -z "$3" ]] || echo "  targetNamespace: $3"
  if [[ -n "$4" ]]; then
    echo "  dependsOn:"
    printf '    - name: %s\n' $4
  fi
}

# Serves $state/gitops/srv on 127.0.0.1 (log and pid file in $state).
gitops_start_server() {
  python3 "$TSBRIDGE_ROOT/tests/git-http-server.py" --root "$state/gitops/srv" \
    --port "$gitops_git_port" >"$state/git-server.log" 2>&1 &
  echo $! >"$state/git-server.pid"
  for _ in $(seq 1 50); do
    git ls-remote "http://127.0.0.1:$gitops_git_port/platform.git" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  setup_log "the Git server did not answer; its log:"
  tail -n 20 "$state/git-server.log" >&2
  return 1
}

# Flux's CRDs into demo-east, then source-controller and kustomize-controller out of cluster,
# watching only $gitops_ns, artifact storage on 127.0.0.1 (flags as tests/it/support/flux.rs).
gitops_start_flux() {
  local file name bin port=$((gitops_storage_port + 1))
  for file in "$TSBRIDGE_FLUX_DIR"/crds/*.yaml; do
    name="$(sed -n 's/^  name: //p' "$file" | head -n 1)"
    gitops_apply demo-east "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$name" "$file"
  done
  for name in gitrepositories.source.toolkit.fluxcd.io kustomizations.kustomize.toolkit.fluxcd.io; do
    for _ in $(seq 1 100); do
      gitops_curl demo-east "${api_urls[demo-east]}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$name" |
        python3 -c 'import json,sys
sys.exit(not any(c["type"] == "Established" and c["status"] == "True"
                 for c in json.load(sys.stdin).get("status", {}).get("conditions", [])))' && break
      sleep 0.2
    done
  done
  # Applied, not created: a second `tests/demo.sh --gitops` without `down` finds it there.
  gitops_apply demo-east "/api/v1/namespaces/$gitops_ns" \
    <(printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$gitops_ns")
  mkdir -p "$state/flux/storage"
  for bin in source-controller kustomize-controller; do
    # Started through a link in $state, so the command line names the state dir (stop_processes).
    ln -s "$TSBRIDGE_FLUX_DIR/bin/$bin" "$state/flux/$bin"
    local extra=()
    if [[ $bin == source-controller ]]; then
      extra=("--storage-path=$state/flux/storage" "--storage-addr=127.0.0.1:$gitops_storage_port"
        "--storage-adv-addr=127.0.0.1:$gitops_storage_port")
    else
      # A failed dependsOn is looked at again after this (default 30 s).
      extra=(--requeue-dependency=2s)
    fi
    KUBECONFIG="${kubeconfigs[demo-east]}" RUNTIME_NAMESPACE="$gitops_ns" "$state/flux/$bin" \
      --watch-all-namespaces=false --enable-leader-election=false --log-encoding=console \
      "--metrics-addr=127.0.0.1:$port" "--health-addr=127.0.0.1:$((port + 1))" "${extra[@]}" \
      >"$state/$bin.log" 2>&1 &
    echo $! >"$state/$bin.pid"
    port=$((port + 2))
  done
}

# What `flux bootstrap` leaves: the GitRepository and the entry-point Kustomization; then waits
# (bounded) until every Kustomization is Ready at the pushed commit.
gitops_sync() {
  local revision ns_path="/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/$gitops_ns/kustomizations"
  revision="main@sha1:$(git -C "$state/gitops/work" rev-parse HEAD)"
  cat >"$state/gitops/gitrepository.yaml" <<YAML
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: platform
  namespace: $gitops_ns
spec:
  url: http://127.0.0.1:$gitops_git_port/platform.git
  ref: {branch: main}
  interval: 10s
YAML
  gitops_kustomization flux-system ./clusters/demo-east "" "" false >"$state/gitops/bootstrap.yaml"
  gitops_apply demo-east "/apis/source.toolkit.fluxcd.io/v1/namespaces/$gitops_ns/gitrepositories/platform" \
    "$state/gitops/gitrepository.yaml"
  gitops_apply demo-east "$ns_path/flux-system" "$state/gitops/bootstrap.yaml"
  local deadline=$((SECONDS + 180)) bin failure="within 180 s"
  while ((SECONDS < deadline)); do
    if gitops_view demo-east "$revision" >"$state/gitops/view.txt" 2>/dev/null; then return 0; fi
    for bin in source-controller kustomize-controller; do
      kill -0 "$(cat "$state/$bin.pid")" 2>/dev/null || failure="($bin exited)"
    done
    [[ "$failure" == within* ]] || break
    sleep 1
  done
  setup_log "Flux did not make every Kustomization Ready at $revision $failure:"
  cat "$state/gitops/view.txt" >&2
  for bin in source-controller kustomize-controller; do
    setup_log "last lines of $state/$bin.log:"
    tail -n 15 "$state/$bin.log" | cut -c1-300 >&2
  done
  return 1
}

# `gitops_view CLUSTER [REVISION]`: Flux's view, one line per Kustomization (Ready status,
# reason, applied revision, message). Fails while one is missing, not Ready, not reconciled at
# its current generation or (given REVISION) not at REVISION.
gitops_view() {
  gitops_curl "$1" "${api_urls[$1]}/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/$gitops_ns/kustomizations" |
    python3 -c '
import json, sys
want, revision = sys.argv[1].split(), sys.argv[2]
items = {k["metadata"]["name"]: k for k in json.load(sys.stdin)["items"]}
ok = True
print("%-20s %-6s %-22s %-52s %s" % ("KUSTOMIZATION", "READY", "REASON", "APPLIED REVISION", "MESSAGE"))
for name in want:
    k = items.get(name, {"metadata": {}, "status": {}})
    s = k.get("status", {})
    ready = next((c for c in s.get("conditions", []) if c["type"] == "Ready"), {})
    current = s.get("observedGeneration") == k["metadata"].get("generation")
    applied = s.get("lastAppliedRevision", "")
    ok &= ready.get("status") == "True" and current and (not revision or applied == revision)
    print("%-20s %-6s %-22s %-52s %s" % (name, ready.get("status", "-"), ready.get("reason", "-"),
          applied or "-", ready.get("message", "")[:120]))
sys.exit(0 if ok else 1)' "${gitops_kustomizations[*]}" "${2:-}"
}
