#!/usr/bin/env bash
# Run the app's FrappeTestCase tests in a real Frappe v15 + ERPNext v15 bench, if one exists.
# The bench is not part of this repository; by default it is /opt/awm-bench with the site awm.localhost.
set -euo pipefail
BENCH_DIR=${AWM_BENCH_DIR:-/opt/awm-bench}
SITE=${AWM_BENCH_SITE:-awm.localhost}
BENCH_USER=${AWM_BENCH_USER:-frappe}
if [ ! -d "$BENCH_DIR/apps/frappe" ] || [ ! -d "$BENCH_DIR/sites/$SITE" ]; then
  echo "SKIPPED: no Frappe bench at $BENCH_DIR with site $SITE, so the Frappe-layer tests did not run."
  exit 0
fi
SRC=$(cd "$(dirname "$0")/.." && pwd)

as_bench_user() {
  if [ "$(id -un)" = "$BENCH_USER" ]; then "$@"; else sudo -u "$BENCH_USER" -H "$@"; fi
}
# Two test runs on one site deadlock and see each other's data: take the bench's lock when flock exists.
LOCK=${AWM_BENCH_LOCK:-/tmp/awm-bench.lock}
bench_cmd() {
  (
    cd "$BENCH_DIR"
    if command -v flock >/dev/null; then
      exec 9>>"$LOCK"
      flock 9
    fi
    as_bench_user env CI=1 bench "$@"
  )
}

# Point the bench's app at this checkout; copy it first when the bench user cannot read it
# (a CI clone under /root, say). The previous link is restored afterwards.
APP_LINK="$BENCH_DIR/apps/awm_frappe"
previous=$(readlink "$APP_LINK" || true)
target="$SRC"
if ! as_bench_user test -r "$SRC/awm_frappe/hooks.py"; then
  target=$(mktemp -d /tmp/awm-bench-app.XXXXXX)
  (cd "$SRC" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) | tar -xf - -C "$target"
  chown -R "$BENCH_USER" "$target"
fi
restore() { [ -n "$previous" ] && as_bench_user ln -sfn "$previous" "$APP_LINK"; }
trap restore EXIT
as_bench_user ln -sfn "$target" "$APP_LINK"
echo "bench: $BENCH_DIR, site $SITE, app from $target"

log=$(mktemp /tmp/awm-migrate.XXXXXX.log)
chmod 644 "$log"
if ! bench_cmd --site "$SITE" migrate >"$log" 2>&1; then
  tail -n 60 "$log"
  echo "bench migrate failed (full log: $log)"
  exit 1
fi
echo "bench migrate: ok"
bench_cmd --site "$SITE" run-tests --app awm_frappe "$@"
