#!/usr/bin/env bash
# All tests: lint, the pytest suite (no Frappe needed), and the Frappe-layer tests in a real bench
# when one exists at /opt/awm-bench (site awm.localhost).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== pytest (engine and static app checks)"
.venv/bin/python -m pytest
echo "== Frappe bench tests"
bash scripts/bench-tests.sh
