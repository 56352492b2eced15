# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt
"""Risk Model controller: an uploaded artefact is checked and fills the record; only private files;
one active model at a time; ``activate()``; the metrics summary."""

from __future__ import annotations

import json
import os
import tempfile

import frappe
from frappe.tests.utils import FrappeTestCase

from awm_frappe.arrears.doctype.risk_model.risk_model import metrics_summary
from awm_frappe.tests.factories import BASE_DATE


def artefact_bytes(seed: int = 5) -> bytes:
    """A small real artefact: the engine trained on a synthetic portfolio (no site data)."""
    from awm_frappe.engine import synth
    from awm_frappe.engine.model import save_model, train

    portfolio = synth.synthesize(150, 40, seed, end=BASE_DATE)
    model = train(portfolio.tenancies, portfolio.ledger, portfolio.as_of, history_weeks=12)
    handle, path = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    try:
        save_model(model, path)
        with open(path, "rb") as file:
            return file.read()
    finally:
        os.unlink(path)


def make_model(content: bytes | None, is_private: int = 1, active: int = 0):
    doc = frappe.get_doc({"doctype": "Risk Model", "status": "Trained"}).insert(ignore_permissions=True)
    if content is not None:
        file = frappe.get_doc(
            {
                "doctype": "File",
                "file_name": f"{doc.name}-upload.json",
                "attached_to_doctype": "Risk Model",
                "attached_to_name": doc.name,
                "attached_to_field": "artefact",
                "is_private": is_private,
                "content": content,
            }
        ).insert(ignore_permissions=True)
        doc.artefact = file.file_url
    doc.active = active
    doc.save(ignore_permissions=True)
    return doc


class TestRiskModel(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        frappe.db.sql("update `tabRisk Model` set active = 0 where active = 1")
        cls.content = artefact_bytes()
        cls.made = []

    @classmethod
    def tearDownClass(cls):
        files = frappe.get_all(
            "File",
            filters={"attached_to_doctype": "Risk Model", "attached_to_name": ("in", cls.made or [""])},
            pluck="name",
        )
        for file in files:
            frappe.delete_doc("File", file, force=True, ignore_permissions=True)
        super().tearDownClass()

    def make(self, *args, **kwargs):
        try:
            doc = make_model(*args, **kwargs)
        finally:
            self.made.extend(frappe.get_all("Risk Model", pluck="name", order_by="creation desc", limit=1))
        return doc

    def test_an_uploaded_artefact_fills_the_record(self):
        doc = self.make(self.content)
        metadata = json.loads(self.content)["metadata"]
        self.assertEqual(doc.content_hash, metadata["content_hash"])
        self.assertTrue(doc.version.startswith(f"m{metadata['model_version']}-{BASE_DATE}-"))
        self.assertEqual(str(doc.window_end), str(BASE_DATE))
        self.assertEqual(json.loads(doc.feature_list), metadata["features"])
        self.assertIn("holdout", json.loads(doc.metrics))
        self.assertIn("ROC AUC", doc.summary)

    def test_a_public_artefact_is_refused(self):
        with self.assertRaises(frappe.ValidationError) as caught:
            self.make(self.content, is_private=0)
        self.assertIn("private", str(caught.exception))

    def test_a_tampered_artefact_is_refused(self):
        document = json.loads(self.content)
        clear = document["model"]["segments"][0]
        clear["intercept"] = float(clear["intercept"]) + 1
        with self.assertRaises(frappe.ValidationError) as caught:
            self.make(json.dumps(document).encode())
        self.assertIn("content hash", str(caught.exception))

    def test_one_active_model_at_a_time(self):
        first = self.make(self.content, active=1)
        second = self.make(self.content)
        self.assertEqual(frappe.db.get_value("Risk Model", first.name, "active"), 1)
        second.activate()
        self.assertEqual(frappe.db.get_value("Risk Model", first.name, "active"), 0)
        self.assertEqual(frappe.get_all("Risk Model", {"active": 1}, pluck="name"), [second.name])
        first.reload()
        first.active = 1
        first.save(ignore_permissions=True)
        self.assertEqual(frappe.get_all("Risk Model", {"active": 1}, pluck="name"), [first.name])

    def test_a_model_without_artefact_cannot_be_active(self):
        doc = self.make(None)
        self.assertRaises(frappe.ValidationError, doc.activate)

    def test_metrics_summary(self):
        text = metrics_summary(
            {
                "training": {"rows": 1200, "tenancies": 100, "dates": 14, "first_date": "2025-01-06",
                             "last_date": "2025-04-07", "positive_rate": 0.25, "horizon_weeks": 8},
                "holdout": {"rows": 300, "positives": 75, "roc_auc": 0.91, "average_precision": 0.8,
                            "precision_top_10pct": 0.95, "brier": 0.07, "ece": 0.02},
            }
        )  # fmt: skip
        self.assertIn("Trained on 1,200 rows (100 tenancies, 14 scoring dates 2025-01-06 to 2025-04-07)",
                      text)  # fmt: skip
        self.assertIn("25% reached 2+ weeks' arrears within 8 weeks", text)
        self.assertIn("Latest dates (held out of the fit, used to calibrate it): ROC AUC 0.910", text)
        self.assertIn("precision in the top 10% 95%", text)
        self.assertEqual(metrics_summary(""), "")
        self.assertEqual(metrics_summary("not json"), "")
