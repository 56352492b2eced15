"""Shared builders for engine tests: small frames in the documented input format.

Every builder takes keyword overrides so a test states only what it is about.
"""

from __future__ import annotations

import pandas as pd

AS_OF = pd.Timestamp("2026-03-11")  # a Wednesday; its rent week starts Monday 2026-03-09


def make_tenancy(tenancy: str = "T1", **overrides) -> dict:
    row = {
        "tenancy": tenancy,
        "patch": "P1",
        "tenure_type": "secure",
        "weekly_rent": 100.0,
        "start_date": pd.Timestamp("2020-01-06"),
        "end_date": pd.NaT,
        "tenant_name": "Alex Tenant",
        "payment_method": "cash_card",
        "uc_status": "none",
        "uc_claim_date": pd.NaT,
        "hb_status": "none",
        "vulnerable": False,
        "vulnerability": "",
        "language": "en",
        "preferred_channel": "sms",
        "mobile": "07700900001",
        "email": "alex@example.org",
        "has_postal_address": True,
        "do_not_contact": False,
        "breathing_space_until": pd.NaT,
        "deceased": False,
        "age_band": "35-49",
    }
    row.update(overrides)
    return row


def make_tenancies(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows) or [make_tenancy()])


def make_ledger(*transactions: tuple) -> pd.DataFrame:
    """Transactions as (tenancy, date, amount, kind) tuples."""
    frame = pd.DataFrame(list(transactions), columns=["tenancy", "date", "amount", "kind"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["amount"] = frame["amount"].astype(float)
    return frame


def weekly_rent_ledger(
    tenancy: str = "T1",
    weeks: int = 12,
    rent: float = 100.0,
    paid: float | None = None,
    end: pd.Timestamp = AS_OF,
) -> pd.DataFrame:
    """Rent charged every Monday for `weeks` weeks up to `end`, and `paid` each Monday (default: rent)."""
    paid = rent if paid is None else paid
    mondays = pd.date_range(end=end, periods=weeks, freq="W-MON")
    rows = [(tenancy, d, rent, "rent") for d in mondays]
    rows += [(tenancy, d, -paid, "payment") for d in mondays if paid]
    return make_ledger(*rows)


def make_case(tenancy: str = "T1", **overrides) -> dict:
    row = {"tenancy": tenancy, "case": f"CASE-{tenancy}", "stage": "", "status": "automated"}
    row.update(overrides)
    return row


def make_officer(officer: str = "officer1@example.org", **overrides) -> dict:
    row = {
        "officer": officer,
        "name": "Officer One",
        "phone": "020 7946 0000",
        "patches": ["P1"],
        "skills": [],
        "capacity": 100.0,
        "absent_until": pd.NaT,
    }
    row.update(overrides)
    return row
