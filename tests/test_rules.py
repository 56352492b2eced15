"""The rules engine: parsing and validation, every operator, guards, cooldown, priority and outputs.

Case frames here are built directly (one row per tenancy, every catalogue field at a neutral value) so the
tests state only the facts they are about and do not depend on the case-frame builder.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from awm_frappe.engine import rules
from awm_frappe.engine.fields import KNOWN_FIELDS, field_kind
from awm_frappe.engine.packs import list_packs, load_pack
from awm_frappe.engine.rules import RuleError, evaluate, matches, parse_pack, parse_rule

AS_OF = pd.Timestamp("2026-03-11")

# ---------------------------------------------------------------------------------------------------
# Case-frame helpers (also used by the pack tests).

_NEUTRAL_BY_KIND = {"money": 0.0, "number": 0.0, "date": pd.NaT, "bool": False, "text": ""}
_NEUTRAL = {
    "tenancy": "T1",
    "patch": "P1",
    "tenure_type": "secure",
    "weekly_rent": 100.0,
    "start_date": pd.Timestamp("2020-01-06"),
    "payment_method": "cash_card",
    "uc_status": "none",
    "hb_status": "none",
    "language": "en",
    "preferred_channel": "letter",
    "has_postal_address": True,
    "week_start": pd.Timestamp("2026-03-09"),
    "tenancy_age_days": 2256.0,
    "risk_score": np.nan,
}


def ago(days: int = 0, weeks: int = 0, months: int = 0, years: int = 0) -> pd.Timestamp:
    return AS_OF - pd.DateOffset(days=days, weeks=weeks, months=months, years=years)


def ahead(days: int = 0, weeks: int = 0, months: int = 0) -> pd.Timestamp:
    return AS_OF + pd.DateOffset(days=days, weeks=weeks, months=months)


def owing(after_grace: float, collectable: float | None = None, rent: float = 100.0) -> dict:
    """Arrears figures that hang together: collectable ≥ after grace, balance = collectable."""
    collectable = after_grace if collectable is None else collectable
    return {
        "weekly_rent": rent,
        "balance": collectable,
        "collectable_arrears": collectable,
        "arrears_after_grace": after_grace,
        "weeks_owed": after_grace / rent,
    }


def case_row(**overrides) -> dict:
    """One tenancy with no case, no arrears and nothing set, plus the overrides."""
    row = {name: _NEUTRAL.get(name, _NEUTRAL_BY_KIND[kind]) for name, kind in KNOWN_FIELDS.items()}
    row.update(overrides)
    return row


def case_frame(*rows: dict) -> pd.DataFrame:
    """A case frame from case_row() dicts; extra last_<code>_date keys become date columns."""
    rows = rows or (case_row(),)
    frame = pd.DataFrame([case_row(**row) for row in rows])
    for name in frame.columns:
        kind = field_kind(name)
        if kind == "date":
            frame[name] = pd.to_datetime(frame[name])
        elif kind == "bool":
            frame[name] = frame[name].astype(bool)
        elif kind in ("money", "number"):
            frame[name] = frame[name].astype(float)
    if frame["tenancy"].duplicated().any():
        frame["tenancy"] = [f"T{i + 1}" for i in range(len(frame))]
    return frame.set_index("tenancy", drop=False)


def one_rule_pack(*raw_rules: dict, stages=None) -> rules.RulePack:
    raw = {"pack": "test", "version": 1, "rules": list(raw_rules)}
    if stages is not None:
        raw["stages"] = stages
    return parse_pack(raw)


def make_rule(name: str = "r", when=None, action=None, **extra) -> dict:
    raw = {
        "name": name,
        "when": when if when is not None else {"all": []},
        "action": action or {"type": "route_to_officer", "code": f"{name}_task"},
    }
    raw.update(extra)
    return raw


def hits(frame: pd.DataFrame, condition: dict) -> list[bool]:
    """Which rows a single condition selects."""
    rule = parse_rule(make_rule(when=condition))
    return matches(frame, rule, AS_OF).tolist()


# ---------------------------------------------------------------------------------------------------
# Operators.


def test_equals_and_not_equals_treat_missing_values_as_documented():
    frame = case_frame(case_row(stage="letter_1"), case_row(stage=""), case_row(stage="sms"))
    assert hits(frame, {"field": "stage", "op": "=", "value": "letter_1"}) == [True, False, False]
    # A missing value is "different" for != but never "equal".
    assert hits(frame, {"field": "stage", "op": "!=", "value": "letter_1"}) == [False, True, True]


def test_number_comparisons_at_the_boundary_and_with_missing_values():
    frame = case_frame(
        case_row(days_since_last_payment=7.0),
        case_row(days_since_last_payment=8.0),
        case_row(days_since_last_payment=9.0),
        case_row(days_since_last_payment=np.nan),
    )
    field = "days_since_last_payment"
    assert hits(frame, {"field": field, "op": ">", "value": 8}) == [False, False, True, False]
    assert hits(frame, {"field": field, "op": ">=", "value": 8}) == [False, True, True, False]
    assert hits(frame, {"field": field, "op": "<", "value": 8}) == [True, False, False, False]
    assert hits(frame, {"field": field, "op": "<=", "value": 8}) == [True, True, False, False]
    assert hits(frame, {"field": field, "op": "=", "value": 8}) == [False, True, False, False]
    assert hits(frame, {"field": field, "op": "!=", "value": 8}) == [True, False, True, True]


def test_bool_equality_and_missing_bool():
    frame = case_frame(case_row(nosp_served=True), case_row(nosp_served=False))
    assert hits(frame, {"field": "nosp_served", "op": "=", "value": True}) == [True, False]
    assert hits(frame, {"field": "nosp_served", "op": "=", "value": False}) == [False, True]
    frame["nosp_served"] = pd.Series([True, None], index=frame.index, dtype=object)
    assert hits(frame, {"field": "nosp_served", "op": "=", "value": False}) == [False, False]
    assert hits(frame, {"field": "nosp_served", "op": "!=", "value": True}) == [False, True]


def test_in_and_not_in_with_missing_text():
    frame = case_frame(
        case_row(last_action="letter_1"), case_row(last_action="sms"), case_row(last_action="")
    )
    assert hits(frame, {"field": "last_action", "op": "in", "value": ["letter_1", "letter_2"]}) == [
        True,
        False,
        False,
    ]
    assert hits(frame, {"field": "last_action", "op": "not in", "value": ["letter_1", "letter_2"]}) == [
        False,
        True,
        True,
    ]


def test_in_on_a_number_field():
    frame = case_frame(case_row(weeks_with_payment_8w=0.0), case_row(weeks_with_payment_8w=3.0))
    assert hits(frame, {"field": "weeks_with_payment_8w", "op": "in", "value": [0, 1]}) == [True, False]


def test_is_set_and_is_not_set_for_text_dates_and_numbers():
    frame = case_frame(
        case_row(court_outcome="SPO", court_date=ago(days=10), risk_score=0.4),
        case_row(court_outcome="", court_date=pd.NaT, risk_score=np.nan),
    )
    for field in ("court_outcome", "court_date", "risk_score"):
        assert hits(frame, {"field": field, "op": "is set"}) == [True, False]
        assert hits(frame, {"field": field, "op": "is not set"}) == [False, True]


def test_between_is_inclusive_and_false_when_missing():
    frame = case_frame(*(case_row(collectable_arrears=v) for v in (4.99, 5.0, 7.5, 10.0, 10.01, np.nan)))
    condition = {"field": "collectable_arrears", "op": "between", "value": [5, 10]}
    assert hits(frame, condition) == [False, True, True, True, False, False]


def test_between_with_rent_multiples_uses_each_tenancys_rent():
    frame = case_frame(
        case_row(arrears_after_grace=150.0, weekly_rent=100.0), case_row(**owing(150.0, rent=50.0))
    )
    condition = {
        "field": "arrears_after_grace",
        "op": "between",
        "value": [{"weeks_rent": 1}, {"weeks_rent": 2}],
    }
    assert hits(frame, condition) == [True, False]


def test_between_on_dates():
    frame = case_frame(
        *(case_row(court_date=pd.Timestamp(d)) for d in ("2025-12-31", "2026-01-01", "2026-02-01"))
    )
    condition = {"field": "court_date", "op": "between", "value": ["2026-01-01", "2026-01-31"]}
    assert hits(frame, condition) == [False, True, False]


def test_date_compared_with_a_literal_date():
    frame = case_frame(
        case_row(start_date=pd.Timestamp("2019-12-31")), case_row(start_date=pd.Timestamp("2020-01-01"))
    )
    assert hits(frame, {"field": "start_date", "op": "<", "value": "2020-01-01"}) == [True, False]
    assert hits(frame, {"field": "start_date", "op": "=", "value": "2020-01-01"}) == [False, True]


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        # rows: 8 days ago, exactly 7 days ago, 6 days ago, never
        ("older than", [True, False, False, False]),
        ("newer than", [False, False, True, False]),
        ("not newer than", [True, True, False, True]),
    ],
)
def test_date_windows_at_the_boundary(op, expected):
    frame = case_frame(
        *(case_row(last_action_date=d) for d in (ago(days=8), ago(days=7), ago(days=6), pd.NaT))
    )
    assert hits(frame, {"field": "last_action_date", "op": op, "value": "7 days"}) == expected


def test_month_windows_are_calendar_months():
    # 3 months before 2026-03-11 is 2025-12-11.
    frame = case_frame(
        *(case_row(last_action_date=pd.Timestamp(d)) for d in ("2025-12-10", "2025-12-11", "2025-12-12"))
    )
    assert hits(frame, {"field": "last_action_date", "op": "older than", "value": "3 months"}) == [
        True,
        False,
        False,
    ]
    assert hits(frame, {"field": "last_action_date", "op": "newer than", "value": "3 months"}) == [
        False,
        False,
        True,
    ]


def test_within_next_covers_today_to_the_horizon():
    dates = (ago(days=1), AS_OF, ahead(days=14), ahead(days=15), pd.NaT)
    frame = case_frame(*(case_row(court_date=d) for d in dates))
    assert hits(frame, {"field": "court_date", "op": "within next", "value": "2 weeks"}) == [
        False,
        True,
        True,
        False,
        False,
    ]


def test_window_value_may_be_a_bare_number_of_days():
    frame = case_frame(case_row(last_action_date=ago(days=3)), case_row(last_action_date=ago(days=2)))
    assert hits(frame, {"field": "last_action_date", "op": "older than", "value": 2}) == [True, False]


def test_value_field_compares_two_dates_and_missing_sides_are_false():
    frame = case_frame(
        case_row(court_date=ago(days=1), last_action_date=ago(days=5)),
        case_row(court_date=ago(days=9), last_action_date=ago(days=5)),
        case_row(court_date=pd.NaT, last_action_date=ago(days=5)),
        case_row(court_date=ago(days=1), last_action_date=pd.NaT),
    )
    condition = {"field": "court_date", "op": ">", "value_field": "last_action_date"}
    assert hits(frame, condition) == [True, False, False, False]
    assert hits(frame, {"not": condition}) == [False, True, True, True]
    not_equal = {"field": "court_date", "op": "!=", "value_field": "last_action_date"}
    assert hits(frame, not_equal) == [True, True, True, True]


def test_value_field_compares_money_with_money():
    frame = case_frame(
        case_row(balance=300.0, agreement_expected_balance=250.0),
        case_row(balance=200.0, agreement_expected_balance=250.0),
    )
    condition = {"field": "balance", "op": ">", "value_field": "agreement_expected_balance"}
    assert hits(frame, condition) == [True, False]


@pytest.mark.parametrize(("owed", "expected"), [(399.99, False), (400.0, True), (400.01, True)])
def test_weeks_rent_value_at_the_boundary(owed, expected):
    frame = case_frame(case_row(**owing(owed)))
    assert hits(frame, {"field": "arrears_after_grace", "op": ">=", "value": {"weeks_rent": 4}}) == [expected]


def test_months_rent_is_weekly_rent_times_52_over_12():
    two_months = 100.0 * 52 / 12 * 2  # 866.67
    frame = case_frame(case_row(**owing(two_months - 0.01)), case_row(**owing(two_months)))
    assert hits(frame, {"field": "arrears_after_grace", "op": ">=", "value": {"months_rent": 2}}) == [
        False,
        True,
    ]


def test_rent_multiple_is_false_when_weekly_rent_is_missing():
    frame = case_frame(case_row(**owing(1000.0)))
    frame["weekly_rent"] = np.nan
    assert hits(frame, {"field": "arrears_after_grace", "op": ">=", "value": {"weeks_rent": 4}}) == [False]


def test_operator_spelling_is_forgiving():
    frame = case_frame(case_row(last_action_date=ago(days=30)))
    assert hits(frame, {"field": "last_action_date", "op": "Older  Than", "value": "7 days"}) == [True]
    assert hits(frame, {"field": "tenure_type", "op": "==", "value": "secure"}) == [True]


# ---------------------------------------------------------------------------------------------------
# Groups, scope, priority, cooldown.


def test_nested_groups():
    when = {
        "all": [
            {"field": "arrears_after_grace", "op": ">=", "value": 10},
            {
                "any": [
                    {"field": "tenure_type", "op": "=", "value": "assured"},
                    {"not": {"field": "vulnerable", "op": "=", "value": True}},
                ]
            },
        ]
    }
    frame = case_frame(
        case_row(**owing(20), tenure_type="secure", vulnerable=False),
        case_row(**owing(20), tenure_type="secure", vulnerable=True),
        case_row(**owing(20), tenure_type="assured", vulnerable=True),
        case_row(**owing(5), tenure_type="assured", vulnerable=False),
    )
    assert hits(frame, when) == [True, False, True, False]


def test_an_empty_all_matches_every_tenancy_and_an_empty_any_is_refused():
    frame = case_frame(case_row(), case_row())
    assert hits(frame, {"all": []}) == [True, True]
    with pytest.raises(RuleError, match="empty 'any'"):
        parse_rule(make_rule(when={"any": []}))


def test_scope_limits_tenure_types_and_patches():
    rule = parse_rule(make_rule(scope={"tenure_types": ["assured", "starter"], "patches": ["P2"]}))
    frame = case_frame(
        case_row(tenure_type="assured", patch="P2"),
        case_row(tenure_type="assured", patch="P1"),
        case_row(tenure_type="secure", patch="P2"),
        case_row(tenure_type="starter", patch="P2"),
    )
    assert matches(frame, rule, AS_OF).tolist() == [True, False, False, True]


def test_empty_scope_means_everyone_and_host_text_lists_are_accepted():
    assert parse_rule(make_rule(scope={"tenure_types": [], "patches": []})).scope == rules.Scope()
    rule = parse_rule(make_rule(scope={"tenure_types": "secure, assured", "patches": ""}))
    assert rule.scope.tenure_types == ("secure", "assured")


def test_first_matching_rule_in_pack_order_wins():
    pack = one_rule_pack(
        make_rule("letter", {"field": "arrears_after_grace", "op": ">=", "value": 10}),
        make_rule("sms", {"field": "collectable_arrears", "op": ">=", "value": 5}),
    )
    frame = case_frame(case_row(**owing(20)), case_row(**owing(6)), case_row(**owing(1)))
    result = evaluate(frame, pack, AS_OF)
    assert result["rule"].tolist() == ["letter", "sms", ""]
    assert result["action"].tolist() == ["letter_task", "sms_task", "none"]


def test_disabled_rules_never_match():
    pack = one_rule_pack(make_rule("off", enabled=False), make_rule("on"))
    assert evaluate(case_frame(), pack, AS_OF)["rule"].tolist() == ["on"]


@pytest.mark.parametrize(("days_ago", "in_cooldown"), [(6, True), (7, False), (8, False)])
def test_cooldown_skips_the_rule_within_its_days_so_the_next_rule_can_match(days_ago, in_cooldown):
    pack = one_rule_pack(
        make_rule("sms", action={"type": "send_message", "code": "sms", "channel": "sms"}, cooldown_days=7),
        make_rule("fallback"),
    )
    frame = case_frame(case_row(last_sms_date=ago(days=days_ago)))
    assert evaluate(frame, pack, AS_OF)["rule"].tolist() == ["fallback" if in_cooldown else "sms"]


def test_cooldown_without_a_history_column_means_the_action_never_happened():
    pack = one_rule_pack(make_rule("sms", cooldown_days=7))
    frame = case_frame()
    assert "last_sms_task_date" not in frame
    assert evaluate(frame, pack, AS_OF)["rule"].tolist() == ["sms"]


# ---------------------------------------------------------------------------------------------------
# Guards.

GUARD_CASES = [
    ("paused", {"paused": True}, False),
    ("breathing_space", {"breathing_space": True}, False),
    ("deceased", {"deceased": True}, False),
    ("eviction_date", {"eviction_date_set": True}, True),
    ("court_date_future", {"court_date_future": True}, True),
]


@pytest.mark.parametrize(("label", "facts", "review_passes"), GUARD_CASES)
def test_every_guard_blocks_ordinary_rules_and_is_reported(label, facts, review_passes):
    pack = one_rule_pack(make_rule("ordinary"))
    result = evaluate(case_frame(case_row(**facts)), pack, AS_OF)
    assert result["action"].tolist() == ["none"]
    assert result["blocked_by"].tolist() == [label]


@pytest.mark.parametrize(("label", "facts", "review_passes"), GUARD_CASES)
def test_review_rules_pass_eviction_and_court_guards_only(label, facts, review_passes):
    review = make_rule("check", action={"type": "route_to_officer", "code": "check_data", "review": True})
    pack = one_rule_pack(make_rule("ordinary"), review)
    result = evaluate(case_frame(case_row(**facts)), pack, AS_OF)
    assert result["rule"].tolist() == (["check"] if review_passes else [""])
    assert result["review"].tolist() == [review_passes]
    assert result["blocked_by"].tolist() == [label]


def test_the_first_guard_in_order_is_reported():
    frame = case_frame(
        case_row(court_date_future=True, paused=True), case_row(deceased=True, eviction_date_set=True)
    )
    result = evaluate(frame, one_rule_pack(make_rule()), AS_OF)
    assert result["blocked_by"].tolist() == ["paused", "deceased"]


def test_no_rule_can_override_a_guard():
    # Even a rule that asks for paused cases does not fire on them.
    pack = one_rule_pack(make_rule(when={"field": "paused", "op": "=", "value": True}))
    assert evaluate(case_frame(case_row(paused=True)), pack, AS_OF)["action"].tolist() == ["none"]


def test_missing_guard_values_do_not_block():
    frame = case_frame()
    frame["paused"] = pd.Series([None], index=frame.index, dtype=object)
    assert evaluate(frame, one_rule_pack(make_rule()), AS_OF)["blocked_by"].tolist() == [""]


# ---------------------------------------------------------------------------------------------------
# Malformed rules.

GOOD = make_rule("good", {"field": "arrears_after_grace", "op": ">=", "value": 10})

MALFORMED = [
    ("unknown_field", {"field": "arears", "op": ">=", "value": 10}, "unknown field 'arears'"),
    ("unknown_op", {"field": "balance", "op": "greater", "value": 10}, "unknown operator 'greater'"),
    ("op_for_kind", {"field": "stage", "op": ">", "value": "sms"}, "does not apply to a text field"),
    ("window_on_money", {"field": "balance", "op": "older than", "value": "7 days"}, "does not apply"),
    (
        "bad_duration",
        {"field": "last_action_date", "op": "older than", "value": "7 fortnights"},
        "not a duration",
    ),
    ("text_for_number", {"field": "balance", "op": ">=", "value": "ten"}, "expected a number"),
    ("bool_for_number", {"field": "balance", "op": ">=", "value": True}, "expected a number"),
    ("text_for_bool", {"field": "paused", "op": "=", "value": "yes"}, "expected true or false"),
    ("relative_date_as_value", {"field": "court_date", "op": "<", "value": "3 months"}, "expected a date"),
    (
        "weeks_rent_on_number",
        {"field": "weeks_owed", "op": ">=", "value": {"weeks_rent": 4}},
        "only to money",
    ),
    ("bad_money_unit", {"field": "balance", "op": ">=", "value": {"weeks": 4}}, "weeks_rent"),
    ("in_needs_list", {"field": "last_action", "op": "in", "value": "sms"}, "need a list"),
    ("between_shape", {"field": "balance", "op": "between", "value": [1]}, "low, high"),
    ("between_order", {"field": "balance", "op": "between", "value": [10, 5]}, "is above high"),
    ("is_set_value", {"field": "court_date", "op": "is set", "value": "2026-01-01"}, "takes no value"),
    ("no_value", {"field": "balance", "op": ">="}, "needs a value"),
    ("empty_text", {"field": "stage", "op": "=", "value": ""}, "is set"),
    ("value_field_kind", {"field": "court_date", "op": ">", "value_field": "balance"}, "cannot compare"),
    ("value_field_unknown", {"field": "court_date", "op": ">", "value_field": "nope"}, "unknown value_field"),
    (
        "value_field_op",
        {"field": "court_date", "op": "older than", "value_field": "last_action_date"},
        "only",
    ),
    ("both_values", {"field": "balance", "op": ">", "value": 1, "value_field": "weekly_rent"}, "not both"),
    ("unknown_code_set", {"field": "last_action", "op": "in", "value": {"code_set": "nope"}}, "code set"),
    ("bad_group", {"all": [], "any": []}, "exactly one group"),
    ("typo_key", {"field": "balance", "op": ">", "valeu": 1}, "unknown key"),
]


@pytest.mark.parametrize(("name", "when", "message"), MALFORMED)
def test_malformed_conditions_become_problems_naming_the_rule_and_good_rules_still_run(name, when, message):
    pack = one_rule_pack(make_rule(name, when), GOOD)
    assert [rule.name for rule in pack.rules] == ["good"]
    assert len(pack.problems) == 1
    problem = pack.problems[0]
    assert problem.rule == name
    assert f"rule {name!r}" in problem.message
    assert message in problem.message
    result = evaluate(case_frame(case_row(**owing(20)), case_row()), pack, AS_OF)
    assert result["rule"].tolist() == ["good", ""]


MALFORMED_ACTIONS = [
    ("unknown_action", {"type": "send_carrier_pigeon", "code": "x"}, "unknown type"),
    ("no_code", {"type": "route_to_officer"}, "code must be"),
    ("bad_code", {"type": "route_to_officer", "code": "Letter 1"}, "code must be"),
    ("reserved_code", {"type": "route_to_officer", "code": "payment"}, "code must be"),
    ("bad_channel", {"type": "send_message", "code": "x", "channel": "fax"}, "channel must be"),
    ("channel_on_task", {"type": "route_to_officer", "code": "x", "channel": "sms"}, "applies only"),
    ("pause_days", {"type": "pause", "code": "x"}, "days"),
    ("priority_missing", {"type": "set_priority", "code": "x"}, "priority"),
    ("bad_status", {"type": "set_stage", "code": "x", "status": "asleep"}, "status must be"),
    ("set_stage_empty", {"type": "set_stage", "code": "x"}, "needs a 'stage'"),
    ("review_message", {"type": "send_message", "code": "x", "channel": "sms", "review": True}, "review"),
    ("extra_key", {"type": "close", "code": "x", "colour": "red"}, "unknown key"),
]


@pytest.mark.parametrize(("name", "action", "message"), MALFORMED_ACTIONS)
def test_malformed_actions_become_problems(name, action, message):
    pack = one_rule_pack(make_rule(name, action=action), GOOD)
    assert [rule.name for rule in pack.rules] == ["good"]
    assert pack.problems[0].rule == name
    assert message in pack.problems[0].message


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"reason": "Owes {arrears}"}, "unknown field {arrears}"),
        ({"reason": "{balance.__class__}"}, "plain field name"),
        ({"reason": "{balance[0]}"}, "plain field name"),
        ({"reason": "{stage:.2f}"}, "reason:"),
        ({"reason": "unbalanced {"}, "reason:"),
        ({"cooldown_days": -1}, "cooldown_days"),
        ({"cooldown_days": "7"}, "cooldown_days"),
        ({"enabled": "yes"}, "enabled"),
        ({"scope": {"tenure_types": ["council"]}}, "unknown tenure type"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_malformed_rule_parts_are_refused(extra, message):
    with pytest.raises(RuleError) as error:
        parse_rule(make_rule("bad", **extra))
    assert "rule 'bad'" in str(error.value)
    assert message in str(error.value)


def test_rule_without_a_name_or_conditions_is_refused():
    pack = one_rule_pack(
        {"when": {"all": []}, "action": {"type": "close", "code": "x"}}, {"name": "no_when"}, GOOD
    )
    assert [p.rule for p in pack.problems] == ["rule #1", "no_when"]
    assert [r.name for r in pack.rules] == ["good"]


def test_stage_must_be_in_the_pack_and_names_must_be_unique():
    pack = one_rule_pack(
        make_rule("a", action={"type": "set_stage", "code": "x", "stage": "moon"}),
        make_rule("b"),
        make_rule("b"),
        stages=["", "sms"],
    )
    assert [r.name for r in pack.rules] == ["b"]
    assert [p.rule for p in pack.problems] == ["a", "b"]
    assert "stage 'moon'" in pack.problems[0].message
    assert "same name" in pack.problems[1].message


def test_bad_settings_are_reported_and_defaults_kept():
    pack = parse_pack(
        {"pack": "p", "settings": {"nosp_notice": "soon", "nosp_notise": "28 days"}, "rules": [GOOD]}
    )
    assert pack.settings["nosp_notice"] == "28 days"
    assert {p.rule for p in pack.problems} == {"(settings)"}
    assert len(pack.problems) == 2
    assert [r.name for r in pack.rules] == ["good"]


def test_contact_only_actions_is_a_list_of_codes():
    pack = parse_pack({"pack": "p", "settings": {"contact_only_actions": ["campaign_message", "survey"]}})
    assert pack.settings["contact_only_actions"] == ["campaign_message", "survey"]
    bad = parse_pack({"pack": "p", "settings": {"contact_only_actions": "campaign_message"}, "rules": [GOOD]})
    assert bad.settings["contact_only_actions"] == ["campaign_message"]  # the default stays
    assert [p.message for p in bad.problems] == [
        "contact_only_actions: must be a list of snake_case action codes; using ['campaign_message']"
    ]


def test_a_pack_that_is_not_a_pack_raises():
    with pytest.raises(RuleError):
        parse_pack([])
    with pytest.raises(RuleError):
        parse_pack({"rules": {}})


def test_parse_rule_accepts_host_json_text_and_check_flags():
    rule = parse_rule(
        {
            "name": "host",
            "enabled": 1,
            "when": json.dumps({"all": [{"field": "balance", "op": ">", "value": 0}]}),
            "action": json.dumps({"type": "flag_legal", "code": "legal_review"}),
            "scope": "{}",
        }
    )
    assert rule.enabled is True
    assert rule.action.for_officer
    with pytest.raises(RuleError, match="not valid JSON"):
        parse_rule({"name": "host", "when": "{", "action": {"type": "close", "code": "x"}})


# ---------------------------------------------------------------------------------------------------
# Outputs.


def test_evaluate_output_columns_and_defaults():
    pack = one_rule_pack(
        make_rule(
            "pause",
            {"field": "uc_status", "op": "=", "value": "claim_pending"},
            {"type": "pause", "code": "benefit_pause", "days": 28, "reason": "delayed_benefit"},
        ),
        make_rule(
            "letter",
            {"field": "arrears_after_grace", "op": ">=", "value": 10},
            {"type": "send_message", "code": "letter_1", "channel": "preferred", "stage": "letter_1"},
        ),
        make_rule(
            "legal",
            {"field": "nosp_active", "op": "=", "value": True},
            {"type": "flag_legal", "code": "legal", "skill": "legal", "priority": 90, "status": "legal"},
        ),
        make_rule(
            "close", {"field": "has_case", "op": "=", "value": True}, {"type": "close", "code": "closed"}
        ),
    )
    frame = case_frame(
        case_row(uc_status="claim_pending"),
        case_row(**owing(12), stage="sms"),
        case_row(nosp_active=True, stage="nosp"),
        case_row(has_case=True, stage="letter_2"),
        case_row(stage="sms"),
    )
    result = evaluate(frame, pack, AS_OF)
    assert list(result.index) == list(frame.index)
    expected_columns = {
        "action",
        "action_type",
        "rule",
        "rule_title",
        "reason",
        "blocked_by",
        "stage_to",
        "status_to",
        "needs_officer",
        "channel",
        "template",
        "skill",
        "pause_days",
        "close_reason",
        "priority",
        "review",
    }
    assert expected_columns <= set(result.columns)
    assert result["action_type"].tolist() == ["pause", "send_message", "flag_legal", "close", "none"]
    assert result["pause_days"].tolist()[0] == 28
    assert np.isnan(result["pause_days"].tolist()[1])
    assert result["pause_reason"].tolist()[0] == "delayed_benefit"
    assert result["channel"].tolist() == ["", "preferred", "", "", ""]
    assert result["template"].tolist() == ["", "letter_1", "", "", ""]  # template defaults to the code
    # stage_to: the rule's stage, the current one when it sets none, "" when a case closes.
    assert result["stage_to"].tolist() == ["", "letter_1", "nosp", "", "sms"]
    assert result["status_to"].tolist() == ["", "", "legal", "", ""]
    assert result["needs_officer"].tolist() == [False, False, True, False, False]
    assert result["skill"].tolist() == ["", "", "legal", "", ""]
    assert result["priority"].tolist()[2] == 90
    assert np.isnan(result["priority"].tolist()[0])
    assert result["rule_title"].tolist()[0] == "pause"  # title defaults to the name
    assert result["needs_officer"].dtype == bool
    assert result["review"].dtype == bool


def test_needs_officer_can_be_flagged_on_any_action():
    pack = one_rule_pack(
        make_rule(action={"type": "set_stage", "code": "x", "stage": "sms", "needs_officer": True})
    )
    assert evaluate(case_frame(), pack, AS_OF)["needs_officer"].tolist() == [True]


def test_reasons_format_the_tenancys_figures_and_dates_and_missing_values():
    pack = one_rule_pack(
        make_rule(
            reason="£{arrears_after_grace:.2f} owed; {weeks_owed:.1f} weeks; last paid {last_payment_date}; "
            "court {court_date:%d %b %Y}; {days_since_last_payment} days; {stage}"
        )
    )
    frame = case_frame(
        case_row(**owing(412.5), last_payment_date=pd.Timestamp("2026-02-02"), days_since_last_payment=37.0),
        case_row(
            **owing(10), court_date=pd.Timestamp("2026-04-01"), stage="sms", days_since_last_payment=np.nan
        ),
    )
    reasons = evaluate(frame, pack, AS_OF)["reason"].tolist()
    assert reasons[0] == "£412.50 owed; 4.1 weeks; last paid 2026-02-02; court n/a; 37 days; n/a"
    assert reasons[1] == "£10.00 owed; 0.1 weeks; last paid n/a; court 01 Apr 2026; n/a days; sms"


def test_reason_defaults_to_the_title_and_is_empty_without_a_match():
    pack = one_rule_pack(make_rule(title="Send Letter 1", when={"field": "balance", "op": ">", "value": 0}))
    result = evaluate(case_frame(case_row(**owing(5)), case_row()), pack, AS_OF)
    assert result["reason"].tolist() == ["Send Letter 1", ""]


def test_reason_may_name_a_last_code_date_missing_from_the_frame():
    pack = one_rule_pack(make_rule(reason="last letter {last_letter_1_date}"))
    assert evaluate(case_frame(), pack, AS_OF)["reason"].tolist() == ["last letter n/a"]


def test_literal_braces_in_reasons():
    assert evaluate(case_frame(), one_rule_pack(make_rule(reason="{{no fields}}")), AS_OF)[
        "reason"
    ].tolist() == ["{no fields}"]
    pack = one_rule_pack(make_rule(reason="£{balance:.2f} {{as agreed}}"))
    assert evaluate(case_frame(), pack, AS_OF)["reason"].tolist() == ["£0.00 {as agreed}"]


def test_tenancy_may_be_the_frames_index():
    frame = case_frame(case_row(tenancy="A"), case_row(tenancy="B")).drop(columns=["tenancy"])
    assert frame.index.name == "tenancy"
    assert hits(frame, {"field": "tenancy", "op": "in", "value": ["B"]}) == [False, True]


def test_a_field_missing_from_the_frame_is_an_error():
    pack = one_rule_pack(GOOD)
    frame = case_frame().drop(columns=["arrears_after_grace"])
    with pytest.raises(ValueError, match="arrears_after_grace"):
        evaluate(frame, pack, AS_OF)


def test_evaluate_with_no_rules_or_no_rows():
    empty_pack = one_rule_pack()
    assert evaluate(case_frame(case_row()), empty_pack, AS_OF)["action"].tolist() == ["none"]
    frame = case_frame().iloc[0:0]
    result = evaluate(frame, one_rule_pack(GOOD), AS_OF)
    assert len(result) == 0
    assert "action" in result


def test_evaluate_accepts_text_dates_and_a_date_string_as_of():
    frame = case_frame(case_row(last_action_date=ago(days=10)))
    frame["last_action_date"] = frame["last_action_date"].dt.strftime("%Y-%m-%d")
    pack = one_rule_pack(make_rule(when={"field": "last_action_date", "op": "older than", "value": "7 days"}))
    assert evaluate(frame, pack, "2026-03-11")["action"].tolist() == ["r_task"]


def test_matches_previews_one_rule_with_guards_scope_and_cooldown():
    rule = parse_rule(
        make_rule(
            "letter",
            {"field": "arrears_after_grace", "op": ">=", "value": 10},
            {"type": "send_message", "code": "letter_1", "channel": "letter"},
            cooldown_days=90,
        )
    )
    frame = case_frame(
        case_row(**owing(20)),
        case_row(**owing(20), paused=True),
        case_row(**owing(20), last_letter_1_date=ago(days=30)),
        case_row(**owing(5)),
    )
    preview = matches(frame, rule, AS_OF)
    assert preview.name == "letter"
    assert preview.index.equals(frame.index)
    assert preview.tolist() == [True, False, False, False]


# ---------------------------------------------------------------------------------------------------
# What a pack needs from the frame.


def test_required_fields_and_action_codes():
    pack = one_rule_pack(
        make_rule(
            "a",
            {
                "all": [
                    {"field": "arrears_after_grace", "op": ">=", "value": {"weeks_rent": 4}},
                    {"field": "last_letter_2_date", "op": "newer than", "value": "3 months"},
                    {"field": "court_date", "op": ">", "value_field": "last_action_date"},
                ]
            },
            {"type": "route_to_officer", "code": "nosp"},
            cooldown_days=28,
            reason="{last_payment_date} {last_pre_action_protocol_date}",
            scope={"tenure_types": ["secure"]},
        ),
        make_rule("b", action={"type": "send_message", "code": "sms", "channel": "sms"}),
    )
    needed = rules.required_fields(pack)
    assert {
        "arrears_after_grace",
        "weekly_rent",
        "last_letter_2_date",
        "court_date",
        "last_action_date",
        "last_nosp_date",
        "last_payment_date",
        "last_pre_action_protocol_date",
        "tenure_type",
        "paused",
        "breathing_space",
        "deceased",
        "eviction_date_set",
        "court_date_future",
    } <= needed
    # last_action_date and last_payment_date are catalogue fields, not action codes.
    assert rules.action_codes(pack) == ["nosp", "letter_2", "pre_action_protocol", "sms"]


def test_code_sets_expand_in_lists():
    pack = parse_pack(
        {
            "pack": "p",
            "settings": {"code_sets": {"letters": ["letter_1", "letter_2"]}},
            "rules": [
                make_rule(
                    "a",
                    {
                        "field": "last_action",
                        "op": "in",
                        "value": [{"code_set": "letters"}, "court_warning_letter"],
                    },
                )
            ],
        }
    )
    assert not pack.problems
    condition = pack.rules[0].when
    assert condition.value == ("letter_1", "letter_2", "court_warning_letter")
    frame = case_frame(case_row(last_action="letter_2"), case_row(last_action="sms"))
    assert evaluate(frame, pack, AS_OF)["rule"].tolist() == ["a", ""]


# ---------------------------------------------------------------------------------------------------
# Stage changes.


def test_classify_stage_change():
    stages = ["", "sms", "letter_1", "letter_2", "nosp"]
    before = pd.Series(
        ["", "sms", "letter_2", "letter_1", "nosp", "", "mystery", None], index=list("abcdefgh")
    )
    after = pd.Series(["sms", "letter_1", "sms", "", "nosp", "", "sms", ""], index=list("abcdefgh"))
    result = rules.classify_stage_change(before, after, stages)
    assert result.index.equals(before.index)
    assert result.tolist() == ["open", "escalate", "de-escalate", "close", "none", "none", "none", "none"]


# ---------------------------------------------------------------------------------------------------
# Pack loading.


def test_list_and_load_shipped_packs():
    assert {"uk-ladder", "hackney-2020"} <= set(list_packs())
    for name in ("uk-ladder", "hackney-2020"):
        pack = load_pack(name)
        assert pack.name == name
        assert pack.problems == []
        assert pack.rules


def test_load_pack_from_a_file_and_unknown_names(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"rules": [GOOD]}))
    pack = load_pack(path)
    assert pack.name == "mine"
    assert [r.name for r in pack.rules] == ["good"]
    with pytest.raises(RuleError, match="no rule pack"):
        load_pack("no-such-pack")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(RuleError, match="cannot read"):
        load_pack(broken)


# ---------------------------------------------------------------------------------------------------
# Speed: vectorised, no per-row loops.


def random_case_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    """A large frame of varied tenancies for timing (not realistic, just spread over every rule)."""
    rng = np.random.default_rng(seed)

    def dates(low_days: int, high_days: int, missing: float) -> pd.Series:
        offsets = pd.to_timedelta(rng.integers(low_days, high_days, rows), unit="D")
        values = pd.Series(AS_OF - offsets)
        return values.where(rng.random(rows) > missing)

    base = case_frame(case_row())
    frame = pd.DataFrame({name: np.repeat(base[name].to_numpy(), rows) for name in base.columns})
    frame["tenancy"] = [f"T{i}" for i in range(rows)]
    rent = rng.uniform(60, 200, rows).round(2)
    after = rng.gamma(1.2, 200, rows).round(2) - 80
    frame["weekly_rent"] = rent
    frame["arrears_after_grace"] = after
    frame["collectable_arrears"] = after + rng.uniform(0, 20, rows).round(2)
    frame["balance"] = frame["collectable_arrears"]
    frame["weeks_owed"] = after / rent
    frame["tenure_type"] = rng.choice(["secure", "assured", "starter", "introductory", "flexible"], rows)
    frame["patch"] = rng.choice(["P1", "P2", "P3"], rows)
    for name in (
        "has_case",
        "nosp_served",
        "nosp_valid",
        "nosp_active",
        "agreement_live",
        "agreement_breached",
        "court_breach",
        "informal_breach",
        "vulnerable",
        "paused",
        "court_date_set",
        "court_date_past",
        "warrant_active",
        "outright_possession",
        "court_outcome_missing",
    ):
        frame[name] = rng.random(rows) < 0.1
    frame["last_action"] = rng.choice(["", "letter_1", "send_letter_1", "sms", "letter_2", "nosp"], rows)
    frame["last_action_date"] = dates(0, 200, 0.3)
    frame["court_date"] = dates(-30, 400, 0.8)
    frame["nosp_served_date"] = dates(0, 400, 0.8)
    frame["nosp_expiry_date"] = frame["nosp_served_date"] + pd.Timedelta(days=28)
    for code in ("letter_1", "letter_2", "sms", "court_warning_letter", "send_letter_1", "nosp"):
        frame[f"last_{code}_date"] = dates(0, 200, 0.6)
    frame["days_since_last_payment"] = rng.integers(0, 60, rows).astype(float)
    frame["stage"] = rng.choice(["", "sms", "letter_1", "letter_2", "nosp"], rows)
    return frame.set_index("tenancy", drop=False)


@pytest.mark.parametrize("pack_name", ["uk-ladder", "hackney-2020"])
def test_evaluating_100k_tenancies_is_fast(pack_name):
    frame = random_case_frame(100_000)
    pack = load_pack(pack_name)
    started = time.perf_counter()
    result = evaluate(frame, pack, AS_OF)
    elapsed = time.perf_counter() - started
    assert len(result) == 100_000
    assert result["action"].ne("none").sum() > 1000  # the frame really exercises the rules
    assert elapsed < 5.0, f"{pack_name}: {elapsed:.2f}s for 100k tenancies"
