#!/usr/bin/env bash
# The main job: synthesise a portfolio and make the nightly decision on it, printing the summary.
# Extra arguments go to `awm demo` (e.g. --tenancies 20000 --rules hackney-2020).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
exec .venv/bin/awm demo "$@"
