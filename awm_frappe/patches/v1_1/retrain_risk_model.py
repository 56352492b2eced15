"""The risk model became one additive model per account state, with two arrears-history inputs (model
version 2, docs/model-card.md). A model trained before cannot be loaded by this version, so the nightly
run would score nothing until the weekly training: sites with an active model retrain now, on the long
queue (the same job, job_id and deduplication as the weekly tick)."""

import frappe

from awm_frappe.host.training import schedule_training


def execute():
    if not frappe.db.exists("Risk Model", {"active": 1}):
        return
    try:
        schedule_training()
    except Exception:
        # No queue reachable during this migrate: the weekly training retrains anyway, so do not stop
        # the upgrade, but say so where an administrator looks.
        frappe.log_error(title="AWM: could not queue the risk model's retraining after the upgrade")
