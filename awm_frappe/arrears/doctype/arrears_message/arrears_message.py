# Copyright (c) 2026, awm_frappe contributors
# For license information, please see license.txt
"""The outbox: one row per decided message (awm_frappe/host/outbox.py creates them in bulk, idempotently by
``idempotency_key``; awm_frappe/host/dispatch.py sends them). See docs/messaging-in-frappe.md."""

import frappe
from frappe.model.document import Document


class ArrearsMessage(Document):
    @frappe.whitelist()
    def requeue(self):
        """Put a held, failed or suppressed message back in the queue (it is re-checked at dispatch)."""
        from awm_frappe.host.outbox import requeue

        return requeue([self.name])
