"""Bad input is reported row by row and skipped; the rest is processed."""

import pandas as pd
import pytest

from awm_frappe.engine.validation import InputError, validate_inputs


def _tenancies(*rows):
    base = {"patch": "P1", "tenure_type": "secure", "weekly_rent": "100", "start_date": "2020-01-06"}
    return pd.DataFrame([{**base, **row} for row in rows], dtype=str)


def _ledger(*rows):
    return pd.DataFrame(rows, columns=["tenancy", "date", "amount", "kind"], dtype=str)


def test_good_rows_are_typed_and_kept():
    inputs = validate_inputs(
        _tenancies({"tenancy": "T1", "vulnerable": "yes"}, {"tenancy": "T2", "do_not_contact": "1"}),
        _ledger(("T1", "2026-03-09", "100.00", "rent"), ("T2", "2026-03-09", "-50", "payment")),
    )
    assert inputs.rejects.empty
    assert inputs.tenancies["weekly_rent"].dtype == "float64"
    assert inputs.tenancies["vulnerable"].tolist() == [True, False]
    assert inputs.tenancies["do_not_contact"].tolist() == [False, True]
    assert inputs.tenancies["start_date"].iloc[0] == pd.Timestamp("2020-01-06")
    assert inputs.tenancies["language"].tolist() == ["en", "en"]  # default filled
    assert inputs.ledger["amount"].tolist() == [100.0, -50.0]


def test_weekly_rent_zero_or_negative_rejects_the_tenancy_and_its_ledger_rows():
    inputs = validate_inputs(
        _tenancies(
            {"tenancy": "T1"}, {"tenancy": "T2", "weekly_rent": "0"}, {"tenancy": "T3", "weekly_rent": "-5"}
        ),
        _ledger(("T1", "2026-03-09", "100", "rent"), ("T2", "2026-03-09", "100", "rent")),
    )
    assert inputs.tenancies["tenancy"].tolist() == ["T1"]
    assert inputs.ledger["tenancy"].tolist() == ["T1"]
    by_tenancy = inputs.rejects.set_index(["file", "tenancy"])["reason"]
    assert "weekly_rent must be greater than 0" in by_tenancy[("tenancies", "T2")]
    assert "weekly_rent must be greater than 0" in by_tenancy[("tenancies", "T3")]
    assert by_tenancy[("ledger", "T2")] == "unknown or rejected tenancy"


def test_non_numeric_amount_and_impossible_date_name_the_row_and_column():
    inputs = validate_inputs(
        _tenancies({"tenancy": "T1"}),
        _ledger(
            ("T1", "2026-03-09", "100", "rent"),
            ("T1", "2026-03-09", "ten pounds", "payment"),
            ("T1", "2026-02-30", "-10", "payment"),
            ("T1", "2026-03-10", "-10", "cheque"),
        ),
    )
    assert len(inputs.ledger) == 1
    rejects = inputs.rejects.set_index("row")
    assert rejects.loc[2, "column"] == "amount" and "'ten pounds' is not a number" in rejects.loc[2, "reason"]
    assert rejects.loc[3, "column"] == "date" and "'2026-02-30' is not a date" in rejects.loc[3, "reason"]
    assert rejects.loc[4, "column"] == "kind" and "'cheque'" in rejects.loc[4, "reason"]


def test_unknown_tenancy_references_are_rejected_in_every_frame():
    inputs = validate_inputs(
        _tenancies({"tenancy": "T1"}),
        _ledger(("T9", "2026-03-09", "100", "rent")),
        cases=pd.DataFrame([{"tenancy": "T9", "stage": "letter_1"}]),
        actions=pd.DataFrame([{"tenancy": "T9", "date": "2026-03-01", "action": "sms"}]),
    )
    assert set(inputs.rejects["file"]) == {"ledger", "cases", "actions"}
    assert inputs.ledger.empty and inputs.cases.empty and inputs.actions.empty


def test_end_before_start_and_duplicate_references_are_rejected():
    inputs = validate_inputs(
        _tenancies(
            {"tenancy": "T1"},
            {"tenancy": "T2", "end_date": "2019-01-01"},
            {"tenancy": "T1", "weekly_rent": "120"},
        ),
        _ledger(),
    )
    assert inputs.tenancies["tenancy"].tolist() == ["T1"]
    assert inputs.tenancies["weekly_rent"].tolist() == [100.0]
    reasons = inputs.rejects["reason"].tolist()
    assert any("end_date is before start_date" in r for r in reasons)
    assert "duplicate tenancy reference" in reasons


def test_missing_required_column_is_a_clear_error_naming_frame_and_column():
    with pytest.raises(InputError, match=r"ledger: missing required column\(s\) amount"):
        validate_inputs(_tenancies({"tenancy": "T1"}), pd.DataFrame({"tenancy": [], "date": [], "kind": []}))


def test_officer_patches_and_skills_are_lists():
    inputs = validate_inputs(
        _tenancies({"tenancy": "T1"}),
        _ledger(),
        officers=pd.DataFrame([{"officer": "a@x.org", "patches": "North 1; North 2", "skills": "legal"}]),
    )
    officer = inputs.officers.iloc[0]
    assert officer["patches"] == ["North 1", "North 2"]
    assert officer["skills"] == ["legal"]
    assert officer["capacity"] == 100.0


@pytest.mark.parametrize("text_dtype", [object, "string[pyarrow]"])
def test_csv_text_and_python_objects_are_read_alike(text_dtype):
    """A CSV read by pyarrow holds Arrow strings; a host or Parquet frame holds Python objects. Both read
    alike, rows with repeated values (read once per distinct value) as well as the others."""
    tenancies = _tenancies(
        {"tenancy": " T1 ", "weekly_rent": " 100.5 ", "start_date": "2020-01-06", "language": ""},
        {"tenancy": "T2", "weekly_rent": "1e2", "start_date": "2021-02-01T00:00:00"},
        {"tenancy": "T3", "weekly_rent": "abc"},
        {"tenancy": "T4", "start_date": ""},
    )
    ledger = _ledger(
        ("T1", "2026-03-09", "100.00", "rent"),
        ("T1", " 2026-03-10 ", " -50 ", " payment "),
        ("T2", "2026-03-09", "", "rent"),
        ("T2", "2026-13-01", "-5", "payment"),
        ("T2", "2026-03-11", "-5", "cheque"),
        ("T5", "2026-03-09", "10", "rent"),
    )
    general = validate_inputs(tenancies.astype(object), ledger.astype(object))
    inputs = validate_inputs(tenancies.astype(text_dtype), ledger.astype(text_dtype))
    for name in ("tenancies", "ledger"):
        pd.testing.assert_frame_equal(getattr(inputs, name), getattr(general, name))
    pd.testing.assert_frame_equal(inputs.rejects, general.rejects)
    assert inputs.ledger["tenancy"].tolist() == ["T1", "T1"]
    assert inputs.ledger["kind"].tolist() == ["rent", "payment"]
    assert inputs.tenancies["weekly_rent"].tolist() == [100.5, 100.0]
    assert inputs.tenancies["start_date"].tolist() == [pd.Timestamp("2020-01-06"), pd.Timestamp("2021-02-01")]
    assert sorted(inputs.rejects["column"]) == [
        "amount",
        "date",
        "kind",
        "start_date",
        "tenancy",
        "weekly_rent",
    ]


READ_ALIKE_CASES = [
    ("ledger", "date", ["2026-03-09", " 2026-03-09", "2026-02-30", "", "2026-03-09", "x", None]),
    ("ledger", "amount", ["100", " 100 ", "1e2", "ten", "", None, "-0", "0"]),
    ("ledger", "kind", ["rent", " rent", "cheque", "", None, "payment"]),
    ("tenancies", "vulnerable", [1.0, 1, True, "yes", "", None, "maybe"]),  # equal objects, read differently
    ("tenancies", "vulnerable", [1, 1.0, 1, 0, 0.0, False]),
    ("tenancies", "language", ["en", " cy ", "", None, 1, 1.0]),
    ("tenancies", "patch", [["North 1"], "North 1", ["North 1"]]),  # unhashable: read row by row
    ("tenancies", "weekly_rent", [100, 100.0, "100", " 100.5", "abc", None]),
]


@pytest.mark.parametrize(
    ("frame", "name", "values", "dtype"),
    [(*case, "object") for case in READ_ALIKE_CASES]
    + [  # Arrow strings, as pyarrow reads a CSV (text only)
        (*case, "string[pyarrow]")
        for case in READ_ALIKE_CASES
        if all(v is None or isinstance(v, str) for v in case[2])
    ],
)
def test_reading_each_distinct_value_once_gives_what_reading_every_row_gives(frame, name, values, dtype):
    from awm_frappe.engine.schema import LEDGER, TENANCIES
    from awm_frappe.engine.validation import _coerce_column, _read_values

    column = {"ledger": LEDGER, "tenancies": TENANCIES}[frame].column(name)
    raw = pd.Series(values * 30, dtype=object, index=pd.RangeIndex(5, 5 + 30 * len(values))).astype(dtype)
    got_values, got_invalid = _coerce_column(column, raw)
    each_values, each_invalid = _read_values(column, raw)
    pd.testing.assert_series_equal(got_values, each_values)
    assert got_invalid.astype(bool).tolist() == each_invalid.astype(bool).tolist()
    assert got_invalid.index.equals(raw.index)
