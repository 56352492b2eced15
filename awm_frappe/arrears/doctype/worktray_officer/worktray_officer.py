# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt
"""Worktray Officer: a user who works arrears cases, the patches they work, skills and capacity.

The officer's patches also decide what they can see (awm_frappe.permissions)."""

from __future__ import annotations

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import flt


class WorktrayOfficer(Document):
    def validate(self):
        if flt(self.capacity) < 0:
            frappe.throw(_("Capacity cannot be negative."))
        seen = set()
        for row in list(self.patches):
            if row.territory in seen:
                self.remove(row)
            seen.add(row.territory)
        self.skills = ", ".join(s.strip() for s in (self.skills or "").split(",") if s.strip())

    def get_patches(self) -> list[str]:
        return [row.territory for row in self.patches]
