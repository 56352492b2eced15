"""Read a data directory in the documented CSV/Parquet form, and write the nightly outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from awm_frappe.engine.schema import ACTIONS, CASES, LEDGER, OFFICERS, TENANCIES, FrameSpec
from awm_frappe.engine.validation import InputError, Inputs, validate_inputs


def find_file(directory: Path, stem: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        path = directory / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def read_frame(path: Path, spec: FrameSpec | None = None) -> pd.DataFrame:
    """Read one file. CSV is read as text so that validation, not the parser, decides what is bad."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, engine="pyarrow")
    except Exception as error:  # pyarrow is strict about ragged rows; the C parser says which line
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        except Exception:
            raise InputError(f"{path.name}: cannot be read as CSV: {error}") from error


def read_inputs(directory: str | Path, officers_file: str | Path | None = None) -> Inputs:
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such data directory")
    frames = {}
    for spec in (TENANCIES, LEDGER, CASES, ACTIONS, OFFICERS):
        path = find_file(directory, spec.file_stem)
        if spec is OFFICERS and officers_file:
            path = Path(officers_file)
            if not path.exists():
                raise InputError(f"{path}: no such officers file")
        if path is None:
            if spec in (TENANCIES, LEDGER):
                raise InputError(f"{directory}: {spec.file_stem}.csv or {spec.file_stem}.parquet is required")
            frames[spec.name] = None
            continue
        try:
            frames[spec.name] = read_frame(path, spec)
        except InputError:
            raise
        except Exception as error:
            raise InputError(f"{path.name}: cannot be read: {error}") from error
    try:
        return validate_inputs(**frames)
    except InputError as error:
        raise InputError(f"{directory}/{error}") from error


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
        return
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            out[name] = column.dt.strftime("%Y-%m-%d").fillna("")
        elif column.dtype == object and len(column) and isinstance(column.iloc[0], list | tuple):
            out[name] = column.map(lambda values: ";".join(map(str, values)))
    out.to_csv(path, index=False)


def write_json(data: dict, path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
