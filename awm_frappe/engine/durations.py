"""Relative durations written as data: "14 days", "2 weeks", "3 months", "6 years"."""

from __future__ import annotations

import re

import pandas as pd

_DURATION = re.compile(r"^\s*(\d+)\s*(day|week|month|year)s?\s*$", re.IGNORECASE)


class DurationError(ValueError):
    pass


def parse_duration(text: str | int) -> pd.DateOffset:
    """A calendar-aware offset; a bare integer means days."""
    if isinstance(text, bool):
        raise DurationError(f"not a duration: {text!r}")
    if isinstance(text, int):
        return pd.DateOffset(days=text)
    match = _DURATION.match(str(text))
    if not match:
        raise DurationError(f"not a duration: {text!r} (write e.g. '14 days', '2 weeks', '3 months')")
    count, unit = int(match.group(1)), match.group(2).lower()
    return pd.DateOffset(**{f"{unit}s": count})
