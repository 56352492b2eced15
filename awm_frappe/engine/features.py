"""Ledger features: what each rent account's transactions say as of a date.

``compute_features(tenancies, ledger, as_of)`` returns one row per tenancy (same order as ``tenancies``,
indexed by ``tenancy``) with exactly the columns of ``fields.FEATURE_FIELDS``; docs/engine.md, "Ledger
features", gives their meaning.

How it works. ``prepare_ledger`` sorts the transactions once by (tenancy, day) into a single int64 key and
keeps running totals (in pence) over that order. Any "sum of this tenancy's transactions dated d1..d2" is
then two binary searches and a subtraction, for all tenancies at once, so a feature costs
O(tenancies × log transactions) whatever the as_of. The risk model, which evaluates many as_of dates on
one ledger, prepares once and passes the ``PreparedLedger`` to ``compute_features`` each time.

Choices (each documented here because a rule or a model depends on it):
- Leakage: a transaction dated after as_of never contributes to anything; the binary searches stop at
  as_of. Only the date counts (no time of day).
- Money is summed in integer pence, so a tenant who paid exactly what was charged has balance 0, not
  1e-9 (which would make them "in arrears" and never "completed"). Amounts are rounded to the penny.
- Rent week: Monday..Sunday; ``week_start`` is the Monday of the week containing as_of.
- ``payments_this_week`` is the net of payment, hb and uc amounts from week_start to as_of, capped at 0:
  a reversal larger than this week's payments does not widen the grace beyond one week's rent.
- Hackney's grace, exactly: ``collectable_arrears = balance − this_week_net``;
  ``arrears_after_grace = collectable_arrears − max(0, weekly_rent + payments_this_week)``;
  ``weeks_owed = arrears_after_grace / weekly_rent`` (NaN when weekly rent is not > 0).
- A payment is a payment/hb/uc transaction with a negative amount (a credit). ``last_payment_amount`` is
  the total credited on the last payment day (several payments on one day are one payment).
- ``days_since_last_payment`` is the tenancy age in days when there never was a payment by as_of.
- N-week windows (paid ratios, balance changes, rent charged) are the 7·N days ending on as_of, i.e.
  (as_of − 7N days, as_of]. Such a window holds exactly N of any weekly event whatever its weekday, so a
  tenant paying every Friday has ratio 1.0 on any day of the week.
- ``paid_ratio_Nw`` = payments received (net of reversals) ÷ rent charged (kind ``rent``, net of rent
  reversals) in the window; NaN when no rent was charged in it (nothing was due, so "how much of it was
  paid" has no answer; a rule comparing NaN is false and the risk model imputes).
- ``weeks_with_payment_8w`` counts the 8 complete rent weeks before the current one (Monday-aligned)
  that had at least one payment. The current, partial week is left out so that a Friday payer is not
  marked down on a Monday.
- ``arrears_age_days``: 0 when balance ≤ 0; otherwise as_of − the last day whose end-of-day balance was
  ≤ 0. The balance before a tenancy's first transaction is taken as 0 (so arrears that began with the
  first transaction are aged from the day before it).
- ``tenancy_age_days`` = as_of − start_date in days (NaN when no start date; negative when the tenancy
  starts after as_of — the caller decides whether such tenancies belong in a training window).
- Arrears history: the balance at the end of each of the 26 days as_of − 7, as_of − 14, ..., as_of − 182
  (one check a week, on as_of's weekday). ``checks_in_arrears_26w`` counts the checks that found more
  than one week's rent owed (the simplest form of "in arrears after a week's grace", at today's rent;
  NaN when weekly rent is not > 0); ``max_balance_26w`` is the highest of the 26 balances. A tenancy
  not yet started at a check had a balance of 0 there. Today is not a check: it is the current balance.
- Ledger rows whose tenancy is not in ``tenancies``, or with no date or amount, are ignored; tenancies
  with no transactions get balance 0, ratios NaN, and never-paid values.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from awm_frappe.engine.fields import FEATURE_FIELDS
from awm_frappe.engine.schema import PAYMENT_KINDS

# A transaction's sort key is code * _SPAN + (day - _DAY_MIN), day = days since 1970-01-01. _SPAN covers
# ±5,700 years of days, so the key orders by tenancy first and day second and never overflows int64.
_DAY_MIN = -(1 << 21)
_SPAN = 1 << 22
_DAY_MAX = _DAY_MIN + _SPAN - 1
_EPOCH = pd.Timestamp("1970-01-01")
HISTORY_CHECKS = 26  # weekly balance checks behind checks_in_arrears_26w and max_balance_26w


@dataclass(frozen=True, eq=False)
class PreparedLedger:
    """A ledger sorted and summed once, reusable for any number of as_of dates.

    ``tenancies`` lists the tenancy ids the internal codes refer to. Arrays indexed by transaction follow
    the sorted order of ``keys``; the ``cum_*`` arrays have one leading 0, so the sum of transactions
    i..j-1 is ``cum[j] - cum[i]``. All money is in integer pence.
    """

    tenancies: pd.Index
    keys: np.ndarray  # int64, sorted: (tenancy code, day) per transaction
    block_start: np.ndarray  # per code (plus one empty code): index of its first transaction in keys
    cum_amount: np.ndarray  # running total of every amount
    cum_rent: np.ndarray  # running total of kind == "rent"
    cum_payments: np.ndarray  # running total of payment kinds (credits negative)
    credit_keys: np.ndarray  # (code, day) of each day with at least one payment credit, sorted
    credit_pence: np.ndarray  # total credited on that day, positive
    settled_keys: np.ndarray  # (code, day) of each day that ended with balance ≤ 0, sorted
    first_day: np.ndarray  # per code (plus one empty code): day of the first transaction

    @property
    def transactions(self) -> int:
        return len(self.keys)

    def codes_for(self, tenancy_ids) -> np.ndarray:
        """Internal codes for tenancy ids; an id with no transactions gets the empty code."""
        ids = pd.Index(tenancy_ids)
        if ids.equals(self.tenancies):
            return np.arange(len(ids), dtype=np.int64)
        codes = self.tenancies.get_indexer(ids).astype(np.int64)
        codes[codes < 0] = len(self.tenancies)
        return codes


def prepare_ledger(ledger: pd.DataFrame, tenancies=None) -> PreparedLedger:
    """Sort and total a ledger frame (tenancy, date, amount, kind) once.

    ``tenancies`` (a tenancies frame, or a sequence of tenancy ids) restricts the ledger to those
    tenancies; without it every tenancy in the ledger is kept.
    """
    ids = _tenancy_ids(tenancies, ledger)
    codes = positions_in(ledger["tenancy"], ids)
    days = _day_numbers(ledger["date"])
    amounts = pd.to_numeric(ledger["amount"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    usable = (codes >= 0) & (days > _DAY_MIN) & np.isfinite(amounts)
    kinds = ledger["kind"]
    is_rent = kinds.eq("rent").to_numpy(dtype=bool, na_value=False)
    is_payment = kinds.isin(PAYMENT_KINDS).to_numpy(dtype=bool)

    keys = codes[usable] * _SPAN + (days[usable] - _DAY_MIN)
    pence = np.rint(amounts[usable] * 100).astype(np.int64)
    is_rent, is_payment = is_rent[usable], is_payment[usable]
    if len(keys) and not bool(np.all(keys[:-1] <= keys[1:])):
        # Order within a (tenancy, day) does not matter (integer sums), so the fastest sort will do.
        order = np.argsort(keys)
        keys, pence, is_rent, is_payment = keys[order], pence[order], is_rent[order], is_payment[order]

    cum_amount = _running_total(pence)
    block_start = np.searchsorted(keys, np.arange(len(ids) + 1, dtype=np.int64) * _SPAN)
    credit_keys, credit_pence = _daily_credits(keys, pence, is_payment)
    return PreparedLedger(
        tenancies=ids,
        keys=keys,
        block_start=block_start,
        cum_amount=cum_amount,
        cum_rent=_running_total(np.where(is_rent, pence, 0)),
        cum_payments=_running_total(np.where(is_payment, pence, 0)),
        credit_keys=credit_keys,
        credit_pence=credit_pence,
        settled_keys=_settled_days(keys, cum_amount, block_start),
        first_day=_first_days(keys, block_start),
    )


def compute_features(tenancies: pd.DataFrame, ledger: pd.DataFrame | PreparedLedger, as_of) -> pd.DataFrame:
    """The ledger features of every tenancy as of ``as_of``; see the module docstring for definitions."""
    prepared = ledger if isinstance(ledger, PreparedLedger) else prepare_ledger(ledger, tenancies)
    ids = pd.Index(tenancies["tenancy"], name="tenancy")
    codes = prepared.codes_for(ids)
    today = _day_number(as_of)
    week_start = today - pd.Timestamp(as_of).weekday()
    weekly_rent = _column_as_float(tenancies, "weekly_rent")
    tenancy_age = today - _day_numbers_or_nan(tenancies, "start_date")
    grace = _grace(prepared, codes, as_of, weekly_rent)
    end, balance = grace["end"], grace["balance"]
    since = {weeks: _edge(prepared, codes, today - 7 * weeks + 1) for weeks in {4, 13, 26, HISTORY_CHECKS}}

    def total(cumulative: np.ndarray, weeks: int) -> np.ndarray:
        return cumulative[end] - cumulative[since[weeks]]

    last_paid_day, last_paid_pence = _last_payment(prepared, codes, today)
    paid = last_paid_day > _DAY_MIN

    features = {
        "balance": balance / 100,
        "week_start": _dates(np.full(len(ids), week_start)),
        "this_week_net": grace["this_week_net"] / 100,
        "payments_this_week": grace["payments_this_week"] / 100,
        "collectable_arrears": grace["collectable"] / 100,
        "arrears_after_grace": grace["arrears_after_grace"],
        "weeks_owed": _divide(grace["arrears_after_grace"], weekly_rent),
        "last_payment_date": _dates(np.where(paid, last_paid_day, _DAY_MIN)),
        "last_payment_amount": np.where(paid, last_paid_pence / 100, np.nan),
        "days_since_last_payment": np.where(paid, today - last_paid_day, tenancy_age),
    }
    for weeks in (4, 13, 26):
        received = -total(prepared.cum_payments, weeks)
        features[f"paid_ratio_{weeks}w"] = _divide(received, total(prepared.cum_rent, weeks))
    features["weeks_with_payment_8w"] = _weeks_with_payment(prepared, codes, week_start, weeks=8)
    for weeks in (4, 13):
        features[f"balance_change_{weeks}w"] = total(prepared.cum_amount, weeks) / 100
    features["arrears_age_days"] = _arrears_age(prepared, codes, today, balance)
    features["tenancy_age_days"] = tenancy_age
    features["rent_charged_26w"] = total(prepared.cum_rent, 26) / 100
    past = _weekly_balances(prepared, today, since[HISTORY_CHECKS], end, balance, weeks=HISTORY_CHECKS)
    rent_pence = np.rint(weekly_rent * 100)
    in_arrears = (past > rent_pence[:, None]).sum(axis=1).astype(np.float64)
    features["checks_in_arrears_26w"] = np.where(weekly_rent > 0, in_arrears, np.nan)
    features["max_balance_26w"] = past.max(axis=1) / 100
    return pd.DataFrame(features, index=ids)[list(FEATURE_FIELDS)]


def arrears_after_grace(tenancies: pd.DataFrame, ledger: pd.DataFrame | PreparedLedger, as_of) -> np.ndarray:
    """``compute_features(...)["arrears_after_grace"]`` alone (in ``tenancies`` order), for the many dates
    on which the risk model's target needs nothing else."""
    prepared = ledger if isinstance(ledger, PreparedLedger) else prepare_ledger(ledger, tenancies)
    codes = prepared.codes_for(pd.Index(tenancies["tenancy"]))
    return _grace(prepared, codes, as_of, _column_as_float(tenancies, "weekly_rent"))["arrears_after_grace"]


def _grace(prepared: PreparedLedger, codes: np.ndarray, as_of, weekly_rent: np.ndarray) -> dict:
    """Hackney's one week's grace, as of as_of: the balance, this rent week's net and payments, the
    collectable arrears (pence) and the arrears after grace (pounds); ``end`` is just past each tenancy's
    last transaction dated ≤ as_of, the end of every window."""
    today = _day_number(as_of)
    end = _edge(prepared, codes, today + 1)
    week = _edge(prepared, codes, today - pd.Timestamp(as_of).weekday())
    balance = prepared.cum_amount[end] - prepared.cum_amount[prepared.block_start[codes]]
    this_week_net = prepared.cum_amount[end] - prepared.cum_amount[week]
    payments_this_week = np.minimum(prepared.cum_payments[end] - prepared.cum_payments[week], 0)
    collectable = balance - this_week_net
    after_grace = collectable / 100 - np.maximum(0.0, weekly_rent + payments_this_week / 100)
    return {
        "end": end,
        "balance": balance,
        "this_week_net": this_week_net,
        "payments_this_week": payments_this_week,
        "collectable": collectable,
        "arrears_after_grace": after_grace,
    }


def _edge(prepared: PreparedLedger, codes: np.ndarray, day: int) -> np.ndarray:
    """Each tenancy's first transaction dated ≥ day (an index into the sorted ledger): one binary search
    per window edge, shared by every running total, so a window's total is cumulative[end] −
    cumulative[edge]."""
    return np.searchsorted(prepared.keys, _key(codes, day), side="left")


# --- preparation helpers --------------------------------------------------------------------------


def _tenancy_ids(tenancies, ledger: pd.DataFrame) -> pd.Index:
    if tenancies is None:
        source = ledger["tenancy"]
    elif isinstance(tenancies, pd.DataFrame):
        source = tenancies["tenancy"]
    else:
        source = tenancies
    return pd.Index(pd.unique(pd.Series(source).dropna()), name="tenancy")


def positions_in(values, ids: pd.Index) -> np.ndarray:
    """Position of each value (e.g. a ledger row's tenancy) in ``ids``, -1 when absent, as int64.

    Factorising first means a long string column is hashed once and only its distinct values are looked
    up in ``ids``, several times faster than ``ids.get_indexer`` on the whole column.
    """
    row_codes, distinct = pd.factorize(values)
    lookup = np.append(ids.get_indexer(pd.Index(distinct)), -1).astype(np.int64)
    return lookup[row_codes]  # factorize marks missing values -1, which picks the trailing -1


def _day_numbers(dates) -> np.ndarray:
    """Days since 1970-01-01 as int64; missing dates become _DAY_MIN (sorted before everything)."""
    values = pd.to_datetime(pd.Series(dates)).to_numpy(dtype="datetime64[D]")
    missing = np.isnat(values)
    days = values.astype(np.int64)
    days[missing] = _DAY_MIN
    return np.clip(days, _DAY_MIN, _DAY_MAX)


def _running_total(pence: np.ndarray) -> np.ndarray:
    total = np.zeros(len(pence) + 1, dtype=np.int64)
    np.cumsum(pence, out=total[1:])
    return total


def _daily_credits(keys: np.ndarray, pence: np.ndarray, is_payment: np.ndarray):
    credit = is_payment & (pence < 0)
    credit_keys, credit_pence = keys[credit], -pence[credit]
    if not len(credit_keys):
        return credit_keys, credit_pence
    day_starts = np.flatnonzero(np.diff(credit_keys, prepend=credit_keys[0] - 1))
    return credit_keys[day_starts], np.add.reduceat(credit_pence, day_starts)


def _settled_days(keys: np.ndarray, cum_amount: np.ndarray, block_start: np.ndarray) -> np.ndarray:
    """Keys of the days that ended with the tenancy's balance ≤ 0."""
    if not len(keys):
        return keys
    balance_after = cum_amount[1:] - cum_amount[block_start[keys // _SPAN]]
    end_of_day = np.append(keys[1:] != keys[:-1], True)
    return keys[end_of_day & (balance_after <= 0)]


def _first_days(keys: np.ndarray, block_start: np.ndarray) -> np.ndarray:
    """Day of each tenancy's first transaction; the extra last code is the empty tenancy."""
    first = np.full(len(block_start), _DAY_MAX, dtype=np.int64)
    has_rows = block_start[:-1] < block_start[1:]
    first[:-1][has_rows] = keys[block_start[:-1][has_rows]] % _SPAN + _DAY_MIN
    return first


# --- query helpers ---------------------------------------------------------------------------------


def _key(codes: np.ndarray, day) -> np.ndarray:
    return codes * _SPAN + (np.clip(day, _DAY_MIN, _DAY_MAX) - _DAY_MIN)


def _latest_on_or_before(keys: np.ndarray, codes: np.ndarray, day) -> tuple[np.ndarray, np.ndarray]:
    """Index into ``keys`` of each tenancy's latest entry dated ≤ day, and whether there is one."""
    position = np.searchsorted(keys, _key(codes, day), side="right") - 1
    safe = np.maximum(position, 0)
    found = (position >= 0) & (keys[safe] // _SPAN == codes) if len(keys) else np.zeros(len(codes), bool)
    return safe, found


def _day_of(keys: np.ndarray) -> np.ndarray:
    return keys % _SPAN + _DAY_MIN


def _last_payment(prepared: PreparedLedger, codes: np.ndarray, today: int):
    """Day and amount (pence) of each tenancy's last payment day ≤ today; _DAY_MIN and 0 when none."""
    position, found = _latest_on_or_before(prepared.credit_keys, codes, today)
    if not len(prepared.credit_keys):
        return np.full(len(codes), _DAY_MIN, dtype=np.int64), np.zeros(len(codes), dtype=np.int64)
    day = np.where(found, _day_of(prepared.credit_keys[position]), _DAY_MIN)
    pence = np.where(found, prepared.credit_pence[position], 0)
    return day, pence


def _weeks_with_payment(prepared: PreparedLedger, codes: np.ndarray, week_start: int, weeks: int):
    """How many of the ``weeks`` complete rent weeks before the current one had a payment day."""
    mondays = [week_start - 7 * back for back in range(weeks + 1)]  # newest first
    edges = [np.searchsorted(prepared.credit_keys, _key(codes, monday), side="left") for monday in mondays]
    return sum((later > earlier).astype(np.int64) for later, earlier in pairwise(edges))


def _weekly_balances(
    prepared: PreparedLedger, today: int, start: np.ndarray, end: np.ndarray, balance: np.ndarray, weeks: int
) -> np.ndarray:
    """Balance (pence) at the end of the days today − 7k, k = 1..weeks: one column per check.

    Today's balance less what was posted after each check: the transactions dated today − 7·weeks + 1 ..
    today (``start`` to ``end`` in the sorted ledger, per tenancy) are summed into week buckets,
    b = (today − day) // 7, and check k subtracts buckets 0..k−1. One pass over those transactions
    instead of one binary search per check."""
    counts = end - start
    row = np.repeat(np.arange(len(start)), counts)
    index = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(start, counts)
    bucket = (today - _day_of(prepared.keys[index])) // 7
    pence = prepared.cum_amount[index + 1] - prepared.cum_amount[index]
    posted = np.bincount(row * weeks + bucket, weights=pence, minlength=len(start) * weeks)
    after_check = np.cumsum(posted.reshape(len(start), weeks), axis=1).round().astype(np.int64)
    return balance[:, None] - after_check


def _arrears_age(prepared: PreparedLedger, codes: np.ndarray, today: int, balance: np.ndarray):
    position, found = _latest_on_or_before(prepared.settled_keys, codes, today)
    if len(prepared.settled_keys):
        last_settled = np.where(found, _day_of(prepared.settled_keys[position]), 0)
    else:
        last_settled = np.zeros(len(codes), dtype=np.int64)
    # Never settled since the first transaction: the balance was 0 the day before it.
    last_settled = np.where(found, last_settled, prepared.first_day[codes] - 1)
    return np.where(balance > 0, today - last_settled, 0).astype(np.int64)


# --- small conversions -----------------------------------------------------------------------------


def _day_number(as_of) -> int:
    return (pd.Timestamp(as_of).normalize() - _EPOCH).days


def _day_numbers_or_nan(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.nan)
    days = _day_numbers(frame[column]).astype(np.float64)
    days[days <= _DAY_MIN] = np.nan
    return days


def _column_as_float(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator where the denominator is > 0, else NaN (no warnings)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    valid = denominator > 0
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=valid)
    return out


def _dates(days: np.ndarray) -> np.ndarray:
    """Day numbers to datetime64[ns]; _DAY_MIN means NaT."""
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[ns]")
    present = days > _DAY_MIN
    out[present] = days[present].astype("datetime64[D]")
    return out
