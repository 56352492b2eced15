"""The synthetic portfolio: deterministic, in the documented format, with the payer behaviour it claims."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from awm_frappe.engine import schema
from awm_frappe.engine.synth import (
    ACTION_CODES,
    ARCHETYPES,
    Portfolio,
    synthesize,
    weekly_payments,
    write_portfolio,
)

FRAMES = ("tenancies", "ledger", "cases", "actions", "officers")
SPECS = {spec.name: spec for spec in schema.INPUT_FRAMES}


@pytest.fixture(scope="module")
def portfolio() -> Portfolio:
    return synthesize(tenancies=5000, weeks=52, seed=0)


@pytest.fixture(scope="module")
def position(portfolio) -> pd.DataFrame:
    """Per tenancy: balance, collectable arrears and weeks owed after one week's grace, at as_of."""
    ledger, tenancies = portfolio.ledger, portfolio.tenancies.set_index("tenancy")
    as_of = portfolio.as_of
    week_start = as_of - pd.Timedelta(days=as_of.weekday())
    balance = ledger.groupby("tenancy")["amount"].sum().reindex(tenancies.index, fill_value=0.0)
    this_week = ledger[ledger["date"] >= week_start]
    net = this_week.groupby("tenancy")["amount"].sum().reindex(tenancies.index, fill_value=0.0)
    paid = (
        this_week[this_week["kind"].isin(schema.PAYMENT_KINDS)]
        .groupby("tenancy")["amount"]
        .sum()
        .reindex(tenancies.index, fill_value=0.0)
    )
    collectable = balance - net
    after_grace = collectable - np.maximum(0.0, tenancies["weekly_rent"] + paid)
    truth = portfolio.truth.set_index("tenancy")
    return pd.DataFrame(
        {
            "balance": balance,
            "collectable": collectable,
            "weeks_owed": after_grace / tenancies["weekly_rent"],
            "rent": tenancies["weekly_rent"],
            "current": tenancies["end_date"].isna(),
            "deceased": tenancies["deceased"],
            "archetype": truth["archetype"],
            "mode": truth["mode"],
        }
    )


# ---------------------------------------------------------------------------------------------------
# Determinism


def test_same_seed_gives_identical_frames():
    first = synthesize(tenancies=800, weeks=20, seed=7)
    second = synthesize(tenancies=800, weeks=20, seed=7)
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    assert first.as_of == second.as_of


def test_different_seeds_give_different_frames():
    first = synthesize(tenancies=800, weeks=20, seed=7)
    second = synthesize(tenancies=800, weeks=20, seed=8)
    assert not first.ledger.equals(second.ledger)
    assert not first.tenancies["weekly_rent"].equals(second.tenancies["weekly_rent"])


# ---------------------------------------------------------------------------------------------------
# Schema conformance


def _assert_kind(frame: pd.DataFrame, column: schema.Column) -> None:
    series = frame[column.name]
    where = f"{column.name} ({series.dtype})"
    if column.kind == "str":
        assert pd.api.types.is_string_dtype(series) or series.dtype == object, where
        assert series.map(lambda v: isinstance(v, str)).all(), where
    elif column.kind == "float":
        assert pd.api.types.is_float_dtype(series), where
    elif column.kind == "int":
        assert pd.api.types.is_integer_dtype(series), where
    elif column.kind == "bool":
        assert pd.api.types.is_bool_dtype(series), where
    elif column.kind == "date":
        assert str(series.dtype) == "datetime64[ns]", where
        assert (series.dropna() == series.dropna().dt.normalize()).all(), where
    elif column.kind == "list":
        assert series.map(lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)).all(), where
    if column.choices:
        values = set(series[series != ""])
        assert values <= set(column.choices), f"{column.name}: {values - set(column.choices)}"


@pytest.mark.parametrize("name", FRAMES)
def test_frames_have_every_documented_column_with_its_type(portfolio, name):
    frame = getattr(portfolio, name)
    spec = SPECS[name]
    assert list(frame.columns) == spec.names
    assert len(frame) > 0
    for column in spec.columns:
        _assert_kind(frame, column)
    if spec.key:
        assert frame[spec.key].is_unique


def test_ledger_refers_to_known_tenancies_and_signs_amounts(portfolio):
    ledger, tenancies = portfolio.ledger, portfolio.tenancies
    assert set(ledger["tenancy"]) <= set(tenancies["tenancy"])
    assert (ledger["date"] <= portfolio.as_of).all()
    rent = ledger["kind"] == "rent"
    assert (ledger.loc[rent, "amount"] > 0).all()
    assert (ledger.loc[ledger["kind"].isin(schema.PAYMENT_KINDS), "amount"] < 0).all()
    assert np.allclose(ledger["amount"], ledger["amount"].round(2))
    assert (tenancies["weekly_rent"] > 0).all()
    assert tenancies["weekly_rent"].between(80, 180).all()


def test_rent_is_charged_every_monday_while_a_tenancy_is_active(portfolio):
    ledger, tenancies = portfolio.ledger, portfolio.tenancies.set_index("tenancy")
    rent = ledger[ledger["kind"] == "rent"]
    assert (rent["date"].dt.day_of_week == 0).all()
    assert not rent.duplicated(["tenancy", "date"]).any()
    first_monday = portfolio.as_of - pd.Timedelta(weeks=51)
    start = tenancies["start_date"].clip(lower=first_monday)
    end = tenancies["end_date"].fillna(portfolio.as_of).clip(upper=portfolio.as_of)
    expected = ((end - start).dt.days // 7 + 1).clip(lower=0)
    counted = rent.groupby("tenancy").size().reindex(tenancies.index, fill_value=0)
    pd.testing.assert_series_equal(counted, expected, check_names=False, check_dtype=False)
    assert rent.groupby("tenancy")["date"].min().ge(start.reindex(counted[counted > 0].index)).all()


def test_this_years_rent_is_the_weekly_rent_and_last_years_is_lower(portfolio):
    rent = portfolio.ledger[portfolio.ledger["kind"] == "rent"]
    weekly = rent["tenancy"].map(portfolio.tenancies.set_index("tenancy")["weekly_rent"])
    this_year = rent["date"] >= pd.Timestamp("2025-04-07")  # first Monday of April 2025
    assert np.allclose(rent.loc[this_year, "amount"], weekly[this_year])
    assert (rent.loc[~this_year, "amount"] < weekly[~this_year]).all()


def test_tenancy_attributes_have_plausible_rates(portfolio):
    t = portfolio.tenancies
    assert 0.05 <= t["vulnerable"].mean() <= 0.11
    assert ((t["vulnerability"] != "") == t["vulnerable"]).all()
    assert 0.78 <= (t["mobile"] != "").mean() <= 0.92
    assert 0.5 <= (t["email"] != "").mean() <= 0.7
    assert 0.003 <= t["do_not_contact"].mean() <= 0.02
    assert (t["breathing_space_until"].dropna() > portfolio.as_of).all()
    assert 0.002 <= t["breathing_space_until"].notna().mean() <= 0.01
    assert 0 < t["deceased"].sum() <= 0.006 * len(t)
    assert t["language"].value_counts(normalize=True)["en"] > 0.8
    assert t["language"].nunique() >= 5
    assert (t["tenure_type"].value_counts(normalize=True)["secure"]) > 0.6
    assert t["start_date"].gt(portfolio.as_of - pd.Timedelta(weeks=52)).mean() > 0.03
    assert ((t["preferred_channel"] != "sms") | (t["mobile"] != "")).all()
    assert ((t["preferred_channel"] != "email") | (t["email"] != "")).all()
    # Payment method agrees with benefit status.
    uc = t["uc_status"].isin(["claimant", "apa_requested", "apa_in_place", "claim_pending"])
    assert (t.loc[uc, "payment_method"] == "universal_credit").all()
    assert t.loc[uc, "uc_claim_date"].notna().all()
    assert (t.loc[t["hb_status"] == "claimant", "payment_method"] == "housing_benefit").all()


def test_officers_cover_every_patch_with_some_specialists(portfolio):
    officers = portfolio.officers
    assert len(officers) == 10  # one per ~500 tenancies
    covered = {p for patches in officers["patches"] for p in patches}
    assert set(portfolio.tenancies["patch"]) <= covered
    assert any("legal" in s for s in officers["skills"])
    assert any("vulnerability" in s for s in officers["skills"])
    assert officers["absent_until"].notna().sum() == 1
    assert portfolio.tenancies["patch"].str.match(r"^(North|South|East|West|Central) \d+$").all()
    assert synthesize(tenancies=300, weeks=4, seed=1, officers=3).officers.shape[0] == 3


# ---------------------------------------------------------------------------------------------------
# Arrears prevalence and archetype behaviour


def test_arrears_prevalence_is_in_the_target_ranges(position):
    current = position[position["current"]]
    assert 0.20 <= (current["collectable"] > 0).mean() <= 0.35
    assert 0.05 <= (current["weeks_owed"] >= 4).mean() <= 0.10


def test_archetypes_all_occur(portfolio):
    shares = portfolio.truth["archetype"].value_counts(normalize=True)
    assert set(shares.index) == set(ARCHETYPES)
    assert shares["steady_dd"] > 0.3


def test_steady_direct_debit_payers_stay_near_zero(position):
    steady = position[(position["archetype"] == "steady_dd") & position["current"] & ~position["deceased"]]
    weeks = steady["collectable"] / steady["rent"]
    assert (weeks <= 1.0).mean() > 0.97  # at most a monthly payer's fifth Monday in hand
    assert weeks.between(-7, 2.5).mean() > 0.995  # a month ahead just after paying; a rare bounce
    assert -2.5 < weeks.median() < 0.5
    assert (steady["weeks_owed"] >= 4).mean() < 0.003


def test_housing_benefit_arrives_four_weekly(portfolio):
    tenancies = portfolio.tenancies.set_index("tenancy")
    truth = portfolio.truth.set_index("tenancy")
    claimants = truth.index[(truth["mode"] == "housing_benefit") & (tenancies["hb_status"] == "claimant")]
    hb = portfolio.ledger[(portfolio.ledger["kind"] == "hb") & portfolio.ledger["tenancy"].isin(claimants)]
    gaps = hb.groupby("tenancy")["date"].diff().dropna().dt.days
    assert len(gaps) > 1000
    assert (gaps % 28 == 0).mean() > 0.97  # suspended claims skip whole cycles
    assert (gaps == 28).mean() > 0.9
    assert (hb["date"].dt.day_of_week == 0).all()  # the council pays on a Monday


def test_universal_credit_claims_wait_five_weeks_then_pay_monthly(portfolio):
    tenancies = portfolio.tenancies.set_index("tenancy")
    window_start = portfolio.as_of - pd.Timedelta(weeks=51)
    claims = tenancies[
        tenancies["uc_status"].isin(["claimant", "apa_in_place"])
        & tenancies["uc_claim_date"].between(window_start, portfolio.as_of - pd.Timedelta(weeks=14))
    ]
    assert len(claims) > 80
    ledger = portfolio.ledger
    credits = ledger[ledger["kind"].isin(schema.PAYMENT_KINDS) & ledger["tenancy"].isin(claims.index)]
    credits = credits.assign(
        claim=credits["tenancy"].map(claims["uc_claim_date"]),
        rent=credits["tenancy"].map(claims["weekly_rent"]),
    )
    monthly = credits[(credits["date"] > credits["claim"]) & (-credits["amount"] >= 2.5 * credits["rent"])]
    first = (monthly.groupby("tenancy")["date"].min() - claims["uc_claim_date"]).dt.days.dropna()
    assert (first >= 33).mean() > 0.9  # nothing like a month's rent before the first payday
    assert first.between(33, 45).mean() > 0.7  # the first payday about five weeks after the claim
    spacing = monthly.groupby("tenancy")["date"].apply(lambda d: d.diff().dt.days.median()).dropna()
    assert spacing.between(26, 36).mean() > 0.85


def test_uc_claimants_without_apa_pay_monthly_not_weekly(portfolio, position):
    ledger = portfolio.ledger
    tenancies = portfolio.tenancies.set_index("tenancy")
    settled = tenancies.index[
        (tenancies["uc_status"] == "claimant")
        & (tenancies["uc_claim_date"] < portfolio.as_of - pd.Timedelta(weeks=60))
    ]
    payments = ledger[(ledger["kind"] == "payment") & ledger["tenancy"].isin(settled)]
    per_tenancy = payments.groupby("tenancy").size()
    assert per_tenancy.median() <= 16  # about 12 monthly payments, a few extras


def test_income_shocks_are_preceded_by_slipping_payments(portfolio):
    truth = portfolio.truth.set_index("tenancy")
    shocked = truth[
        (truth["archetype"] == "income_shock")
        & truth["shock_date"].between(
            portfolio.as_of - pd.Timedelta(weeks=40), portfolio.as_of - pd.Timedelta(weeks=4)
        )
    ]
    ledger = portfolio.ledger[portfolio.ledger["tenancy"].isin(shocked.index)]
    ledger = ledger.assign(shock=ledger["tenancy"].map(shocked["shock_date"]))
    rel = (ledger["date"] - ledger["shock"]).dt.days // 7

    def paid_ratio(lo: int, hi: int) -> float:
        window = ledger[(rel >= lo) & (rel < hi)]
        rent = window.loc[window["kind"] == "rent", "amount"].sum()
        paid = -window.loc[window["kind"].isin(schema.PAYMENT_KINDS), "amount"].sum()
        return paid / rent

    before, slipping, after = paid_ratio(-12, -9), paid_ratio(-4, 0), paid_ratio(1, 4)
    assert before > 0.95
    assert after < slipping < before


def test_open_cases_match_the_ledger_and_history(portfolio, position):
    cases = portfolio.cases.set_index("tenancy")
    assert set(cases.index) <= set(portfolio.tenancies["tenancy"])
    assert (position.loc[cases.index, "collectable"] > 0).mean() > 0.85
    assert position.loc[cases.index, "current"].all()
    assert (cases["last_action_date"] <= portfolio.as_of).all()
    assert set(cases["last_action"]) <= set(ACTION_CODES)
    actions = portfolio.actions
    assert set(actions["action"]) <= set(ACTION_CODES)
    assert (actions["date"] <= portfolio.as_of).all()
    last = actions.groupby("tenancy").tail(1).set_index("tenancy")
    assert (last.loc[cases.index, "action"] == cases["last_action"]).all()
    assert (last.loc[cases.index, "date"] == cases["last_action_date"]).all()
    assert (cases["opened_date"] <= cases["last_action_date"]).all()
    messages = actions["action"].isin(["sms", "letter_1", "letter_2", "nosp", "court_warning_letter"])
    assert (actions.loc[messages, "channel"] != "").all()
    assert set(actions["channel"]) <= {"", *schema.CHANNELS}
    # Deeper stages hold deeper arrears.
    weeks = position.loc[cases.index, "weeks_owed"]
    assert weeks[cases["stage"] == "court"].median() > weeks[cases["stage"] == "letter_1"].median()


def test_cases_include_notices_court_agreements_and_pauses(portfolio):
    cases, as_of = portfolio.cases, portfolio.as_of
    assert cases["nosp_served_date"].notna().sum() >= 20
    assert cases["court_date"].notna().sum() >= 10
    assert (cases["court_date"] > as_of).sum() >= 3
    assert (cases["court_outcome"] != "").sum() >= 5
    assert set(cases["court_outcome"]) <= set(schema.COURT_OUTCOMES)
    agreements = cases[cases["agreement_status"] != ""]
    assert {"live", "breached"} <= set(agreements["agreement_status"])
    assert agreements["agreement_instalment"].gt(0).all()
    assert agreements["agreement_starting_balance"].notna().all()
    assert agreements["agreement_formal"].any() and (~agreements["agreement_formal"]).any()
    live = cases["agreement_status"] == "live"
    assert (live[cases["status"] == "agreement"]).all()
    assert cases.loc[live, "status"].isin(["agreement", "paused"]).all()
    paused = cases[cases["status"] == "paused"]
    assert len(paused) >= 5
    assert (paused["paused_until"] > as_of).all() and (paused["pause_reason"] != "").all()
    nosp = cases["nosp_served_date"].notna()
    assert (cases.loc[nosp, "nosp_served_date"] <= as_of).all()
    assert set(cases.loc[cases["stage"].isin(["court_warning", "court"]), "nosp_served_date"].notna()) == {
        True
    }


# ---------------------------------------------------------------------------------------------------
# The payer model as a simulator would use it


def test_model_state_continues_from_the_ledger(portfolio):
    model = portfolio.model
    ids = portfolio.tenancies["tenancy"]
    ledger = portfolio.ledger.groupby("tenancy")["amount"].sum().reindex(ids, fill_value=0.0)
    pending = portfolio.pending.groupby("tenancy")["amount"].sum().reindex(ids, fill_value=0.0)
    assert np.allclose(model.balance, (ledger + pending).to_numpy(), atol=0.01)
    assert (portfolio.pending["date"] > portfolio.as_of).all()


def test_propensity_boost_raises_payments_and_steps_are_reproducible(portfolio):
    week = (portfolio.as_of - portfolio.ledger["date"].min()).days // 7 + 1
    plain, boosted, again = (copy.deepcopy(portfolio.model) for _ in range(3))
    boosted.propensity_boost[:] = 0.5
    tx_plain = weekly_payments(plain, week, np.random.default_rng(1))
    tx_boosted = boosted.step(week, np.random.default_rng(1))
    tx_again = again.step(week, np.random.default_rng(1))
    np.testing.assert_array_equal(tx_plain.amount, tx_again.amount)
    paid = lambda tx: -tx.amount[tx.amount < 0].sum()  # noqa: E731
    assert paid(tx_boosted) > paid(tx_plain) * 1.05
    rent = tx_plain.amount[tx_plain.kind == schema.LEDGER_KINDS.index("rent")]
    assert len(rent) == int(plain.active(week).sum())
    frame = tx_plain.to_frame(portfolio.tenancies["tenancy"].to_numpy(), plain.origin)
    assert list(frame.columns) == schema.LEDGER.names
    assert (frame["date"] > portfolio.as_of).all()


# ---------------------------------------------------------------------------------------------------
# Shapes and arguments


def test_end_date_need_not_be_a_monday():
    p = synthesize(tenancies=300, weeks=8, seed=2, end="2026-04-01")
    assert p.as_of == pd.Timestamp("2026-04-01")
    rent = p.ledger[p.ledger["kind"] == "rent"]
    assert sorted(rent["date"].unique()) == list(pd.date_range(end="2026-03-30", periods=8, freq="W-MON"))
    assert (p.ledger["date"] <= p.as_of).all()


def test_long_histories_work():
    p = synthesize(tenancies=200, weeks=140, seed=0)
    rent = p.ledger[p.ledger["kind"] == "rent"]
    assert rent["date"].nunique() == 140
    assert rent["amount"].gt(0).all()


def test_tiny_portfolios_work_and_bad_arguments_are_refused():
    p = synthesize(tenancies=1, weeks=1, seed=0)
    assert len(p.tenancies) == 1 and len(p.officers) == 1
    assert p.tenancies.loc[0, "patch"] in p.officers.loc[0, "patches"]
    with pytest.raises(ValueError):
        synthesize(tenancies=0)
    with pytest.raises(ValueError):
        synthesize(weeks=0)


# ---------------------------------------------------------------------------------------------------
# Files


def _read_csv(path, spec: schema.FrameSpec) -> pd.DataFrame:
    """Read a written CSV by the documented conventions alone."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = {}
    for column in spec.columns:
        text = raw[column.name]
        if column.kind == "float":
            out[column.name] = pd.to_numeric(text.replace("", np.nan)).astype(float)
        elif column.kind == "int":
            out[column.name] = text.astype(int)
        elif column.kind == "bool":
            assert set(text) <= {"true", "false"}
            out[column.name] = text == "true"
        elif column.kind == "date":
            assert text[text != ""].str.match(r"^\d{4}-\d{2}-\d{2}$").all()
            out[column.name] = pd.to_datetime(text.replace("", None), format="%Y-%m-%d").astype(
                "datetime64[ns]"
            )
        elif column.kind == "list":
            out[column.name] = text.map(lambda v: v.split(";") if v else [])
        else:
            out[column.name] = text
    return pd.DataFrame(out)


def _normalised(frame: pd.DataFrame, spec: schema.FrameSpec) -> pd.DataFrame:
    frame = frame.copy()
    for column in spec.columns:
        if column.kind == "str":
            frame[column.name] = frame[column.name].astype(object)
        elif column.kind == "list":
            frame[column.name] = frame[column.name].map(list)
        elif column.kind == "date":
            frame[column.name] = frame[column.name].astype("datetime64[ns]")
    return frame.reset_index(drop=True)


@pytest.fixture(scope="module")
def small() -> Portfolio:
    return synthesize(tenancies=600, weeks=26, seed=5)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_and_read_back(small, tmp_path, fmt):
    write_portfolio(small, tmp_path, fmt=fmt)
    meta = json.loads((tmp_path / "portfolio.json").read_text())
    assert meta["as_of"] == small.as_of.date().isoformat()
    assert meta["seed"] == 5
    assert meta["counts"] == {name: len(getattr(small, name)) for name in FRAMES}
    for name in FRAMES:
        spec = SPECS[name]
        path = tmp_path / f"{name}.{fmt}"
        assert path.exists()
        read = _read_csv(path, spec) if fmt == "csv" else pd.read_parquet(path)
        pd.testing.assert_frame_equal(
            _normalised(read, spec), _normalised(getattr(small, name), spec), check_dtype=False
        )
    assert not (tmp_path / f"truth.{fmt}").exists()


def test_csv_is_in_the_documented_text_format(small, tmp_path):
    write_portfolio(small, tmp_path, fmt="csv", include_truth=True)
    officers = (tmp_path / "officers.csv").read_text().splitlines()
    assert any(";" in line for line in officers[1:])  # lists are ';'-joined
    tenancies = pd.read_csv(tmp_path / "tenancies.csv", dtype=str, keep_default_na=False)
    assert tenancies["start_date"].str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    assert set(tenancies["vulnerable"]) <= {"true", "false"}
    assert tenancies.loc[tenancies["mobile"] != "", "mobile"].str.match(r"^07700900\d{3}$").all()
    assert (tmp_path / "truth.csv").exists()
    with pytest.raises(ValueError):
        write_portfolio(small, tmp_path, fmt="xlsx")
