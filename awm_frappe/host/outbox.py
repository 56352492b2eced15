"""The outbox: every message decided becomes one Arrears Message row, idempotently.

- ``enqueue_messages(rows)`` is the one way in (the nightly write-back and campaigns both use it): a bulk
  ``INSERT IGNORE`` keyed by the unique ``idempotency_key``
  (``tenancy|rule or campaign|template code|period``), after one bulk pre-check, so a second decision of
  the same message is a no-op, even when two workers race.
- ``from_decisions(...)`` turns the night's message decisions into outbox rows (called by
  ``writeback.write_back``) and points the night's timeline rows at them.
- ``site_templates()`` builds the engine's TemplateSet from the enabled Arrears Message Templates (the
  shipped defaults when there are none).
- Approval mode: ``approve`` / ``reject`` / ``requeue`` (whitelisted, bulk, from the Arrears Message list),
  ``switch_to_automatic(rule)``.
- ``record_outcomes(rows)`` writes a message's state onto its case timeline (update the night's row, or
  append one), in bulk.

See docs/messaging-in-frappe.md.
"""

from __future__ import annotations

import json

import frappe
from frappe import _
from frappe.utils import cint, getdate, now_datetime

DOCTYPE = "Arrears Message"
STATUSES = (
    "queued", "awaiting_approval", "approved", "rejected", "sending", "sent", "failed", "held",
    "suppressed", "cancelled", "dry_run",
)  # fmt: skip
INSERT_FIELDS = (
    "idempotency_key", "tenancy", "arrears_case", "customer", "patch", "channel", "template", "action_code",
    "rule", "campaign", "awm_run", "period", "status", "reason", "recipient", "subject", "body", "attempts",
    "next_attempt_at", "control_group", "reference_doctype", "reference_name",
)  # fmt: skip
APPROVER_ROLES = ("Income Team Leader", "AWM Manager", "System Manager")


# ---------------------------------------------------------------------------------------------------
# The way in


def enqueue_messages(rows: list[dict]) -> dict:
    """Insert outbox rows; a row whose ``idempotency_key`` exists already is skipped (a no-op).

    Each dict carries Arrears Message fields; ``idempotency_key`` is required, ``status`` defaults to
    ``queued``. Returns counts: ``{"inserted", "duplicates", "by_status": {...}, "keys": [inserted keys]}``.
    """
    counts = {"inserted": 0, "duplicates": 0, "by_status": {}, "keys": []}
    if not rows:
        return counts
    unique: dict[str, dict] = {}
    for row in rows:
        key = (row.get("idempotency_key") or "").strip()
        if not key:
            frappe.throw(_("Every outbox row needs an idempotency_key"))
        if len(key) > 140:
            frappe.throw(_("idempotency_key is longer than 140 characters: {0}").format(key))
        if key in unique:
            counts["duplicates"] += 1
            continue
        unique[key] = row
    existing = _existing_keys(list(unique))
    counts["duplicates"] += len(existing)
    fresh = [row for key, row in unique.items() if key not in existing]
    if not fresh:
        return counts
    now = now_datetime()
    user = frappe.session.user or "Administrator"
    fields = ["name", "creation", "modified", "modified_by", "owner", "docstatus", "idx", *INSERT_FIELDS]
    values = []
    for row in fresh:
        status = row.get("status") or "queued"
        if status not in STATUSES:
            frappe.throw(_("Unknown outbox status {0}").format(status))
        record = {f: row.get(f) for f in INSERT_FIELDS}
        record["status"] = status
        record["attempts"] = cint(row.get("attempts"))
        record["control_group"] = cint(row.get("control_group"))
        for link in ("arrears_case", "customer", "patch", "action_code", "rule", "campaign", "awm_run"):
            record[link] = record[link] or None
        record["reason"] = (record["reason"] or "")[:1000]
        values.append([frappe.generate_hash(length=12), now, now, user, user, 0, 0, *record.values()])
    inserted = _insert_ignore(DOCTYPE, fields, values)
    counts["inserted"] = inserted
    counts["duplicates"] += len(fresh) - inserted  # lost a race with another worker: still a no-op
    for row in fresh:
        status = row.get("status") or "queued"
        counts["by_status"][status] = counts["by_status"].get(status, 0) + 1
    counts["keys"] = [row["idempotency_key"] for row in fresh]
    return counts


def _existing_keys(keys: list[str], chunk: int = 2000) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        found.update(
            frappe.db.sql_list(
                "select idempotency_key from `tabArrears Message`"
                f" where idempotency_key in ({', '.join(['%s'] * len(part))})",
                part,
            )
        )
    return found


def _insert_ignore(doctype: str, fields: list[str], values: list[list], chunk: int = 1000) -> int:
    """Multi-row ``INSERT IGNORE``: rows whose unique key exists are dropped by the database."""
    columns = ", ".join(f"`{f}`" for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    inserted = 0
    for start in range(0, len(values), chunk):
        part = values[start : start + chunk]
        frappe.db.sql(
            f"insert ignore into `tab{doctype}` ({columns}) values {', '.join([row] * len(part))}",
            [v for r in part for v in r],
        )
        inserted += max(0, frappe.db._cursor.rowcount)
    return inserted


def make_key(tenancy: str, source: str, code: str, period: str) -> str:
    return f"{tenancy}|{source or '-'}|{code or '-'}|{period}"


# ---------------------------------------------------------------------------------------------------
# The night's decisions → outbox rows


def from_decisions(d, host, case_name, mask, run: str, dry_run: bool, today) -> dict:
    """Outbox rows for the message decisions in ``d[mask]`` (the write-back's frame, indexed by tenancy).

    Status: automation off for the patch/action → ``held``; the engine suppressed it → ``suppressed``
    (with its reason); a template failure → ``held`` with the error; dry run → ``dry_run``; a rule under
    approval → ``awaiting_approval``; otherwise ``queued`` (quiet hours and every suppression are checked
    again at dispatch). The period is the night (``as_of``); dry-run rows get their own period so a live
    run of the same night still queues its messages.
    """
    rows_frame = d[mask & d["action_type"].fillna("").eq("send_message")]
    if rows_frame.empty:
        return {"inserted": 0, "duplicates": 0, "by_status": {}}
    approval = set(frappe.get_all("Worktray Rule", filters={"approval_required": 1}, pluck="name"))
    contact = _contacts(host)
    bodies = _render_bodies(rows_frame, host, today)
    period = str(today) + ("/dry-run" if dry_run else "")
    rows = []
    for tenancy, row in rows_frame.iterrows():
        case = case_name.get(tenancy)
        channel = row.get("channel") or ""
        engine_status = row.get("message_status") or ""
        template = row.get("template") or ""
        code = template.split(":")[0] if template else row["action"]
        rule = row.get("rule") or ""
        reason = ""
        if row.get("held_reason"):
            status, reason = "held", row["held_reason"]
        elif engine_status == "suppressed":
            status, reason = "suppressed", row.get("suppression_reason") or ""
        elif engine_status == "failed":
            status, reason = "held", "template: " + (row.get("suppression_reason") or "failed to render")
        elif engine_status in ("send", "deferred") or (engine_status in ("none", "") and channel == "phone"):
            if dry_run:
                status, reason = "dry_run", "site-wide dry run: decided, not sent"
            elif rule in approval:
                status, reason = "awaiting_approval", f"rule {rule} is set to review before send"
            else:
                status = "queued"
                reason = "quiet hours" if engine_status == "deferred" else ""
        else:
            continue
        if not channel and status not in ("suppressed", "held"):
            continue
        email, mobile = contact.get(tenancy, ("", ""))
        rows.append(
            {
                "idempotency_key": make_key(tenancy, rule, code, period),
                "tenancy": tenancy,
                "arrears_case": case,
                "customer": _host_value(host, tenancy, "customer"),
                "patch": row.get("patch") or _host_value(host, tenancy, "patch"),
                "channel": channel or None,
                "template": template or code,
                "action_code": row["action"],
                "rule": rule or None,
                "awm_run": run,
                "period": period,
                "status": status,
                "reason": reason,
                "recipient": email if channel == "email" else (mobile if channel in ("sms", "phone") else ""),
                "subject": row.get("subject") or bodies.get(tenancy, ("", ""))[0],
                "body": row.get("body") or bodies.get(tenancy, ("", ""))[1],
            }
        )
    counts = enqueue_messages(rows)
    inserted = set(counts.pop("keys", []))
    if inserted:
        names = dict(
            frappe.db.sql(
                "select idempotency_key, name from `tabArrears Message`"
                f" where idempotency_key in ({', '.join(['%s'] * len(inserted))})",
                list(inserted),
            )
        )
        record_outcomes(
            [
                {**r, "name": names.get(r["idempotency_key"]), "date": getdate(today)}
                for r in rows
                if r["idempotency_key"] in inserted and r["status"] != "dry_run"
            ],
            update_only=True,
        )
    return counts


def _render_bodies(rows_frame, host, today) -> dict:
    """Subject and body of each message, rendered by the engine (sandboxed Jinja, the documented fields)
    with the template the engine chose; the decisions frame carries the choice, not the text."""
    import pandas as pd

    from awm_frappe.engine import messages
    from awm_frappe.engine.pipeline import _with_officer_contact
    from awm_frappe.host.nightly import _message_settings

    wanted = rows_frame[
        rows_frame["template"].fillna("").ne("") & rows_frame["channel"].fillna("").ne("phone")
    ]
    if wanted.empty:
        return {}
    templates = site_templates()
    settings = _message_settings(host.settings)
    frame = wanted.copy()
    frame.index = frame["tenancy"].to_numpy()
    tenancies = host.inputs.tenancies
    tenancies = tenancies.set_index("tenancy") if "tenancy" in tenancies else tenancies
    for column in ("tenant_name", "weekly_rent", "language", "tenure_type", "mobile", "email"):
        if column in tenancies and column not in frame:
            frame[column] = tenancies[column].reindex(frame.index).to_numpy()
    frame = _with_officer_contact(frame, host.inputs.officers)
    selected = pd.Series(
        [templates.templates.get(t) for t in frame["template"]], index=frame.index, dtype=object
    )
    mask = selected.notna()
    subject, body, failure = messages._render(frame, selected, mask, templates, pd.Timestamp(today), settings)
    return {t: (subject.iat[i], body.iat[i]) for i, t in enumerate(frame.index) if not failure.iat[i]}


def _contacts(host) -> dict:
    frame = host.inputs.tenancies
    if frame is None or not len(frame):
        return {}
    tenancies = frame["tenancy"] if "tenancy" in frame else frame.index.to_series()
    email = frame["email"] if "email" in frame else [""] * len(frame)
    mobile = frame["mobile"] if "mobile" in frame else [""] * len(frame)
    return {
        t: ((e if isinstance(e, str) else "") or "", (m if isinstance(m, str) else "") or "")
        for t, e, m in zip(tenancies, email, mobile, strict=False)
    }


def _host_value(host, tenancy, column):
    frame = host.tenancies
    if column in frame and tenancy in frame.index:
        value = frame.at[tenancy, column]
        return value if isinstance(value, str) and value else None
    return None


# ---------------------------------------------------------------------------------------------------
# Site templates


def site_templates():
    """The engine TemplateSet from the enabled Arrears Message Templates, with the shipped aliases; the
    shipped defaults when the site has none (or the doctype is not installed yet)."""
    from awm_frappe.engine import messages

    try:
        rows = frappe.get_all(
            "Arrears Message Template",
            filters={"enabled": 1},
            fields=["code", "channel", "body", "subject", "tenure_type", "language", "variant"],
            order_by="name asc",
        )
    except Exception:
        return messages.default_templates()
    if not rows:
        return messages.default_templates()
    shipped = json.loads(messages.DEFAULT_TEMPLATES_PATH.read_text(encoding="utf-8"))
    return messages.load_templates({"templates": rows, "aliases": shipped.get("aliases") or {}})


def seed_templates() -> list[str]:
    """Create an Arrears Message Template for each shipped template that has none (idempotent: keyed by
    the engine's template name; an administrator's edits and deletions are kept once seeded)."""
    from awm_frappe.engine import messages

    if not frappe.db.table_exists("Arrears Message Template"):
        return []
    if frappe.db.count("Arrears Message Template"):
        return []  # seeded before: never re-create what an administrator deleted
    made = []
    for template in messages.default_templates():
        name = template.name
        if frappe.db.exists("Arrears Message Template", name):
            continue
        doc = frappe.get_doc(
            {
                "doctype": "Arrears Message Template",
                "template_name": name,
                "code": template.code,
                "channel": template.channel,
                "tenure_type": template.tenure_type,
                "language": template.language,
                "variant": template.variant,
                "subject": template.subject,
                "body": template.body,
                "enabled": 1,
                "print_format": "AWM Arrears Letter"
                if template.channel == "letter" and frappe.db.exists("Print Format", "AWM Arrears Letter")
                else None,
            }
        )
        doc.insert(ignore_permissions=True)
        made.append(doc.name)
    return made


# ---------------------------------------------------------------------------------------------------
# Case timeline


def record_outcomes(rows: list[dict], update_only: bool = False) -> int:
    """Write each message's state on its case timeline, in bulk.

    ``rows``: dicts with name (the Arrears Message), arrears_case, action_code, rule, status, reason,
    channel and ``date`` (the timeline row's date: the night for rule messages). The night's row for
    (case, date, action, rule) is updated (message_status, outcome, reference = the message); when there is
    none (a campaign message, or a message the night did not write) a row is appended, unless
    ``update_only``.
    """
    from awm_frappe.host.writeback import TIMELINE_COLUMNS, bulk_insert, bulk_update, standard_values

    rows = [r for r in rows if r.get("arrears_case") and r.get("name")]
    if not rows:
        return 0
    cases = sorted({r["arrears_case"] for r in rows})
    existing = frappe.db.sql(
        f"""select name, parent, action_date, action_type, ifnull(rule, ''), reference, idx
        from `tabArrears Case Action` where parenttype = 'Arrears Case'
        and parent in ({", ".join(["%s"] * len(cases))})""",
        cases,
    )
    by_reference = {ref: name for name, _p, _d, _a, _r, ref, _i in existing if ref}
    by_key = {}
    max_idx: dict[str, int] = {}
    for name, parent, action_date, action_type, rule, _ref, idx in existing:
        by_key.setdefault((parent, str(action_date), action_type, rule), name)
        max_idx[parent] = max(max_idx.get(parent, 0), cint(idx))
    now = now_datetime()
    user = frappe.session.user or "Administrator"
    changes, inserts = {}, []
    for r in rows:
        outcome = _OUTCOME.get(r["status"], r["status"])
        notes = r.get("reason") or ""
        target = by_reference.get(r["name"]) or by_key.get(
            (r["arrears_case"], str(getdate(r.get("date"))), r.get("action_code"), r.get("rule") or "")
        )
        if target and r["status"] == "queued":
            changes[target] = {"reference": r["name"]}  # the night's "send" / "queued" stays as written
        elif target:
            change = {"message_status": r["status"], "outcome": outcome, "reference": r["name"]}
            if notes and r["status"] not in ("queued", "sent", "awaiting_approval"):
                change["notes"] = notes[:1000]
            changes[target] = change
        elif not update_only:
            idx = max_idx.get(r["arrears_case"], 0) + 1
            max_idx[r["arrears_case"]] = idx
            inserts.append(
                [*standard_values(now, user), r["arrears_case"], "timeline",
                 "Arrears Case", idx, getdate(r.get("date") or now), r.get("action_code") or None,
                 r.get("channel") or "", r.get("rule") or None, 1, None, outcome, notes[:1000], None,
                 r["status"], r["name"]]
            )  # fmt: skip
    bulk_update("Arrears Case Action", changes, modified=now, modified_by=user)
    bulk_insert(
        "Arrears Case Action",
        TIMELINE_COLUMNS,
        inserts,
    )  # fmt: skip
    return len(changes) + len(inserts)


_OUTCOME = {
    "queued": "queued",
    "awaiting_approval": "awaiting approval",
    "approved": "approved",
    "rejected": "rejected",
    "sent": "sent",
    "failed": "failed",
    "held": "held",
    "suppressed": "suppressed",
    "cancelled": "cancelled",
    "dry_run": "recommended",
}


# ---------------------------------------------------------------------------------------------------
# Approval mode


def _check_approver():
    if not set(APPROVER_ROLES) & set(frappe.get_roles()):
        frappe.throw(
            _("Only an Income Team Leader or AWM Manager can approve messages"), frappe.PermissionError
        )


def _names(names) -> list[str]:
    if isinstance(names, str):
        names = json.loads(names) if names.strip().startswith("[") else [names]
    return [n for n in names or [] if n]


@frappe.whitelist()
def approve(names) -> dict:
    """Approve messages waiting for approval (bulk, from the list view). The dispatcher sends them next.
    A rule whose messages of a run are all decided counts one more approved run; past the rule's
    ``automatic_after_approved_runs`` it is switched to automatic."""
    _check_approver()
    names = _names(names)
    updated = _set_status(
        names, "approved", from_statuses=("awaiting_approval",), approved_by=frappe.session.user
    )
    _count_approved_runs(names)
    return {"updated": updated}


@frappe.whitelist()
def reject(names, reason: str = "") -> dict:
    _check_approver()
    names = _names(names)
    why = f"rejected by {frappe.session.user}" + (f": {reason}" if reason else "")
    updated = _set_status(names, "rejected", from_statuses=("awaiting_approval", "approved"), reason=why)
    return {"updated": updated}


@frappe.whitelist()
def requeue(names) -> dict:
    """Put held / failed / suppressed / rejected messages back in the queue; dispatch re-checks them."""
    _check_approver()
    names = _names(names)
    updated = _set_status(
        names, "queued", from_statuses=("held", "failed", "suppressed", "rejected"), reason="re-queued",
        reset=True,
    )  # fmt: skip
    return {"updated": updated}


def _set_status(names, status, from_statuses, reason=None, approved_by=None, reset=False) -> int:
    if not names:
        return 0
    rows = frappe.db.sql(
        f"""select name, arrears_case, action_code, rule, channel, period, status
        from `tabArrears Message` where name in ({", ".join(["%s"] * len(names))})
        and status in ({", ".join(["%s"] * len(from_statuses))}) for update""",
        [*names, *from_statuses],
        as_dict=True,
    )
    if not rows:
        return 0
    sets = ["status = %s", "modified = %s", "modified_by = %s"]
    params = [status, now_datetime(), frappe.session.user]
    if reason is not None:
        sets.append("reason = %s")
        params.append(reason)
    if approved_by:
        sets.append("approved_by = %s")
        params.append(approved_by)
    if reset:
        sets += ["attempts = 0", "next_attempt_at = null", "claimed_by = null", "send_started_at = null"]
    picked = [r.name for r in rows]
    frappe.db.sql(
        f"update `tabArrears Message` set {', '.join(sets)}"
        f" where name in ({', '.join(['%s'] * len(picked))})",
        [*params, *picked],
    )
    record_outcomes(
        [{**r, "status": status, "reason": reason or "", "date": _period_date(r.period)} for r in rows]
    )
    return len(rows)


def _period_date(period):
    try:
        return getdate((period or "").split("/")[0])
    except Exception:
        return getdate()


def _count_approved_runs(names):
    rules = (
        frappe.db.sql_list(
            f"""select distinct rule from `tabArrears Message` where rule is not null
        and name in ({", ".join(["%s"] * len(names))})""",
            names,
        )
        if names
        else []
    )
    for rule in rules:
        runs = frappe.db.sql(
            """select count(distinct awm_run) from `tabArrears Message` m
            where m.rule = %s and m.awm_run is not null and m.approved_by is not null
            and not exists (select 1 from `tabArrears Message` w where w.rule = m.rule
                and w.awm_run = m.awm_run and w.status = 'awaiting_approval')""",
            rule,
        )[0][0]
        values = frappe.db.get_value(
            "Worktray Rule", rule, ["approved_runs", "approval_required", "automatic_after_approved_runs"],
            as_dict=True,
        )  # fmt: skip
        if not values:
            continue
        frappe.db.set_value("Worktray Rule", rule, "approved_runs", cint(runs), update_modified=False)
        threshold = cint(values.automatic_after_approved_runs)
        if values.approval_required and threshold and cint(runs) >= threshold:
            _switch(rule, f"{runs} approved runs reached the rule's threshold of {threshold}")


@frappe.whitelist()
def switch_to_automatic(rule: str) -> dict:
    """Team leader's button on the Worktray Rule: stop reviewing this rule's messages before send."""
    _check_approver()
    runs = cint(frappe.db.get_value("Worktray Rule", rule, "approved_runs"))
    _switch(rule, f"switched to automatic by {frappe.session.user} after {runs} approved runs")
    return {"rule": rule, "approval_required": 0}


def _switch(rule: str, why: str):
    frappe.db.set_value("Worktray Rule", rule, "approval_required", 0)
    frappe.get_doc(
        {"doctype": "Comment", "comment_type": "Info", "reference_doctype": "Worktray Rule",
         "reference_name": rule, "content": f"Review before send switched off: {why}"}
    ).insert(ignore_permissions=True)  # fmt: skip
