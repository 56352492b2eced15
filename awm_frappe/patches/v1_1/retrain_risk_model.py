"""The risk model became one additive model per account state, with two arrears-history inputs (model
version 2, docs/model-card.md). An active model this version cannot load (one of version 1) is
deactivated, so the nightly run says "no active model" instead of logging a load failure every night,
and its retraining is queued at once on the long queue (the weekly tick's job, job_id and
deduplication). An active model that loads is left alone."""

import frappe

from awm_frappe.engine.model import ModelError
from awm_frappe.host.nightly import load_artefact
from awm_frappe.host.training import schedule_training


def execute():
    unusable = []
    for row in frappe.get_all("Risk Model", {"active": 1}, ["name", "artefact", "content_hash"]):
        try:
            load_artefact(row)
        except (ModelError, OSError):
            unusable.append(row.name)
    if not unusable:
        return
    for name in unusable:
        frappe.db.set_value("Risk Model", name, "active", 0, update_modified=False)
    try:
        schedule_training()
    except Exception:
        # No queue reachable during this migrate: the weekly training retrains anyway, so do not stop
        # the upgrade, but say so where an administrator looks.
        frappe.log_error(
            title="AWM: could not queue the risk model's retraining after the upgrade",
            message=f"Deactivated {', '.join(unusable)} (not loadable by model version 2); "
            f"the weekly training will train a new model.\n{frappe.get_traceback()}",
        )
