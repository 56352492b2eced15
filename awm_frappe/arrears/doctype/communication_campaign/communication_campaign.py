# Copyright (c) 2026, awm_frappe contributors
# For license information, please see license.txt
"""Communication Campaign: one message to a filtered audience of tenancies, with a held-back control
group, a schedule and a daily limit. The work is in awm_frappe.host.campaigns; docs/campaigns.md is the
guide.

Whitelisted (team leaders and managers): ``preview(as_of)`` (counts and sample messages, changes
nothing; works on the form as it is, saved or not), ``start()``, ``cancel_campaign()``,
``run_today()`` (run today's campaign day now, ignoring the send window), ``refresh_results()``.
"""

from __future__ import annotations

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint, flt, get_time, getdate, nowdate

from awm_frappe.engine.schema import PAYMENT_METHODS, TENURE_TYPES, UC_STATUSES

RISK_BANDS = ("high", "medium", "low", "early_warning")
EDITABLE_WHEN_ACTIVE = {"title", "end_date", "daily_limit", "send_window_start", "send_window_end"}


class CommunicationCampaign(Document):
    def validate(self):
        from awm_frappe.host.campaigns import split_list

        self.status = self.status or "Draft"
        for field, allowed in (
            ("tenure_types", TENURE_TYPES),
            ("risk_bands", RISK_BANDS),
            ("uc_statuses", UC_STATUSES),
            ("payment_methods", PAYMENT_METHODS),
        ):
            values = split_list(self.get(field))
            unknown = [v for v in values if v not in allowed]
            if unknown:
                frappe.throw(
                    _("{0}: unknown value(s) {1}. Use: {2}").format(
                        _(self.meta.get_label(field)), ", ".join(unknown), ", ".join(allowed)
                    )
                )
            self.set(field, ", ".join(values))
        self.languages = ", ".join(v.lower() for v in split_list(self.languages))
        if not 0 <= flt(self.control_group_percent) <= 50:
            frappe.throw(_("Control group size must be between 0% and 50%."))
        if cint(self.daily_limit) < 0 or cint(self.exclude_contacted_days) < 0:
            frappe.throw(_("Daily limit and 'contacted in the last N days' cannot be negative."))
        if cint(self.payment_window_days) <= 0:
            self.payment_window_days = 14
        if flt(self.balance_min) and flt(self.balance_max) and flt(self.balance_min) > flt(self.balance_max):
            frappe.throw(_("Balance at least is more than balance at most."))
        if self.end_date and self.start_date and getdate(self.end_date) < getdate(self.start_date):
            frappe.throw(_("End date is before the start date."))
        if (
            self.send_window_start
            and self.send_window_end
            and get_time(self.send_window_start) == get_time(self.send_window_end)
        ):
            frappe.throw(_("The send window is empty: start and end are the same time."))
        self.validate_template_code()
        self.validate_frozen_when_active()

    def validate_template_code(self):
        from awm_frappe.host.campaigns import site_templates

        templates = site_templates()
        code = (self.template_code or "").strip()
        self.template_code = code
        known = {t.code for t in templates} | set(templates.aliases)
        if code not in known:
            frappe.throw(
                _(
                    "No message template has code {0}. "
                    "Create an Arrears Message Template with that code first."
                ).format(frappe.bold(code))
            )

    def validate_frozen_when_active(self):
        """Once started, the audience and message are fixed: what was measured must be what was sent."""
        if self.is_new() or self.status == "Draft":
            return
        before = self.get_doc_before_save()
        if not before or before.status == "Draft":
            return
        changed = [
            df.label
            for df in self.meta.fields
            if df.fieldtype not in ("Section Break", "Column Break", "Table MultiSelect")
            and not df.read_only
            and df.fieldname not in EDITABLE_WHEN_ACTIVE
            and str(self.get(df.fieldname) or "") != str(before.get(df.fieldname) or "")
        ]
        old = sorted(p.territory for p in before.get("patches") or [])
        if sorted(p.territory for p in self.get("patches") or []) != old:
            changed.append(_("Patches"))
        if changed:
            frappe.throw(
                _(
                    "A {0} campaign's audience and message cannot change ({1}). Copy it to a new campaign."
                ).format(_(before.status).lower(), ", ".join(changed))
            )

    # ---- actions ---------------------------------------------------------------------------------

    @frappe.whitelist()
    def preview(self, as_of=None, sample: int = 5):
        """Audience, exclusions by reason, control, suppressed by reason, to send, sample messages."""
        from awm_frappe.host import campaigns

        self.check_permission("read")
        return campaigns.preview(self, as_of or nowdate(), cint(sample) or 5)

    @frappe.whitelist()
    def start(self):
        """Draft → Scheduled; the scheduler makes it Running on the start date, inside the window."""
        self.check_permission("write")
        if self.status != "Draft":
            frappe.throw(_("Only a draft campaign can be started (this one is {0}).").format(self.status))
        self.status = "Scheduled"
        self.save()
        return self.status

    @frappe.whitelist()
    def cancel_campaign(self):
        """Stop the campaign; messages not yet handed to a channel are cancelled."""
        from awm_frappe.host import campaigns

        self.check_permission("write")
        if self.status in ("Completed", "Cancelled"):
            frappe.throw(_("The campaign is already {0}.").format(self.status))
        count = campaigns.cancel(self)
        self.db_set("status", "Cancelled")
        campaigns.compute_results(self.name)
        return count

    @frappe.whitelist()
    def run_today(self):
        """Run today's campaign day now (ignores the send window; the daily limit still applies)."""
        from awm_frappe.host import campaigns

        self.check_permission("write")
        if self.status not in campaigns.ACTIVE_STATUSES:
            frappe.throw(_("Start the campaign first."))
        return campaigns.run_campaign_day(self.name, nowdate(), force_window=True)

    @frappe.whitelist()
    def refresh_results(self, as_of=None):
        from awm_frappe.host import campaigns

        self.check_permission("read")
        return campaigns.compute_results(self.name, as_of or nowdate())
