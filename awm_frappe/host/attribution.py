"""Tenant replies and outcomes: payment attribution, inbound email replies on the case.

Payment attribution (``attribute_payments``), set-based, idempotent:

- A tenant payment (ledger kind ``payment``; benefit credits are left out: they arrive whatever we send)
  dated within ``days`` (default 14) on or after a message's send date is attributed to the **latest
  message sent to that tenancy on or before the payment date**. One payment goes to one message; a
  message may collect several payments. The ledger is dated by day, so a payment on the day of the
  message counts.
- Each sent message (not control-group rows) in the look-back window gets ``attributed_payment`` (the
  sum attributed to it) and ``attributed_on`` (the first such payment's date); messages in the window
  that no longer have one are reset, so rerunning changes nothing and back-dated ledger rows are picked
  up.
- Queries: the messages of the window (1), the payments of those tenancies in the window (1, from the
  configured ledger: Rent Transaction or ERPNext's Payment Ledger Entry), then one bulk UPDATE per 500
  changed rows. The matching itself is a ``pandas.merge_asof``.

``results_by_rule(from_date, to_date)`` aggregates per rule and per campaign (the "Message Results by
Rule" report): messages sent, paid within the window, the amount, the paying rate.

Inbound replies (``on_communication_insert``, a doc_event on Communication): Frappe v15 threads an
incoming email onto its parent (frappe/email/receive.py ``InboundMail.parent_communication`` finds the
Communication whose ``message_id`` is the reply's ``In-Reply-To``, or the Email Queue's, and
``reference_document`` copies that parent's ``reference_doctype``/``reference_name``). An outbound case
email therefore needs ``reference_doctype = "Arrears Case"`` and ``reference_name`` = the case on its
Communication (the channel sets it from the outbox row). When such a reply is inserted, this hook assigns
the case officer a ToDo to read it.
"""

from __future__ import annotations

import frappe
import pandas as pd
from frappe import _
from frappe.utils import add_days, cint, flt, get_datetime, getdate, now_datetime, nowdate

from awm_frappe.host.ledger import days_to_dates as _days_to_dates
from awm_frappe.host.ledger import receivable_filter

DEFAULT_DAYS = 14
LOOKBACK_DAYS = 60  # messages sent in the last N days are (re)attributed each run
PAYMENT_KINDS = ("payment",)


# TO_DAYS of 1900-01-01 and 2200-01-01: a date outside is a data-entry error, read as missing (pandas
# cannot hold it and would raise for the whole batch)
_MIN_DAYS, _MAX_DAYS = 693961, 803534


def days_to_dates(days) -> pd.Series:
    values = pd.to_numeric(pd.Series(days), errors="coerce")
    return _days_to_dates(values.where(values.between(_MIN_DAYS, _MAX_DAYS)))


# ---------------------------------------------------------------------------------------------------
# Payments → messages


def read_messages(since, as_of) -> pd.DataFrame:
    """Sent, non-control messages with a send date in [since, as_of]: name, tenancy, date, current values."""
    rows = frappe.db.sql(
        """select name, tenancy, to_days(sent_at), attributed_payment * 1e0, to_days(attributed_on)
        from `tabArrears Message`
        where status = 'sent' and control_group = 0 and sent_at is not null
            and sent_at >= %(since)s and sent_at < %(until)s""",
        {"since": get_datetime(getdate(since)), "until": get_datetime(add_days(getdate(as_of), 1))},
    )
    frame = pd.DataFrame.from_records(
        rows, columns=["message", "tenancy", "date", "attributed_payment", "attributed_on"]
    )
    frame["date"] = days_to_dates(frame["date"]).to_numpy()
    frame["attributed_on"] = days_to_dates(frame["attributed_on"]).to_numpy()
    frame["attributed_payment"] = pd.to_numeric(frame["attributed_payment"]).fillna(0.0).astype(float)
    return frame


def read_payments(since, as_of, kinds=PAYMENT_KINDS) -> pd.DataFrame:
    """Payments (positive amounts) dated [since, as_of] for tenancies sent a message since ``since``:
    tenancy, date, amount. One query from the configured ledger source."""
    settings = frappe.get_cached_doc("AWM Settings")
    values = {
        "since": getdate(since),
        "as_of": getdate(as_of),
        "since_dt": get_datetime(getdate(since)),
        "kinds": tuple(kinds),
    }
    messaged = """select distinct m.tenancy from `tabArrears Message` m
        where m.status = 'sent' and m.control_group = 0 and m.sent_at >= %(since_dt)s"""
    if (settings.get("ledger_source") or "Rent Transaction") == "ERPNext Receivables":
        extra = receivable_filter("p", values, settings.get("company"), settings.get("receivable_account"))
        rows = frappe.db.sql(
            f"""select t.name, to_days(p.posting_date), -sum(p.amount) * 1e0
            from `tabPayment Ledger Entry` p
            join `tabTenancy` t on t.customer = p.party
            join ({messaged}) mt on mt.tenancy = t.name
            where p.party_type = 'Customer' and p.delinked = 0 and p.account_type = 'Receivable'
                and p.voucher_type in ('Payment Entry', 'Journal Entry') and p.amount < 0
                and p.posting_date >= %(since)s and p.posting_date <= %(as_of)s{extra}
            group by t.name, p.voucher_type, p.voucher_no, p.posting_date""",
            values,
        )
    else:
        rows = frappe.db.sql(
            f"""select p.tenancy, to_days(p.posting_date), -p.amount * 1e0
            from `tabRent Transaction` p
            join ({messaged}) mt on mt.tenancy = p.tenancy
            where p.amount < 0 and p.kind in %(kinds)s
                and p.posting_date >= %(since)s and p.posting_date <= %(as_of)s""",
            values,
        )
    frame = pd.DataFrame.from_records(rows, columns=["tenancy", "date", "amount"])
    frame["date"] = days_to_dates(frame["date"]).to_numpy()
    frame["amount"] = frame["amount"].astype(float)
    return frame


def match_payments(messages: pd.DataFrame, payments: pd.DataFrame, days: int = DEFAULT_DAYS) -> pd.DataFrame:
    """Per message: attributed amount and first payment date (pure pandas; unit-testable).

    Each payment goes to the latest message of its tenancy sent on or before the payment date, when that
    message is at most ``days`` days older than the payment."""
    empty = pd.DataFrame({"message": pd.Series(dtype=object), "amount": pd.Series(dtype=float),
                          "first_payment": pd.Series(dtype="datetime64[ns]")})  # fmt: skip
    if not len(messages) or not len(payments):
        return empty
    left = payments.sort_values("date").reset_index(drop=True)
    right = messages[["tenancy", "date", "message"]].rename(columns={"date": "sent"})
    # the latest message wins a tie on the same day: sort so the last one per (tenancy, day) is kept
    right = right.sort_values(["sent", "message"]).drop_duplicates(["tenancy", "sent"], keep="last")
    matched = pd.merge_asof(
        left,
        right.sort_values("sent"),
        left_on="date",
        right_on="sent",
        by="tenancy",
        direction="backward",
        tolerance=pd.Timedelta(days=int(days)),
    )
    matched = matched[matched["message"].notna()]
    if not len(matched):
        return empty
    return (
        matched.groupby("message").agg(amount=("amount", "sum"), first_payment=("date", "min")).reset_index()
    )


def attribute_payments(as_of=None, days: int = DEFAULT_DAYS, lookback: int = LOOKBACK_DAYS) -> dict:
    """Fill Arrears Message.attributed_payment / attributed_on for messages sent in the last
    ``lookback`` days (idempotent). Returns counts."""
    from awm_frappe.host.writeback import bulk_update

    as_of = getdate(as_of or nowdate())
    since = add_days(as_of, -int(lookback))
    messages = read_messages(since, as_of)
    if not len(messages):
        return {"messages": 0, "payments": 0, "attributed": 0, "updated": 0}
    payments = read_payments(since, as_of)
    matched = match_payments(messages, payments, days).set_index("message")
    merged = messages.set_index("message").join(matched, how="left")
    merged["amount"] = merged["amount"].fillna(0.0).round(2)
    changes = {}
    for name, row in merged.iterrows():
        new_on = row["first_payment"].date() if pd.notna(row["first_payment"]) else None
        old_on = row["attributed_on"].date() if pd.notna(row["attributed_on"]) else None
        if round(flt(row["attributed_payment"]), 2) != row["amount"] or old_on != new_on:
            changes[name] = {"attributed_payment": float(row["amount"]), "attributed_on": new_on}
    bulk_update("Arrears Message", changes, modified=now_datetime())
    return {
        "messages": len(messages),
        "payments": len(payments),
        "attributed": int(merged["amount"].gt(0).sum()),
        "amount": round(float(merged["amount"].sum()), 2),
        "updated": len(changes),
    }


def attribute_payments_job(as_of=None):
    """Scheduler (daily_long): attribute, then refresh the campaigns' results."""
    from awm_frappe.host.campaigns import refresh_results_job

    outcome = attribute_payments(as_of)
    frappe.db.commit()
    refresh_results_job(as_of)
    return outcome


def results_by_rule(from_date=None, to_date=None, group_by: str = "rule") -> list[dict]:
    """Sent messages per rule (or campaign) with a send date in [from_date, to_date]: sent, paid, amount,
    paying rate. Uses the attribution written by ``attribute_payments``."""
    to_date = getdate(to_date or nowdate())
    from_date = getdate(from_date or add_days(to_date, -90))
    column = {"rule": "m.rule", "campaign": "m.campaign"}.get(group_by, "m.rule")
    rows = frappe.db.sql(
        f"""select coalesce({column}, '') as source,
            count(*) as sent,
            sum(case when m.attributed_payment > 0 then 1 else 0 end) as paid,
            coalesce(sum(m.attributed_payment), 0) as amount
        from `tabArrears Message` m
        where m.status = 'sent' and m.control_group = 0
            and m.sent_at >= %(from)s and m.sent_at < %(to)s
        group by coalesce({column}, '')
        order by sent desc""",
        {"from": get_datetime(from_date), "to": get_datetime(add_days(to_date, 1))},
        as_dict=True,
    )
    for row in rows:
        row["rate"] = round(100.0 * cint(row.paid) / cint(row.sent), 2) if cint(row.sent) else 0.0
        row["amount_per_message"] = round(flt(row.amount) / cint(row.sent), 2) if cint(row.sent) else 0.0
    return rows


# ---------------------------------------------------------------------------------------------------
# Inbound email replies


def on_communication_insert(doc, method=None):
    """doc_event Communication.after_insert: an email received on an Arrears Case (threaded there by
    Frappe from In-Reply-To) is already on the case's activity timeline (Frappe shows every Communication
    whose reference is the case); this gives the case officer a ToDo to read it.

    It deliberately adds no Arrears Case Action row: the engine reads every timeline row as an action of
    the landlord (last action, last contact), and a tenant's reply must not reset the escalation ladder or
    start the frequency cap."""
    if doc.reference_doctype != "Arrears Case" or not doc.reference_name:
        return
    if doc.sent_or_received != "Received" or (doc.communication_type or "Communication") != "Communication":
        return
    officer, status = frappe.db.get_value("Arrears Case", doc.reference_name, ["officer", "status"]) or (
        None,
        None,
    )
    if not officer or status == "closed":
        return
    from frappe.desk.form.assign_to import add as assign

    try:
        assign(
            {
                "assign_to": [officer],
                "doctype": "Arrears Case",
                "name": doc.reference_name,
                "description": _("Tenant replied: {0}").format(doc.subject or ""),
                "date": getdate(doc.communication_date or now_datetime()),
            },
            ignore_permissions=True,
        )
    except Exception:  # already assigned, or cannot be: the Communication is on the case anyway
        frappe.clear_last_message()


__all__ = ["attribute_payments", "match_payments", "on_communication_insert", "results_by_rule"]
