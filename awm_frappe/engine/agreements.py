"""The nightly agreement check: is each tenancy's most recent payment agreement being kept?

``evaluate_agreements(cases, balance, as_of, tolerance_days=5)`` follows docs/engine.md, "Agreements":

- Instalments fall due on ``agreement_start + k × period`` for k = 0, 1, ... (weekly 7 days, fortnightly 14,
  4-weekly 28, monthly one calendar month — the k-th due date is start + k months with the day clipped
  to the month's end, as ``pd.DateOffset(months=k)`` does, so a 31 January agreement falls due on
  28/29 February and 31 March).
- An instalment counts once ``tolerance_days`` have passed since its due date, i.e. on as_of ≥ due +
  tolerance_days (Hackney's check: "start + tolerance, then every period"). With the default 5 days an
  instalment due on a Monday is expected from Saturday. The initial payment counts likewise from the
  start date.
- expected balance = starting balance − initial payment (once counted) − instalments counted ×
  instalment, never below 0. shortfall = balance − expected (positive = behind).
- status: a recorded ``cancelled`` or ``completed`` agreement keeps that status; otherwise ``completed``
  when balance ≤ 0, ``breached`` when balance > expected, else ``live``. A recorded ``breached`` is
  re-checked every night, so a tenant who catches up is ``live`` again (de-escalation: agreement kept).
  No agreement (no start date) → ``''``.

Choices: a cancelled agreement expects nothing, so its expected balance and shortfall are NaN. An
agreement missing its frequency, instalment or starting balance cannot be checked: expected and shortfall
are NaN and it is never ``breached`` (still ``completed`` when the balance is cleared). A missing initial
payment means 0. A tenancy absent from ``balance`` has balance 0 (no transactions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PERIOD_DAYS = {"weekly": 7, "fortnightly": 14, "4-weekly": 28}
MONTHLY = "monthly"
AGREEMENT_RESULT_COLUMNS = (
    "agreement_expected_balance",
    "agreement_shortfall",
    "agreement_status",
    "agreement_instalments_due",
)
_KEPT_STATUSES = ("cancelled", "completed")


def evaluate_agreements(
    cases: pd.DataFrame | None, balance: pd.Series, as_of, tolerance_days: int = 5
) -> pd.DataFrame:
    """Expected balance, shortfall, status and instalments counted for each case's agreement.

    ``cases`` has one row per tenancy (a ``tenancy`` column or index); ``balance`` is indexed by tenancy.
    The result is indexed by tenancy in the order of ``cases``.
    """
    cases = _by_tenancy(cases)
    as_of = pd.Timestamp(as_of).normalize()
    counted_until = as_of - pd.Timedelta(days=int(tolerance_days))
    start = _dates(cases, "agreement_start")
    frequency = _text(cases, "agreement_frequency")

    instalments = instalments_due(start, frequency, counted_until)
    initial_counted = start.notna() & (start <= counted_until)
    initial = _numbers(cases, "agreement_initial_payment").fillna(0.0).where(initial_counted, 0.0)
    paid_down = initial + instalments * _numbers(cases, "agreement_instalment")
    expected = (_numbers(cases, "agreement_starting_balance") - paid_down).clip(lower=0.0)

    current = balance.reindex(cases.index).astype(np.float64).fillna(0.0)
    recorded = _text(cases, "agreement_status")
    status = _status(start.notna(), recorded, current, expected)
    expected = expected.where(status != "cancelled")
    return pd.DataFrame(
        {
            "agreement_expected_balance": expected,
            "agreement_shortfall": current - expected,
            "agreement_status": status,
            "agreement_instalments_due": instalments.fillna(0).astype(np.int64),
        },
        index=cases.index,
    )


def instalments_due(start: pd.Series, frequency: pd.Series, counted_until: pd.Timestamp) -> pd.Series:
    """How many due dates start + k·period (k ≥ 0) fall on or before ``counted_until``.

    NaN when the agreement has no start or an unknown frequency; 0 when it starts later.
    """
    elapsed = (counted_until - start).dt.days.astype(np.float64)
    period = frequency.map(PERIOD_DAYS).astype(np.float64)
    by_period = np.floor(elapsed / period) + 1
    by_month = _monthly_due(start, counted_until)
    due = by_period.where(frequency != MONTHLY, by_month)
    return due.clip(lower=0).where(start.notna())


def _monthly_due(start: pd.Series, counted_until: pd.Timestamp) -> pd.Series:
    """Count of k ≥ 0 with start + k calendar months ≤ counted_until, by year*12+month arithmetic."""
    months = (counted_until.year * 12 + counted_until.month) - (start.dt.year * 12 + start.dt.month)
    # The due day in counted_until's month is start's day clipped to that month's length.
    due_day = np.minimum(start.dt.day, counted_until.days_in_month)
    not_yet = counted_until.day < due_day
    return (months - not_yet.astype(np.float64) + 1).astype(np.float64)


def _status(has_agreement, recorded, current, expected) -> pd.Series:
    status = np.select(
        [
            recorded.isin(_KEPT_STATUSES).to_numpy(),
            ~has_agreement.to_numpy(),
            (current <= 0).to_numpy(),
            (current > expected).to_numpy(),  # NaN expected: cannot be breached
        ],
        [recorded.to_numpy(dtype=object), "", "completed", "breached"],
        default="live",
    )
    return pd.Series(status, index=current.index, dtype=object)


# --- tolerant column access: cases may lack optional columns ------------------------------------------


def _by_tenancy(cases: pd.DataFrame | None) -> pd.DataFrame:
    if cases is None:
        return pd.DataFrame(index=pd.Index([], name="tenancy"))
    if "tenancy" in cases.columns:
        return cases.set_index("tenancy")
    return cases


def _dates(cases: pd.DataFrame, column: str) -> pd.Series:
    if column not in cases:
        return pd.Series(pd.NaT, index=cases.index, dtype="datetime64[ns]")
    return pd.to_datetime(cases[column]).dt.normalize()


def _numbers(cases: pd.DataFrame, column: str) -> pd.Series:
    if column not in cases:
        return pd.Series(np.nan, index=cases.index, dtype=np.float64)
    return pd.to_numeric(cases[column], errors="coerce").astype(np.float64)


def _text(cases: pd.DataFrame, column: str) -> pd.Series:
    if column not in cases:
        return pd.Series("", index=cases.index, dtype=object)
    return cases[column].fillna("").astype(str).str.strip().str.lower()
