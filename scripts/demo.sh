#!/usr/bin/env bash
# The main job: simulate 5,000 tenancies for 26 weeks under a manual team and under automation (the
# nightly decision each week), print the headline table and write an HTML report with charts.
# Extra arguments go to `awm demo` (e.g. --tenancies 20000 --rules hackney-2020).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
exec .venv/bin/awm demo "$@"
