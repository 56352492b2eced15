"""The risk model: no leakage, faithful reasons, bands, a safe artefact, determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from awm_frappe.engine import model as risk
from awm_frappe.engine import synth
from awm_frappe.engine.features import compute_features, prepare_ledger
from tests.factories import make_ledger, make_tenancies, make_tenancy

END = pd.Timestamp("2026-03-30")  # a Monday
FEATURE_INDEX = {name: k for k, name in enumerate(risk.FEATURE_NAMES)}


def toy_portfolio(n: int = 400, weeks: int = 40, seed: int = 0):
    """A small portfolio with the archetypes the model must tell apart: steady payers, chronic late
    payers, an income shock at a random week, and a Universal Credit five-week wait after a claim."""
    rng = np.random.default_rng(seed)
    mondays = pd.date_range(end=END, periods=weeks, freq="W-MON")
    ids = np.array([f"T{i:04d}" for i in range(n)])
    rent = rng.uniform(80, 160, n).round(2)
    kind = rng.choice(["steady", "late", "shock", "uc"], n, p=[0.6, 0.15, 0.15, 0.1])
    event = rng.integers(8, weeks, n)
    week = np.arange(weeks)
    paid = np.repeat(rent[:, None], weeks, axis=1)
    late = (kind == "late")[:, None] & (rng.random((n, weeks)) < 0.35)
    shock = (kind == "shock")[:, None] & (week[None, :] >= event[:, None])
    wait = (kind == "uc")[:, None] & (week[None, :] >= event[:, None]) & (week[None, :] < event[:, None] + 5)
    paid = np.where(late | wait, 0.0, paid)
    paid = np.where(shock, paid * rng.uniform(0, 0.5, (n, weeks)), paid).round(2)
    charge_days = np.broadcast_to(mondays.to_numpy()[None, :], (n, weeks))
    pay_days = charge_days + (rng.integers(0, 5, (n, weeks)) * np.timedelta64(1, "D")).astype(
        "timedelta64[ns]"
    )
    charges = pd.DataFrame(
        {"tenancy": np.repeat(ids, weeks), "date": charge_days.ravel(), "amount": np.repeat(rent, weeks)}
    ).assign(kind="rent")
    on_uc = (kind == "uc")[:, None] & (week[None, :] >= event[:, None] + 5)
    payments = pd.DataFrame(
        {
            "tenancy": np.repeat(ids, weeks),
            "date": pay_days.ravel(),
            "amount": -paid.ravel(),
            "kind": np.where(on_uc, "uc", "payment").ravel(),
        }
    )
    ledger = pd.concat([charges, payments[payments["amount"] < 0]], ignore_index=True)
    claim = np.where(kind == "uc", mondays.to_numpy()[np.minimum(event, weeks - 1)], np.datetime64("NaT"))
    tenancies = pd.DataFrame(
        {
            "tenancy": ids,
            "patch": "P1",
            "tenure_type": rng.choice(["secure", "starter"], n),
            "weekly_rent": rent,
            "start_date": pd.Timestamp("2020-01-06"),
            "end_date": pd.NaT,
            "payment_method": np.where(kind == "uc", "universal_credit", "direct_debit"),
            "uc_claim_date": pd.to_datetime(claim),
            "vulnerable": rng.random(n) < 0.1,
            "age_band": rng.choice(["16-24", "25-49", "50+"], n),
        }
    )
    return tenancies, ledger


@pytest.fixture(scope="module")
def portfolio():
    return toy_portfolio()


@pytest.fixture(scope="module")
def trained(portfolio):
    tenancies, ledger = portfolio
    return risk.train(tenancies, ledger, END, history_weeks=20, seed=3)


@pytest.fixture(scope="module")
def synthetic():
    """A small synthetic landlord (engine.synth): every payer archetype, all three account states."""
    portfolio = synth.synthesize(2000, 40, 4)
    return portfolio.tenancies, portfolio.ledger, portfolio.as_of


@pytest.fixture(scope="module")
def synthetic_model(synthetic):
    tenancies, ledger, as_of = synthetic
    return risk.train(tenancies, ledger, as_of, seed=0)


def case_frame(tenancies, ledger, as_of=END):
    """What the nightly pipeline hands the model: tenancy columns + ledger features, by tenancy."""
    return tenancies.set_index("tenancy").join(compute_features(tenancies, ledger, as_of))


# --- leakage -------------------------------------------------------------------------------------


def wild(tenancies, start, end, seed=9):
    """Huge random charges and payments on every tenancy between start and end (inclusive)."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D")
    rows = len(tenancies) * 6
    return pd.DataFrame(
        {
            "tenancy": rng.choice(tenancies["tenancy"].to_numpy(), rows),
            "date": rng.choice(days.to_numpy(), rows),
            "amount": rng.normal(0, 5000, rows).round(2),
            "kind": rng.choice(["rent", "payment", "uc", "hb", "adjustment"], rows),
        }
    )


def test_features_at_d_ignore_transactions_after_d(portfolio):
    tenancies, ledger = portfolio
    day = END - pd.Timedelta(weeks=12)
    before = risk.build_rows(tenancies, ledger, [day]).frame
    noisy = pd.concat([ledger, wild(tenancies, day + pd.Timedelta(days=1), END)], ignore_index=True)
    after = risk.build_rows(tenancies, noisy, [day]).frame
    inputs_before = risk.model_inputs(before, before["as_of"])
    inputs_after = risk.model_inputs(after, after["as_of"])
    pd.testing.assert_frame_equal(inputs_before, inputs_after)
    features = [c for c in before.columns if c not in ("target",)]
    pd.testing.assert_frame_equal(before[features], after[features])
    assert not before["target"].equals(after["target"])  # the noise did land inside the target window


def test_targets_at_d_ignore_transactions_after_the_horizon(portfolio):
    tenancies, ledger = portfolio
    day = END - pd.Timedelta(weeks=20)
    before = risk.build_rows(tenancies, ledger, [day], horizon_weeks=8).frame
    noisy = pd.concat([ledger, wild(tenancies, day + pd.Timedelta(weeks=8, days=1), END)], ignore_index=True)
    after = risk.build_rows(tenancies, noisy, [day], horizon_weeks=8).frame
    pd.testing.assert_frame_equal(before, after)


def test_training_ignores_everything_after_as_of(portfolio):
    tenancies, ledger = portfolio
    as_of = END - pd.Timedelta(weeks=4)
    clean = risk.train(tenancies, ledger, as_of, history_weeks=12, seed=1)
    noisy = pd.concat([ledger, wild(tenancies, as_of + pd.Timedelta(days=1), END)], ignore_index=True)
    dirty = risk.train(tenancies, noisy, as_of, history_weeks=12, seed=1)
    assert clean.model_json() == dirty.model_json()


def test_a_universal_credit_claim_after_d_is_not_seen_at_d():
    tenancies = make_tenancies(
        make_tenancy("T1", payment_method="universal_credit", uc_claim_date=pd.Timestamp("2026-02-02"))
    )
    ledger = make_ledger(("T1", "2025-12-01", 100.0, "rent"))
    frame = risk.build_rows(
        tenancies, ledger, [pd.Timestamp("2026-01-05"), pd.Timestamp("2026-02-16")], 1
    ).frame
    inputs = risk.model_inputs(frame, frame["as_of"])
    assert np.isnan(inputs["uc_claim_weeks"].iloc[0])
    assert inputs["uc_claim_weeks"].iloc[1] == 2


def test_target_is_two_weeks_rent_after_grace_within_the_horizon():
    day = pd.Timestamp("2026-01-05")  # Monday
    tenancies = make_tenancies(make_tenancy("T1"), make_tenancy("T2"), make_tenancy("T3"))
    rows = [(t, day - pd.Timedelta(weeks=k), 100.0, "rent") for t in ("T1", "T2", "T3") for k in range(4)]
    rows += [
        (t, day - pd.Timedelta(weeks=k), -100.0, "payment") for t in ("T1", "T2", "T3") for k in range(4)
    ]
    # Hackney's grace: on the Monday of the k-th unpaid charge, collectable arrears are k - 1 weeks and
    # after a week's grace k - 2 (k - 1 a week later if no more rent is charged). T1 stops paying: 2 weeks
    # after grace on the 4th unpaid Monday.
    rows += [("T1", day + pd.Timedelta(weeks=k), 100.0, "rent") for k in range(1, 5)]
    # T2 misses two rents only: 1 week after grace at most, never 2
    rows += [("T2", day + pd.Timedelta(weeks=k), 100.0, "rent") for k in range(1, 3)]
    # T3 misses four rents but reaches 2 weeks only after the 4-week horizon
    rows += [("T3", day + pd.Timedelta(weeks=k), 100.0, "rent") for k in range(2, 6)]
    frame = risk.build_rows(tenancies, make_ledger(*rows), [day], horizon_weeks=4).frame.set_index("tenancy")
    assert frame["target"].to_dict() == {"T1": 1, "T2": 0, "T3": 0}


# --- reasons are the model's own contributions -----------------------------------------------------


def state_logit(model: risk.RiskModel, frame: pd.DataFrame) -> np.ndarray:
    """Each row's calibrated log-odds straight from its state's weights, without ``contributions``:
    slope × (intercept + the weights of the row's bins) + offset."""
    inputs, states = risk.model_inputs(frame), model.states(frame)
    logit = np.empty(len(frame))
    for code, segment in enumerate(model.segments):
        rows = states == code
        raw = segment.intercept + sum(
            np.asarray(spec.weights)[spec.bins(inputs.loc[rows, spec.name])] for spec in segment.inputs
        )
        logit[rows] = segment.slope * raw + segment.offset
    return logit


def test_contributions_add_up_to_the_score(synthetic, synthetic_model):
    tenancies, ledger, as_of = synthetic
    frame = risk.with_ledger_columns(case_frame(tenancies, ledger, as_of), ledger)
    contributions = synthetic_model.explain(frame)
    logit = synthetic_model.base_logit() + contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(logit, state_logit(synthetic_model, frame), atol=1e-9)
    scores = synthetic_model.score(frame, reasons=False)["risk_score"]
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), scores, atol=5e-5)
    assert set(synthetic_model.states(frame)) == {0, 1, 2}


def test_reasons_name_the_features_that_move_the_score_most(synthetic, synthetic_model):
    """Occlusion: replace one input at a time by its value on every training row that fitted the same
    account state's model, and average the log-odds. The move must equal the input's contribution (for
    the input that places the account in its state, plus the state's base less the model's: the part of
    the score that being in that state explains), and the input whose removal moves the score most must
    be the first reason, in words."""
    tenancies, ledger, as_of = synthetic
    trained = synthetic_model
    frame = risk.with_ledger_columns(case_frame(tenancies, ledger, as_of), ledger)
    scored = trained.score(frame)
    rows = scored.groupby("risk_band").head(6).index
    rows = rows[scored.loc[rows, "risk_band"].isin(["high", "medium", "early_warning"])]
    assert len(rows) == 18
    dates = risk.scoring_dates(as_of, 8, 26, 2)
    training = risk.build_rows(tenancies, ledger, dates).frame
    held_out = pd.to_datetime(trained.metadata["training"]["calibration_dates"])
    training = training[~training["as_of"].isin(held_out)]  # the rows the weights were fitted on
    fitted = risk.model_inputs(training, training["as_of"])
    fitted_state = trained.states(training)
    inputs = risk.model_inputs(frame.loc[rows])
    states = trained.states(frame.loc[rows])
    base = trained.base_logit() + trained.contributions(inputs, states).sum(axis=1)
    assert set(states) == {0, 1, 2}  # accounts in every state are explained
    for position, tenancy in enumerate(rows):
        segment = trained.segments[states[position]]
        background = fitted[fitted_state == states[position]]
        same_state = np.full(len(background), states[position])
        moves = {}
        for name in risk.FEATURE_NAMES:
            occluded = inputs.iloc[np.repeat(position, len(background))].reset_index(drop=True)
            occluded[name] = background[name].to_numpy()
            perturbed = trained.base_logit() + trained.contributions(occluded, same_state).sum(axis=1)
            moves[name] = base[position] - perturbed.mean()
        moves[risk.STATE_INPUT[segment.name]] += segment.base_logit() - trained.base_logit()
        top = max(moves, key=moves.get)
        explained = trained.explain(frame.loc[[tenancy]]).iloc[0]
        assert explained[top] == pytest.approx(moves[top], abs=1e-6)
        first_reason = scored.loc[tenancy, "risk_reasons"].split(risk.REASON_SEPARATOR)[0]
        assert first_reason == risk.reason_text(top, frame.loc[[tenancy]])[0]


def test_an_account_already_behind_is_told_so_first_and_a_clear_one_its_credit(synthetic, synthetic_model):
    """The input that places an account in its state carries the state's own base value: being 2 weeks
    behind already is why a debt is high risk, and being in credit why a clear account is low risk."""
    tenancies, ledger, as_of = synthetic
    frame = risk.with_ledger_columns(case_frame(tenancies, ledger, as_of), ledger)
    scored = synthetic_model.score(frame)
    first = scored["risk_reasons"].str.split(risk.REASON_SEPARATOR, regex=False).str[0]
    states = synthetic_model.states(frame)
    behind = first[states == 2]
    assert len(behind) > 100
    assert behind.str.contains(r"^£[\d,.]+ owed after a week's grace").mean() > 0.95
    in_credit = first[(states == 0) & (frame["balance"] < 0).to_numpy() & scored["risk_band"].eq("low")]
    assert len(in_credit) > 100
    assert in_credit.str.contains(r"^balance £[\d,.]+ in credit$").mean() > 0.8


def test_low_risk_reasons_say_what_keeps_the_risk_low(synthetic, synthetic_model):
    tenancies, ledger, as_of = synthetic
    trained = synthetic_model
    frame = risk.with_ledger_columns(case_frame(tenancies, ledger, as_of), ledger)
    scored = trained.score(frame)
    low = scored.index[scored["risk_band"].eq("low")][:20]
    contributions = trained.explain(frame.loc[low])
    for tenancy in low:
        lowest = contributions.loc[tenancy].idxmin()
        assert contributions.loc[tenancy, lowest] < 0
        first_reason = scored.loc[tenancy, "risk_reasons"].split(risk.REASON_SEPARATOR)[0]
        assert first_reason == risk.reason_text(lowest, frame.loc[[tenancy]])[0]


def test_reasons_quote_the_tenancys_own_figures():
    model = tiny_model()
    tenancies = make_tenancies(make_tenancy("T1", weekly_rent=100.0))
    rows = [("T1", pd.Timestamp("2026-03-30") - pd.Timedelta(weeks=k), 100.0, "rent") for k in range(10)]
    ledger = make_ledger(*rows)
    reasons = model.score(case_frame(tenancies, ledger), ledger=ledger)["risk_reasons"].iloc[0].split(" | ")
    assert reasons[0] == "£800 owed after a week's grace (8.0 weeks' rent)"
    assert reasons[1] == "no payment in 8 of the last 8 weeks"
    assert len(reasons) == 3


# --- bands ------------------------------------------------------------------------------------------


def tiny_model(**thresholds) -> risk.RiskModel:
    """A hand-set model, the same in every account state: risk rises with weeks owed, then with weeks
    without payment."""
    inputs = []
    for name in risk.FEATURE_NAMES:
        kind = risk.MODEL_FEATURES[name][0]
        if name == "weeks_owed":
            inputs.append(risk._Input(name, kind, edges=[0.5, 2.0], weights=[0.0, 1.0, 3.0, 0.0]))
        elif name == "weeks_without_payment_8w":
            inputs.append(risk._Input(name, kind, edges=[1.5], weights=[0.0, 1.5, 0.0]))
        else:
            inputs.append(risk._Input(name, kind, edges=[], weights=[0.0, 0.0], reference=0.0))
    return risk.RiskModel.single(inputs, -3.0, thresholds=thresholds or dict(risk.DEFAULT_THRESHOLDS))


def test_bands_and_early_warning():
    model = tiny_model(high=0.5, medium=0.2)
    score = np.array([0.9, 0.9, 0.3, 0.3, 0.1, 0.1, 0.2, 0.5])
    balance = np.array([100, -5, 100, 0, 100, -50, 0, 10])
    assert model.bands(score, balance).tolist() == [
        "high",
        "early_warning",  # rated at risk with a credit balance
        "medium",
        "early_warning",  # zero balance counts
        "low",
        "low",  # in credit but not at risk: just low
        "early_warning",  # exactly at the medium threshold
        "high",
    ]


def test_score_returns_the_documented_columns(portfolio, trained):
    tenancies, ledger = portfolio
    frame = case_frame(tenancies, ledger)
    out = trained.score(frame, ledger=ledger)
    assert list(out.columns) == ["risk_score", "risk_band", "risk_reasons"]
    assert out.index.equals(frame.index)
    assert out["risk_score"].between(0, 1).all()
    assert set(out["risk_band"]) <= set(risk.BANDS)
    assert out["risk_reasons"].str.count(r" \| ").eq(2).all()
    assert out["risk_band"].eq("high").any() and out["risk_band"].eq("low").any()


def test_score_refuses_a_frame_without_the_features():
    with pytest.raises(risk.ModelError, match="weeks_owed"):
        tiny_model().score(pd.DataFrame({"balance": [1.0]}))


def test_score_without_the_ledger_says_what_it_needs(portfolio):
    tenancies, ledger = portfolio
    with pytest.raises(risk.ModelError, match="pass ledger="):
        tiny_model().score(case_frame(tenancies, ledger))


def test_payments_by_kind_ignore_transactions_after_as_of():
    ledger = make_ledger(
        ("T1", "2026-03-02", -50.0, "uc"),
        ("T1", "2026-03-03", -30.0, "payment"),
        ("T1", "2026-03-04", -20.0, "hb"),
        ("T1", "2025-11-30", -999.0, "uc"),  # more than 13 weeks before: outside the window
        ("T1", "2026-03-12", -999.0, "uc"),  # after as_of
        ("T1", "2026-03-02", 100.0, "rent"),
    )
    prepared = risk.prepare_model_ledger(ledger, make_tenancies(make_tenancy("T1")))
    values = risk.ledger_columns(prepared, ["T1", "T9"], "2026-03-11")
    assert values.loc["T1"].to_dict() == {
        "uc_paid_13w": 50.0,
        "hb_paid_13w": 20.0,
        "paid_13w": 100.0,
        "payments_13w": 3.0,
    }
    assert values.loc["T9"].to_dict() == dict.fromkeys(risk.LEDGER_COLUMNS, 0.0)


# --- artefact ---------------------------------------------------------------------------------------


def test_artefact_round_trip_scores_identically(tmp_path, portfolio, trained):
    tenancies, ledger = portfolio
    path = tmp_path / "model.json"
    metadata = risk.save_model(trained, path)
    loaded = risk.load_model(path)
    frame = case_frame(tenancies, ledger)
    pd.testing.assert_frame_equal(trained.score(frame, ledger=ledger), loaded.score(frame, ledger=ledger))
    for key in ("model_version", "features", "training", "metrics", "library_versions", "content_hash"):
        assert key in metadata
    assert metadata["training"]["horizon_weeks"] == 8 and metadata["training"]["target_weeks"] == 2
    assert metadata["content_hash"].startswith("sha256:")


def test_a_model_loaded_with_the_inputs_scores_without_being_handed_the_ledger(tmp_path, portfolio, trained):
    from awm_frappe.engine.validation import Inputs

    tenancies, ledger = portfolio
    path = tmp_path / "model.json"
    risk.save_model(trained, path)
    bound = risk.load_model(path, inputs=Inputs(tenancies=tenancies, ledger=ledger), as_of=END)
    frame = case_frame(tenancies, ledger)
    pd.testing.assert_frame_equal(bound.score(frame), trained.score(frame, ledger=ledger))


def test_loading_a_model_with_another_feature_list_fails_clearly(tmp_path, trained, monkeypatch):
    path = tmp_path / "model.json"
    risk.save_model(trained, path)
    monkeypatch.setattr(risk, "FEATURE_NAMES", (*risk.FEATURE_NAMES, "months_on_uc"))
    with pytest.raises(risk.ModelError, match=r"different feature list.*expects months_on_uc.*awm train"):
        risk.load_model(path)


def test_loading_a_model_missing_a_feature_fails_clearly(tmp_path, trained):
    path = tmp_path / "model.json"
    risk.save_model(trained, path)
    document = json.loads(path.read_text())
    document["metadata"]["features"] = document["metadata"]["features"][1:]
    path.write_text(json.dumps(document))
    with pytest.raises(risk.ModelError, match=r"different feature list.*weeks_owed"):
        risk.load_model(path)


def test_a_tampered_artefact_is_refused(tmp_path, trained):
    path = tmp_path / "model.json"
    risk.save_model(trained, path)
    document = json.loads(path.read_text())
    document["model"]["segments"][0]["intercept"] += 1
    path.write_text(json.dumps(document))
    with pytest.raises(risk.ModelError, match="content hash"):
        risk.load_model(path)


def test_a_model_with_other_account_states_is_refused(tmp_path, trained):
    path = tmp_path / "model.json"
    risk.save_model(trained, path)
    document = json.loads(path.read_text())
    del document["model"]["segments"][2]
    document["metadata"]["content_hash"] = "sha256:" + risk._content_hash(document["model"])
    path.write_text(json.dumps(document))
    with pytest.raises(risk.ModelError, match=r"account states \(clear, owing\).*awm train"):
        risk.load_model(path)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(risk.ModelError, match="not a risk model"):
        risk.load_model(path)


def test_an_old_model_version_is_refused(tmp_path, trained, monkeypatch):
    path = tmp_path / "model.json"
    risk.save_model(trained, path)
    monkeypatch.setattr(risk, "MODEL_VERSION", risk.MODEL_VERSION + 1)
    with pytest.raises(risk.ModelError, match="version"):
        risk.load_model(path)


def test_backtesting_with_a_model_trained_on_the_future_warns(tmp_path, trained):
    path = tmp_path / "model.json"
    risk.save_model(trained, path)
    with pytest.warns(UserWarning, match="sees the future"):
        risk.load_model(path, as_of=END - pd.Timedelta(weeks=30))


# --- training ------------------------------------------------------------------------------------------


def test_training_is_deterministic_and_calibrated(portfolio, trained):
    tenancies, ledger = portfolio
    again = risk.train(tenancies, ledger, END, history_weeks=20, seed=3)
    assert again.model_json() == trained.model_json()
    holdout = trained.metadata["metrics"]["holdout"]
    assert holdout["roc_auc"] > 0.85
    assert holdout["ece"] < 0.05


def test_each_account_state_has_its_own_model(synthetic_model):
    states = synthetic_model.metadata["training"]["segments"]
    assert list(states) == list(risk.SEGMENTS)
    assert all(states[name]["fitted_on"] == name for name in risk.SEGMENTS)
    rates = [states[name]["positive_rate"] for name in risk.SEGMENTS]
    assert rates == sorted(rates)  # clear accounts fall behind least, accounts already behind stay so
    # each state's bins are cut on its own accounts: clear ones never owe, so their balance bins stop at 0
    clear, behind = (synthetic_model.segments[k].inputs[FEATURE_INDEX["balance_weeks"]] for k in (0, 2))
    assert max(clear.edges) <= 0 < min(behind.edges)


def test_a_state_with_too_few_outcomes_is_fitted_and_calibrated_on_all_rows(portfolio, trained):
    """In the toy portfolio every account already behind stays behind (one outcome only) and few clear
    accounts fall behind: both states borrow the model fitted on all rows and its calibration on all
    holdout rows, but their contributions are still measured against accounts in the same state, so they
    average 0 there. The owing state, with enough of both outcomes, is fitted and calibrated on its own."""
    log = trained.metadata["training"]["segments"]
    assert log["behind"]["positive_rate"] == 1.0
    assert [log[name]["fitted_on"] for name in risk.SEGMENTS] == ["all", "owing", "all"]
    assert [log[name]["calibrated_on"] for name in risk.SEGMENTS] == ["all", "owing", "all"]
    tenancies, ledger = portfolio
    held_out = pd.to_datetime(trained.metadata["training"]["calibration_dates"])
    rows = risk.build_rows(tenancies, ledger, risk.scoring_dates(END, 8, 20, 2)).frame
    inputs, states = risk.model_inputs(rows, rows["as_of"]), trained.states(rows)
    holdout = rows["as_of"].isin(held_out).to_numpy()
    for code, segment in enumerate(trained.segments):
        own = inputs[(states == code) & ~holdout]
        np.testing.assert_allclose(segment.contributions(own).mean(axis=0), 0, atol=1e-9)
    clear, behind = trained.segments[0], trained.segments[2]
    assert (clear.slope, clear.offset) == (behind.slope, behind.offset)
    for a, b in zip(clear.inputs, behind.inputs, strict=True):
        assert a.edges == b.edges and a.weights[:-1] == b.weights[:-1]  # bar "missing", which says nothing
    # Platt scaling matches the mean prediction to the outcome on the rows it was fitted on
    probability = trained.predict_proba(rows, rows["as_of"])
    pooled = holdout & (states != 1)
    everyone = trained.segments[0]
    raw_all = everyone.base_logit() + everyone.contributions(inputs[holdout]).sum(axis=1)
    observed = rows.loc[holdout, "target"].mean()
    assert (1 / (1 + np.exp(-raw_all))).mean() == pytest.approx(observed, abs=1e-3)
    owing = holdout & (states == 1)
    assert probability[owing].mean() == pytest.approx(rows.loc[owing, "target"].mean(), abs=1e-3)
    assert pooled.any()


def test_every_state_of_the_synthetic_landlord_is_calibrated_on_its_own_holdout_rows(
    synthetic, synthetic_model
):
    tenancies, ledger, _ = synthetic
    meta = synthetic_model.metadata["training"]
    rows = risk.build_rows(tenancies, ledger, pd.to_datetime(meta["calibration_dates"])).frame
    probability = synthetic_model.predict_proba(rows, rows["as_of"])
    states = synthetic_model.states(rows)
    for code, name in enumerate(risk.SEGMENTS):
        assert meta["segments"][name]["calibrated_on"] == name
        mine = states == code
        assert probability[mine].mean() == pytest.approx(rows.loc[mine, "target"].mean(), abs=1e-3), name


def test_account_states_from_the_case_frame_figures():
    frame = pd.DataFrame(
        {
            "balance": [-50.0, 0.0, 350.0, 350.0, 150.0, 350.0, 350.0],
            "arrears_after_grace": [250.0, 0.0, 250.0, 199.996, 50.0, 250.0, 250.0],
            "weekly_rent": [100.0, 100.0, 100.0, 100.0, 100.0, np.nan, 0.0],
        }
    )
    # in credit after this week's payments is clear even with 2.5 weeks' collectable arrears before them;
    # 2 weeks to the half-penny is behind, like the target; unknown rent is owing
    assert risk.account_states(frame, 2).tolist() == [0, 0, 2, 2, 1, 1, 1]
    assert risk.account_states(frame, 3).tolist() == [0, 0, 1, 1, 1, 1, 1]


def test_training_accepts_a_prepared_ledger(portfolio, trained):
    tenancies, ledger = portfolio
    prepared = risk.prepare_model_ledger(ledger, tenancies)
    again = risk.train(tenancies, prepared, END, history_weeks=20, seed=3)
    assert again.model_json() == trained.model_json()


def test_training_refuses_a_features_prepared_ledger(portfolio):
    tenancies, ledger = portfolio
    with pytest.raises(risk.ModelError, match="payments by kind"):
        risk.train(tenancies, prepare_ledger(ledger, tenancies), END)


def test_training_without_both_outcomes_fails_clearly():
    tenancies = make_tenancies(make_tenancy("T1"))
    ledger = make_ledger(("T1", "2026-01-05", 100.0, "rent"), ("T1", "2026-01-05", -100.0, "payment"))
    with pytest.raises(risk.ModelError, match="only one outcome"):
        risk.train(tenancies, ledger, END, history_weeks=4)
