#!/usr/bin/env bash
# Install kwatch with its test dependencies, then run every check and every test.
# Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
"$PY" -m pip install --quiet --disable-pip-version-check -e '.[test]'

echo "== ruff"
"$PY" -m ruff check kwatch tests benchmarks scripts
echo "== mypy --strict kwatch"
"$PY" -m mypy --strict kwatch
echo "== import contracts"
lint-imports

echo "== real control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kubectl)"
# Built from Go modules into ~/.cache/kwatch (cached; seconds when warm). Tests marked
# `controlplane` use it; under CI=true a missing binary fails them instead of skipping.
bash scripts/build-controlplane.sh
KWATCH_KUBECTL="$(bash scripts/build-controlplane.sh --print-bin-dir)/kubectl"
export KWATCH_KUBECTL
echo "== the demo API server's protobuf and OpenAPI schemas match Kubernetes v1.36.1"
"$PY" scripts/gen_protobuf_schema.py --check
"$PY" scripts/gen_openapi_schemas.py --check

echo "== pytest"
"$PY" -m pytest -q "$@"
