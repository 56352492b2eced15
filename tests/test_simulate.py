"""The week-by-week simulator: determinism, a shared random stream, bounded responses, consistent results."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from awm_frappe.engine import simulate, synth

DOCS = Path(__file__).resolve().parents[1] / "docs" / "simulation.md"
SMALL = {"tenancies": 150, "weeks": 3, "seed": 7, "history_weeks": 30, "use_model": False}


def _run(**overrides) -> simulate.SimulationResult:
    return simulate.run_simulation(simulate.SimulationConfig(**{**SMALL, **overrides}))


@pytest.fixture(scope="module")
def result() -> simulate.SimulationResult:
    return _run()


def _without_timings(results: dict) -> dict:
    return {key: value for key, value in results.items() if key != "timings_seconds"}


def test_same_seed_same_results(result):
    again = _run()
    assert json.dumps(_without_timings(again.results), sort_keys=True, default=str) == json.dumps(
        _without_timings(result.results), sort_keys=True, default=str
    )
    for policy in simulate.POLICIES:
        pd.testing.assert_frame_equal(again.ledgers[policy], result.ledgers[policy])


def test_another_seed_differs(result):
    other = _run(seed=8)
    assert other.results["policies"]["baseline"]["weekly"] != result.results["policies"]["baseline"]["weekly"]


def _simulated(result, policy: str, frame: str) -> pd.DataFrame:
    rows = getattr(result, frame)[policy]
    return rows[rows["date"] >= result.start]


def test_both_policies_see_the_same_rent_and_the_same_baseline_payments(result):
    base = _simulated(result, "baseline", "ledgers")
    auto = _simulated(result, "automation", "ledgers")
    key = ["tenancy", "date", "kind", "amount"]
    rent_b = base[base["kind"].eq("rent")].sort_values(key).reset_index(drop=True)
    rent_a = auto[auto["kind"].eq("rent")].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(rent_b, rent_a)

    # A tenancy neither policy contacted (no action at all during the run) pays exactly the same.
    touched = set(_simulated(result, "baseline", "actions")["tenancy"]) | set(
        _simulated(result, "automation", "actions")["tenancy"]
    )
    untouched_b = base[~base["tenancy"].isin(touched)].sort_values(key).reset_index(drop=True)
    untouched_a = auto[~auto["tenancy"].isin(touched)].sort_values(key).reset_index(drop=True)
    assert len(untouched_b) > 0
    pd.testing.assert_frame_equal(untouched_b, untouched_a)


def test_the_shared_draws_do_not_depend_on_the_policy():
    portfolio = synth.synthesize(50, 20, 3)
    world = simulate._World(
        portfolio=portfolio,
        inputs=None,
        ids=portfolio.tenancies["tenancy"].to_numpy(),
        archetype=np.array([]),
        origin=portfolio.model.origin,
        first_week=20,
        seed=3,
        rent_roll=1.0,
    )
    first, second = world.draws(2), world.draws(2)
    assert all(np.array_equal(first[k], second[k]) for k in first)
    one, two = copy.deepcopy(portfolio.model), copy.deepcopy(portfolio.model)
    tx1, tx2 = one.step(20, world.payment_rng(0)), two.step(20, world.payment_rng(0))
    assert np.array_equal(tx1.amount, tx2.amount) and np.array_equal(tx1.tenancy, tx2.tenancy)


def test_contact_raises_the_chance_of_paying_only_modestly():
    response = simulate.ResponseModel()
    codes = np.arange(len(simulate.CHANNEL_CODES), dtype=np.int8)
    for legal in (False, True):
        boost, agree = response.effects(codes, np.full(len(codes), legal), np.full(len(codes), 5.0))
        assert boost[0] == 0 and agree[0] == 0  # no contact, no effect
        assert (boost <= response.max_boost).all() and (agree <= response.max_agree).all()
    assert response.max_boost < 0.5 and response.max_agree < 0.5  # never a certainty
    boost, agree = response.effects(codes, np.zeros(len(codes), bool), np.ones(len(codes)))
    letter, phone = simulate.CHANNEL_CODES.index("letter"), simulate.CHANNEL_CODES.index("phone")
    assert 0 < boost[letter] <= boost[phone] and 0 < agree[letter] <= agree[phone]

    # Through synth's payer model: the most any contact can add lifts few tenancies' payments.
    portfolio = synth.synthesize(2000, 30, 5)
    plain, nudged = copy.deepcopy(portfolio.model), copy.deepcopy(portfolio.model)
    nudged.propensity_boost[:] = response.max_boost
    paid = []
    for model in (plain, nudged):
        tx = model.step(30, np.random.default_rng(11))
        credits = tx.kind != synth.K_RENT
        paid.append(np.bincount(tx.tenancy[credits], weights=-tx.amount[credits], minlength=model.n))
    more = paid[1] > paid[0] + 0.005
    assert 0 < more.mean() <= 0.35
    assert (paid[1] >= paid[0] - 0.005).all()


def test_instalments_are_affordable_and_bounded():
    response = simulate.ResponseModel()
    weekly = response.instalment(np.array([0.0, 50.0, 2600.0, 100000.0]), np.full(4, 100.0))
    assert weekly[0] == weekly[1] == response.instalment_min  # £50 over 26 weeks is below the floor
    assert weekly[2] == weekly[3] == pytest.approx(50.0)  # capped at half the weekly rent


def test_results_have_every_documented_key_and_consistent_values(result):
    results = result.results
    docs = DOCS.read_text(encoding="utf-8")
    for key in (*simulate.TOP_KEYS, *simulate.WEEKLY_KEYS, *simulate.OVERALL_KEYS, *simulate.COMPARISON_KEYS):
        assert f"`{key}`" in docs, f"{key} is not documented in docs/simulation.md"
    assert set(simulate.TOP_KEYS) <= set(results)
    for policy in simulate.POLICIES:
        block = results["policies"][policy]
        assert len(block["weekly"]) == SMALL["weeks"]
        for week in block["weekly"]:
            assert set(simulate.WEEKLY_KEYS) <= set(week)
            assert 0 <= week["handled_without_officer_share"] <= 1
            assert week["officer_cases"] >= 0 and week["officer_hours"] >= 0
        overall = block["overall"]
        assert set(simulate.OVERALL_KEYS) <= set(overall)
        assert 0 <= overall["collection_rate"] <= 1.5  # above 1 only when old arrears are collected
        assert 0 <= overall["handled_without_officer_share"] <= 1
        assert overall["messages_total"] == sum(overall["messages_by_channel"].values())
        # Only an open case can be taken to NOSP or court during the run.
        assert overall["cases_reaching_court"] <= overall["cases_open_during_run"]
        assert overall["cases_reaching_nosp"] <= overall["cases_open_during_run"]
    baseline = results["policies"]["baseline"]
    for week in baseline["weekly"]:
        assert week["officer_cases"] >= week["open_cases"]  # every open case is an officer's
        assert week["handled_without_officer_share"] == 0
    comparison = results["comparison"]
    assert set(simulate.COMPARISON_KEYS) <= set(comparison)
    base = baseline["overall"]["mean_officer_cases"]
    auto = results["policies"]["automation"]["overall"]["mean_officer_cases"]
    assert comparison["caseload_reduction"] == pytest.approx(1 - auto / base, abs=1e-4)
    json.dumps(results)  # JSON-able


def test_assumptions_merge_and_refuse_unknown_keys(tmp_path):
    assumptions = simulate.Assumptions.from_dict(
        {"arrears_threshold": 25, "officers": {"review_minutes": 5, "minutes": {"letter": 12}}}
    )
    assert assumptions.arrears_threshold == 25.0
    assert assumptions.officers.review_minutes == 5.0
    assert assumptions.officers.minutes["letter"] == 12 and assumptions.officers.minutes["nosp"] == 60.0
    with pytest.raises(ValueError, match="unknown assumption"):
        simulate.Assumptions.from_dict({"officer": {}})
    path = tmp_path / "a.json"
    path.write_text(json.dumps(simulate.Assumptions().to_dict()))
    assert simulate.Assumptions.from_file(path) == simulate.Assumptions()


def test_write_results(result, tmp_path):
    path = simulate.write_results(result, tmp_path)
    assert json.loads(path.read_text())["schema"] == simulate.SCHEMA
    for policy in simulate.POLICIES:
        weekly = pd.read_csv(tmp_path / f"weekly_{policy}.csv")
        assert len(weekly) == SMALL["weeks"]


@pytest.mark.parametrize("pack_name", ["uk-ladder", "hackney-2020"])
def test_every_officer_step_of_the_shipped_packs_costs_its_documented_minutes(pack_name):
    from awm_frappe.engine.packs import load_pack

    officer_steps = {
        rule.action.code for rule in load_pack(pack_name).rules if rule.action.type == "route_to_officer"
    }
    assert officer_steps <= set(simulate.ACTION_MINUTES)
    # A call the risk model asks for is a conversation with the tenant, timed as a phone call.
    assert simulate.ACTION_MINUTES["arrears_call"] == "phone"
    assert "arrears_call" in simulate.CONVERSATIONS


def test_seed_summary_puts_paired_seeds_side_by_side_with_their_range(result):
    other = _run(seed=8).results
    summary = simulate.seed_summary([result.results, other])
    assert summary["seeds"] == [7, 8]
    assert [row["seed"] for row in summary["per_seed"]] == [7, 8]
    for row, results in zip(summary["per_seed"], (result.results, other), strict=True):
        assert row["caseload_reduction"] == results["comparison"]["caseload_reduction"]
        assert row["automation_nosp"] == results["policies"]["automation"]["overall"]["cases_reaching_nosp"]
        assert row["no_worse"] == results["comparison"]["no_worse"]
    for key, spread in summary["range"].items():
        values = [row[key] for row in summary["per_seed"]]
        assert spread["min"] == pytest.approx(min(values), abs=1e-4)
        assert spread["max"] == pytest.approx(max(values), abs=1e-4)
        assert spread["min"] <= spread["mean"] <= spread["max"]
    assert summary["no_worse_on_every_seed"] == all(row["no_worse"] for row in summary["per_seed"])
    json.dumps(summary)


def test_a_seed_with_no_baseline_cases_is_shown_as_unknown_not_a_crash(result):
    from awm_frappe.engine import report

    empty = copy.deepcopy(result.results)
    empty["config"]["seed"] = 99
    empty["comparison"]["caseload_reduction"] = None  # no baseline officer cases: nothing to cut
    summary = simulate.seed_summary([result.results, empty])
    known = result.results["comparison"]["caseload_reduction"]
    assert summary["range"]["caseload_reduction"]["min"] == pytest.approx(known, abs=1e-4)
    row = next(line for line in report.seeds_text(summary).splitlines() if line.split()[:1] == ["99"])
    assert row.split()[1] == "–"


def test_risk_calibration_uses_the_models_own_monday_target_on_the_automation_ledger():
    from awm_frappe.engine.features import compute_features

    run = _run(tenancies=800, weeks=4, seed=3, history_weeks=40, use_model=True)
    calibration = run.results["risk_calibration"]
    assert calibration["available"]
    assert run.start.day_name() == "Monday"
    assert calibration["observed_weeks"] == 3  # a 4-week run observes 3 Mondays after the first
    assert sum(b["n"] for b in calibration["bins"]) == calibration["rows"]
    # The target, worked out here from the automation ledger: arrears after grace of 2 weeks' rent on
    # one of the next 3 Mondays, for tenancies current over the whole window.
    tenancies = run.tenancies["automation"]
    reached = np.zeros(len(tenancies), dtype=bool)
    for k in (1, 2, 3):
        features = compute_features(tenancies, run.ledgers["automation"], run.start + pd.Timedelta(weeks=k))
        rent = tenancies["weekly_rent"].to_numpy()
        reached |= features["arrears_after_grace"].to_numpy() >= 2 * rent - 0.005
    current = (tenancies["start_date"] <= run.start) & ~(
        tenancies["end_date"] < run.start + pd.Timedelta(weeks=3)
    )
    assert calibration["rows"] == int(current.sum())
    assert calibration["base_rate"] == pytest.approx(reached[current.to_numpy()].mean(), abs=1e-4)
