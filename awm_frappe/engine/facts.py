"""Case facts and the case frame the rules engine evaluates.

``compute_facts`` derives, for every tenancy as of a date, the facts of docs/engine.md "Case facts"
(Hackney's classifier facts, DESIGN.md appendix) from the open-case state, the action history and the
ledger features. ``build_case_frame`` joins tenancy columns + ledger features + facts into THE frame:
one row per tenancy, indexed by ``tenancy`` (the id is the index, not a column).

Definitions and the choices behind them:
- Tenancies without a case row: ``has_case`` False, text fields ``''`` (``status`` too), dates NaT,
  flags False, counts 0.
- ``last_action``/``last_action_date``: the cases frame's values, unless the action history (dated ≤
  as_of) holds a later action, which then wins; codes in the ``contact_only_actions`` setting (campaign
  messages) never count as the last action. ``last_contact_*``: the latest history action with a
  non-empty channel. On a date tie the later row of ``actions`` wins. History dated after as_of is
  ignored, like the ledger.
- ``last_<code>_date`` for every code in ``actions`` (at any date, so the columns do not change with
  as_of) or in ``action_codes``; NaT until that action happens on or before as_of. A code whose field name
  would shadow a fixed field (e.g. code ``payment`` → ``last_payment_date``) is not given a column: the
  fixed field keeps its meaning (see ``shadowed_action_codes``).
- Court: ``court_date_future`` = court date > as_of; ``court_date_past`` = court date ≤ as_of (Hackney:
  "not in the future", so on the hearing day the outcome is expected and counts as missing). The two
  split every recorded date.
- ``paused`` = paused_until > as_of; ``breathing_space`` = breathing_space_until ≥ as_of.
- NOSP: expiry = served + ``nosp_notice``; valid while as_of ≤ expiry + ``nosp_valid``; active = valid
  and as_of > expiry. Durations come from the pack settings (``DEFAULT_SETTINGS`` otherwise).
- ``warrant_active``: outcome in ``WARRANT_OUTCOMES`` and court date > as_of − ``warrant_window``
  (Hackney: "court date > 6.years.ago").
- Agreements come from ``agreements.evaluate_agreements`` with ``agreement_tolerance_days``, measured on
  the balance less this rent week's net charges (see ``_agreement_measure``). ``formal``
  and ``informal`` are only true when an agreement exists.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pandas as pd

from awm_frappe.engine.agreements import evaluate_agreements
from awm_frappe.engine.durations import parse_duration
from awm_frappe.engine.features import PreparedLedger, compute_features, positions_in
from awm_frappe.engine.fields import FACT_FIELDS, KNOWN_FIELDS, last_action_field
from awm_frappe.engine.schema import (
    ACTIONS,
    AGREEMENT_OUTCOMES,
    CASES,
    OUTRIGHT_OUTCOMES,
    TENANCIES,
    WARRANT_OUTCOMES,
    Column,
    FrameSpec,
)

DEFAULT_SETTINGS = {
    "nosp_notice": "28 days",
    "nosp_valid": "52 weeks",
    "warrant_window": "6 years",
    "agreement_tolerance_days": 5,
    # Contact that is not a step of the ladder: it counts for last_contact_* and last_<code>_date, never
    # as last_action, so a campaign text between Letter 1 and Letter 2 does not reset the ladder's clock.
    "contact_only_actions": ["campaign_message"],
}
_NAT = np.datetime64("NaT", "ns")
# Case-state columns passed through to the frame as recorded (after defaults).
_CASE_PASSTHROUGH = (
    "stage",
    "status",
    "officer",
    "last_letter_failed",
    "paused_until",
    "pause_reason",
    "eviction_date",
    "court_date",
    "court_outcome",
    "nosp_served_date",
    "agreement_start",
    "prior_cases",
    "broken_agreements",
)


def shadowed_action_codes(codes) -> list[str]:
    """Action codes whose ``last_<code>_date`` would collide with a fixed field (and so get no column)."""
    return [code for code in codes if last_action_field(code) in KNOWN_FIELDS]


def compute_facts(
    tenancies: pd.DataFrame,
    features: pd.DataFrame,
    cases: pd.DataFrame | None,
    actions: pd.DataFrame | None,
    as_of,
    settings: dict | None = None,
    action_codes=(),
) -> pd.DataFrame:
    """Every ``fields.FACT_FIELDS`` field plus ``last_<code>_date`` per action code, indexed by tenancy."""
    as_of = pd.Timestamp(as_of).normalize()
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    ids = pd.Index(tenancies["tenancy"], name="tenancy")
    case = _case_state(cases, ids)
    actions = with_defaults(actions, ACTIONS)
    history = _history(actions, ids, as_of)
    # Codes come from the whole history so the columns do not depend on as_of.
    codes = [*actions["action"].unique(), *action_codes]

    facts = pd.DataFrame(index=ids)
    facts["has_case"] = case["has_case"]
    for name in _CASE_PASSTHROUGH:
        facts[name] = case[name]
    facts[["last_action", "last_action_date"]] = _last_action(case, history, settings["contact_only_actions"])
    facts[["last_contact_date", "last_contact_channel"]] = _last_contact(history, ids)
    _add_court_and_pause_facts(facts, as_of, settings)
    facts["breathing_space"] = (_dates(tenancies, "breathing_space_until") >= as_of).to_numpy()
    _add_nosp_facts(facts, as_of, settings)
    _add_agreement_facts(facts, case, _agreement_measure(features, ids), as_of, settings)
    facts["risk_score"] = np.nan
    facts["risk_band"] = ""
    ordered = facts[list(FACT_FIELDS)]
    return pd.concat([ordered, _last_dates_by_code(history, ids, codes)], axis=1)


def build_case_frame(
    tenancies: pd.DataFrame,
    ledger: pd.DataFrame | PreparedLedger,
    cases: pd.DataFrame | None,
    actions: pd.DataFrame | None,
    as_of,
    settings: dict | None = None,
    action_codes=(),
    stage: Callable[[str], AbstractContextManager] | None = None,
) -> pd.DataFrame:
    """Tenancy columns + ledger features + case facts: one row per tenancy, indexed by ``tenancy``.

    ``stage(name)``, when given, wraps each step (``features``, ``facts``) so a caller can time them.
    """
    stage = stage or (lambda name: nullcontext())
    tenancies = with_defaults(tenancies, TENANCIES)
    with stage("features"):
        features = compute_features(tenancies, ledger, as_of)
    with stage("facts"):
        facts = compute_facts(tenancies, features, cases, actions, as_of, settings, action_codes)
    base = tenancies.set_index("tenancy")
    base.index.name = "tenancy"
    # An export may carry its own `balance` or `stage`; the engine's derived fields win, and one
    # extra column must not break the night for everyone.
    base = base.drop(columns=features.columns.union(facts.columns), errors="ignore")
    return pd.concat([base, features, facts], axis=1)


# --- input conformance --------------------------------------------------------------------------------


def with_defaults(frame: pd.DataFrame | None, spec: FrameSpec) -> pd.DataFrame:
    """``frame`` with every column of ``spec``: missing columns and missing values get the defaults."""
    frame = pd.DataFrame(columns=spec.names) if frame is None else frame.copy()
    for column in spec.columns:
        if column.name in frame:
            frame[column.name] = _conform(frame[column.name], column)
        else:
            frame[column.name] = _default_column(column, frame.index)
    return frame


def _default_column(column: Column, index: pd.Index) -> pd.Series:
    if column.kind == "date":
        return pd.Series(_NAT, index=index, dtype="datetime64[ns]")
    if column.kind in ("float", "int"):
        default = np.nan if column.default is None else column.default
        return pd.Series(default, index=index, dtype=np.float64 if column.kind == "float" else np.int64)
    if column.kind == "bool":
        return pd.Series(bool(column.default), index=index, dtype=bool)
    return pd.Series(column.default or "", index=index, dtype=object)


def _conform(values: pd.Series, column: Column) -> pd.Series:
    """Fill missing values with the column default, keeping well-typed columns as they are."""
    if column.kind == "date":
        return pd.to_datetime(values).astype("datetime64[ns]")
    if column.kind == "float":
        numbers = pd.to_numeric(values, errors="coerce").astype(np.float64)
        return numbers.fillna(column.default) if column.default is not None else numbers
    if column.kind == "int":
        return pd.to_numeric(values, errors="coerce").fillna(column.default or 0).astype(np.int64)
    # bool and str are filled in numpy: pandas' object fillna/where warn about downcasting on some versions.
    if column.kind == "bool":
        if values.dtype == bool:
            return values
        filled = values.to_numpy(dtype=object, copy=True)
        filled[pd.isna(filled)] = bool(column.default)
        return pd.Series(filled.astype(bool), index=values.index)
    if column.kind == "str" and values.isna().any():
        filled = values.to_numpy(dtype=object, copy=True)
        filled[pd.isna(filled)] = column.default or ""
        return pd.Series(filled, index=values.index, dtype=object)
    return values


def _take(values: np.ndarray, positions: np.ndarray, missing) -> np.ndarray:
    """values[positions], with ``missing`` where the position is -1."""
    if not len(values):
        return np.full(len(positions), missing, dtype=object if values.dtype.kind in "OU" else values.dtype)
    taken = values[np.maximum(positions, 0)]
    if values.dtype.kind in "OU":
        taken = taken.astype(object)
    taken[positions < 0] = missing
    return taken


def _case_state(cases: pd.DataFrame | None, ids: pd.Index) -> pd.DataFrame:
    """One row per tenancy: the case's recorded state, or the no-case values."""
    cases = with_defaults(cases, CASES).drop_duplicates("tenancy", keep="last")
    positions = np.full(len(ids), -1, dtype=np.int64)
    found = positions_in(cases["tenancy"], ids)
    positions[found[found >= 0]] = np.flatnonzero(found >= 0)
    state = pd.DataFrame(index=ids)
    state["has_case"] = positions >= 0
    for column in CASES.columns[1:]:
        values = cases[column.name].to_numpy()
        state[column.name] = _take(values, positions, _no_case_value(column))
    return state


def _no_case_value(column: Column):
    return {"date": _NAT, "float": np.nan, "int": 0, "bool": False, "str": ""}[column.kind]


def _history(actions: pd.DataFrame, ids: pd.Index, as_of: pd.Timestamp) -> pd.DataFrame:
    """These tenancies' actions dated ≤ as_of, oldest first (stable on ties); ``row`` = tenancy position."""
    rows = positions_in(actions["tenancy"], ids)
    keep = (rows >= 0) & (actions["date"] <= as_of).to_numpy()
    history = pd.DataFrame(
        {
            "row": rows[keep],
            "date": actions["date"].to_numpy()[keep],
            "action": actions["action"].to_numpy(dtype=object)[keep],
            "channel": actions["channel"].to_numpy(dtype=object)[keep],
        }
    )
    return history.sort_values("date", kind="stable").reset_index(drop=True)


# --- facts ---------------------------------------------------------------------------------------------


def _latest(history: pd.DataFrame, count: int) -> np.ndarray:
    """For each of ``count`` tenancies, the index of its latest history row (-1 when none)."""
    latest = np.full(count, -1, dtype=np.int64)
    np.maximum.at(latest, history["row"].to_numpy(), np.arange(len(history)))
    return latest


def _last_action(case: pd.DataFrame, history: pd.DataFrame, contact_only) -> pd.DataFrame:
    """The later of the recorded last action and the history's, leaving out contact-only codes (a
    recorded one counts as not recorded, so the history's last ladder step shows through)."""
    steps = history[~history["action"].isin(contact_only)].reset_index(drop=True)
    latest = _latest(steps, len(case))
    date = _take(steps["date"].to_numpy(), latest, _NAT)
    action = _take(steps["action"].to_numpy(), latest, "")
    recorded_action = case["last_action"].to_numpy()
    contact = np.isin(recorded_action, list(contact_only))
    recorded_action = np.where(contact, "", recorded_action)
    recorded_date = np.where(contact, _NAT, case["last_action_date"].to_numpy())
    history_is_later = ~np.isnat(date) & ~(date <= recorded_date)
    return pd.DataFrame(
        {
            "last_action": np.where(history_is_later, action, recorded_action),
            "last_action_date": np.where(history_is_later, date, recorded_date),
        },
        index=case.index,
    )


def _last_contact(history: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    contacts = history.loc[history["channel"].str.strip().ne("").to_numpy()].reset_index(drop=True)
    latest = _latest(contacts, len(ids))
    return pd.DataFrame(
        {
            "last_contact_date": _take(contacts["date"].to_numpy(), latest, _NAT),
            "last_contact_channel": _take(contacts["channel"].to_numpy(), latest, ""),
        },
        index=ids,
    )


def _last_dates_by_code(history: pd.DataFrame, ids: pd.Index, codes) -> pd.DataFrame:
    codes = [c for c in dict.fromkeys(codes) if str(c).strip()]
    codes = [c for c in codes if c not in shadowed_action_codes(codes)]
    column = pd.Index(codes, dtype=object).get_indexer(pd.Index(history["action"], dtype=object))
    known = column >= 0
    cell = history["row"].to_numpy()[known] * len(codes) + column[known]
    latest = pd.Series(history["date"].to_numpy()[known]).groupby(cell).max()
    grid = np.full(len(ids) * len(codes), _NAT, dtype="datetime64[ns]")
    grid[latest.index.to_numpy()] = latest.to_numpy()
    columns = [last_action_field(code) for code in codes]
    return pd.DataFrame(grid.reshape(len(ids), len(codes)), index=ids, columns=columns)


def _add_court_and_pause_facts(facts: pd.DataFrame, as_of: pd.Timestamp, settings: dict) -> None:
    court_date, outcome = facts["court_date"], facts["court_outcome"].str.strip().str.upper()
    facts["court_outcome"] = outcome
    facts["paused"] = facts["paused_until"] > as_of
    facts["eviction_date_set"] = facts["eviction_date"].notna()
    facts["court_date_set"] = court_date.notna()
    facts["court_date_future"] = court_date > as_of
    facts["court_date_past"] = court_date <= as_of
    facts["court_outcome_missing"] = facts["court_date_past"] & (outcome == "")
    facts["prevent"] = facts["paused"] | facts["eviction_date_set"] | facts["court_date_future"]
    warrant_since = as_of - parse_duration(settings["warrant_window"])
    facts["warrant_active"] = outcome.isin(WARRANT_OUTCOMES) & (court_date > warrant_since)
    facts["outright_possession"] = outcome.isin(OUTRIGHT_OUTCOMES)
    facts["outcome_implies_agreement"] = outcome.isin(AGREEMENT_OUTCOMES)


def _add_nosp_facts(facts: pd.DataFrame, as_of: pd.Timestamp, settings: dict) -> None:
    served = facts["nosp_served_date"]
    expiry = served + parse_duration(settings["nosp_notice"])
    facts["nosp_served"] = served.notna()
    facts["nosp_expiry_date"] = expiry
    facts["nosp_valid"] = (expiry + parse_duration(settings["nosp_valid"])) >= as_of
    facts["nosp_active"] = facts["nosp_valid"] & (as_of > expiry)


def _agreement_measure(features: pd.DataFrame, ids: pd.Index) -> pd.Series:
    """What an agreement is judged on: the balance, less this rent week's net charges.

    This week's rent is not yet overdue, so the raw balance would show a kept weekly agreement as
    breached from Monday until payday; but this week's payments do count, or a tenant who paid on the
    due day would look breached at the weekend (collectable arrears ignore them).
    """
    if "balance" not in features:
        return pd.Series(0.0, index=ids)
    if "this_week_net" not in features:
        return features["balance"]
    return features["balance"] - features["this_week_net"].clip(lower=0)


def _add_agreement_facts(
    facts: pd.DataFrame, case: pd.DataFrame, balance: pd.Series, as_of: pd.Timestamp, settings: dict
) -> None:
    tolerance = int(settings["agreement_tolerance_days"])
    checked = evaluate_agreements(case, balance, as_of, tolerance_days=tolerance)
    status = checked["agreement_status"]
    exists = case["agreement_start"].notna()
    formal = exists & case["agreement_formal"]
    facts["agreement_exists"] = exists
    facts["agreement_live"] = status == "live"
    facts["agreement_breached"] = status == "breached"
    facts["agreement_completed"] = status == "completed"
    facts["agreement_formal"] = formal
    facts["agreement_informal"] = exists & ~formal
    facts["agreement_status"] = status
    facts["agreement_expected_balance"] = checked["agreement_expected_balance"]
    facts["agreement_shortfall"] = checked["agreement_shortfall"]
    started_since_court = facts["court_date_set"] & (facts["agreement_start"] >= facts["court_date"])
    facts["court_breach"] = facts["agreement_breached"] & formal & started_since_court
    facts["informal_breach"] = facts["agreement_breached"] & facts["agreement_informal"]
    facts["formal_agreement_since_court"] = formal & started_since_court


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    return pd.to_datetime(frame[column])
