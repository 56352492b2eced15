# Copyright (c) 2026, awm_frappe contributors
# For license information, please see license.txt
"""An admin-editable message template (SMS, email, letter). Validated on save with the engine's own
sandboxed checks (awm_frappe.engine.messages.validate_template): a syntax error, an unknown field, a
sandbox-escape attempt such as ``{{ ''.__class__.__mro__ }}``, an email without a subject, or an SMS longer
than the segment limit with sample data is refused. The nightly run builds its TemplateSet from the enabled
rows (awm_frappe.host.outbox.site_templates)."""

import frappe
from frappe import _
from frappe.model.document import Document


class ArrearsMessageTemplate(Document):
    def validate(self):
        from awm_frappe.engine import messages

        self.tenure_type = (self.tenure_type or "*").strip() or "*"
        self.language = (self.language or "en").strip().lower() or "en"
        self.variant = self.variant or "standard"
        if self.channel != "letter":
            self.print_format = None
        template = self.to_engine()
        settings = _message_settings()
        problems = messages.validate_template(template, settings)
        if self.channel == "sms" and not problems:
            sample = messages._TEXT_ENV.from_string(template.body).render(messages.sample_context(settings))
            self.sms_length = len(sample)
            self.sms_segments = messages.sms_segments(sample)
        else:
            self.sms_length = self.sms_segments = 0
        if problems:
            frappe.throw(
                _("Template {0} is not valid:").format(frappe.bold(self.template_name))
                + "<br>"
                + "<br>".join(frappe.utils.escape_html(p) for p in problems),
                title=_("Invalid template"),
            )

    def to_engine(self):
        from awm_frappe.engine.messages import Template

        return Template(
            code=(self.code or "").strip(),
            channel=(self.channel or "").strip().lower(),
            body=self.body or "",
            subject=self.subject or "",
            tenure_type=self.tenure_type or "*",
            language=self.language or "en",
            variant=self.variant or "standard",
        )

    @frappe.whitelist()
    def preview(self, tenancy: str, as_of=None):
        """Render this template (as on the form, saved or not) against a tenancy; changes nothing."""
        return preview_template(self, tenancy, as_of)


def _message_settings():
    from awm_frappe.host.nightly import _message_settings as from_settings

    return from_settings(frappe.get_cached_doc("AWM Settings"))


def preview_template(doc, tenancy: str, as_of=None) -> dict:
    """Subject/body/SMS segments of ``doc`` rendered for ``tenancy`` with the engine's own context."""
    import pandas as pd
    from frappe.utils import getdate, nowdate

    from awm_frappe.engine import messages
    from awm_frappe.host import frames

    frappe.has_permission("Tenancy", "read", tenancy, throw=True)
    as_of = pd.Timestamp(getdate(as_of or nowdate()))
    settings = _message_settings()
    template = doc.to_engine()
    problems = messages.validate_template(template, settings)
    if problems:
        return {"ok": False, "errors": problems}
    host = frames.read_host(as_of, [frappe.db.get_value("Tenancy", tenancy, "patch")] if tenancy else None)
    from awm_frappe.engine import facts

    case_frame = facts.build_case_frame(
        host.inputs.tenancies,
        host.inputs.ledger,
        host.inputs.cases,
        host.inputs.actions,
        as_of,
        settings=host.pack.settings,
    )
    if tenancy not in case_frame.index:
        frappe.throw(_("Tenancy {0} could not be read for a preview").format(tenancy))
    row = case_frame.loc[[tenancy]].copy()
    row["tenancy"] = tenancy
    context = messages.template_context(row, as_of, settings).iloc[0].to_dict()
    env = messages._env_for(template.channel)
    try:
        subject = env.from_string(template.subject).render(context) if template.subject else ""
        body = env.from_string(template.body).render(context)
    except Exception as exc:
        return {"ok": False, "errors": [str(exc)]}
    out = {"ok": True, "subject": subject, "body": body, "channel": template.channel}
    if template.channel == "sms":
        out.update({"sms_length": len(body), "sms_segments": messages.sms_segments(body)})
    return out
