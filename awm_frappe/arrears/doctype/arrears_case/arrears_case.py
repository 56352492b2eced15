# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt
"""Arrears Case: one open case per tenancy, with a timeline of every action.

Officer actions (whitelisted, called from the form): ``log_contact``, ``log_call_outcome``, ``pause``,
``set_up_agreement``, ``escalate``, ``close_case``. Each appends an ``Arrears Case Action`` row (the
timeline) and saves, so the caller needs write permission on the case (and therefore on its patch). Every
action takes an optional ``action_date`` so tests and back-dated entries do not depend on the wall clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint, flt, getdate, today

if TYPE_CHECKING:
    from awm_frappe.arrears.doctype.arrears_case_action.arrears_case_action import ArrearsCaseAction

OPEN_STATUSES = ("automated", "worktray", "paused", "agreement", "legal")
PAUSE_REASONS = (
    "promise_of_payment",
    "delayed_benefit",
    "deceased",
    "missing_data",
    "court_or_eviction_date",
    "dispute",
    "other",
)


# Phone outcomes an officer logs in two clicks (Call outcome → the outcome); value = timeline text.
CALL_OUTCOMES = {
    "no_answer": "no answer",
    "promised_to_pay": "promised to pay",
    "paid": "paid",
    "agreement_made": "agreement made",
    "dispute": "dispute",
    "wrong_number": "wrong number",
}


class OpenCaseExistsError(frappe.ValidationError):
    pass


class ArrearsCase(Document):
    def validate(self):
        if not self.status:
            self.status = "worktray"
        if not self.opened_on:
            self.opened_on = getdate(today())
        if not self.patch and self.tenancy:
            self.patch = frappe.db.get_value("Tenancy", self.tenancy, "patch")
        if self.status == "closed":
            self.closed_on = self.closed_on or getdate(today())
        else:
            self.closed_on = None
            self.validate_one_open_case()

    def validate_one_open_case(self):
        other = frappe.db.get_value(
            "Arrears Case",
            {"tenancy": self.tenancy, "status": ("!=", "closed"), "name": ("!=", self.name or "")},
            "name",
        )
        if other:
            frappe.throw(
                _(
                    "Tenancy {0} already has an open arrears case: {1}. Close it or work that case instead."
                ).format(frappe.bold(self.tenancy), frappe.bold(other)),
                OpenCaseExistsError,
                title=_("Case already open"),
            )

    def on_update(self):
        self.sync_tenancy_open_case()

    def on_trash(self):
        if frappe.db.get_value("Tenancy", self.tenancy, "open_case") == self.name:
            frappe.db.set_value("Tenancy", self.tenancy, "open_case", None, update_modified=False)

    def sync_tenancy_open_case(self):
        current = frappe.db.get_value("Tenancy", self.tenancy, "open_case")
        if self.status == "closed":
            if current == self.name:
                frappe.db.set_value("Tenancy", self.tenancy, "open_case", None, update_modified=False)
        elif current != self.name:
            frappe.db.set_value("Tenancy", self.tenancy, "open_case", self.name, update_modified=False)

    # ---- timeline --------------------------------------------------------------------------------

    def add_action(
        self,
        action_type: str,
        action_date=None,
        channel: str | None = None,
        outcome: str | None = None,
        notes: str | None = None,
        rule: str | None = None,
        by_automation: int = 0,
        awm_run: str | None = None,
        message_status: str | None = None,
        reference: str | None = None,
        set_last_action: bool = True,
    ) -> ArrearsCaseAction:
        """Append a timeline row (does not save)."""
        if not frappe.db.exists("Arrears Action Type", action_type):
            frappe.throw(_("Unknown action type {0}").format(frappe.bold(action_type)))
        action_date = getdate(action_date or today())
        row = self.append(
            "timeline",
            {
                "action_date": action_date,
                "action_type": action_type,
                "channel": channel
                or frappe.db.get_value("Arrears Action Type", action_type, "channel")
                or "",
                "outcome": outcome,
                "notes": notes,
                "rule": rule,
                "by_automation": cint(by_automation),
                "user": None if by_automation else frappe.session.user,
                "awm_run": awm_run,
                "message_status": message_status,
                "reference": reference,
            },
        )
        if set_last_action and (not self.last_action_date or getdate(self.last_action_date) <= action_date):
            self.last_action = action_type
            self.last_action_date = action_date
        return row

    def _ensure_open(self):
        if self.status == "closed":
            frappe.throw(_("Case {0} is closed.").format(self.name))

    # ---- officer actions -------------------------------------------------------------------------

    @frappe.whitelist()
    def log_contact(
        self,
        action_type: str = "call",
        channel: str | None = None,
        outcome: str | None = None,
        notes: str | None = None,
        action_date: str | None = None,
    ):
        """Record a call, visit, note or any other contact on the timeline."""
        self.check_permission("write")
        self.add_action(action_type, action_date, channel=channel, outcome=outcome, notes=notes)
        self.save()
        return self.timeline[-1].name

    @frappe.whitelist()
    def log_call_outcome(
        self,
        outcome: str,
        notes: str | None = None,
        until: str | None = None,
        action_date: str | None = None,
    ):
        """A phone call's outcome, in one call (the form's two-click "Call outcome" menu).

        ``outcome``: no_answer, promised_to_pay (``until`` = the promised date: the case is paused until
        then with reason promise_of_payment), paid, agreement_made, dispute (``until`` optional: pause
        with reason dispute), wrong_number. Appends a ``call`` row (channel phone) to the timeline."""
        self.check_permission("write")
        self._ensure_open()
        if outcome not in CALL_OUTCOMES:
            frappe.throw(_("Call outcome must be one of: {0}").format(", ".join(CALL_OUTCOMES)))
        on = getdate(action_date or today())
        text = CALL_OUTCOMES[outcome]
        pause_reason = {"promised_to_pay": "promise_of_payment", "dispute": "dispute"}.get(outcome)
        if outcome == "promised_to_pay" and not until:
            frappe.throw(_("Give the date the tenant promised to pay by."))
        if pause_reason and until:
            until = getdate(until)
            if until <= on:
                on_text = frappe.format(on, {"fieldtype": "Date"})
                frappe.throw(_("The date must be after {0}.").format(on_text))
            text = f"{text} by {until}" if outcome == "promised_to_pay" else f"{text} (paused until {until})"
        self.add_action("call", on, channel="phone", outcome=text, notes=notes)
        if pause_reason and until:
            self.paused_until = until
            self.pause_reason = pause_reason
            self.status = "paused"
            self.add_action("pause", on, outcome=f"until {until} ({pause_reason})", notes=notes)
        elif outcome == "dispute" and self.status == "automated":
            self.status = "worktray"  # a disputed balance needs a person, not the next automated letter
        self.save()
        return self.timeline[-1].name

    @frappe.whitelist()
    def pause(self, until: str, reason: str, notes: str | None = None, action_date: str | None = None):
        """Pause the case until a date, with a reason; automation leaves it alone meanwhile."""
        self.check_permission("write")
        self._ensure_open()
        on = getdate(action_date or today())
        until = getdate(until)
        if until <= on:
            frappe.throw(_("Pause until must be after {0}.").format(frappe.format(on, {"fieldtype": "Date"})))
        if reason not in PAUSE_REASONS:
            frappe.throw(_("Pause reason must be one of: {0}").format(", ".join(PAUSE_REASONS)))
        self.paused_until = until
        self.pause_reason = reason
        self.status = "paused"
        self.add_action("pause", on, outcome=f"until {until} ({reason})", notes=notes)
        self.save()
        return self.timeline[-1].name

    @frappe.whitelist()
    def set_up_agreement(
        self,
        start_date: str,
        frequency: str,
        instalment: float,
        initial_payment: float = 0,
        formal: int = 0,
        court_date: str | None = None,
        notes: str | None = None,
        action_date: str | None = None,
    ) -> str:
        """Create a Payment Agreement for this case's tenancy and record it; returns its name."""
        self.check_permission("write")
        self._ensure_open()
        if flt(instalment) <= 0:
            frappe.throw(_("Instalment must be more than zero."))
        if self.agreement and frappe.db.get_value("Payment Agreement", self.agreement, "status") == "live":
            frappe.db.set_value("Payment Agreement", self.agreement, "status", "cancelled")
        agreement = frappe.get_doc(
            {
                "doctype": "Payment Agreement",
                "tenancy": self.tenancy,
                "arrears_case": self.name,
                "start_date": getdate(start_date),
                "frequency": frequency,
                "instalment": flt(instalment),
                "initial_payment": flt(initial_payment),
                "starting_balance": flt(self.balance),
                "formal": cint(formal),
                "court_date": court_date or (self.court_date if cint(formal) else None),
                "status": "live",
            }
        ).insert()
        self.agreement = agreement.name
        self.status = "agreement"
        self.paused_until = None
        self.pause_reason = ""
        self.add_action(
            "agreement_made",
            action_date,
            outcome=f"{frappe.format(flt(instalment), {'fieldtype': 'Currency'})} {frequency}",
            notes=notes,
            reference=agreement.name,
        )
        self.save()
        return agreement.name

    @frappe.whitelist()
    def escalate(
        self,
        action_type: str,
        notes: str | None = None,
        stage: str | None = None,
        action_date: str | None = None,
    ):
        """Record an escalation step taken by an officer (e.g. nosp_served, court_date_set)."""
        self.check_permission("write")
        self._ensure_open()
        on = getdate(action_date or today())
        is_legal = cint(frappe.db.get_value("Arrears Action Type", action_type, "is_legal"))
        self.add_action(action_type, on, notes=notes, outcome="escalated")
        if action_type in ("nosp", "nosp_served") and not self.nosp_served_date:
            self.nosp_served_date = on
        if stage:
            self.stage = stage
        if is_legal:
            self.status = "legal"
        elif self.status in ("automated", "paused"):
            self.status = "worktray"
        if self.next_action == action_type:
            self.next_action = None
            self.next_action_due = None
            self.next_action_reason = None
            self.next_action_rule = None
        self.save()
        return self.timeline[-1].name

    @frappe.whitelist()
    def close_case(self, reason: str, notes: str | None = None, action_date: str | None = None):
        """Close the case with a reason."""
        self.check_permission("write")
        self._ensure_open()
        if not (reason or "").strip():
            frappe.throw(_("Give a reason for closing the case."))
        on = getdate(action_date or today())
        self.status = "closed"
        self.closed_on = on
        self.close_reason = reason
        self.next_action = None
        self.next_action_due = None
        self.add_action("close", on, outcome=reason, notes=notes)
        self.save()
        return self.timeline[-1].name
