"""The arrears risk model: who is likely to fall behind, how likely, and why.

Target. For a tenancy on a scoring date D: 1 when its arrears after one week's grace reach
``target_weeks`` × weekly rent (default 2 weeks) on any of the weekly points D + 7, D + 14, ..., D + 7 ×
``horizon_weeks`` (default 8 weeks), else 0. Two weeks is the first level Hackney's ladder treats as real
debt rather than payment timing (one week is absorbed by the grace itself); eight weeks is long enough
to act (letter, call, benefit check) before a NOSP becomes possible at four weeks, and short enough that
the target is observable on a year of history. See docs/model-card.md.

Training. ``train`` rolls the scoring date back through history: D = as_of − horizon, then every
``step_weeks`` back over ``history_weeks``, so every target is observable by as_of. Features at D come
from ``features.compute_features(tenancies, prepared, D)``, which never reads a transaction dated after
D, and from tenancy columns that are known at D (a Universal Credit claim dated after D counts as no
claim). Tenancies not yet started at D, or ending before D + horizon, are left out of D's rows.

Model. One additive logistic model (a GAM) per account state (``SEGMENTS``, ``account_states``):
*clear* (balance zero or in credit), *owing* (a balance, but less than ``target_weeks`` of rent after
grace) and *behind* (already ``target_weeks`` or more). What predicts new arrears on a clear account (a
Universal Credit claim, Housing Benefit timing) is not what predicts whether a debt grows, and one
additive model for all three had to average them. On the synthetic portfolio (20k tenancies, another
landlord's rows) the AUC on clear accounts is 0.89 for one model on the inputs of version 1, 0.914 with
a model per state, 0.919 with the two arrears-history inputs instead, and 0.927 with both. In each
state every input is cut into bins at quantiles of that state's training rows (plus a bin for
"missing") and gets one log-odds weight per bin, fitted by penalised maximum likelihood with the shapes
of most inputs kept monotone (``MONOTONE``), then Platt-calibrated on the state's rows of the most recent
training dates, held out of the fit (which also absorbs drift in the base rate). A state whose training
rows or holdout rows hold too few of either outcome takes instead the model fitted on all rows (binned
on all rows) and its calibration on all holdout rows, as one model for everyone would. Scoring is a
table lookup and a sum.

Reasons. Because each state's model is additive, a tenancy's calibrated log-odds are *exactly* the
model's base value plus one contribution per input: contribution = slope × (weight of the tenancy's bin
− the state's average weight over its training rows), and the input that places the account in its
state (``STATE_INPUT``: the balance for clear accounts, weeks owed otherwise) also carries the gap
between the state's base value and the model's (being behind already is the biggest reason of all).
The reasons are the inputs with the largest contributions raising the risk (topped up with the ones
lowering it most; for the low band, what keeps the risk low comes first), written as plain sentences
with the tenancy's own figures. Nothing is written beside the model: a reason is a contribution.
Replacing an input by its values on training rows in the same state moves the log-odds on average by
exactly its contribution, less, for the state's input, the state's base gap, which is attributed to it
by this convention rather than measured (tests/test_model.py checks both).

Artefact. ``save_model`` writes one JSON document (no pickle: a model file cannot run code): each
state's bin edges, weights and calibration, the feature list, the training window, metrics, library
versions and a SHA-256 of the model part. ``load_model`` refuses a file whose format, feature list,
model version or account states differ from this code's, whose hash does not match, or whose model
part is malformed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from awm_frappe.engine.features import PreparedLedger, arrears_after_grace, compute_features, prepare_ledger

FORMAT = "awm-risk-model"
MODEL_VERSION = 2  # bump whenever an input's definition changes: old artefacts then refuse to load
BANDS = ("high", "medium", "low", "early_warning")
DEFAULT_THRESHOLDS = {"high": 0.5, "medium": 0.2}
N_BINS = 20
SEGMENTS = ("clear", "owing", "behind")  # account states, each with its own additive model
# The input whose value puts an account in its state; it carries the state's own base value.
STATE_INPUT = {"clear": "balance_weeks", "owing": "weeks_owed", "behind": "weeks_owed"}
MIN_SEGMENT_ROWS = 200  # fewer training rows in a state (or fewer outcomes of either kind): fit on all rows
MIN_SEGMENT_OUTCOMES = 20
REASON_SEPARATOR = " | "
MIN_REASON_LOGIT = 0.05  # a contribution below this (in log-odds) does not count as raising the risk


class ModelError(ValueError):
    """A model artefact that cannot be used (wrong format, feature list or version, tampered)."""


# --------------------------------------------------------------------------------------------------
# Model inputs: derived from the case frame (ledger features + tenancy columns) as of a date.

# name -> (kind, plain-words description for the model card)
MODEL_FEATURES: dict[str, tuple[str, str]] = {
    "weeks_owed": ("numeric", "arrears after one week's grace, in weeks of rent"),
    "projected_weeks_owed": (
        "numeric",
        "weeks owed plus the weeks of rent due before the tenancy's usual next payment (13-week rhythm)",
    ),
    "balance_weeks": ("numeric", "balance in weeks of rent (negative = credit)"),
    "paid_this_week_weeks": ("numeric", "paid so far this rent week, in weeks of rent"),
    "days_since_last_payment": ("numeric", "days since the last payment (tenancy age if never paid)"),
    "last_payment_weeks": ("numeric", "last payment in weeks of rent"),
    "paid_ratio_4w": ("numeric", "payments ÷ rent charged, last 4 weeks"),
    "paid_ratio_13w": ("numeric", "payments ÷ rent charged, last 13 weeks"),
    "paid_ratio_26w": ("numeric", "payments ÷ rent charged, last 26 weeks"),
    "payment_drop": ("numeric", "26-week paid ratio minus 4-week paid ratio"),
    "weeks_without_payment_8w": ("numeric", "of the last 8 complete rent weeks, how many had no payment"),
    "balance_change_4w_weeks": ("numeric", "balance change over 4 weeks, in weeks of rent"),
    "balance_change_13w_weeks": ("numeric", "balance change over 13 weeks, in weeks of rent"),
    "arrears_age_weeks": ("numeric", "weeks since the balance was last clear (0 when clear)"),
    "checks_in_arrears_26w": (
        "numeric",
        "of 26 weekly balance checks (the last 26 weeks), how many found more than a week's rent owed",
    ),
    "max_owed_26w_weeks": ("numeric", "highest balance at those 26 weekly checks, in weeks of rent"),
    "tenancy_age_weeks": ("numeric", "weeks since the tenancy started"),
    "uc_claim_weeks": ("numeric", "weeks since the Universal Credit claim started (missing = no claim)"),
    "uc_share_13w": ("numeric", "share of the last 13 weeks' payments that came from Universal Credit"),
    "hb_share_13w": ("numeric", "share of the last 13 weeks' payments that came from Housing Benefit"),
}
FEATURE_NAMES: tuple[str, ...] = tuple(MODEL_FEATURES)

# The direction an input may move the risk (+1 up as it grows, -1 down, absent: either way). Keeping
# these shapes monotone stops correlated inputs from taking perverse signs ("paid 0% of the rent in the
# last 4 weeks" lowering the risk), which would make faithful reasons read as nonsense.
MONOTONE: dict[str, int] = {
    "weeks_owed": 1,
    "projected_weeks_owed": 1,
    "balance_weeks": 1,
    "paid_this_week_weeks": -1,
    "days_since_last_payment": 1,
    "paid_ratio_4w": -1,
    "paid_ratio_13w": -1,
    "paid_ratio_26w": -1,
    "payment_drop": 1,
    "weeks_without_payment_8w": 1,
    "balance_change_4w_weeks": 1,
    "balance_change_13w_weeks": 1,
    "arrears_age_weeks": 1,
    "checks_in_arrears_26w": 1,
    "max_owed_26w_weeks": 1,
}

# Inputs the model never sees, by design: they are audited for fairness instead. payment_method, uc_status
# and hb_status are left out too, for another reason: a tenancies export holds today's values, so a
# training row dated months ago would see its own future (a switch to cash after an income shock, a UC
# claim). The payment kinds in the ledger (uc_share_13w, hb_share_13w) say the same thing without leaking.
EXCLUDED_ATTRIBUTES = (
    "age_band",
    "vulnerable",
    "vulnerability",
    "tenure_type",
    "patch",
    "language",
    "payment_method",
    "uc_status",
    "hb_status",
)

# Columns the model adds from the ledger itself (``ledger_columns``): payments by kind, 13 weeks to as_of.
LEDGER_COLUMNS = ("uc_paid_13w", "hb_paid_13w", "paid_13w", "payments_13w")

# Case-frame columns the model reads (the ledger features and a few tenancy columns).
REQUIRED_COLUMNS = (
    "balance",
    "weeks_owed",
    "arrears_after_grace",
    "payments_this_week",
    "days_since_last_payment",
    "last_payment_amount",
    "paid_ratio_4w",
    "paid_ratio_13w",
    "paid_ratio_26w",
    "weeks_with_payment_8w",
    "balance_change_4w",
    "balance_change_13w",
    "arrears_age_days",
    "tenancy_age_days",
    "checks_in_arrears_26w",
    "max_balance_26w",
    "weekly_rent",
)


def _num(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _dates_of(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    return pd.to_datetime(frame[name], errors="coerce")


def _row_as_of(frame: pd.DataFrame, as_of=None) -> pd.Series:
    """The scoring date of every row: ``as_of`` if given, else start_date + tenancy_age_days."""
    if as_of is not None:
        if isinstance(as_of, pd.Series):
            return pd.to_datetime(as_of).dt.normalize()
        return pd.Series(pd.Timestamp(as_of).normalize(), index=frame.index)
    if "as_of" in frame:
        return pd.to_datetime(frame["as_of"]).dt.normalize()
    derived = _dates_of(frame, "start_date") + pd.to_timedelta(_num(frame, "tenancy_age_days"), unit="D")
    if "week_start" in frame:  # no start date: the Monday of the rent week is the best we know
        derived = derived.fillna(_dates_of(frame, "week_start"))
    return derived


def _weeks_to_next_payment(frame: pd.DataFrame) -> np.ndarray:
    """Weeks of rent that will fall due before the tenancy's usual next payment: the usual gap between
    payments (13 weeks ÷ payments in them) less the days since the last one, in weeks, 0..8; 8 (the
    horizon) when nothing was paid in 13 weeks."""
    count = _num(frame, "payments_13w")
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(count > 0, 91.0 / count, np.nan)
    weeks = (np.clip(gap, 7, 91) - _num(frame, "days_since_last_payment")) / 7
    return np.where(count > 0, np.clip(weeks, 0, 8), 8.0)


def model_inputs(frame: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """The model's inputs for each row of a case frame (ledger features + tenancy columns).

    ``as_of`` (a date or a per-row Series) is only needed for the age of a Universal Credit claim; when
    omitted it is recovered from start_date + tenancy_age_days. A claim dated after the row's as_of
    counts as no claim (so historical training rows cannot see a future claim).
    """
    missing = [name for name in REQUIRED_COLUMNS if name not in frame]
    if missing:
        raise ModelError(f"the case frame lacks the columns the risk model needs: {', '.join(missing)}")
    if any(name not in frame for name in LEDGER_COLUMNS):
        raise ModelError(
            "the risk model needs payments by kind from the ledger: pass ledger= to score(), "
            "or load the model with load_model(path, inputs=...)"
        )
    rent = _num(frame, "weekly_rent")
    rent = np.where(rent > 0, rent, np.nan)
    ratios = {n: np.clip(_num(frame, f"paid_ratio_{n}w"), 0, 3) for n in (4, 13, 26)}
    when = _row_as_of(frame, as_of)
    claim = _dates_of(frame, "uc_claim_date")
    claim_days = np.array((when - claim).dt.days.to_numpy(dtype=np.float64, na_value=np.nan))
    claim_days[claim_days < 0] = np.nan
    paid = _num(frame, "paid_13w")
    paid = np.where(paid > 0, paid, np.nan)
    weeks_owed = np.clip(_num(frame, "weeks_owed"), -20, 60)
    inputs = {
        "weeks_owed": weeks_owed,
        "projected_weeks_owed": weeks_owed + _weeks_to_next_payment(frame),
        "balance_weeks": np.clip(_num(frame, "balance") / rent, -20, 60),
        "paid_this_week_weeks": np.clip(-_num(frame, "payments_this_week") / rent, 0, 20),
        "days_since_last_payment": np.clip(_num(frame, "days_since_last_payment"), 0, 730),
        "last_payment_weeks": np.clip(_num(frame, "last_payment_amount") / rent, 0, 60),
        "paid_ratio_4w": ratios[4],
        "paid_ratio_13w": ratios[13],
        "paid_ratio_26w": ratios[26],
        "payment_drop": ratios[26] - ratios[4],
        "weeks_without_payment_8w": 8 - _num(frame, "weeks_with_payment_8w"),
        "balance_change_4w_weeks": np.clip(_num(frame, "balance_change_4w") / rent, -20, 20),
        "balance_change_13w_weeks": np.clip(_num(frame, "balance_change_13w") / rent, -40, 40),
        "arrears_age_weeks": np.clip(_num(frame, "arrears_age_days") / 7, 0, 520),
        "checks_in_arrears_26w": _num(frame, "checks_in_arrears_26w"),
        "max_owed_26w_weeks": np.clip(_num(frame, "max_balance_26w") / rent, -20, 60),
        "tenancy_age_weeks": np.clip(_num(frame, "tenancy_age_days") / 7, 0, 2600),
        "uc_claim_weeks": np.clip(claim_days / 7, 0, 520),
        "uc_share_13w": np.clip(_num(frame, "uc_paid_13w") / paid, 0, 1),
        "hb_share_13w": np.clip(_num(frame, "hb_paid_13w") / paid, 0, 1),
    }
    return pd.DataFrame(inputs, index=frame.index)[list(FEATURE_NAMES)]


# --------------------------------------------------------------------------------------------------
# Plain-words reasons: one sentence per input, with the tenancy's own figures.


def _money(value: float) -> str:
    value = abs(float(value))
    return f"£{value:,.2f}" if value < 10 and value != round(value) else f"£{value:,.0f}"


def _plural(count: float, word: str) -> str:
    count = round(count)
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _weeks_rent(value: float) -> str:
    return f"{value:.1f} weeks' rent"


def _r_weeks_owed(row: dict) -> str:
    aag, weeks, balance = row["arrears_after_grace"], row["weeks_owed"], row["balance"]
    if aag > 0 and balance <= 0:  # collectable arrears leave out this week's payments
        return (
            f"{_money(aag)} owed after a week's grace ({_weeks_rent(weeks)}) before this week's "
            f"payments, which put the balance {_money(balance)} in credit"
        )
    if aag > 0:
        return f"{_money(aag)} owed after a week's grace ({_weeks_rent(weeks)})"
    if balance > 0:
        return f"{_money(balance)} owed, not yet past a week's grace"
    return "nothing owed after a week's grace"


def _r_projected(row: dict) -> str:
    ahead = row["_weeks_ahead"]
    projected = row["weeks_owed"] + ahead
    if not row["payments_13w"] > 0:
        return f"no payment in 13 weeks: arrears would reach {_weeks_rent(projected)} in 8 weeks"
    if ahead <= 0:
        return f"usual payment (about every {round(91 / row['payments_13w'])} days) is due now"
    due = f"usual next payment due in about {_plural(math.ceil(ahead), 'week')}"
    if projected <= 0:
        return f"{due}: still no arrears by then"
    return f"{due}: arrears would reach {_weeks_rent(projected)} by then"


def _r_balance(row: dict) -> str:
    balance = row["balance"]
    if balance > 0:
        rent = row["weekly_rent"]
        extra = f" ({_weeks_rent(balance / rent)})" if rent > 0 else ""
        return f"balance {_money(balance)} owed{extra}"
    if balance < 0:
        return f"balance {_money(balance)} in credit"
    return "balance clear"


def _r_paid_this_week(row: dict) -> str:
    paid = -row["payments_this_week"]
    return f"{_money(paid)} paid so far this rent week" if paid > 0 else "nothing paid so far this rent week"


def _r_days_since(row: dict) -> str:
    days = row["days_since_last_payment"]
    if math.isnan(days):
        return "no payment on record"
    if math.isnan(row["last_payment_amount"]):
        return f"no payment since the tenancy began {_plural(days, 'day')} ago"
    return f"last payment {_plural(days, 'day')} ago"


def _r_last_payment(row: dict) -> str:
    amount = row["last_payment_amount"]
    if math.isnan(amount):
        return "no payment on record"
    rent = row["weekly_rent"]
    extra = f" ({_weeks_rent(amount / rent)})" if rent > 0 else ""
    return f"last payment {_money(amount)}{extra}"


def _r_ratio(weeks: int) -> Callable[[dict], str]:
    def sentence(row: dict) -> str:
        ratio = row[f"paid_ratio_{weeks}w"]
        if math.isnan(ratio):
            return f"no rent charged in the last {weeks} weeks"
        return f"paid {_pct(ratio)} of the rent charged in the last {weeks} weeks"

    return sentence


def _r_drop(row: dict) -> str:
    recent, longer = row["paid_ratio_4w"], row["paid_ratio_26w"]
    if math.isnan(recent) or math.isnan(longer):
        return "too little rent history to compare recent and past payments"
    return f"paid {_pct(recent)} of rent in the last 4 weeks against {_pct(longer)} over 26 weeks"


def _r_missed(row: dict) -> str:
    with_payment = row["weeks_with_payment_8w"]
    if math.isnan(with_payment):
        return "no payment history for the last 8 weeks"
    missed = 8 - round(with_payment)
    if missed == 0:
        return "a payment in each of the last 8 weeks"
    return f"no payment in {missed} of the last 8 weeks"


def _r_change(weeks: int) -> Callable[[dict], str]:
    def sentence(row: dict) -> str:
        change = row[f"balance_change_{weeks}w"]
        if abs(change) < 0.005:
            return f"balance unchanged over {weeks} weeks"
        direction = "up" if change > 0 else "down"
        return f"balance {direction} {_money(change)} in {weeks} weeks"

    return sentence


def _r_arrears_age(row: dict) -> str:
    days = row["arrears_age_days"]
    if not days > 0:
        return "not in arrears"
    return (
        f"in arrears for {_plural(days // 7, 'week')}"
        if days >= 14
        else f"in arrears for {_plural(days, 'day')}"
    )


def _r_checks_in_arrears(row: dict) -> str:
    checks = row["checks_in_arrears_26w"]
    if math.isnan(checks):
        return "weekly rent unknown, so past arrears cannot be counted"
    if checks == 0:
        return "never more than a week's rent owed at a weekly check in the last 26 weeks"
    return f"more than a week's rent owed at {round(checks)} of the last 26 weekly checks"


def _r_max_owed(row: dict) -> str:
    highest = row["max_balance_26w"]
    if not highest > 0:
        return "clear or in credit at every weekly check in the last 26 weeks"
    rent = row["weekly_rent"]
    extra = f" ({_weeks_rent(highest / rent)})" if rent > 0 else ""
    return f"owed as much as {_money(highest)}{extra} in the last 26 weeks"


def _r_tenancy_age(row: dict) -> str:
    days = row["tenancy_age_days"]
    if math.isnan(days):
        return "tenancy start date unknown"
    if days < 7 * 104:
        return f"tenancy started {_plural(days // 7, 'week')} ago"
    return f"tenancy started {_plural(days // 365.25, 'year')} ago"


def _r_uc(row: dict) -> str:
    weeks = row["_uc_claim_weeks"]
    if math.isnan(weeks):
        return "no Universal Credit claim"
    return f"Universal Credit claim started {_plural(weeks, 'week')} ago"


def _r_share(column: str, label: str) -> Callable[[dict], str]:
    def sentence(row: dict) -> str:
        total, part = row["paid_13w"], row[column]
        if not total > 0:
            return "no payments in the last 13 weeks"
        if not part > 0:
            return f"no {label} payments in the last 13 weeks"
        return f"{label} made {_pct(min(part / total, 1))} of payments in the last 13 weeks"

    return sentence


def _reason_values(frame: pd.DataFrame, inputs: pd.DataFrame) -> dict[str, np.ndarray]:
    """The figures the sentences quote, per row."""
    raw = {name: _num(frame, name) for name in (*REQUIRED_COLUMNS, *LEDGER_COLUMNS)}
    raw["_weeks_ahead"] = _weeks_to_next_payment(frame)
    raw["_uc_claim_weeks"] = np.floor(inputs["uc_claim_weeks"].to_numpy(dtype=np.float64))
    return raw


def _write(writer: Callable[[dict], str], raw: dict[str, np.ndarray], rows: np.ndarray) -> list[str]:
    keys = list(raw)
    columns = [raw[key][rows] for key in keys]
    return [writer(dict(zip(keys, values, strict=True))) for values in zip(*columns, strict=True)]


def reason_text(name: str, frame: pd.DataFrame, as_of=None) -> list[str]:
    """The sentence input ``name`` gives for each row of a case frame with LEDGER_COLUMNS."""
    raw = _reason_values(frame, model_inputs(frame, as_of))
    return _write(REASONS[name], raw, np.arange(len(frame)))


REASONS: dict[str, Callable[[dict], str]] = {
    "weeks_owed": _r_weeks_owed,
    "projected_weeks_owed": _r_projected,
    "balance_weeks": _r_balance,
    "paid_this_week_weeks": _r_paid_this_week,
    "days_since_last_payment": _r_days_since,
    "last_payment_weeks": _r_last_payment,
    "paid_ratio_4w": _r_ratio(4),
    "paid_ratio_13w": _r_ratio(13),
    "paid_ratio_26w": _r_ratio(26),
    "payment_drop": _r_drop,
    "weeks_without_payment_8w": _r_missed,
    "balance_change_4w_weeks": _r_change(4),
    "balance_change_13w_weeks": _r_change(13),
    "arrears_age_weeks": _r_arrears_age,
    "checks_in_arrears_26w": _r_checks_in_arrears,
    "max_owed_26w_weeks": _r_max_owed,
    "tenancy_age_weeks": _r_tenancy_age,
    "uc_claim_weeks": _r_uc,
    "uc_share_13w": _r_share("uc_paid_13w", "Universal Credit"),
    "hb_share_13w": _r_share("hb_paid_13w", "Housing Benefit"),
}
assert set(REASONS) == set(FEATURE_NAMES)  # every input can be explained


# --------------------------------------------------------------------------------------------------
# The additive model.


@dataclass
class _Input:
    """One input's bins and weights. Numeric: bins split at ``edges`` (x < e0, e0 ≤ x < e1, ...) plus a
    last bin for missing. Category: one bin per known level plus a last bin for unknown/missing."""

    name: str
    kind: str
    edges: list = field(default_factory=list)  # numeric cut points, or category levels
    weights: list = field(default_factory=list)  # log-odds weight per bin (raw model)
    reference: float = 0.0  # average weight over the training rows

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1 + (1 if self.kind == "numeric" else 0)

    def bins(self, values) -> np.ndarray:
        if self.kind == "numeric":
            x = np.asarray(values, dtype=np.float64)
            out = np.searchsorted(np.asarray(self.edges, dtype=np.float64), x, side="right")
            out[np.isnan(x)] = len(self.edges) + 1
            return out.astype(np.int64)
        levels = pd.Index(self.edges, dtype=object)
        out = levels.get_indexer(pd.Index(np.asarray(values, dtype=object)))
        out[out < 0] = len(self.edges)
        return out.astype(np.int64)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": list(self.edges),
            "weights": [round(float(w), 10) for w in self.weights],
            "reference": round(float(self.reference), 10),
        }


def _cut_points(values: np.ndarray, n_bins: int) -> list[float]:
    x = values[~np.isnan(values)]
    if not len(x):
        return []
    quantiles = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1], method="lower"))
    # cut just above each quantile value so that a value equal to it shares its bin (ties stay together)
    distinct = np.unique(x)
    cuts = []
    for q in quantiles:
        above = distinct[np.searchsorted(distinct, q, side="right") :]
        if len(above):
            cuts.append(float((q + above[0]) / 2))
    return sorted(set(np.round(cuts, 6).tolist()))


def _design(inputs: list[_Input], frame: pd.DataFrame):
    from scipy import sparse

    offsets = np.cumsum([0] + [i.n_bins for i in inputs])
    columns = np.column_stack(
        [inputs[k].bins(frame[inputs[k].name]) + offsets[k] for k in range(len(inputs))]
    )
    rows = np.repeat(np.arange(len(frame)), len(inputs))
    data = np.ones(rows.size)
    return sparse.csr_matrix((data, (rows, columns.ravel())), shape=(len(frame), offsets[-1])), offsets


@dataclass
class Segment:
    """The additive model of one account state: bins and weights per input, and its Platt calibration."""

    name: str
    inputs: list[_Input]
    intercept: float
    slope: float = 1.0  # Platt scaling of the raw log-odds
    offset: float = 0.0
    fitted_on: str = ""  # whose training rows fitted the weights: the state's own, or "all"

    def base_logit(self) -> float:
        """Calibrated log-odds of an account in this state whose every input sits at the state's average."""
        return self.slope * (self.intercept + sum(i.reference for i in self.inputs)) + self.offset

    def contributions(self, inputs: pd.DataFrame) -> np.ndarray:
        """Per row and input, slope × (the row's bin weight − the state's average weight)."""
        out = np.empty((len(inputs), len(self.inputs)))
        for k, spec in enumerate(self.inputs):
            weights = np.asarray(spec.weights, dtype=np.float64)
            out[:, k] = self.slope * (weights[spec.bins(inputs[spec.name])] - spec.reference)
        return out

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "fitted_on": self.fitted_on,
            "inputs": [i.to_json() for i in self.inputs],
            "intercept": round(float(self.intercept), 10),
            "calibration": {"method": "platt", "slope": float(self.slope), "offset": float(self.offset)},
        }


def reached(arrears_after_grace, weekly_rent, weeks: float) -> np.ndarray:
    """Arrears after grace of at least ``weeks`` weeks' rent, to the half-penny: the target's test, and what
    puts an account in the *behind* state. False where the weekly rent is unknown (not > 0)."""
    rent = np.asarray(weekly_rent, dtype=np.float64)
    rent = np.where(rent > 0, rent, np.nan)
    return np.asarray(arrears_after_grace, dtype=np.float64) >= weeks * rent - 0.005


def account_states(frame: pd.DataFrame, target_weeks: float) -> np.ndarray:
    """Each row's account state, an index into SEGMENTS, from a case frame's own figures: *clear* when
    the balance is zero or in credit (even if this week's payments are what cleared it), *behind* when
    the arrears after grace have ``reached`` target_weeks of rent, else *owing* (also when the weekly
    rent, and so the weeks owed, is unknown)."""
    behind = reached(_num(frame, "arrears_after_grace"), _num(frame, "weekly_rent"), target_weeks)
    return np.select([_num(frame, "balance") <= 0, behind], [0, 2], 1).astype(np.int64)


@dataclass
class RiskModel:
    """A trained risk model. ``score`` adds risk_score, risk_band and risk_reasons to a case frame.

    ``segments`` holds one additive model per account state, in the order of SEGMENTS; ``base`` is the
    model's base log-odds, the training rows' average of their state's base value."""

    segments: list[Segment]
    base: float
    target_weeks: float = 2.0
    thresholds: dict = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    metadata: dict = field(default_factory=dict)
    ledger: ModelLedger | None = field(default=None, repr=False, compare=False)  # bound by load_model

    @classmethod
    def single(cls, inputs: list[_Input], intercept: float, **options) -> RiskModel:
        """One additive model for every account state (a hand-set model, say)."""
        segments = [Segment(name, inputs, intercept, fitted_on="all") for name in SEGMENTS]
        return cls(segments=segments, base=segments[0].base_logit(), **options)

    @property
    def features(self) -> list[str]:
        return [i.name for i in self.segments[0].inputs]

    # --- the maths -------------------------------------------------------------------------------
    def base_logit(self) -> float:
        """The model's base log-odds: what every row's contributions add to."""
        return self.base

    def states(self, frame: pd.DataFrame) -> np.ndarray:
        """The account state (index into SEGMENTS) of every row of a case frame."""
        return account_states(frame, self.target_weeks)

    def contributions(self, inputs: pd.DataFrame, states: np.ndarray) -> np.ndarray:
        """Per row and input, the input's contribution to the calibrated log-odds (rows × inputs), for
        rows in the given account ``states``.

        ``base_logit() + contributions.sum(axis=1)`` is the calibrated log-odds exactly. Within a state
        a contribution is the state model's own; the state's input (STATE_INPUT) also carries the state's
        base value less the model's."""
        out = np.zeros((len(inputs), len(self.features)))
        states = np.asarray(states)
        for code, segment in enumerate(self.segments):
            rows = np.flatnonzero(states == code)
            if not len(rows):
                continue
            part = segment.contributions(inputs.iloc[rows])
            part[:, self.features.index(STATE_INPUT[segment.name])] += segment.base_logit() - self.base
            out[rows] = part
        return out

    def predict_proba_inputs(self, inputs: pd.DataFrame, states: np.ndarray) -> np.ndarray:
        logit = self.base_logit() + self.contributions(inputs, states).sum(axis=1)
        return _sigmoid(logit)

    def predict_proba(self, frame: pd.DataFrame, as_of=None) -> np.ndarray:
        """Calibrated probability of reaching the target, for each row of a frame that already has the
        LEDGER_COLUMNS (``build_rows`` frames do)."""
        return self.predict_proba_inputs(model_inputs(frame, as_of), self.states(frame))

    # --- the nightly call ------------------------------------------------------------------------
    def score(self, case_frame: pd.DataFrame, ledger=None, as_of=None, reasons: bool = True) -> pd.DataFrame:
        """risk_score (0..1), risk_band and risk_reasons for every row of ``case_frame``.

        ``case_frame`` (indexed by tenancy) needs the ledger features (``features.compute_features``) and
        the tenancy columns weekly_rent, start_date and uc_claim_date. ``ledger`` (the ledger frame or a
        ``prepare_model_ledger`` result) gives the payments by kind; without it, the ledger bound by
        ``load_model(path, inputs=...)`` is used, or the case frame's own LEDGER_COLUMNS. ``as_of``
        defaults to start_date + tenancy_age_days of each row (the case frame's as-of date).
        """
        ledger = ledger if ledger is not None else self.ledger
        if ledger is not None:
            case_frame = with_ledger_columns(case_frame, ledger, as_of)
        inputs = model_inputs(case_frame, as_of)
        contributions = self.contributions(inputs, self.states(case_frame))
        score = _sigmoid(self.base_logit() + contributions.sum(axis=1))
        out = pd.DataFrame(index=case_frame.index)
        out["risk_score"] = np.round(score, 4)
        bands = self.bands(score, _num(case_frame, "balance"))
        out["risk_band"] = bands
        if reasons:
            out["risk_reasons"] = self.reasons(case_frame, inputs, contributions, lowering=bands == "low")
        return out

    def bands(self, score: np.ndarray, balance: np.ndarray) -> np.ndarray:
        """high ≥ thresholds['high'] > medium ≥ thresholds['medium'] > low; a tenancy with a zero or
        credit balance whose score is at least 'medium' is ``early_warning`` instead (act before a debt
        exists)."""
        score = np.asarray(score, dtype=np.float64)
        at_risk = score >= self.thresholds["medium"]
        early = at_risk & (np.nan_to_num(balance, nan=0.0) <= 0)
        return np.select(
            [early, score >= self.thresholds["high"], at_risk], ["early_warning", "high", "medium"], "low"
        ).astype(object)

    def top_reasons(self, contributions: np.ndarray, k: int = 3, lowering=None) -> np.ndarray:
        """Indices of each row's ``k`` reasons, strongest first. Normally the inputs raising the log-odds
        most; when fewer than ``k`` raise it by at least MIN_REASON_LOGIT, then the inputs lowering it most.
        Rows marked in ``lowering`` (the low band) the other way round: what keeps the risk low first."""
        lowering = np.zeros(len(contributions), bool) if lowering is None else np.asarray(lowering, bool)
        signed = np.where(lowering[:, None], -contributions, contributions)
        key = np.where(signed > MIN_REASON_LOGIT, -signed, 1e6 + signed)
        return np.argsort(key, axis=1, kind="stable")[:, :k]

    def reasons(
        self, frame: pd.DataFrame, inputs: pd.DataFrame, contributions: np.ndarray, lowering=None
    ) -> np.ndarray:
        """The ``top_reasons`` of each row as plain sentences with its own figures, " | "-joined."""
        top = self.top_reasons(contributions, lowering=lowering)
        raw = _reason_values(frame, inputs)
        names = self.features
        sentences = np.empty(top.shape, dtype=object)
        for k, name in enumerate(names):
            hit = top == k
            rows = np.flatnonzero(hit.any(axis=1))
            if not len(rows):
                continue
            writer = REASONS[name]
            texts = _write(writer, raw, rows)
            row_hit, slot = np.nonzero(hit[rows])
            sentences[rows[row_hit], slot] = np.asarray(texts, dtype=object)[row_hit]
        return np.array([REASON_SEPARATOR.join(s) for s in sentences.tolist()], dtype=object)

    def explain(self, case_frame: pd.DataFrame, ledger=None, as_of=None) -> pd.DataFrame:
        """Every input's contribution to the calibrated log-odds, per row (for audits and the tests)."""
        ledger = ledger if ledger is not None else self.ledger
        if ledger is not None:
            case_frame = with_ledger_columns(case_frame, ledger, as_of)
        inputs = model_inputs(case_frame, as_of)
        contributions = self.contributions(inputs, self.states(case_frame))
        return pd.DataFrame(contributions, index=case_frame.index, columns=self.features)

    # --- artefact --------------------------------------------------------------------------------
    def model_json(self) -> dict:
        return {
            "features": self.features,
            "target_weeks": float(self.target_weeks),
            "base": round(float(self.base), 10),
            "segments": [segment.to_json() for segment in self.segments],
            "thresholds": dict(self.thresholds),
        }

    def weights_table(self) -> pd.DataFrame:
        """Each state's inputs, their bins and the bins' contribution to the calibrated log-odds (for the
        model card)."""
        rows = []
        for segment in self.segments:
            for spec in segment.inputs:
                labels = _bin_labels(spec)
                for label, weight in zip(labels, spec.weights, strict=True):
                    rows.append((segment.name, spec.name, label, segment.slope * (weight - spec.reference)))
        return pd.DataFrame(rows, columns=["segment", "input", "bin", "log_odds"])


def _bin_labels(spec: _Input) -> list[str]:
    if spec.kind == "category":
        return [*map(str, spec.edges), "(other)"]
    edges = [f"{e:g}" for e in spec.edges]
    if not edges:
        return ["(any)", "(missing)"]
    labels = [f"< {edges[0]}"]
    labels += [f"{a} – {b}" for a, b in itertools.pairwise(edges)]
    labels += [f"≥ {edges[-1]}", "(missing)"]
    return labels


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


@dataclass
class _Fit:
    """Fitted bin weights before they are centred on a state's accounts. A bin that says nothing (a
    category level or a "missing" never seen in training) has weight NaN until ``centred`` fills it with
    the reference, so that it contributes 0."""

    inputs: list[_Input]
    intercept: float
    iterations: int

    def centred(self, name: str, frame: pd.DataFrame, fitted_on: str) -> Segment:
        """The segment ``name`` with these weights, each input's reference its average weight over
        ``frame``'s rows (the accounts its contributions are measured against)."""
        inputs = []
        for spec in self.inputs:
            weights = np.asarray(spec.weights, dtype=np.float64)
            reference = float(np.nanmean(weights[spec.bins(frame[spec.name])]))
            filled = np.where(np.isnan(weights), reference, weights)
            inputs.append(_Input(spec.name, spec.kind, list(spec.edges), filled.tolist(), reference))
        return Segment(name, inputs, self.intercept, fitted_on=fitted_on)


def _fit_additive(frame: pd.DataFrame, target: np.ndarray, c: float) -> _Fit:
    """Penalised maximum likelihood for the bin weights, with each input's shape kept monotone where
    MONOTONE says so.

    Parameters are the *steps* between neighbouring bins (plus the missing bin's weight): a bin's weight
    is the sum of the steps up to it, a monotone input's steps are bounded to one sign, and the ridge
    penalty ½·‖steps‖² / (C·rows) smooths the shape. The design is one-hot (one bin per input per row),
    so the gradient costs two sparse products. Deterministic: L-BFGS-B from zero, no randomness."""
    from scipy.optimize import minimize

    inputs = []
    for name in FEATURE_NAMES:
        kind = MODEL_FEATURES[name][0]
        if kind == "numeric":
            edges = _cut_points(frame[name].to_numpy(dtype=np.float64), N_BINS)
        else:
            counts = frame[name].value_counts()
            edges = sorted(counts.index[counts >= 20].astype(str).tolist())
        inputs.append(_Input(name=name, kind=kind, edges=edges))
    design, offsets = _design(inputs, frame)
    design_t = design.T.tocsr()
    y = np.asarray(target, dtype=np.float64)
    rows = len(y)
    penalty = 1.0 / (c * rows)
    size = int(offsets[-1])
    bounds: list[tuple[float | None, float | None]] = []
    ordered = []  # (start, stop) of the bins whose weights are running sums of steps
    for k, spec in enumerate(inputs):
        start, stop = int(offsets[k]), int(offsets[k + 1])
        if spec.kind != "numeric":
            bounds += [(None, None)] * (stop - start)
            continue
        direction = MONOTONE.get(spec.name, 0)
        step = (0.0, None) if direction > 0 else (None, 0.0) if direction < 0 else (None, None)
        bounds += [(0.0, 0.0)] + [step] * (stop - start - 2) + [(None, None)]  # first bin 0; missing free
        ordered.append((start, stop - 1))
    bounds.append((None, None))  # intercept

    def weights_of(theta: np.ndarray) -> np.ndarray:
        weights = theta[:size].copy()
        for start, stop in ordered:
            weights[start:stop] = np.cumsum(theta[start:stop])
        return weights

    def objective(theta: np.ndarray):
        logit = design @ weights_of(theta) + theta[size]
        probability = _sigmoid(logit)
        loss = np.logaddexp(0.0, logit) - y * logit
        residual = (probability - y) / rows
        grad_weights = design_t @ residual
        grad = np.empty_like(theta)
        grad[:size] = grad_weights
        for start, stop in ordered:  # d weight_j / d step_i = 1 for j ≥ i: a reversed running sum
            grad[start:stop] = np.cumsum(grad_weights[start:stop][::-1])[::-1]
        grad[:size] += penalty * theta[:size]
        grad[size] = residual.sum()
        value = loss.mean() + 0.5 * penalty * float(theta[:size] @ theta[:size])
        return value, grad

    start_theta = np.zeros(size + 1)
    prior = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    start_theta[size] = np.log(prior / (1 - prior))
    result = minimize(
        objective,
        start_theta,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-8, "gtol": 1e-6},
    )
    theta = result.x
    coef = weights_of(theta)
    used = np.asarray(design.sum(axis=0)).ravel()
    for k, spec in enumerate(inputs):
        weights = coef[offsets[k] : offsets[k + 1]].copy()
        counts = used[offsets[k] : offsets[k + 1]]
        if spec.kind != "numeric":
            weights[counts == 0] = np.nan  # an unseen level says nothing
        elif counts[-1] == 0:
            weights[-1] = np.nan  # never missing in training: missing says nothing
        spec.weights = weights.tolist()
    return _Fit(inputs=inputs, intercept=float(theta[size]), iterations=int(result.nit))


def _fit_states(
    inputs: pd.DataFrame, target: np.ndarray, states: np.ndarray, is_holdout: np.ndarray, c: float
) -> tuple[list[Segment], dict]:
    """One segment per account state, and what was done for the artefact's metadata.

    A state has its own model when its rows outside the holdout, and its holdout rows (when there is a
    holdout), hold enough of both outcomes: fitted on the former, Platt-calibrated on the latter.
    Otherwise it takes the model fitted on all rows outside the holdout, calibrated on all holdout rows
    (as one model for everyone would be), with its contributions still measured against its own
    accounts. The all-rows model is fitted once, and only when a state needs it."""
    fit_rows = ~is_holdout
    own = [
        _enough_outcomes(target[(states == code) & fit_rows], MIN_SEGMENT_ROWS)
        and (not is_holdout.any() or _enough_outcomes(target[(states == code) & is_holdout], 1))
        for code in range(len(SEGMENTS))
    ]
    pooled = pooled_calibration = None
    if not all(own):
        pooled = _fit_additive(inputs[fit_rows], target[fit_rows], c)
        everyone = pooled.centred("all", inputs[fit_rows], "all")
        pooled_calibration = _calibration(everyone, inputs, target, is_holdout)
    segments, log = [], {}
    for code, name in enumerate(SEGMENTS):
        in_state = states == code
        centre_on = inputs[in_state & fit_rows] if (in_state & fit_rows).any() else inputs[fit_rows]
        if own[code]:
            fit = _fit_additive(inputs[in_state & fit_rows], target[in_state & fit_rows], c)
            segment = fit.centred(name, centre_on, fitted_on=name)
            calibration = in_state & is_holdout
            segment.slope, segment.offset = _calibration(segment, inputs, target, calibration)
        else:
            fit = pooled
            segment = fit.centred(name, centre_on, fitted_on="all")
            calibration = is_holdout
            segment.slope, segment.offset = pooled_calibration
        log[name] = {
            "rows": int(in_state.sum()),
            "positive_rate": round(float(target[in_state].mean()), 4) if in_state.any() else None,
            "fitted_on": segment.fitted_on,
            "fit_rows": int((in_state & fit_rows).sum() if own[code] else fit_rows.sum()),
            "calibrated_on": segment.fitted_on if is_holdout.any() else "none",
            "calibration_rows": int(calibration.sum()),
            "optimiser_iterations": fit.iterations,
        }
        segments.append(segment)
    return segments, log


def _calibration(segment: Segment, inputs: pd.DataFrame, target: np.ndarray, rows: np.ndarray):
    """Platt slope and offset of ``segment``'s raw log-odds on ``rows`` (1, 0 when there are none)."""
    if not rows.any():
        return 1.0, 0.0
    raw = segment.base_logit() + segment.contributions(inputs[rows]).sum(axis=1)
    return _fit_platt(raw, target[rows])


def _enough_outcomes(target: np.ndarray, min_rows: int) -> bool:
    """Enough rows, and enough of each outcome, to fit (or calibrate) a state's own model."""
    positives = int(np.sum(target))
    return len(target) >= min_rows and min(positives, len(target) - positives) >= MIN_SEGMENT_OUTCOMES


def _fit_platt(logit: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(target)) < 2:
        return 1.0, 0.0
    fit = LogisticRegression(C=1e6, max_iter=1000)
    fit.fit(logit.reshape(-1, 1), target)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


# --------------------------------------------------------------------------------------------------
# The ledger as the model reads it: the features' PreparedLedger plus payments by kind.

_SPAN = 1 << 22  # key = tenancy code × _SPAN + day offset; days fit ±5,700 years
_DAY_MIN = -(1 << 21)
_BENEFIT_KINDS = {"uc": "uc_paid_13w", "hb": "hb_paid_13w"}


@dataclass
class ModelLedger:
    """A ledger prepared once for many as-of dates: running totals of payment credits by kind (for
    ``ledger_columns``) and, built on first use, the features' ``PreparedLedger`` (for training rows)."""

    tenancies: pd.Index
    keys: np.ndarray  # sorted (tenancy code, day) of payment-kind transactions
    cumulative: dict  # column name -> running total with a leading 0 (pence, or count × 100)
    source: pd.DataFrame | None = field(default=None, repr=False)
    _prepared: PreparedLedger | None = field(default=None, repr=False)

    @property
    def prepared(self) -> PreparedLedger:
        if self._prepared is None:
            self._prepared = prepare_ledger(self.source, self.tenancies)
        return self._prepared


def prepare_model_ledger(ledger, tenancies=None) -> ModelLedger:
    """Sort and total a ledger frame (tenancy, date, amount, kind) once for the model.

    ``tenancies`` (a frame or ids) fixes the tenancy codes; without it, every tenancy in the ledger."""
    if isinstance(ledger, ModelLedger):
        return ledger
    if isinstance(ledger, PreparedLedger):
        raise ModelError(
            "the risk model needs the ledger frame (payments by kind), not a features.PreparedLedger; "
            "pass the frame or model.prepare_model_ledger(frame)"
        )
    if tenancies is None:
        source = ledger["tenancy"]
    else:
        source = tenancies["tenancy"] if isinstance(tenancies, pd.DataFrame) else pd.Series(tenancies)
    ids = pd.Index(pd.unique(pd.Series(source).dropna()), name="tenancy")
    kinds = ledger["kind"].astype(str).to_numpy()
    payment = np.isin(kinds, ("payment", "uc", "hb"))
    rows = ledger.loc[payment]
    row_codes, distinct = pd.factorize(rows["tenancy"])  # hash the long column once
    codes = np.append(ids.get_indexer(distinct), -1).astype(np.int64)[row_codes]
    dates = pd.to_datetime(rows["date"]).to_numpy(dtype="datetime64[D]")
    amounts = pd.to_numeric(rows["amount"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    usable = (codes >= 0) & ~np.isnat(dates) & np.isfinite(amounts)
    keys = codes[usable] * _SPAN + (dates[usable].astype(np.int64) - _DAY_MIN)
    credit = -np.rint(amounts[usable] * 100).astype(np.int64)  # a payment is negative in the ledger
    kind = kinds[payment][usable]
    order = np.argsort(keys, kind="stable")
    keys, credit, kind = keys[order], credit[order], kind[order]
    cumulative = {
        "paid_13w": _running(credit),
        "payments_13w": _running(np.where(credit > 0, 100, 0)),  # a count, in hundredths like pence
    }
    for code, column in _BENEFIT_KINDS.items():
        cumulative[column] = _running(np.where(kind == code, credit, 0))
    return ModelLedger(tenancies=ids, keys=keys, cumulative=cumulative, source=ledger)


def _running(pence: np.ndarray) -> np.ndarray:
    out = np.zeros(len(pence) + 1, dtype=np.int64)
    np.cumsum(pence, out=out[1:])
    return out


def ledger_columns(ledger: ModelLedger, tenancy_ids, as_of, weeks: int = 13) -> pd.DataFrame:
    """Payment credits in the ``weeks`` weeks to as_of (as_of − 7·weeks, as_of], in total and from UC
    and HB, per tenancy (pounds, net of reversals). Transactions after as_of are never read."""
    ids = pd.Index(tenancy_ids)
    codes = ledger.tenancies.get_indexer(ids).astype(np.int64)
    codes[codes < 0] = len(ledger.tenancies)  # an unknown tenancy: an empty code with no transactions
    today = (pd.Timestamp(as_of).normalize() - pd.Timestamp("1970-01-01")).days
    hi = np.searchsorted(ledger.keys, codes * _SPAN + (today - _DAY_MIN), side="right")
    lo = np.searchsorted(ledger.keys, codes * _SPAN + (today - 7 * weeks + 1 - _DAY_MIN), side="left")
    return pd.DataFrame(
        {name: (total[hi] - total[lo]) / 100 for name, total in ledger.cumulative.items()}, index=ids
    )[list(LEDGER_COLUMNS)]


def with_ledger_columns(frame: pd.DataFrame, ledger, as_of=None) -> pd.DataFrame:
    """``frame`` (indexed by tenancy) with LEDGER_COLUMNS added as of each row's as_of."""
    ledger = prepare_model_ledger(ledger)
    when = _row_as_of(frame, as_of)
    out = frame.copy()
    ids = frame["tenancy"] if "tenancy" in frame else pd.Series(frame.index, index=frame.index)
    for column in LEDGER_COLUMNS:
        out[column] = np.nan
    for day in pd.unique(when.dropna()):
        rows = (when == day).to_numpy()
        values = ledger_columns(ledger, ids[rows].to_numpy(), day)
        for column in LEDGER_COLUMNS:
            out.loc[rows, column] = values[column].to_numpy()
    return out


# --------------------------------------------------------------------------------------------------
# Training rows: features at rolling dates D, target over (D, D + horizon].


@dataclass
class TrainingRows:
    frame: pd.DataFrame  # case-frame-like rows: features, tenancy columns, as_of, target
    dates: list[pd.Timestamp]


def scoring_dates(as_of, horizon_weeks: int, history_weeks: int, step_weeks: int) -> list[pd.Timestamp]:
    """D = as_of − horizon, then every ``step_weeks`` back while D ≥ as_of − horizon − history."""
    last = pd.Timestamp(as_of).normalize() - pd.Timedelta(weeks=horizon_weeks)
    count = history_weeks // max(step_weeks, 1) + 1
    return sorted(last - pd.Timedelta(weeks=step_weeks * k) for k in range(count))


_TENANCY_COLUMNS = (
    "weekly_rent",
    "start_date",
    "end_date",
    "payment_method",
    "uc_claim_date",
    "tenure_type",
    "vulnerable",
    "age_band",
    "patch",
)


def build_rows(
    tenancies: pd.DataFrame,
    ledger: pd.DataFrame | ModelLedger,
    dates,
    horizon_weeks: int = 8,
    target_weeks: float = 2,
    max_rows: int | None = None,
    seed: int = 0,
) -> TrainingRows:
    """Rows (tenancy × scoring date D) with the features as of D and the target over (D, D + horizon].

    Features come from ``compute_features(..., D)`` and so ignore every transaction after D. The target
    reads arrears after grace at D + 7k (k = 1..horizon), so it needs the ledger up to D + horizon.
    A tenancy is in D's rows when it started on or before D and did not end before D + horizon.
    ``max_rows`` samples the same number of tenancies on each date (seeded).
    """
    model_ledger = prepare_model_ledger(ledger, tenancies)
    prepared = model_ledger.prepared
    dates = sorted(pd.Timestamp(d).normalize() for d in dates)
    tenancies = tenancies.reset_index(drop=True)
    ids = tenancies["tenancy"].to_numpy()
    rent = _num(tenancies, "weekly_rent")
    start = _dates_of(tenancies, "start_date")
    end = _dates_of(tenancies, "end_date")
    rng = np.random.default_rng(seed)
    per_date = None if max_rows is None else max(1, max_rows // max(len(dates), 1))

    needed = sorted({d + pd.Timedelta(weeks=k) for d in dates for k in range(1, horizon_weeks + 1)})
    arrears_at: dict[pd.Timestamp, np.ndarray] = {}
    features_at: dict[pd.Timestamp, pd.DataFrame] = {}
    for day in dates:
        features_at[day] = compute_features(tenancies, prepared, day)
        arrears_at[day] = features_at[day]["arrears_after_grace"].to_numpy(dtype=np.float64)
    for day in sorted(set(needed) - set(dates)):
        arrears_at[day] = arrears_after_grace(tenancies, prepared, day)

    keep_columns = [c for c in _TENANCY_COLUMNS if c in tenancies]
    parts = []
    for day in dates:
        horizon_end = day + pd.Timedelta(weeks=horizon_weeks)
        eligible = (start <= day).to_numpy() & ~(end < horizon_end).to_numpy() & (rent > 0)
        rows = np.flatnonzero(eligible)
        if per_date is not None and len(rows) > per_date:
            rows = np.sort(rng.choice(rows, size=per_date, replace=False))
        future = np.column_stack(
            [arrears_at[day + pd.Timedelta(weeks=k)][rows] for k in range(1, horizon_weeks + 1)]
        )
        target = reached(future, rent[rows, None], target_weeks).any(axis=1)
        part = features_at[day].iloc[rows].reset_index(drop=True)
        extra = ledger_columns(model_ledger, ids[rows], day)
        for column in LEDGER_COLUMNS:
            part[column] = extra[column].to_numpy()
        for column in keep_columns:
            part[column] = tenancies[column].to_numpy()[rows]
        part.insert(0, "tenancy", ids[rows])
        part.insert(1, "as_of", day)
        part["target"] = target.astype(np.int8)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return TrainingRows(frame=frame, dates=dates)


# --------------------------------------------------------------------------------------------------
# Training.


def train(
    tenancies: pd.DataFrame,
    ledger: pd.DataFrame | ModelLedger,
    as_of,
    horizon_weeks: int = 8,
    target_weeks: float = 2,
    history_weeks: int = 26,
    step_weeks: int = 2,
    seed: int = 0,
    max_rows: int = 250_000,
    calibration_share: float = 0.25,
    c: float = 1.0,
    thresholds: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> RiskModel:
    """Train on rolling scoring dates up to ``as_of − horizon``; see the module docstring.

    The latest ``calibration_share`` of the dates are held out of the fit and used to calibrate the
    probabilities (Platt scaling) and to measure the out-of-time metrics stored in the metadata.
    """
    started = time.perf_counter()
    say = progress or (lambda message: None)
    as_of = pd.Timestamp(as_of).normalize()
    dates = scoring_dates(as_of, horizon_weeks, history_weeks, step_weeks)
    say(f"building training rows on {len(dates)} dates {dates[0].date()} .. {dates[-1].date()}")
    rows = build_rows(tenancies, ledger, dates, horizon_weeks, target_weeks, max_rows=max_rows, seed=seed)
    frame = rows.frame
    if frame.empty or frame["target"].nunique() < 2:
        raise ModelError("cannot train: the history gives no rows or only one outcome")
    built = time.perf_counter()

    n_holdout = round(len(dates) * calibration_share) if len(dates) > 1 else 0
    holdout_dates = dates[len(dates) - n_holdout :] if n_holdout else []
    is_holdout = frame["as_of"].isin(holdout_dates).to_numpy()
    if not is_holdout.any() or is_holdout.all() or frame.loc[~is_holdout, "target"].nunique() < 2:
        is_holdout = np.zeros(len(frame), dtype=bool)
    inputs = model_inputs(frame, frame["as_of"])
    target = frame["target"].to_numpy()
    states = account_states(frame, target_weeks)
    say(f"fitting on {int((~is_holdout).sum()):,} rows, calibrating on {int(is_holdout.sum()):,}")
    segments, segment_log = _fit_states(inputs, target, states, is_holdout, c)
    counts = np.bincount(states, minlength=len(SEGMENTS))
    base = float(np.dot(counts, [segment.base_logit() for segment in segments]) / max(counts.sum(), 1))
    model = RiskModel(
        segments=segments,
        base=base,
        target_weeks=float(target_weeks),
        thresholds=dict(thresholds or DEFAULT_THRESHOLDS),
    )

    from awm_frappe.engine.evaluation import classification_metrics

    probability = model.predict_proba_inputs(inputs, states)
    metrics = {"fit": classification_metrics(target[~is_holdout], probability[~is_holdout])}
    if is_holdout.any():
        metrics["holdout"] = classification_metrics(target[is_holdout], probability[is_holdout])
    model.metadata = {
        "training": {
            "as_of": str(as_of.date()),
            "first_date": str(dates[0].date()),
            "last_date": str(dates[-1].date()),
            "dates": len(dates),
            "calibration_dates": [str(d.date()) for d in holdout_dates] if is_holdout.any() else [],
            "horizon_weeks": horizon_weeks,
            "target_weeks": target_weeks,
            "history_weeks": history_weeks,
            "step_weeks": step_weeks,
            "rows": len(frame),
            "tenancies": int(frame["tenancy"].nunique()),
            "positive_rate": round(float(target.mean()), 4),
            "max_rows": max_rows,
            "seed": seed,
            "c": c,
            "seconds": {
                "rows": round(built - started, 2),
                "fit": round(time.perf_counter() - built, 2),
            },
            "segments": segment_log,
        },
        "metrics": metrics,
    }
    say(f"trained in {time.perf_counter() - started:.1f}s; holdout {metrics.get('holdout', metrics['fit'])}")
    return model


# --------------------------------------------------------------------------------------------------
# Artefact.


def _versions() -> dict:
    import scipy
    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "scipy": scipy.__version__,
    }


def _content_hash(model_part: dict) -> str:
    text = json.dumps(model_part, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def save_model(model: RiskModel, path) -> dict:
    """Write the artefact (one JSON file) and return its metadata."""
    part = model.model_json()
    metadata = {
        "format": FORMAT,
        "model_version": MODEL_VERSION,
        "model_type": "additive logistic model on binned inputs per account state, Platt-calibrated",
        "features": model.features,
        "excluded_attributes": list(EXCLUDED_ATTRIBUTES),
        **model.metadata,
        "library_versions": _versions(),
        "content_hash": "sha256:" + _content_hash(part),
    }
    document = {"metadata": metadata, "model": part}
    path = Path(path)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False, default=_json_default) + "\n")
    return metadata


def _segment_from_json(segment: dict) -> Segment:
    return Segment(
        name=segment["name"],
        inputs=[
            _Input(
                name=spec["name"],
                kind=spec["kind"],
                edges=list(spec["edges"]),
                weights=list(spec["weights"]),
                reference=float(spec["reference"]),
            )
            for spec in segment["inputs"]
        ],
        intercept=float(segment["intercept"]),
        slope=float(segment["calibration"]["slope"]),
        offset=float(segment["calibration"]["offset"]),
        fitted_on=segment.get("fitted_on", ""),
    )


def _json_default(value):
    if isinstance(value, np.integer | np.floating):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return str(value.date())
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def load_model(path, inputs=None, as_of=None) -> RiskModel:
    """Read an artefact written by ``save_model``; refuse one this code cannot use (another format, feature
    list, model version or set of account states; a content hash that does not match; a malformed model
    part), always with a ``ModelError`` that says which.

    ``inputs`` (``validation.Inputs``) binds its ledger to the model, so that ``score(case_frame)`` can
    read payments by kind without being handed the ledger. With ``as_of``, a warning is issued when the
    model was trained on outcomes observed after as_of (a backtest that would see the future).
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: not a risk model artefact ({error})") from error
    if not isinstance(document, dict) or document.get("metadata", {}).get("format") != FORMAT:
        raise ModelError(f"{path}: not a risk model artefact (format is not {FORMAT!r})")
    metadata, part = document["metadata"], document["model"]
    expected = list(FEATURE_NAMES)
    trained = list(metadata.get("features") or [])
    if trained != expected or part.get("features") != trained:
        missing = [f for f in expected if f not in trained]
        extra = [f for f in trained if f not in expected]
        detail = "; ".join(
            text
            for text in (
                f"this code expects {', '.join(missing)} which the model lacks" if missing else "",
                f"the model uses {', '.join(extra)} which this code does not compute" if extra else "",
                "the order differs" if not missing and not extra else "",
            )
            if text
        )
        raise ModelError(
            f"{path}: the model was trained with a different feature list ({detail}). "
            "Retrain it with `awm train` on this version."
        )
    if metadata.get("model_version") != MODEL_VERSION:
        raise ModelError(
            f"{path}: model version {metadata.get('model_version')} but this code reads version "
            f"{MODEL_VERSION}; retrain it with `awm train`."
        )
    recorded = metadata.get("content_hash", "")
    if recorded != "sha256:" + _content_hash(part):
        raise ModelError(f"{path}: the content hash does not match: the file was altered or damaged")
    try:
        names = [segment.get("name") for segment in part.get("segments") or []]
        if names != list(SEGMENTS) or any(
            [spec["name"] for spec in segment["inputs"]] != trained for segment in part["segments"]
        ):
            raise ModelError(
                f"{path}: the model's account states ({', '.join(map(str, names))}) or their inputs are "
                f"not this code's ({', '.join(SEGMENTS)}); retrain it with `awm train`."
            )
        model = RiskModel(
            segments=[_segment_from_json(segment) for segment in part["segments"]],
            base=float(part["base"]),
            target_weeks=float(part["target_weeks"]),
            thresholds=dict(part.get("thresholds") or DEFAULT_THRESHOLDS),
            metadata=metadata,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        if isinstance(error, ModelError):
            raise
        raise ModelError(f"{path}: the model part is incomplete or malformed ({error!r})") from error
    if inputs is not None:
        model.ledger = prepare_model_ledger(inputs.ledger, inputs.tenancies)
    trained_to = (metadata.get("training") or {}).get("as_of")
    if as_of is not None and trained_to and pd.Timestamp(trained_to) > pd.Timestamp(as_of):
        warnings.warn(
            f"the risk model was trained on outcomes up to {trained_to}, after the as-of date "
            f"{pd.Timestamp(as_of).date()}: a backtest with it sees the future",
            stacklevel=2,
        )
    return model


# --------------------------------------------------------------------------------------------------
# Convenience for the command-line tool and the benchmark.


def _latest_date(ledger: pd.DataFrame) -> pd.Timestamp:
    return pd.to_datetime(ledger["date"]).max().normalize()


def train_from_dir(data, out=None, as_of=None, progress=None, **options) -> RiskModel:
    """Read a data directory (``io.read_inputs``), train, and save to ``out`` when given.

    ``as_of`` defaults to the latest ledger date."""
    from awm_frappe.engine.io import read_inputs

    inputs = read_inputs(data)
    as_of = _latest_date(inputs.ledger) if as_of is None else pd.Timestamp(as_of)
    model = train(inputs.tenancies, inputs.ledger, as_of, progress=progress, **options)
    if out is not None:
        save_model(model, out)
    return model


def benchmark_training(n: int = 100_000, weeks: int = 52, seed: int = 0, progress=None) -> dict:
    """Synthesise ``n`` tenancies × ``weeks`` weeks, train, and report wall time and peak memory."""
    import resource
    import tracemalloc

    from awm_frappe.engine import synth

    say = progress or (lambda message: None)
    started = time.perf_counter()
    portfolio = synth.synthesize(n, weeks, seed)
    synthesised = time.perf_counter()
    say(f"synthesised {n:,} tenancies, {len(portfolio.ledger):,} ledger rows in {synthesised - started:.1f}s")
    tracemalloc.start()
    model = train(portfolio.tenancies, portfolio.ledger, portfolio.as_of, seed=seed, progress=progress)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    trained = time.perf_counter()
    return {
        "tenancies": n,
        "weeks": weeks,
        "ledger_rows": len(portfolio.ledger),
        "synthesis_seconds": round(synthesised - started, 2),
        "training_seconds": round(trained - synthesised, 2),
        "training_peak_mb": round(peak / 2**20, 1),
        "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "training_rows": model.metadata["training"]["rows"],
        "holdout": model.metadata["metrics"].get("holdout"),
    }
