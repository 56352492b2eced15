# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt
"""Caseload by officer: open cases by status, actions due, arrears and capacity.

Reads through frappe.get_list, so an Income Officer sees only their patches' cases."""

from __future__ import annotations

import frappe
from frappe import _
from frappe.utils import flt, getdate, today

STATUSES = ("automated", "worktray", "paused", "agreement", "legal")


def execute(filters=None):
    filters = frappe._dict(filters or {})
    as_of = getdate(filters.get("as_of") or today())
    case_filters = {"status": ("in", STATUSES)}
    if filters.get("patch"):
        case_filters["patch"] = filters.patch
    if filters.get("officer"):
        case_filters["officer"] = filters.officer

    rows = frappe.get_list(
        "Arrears Case",
        filters=case_filters,
        fields=[
            "officer",
            "status",
            "count(name) as cases",
            "sum(arrears_after_grace) as arrears",
            f"sum(case when next_action_due <= {frappe.db.escape(str(as_of))} then 1 else 0 end) as due",
        ],
        group_by="officer, status",
        order_by="officer asc",
        limit_page_length=0,
    )
    officers = {
        o.user: o
        for o in frappe.get_all(
            "Worktray Officer", fields=["user", "full_name", "capacity", "absent_until", "enabled"]
        )
    }
    by_officer: dict[str, dict] = {}
    for row in rows:
        key = row.officer or ""
        out = by_officer.setdefault(
            key,
            {
                "officer": key,
                "officer_name": "",
                "total": 0,
                "due": 0,
                "arrears": 0.0,
                "capacity": 0.0,
                "absent_until": None,
                **{s: 0 for s in STATUSES},
            },
        )
        out[row.status] = out.get(row.status, 0) + row.cases
        out["total"] += row.cases
        out["due"] += int(row.due or 0)
        out["arrears"] += flt(row.arrears)
    for key, out in by_officer.items():
        officer = officers.get(key)
        if officer:
            out["officer_name"] = officer.full_name
            out["capacity"] = flt(officer.capacity)
            out["absent_until"] = officer.absent_until
        elif not key:
            out["officer_name"] = _("Unassigned")
    data = sorted(by_officer.values(), key=lambda r: (-r["due"], -r["total"]))
    return get_columns(), data, None, get_chart(data)


def get_columns():
    return [
        {"fieldname": "officer", "label": _("Officer"), "fieldtype": "Link", "options": "User", "width": 200},
        {"fieldname": "officer_name", "label": _("Name"), "fieldtype": "Data", "width": 160},
        {"fieldname": "total", "label": _("Open cases"), "fieldtype": "Int", "width": 100},
        {"fieldname": "due", "label": _("Actions due"), "fieldtype": "Int", "width": 100},
        *[{"fieldname": s, "label": _(s.capitalize()), "fieldtype": "Int", "width": 95} for s in STATUSES],
        {"fieldname": "arrears", "label": _("Arrears after grace"), "fieldtype": "Currency", "width": 150},
        {"fieldname": "capacity", "label": _("Capacity"), "fieldtype": "Float", "width": 90},
        {"fieldname": "absent_until", "label": _("Absent until"), "fieldtype": "Date", "width": 110},
    ]


def get_chart(data):
    if not data:
        return None
    return {
        "data": {
            "labels": [r["officer_name"] or r["officer"] for r in data],
            "datasets": [{"name": _(s.capitalize()), "values": [r[s] for r in data]} for s in STATUSES],
        },
        "type": "bar",
        "barOptions": {"stacked": 1},
    }
