"""How good and how fair is the risk model? Metrics, baselines, calibration and a fairness audit.

``evaluate(tenancies, ledger, as_of, model=None)`` returns a JSON-able report:

- Time-based split. Test rows are (tenancy, D) for the scoring dates D in the last ``test_weeks`` before
  as_of − horizon (so every test target is observed). Without a model, one is trained with
  ``model.train(..., as_of=first test date)``: its features and targets end on the first test date, so
  nothing from the test period reaches it. With a model (e.g. trained on another portfolio), it is
  scored on the same test rows.
- Metrics on the same rows for the model and two baselines a landlord already has: ranking by current
  arrears (collectable arrears) and ranking by weeks owed (arrears after grace ÷ weekly rent). ROC AUC,
  average precision, precision in the top 10% (ties split evenly), Brier score, a calibration table
  (deciles of the score: mean predicted vs observed) and the expected calibration error (ECE: the
  row-weighted mean gap over those deciles). Baselines are rankings, not probabilities: their Brier and
  ECE are given after an isotonic fit on the test rows themselves (an optimistic, in-sample mapping).
- Segments: the same metrics on rows not yet ``target_weeks`` in arrears, and on rows with a zero or
  credit balance (the early-warning population), where the baselines cannot rank at all.
- Fairness audit: by tenure_type, vulnerable, payment_method and age_band: score distribution, the rate
  flagged (score ≥ the model's 'medium' threshold), observed rate, false positive and false negative
  rates; per attribute the max/min ratio of each rate over groups with enough rows; and the largest
  such ratio overall, with the groups.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

AUDIT_ATTRIBUTES = ("tenure_type", "vulnerable", "payment_method", "age_band")
MIN_GROUP_ROWS = 100
MIN_GROUP_CLASS = 20  # positives (for FNR) or negatives (for FPR) a group needs for its rate to count
RATIO_FLOOR = 0.01  # a rate below 1% counts as 1% in a disparity ratio (else 0.1% vs 0.2% reads "2x")


# --------------------------------------------------------------------------------------------------
# Metrics.


def roc_auc(y, score) -> float | None:
    """ROC AUC with ties counted as half (Mann–Whitney); None when only one class is present."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    positives, negatives = int(y.sum()), int((~y).sum())
    if not positives or not negatives:
        return None
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def average_precision(y, score) -> float | None:
    """Average precision (area under the precision-recall step curve; tied scores form one step)."""
    y = np.asarray(y).astype(bool)
    if not y.any():
        return None
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(-score, kind="stable")
    sorted_score, sorted_y = score[order], y[order]
    last_of_tie = np.append(sorted_score[1:] != sorted_score[:-1], True)
    true_pos = np.cumsum(sorted_y)[last_of_tie]
    seen = (np.arange(len(y)) + 1)[last_of_tie]
    precision = true_pos / seen
    recall_step = np.diff(np.append(0, true_pos)) / y.sum()
    return float(np.sum(precision * recall_step))


def precision_at(y, score, share: float = 0.10) -> float | None:
    """Share of positives among the top ``share`` of rows by score; rows tied at the cut-off count
    in proportion (the expected value under random tie-breaking)."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    k = math.ceil(share * len(y))
    if not k:
        return None
    cut = np.sort(score)[::-1][k - 1]
    above, tied = score > cut, score == cut
    take = (k - above.sum()) / tied.sum()
    return float((y[above].sum() + take * y[tied].sum()) / k)


def brier(y, probability) -> float:
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean((np.asarray(probability, dtype=np.float64) - y) ** 2))


def calibration_table(y, probability, bins: int = 10) -> list[dict]:
    """Deciles of the predicted probability: rows, mean predicted, observed rate."""
    y = np.asarray(y, dtype=np.float64)
    probability = np.asarray(probability, dtype=np.float64)
    if not len(y):
        return []
    order = np.argsort(probability, kind="stable")
    table = []
    for k, chunk in enumerate(np.array_split(order, bins)):
        if not len(chunk):
            continue
        table.append(
            {
                "decile": k + 1,
                "rows": len(chunk),
                "mean_predicted": round(float(probability[chunk].mean()), 4),
                "observed": round(float(y[chunk].mean()), 4),
                "min_predicted": round(float(probability[chunk].min()), 4),
                "max_predicted": round(float(probability[chunk].max()), 4),
            }
        )
    return table


def expected_calibration_error(y, probability, bins: int = 10) -> float:
    table = calibration_table(y, probability, bins)
    total = sum(row["rows"] for row in table)
    if not total:
        return float("nan")
    gaps = sum(row["rows"] * abs(row["mean_predicted"] - row["observed"]) for row in table)
    return float(gaps / total)


def _round(value, digits: int = 4):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(value, digits)


def classification_metrics(y, probability, share: float = 0.10) -> dict:
    """ROC AUC, average precision, Brier, ECE and precision in the top ``share`` of a probability."""
    y = np.asarray(y)
    return {
        "rows": len(y),
        "positives": int(np.asarray(y).astype(bool).sum()),
        "prevalence": _round(float(np.mean(y)) if len(y) else None),
        "roc_auc": _round(roc_auc(y, probability)),
        "average_precision": _round(average_precision(y, probability)),
        f"precision_top_{round(share * 100)}pct": _round(precision_at(y, probability, share)),
        "brier": _round(brier(y, probability)),
        "ece": _round(expected_calibration_error(y, probability)),
    }


def ranking_metrics(y, score, share: float = 0.10) -> dict:
    """For a ranking that is not a probability (a baseline): ranking metrics, plus Brier and ECE after an
    isotonic fit on the same rows (in-sample, so optimistic for the baseline)."""
    from sklearn.isotonic import IsotonicRegression

    y = np.asarray(y)
    score = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-1e9)
    out = {
        "rows": len(y),
        "roc_auc": _round(roc_auc(y, score)),
        "average_precision": _round(average_precision(y, score)),
        f"precision_top_{round(share * 100)}pct": _round(precision_at(y, score, share)),
    }
    if len(np.unique(y)) == 2:
        mapped = IsotonicRegression(out_of_bounds="clip").fit(score, y).predict(score)
        out["brier_isotonic_in_sample"] = _round(brier(y, mapped))
        out["ece_isotonic_in_sample"] = _round(expected_calibration_error(y, mapped))
    return out


# --------------------------------------------------------------------------------------------------
# Fairness.


def _rate(mask: np.ndarray, within: np.ndarray) -> float | None:
    count = int(within.sum())
    return float(mask[within].mean()) if count else None


def fairness_audit(
    rows: pd.DataFrame,
    score: np.ndarray,
    threshold: float,
    attributes=AUDIT_ATTRIBUTES,
    min_rows: int = MIN_GROUP_ROWS,
    min_class: int = MIN_GROUP_CLASS,
) -> dict:
    """Per attribute and group: score distribution, flag rate (score ≥ threshold), observed rate, FPR, FNR;
    per attribute the max/min ratio of each rate over groups large enough; the largest ratio overall."""
    y = rows["target"].to_numpy().astype(bool)
    score = np.asarray(score, dtype=np.float64)
    flagged = score >= threshold
    report: dict = {"flag": f"risk_score >= {threshold}", "attributes": {}}
    worst = None
    for attribute in attributes:
        if attribute not in rows:
            continue
        values = rows[attribute].astype(object).where(rows[attribute].notna(), "(missing)").astype(str)
        values = values.replace("", "(blank)").to_numpy()
        groups = {}
        for group in sorted(pd.unique(values)):
            member = values == group
            pos, neg = member & y, member & ~y
            quantiles = np.quantile(score[member], [0.1, 0.25, 0.5, 0.75, 0.9])
            groups[group] = {
                "rows": int(member.sum()),
                "observed_rate": _round(_rate(y, member)),
                "mean_score": _round(float(score[member].mean())),
                "score_quantiles": {
                    f"p{p}": _round(float(q)) for p, q in zip((10, 25, 50, 75, 90), quantiles, strict=True)
                },
                "flag_rate": _round(_rate(flagged, member)),
                "false_positive_rate": _round(_rate(flagged, neg)) if neg.sum() >= min_class else None,
                "false_negative_rate": _round(_rate(~flagged, pos)) if pos.sum() >= min_class else None,
                "precision": (
                    _round(_rate(y, member & flagged)) if (member & flagged).sum() >= min_class else None
                ),
                "mean_score_over_observed": _round(
                    float(score[member].mean() / y[member].mean()) if y[member].any() else None
                ),
            }
        ratios = {}
        for metric in ("flag_rate", "false_positive_rate", "false_negative_rate", "mean_score"):
            usable = {
                g: v[metric] for g, v in groups.items() if v["rows"] >= min_rows and v[metric] is not None
            }
            if len(usable) < 2:
                continue
            high = max(usable, key=usable.get)
            low = min(usable, key=usable.get)
            ratio = usable[high] / max(usable[low], RATIO_FLOOR)
            entry = {
                "ratio": _round(ratio, 3),
                "difference": _round(usable[high] - usable[low]),
                "highest": high,
                "highest_value": usable[high],
                "lowest": low,
                "lowest_value": usable[low],
            }
            ratios[metric] = entry
            if worst is None or ratio > worst["ratio"]:
                worst = {"attribute": attribute, "metric": metric, **entry, "ratio": _round(ratio, 3)}
        report["attributes"][attribute] = {"groups": groups, "disparity": ratios}
    report["largest_disparity"] = worst
    if worst:
        report["summary"] = (
            f"largest disparity: {worst['metric'].replace('_', ' ')} {worst['ratio']:.2f}x, "
            f"{worst['attribute']}={worst['highest']} ({worst['highest_value']:.3f}) vs "
            f"{worst['attribute']}={worst['lowest']} ({worst['lowest_value']:.3f})"
        )
    return report


# --------------------------------------------------------------------------------------------------
# The evaluation.


def evaluation_dates(as_of, horizon_weeks: int, test_weeks: int, step_weeks: int) -> list[pd.Timestamp]:
    last = pd.Timestamp(as_of).normalize() - pd.Timedelta(weeks=horizon_weeks)
    count = max(1, test_weeks // max(step_weeks, 1))
    return sorted(last - pd.Timedelta(weeks=step_weeks * k) for k in range(count))


def evaluate(
    tenancies: pd.DataFrame,
    ledger,
    as_of,
    model=None,
    horizon_weeks: int | None = None,
    target_weeks: float | None = None,
    history_weeks: int = 26,
    step_weeks: int = 2,
    test_weeks: int = 8,
    seed: int = 0,
    share: float = 0.10,
    progress=None,
) -> dict:
    """Evaluate a model (or train one on the earlier dates) on the later dates; see the module docstring.

    The horizon and target default to the model's own (8 weeks, 2 weeks' rent without a model)."""
    from awm_frappe.engine import model as risk

    say = progress or (lambda message: None)
    started = time.perf_counter()
    as_of = pd.Timestamp(as_of).normalize()
    trained_here = model is None
    training = (model.metadata.get("training") or {}) if model is not None else {}
    horizon_weeks = int(horizon_weeks or training.get("horizon_weeks") or 8)
    target_weeks = float(target_weeks or training.get("target_weeks") or 2)
    prepared = risk.prepare_model_ledger(ledger, tenancies)
    dates = evaluation_dates(as_of, horizon_weeks, test_weeks, step_weeks)
    if model is None:
        say(f"training on dates up to {dates[0].date()} (outcomes observed by then)")
        model = risk.train(
            tenancies,
            prepared,
            dates[0],
            horizon_weeks=horizon_weeks,
            target_weeks=target_weeks,
            history_weeks=history_weeks,
            step_weeks=step_weeks,
            seed=seed,
            progress=progress,
        )
    say(f"scoring {len(dates)} test dates {dates[0].date()} .. {dates[-1].date()}")
    rows = risk.build_rows(tenancies, prepared, dates, horizon_weeks, target_weeks).frame
    if rows.empty:
        raise risk.ModelError("no test rows: the ledger does not cover the test dates")
    y = rows["target"].to_numpy()
    probability = model.predict_proba(rows, rows["as_of"])
    baselines = {
        "current_arrears": rows["collectable_arrears"].to_numpy(dtype=np.float64),
        "weeks_owed": rows["weeks_owed"].to_numpy(dtype=np.float64),
    }

    def compare(mask: np.ndarray) -> dict:
        out = {"model": classification_metrics(y[mask], probability[mask], share)}
        out["model"]["calibration"] = calibration_table(y[mask], probability[mask])
        for name, score in baselines.items():
            out[f"baseline_{name}"] = ranking_metrics(y[mask], score[mask], share)
        best = max(
            (out[f"baseline_{name}"]["roc_auc"] or 0 for name in baselines),
            default=0,
        )
        if out["model"]["roc_auc"] is not None:
            out["auc_lift_over_best_baseline"] = _round(out["model"]["roc_auc"] - best)
        return out

    everyone = np.ones(len(rows), dtype=bool)
    weeks = rows["weeks_owed"].to_numpy(dtype=np.float64)
    balance = rows["balance"].to_numpy(dtype=np.float64)
    report = {
        "as_of": str(as_of.date()),
        "target": f"arrears after grace >= {target_weeks:g} weeks' rent within {horizon_weeks} weeks",
        "split": {
            "test_dates": [str(d.date()) for d in dates],
            "model_trained_here": trained_here,
            "model_training": model.metadata.get("training"),
        },
        "rows": len(rows),
        "tenancies": int(rows["tenancy"].nunique()),
        "overall": compare(everyone),
        "segments": {
            f"not_yet_{target_weeks:g}_weeks_in_arrears": compare(~(weeks >= target_weeks)),
            "zero_or_credit_balance": compare(balance <= 0),
        },
    }
    bands = model.bands(probability, balance)
    report["bands"] = {
        band: {
            "rows": int((bands == band).sum()),
            "observed_rate": _round(_rate(y.astype(bool), bands == band)),
            "mean_score": _round(float(probability[bands == band].mean()) if (bands == band).any() else None),
        }
        for band in risk.BANDS
    }
    report["fairness"] = fairness_audit(rows, probability, model.thresholds["medium"])
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


def evaluate_from_dir(data, model_path=None, as_of=None, progress=None, **options) -> dict:
    """Read a data directory and evaluate (training on its earlier dates when no model file is given).
    ``as_of`` defaults to the latest ledger date."""
    from awm_frappe.engine import model as risk
    from awm_frappe.engine.io import read_inputs

    inputs = read_inputs(data)
    as_of = pd.to_datetime(inputs.ledger["date"]).max() if as_of is None else pd.Timestamp(as_of)
    model = risk.load_model(model_path) if model_path else None
    return evaluate(inputs.tenancies, inputs.ledger, as_of, model=model, progress=progress, **options)


def summary_lines(report: dict) -> list[str]:
    """A short human-readable digest of an evaluation report."""
    lines = [f"as of {report['as_of']}: {report['target']}; {report['rows']:,} test rows"]

    def line(label: str, metrics: dict) -> str:
        top = next((v for k, v in metrics.items() if k.startswith("precision_top")), None)
        parts = [
            f"AUC {metrics.get('roc_auc')}",
            f"AP {metrics.get('average_precision')}",
            f"P@10% {top}",
        ]
        if "brier" in metrics:
            parts += [f"Brier {metrics['brier']}", f"ECE {metrics['ece']}"]
        return f"  {label:<28} " + "  ".join(parts)

    for title, block in [("overall", report["overall"]), *report["segments"].items()]:
        lines.append(f"{title} (prevalence {block['model']['prevalence']}):")
        lines.append(line("model", block["model"]))
        for key, metrics in block.items():
            if key.startswith("baseline_"):
                lines.append(line(key.removeprefix("baseline_"), metrics))
        if "auc_lift_over_best_baseline" in block:
            lines.append(f"  AUC lift over best baseline: {block['auc_lift_over_best_baseline']}")
    if report["fairness"].get("summary"):
        lines.append(report["fairness"]["summary"])
    return lines
