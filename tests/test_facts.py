"""Case facts (Hackney's classifier facts) and the case frame the rules engine evaluates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from awm_frappe.engine.facts import (
    DEFAULT_SETTINGS,
    build_case_frame,
    compute_facts,
    shadowed_action_codes,
)
from awm_frappe.engine.features import compute_features, prepare_ledger
from awm_frappe.engine.fields import FACT_FIELDS, FEATURE_FIELDS, TENANCY_FIELDS
from tests.factories import AS_OF, make_case, make_ledger, make_tenancies, make_tenancy, weekly_rent_ledger


def day(offset: int) -> pd.Timestamp:
    return AS_OF + pd.Timedelta(days=offset)


def make_actions(*rows: tuple) -> pd.DataFrame:
    """History rows as (tenancy, date offset from AS_OF, action[, channel])."""
    records = [(t, day(offset), action, *(rest or [""])) for t, offset, action, *rest in rows]
    return pd.DataFrame(records, columns=["tenancy", "date", "action", "channel"])


def facts_for(*cases: dict, actions=None, balance: float = 0.0, settings=None, **tenancy) -> pd.DataFrame:
    ids = [c["tenancy"] for c in cases] or ["T1"]
    tenancies = make_tenancies(*(make_tenancy(t, **tenancy) for t in ids))
    features = pd.DataFrame({"balance": balance}, index=pd.Index(ids, name="tenancy"))
    return compute_facts(tenancies, features, pd.DataFrame(list(cases)), actions, AS_OF, settings)


def fact(name: str, balance: float = 0.0, settings=None, actions=None, **case):
    return facts_for(make_case("T1", **case), balance=balance, settings=settings, actions=actions).loc[
        "T1", name
    ]


# --- NOSP ------------------------------------------------------------------------------------------------


def test_a_nosp_takes_effect_28_days_after_service():
    served_28_days_ago = facts_for(make_case("T1", nosp_served_date=day(-28))).loc["T1"]
    assert served_28_days_ago["nosp_served"]
    assert served_28_days_ago["nosp_expiry_date"] == AS_OF
    assert served_28_days_ago["nosp_valid"]
    assert not served_28_days_ago["nosp_active"]
    served_29_days_ago = facts_for(make_case("T1", nosp_served_date=day(-29))).loc["T1"]
    assert served_29_days_ago["nosp_active"]


def test_a_nosp_stays_valid_52_weeks_after_it_takes_effect():
    last_valid_service = AS_OF - pd.Timedelta(weeks=52) - pd.Timedelta(days=28)
    assert fact("nosp_valid", nosp_served_date=last_valid_service)
    assert fact("nosp_active", nosp_served_date=last_valid_service)
    a_day_earlier = last_valid_service - pd.Timedelta(days=1)
    assert fact("nosp_served", nosp_served_date=a_day_earlier)
    assert not fact("nosp_valid", nosp_served_date=a_day_earlier)
    assert not fact("nosp_active", nosp_served_date=a_day_earlier)


def test_nosp_durations_come_from_the_pack_settings():
    hackney_2020 = {"nosp_notice": "3 months"}
    served = pd.Timestamp("2025-12-11")
    assert fact("nosp_expiry_date", settings=hackney_2020, nosp_served_date=served) == AS_OF
    assert not fact("nosp_active", settings=hackney_2020, nosp_served_date=served)
    assert fact("nosp_active", nosp_served_date=served)  # default 28 days


def test_no_nosp():
    row = facts_for(make_case("T1")).loc["T1"]
    assert not row["nosp_served"] and not row["nosp_valid"] and not row["nosp_active"]
    assert pd.isna(row["nosp_expiry_date"])


# --- agreements and breaches -----------------------------------------------------------------------------


def breached_agreement(**overrides) -> dict:
    """£20 a week off £1,000 from 10 weeks ago; with the balance still £1,000 it is breached."""
    terms = {
        "agreement_start": day(-70),
        "agreement_frequency": "weekly",
        "agreement_instalment": 20.0,
        "agreement_starting_balance": 1000.0,
        "agreement_status": "live",
    }
    return {**terms, **overrides}


def test_a_breached_court_agreement_made_at_or_after_the_hearing_is_a_court_breach():
    row = facts_for(
        make_case(
            "T1", court_date=day(-70), court_outcome="SPO", **breached_agreement(agreement_formal=True)
        ),
        balance=1000.0,
    ).loc["T1"]
    assert row["agreement_breached"] and row["agreement_formal"] and not row["agreement_informal"]
    assert row["agreement_expected_balance"] == 800.0  # 10 instalments counted
    assert row["agreement_shortfall"] == 200.0
    assert row["court_breach"]
    assert not row["informal_breach"]
    assert row["formal_agreement_since_court"]


def test_a_formal_agreement_older_than_the_latest_court_date_is_not_a_court_breach():
    case = make_case(
        "T1", court_date=day(-60), court_outcome="ADH", **breached_agreement(agreement_formal=True)
    )
    row = facts_for(case, balance=1000.0).loc["T1"]
    assert row["agreement_breached"]
    assert not row["court_breach"]
    assert not row["formal_agreement_since_court"]


def test_a_breached_informal_agreement_is_an_informal_breach():
    row = facts_for(make_case("T1", **breached_agreement(agreement_formal=False)), balance=1000.0).loc["T1"]
    assert row["informal_breach"]
    assert not row["court_breach"]
    assert not row["agreement_live"]


def test_a_kept_agreement_is_live_and_a_cleared_one_completed():
    kept = facts_for(make_case("T1", **breached_agreement()), balance=800.0).loc["T1"]
    assert kept["agreement_live"] and not kept["agreement_breached"] and not kept["informal_breach"]
    cleared = facts_for(make_case("T1", **breached_agreement()), balance=0.0).loc["T1"]
    assert cleared["agreement_completed"] and not cleared["agreement_live"]


def _agreement_status_on(as_of: pd.Timestamp, payday: str, paid: float) -> pd.Series:
    """Weekly rent £100 charged on Mondays; the tenant pays `paid` every `payday` (W-MON, W-FRI, ...)
    on a £300 weekly agreement of £10 started six weeks before."""
    start = pd.Timestamp("2026-01-26")
    charges = [("T1", d, 100.0, "rent") for d in pd.date_range(start, as_of, freq="W-MON")]
    payments = [("T1", d, -paid, "payment") for d in pd.date_range(start, as_of, freq=payday)]
    ledger = make_ledger(("T1", start - pd.Timedelta(days=1), 300.0, "adjustment"), *charges, *payments)
    case = make_case(
        "T1",
        agreement_start=start,
        agreement_frequency="weekly",
        agreement_instalment=10.0,
        agreement_initial_payment=0.0,
        agreement_starting_balance=300.0,
        agreement_status="live",
    )
    frame = build_case_frame(make_tenancies(make_tenancy("T1")), ledger, pd.DataFrame([case]), None, as_of)
    return frame.loc["T1"]


@pytest.mark.parametrize("payday", ["W-MON", "W-FRI"])
@pytest.mark.parametrize("weekday", range(7))
def test_a_kept_weekly_agreement_is_live_on_every_day_of_the_week(payday, weekday):
    """Paying rent + instalment weekly keeps the agreement, whether on the due Monday or on Friday: the
    raw balance on Monday morning and collectable arrears at the weekend would both say otherwise."""
    as_of = pd.Timestamp("2026-03-09") + pd.Timedelta(days=weekday)
    row = _agreement_status_on(as_of, payday, paid=110.0)
    assert row["agreement_status"] == "live", (row["balance"], row["agreement_expected_balance"])


@pytest.mark.parametrize("payday", ["W-MON", "W-FRI"])
def test_paying_only_the_rent_breaches_the_agreement(payday):
    row = _agreement_status_on(pd.Timestamp("2026-03-14"), payday, paid=100.0)
    assert row["agreement_status"] == "breached"
    assert row["agreement_breached"] and row["informal_breach"]


def test_the_agreement_tolerance_comes_from_the_settings():
    case = make_case("T1", **breached_agreement())
    # The latest instalment fell due 7 days ago: counted after 5 days' tolerance, not yet after 8.
    lenient = facts_for(case, balance=820.0, settings={"agreement_tolerance_days": 8}).loc["T1"]
    assert lenient["agreement_expected_balance"] == 820.0 and lenient["agreement_live"]
    assert facts_for(case, balance=820.0).loc["T1", "agreement_breached"]


def test_no_agreement():
    row = facts_for(make_case("T1")).loc["T1"]
    assert not row["agreement_exists"] and not row["agreement_formal"] and not row["agreement_informal"]
    assert not row["agreement_live"] and not row["agreement_breached"]
    assert np.isnan(row["agreement_expected_balance"])


# --- court, warrant, prevent, breathing space ------------------------------------------------------------


@pytest.mark.parametrize(
    ("court_date", "outcome", "active"),
    [
        (day(-365 * 5), "SOT", True),
        (AS_OF - pd.DateOffset(years=6) + pd.Timedelta(days=1), "AGP", True),
        (AS_OF - pd.DateOffset(years=6), "STE", False),
        (day(-30), "OPD", False),
        (day(-30), "", False),
        (pd.NaT, "ADN", False),
    ],
)
def test_warrant_active_within_six_years_of_a_qualifying_outcome(court_date, outcome, active):
    assert fact("warrant_active", court_date=court_date, court_outcome=outcome) == active


def test_court_outcome_facts():
    row = facts_for(make_case("T1", court_date=day(-10), court_outcome="OPF")).loc["T1"]
    assert row["outright_possession"] and not row["outcome_implies_agreement"]
    assert fact("outcome_implies_agreement", court_date=day(-10), court_outcome="PPO")


@pytest.mark.parametrize(
    ("case", "paused", "prevent"),
    [
        ({"paused_until": day(1)}, True, True),
        ({"paused_until": AS_OF}, False, False),  # the pause ends today
        ({"eviction_date": day(30)}, False, True),
        ({"court_date": day(1)}, False, True),
        ({"court_date": AS_OF}, False, False),  # the hearing is today: no longer "in the future"
        ({}, False, False),
    ],
)
def test_prevent_blocks_paused_cases_evictions_and_pending_hearings(case, paused, prevent):
    row = facts_for(make_case("T1", **case)).loc["T1"]
    assert row["paused"] == paused
    assert row["prevent"] == prevent


def test_a_past_hearing_without_an_outcome_is_missing_its_outcome():
    today = facts_for(make_case("T1", court_date=AS_OF)).loc["T1"]
    assert today["court_date_set"] and today["court_date_past"] and not today["court_date_future"]
    assert today["court_outcome_missing"]
    assert not fact("court_outcome_missing", court_date=day(-10), court_outcome="SPO")
    future = facts_for(make_case("T1", court_date=day(14))).loc["T1"]
    assert (
        future["court_date_future"] and not future["court_date_past"] and not future["court_outcome_missing"]
    )


@pytest.mark.parametrize(
    ("until", "protected"), [(day(1), True), (AS_OF, True), (day(-1), False), (pd.NaT, False)]
)
def test_breathing_space_runs_to_its_end_date(until, protected):
    row = facts_for(make_case("T1"), breathing_space_until=until).loc["T1"]
    assert row["breathing_space"] == protected


# --- history ---------------------------------------------------------------------------------------------


def test_last_action_dates_come_from_the_history_up_to_as_of():
    actions = make_actions(
        ("T1", -100, "letter_1", "letter"),
        ("T1", -20, "letter_1", "letter"),
        ("T1", -10, "call", "phone"),
        ("T1", -5, "note"),
        ("T1", 3, "letter_2", "letter"),  # after as_of: ignored
        ("T2", -1, "sms", "sms"),
    )
    tenancies = make_tenancies(make_tenancy("T1"), make_tenancy("T2"), make_tenancy("T3"))
    features = compute_features(tenancies, weekly_rent_ledger(), AS_OF)
    facts = compute_facts(tenancies, features, None, actions, AS_OF, action_codes=("nosp", "letter_1"))
    assert facts.loc["T1", "last_letter_1_date"] == day(-20)
    assert facts.loc["T2", "last_sms_date"] == day(-1)
    assert pd.isna(facts.loc["T3", "last_letter_1_date"])
    assert facts["last_nosp_date"].isna().all()  # named by the pack, never taken
    assert facts["last_letter_2_date"].isna().all()  # seen in the history, but only after as_of
    assert facts.loc["T1", "last_contact_date"] == day(-10)
    assert facts.loc["T1", "last_contact_channel"] == "phone"
    assert facts.loc["T1", "last_action"] == "note"
    assert facts.loc["T1", "last_action_date"] == day(-5)
    assert facts.loc["T3", "last_contact_channel"] == ""
    assert not facts["has_case"].any()
    for code in ("letter_1", "call", "note", "letter_2", "sms", "nosp"):
        assert facts[f"last_{code}_date"].dtype == "datetime64[ns]"


def test_the_recorded_last_action_stands_unless_the_history_is_newer():
    case = make_case("T1", last_action="letter_2", last_action_date=day(-3))
    older = facts_for(case, actions=make_actions(("T1", -9, "letter_1", "letter"))).loc["T1"]
    assert (older["last_action"], older["last_action_date"]) == ("letter_2", day(-3))
    newer = facts_for(case, actions=make_actions(("T1", -1, "call", "phone"))).loc["T1"]
    assert (newer["last_action"], newer["last_action_date"]) == ("call", day(-1))


def test_a_campaign_message_is_contact_but_not_the_ladders_last_action():
    history = make_actions(("T1", -16, "letter_1", "letter"), ("T1", -2, "campaign_message", "sms"))
    row = facts_for(make_case("T1"), actions=history).loc["T1"]
    assert (row["last_action"], row["last_action_date"]) == ("letter_1", day(-16))
    assert (row["last_contact_date"], row["last_contact_channel"]) == (day(-2), "sms")
    assert row["last_campaign_message_date"] == day(-2)
    # Logged by hand on the case (so recorded as its last action), it still does not count.
    recorded = make_case("T1", last_action="campaign_message", last_action_date=day(-1))
    row = facts_for(recorded, actions=history).loc["T1"]
    assert (row["last_action"], row["last_action_date"]) == ("letter_1", day(-16))
    # A pack that wants campaign messages to count as ladder steps says so.
    counted = facts_for(make_case("T1"), actions=history, settings={"contact_only_actions": []}).loc["T1"]
    assert (counted["last_action"], counted["last_action_date"]) == ("campaign_message", day(-2))


def test_action_codes_that_would_shadow_a_fixed_field_get_no_column():
    assert shadowed_action_codes(["payment", "contact", "action", "letter_1"]) == [
        "payment",
        "contact",
        "action",
    ]
    facts = facts_for(make_case("T1"), actions=make_actions(("T1", -2, "payment"), ("T1", -3, "letter_1")))
    assert "last_letter_1_date" in facts
    assert "last_payment_date" not in facts  # a ledger feature, not this action's date


# --- defaults and shape ----------------------------------------------------------------------------------


def test_every_fact_field_is_present_with_defaults_when_there_is_no_case_state():
    tenancies = make_tenancies(make_tenancy("T1"), make_tenancy("T2"))
    features = compute_features(tenancies, weekly_rent_ledger(), AS_OF)
    facts = compute_facts(tenancies, features, None, None, AS_OF)
    assert list(facts.columns) == list(FACT_FIELDS)
    assert list(facts.index) == ["T1", "T2"]
    row = facts.loc["T1"]
    assert not row["has_case"] and row["stage"] == "" and row["status"] == ""
    assert not row["prevent"] and not row["paused"] and not row["last_letter_failed"]
    assert row["prior_cases"] == 0 and row["broken_agreements"] == 0
    assert np.isnan(row["risk_score"]) and row["risk_band"] == ""
    bools = [name for name, kind in FACT_FIELDS.items() if kind == "bool"]
    assert all(facts[name].dtype == bool for name in bools)


def test_a_sparse_cases_frame_is_filled_from_the_schema_defaults():
    cases = pd.DataFrame({"tenancy": ["T1"], "nosp_served_date": [day(-40)]})
    row = compute_facts(make_tenancies(), pd.DataFrame(index=["T1"]), cases, pd.DataFrame(), AS_OF).loc["T1"]
    assert row["has_case"] and row["status"] == "automated" and row["nosp_active"]
    assert not row["agreement_exists"] and not row["court_date_set"]


def test_default_settings():
    assert DEFAULT_SETTINGS == {
        "nosp_notice": "28 days",
        "nosp_valid": "52 weeks",
        "warrant_window": "6 years",
        "agreement_tolerance_days": 5,
        "contact_only_actions": ["campaign_message"],
    }


def test_the_case_frame_joins_tenancy_features_and_facts_one_row_per_tenancy():
    tenancies = make_tenancies(make_tenancy("T2"), make_tenancy("T1", weekly_rent=50.0))
    ledger = pd.concat([weekly_rent_ledger("T1", rent=50.0, paid=0.0), weekly_rent_ledger("T2")])
    cases = pd.DataFrame([make_case("T1", stage="letter_1", nosp_served_date=day(-40))])
    actions = make_actions(("T1", -30, "letter_1", "letter"))
    frame = build_case_frame(tenancies, ledger, cases, actions, AS_OF, action_codes=["nosp"])
    assert frame.index.name == "tenancy" and list(frame.index) == ["T2", "T1"]
    assert "tenancy" not in frame.columns
    for name in (*TENANCY_FIELDS.keys() - {"tenancy"}, *FEATURE_FIELDS, *FACT_FIELDS):
        assert name in frame.columns, name
    t1 = frame.loc["T1"]
    assert t1["weekly_rent"] == 50.0 and t1["balance"] == 600.0 and t1["weeks_owed"] == 10.0
    assert t1["stage"] == "letter_1" and t1["nosp_active"]
    assert t1["last_letter_1_date"] == day(-30)
    assert pd.isna(t1["last_nosp_date"])
    with_prepared = build_case_frame(tenancies, prepare_ledger(ledger), cases, actions, AS_OF, None, ["nosp"])
    pd.testing.assert_frame_equal(with_prepared, frame)


def test_the_case_frame_fills_optional_tenancy_columns():
    tenancies = make_tenancies(make_tenancy("T1")).drop(columns=["do_not_contact", "language", "end_date"])
    frame = build_case_frame(tenancies, make_ledger(("T1", day(-1), 10.0, "rent")), None, None, AS_OF)
    row = frame.loc["T1"]
    assert row["do_not_contact"] is np.False_ or row["do_not_contact"] is False
    assert row["language"] == "en"
    assert pd.isna(row["end_date"])
    assert row["balance"] == 10.0
