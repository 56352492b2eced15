"""The seam between the host and the engine: the frames, their columns and their meaning.

Every frame the engine takes or returns is described here once. ``validate`` uses these specs to coerce
types and to split bad rows into rejects; docs/engine.md is written from the same lists.

Conventions
- Money is in pounds as float. Ledger amounts are signed as they move the balance: a rent charge is
  positive, a payment (any kind) is negative. A positive balance means the tenant owes.
- Dates are ``datetime64[ns]`` normalised to midnight; a missing date is NaT.
- Lists in CSV (officer patches, skills) are ``;``-separated strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "str" | "float" | "int" | "bool" | "date" | "list"
    required: bool = True
    default: object = None
    doc: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrameSpec:
    name: str
    key: str | None
    columns: tuple[Column, ...]
    doc: str = ""
    file_stem: str = field(default="")

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


TENURE_TYPES = ("secure", "assured", "starter", "introductory", "flexible", "affordable", "shared_ownership")
PAYMENT_METHODS = ("direct_debit", "standing_order", "cash_card", "housing_benefit", "universal_credit")
UC_STATUSES = ("none", "claim_pending", "claimant", "apa_requested", "apa_in_place")
HB_STATUSES = ("none", "claim_pending", "claimant")
CHANNELS = ("sms", "email", "letter", "phone")
LEDGER_KINDS = ("rent", "payment", "hb", "uc", "adjustment", "write_off")
PAYMENT_KINDS = ("payment", "hb", "uc")
AGREEMENT_FREQUENCIES = ("weekly", "fortnightly", "4-weekly", "monthly")
AGREEMENT_STATUSES = ("live", "breached", "completed", "cancelled")
CASE_STATUSES = ("automated", "worktray", "paused", "agreement", "legal", "closed")

TENANCIES = FrameSpec(
    name="tenancies",
    file_stem="tenancies",
    key="tenancy",
    doc="One row per rent account (tenancy).",
    columns=(
        Column("tenancy", "str", doc="Unique rent-account reference."),
        Column("patch", "str", doc="Patch (geographic area) the tenancy belongs to."),
        Column("tenure_type", "str", doc="Tenure type.", choices=TENURE_TYPES),
        Column("weekly_rent", "float", doc="Current weekly rent charge; must be > 0."),
        Column("start_date", "date", doc="Tenancy start date."),
        Column("end_date", "date", required=False, doc="Tenancy end date; empty while current."),
        Column("tenant_name", "str", required=False, default="", doc="Name used in messages."),
        Column(
            "payment_method",
            "str",
            required=False,
            default="cash_card",
            doc="How rent is usually paid.",
            choices=PAYMENT_METHODS,
        ),
        Column(
            "uc_status",
            "str",
            required=False,
            default="none",
            doc="Universal Credit status.",
            choices=UC_STATUSES,
        ),
        Column("uc_claim_date", "date", required=False, doc="Date the UC claim started, if any."),
        Column(
            "hb_status",
            "str",
            required=False,
            default="none",
            doc="Housing Benefit status.",
            choices=HB_STATUSES,
        ),
        Column(
            "vulnerable",
            "bool",
            required=False,
            default=False,
            doc="A vulnerability flag: automation routes contact to a human instead of sending.",
        ),
        Column("vulnerability", "str", required=False, default="", doc="Free-text or coded vulnerability."),
        Column("language", "str", required=False, default="en", doc="Preferred language code for messages."),
        Column(
            "preferred_channel",
            "str",
            required=False,
            default="letter",
            doc="Preferred channel.",
            choices=CHANNELS,
        ),
        Column("mobile", "str", required=False, default="", doc="Mobile number; empty if none (no SMS)."),
        Column("email", "str", required=False, default="", doc="Email address; empty if none (no email)."),
        Column(
            "has_postal_address",
            "bool",
            required=False,
            default=True,
            doc="False when letters cannot be delivered.",
        ),
        Column("do_not_contact", "bool", required=False, default=False, doc="Must never be contacted."),
        Column(
            "breathing_space_until",
            "date",
            required=False,
            doc="Debt Respite Scheme moratorium end; no enforcement or arrears contact before it.",
        ),
        Column("deceased", "bool", required=False, default=False, doc="Tenant deceased."),
        Column("phone", "str", required=False, default="", doc="Landline for phone-call tasks."),
        Column("opt_out_sms", "bool", required=False, default=False, doc="Tenant opted out of SMS."),
        Column("opt_out_email", "bool", required=False, default=False, doc="Tenant opted out of email."),
        Column("opt_out_letter", "bool", required=False, default=False, doc="Tenant opted out of letters."),
        Column("opt_out_phone", "bool", required=False, default=False, doc="Tenant opted out of calls."),
        Column(
            "plain_language",
            "bool",
            required=False,
            default=False,
            doc="Send the plainer template variant even when not flagged vulnerable.",
        ),
        Column(
            "payment_reference",
            "str",
            required=False,
            default="",
            doc="Reference the tenant quotes when paying; defaults to the tenancy reference.",
        ),
        Column(
            "age_band",
            "str",
            required=False,
            default="",
            doc="Optional protected characteristic used only by the fairness audit.",
        ),
    ),
)

LEDGER = FrameSpec(
    name="ledger",
    file_stem="ledger",
    key=None,
    doc="Rent-account transactions. Positive amounts raise the balance (charges), negative lower it.",
    columns=(
        Column("tenancy", "str", doc="Tenancy reference; must exist in tenancies."),
        Column("date", "date", doc="Posting date."),
        Column("amount", "float", doc="Signed amount in pounds."),
        Column("kind", "str", doc="Transaction kind.", choices=LEDGER_KINDS),
    ),
)

CASES = FrameSpec(
    name="cases",
    file_stem="cases",
    key="tenancy",
    doc="Open-case state: at most one open case per tenancy. Tenancies without a row have no open case.",
    columns=(
        Column("tenancy", "str", doc="Tenancy reference."),
        Column("case", "str", required=False, default="", doc="Case identifier in the host system."),
        Column("stage", "str", required=False, default="", doc="Current ladder stage code."),
        Column(
            "status", "str", required=False, default="automated", choices=CASE_STATUSES, doc="Case status."
        ),
        Column("officer", "str", required=False, default="", doc="Officer the case is assigned to."),
        Column("opened_date", "date", required=False, doc="Date the case was opened."),
        Column("last_action", "str", required=False, default="", doc="Code of the most recent action."),
        Column("last_action_date", "date", required=False, doc="Date of the most recent action."),
        Column(
            "last_letter_failed",
            "bool",
            required=False,
            default=False,
            doc="The most recent letter failed to dispatch.",
        ),
        Column("nosp_served_date", "date", required=False, doc="Date a NOSP / section 8 notice was served."),
        Column("court_date", "date", required=False, doc="Most recent court hearing date."),
        Column(
            "court_outcome", "str", required=False, default="", doc="Court outcome code, see COURT_OUTCOMES."
        ),
        Column("eviction_date", "date", required=False, doc="Eviction date, if one is set."),
        Column("paused_until", "date", required=False, doc="Case paused until this date."),
        Column("pause_reason", "str", required=False, default="", doc="Why the case is paused."),
        Column("agreement_start", "date", required=False, doc="Most recent agreement: start date."),
        Column(
            "agreement_frequency",
            "str",
            required=False,
            default="",
            choices=("", *AGREEMENT_FREQUENCIES),
            doc="Most recent agreement: instalment frequency.",
        ),
        Column("agreement_instalment", "float", required=False, doc="Most recent agreement: instalment."),
        Column(
            "agreement_initial_payment",
            "float",
            required=False,
            default=0.0,
            doc="Most recent agreement: initial payment due on the start date.",
        ),
        Column(
            "agreement_starting_balance",
            "float",
            required=False,
            doc="Most recent agreement: balance when it was made.",
        ),
        Column(
            "agreement_formal",
            "bool",
            required=False,
            default=False,
            doc="True for a court-ordered agreement, False for an informal one.",
        ),
        Column(
            "agreement_status",
            "str",
            required=False,
            default="",
            choices=("", *AGREEMENT_STATUSES),
            doc="Most recent agreement: status as recorded by the host.",
        ),
        Column("prior_cases", "int", required=False, default=0, doc="Closed cases this tenancy had before."),
        Column(
            "broken_agreements", "int", required=False, default=0, doc="Agreements this tenancy broke before."
        ),
    ),
)

ACTIONS = FrameSpec(
    name="actions",
    file_stem="actions",
    key=None,
    doc="Action history (the case timeline). Used for cooldowns and `last_<action>_date` fields.",
    columns=(
        Column("tenancy", "str", doc="Tenancy reference."),
        Column("date", "date", doc="When the action happened."),
        Column("action", "str", doc="Action code (an Arrears Action Type)."),
        Column("rule", "str", required=False, default="", doc="Rule that produced it; empty if manual."),
        Column("channel", "str", required=False, default="", doc="Message channel, if a message."),
    ),
)

OFFICERS = FrameSpec(
    name="officers",
    file_stem="officers",
    key="officer",
    doc="Income officers who work cases.",
    columns=(
        Column("officer", "str", doc="User id."),
        Column("name", "str", required=False, default="", doc="Display name used in messages."),
        Column("phone", "str", required=False, default="", doc="Phone number used in messages."),
        Column("patches", "list", doc="Patches the officer works (';'-separated in CSV)."),
        Column("skills", "list", required=False, default=(), doc="Skills, e.g. legal; vulnerability."),
        Column(
            "capacity", "float", required=False, default=100.0, doc="Weighted workload capacity (points)."
        ),
        Column("absent_until", "date", required=False, doc="Absent until this date; no new work before."),
    ),
)

COURT_OUTCOMES = {
    "": "No outcome recorded",
    "OPD": "Outright possession with date",
    "OPF": "Outright possession forthwith",
    "SPO": "Suspended possession order",
    "PPO": "Postponed possession order",
    "AGP": "Adjourned generally with permission to restore",
    "ADN": "Adjourned to next open date",
    "ADH": "Adjourned to another hearing date",
    "ADD": "Adjourned for directions hearing",
    "ADT": "Adjourned on terms",
    "SOT": "Suspension on terms",
    "STE": "Stay of execution",
    "STR": "Struck out",
    "WIT": "Withdrawn",
    "DIS": "Dismissed",
}
WARRANT_OUTCOMES = ("AGP", "ADN", "ADH", "ADD", "SOT", "STE")
OUTRIGHT_OUTCOMES = ("OPD", "OPF")
AGREEMENT_OUTCOMES = ("ADT", "PPO", "SPO")

INPUT_FRAMES = (TENANCIES, LEDGER, CASES, ACTIONS, OFFICERS)

# ---------------------------------------------------------------------------------------------------
# Output: one decision row per tenancy.
DECISION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tenancy", "Tenancy reference."),
    ("as_of", "The decision date."),
    ("patch", "Patch."),
    ("balance", "Balance on the as-of date (positive = owed)."),
    ("collectable_arrears", "Balance less this rent week's transactions."),
    (
        "arrears_after_grace",
        "Collectable arrears less one week's grace: ca - max(0, rent + payments this week).",
    ),
    ("weeks_owed", "arrears_after_grace / weekly_rent."),
    ("risk_score", "Probability of reaching the risk target (empty without a model)."),
    ("risk_band", "Risk band: high / medium / low / early_warning (empty without a model)."),
    ("risk_reasons", "Top three contributing factors in plain words, ' | '-separated."),
    ("action", "Recommended action code, or 'none'."),
    (
        "action_type",
        "send_message / set_stage / route_to_officer / pause / close / set_priority / flag_legal.",
    ),
    ("rule", "Rule that produced the action."),
    ("reason", "Plain-words reason with the tenancy's figures."),
    ("blocked_by", "Guard that blocked automation, if any (paused, eviction_date, court_date_future, ...)."),
    ("stage_from", "Stage before the decision."),
    ("stage_to", "Stage after the decision."),
    ("stage_change", "escalate / de-escalate / open / close / none."),
    ("status_to", "Case status after the decision."),
    ("needs_officer", "True when the action is for an officer's worktray."),
    ("officer", "Officer allocated (worktray cases) or kept."),
    ("priority", "Worktray priority; higher first."),
    ("channel", "Message channel decided."),
    ("template", "Template chosen, as code:channel:tenure:language:variant."),
    ("message_status", "send / suppressed / deferred / failed / none (none also for phone-call tasks)."),
    ("suppression_reason", "Why a message was not sent."),
)
