"""Channels through the host: each ``send_<channel>(msg, ctx)`` delivers one outbox row and returns what it
made, ``{"communication", "reference_doctype", "reference_name"}``. The dispatcher (dispatch.py) records the
result on the row and the case timeline.

- email: a Communication (medium Email, reference the Arrears Case, timeline link to the Customer) whose
  ``send_email`` queues the host's Email Queue (linked to the Communication). Transactional: the
  Communication and the Email Queue row commit together with the outbox row's ``sent``.
- sms: the host's ``send_sms`` (SMS Settings gateway; an SMS Log) or, when an app sets the ``awm_send_sms``
  hook, that provider (e.g. GOV.UK Notify); plus a Communication (medium SMS) on the case/Customer.
  External effect: see dispatch.py for the exactly-once protocol.
- letter: the Print Format (default "AWM Arrears Letter") rendered to PDF, attached to the case as a private
  File, plus a Communication (medium Other); ``build_print_batch`` merges the day's letters into one PDF with
  a cover list for the post room.
- phone: a ToDo for the case officer, due on the decision date (the night's own ToDo is reused when open).
"""

from __future__ import annotations

import io

import frappe
from frappe.utils import getdate, now_datetime, nowdate

LETTER_PRINT_FORMAT = "AWM Arrears Letter"


class PermanentFailure(Exception):
    """Will not succeed on retry (bad address, no gateway configured): the message fails/holds at once."""


# ---------------------------------------------------------------------------------------------------
# Email


def send_email(msg, ctx) -> dict:
    if not msg.recipient:
        raise PermanentFailure("no email address")
    from frappe.utils import validate_email_address

    if not validate_email_address(msg.recipient):
        raise PermanentFailure(f"invalid email address {msg.recipient}")
    comm = _communication(msg, "Email", recipients=msg.recipient)
    if not comm.get_outgoing_email_account():
        raise PermanentFailure("no outgoing Email Account is set up (Settings > Email Account)")
    comm.insert(ignore_permissions=True)
    comm.send_email()
    queued = frappe.db.get_value("Email Queue", {"communication": comm.name}, "name")
    if not queued:
        raise PermanentFailure(f"the host did not queue the email to {msg.recipient} (unsubscribed?)")
    return {"communication": comm.name, "reference_doctype": "Email Queue", "reference_name": queued}


def _communication(msg, medium, **fields):
    comm = frappe.get_doc(
        {
            "doctype": "Communication",
            "communication_type": "Communication",
            "communication_medium": medium,
            "sent_or_received": "Sent",
            "subject": (msg.subject or _title(msg))[:140],
            "content": msg.body
            if medium == "Email"
            else frappe.utils.escape_html(msg.body or "").replace("\n", "<br>"),
            "reference_doctype": "Arrears Case" if msg.arrears_case else "Tenancy",
            "reference_name": msg.arrears_case or msg.tenancy,
            "status": "Linked",
            **fields,
        }
    )
    comm.flags.skip_add_signature = True
    if msg.customer:
        comm.append("timeline_links", {"link_doctype": "Customer", "link_name": msg.customer})
    if msg.tenancy:
        comm.append("timeline_links", {"link_doctype": "Tenancy", "link_name": msg.tenancy})
    return comm


def _title(msg) -> str:
    kind = {"sms": "SMS", "letter": "Letter", "email": "Email", "phone": "Call"}.get(msg.channel, msg.channel)
    return f"{kind}: {msg.action_code or msg.template or ''} ({msg.tenancy})"


# ---------------------------------------------------------------------------------------------------
# SMS


def sms_provider():
    """The ``awm_send_sms`` hook (last one wins), or None for the host's SMS Settings / send_sms."""
    hooks = frappe.get_hooks("awm_send_sms")
    return frappe.get_attr(hooks[-1]) if hooks else None


def sms_ready() -> str:
    """'' when SMS can go out, else why not."""
    if sms_provider():
        return ""
    if not frappe.db.get_single_value("SMS Settings", "sms_gateway_url"):
        return "SMS Settings has no gateway URL"
    return ""


def send_sms(msg, ctx) -> dict:
    if not msg.recipient:
        raise PermanentFailure("no mobile number")
    provider = sms_provider()
    frappe.flags.awm_last_sms_log = None
    if provider:
        # provider(number, text, message_name) -> {"reference_doctype", "reference_name"} or None
        result = provider(msg.recipient, msg.body, msg.name) or {}
        ref_doctype, ref_name = result.get("reference_doctype"), result.get("reference_name")
    else:
        from frappe.core.doctype.sms_settings.sms_settings import send_sms as host_send_sms

        host_send_sms([msg.recipient], msg.body, success_msg=False)
        ref_name = frappe.flags.awm_last_sms_log
        if not ref_name:
            raise RuntimeError("the SMS gateway did not accept the message (no SMS Log)")
        ref_doctype = "SMS Log"
    comm = _communication(msg, "SMS", phone_no=msg.recipient, recipients=None)
    comm.insert(ignore_permissions=True)
    return {"communication": comm.name, "reference_doctype": ref_doctype, "reference_name": ref_name}


def remember_sms_log(doc, method=None):
    """doc_events hook (SMS Log after_insert): the dispatcher reads the log send_sms just wrote."""
    frappe.flags.awm_last_sms_log = doc.name


# ---------------------------------------------------------------------------------------------------
# Letters


def send_letter(msg, ctx) -> dict:
    print_format = ctx.get("print_formats", {}).get(msg.template) or LETTER_PRINT_FORMAT
    if not frappe.db.exists("Print Format", print_format):
        print_format = None
    pdf = letter_pdf(msg.name, print_format)
    file = frappe.get_doc(
        {
            "doctype": "File",
            "file_name": f"letter-{msg.action_code or 'letter'}-{msg.tenancy}-{msg.name}.pdf",
            "attached_to_doctype": "Arrears Case" if msg.arrears_case else DOCTYPE_MESSAGE,
            "attached_to_name": msg.arrears_case or msg.name,
            "is_private": 1,
            "content": pdf,
        }
    )
    file.flags.ignore_permissions = True
    file.insert(ignore_permissions=True)
    comm = _communication(msg, "Other")
    comm.insert(ignore_permissions=True)
    return {"communication": comm.name, "reference_doctype": "File", "reference_name": file.name}


DOCTYPE_MESSAGE = "Arrears Message"


def letter_pdf(name: str, print_format: str | None = None) -> bytes:
    """The letter as PDF: the Print Format's HTML (frappe.get_print) through wkhtmltopdf. Stylesheets the
    print view links by URL are dropped (the format's own CSS is inline): a worker often cannot reach the
    site's public URL, and wkhtmltopdf fails the whole page on a host it cannot resolve."""
    import re

    from frappe.utils.pdf import get_pdf

    html = frappe.get_print(DOCTYPE_MESSAGE, name, print_format=print_format, no_letterhead=1)
    html = re.sub(r"<link[^>]+>", "", html)
    html = re.sub(r"@import\s+url\([^)]*\);?", "", html)
    return get_pdf(html)


def build_print_batch(date=None, attach_to=None) -> str | None:
    """Merge the letters sent on ``date`` that are in no batch yet into one PDF for the post room: a cover
    list (tenancy, recipient, letter, pages) then each letter. Saved as a private File attached to the AWM
    Run of the letters (or ``attach_to``); the letters' ``print_batch`` points to it. Returns the File
    name."""
    from frappe.utils.pdf import get_pdf
    from pypdf import PdfReader, PdfWriter

    date = getdate(date or nowdate())
    rows = frappe.db.sql(
        """select m.name, m.tenancy, m.arrears_case, m.action_code, m.awm_run, m.reference_name,
            t.tenant_name
        from `tabArrears Message` m left join `tabTenancy` t on t.name = m.tenancy
        where m.channel = 'letter' and m.status = 'sent' and m.reference_doctype = 'File'
        and (m.print_batch is null or m.print_batch = '') and date(m.sent_at) = %s
        order by t.patch, m.tenancy, m.name""",
        date,
        as_dict=True,
    )
    if not rows:
        return None
    letters = []
    for row in rows:
        content = frappe.get_doc("File", row.reference_name).get_content()
        reader = PdfReader(io.BytesIO(content))
        letters.append((row, reader))
    cover_rows = "".join(
        f"<tr><td>{i}</td><td>{frappe.utils.escape_html(r.tenancy or '')}</td>"
        f"<td>{frappe.utils.escape_html(r.tenant_name or '')}</td><td>{r.action_code or ''}</td>"
        f"<td>{r.arrears_case or ''}</td><td>{len(reader.pages)}</td></tr>"
        for i, (r, reader) in enumerate(letters, start=1)
    )
    cover = get_pdf(
        f"""<h2>Print batch {date} — {len(letters)} letter(s)</h2>
        <table border="1" cellspacing="0" cellpadding="4" style="width:100%;font-size:11px">
        <tr><th>#</th><th>Tenancy</th><th>Tenant</th><th>Letter</th><th>Case</th><th>Pages</th></tr>
        {cover_rows}</table>"""
    )
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(cover)).pages:
        writer.add_page(page)
    for _row, reader in letters:
        for page in reader.pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    run = attach_to or next((r.awm_run for r in rows if r.awm_run), None)
    existing = frappe.db.count("File", {"file_name": ("like", f"print-batch-{date}%")})
    file = frappe.get_doc(
        {
            "doctype": "File",
            "file_name": f"print-batch-{date}{'-' + str(existing + 1) if existing else ''}.pdf",
            "attached_to_doctype": "AWM Run" if run else None,
            "attached_to_name": run,
            "is_private": 1,
            "content": out.getvalue(),
        }
    )
    file.insert(ignore_permissions=True)
    names = [r.name for r in rows]
    frappe.db.sql(
        f"update `tabArrears Message` set print_batch = %s where name in ({', '.join(['%s'] * len(names))})",
        [file.name, *names],
    )
    return file.name


# ---------------------------------------------------------------------------------------------------
# Phone calls and visits


def send_phone(msg, ctx) -> dict:
    """A call (or visit) task for the case officer, due on the decision date; reuses the open ToDo the
    night already gave that officer for the case."""
    officer = ctx.get("officers", {}).get(msg.arrears_case)
    if not officer:
        raise PermanentFailure("the case has no officer to call the tenant")
    existing = frappe.db.get_value(
        "ToDo",
        {"reference_type": "Arrears Case", "reference_name": msg.arrears_case, "allocated_to": officer,
         "status": "Open"},
        "name",
    )  # fmt: skip
    due = getdate((msg.period or "").split("/")[0]) if msg.period and msg.period[:4].isdigit() else getdate()
    description = f"{msg.action_code or 'call'}: call {msg.recipient or 'the tenant'} ({msg.tenancy})"
    if existing:
        frappe.db.set_value("ToDo", existing, {"date": due}, update_modified=False)
        return {"communication": None, "reference_doctype": "ToDo", "reference_name": existing}
    todo = frappe.get_doc(
        {"doctype": "ToDo", "allocated_to": officer, "reference_type": "Arrears Case",
         "reference_name": msg.arrears_case, "description": description, "date": due, "priority": "Medium",
         "assigned_by": frappe.session.user}
    )  # fmt: skip
    todo.insert(ignore_permissions=True)
    return {"communication": None, "reference_doctype": "ToDo", "reference_name": todo.name}


SENDERS = {"email": send_email, "sms": send_sms, "letter": send_letter, "phone": send_phone}
EXTERNAL = {"sms"}  # channels whose effect leaves the database before we can commit


def now():
    return now_datetime()
