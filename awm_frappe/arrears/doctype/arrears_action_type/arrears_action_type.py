# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt
"""Arrears Action Type: the kinds of action on a case timeline; rules and the timeline refer to the code.

Codes are lower-case identifiers because rules name fields after them (``last_<code>_date``)."""

from __future__ import annotations

import re

import frappe
from frappe import _
from frappe.model.document import Document

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class ArrearsActionType(Document):
    def validate(self):
        self.code = (self.code or "").strip()
        if not CODE_RE.match(self.code):
            frappe.throw(
                _(
                    "Code {0} must be lower-case letters, digits and underscores,"
                    " starting with a letter (e.g. letter_1)."
                ).format(frappe.bold(self.code))
            )
        if self.category == "legal":
            self.is_legal = 1
