# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt
"""The nightly run inside a real site: ladder, ERPNext ledger, idempotency, bad rows, dry run, assignments,
automation switches, chunk failure and a bounded query count.

Every test works in its own patch (territory) and calls ``run_nightly(as_of, patches=[patch])`` with an
explicit as_of, so tests do not see each other's data; FrappeTestCase rolls everything back per class.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from unittest.mock import patch as mock_patch

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days, getdate

from awm_frappe.host import nightly
from awm_frappe.host.nightly import run_nightly
from awm_frappe.tests.factories import (
    BASE_DATE,
    day,
    ensure_setup,
    make_officer,
    make_rent_transaction,
    make_tenancy,
    make_weekly_ledger,
    without_active_model,
)
from awm_frappe.tests.factories import (
    make_patch as _make_patch,
)


def make_patch(label: str) -> str:
    return _make_patch(label, prefix="AWM NR")


@contextmanager
def awm_settings(**values):
    """Change AWM Settings for a block (saved through the doc so the cached copy is refreshed)."""
    doc = frappe.get_single("AWM Settings")
    before = {key: doc.get(key) for key in values}
    doc.update(values)
    doc.save(ignore_permissions=True)
    try:
        yield doc
    finally:
        doc = frappe.get_single("AWM Settings")
        doc.update(before)
        doc.save(ignore_permissions=True)


def case_of(tenancy: str):
    name = frappe.db.get_value("Arrears Case", {"tenancy": tenancy}, "name", order_by="creation desc")
    return frappe.get_doc("Arrears Case", name) if name else None


def snapshot(patch: str) -> dict:
    """Row counts and latest modified of everything a run writes, for one patch."""
    cases = frappe.get_all("Arrears Case", filters={"patch": patch}, pluck="name")
    return {
        "cases": sorted(
            frappe.db.sql(
                """select name, status, stage, officer, modified, _assign, next_action, last_run
				from `tabArrears Case` where patch = %s""",
                patch,
            )
        ),
        "timeline": frappe.db.count("Arrears Case Action", {"parent": ("in", cases or [""])}),
        "todos": sorted(
            frappe.db.sql(
                """select name, status, allocated_to, modified from `tabToDo`
				where reference_type = 'Arrears Case' and reference_name in %s""",
                [tuple(cases or [""])],
            )
        ),
        "tenancies": sorted(
            frappe.db.sql(
                "select name, balance, open_case, modified from `tabTenancy` where patch = %s", patch
            )
        ),
    }


class TestNightlyRun(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ensure_setup()
        without_active_model()
        cls.addClassCleanup(frappe.clear_document_cache, "AWM Settings", "AWM Settings")

    def live(self, **extra):
        return awm_settings(automation_enabled=1, dry_run=0, ledger_source="Rent Transaction", **extra)

    # ---- the ladder

    def test_ladder_opens_escalates_and_closes(self):
        patch = make_patch("ladder")
        officer = f"ladder-{frappe.generate_hash(length=5)}@example.com"
        make_officer(officer, [patch], skills="legal")
        tenancy = make_tenancy(patch=patch, weekly_rent=100).name
        quiet = make_tenancy(patch=patch, weekly_rent=100).name
        make_weekly_ledger(tenancy, day(-56), 12)  # never pays
        make_weekly_ledger(quiet, day(-56), 12, paid=100)  # always pays

        with self.live():
            run = run_nightly(day(0), patches=[patch])
            self.assertEqual(run["status"], "Completed", run.get("summary"))
            case = case_of(tenancy)
            self.assertIsNotNone(case, "a case is opened for the tenancy in arrears")
            self.assertIsNone(case_of(quiet), "no case for the tenancy that pays")
            self.assertEqual(
                (case.stage, case.status, case.last_action), ("letter_1", "automated", "letter_1")
            )
            row = case.timeline[-1]
            self.assertEqual(
                (row.action_type, row.rule, row.by_automation, row.message_status),
                ("letter_1", "letter_1", 1, "send"),
            )
            self.assertEqual(getdate(row.action_date), day(0))
            self.assertEqual(frappe.db.get_value("Tenancy", tenancy, "open_case"), case.name)
            self.assertGreater(frappe.db.get_value("Tenancy", tenancy, "balance"), 0)

            run_nightly(day(14), patches=[patch])
            case = case_of(tenancy)
            self.assertEqual((case.stage, case.last_action), ("letter_2", "letter_2"))

            run = run_nightly(day(21), patches=[patch])
            case = case_of(tenancy)
            self.assertEqual(case.next_action, "nosp")
            self.assertEqual(case.status, "legal")
            self.assertEqual(case.officer, officer)
            self.assertEqual(json.loads(case.get("_assign") or "[]"), [officer])
            todo = frappe.get_all(
                "ToDo",
                filters={"reference_type": "Arrears Case", "reference_name": case.name, "status": "Open"},
                fields=["allocated_to", "description"],
            )
            self.assertEqual([t.allocated_to for t in todo], [officer])
            self.assertIn("nosp", todo[0].description)
            self.assertEqual(case.timeline[-1].outcome, "recommended")
            self.assertGreaterEqual(run["routed_to_officers"], 1)

            # the tenant clears the balance; the next night closes the case and the officer's task
            balance = frappe.db.sql(
                "select sum(amount) from `tabRent Transaction` where tenancy=%s and posting_date<=%s",
                (tenancy, day(28)),
            )[0][0]
            make_rent_transaction(tenancy, day(22), -float(balance), "payment")
            run = run_nightly(day(28), patches=[patch])
            case = case_of(tenancy)
            self.assertEqual(case.status, "closed")
            self.assertEqual(getdate(case.closed_on), day(28))
            self.assertEqual(run["closed"], 1)
            self.assertFalse(frappe.db.get_value("Tenancy", tenancy, "open_case"))
            self.assertFalse(
                frappe.db.exists(
                    "ToDo", {"reference_type": "Arrears Case", "reference_name": case.name, "status": "Open"}
                )
            )
            self.assertEqual(json.loads(case.get("_assign") or "[]"), [])

    # ---- ERPNext receivables as the ledger

    def test_erpnext_invoices_and_payments_as_ledger(self):
        from erpnext.accounts.utils import get_fiscal_year

        from awm_frappe.host import ledger

        company = (
            frappe.db.get_single_value("Global Defaults", "default_company")
            or frappe.get_all("Company", pluck="name", limit=1)[0]
        )
        today = getdate()
        fy_start = getdate(get_fiscal_year(today, company=company)[1])
        first = max(getdate(add_days(today, -60)), fy_start)
        mondays = ledger.mondays(first, add_days(first, 40))[:5]
        self.assertGreaterEqual(len(mondays), 5)
        as_of = add_days(mondays[-1], 2)

        patch = make_patch("erpnext")
        owes = make_tenancy(patch=patch, weekly_rent=90).name
        pays = make_tenancy(patch=patch, weekly_rent=80).name
        with awm_settings(
            automation_enabled=1, dry_run=0, ledger_source="ERPNext Receivables", company=company
        ):
            for monday in mondays:
                ledger.post_rent_run(monday, patches=[patch])
                ledger.make_rent_payment(pays, add_days(monday, 1), 80)

            frame = ledger.read_ledger(as_of, [patch])
            mine = frame[frame["tenancy"].eq(owes)]
            self.assertEqual(len(mine), 5)
            self.assertEqual(set(mine["kind"]), {"rent"})
            self.assertAlmostEqual(mine["amount"].sum(), 450.0)
            self.assertAlmostEqual(frame.loc[frame["tenancy"].eq(pays), "amount"].sum(), 0.0)
            self.assertIn("payment", set(frame["kind"]))

            run = run_nightly(as_of, patches=[patch])
            self.assertIn(run["status"], ("Completed",), run.get("summary"))
            case = case_of(owes)
            self.assertIsNotNone(case)
            self.assertEqual(case.last_action, "letter_1")
            self.assertAlmostEqual(case.balance, 450.0)
            self.assertIsNone(case_of(pays))

            # paid in full; collectable arrears leave this rent week's transactions out (Hackney's grace), so
            # the case closes in the next rent week
            ledger.make_rent_payment(owes, add_days(as_of, 1), 450)
            run = run_nightly(add_days(as_of, 7), patches=[patch])
            self.assertEqual(case_of(owes).status, "closed")
            self.assertEqual(run["closed"], 1)

    # ---- idempotency

    def test_second_run_on_the_same_date_changes_nothing(self):
        patch = make_patch("idem")
        officer = f"idem-{frappe.generate_hash(length=5)}@example.com"
        make_officer(officer, [patch], skills="legal")
        for weeks_unpaid in (1, 6, 10):
            tenancy = make_tenancy(patch=patch, weekly_rent=100).name
            make_weekly_ledger(tenancy, day(-70), 11 - weeks_unpaid, paid=100)
            make_weekly_ledger(tenancy, day(-70 + 7 * (11 - weeks_unpaid)), weeks_unpaid)
        with self.live(automated_patches=[]):
            run_nightly(day(-14), patches=[patch])
            run_nightly(day(0), patches=[patch])
            before = snapshot(patch)
            self.assertTrue(before["cases"])
            second = run_nightly(day(0), patches=[patch])
            after = snapshot(patch)
        self.assertEqual(before, after)
        self.assertEqual(second["cases_opened"], 0)
        self.assertEqual(second["closed"], 0)

    # ---- a bad tenancy

    def test_bad_tenancy_is_logged_and_skipped(self):
        patch = make_patch("bad")
        good = make_tenancy(patch=patch, weekly_rent=100).name
        bad = make_tenancy(patch=patch, weekly_rent=100).name
        make_weekly_ledger(good, day(-35), 6)
        make_weekly_ledger(bad, day(-35), 6)
        frappe.db.set_value("Tenancy", bad, "weekly_rent", 0)  # a broken row (the form would refuse it)
        with self.live():
            run = run_nightly(day(0), patches=[patch])
        self.assertEqual(run["status"], "Completed with errors")
        self.assertEqual(run["errors"], 1)
        self.assertEqual(run["tenancies_scored"], 1)
        logs = frappe.get_all(
            "Error Log",
            filters={"reference_doctype": "Tenancy", "reference_name": bad},
            fields=["method", "error"],
        )
        self.assertTrue(logs, "an Error Log names the bad tenancy")
        self.assertIn("weekly_rent", logs[0].error)
        self.assertIsNotNone(case_of(good), "the good tenancy still gets its case")
        self.assertIsNone(case_of(bad))

    # ---- dry run

    def test_dry_run_sends_nothing(self):
        patch = make_patch("dry")
        tenancy = make_tenancy(patch=patch, weekly_rent=100).name
        make_weekly_ledger(tenancy, day(-35), 6)
        outgoing = {dt: frappe.db.count(dt) for dt in ("Communication", "Email Queue", "SMS Log")}
        with awm_settings(automation_enabled=1, dry_run=1, ledger_source="Rent Transaction"):
            run = run_nightly(day(0), patches=[patch])
            self.assertEqual(run["dry_run"], 1)
            case = case_of(tenancy)
            self.assertEqual(case.next_action, "letter_1")
            self.assertEqual(case.stage, "", "a dry run performs nothing: the stage does not move")
            self.assertFalse(case.last_action)
            self.assertEqual(
                [(r.action_type, r.message_status, r.outcome) for r in case.timeline],
                [("letter_1", "dry_run", "recommended")],
            )
            run_nightly(day(1), patches=[patch])
            self.assertEqual(len(case_of(tenancy).timeline), 1, "an unchanged recommendation is not repeated")
        self.assertEqual(outgoing, {dt: frappe.db.count(dt) for dt in outgoing})
        self.assertEqual(
            frappe.db.count("Arrears Case Action", {"parent": case.name, "message_status": "send"}), 0
        )

    # ---- automation switched off for the patch: the officer gets it

    def test_automation_off_for_patch_routes_to_officer_worktray(self):
        patch = make_patch("manual")
        other = make_patch("auto")
        officer = f"manual-{frappe.generate_hash(length=5)}@example.com"
        make_officer(officer, [patch])
        tenancy = make_tenancy(patch=patch, weekly_rent=100).name
        make_weekly_ledger(tenancy, day(-35), 6)
        with self.live(automated_patches=[{"territory": other}]):
            run = run_nightly(day(0), patches=[patch])
        case = case_of(tenancy)
        self.assertEqual((case.status, case.next_action, case.officer), ("worktray", "letter_1", officer))
        self.assertEqual(case.stage, "", "the letter was not sent")
        self.assertEqual(case.timeline[-1].message_status, "held")
        self.assertEqual(json.loads(case.get("_assign")), [officer])
        self.assertTrue(
            frappe.db.exists("ToDo", {"reference_name": case.name, "allocated_to": officer, "status": "Open"})
        )
        self.assertEqual(run["routed_to_officers"], 1)

    # ---- a chunk that fails does not stop the others

    def test_failing_chunk_is_logged_and_others_continue(self):
        from awm_frappe.engine import pipeline

        broken, fine = make_patch("broken"), make_patch("fine")
        for p in (broken, fine):
            tenancy = make_tenancy(patch=p, weekly_rent=100).name
            make_weekly_ledger(tenancy, day(-35), 6)
        real = pipeline.run_nightly

        def flaky(inputs, *args, **kwargs):
            if broken in set(inputs.tenancies["patch"]):
                raise RuntimeError("engine exploded")
            return real(inputs, *args, **kwargs)

        with self.live(), mock_patch.object(pipeline, "run_nightly", flaky):
            run = run_nightly(day(0), patches=[broken, fine], chunk_by_patch=True)
        self.assertEqual(run["status"], "Completed with errors")
        self.assertEqual(run["jobs"], 2)
        summary = json.loads(run["summary"])
        self.assertEqual(sorted(c["ok"] for c in summary["chunks"]), [False, True])
        self.assertTrue(
            frappe.db.exists("Error Log", {"reference_doctype": "AWM Run", "reference_name": run["name"]})
        )
        self.assertEqual(frappe.db.count("Arrears Case", {"patch": fine}), 1)
        self.assertEqual(frappe.db.count("Arrears Case", {"patch": broken}), 0)

    # ---- no query per tenancy

    def test_query_count_does_not_grow_with_tenancies(self):
        counts = {}
        with self.live():
            for size in (10, 60):
                patch = make_patch(f"q{size}")
                officer = f"q{size}-{frappe.generate_hash(length=5)}@example.com"
                make_officer(officer, [patch], skills="legal")
                for i in range(size):
                    tenancy = make_tenancy(patch=patch, weekly_rent=100 + i).name
                    make_weekly_ledger(tenancy, day(-56), 9, paid=100 if i % 3 == 0 else 0)
                run_nightly(day(-14), patches=[patch])  # opens cases
                run = run_nightly(day(0), patches=[patch])  # updates, timeline, tasks
                counts[size] = run["query_count"]
        self.assertLess(counts[60], 200)
        self.assertLessEqual(counts[60] - counts[10], 6, counts)

    # ---- scheduler entry points

    def test_schedule_enqueues_once_with_job_id(self):
        calls = []
        night = "2031-01-06"  # a night no AWM Run exists for (the site may hold real runs for today)
        with (
            mock_patch.object(frappe, "enqueue", lambda *a, **kw: calls.append((a, kw))),
            mock_patch.object(nightly, "nowdate", lambda: night),
        ):
            with awm_settings(nightly_time="00:00:00"):
                nightly.schedule_nightly()
                self.assertEqual(len(calls), 1)
                args, kwargs = calls[0]
                self.assertEqual(args[0], "awm_frappe.host.nightly.run_nightly_job")
                self.assertEqual(kwargs["queue"], "long")
                self.assertTrue(kwargs["deduplicate"])
                self.assertEqual(kwargs["job_id"], f"awm-nightly-{night}")
                # once the night has a run, the tick does nothing
                frappe.get_doc({"doctype": "AWM Run", "as_of": night, "status": "Completed"}).insert(
                    ignore_permissions=True
                )
                nightly.schedule_nightly()
                self.assertEqual(len(calls), 1)

    def test_failed_night_is_not_retried_by_the_tick(self):
        calls = []
        night = "2031-01-07"
        with (
            mock_patch.object(frappe, "enqueue", lambda *a, **kw: calls.append((a, kw))),
            mock_patch.object(nightly, "nowdate", lambda: night),
        ):
            with awm_settings(nightly_time="00:00:00"):
                frappe.get_doc({"doctype": "AWM Run", "as_of": night, "status": "Failed"}).insert(
                    ignore_permissions=True
                )
                for _tick in range(3):
                    nightly.schedule_nightly()
                self.assertEqual(calls, [], "a Failed night is not re-enqueued by the 15-minute tick")
                # a person can still retry it
                nightly.enqueue_nightly(night)
                self.assertEqual(len(calls), 1)
                self.assertEqual(calls[0][1]["job_id"], f"awm-nightly-{night}")

    def test_one_night_at_a_time(self):
        from frappe.database import get_db

        night = "2031-01-08"

        def runs():
            return frappe.get_all("AWM Run", {"as_of": night}, pluck="name")

        # another process (its own connection) holds the night's lock
        main, other = frappe.local.db, get_db()
        other.connect()
        held = nightly.nightly_lock(night)
        try:
            frappe.local.db = other
            held.__enter__()
            frappe.local.db = main
            with mock_patch.object(nightly, "LOCK_WAIT", 0), self.assertRaises(nightly.NightlyRunInProgress):
                run_nightly(night, patches=[make_patch("locked")])
            self.assertIsNone(nightly.run_nightly_job(night), "the scheduled job steps aside")
            self.assertEqual(runs(), [])
        finally:
            frappe.local.db = other
            held.__exit__(None, None, None)
            frappe.local.db = main
            other.close()
        # a scheduled run of the night still in flight: the synchronous run refuses, the job dedupes
        queued = frappe.get_doc({"doctype": "AWM Run", "as_of": night, "status": "Queued"}).insert(
            ignore_permissions=True
        )
        with self.assertRaises(nightly.NightlyRunInProgress):
            run_nightly(night, patches=[make_patch("inflight")])
        self.assertEqual(nightly.run_nightly_job(night), queued.name)
        self.assertEqual(runs(), [queued.name])
        # once it is done, a manual run goes ahead
        queued.db_set("status", "Failed")
        after = make_patch("after")
        make_tenancy(patch=after, weekly_rent=100)
        self.assertEqual(run_nightly(night, patches=[after])["status"], "Completed")

    def test_no_model_is_reported(self):
        patch = make_patch("model")
        make_tenancy(patch=patch, weekly_rent=100)
        with self.live():
            run = run_nightly(BASE_DATE, patches=[patch])
        self.assertEqual(run["model_note"], "no active model")
