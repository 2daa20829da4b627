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

echo "== pytest"
"$PY" -m pytest -q "$@"
