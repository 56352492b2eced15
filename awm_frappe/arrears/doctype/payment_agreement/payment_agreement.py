# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt
"""Payment Agreement: terms, expected balance and status, with a status history.

The nightly breach check (host layer) sets ``status``, ``expected_balance``, ``actual_balance`` and
``last_checked``; every change of status appends a ``Payment Agreement Status Change`` row, whoever makes
it (use ``set_status`` from code to record the balances with it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import flt, getdate, today

if TYPE_CHECKING:
    pass

STATUSES = ("live", "breached", "completed", "cancelled")


class PaymentAgreement(Document):
    def validate(self):
        if flt(self.instalment) <= 0:
            frappe.throw(_("Instalment must be more than zero."))
        if flt(self.initial_payment) < 0:
            frappe.throw(_("Initial payment cannot be negative."))
        if not self.patch and self.tenancy:
            self.patch = frappe.db.get_value("Tenancy", self.tenancy, "patch")
        if self.arrears_case:
            case_tenancy = frappe.db.get_value("Arrears Case", self.arrears_case, "tenancy")
            if case_tenancy and case_tenancy != self.tenancy:
                frappe.throw(_("Arrears Case {0} belongs to another tenancy.").format(self.arrears_case))
        self.status = self.status or "live"
        self.record_status_change()

    def record_status_change(self, on=None):
        before = None if self.is_new() else frappe.db.get_value(self.doctype, self.name, "status")
        if before == self.status:
            return
        if self.flags.status_recorded == self.status:
            return  # already recorded by set_status
        self.flags.status_recorded = self.status
        self.append(
            "history",
            {
                "change_date": getdate(on or self.last_checked or today()),
                "from_status": before or "",
                "to_status": self.status,
                "balance": flt(self.actual_balance),
                "expected_balance": flt(self.expected_balance),
            },
        )

    def set_status(self, status: str, actual_balance=None, expected_balance=None, on=None, save: bool = True):
        """Set status and balances from code (the nightly check), recording the change."""
        if status not in STATUSES:
            frappe.throw(_("Unknown agreement status {0}").format(status))
        on = getdate(on or today())
        if actual_balance is not None:
            self.actual_balance = flt(actual_balance)
        if expected_balance is not None:
            self.expected_balance = flt(expected_balance)
        self.last_checked = on
        if status != self.status:
            self.status = status
            self.record_status_change(on)
        if save:
            self.save(ignore_permissions=True)
        return self
