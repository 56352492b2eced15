"""Coerce raw input frames to the documented types and split bad rows into rejects.

A bad row never stops the others: it is moved to the rejects frame with the file, its row number (the
first data row is 1), the tenancy and a plain reason. A file that lacks a required column cannot be read
at all and raises ``InputError`` naming the file and the columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from awm_frappe.engine.schema import ACTIONS, CASES, LEDGER, OFFICERS, TENANCIES, Column, FrameSpec

REJECT_COLUMNS = ["file", "row", "tenancy", "column", "reason"]
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


class InputError(ValueError):
    """An input that cannot be processed at all (e.g. a required column is missing)."""


@dataclass
class Inputs:
    """The engine's input frames, validated and typed. Optional frames may be empty."""

    tenancies: pd.DataFrame
    ledger: pd.DataFrame
    cases: pd.DataFrame | None = None
    actions: pd.DataFrame | None = None
    officers: pd.DataFrame | None = None
    rejects: pd.DataFrame = field(default_factory=lambda: empty_rejects())


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in REJECT_COLUMNS})


def make_rejects(file: str, rows: pd.Index | np.ndarray, tenancies, column: str, reason) -> pd.DataFrame:
    rows = np.asarray(rows)
    return pd.DataFrame(
        {
            "file": file,
            "row": rows + 1,
            "tenancy": np.asarray(tenancies, dtype=object) if len(rows) else [],
            "column": column,
            "reason": reason,
        }
    )


def validate_inputs(
    tenancies: pd.DataFrame,
    ledger: pd.DataFrame,
    cases: pd.DataFrame | None = None,
    actions: pd.DataFrame | None = None,
    officers: pd.DataFrame | None = None,
) -> Inputs:
    """Validate every frame; rows that refer to an unknown or rejected tenancy are rejected too."""
    rejects: list[pd.DataFrame] = []
    tenancies = _coerce(TENANCIES, tenancies, rejects)
    tenancies = _check_tenancies(tenancies, rejects)
    known = pd.Index(tenancies["tenancy"])

    ledger = _coerce(LEDGER, ledger, rejects)
    ledger = _drop_unknown_tenancies(LEDGER, ledger, known, rejects)
    ledger = ledger.reset_index(drop=True)

    if cases is not None:
        cases = _coerce(CASES, cases, rejects)
        cases = _drop_unknown_tenancies(CASES, cases, known, rejects)
        cases = _drop_duplicates(CASES, cases, rejects, "more than one open case for this tenancy")
    if actions is not None:
        actions = _coerce(ACTIONS, actions, rejects)
        actions = _drop_unknown_tenancies(ACTIONS, actions, known, rejects)
    if officers is not None:
        officers = _coerce(OFFICERS, officers, rejects)
        officers = _drop_duplicates(OFFICERS, officers, rejects, "duplicate officer")
        officers = officers.reset_index(drop=True)

    all_rejects = pd.concat(rejects, ignore_index=True) if rejects else empty_rejects()
    return Inputs(tenancies.reset_index(drop=True), ledger, cases, actions, officers, all_rejects)


def _coerce(spec: FrameSpec, frame: pd.DataFrame, rejects: list[pd.DataFrame]) -> pd.DataFrame:
    missing = [name for name in spec.required if name not in frame.columns]
    if missing:
        raise InputError(f"{spec.name}: missing required column(s) {', '.join(missing)}")
    frame = frame.reset_index(drop=True)
    out = {}
    bad = pd.Series(False, index=frame.index)
    for column in spec.columns:
        if column.name not in frame.columns:
            out[column.name] = _default_series(column, len(frame))
            continue
        values, invalid = _coerce_column(column, frame[column.name])
        if invalid.any():
            rows = frame.index[invalid & ~bad]
            reason = _reason(column, frame[column.name][rows])
            rejects.append(make_rejects(spec.name, rows, _tenancy_of(frame, rows), column.name, reason))
            bad |= invalid
        out[column.name] = values
    extra = [name for name in frame.columns if name not in out]
    typed = pd.DataFrame(out, index=frame.index)
    for name in extra:  # unknown columns travel along (e.g. opt_out_sms, protected characteristics)
        typed[name] = frame[name]
    return typed.loc[~bad]


def _coerce_column(column: Column, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Typed values and a mask of values that could not be read (or are required but empty).

    A ledger repeats each tenancy, date and amount many times, so each distinct value is read once and
    spread back to its rows (a 100,000-tenancy ledger of 7.9M rows has about 100,000 tenancies, 500 dates
    and fewer amounts). Reading is value by value, so this gives exactly what reading every row would,
    as long as equal values read alike: Python objects of mixed types (1, 1.0 and True are equal but read
    differently) and lists are read row by row."""
    if column.kind == "list" or (
        raw.dtype == object and pd.api.types.infer_dtype(raw, skipna=True) != "string"
    ):
        return _read_values(column, raw)
    codes, distinct = pd.factorize(raw, use_na_sentinel=False)
    if len(distinct) * 2 > len(raw):
        return _read_values(column, raw)
    values, invalid = _read_values(column, pd.Series(distinct, dtype=distinct.dtype))
    return (
        pd.Series(values.to_numpy()[codes], index=raw.index, dtype=values.dtype),
        pd.Series(invalid.to_numpy()[codes], index=raw.index),
    )


def _read_values(column: Column, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    blank = raw.isna() | (raw.astype("string").str.strip() == "")
    if column.kind == "float" or column.kind == "int":
        values = pd.to_numeric(raw, errors="coerce")
        invalid = values.isna() & ~blank
        if column.default is not None:
            values = values.fillna(column.default)
        if column.kind == "int":
            values = values.fillna(0).astype("int64")
        else:
            values = values.astype("float64")
    elif column.kind == "date":
        values = _to_dates(raw)
        invalid = values.isna() & ~blank
    elif column.kind == "bool":
        values, invalid = _to_bool(raw, bool(column.default))
    elif column.kind == "list":
        values = raw.map(_to_list)
        invalid = pd.Series(False, index=raw.index)
    else:
        values = raw.astype("string").fillna("" if column.default is None else str(column.default))
        values = values.str.strip().astype(object)
        blank_text = values == ""
        if column.default not in (None, ""):
            values = values.where(~blank_text, column.default)
        invalid = pd.Series(False, index=raw.index)
        if column.choices:
            invalid = ~values.isin(column.choices) & ~blank_text
    if column.required:
        invalid = invalid | blank
    return values, invalid


def _to_dates(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(raw):
        return pd.to_datetime(raw).dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
    text = raw.astype("string").str.strip()
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    unparsed = parsed.isna() & text.notna() & (text != "")
    if unparsed.any():  # tolerate full timestamps, but never guess day/month order
        parsed[unparsed] = pd.to_datetime(text[unparsed], format="ISO8601", errors="coerce")
    return parsed.dt.normalize().astype("datetime64[ns]")


def _to_bool(raw: pd.Series, default: bool) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(raw):
        return raw.fillna(default).astype(bool), pd.Series(False, index=raw.index)
    text = raw.astype("string").str.strip().str.lower().fillna("")
    true, false = text.isin(_TRUE), text.isin(_FALSE)
    values = true | ((text == "") & default)
    return values.astype(bool), ~(true | false)


def _to_list(value) -> list[str]:
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v).strip() for v in value if str(v).strip()]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [part.strip() for part in str(value).split(";") if part.strip()]


def _default_series(column: Column, length: int) -> pd.Series:
    if column.kind == "date":
        return pd.Series(pd.NaT, index=range(length), dtype="datetime64[ns]")
    if column.kind == "float":
        default = np.nan if column.default is None else column.default
        return pd.Series(default, index=range(length), dtype="float64")
    if column.kind == "int":
        return pd.Series(column.default or 0, index=range(length), dtype="int64")
    if column.kind == "bool":
        return pd.Series(bool(column.default), index=range(length), dtype=bool)
    if column.kind == "list":
        return pd.Series([list(column.default or ()) for _ in range(length)], dtype=object)
    return pd.Series("" if column.default is None else column.default, index=range(length), dtype=object)


def _reason(column: Column, values: pd.Series) -> list[str]:
    expected = {
        "float": "a number",
        "int": "a whole number",
        "date": "a date YYYY-MM-DD",
        "bool": "yes/no",
        "str": f"one of {', '.join(column.choices)}" if column.choices else "a value",
    }.get(column.kind, "a value")
    return [
        f"{column.name} is required" if _is_blank(v) else f"{column.name} {v!r} is not {expected}"
        for v in values
    ]


def _is_blank(value) -> bool:
    return (
        value is None
        or value is pd.NA
        or (isinstance(value, float) and np.isnan(value))
        or str(value).strip() == ""
    )


def _tenancy_of(frame: pd.DataFrame, rows) -> np.ndarray:
    if "tenancy" not in frame.columns:
        return np.full(len(rows), "", dtype=object)
    return frame.loc[rows, "tenancy"].astype("string").fillna("").to_numpy(dtype=object)


def _check_tenancies(tenancies: pd.DataFrame, rejects: list[pd.DataFrame]) -> pd.DataFrame:
    rules = [
        (tenancies["weekly_rent"] <= 0, "weekly_rent", "weekly_rent must be greater than 0"),
        (
            tenancies["end_date"].notna() & (tenancies["end_date"] < tenancies["start_date"]),
            "end_date",
            "end_date is before start_date",
        ),
    ]
    bad = pd.Series(False, index=tenancies.index)
    for mask, column, reason in rules:
        rows = tenancies.index[mask & ~bad]
        if len(rows):
            tenancy = tenancies.loc[rows, "tenancy"]
            detail = [f"{reason} (got {v})" for v in tenancies.loc[rows, column]]
            rejects.append(make_rejects(TENANCIES.name, rows, tenancy, column, detail))
        bad |= mask
    tenancies = tenancies.loc[~bad]
    return _drop_duplicates(TENANCIES, tenancies, rejects, "duplicate tenancy reference")


def _drop_duplicates(spec: FrameSpec, frame: pd.DataFrame, rejects, reason: str) -> pd.DataFrame:
    duplicated = frame[spec.key].duplicated(keep="first")
    if duplicated.any():
        rows = frame.index[duplicated]
        rejects.append(make_rejects(spec.name, rows, _tenancy_of(frame, rows), spec.key, reason))
    return frame.loc[~duplicated]


def _drop_unknown_tenancies(spec: FrameSpec, frame: pd.DataFrame, known: pd.Index, rejects) -> pd.DataFrame:
    unknown = ~frame["tenancy"].isin(known)
    if unknown.any():
        rows = frame.index[unknown]
        rejects.append(
            make_rejects(spec.name, rows, _tenancy_of(frame, rows), "tenancy", "unknown or rejected tenancy")
        )
    return frame.loc[~unknown]
