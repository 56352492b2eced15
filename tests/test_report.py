"""The simulation report: a self-contained HTML page whose charts are PNG files beside it."""

from __future__ import annotations

import re

import pytest

from awm_frappe.engine import report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _weekly(weeks: int, cases: float, arrears: float) -> list[dict]:
    return [
        {
            "week": w + 1,
            "date": f"2026-04-{5 + w:02d}",
            "officer_cases_per_officer": cases + w,
            "arrears_pct_of_rent_roll": arrears + 0.01 * w,
        }
        for w in range(weeks)
    ]


def _overall(officer_cases: float, arrears_end: float, collection: float) -> dict:
    return {
        "mean_officer_cases": officer_cases,
        "officer_cases_per_officer": officer_cases / 4,
        "handled_without_officer_share": 0.5,
        "officer_hours_per_week": 40.0,
        "arrears_pct_start": 2.5,
        "arrears_pct_end": arrears_end,
        "collection_rate": collection,
        "cases_reaching_nosp": 3,
        "cases_reaching_court": 1,
        "cases_resolved": 10,
        "median_weeks_to_resolution": 2.0,
        "messages_total": 12,
        "suppressed_total": 1,
        "messages_by_channel": {"letter": 10, "sms": 2},
    }


def results(calibration: bool = True) -> dict:
    officers = [{"officer": f"o{i}@example.org", "mean_cases": 10.0 + i} for i in range(4)]
    return {
        "config": {"rules": "uk-ladder", "seed": 0},
        "assumptions": {
            "arrears_threshold": 10.0,
            "officers": {"review_minutes": 3.0, "minutes": {"sms": 3}},
        },
        "portfolio": {
            "tenancies": 100,
            "weeks": 3,
            "start": "2026-04-06",
            "officers": 4,
            "annual_rent_roll": 1e5,
        },
        "stages": ["", "sms", "letter_1", "letter_2", "nosp"],
        "policies": {
            "baseline": {
                "weekly": _weekly(3, 30.0, 2.5),
                "overall": _overall(120.0, 2.6, 0.97),
                "actions_by_stage": {"letter_1": {"officer": 5, "automated": 0}},
                "officer_load": officers,
            },
            "automation": {
                "weekly": _weekly(3, 12.0, 2.4),
                "overall": _overall(48.0, 2.5, 0.98),
                "actions_by_stage": {"letter_1": {"officer": 0, "automated": 9}, "nosp": {"officer": 2}},
                "officer_load": officers,
            },
        },
        "comparison": {
            "caseload_reduction": 0.6,
            "officer_hours_reduction": 0.3,
            "arrears_pct_difference": -0.1,
            "collection_rate_difference": 0.01,
            "no_worse": True,
        },
        "risk_calibration": {
            "available": calibration,
            "note": "no risk model in this run",
            "brier": 0.1,
            "bins": [{"lo": 0.0, "hi": 0.5, "n": 50, "mean_score": 0.2, "observed_rate": 0.25}]
            if calibration
            else [],
        },
    }


@pytest.mark.parametrize("calibration", [True, False])
def test_report_is_self_contained_and_its_charts_exist(tmp_path, calibration):
    path = report.write_report(results(calibration), tmp_path)
    assert path == tmp_path / "report.html"
    html = path.read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert sorted(sources) == sorted(report.CHARTS.values())
    for name in sources:
        assert "/" not in name and ":" not in name  # relative, beside the page
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 2000
    # Nothing is fetched from anywhere else: no scripts, stylesheets, fonts or remote URLs.
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "60%" in html and "Manual baseline" in html and "arrears_threshold" in html


def test_headline_text_has_every_row_and_the_reduction():
    text = report.headline_text(results())
    for label, _key, _fmt in report.HEADLINE_ROWS:
        assert label in text
    assert "Caseload reduction: 60.0%" in text
    assert "no worse on both: yes" in text


def test_missing_values_are_shown_as_a_dash():
    data = results()
    data["policies"]["baseline"]["overall"]["median_weeks_to_resolution"] = None
    rows = dict((label, (b, a)) for label, b, a in report.headline_rows(data))
    assert rows["Median weeks to resolution"] == ("–", "2.0")
