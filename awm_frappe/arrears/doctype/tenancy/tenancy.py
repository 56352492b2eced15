# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt

from __future__ import annotations

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import flt, getdate


class Tenancy(Document):
    def validate(self):
        if flt(self.weekly_rent) <= 0:
            frappe.throw(_("Weekly rent must be more than zero."))
        if self.end_date and self.start_date and getdate(self.end_date) < getdate(self.start_date):
            frappe.throw(_("End date cannot be before the start date."))
        if self.vulnerable and not (self.vulnerability or "").strip():
            self.vulnerability = _("Vulnerable (no details recorded)")

    def on_update(self):
        # keep the fetched patch/name on open cases and agreements when the tenancy moves patch
        if self.has_value_changed("patch") or self.has_value_changed("tenant_name"):
            for doctype in ("Arrears Case", "Payment Agreement"):
                frappe.db.set_value(
                    doctype, {"tenancy": self.name}, "patch", self.patch, update_modified=False
                )
            frappe.db.set_value(
                "Arrears Case", {"tenancy": self.name}, "tenant_name", self.tenant_name, update_modified=False
            )
