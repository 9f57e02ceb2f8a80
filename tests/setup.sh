# Sourced by tests/test.sh and tests/demo.sh: installs what a fresh machine lacks and builds the
# real control plane. Idempotent; a warm machine spends about a second here.
# Caches live outside the repository so a fresh clone on the same machine finds them warm:
#   cargo target  ${CARGO_TARGET_DIR:-~/.cache/tsbridge/target}
#   Go            GOMODCACHE / GOCACHE (Go's defaults, under ~/go and ~/.cache)
#   control plane ${REALK8S_CACHE:-~/.cache/realk8s}
#   kstatus       ~/.cache/tsbridge/bin/kstatus (exported as TSBRIDGE_KSTATUS)
#   istioctl      ~/.cache/tsbridge/bin/istioctl (exported as TSBRIDGE_ISTIOCTL)
#   Flux          ~/.cache/tsbridge/flux/{bin,crds} (exported as TSBRIDGE_FLUX_DIR)
#   Argo CD       ~/.cache/tsbridge/argocd/{bin,crds} (exported as TSBRIDGE_ARGOCD_DIR)

TSBRIDGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TSBRIDGE_ROOT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tsbridge/target}"
# The pinned tools module (go.mod + go.sum committed): builds never depend on what the proxy
# resolves later.
export REALK8S_MODDIR="${REALK8S_MODDIR:-$TSBRIDGE_ROOT/tests/k8s-tools}"
# Never let anything pick up in-cluster config or a proxy for loopback: tests dial 127.0.0.1 only.
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

setup_log() { printf '[tsbridge] %s\n' "$*" >&2; }

setup_packages() {
  # command -> Debian package
  local -A want=(
    [openssl]=openssl [curl]=curl [python3]=python3 [flock]=util-linux [setpriv]=util-linux
    [cc]=gcc [git]=git
    # The console's browser tests (tests/it/console.rs): headless Chromium over WebDriver.
    [chromium]=chromium [chromedriver]=chromium-driver
    # Argo CD's cache (tests/it/argocd_engine.rs runs a private one on a loopback port).
    [redis-server]=redis-server
  )
  local missing=() cmd
  for cmd in "${!want[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${want[$cmd]}")
  done
  # PostgreSQL server binaries for the private test clusters (never the system service).
  if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && ! command -v initdb >/dev/null; then
    missing+=(postgresql)
  fi
  if ((${#missing[@]} == 0)); then return 0; fi
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  setup_log "installing Debian packages: ${missing[*]}"
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || { setup_log "need root or sudo to install: ${missing[*]}"; return 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  # The packages' own services are not ours to run: tests start private ones.
  local service
  for service in postgresql redis-server; do
    if [[ " ${missing[*]} " == *" $service "* ]] && command -v service >/dev/null; then
      "${sudo[@]}" service "$service" stop >/dev/null 2>&1 || true
    fi
  done
}

setup_toolchains() {
  command -v go >/dev/null || { setup_log "Go >= 1.26 is required (the control plane is built from Go modules)"; return 1; }
  command -v cargo >/dev/null || { setup_log "a Rust toolchain (cargo) >= 1.94 is required"; return 1; }
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    command -v rustup >/dev/null || { setup_log "rustfmt and clippy are required"; return 1; }
    rustup component add rustfmt clippy >&2
  fi
}

# The V-KS reference (gitops-contract.md 2.0): tests/kstatus runs cli-utils' status.Compute.
# Built outside the clone like the control plane, and only when its sources or Go change; tests
# find it through TSBRIDGE_KSTATUS.
setup_kstatus() {
  local src="$TSBRIDGE_ROOT/tests/kstatus" dir="${XDG_CACHE_HOME:-$HOME/.cache}/tsbridge/bin"
  local bin="$dir/kstatus" key
  key="$( (go env GOVERSION && cat "$src/go.mod" "$src/go.sum" "$src"/*.go) | sha256sum | cut -c1-16)" || return 1
  export TSBRIDGE_KSTATUS="$bin"
  if [[ -x "$bin" && "$(cat "$dir/.stamp-kstatus" 2>/dev/null)" == "$key" ]]; then return 0; fi
  setup_log "building the kstatus oracle (tests/kstatus)"
  mkdir -p "$dir" && rm -f "$dir/.stamp-kstatus"
  # -mod=readonly: the committed go.sum pins every module; a build never re-resolves.
  (cd "$src" && go build -mod=readonly -buildvcs=false -trimpath -o "$bin.tmp.$$" .) || return 1
  mv -f "$bin.tmp.$$" "$bin" && echo "$key" >"$dir/.stamp-kstatus"
}

# Istio's own validation judges the generated objects: istioctl from the istio.io/istio module,
# pinned by tests/istioctl (go.mod + go.sum committed), built outside the clone (cold: ~8 min,
# most of it downloading modules) and only when its pins or Go change.
setup_istioctl() {
  local src="$TSBRIDGE_ROOT/tests/istioctl" dir="${XDG_CACHE_HOME:-$HOME/.cache}/tsbridge/bin"
  local bin="$dir/istioctl" key
  key="$( (go env GOVERSION && cat "$src/go.mod" "$src/go.sum") | sha256sum | cut -c1-16)" || return 1
  export TSBRIDGE_ISTIOCTL="$bin"
  if [[ -x "$bin" && "$(cat "$dir/.stamp-istioctl" 2>/dev/null)" == "$key" ]]; then return 0; fi
  setup_log "building istioctl from the istio.io/istio module (tests/istioctl; cold: ~8 min)"
  mkdir -p "$dir" && rm -f "$dir/.stamp-istioctl"
  (cd "$src" && go build -mod=readonly -trimpath -ldflags "-s -w" -o "$bin.tmp.$$" \
    istio.io/istio/istioctl/cmd/istioctl) || return 1
  mv -f "$bin.tmp.$$" "$bin" && echo "$key" >"$dir/.stamp-istioctl"
}

# Flux's source-controller and kustomize-controller (tests/it/flux_engine.rs runs them out of
# cluster), built from their Go modules as pinned by tests/flux (go.mod + go.sum committed; why
# the pins look the way they do: docs/testing.md), outside the clone (cold: ~3 min plus module
# downloads) and only when the pins or Go change. Their CRDs are copied from the same module
# directories, so the cluster always gets the CRDs of the release that runs.
setup_flux() {
  local src="$TSBRIDGE_ROOT/tests/flux" dir="${XDG_CACHE_HOME:-$HOME/.cache}/tsbridge/flux"
  local key tmp module moddir
  key="$( (go env GOVERSION && cat "$src/go.mod" "$src/go.sum") | sha256sum | cut -c1-16)" || return 1
  export TSBRIDGE_FLUX_DIR="$dir"
  if [[ -x "$dir/bin/source-controller" && -x "$dir/bin/kustomize-controller" \
    && "$(cat "$dir/.stamp" 2>/dev/null)" == "$key" ]]; then return 0; fi
  setup_log "building Flux source-controller and kustomize-controller (tests/flux; cold: ~3 min)"
  tmp="$dir.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp/bin" "$tmp/crds" || return 1
  # -mod=readonly: the committed go.sum pins every module; a build never re-resolves.
  (cd "$src" && go build -mod=readonly -trimpath -ldflags "-s -w" -o "$tmp/bin/" \
    github.com/fluxcd/source-controller github.com/fluxcd/kustomize-controller) || { rm -rf "$tmp"; return 1; }
  for module in source-controller kustomize-controller; do
    moddir="$(cd "$src" && go list -mod=readonly -m -f '{{.Dir}}' "github.com/fluxcd/$module")" || { rm -rf "$tmp"; return 1; }
    cp "$moddir"/config/crd/bases/*.yaml "$tmp/crds/" || { rm -rf "$tmp"; return 1; }
  done
  chmod u+w "$tmp"/crds/*.yaml
  echo "$key" >"$tmp/.stamp" && rm -rf "$dir" && mv "$tmp" "$dir"
}

# Argo CD's application-controller and repo-server (tests/it/argocd_engine.rs runs them out of
# cluster): one multi-call binary built from the argo-cd/v3 module as pinned by tests/argocd
# (go.mod + go.sum committed), which needs Go 1.27 (the module proxy serves the toolchain), and
# the Application and AppProject CRDs of the same module. Cold: ~7 min plus module downloads.
setup_argocd() {
  local src="$TSBRIDGE_ROOT/tests/argocd" dir="${XDG_CACHE_HOME:-$HOME/.cache}/tsbridge/argocd"
  local key tmp moddir name toolchain
  toolchain="$(awk '$1 == "toolchain" { print $2 }' "$src/go.mod")"
  key="$( (echo "$toolchain" && cat "$src/go.mod" "$src/go.sum") | sha256sum | cut -c1-16)" || return 1
  export TSBRIDGE_ARGOCD_DIR="$dir"
  if [[ -x "$dir/bin/argocd" && "$(cat "$dir/.stamp" 2>/dev/null)" == "$key" ]]; then return 0; fi
  setup_log "building Argo CD's controller and repo-server (tests/argocd; cold: ~7 min)"
  tmp="$dir.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp/bin" "$tmp/crds" || return 1
  (cd "$src" && GOTOOLCHAIN="$toolchain" go build -mod=readonly -trimpath \
    -ldflags "-s -w -X github.com/argoproj/argo-cd/v3/common.version=$(awk '$1 == "require" { sub(/^v/, "", $3); print $3 }' go.mod)" \
    -o "$tmp/bin/argocd" github.com/argoproj/argo-cd/v3/cmd) || { rm -rf "$tmp"; return 1; }
  # The binary picks its component by the name it is started as.
  for name in argocd-application-controller argocd-repo-server; do
    ln -s argocd "$tmp/bin/$name" || { rm -rf "$tmp"; return 1; }
  done
  moddir="$(cd "$src" && GOTOOLCHAIN="$toolchain" go list -mod=readonly -m -f '{{.Dir}}' \
    github.com/argoproj/argo-cd/v3)" || { rm -rf "$tmp"; return 1; }
  cp "$moddir"/manifests/crds/application-crd.yaml "$moddir"/manifests/crds/appproject-crd.yaml \
    "$tmp/crds/" || { rm -rf "$tmp"; return 1; }
  # The repo-server runs this script on every commit it renders (its image ships it in PATH).
  cp "$moddir"/hack/git-verify-wrapper.sh "$tmp/bin/" || { rm -rf "$tmp"; return 1; }
  chmod u+w "$tmp"/crds/*.yaml && chmod 755 "$tmp/bin/git-verify-wrapper.sh"
  echo "$key" >"$tmp/.stamp" && rm -rf "$dir" && mv "$tmp" "$dir"
}

setup_all() {
  setup_packages && setup_toolchains && "$TSBRIDGE_ROOT/tests/realk8s.sh" build && setup_kstatus \
    && setup_istioctl && setup_flux && setup_argocd
}
