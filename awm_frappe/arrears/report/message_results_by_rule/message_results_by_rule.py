# Copyright (c) 2026, awm_frappe contributors
# For license information, please see license.txt
"""Messages sent per Worktray Rule (or per Communication Campaign) and the payments attributed to them:
a payment within 14 days after a message goes to the latest message before it (awm_frappe.host.attribution,
run daily). One aggregated query."""

import frappe
from frappe import _


def execute(filters=None):
    from awm_frappe.host.attribution import results_by_rule

    filters = frappe._dict(filters or {})
    group_by = filters.get("group_by") or "rule"
    source = {
        "label": _("Campaign") if group_by == "campaign" else _("Rule"),
        "fieldname": "source",
        "fieldtype": "Link",
        "options": "Communication Campaign" if group_by == "campaign" else "Worktray Rule",
        "width": 220,
    }
    columns = [
        source,
        {"label": _("Sent"), "fieldname": "sent", "fieldtype": "Int", "width": 100},
        {"label": _("Paid within window"), "fieldname": "paid", "fieldtype": "Int", "width": 140},
        {"label": _("Paying rate %"), "fieldname": "rate", "fieldtype": "Percent", "width": 120},
        {"label": _("Amount attributed"), "fieldname": "amount", "fieldtype": "Currency", "width": 150},
        {"label": _("Per message"), "fieldname": "amount_per_message", "fieldtype": "Currency", "width": 120},
    ]
    rows = results_by_rule(filters.get("from_date"), filters.get("to_date"), group_by)
    for row in rows:
        if not row.source:
            row.source = _("(campaigns)") if group_by == "rule" else _("(rules)")
    return columns, rows
