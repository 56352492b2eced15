# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt
"""AWM Settings: automation switches, ledger source, message limits and pack settings (Single)."""

from __future__ import annotations

import json

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint


class AWMSettings(Document):
    def validate(self):
        if (self.rule_pack_settings or "").strip():
            try:
                value = json.loads(self.rule_pack_settings)
            except ValueError as exc:
                frappe.throw(_("Rule pack settings must be valid JSON: {0}").format(exc))
            if not isinstance(value, dict):
                frappe.throw(_("Rule pack settings must be a JSON object."))
        for field in ("frequency_cap_days", "agreement_tolerance_days", "patches_per_job"):
            if cint(self.get(field)) < 0:
                frappe.throw(_("{0} cannot be negative.").format(_(self.meta.get_label(field))))
        if self.ledger_source == "ERPNext Receivables" and cint(self.automation_enabled) and not self.company:
            frappe.throw(_("Choose the Company whose receivables hold the rent ledger."))

    def automated_patch_list(self) -> list[str]:
        """Patches with automation on; empty list = all patches."""
        return [row.territory for row in self.automated_patches]

    def automated_action_type_list(self) -> list[str]:
        """Action types automation may perform; empty list = all."""
        return [row.action_type for row in self.automated_action_types]
