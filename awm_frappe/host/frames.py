"""Read the site into the engine's frames with a handful of set-based queries (never one per tenancy).

``read_host(as_of, patches)`` returns a ``HostFrames``: the validated engine ``Inputs``, the rule pack built
from the enabled Worktray Rules, and the host-side state the write-back compares against (current case and
Tenancy values, open ToDos, timeline keys). ``load_inputs`` is the engine-only view of it.

Queries, whatever the number of tenancies (each filtered to the chunk's patches when given):
AWM Settings (1–3, cached), Tenancy (1), ledger (1), open Arrears Cases with their last AWM Run (1), their
Payment Agreements (1), prior cases / broken agreements (1), timeline rows (1), open ToDos (1), Worktray
Officers with patches (1), Worktray Rules with conditions and patches (3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import frappe
import pandas as pd
from frappe.utils import getdate

from awm_frappe.engine.packs import DEFAULT_PACK, load_raw
from awm_frappe.engine.rules import RuleError
from awm_frappe.host.ledger import days_to_dates, patch_condition, read_ledger

# Timeline rows the run wrote that were *not* performed (officer tasks, dry-run or suppressed messages,
# actions held back because automation is off): shown to people, never fed back to the engine as history.
RECOMMENDED = "recommended"

TENANCY_COLUMNS = {
    # engine column: Tenancy field
    "tenancy": "name",
    "patch": "patch",
    "tenure_type": "tenure_type",
    "weekly_rent": "weekly_rent",
    "start_date": "start_date",
    "end_date": "end_date",
    "tenant_name": "tenant_name",
    "payment_method": "payment_method",
    "uc_status": "uc_status",
    "uc_claim_date": "uc_claim_date",
    "hb_status": "hb_status",
    "vulnerable": "vulnerable",
    "vulnerability": "vulnerability",
    "language": "language",
    "preferred_channel": "preferred_channel",
    "mobile": "mobile_no",
    "email": "email_id",
    "has_postal_address": "has_postal_address",
    "do_not_contact": "do_not_contact",
    "breathing_space_until": "breathing_space_until",
    "deceased": "deceased",
    "opt_out_sms": "opt_out_sms",
    "opt_out_email": "opt_out_email",
    "opt_out_letter": "opt_out_letter",
    "opt_out_phone": "opt_out_phone",
    "plain_language": "plain_language",
}
TENANCY_FLAGS = (
    "vulnerable",
    "has_postal_address",
    "do_not_contact",
    "deceased",
    "opt_out_sms",
    "opt_out_email",
    "opt_out_letter",
    "opt_out_phone",
    "plain_language",
)
TENANCY_DATES = ("start_date", "end_date", "uc_claim_date", "breathing_space_until")
# Tenancy's read-only arrears section, written back by the run
TENANCY_OUT = (
    "balance",
    "arrears_after_grace",
    "weeks_owed",
    "risk_score",
    "risk_band",
    "risk_reasons",
    "open_case",
)

CASE_DATES = (
    "opened_on",
    "last_action_date",
    "nosp_served_date",
    "court_date",
    "eviction_date",
    "paused_until",
    "next_action_due",
)
# What the night writes to an open case (host/writeback.py) ...
CASE_OUT = (
    "status",
    "stage",
    "priority",
    "officer",
    "balance",
    "collectable_arrears",
    "arrears_after_grace",
    "weeks_owed",
    "risk_score",
    "risk_band",
    "risk_reasons",
    "next_action",
    "next_action_rule",
    "next_action_reason",
    "next_action_due",
    "last_action",
    "last_action_date",
    "paused_until",
    "pause_reason",
)
# ... and what it reads: that, plus who the case is and the facts officers record.
CASE_FIELDS = (
    "name",
    "tenancy",
    "customer",
    "tenant_name",
    "patch",
    *CASE_OUT,
    "last_letter_failed",
    "nosp_served_date",
    "court_date",
    "court_outcome",
    "eviction_date",
    "agreement",
    "opened_on",
    "last_run",
    "_assign",
)


@dataclass
class HostFrames:
    as_of: pd.Timestamp
    patches: list[str]
    settings: object
    inputs: object  # engine validation.Inputs
    pack: object  # engine rules.RulePack
    pack_raw: dict
    tenancies: (
        pd.DataFrame
    )  # host Tenancy rows, indexed by tenancy: customer, tenant_name, patch, TENANCY_OUT
    cases: pd.DataFrame  # open Arrears Cases, indexed by tenancy, CASE_FIELDS + last_run_as_of/dry_run
    todos: pd.DataFrame  # open ToDos on Arrears Cases: name, case, allocated_to
    timeline_keys: set = field(default_factory=set)  # (case, action_type, rule) rows dated as_of
    timeline_idx: dict = field(default_factory=dict)  # case -> highest timeline idx
    rule_problems: list = field(default_factory=list)
    host_rejects: list = field(default_factory=list)  # (tenancy, reason) found by the host layer
    row_counts: dict = field(default_factory=dict)


def get_settings():
    return frappe.get_cached_doc("AWM Settings")


def load_inputs(as_of, patches=None):
    """The engine ``Inputs`` (validated frames) for ``patches`` (all when empty) as of ``as_of``."""
    return read_host(as_of, patches).inputs


def read_host(as_of, patches=None, settings=None) -> HostFrames:
    from awm_frappe.engine.validation import validate_inputs

    as_of = pd.Timestamp(getdate(as_of))
    settings = settings or get_settings()
    patches = list(patches or [])

    tenancy_rows = _tenancies(patches)
    tenancies, host_tenancies, host_rejects = _tenancy_frame(tenancy_rows)
    ledger = read_ledger(as_of.date(), patches, settings)
    cases, host_cases = _cases(patches, as_of)
    actions, timeline_keys, timeline_idx = _actions(patches, as_of)
    todos = _todos(patches)
    officers = _officers(patches)
    pack_raw, rule_problems = build_pack_raw(settings)
    pack = parse_pack(pack_raw)

    inputs = validate_inputs(tenancies, ledger, cases, actions, officers)
    return HostFrames(
        as_of=as_of,
        patches=patches,
        settings=settings,
        inputs=inputs,
        pack=pack,
        pack_raw=pack_raw,
        tenancies=host_tenancies,
        cases=host_cases,
        todos=todos,
        timeline_keys=timeline_keys,
        timeline_idx=timeline_idx,
        rule_problems=rule_problems + [(p.rule, p.message) for p in getattr(pack, "problems", [])],
        host_rejects=host_rejects,
        row_counts={
            "tenancies": len(tenancies),
            "ledger": len(ledger),
            "cases": len(cases),
            "actions": len(actions),
            "officers": len(officers),
        },
    )


# ---------------------------------------------------------------------------------------------------
# Tenancies


def _tenancies(patches) -> pd.DataFrame:
    where, values = patch_condition(patches)
    fields = list(dict.fromkeys([*TENANCY_COLUMNS.values(), "customer", *TENANCY_OUT[:-1], "open_case"]))
    select = ", ".join(f"to_days(t.`{f}`) as `{f}`" if f in TENANCY_DATES else f"t.`{f}`" for f in fields)
    rows = frappe.db.sql(f"select {select} from `tabTenancy` t where 1=1{where}", values)
    return pd.DataFrame.from_records(rows, columns=fields)


def _tenancy_frame(rows: pd.DataFrame):
    """Engine tenancies frame + host columns for the write-back. Rows the host itself cannot read go to
    rejects (the engine's validation rejects the rest: weekly_rent ≤ 0, bad choices, ...)."""
    host_rejects = []
    if rows.empty:
        frame = pd.DataFrame({engine: pd.Series(dtype=object) for engine in TENANCY_COLUMNS})
        return frame, pd.DataFrame(columns=["customer", "tenant_name", "patch", *TENANCY_OUT]), host_rejects
    frame = pd.DataFrame({engine: rows[field] for engine, field in TENANCY_COLUMNS.items()})
    for name in TENANCY_DATES:
        frame[name] = days_to_dates(rows[name]).to_numpy()
    frame["weekly_rent"] = pd.to_numeric(rows["weekly_rent"], errors="coerce").astype(float)
    for name in TENANCY_FLAGS:
        frame[name] = rows[name].fillna(0).astype(int).astype(bool)
    for name in ("tenant_name", "vulnerability", "mobile", "email"):
        frame[name] = frame[name].fillna("")
    no_customer = rows["customer"].isna() | rows["customer"].eq("")
    for tenancy in rows.loc[no_customer, "name"]:
        host_rejects.append((tenancy, "customer is required"))
    frame = frame.loc[~no_customer.to_numpy()]
    host = rows[["name", "customer", "tenant_name", "patch", *TENANCY_OUT]].set_index("name")
    host.index.name = "tenancy"
    return frame.reset_index(drop=True), host, host_rejects


# ---------------------------------------------------------------------------------------------------
# Cases, agreements, history


def _cases(patches, as_of):
    where, values = patch_condition(patches)
    select = ", ".join(f"to_days(c.`{f}`) as `{f}`" if f in CASE_DATES else f"c.`{f}`" for f in CASE_FIELDS)
    rows = frappe.db.sql(
        f"""select {select}, run.as_of as last_run_as_of, run.dry_run as last_run_dry_run
        from `tabArrears Case` c
        join `tabTenancy` t on t.name = c.tenancy
        left join `tabAWM Run` run on run.name = c.last_run
        where c.status != 'closed'{where}
        order by c.creation""",
        values,
    )
    host = pd.DataFrame.from_records(rows, columns=[*CASE_FIELDS, "last_run_as_of", "last_run_dry_run"])
    for name in CASE_DATES:
        host[name] = days_to_dates(host[name]).to_numpy() if len(host) else pd.Series(dtype="datetime64[ns]")
    # one open case per tenancy is enforced by the doctype; keep the latest if a duplicate slipped in
    host = host.drop_duplicates("tenancy", keep="last").set_index("tenancy", drop=False)
    host.index.name = "tenancy_key"

    agreements = _agreements(patches)
    history = _history_counts(patches)

    cases = pd.DataFrame(
        {
            "tenancy": host["tenancy"].to_numpy(),
            "case": host["name"].to_numpy(),
            "stage": host["stage"].fillna("").to_numpy(),
            "status": host["status"].fillna("automated").to_numpy(),
            "officer": host["officer"].fillna("").to_numpy(),
            "opened_date": host["opened_on"].to_numpy(),
            "last_action": host["last_action"].fillna("").to_numpy(),
            "last_action_date": host["last_action_date"].to_numpy(),
            "last_letter_failed": host["last_letter_failed"].fillna(0).astype(bool).to_numpy(),
            "nosp_served_date": host["nosp_served_date"].to_numpy(),
            "court_date": host["court_date"].to_numpy(),
            "court_outcome": host["court_outcome"].fillna("").to_numpy(),
            "eviction_date": host["eviction_date"].to_numpy(),
            "paused_until": host["paused_until"].to_numpy(),
            "pause_reason": host["pause_reason"].fillna("").to_numpy(),
        }
    )
    if len(cases) and len(agreements):
        chosen = _choose_agreements(host, agreements)
        cases = cases.merge(chosen, on="case", how="left")
    if len(cases) and len(history):
        cases = cases.merge(history, on="tenancy", how="left")
    for name in ("prior_cases", "broken_agreements"):
        if name in cases:
            cases[name] = cases[name].fillna(0).astype(int)
    return cases, host


def _agreements(patches) -> pd.DataFrame:
    where, values = patch_condition(patches)
    rows = frappe.db.sql(
        f"""select pa.name, pa.arrears_case, to_days(pa.start_date), pa.frequency, pa.instalment * 1e0,
            pa.initial_payment * 1e0, pa.starting_balance * 1e0, pa.formal, pa.status, pa.creation
        from `tabPayment Agreement` pa
        join `tabArrears Case` c on c.name = pa.arrears_case
        join `tabTenancy` t on t.name = c.tenancy
        where c.status != 'closed' and pa.docstatus < 2{where}""",
        values,
    )
    return pd.DataFrame.from_records(
        rows,
        columns=[
            "agreement",
            "case",
            "agreement_start",
            "agreement_frequency",
            "agreement_instalment",
            "agreement_initial_payment",
            "agreement_starting_balance",
            "agreement_formal",
            "agreement_status",
            "creation",
        ],
    )


def _choose_agreements(host: pd.DataFrame, agreements: pd.DataFrame) -> pd.DataFrame:
    """Per case: the agreement the case links to, else its latest by start date (then creation)."""
    agreements = agreements.copy()
    agreements["agreement_start"] = days_to_dates(agreements["agreement_start"]).to_numpy()
    linked = set(host["agreement"].dropna())
    agreements["linked"] = agreements["agreement"].isin(linked)
    agreements = agreements.sort_values(["linked", "agreement_start", "creation"], kind="stable")
    chosen = agreements.drop_duplicates("case", keep="last")
    chosen["agreement_formal"] = chosen["agreement_formal"].fillna(0).astype(bool)
    chosen["agreement_frequency"] = chosen["agreement_frequency"].fillna("")
    chosen["agreement_status"] = chosen["agreement_status"].fillna("")
    return chosen.drop(columns=["agreement", "creation", "linked"])


def _history_counts(patches) -> pd.DataFrame:
    """Closed cases and breached agreements per tenancy (the engine's prior_cases, broken_agreements)."""
    where, values = patch_condition(patches)
    rows = frappe.db.sql(
        f"""select t.name,
            (select count(*) from `tabArrears Case` c where c.tenancy = t.name and c.status = 'closed'),
            (select count(*) from `tabPayment Agreement` pa
                where pa.tenancy = t.name and pa.status = 'breached')
        from `tabTenancy` t
        where (exists (select 1 from `tabArrears Case` c where c.tenancy = t.name and c.status = 'closed')
            or exists (select 1 from `tabPayment Agreement` pa
                where pa.tenancy = t.name and pa.status = 'breached'))
            {where}""",
        values,
    )
    return pd.DataFrame.from_records(rows, columns=["tenancy", "prior_cases", "broken_agreements"])


def _actions(patches, as_of: pd.Timestamp):
    """Timeline rows → the engine's actions frame (performed actions only) and today's row keys."""
    where, values = patch_condition(patches)
    rows = frappe.db.sql(
        f"""select c.tenancy, a.parent, to_days(a.action_date), a.action_type, a.rule, a.channel,
            a.by_automation, a.outcome, a.idx
        from `tabArrears Case Action` a
        join `tabArrears Case` c on c.name = a.parent
        join `tabTenancy` t on t.name = c.tenancy
        where a.parenttype = 'Arrears Case'{where}""",
        {"as_of": as_of.date(), **values},
    )
    frame = pd.DataFrame.from_records(
        rows,
        columns=["tenancy", "case", "date", "action", "rule", "channel", "by_automation", "outcome", "idx"],
    )
    timeline_idx = frame.groupby("case")["idx"].max().astype(int).to_dict() if len(frame) else {}
    frame["date"] = (
        days_to_dates(frame["date"]).to_numpy() if len(frame) else pd.Series(dtype="datetime64[ns]")
    )
    frame["rule"] = frame["rule"].fillna("")
    frame["channel"] = frame["channel"].fillna("")
    frame = frame[frame["date"].notna() & (frame["date"] <= as_of)]
    today = frame[frame["date"].eq(as_of)]
    keys = set(zip(today["case"], today["action"], today["rule"], strict=False))
    performed = ~(
        frame["by_automation"].fillna(0).astype(int).astype(bool) & frame["outcome"].eq(RECOMMENDED)
    )
    actions = frame.loc[performed, ["tenancy", "date", "action", "rule", "channel"]].reset_index(drop=True)
    return actions, keys, timeline_idx


def _todos(patches) -> pd.DataFrame:
    where, values = patch_condition(patches)
    rows = frappe.db.sql(
        f"""select td.name, td.reference_name, td.allocated_to
        from `tabToDo` td
        join `tabArrears Case` c on c.name = td.reference_name
        join `tabTenancy` t on t.name = c.tenancy
        where td.reference_type = 'Arrears Case' and td.status = 'Open'{where}
        order by td.creation""",
        values,
    )
    return pd.DataFrame.from_records(rows, columns=["name", "case", "allocated_to"])


def _officers(patches) -> pd.DataFrame:
    rows = frappe.db.sql(
        """select o.name, coalesce(o.full_name, u.full_name, ''), coalesce(o.phone, ''),
            group_concat(p.territory order by p.idx separator ';'), coalesce(o.skills, ''), o.capacity * 1e0,
            to_days(o.absent_until)
        from `tabWorktray Officer` o
        join `tabUser` u on u.name = o.user and u.enabled = 1
        left join `tabWorktray Officer Patch` p on p.parent = o.name and p.parenttype = 'Worktray Officer'
        where o.enabled = 1
        group by o.name"""
    )
    frame = pd.DataFrame.from_records(
        rows, columns=["officer", "name", "phone", "patches", "skills", "capacity", "absent_until"]
    )
    frame["patches"] = frame["patches"].fillna("")
    frame["skills"] = frame["skills"].fillna("").str.replace(",", ";")
    frame["absent_until"] = (
        days_to_dates(frame["absent_until"]).to_numpy() if len(frame) else pd.Series(dtype="datetime64[ns]")
    )
    if patches and len(frame):
        wanted = set(patches)
        works = frame["patches"].map(lambda value: bool(wanted & set(filter(None, value.split(";")))))
        frame = frame.loc[works]
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------
# Rules


def shipped_pack_raw(name: str = DEFAULT_PACK, problems: list | None = None) -> dict:
    """The shipped pack a site's rules build on (its settings and stages); uk-ladder for an unknown name."""
    try:
        return load_raw(name)
    except RuleError as error:
        if problems is not None:
            problems.append(("(pack)", f"{error}; using {DEFAULT_PACK}'s settings and stages"))
        return load_raw(DEFAULT_PACK)


def build_pack_raw(settings=None) -> tuple[dict, list]:
    """The engine pack dict from the enabled Worktray Rules (ordered by priority) and AWM Settings.

    A rule whose host record cannot be turned into an engine rule is reported and skipped; rules the engine
    refuses are reported by ``parse_pack`` (RulePack.problems) and skipped there. With no Worktray Rule
    records at all (a site where install has not run) the shipped uk-ladder pack is used.
    """
    settings = settings or get_settings()
    rule_rows = frappe.db.sql(
        "select * from `tabWorktray Rule` where enabled = 1 order by priority asc, name asc", as_dict=True
    )
    problems = []
    if not rule_rows and not frappe.db.count("Worktray Rule"):
        return _with_settings(shipped_pack_raw(), settings, problems), problems

    conditions = frappe.db.sql(
        """select * from `tabWorktray Rule Condition` where parenttype = 'Worktray Rule'
        order by parent, idx""",
        as_dict=True,
    )
    scopes = frappe.db.sql(
        """select parent, territory from `tabWorktray Rule Patch` where parenttype = 'Worktray Rule'
        order by parent, idx""",
        as_dict=True,
    )
    by_parent: dict[str, list] = {}
    for row in conditions:
        by_parent.setdefault(row.parent, []).append(row)
    scope_by_parent: dict[str, list] = {}
    for row in scopes:
        scope_by_parent.setdefault(row.parent, []).append(row)

    packs = [row.pack for row in rule_rows if row.get("pack")]
    base = shipped_pack_raw(max(set(packs), key=packs.count) if packs else DEFAULT_PACK, problems)
    rules = []
    for row in rule_rows:
        try:
            rules.append(rule_to_engine(row, by_parent.get(row.name, []), scope_by_parent.get(row.name, [])))
        except Exception as exc:  # a broken record never stops the others
            problems.append((row.name, f"cannot read rule: {exc}"))
    raw = {**base, "rules": rules}
    return _with_settings(raw, settings, problems), problems


def _with_settings(raw: dict, settings, problems: list) -> dict:
    """The pack's own settings, overridden by AWM Settings (rule_pack_settings holds only overrides)."""
    raw = dict(raw)
    pack_settings = dict(raw.get("settings") or {})
    extra = settings.get("rule_pack_settings")
    if extra:
        try:
            extra = json.loads(extra) if isinstance(extra, str) else dict(extra)
        except (TypeError, ValueError) as error:
            problems.append(("(settings)", f"AWM Settings rule_pack_settings is not a JSON object: {error}"))
            extra = {}
        if "stages" in extra:
            raw["stages"] = extra.pop("stages")
        pack_settings.update(extra)
    if settings.get("agreement_tolerance_days") not in (None, ""):
        pack_settings["agreement_tolerance_days"] = int(settings.get("agreement_tolerance_days"))
    raw["settings"] = pack_settings
    return raw


def rule_to_engine(row, conditions, scope) -> dict:
    """A Worktray Rule row (+ child rows) as the engine's rule JSON, via the doctype controller."""
    doc = frappe.get_doc(
        {
            "doctype": "Worktray Rule",
            **{k: v for k, v in row.items() if k not in ("doctype",)},
            "conditions": [dict(c) for c in conditions],
            "patches": [dict(p) for p in scope],
        }
    )
    if hasattr(doc, "as_engine_rule"):
        return doc.as_engine_rule()
    raise ValueError("Worktray Rule has no as_engine_rule()")


def parse_pack(raw: dict):
    from awm_frappe.engine import rules

    return rules.parse_pack(raw)


__all__ = ["HostFrames", "build_pack_raw", "load_inputs", "read_host", "shipped_pack_raw"]
