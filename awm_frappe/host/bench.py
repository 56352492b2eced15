"""In-site benchmark: wall time and query count of ONE nightly run over N tenancies with a year of ledger.

    bench --site awm.localhost execute awm_frappe.host.bench.run_benchmark --kwargs "{'tenancies': 5000}"

The first call creates the portfolio with ``awm_frappe.demo.make_demo_data`` under the prefix
``BENCH-{N}-`` (tenancies, customers, officers, a year of Rent Transactions, the synthetic open cases and
their history) and commits it; later calls reuse it. Each call then times one live nightly run
(``run_nightly(as_of, patches=<the benchmark's patches>, dry_run=0)``, automation on) — counting every
statement sent through ``frappe.db.sql`` — and rolls the run back (``keep=False``) so the measurement
is repeatable: every call measures the same night on the same data.
"""

from __future__ import annotations

import json
import time

import frappe
from frappe.utils import cint, getdate, nowdate

from awm_frappe.host import nightly


def run_benchmark(
    tenancies: int = 5000, weeks: int = 52, as_of=None, keep: bool = False, nights: int = 1
) -> dict:
    tenancies = cint(tenancies)
    prefix = f"BENCH-{tenancies}-"
    as_of = getdate(as_of or nowdate())
    setup = None
    if not frappe.db.exists("Tenancy", {"name": ("like", f"{prefix}%")}):
        from awm_frappe.demo import make_demo_data

        setup = make_demo_data(tenancies, weeks=weeks, as_of=as_of, prefix=prefix, run=False, commit=True)
    patches = frappe.db.sql_list("select distinct patch from `tabTenancy` where name like %s", f"{prefix}%")
    ledger_rows = frappe.db.sql(
        "select count(*) from `tabRent Transaction` where tenancy like %s and posting_date <= %s",
        (f"{prefix}%", as_of),
    )[0][0]
    open_cases = frappe.db.count(
        "Arrears Case", {"tenancy": ("like", f"{prefix}%"), "status": ("!=", "closed")}
    )

    # a live night: automation on for every patch and action type, not a dry run (the heaviest write path)
    cached = frappe.get_cached_doc("AWM Settings")
    settings = frappe.get_doc(cached.as_dict())
    settings.automation_enabled = 1
    settings.automated_patches = []
    settings.automated_action_types = []
    results = []
    original = frappe.get_cached_doc
    frappe.get_cached_doc = lambda *a, **kw: settings if a and a[0] == "AWM Settings" else original(*a, **kw)
    try:
        for night in range(cint(nights) or 1):
            day = frappe.utils.add_days(as_of, 7 * night)
            started = time.perf_counter()
            run = nightly.run_nightly(day, patches=patches, dry_run=0)
            wall = time.perf_counter() - started
            summary = json.loads(run.get("summary") or "{}")
            chunk = (summary.get("chunks") or [{}])[0]
            results.append(
                {
                    "as_of": str(day),
                    "status": run.get("status"),
                    "wall_seconds": round(wall, 2),
                    "query_count": run.get("query_count"),
                    "queries_by_kind": run.get("queries_by_kind"),
                    "timings": chunk.get("timings"),
                    "counts": summary.get("totals"),
                }
            )
    finally:
        frappe.get_cached_doc = original
        if not keep:
            frappe.db.rollback()
    out = {
        "tenancies": frappe.db.count("Tenancy", {"name": ("like", f"{prefix}%")}),
        "patches": len(patches),
        "ledger_rows": ledger_rows,
        "open_cases_before": open_cases,
        "setup": setup and {"seconds": setup.get("seconds"), "timings": setup.get("timings")},
        "nights": results,
        "kept": bool(keep),
    }
    print(json.dumps(out, indent=1, default=str))
    return out
