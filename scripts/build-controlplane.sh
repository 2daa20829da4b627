#!/usr/bin/env bash
# Build a pinned, real Kubernetes control plane from Go modules (no Docker, no
# downloads of prebuilt binaries): kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl (from k8s.io/kubernetes) and etcd (from
# go.etcd.io/etcd/server/v3).
#
# Output: ${KWATCH_CP_CACHE:-$HOME/.cache/kwatch/controlplane}/<k8s-version>/bin/
#
# Idempotent: binaries that exist and report the pinned version are kept. The Go
# module cache and build cache are left alone, so a second run is fast.
#
# Environment:
#   KWATCH_K8S_VERSION   Kubernetes version to build (default below)
#   KWATCH_ETCD_VERSION  etcd server version to build (default below)
#   KWATCH_CP_CACHE      cache root (default $HOME/.cache/kwatch/controlplane)
#   KWATCH_CP_JOBS       go build -p (default: number of CPUs, at most 2 to keep RAM in check)
#   KUBEBUILDER_ASSETS   envtest convention: a directory with prebuilt etcd and
#                        kube-apiserver (and maybe others); those are used and only
#                        the missing binaries are built.
#   KWATCH_CP_FORCE=1    rebuild even if the binaries look up to date
#
# Usage: scripts/build-controlplane.sh [--print-bin-dir] [--check]
#   --print-bin-dir  print the output directory and exit
#   --check          exit 0 if every binary is present and pinned, 1 otherwise (no build)
set -euo pipefail

K8S_VERSION="${KWATCH_K8S_VERSION:-v1.36.1}"
ETCD_VERSION="${KWATCH_ETCD_VERSION:-v3.6.16}"
CACHE_ROOT="${KWATCH_CP_CACHE:-${HOME}/.cache/kwatch/controlplane}"
OUT="${CACHE_ROOT}/${K8S_VERSION}"
BIN="${OUT}/bin"
SRC="${OUT}/src"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

log() { printf '[build-controlplane] %s\n' "$*" >&2; }
die() { printf '[build-controlplane] ERROR: %s\n' "$*" >&2; exit 1; }

mode=build
case "${1:-}" in
  --print-bin-dir) echo "${BIN}"; exit 0 ;;
  --check) mode=check ;;
  "") ;;
  -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) die "unknown argument: $1 (try --help)" ;;
esac

[[ "${K8S_VERSION}" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "KWATCH_K8S_VERSION must look like v1.M.P, got ${K8S_VERSION}"
K8S_MINOR="${BASH_REMATCH[1]}"
STAGING_VERSION="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

# --- which binaries are already fine? ---------------------------------------
# A binary counts as present if KUBEBUILDER_ASSETS has it (whatever its version:
# the user chose it) or if our cache has it at the pinned version.
assets_has() {
  [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "${KUBEBUILDER_ASSETS}/$1" ]]
}
cache_ok() {  # cache_ok NAME [verify]: "verify" ignores KWATCH_CP_FORCE
  local name=$1 out
  [[ -x "${BIN}/${name}" ]] || return 1
  [[ "${KWATCH_CP_FORCE:-0}" == 1 && "${2:-}" != verify ]] && return 1
  case "${name}" in
    etcd) out="$("${BIN}/etcd" --version 2>/dev/null || true)"
          grep -q "etcd Version: ${ETCD_VERSION#v}\$" <<<"${out}" ;;
    kubectl) out="$("${BIN}/kubectl" version --client 2>/dev/null || true)"
          grep -q "Client Version: ${K8S_VERSION}\$" <<<"${out}" ;;
    *) out="$("${BIN}/${name}" --version 2>/dev/null || true)"
          [[ "${out}" == "Kubernetes ${K8S_VERSION}" ]] ;;
  esac
}

need_kube=()
for c in "${KUBE_CMDS[@]}"; do
  if assets_has "$c"; then
    log "$c: using KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS}"
  elif cache_ok "$c"; then
    log "$c: up to date in ${BIN}"
  else
    need_kube+=("$c")
  fi
done
need_etcd=0
if assets_has etcd; then
  log "etcd: using KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS}"
elif cache_ok etcd; then
  log "etcd: up to date in ${BIN}"
else
  need_etcd=1
fi

if [[ ${#need_kube[@]} -eq 0 && ${need_etcd} -eq 0 ]]; then
  log "nothing to build (Kubernetes ${K8S_VERSION}, etcd ${ETCD_VERSION}) -> ${BIN}"
  exit 0
fi
if [[ "${mode}" == check ]]; then
  log "missing or outdated: ${need_kube[*]:-} $([[ ${need_etcd} == 1 ]] && echo etcd)"
  exit 1
fi

# --- toolchain --------------------------------------------------------------
command -v go >/dev/null 2>&1 || die "Go is not installed (or not on PATH). Install Go >= 1.26 (https://go.dev/dl/) or point KUBEBUILDER_ASSETS at prebuilt etcd/kube-apiserver/kube-controller-manager/kube-scheduler binaries."
log "using $(go version)"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
# Never touch the caller's go.work while building our helpers.
export GOWORK=off
JOBS="${KWATCH_CP_JOBS:-$(( $(nproc 2>/dev/null || echo 2) < 2 ? 1 : 2 ))}"
NICE=(nice -n 10)
command -v nice >/dev/null 2>&1 || NICE=()
mkdir -p "${BIN}" "${SRC}"

# --- kube-* and kubectl -----------------------------------------------------
build_kube() {
  local dir="${SRC}/kube" kmod
  mkdir -p "${dir}"
  log "fetching k8s.io/kubernetes@${K8S_VERSION} go.mod"
  kmod="$(cd "${dir}" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" \
          | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "${kmod}" ]] || die "could not download k8s.io/kubernetes@${K8S_VERSION} from the Go module proxy"

  # Staging modules: every `k8s.io/x => ./staging/src/k8s.io/x` line.
  local staging=()
  mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\1#p' "${kmod}" | sort -u)
  [[ ${#staging[@]} -ge 20 ]] || die "found only ${#staging[@]} staging modules in ${kmod}; unexpected go.mod layout"
  log "${#staging[@]} staging modules, replaced with ${STAGING_VERSION}"
  if grep -E '^[[:space:]]*[^/[:space:]]+\S*[[:space:]]*=>' "${kmod}" | grep -v '=> \./staging/' | grep -q .; then
    log "warning: k8s.io/kubernetes go.mod has non-staging replaces (not copied):"
    grep -E '=>' "${kmod}" | grep -v '=> \./staging/' >&2 || true
  fi

  # Check that the proxy serves every staging module at the pinned version.
  local missing=()
  for m in "${staging[@]}"; do
    (cd "${dir}" && go list -m -json "${m}@${STAGING_VERSION}" >/dev/null 2>&1) || missing+=("${m}")
  done
  [[ ${#missing[@]} -eq 0 ]] || die "the module proxy does not serve ${STAGING_VERSION} of: ${missing[*]}"

  local godir godebug
  godir="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "${kmod}" | head -1)"
  godebug="$(grep -E '^godebug ' "${kmod}" || true)"
  {
    echo "// Generated by scripts/build-controlplane.sh for k8s.io/kubernetes ${K8S_VERSION}. Do not edit."
    echo "module kwatch.local/controlplane/kube"
    echo
    echo "go ${godir}"
    [[ -n "${godebug}" ]] && { echo; echo "${godebug}"; }
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    echo "replace ("
    for m in "${staging[@]}"; do printf '\t%s => %s %s\n' "${m}" "${m}" "${STAGING_VERSION}"; done
    echo ")"
  } > "${dir}/go.mod.new"
  if ! cmp -s "${dir}/go.mod.new" "${dir}/go.mod.gen" 2>/dev/null; then
    cp "${dir}/go.mod.new" "${dir}/go.mod"
    cp "${dir}/go.mod.new" "${dir}/go.mod.gen"
    rm -f "${dir}/go.sum"
  fi
  rm -f "${dir}/go.mod.new"

  local pkgs=() c
  for c in "${need_kube[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/${c}"); done
  log "resolving dependencies (go get ${pkgs[*]})"
  if ! (cd "${dir}" && go get "${pkgs[@]/%/@${K8S_VERSION}}" > "${dir}/go-get.log" 2>&1); then
    grep -v '^go: downloading' "${dir}/go-get.log" >&2 || true
    die "dependency resolution (go get) failed in ${dir}"
  fi

  local commit build_date vpkg ldflags
  commit="$(cd "${dir}" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" \
            | sed -n 's/^[[:space:]]*"Hash": "\([0-9a-f]\{40\}\)".*/\1/p' | head -1)"
  build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  ldflags="-s -w"
  for vpkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${vpkg}.gitVersion=${K8S_VERSION}"
    ldflags+=" -X ${vpkg}.gitMajor=1 -X ${vpkg}.gitMinor=${K8S_MINOR}"
    ldflags+=" -X ${vpkg}.gitCommit=${commit:-unknown} -X ${vpkg}.gitTreeState=clean"
    ldflags+=" -X ${vpkg}.buildDate=${build_date}"
  done
  log "building ${need_kube[*]} (Kubernetes ${K8S_VERSION}, -p ${JOBS}); this takes a while the first time"
  (cd "${dir}" && CGO_ENABLED=0 "${NICE[@]}" go build -p "${JOBS}" -trimpath -tags providerless \
      -ldflags "${ldflags}" -o "${BIN}/" "${pkgs[@]}") || die "go build of ${need_kube[*]} failed"
}

# --- etcd -------------------------------------------------------------------
build_etcd() {
  local dir="${SRC}/etcd-${ETCD_VERSION}"
  mkdir -p "${dir}"
  cp "${HERE}/controlplane/etcd/main.go" "${dir}/main.go"
  if [[ "${ETCD_VERSION}" == "$(sed -n 's#^require go.etcd.io/etcd/server/v3 \(v[^ ]*\)$#\1#p' "${HERE}/controlplane/etcd/go.mod")" ]]; then
    cp "${HERE}/controlplane/etcd/go.mod" "${HERE}/controlplane/etcd/go.sum" "${dir}/"
  else
    log "etcd ${ETCD_VERSION} differs from the helper's pin; resolving it"
    cp "${HERE}/controlplane/etcd/go.mod" "${dir}/"
    rm -f "${dir}/go.sum"
    (cd "${dir}" && go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" && go mod tidy) >&2
  fi
  (cd "${dir}" && go list -m -json "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null 2>&1) \
    || die "the module proxy does not serve go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
  log "building etcd ${ETCD_VERSION}"
  (cd "${dir}" && CGO_ENABLED=0 "${NICE[@]}" go build -mod=mod -p "${JOBS}" -trimpath \
      -ldflags "-s -w" -o "${BIN}/etcd" .) || die "go build of etcd failed"
}

start=$(date +%s)
[[ ${need_etcd} -eq 1 ]] && build_etcd
[[ ${#need_kube[@]} -gt 0 ]] && build_kube
printf 'kubernetes=%s\netcd=%s\ngo=%s\n' "${K8S_VERSION}" "${ETCD_VERSION}" "$(go env GOVERSION)" > "${OUT}/VERSIONS"

for c in "${KUBE_CMDS[@]}" etcd; do
  if ! assets_has "$c" && ! cache_ok "$c" verify; then
    die "$c in ${BIN} does not report the pinned version after the build"
  fi
done
log "done in $(( $(date +%s) - start ))s -> ${BIN}"
ls -l "${BIN}" >&2
