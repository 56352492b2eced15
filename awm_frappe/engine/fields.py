"""The catalogue of fields a rule condition may name, with their kind.

Kinds: "number", "money", "date", "bool", "text". Money fields accept values in weeks or months of rent.
Fields named ``last_<action>_date`` exist for every action code and are dates.
The Worktray Rule form offers these names; the rules engine refuses any other.
"""

from __future__ import annotations

from awm_frappe.engine.schema import TENANCIES

TENANCY_FIELDS: dict[str, str] = {
    column.name: {"float": "money", "date": "date", "bool": "bool", "int": "number"}.get(column.kind, "text")
    for column in TENANCIES.columns
}

FEATURE_FIELDS: dict[str, str] = {
    "balance": "money",
    "week_start": "date",
    "this_week_net": "money",
    "payments_this_week": "money",
    "collectable_arrears": "money",
    "arrears_after_grace": "money",
    "weeks_owed": "number",
    "last_payment_date": "date",
    "last_payment_amount": "money",
    "days_since_last_payment": "number",
    "paid_ratio_4w": "number",
    "paid_ratio_13w": "number",
    "paid_ratio_26w": "number",
    "weeks_with_payment_8w": "number",
    "balance_change_4w": "money",
    "balance_change_13w": "money",
    "arrears_age_days": "number",
    "tenancy_age_days": "number",
    "rent_charged_26w": "money",
    "checks_in_arrears_26w": "number",
    "max_balance_26w": "money",
}

FACT_FIELDS: dict[str, str] = {
    "has_case": "bool",
    "stage": "text",
    "status": "text",
    "officer": "text",
    "last_action": "text",
    "last_action_date": "date",
    "last_letter_failed": "bool",
    "last_contact_date": "date",
    "last_contact_channel": "text",
    "paused": "bool",
    "paused_until": "date",
    "pause_reason": "text",
    "eviction_date": "date",
    "eviction_date_set": "bool",
    "court_date": "date",
    "court_date_set": "bool",
    "court_date_future": "bool",
    "court_date_past": "bool",
    "court_outcome": "text",
    "court_outcome_missing": "bool",
    "prevent": "bool",
    "breathing_space": "bool",
    "nosp_served_date": "date",
    "nosp_served": "bool",
    "nosp_expiry_date": "date",
    "nosp_valid": "bool",
    "nosp_active": "bool",
    "agreement_exists": "bool",
    "agreement_start": "date",
    "agreement_live": "bool",
    "agreement_breached": "bool",
    "agreement_completed": "bool",
    "agreement_status": "text",
    "agreement_formal": "bool",
    "agreement_informal": "bool",
    "agreement_expected_balance": "money",
    "agreement_shortfall": "money",
    "court_breach": "bool",
    "informal_breach": "bool",
    "warrant_active": "bool",
    "outright_possession": "bool",
    "outcome_implies_agreement": "bool",
    "formal_agreement_since_court": "bool",
    "prior_cases": "number",
    "broken_agreements": "number",
    "risk_score": "number",
    "risk_band": "text",
}

KNOWN_FIELDS: dict[str, str] = {**TENANCY_FIELDS, **FEATURE_FIELDS, **FACT_FIELDS}


def last_action_field(code: str) -> str:
    return f"last_{code}_date"


def field_kind(name: str) -> str | None:
    """The kind of a field, or None when no rule may use it."""
    if name in KNOWN_FIELDS:
        return KNOWN_FIELDS[name]
    if name.startswith("last_") and name.endswith("_date") and len(name) > len("last__date"):
        return "date"
    return None
