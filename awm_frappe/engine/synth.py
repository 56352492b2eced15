"""A synthetic rent-arrears portfolio: tenancies, ledger, open cases, action history and officers.

Used by ``awm synth``, the demo, the risk model's training data and the week-by-week simulator. Everything
is drawn from one seeded ``numpy.random.Generator``, so a seed always gives identical frames.

How it works (docs/synthetic.md has the archetypes and their parameters):

- ``PayerModel`` holds one row of state per tenancy in numpy arrays (balance, payment mode, schedule,
  propensities, scheduled life events). ``PayerModel.step(week, rng)`` posts one rent week for every
  tenancy at once: the Monday rent charge and that week's payments, as arrays. The batch generator and a
  simulator call the same step; ``weekly_payments`` is the same thing as a function.
- ``synthesize`` builds a population, runs the model over a burn-in period and then the requested weeks,
  and replays a simplified version of a landlord's past arrears practice (letters, NOSPs, court,
  agreements, pauses) week by week, so the open cases and action history at ``as_of`` agree with the
  ledger. Contact nudges payment through the model's ``propensity_boost`` hook.
- ``write_portfolio`` writes the frames in the documented input format (docs/engine.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from awm_frappe.engine import schema

# ---------------------------------------------------------------------------------------------------
# Archetypes

ARCHETYPES: tuple[str, ...] = (
    "steady_dd",
    "steady_other",
    "dd_bounce",
    "housing_benefit",
    "universal_credit",
    "income_shock",
    "chronic_late",
    "wont_pay",
)
"""Hidden payer types; ``Portfolio.truth`` says which one each tenancy is. Never in the tenancies frame."""

ARCHETYPE_SHARES: dict[str, float] = {
    "steady_dd": 0.42,
    "steady_other": 0.11,
    "dd_bounce": 0.07,
    "housing_benefit": 0.08,
    "universal_credit": 0.13,
    "income_shock": 0.08,
    "chronic_late": 0.075,
    "wont_pay": 0.035,
}

(A_STEADY_DD, A_STEADY_OTHER, A_DD_BOUNCE, A_HB, A_UC, A_SHOCK, A_CHRONIC, A_WONT) = range(len(ARCHETYPES))

# Payment modes: how a tenancy pays *now*. Archetypes start in one mode and life events move them.
MODES: tuple[str, ...] = ("regular", "housing_benefit", "uc_wait", "uc", "uc_apa", "irregular", "silent")
REGULAR, HB, UC_WAIT, UC, UC_APA, IRREGULAR, SILENT = range(len(MODES))
# Styles of irregular paying.
CHRONIC, WONT, POST_SHOCK = range(3)

KIND_CODES = {kind: code for code, kind in enumerate(schema.LEDGER_KINDS)}
K_RENT = KIND_CODES["rent"]
K_PAYMENT = KIND_CODES["payment"]
K_HB = KIND_CODES["hb"]
K_UC = KIND_CODES["uc"]
K_ADJUSTMENT = KIND_CODES["adjustment"]
_PAYMENT_KIND_CODES = np.array([KIND_CODES[k] for k in schema.PAYMENT_KINDS])

NEVER = 1 << 28  # "no such week/day" in int32 schedule arrays (far in the future)
MONTH_WEEKS = 52.0 / 12.0
UC_FIRST_PAYMENT_DAYS = 33  # the first UC payday is the first assessment day at least this long after claim

# Irregular payers: the week's payment is rent x irr_frac x a multiplier drawn from these tables.
_IRR_MULTIPLIERS = np.array([0.5, 1.0, 1.5, 2.0])
_IRR_CDF = np.array(
    [
        [0.20, 0.75, 0.85, 1.00],  # chronic: often a week's rent, sometimes half, sometimes two weeks
        [0.30, 0.80, 0.90, 1.00],  # won't pay
        [0.25, 0.85, 0.95, 1.00],  # after an income shock
    ]
)
# Day of the week irregular payers pay (Mon..Sun), cumulative.
_IRR_DAY_CDF = np.cumsum(
    np.array(
        [
            [0.15, 0.10, 0.10, 0.15, 0.25, 0.15, 0.10],
            [0.10, 0.10, 0.10, 0.15, 0.25, 0.20, 0.10],
            [0.20, 0.15, 0.15, 0.15, 0.20, 0.10, 0.05],
        ]
    ),
    axis=1,
)


def _rent_year(day: np.datetime64) -> int:
    """Rent year of a date: social rents change on the first Monday on or after 1 April."""
    year = int(str(day)[:4])
    april = np.datetime64(f"{year}-04-01")
    change = april + int((7 - _weekday(april)) % 7)
    return year if day >= change else year - 1


def _days_until_dom(day: np.datetime64, dom: np.ndarray) -> np.ndarray:
    """Days from ``day`` to the next date (on or after it) whose day of the month is ``dom`` (1..28)."""
    day = np.datetime64(day, "D")
    today = int(str(day)[8:10])
    month = day.astype("datetime64[M]")
    month_days = int(((month + 1).astype("datetime64[D]") - month.astype("datetime64[D]")).astype(np.int64))
    dom = np.asarray(dom, dtype=np.int64)
    return np.where(dom >= today, dom - today, month_days - today + dom)


def _weekday(day: np.datetime64) -> int:
    return int((day.astype("datetime64[D]").astype(np.int64) - 4) % 7)  # 1970-01-05 was a Monday


# ---------------------------------------------------------------------------------------------------
# The payer model


@dataclass
class WeekTransactions:
    """One rent week's postings for many tenancies, as parallel arrays.

    ``tenancy`` is the row index into the model's arrays; ``day`` counts days from the model's origin
    (the first Monday of the ledger window); ``amount`` is signed as it moves the balance; ``kind`` is an
    index into ``schema.LEDGER_KINDS``.
    """

    tenancy: np.ndarray
    day: np.ndarray
    amount: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.tenancy)

    def select(self, mask: np.ndarray) -> WeekTransactions:
        return WeekTransactions(self.tenancy[mask], self.day[mask], self.amount[mask], self.kind[mask])

    def to_frame(self, tenancy_ids: np.ndarray, origin: np.datetime64) -> pd.DataFrame:
        """A ledger-shaped frame (tenancy, date, amount, kind)."""
        return _ledger_frame(self, tenancy_ids, origin)


class _Postings:
    """Collects (tenancy, day-of-week, amount, kind) parts during one step."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []

    def add(self, idx: np.ndarray, day, amount: np.ndarray, kind: int) -> None:
        amount = np.round(np.broadcast_to(np.asarray(amount, dtype=np.float64), idx.shape), 2)
        keep = amount != 0
        if not keep.all():
            idx, amount = idx[keep], amount[keep]
            day = np.broadcast_to(np.asarray(day, dtype=np.int64), keep.shape)[keep]
        if len(idx):
            day = np.broadcast_to(np.asarray(day, dtype=np.int64), idx.shape)
            self.parts.append((idx, day, amount, kind))

    def build(self, week: int) -> WeekTransactions:
        if not self.parts:
            empty = np.zeros(0, dtype=np.int32)
            return WeekTransactions(empty, empty, empty.astype(float), empty.astype(np.int8))
        idx = np.concatenate([p[0] for p in self.parts]).astype(np.int32)
        day = np.concatenate([p[1] for p in self.parts]) + 7 * week
        amount = np.concatenate([p[2] for p in self.parts])
        kind = np.concatenate([np.full(len(p[0]), p[3], dtype=np.int8) for p in self.parts])
        return WeekTransactions(idx, day.astype(np.int32), amount, kind)


class PayerModel:
    """How every tenancy pays, one rent week at a time, vectorised over tenancies.

    State is one numpy array per attribute, indexed by tenancy row. Weeks are counted from ``origin``
    (week 0 is the Monday ``origin``; negative weeks are burn-in before the ledger window). Rent is charged
    every Monday a tenancy is active (``start_week <= week <= end_week``); ``rent`` is the current weekly
    rent and earlier rent years are ``rent / (1 + rent_uplift) ** years``.

    Hooks for a simulator (read by ``step``, never changed by it):

    - ``propensity_boost`` (float, per tenancy, default 0): added to the probability of every
      discretionary payment (a non-direct-debit instalment, a benefit top-up, an irregular payer's weekly
      payment, a UC claimant's monthly payment) and to the probability of a catch-up lump towards the
      arrears. Set it after contact (the batch generator adds 0.05-0.3 per letter, call or notice and
      decays it by ``BOOST_DECAY`` a week); probabilities are clipped to [0, 1].
    - ``set_agreement(idx, weekly, keep)``: an arrears agreement; each week the tenancy pays an extra
      ``weekly`` with probability ``keep`` (+ boost), and an irregular payer pays its rent at least that
      often. ``clear_agreement(idx)`` ends it. ``lump_due``/``lump_prob``: a one-off payment (e.g. an
      agreement's initial payment) made next week with that probability.

    ``balance`` is the running balance after the last step (positive = owed).
    """

    BOOST_DECAY = 0.75

    def __init__(self, n: int, origin: np.datetime64, rent_uplift: float = 0.027, reference_day=None):
        self.n = n
        self.origin = np.datetime64(origin, "D")
        self.rent_uplift = rent_uplift
        reference = self.origin if reference_day is None else np.datetime64(reference_day, "D")
        self.reference_rent_year = _rent_year(reference)
        self.apa_phase = 0  # the landlord's 4-weekly APA (managed payment) schedule

        f8 = lambda value=0.0: np.full(n, value, dtype=np.float64)  # noqa: E731
        i4 = lambda value=0: np.full(n, value, dtype=np.int32)  # noqa: E731
        b1 = lambda value=False: np.full(n, value, dtype=bool)  # noqa: E731
        i1 = lambda value=0: np.full(n, value, dtype=np.int8)  # noqa: E731

        self.rent = f8(100.0)
        self.balance = f8()
        self.start_week = i4(-NEVER)
        self.end_week = i4(NEVER)
        self.stop_week = i4(NEVER)  # payments stop (the tenant died)
        self.mode = i1(REGULAR)
        self.style = i1(CHRONIC)
        # regular payers
        self.is_dd = b1()
        self.cycle = i1(1)  # weeks between payments; 0 = calendar monthly on pay_dom
        self.phase = i4(0)
        self.pay_day = i1(0)  # day of week (0 = Monday)
        self.pay_dom = i1(1)  # day of month for monthly payers (1..28)
        self.pay_prob = f8(1.0)
        self.late_prob = f8(0.0)
        self.represent_prob = f8(0.5)
        self.missed = f8()
        self.repay = f8()  # extra paid per week of rent while in arrears, as a fraction of rent
        # income shock
        self.slip_week = i4(NEVER)
        self.shock_week = i4(NEVER)
        self.recover_week = i4(NEVER)
        self.post_prob = f8(0.5)
        self.post_frac = f8(0.5)
        # irregular payers
        self.irr_prob = f8(0.7)
        self.irr_frac = f8(1.0)
        # housing benefit
        self.hb_share = f8(1.0)
        self.hb_phase = i4(0)
        self.hb_susp_start = i4(NEVER)
        self.hb_susp_end = i4(NEVER)
        self.hb_backpay = b1(True)
        self.hb_accrued = f8()
        self.topup_prob = f8(0.9)
        # universal credit
        self.uc_claim_day = i4(NEVER)
        self.uc_claim_week = i4(NEVER)
        self.uc_dom = i1(1)
        self.uc_share = f8(1.0)
        self.uc_pay_prob = f8(0.9)
        self.uc_full_prob = f8(0.9)
        self.uc_repay = f8()
        self.uc_wait_pay = b1()
        self.uc_wait_frac = f8(0.5)
        self.apa_at_claim = b1()
        self.apa_week = i4(NEVER)
        self.apa_pending = f8()
        self.apa_deduction = f8(60.0)
        # catch-up lumps towards arrears
        self.catch_prob = f8(0.05)
        self.catch_thr = f8(1.0)  # weeks of rent owed (beyond expected benefit timing) before a lump
        # hooks
        self.propensity_boost = f8()
        self.agreement_weekly = f8()
        self.agreement_keep = f8()
        self.lump_due = f8()
        self.lump_prob = f8()

    # -- calendar --------------------------------------------------------------------------------
    def monday(self, week: int) -> np.datetime64:
        return self.origin + 7 * week

    def rent_factor(self, week: int) -> float:
        years = _rent_year(self.monday(week)) - self.reference_rent_year
        return float((1.0 + self.rent_uplift) ** years)

    def rent_for_week(self, week: int) -> np.ndarray:
        return np.round(self.rent * self.rent_factor(week), 2)

    def _dom_offsets(self, week: int) -> np.ndarray:
        """Lookup day-of-month -> day of this week it falls on (-1 when not in this week)."""
        days = self.monday(week) + np.arange(7)
        dom = (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
        table = np.full(32, -1, dtype=np.int64)
        table[dom] = np.arange(7)
        return table

    def active(self, week: int) -> np.ndarray:
        return (self.start_week <= week) & (week <= self.end_week)

    # -- hooks -----------------------------------------------------------------------------------
    def set_agreement(self, idx, weekly, keep) -> None:
        self.agreement_weekly[idx] = weekly
        self.agreement_keep[idx] = keep

    def clear_agreement(self, idx) -> None:
        self.agreement_weekly[idx] = 0.0
        self.agreement_keep[idx] = 0.0

    # -- the step --------------------------------------------------------------------------------
    def step(self, week: int, rng: np.random.Generator) -> WeekTransactions:
        """Post rent week ``week`` for all tenancies; update balances and modes; return the postings."""
        n = self.n
        u = rng.random((26, n))
        rent = self.rent_for_week(week)
        active = self.active(week)
        bal0 = self.balance.copy()  # the balance brought into this week (collectable arrears)
        boost = self.propensity_boost
        offsets = self._dom_offsets(week)
        out = _Postings()

        charged = np.flatnonzero(active)
        out.add(charged, 0, rent[charged], K_RENT)

        self._transitions(week, active, rent, out)
        mode = self.mode
        paying = active & (week < self.stop_week)

        # Regular payers: direct debit / standing order / cash on a weekly, k-weekly or monthly cycle.
        regular = paying & (mode == REGULAR)
        cycle = self.cycle.astype(np.int64)
        weekly_due = regular & (cycle > 0) & (((week - self.phase) % np.maximum(cycle, 1)) == 0)
        month_offset = offsets[self.pay_dom]
        monthly_due = regular & (cycle == 0) & (month_offset >= 0)
        due = weekly_due | monthly_due
        cycle_weeks = np.where(cycle > 0, cycle, MONTH_WEEKS)
        base = rent * cycle_weeks
        day = np.where(cycle > 0, self.pay_day, np.maximum(month_offset, 0))
        slipping = (week >= self.slip_week) & (week < self.shock_week)
        prob = np.where(slipping, 0.65, self.pay_prob) + np.where(self.is_dd, 0.0, boost)
        paid = due & (u[0] < prob)
        late = ~self.is_dd & (slipping | (u[1] < self.late_prob))
        day = np.where(late, np.minimum(6, day + 1 + (u[2] * 3).astype(np.int64)), day)
        partial = slipping & (u[3] < 0.35)
        amount = np.where(partial, base * (0.4 + 0.5 * u[4]), base)
        represent = paid & self.is_dd & (self.missed > 0) & (u[5] < self.represent_prob)
        amount = amount + np.where(represent, self.missed, 0.0)
        amount = amount + np.where(bal0 > 0, np.minimum(bal0, self.repay * base), 0.0)
        bounced = due & ~paid & self.is_dd
        self.missed[represent] = 0.0
        self.missed[bounced] += base[bounced]
        pi = np.flatnonzero(paid)
        out.add(pi, day[pi], amount[pi], K_PAYMENT)
        # A new tenant paying monthly pays the rent up to the first collection when signing up.
        signing = np.flatnonzero(regular & (cycle == 0) & (self.start_week == week))
        if len(signing):
            mondays = (_days_until_dom(self.monday(week), self.pay_dom[signing]) + 6) // 7
            out.add(signing, 0, mondays * rent[signing], K_PAYMENT)
        # A bounced direct debit is often paid by card before the next collection.
        card = paying & self.is_dd & (self.missed > 0) & ~due & (u[6] < 0.3 + boost)
        ci = np.flatnonzero(card)
        out.add(ci, (u[7][ci] * 5).astype(np.int64), self.missed[ci], K_PAYMENT)
        self.missed[ci] = 0.0

        # Housing Benefit: 4-weekly in arrears from the council, plus a weekly tenant top-up if partial.
        hb = paying & (mode == HB)
        hb_due = hb & (((week - self.hb_phase) % 4) == 0)
        suspended = (week >= self.hb_susp_start) & (week < self.hb_susp_end)
        credit = 4.0 * self.hb_share * rent
        hb_paid = hb_due & ~suspended
        hi = np.flatnonzero(hb_paid)
        out.add(hi, 0, credit[hi] + np.where(self.hb_backpay[hi], self.hb_accrued[hi], 0.0), K_HB)
        self.hb_accrued[hi] = 0.0
        held = hb_due & suspended
        self.hb_accrued[held] += credit[held]
        topup = hb & (self.hb_share < 1.0) & (u[8] < self.topup_prob + boost)
        ti = np.flatnonzero(topup)
        out.add(ti, self.pay_day[ti], (1.0 - self.hb_share[ti]) * rent[ti], K_PAYMENT)

        # Universal Credit: nothing (or a little from an advance) until the first payday...
        wait = paying & (mode == UC_WAIT)
        uc_offset = offsets[self.uc_dom]
        wait_pay = wait & self.uc_wait_pay & (u[9] < 0.75 + boost)
        wi = np.flatnonzero(wait_pay)
        out.add(wi, self.pay_day[wi], self.uc_wait_frac[wi] * rent[wi], K_PAYMENT)
        first = wait & (uc_offset >= 0) & (7 * week + uc_offset >= self.uc_claim_day + UC_FIRST_PAYMENT_DAYS)
        mode[first & self.apa_at_claim] = UC_APA
        mode[first & ~self.apa_at_claim] = UC
        # ...then the tenant pays a month's rent a day or two after each monthly payday.
        monthly_rent = rent * MONTH_WEEKS
        uc = paying & (mode == UC)
        payday = uc & (uc_offset >= 0)
        pays = payday & (u[10] < self.uc_pay_prob + boost)
        frac = np.where(u[11] < self.uc_full_prob, 1.0, 0.4 + 0.5 * u[12])
        # Those who pay extra keep going until they are half a month ahead.
        buffer = 0.5 * monthly_rent
        extra = np.where(bal0 > -buffer, np.minimum(bal0 + buffer, self.uc_repay * monthly_rent), 0.0)
        uday = np.minimum(6, np.maximum(uc_offset, 0) + (u[13] * 3).astype(np.int64))
        ui = np.flatnonzero(pays)
        out.add(ui, uday[ui], monthly_rent[ui] * frac[ui] + extra[ui], K_PAYMENT)
        # The landlord asks for a managed payment (APA) once arrears reach two months' rent.
        ask = payday & (bal0 >= 2 * monthly_rent) & (self.apa_week == NEVER) & (u[14] < 0.15)
        self.apa_week[ask] = week + 4 + (u[15][ask] * 6).astype(np.int32)
        # Managed payments: DWP pays the landlord on a 4-weekly schedule what fell due since the last run,
        # including a deduction towards arrears; the tenant tops up any shortfall.
        apa = paying & (mode == UC_APA)
        payout = apa & ((week - self.apa_phase) % 4 == 0) & (self.apa_pending > 0)
        ai = np.flatnonzero(payout)
        out.add(ai, 1, self.apa_pending[ai], K_UC)
        self.apa_pending[ai] = 0.0
        accrue = apa & (uc_offset >= 0)
        deduction = np.where(bal0 > 0, np.minimum(bal0, self.apa_deduction), 0.0)
        self.apa_pending[accrue] += (monthly_rent * self.uc_share + deduction)[accrue]
        apa_topup = accrue & (self.uc_share < 1.0) & (u[25] < self.topup_prob + boost)
        ati = np.flatnonzero(apa_topup)
        out.add(ati, uday[ati], (1.0 - self.uc_share[ati]) * monthly_rent[ati], K_PAYMENT)

        # Irregular payers: chronic late payers, won't-pay, and the months after an income shock.
        irregular = paying & (mode == IRREGULAR)
        has_agreement = self.agreement_weekly > 0
        prob = np.maximum(self.irr_prob + boost, np.where(has_agreement, self.agreement_keep, 0.0))
        irr_paid = irregular & (u[16] < prob)
        style = self.style.astype(np.int64)
        cdf = _IRR_CDF[style]
        mult = _IRR_MULTIPLIERS[(u[17][:, None] > cdf).sum(axis=1).clip(0, 3)]
        frac = np.maximum(self.irr_frac * mult, np.where(has_agreement, 1.0, 0.0))
        irr_amount = np.maximum(5.0, np.round(rent * frac))
        irr_day = (u[18][:, None] > _IRR_DAY_CDF[style]).sum(axis=1).clip(0, 6)
        ii = np.flatnonzero(irr_paid)
        out.add(ii, irr_day[ii], irr_amount[ii], K_PAYMENT)

        # Agreement instalments and one-off lumps (hooks).
        inst = paying & has_agreement & (mode != SILENT) & (u[19] < self.agreement_keep + boost)
        gi = np.flatnonzero(inst)
        out.add(gi, self.pay_day[gi], self.agreement_weekly[gi], K_PAYMENT)
        lump = paying & (self.lump_due > 0)
        li = np.flatnonzero(lump & (u[20] < self.lump_prob))
        out.add(li, (u[21][li] * 5).astype(np.int64), self.lump_due[li], K_PAYMENT)
        self.lump_due[lump] = 0.0

        # Catch-up lumps: someone with arrears beyond what benefit timing explains pays a chunk.
        technical = np.select(
            [
                mode == HB,
                (mode == UC) | (mode == UC_APA) | (mode == UC_WAIT),
                (mode == REGULAR) & (cycle == 0),
            ],
            [4.0 * self.hb_share, 4.5, 1.0],
            0.0,
        )
        threshold = (self.catch_thr + technical) * rent
        catch = paying & (mode != SILENT) & (bal0 > threshold) & (u[22] < self.catch_prob + boost)
        ki = np.flatnonzero(catch)
        chunk = np.maximum(5.0, np.round(bal0[ki] * (0.3 + 0.7 * u[23][ki]) / 5.0) * 5.0)
        lump_amount = np.where(bal0[ki] <= 2 * rent[ki], bal0[ki], chunk)  # small arrears are cleared
        out.add(ki, (u[24][ki] * 6).astype(np.int64), lump_amount, K_PAYMENT)
        self.missed[ki] = np.maximum(0.0, self.missed[ki] - lump_amount)

        tx = out.build(week)
        sign = np.where(tx.kind == K_RENT, 1.0, -1.0)
        tx.amount = np.abs(tx.amount) * sign
        self.balance = self.balance + np.bincount(tx.tenancy, weights=tx.amount, minlength=n)
        return tx

    def _transitions(self, week: int, active: np.ndarray, rent: np.ndarray, out: _Postings) -> None:
        mode = self.mode
        mode[self.stop_week == week] = SILENT
        # Income shock: direct debit cancelled, payments become irregular and partial.
        shock = active & (self.shock_week == week) & (mode == REGULAR)
        mode[shock] = IRREGULAR
        self.style[shock] = POST_SHOCK
        self.irr_prob[shock] = self.post_prob[shock]
        self.irr_frac[shock] = self.post_frac[shock]
        self.is_dd[shock] = False
        self.missed[shock] = 0.0
        # Recovery: back to paying weekly, with something extra towards the arrears.
        recover = active & (self.recover_week == week) & (mode == IRREGULAR)
        mode[recover] = REGULAR
        self.cycle[recover] = 1
        self.phase[recover] = 0
        self.pay_prob[recover] = 0.97
        # A Universal Credit claim: Housing Benefit stops (with what it owed plus a two-week run-on).
        claim = active & (self.uc_claim_week == week) & np.isin(mode, (REGULAR, HB, IRREGULAR))
        from_hb = np.flatnonzero(claim & (mode == HB))
        if len(from_hb):
            owed = ((week - self.hb_phase[from_hb]) % 4 + 2) * self.hb_share[from_hb] * rent[from_hb]
            out.add(from_hb, 0, owed + self.hb_accrued[from_hb], K_HB)
            self.hb_accrued[from_hb] = 0.0
        mode[claim] = UC_WAIT
        self.is_dd[claim] = False
        self.missed[claim] = 0.0
        mode[active & (self.apa_week == week) & (mode == UC)] = UC_APA


def weekly_payments(model: PayerModel, week: int, rng: np.random.Generator) -> WeekTransactions:
    """One rent week for every tenancy of ``model``: the same as ``model.step(week, rng)``."""
    return model.step(week, rng)


# ---------------------------------------------------------------------------------------------------
# Names and small lists

_FIRST = (
    "Amira Ben Chloe Daniel Ewa Fatima George Hannah Ibrahim Jade Kwame Laura Mohammed Niamh Oliver Priya "
    "Rhys Sara Tomasz Usha Victoria William Yusuf Zainab Aled Bethan Connor Deborah Emeka Farah Gareth "
    "Hodan Imran Joanna Kieran Leah Marek Nadia Owen Patrick Ruth Samir Tanya Wiktoria"
).split()
_LAST = (
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Khan Ali Hussain Patel "
    "Begum Okafor Mensah Nowak Kowalski Hughes Edwards Green Walker Wright Robinson Thompson White Hall "
    "Clarke Jackson Wood Harris Lewis Martin Cooper Hill Ward Morgan Farah Osman Rahman Murphy Kelly"
).split()
_AREAS = ("North", "South", "East", "West", "Central")
_LANGUAGES = (("en", 0.87), ("cy", 0.03), ("pl", 0.03), ("so", 0.02), ("ar", 0.02), ("ur", 0.01))
_LANGUAGES += (("ro", 0.01), ("pa", 0.01))
_VULNERABILITIES = (
    "mental health",
    "physical disability",
    "learning disability",
    "bereavement",
    "domestic abuse",
    "older person living alone",
    "substance misuse",
    "hoarding",
)
AGE_BANDS = ("16-24", "25-34", "35-49", "50-64", "65+")


def patch_names(count: int) -> list[str]:
    """Patch names: North 1, South 1, East 1, West 1, Central 1, North 2, ..."""
    return [f"{_AREAS[i % len(_AREAS)]} {i // len(_AREAS) + 1}" for i in range(count)]


def _choice(rng: np.random.Generator, n: int, options, probs=None) -> np.ndarray:
    probs = None if probs is None else np.asarray(probs, dtype=float) / np.sum(probs)
    return np.asarray(options)[rng.choice(len(options), size=n, p=probs)]


# ---------------------------------------------------------------------------------------------------
# The population


@dataclass
class _Population:
    model: PayerModel
    archetype: np.ndarray
    attrs: dict[str, np.ndarray]
    method: np.ndarray  # payment method at the start (before life events)
    death_week: np.ndarray
    bs_start_day: np.ndarray
    patch_codes: np.ndarray
    patches: list[str]


def _draw_population(
    n: int, weeks: int, burn_in: int, rng: np.random.Generator, origin: np.datetime64, end_day: int
) -> _Population:
    model = PayerModel(n, origin, reference_day=origin + end_day)
    w0 = -burn_in
    shares = np.array([ARCHETYPE_SHARES[a] for a in ARCHETYPES])
    arch = rng.choice(len(ARCHETYPES), size=n, p=shares / shares.sum()).astype(np.int8)
    is_ = {a: arch == code for code, a in enumerate(ARCHETYPES)}

    # Patches and tenure; rent by patch and tenure.
    n_patches = max(1, round(n / 500))
    patches = patch_names(n_patches)
    patch_weight = rng.uniform(0.6, 1.4, n_patches)
    patch_code = rng.choice(n_patches, size=n, p=patch_weight / patch_weight.sum())
    patch_rent = rng.uniform(95.0, 135.0, n_patches)

    # Start dates: about 7% start during the burn-in or the window, the rest years ago.
    new = rng.random(n) < 0.07
    start_week = np.where(
        new,
        rng.integers(w0, max(w0 + 1, weeks - 1), n),
        -burn_in - 1 - (np.minimum(rng.exponential(8.0, n), 40.0) * 52).astype(np.int64),
    ).astype(np.int32)
    recent = start_week >= (weeks - 1) - 60  # started within ~14 months: introductory/starter tenancies
    tenure = np.where(
        recent,
        _choice(rng, n, ("introductory", "starter", "assured", "secure", "affordable"), (45, 20, 15, 12, 8)),
        _choice(
            rng,
            n,
            ("secure", "assured", "flexible", "affordable", "shared_ownership"),
            (76, 11, 5, 6, 2),
        ),
    )
    tenure_factor = np.select(
        [tenure == "affordable", tenure == "shared_ownership", tenure == "flexible", tenure == "assured"],
        [1.3, 0.75, 1.05, 1.08],
        1.0,
    )
    rent = patch_rent[patch_code] * tenure_factor + rng.normal(0.0, 10.0, n)
    model.rent = np.round(np.clip(rent, 80.0, 180.0), 2)
    model.start_week = start_week

    # Former tenancies: a few ended during the window (rent stops; arrears stay).
    former = rng.random(n) < 0.015
    end_week = np.where(former, rng.integers(1, max(2, weeks - 2), n), NEVER).astype(np.int32)
    model.end_week = np.where(end_week > start_week + 4, end_week, NEVER).astype(np.int32)

    u = rng.random((12, n))
    method = np.full(n, "cash_card", dtype=object)

    # --- regular payers (steady, bounce, and shock before the shock)
    dd_like = is_["steady_dd"] | is_["dd_bounce"] | (is_["income_shock"] & (u[0] < 0.5))
    other_like = is_["steady_other"] | (is_["income_shock"] & ~dd_like)
    regular = dd_like | other_like
    model.is_dd = dd_like.copy()
    method[dd_like] = "direct_debit"
    method[other_like] = np.where(u[1][other_like] < 0.55, "standing_order", "cash_card")
    dd_cycle = _choice(rng, n, (1, 2, 4, 0), (30, 15, 20, 35))
    other_cycle = _choice(rng, n, (1, 2, 4, 0), (60, 20, 5, 15))
    model.cycle = np.where(dd_like, dd_cycle, np.where(other_like, other_cycle, 1)).astype(np.int8)
    model.phase = (rng.integers(0, 4, n) % np.maximum(model.cycle, 1)).astype(np.int32)
    # New tenancies' first instalment falls in their first week.
    model.phase = np.where(start_week >= w0, start_week % np.maximum(model.cycle, 1), model.phase).astype(
        np.int32
    )
    model.pay_day = np.where(
        dd_like,
        _choice(rng, n, (0, 1, 2, 3, 4), (35, 15, 10, 10, 30)),
        _choice(rng, n, range(7), (4, 2, 2, 2, 4, 1, 1)),
    ).astype(np.int8)
    model.pay_dom = _choice(rng, n, (1, 3, 5, 10, 15, 20, 25, 28), (25, 8, 12, 12, 15, 10, 10, 8)).astype(
        np.int8
    )
    model.pay_prob = np.where(is_["dd_bounce"], 1.0 - rng.uniform(0.04, 0.12, n), 0.998)
    model.pay_prob = np.where(other_like, 0.985, model.pay_prob)
    model.late_prob = np.where(other_like, 0.08, 0.0)
    model.represent_prob = np.where(is_["dd_bounce"], 0.5, 0.8)

    # --- income shock
    shock = is_["income_shock"]
    shock_week = rng.integers(w0 // 2, weeks + 10, n)
    model.shock_week = np.where(shock, shock_week, NEVER).astype(np.int32)
    model.slip_week = np.where(shock, shock_week - rng.integers(3, 9, n), NEVER).astype(np.int32)
    model.post_prob = rng.uniform(0.35, 0.8, n)
    model.post_frac = rng.uniform(0.4, 0.9, n)
    to_uc = shock & (u[2] < 0.35)
    recovers = shock & ~to_uc & (u[3] < 0.55)
    model.recover_week = np.where(recovers, shock_week + rng.integers(6, 31, n), NEVER).astype(np.int32)
    model.repay = np.where(recovers, rng.uniform(0.1, 0.35, n), 0.0)

    # --- irregular payers
    chronic, wont = is_["chronic_late"], is_["wont_pay"]
    model.mode = np.where(chronic | wont, IRREGULAR, REGULAR).astype(np.int8)
    model.style = np.where(wont, WONT, CHRONIC).astype(np.int8)
    model.irr_prob = np.where(wont, rng.uniform(0.05, 0.3, n), rng.uniform(0.6, 0.92, n))
    model.irr_frac = np.where(wont, rng.uniform(0.15, 0.5, n), rng.uniform(0.9, 1.05, n))
    method[chronic] = np.where(u[4][chronic] < 0.8, "cash_card", "standing_order")
    method[wont] = "cash_card"

    # --- housing benefit (two councils, each paying on its own 4-weekly cycle)
    hb = is_["housing_benefit"]
    council_phase = np.array([1, 3], dtype=np.int32)[patch_code % 2]
    model.hb_phase = council_phase
    model.hb_share = np.where(u[5] < 0.75, 1.0, np.round(rng.uniform(0.5, 0.95, n) * 20) / 20)
    model.topup_prob = rng.uniform(0.7, 0.99, n)
    model.mode[hb] = HB
    method[hb] = "housing_benefit"
    suspend = hb & (u[6] < 0.12)
    s0 = rng.integers(w0, weeks, n)
    model.hb_susp_start = np.where(suspend, s0, NEVER).astype(np.int32)
    model.hb_susp_end = np.where(suspend, s0 + rng.integers(3, 13, n), NEVER).astype(np.int32)
    model.hb_backpay = u[7] < 0.7
    # New tenancies on HB: the claim is assessed for 3-10 weeks, then backdated to the start.
    hb_new = hb & (start_week >= w0)
    model.hb_susp_start[hb_new] = start_week[hb_new]
    model.hb_susp_end[hb_new] = start_week[hb_new] + rng.integers(3, 11, n)[hb_new]
    model.hb_backpay[hb_new] = True

    # --- universal credit
    uc = is_["universal_credit"]
    claim_in_history = uc & (u[8] < 0.4)
    claim_long_ago = uc & ~claim_in_history
    claim_day = np.full(n, NEVER, dtype=np.int64)
    claim_day[claim_in_history] = rng.integers(7 * w0, 7 * weeks - 1, n)[claim_in_history]
    later = claim_in_history & (start_week >= w0)  # a new tenant claims some weeks after moving in
    claim_day[later] = 7 * start_week[later] + rng.integers(7, 140, n)[later]
    claim_day[claim_long_ago] = (7 * w0 - rng.integers(60, 2000, n))[claim_long_ago]
    uc_new_tenancy = uc & (start_week >= w0) & (u[9] < 0.6)
    claim_day[uc_new_tenancy] = 7 * start_week[uc_new_tenancy] + rng.integers(0, 5, n)[uc_new_tenancy]
    # Housing Benefit claimants moved to UC during the history (managed migration).
    migrate = hb & ~hb_new & (u[10] < 0.12)
    claim_day[migrate] = rng.integers(7 * w0 + 28, 7 * weeks - 1, n)[migrate]
    # Income shocks that lead to a UC claim a few weeks later.
    claim_day[to_uc] = 7 * (shock_week[to_uc] + rng.integers(1, 7, n)[to_uc]) + rng.integers(0, 5, n)[to_uc]
    has_claim = claim_day < NEVER
    model.uc_claim_day = np.where(has_claim, claim_day, NEVER).astype(np.int32)
    model.uc_claim_week = np.where(has_claim, np.floor_divide(claim_day, 7), NEVER).astype(np.int32)
    claim_dates = origin + np.where(has_claim, claim_day, 0).astype("timedelta64[D]") + np.timedelta64(7, "D")
    dom = (claim_dates - claim_dates.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    model.uc_dom = np.minimum(dom, 28).astype(np.int8)
    model.uc_share = np.select(
        [u[11] < 0.65, u[11] < 0.80], [1.0, 0.86], np.round(rng.uniform(0.6, 0.95, n), 2)
    )
    model.uc_pay_prob = rng.uniform(0.8, 0.99, n)
    model.uc_full_prob = rng.uniform(0.75, 0.98, n)
    model.uc_repay = np.where(rng.random(n) < 0.7, rng.uniform(0.03, 0.2, n), 0.0)
    model.uc_wait_pay = rng.random(n) < 0.35
    model.uc_wait_frac = rng.uniform(0.3, 1.0, n)
    model.apa_at_claim = rng.random(n) < 0.15
    model.apa_deduction = np.round(rng.uniform(40.0, 90.0, n), 2)
    apa_already = claim_long_ago & (rng.random(n) < 0.2)
    model.mode[claim_long_ago] = UC
    model.mode[apa_already] = UC_APA
    # Claims still to come start as regular cash / standing-order payers.
    pre_claim = claim_in_history & ~uc_new_tenancy
    method[uc & ~pre_claim] = "universal_credit"
    method[pre_claim] = np.where(rng.random(n)[pre_claim] < 0.5, "standing_order", "cash_card")
    model.cycle[pre_claim] = 1
    model.pay_prob[pre_claim] = 0.97
    model.late_prob[pre_claim] = 0.08
    # A new tenancy whose UC claim starts with it is waiting from day one.
    model.mode[uc_new_tenancy] = UC_WAIT
    model.uc_claim_week[uc_new_tenancy] = NEVER  # no transition needed
    model.apa_phase = int(rng.integers(0, 4))

    # --- catch-up behaviour
    model.catch_prob = np.select(
        [is_["steady_other"], is_["steady_dd"] | is_["dd_bounce"], chronic, wont, hb],
        [0.5, 0.3, rng.uniform(0.08, 0.25, n), 0.01, 0.15],
        0.06,
    )
    model.catch_thr = np.select(
        [chronic, wont, is_["steady_other"] | dd_like | hb], [rng.uniform(1.0, 4.0, n), 4.0, 0.5], 1.0
    )

    # --- opening balances at the start of the burn-in (tenancies that already existed)
    existing = start_week < w0
    r0 = np.round(model.rent * model.rent_factor(w0), 2)
    opening = np.zeros(n)
    cyc = np.maximum(model.cycle.astype(np.int64), 1)
    weeks_prepaid = (cyc - ((w0 - model.phase) % cyc)) % cyc  # k-weekly payers pay in advance
    monday0 = origin + 7 * w0
    dom0 = int(str(monday0)[8:10])
    mondays_prepaid = (_days_until_dom(monday0, model.pay_dom) + 6) // 7  # monthly payers pay in advance
    opening = np.where(model.cycle == 0, -mondays_prepaid * r0, -weeks_prepaid * r0)
    opening = opening - np.where(regular, rng.uniform(0.0, 0.5, n) * r0, 0.0)
    hb_open = ((w0 - model.hb_phase.astype(np.int64)) % 4) * model.hb_share * r0
    hb_open += (1.0 - model.hb_share) * r0 * rng.uniform(0.0, 3.0, n) * (1.0 - model.topup_prob)
    opening = np.where(hb, hb_open, opening)
    days_since_payday = (dom0 - model.uc_dom.astype(np.int64)) % 30
    uc_open = days_since_payday / 7.0 * r0 + rng.random(n) ** 2 * 5.0 * r0
    opening = np.where(claim_long_ago, uc_open, opening)
    opening = np.where(apa_already, days_since_payday / 7.0 * r0 * (1 - model.uc_share), opening)
    opening = np.where(chronic, rng.exponential(2.0, n) * r0, opening)
    opening = np.where(wont, rng.lognormal(np.log(8.0), 0.6, n) * r0, opening)
    model.balance = np.where(existing, np.round(opening, 2), 0.0)

    # --- life events and flags that the case history needs
    death_week = np.where(rng.random(n) < 0.002, rng.integers(weeks - 12, weeks, n), NEVER).astype(np.int32)
    model.stop_week = death_week
    troubled = chronic | wont | shock | uc
    bs = rng.random(n) < np.where(troubled, 0.005 / max(troubled.mean(), 0.01), 0.0)
    bs_start_day = np.where(bs, end_day - rng.integers(1, 56, n), NEVER).astype(np.int32)

    # --- tenancy attributes (the tenancies frame)
    vulnerable = rng.random(n) < np.where(troubled, 0.10, 0.065)
    age = np.where(
        hb,
        _choice(rng, n, AGE_BANDS, (2, 8, 12, 18, 60)),
        np.where(
            uc | shock,
            _choice(rng, n, AGE_BANDS, (12, 28, 35, 22, 3)),
            _choice(rng, n, AGE_BANDS, (5, 18, 30, 27, 20)),
        ),
    )
    has_mobile = rng.random(n) < np.where(age == "65+", 0.7, 0.88)
    has_email = rng.random(n) < np.where(age == "65+", 0.35, 0.64)
    channel = _choice(rng, n, ("sms", "email", "letter", "phone"), (45, 20, 30, 5))
    channel = np.where((channel == "sms") & ~has_mobile, "letter", channel)
    channel = np.where((channel == "email") & ~has_email, "letter", channel)
    first = _choice(rng, n, _FIRST)
    last = _choice(rng, n, _LAST)
    attrs = {
        "patch": np.asarray(patches, dtype=object)[patch_code],
        "tenure_type": tenure,
        "first": first,
        "last": last,
        "vulnerable": vulnerable,
        "vulnerability": np.where(vulnerable, _choice(rng, n, _VULNERABILITIES), ""),
        "language": _choice(rng, n, [x[0] for x in _LANGUAGES], [x[1] for x in _LANGUAGES]),
        "preferred_channel": channel,
        "has_mobile": has_mobile,
        "mobile_no": rng.integers(0, 1000, n),
        "has_email": has_email,
        "has_postal_address": rng.random(n) >= 0.005,
        "do_not_contact": rng.random(n) < 0.01,
        "age_band": age,
    }
    return _Population(
        model=model,
        archetype=arch,
        attrs=attrs,
        method=method,
        death_week=death_week,
        bs_start_day=bs_start_day,
        patch_codes=patch_code,
        patches=patches,
    )


# ---------------------------------------------------------------------------------------------------
# A landlord's past arrears practice, replayed week by week so cases and actions match the ledger

STAGES = ("", "sms", "letter_1", "letter_2", "nosp", "court_warning", "court", "warrant", "eviction")
S_NONE, S_SMS, S_L1, S_L2, S_NOSP, S_CWL, S_COURT, S_WARRANT, S_EVICTION = range(len(STAGES))
ACTION_CODES = (
    "sms",
    "letter_1",
    "letter_2",
    "nosp",
    "court_warning_letter",
    "pre_action_protocol",
    "apply_for_court_date",
    "agreement_made",
    "agreement_breach_letter",
    "call",
    "visit",
    "pause",
)
"""Action codes written to the history: the uk-ladder pack's codes plus the officers' own."""
(
    A_SMS,
    A_L1,
    A_L2,
    A_NOSP,
    A_CWL,
    A_PROTOCOL,
    A_COURT_APPLIED,
    A_AGREEMENT,
    A_BREACH_LETTER,
    A_CALL,
    A_VISIT,
    A_PAUSE,
) = range(len(ACTION_CODES))
_ACTION_CHANNEL = ("sms", "letter", "letter", "letter", "letter", "", "", "", "letter", "phone", "", "")
# The uk-ladder rule that leads to each action ("" for an officer's own action).
_ACTION_RULE = (
    "sms",
    "letter_1",
    "letter_2",
    "nosp",
    "court_warning_letter",
    "pre_action_protocol_check",
    "apply_for_court_date",
    "",
    "agreement_breach_letter",
    "",
    "",
    "",
)
_ACTION_BOOST = np.array([0.05, 0.08, 0.12, 0.3, 0.2, 0.15, 0.25, 0.0, 0.1, 0.2, 0.3, 0.0])
PAUSE_REASONS = (
    "",
    "promise_of_payment",
    "delayed_benefit",
    "deceased",
    "missing_data",
    "court_date_set",
    "dispute",
    "other",
)
_OUTCOME_CODES = ("", "SPO", "ADT", "PPO", "SOT", "OPD", "OPF", "AGP", "ADN", "ADH", "STR", "WIT", "DIS")
_OUTCOME_PROBS = (0.07, 0.36, 0.12, 0.07, 0.03, 0.06, 0.02, 0.07, 0.04, 0.05, 0.04, 0.04, 0.03)
_ORDERS_WITH_TERMS = ("SPO", "ADT", "PPO", "SOT")
_FREQUENCIES = ("weekly", "fortnightly", "4-weekly", "monthly")
_FREQ_DAYS = np.array([7.0, 14.0, 28.0, 365.25 / 12.0])
_FREQ_WEEKS = _FREQ_DAYS / 7.0
AG_NONE, AG_LIVE, AG_BREACHED, AG_COMPLETED = 0, 1, 2, 3
NOSP_NOTICE_DAYS = 28
NOSP_VALID_DAYS = 364


class _CaseHistory:
    """Simplified Hackney-style ladder run each week on the model's balances. Internal to the generator."""

    def __init__(self, n: int, pop: _Population, rng: np.random.Generator, burn_in: int):
        self.n = n
        self.pop = pop
        i4 = lambda value=-NEVER: np.full(n, value, dtype=np.int64)  # noqa: E731
        self.open = np.zeros(n, dtype=bool)
        self.case_no = np.zeros(n, dtype=np.int64)
        self.next_case = 1
        self.opened_day = i4()
        self.stage = np.zeros(n, dtype=np.int8)
        self.last_action = np.full(n, -1, dtype=np.int8)
        self.last_action_day = i4()
        self.last_sms = i4()
        self.last_letter = i4()  # letter 1, letter 2 or court warning letter
        self.last_cwl = i4()
        self.last_contact = i4()
        self.letter_failed = np.zeros(n, dtype=bool)
        self.nosp_day = i4()
        self.court_day = i4(NEVER)  # most recent hearing date; NEVER when none
        self.court_pending = np.zeros(n, dtype=bool)
        self.outcome = np.zeros(n, dtype=np.int8)
        self.eviction_day = i4(NEVER)
        self.paused_until = i4()
        self.pause_reason = np.zeros(n, dtype=np.int8)
        self.ag_status = np.zeros(n, dtype=np.int8)
        self.ag_start = i4()
        self.ag_freq = np.zeros(n, dtype=np.int8)
        self.ag_inst = np.zeros(n)
        self.ag_initial = np.zeros(n)
        self.ag_start_bal = np.zeros(n)
        self.ag_formal = np.zeros(n, dtype=bool)
        arch = pop.archetype
        troubled = (arch == A_CHRONIC) | (arch == A_WONT)
        self.prior_cases = np.where(troubled, rng.poisson(1.2, n), rng.poisson(0.15, n)).astype(np.int64)
        self.broken = np.where(arch == A_WONT, rng.poisson(0.8, n), 0).astype(np.int64)
        # Won't-pay tenancies already had a NOSP served some time before the burn-in for about half.
        prior_nosp = (arch == A_WONT) & (rng.random(n) < 0.5)
        self.nosp_day[prior_nosp] = (-7 * burn_in - rng.integers(10, 400, n))[prior_nosp]
        self.events: list[tuple[np.ndarray, np.ndarray, int]] = []  # (idx, day, action)

    # -- helpers ---------------------------------------------------------------------------------
    def _record(self, idx: np.ndarray, day, action: int, model: PayerModel) -> None:
        if not len(idx):
            return
        day = np.broadcast_to(np.asarray(day, dtype=np.int64), idx.shape).copy()
        self.events.append((idx.astype(np.int64), day, action))
        new_case = ~self.open[idx]
        opening = idx[new_case]
        if len(opening):
            self.open[opening] = True
            self.opened_day[opening] = day[new_case]
            self.case_no[opening] = self.next_case + np.arange(len(opening))
            self.next_case += len(opening)
        self.last_action[idx] = action
        self.last_action_day[idx] = day
        if _ACTION_CHANNEL[action]:
            self.last_contact[idx] = day
        if _ACTION_CHANNEL[action] == "letter":
            failed = ~self.pop.attrs["has_postal_address"][idx]
            self.letter_failed[idx] = failed
        else:
            self.letter_failed[idx] = False
        model.propensity_boost[idx] = np.minimum(0.6, model.propensity_boost[idx] + _ACTION_BOOST[action])

    def _close(self, mask: np.ndarray) -> None:
        self.open[mask] = False
        self.prior_cases[mask] += 1
        self.stage[mask] = S_NONE
        self.last_action[mask] = -1
        self.last_action_day[mask] = -NEVER
        self.paused_until[mask] = -NEVER
        self.pause_reason[mask] = 0
        self.letter_failed[mask] = False

    def instalments_due(self, idx: np.ndarray, today: int, tolerance: int = 5) -> np.ndarray:
        elapsed = today - self.ag_start[idx] - tolerance
        period = _FREQ_DAYS[self.ag_freq[idx]]
        return np.where(elapsed >= 0, np.floor(elapsed / period) + 1, 0)

    def expected_balance(self, idx: np.ndarray, today: int) -> np.ndarray:
        initial_due = np.where(today - self.ag_start[idx] >= 5, self.ag_initial[idx], 0.0)
        return self.ag_start_bal[idx] - initial_due - self.ag_inst[idx] * self.instalments_due(idx, today)

    def _make_agreement(self, idx, day, balance, inst_weekly, freq, formal, keep, model, rng, initial=None):
        self.ag_status[idx] = AG_LIVE
        self.ag_start[idx] = day
        self.ag_freq[idx] = freq
        self.ag_inst[idx] = np.round(inst_weekly * _FREQ_WEEKS[freq])
        self.ag_initial[idx] = 0.0 if initial is None else initial
        self.ag_start_bal[idx] = np.round(balance, 2)
        self.ag_formal[idx] = formal
        model.set_agreement(idx, inst_weekly, keep)
        if initial is not None:
            model.lump_due[idx] = initial
            model.lump_prob[idx] = keep

    # -- the weekly review -----------------------------------------------------------------------
    def review(self, week: int, model: PayerModel, ca: np.ndarray, tx: WeekTransactions, rng) -> None:
        n = self.n
        u = rng.random((16, n))
        today = 7 * week + 1  # the automated run: Tuesday
        rent = model.rent_for_week(week)
        early = tx.select((tx.day <= today) & np.isin(tx.kind, _PAYMENT_KIND_CODES))
        paid_so_far = np.bincount(early.tenancy, weights=early.amount, minlength=n)  # <= 0
        aag = ca - np.maximum(0.0, rent + paid_so_far)
        mode = model.mode
        technical = (
            np.select(
                [mode == HB, (mode == UC) | (mode == UC_APA) | (mode == UC_WAIT)],
                [3.0 * model.hb_share, 4.5],
                0.0,
            )
            * rent
        )
        active = model.active(week)
        dead = week >= self.pop.death_week
        bs = (today >= self.pop.bs_start_day) & (today < self.pop.bs_start_day + 60)
        dnc = self.pop.attrs["do_not_contact"]
        live = self.ag_status == AG_LIVE
        officer_day = today + (u[0] * 4).astype(np.int64)  # officers work Tuesday to Friday

        # Former tenancies: their cases leave the open caseload.
        gone = self.open & ~active
        self._close(gone)

        # Court hearings that have happened: record the outcome.
        heard = self.court_pending & (self.court_day <= today)
        hi = np.flatnonzero(heard)
        if len(hi):
            self.court_pending[hi] = False
            probs = np.asarray(_OUTCOME_PROBS)
            outcome = rng.choice(len(_OUTCOME_CODES), size=len(hi), p=probs / probs.sum()).astype(np.int8)
            self.outcome[hi] = outcome
            codes = np.asarray(_OUTCOME_CODES)[outcome]
            terms = hi[np.isin(codes, _ORDERS_WITH_TERMS)]
            if len(terms):
                inst = rng.choice([3.7, 5.0, 7.5, 10.0, 15.0, 20.0], size=len(terms))
                keep = rng.uniform(0.55, 0.95, len(terms))
                self._make_agreement(terms, self.court_day[terms], ca[terms], inst, 0, True, keep, model, rng)
            again = hi[np.isin(codes, ("ADN", "ADH"))]
            self.court_day[again] = today + rng.integers(28, 71, len(again))
            self.court_pending[again] = True
            possession = hi[np.isin(codes, ("OPD", "OPF"))]
            self.stage[possession] = S_WARRANT
            evict = possession[
                (aag[possession] >= 4 * rent[possession]) & (rng.random(len(possession)) < 0.6)
            ]
            self.eviction_day[evict] = self.court_day[evict] + rng.integers(42, 113, len(evict))
            self.stage[evict] = S_EVICTION

        # Evictions carried out: the tenancy ends that week.
        evicted = active & (self.eviction_day <= today)
        ei = np.flatnonzero(evicted)
        model.end_week[ei] = week
        model.clear_agreement(ei)
        self._close(evicted)
        self.eviction_day[ei] = NEVER

        guard = (
            ~active
            | (self.paused_until > today)
            | ((self.court_day < NEVER) & (self.court_day > today))
            | (self.eviction_day < NEVER)
            | bs
            | dead
            | dnc
        )

        free = ~guard

        # Agreements: completed when cleared, breached when behind the expected balance.
        li = np.flatnonzero(live & active)
        if len(li):
            expected = self.expected_balance(li, today)
            done = li[ca[li] <= 0]
            self.ag_status[done] = AG_COMPLETED
            model.clear_agreement(done)
            # Officers allow for benefit timing and one week's rent before calling it a breach.
            breach = li[(ca[li] > expected + technical[li] + rent[li]) & (ca[li] > 0)]
            self.ag_status[breach] = AG_BREACHED
            self.broken[breach] += 1
            model.clear_agreement(breach)
            letter = breach[free[breach]]
            free[letter] = False
            self._record(letter, today, A_BREACH_LETTER, model)
        live = self.ag_status == AG_LIVE

        # Close cases whose arrears are cleared.
        cleared = self.open & (ca <= 0) & ~live & ~self.court_pending & (self.eviction_day == NEVER)
        self._close(cleared)

        nosp_valid = (self.nosp_day > -NEVER) & (today <= self.nosp_day + NOSP_NOTICE_DAYS + NOSP_VALID_DAYS)
        nosp_active = nosp_valid & (today > self.nosp_day + NOSP_NOTICE_DAYS)
        no_court = self.court_day == NEVER
        since_last = today - self.last_action_day
        four_weeks = aag >= 4 * rent + technical

        def take(mask: np.ndarray, action: int, day=today) -> np.ndarray:
            idx = np.flatnonzero(mask & free)
            free[idx] = False
            if isinstance(day, np.ndarray):
                day = day[idx]
            self._record(idx, day, action, model)
            return idx

        # The ladder, first match wins (Letter 1 beats the SMS).
        take((aag >= 10 + technical) & ~nosp_valid & ~live & (today - self.last_letter > 91) & no_court, A_L1)
        l2 = take(
            (self.last_action == A_L1)
            & (since_last >= 14)
            & (since_last <= 91)
            & (aag >= 10 + technical)
            & ~nosp_valid
            & ~live
            & no_court,
            A_L2,
        )
        self.stage[l2] = S_L2
        never_served = self.nosp_day == -NEVER
        after_l2 = (self.last_action == A_L2) & (since_last >= 7) & (since_last <= 91)
        nosp = take(four_weeks & ~live & ~nosp_valid & (~never_served | after_l2) & (u[1] < 0.35), A_NOSP)
        self.nosp_day[nosp] = today
        self.stage[nosp] = S_NOSP
        cwl = take(
            nosp_active
            & ~live
            & four_weeks
            & (self.last_cwl < self.nosp_day)
            & ~self.court_pending
            & (u[2] < 0.7),
            A_CWL,
        )
        self.last_cwl[cwl] = today
        self.stage[cwl] = S_CWL
        # Before applying to court an officer completes the pre-action protocol and records it.
        ready = (
            four_weeks & ~live & nosp_active & ((self.court_day == NEVER) | (self.court_day < self.last_cwl))
        )
        take(
            ready & (self.last_action == A_CWL) & (since_last >= 14) & (u[3] < 0.35),
            A_PROTOCOL,
            officer_day,
        )
        apply = take(
            ready & (self.last_action == A_PROTOCOL) & (since_last >= 5) & (u[14] < 0.6),
            A_COURT_APPLIED,
            officer_day,
        )
        self.court_day[apply] = officer_day[apply] + rng.integers(42, 85, len(apply))
        self.court_pending[apply] = True
        self.stage[apply] = S_COURT
        sms = take(
            (ca >= 5)
            & (aag < 10 + technical)
            & (ca > technical)
            & self.pop.attrs["has_mobile"]
            & ~nosp_valid
            & ~live
            & no_court
            & (today - self.last_sms > 28)
            & (today - self.last_contact > 7),
            A_SMS,
        )
        self.last_sms[sms] = today
        self.stage[sms] = np.maximum(self.stage[sms], S_SMS)
        # Letter 1 sets its stage only now, so the SMS test above saw the state before this week.
        l1 = np.flatnonzero((self.last_action == A_L1) & (self.last_action_day == today))
        self.stage[l1] = S_L1
        self.last_letter[l1] = today
        self.last_letter[l2] = today
        self.last_letter[cwl] = today

        # Officers: calls (sometimes ending in an agreement or a promise), visits, pauses.
        vulnerable = self.pop.attrs["vulnerable"]
        call_p = np.where(vulnerable, 0.15, 0.06)
        call = take(
            self.open & (self.stage >= S_L2) & ~live & (u[4] < call_p) & self.pop.attrs["has_mobile"],
            A_CALL,
            officer_day,
        )
        if len(call):
            agree = call[(ca[call] >= rent[call]) & (u[5][call] < 0.3)]
            if len(agree):
                freq = rng.choice(4, size=len(agree), p=[0.6, 0.15, 0.05, 0.2])
                inst_weekly = np.round(rng.uniform(5.0, 25.0, len(agree)))
                keep = rng.uniform(0.6, 0.98, len(agree))
                initial = np.where(rng.random(len(agree)) < 0.25, np.round(rent[agree]), 0.0)
                self._make_agreement(
                    agree, officer_day[agree], ca[agree], inst_weekly, freq, False, keep, model, rng, initial
                )
                self._record(agree, officer_day[agree], A_AGREEMENT, model)
            promise = call[(self.ag_status[call] != AG_LIVE) & (u[6][call] < 0.2)]
            self._pause(promise, officer_day[promise], 14, 1, model)
        take(self.open & (self.stage >= S_NOSP) & ~live & (u[7] < 0.03), A_VISIT, officer_day)
        first_payday = model.uc_claim_day.astype(np.int64) + 42
        waiting = self.open & ~guard & (mode == UC_WAIT) & (first_payday > officer_day + 7) & (u[8] < 0.5)
        wi = np.flatnonzero(waiting)
        self._pause(wi, officer_day[wi], first_payday[wi] - officer_day[wi], 2, model)
        other = np.flatnonzero(self.open & ~guard & free & (u[9] < 0.004))
        reason = np.asarray([4, 6, 7])[(u[10][other] * 3).astype(np.int64)]
        self._pause(other, officer_day[other], 14 + (u[11][other] * 28).astype(np.int64), reason, model)
        died = np.flatnonzero(self.open & (week == self.pop.death_week) & (u[12] < 0.6))
        self._pause(died, 7 * week + 3, 90, 3, model)
        court_set = np.flatnonzero(
            self.court_pending & self.open & (u[13] < 0.02) & (self.paused_until < today)
        )
        self._pause(court_set, officer_day[court_set], 28, 5, model)

        model.propensity_boost *= PayerModel.BOOST_DECAY

    def _pause(self, idx, day, days, reason, model) -> None:
        if not len(idx):
            return
        day = np.broadcast_to(np.asarray(day, dtype=np.int64), idx.shape)
        self.paused_until[idx] = day + days
        self.pause_reason[idx] = reason
        self._record(idx, day, A_PAUSE, model)


# ---------------------------------------------------------------------------------------------------
# Officers


def make_officers(
    patches: list[str], count: int, rng: np.random.Generator, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Officers covering every patch: ``count`` officers, a few with legal or vulnerability skills."""
    count = max(1, int(count))
    names, ids = [], []
    seen: set[str] = set()
    for i in range(count):
        first, last = _FIRST[rng.integers(len(_FIRST))], _LAST[rng.integers(len(_LAST))]
        base = f"{first}.{last}".lower()
        user = base if base not in seen else f"{base}{i + 1}"
        seen.add(user)
        names.append(f"{first} {last}")
        ids.append(f"{user}@example.org")
    assigned: list[list[str]] = [[] for _ in range(count)]
    for p, patch in enumerate(patches):
        assigned[p % count].append(patch)
    for i in range(count):
        if not assigned[i] or (len(patches) > 1 and rng.random() < 0.25):
            extra = patches[int(rng.integers(len(patches)))]
            if extra not in assigned[i]:
                assigned[i].append(extra)
    skills: list[list[str]] = [[] for _ in range(count)]
    legal = rng.random(count) < 0.15
    legal[int(rng.integers(count))] = True
    vuln = rng.random(count) < 0.2
    vuln[int(rng.integers(count))] = True
    for i in range(count):
        if legal[i]:
            skills[i].append("legal")
        if vuln[i]:
            skills[i].append("vulnerability")
    capacity = np.where(rng.random(count) < 0.2, 60.0, 100.0)
    absent = np.full(count, np.datetime64("NaT"), dtype="datetime64[ns]")
    if count >= 3:
        absent[int(rng.integers(count))] = np.datetime64(as_of.normalize() + pd.Timedelta(days=14), "ns")
    return pd.DataFrame(
        {
            "officer": ids,
            "name": names,
            "phone": [f"020 7946 0{i % 1000:03d}" for i in range(count)],
            "patches": assigned,
            "skills": skills,
            "capacity": capacity.astype(float),
            "absent_until": absent,
        }
    )


# ---------------------------------------------------------------------------------------------------
# Frames


@dataclass
class Portfolio:
    """A synthetic landlord: the five input frames of docs/engine.md and the date they describe.

    ``truth`` (not an input frame) gives each tenancy's hidden archetype and life events, for tests and
    model evaluation; ``model`` is the payer model's state after the as-of week (a simulator continues
    from it: its balance already includes ``pending``, the as-of week's postings dated after ``as_of``).
    """

    tenancies: pd.DataFrame
    ledger: pd.DataFrame
    cases: pd.DataFrame
    actions: pd.DataFrame
    officers: pd.DataFrame
    as_of: pd.Timestamp
    seed: int | None = None
    truth: pd.DataFrame | None = field(default=None, repr=False)
    model: PayerModel | None = field(default=None, repr=False)
    pending: pd.DataFrame | None = field(default=None, repr=False)

    def counts(self) -> dict[str, int]:
        return {
            name: len(getattr(self, name)) for name in ("tenancies", "ledger", "cases", "actions", "officers")
        }


def _str_column(codes: np.ndarray, labels: np.ndarray) -> pd.Series:
    """Strings by index into ``labels``, built in Arrow (fast); plain object strings without pyarrow."""
    try:
        import pyarrow as pa

        array = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(labels.tolist()))
        return pd.Series(array.cast(pa.string()).to_pandas(), copy=False)
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return pd.Series(labels[codes])


def _dates(origin: np.datetime64, days) -> np.ndarray:
    """Day numbers from origin to datetime64[ns]; NEVER / -NEVER become NaT."""
    ns = np.array(days, dtype=np.int64)  # a copy, worked on in place
    missing = (ns >= NEVER) | (ns <= -NEVER)
    ns[missing] = 0
    ns *= 86_400_000_000_000
    ns += np.datetime64(origin, "ns").astype(np.int64)
    out = ns.view("datetime64[ns]")
    out[missing] = np.datetime64("NaT")
    return out


def _ledger_frame(tx: WeekTransactions, tenancy_ids: np.ndarray, origin: np.datetime64) -> pd.DataFrame:
    kinds = np.asarray(schema.LEDGER_KINDS, dtype=object)
    return pd.DataFrame(
        {
            "tenancy": _str_column(tx.tenancy, tenancy_ids),
            "date": _dates(origin, tx.day),
            "amount": tx.amount.astype(float),
            "kind": _str_column(tx.kind.astype(np.int32), kinds),
        },
        copy=False,
    )


def _concat(parts: list[WeekTransactions]) -> WeekTransactions:
    if not parts:
        empty = np.zeros(0, dtype=np.int32)
        return WeekTransactions(empty, empty, empty.astype(float), empty.astype(np.int8))
    return WeekTransactions(
        np.concatenate([p.tenancy for p in parts]),
        np.concatenate([p.day for p in parts]),
        np.concatenate([p.amount for p in parts]),
        np.concatenate([p.kind for p in parts]),
    )


def _assemble_ledger(
    parts: list[WeekTransactions], n_days: int, tenancy_ids: np.ndarray, origin: np.datetime64
) -> pd.DataFrame:
    """The ledger frame from the weekly postings, ordered by tenancy, date, then adjustment, rent and
    payments. Consumes ``parts`` column by column to keep the peak memory low."""
    kind_order = np.array([2, 3, 3, 3, 0, 1], dtype=np.int64)  # rent, payment, hb, uc, adjustment, write_off
    span = n_days + 2
    key = np.concatenate(
        [(p.tenancy.astype(np.int64) * span + (p.day + 1)) * 4 + kind_order[p.kind] for p in parts]
    )
    order = np.argsort(key, kind="stable")
    del key

    def take(name: str) -> np.ndarray:
        column = np.concatenate([getattr(p, name) for p in parts])
        for p in parts:
            setattr(p, name, None)
        return column[order]

    kinds = np.asarray(schema.LEDGER_KINDS, dtype=object)
    frame = pd.DataFrame(
        {
            "tenancy": _str_column(take("tenancy"), tenancy_ids),
            "date": _dates(origin, take("day")),
            "amount": take("amount").astype(float, copy=False),
            "kind": _str_column(take("kind").astype(np.int32), kinds),
        },
        copy=False,
    )
    parts.clear()
    return frame


def synthesize(
    tenancies: int = 5000,
    weeks: int = 52,
    seed: int = 0,
    end: str | pd.Timestamp = "2026-03-30",
    officers: int | None = None,
) -> Portfolio:
    """A synthetic portfolio of ``tenancies`` rent accounts with ``weeks`` weeks of Monday rent charges
    ending at ``end`` (the as-of date), their payments, open cases, action history and officers.

    Deterministic for a seed. ``officers`` defaults to about one per 500 tenancies.
    """
    if tenancies < 1 or weeks < 1:
        raise ValueError("tenancies and weeks must be at least 1")
    n = int(tenancies)
    as_of = pd.Timestamp(end).normalize()
    last_monday = as_of - pd.Timedelta(days=as_of.weekday())
    first_monday = last_monday - pd.Timedelta(weeks=weeks - 1)
    origin = np.datetime64(first_monday.date(), "D")
    end_day = int((as_of - first_monday).days)
    burn_in = 26
    rng = np.random.default_rng(seed)

    pop = _draw_population(n, weeks, burn_in, rng, origin, end_day)
    model = pop.model
    history = _CaseHistory(n, pop, rng, burn_in)
    parts: list[WeekTransactions] = []
    pending: list[WeekTransactions] = []
    opening = None
    for week in range(-burn_in, weeks):
        ca = model.balance.copy()
        if week == 0:
            carried = np.flatnonzero((model.start_week < 0) & (np.abs(ca) >= 0.005))
            opening = WeekTransactions(
                carried.astype(np.int32),
                np.full(len(carried), -1, dtype=np.int32),
                np.round(ca[carried], 2),
                np.full(len(carried), K_ADJUSTMENT, dtype=np.int8),
            )
        tx = model.step(week, rng)
        if week >= 0:
            posted = tx.day <= end_day
            parts.append(tx if posted.all() else tx.select(posted))
            if not posted.all():
                pending.append(tx.select(~posted))
        if 7 * week + 4 <= end_day:
            history.review(week, model, ca, tx, rng)
    if opening is not None:
        parts.insert(0, opening)
    ids = _tenancy_ids(n)
    ledger = _assemble_ledger(parts, end_day, ids, origin)

    officers_frame = make_officers(
        pop.patches, officers if officers is not None else max(1, round(n / 500)), rng, as_of
    )
    tenancies_frame = _tenancies_frame(pop, ids, origin, weeks, end_day)
    cases, actions = _cases_and_actions(history, pop, model, ids, origin, end_day, officers_frame, rng)
    truth = _truth_frame(pop, ids, origin, model)
    pending_frame = _ledger_frame(_concat(pending), ids, origin)
    return Portfolio(
        tenancies=tenancies_frame,
        ledger=ledger,
        cases=cases,
        actions=actions,
        officers=officers_frame,
        as_of=as_of,
        seed=seed,
        truth=truth,
        model=model,
        pending=pending_frame,
    )


def _tenancy_ids(n: int) -> np.ndarray:
    width = max(6, len(str(n)))
    return np.array([f"T{i + 1:0{width}d}" for i in range(n)], dtype=object)


def _tenancies_frame(pop: _Population, ids, origin, weeks: int, end_day: int) -> pd.DataFrame:
    model, attrs = pop.model, pop.attrs
    n = model.n
    mode = model.mode
    method = pop.method.copy()
    on_uc = np.isin(mode, (UC_WAIT, UC, UC_APA))
    method[on_uc] = "universal_credit"
    method[mode == HB] = "housing_benefit"
    method[(mode == IRREGULAR) & (method == "direct_debit")] = "cash_card"
    method[(mode == REGULAR) & (pop.archetype == A_SHOCK) & (model.recover_week < weeks)] = "cash_card"

    claim_day = model.uc_claim_day.astype(np.int64)
    claimed = claim_day <= end_day
    uc_status = np.full(n, "none", dtype=object)
    uc_status[on_uc & claimed] = "claimant"
    uc_status[(mode == UC_WAIT) & claimed] = "claim_pending"
    apa_requested = (mode == UC) & (model.apa_week < NEVER)
    uc_status[apa_requested] = "apa_requested"
    uc_status[mode == UC_APA] = "apa_in_place"
    # UC claims not started by the as-of date are not known to the landlord.
    claim_day = np.where(on_uc & claimed, claim_day, NEVER)

    last_week = end_day // 7
    hb_status = np.full(n, "none", dtype=object)
    hb_status[mode == HB] = "claimant"
    pending = (mode == HB) & (model.hb_susp_start <= last_week) & (last_week < model.hb_susp_end)
    hb_status[pending] = "claim_pending"

    start_day = 7 * model.start_week.astype(np.int64)
    end = np.where(model.end_week < NEVER, 7 * model.end_week.astype(np.int64) + 6, NEVER)
    end = np.where(end <= end_day, end, NEVER)
    deceased = pop.death_week <= last_week
    bs_until = np.where(pop.bs_start_day < NEVER, pop.bs_start_day.astype(np.int64) + 60, NEVER)
    first, last = attrs["first"], attrs["last"]
    names = np.char.add(np.char.add(first.astype(str), " "), last.astype(str))
    mobile = np.where(
        attrs["has_mobile"], np.char.add("07700900", np.char.zfill(attrs["mobile_no"].astype(str), 3)), ""
    )
    index = np.arange(1, n + 1).astype(str)
    email_user = np.char.lower(
        np.char.add(np.char.add(np.char.add(first.astype(str), "."), last.astype(str)), index)
    )
    email = np.where(attrs["has_email"], np.char.add(email_user, "@example.com"), "")

    frame = pd.DataFrame(
        {
            "tenancy": pd.Series(ids),
            "patch": attrs["patch"],
            "tenure_type": attrs["tenure_type"],
            "weekly_rent": model.rent.astype(float),
            "start_date": _dates(origin, start_day),
            "end_date": _dates(origin, end),
            "tenant_name": names.astype(object),
            "payment_method": method,
            "uc_status": uc_status,
            "uc_claim_date": _dates(origin, claim_day),
            "hb_status": hb_status,
            "vulnerable": attrs["vulnerable"].astype(bool),
            "vulnerability": attrs["vulnerability"].astype(object),
            "language": attrs["language"].astype(object),
            "preferred_channel": attrs["preferred_channel"].astype(object),
            "mobile": mobile.astype(object),
            "email": email.astype(object),
            "has_postal_address": attrs["has_postal_address"].astype(bool),
            "do_not_contact": attrs["do_not_contact"].astype(bool),
            "breathing_space_until": _dates(origin, bs_until),
            "deceased": deceased.astype(bool),
            "age_band": attrs["age_band"].astype(object),
        }
    )
    for column in schema.TENANCIES.columns:  # optional inputs the generator has no story for
        if column.name not in frame:
            frame[column.name] = column.default
    return frame[schema.TENANCIES.names]


def _cases_and_actions(
    history: _CaseHistory,
    pop: _Population,
    model: PayerModel,
    ids: np.ndarray,
    origin,
    end_day: int,
    officers: pd.DataFrame,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = model.n
    # Actions: every recorded event, dated up to the as-of date.
    if history.events:
        idx = np.concatenate([e[0] for e in history.events])
        day = np.concatenate([e[1] for e in history.events])
        code = np.concatenate([np.full(len(e[0]), e[2], dtype=np.int64) for e in history.events])
    else:
        idx = day = code = np.zeros(0, dtype=np.int64)
    keep = day <= end_day
    idx, day, code = idx[keep], day[keep], code[keep]
    order = np.lexsort((np.arange(len(idx)), day, idx))  # by tenancy, date, then the order recorded
    idx, day, code = idx[order], day[order], code[order]
    # Each open case's last action is the last entry of its timeline.
    last = np.r_[idx[1:] != idx[:-1], True] if len(idx) else np.zeros(0, dtype=bool)
    last_code = np.full(n, -1, dtype=np.int64)
    last_day = np.full(n, -NEVER, dtype=np.int64)
    last_code[idx[last]] = code[last]
    last_day[idx[last]] = day[last]
    rule_names = np.asarray(_ACTION_RULE, dtype=object)
    actions = pd.DataFrame(
        {
            "tenancy": _str_column(idx, ids),
            "date": _dates(origin, day),
            "action": _str_column(code, np.asarray(ACTION_CODES, dtype=object)),
            "rule": _str_column(code, rule_names),
            "channel": _str_column(code, np.asarray(_ACTION_CHANNEL, dtype=object)),
        }
    )

    # Open cases of current tenancies at the as-of date.
    last_week = end_day // 7
    current = model.active(last_week) & (model.start_week <= last_week)
    open_idx = np.flatnonzero(history.open & current)
    h = history
    status = np.full(len(open_idx), "automated", dtype=object)
    live = h.ag_status[open_idx] == AG_LIVE
    stage = h.stage[open_idx]
    vulnerable = pop.attrs["vulnerable"][open_idx]
    status[(stage >= S_NOSP) | vulnerable | h.letter_failed[open_idx]] = "worktray"
    status[live] = "agreement"
    legal = (h.court_pending[open_idx] | (h.eviction_day[open_idx] < NEVER) | (stage >= S_COURT)) & ~live
    status[legal] = "legal"
    paused = h.paused_until[open_idx] > end_day
    status[paused] = "paused"

    patch = pop.attrs["patch"][open_idx]
    officer = _allocate(officers, patch, status, vulnerable, rng)
    ag = h.ag_status[open_idx] != AG_NONE
    freq_labels = np.asarray(("", *_FREQUENCIES), dtype=object)
    ag_labels = np.asarray(("", *schema.AGREEMENT_STATUSES[:3]), dtype=object)  # live, breached, completed
    cases = pd.DataFrame(
        {
            "tenancy": ids[open_idx],
            "case": np.array([f"ARC-{c:06d}" for c in h.case_no[open_idx]], dtype=object),
            "stage": np.asarray(STAGES, dtype=object)[stage],
            "status": status,
            "officer": officer,
            "opened_date": _dates(origin, h.opened_day[open_idx]),
            "last_action": np.where(
                last_code[open_idx] >= 0,
                np.asarray(ACTION_CODES, dtype=object)[np.maximum(last_code[open_idx], 0)],
                "",
            ),
            "last_action_date": _dates(origin, last_day[open_idx]),
            "last_letter_failed": h.letter_failed[open_idx].astype(bool),
            "nosp_served_date": _dates(origin, h.nosp_day[open_idx]),
            "court_date": _dates(origin, h.court_day[open_idx]),
            "court_outcome": np.asarray(_OUTCOME_CODES, dtype=object)[h.outcome[open_idx]],
            "eviction_date": _dates(origin, h.eviction_day[open_idx]),
            "paused_until": _dates(origin, np.where(paused, h.paused_until[open_idx], NEVER)),
            "pause_reason": np.where(
                paused, np.asarray(PAUSE_REASONS, dtype=object)[h.pause_reason[open_idx]], ""
            ),
            "agreement_start": _dates(origin, np.where(ag, h.ag_start[open_idx], NEVER)),
            "agreement_frequency": np.where(ag, freq_labels[h.ag_freq[open_idx] + 1], ""),
            "agreement_instalment": np.where(ag, h.ag_inst[open_idx], np.nan),
            "agreement_initial_payment": np.where(ag, h.ag_initial[open_idx], 0.0),
            "agreement_starting_balance": np.where(ag, h.ag_start_bal[open_idx], np.nan),
            "agreement_formal": (ag & h.ag_formal[open_idx]).astype(bool),
            "agreement_status": ag_labels[h.ag_status[open_idx]],
            "prior_cases": h.prior_cases[open_idx].astype(np.int64),
            "broken_agreements": h.broken[open_idx].astype(np.int64),
        }
    )
    for column in ("tenancy", "case", "stage", "status", "officer", "last_action", "court_outcome"):
        cases[column] = cases[column].astype(object)
    return cases[schema.CASES.names].reset_index(drop=True), actions


def _allocate(officers: pd.DataFrame, patch, status, vulnerable, rng) -> np.ndarray:
    """The patch officer for cases that need one (legal cases to a legal officer on the patch if any)."""
    out = np.full(len(patch), "", dtype=object)
    needs = status != "automated"
    by_patch: dict[str, list[int]] = {}
    for i, patches in enumerate(officers["patches"]):
        for p in patches:
            by_patch.setdefault(p, []).append(i)
    ids = officers["officer"].to_numpy(dtype=object)
    skills = [set(s) for s in officers["skills"]]
    for p in np.unique(patch[needs]):
        rows = np.flatnonzero(needs & (patch == p))
        pool = by_patch.get(p) or list(range(len(ids)))
        chosen = np.asarray(pool)[rng.integers(0, len(pool), len(rows))]
        for want, mask in (("legal", status[rows] == "legal"), ("vulnerability", vulnerable[rows])):
            skilled = [i for i in pool if want in skills[i]]
            if skilled:
                pick = np.asarray(skilled)[rng.integers(0, len(skilled), len(rows))]
                chosen = np.where(mask, pick, chosen)
        out[rows] = ids[chosen]
    return out


def _truth_frame(pop: _Population, ids, origin, model: PayerModel) -> pd.DataFrame:
    week_date = lambda w: _dates(origin, np.where(w < NEVER, 7 * w.astype(np.int64), NEVER))  # noqa: E731
    return pd.DataFrame(
        {
            "tenancy": ids,
            "archetype": np.asarray(ARCHETYPES, dtype=object)[pop.archetype],
            "mode": np.asarray(MODES, dtype=object)[model.mode],
            "shock_date": week_date(model.shock_week),
            "recover_date": week_date(model.recover_week),
            "uc_claim_date": _dates(origin, model.uc_claim_day.astype(np.int64)),
            "apa_date": week_date(model.apa_week),
        }
    )


# ---------------------------------------------------------------------------------------------------
# Writing


def write_portfolio(portfolio: Portfolio, out_dir, fmt: str = "csv", include_truth: bool = False) -> Path:
    """Write tenancies, ledger, cases, actions and officers as ``NAME.csv`` or ``NAME.parquet`` in the
    documented input format (ISO dates, lists ';'-joined in CSV), plus ``portfolio.json``."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frames = {
        "tenancies": portfolio.tenancies,
        "ledger": portfolio.ledger,
        "cases": portfolio.cases,
        "actions": portfolio.actions,
        "officers": portfolio.officers,
    }
    if include_truth and portfolio.truth is not None:
        frames["truth"] = portfolio.truth
    for name, frame in frames.items():
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            _write_csv(frame, path)
        else:
            frame.to_parquet(path, index=False)
    meta = {
        "as_of": portfolio.as_of.date().isoformat(),
        "seed": portfolio.seed,
        "generator": "awm_frappe.engine.synth",
        "format": fmt,
        "counts": portfolio.counts(),
    }
    (out / "portfolio.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        frame = frame.copy()
        for column in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[column]):
                frame[column] = frame[column].dt.strftime("%Y-%m-%d")
            elif frame[column].map(lambda v: isinstance(v, (list, tuple))).any():
                frame[column] = frame[column].map(lambda v: ";".join(v))
        frame.to_csv(path, index=False)
        return
    frame = frame.copy(deep=False)
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object and len(values) and isinstance(values.iloc[0], (list, tuple, np.ndarray)):
            frame[column] = [";".join(str(v) for v in value) for value in values]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, name in enumerate(table.column_names):
        if pa.types.is_timestamp(table.schema.field(name).type):
            table = table.set_column(i, name, table.column(name).cast(pa.date32()))
    try:  # bare values when nothing needs quoting (smaller, friendlier files)
        pacsv.write_csv(table, str(path), pacsv.WriteOptions(quoting_style="none"))
    except pa.ArrowInvalid:
        pacsv.write_csv(table, str(path), pacsv.WriteOptions(quoting_style="needed"))
