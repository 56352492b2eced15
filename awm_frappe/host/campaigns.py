"""Communication Campaigns: audience, exclusions, control group, daily throttle, outbox rows, results.

A campaign sends one message (a template code, on a channel) to every tenancy that matches its filters,
once, spread over days by a daily limit, inside a send window, with a random, reproducible share held back
as a control group so that the payments that follow can be compared with what would have happened anyway.
docs/campaigns.md is the user guide; this module is the host side.

One campaign day (``run_campaign_day``), whatever the audience size:

1. ``audience_frame``: ONE query over Tenancy, left-joined to the open Arrears Case, its officer, the
   latest contact on the timeline and the latest message sent (both aggregated in derived tables), with
   the campaign's filters in the WHERE clause. Never one query per tenancy.
2. Exclusions, vectorised: an open legal stage, contacted in the last N days (``EXCLUSION_REASONS``).
3. Control group: ``hash(campaign|tenancy)`` below ``control_group_percent`` — stable across days,
   machines and reruns, independent of the order the tenancies come in.
4. Suppression always applies: every eligible member (control included) goes through the engine's
   ``decide_messages`` exactly like a rule's message — channel choice, deceased / do not contact /
   Breathing Space / vulnerable routing / frequency cap / opt-outs / no channel, template selection and
   sandboxed rendering. A control member who would have been suppressed is recorded as suppressed too, so
   both groups are compared on the same eligibility.
5. One query reads the campaign's existing outbox rows; members already recorded are skipped.
6. Throttle: new members in a second hash order; the day takes them up to the ``daily_limit``-th
   sendable message (control and suppressed members met on the way are recorded the same day, so the
   control group is drawn at the same pace as the messages).
7. ``awm_frappe.host.outbox.enqueue_messages(rows)`` queues them in bulk. Key
   ``"{tenancy}|{campaign}|{template code}|{start date}"``: one message per tenancy per campaign, so
   rerunning a day (or the next day's run) queues nothing twice.

Outbox rows written (Arrears Message, ``campaign`` set):

| member | status | control_group | reason |
|---|---|---|---|
| messaged | queued (the outbox may make it awaiting_approval / dry_run) | 0 | |
| suppressed | suppressed | 0 | the suppression reason |
| template failure | held | 0 | the render error |
| control, eligible | cancelled | 1 | ``control group: held back`` |
| control, would be suppressed/fail | suppressed | 1 | ``control group; would be suppressed: <reason>`` |

Control rows are never sendable (cancelled / suppressed are final states the dispatcher never claims).

Results (``compute_results``): one query joins the campaign's outbox rows to the ledger's payments
within ``payment_window_days`` of each row's day (the day the member was messaged or held back).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime

import frappe
import numpy as np
import pandas as pd
from frappe import _
from frappe.utils import add_days, cint, flt, get_datetime, get_time, getdate, now_datetime, nowdate

CAMPAIGN_ACTION = "campaign_message"  # the Arrears Action Type of campaign messages on case timelines
LEGAL_STAGES = ("nosp", "court_warning", "court", "warrant", "eviction")
EXCLUSION_REASONS = ("open legal stage", "contacted in the last {days} days")
CONTROL_REASON = "control group: held back"
ACTIVE_STATUSES = ("Scheduled", "Running")
# Outbox statuses that mean "this member was (or will be) messaged" for the results.
NOT_TREATED = ("suppressed", "held", "cancelled", "rejected")
PAYMENT_KINDS = ("payment",)  # tenant payments; benefit credits (hb, uc) arrive whatever we send
HASH_BUCKETS = 10_000

AUDIENCE_COLUMNS = [
    "tenancy",
    "customer",
    "tenant_name",
    "patch",
    "tenure_type",
    "weekly_rent",
    "payment_method",
    "uc_status",
    "language",
    "preferred_channel",
    "mobile",
    "email",
    "has_postal_address",
    "do_not_contact",
    "breathing_space_until",
    "deceased",
    "vulnerable",
    "balance",
    "arrears_after_grace",
    "weeks_owed",
    "risk_band",
    "arrears_case",
    "case_status",
    "case_stage",
    "officer",
    "officer_name",
    "officer_phone",
    "last_timeline_contact",
    "last_message_sent",
]


# ---------------------------------------------------------------------------------------------------
# Filters


def split_list(value) -> list[str]:
    """'a, b,,c' → ['a', 'b', 'c']; a list passes through."""
    if not value:
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).replace(";", ",").split(",") if part.strip()]


def campaign_patches(campaign) -> list[str]:
    return [row.territory for row in (campaign.get("patches") or []) if row.get("territory")]


def _filters_sql(campaign, as_of) -> tuple[str, dict]:
    where = ["(t.end_date is null or t.end_date >= %(as_of)s)"]
    values: dict = {"as_of": as_of}
    for field, column in (
        ("tenure_types", "t.tenure_type"),
        ("risk_bands", "t.risk_band"),
        ("uc_statuses", "t.uc_status"),
        ("payment_methods", "t.payment_method"),
    ):
        wanted = split_list(campaign.get(field))
        if wanted:
            where.append(f"{column} in %({field})s")
            values[field] = tuple(wanted)
    languages = [lang.lower() for lang in split_list(campaign.get("languages"))]
    if languages:
        where.append("lower(coalesce(nullif(t.language, ''), 'en')) in %(languages)s")
        values["languages"] = tuple(languages)
    patches = campaign_patches(campaign)
    if patches:
        # a group territory covers its children (nested set)
        where.append(
            """t.patch in (select child.name from `tabTerritory` child
                join `tabTerritory` parent on child.lft >= parent.lft and child.rgt <= parent.rgt
                where parent.name in %(patches)s)"""
        )
        values["patches"] = tuple(patches)
    # Currency fields are never null in Frappe: 0 means "no bound" (use 0.01 for "owes something")
    if flt(campaign.get("balance_min")):
        where.append("coalesce(t.balance, 0) >= %(balance_min)s")
        values["balance_min"] = flt(campaign.get("balance_min"))
    if flt(campaign.get("balance_max")):
        where.append("coalesce(t.balance, 0) <= %(balance_max)s")
        values["balance_max"] = flt(campaign.get("balance_max"))
    return " and ".join(where), values


def _lookback_days(campaign, settings) -> int:
    """How far back a contact can matter (the campaign exclusion or the frequency cap)."""
    return max(cint(campaign.get("exclude_contacted_days")), cint(settings.get("frequency_cap_days")), 1)


# ---------------------------------------------------------------------------------------------------
# Audience


def audience_frame(campaign, as_of, settings=None) -> pd.DataFrame:
    """The tenancies matching the campaign's filters, with what exclusions and messages need: one query."""
    settings = settings or frappe.get_cached_doc("AWM Settings")
    as_of = getdate(as_of)
    where, values = _filters_sql(campaign, as_of)
    values["since"] = add_days(as_of, -_lookback_days(campaign, settings))
    values["as_of_end"] = get_datetime(add_days(as_of, 1))
    message_join = ""
    message_column = "null"
    if frappe.db.table_exists("Arrears Message"):
        message_join = """left join (
                select m.tenancy, max(m.sent_at) as last_sent from `tabArrears Message` m
                where m.status = 'sent' and m.sent_at >= %(since)s and m.sent_at < %(as_of_end)s
                group by m.tenancy
            ) lm on lm.tenancy = t.name"""
        message_column = "date(lm.last_sent)"
    rows = frappe.db.sql(
        f"""select t.name, t.customer, t.tenant_name, t.patch, t.tenure_type, t.weekly_rent * 1e0,
            t.payment_method, t.uc_status, t.language, t.preferred_channel, t.mobile_no, t.email_id,
            t.has_postal_address, t.do_not_contact, t.breathing_space_until, t.deceased, t.vulnerable,
            t.balance * 1e0, t.arrears_after_grace * 1e0, t.weeks_owed * 1e0, t.risk_band,
            c.name, c.status, c.stage, c.officer, coalesce(o.full_name, u.full_name, ''),
            coalesce(o.phone, ''),
            lc.last_contact, {message_column}
        from `tabTenancy` t
        left join `tabArrears Case` c on c.tenancy = t.name and c.status != 'closed'
        left join `tabWorktray Officer` o on o.name = c.officer
        left join `tabUser` u on u.name = c.officer
        left join (
            select oc.tenancy, max(a.action_date) as last_contact
            from `tabArrears Case Action` a
            join `tabArrears Case` oc on oc.name = a.parent
            where a.parenttype = 'Arrears Case' and coalesce(a.channel, '') != ''
                and not (a.by_automation = 1 and a.outcome = 'recommended')
                and a.action_date >= %(since)s and a.action_date <= %(as_of)s
            group by oc.tenancy
        ) lc on lc.tenancy = t.name
        {message_join}
        where {where}
        order by t.name""",
        values,
    )
    frame = pd.DataFrame.from_records(rows, columns=AUDIENCE_COLUMNS)
    # one open case per tenancy is enforced by Arrears Case; keep one row if a duplicate slipped in
    frame = frame.drop_duplicates("tenancy", keep="last").set_index("tenancy", drop=False)
    frame.index.name = "tenancy_key"
    for name in ("has_postal_address", "do_not_contact", "deceased", "vulnerable"):
        frame[name] = frame[name].fillna(0).astype(int).astype(bool)
    for name in ("balance", "arrears_after_grace", "weeks_owed", "weekly_rent"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    for name in ("breathing_space_until", "last_timeline_contact", "last_message_sent"):
        frame[name] = pd.to_datetime(frame[name], errors="coerce")
    frame["last_contact_date"] = frame[["last_timeline_contact", "last_message_sent"]].max(axis=1)
    frame["breathing_space"] = frame["breathing_space_until"].ge(pd.Timestamp(as_of)).fillna(False)
    for name in ("mobile", "email", "tenant_name", "language", "preferred_channel", "officer_name"):
        frame[name] = frame[name].fillna("")
    return frame


def exclusion_reasons(frame: pd.DataFrame, campaign, as_of) -> pd.Series:
    """The campaign's own exclusions (first wins); '' = not excluded. Suppression comes later."""
    as_of = pd.Timestamp(getdate(as_of))
    reason = pd.Series("", index=frame.index, dtype=object)
    if not len(frame):
        return reason
    if cint(campaign.get("exclude_legal")):
        legal = frame["arrears_case"].notna() & (
            frame["case_status"].eq("legal") | frame["case_stage"].isin(LEGAL_STAGES)
        )
        reason[legal] = EXCLUSION_REASONS[0]
    days = cint(campaign.get("exclude_contacted_days"))
    if days > 0:
        recent = (as_of - frame["last_contact_date"]).dt.days.lt(days).fillna(False).astype(bool)
        reason[reason.eq("") & recent] = EXCLUSION_REASONS[1].format(days=days)
    return reason


def _bucket(campaign_name: str, tenancies, salt: str = "") -> np.ndarray:
    """A number in [0, HASH_BUCKETS) per tenancy from sha256(salt|campaign|tenancy): reproducible."""
    out = np.empty(len(tenancies), dtype=np.int64)
    for i, tenancy in enumerate(tenancies):
        digest = hashlib.sha256(f"{salt}{campaign_name}|{tenancy}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") % HASH_BUCKETS
    return out


def control_mask(campaign_name: str, tenancies, percent) -> np.ndarray:
    """True for the tenancies held back: hash(campaign|tenancy) in the lowest ``percent`` of buckets."""
    threshold = round(flt(percent) / 100 * HASH_BUCKETS)
    return _bucket(campaign_name, list(tenancies)) < threshold


def order_key(campaign_name: str, tenancies) -> np.ndarray:
    """The order members are taken under a daily limit (a second, independent hash)."""
    return _bucket(campaign_name, list(tenancies), salt="order|")


def site_templates():
    """The site's Arrears Message Templates (engineer A's loader), else the shipped defaults."""
    from awm_frappe.engine import messages

    try:
        from awm_frappe.host.outbox import site_templates as loader
    except ImportError:
        return messages.default_templates()
    return loader()


def message_settings(settings=None):
    from awm_frappe.host.nightly import _message_settings

    return _message_settings(settings or frappe.get_cached_doc("AWM Settings"))


def campaign_period(campaign, dry_run: bool | None = None) -> str:
    """The key's period: the start date (one message per tenancy per campaign); a site-wide dry run gets
    its own period, as for rule messages, so going live later still queues the real messages."""
    if dry_run is None:
        dry_run = bool(cint(frappe.get_cached_doc("AWM Settings").get("dry_run")))
    return str(getdate(campaign.get("start_date") or nowdate())) + ("/dry-run" if dry_run else "")


def campaign_key(tenancy: str, campaign, period: str | None = None) -> str:
    return f"{tenancy}|{campaign.name}|{campaign.template_code}|{period or campaign_period(campaign)}"


def plan(campaign, as_of, settings=None, templates=None, render=True) -> pd.DataFrame:
    """The whole audience with: exclusion, control, the message decision (channel, status, reason,
    subject, body). Indexed by tenancy; nothing is written."""
    from awm_frappe.engine import messages

    settings = settings or frappe.get_cached_doc("AWM Settings")
    frame = audience_frame(campaign, as_of, settings)
    frame["exclusion"] = exclusion_reasons(frame, campaign, as_of)
    frame["control"] = (
        control_mask(campaign.name or "new", frame.index, campaign.get("control_group_percent"))
        if len(frame)
        else np.zeros(0, bool)
    )
    frame["order"] = order_key(campaign.name or "new", frame.index) if len(frame) else np.zeros(0, int)
    for name in ("channel", "template", "message_status", "suppression_reason", "subject", "body"):
        frame[name] = ""
    eligible = frame["exclusion"].eq("")
    if eligible.any():
        request = frame.loc[eligible].copy()
        request["channel"] = campaign.get("channel") or "preferred"
        request["template"] = campaign.get("template_code")
        request["action"] = campaign.get("template_code")
        request["action_type"] = "send_message"
        decided = messages.decide_messages(
            request,
            templates or site_templates(),
            pd.Timestamp(getdate(as_of)),
            message_settings(settings),
            render=render,
        )
        for name in ("channel", "template", "message_status", "suppression_reason", "subject", "body"):
            frame.loc[eligible, name] = decided[name].fillna("").to_numpy()
        # a vulnerable tenant routed to an officer or a tenant with no usable channel is "suppressed"
        # with needs_officer; a phone channel is never requested by a campaign.
    frame["sendable"] = eligible & frame["message_status"].isin(["send", "deferred"])
    return frame


# ---------------------------------------------------------------------------------------------------
# Preview


def preview(campaign, as_of=None, sample: int = 5) -> dict:
    """Counts (audience, excluded by reason, control, suppressed by reason, failed, to send, already
    recorded) and a sample of rendered messages. Changes nothing."""
    as_of = getdate(as_of or nowdate())
    frame = plan(campaign, as_of)
    existing = (
        existing_rows(campaign.name, campaign_period(campaign))
        if campaign.name and not campaign.is_new()
        else pd.DataFrame()
    )
    eligible = frame["exclusion"].eq("")
    control = eligible & frame["control"]
    treated = eligible & ~frame["control"]
    suppressed = treated & frame["message_status"].eq("suppressed")
    failed = treated & frame["message_status"].eq("failed")
    to_send = treated & frame["sendable"]
    already = frame.index.isin(existing.index) if len(existing) else np.zeros(len(frame), bool)
    samples = frame.loc[to_send].sort_values("order").head(cint(sample) or 5)
    return {
        "as_of": str(as_of),
        "audience": len(frame),
        "excluded": int((~eligible).sum()),
        "excluded_by_reason": _counts(frame.loc[~eligible, "exclusion"]),
        "eligible": int(eligible.sum()),
        "control": int(control.sum()),
        "control_percent": flt(campaign.get("control_group_percent")),
        "treated": int(treated.sum()),
        "suppressed": int(suppressed.sum()),
        "suppressed_by_reason": _counts(frame.loc[suppressed, "suppression_reason"].map(_reason_head)),
        "failed": int(failed.sum()),
        "to_send": int(to_send.sum()),
        "to_send_by_channel": _counts(frame.loc[to_send, "channel"]),
        "already_recorded": int(already.sum()),
        "daily_limit": cint(campaign.get("daily_limit")),
        "days_needed": (
            math.ceil(int((to_send & ~already).sum()) / cint(campaign.get("daily_limit")))
            if cint(campaign.get("daily_limit"))
            else 1
        ),
        "sample": [
            {
                "tenancy": tenancy,
                "tenant_name": row["tenant_name"],
                "channel": row["channel"],
                "template": row["template"],
                "subject": row["subject"],
                "body": row["body"],
            }
            for tenancy, row in samples.iterrows()
        ],
    }


def _reason_head(reason: str) -> str:
    return (reason or "").split(":")[0] if (reason or "").startswith("frequency cap") else reason


def _counts(series: pd.Series) -> dict:
    return {str(k): int(v) for k, v in series.value_counts().items()} if len(series) else {}


# ---------------------------------------------------------------------------------------------------
# A campaign day


def existing_rows(campaign_name: str, period: str | None = None) -> pd.DataFrame:
    """This campaign's outbox rows (of ``period`` when given): tenancy → control_group, status, day
    recorded (one query)."""
    if not frappe.db.table_exists("Arrears Message"):
        return pd.DataFrame(columns=["control_group", "status", "day"])
    rows = frappe.db.sql(
        f"""select tenancy, control_group, status, date(creation) from `tabArrears Message`
        where campaign = %(campaign)s{" and period = %(period)s" if period else ""}""",
        {"campaign": campaign_name, "period": period},
    )
    frame = pd.DataFrame.from_records(rows, columns=["tenancy", "control_group", "status", "day"])
    return frame.drop_duplicates("tenancy").set_index("tenancy")


def select_for_day(frame: pd.DataFrame, existing: pd.DataFrame, budget: int | None) -> pd.DataFrame:
    """New eligible members in hash order, up to the ``budget``-th sendable treated message (all when
    ``budget`` is None). Control and suppressed members met on the way are taken the same day."""
    new = frame.loc[frame["exclusion"].eq("") & ~frame.index.isin(existing.index)].sort_values("order")
    if budget is None or not len(new):
        return new
    counts_towards = (new["sendable"] & ~new["control"]).to_numpy()
    if budget <= 0:
        return new.iloc[0:0]
    cumulative = np.cumsum(counts_towards)
    if cumulative[-1] <= budget:
        return new
    cut = int(np.argmax(cumulative >= budget))  # position of the budget-th message
    return new.iloc[: cut + 1]


def outbox_rows(campaign, selected: pd.DataFrame, dry_run: bool = False) -> list[dict]:
    """Arrears Message dicts for the selected members (see the module docstring for the statuses)."""
    rows = []
    code = campaign.template_code
    period = campaign_period(campaign, dry_run)
    for tenancy, member in selected.iterrows():
        control = bool(member["control"])
        status, reason = _row_status(member, control)
        if status == "queued" and dry_run:
            status, reason = "dry_run", "site-wide dry run: decided, not sent"
        channel = member["channel"] or (
            campaign.get("channel") if campaign.get("channel") != "preferred" else ""
        )
        case = member["arrears_case"] if isinstance(member["arrears_case"], str) else None
        rows.append(
            {
                "idempotency_key": f"{tenancy}|{campaign.name}|{code}|{period}",
                "tenancy": tenancy,
                "arrears_case": case,
                "customer": member["customer"],
                "patch": member["patch"],
                "channel": channel or None,
                "template": member["template"] or code,
                "action_code": CAMPAIGN_ACTION,
                "campaign": campaign.name,
                "period": period,
                "status": status,
                "reason": reason,
                "control_group": int(control),
                "recipient": _recipient(member, channel),
                "subject": "" if control else member["subject"],
                "body": "" if control else member["body"],
                # reference_doctype/name stay empty: the dispatcher fills them with what the channel made
                # (and reads a set reference as "already delivered"). The channel puts the Communication
                # on the Arrears Case (else the Tenancy), which is what threads the tenant's reply there.
            }
        )
    return rows


def _row_status(member, control: bool) -> tuple[str, str]:
    status = member["message_status"]
    reason = member["suppression_reason"] or ""
    if control:
        if status in ("send", "deferred"):
            return "cancelled", CONTROL_REASON
        return (
            "suppressed",
            f"control group; would be {'suppressed' if status == 'suppressed' else 'failed'}: {reason}",
        )
    if status in ("send", "deferred"):
        return "queued", ""
    if status == "failed":
        return "held", reason
    return "suppressed", reason


def _recipient(member, channel: str) -> str:
    if channel == "sms":
        return member["mobile"] or ""
    if channel == "email":
        return member["email"] or ""
    return ""


def enqueue(rows: list[dict]) -> dict:
    """Queue rows through the outbox (engineer A's ``enqueue_messages``: idempotent by key)."""
    if not rows:
        return {}
    from awm_frappe.host.outbox import enqueue_messages

    return enqueue_messages(rows) or {}


def sent_today(campaign_name: str, as_of, period: str) -> int:
    """Treated, sendable rows this campaign recorded on ``as_of`` (what the daily limit counts)."""
    if not frappe.db.table_exists("Arrears Message"):
        return 0
    return cint(
        frappe.db.sql(
            """select count(*) from `tabArrears Message`
            where campaign = %(campaign)s and period = %(period)s and control_group = 0
                and status not in %(not_treated)s and creation >= %(start)s and creation < %(end)s""",
            {
                "campaign": campaign_name,
                "period": period,
                "not_treated": NOT_TREATED,
                "start": get_datetime(getdate(as_of)),
                "end": get_datetime(add_days(getdate(as_of), 1)),
            },
        )[0][0]
    )


def run_campaign_day(campaign: str, as_of=None, force_window: bool = False) -> dict:
    """Advance one campaign for one day: record and queue today's members. Idempotent: rerun the same
    day (or crash half-way and rerun) and nothing is queued twice, and the daily limit still holds."""
    doc = frappe.get_doc("Communication Campaign", campaign)
    as_of = getdate(as_of or nowdate())
    outcome = {"campaign": doc.name, "as_of": str(as_of), "status": doc.status, "queued": 0, "recorded": 0}
    if doc.status not in ACTIVE_STATUSES:
        outcome["skipped"] = f"status {doc.status}"
        return outcome
    if getdate(doc.start_date) > as_of:
        outcome["skipped"] = "not started"
        return outcome
    if doc.end_date and getdate(doc.end_date) < as_of:
        _set_status(doc, "Completed", as_of)
        outcome["status"] = "Completed"
        return outcome
    if not force_window and not in_window(doc, now_datetime()):
        outcome["skipped"] = "outside the send window"
        return outcome

    settings = frappe.get_cached_doc("AWM Settings")
    dry_run = bool(cint(settings.get("dry_run")))
    period = campaign_period(doc, dry_run)
    frame = plan(doc, as_of, settings)
    existing = existing_rows(doc.name, period)
    limit = cint(doc.daily_limit)
    budget = max(limit - sent_today(doc.name, as_of, period), 0) if limit else None
    selected = select_for_day(frame, existing, budget)
    rows = outbox_rows(doc, selected, dry_run)
    ensure_action_type()
    counts = enqueue(rows)
    record_on_timelines(doc, rows, counts.get("keys") or [], as_of)
    remaining = len(frame.loc[frame["exclusion"].eq("") & ~frame.index.isin(existing.index)]) - len(selected)
    status = "Running" if remaining > 0 else "Completed"
    if doc.end_date and getdate(doc.end_date) <= as_of:
        status = "Completed"
    frappe.db.set_value(
        "Communication Campaign",
        doc.name,
        {
            "status": status,
            "last_run_date": as_of,
            "audience_count": len(frame),
            "excluded_count": int(frame["exclusion"].ne("").sum()),
        },
    )
    compute_results(doc.name, as_of)
    outcome.update(
        {
            "status": status,
            "recorded": len(rows),
            "queued": int(sum(1 for r in rows if r["status"] == "queued")),
            "control": int(sum(r["control_group"] for r in rows)),
            "remaining": int(remaining),
            "outbox": counts,
        }
    )
    return outcome


def ensure_action_type():
    if not frappe.db.exists("Arrears Action Type", CAMPAIGN_ACTION):
        frappe.get_doc(
            {
                "doctype": "Arrears Action Type",
                "code": CAMPAIGN_ACTION,
                "title": "Campaign message",
                "category": "message",
                "description": "A message sent by a Communication Campaign.",
            }
        ).insert(ignore_permissions=True)


def record_on_timelines(campaign, rows: list[dict], inserted_keys, as_of) -> int:
    """One timeline row per newly recorded member with an open case, in bulk (reference = the message).

    A queued message is a contact (channel set); a control or suppressed member's row is shown to people
    but is not an action the engine counts (by_automation + outcome 'recommended'), so holding someone
    back never changes their ladder or frequency cap."""
    from awm_frappe.host.writeback import TIMELINE_COLUMNS, bulk_insert, standard_values

    inserted = set(inserted_keys)
    rows = [r for r in rows if r["idempotency_key"] in inserted and r.get("arrears_case")]
    if not rows:
        return 0
    names = dict(
        frappe.db.sql(
            f"""select idempotency_key, name from `tabArrears Message`
            where idempotency_key in ({", ".join(["%s"] * len(rows))})""",
            [r["idempotency_key"] for r in rows],
        )
    )
    cases = sorted({r["arrears_case"] for r in rows})
    max_idx = dict(
        frappe.db.sql(
            f"""select parent, max(idx) from `tabArrears Case Action` where parenttype = 'Arrears Case'
            and parent in ({", ".join(["%s"] * len(cases))}) group by parent""",
            cases,
        )
    )
    now = now_datetime()
    user = frappe.session.user or "Administrator"
    values = []
    for r in rows:
        idx = cint(max_idx.get(r["arrears_case"])) + 1
        max_idx[r["arrears_case"]] = idx
        contact = r["status"] in ("queued", "awaiting_approval")
        if r["control_group"]:
            note = _("Campaign {0} ({1}): held back as the control group").format(
                campaign.name, campaign.title
            )
        else:
            note = _("Campaign {0} ({1})").format(campaign.name, campaign.title)
        if r.get("reason") and r["reason"] != CONTROL_REASON:
            note += f": {r['reason']}"
        values.append(
            [*standard_values(now, user), r["arrears_case"], "timeline",
             "Arrears Case", idx, getdate(as_of), CAMPAIGN_ACTION,
             (r.get("channel") or "") if contact else "",
             None, 1, None, r["status"] if contact else "recommended", note[:1000], None, r["status"],
             names.get(r["idempotency_key"])]
        )  # fmt: skip
    bulk_insert(
        "Arrears Case Action",
        TIMELINE_COLUMNS,
        values,
    )  # fmt: skip
    return len(values)


def _set_status(doc, status: str, as_of=None):
    frappe.db.set_value("Communication Campaign", doc.name, "status", status)
    doc.status = status


def in_window(doc, now: datetime) -> bool:
    start = get_time(doc.send_window_start or "00:00:00")
    end = get_time(doc.send_window_end or "23:59:59")
    moment = now.time()
    if start <= end:
        return start <= moment <= end
    return moment >= start or moment <= end  # a window across midnight


def cancel(doc) -> int:
    """Cancel the campaign and its messages not yet handed to a channel; returns how many."""
    cancelled = 0
    if frappe.db.table_exists("Arrears Message"):
        frappe.db.sql(
            """update `tabArrears Message` set status = 'cancelled', reason = %(reason)s, modified = %(now)s
            where campaign = %(campaign)s
                and status in ('queued', 'awaiting_approval', 'approved', 'held')""",
            {"campaign": doc.name, "reason": _("campaign cancelled"), "now": now_datetime()},
        )
        cancelled = frappe.db.sql("select row_count()")[0][0]
    return cint(cancelled)


# ---------------------------------------------------------------------------------------------------
# Scheduler


def schedule_campaigns(now=None):
    """Cron tick: enqueue today's day for every scheduled/running campaign inside its send window
    (long queue, job_id + deduplicate); a campaign already run today is left alone."""
    now = get_datetime(now) if now else now_datetime()
    today = now.date()
    campaigns = frappe.get_all(
        "Communication Campaign",
        filters={"status": ("in", ACTIVE_STATUSES), "start_date": ("<=", today)},
        fields=["name", "send_window_start", "send_window_end", "last_run_date", "daily_limit"],
    )
    enqueued = []
    for campaign in campaigns:
        if campaign.last_run_date and getdate(campaign.last_run_date) >= today:
            continue
        if not in_window(campaign, now):
            continue
        frappe.enqueue(
            "awm_frappe.host.campaigns.run_campaign_day_job",
            queue="long",
            timeout=3600,
            job_id=f"awm-campaign-{campaign.name}-{today}",
            deduplicate=True,
            campaign=campaign.name,
            as_of=str(today),
        )
        enqueued.append(campaign.name)
    return enqueued


def run_campaign_day_job(campaign: str, as_of=None):
    try:
        outcome = run_campaign_day(campaign, as_of)
        frappe.db.commit()
        return outcome
    except Exception:
        frappe.db.rollback()
        frappe.log_error(
            title=f"Communication Campaign {campaign} failed",
            reference_doctype="Communication Campaign",
            reference_name=campaign,
        )
        frappe.db.commit()
        raise


# ---------------------------------------------------------------------------------------------------
# Results


def member_payments(campaign: str, as_of, window_days: int = 14, kinds=PAYMENT_KINDS) -> pd.DataFrame:
    """One row per outbox row of the campaign: tenancy, control_group, status, day, amount paid and
    payments counted in [day, day + window_days] (and ≤ as_of). One query, from the configured ledger."""
    settings = frappe.get_cached_doc("AWM Settings")
    values = {"campaign": campaign, "days": cint(window_days), "as_of": getdate(as_of), "kinds": tuple(kinds)}
    if (settings.get("ledger_source") or "Rent Transaction") == "ERPNext Receivables":
        from awm_frappe.host.ledger import receivable_filter

        extra = receivable_filter("ple", values, settings.get("company"), settings.get("receivable_account"))
        payments = f"""left join `tabTenancy` t on t.name = m.tenancy
            left join `tabPayment Ledger Entry` p on p.party_type = 'Customer' and p.party = t.customer
                and p.delinked = 0 and p.account_type = 'Receivable' and p.amount < 0
                and p.voucher_type in ('Payment Entry', 'Journal Entry')
                and p.posting_date >= date(m.creation)
                and p.posting_date <= date(m.creation) + interval %(days)s day
                and p.posting_date <= %(as_of)s{extra}"""
        amount, counted = "-p.amount", "p.voucher_no"
    else:
        payments = """left join `tabRent Transaction` p on p.tenancy = m.tenancy and p.amount < 0
                and p.kind in %(kinds)s
                and p.posting_date >= date(m.creation)
                and p.posting_date <= date(m.creation) + interval %(days)s day
                and p.posting_date <= %(as_of)s"""
        amount, counted = "-p.amount", "p.name"
    rows = frappe.db.sql(
        f"""select m.name, m.tenancy, m.control_group, m.status, date(m.creation),
            coalesce(sum({amount}), 0) * 1e0, count(distinct {counted})
        from `tabArrears Message` m
        {payments}
        where m.campaign = %(campaign)s
        group by m.name, m.tenancy, m.control_group, m.status, m.creation""",
        values,
    )
    frame = pd.DataFrame.from_records(
        rows, columns=["message", "tenancy", "control_group", "status", "day", "amount", "payments"]
    )
    frame["control_group"] = frame["control_group"].fillna(0).astype(int).astype(bool)
    frame["amount"] = frame["amount"].astype(float)
    return frame


def summarise_results(frame: pd.DataFrame) -> dict:
    treated_rows = frame.loc[~frame["control_group"]]
    control_rows = frame.loc[frame["control_group"]]
    treated = treated_rows.loc[~treated_rows["status"].isin(NOT_TREATED)]
    control = control_rows.loc[control_rows["status"].eq("cancelled")]

    def group(rows: pd.DataFrame) -> dict:
        members = len(rows)
        paying = int(rows["amount"].gt(0).sum())
        amount = round(float(rows["amount"].sum()), 2)
        return {
            "members": members,
            "paying": paying,
            "amount": amount,
            "rate": round(100.0 * paying / members, 2) if members else 0.0,
            "amount_per_member": round(amount / members, 2) if members else 0.0,
        }

    t, c = group(treated), group(control)
    return {
        "targeted": len(treated_rows),
        "sent": int(treated_rows["status"].eq("sent").sum()),
        "pending": int(
            treated_rows["status"].isin(["queued", "awaiting_approval", "approved", "sending"]).sum()
        ),
        "suppressed": int(treated_rows["status"].eq("suppressed").sum()),
        "failed": int(treated_rows["status"].isin(["failed", "held"]).sum()),
        "control": len(control_rows),
        "treated": t,
        "control_group": c,
        "rate_difference": round(t["rate"] - c["rate"], 2),
        "amount_per_member_difference": round(t["amount_per_member"] - c["amount_per_member"], 2),
        "p_value": two_proportion_p(t["paying"], t["members"], c["paying"], c["members"]),
    }


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of a two-proportion z-test (None when a group is empty or the rate is 0/1)."""
    if not n1 or not n2:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (x1 / n1 - x2 / n2) / se
    return round(math.erfc(abs(z) / math.sqrt(2)), 4)


def compute_results(campaign: str, as_of=None, write: bool = True) -> dict:
    """Targeted / sent / suppressed / failed and payments within the window, messaged vs control."""
    as_of = getdate(as_of or nowdate())
    window = cint(frappe.db.get_value("Communication Campaign", campaign, "payment_window_days")) or 14
    if not frappe.db.table_exists("Arrears Message"):
        return {}
    frame = member_payments(campaign, as_of, window)
    results = summarise_results(frame)
    results.update({"as_of": str(as_of), "window_days": window})
    if write:
        t, c = results["treated"], results["control_group"]
        frappe.db.set_value(
            "Communication Campaign",
            campaign,
            {
                "results_as_of": as_of,
                "targeted": results["targeted"],
                "sent_count": results["sent"],
                "pending_count": results["pending"],
                "suppressed_count": results["suppressed"],
                "failed_count": results["failed"],
                "control_count": results["control"],
                "treated_members": t["members"],
                "treated_paying": t["paying"],
                "treated_amount": t["amount"],
                "treated_rate": t["rate"],
                "control_members": c["members"],
                "control_paying": c["paying"],
                "control_amount": c["amount"],
                "control_rate": c["rate"],
                "rate_difference": results["rate_difference"],
                "amount_per_member_difference": results["amount_per_member_difference"],
                "p_value": "" if results["p_value"] is None else f"{results['p_value']:.4f}",
            },
            update_modified=False,
        )
    return results


def refresh_results_job(as_of=None):
    """Daily: refresh results of running campaigns and of campaigns completed within their window."""
    as_of = getdate(as_of or nowdate())
    names = frappe.get_all(
        "Communication Campaign",
        filters={"status": ("in", ("Running", "Completed", "Cancelled"))},
        or_filters={"results_as_of": ("is", "not set"), "last_run_date": (">=", add_days(as_of, -60))},
        pluck="name",
    )
    for name in names:
        compute_results(name, as_of)
    frappe.db.commit()
    return names


__all__ = [
    "audience_frame",
    "compute_results",
    "control_mask",
    "exclusion_reasons",
    "plan",
    "preview",
    "run_campaign_day",
    "schedule_campaigns",
]
