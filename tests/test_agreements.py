"""The nightly agreement check: expected balance, tolerance days, frequencies, completion, cancellation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from awm_frappe.engine.agreements import evaluate_agreements, instalments_due
from tests.factories import make_case

START = pd.Timestamp("2026-03-02")  # a Monday


def agreement(tenancy: str = "T1", **overrides) -> dict:
    """£50 a week off £500 from START, no initial payment, as recorded live by the host."""
    terms = {
        "agreement_start": START,
        "agreement_frequency": "weekly",
        "agreement_instalment": 50.0,
        "agreement_initial_payment": 0.0,
        "agreement_starting_balance": 500.0,
        "agreement_formal": False,
        "agreement_status": "live",
    }
    return make_case(tenancy, **{**terms, **overrides})


def check(balance: float, as_of, tolerance_days: int = 5, **terms) -> pd.Series:
    cases = pd.DataFrame([agreement(**terms)])
    return evaluate_agreements(cases, pd.Series({"T1": balance}), as_of, tolerance_days).loc["T1"]


def test_a_tenant_paying_as_agreed_is_live():
    # Two instalments counted by 2026-03-14 (due 2 and 9 March, each plus 5 days): expected £400.
    result = check(400.0, "2026-03-14")
    assert result["agreement_instalments_due"] == 2
    assert result["agreement_expected_balance"] == 400.0
    assert result["agreement_shortfall"] == 0.0
    assert result["agreement_status"] == "live"


@pytest.mark.parametrize(
    ("days_after_due", "status", "expected"),
    [(4, "live", 450.0), (5, "breached", 400.0), (6, "breached", 400.0)],
)
def test_a_missed_instalment_breaches_once_the_tolerance_has_passed(days_after_due, status, expected):
    second_due = START + pd.Timedelta(weeks=1)
    result = check(450.0, second_due + pd.Timedelta(days=days_after_due))  # only the first was paid
    assert result["agreement_status"] == status
    assert result["agreement_expected_balance"] == expected
    assert result["agreement_shortfall"] == 450.0 - expected


def test_nothing_is_expected_before_the_first_check():
    result = check(500.0, START + pd.Timedelta(days=4))
    assert result["agreement_instalments_due"] == 0
    assert result["agreement_expected_balance"] == 500.0
    assert result["agreement_status"] == "live"


def test_the_initial_payment_counts_from_the_start_date_after_tolerance():
    before = check(500.0, START + pd.Timedelta(days=4), agreement_initial_payment=100.0)
    assert before["agreement_expected_balance"] == 500.0
    after = check(450.0, START + pd.Timedelta(days=5), agreement_initial_payment=100.0)
    assert after["agreement_expected_balance"] == 350.0  # 500 - 100 initial - 50 first instalment
    assert after["agreement_status"] == "breached"


@pytest.mark.parametrize(
    ("frequency", "as_of", "count"),
    [
        ("fortnightly", "2026-03-21", 2),  # due 2 and 16 March
        ("fortnightly", "2026-03-20", 1),
        ("4-weekly", "2026-04-04", 2),  # due 2 and 30 March
        ("4-weekly", "2026-04-03", 1),
        ("monthly", "2026-04-07", 2),  # due 2 March and 2 April
        ("monthly", "2026-04-06", 1),
    ],
)
def test_frequencies(frequency, as_of, count):
    result = check(0.5, as_of, agreement_frequency=frequency, agreement_instalment=10.0)
    assert result["agreement_instalments_due"] == count
    assert result["agreement_expected_balance"] == 500.0 - 10.0 * count


def test_monthly_instalments_follow_the_calendar_to_month_end():
    start = pd.Timestamp("2026-01-31")
    counts = {
        as_of: check(100.0, as_of, tolerance_days=0, agreement_start=start, agreement_frequency="monthly")[
            "agreement_instalments_due"
        ]
        for as_of in ("2026-01-30", "2026-01-31", "2026-02-27", "2026-02-28", "2026-03-30", "2026-03-31")
    }
    assert list(counts.values()) == [0, 1, 1, 2, 2, 3]


def test_monthly_counting_agrees_with_calendar_offsets():
    rng = np.random.default_rng(5)
    starts = pd.Series(pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 900, 300), unit="D"))
    until = pd.Timestamp("2025-06-30")
    got = instalments_due(starts, pd.Series("monthly", index=starts.index), until)
    for start, count in zip(starts, got, strict=True):
        want = sum(start + pd.DateOffset(months=k) <= until for k in range(40))
        assert count == want, start


def test_the_expected_balance_never_goes_below_zero():
    result = check(10.0, "2027-01-01")
    assert result["agreement_expected_balance"] == 0.0
    assert result["agreement_status"] == "breached"


def test_clearing_the_balance_completes_the_agreement():
    assert check(0.0, "2026-03-14")["agreement_status"] == "completed"
    assert check(-25.0, "2026-03-20")["agreement_status"] == "completed"


def test_a_recorded_completion_stands_when_new_rent_falls_due():
    result = check(100.0, "2026-06-01", agreement_status="completed")
    assert result["agreement_status"] == "completed"


def test_a_cancelled_agreement_stays_cancelled_and_expects_nothing():
    result = check(500.0, "2026-06-01", agreement_status="cancelled")
    assert result["agreement_status"] == "cancelled"
    assert np.isnan(result["agreement_expected_balance"])
    assert np.isnan(result["agreement_shortfall"])


def test_a_breach_is_rechecked_and_catching_up_makes_it_live_again():
    assert check(400.0, "2026-03-14", agreement_status="breached")["agreement_status"] == "live"


def test_an_agreement_that_cannot_be_checked_is_not_called_breached():
    result = check(1000.0, "2026-06-01", agreement_frequency="")
    assert np.isnan(result["agreement_expected_balance"])
    assert result["agreement_status"] == "live"


def test_no_agreement_gives_an_empty_status_and_missing_columns_are_tolerated():
    cases = pd.DataFrame([make_case("T1"), agreement("T2")])  # T1's row has no agreement columns at all
    result = evaluate_agreements(cases, pd.Series({"T1": 300.0, "T2": 0.0}), "2026-03-14")
    assert result.loc["T1", "agreement_status"] == ""
    assert result.loc["T2", "agreement_status"] == "completed"
    bare = evaluate_agreements(pd.DataFrame([make_case("T1")]), pd.Series(dtype=float), "2026-03-14")
    assert bare.loc["T1", "agreement_status"] == ""
    assert list(bare.columns) == [
        "agreement_expected_balance",
        "agreement_shortfall",
        "agreement_status",
        "agreement_instalments_due",
    ]


def test_many_agreements_are_checked_together():
    cases = pd.DataFrame([agreement(f"T{i}", agreement_instalment=10.0 * i) for i in range(1, 6)])
    balance = pd.Series({f"T{i}": 480.0 for i in range(1, 6)})
    result = evaluate_agreements(cases, balance, "2026-03-14")
    # Two instalments due: expected 500 - 20i; a balance of 480 keeps only i = 1 on track.
    assert result["agreement_expected_balance"].tolist() == [480.0, 460.0, 440.0, 420.0, 400.0]
    assert result["agreement_status"].tolist() == ["live"] + ["breached"] * 4
