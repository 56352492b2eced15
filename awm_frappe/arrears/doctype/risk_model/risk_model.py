# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt
"""Risk Model: one trained arrears risk model (the engine's JSON artefact, kept as a private File).

Records are made by the weekly training job (``awm_frappe.host.training.train_site_model``), or by hand by
uploading an artefact written by ``awm train``: on save, an artefact that is new to the record is loaded
and checked (format, feature list, model version, content hash) and the record's version, window, feature
list, metrics and hash are filled in from it.

At most one record is active: activating one (the checkbox, or the whitelisted ``activate()``) deactivates
the others. Only a record with status "Trained" and an artefact can be active. The nightly run loads the
active record's artefact (``awm_frappe.host.nightly._active_model``).
"""

from __future__ import annotations

import json

import frappe
from frappe import _
from frappe.model.document import Document


class RiskModel(Document):
    def validate(self):
        if self.artefact and self.has_value_changed("artefact"):
            self._read_artefact()
        if self.active:
            if (self.status or "Trained") != "Trained":
                frappe.throw(_("Only a trained model can be active (this one is: {0}).").format(self.status))
            if not self.artefact:
                frappe.throw(_("A Risk Model without an artefact cannot be active."))
        self.summary = metrics_summary(self.metrics)

    def on_update(self):
        if self.active:
            deactivate_others(self.name)

    @frappe.whitelist()
    def activate(self):
        """Make this model the one the nightly run scores with (deactivates the others)."""
        self.check_permission("write")
        self.active = 1
        self.save()
        return self.name

    def _read_artefact(self):
        """Load and check the attached artefact; fill the record's details from its metadata."""
        from awm_frappe.engine.model import ModelError, load_model

        file = frappe.db.get_value(
            "File",
            {"file_url": self.artefact, "attached_to_doctype": self.doctype, "attached_to_name": self.name},
            ["name", "is_private"],
            as_dict=True,
        ) or frappe.db.get_value("File", {"file_url": self.artefact}, ["name", "is_private"], as_dict=True)
        if not file:
            frappe.throw(_("The artefact {0} is not a file of this site.").format(self.artefact))
        if not file.is_private:
            frappe.throw(_("A risk model artefact must be a private file."))
        try:
            model = load_model(frappe.get_doc("File", file.name).get_full_path())
        except (ModelError, OSError) as error:
            frappe.throw(_("The artefact cannot be used: {0}").format(error))
        fill_from_metadata(self, model.metadata)


def fill_from_metadata(doc, metadata: dict) -> None:
    """Set version, window, feature list, metrics and content hash from an artefact's metadata."""
    training = metadata.get("training") or {}
    content_hash = metadata.get("content_hash") or ""
    doc.content_hash = content_hash
    doc.version = doc.version or model_version_label(metadata)
    doc.window_start = training.get("first_date")
    doc.window_end = training.get("as_of")
    doc.feature_list = json.dumps(metadata.get("features") or [], indent=1)
    doc.metrics = json.dumps(
        {"training": _training_summary(training), **(metadata.get("metrics") or {})}, indent=1, default=str
    )


def model_version_label(metadata: dict) -> str:
    """e.g. ``m1-2025-06-02-3f2a9c1b``: engine model version, training as-of date, content hash."""
    training = metadata.get("training") or {}
    digest = (metadata.get("content_hash") or "").split(":", 1)[-1][:8]
    return f"m{metadata.get('model_version')}-{training.get('as_of') or 'unknown'}-{digest}"


def _training_summary(training: dict) -> dict:
    keys = ("as_of", "first_date", "last_date", "dates", "rows", "tenancies", "positive_rate",
            "horizon_weeks", "target_weeks", "history_weeks", "step_weeks", "seconds")  # fmt: skip
    return {k: training.get(k) for k in keys if k in training}


def deactivate_others(name: str) -> None:
    frappe.db.sql(
        "update `tabRisk Model` set active = 0 where active = 1 and name != %s",
        name,
    )


def metrics_summary(metrics) -> str:
    """Plain words for the form: the figures on the latest dates (held out of the fit, but they also set
    each account state's calibration, so they flatter it a little; ``awm evaluate`` gives a clean test),
    else the fit figures."""
    if not metrics:
        return ""
    try:
        data = json.loads(metrics) if isinstance(metrics, str) else dict(metrics)
    except (TypeError, ValueError):
        return ""
    lines = []
    training = data.get("training") or {}
    if training:
        lines.append(
            "Trained on {rows} rows ({tenancies} tenancies, {dates} scoring dates {first} to {last}); "
            "{rate} reached 2+ weeks' arrears within {horizon} weeks.".format(
                rows=f"{training.get('rows') or 0:,}",
                tenancies=f"{training.get('tenancies') or 0:,}",
                dates=training.get("dates"),
                first=training.get("first_date"),
                last=training.get("last_date"),
                rate=_pct(training.get("positive_rate")),
                horizon=training.get("horizon_weeks"),
            )
        )
    for key, label in (
        ("holdout", "Latest dates (held out of the fit, used to calibrate it)"),
        ("fit", "Fit"),
    ):
        part = data.get(key)
        if not part:
            continue
        top = next((v for k, v in part.items() if k.startswith("precision_top_")), None)
        lines.append(
            f"{label}: ROC AUC {_num(part.get('roc_auc'))}, average precision "
            f"{_num(part.get('average_precision'))}, precision in the top 10% {_pct(top)}, "
            f"Brier {_num(part.get('brier'))}, calibration error {_num(part.get('ece'))} "
            f"on {part.get('rows') or 0:,} rows ({part.get('positives') or 0:,} positive)."
        )
    return "\n".join(lines)


def _num(value) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def _pct(value) -> str:
    return "n/a" if value is None else f"{float(value):.0%}"
