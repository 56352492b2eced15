"""The shipped uk-ladder pack: every threshold just below, at and just above, and each hand-off."""

from __future__ import annotations

import pandas as pd
import pytest

from awm_frappe.engine.packs import load_pack
from awm_frappe.engine.rules import action_codes, evaluate, required_fields
from tests.factories import make_case, make_ledger, make_tenancies, make_tenancy, weekly_rent_ledger
from tests.test_rules import AS_OF, ago, case_frame, case_row, owing

PACK = load_pack("uk-ladder")


def decide(**facts) -> pd.Series:
    """The verdict for one tenancy."""
    return evaluate(case_frame(case_row(**facts)), PACK, AS_OF).iloc[0]


def action(**facts) -> str:
    return decide(**facts)["action"]


def rule(**facts) -> str:
    return decide(**facts)["rule"]


def in_case(**facts) -> dict:
    return {"has_case": True, "status": "automated", **facts}


# What stops the early contact steps (SMS, risk call): a valid notice, an agreement or a court date.
NOTICE_AGREEMENT_OR_COURT = [
    {"nosp_valid": True, "nosp_served": True},
    {"agreement_live": True},
    {"agreement_breached": True},
    {"court_date_set": True, "court_date": ago(days=400), "court_date_past": True, "court_outcome": "STR"},
]
NOSP_ACTIVE = {"nosp_served": True, "nosp_valid": True, "nosp_active": True, "nosp_served_date": ago(days=60)}


def test_the_pack_loads_cleanly_with_docs_default_settings():
    assert PACK.problems == []
    assert PACK.name == "uk-ladder"
    assert PACK.settings["nosp_notice"] == "28 days"
    assert PACK.settings["nosp_valid"] == "52 weeks"
    assert PACK.stages[0] == ""
    for each in PACK.rules:
        assert each.action.stage is None or each.action.stage in PACK.stages


def test_nothing_owed_means_no_action():
    assert action() == "none"
    assert action(**owing(4.99)) == "none"


# --- first SMS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("collectable", "expected"),
    [(4.99, "none"), (5.00, "sms"), (7.50, "sms"), (9.99, "sms"), (10.00, "letter_1")],
)
def test_sms_band_is_5_pounds_up_to_10(collectable, expected):
    assert action(**owing(collectable)) == expected


def test_sms_uses_collectable_arrears_even_when_grace_leaves_nothing():
    verdict = decide(**owing(0.0, collectable=9.99))
    assert verdict["action"] == "sms"
    assert verdict["channel"] == "sms"
    assert verdict["stage_to"] == "sms"
    assert verdict["reason"] == "Collectable arrears £9.99 (£5 to £10); no SMS in 7 days"


@pytest.mark.parametrize(("days_ago", "expected"), [(6, "none"), (7, "sms"), (8, "sms")])
def test_no_sms_within_7_days_of_the_last_one(days_ago, expected):
    assert action(**owing(7), last_sms_date=ago(days=days_ago)) == expected


@pytest.mark.parametrize("blocker", NOTICE_AGREEMENT_OR_COURT)
def test_sms_needs_no_nosp_agreement_or_court_date(blocker):
    assert action(**owing(7), **blocker) != "sms"


# --- Letter 1 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_grace", "expected"), [(9.99, "none"), (10.00, "letter_1"), (10.01, "letter_1")]
)
def test_letter_1_from_10_pounds_after_grace(after_grace, expected):
    # Collectable arrears are higher (this week's grace), so the SMS band does not apply.
    assert action(**owing(after_grace, collectable=after_grace + 50)) == expected


def test_letter_1_beats_the_sms_when_both_would_match():
    verdict = decide(**owing(12.0, collectable=9.0))
    assert verdict["action"] == "letter_1"
    assert verdict["channel"] == "letter"
    assert verdict["stage_to"] == "letter_1"
    assert verdict["reason"] == "Arrears after grace £12.00 ≥ £10; no letter in 3 months"


# A Letter 1 within 3 months leads to Letter 2 instead (see the Letter 2 tests).
@pytest.mark.parametrize("letter", ["last_letter_2_date", "last_court_warning_letter_date"])
@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (ago(months=3, days=-1), "none"),  # 3 months less a day ago: still within 3 months
        (ago(months=3), "letter_1"),
        (ago(months=3, days=1), "letter_1"),
    ],
)
def test_no_letter_1_within_3_months_of_any_letter(letter, sent, expected):
    assert action(**owing(50, collectable=100), **{letter: sent}) == expected


@pytest.mark.parametrize(
    "blocker",
    [
        {"nosp_valid": True, "nosp_served": True},
        {"agreement_live": True, "has_case": True},
        {
            "court_date_set": True,
            "court_date": ago(days=400),
            "court_date_past": True,
            "court_outcome": "STR",
        },
    ],
)
def test_letter_1_needs_no_nosp_agreement_or_court_date(blocker):
    assert action(**owing(50), **blocker) != "letter_1"


def test_a_vulnerable_tenant_gets_an_officer_not_a_letter():
    verdict = decide(**owing(50), vulnerable=True, vulnerability="mental health")
    assert verdict["rule"] == "vulnerable_review"
    assert verdict["action_type"] == "route_to_officer"
    assert verdict["needs_officer"]
    assert verdict["skill"] == "vulnerability"
    assert "mental health" in verdict["reason"]


@pytest.mark.parametrize(("collectable", "expected"), [(4.99, "none"), (5.0, "vulnerable_review")])
def test_vulnerable_review_starts_where_the_sms_would(collectable, expected):
    assert action(**owing(collectable), vulnerable=True) == expected


# --- risk call (needs the risk model) --------------------------------------------------------------

AFTER_LETTER_1 = {
    "stage": "letter_1",
    "last_letter_1_date": ago(days=7),
    "risk_band": "high",
    "risk_score": 0.8,
}


@pytest.mark.parametrize(
    ("after_grace", "expected"), [(199.99, "none"), (200.0, "arrears_call"), (250, "arrears_call")]
)
def test_a_high_risk_case_owing_2_weeks_gets_a_call_a_week_after_letter_1(after_grace, expected):
    assert (
        action(**in_case(**owing(after_grace, collectable=after_grace + 100), **AFTER_LETTER_1)) == expected
    )


def test_the_call_is_an_officer_task_that_says_why():
    verdict = decide(**in_case(**owing(240, collectable=340), **AFTER_LETTER_1))
    assert verdict["rule"] == "risk_call"
    assert verdict["action_type"] == "route_to_officer"
    assert verdict["needs_officer"]
    assert verdict["stage_to"] == "letter_1"  # a conversation, not a step up the ladder
    assert verdict["reason"] == (
        "Risk of more arrears 80%; arrears after grace £240.00 ≥ 2 weeks' rent since Letter 1 (2026-03-04): "
        "call to agree a plan"
    )


@pytest.mark.parametrize(
    ("letters", "expected"),
    [
        ({"last_letter_2_date": ago(days=10), "last_letter_1_date": ago(days=40)}, "arrears_call"),
        ({"last_letter_1_date": ago(months=3)}, "arrears_call"),
        ({"last_letter_1_date": ago(months=3, days=1)}, "letter_1"),  # a new episode starts with Letter 1
    ],
)
def test_the_call_can_come_after_letter_2_but_only_within_3_months_of_letter_1(letters, expected):
    facts = in_case(**owing(300, collectable=400), **{**AFTER_LETTER_1, **letters})
    assert action(**facts) == expected


@pytest.mark.parametrize(("band", "expected"), [("high", "arrears_call"), ("medium", "none"), ("", "none")])
def test_only_the_high_band_calls_and_without_a_model_nothing_changes(band, expected):
    facts = in_case(**owing(240, collectable=340), **{**AFTER_LETTER_1, "risk_band": band})
    assert action(**facts) == expected


@pytest.mark.parametrize(("days_ago", "expected"), [(6, "none"), (7, "arrears_call"), (14, "arrears_call")])
def test_the_call_waits_a_week_after_letter_1_then_comes_before_letter_2(days_ago, expected):
    facts = in_case(
        **owing(240, collectable=340), **{**AFTER_LETTER_1, "last_letter_1_date": ago(days=days_ago)}
    )
    assert action(**facts) == expected


@pytest.mark.parametrize("logged_as", ["last_arrears_call_date", "last_call_date"])
def test_one_call_in_28_days_then_the_ladder_goes_on(logged_as):
    # An officer may record the call as the rule's own step or through the form's Call outcome (code call).
    facts = in_case(**owing(240, collectable=340), **{**AFTER_LETTER_1, "last_letter_1_date": ago(days=14)})
    assert action(**facts, **{logged_as: ago(days=27)}) == "letter_2"
    assert action(**facts, **{logged_as: ago(days=28)}) == "arrears_call"


@pytest.mark.parametrize("blocker", NOTICE_AGREEMENT_OR_COURT)
def test_no_call_with_a_notice_an_agreement_or_a_court_date(blocker):
    assert action(**in_case(**owing(240, collectable=340), **AFTER_LETTER_1), **blocker) != "arrears_call"


def test_a_vulnerable_tenant_keeps_the_vulnerability_route_and_the_notice_still_comes_first():
    facts = in_case(**owing(240, collectable=340), **AFTER_LETTER_1)
    assert rule(**facts, vulnerable=True) == "vulnerable_review"
    at_notice = in_case(**owing(500), **AFTER_LETTER_2, risk_band="high", risk_score=0.9)
    assert action(**at_notice) == "nosp"  # the score never holds back or brings forward a notice


# --- Letter 2 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("days_ago", "expected"), [(13, "none"), (14, "letter_2"), (15, "letter_2")])
def test_letter_2_from_14_days_after_letter_1(days_ago, expected):
    facts = in_case(**owing(50, collectable=100), stage="letter_1", last_letter_1_date=ago(days=days_ago))
    assert action(**facts) == expected


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (ago(months=3, days=-1), "letter_2"),
        (ago(months=3), "letter_2"),
        (ago(months=3, days=1), "letter_1"),  # too old for Letter 2: the ladder starts again
    ],
)
def test_letter_2_up_to_3_months_after_letter_1(sent, expected):
    facts = in_case(**owing(50, collectable=100), stage="letter_1", last_letter_1_date=sent)
    assert action(**facts) == expected


@pytest.mark.parametrize(("after_grace", "expected"), [(9.99, "none"), (10.0, "letter_2")])
def test_letter_2_needs_arrears_still_at_10_pounds(after_grace, expected):
    facts = in_case(**owing(after_grace, collectable=60), last_letter_1_date=ago(days=20))
    assert action(**facts) == expected


def test_letter_2_is_sent_once_per_letter_1():
    facts = in_case(**owing(50), last_letter_1_date=ago(days=30), last_letter_2_date=ago(days=10))
    assert action(**facts) == "none"
    # A Letter 2 from an earlier round does not count.
    facts["last_letter_2_date"] = ago(days=200)
    assert action(**facts) == "letter_2"


def test_letter_2_escalates_the_stage():
    verdict = decide(**in_case(**owing(50), stage="letter_1", last_letter_1_date=ago(days=20)))
    assert verdict["stage_to"] == "letter_2"


# --- NOSP ------------------------------------------------------------------------------------------

AFTER_LETTER_2 = {"last_letter_1_date": ago(days=40), "last_letter_2_date": ago(days=10), "stage": "letter_2"}


@pytest.mark.parametrize(("after_grace", "expected"), [(399.99, "none"), (400.00, "nosp"), (400.01, "nosp")])
def test_nosp_at_4_weeks_rent_after_grace(after_grace, expected):
    assert action(**in_case(**owing(after_grace), **AFTER_LETTER_2)) == expected


def test_nosp_threshold_follows_each_tenancys_rent():
    facts = in_case(**AFTER_LETTER_2)
    assert action(**facts, **owing(399.99, rent=100.0)) == "none"
    assert action(**facts, **owing(399.99, rent=99.99)) == "nosp"


def test_nosp_is_an_officer_task_for_legal_staff():
    verdict = decide(**in_case(**owing(500), **AFTER_LETTER_2))
    assert verdict["rule"] == "nosp"
    assert verdict["action_type"] == "route_to_officer"
    assert verdict["needs_officer"]
    assert verdict["skill"] == "legal"
    assert verdict["stage_to"] == "nosp"
    assert verdict["status_to"] == "legal"
    assert verdict["reason"].startswith("Arrears after grace £500.00 ≥ 4 weeks' rent (£100.00 a week)")


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (ago(days=6), "none"),
        (ago(days=7), "nosp"),
        (ago(months=3), "nosp"),
        (ago(months=3, days=1), "letter_1"),  # too old: the ladder starts again
    ],
)
def test_first_nosp_needs_letter_2_between_1_week_and_3_months_ago(sent, expected):
    facts = in_case(**owing(500), last_letter_1_date=ago(months=5), last_letter_2_date=sent)
    assert action(**facts) == expected


def test_no_letter_2_needed_when_a_nosp_was_served_before():
    facts = in_case(**owing(500), nosp_served=True, nosp_valid=False, nosp_served_date=ago(years=2))
    assert action(**facts) == "nosp"
    # Never served and no Letter 2 yet: the ladder starts at Letter 1 whatever the arrears.
    assert action(**in_case(**owing(500))) == "letter_1"


@pytest.mark.parametrize(
    "blocker",
    [
        {"nosp_valid": True, "nosp_served": True, "nosp_served_date": ago(days=10)},
        {"agreement_live": True},
        {"warrant_active": True, "court_date_set": True, "court_date": ago(days=100), "court_outcome": "SOT"},
    ],
)
def test_no_nosp_with_a_valid_notice_a_live_agreement_or_an_active_warrant(blocker):
    assert action(**in_case(**owing(500), **AFTER_LETTER_2, **blocker)) != "nosp"


@pytest.mark.parametrize(
    ("tenure", "rule_name"),
    [
        ("secure", "nosp"),
        ("flexible", "nosp"),
        ("assured", "section_8_notice"),
        ("starter", "section_8_notice"),
        ("affordable", "section_8_notice"),
        ("shared_ownership", "section_8_notice"),
        ("introductory", "notice_of_proceedings"),
    ],
)
def test_the_notice_depends_on_the_tenure_but_is_recorded_as_nosp(tenure, rule_name):
    verdict = decide(**in_case(**owing(500), **AFTER_LETTER_2), tenure_type=tenure)
    assert verdict["rule"] == rule_name
    assert verdict["action"] == "nosp"


def test_notice_cooldown_stops_a_second_task_within_28_days():
    facts = in_case(**owing(500), **AFTER_LETTER_2)
    assert action(**facts, last_nosp_date=ago(days=27)) == "none"
    assert action(**facts, last_nosp_date=ago(days=28)) == "nosp"


# --- court warning letter --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_grace", "expected"),
    [(399.99, "none"), (400.00, "court_warning_letter"), (400.01, "court_warning_letter")],
)
def test_court_warning_letter_at_4_weeks_with_an_active_notice(after_grace, expected):
    assert action(**in_case(**owing(after_grace), **NOSP_ACTIVE, stage="nosp")) == expected


def test_court_warning_letter_needs_the_notice_in_force():
    waiting = {**NOSP_ACTIVE, "nosp_active": False, "nosp_served_date": ago(days=10)}
    assert action(**in_case(**owing(500), **waiting)) == "none"


def test_court_warning_letter_once_per_notice():
    facts = in_case(**owing(500), **NOSP_ACTIVE)
    assert action(**facts, last_court_warning_letter_date=ago(days=5)) == "none"
    assert action(**facts, last_court_warning_letter_date=ago(days=100)) == "court_warning_letter"


def test_court_warning_letter_is_not_automated_for_vulnerable_tenants():
    assert action(**in_case(**owing(500), **NOSP_ACTIVE, vulnerable=True)) == "vulnerable_review"


def test_court_warning_letter_stage():
    verdict = decide(**in_case(**owing(500), **NOSP_ACTIVE, stage="nosp"))
    assert verdict["stage_to"] == "court_warning"
    assert verdict["channel"] == "letter"


# --- court date ------------------------------------------------------------------------------------


def court_ready(**facts) -> dict:
    ready = {
        **owing(500),
        **NOSP_ACTIVE,
        "stage": "court_warning",
        "last_court_warning_letter_date": ago(days=20),
        "last_pre_action_protocol_date": ago(days=5),
    }
    return in_case(**{**ready, **facts})


@pytest.mark.parametrize(
    ("days_ago", "expected"), [(13, "none"), (14, "apply_for_court_date"), (15, "apply_for_court_date")]
)
def test_apply_for_court_date_2_weeks_after_the_warning_letter(days_ago, expected):
    assert action(**court_ready(last_court_warning_letter_date=ago(days=days_ago))) == expected


@pytest.mark.parametrize(("after_grace", "expected"), [(399.99, "none"), (400.0, "apply_for_court_date")])
def test_apply_for_court_date_needs_4_weeks_still_owed(after_grace, expected):
    assert action(**court_ready(**owing(after_grace))) == expected


def test_apply_for_court_date_is_a_legal_officer_task():
    verdict = decide(**court_ready())
    assert verdict["needs_officer"]
    assert verdict["skill"] == "legal"
    assert verdict["stage_to"] == "court"


def test_court_needs_the_pre_action_protocol_recorded_first():
    assert action(**court_ready(last_pre_action_protocol_date=pd.NaT)) == "pre_action_protocol_check"
    assert action(**court_ready(last_pre_action_protocol_date=ago(months=4))) == "pre_action_protocol_check"


def test_no_court_application_when_a_court_date_followed_the_warning_letter():
    later_hearing = {
        "court_date": ago(days=3),
        "court_date_set": True,
        "court_date_past": True,
        "court_outcome": "ADH",
    }
    assert action(**court_ready(**later_hearing)) != "apply_for_court_date"


def test_a_warning_letter_from_before_the_notice_does_not_count():
    assert action(**court_ready(last_court_warning_letter_date=ago(days=90))) == "court_warning_letter"


# --- de-escalation and agreements ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("collectable", "expected"), [(-5.0, "case_cleared"), (0.0, "case_cleared"), (0.01, "none")]
)
def test_an_open_case_closes_when_arrears_clear(collectable, expected):
    assert (
        action(**in_case(**owing(min(collectable, 0.0), collectable=collectable), stage="letter_1"))
        == expected
    )


def test_a_case_opened_by_the_first_sms_stays_open_while_money_is_owed():
    """£7 owed is inside one week's grace, so arrears after grace are negative: the case must not close
    the night after its SMS (and reopen with another SMS a week later)."""
    sent = {"last_action": "sms", "last_action_date": ago(days=1), "last_sms_date": ago(days=1)}
    assert action(**in_case(**owing(-93.0, collectable=7.0), stage="sms", **sent)) == "none"


def test_closing_reports_the_reason_and_leaves_no_stage():
    verdict = decide(**in_case(**owing(0.0), stage="letter_2"))
    assert verdict["action_type"] == "close"
    assert verdict["close_reason"] == "cleared"
    assert verdict["stage_to"] == ""


def test_no_case_nothing_to_close_and_court_orders_stay_open():
    assert action(**owing(0.0)) == "none"
    assert (
        action(**in_case(**owing(0.0), agreement_live=True, agreement_formal=True, status="agreement"))
        == "none"
    )


@pytest.mark.parametrize("benefit", [{"uc_status": "claim_pending"}, {"hb_status": "claim_pending"}])
def test_pending_benefit_claim_pauses_for_28_days(benefit):
    verdict = decide(**owing(50), **benefit)
    assert verdict["action_type"] == "pause"
    assert verdict["pause_days"] == 28
    assert verdict["pause_reason"] == "delayed_benefit"


@pytest.mark.parametrize(("days_ago", "expected"), [(89, "letter_1"), (90, "benefit_claim_pause")])
def test_at_most_one_benefit_pause_in_90_days(days_ago, expected):
    assert (
        action(**owing(50), uc_status="claim_pending", last_benefit_claim_pause_date=ago(days=days_ago))
        == expected
    )


def test_a_kept_agreement_sets_the_status_once():
    verdict = decide(**in_case(**owing(200), agreement_live=True, agreement_exists=True))
    assert verdict["action"] == "agreement_kept"
    assert verdict["status_to"] == "agreement"
    assert verdict["needs_officer"] == False  # noqa: E712
    assert action(**in_case(**owing(200), agreement_live=True, status="agreement")) == "none"


def test_informal_breach_letter_then_officer_follow_up():
    breach = in_case(**owing(200), agreement_breached=True, informal_breach=True, agreement_exists=True)
    assert action(**breach) == "agreement_breach_letter"
    assert action(**breach, last_agreement_breach_letter_date=ago(days=7)) == "none"
    assert action(**breach, last_agreement_breach_letter_date=ago(days=8)) == "agreement_breach_follow_up"


def test_court_order_breach_goes_to_legal():
    verdict = decide(**in_case(**owing(200), agreement_breached=True, court_breach=True, court_date_set=True))
    assert verdict["action"] == "court_order_breach"
    assert verdict["skill"] == "legal"


def test_missing_court_outcome_and_outright_possession():
    hearing = {"court_date": ago(days=10), "court_date_set": True, "court_date_past": True}
    assert action(**in_case(**owing(500), **hearing, court_outcome_missing=True)) == "update_court_outcome"
    outright = in_case(**owing(500), **hearing, court_outcome="OPD", outright_possession=True)
    assert action(**outright) == "apply_for_warrant"
    assert action(**outright, last_apply_for_warrant_date=ago(days=5)) == "none"


# --- guards ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("guard", "label"),
    [
        ({"paused": True}, "paused"),
        ({"breathing_space": True}, "breathing_space"),
        ({"deceased": True}, "deceased"),
        ({"eviction_date_set": True}, "eviction_date"),
        ({"court_date_future": True}, "court_date_future"),
    ],
)
def test_guards_stop_the_ladder(guard, label):
    verdict = decide(**owing(50), **guard)
    assert verdict["action"] == "none"
    assert verdict["blocked_by"] == label


def test_check_data_runs_under_an_eviction_date_but_not_when_paused():
    bad_data = in_case(court_outcome="SPO", outcome_implies_agreement=True, eviction_date_set=True)
    verdict = decide(**bad_data)
    assert verdict["action"] == "check_data"
    assert verdict["review"]
    assert verdict["blocked_by"] == "eviction_date"
    assert action(**{**bad_data, "paused": True}) == "none"


# --- end to end: tenancies + ledger + cases + actions → case frame → verdicts -----------------------


def build_case_frame(*args, **kwargs) -> pd.DataFrame:
    """The real case-frame builder; these tests skip (only they) while it does not exist."""
    builder = pytest.importorskip(
        "awm_frappe.engine.facts", reason="the case-frame builder is not written yet"
    )
    return builder.build_case_frame(*args, **kwargs)


def ladder_portfolio() -> dict:
    """Six tenancies in different positions on the ladder, in the documented input format."""
    tenancies = make_tenancies(*(make_tenancy(t) for t in ("PAID", "L1", "NOSP", "CLEARED", "PAUSED", "SMS")))
    ledger = pd.concat(
        [
            weekly_rent_ledger("PAID"),
            weekly_rent_ledger("L1", paid=90.0),  # £10 short a week: £100 after grace
            weekly_rent_ledger("NOSP", paid=50.0),  # £50 short a week: £500 after grace
            weekly_rent_ledger("CLEARED"),
            weekly_rent_ledger("PAUSED", paid=50.0),
            weekly_rent_ledger("SMS"),
            make_ledger(("SMS", "2026-02-16", 7.0, "adjustment")),  # £7 owed
        ],
        ignore_index=True,
    )
    cases = pd.DataFrame(
        [
            make_case("NOSP", stage="letter_2"),
            make_case("CLEARED", stage="letter_1"),
            make_case("PAUSED", stage="letter_1", paused_until=AS_OF + pd.Timedelta(days=5)),
        ]
    )
    actions = pd.DataFrame(
        [
            ("NOSP", AS_OF - pd.Timedelta(days=40), "letter_1", "", "letter"),
            ("NOSP", AS_OF - pd.Timedelta(days=10), "letter_2", "", "letter"),
        ],
        columns=["tenancy", "date", "action", "rule", "channel"],
    )
    return {"tenancies": tenancies, "ledger": ledger, "cases": cases, "actions": actions}


def built_frame(pack, portfolio: dict) -> pd.DataFrame:
    return build_case_frame(
        portfolio["tenancies"],
        portfolio["ledger"],
        portfolio["cases"],
        portfolio["actions"],
        AS_OF,
        settings=pack.settings,
        action_codes=action_codes(pack),
    )


def test_end_to_end_from_input_frames():
    frame = built_frame(PACK, ladder_portfolio())
    assert required_fields(PACK) <= set(frame.columns)  # the builder makes every field the pack reads
    verdicts = evaluate(frame, PACK, AS_OF)
    assert verdicts["action"].to_dict() == {
        "PAID": "none",
        "L1": "letter_1",
        "NOSP": "nosp",
        "CLEARED": "case_cleared",
        "PAUSED": "none",
        "SMS": "sms",
    }
    assert verdicts.loc["PAUSED", "blocked_by"] == "paused"
    assert verdicts.loc["L1", "reason"] == "Arrears after grace £100.00 ≥ £10; no letter in 3 months"
    assert verdicts.loc["NOSP", "needs_officer"]
