"""Write the engine's decisions back to the site in batches.

Per run (or chunk), whatever the number of tenancies, a handful of statements:
- new Arrears Cases: one reservation of names from the case naming series + one multi-row INSERT;
- changed cases: one ``UPDATE … SET col = CASE name WHEN … END`` per chunk of 1,000 cases, only for the
  columns and rows that changed;
- timeline rows (Arrears Case Action): one multi-row INSERT with parent/parenttype/parentfield/idx;
- assignments: one INSERT of ToDo rows, one UPDATE closing ToDos of reassigned/closed cases, one bulk
  UPDATE of the cases' ``_assign`` JSON (what ``ToDo.update_in_reference`` would have written);
- Tenancy's read-only arrears fields: one bulk UPDATE, changed rows only, without touching ``modified``.

No ``doc.save()``/``insert()`` per case and no ``assign_to.add``: nothing re-fires doc events, Assignment
Rules, notifications or version tracking per row.

What "performed" means. An automated action is performed when the run itself does it: a message decided
"send" in live mode (queued for the dispatcher, issue 6; this module sends nothing), or a case action (set
stage, pause, close, flag legal). Officer tasks, dry-run decisions, suppressed messages and actions held
back because automation is off for the patch or action type are *recommended*: written on the timeline with
``outcome = "recommended"`` (and a message_status saying why), shown on the case as next_action, never fed
back to the engine as history, and not repeated while the recommendation is unchanged.

Idempotency. A case already written by a run for the same as_of (and the same dry-run mode) is left alone;
a timeline row is keyed by (case, as_of, action, rule) and skipped when present; only changed columns of
changed rows are updated. Running the same night twice changes nothing the second time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import frappe
import numpy as np
import pandas as pd
from frappe.model.naming import parse_naming_series
from frappe.utils import add_days, now_datetime

from awm_frappe.arrears.doctype.arrears_case.arrears_case import PAUSE_REASONS
from awm_frappe.host.frames import CASE_OUT, RECOMMENDED, HostFrames

CHUNK = 1000
# The columns every document row needs, in the order bulk inserts list them.
DOC_COLUMNS = ("name", "creation", "modified", "owner", "modified_by", "docstatus")


def standard_values(now, user) -> list:
    """A new row's DOC_COLUMNS values: a fresh name, created and modified now by ``user``, draft. They are
    a timeline row's first six too (its owner and modified_by are the same user)."""
    return [frappe.generate_hash(length=10), now, now, user, user, 0]


# An Arrears Case Action (timeline) row, in the order its bulk inserts give the values.
TIMELINE_COLUMNS = [
    "name", "creation", "modified", "modified_by", "owner", "docstatus", "parent", "parentfield",
    "parenttype", "idx", "action_date", "action_type", "channel", "rule", "by_automation", "user",
    "outcome", "notes", "awm_run", "message_status", "reference",
]  # fmt: skip
MONEY = ("balance", "collectable_arrears", "arrears_after_grace", "priority")
FLOATS = ("weeks_owed", "risk_score")
DATES = ("next_action_due", "last_action_date", "paused_until", "opened_on", "closed_on")
LINKS = ("officer", "next_action", "next_action_rule", "last_action", "agreement", "open_case")


@dataclass
class WriteResult:
    counts: dict = field(default_factory=dict)
    opened: list = field(default_factory=list)
    closed: list = field(default_factory=list)
    timeline_rows: int = 0
    todos_created: int = 0
    todos_closed: int = 0
    skipped_already_run: int = 0


# ---------------------------------------------------------------------------------------------------
# Automation switches (AWM Settings)


def apply_switches(decisions: pd.DataFrame, settings, officers: pd.DataFrame | None, as_of) -> pd.DataFrame:
    """Where automation is off (globally, for the patch, or for the action type), an automated message goes
    to an officer's worktray instead: needs_officer, status worktray, ``held_reason`` saying why; the cases
    are then (re)allocated with the engine's allocator so officers stay balanced.

    Other automated actions (set stage, pause, close a cleared case, flag legal) do not contact the tenant
    and are not switched; dry run holds them back instead (see module docstring).
    """
    d = decisions.copy()
    d["held_reason"] = ""
    automated_msg = d["action_type"].eq("send_message") & ~d["needs_officer"].astype(bool)
    if not automated_msg.any():
        return d
    patches = {row.territory for row in settings.get("automated_patches") or [] if row.territory}
    codes = {row.action_type for row in settings.get("automated_action_types") or [] if row.action_type}
    held = pd.Series("", index=d.index, dtype=object)
    if not int(settings.get("automation_enabled") or 0):
        held[automated_msg] = "automation is off"
    else:
        if patches:
            off = automated_msg & ~d["patch"].isin(patches)
            held[off] = "automation is off for patch " + d.loc[off, "patch"].astype(str)
        if codes:
            off = automated_msg & ~d["action"].isin(codes) & held.eq("")
            held[off] = "automation is off for " + d.loc[off, "action"].astype(str)
    rerouted = held.ne("")
    if not rerouted.any():
        return d
    d["held_reason"] = held
    d.loc[rerouted, "needs_officer"] = True
    d.loc[rerouted, "status_to"] = "worktray"
    if officers is not None and len(officers):
        from awm_frappe.engine import allocation

        frame = d.set_index("tenancy")[["patch", "needs_officer", "officer", "risk_score", "priority"]].copy()
        frame["stage"] = d.set_index("tenancy")["stage_to"]
        frame["skill"] = ""
        allocated = allocation.allocate(frame, officers, as_of)
        officer = allocated.assignments["officer"].reindex(frame.index).to_numpy()
        d["officer"] = np.where(d["needs_officer"].astype(bool).to_numpy(), officer, d["officer"].to_numpy())
    return d


# ---------------------------------------------------------------------------------------------------
# The write-back


def write_back(decisions: pd.DataFrame, host: HostFrames, run: str, dry_run: bool) -> WriteResult:
    as_of = host.as_of
    today = as_of.date()
    now = now_datetime()
    user = frappe.session.user or "Administrator"
    result = WriteResult()
    if decisions is None or decisions.empty:
        result.counts = _zero_counts()
        return result

    d = decisions.copy()
    if "held_reason" not in d:
        d["held_reason"] = ""
    d = d.set_index("tenancy", drop=False)
    d.index.name = "tenancy_key"
    cases = host.cases
    rule_actions = {r.get("name"): r.get("action") or {} for r in host.pack_raw.get("rules", [])}

    # cases already written by a run for this night (same mode): leave them alone
    done = pd.Series(False, index=cases.index)
    if len(cases):
        done = cases["last_run_as_of"].astype(str).eq(str(today)) & (
            cases["last_run_dry_run"].fillna(0).astype(int).eq(int(bool(dry_run)))
        )
    skip = set(cases.index[done])
    result.skipped_already_run = len(skip)

    has_case = d.index.isin(cases.index)
    acted = d["action"].fillna("none").ne("none") & d["action"].fillna("").ne("")
    needs = d["needs_officer"].astype(bool)
    kind = d["action_type"].fillna("")
    is_msg = kind.eq("send_message")
    performed = (
        acted & ~needs & (not dry_run) & (~is_msg | d["message_status"].eq("send")) & d["held_reason"].eq("")
    )
    opening = acted & ~has_case & kind.ne("close")
    closing = acted & has_case & kind.eq("close") & performed
    live = ~d.index.isin(list(skip))

    # ---- new cases ----------------------------------------------------------------------------------
    new_rows = d[opening & live]
    names = reserve_names("Arrears Case", len(new_rows))
    new_case_of = dict(zip(new_rows.index, names, strict=False))

    # ---- target values for every case touched tonight --------------------------------------------------
    case_name = pd.Series({t: n for t, n in zip(cases.index, cases["name"], strict=False)}, dtype=object)
    case_name = pd.concat([case_name, pd.Series(new_case_of, dtype=object)])
    target_idx = d.index[(has_case | (opening & live)) & live]
    t = d.loc[target_idx]
    cur = cases.reindex(target_idx)
    t_performed = performed.loc[target_idx]
    t_needs = needs.loc[target_idx]
    t_acted = acted.loc[target_idx]

    out = pd.DataFrame(index=target_idx)
    for name in (
        "balance",
        "collectable_arrears",
        "arrears_after_grace",
        "weeks_owed",
        "risk_score",
        "priority",
    ):
        out[name] = pd.to_numeric(t[name], errors="coerce").fillna(0.0)
    out["risk_band"] = t["risk_band"].fillna("")
    out["risk_reasons"] = t["risk_reasons"].fillna("")
    out["officer"] = t["officer"].fillna("")
    current_status = cur["status"].fillna("automated")
    current_stage = cur["stage"].fillna("")
    status_to = t["status_to"].fillna("").where(t["status_to"].fillna("").ne(""), current_status)
    # a case action held back (dry run) keeps the case where it is
    keep_status = t_acted & ~t_needs & ~t_performed
    out["status"] = status_to.where(~keep_status, current_status)
    out.loc[out["status"].eq("closed") & ~closing.loc[target_idx], "status"] = current_status
    out["stage"] = t["stage_to"].fillna("").where(t_performed, current_stage)
    out["next_action"] = t["action"].where(t_acted, "")
    out["next_action_rule"] = t["rule"].fillna("").where(t_acted, "")
    out["next_action_reason"] = _reason(t).where(t_acted, "")
    out["next_action_due"] = pd.Series(as_of, index=target_idx).where(t_acted, pd.NaT)
    out["last_action"] = t["action"].where(t_performed, cur["last_action"].fillna(""))
    out["last_action_date"] = pd.Series(as_of, index=target_idx).where(t_performed, cur["last_action_date"])
    out["paused_until"] = cur["paused_until"]
    out["pause_reason"] = cur["pause_reason"].fillna("")
    pausing = t_performed & t["action_type"].eq("pause")
    for tenancy in target_idx[pausing.to_numpy()]:
        action = rule_actions.get(t.at[tenancy, "rule"], {})
        days = int(action.get("days") or action.get("pause_days") or 7)
        out.at[tenancy, "paused_until"] = pd.Timestamp(add_days(today, days))
        reason = action.get("reason") or "other"
        out.at[tenancy, "pause_reason"] = reason if reason in PAUSE_REASONS else "other"
    out["paused_until"] = pd.to_datetime(out["paused_until"])
    out["last_action_date"] = pd.to_datetime(out["last_action_date"])
    out["next_action_due"] = pd.to_datetime(out["next_action_due"])

    # ---- inserts for new cases ------------------------------------------------------------------------
    host_t = host.tenancies
    if len(new_rows):
        fields = [
            "name", "creation", "modified", "modified_by", "owner", "docstatus", "idx",
            "tenancy", "customer", "tenant_name", "patch", "opened_on", "last_run", "_assign", *CASE_OUT,
        ]  # fmt: skip
        values = []
        for tenancy in new_rows.index:
            row = out.loc[tenancy]
            values.append(
                [
                    new_case_of[tenancy],
                    now,
                    now,
                    user,
                    user,
                    0,
                    0,
                    tenancy,
                    host_t.at[tenancy, "customer"],
                    host_t.at[tenancy, "tenant_name"] or "",
                    host_t.at[tenancy, "patch"],
                    today,
                    run,
                    None,
                    *[_sql_value(name, row[name]) for name in CASE_OUT],
                ]
            )
        bulk_insert("Arrears Case", fields, values)
        result.opened = list(names)

    # ---- updates for existing cases --------------------------------------------------------------------
    existing = target_idx[target_idx.isin(cases.index)]
    changes: dict[str, dict] = {}
    if len(existing):
        new_vals = out.loc[existing]
        old_vals = cases.loc[existing]
        for name in CASE_OUT:
            diff = _differs(name, new_vals[name], old_vals[name])
            for tenancy in existing[diff]:
                changes.setdefault(cases.at[tenancy, "name"], {})[name] = _sql_value(
                    name, new_vals.at[tenancy, name]
                )
    for tenancy in d.index[closing & live]:
        change = changes.setdefault(cases.at[tenancy, "name"], {})
        action = rule_actions.get(d.at[tenancy, "rule"], {})
        change.update(
            {
                "status": "closed",
                "closed_on": today,
                "close_reason": (action.get("reason") or d.at[tenancy, "reason"] or "closed by rule")[:140],
            }
        )
        result.closed.append(cases.at[tenancy, "name"])
    for change in changes.values():
        change["last_run"] = run
    bulk_update("Arrears Case", changes, modified=now, modified_by=user)

    # ---- timeline ---------------------------------------------------------------------------------------
    result.timeline_rows = _append_timeline(
        d, host, case_name, acted & live, performed, dry_run, new_case_of, run, now, user, today
    )

    # ---- outbox (issue 6): one Arrears Message per message decided, idempotent by key; sent by dispatch ----
    from awm_frappe.host import outbox

    outbox_counts = outbox.from_decisions(d, host, case_name, acted & live, run, dry_run, today)

    # ---- assignments --------------------------------------------------------------------------------
    todo_created, todo_closed = _assignments(
        d, host, case_name, needs & live, new_case_of, set(result.closed), out, now, user, today
    )
    result.todos_created, result.todos_closed = todo_created, todo_closed

    # ---- Tenancy read-only fields -----------------------------------------------------------------
    _update_tenancies(d, host, new_case_of, set(d.index[closing & live]))

    # ---- counts -------------------------------------------------------------------------------------
    written = d.loc[live]
    result.counts = {
        "tenancies_scored": len(d),
        "cases_opened": len(new_rows),
        "escalated": int((written["stage_change"].eq("escalate") & performed.loc[written.index]).sum()),
        "de_escalated": int((written["stage_change"].eq("de-escalate") & performed.loc[written.index]).sum()),
        "closed": len(result.closed),
        "routed_to_officers": int(needs.loc[written.index].sum()),
        "messages_decided": int((is_msg & acted).loc[written.index].sum()),
        "suppressed": int(written["message_status"].eq("suppressed").sum()),
        "held": int(written["held_reason"].ne("").sum()),
        "timeline_rows": result.timeline_rows,
        "cases_updated": len(changes),
        "todos_created": todo_created,
        "todos_closed": todo_closed,
        "skipped_already_run": result.skipped_already_run,
        "outbox_queued": int(outbox_counts.get("inserted", 0)),
        "outbox_duplicates": int(outbox_counts.get("duplicates", 0)),
    }
    return result


def _zero_counts():
    return dict.fromkeys(
        ["tenancies_scored", "cases_opened", "escalated", "de_escalated", "closed", "routed_to_officers",
         "messages_decided", "suppressed", "held", "timeline_rows", "cases_updated", "todos_created",
         "todos_closed", "skipped_already_run"],
        0,
    )  # fmt: skip


def _reason(t: pd.DataFrame) -> pd.Series:
    reason = t["reason"].fillna("").astype(str)
    held = t["held_reason"].fillna("").astype(str)
    return reason.where(held.eq(""), reason + " (" + held + ")")


def _append_timeline(d, host, case_name, mask, performed, dry_run, new_case_of, run, now, user, today) -> int:
    rows = d[mask]
    if rows.empty:
        return 0
    cases = host.cases
    fields = TIMELINE_COLUMNS
    next_idx = dict(host.timeline_idx)
    values = []
    for tenancy, row in rows.iterrows():
        case = case_name.get(tenancy)
        if not case:
            continue
        rule = row["rule"] or ""
        if (case, row["action"], rule) in host.timeline_keys:
            continue
        done = bool(performed.at[tenancy])
        if not done and tenancy in cases.index and tenancy not in new_case_of:
            # the same recommendation as last night: nothing new to say
            if (
                cases.at[tenancy, "next_action"] == row["action"]
                and (cases.at[tenancy, "next_action_rule"] or "") == rule
            ):
                continue
        is_msg = row["action_type"] == "send_message"
        if row["held_reason"]:
            status = "held"
        elif is_msg and dry_run and row["message_status"] == "send":
            status = "dry_run"
        elif is_msg:
            status = row["message_status"] if row["message_status"] != "none" else ""
        else:
            status = "dry_run" if dry_run and not row["needs_officer"] else ""
        notes = row["reason"] or ""
        extra = row["held_reason"] or row.get("suppression_reason") or ""
        if extra:
            notes = f"{notes} ({extra})" if notes else extra
        if row["needs_officer"] and row["officer"]:
            notes = f"{notes} → {row['officer']}" if notes else f"→ {row['officer']}"
        idx = next_idx.get(case, 0) + 1
        next_idx[case] = idx
        values.append(
            [
                *standard_values(now, user),
                case,
                "timeline",
                "Arrears Case",
                idx,
                today,
                row["action"],
                row["channel"] or "",
                rule or None,
                1,
                None,
                "done" if done and not is_msg else ("queued" if done else RECOMMENDED),
                notes,
                run,
                status,
                None,
            ]
        )
    bulk_insert("Arrears Case Action", fields, values)
    return len(values)


def _assignments(d, host, case_name, needs_mask, new_case_of, closed_cases, out, now, user, today):
    """ToDo for every case routed to an officer (unless one is open for that officer); close the ToDos of
    cases closed tonight or moved to another officer; rewrite ``_assign`` where it changed."""
    todos = host.todos
    open_by_case: dict[str, list] = {}
    for name, case, allocated_to in todos.itertuples(index=False):
        open_by_case.setdefault(case, []).append((name, allocated_to))

    to_close: list[str] = []
    new_todos = []
    touched: set[str] = set()
    for tenancy in d.index[needs_mask]:
        officer = d.at[tenancy, "officer"]
        case = case_name.get(tenancy)
        if not officer or not case or case in closed_cases:
            continue
        current = open_by_case.get(case, [])
        for name, allocated in current:
            if allocated != officer:
                to_close.append(name)
                touched.add(case)
        if not any(allocated == officer for _, allocated in current):
            row = d.loc[tenancy]
            new_todos.append(
                [
                    *standard_values(now, user),
                    0,
                    "Open",
                    _todo_priority(row["priority"]),
                    today,
                    officer,
                    f"{row['action']}: {row['reason'] or ''}"[:500],
                    "Arrears Case",
                    case,
                    user,
                ]
            )
            touched.add(case)
    for case in closed_cases:
        for name, _ in open_by_case.get(case, []):
            to_close.append(name)
            touched.add(case)

    if new_todos:
        bulk_insert(
            "ToDo",
            ["name", "creation", "modified", "modified_by", "owner", "docstatus", "idx", "status", "priority",
             "date", "allocated_to", "description", "reference_type", "reference_name", "assigned_by"],
            new_todos,
        )  # fmt: skip
    if to_close:
        for start in range(0, len(to_close), CHUNK):
            part = to_close[start : start + CHUNK]
            frappe.db.sql(
                f"""update `tabToDo` set status = 'Closed', modified = %s, modified_by = %s
                where name in ({", ".join(["%s"] * len(part))})""",
                [now, user, *part],
            )

    if touched:
        closing = set(to_close)
        assign: dict[str, list] = {}
        for case in touched:
            assign[case] = [a for n, a in open_by_case.get(case, []) if n not in closing]
        for row in new_todos:
            assign.setdefault(row[13], [])
            if row[10] not in assign[row[13]]:
                assign[row[13]].append(row[10])
        old_assign = (
            dict(zip(host.cases["name"], host.cases["_assign"], strict=False)) if len(host.cases) else {}
        )
        changes = {}
        for case, users in assign.items():
            value = json.dumps(users)
            if (old_assign.get(case) or "[]") != value:
                changes[case] = {"_assign": value}
        bulk_update("Arrears Case", changes, modified=None)
    return len(new_todos), len(to_close)


def _todo_priority(priority) -> str:
    priority = float(priority or 0)
    return "High" if priority >= 40 else ("Medium" if priority >= 10 else "Low")


def _update_tenancies(d, host, new_case_of, closed_tenancies):
    host_t = host.tenancies
    idx = d.index[d.index.isin(host_t.index)]
    if not len(idx):
        return
    new = pd.DataFrame(index=idx)
    for name in ("balance", "arrears_after_grace", "weeks_owed", "risk_score"):
        new[name] = pd.to_numeric(d.loc[idx, name], errors="coerce").fillna(0.0)
    new["risk_band"] = d.loc[idx, "risk_band"].fillna("")
    new["risk_reasons"] = d.loc[idx, "risk_reasons"].fillna("")
    open_case = host.cases["name"].reindex(idx).fillna("")
    for tenancy, case in new_case_of.items():
        if tenancy in open_case.index:
            open_case[tenancy] = case
    for tenancy in closed_tenancies:
        open_case[tenancy] = ""
    new["open_case"] = open_case
    old = host_t.loc[idx]
    changes: dict[str, dict] = {}
    for name in new.columns:
        diff = _differs(name, new[name], old[name])
        for tenancy in idx[diff]:
            value = new.at[tenancy, name]
            changes.setdefault(tenancy, {})[name] = (
                (value or None) if name == "open_case" else _sql_value(name, value)
            )
    bulk_update("Tenancy", changes, modified=None)


# ---------------------------------------------------------------------------------------------------
# Value normalisation and comparison


def _norm(name: str, series: pd.Series) -> pd.Series:
    if name in MONEY:
        return pd.to_numeric(series, errors="coerce").fillna(0.0).astype(float).round(2)
    if name in FLOATS:
        return pd.to_numeric(series, errors="coerce").fillna(0.0).astype(float).round(4)
    if name in DATES:
        values = pd.to_datetime(series, errors="coerce")
        return values.dt.strftime("%Y-%m-%d").fillna("")
    return series.astype(object).where(series.notna(), "").astype(str)


def _differs(name: str, new: pd.Series, old: pd.Series) -> np.ndarray:
    return _norm(name, new).to_numpy() != _norm(name, old).to_numpy()


def _sql_value(name: str, value):
    if name in MONEY:
        return round(float(value), 2) if value == value and value is not None else 0.0
    if name in FLOATS:
        return round(float(value), 4) if value == value and value is not None else 0.0
    if name in DATES:
        if value is None or pd.isna(value):
            return None
        return pd.Timestamp(value).date()
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if value == "" and name in LINKS:
        return None  # an empty Link is NULL, as Frappe stores it
    return value


# ---------------------------------------------------------------------------------------------------
# Bulk SQL


def bulk_insert(doctype: str, fields: list[str], values: list[list], chunk: int = 2000) -> None:
    """Multi-row INSERT with escaped parameters (frappe.db.bulk_insert builds the same statement through
    pypika; this is the same thing without the per-value builder cost on large batches)."""
    if not values:
        return
    columns = ", ".join(f"`{f}`" for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    for start in range(0, len(values), chunk):
        part = values[start : start + chunk]
        frappe.db.sql(
            f"insert into `tab{doctype}` ({columns}) values {', '.join([row] * len(part))}",
            [v for r in part for v in r],
        )


def bulk_update(doctype: str, changes: dict[str, dict], modified=None, modified_by=None, chunk: int = CHUNK):
    """One ``UPDATE … SET col = CASE name WHEN … THEN … ELSE col END … WHERE name IN (…)`` per chunk, only
    for the columns and rows that changed. ``modified`` is set on the changed rows when given."""
    if not changes:
        return
    names = list(changes)
    for start in range(0, len(names), chunk):
        part = names[start : start + chunk]
        columns = list(dict.fromkeys(col for name in part for col in changes[name]))
        sets, params = [], []
        for col in columns:
            whens = [(name, changes[name][col]) for name in part if col in changes[name]]
            sets.append(
                f"`{col}` = case `name` {' '.join(['when %s then %s'] * len(whens))} else `{col}` end"
            )
            for name, value in whens:
                params += [name, value]
        if modified is not None:
            sets.append("`modified` = %s")
            params.append(modified)
            if modified_by:
                sets.append("`modified_by` = %s")
                params.append(modified_by)
        params += part
        frappe.db.sql(
            f"update `tab{doctype}` set {', '.join(sets)} where `name` in ({', '.join(['%s'] * len(part))})",
            params,
        )


def reserve_names(doctype: str, count: int) -> list[str]:
    """``count`` names from the doctype's naming series in one reservation (two statements), as
    ``make_autoname`` would have produced one by one."""
    if count <= 0:
        return []
    autoname = frappe.get_meta(doctype).autoname or ""
    if autoname.startswith("naming_series:"):
        autoname = frappe.get_meta(doctype).get_field("naming_series").default or ""
    captured = {}

    def capture(key, digits):
        captured["key"], captured["digits"] = key, digits
        return "{n}"

    template = parse_naming_series(autoname, doctype=doctype, number_generator=capture)
    key, digits = captured["key"], captured["digits"]
    current = frappe.db.sql("select `current` from `tabSeries` where `name` = %s for update", (key,))
    if current and current[0][0] is not None:
        start = int(current[0][0])
        frappe.db.sql("update `tabSeries` set `current` = `current` + %s where `name` = %s", (count, key))
    else:
        start = 0
        frappe.db.sql("insert into `tabSeries` (`name`, `current`) values (%s, %s)", (key, count))
    return [template.replace("{n}", str(n).zfill(digits)) for n in range(start + 1, start + count + 1)]
