# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt
"""Scoring inside the site: the weekly training job, the private artefact, the active Risk Model, and the
nightly run scoring every tenancy with it (issue 5, "Scoring inside the site").

Each class writes its own synthetic portfolio (``awm_frappe.demo.make_demo_data``: the engine's
``synth.synthesize`` written with multi-row INSERTs) under its own prefix and patch, trains with
``patches=`` and runs the night with ``patches=`` at a fixed as_of, so it sees only its own data.
FrappeTestCase rolls the database back per class; the artefact Files are deleted (from disk too) first.
"""

from __future__ import annotations

import json
from unittest.mock import patch as mock_patch

import frappe
from frappe.tests.utils import FrappeTestCase

from awm_frappe.engine.model import FEATURE_NAMES, load_model
from awm_frappe.host import nightly, training
from awm_frappe.host.nightly import run_nightly
from awm_frappe.tests.factories import BASE_DATE, ensure_setup, without_active_model

AS_OF = BASE_DATE  # a Monday; the synthetic ledger ends here


def make_site_portfolio(tenancies: int, weeks: int, label: str) -> tuple[str, list[str]]:
    """A synthetic portfolio written into the site (Rent Transaction ledger, no open cases, no run)."""
    from awm_frappe.demo import make_demo_data

    prefix = f"AWMTR{label}{frappe.generate_hash(length=4).upper()}-"
    make_demo_data(
        tenancies=tenancies,
        weeks=weeks,
        seed=11,
        as_of=AS_OF,
        prefix=prefix,
        run=False,
        with_cases=False,
        commit=False,
    )
    patches = frappe.db.sql_list(
        "select distinct patch from `tabTenancy` where name like %s order by patch", f"{prefix}%"
    )
    return prefix, patches


def delete_model_files(names):
    """Delete the artefact Files of these Risk Models (removes them from disk, before the rollback)."""
    for file in frappe.get_all(
        "File",
        filters={"attached_to_doctype": "Risk Model", "attached_to_name": ("in", list(names) or [""])},
        pluck="name",
    ):
        frappe.delete_doc("File", file, force=True, ignore_permissions=True)


class TestTrainSiteModel(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ensure_setup()
        without_active_model()
        cls.prefix, cls.patches = make_site_portfolio(300, 52, "OK")
        # an earlier record made active behind the controller's back: training must deactivate it
        earlier = training._record_unusable(AS_OF, "Insufficient history", "test placeholder", {})
        frappe.db.set_value("Risk Model", earlier["risk_model"], "active", 1)
        cls.earlier = earlier["risk_model"]
        cls.result = training.train_site_model(AS_OF, patches=cls.patches)
        cls.model = frappe.get_doc("Risk Model", cls.result["risk_model"])
        cls.night = run_nightly(AS_OF, patches=cls.patches)

    @classmethod
    def tearDownClass(cls):
        delete_model_files([cls.result.get("risk_model")])
        nightly._MODEL_CACHE.clear()
        super().tearDownClass()

    def test_training_creates_an_active_model_with_a_private_artefact(self):
        doc = self.model
        self.assertEqual(doc.status, "Trained")
        self.assertEqual(doc.active, 1)
        self.assertTrue(doc.artefact.startswith("/private/files/"), doc.artefact)
        file = frappe.get_doc("File", {"file_url": doc.artefact, "attached_to_name": doc.name})
        self.assertEqual(file.is_private, 1)
        self.assertEqual(file.attached_to_doctype, "Risk Model")
        self.assertTrue(doc.content_hash.startswith("sha256:"))
        self.assertIn(doc.content_hash.split(":")[1][:8], doc.version)
        self.assertEqual(json.loads(doc.feature_list), list(FEATURE_NAMES))
        metrics = json.loads(doc.metrics)
        self.assertGreater(metrics["holdout"]["positives"], 0)
        self.assertGreater(metrics["holdout"]["roc_auc"], 0.7)
        self.assertGreater(metrics["training"]["tenancies"], 250)  # those current in the window
        self.assertLessEqual(metrics["training"]["tenancies"], 300)
        self.assertEqual(str(doc.window_end), str(AS_OF))
        self.assertLess(str(doc.window_start), str(doc.window_end))
        self.assertIn("Latest dates (held out of the fit, used to calibrate it): ROC AUC", doc.summary)
        self.assertIsNotNone(doc.trained_on)

    def test_the_artefact_loads_and_matches_the_record(self):
        file = frappe.get_doc("File", {"file_url": self.model.artefact, "attached_to_name": self.model.name})
        model = load_model(file.get_full_path())
        self.assertEqual(model.metadata["content_hash"], self.model.content_hash)

    def test_training_deactivates_the_other_models(self):
        self.assertEqual(frappe.db.get_value("Risk Model", self.earlier, "active"), 0)
        self.assertEqual(frappe.get_all("Risk Model", {"active": 1}, pluck="name"), [self.model.name])

    def test_nightly_run_names_the_model(self):
        self.assertEqual(self.night["model_note"], f"{self.model.name} (version {self.model.version})")
        self.assertIn(self.night["status"], ("Completed", "Completed with errors"))
        self.assertEqual(self.night["tenancies_scored"], 300)

    def test_nightly_run_writes_scores_to_tenancies(self):
        rows = frappe.db.sql(
            "select risk_score, risk_band, risk_reasons from `tabTenancy` where name like %s",
            f"{self.prefix}%",
            as_dict=True,
        )
        self.assertEqual(len(rows), 300)
        bands = {row.risk_band for row in rows}
        self.assertTrue(bands <= {"high", "medium", "low", "early_warning"}, bands)
        self.assertIn("high", bands)
        self.assertIn("low", bands)
        self.assertTrue(all(row.risk_reasons for row in rows))
        self.assertTrue(all(0 <= row.risk_score <= 1 for row in rows))
        self.assertGreater(len({round(row.risk_score, 4) for row in rows}), 20)

    def test_nightly_run_writes_scores_to_cases(self):
        cases = frappe.db.sql(
            """select c.name, c.risk_score, c.risk_band, c.risk_reasons, t.risk_score as tenancy_score
            from `tabArrears Case` c join `tabTenancy` t on t.name = c.tenancy
            where c.tenancy like %s and c.status != 'closed'""",
            f"{self.prefix}%",
            as_dict=True,
        )
        self.assertGreater(len(cases), 0)
        for case in cases:
            self.assertIn(case.risk_band, ("high", "medium", "low", "early_warning"), case.name)
            self.assertTrue(case.risk_reasons, case.name)
            self.assertAlmostEqual(case.risk_score, case.tenancy_score, places=4)
        # cases are opened for tenancies in arrears: mostly high or medium risk
        self.assertGreater(sum(c.risk_band in ("high", "medium") for c in cases), len(cases) / 2)

    def test_model_is_loaded_once_per_process(self):
        nightly._MODEL_CACHE.clear()
        with mock_patch("awm_frappe.engine.model.load_model", wraps=load_model) as loader:
            first, note = nightly._active_model(AS_OF)
            second, _ = nightly._active_model(AS_OF)
        self.assertIs(first, second)
        self.assertEqual(loader.call_count, 1)
        self.assertEqual(note, f"{self.model.name} (version {self.model.version})")

    def test_a_model_that_cannot_be_loaded_is_logged_and_skipped(self):
        good = self.model.content_hash
        frappe.db.set_value("Risk Model", self.model.name, "content_hash", "sha256:" + "0" * 64)
        try:
            model, note = nightly._active_model(AS_OF)
            self.assertIsNone(model)
            self.assertIn(f"{self.model.name} could not be loaded", note)
            self.assertTrue(
                frappe.db.exists(
                    "Error Log", {"reference_doctype": "Risk Model", "reference_name": self.model.name}
                )
            )
        finally:
            frappe.db.set_value("Risk Model", self.model.name, "content_hash", good)
            nightly._MODEL_CACHE.clear()
        model, note = nightly._active_model(AS_OF)
        self.assertIsNotNone(model)


class TestTooLittleHistory(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ensure_setup()
        without_active_model()
        cls.prefix, cls.patches = make_site_portfolio(60, 12, "NEW")
        cls.result = training.train_site_model(AS_OF, patches=cls.patches)

    @classmethod
    def tearDownClass(cls):
        delete_model_files([cls.result.get("risk_model")])
        super().tearDownClass()

    def test_no_model_is_trained_or_activated(self):
        self.assertEqual(self.result["status"], "Insufficient history")
        doc = frappe.get_doc("Risk Model", self.result["risk_model"])
        self.assertEqual(doc.active, 0)
        self.assertFalse(doc.artefact)
        self.assertIn("12 weeks", doc.notes)
        self.assertIn(f"at least {training.MIN_SCORING_DATES}", doc.notes)
        self.assertFalse(frappe.db.exists("Risk Model", {"active": 1}))
        self.assertFalse(frappe.db.exists("File", {"attached_to_doctype": "Risk Model",
                                                   "attached_to_name": doc.name}))  # fmt: skip

    def test_an_insufficient_model_cannot_be_activated(self):
        doc = frappe.get_doc("Risk Model", self.result["risk_model"])
        self.assertRaises(frappe.ValidationError, doc.activate)

    def test_the_nightly_run_works_without_a_model(self):
        run = run_nightly(AS_OF, patches=self.patches)
        self.assertEqual(run["model_note"], "no active model")
        self.assertIn(run["status"], ("Completed", "Completed with errors"))
        self.assertEqual(run["tenancies_scored"], 60)
        bands = frappe.db.sql_list(
            "select distinct coalesce(risk_band, '') from `tabTenancy` where name like %s", f"{self.prefix}%"
        )
        self.assertEqual(bands, [""])


class TestHistoryPlan(FrappeTestCase):
    """plan_training on frames alone (no site data)."""

    def _frames(self, weeks: int, tenancies: int = 40, old_rows: int = 0):
        import pandas as pd

        mondays = pd.date_range(end=pd.Timestamp(AS_OF), periods=weeks, freq="7D")
        ledger = pd.DataFrame(
            [(f"T{i}", day, 100.0, "rent") for i in range(tenancies) for day in mondays],
            columns=["tenancy", "date", "amount", "kind"],
        )
        if old_rows:  # a few rows imported from long ago do not make a history
            old = pd.DataFrame(
                [(f"T{i}", pd.Timestamp("2019-01-07"), 100.0, "rent") for i in range(old_rows)],
                columns=ledger.columns,
            )
            ledger = pd.concat([old, ledger], ignore_index=True)
        return pd.DataFrame({"tenancy": [f"T{i}" for i in range(tenancies)]}), ledger

    def test_a_year_of_history_uses_the_full_window(self):
        plan = training.plan_training(*self._frames(52), AS_OF)
        self.assertTrue(plan["ok"], plan)
        self.assertEqual(plan["history_weeks"], training.MAX_HISTORY_WEEKS)
        self.assertEqual(plan["scoring_dates"], training.MAX_HISTORY_WEEKS // training.STEP_WEEKS + 1)

    def test_a_short_history_shortens_the_window(self):
        plan = training.plan_training(*self._frames(34), AS_OF)
        self.assertTrue(plan["ok"], plan)
        self.assertLess(plan["history_weeks"], training.MAX_HISTORY_WEEKS)
        self.assertGreaterEqual(plan["scoring_dates"], training.MIN_SCORING_DATES)

    def test_too_short_a_history_is_refused(self):
        plan = training.plan_training(*self._frames(20), AS_OF)
        self.assertFalse(plan["ok"])
        self.assertIn("usable scoring dates", plan["reason"])

    def test_a_few_old_rows_are_not_history(self):
        plan = training.plan_training(*self._frames(20, old_rows=3), AS_OF)
        self.assertFalse(plan["ok"], plan)

    def test_too_few_tenancies_is_refused(self):
        plan = training.plan_training(*self._frames(52, tenancies=5), AS_OF)
        self.assertFalse(plan["ok"])
        self.assertIn("tenancies", plan["reason"])


class TestScheduleTraining(FrappeTestCase):
    def test_weekly_hook_is_registered(self):
        hooks = frappe.get_hooks("scheduler_events")
        self.assertIn("awm_frappe.host.training.schedule_training", hooks.get("weekly_long", []))

    def test_enqueue_uses_long_queue_job_id_and_deduplicate(self):
        with mock_patch("frappe.enqueue") as enqueue:
            training.schedule_training(AS_OF)
        enqueue.assert_called_once()
        args, kwargs = enqueue.call_args
        self.assertEqual(args[0], "awm_frappe.host.training.train_site_model")
        self.assertEqual(kwargs["queue"], "long")
        self.assertEqual(kwargs["job_id"], f"awm-train-{AS_OF}")
        self.assertIs(kwargs["deduplicate"], True)
        self.assertEqual(kwargs["as_of"], str(AS_OF))


class TestRetrainAfterTheModelUpgrade(FrappeTestCase):
    """Patch v1_1.retrain_risk_model: an active model of version 1 cannot be loaded after the upgrade. It
    is deactivated (so the night says "no active model" rather than logging a load failure every night)
    and the retraining is queued at once instead of waiting for the weekly tick."""

    @classmethod
    def setUpClass(cls):
        from awm_frappe.arrears.doctype.risk_model.test_risk_model import artefact_bytes

        super().setUpClass()
        ensure_setup()
        without_active_model()
        cls.content = artefact_bytes()
        cls.made = []

    @classmethod
    def tearDownClass(cls):
        delete_model_files(cls.made)
        nightly._MODEL_CACHE.clear()
        super().tearDownClass()

    def active_model(self, model_version=None):
        """An active Risk Model with a real artefact; with ``model_version``, its file is then rewritten
        as that version's, as an upgrade leaves an old model's file."""
        from awm_frappe.arrears.doctype.risk_model.test_risk_model import make_model

        # Trailing blanks make the bytes, and so the File, this record's own: Frappe reuses a file with the
        # same content, and the old-version copy below must not overwrite another record's artefact.
        doc = make_model(self.content + b" " * (len(self.made) + 1), active=1)
        self.made.append(doc.name)
        if model_version is not None:
            file = frappe.get_doc("File", {"file_url": doc.artefact, "attached_to_name": doc.name})
            document = json.loads(self.content)
            document["metadata"]["model_version"] = model_version
            with open(file.get_full_path(), "w") as handle:
                json.dump(document, handle)
        nightly._MODEL_CACHE.clear()
        return doc

    def run_patch(self, enqueue):
        from awm_frappe.patches.v1_1 import retrain_risk_model

        with mock_patch.object(frappe, "enqueue", enqueue):
            retrain_risk_model.execute()

    def test_a_version_1_model_is_deactivated_and_retrained_on_the_long_queue_once(self):
        without_active_model()
        calls = []
        self.run_patch(lambda *a, **kw: calls.append((a, kw)))
        self.assertEqual(calls, [])  # no active model: nothing to retrain
        old = self.active_model(model_version=1)
        self.assertIn("could not be loaded", nightly._active_model()[1])  # what every night would say
        self.run_patch(lambda *a, **kw: calls.append((a, kw)))
        ((args, kwargs),) = calls
        self.assertEqual(args, ("awm_frappe.host.training.train_site_model",))
        self.assertEqual(kwargs["queue"], "long")
        self.assertEqual(kwargs["job_id"], f"awm-train-{frappe.utils.getdate()}")
        self.assertTrue(kwargs["deduplicate"])
        self.assertEqual(frappe.db.get_value("Risk Model", old.name, "active"), 0)
        self.assertEqual(nightly._active_model(), (None, "no active model"))

    def test_an_active_model_this_version_loads_is_left_alone(self):
        without_active_model()
        current = self.active_model()
        calls = []
        self.run_patch(lambda *a, **kw: calls.append((a, kw)))
        self.assertEqual(calls, [])
        self.assertEqual(frappe.db.get_value("Risk Model", current.name, "active"), 1)

    def test_an_unreachable_queue_is_logged_and_does_not_stop_the_upgrade(self):
        without_active_model()
        old = self.active_model(model_version=1)

        def unreachable(*args, **kwargs):
            raise ConnectionError("redis is down")

        self.run_patch(unreachable)
        logged = frappe.get_all(
            "Error Log",
            filters={"method": ("like", "%could not queue the risk model%")},
            fields=["error"],
            order_by="creation desc",
            limit=1,
        )
        self.assertTrue(logged, "no Error Log")
        self.assertIn("redis is down", logged[0].error)
        self.assertIn(f"Deactivated {old.name}", logged[0].error)
