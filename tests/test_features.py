"""Ledger features: Hackney's grace arithmetic, no leakage past as_of, and payment-behaviour signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from awm_frappe.engine.features import PreparedLedger, compute_features, prepare_ledger
from awm_frappe.engine.fields import FEATURE_FIELDS
from awm_frappe.engine.schema import PAYMENT_KINDS
from tests.factories import AS_OF, make_ledger, make_tenancies, make_tenancy, weekly_rent_ledger

MONDAY = pd.Timestamp("2026-03-09")  # AS_OF (Wednesday 2026-03-11) is in this rent week
assert AS_OF.weekday() == 2 and MONDAY.weekday() == 0


def day(offset: int) -> pd.Timestamp:
    """A date relative to AS_OF."""
    return AS_OF + pd.Timedelta(days=offset)


def features_of(ledger: pd.DataFrame, as_of=AS_OF, **tenancy) -> pd.Series:
    return compute_features(make_tenancies(make_tenancy("T1", **tenancy)), ledger, as_of).loc["T1"]


# --- Hackney's collectable arrears and one week's grace --------------------------------------------------


def arrears_of_250_then(*this_week: tuple) -> pd.DataFrame:
    """£250 owed before this rent week (charged the previous Sunday), then this week's transactions."""
    return make_ledger(("T1", MONDAY - pd.Timedelta(days=1), 250.0, "rent"), *this_week)


def test_grace_allows_the_unpaid_part_of_this_weeks_rent():
    ledger = arrears_of_250_then(("T1", MONDAY, 100.0, "rent"), ("T1", day(-1), -30.0, "payment"))
    f = features_of(ledger)
    assert f["balance"] == 320.0
    assert f["week_start"] == MONDAY
    assert f["this_week_net"] == 70.0
    assert f["payments_this_week"] == -30.0
    assert f["collectable_arrears"] == 250.0
    # 250 - max(0, 100 - 30): the tenant still has this week to pay the other £70.
    assert f["arrears_after_grace"] == 180.0
    assert f["weeks_owed"] == pytest.approx(1.8)


def test_overpaying_this_week_earns_no_extra_grace():
    ledger = arrears_of_250_then(("T1", MONDAY, 100.0, "rent"), ("T1", day(0), -150.0, "hb"))
    f = features_of(ledger)
    assert f["balance"] == 200.0
    assert f["payments_this_week"] == -150.0
    assert f["collectable_arrears"] == 250.0
    assert f["arrears_after_grace"] == 250.0  # max(0, 100 - 150) = 0


def test_adjustments_this_week_are_not_payments():
    ledger = arrears_of_250_then(("T1", MONDAY, 100.0, "rent"), ("T1", day(0), -40.0, "adjustment"))
    f = features_of(ledger)
    assert f["payments_this_week"] == 0.0
    assert f["collectable_arrears"] == 250.0
    assert f["arrears_after_grace"] == 150.0


def test_a_bounced_payment_this_week_does_not_widen_the_grace():
    ledger = arrears_of_250_then(("T1", MONDAY, 100.0, "rent"), ("T1", day(0), 80.0, "payment"))
    f = features_of(ledger)
    assert f["balance"] == 430.0
    assert f["payments_this_week"] == 0.0  # net +80 of payment kinds is capped at 0
    assert f["collectable_arrears"] == 250.0
    assert f["arrears_after_grace"] == 150.0  # one week's rent of grace, not 180


def test_rent_week_runs_monday_to_as_of():
    sunday, monday = MONDAY - pd.Timedelta(days=1), MONDAY
    ledger = make_ledger(("T1", sunday, 100.0, "rent"), ("T1", monday, 100.0, "rent"))
    f = features_of(ledger)
    assert f["this_week_net"] == 100.0  # only Monday's charge
    assert f["collectable_arrears"] == 100.0
    on_monday = features_of(ledger, as_of=MONDAY)
    assert on_monday["week_start"] == MONDAY
    assert on_monday["this_week_net"] == 100.0
    on_sunday = features_of(ledger, as_of=sunday)
    assert on_sunday["week_start"] == MONDAY - pd.Timedelta(days=7)
    assert on_sunday["balance"] == 100.0


def test_weeks_owed_is_arrears_after_grace_in_weeks_of_rent():
    f = features_of(weekly_rent_ledger(weeks=10, rent=120.0, paid=0.0), weekly_rent=120.0)
    assert f["balance"] == 1200.0
    assert f["collectable_arrears"] == 1080.0
    assert f["arrears_after_grace"] == 960.0
    assert f["weeks_owed"] == 8.0


# --- no leakage -----------------------------------------------------------------------------------------


def random_ledger(seed: int, tenancies: int = 25, rows: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.array([f"T{i}" for i in range(tenancies)] + ["UNKNOWN"], dtype=object)
    kinds = np.array(["rent", "payment", "hb", "uc", "adjustment", "write_off"], dtype=object)
    kind = rng.choice(kinds, rows, p=[0.45, 0.25, 0.1, 0.1, 0.05, 0.05])
    amount = rng.integers(1, 30_000, rows) / 100
    credit = np.isin(kind, ["payment", "hb", "uc", "write_off"]) & (rng.random(rows) < 0.95)
    amount = np.where(credit, -amount, amount)
    dates = AS_OF + pd.to_timedelta(rng.integers(-400, 60, rows), unit="D")
    return make_ledger(*zip(rng.choice(ids, rows), dates, amount, kind, strict=True))


def random_tenancies(count: int = 25) -> pd.DataFrame:
    rows = [make_tenancy(f"T{i}", weekly_rent=80.0 + i, start_date=day(-900 + 10 * i)) for i in range(count)]
    rows.append(make_tenancy("NO_LEDGER", weekly_rent=95.0, start_date=day(-30)))
    return make_tenancies(*rows[::-1])  # not in ledger order


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_transactions_after_as_of_change_nothing(seed):
    tenancies, ledger = random_tenancies(), random_ledger(seed)
    up_to_as_of = ledger[ledger["date"] <= AS_OF]
    expected = compute_features(tenancies, up_to_as_of, AS_OF)
    pd.testing.assert_frame_equal(compute_features(tenancies, ledger, AS_OF), expected)
    assert len(up_to_as_of) < len(ledger)  # the check had future rows to ignore


def test_a_prepared_ledger_rolls_back_through_history_without_leakage():
    tenancies, ledger = random_tenancies(), random_ledger(7)
    prepared = prepare_ledger(ledger, tenancies)
    assert isinstance(prepared, PreparedLedger)
    for as_of in pd.date_range(day(-120), day(30), freq="17D"):
        only_the_past = ledger[ledger["date"] <= as_of]
        pd.testing.assert_frame_equal(
            compute_features(tenancies, prepared, as_of), compute_features(tenancies, only_the_past, as_of)
        )


# --- agreement with a slow, obviously-correct reference ---------------------------------------------------


def reference_features(tenancies: pd.DataFrame, ledger: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """One tenancy at a time with plain pandas filters: slow, but easy to check by eye."""
    week_start = as_of - pd.Timedelta(days=as_of.weekday())
    rows = []
    for t in tenancies.itertuples():
        tx = ledger[(ledger["tenancy"] == t.tenancy) & (ledger["date"] <= as_of)]
        payments = tx[tx["kind"].isin(PAYMENT_KINDS)]
        credits = payments[payments["amount"] < 0]
        week = tx[tx["date"] >= week_start]
        balance = round(tx["amount"].sum(), 2)
        net = round(week["amount"].sum(), 2)
        ptw = min(round(week.loc[week["kind"].isin(PAYMENT_KINDS), "amount"].sum(), 2), 0.0)
        collectable = round(balance - net, 2)
        after_grace = collectable - max(0.0, t.weekly_rent + ptw)
        age = (as_of - t.start_date).days
        row = {
            "tenancy": t.tenancy,
            "balance": balance,
            "week_start": week_start,
            "this_week_net": net,
            "payments_this_week": ptw,
            "collectable_arrears": collectable,
            "arrears_after_grace": after_grace,
            "weeks_owed": after_grace / t.weekly_rent,
        }
        if len(credits):
            last = credits["date"].max()
            row["last_payment_date"] = last
            row["last_payment_amount"] = -credits.loc[credits["date"] == last, "amount"].sum()
            row["days_since_last_payment"] = float((as_of - last).days)
        else:
            row.update(last_payment_date=pd.NaT, last_payment_amount=np.nan, days_since_last_payment=age)
        for weeks in (4, 13, 26):
            window = tx[tx["date"] > as_of - pd.Timedelta(weeks=weeks)]
            received = -window.loc[window["kind"].isin(PAYMENT_KINDS), "amount"].sum()
            charged = round(window.loc[window["kind"] == "rent", "amount"].sum(), 2)
            row[f"paid_ratio_{weeks}w"] = received / charged if charged > 0 else np.nan
            if weeks in (4, 13):
                row[f"balance_change_{weeks}w"] = window["amount"].sum()
            if weeks == 26:
                row["rent_charged_26w"] = charged
        mondays = [week_start - pd.Timedelta(weeks=back) for back in range(1, 9)]
        row["weeks_with_payment_8w"] = sum(
            bool(credits["date"].between(m, m + pd.Timedelta(days=6)).any()) for m in mondays
        )
        daily = tx.groupby("date")["amount"].sum().cumsum().round(2)
        settled = daily[daily <= 0]
        if balance <= 0:
            row["arrears_age_days"] = 0
        elif len(settled):
            row["arrears_age_days"] = (as_of - settled.index.max()).days
        else:
            row["arrears_age_days"] = (as_of - daily.index.min()).days + 1
        row["tenancy_age_days"] = float(age)
        checks = [as_of - pd.Timedelta(weeks=k) for k in range(1, 27)]
        checks = [round(tx.loc[tx["date"] <= check, "amount"].sum(), 2) for check in checks]
        row["checks_in_arrears_26w"] = float(sum(b > t.weekly_rent for b in checks))
        row["max_balance_26w"] = max(checks)
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("tenancy")[list(FEATURE_FIELDS)]
    dates = [name for name, kind in FEATURE_FIELDS.items() if kind == "date"]
    return frame.astype(dict.fromkeys(dates, "datetime64[ns]"))


@pytest.mark.parametrize("seed", [11, 12])
def test_matches_the_reference_on_a_random_ledger(seed):
    tenancies, ledger = random_tenancies(), random_ledger(seed)
    for as_of in (AS_OF, day(-100), day(4)):  # a Wednesday, a Friday, a Sunday
        got = compute_features(tenancies, ledger, as_of)
        want = reference_features(tenancies, ledger, as_of)
        pd.testing.assert_frame_equal(got, want, check_dtype=False, check_index_type=False, atol=1e-6)


# --- payment behaviour -----------------------------------------------------------------------------------


def test_a_tenant_who_stopped_paying_four_weeks_ago():
    paid = weekly_rent_ledger(weeks=26, end=MONDAY - pd.Timedelta(weeks=4))
    unpaid = weekly_rent_ledger(weeks=4, paid=0.0, end=MONDAY)
    f = features_of(pd.concat([paid, unpaid], ignore_index=True))
    assert f["balance"] == 400.0
    assert f["paid_ratio_4w"] == 0.0
    assert f["paid_ratio_13w"] == pytest.approx(9 / 13)
    assert f["paid_ratio_26w"] == pytest.approx(22 / 26)
    assert f["weeks_with_payment_8w"] == 5  # rent weeks 8..4 back had payments; 3..1 back did not
    assert f["balance_change_4w"] == 400.0
    assert f["balance_change_13w"] == 400.0
    last_paid = MONDAY - pd.Timedelta(weeks=4)
    assert f["last_payment_date"] == last_paid
    assert f["last_payment_amount"] == 100.0
    assert f["days_since_last_payment"] == (AS_OF - last_paid).days
    # Settled at the end of the last payment day; in arrears since the next Monday's charge.
    assert f["arrears_age_days"] == (AS_OF - last_paid).days
    assert f["rent_charged_26w"] == 2600.0


def test_arrears_history_remembers_a_debt_that_has_since_been_cleared():
    """Four unpaid Mondays from 20 weeks back, cleared by one payment 12 weeks back: the account is clear
    today, but the weekly checks in between saw more than a week's rent owed."""
    mondays = pd.date_range(end=MONDAY, periods=30, freq="W-MON")
    rows = [("T1", d, 100.0, "rent") for d in mondays]
    unpaid = set(mondays[-21:-17])  # rent weeks 20..17 back from MONDAY
    rows += [("T1", d, -100.0, "payment") for d in mondays if d not in unpaid]
    rows.append(("T1", MONDAY - pd.Timedelta(weeks=12), -400.0, "payment"))
    f = features_of(make_ledger(*rows))
    assert f["balance"] == 0.0
    # Checks fall on Wednesdays (AS_OF's weekday): those 19..13 weeks back found £200..£400 owed;
    # 20 weeks back (£100 owed, exactly one week's rent) is not "more than a week's rent", and by 12
    # weeks back the debt was paid.
    assert f["checks_in_arrears_26w"] == 7
    assert f["max_balance_26w"] == 400.0
    steady = features_of(weekly_rent_ledger(weeks=30))
    assert steady["checks_in_arrears_26w"] == 0 and steady["max_balance_26w"] == 0.0
    assert np.isnan(features_of(make_ledger(*rows), weekly_rent=0.0)["checks_in_arrears_26w"])


def test_regular_payers_score_full_regularity_whatever_their_payday():
    mondays = pd.date_range(end=MONDAY, periods=30, freq="W-MON")
    charges = [("T1", d, 100.0, "rent") for d in mondays]
    fridays = [("T1", d + pd.Timedelta(days=4), -100.0, "payment") for d in mondays]
    ledger = make_ledger(*charges, *fridays)
    for as_of in pd.date_range(MONDAY, periods=7):
        f = features_of(ledger, as_of=as_of)
        assert f["paid_ratio_4w"] == 1.0, as_of
        assert f["paid_ratio_26w"] == 1.0, as_of
        assert f["weeks_with_payment_8w"] == 8, as_of


def test_paid_ratio_counts_benefits_and_is_unknown_without_rent():
    ledger = make_ledger(
        ("T1", MONDAY, 100.0, "rent"),
        ("T1", MONDAY, -60.0, "hb"),
        ("T1", day(0), -20.0, "uc"),
        ("T1", day(-3), 10.0, "payment"),  # a reversed payment: not a payment, and net of received
    )
    f = features_of(ledger)
    assert f["paid_ratio_4w"] == pytest.approx(0.7)
    assert f["last_payment_date"] == day(0)
    assert f["last_payment_amount"] == 20.0
    nothing_charged = features_of(make_ledger(("T1", day(-1), -50.0, "payment")))
    assert np.isnan(nothing_charged["paid_ratio_4w"])


def test_payments_on_one_day_are_one_payment():
    ledger = make_ledger(("T1", day(-2), -30.0, "payment"), ("T1", day(-2), -45.5, "hb"))
    assert features_of(ledger)["last_payment_amount"] == 75.5


def test_arrears_age_counts_from_the_last_day_the_account_was_clear():
    ledger = make_ledger(
        ("T1", day(-40), 100.0, "rent"),
        ("T1", day(-33), -100.0, "payment"),  # clear at the end of day -33
        ("T1", day(-26), 100.0, "rent"),
        ("T1", day(-20), 100.0, "rent"),
        ("T1", day(-20), -100.0, "payment"),  # same-day charge and payment: still owes 100 that night
    )
    assert features_of(ledger)["arrears_age_days"] == 33
    clear = make_ledger(("T1", day(-10), 100.0, "rent"), ("T1", day(-3), -100.0, "payment"))
    assert features_of(clear)["arrears_age_days"] == 0
    never_clear = make_ledger(("T1", day(-10), 100.0, "rent"))
    assert features_of(never_clear)["arrears_age_days"] == 11


def test_pennies_add_up_exactly():
    # 0.1 + 0.2 != 0.3 in floating point; a tenant who paid every penny must not look in arrears.
    rows = [("T1", day(-k), 0.1, "rent") for k in range(30)] + [
        ("T1", day(-k), 0.2, "rent") for k in range(30)
    ]
    rows.append(("T1", AS_OF, -9.0, "payment"))
    f = features_of(make_ledger(*rows))
    assert f["balance"] == 0.0
    assert f["arrears_age_days"] == 0


# --- shape and edge cases --------------------------------------------------------------------------------


def test_one_row_per_tenancy_in_input_order_with_exactly_the_feature_fields():
    tenancies = make_tenancies(make_tenancy("T3"), make_tenancy("T1"), make_tenancy("T2"))
    ledger = pd.concat([weekly_rent_ledger("T1"), weekly_rent_ledger("T2", paid=0.0)], ignore_index=True)
    features = compute_features(tenancies, ledger.iloc[::-1], AS_OF)
    assert list(features.index) == ["T3", "T1", "T2"]
    assert features.index.name == "tenancy"
    assert list(features.columns) == list(FEATURE_FIELDS)
    assert features.loc["T2", "balance"] == 1200.0


def test_a_tenancy_without_transactions_owes_nothing_and_never_paid():
    f = features_of(make_ledger(("OTHER", AS_OF, 100.0, "rent")), start_date=day(-30))
    assert f["balance"] == 0.0
    assert f["arrears_after_grace"] == -100.0
    assert f["arrears_age_days"] == 0
    assert pd.isna(f["last_payment_date"]) and np.isnan(f["last_payment_amount"])
    assert f["days_since_last_payment"] == 30
    assert f["tenancy_age_days"] == 30
    assert f["weeks_with_payment_8w"] == 0
    assert np.isnan(f["paid_ratio_13w"])


def test_an_empty_ledger_gives_every_tenancy_a_zero_balance():
    features = compute_features(make_tenancies(make_tenancy("T1"), make_tenancy("T2")), make_ledger(), AS_OF)
    assert features["balance"].tolist() == [0.0, 0.0]
    assert features["weeks_with_payment_8w"].tolist() == [0, 0]


def test_feature_dtypes_suit_rules_and_models():
    features = compute_features(make_tenancies(), weekly_rent_ledger(), AS_OF)
    for name, kind in FEATURE_FIELDS.items():
        if kind == "date":
            assert features[name].dtype == "datetime64[ns]", name
        else:
            assert pd.api.types.is_numeric_dtype(features[name]), name


def test_a_prepared_ledger_serves_other_tenancy_frames():
    ledger = pd.concat([weekly_rent_ledger("T1", paid=0.0), weekly_rent_ledger("T2")], ignore_index=True)
    prepared = prepare_ledger(ledger)  # every tenancy in the ledger
    subset = make_tenancies(make_tenancy("T2"), make_tenancy("NEW"), make_tenancy("T1"))
    features = compute_features(subset, prepared, AS_OF)
    assert features["balance"].tolist() == [0.0, 0.0, 1200.0]
