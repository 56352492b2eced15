"""`awm synth` then `awm run` on the export, as a landlord trying the tool would."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from awm_frappe.engine.cli import main
from awm_frappe.engine.packs import pack_path
from awm_frappe.engine.schema import DECISION_COLUMNS


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export")
    assert (
        main(["synth", "--tenancies", "400", "--weeks", "30", "--seed", "3", "--out", str(out), "--quiet"])
        == 0
    )
    return out


def _as_of(export: Path) -> str:
    return json.loads((export / "portfolio.json").read_text())["as_of"][:10]


def test_run_writes_one_decision_per_tenancy_and_a_summary(export, tmp_path, capsys):
    out = tmp_path / "night"
    assert main(["run", "--data", str(export), "--as-of", _as_of(export), "--out", str(out), "--quiet"]) == 0
    decisions = pd.read_csv(out / "decisions.csv", keep_default_na=False)
    tenancies = pd.read_csv(export / "tenancies.csv", keep_default_na=False)
    assert list(decisions.columns) == [name for name, _ in DECISION_COLUMNS]
    assert sorted(decisions["tenancy"]) == sorted(tenancies["tenancy"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tenancies"] == len(tenancies)
    assert sum(summary["actions"].values()) == int((decisions["action"] != "none").sum())
    assert summary["actions"], "a synthetic portfolio with arrears must produce some actions"
    assert (out / "rejects.csv").exists()
    printed = capsys.readouterr().out
    assert "handled automatically" in printed


def test_run_with_the_hackney_pack_uses_its_action_codes(export, tmp_path):
    out = tmp_path / "hackney"
    args = ["run", "--data", str(export), "--as-of", _as_of(export), "--rules", "hackney-2020"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    actions = set(pd.read_csv(out / "decisions.csv", keep_default_na=False)["action"]) - {"none"}
    hackney_codes = {r["action"]["code"] for r in json.loads(pack_path("hackney-2020").read_text())["rules"]}
    assert actions and actions <= hackney_codes


def test_a_malformed_rule_is_rejected_and_the_others_still_run(export, tmp_path):
    pack = json.loads(pack_path("uk-ladder").read_text())
    pack["rules"].insert(
        0,
        {
            "name": "broken",
            "when": {"field": "no_such_field", "op": ">", "value": 1},
            "action": {"type": "send_message", "code": "sms"},
        },
    )
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps(pack))
    out = tmp_path / "night"
    args = ["run", "--data", str(export), "--as-of", _as_of(export), "--rules", str(rules_file)]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    rejects = pd.read_csv(out / "rejects.csv", keep_default_na=False)
    broken = rejects[rejects["file"] == "rules"]
    assert broken["column"].tolist() == ["broken"]
    assert "no_such_field" in broken["reason"].iloc[0]
    decisions = pd.read_csv(out / "decisions.csv", keep_default_na=False)
    assert "broken" not in set(decisions["rule"])
    assert (decisions["action"] != "none").any()


def test_bad_rows_go_to_rejects_and_the_rest_are_decided(export, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("cases", "actions", "officers", "portfolio"):
        for path in export.glob(f"{name}.*"):
            (data / path.name).write_bytes(path.read_bytes())
    tenancies = pd.read_csv(export / "tenancies.csv", dtype=str, keep_default_na=False)
    tenancies.loc[0, "weekly_rent"] = "0"
    tenancies.to_csv(data / "tenancies.csv", index=False)
    ledger = pd.read_csv(export / "ledger.csv", dtype=str, keep_default_na=False)
    ledger.loc[5, "amount"] = "twelve"
    ledger.loc[6, "tenancy"] = "NO-SUCH-TENANCY"
    ledger.to_csv(data / "ledger.csv", index=False)

    out = tmp_path / "night"
    assert main(["run", "--data", str(data), "--as-of", _as_of(export), "--out", str(out), "--quiet"]) == 0
    rejects = pd.read_csv(out / "rejects.csv", keep_default_na=False)
    reasons = dict(zip(rejects["column"] + "@" + rejects["file"], rejects["reason"], strict=False))
    assert "weekly_rent must be greater than 0" in reasons["weekly_rent@tenancies"]
    assert "'twelve' is not a number" in reasons["amount@ledger"]
    assert reasons["tenancy@ledger"] == "unknown or rejected tenancy"
    decisions = pd.read_csv(out / "decisions.csv", keep_default_na=False)
    assert len(decisions) == len(tenancies) - 1
    assert tenancies.loc[0, "tenancy"] not in set(decisions["tenancy"])


def test_a_missing_required_column_is_a_clear_error(export, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    pd.read_csv(export / "tenancies.csv", dtype=str).to_csv(data / "tenancies.csv", index=False)
    pd.read_csv(export / "ledger.csv", dtype=str).drop(columns=["amount"]).to_csv(
        data / "ledger.csv", index=False
    )
    code = main(
        ["run", "--data", str(data), "--as-of", _as_of(export), "--out", str(tmp_path / "o"), "--quiet"]
    )
    assert code == 2
    assert "ledger: missing required column(s) amount" in capsys.readouterr().err


def test_extra_export_columns_named_like_derived_fields_do_not_break_the_run(export, tmp_path):
    """Housing-system exports often carry their own balance or stage; ours are computed from the ledger."""
    data = tmp_path / "data"
    data.mkdir()
    for path in export.iterdir():
        (data / path.name).write_bytes(path.read_bytes())
    tenancies = pd.read_csv(export / "tenancies.csv", dtype=str, keep_default_na=False)
    tenancies.assign(balance="999999", stage="eviction", risk_score="x").to_csv(
        data / "tenancies.csv", index=False
    )
    plain, extra = tmp_path / "plain", tmp_path / "extra"
    for source, out in ((export, plain), (data, extra)):
        assert (
            main(["run", "--data", str(source), "--as-of", _as_of(export), "--out", str(out), "--quiet"]) == 0
        )
    pd.testing.assert_frame_equal(
        pd.read_csv(plain / "decisions.csv", keep_default_na=False),
        pd.read_csv(extra / "decisions.csv", keep_default_na=False),
    )


def test_closed_cases_leave_no_stage_and_untouched_cases_keep_theirs(export, tmp_path):
    out = tmp_path / "night"
    assert main(["run", "--data", str(export), "--as-of", _as_of(export), "--out", str(out), "--quiet"]) == 0
    decisions = pd.read_csv(out / "decisions.csv", keep_default_na=False)
    closed = decisions[decisions["stage_change"] == "close"]
    untouched = decisions[(decisions["action"] == "none") & (decisions["stage_from"] != "")]
    assert len(closed) and len(untouched)
    assert (closed["stage_to"] == "").all()
    assert (untouched["stage_to"] == untouched["stage_from"]).all()


def test_simulate_several_seeds_prints_each_and_the_range(tmp_path, capsys):
    out = tmp_path / "seeds"
    args = ["simulate", "--tenancies", "150", "--weeks", "2", "--seeds", "3", "4", "--no-model"]
    assert main([*args, "--no-report", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "seeds.json").read_text())
    assert summary["seeds"] == [3, 4]
    for seed in (3, 4):
        results = json.loads((out / f"seed-{seed}" / "results.json").read_text())
        assert results["config"]["seed"] == seed
        reduction = results["comparison"]["caseload_reduction"]
        assert any(line.split()[:2] == [str(seed), f"{reduction:.1%}"] for line in printed.splitlines())
    assert "caseload reduction" in printed
    assert "no worse on every seed" in printed
