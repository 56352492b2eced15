#!/usr/bin/env bash
# All tests: lint, the pytest suite (no Frappe needed), and the Frappe-layer tests in a real bench
# when one exists at /opt/awm-bench (site awm.localhost). Ends with one line totalling both suites.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
logs=$(mktemp -d)
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== pytest (engine and static app checks)"
.venv/bin/python -m pytest 2>&1 | tee "$logs/pytest.log"
echo "== Frappe bench tests"
bash scripts/bench-tests.sh 2>&1 | tee "$logs/bench.log"

count() { grep -oE "$1" "$2" | tail -n 1 | grep -oE '[0-9]+' || echo 0; }
py_passed=$(count '[0-9]+ passed' "$logs/pytest.log")
py_failed=$(count '[0-9]+ failed' "$logs/pytest.log")
bench_ran=$(count 'Ran [0-9]+ tests' "$logs/bench.log")
bench_failed=$(( $(count 'failures=[0-9]+' "$logs/bench.log") + $(count 'errors=[0-9]+' "$logs/bench.log") ))
if grep -q '^SKIPPED' "$logs/bench.log"; then
  echo "bench tests skipped (no bench): pytest only below"
fi
echo "total: $(( py_passed + bench_ran - bench_failed )) passed, $(( py_failed + bench_failed )) failed"
