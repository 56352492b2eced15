"""Evaluation: the metrics on hand-made examples, the fairness audit, and the report end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from awm_frappe.engine import evaluation as ev
from awm_frappe.engine import model as risk
from awm_frappe.engine import synth
from tests.test_model import END, toy_portfolio


def test_a_perfect_ranking_scores_one():
    y = [0, 0, 0, 1, 1]
    score = [0.1, 0.2, 0.3, 0.8, 0.9]
    assert ev.roc_auc(y, score) == 1.0
    assert ev.average_precision(y, score) == 1.0
    assert ev.precision_at(y, score, 0.4) == 1.0


def test_a_reversed_ranking_scores_zero_and_ties_score_half():
    assert ev.roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert ev.roc_auc([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert ev.average_precision([1, 0, 1, 0], [0.5] * 4) == 0.5  # one step: precision = prevalence
    assert ev.roc_auc([1, 1], [0.1, 0.2]) is None  # one class: undefined


def test_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.random(2000) < 0.2
    score = np.round(y * 0.3 + rng.random(2000), 2)  # rounded: plenty of ties
    assert ev.roc_auc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert ev.average_precision(y, score) == pytest.approx(average_precision_score(y, score))


def test_precision_at_the_top_splits_ties_evenly():
    y = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    score = [5, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    # the top 20% is two rows: the 5, and one of the three tied 1s (a 1-in-3 chance it is the positive)
    assert ev.precision_at(y, score, 0.2) == pytest.approx((1 + 1 / 3) / 2)


def test_brier_and_calibration_on_a_hand_example():
    y = np.array([0, 1] * 50)
    half = np.full(100, 0.5)
    assert ev.brier(y, half) == 0.25
    assert ev.expected_calibration_error(y, half) == 0.0
    sure_and_wrong = np.where(y == 1, 0.0, 1.0)
    assert ev.brier(y, sure_and_wrong) == 1.0
    assert ev.expected_calibration_error(y, sure_and_wrong) == pytest.approx(1.0)
    table = ev.calibration_table(np.array([0] * 9 + [1]), np.linspace(0, 0.9, 10), bins=2)
    assert [row["rows"] for row in table] == [5, 5]
    assert table[1]["observed"] == 0.2 and table[1]["mean_predicted"] == pytest.approx(0.7)


def test_fairness_audit_on_a_hand_example():
    rows = pd.DataFrame(
        {
            "target": [1, 1, 0, 0] * 50 + [1, 1, 0, 0] * 50,
            "age_band": ["young"] * 200 + ["old"] * 200,
            "vulnerable": [False] * 400,
        }
    )
    # young: every positive flagged, half the negatives flagged; old: half the positives, no negatives
    score = np.array([0.9, 0.9, 0.9, 0.1] * 50 + [0.9, 0.1, 0.1, 0.1] * 50)
    audit = ev.fairness_audit(rows, score, threshold=0.5, attributes=("age_band", "vulnerable"))
    young = audit["attributes"]["age_band"]["groups"]["young"]
    old = audit["attributes"]["age_band"]["groups"]["old"]
    assert young["false_positive_rate"] == 0.5 and young["false_negative_rate"] == 0.0
    assert old["false_positive_rate"] == 0.0 and old["false_negative_rate"] == 0.5
    assert young["flag_rate"] == 0.75 and old["flag_rate"] == 0.25
    flag = audit["attributes"]["age_band"]["disparity"]["flag_rate"]
    assert flag["ratio"] == 3.0 and flag["highest"] == "young" and flag["lowest"] == "old"
    worst = audit["largest_disparity"]
    assert worst["attribute"] == "age_band" and worst["metric"] in (
        "false_positive_rate",
        "false_negative_rate",
    )
    assert "age_band" in audit["summary"]
    assert audit["attributes"]["vulnerable"]["disparity"] == {}  # one group: nothing to compare


@pytest.fixture(scope="module")
def report():
    tenancies, ledger = toy_portfolio(n=500, weeks=40, seed=5)
    return ev.evaluate(tenancies, ledger, END, history_weeks=12, test_weeks=6)


def test_evaluate_reports_model_and_baselines_on_the_same_rows(report):
    json.dumps(report)  # JSON-able as is
    overall = report["overall"]
    assert set(overall) >= {"model", "baseline_current_arrears", "baseline_weeks_owed"}
    for block in ("model", "baseline_current_arrears", "baseline_weeks_owed"):
        assert overall[block]["rows"] == report["rows"]
        assert 0 <= overall[block]["roc_auc"] <= 1
    assert len(overall["model"]["calibration"]) == 10
    assert overall["model"]["roc_auc"] > 0.85
    assert set(report["bands"]) == set(risk.BANDS)
    assert "not_yet_2_weeks_in_arrears" in report["segments"]


def test_evaluate_splits_by_time(report):
    split = report["split"]
    assert split["model_trained_here"]
    # the model's last training outcome is observed no later than the first test date
    assert split["model_training"]["as_of"] <= split["test_dates"][0]
    assert split["test_dates"] == sorted(split["test_dates"])


def test_evaluate_includes_the_fairness_audit(report):
    fairness = report["fairness"]
    assert set(fairness["attributes"]) == {"tenure_type", "vulnerable", "payment_method", "age_band"}
    assert fairness["largest_disparity"]["ratio"] >= 1
    assert fairness["summary"].startswith("largest disparity")


def test_evaluate_with_a_given_model_scores_another_portfolio():
    tenancies, ledger = toy_portfolio(n=300, weeks=40, seed=1)
    model = risk.train(tenancies, ledger, END, history_weeks=12, seed=0)
    other_tenancies, other_ledger = toy_portfolio(n=300, weeks=40, seed=2)
    report = ev.evaluate(other_tenancies, other_ledger, END, model=model, test_weeks=4)
    assert not report["split"]["model_trained_here"]
    assert report["overall"]["model"]["roc_auc"] > 0.85
    assert ev.summary_lines(report)[0].startswith("as of 2026-03-30")


def test_on_another_landlord_the_model_sees_arrears_coming_where_balances_cannot():
    """Trained on one synthetic landlord and scored on another: on accounts with a zero or credit balance
    (no debt yet, the early-warning population) the model ranks the coming arrears well ahead of the
    balance and of weeks owed; everywhere it beats both and stays calibrated."""
    training, other = synth.synthesize(2000, 40, 4), synth.synthesize(2000, 40, 5)
    model = risk.train(training.tenancies, training.ledger, training.as_of, seed=0)
    report = ev.evaluate(other.tenancies, other.ledger, other.as_of, model=model)
    early = report["segments"]["zero_or_credit_balance"]
    assert early["model"]["positives"] >= 50  # enough coming arrears for the AUC to mean something
    assert early["auc_lift_over_best_baseline"] >= 0.08
    assert early["model"]["average_precision"] > early["baseline_current_arrears"]["average_precision"]
    for block in (report["overall"], *report["segments"].values()):
        assert block["auc_lift_over_best_baseline"] > 0
        assert block["model"]["ece"] < 0.05
