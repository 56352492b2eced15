"""Week-by-week simulation: the manual baseline and automation side by side on one portfolio.

``run_simulation(config)`` synthesises a portfolio with ``synth`` (a year of history by default), then
simulates ``config.weeks`` more weeks twice, once per policy, on the *same* tenancies, the *same* rent
and the *same* random stream:

- **baseline** (manual): every tenancy whose arrears after grace reach the threshold (£10) is an
  officer's case until its account is clear. Officers work their cases highest balance first within
  their weekly hours; each case worked costs a review and, when the ladder calls for a step, the step
  itself — letters and texts are written and sent by the officer. A case the officer does not reach
  this week gets nothing this week.
- **automation**: the nightly decision (``pipeline.run_nightly``: the rule pack, the risk model when
  one is trained, message decisions and the weighted allocation). Messages go out automatically at no
  officer time; the cases the rules route to a person (legal steps, calls, vulnerable tenants,
  agreements to set up, data checks) are officer cases and are worked by priority within the same
  weekly hours.

Both policies follow the same escalation ladder (the rule pack), so the comparison isolates what
automation changes: who does the routine steps, and so how many cases need a person.

One simulated week, for each policy:

1. Rent is charged on Monday for every tenancy (identical in both policies).
2. Payments: the payer archetypes' weekly step from ``synth`` (identical in both policies: drawn once per
   week and shared), plus the tenant's response to last week's contact (``ResponseModel``: a modest,
   bounded chance of a catch-up payment or of agreeing an arrangement) and instalments of live agreements.
   The response draws are common random numbers: tenant *i* in week *w* gets the same uniform draw under
   both policies, so a difference in outcome comes from a difference in contact, not from luck.
3. Court hearings whose date has come get an outcome (``LegalModel``).
4. The decision as of Sunday: ``run_nightly`` on the ledger so far, the open cases and the action history.
5. Work: automated messages are delivered (automation only); officer tasks are worked in priority order
   until each officer's weekly minutes run out (``OfficerModel``); what is done is written to the action
   history and the case state (stage, last action, NOSP served date, court date, agreement), so the
   ladder moves on next week exactly as it would on a live system.
6. Housekeeping: a case whose account is clear (collectable arrears ≤ 0) is closed as resolved.

Results (``SimulationResult.results``, JSON-able; docs/simulation.md lists every key): per week and
overall per policy, and the comparison. Caseload reduction = 1 − (mean weekly officer cases under
automation ÷ mean weekly officer cases under the baseline).

Every number the simulation assumes is in ``Assumptions`` with its source in docs/simulation.md; pass a
JSON file of overrides (``awm simulate --assumptions FILE``) to rerun on your own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from awm_frappe.engine import allocation, rules
from awm_frappe.engine.schema import CASES

Progress = Callable[[str], None]

POLICIES = ("baseline", "automation")
CHANNEL_CODES = (
    "",
    "email",
    "sms",
    "letter",
    "phone",
)  # position = code; a higher code is a stronger contact
LEGAL_STAGES = frozenset({"nosp", "court_warning", "court", "warrant", "eviction"})
OFFICER_HELD = frozenset({"worktray", "legal"})
SCHEMA = "awm-simulation/1"

# The results' keys (docs/simulation.md documents each; tests/test_simulate.py checks both).
TOP_KEYS = (
    "schema",
    "config",
    "assumptions",
    "portfolio",
    "stages",
    "policies",
    "comparison",
    "risk_calibration",
)
WEEKLY_KEYS = (
    "week",
    "date",
    "rent_due",
    "collected",
    "collection_rate",
    "open_cases",
    "officer_cases",
    "officers",
    "officer_cases_per_officer",
    "handled_without_officer_share",
    "officer_hours",
    "officer_tasks",
    "officer_tasks_unworked",
    "arrears",
    "arrears_pct_of_rent_roll",
    "nosp_served",
    "court_applications",
    "evictions",
    "agreements_made",
    "cases_reached_nosp",
    "cases_reached_court",
    "cases_opened",
    "cases_resolved",
    "messages",
    "suppressed",
    "officer_cases_by_reason",
)
OVERALL_KEYS = (
    "mean_officer_cases",
    "peak_officer_cases",
    "officer_cases_per_officer",
    "mean_open_cases",
    "cases_open_during_run",
    "cases_never_needing_an_officer",
    "handled_without_officer_share",
    "officer_hours_total",
    "officer_hours_per_week",
    "officer_tasks_unworked",
    "officer_tasks_reassigned",
    "arrears_start",
    "arrears_end",
    "arrears_pct_start",
    "arrears_pct_end",
    "arrears_pct_mean",
    "rent_due",
    "collected",
    "collection_rate",
    "cases_reaching_nosp",
    "cases_reaching_court",
    "evictions",
    "agreements_made",
    "cases_resolved",
    "median_weeks_to_resolution",
    "mean_weeks_to_resolution",
    "messages_by_channel",
    "messages_total",
    "suppressed_by_reason",
    "suppressed_total",
    "actions",
)
COMPARISON_KEYS = (
    "caseload_reduction",
    "officer_hours_reduction",
    "arrears_pct_difference",
    "collection_rate_difference",
    "no_worse",
)


# ---------------------------------------------------------------------------------------------------
# Assumptions (every one documented with its source in docs/simulation.md)


@dataclass
class OfficerModel:
    """Officer time. Minutes are per action done by a person; automated messages cost nothing."""

    casework_hours_per_week: float = 22.0  # of a 37-hour week, after calls in, meetings, leave, training
    review_minutes: float = 3.0  # reading an account and deciding, per officer case worked per week
    minutes: dict = field(
        default_factory=lambda: {
            "sms": 3.0,  # an officer typing and sending a text
            "email": 5.0,
            "letter": 10.0,  # an officer preparing, checking and posting a letter
            "phone": 15.0,  # a call attempt and the conversation
            "agreement": 20.0,  # setting up an arrangement with the tenant (both policies)
            "nosp": 60.0,  # preparing and serving a notice of seeking possession
            "pre_action": 45.0,  # pre-action protocol: contact, offer, benefit check, advice, vulnerability
            "court": 120.0,  # court application and bundle
            "warrant": 60.0,
            "visit": 60.0,
            "task": 15.0,  # any other officer task (data check, court outcome, review failed letter)
        }
    )


@dataclass
class ResponseModel:
    """How tenants respond to contact: a modest, bounded nudge, never a certainty.

    It drives the hooks of synth's ``PayerModel`` (the same payer archetypes that made the history):

    - **Payment**: a contact delivered this week adds ``boost[channel] × multiplier(archetype)`` to the
      tenant's ``propensity_boost``, i.e. to the probability of each discretionary payment next week
      (an irregular payer's payment, a benefit top-up, a UC claimant's monthly payment, a catch-up lump
      towards the arrears). Direct debits are not affected. The boost decays by synth's
      ``BOOST_DECAY`` (×0.75) a week and never exceeds ``max_boost``.
    - **Agreement**: with probability ``agree[channel] × multiplier(archetype)`` (never above
      ``max_agree``), a tenant owing at least ``agree_min_weeks`` of rent agrees an arrangement: an
      officer sets it up (``OfficerModel.minutes['agreement']``, under both policies) and the tenant pays
      an instalment each week with probability ``keep[archetype]``.

    Legal notices (NOSP, court warning letter, court papers) multiply both by ``legal_notice_uplift``.
    """

    boost: dict = field(default_factory=lambda: {"email": 0.04, "sms": 0.05, "letter": 0.08, "phone": 0.15})
    agree: dict = field(default_factory=lambda: {"email": 0.01, "sms": 0.01, "letter": 0.02, "phone": 0.12})
    legal_notice_uplift: float = 1.5
    max_boost: float = 0.3
    max_agree: float = 0.25
    agree_min_weeks: float = 1.0
    archetype_multiplier: dict = field(
        default_factory=lambda: {
            "steady_dd": 1.0,
            "steady_other": 1.0,
            "dd_bounce": 1.0,
            "housing_benefit": 0.8,
            "universal_credit": 0.8,
            "income_shock": 0.8,
            "chronic_late": 0.6,
            "wont_pay": 0.2,
        }
    )
    keep: dict = field(
        default_factory=lambda: {
            "steady_dd": 0.9,
            "steady_other": 0.9,
            "dd_bounce": 0.8,
            "housing_benefit": 0.8,
            "universal_credit": 0.7,
            "income_shock": 0.7,
            "chronic_late": 0.6,
            "wont_pay": 0.3,
        }
    )
    default_multiplier: float = 0.8
    default_keep: float = 0.7
    instalment_weeks: float = 26.0  # an arrangement clears the arrears over this many weeks ...
    instalment_min: float = 3.70  # ... at no less than £3.70 a week (the usual minimum UC deduction) ...
    instalment_max_rent_share: float = 0.5  # ... and no more than half the weekly rent

    def multiplier(self, archetypes: np.ndarray) -> np.ndarray:
        table = self.archetype_multiplier
        return np.array([table.get(a, self.default_multiplier) for a in archetypes], dtype=np.float64)

    def keep_probability(self, archetypes: np.ndarray) -> np.ndarray:
        table = self.keep
        return np.array([table.get(a, self.default_keep) for a in archetypes], dtype=np.float64)

    def effects(
        self, channel: np.ndarray, legal: np.ndarray, multiplier: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(boost added, probability of agreeing) per tenancy for a contact on ``channel`` (codes of
        ``CHANNEL_CODES``; 0 = no contact)."""
        boost_by_code = np.array([0.0] + [self.boost.get(c, 0.0) for c in CHANNEL_CODES[1:]])
        agree_by_code = np.array([0.0] + [self.agree.get(c, 0.0) for c in CHANNEL_CODES[1:]])
        scale = multiplier * np.where(legal, self.legal_notice_uplift, 1.0)
        boost = np.minimum(boost_by_code[channel] * scale, self.max_boost)
        agree = np.minimum(agree_by_code[channel] * scale, self.max_agree)
        return boost, agree

    def instalment(self, arrears: np.ndarray, rent: np.ndarray) -> np.ndarray:
        weekly = np.maximum(arrears, 0.0) / self.instalment_weeks
        weekly = np.clip(
            weekly,
            self.instalment_min,
            np.maximum(self.instalment_min, rent * self.instalment_max_rent_share),
        )
        return np.round(weekly, 2)


@dataclass
class LegalModel:
    """What happens after a court application (the tenant's side of the court process)."""

    hearing_after_weeks: int = 8  # claim issued to first hearing
    outcomes: dict = field(
        default_factory=lambda: {"SPO": 0.45, "ADT": 0.25, "OPD": 0.10, "AGP": 0.10, "WIT": 0.10}
    )
    eviction_after_weeks: int = 6  # warrant applied for to eviction date


@dataclass
class Assumptions:
    arrears_threshold: float = 10.0  # baseline: arrears after grace at or above this open an officer case
    officers: OfficerModel = field(default_factory=OfficerModel)
    response: ResponseModel = field(default_factory=ResponseModel)
    legal: LegalModel = field(default_factory=LegalModel)
    pause_days: int = 14  # a rule's pause action without days

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> Assumptions:
        """Defaults overridden by ``data`` (nested dicts merge; unknown keys are an error)."""
        return _merge(cls(), data or {}, "assumptions")

    @classmethod
    def from_file(cls, path: str | Path) -> Assumptions:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _merge(obj, data: dict, where: str):
    known = {f.name: f for f in fields(obj)}
    changes = {}
    for key, value in data.items():
        if key not in known:
            raise ValueError(f"{where}: unknown assumption {key!r} (known: {', '.join(known)})")
        current = getattr(obj, key)
        if hasattr(current, "__dataclass_fields__"):
            if not isinstance(value, dict):
                raise ValueError(f"{where}.{key}: expected an object")
            changes[key] = _merge(current, value, f"{where}.{key}")
        elif isinstance(current, dict):
            if not isinstance(value, dict):
                raise ValueError(f"{where}.{key}: expected an object")
            changes[key] = {**current, **value}
        else:
            changes[key] = type(current)(value) if current is not None else value
    return replace(obj, **changes)


@dataclass
class SimulationConfig:
    tenancies: int = 5000
    weeks: int = 26
    seed: int = 0
    history_weeks: int = 52  # synthetic history before the simulation starts (trains the risk model)
    rules: str = "uk-ladder"
    officers: int | None = None  # default: synth's staffing, about one officer per 500 tenancies
    use_model: bool = True  # train the risk model once on the history and score every week
    assumptions: Assumptions = field(default_factory=Assumptions)


@dataclass
class SimulationResult:
    results: dict  # JSON-able; see docs/simulation.md
    weekly: dict[str, pd.DataFrame]  # per policy, one row per week (the same as results[...]['weekly'])
    timings: dict[str, float] = field(default_factory=dict)
    ledgers: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)  # per policy, full ledger
    actions: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)  # per policy, full history
    tenancies: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)  # per policy (evictions end)
    start: pd.Timestamp | None = None  # Monday of simulated week 0


# ---------------------------------------------------------------------------------------------------
# The portfolio both policies share

# Officer actions of the shipped packs: the minutes category each costs.
ACTION_MINUTES = {
    "nosp": "nosp",
    "apply_for_court_date": "court",
    "apply_for_warrant": "warrant",
    "pre_action_protocol_check": "pre_action",
    "court_order_breach": "visit",
    "agreement_breach_follow_up": "phone",
    "vulnerable_review": "phone",
    "arrears_call": "phone",
    "update_court_outcome": "task",
    "check_data": "task",
    # hackney-2020's own codes for the same kinds of step
    "send_nosp": "nosp",
    "apply_for_outright_possession_warrant": "warrant",
    "court_breach_visit": "visit",
    "court_breach_no_payment": "visit",
    "address_court_agreement_breach": "visit",
    "informal_breached_after_letter": "phone",
    "review_failed_letter": "task",
}
# Action codes whose effect the simulation records (a notice served, a warrant applied for), by pack.
NOTICE_CODES = frozenset({"nosp", "send_nosp"})
WARRANT_CODES = frozenset({"apply_for_warrant", "apply_for_outright_possession_warrant"})
# Officer actions that are a conversation with the tenant (a response chance, like a call).
CONVERSATIONS = frozenset(
    {
        "pre_action_protocol_check",
        "court_order_breach",
        "agreement_breach_follow_up",
        "vulnerable_review",
        "arrears_call",
        "court_breach_visit",
        "court_breach_no_payment",
        "address_court_agreement_breach",
        "informal_breached_after_letter",
    }
)
# Contacts that are legal notices (the response uplift applies).
LEGAL_NOTICES = (
    NOTICE_CODES
    | WARRANT_CODES
    | {"court_warning_letter", "send_court_warning_letter", "apply_for_court_date"}
)
ORDERS_WITH_TERMS = ("SPO", "ADT", "PPO", "SOT")


@dataclass
class _World:
    """Everything identical under both policies: tenancies, officers, history, the random stream."""

    portfolio: object  # synth.Portfolio at the start
    inputs: object  # validation.Inputs of the portfolio (the history)
    ids: np.ndarray
    archetype: np.ndarray
    origin: np.datetime64
    first_week: int  # the payer model's week number of simulated week 0
    seed: int
    rent_roll: float  # annual rent roll at the start (52 × weekly rents of current tenancies)

    def monday(self, k: int) -> pd.Timestamp:
        return pd.Timestamp(self.origin + 7 * (self.first_week + k))

    def payment_rng(self, k: int) -> np.random.Generator:
        """The payer step's generator for simulated week ``k``: the same under both policies."""
        return np.random.default_rng([self.seed, k, 1])

    def draws(self, k: int) -> dict[str, np.ndarray]:
        """Response and court uniforms for simulated week ``k``: the same arrays under both policies."""
        rng = np.random.default_rng([self.seed, k, 2])
        n = len(self.ids)
        return {name: rng.random(n) for name in ("agree", "court")}


class _PolicyState:
    """One policy's evolving world: payer state, ledger, case state, history and counters."""

    def __init__(self, name: str, world: _World):
        import copy

        self.name = name
        n = len(world.ids)
        self.payer = copy.deepcopy(world.portfolio.model)
        self.tenancies = world.inputs.tenancies.copy()
        pending = world.portfolio.pending
        self.ledger = pd.concat([world.inputs.ledger, _typed_ledger(pending)], ignore_index=True)
        self.actions = world.inputs.actions.copy()
        self.cases = _Cases(world.inputs.cases, world.ids)
        self.pending_outcome = np.full(n, "", dtype=object)
        self.contact = np.zeros(n, dtype=np.int8)  # this week's strongest delivered contact
        self.legal_contact = np.zeros(n, dtype=bool)
        self.touched = np.zeros(n, dtype=bool)  # an officer worked the case this week
        self.ever_open = self.cases["has_case"].copy()
        self.ever_officer = np.zeros(n, dtype=bool)
        self.reached_nosp = np.zeros(n, dtype=bool)
        self.reached_court = np.zeros(n, dtype=bool)
        self.evicted = np.zeros(n, dtype=bool)
        self.opened_week = np.where(self.ever_open, -1, -2).astype(np.int64)  # -1: open at the start
        self.resolution_weeks: list[int] = []
        self.weekly: list[dict] = []
        self.actions_by_stage: dict[str, dict[str, int]] = {}
        self.officer_weeks: dict[str, int] = {}
        self.minutes_by_officer: dict[str, float] = {}
        self.messages_total: dict[str, int] = {}
        self.suppressed_total: dict[str, int] = {}
        self.actions_total: dict[str, int] = {}
        self.rent_due = 0.0
        self.collected = 0.0
        self.unworked = 0
        self.reassigned = 0
        self.agreements_made = 0
        self.case_counter = 0
        self.last_frame: pd.DataFrame | None = None
        self.pause_days: dict[str, float] = {}
        self.pause_reasons: dict[str, str] = {}
        self.week_opened = self.week_resolved = 0
        self.week_messages: dict[str, int] = {}
        self.week_suppressed: dict[str, int] = {}


def _typed_ledger(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[["tenancy", "date", "amount", "kind"]].copy()
    out["tenancy"] = out["tenancy"].astype(object)
    out["kind"] = out["kind"].astype(object)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    out["amount"] = out["amount"].astype(np.float64)
    return out


class _Cases:
    """Open-case state for every tenancy as numpy arrays (one per CASES column, plus ``has_case``).

    Row i is tenancy i. Writing is plain array assignment; ``frame()`` builds the cases frame the
    nightly decision reads (open cases only)."""

    def __init__(self, recorded: pd.DataFrame | None, ids: np.ndarray):
        from awm_frappe.engine.facts import with_defaults

        n = len(ids)
        self.ids = ids
        self.blank = {}
        self.data: dict[str, np.ndarray] = {}
        for column in CASES.columns:
            if column.kind == "date":
                value, dtype = np.datetime64("NaT", "ns"), "datetime64[ns]"
            elif column.kind == "float":
                value, dtype = np.nan if column.default is None else float(column.default), np.float64
            elif column.kind == "int":
                value, dtype = 0, np.int64
            elif column.kind == "bool":
                value, dtype = bool(column.default), bool
            else:
                value, dtype = column.default or "", object
            self.blank[column.name] = value
            self.data[column.name] = np.full(n, value, dtype=dtype)
        self.data["tenancy"] = np.asarray(ids, dtype=object)
        self.data["has_case"] = np.zeros(n, dtype=bool)
        if recorded is not None and len(recorded):
            typed = with_defaults(recorded, CASES).drop_duplicates("tenancy", keep="last")
            rows = pd.Index(ids).get_indexer(typed["tenancy"])
            typed, rows = typed[rows >= 0], rows[rows >= 0]
            for column in CASES.names[1:]:
                self.data[column][rows] = typed[column].to_numpy(dtype=self.data[column].dtype)
            self.data["has_case"][rows] = True

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    def reset(self, idx: np.ndarray) -> None:
        """Blank the case columns of ``idx`` (a closed case), keeping the tenancy's history counts."""
        for name, value in self.blank.items():
            if name not in ("tenancy", "prior_cases", "broken_agreements"):
                self.data[name][idx] = value
        self.data["has_case"][idx] = False

    def frame(self) -> pd.DataFrame:
        rows = np.flatnonzero(self.data["has_case"])
        return pd.DataFrame({name: self.data[name][rows] for name in CASES.names})


# ---------------------------------------------------------------------------------------------------
# Running


def run_simulation(
    config: SimulationConfig | None = None, progress: Progress | None = None
) -> SimulationResult:
    """Simulate ``config.weeks`` weeks under both policies; see the module docstring."""
    from awm_frappe.engine import synth
    from awm_frappe.engine.packs import load_pack
    from awm_frappe.engine.validation import validate_inputs

    config = config or SimulationConfig()
    say = progress or (lambda message: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    say(f"synthesising {config.tenancies:,} tenancies with {config.history_weeks} weeks of history")
    portfolio = synth.synthesize(
        config.tenancies, config.history_weeks, config.seed, officers=config.officers
    )
    inputs = validate_inputs(
        portfolio.tenancies, portfolio.ledger, portfolio.cases, portfolio.actions, portfolio.officers
    )
    pack = load_pack(config.rules)
    world = _World(
        portfolio=portfolio,
        inputs=inputs,
        ids=inputs.tenancies["tenancy"].to_numpy(dtype=object),
        archetype=portfolio.truth.set_index("tenancy")["archetype"]
        .reindex(inputs.tenancies["tenancy"])
        .to_numpy(dtype=object),
        origin=portfolio.model.origin,
        first_week=config.history_weeks,
        seed=config.seed,
        rent_roll=0.0,
    )
    active = portfolio.model.active(world.first_week)
    world.rent_roll = float((portfolio.model.rent_for_week(world.first_week) * active).sum() * 52)
    timings["synthesise"] = time.perf_counter() - started

    model, model_note = None, ""
    if config.use_model:
        started = time.perf_counter()
        say("training the risk model once on the history")
        model, model_note = _train_model(inputs, portfolio.as_of, config.seed)
        timings["train"] = time.perf_counter() - started

    states = {name: _PolicyState(name, world) for name in POLICIES}
    for state in states.values():
        for rule in pack.rules:
            if rule.action.type == "pause":
                state.pause_days[rule.name] = float(rule.action.days or config.assumptions.pause_days)
                state.pause_reasons[rule.name] = rule.action.reason or "other"
    start_arrears = {name: float(np.clip(s.payer.balance, 0, None).sum()) for name, s in states.items()}
    started = time.perf_counter()
    for k in range(config.weeks):
        draws = world.draws(k)
        for name in POLICIES:
            _simulate_week(
                states[name], world, k, draws, pack, model if name == "automation" else None, config
            )
        last = {name: states[name].weekly[-1] for name in POLICIES}
        say(
            f"week {k + 1}/{config.weeks} ({last['baseline']['date']}): officer cases "
            f"{last['baseline']['officer_cases']:,} baseline vs {last['automation']['officer_cases']:,} "
            f"automation; arrears {last['baseline']['arrears_pct_of_rent_roll']:.2f}% vs "
            f"{last['automation']['arrears_pct_of_rent_roll']:.2f}%"
        )
    timings["simulate"] = time.perf_counter() - started
    results = _results(config, world, states, start_arrears, pack, model, model_note)
    results["timings_seconds"] = {key: round(value, 2) for key, value in timings.items()}
    weekly = {name: pd.DataFrame(states[name].weekly) for name in POLICIES}
    return SimulationResult(
        results=results,
        weekly=weekly,
        timings=timings,
        ledgers={name: states[name].ledger for name in POLICIES},
        actions={name: states[name].actions for name in POLICIES},
        tenancies={name: states[name].tenancies for name in POLICIES},
        start=world.monday(0),
    )


def _train_model(inputs, as_of, seed: int):
    from awm_frappe.engine import model as risk_model

    try:
        trained = risk_model.train(inputs.tenancies, inputs.ledger, as_of, seed=seed)
    except (risk_model.ModelError, ValueError) as error:
        return None, f"risk model not trained: {error}"
    return trained, ""


def _simulate_week(
    state: _PolicyState, world: _World, k: int, draws: dict, pack, model, config: SimulationConfig
) -> None:
    from awm_frappe.engine.pipeline import run_nightly
    from awm_frappe.engine.validation import Inputs

    a = config.assumptions
    n = len(world.ids)
    monday = world.monday(k)
    as_of = monday + pd.Timedelta(days=6)  # the decision runs on Sunday night: the whole week is posted
    minutes = np.zeros(n)  # officer minutes spent on each case this week
    state.touched[:] = False
    state.week_opened = state.week_resolved = 0
    state.week_messages, state.week_suppressed = {}, {}
    week = {"week": k + 1, "date": as_of.date().isoformat()}
    counters = {"nosp_served": 0, "court_applications": 0, "evictions": 0, "agreements_made": 0}

    # 1. Responses to last week's contact: the payment nudge and arrangements.
    agreed = _respond(state, world, draws, a, as_of)
    counters["agreements_made"] += len(agreed)
    if len(agreed):
        minutes[agreed] += a.officers.minutes["agreement"]
        state.touched[agreed] = True
    state.contact[:] = 0
    state.legal_contact[:] = False

    # 2. Rent and payments: synth's payer step on the shared generator.
    week_number = world.first_week + k
    tx = state.payer.step(week_number, world.payment_rng(k))
    frame = _typed_ledger(tx.to_frame(world.ids, world.origin))
    state.ledger = pd.concat([state.ledger, frame], ignore_index=True)
    rent = frame["kind"].eq("rent")
    paid = frame["kind"].isin(["payment", "hb", "uc"])
    week["rent_due"] = round(float(frame.loc[rent, "amount"].sum()), 2)
    week["collected"] = round(float(-frame.loc[paid, "amount"].sum()), 2)
    state.rent_due += week["rent_due"]
    state.collected += week["collected"]

    # 3. Court hearings that have happened: the outcome is known, an officer records it.
    cases = state.cases
    heard = (
        cases["has_case"]
        & (cases["court_date"] <= np.datetime64(as_of, "ns"))
        & (cases["court_outcome"] == "")
        & (state.pending_outcome == "")
    )
    if heard.any():
        codes = list(a.legal.outcomes)
        cdf = np.cumsum([a.legal.outcomes[c] for c in codes])
        cdf = cdf / cdf[-1]
        pick = np.searchsorted(cdf, draws["court"][heard], side="right").clip(0, len(codes) - 1)
        state.pending_outcome[heard] = np.asarray(codes, dtype=object)[pick]
    # Evictions carried out: the tenancy ends (former-tenant arrears stay on the account).
    evict = (cases["eviction_date"] <= np.datetime64(as_of, "ns")) & ~state.evicted
    if evict.any():
        idx = np.flatnonzero(evict)
        state.evicted[idx] = True
        state.payer.end_week[idx] = week_number
        state.payer.clear_agreement(idx)
        state.tenancies.loc[idx, "end_date"] = as_of
        counters["evictions"] += len(idx)

    # 4. The nightly decision.
    open_cases = cases.frame()
    inputs = Inputs(state.tenancies, state.ledger, open_cases, state.actions, world.inputs.officers)
    if model is not None and hasattr(model, "ledger"):
        model.ledger = state.ledger  # the model reads payments by kind from the ledger it is bound to
    result = run_nightly(inputs, as_of, pack, model=model, render=False)
    decisions = result.decisions
    position = pd.Index(world.ids).get_indexer(decisions["tenancy"])
    decisions = decisions.set_index(position).sort_index()
    frame_cf = result.case_frame.reset_index(drop=True)
    state.last_frame = frame_cf
    _sync_agreements(state, frame_cf)

    # 5. Work.
    if state.name == "baseline":
        done, officer_of, tasks = _baseline_work(state, world, decisions, frame_cf, as_of, a, minutes)
    else:
        done, officer_of, tasks = _automation_work(state, world, decisions, as_of, a, minutes)
    _apply_actions(state, world, decisions, done, as_of, a, counters, officer_of)

    # 6. Counters for the week.
    has_case = state.cases["has_case"]
    held = has_case & np.isin(state.cases["status"], list(OFFICER_HELD))
    officer_case = (has_case if state.name == "baseline" else held) | state.touched
    state.ever_officer |= officer_case
    state.ever_open |= has_case
    officers = world.inputs.officers["officer"].tolist()
    case_officer = state.cases["officer"]
    for officer in officers:
        state.officer_weeks[officer] = state.officer_weeks.get(officer, 0) + int(
            (officer_case & (case_officer == officer)).sum()
        )
        state.minutes_by_officer[officer] = state.minutes_by_officer.get(officer, 0.0) + float(
            minutes[officer_case & (case_officer == officer)].sum()
        )
    messages = state.week_messages
    suppressed = state.week_suppressed
    for channel, count in messages.items():
        state.messages_total[channel] = state.messages_total.get(channel, 0) + count
    for reason, count in suppressed.items():
        state.suppressed_total[reason] = state.suppressed_total.get(reason, 0) + count
    balance = state.payer.balance
    week.update(
        {
            "open_cases": int(has_case.sum()),
            "officer_cases": int(officer_case.sum()),
            "officers": len(officers),
            "officer_cases_per_officer": round(float(officer_case.sum()) / max(1, len(officers)), 2),
            "handled_without_officer_share": round(
                float((has_case & ~officer_case).sum()) / max(1, int(has_case.sum())), 4
            ),
            "officer_hours": round(float(minutes.sum()) / 60.0, 1),
            "officer_tasks": int(tasks["total"]),
            "officer_tasks_unworked": int(tasks["unworked"]),
            "arrears": round(float(np.clip(balance, 0, None).sum()), 2),
            "arrears_pct_of_rent_roll": round(
                100.0 * float(np.clip(balance, 0, None).sum()) / world.rent_roll, 4
            ),
            "collection_rate": round(week["collected"] / week["rent_due"], 4) if week["rent_due"] else None,
            **counters,
            "cases_reached_nosp": int(state.reached_nosp.sum()),
            "cases_reached_court": int(state.reached_court.sum()),
            "cases_opened": state.week_opened,
            "cases_resolved": state.week_resolved,
            "messages": dict(sorted(messages.items())),
            "suppressed": int(sum(suppressed.values())),
            "officer_cases_by_reason": _officer_case_reasons(state, world, officer_case),
        }
    )
    state.unworked += int(tasks["unworked"])
    state.weekly.append(week)


def _officer_case_reasons(state: _PolicyState, world: _World, officer_case: np.ndarray) -> dict[str, int]:
    """Why each officer case needs a person, in a fixed order (first that applies): a legal stage,
    a vulnerable tenant, an arrangement or agreement, worked this week (any other step), or held."""
    cases = state.cases
    vulnerable = world.inputs.tenancies["vulnerable"].to_numpy(dtype=bool)
    legal = np.isin(cases["stage"], list(LEGAL_STAGES)) | np.isin(cases["status"], ["legal"])
    agreement = (cases["agreement_status"] != "") & ~np.isin(cases["agreement_status"], ["completed"])
    labels = np.select(
        [legal, vulnerable, agreement, state.touched],
        ["legal", "vulnerable", "agreement", "other step"],
        "held",
    )
    if state.name == "baseline":
        labels = np.where(legal | vulnerable | agreement | state.touched, labels, "arrears (no step needed)")
    values, counts = np.unique(labels[officer_case].astype(str), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts, strict=True)}


def _respond(state: _PolicyState, world: _World, draws: dict, a: Assumptions, as_of) -> np.ndarray:
    """Apply last week's contacts: the payment boost, and arrangements. Returns who agreed one."""
    response = a.response
    contacted = state.contact > 0
    if not contacted.any():
        return np.zeros(0, dtype=np.int64)
    multiplier = response.multiplier(world.archetype)
    boost, p_agree = response.effects(state.contact, state.legal_contact, multiplier)
    payer = state.payer
    payer.propensity_boost[:] = np.minimum(response.max_boost, payer.propensity_boost + boost)
    frame = state.last_frame
    arrears = frame["collectable_arrears"].to_numpy(dtype=np.float64)
    rent = frame["weekly_rent"].to_numpy(dtype=np.float64)
    cases = state.cases
    no_live = ~(cases["agreement_status"] == "live") | ~cases["has_case"]
    can_agree = (
        contacted
        & no_live
        & (arrears >= response.agree_min_weeks * rent)
        & np.isnat(cases["court_date"])
        & ~state.evicted
    )
    agreed = np.flatnonzero(can_agree & (draws["agree"] < p_agree))
    if len(agreed):
        instalment = response.instalment(arrears[agreed], rent[agreed])
        keep = response.keep_probability(world.archetype[agreed])
        payer.set_agreement(agreed, instalment, keep)
        _open_cases(state, agreed, as_of, status="agreement")
        cases["agreement_start"][agreed] = as_of
        cases["agreement_frequency"][agreed] = "weekly"
        cases["agreement_instalment"][agreed] = instalment
        cases["agreement_initial_payment"][agreed] = 0.0
        cases["agreement_starting_balance"][agreed] = np.round(payer.balance[agreed], 2)
        cases["agreement_formal"][agreed] = False
        cases["agreement_status"][agreed] = "live"
        cases["status"][agreed] = "agreement"
        _log(state, world, agreed, as_of, "agreement_made", "", "")
        state.agreements_made += len(agreed)
    # The payer model decays the boost by BOOST_DECAY in synth's own history; do the same here.
    payer.propensity_boost *= _boost_decay()
    return agreed


def _boost_decay() -> float:
    from awm_frappe.engine.synth import PayerModel

    return PayerModel.BOOST_DECAY


def _sync_agreements(state: _PolicyState, frame: pd.DataFrame) -> None:
    """Completed agreements stop (the payer stops paying instalments); the engine re-checks breaches."""
    if "agreement_completed" not in frame:
        return
    done = frame["agreement_completed"].to_numpy(dtype=bool) & (state.cases["agreement_status"] == "live")
    if done.any():
        idx = np.flatnonzero(done)
        state.cases["agreement_status"][idx] = "completed"
        state.payer.clear_agreement(idx)


def _officer_capacity(world: _World, as_of, a: Assumptions) -> dict[str, float]:
    """Weekly casework minutes per officer: capacity points / 100 × casework hours; 0 while absent."""
    officers = world.inputs.officers
    out = {}
    for row in officers.itertuples(index=False):
        absent = pd.notna(row.absent_until) and pd.Timestamp(row.absent_until) > as_of
        share = float(row.capacity) / 100.0 if pd.notna(row.capacity) else 1.0
        out[row.officer] = 0.0 if absent else a.officers.casework_hours_per_week * 60.0 * share
    return out


def _work(tasks: pd.DataFrame, capacity: dict[str, float]) -> np.ndarray:
    """Which tasks are done: each officer works their tasks by priority until their minutes run out."""
    if tasks.empty:
        return np.zeros(0, dtype=bool)
    order = tasks.assign(_neg=-tasks["priority"]).sort_values(["officer", "_neg", "pos"], kind="stable")
    spent = order.groupby("officer", sort=False)["minutes"].cumsum()
    limit = order["officer"].map(capacity).fillna(0.0)
    done = (spent <= limit).reindex(tasks.index).to_numpy()
    return done


def _task_minutes(decisions: pd.DataFrame, a: Assumptions, all_by_officer: bool) -> np.ndarray:
    """Officer minutes for the step each decision calls for (0 for none / automated)."""
    m = a.officers.minutes
    action = decisions["action"].to_numpy(dtype=object)
    kind = decisions["action_type"].to_numpy(dtype=object)
    channel = decisions["channel"].fillna("").to_numpy(dtype=object)
    status = decisions["message_status"].to_numpy(dtype=object)
    officer = decisions["needs_officer"].to_numpy(dtype=bool)
    out = np.zeros(len(decisions))
    for i in np.flatnonzero(action != "none"):
        if kind[i] == "send_message":
            if officer[i]:  # a call instead of a message (vulnerable, no channel, phone)
                out[i] = m["phone"]
            elif all_by_officer and status[i] == "send":
                out[i] = m.get(channel[i], m["letter"])
        elif kind[i] in rules.OFFICER_ACTION_TYPES or officer[i]:
            out[i] = m.get(ACTION_MINUTES.get(action[i], "task"), m["task"])
    return out


def _baseline_work(state, world, decisions, frame, as_of, a, minutes):
    """Manual: every case over the threshold is an officer's; worked highest balance first."""
    cases = state.cases
    aag = frame["arrears_after_grace"].to_numpy(dtype=np.float64)
    new = ~cases["has_case"] & (aag >= a.arrears_threshold) & ~state.evicted
    _open_cases(state, np.flatnonzero(new), as_of, status="worktray")
    has_case = cases["has_case"]
    # Officers: Frappe's "load balancing" assignment (fewest open cases), sticky once assigned.
    open_idx = np.flatnonzero(has_case)
    frame_alloc = pd.DataFrame(
        {
            "patch": state.tenancies["patch"].to_numpy()[open_idx],
            "needs_officer": True,
            "officer": cases["officer"][open_idx],
            "stage": cases["stage"][open_idx],
            "skill": "",
            "risk_score": np.nan,
            "priority": aag[open_idx],
        },
        index=pd.Index(world.ids[open_idx], name="tenancy"),
    )
    allocated = allocation.least_count_allocate(frame_alloc, world.inputs.officers, as_of)
    officer = allocated.assignments["officer"].to_numpy(dtype=object)
    cases["officer"][open_idx] = np.where(officer == "", cases["officer"][open_idx], officer)
    step = _task_minutes(decisions.loc[open_idx], a, all_by_officer=True)
    # Closing a cleared case and recording an agreement kept are clerical: no officer time.
    tasks = pd.DataFrame(
        {
            "pos": open_idx,
            "officer": cases["officer"][open_idx],
            "priority": frame["balance"].to_numpy(dtype=np.float64)[open_idx],
            "minutes": a.officers.review_minutes + step,
        }
    )
    worked = _work(tasks, _officer_capacity(world, as_of, a))
    done_idx = open_idx[worked]
    minutes[done_idx] += tasks["minutes"].to_numpy()[worked]
    state.touched[done_idx] = True
    done = np.zeros(len(world.ids), dtype=bool)
    acted = decisions["action"].to_numpy(dtype=object) != "none"
    done[done_idx] = True
    done &= acted
    # Clerical changes happen without an officer: closing a cleared case, an agreement being kept.
    clerical = acted & decisions["action_type"].isin(["close", "set_stage"]).to_numpy() & has_case
    done |= clerical
    # Messages the officer would send but that the contact policy suppresses are not sent.
    _count_messages(state, decisions, done, by_officer=True)
    unworked = int((~worked & (step > 0)).sum())
    return (
        done,
        cases["officer"],
        {"total": int((step > 0).sum()), "unworked": unworked},
    )


def _automation_work(state, world, decisions, as_of, a, minutes):
    """Automation: messages go out by themselves; officers work the routed cases by priority."""
    cases = state.cases
    n = len(world.ids)
    acted = decisions["action"].to_numpy(dtype=object) != "none"
    needs = decisions["needs_officer"].to_numpy(dtype=bool) & acted
    step = _task_minutes(decisions, a, all_by_officer=False)
    officer = decisions["officer"].fillna("").to_numpy(dtype=object)
    # Cases an officer holds (worktray / legal) get their weekly review, with or without a new step.
    held = cases["has_case"] & np.isin(cases["status"], list(OFFICER_HELD))
    on_tray = needs | held
    idx = np.flatnonzero(on_tray)
    owner = np.where(officer[idx] != "", officer[idx], cases["officer"][idx])
    # A case no eligible officer could take (e.g. a legal step in a patch no legal officer works) goes to
    # a present officer working the patch, fewest cases first, as a team leader would reassign it.
    orphan = owner == ""
    if orphan.any():
        owner[orphan] = _fallback_officers(
            world, state.tenancies["patch"].to_numpy(dtype=object)[idx[orphan]], owner, as_of
        )
        state.reassigned += int(orphan.sum())
    tasks = pd.DataFrame(
        {
            "pos": idx,
            "officer": owner,
            "priority": decisions["priority"].to_numpy(dtype=np.float64)[idx],
            "minutes": a.officers.review_minutes + step[idx],
        }
    )
    worked = _work(tasks, _officer_capacity(world, as_of, a))
    done_idx = idx[worked]
    minutes[done_idx] += tasks["minutes"].to_numpy()[worked]
    state.touched[done_idx] = True
    # Officer-routed cases not yet worked wait in the worktray (opened if new).
    waiting = idx[~worked & needs[idx]]
    _open_cases(state, waiting[~cases["has_case"][waiting]], as_of, status="worktray")
    cases["status"][waiting] = "worktray"
    cases["officer"][idx] = owner
    done = np.zeros(n, dtype=bool)
    done[done_idx] = True
    done &= needs
    automatic = acted & ~decisions["needs_officer"].to_numpy(dtype=bool)
    message = decisions["action_type"].eq("send_message").to_numpy()
    sent = decisions["message_status"].eq("send").to_numpy()
    done |= automatic & (~message | sent)
    _count_messages(state, decisions, done, by_officer=False)
    return done, officer, {"total": int(needs.sum()), "unworked": int((needs[idx] & ~worked).sum())}


def _fallback_officers(world: _World, patches: np.ndarray, owners: np.ndarray, as_of) -> np.ndarray:
    """Least-loaded present officer working each patch (any present officer when none works it)."""
    roster = world.inputs.officers
    present = [
        row.officer
        for row in roster.itertuples(index=False)
        if not (pd.notna(row.absent_until) and pd.Timestamp(row.absent_until) > as_of)
    ] or list(roster["officer"])
    works = {
        row.officer: set(
            row.patches if isinstance(row.patches, list | tuple) else str(row.patches).split(";")
        )
        for row in roster.itertuples(index=False)
    }
    load = {o: int((owners == o).sum()) for o in present}
    out = np.empty(len(patches), dtype=object)
    for i, patch in enumerate(patches):
        candidates = [o for o in present if patch in works[o]] or present
        chosen = min(candidates, key=lambda o: (load[o], o))
        load[chosen] += 1
        out[i] = chosen
    return out


def _count_messages(state: _PolicyState, decisions: pd.DataFrame, done: np.ndarray, by_officer: bool) -> None:
    message = decisions["action_type"].eq("send_message").to_numpy()
    status = decisions["message_status"].to_numpy(dtype=object)
    channel = decisions["channel"].fillna("").to_numpy(dtype=object)
    routed = decisions["needs_officer"].to_numpy(dtype=bool)
    sent = message & done & (status == "send") & ~routed
    calls = message & done & routed
    messages: dict[str, int] = {}
    for ch, count in zip(*np.unique(channel[sent].astype(str), return_counts=True), strict=True):
        messages[str(ch)] = int(count)
    if calls.any():
        messages["phone"] = messages.get("phone", 0) + int(calls.sum())
    state.week_messages = messages
    # Suppressed contacts: a message the rules wanted that the contact policy held back, on a case
    # the policy acts on this week (baseline: a case the officer reached).
    suppressed = message & (status == "suppressed") & ~routed
    if by_officer:
        suppressed &= state.touched
    reasons = decisions["suppression_reason"].fillna("").to_numpy(dtype=object)[suppressed]
    state.week_suppressed = {
        str(r): int(c) for r, c in zip(*np.unique(reasons.astype(str), return_counts=True), strict=True)
    }


def _open_cases(state: _PolicyState, idx: np.ndarray, as_of, status: str) -> None:
    idx = np.asarray(idx, dtype=np.int64)
    idx = idx[~state.cases["has_case"][idx]] if len(idx) else idx
    if not len(idx):
        return
    cases = state.cases
    cases.reset(idx)
    numbers = state.case_counter + np.arange(1, len(idx) + 1)
    state.case_counter += len(idx)
    cases["case"][idx] = [f"SIM-{state.name[:1].upper()}{m:06d}" for m in numbers]
    cases["opened_date"][idx] = as_of
    cases["status"][idx] = status
    cases["has_case"][idx] = True
    state.opened_week[idx] = len(state.weekly)
    state.week_opened += len(idx)


def _log(state: _PolicyState, world: _World, idx, as_of, action, rule, channel) -> None:
    idx = np.asarray(idx, dtype=np.int64)
    if not len(idx):
        return
    rows = pd.DataFrame(
        {
            "tenancy": world.ids[idx],
            "date": np.full(len(idx), np.datetime64(as_of, "ns")),
            "action": np.broadcast_to(np.asarray(action, dtype=object), idx.shape),
            "rule": np.broadcast_to(np.asarray(rule, dtype=object), idx.shape),
            "channel": np.broadcast_to(np.asarray(channel, dtype=object), idx.shape),
        }
    )
    state.actions = pd.concat([state.actions, rows], ignore_index=True)


def _apply_actions(state, world, decisions, done, as_of, a, counters, officer_of) -> None:
    """Write what was done this week into the case state and history, as a live system would."""
    cases = state.cases
    idx = np.flatnonzero(done)
    if not len(idx):
        return
    d = decisions.loc[idx]
    action = d["action"].to_numpy(dtype=object)
    kind = d["action_type"].to_numpy(dtype=object)
    needs = d["needs_officer"].to_numpy(dtype=bool)
    by_officer = needs | ((state.name == "baseline") & ~np.isin(kind, ["close", "set_stage"]))
    rule = d["rule"].to_numpy(dtype=object)
    message = kind == "send_message"
    channel = np.where(message & ~needs, d["channel"].fillna("").to_numpy(dtype=object), "")
    call = (message & needs) | np.isin(action, list(CONVERSATIONS))
    channel = np.where(call, "phone", channel)

    # Closing: the account is clear; the case is resolved.
    closing = kind == "close"
    close_idx = idx[closing & cases["has_case"][idx]]
    if len(close_idx):
        opened = state.opened_week[close_idx]
        week_now = len(state.weekly)
        state.resolution_weeks.extend((week_now - opened[opened >= 0]).tolist())
        state.week_resolved += len(close_idx)
        _log(state, world, close_idx, as_of, "case_cleared", "cleared", "")
        state.payer.clear_agreement(close_idx)
        cases.reset(close_idx)
        cases["prior_cases"][close_idx] += 1
        state.pending_outcome[close_idx] = ""
    keep = ~closing
    idx, action, kind, needs, by_officer, rule, channel = (
        v[keep] for v in (idx, action, kind, needs, by_officer, rule, channel)
    )
    d = d.loc[keep]
    if not len(idx):
        return
    _open_cases(state, idx, as_of, status="automated")
    stage_to = d["stage_to"].fillna("").to_numpy(dtype=object)
    stage_now = cases["stage"][idx]
    stage = np.where(stage_to != "", stage_to, stage_now)
    status_to = d["status_to"].fillna("").to_numpy(dtype=object)
    worked_status = np.where(
        np.isin(stage, list(LEGAL_STAGES)) | (status_to == "legal"), "legal", "automated"
    )
    status = np.where(
        needs,
        worked_status,
        np.where(status_to != "", status_to, cases["status"][idx]),
    )
    cases["stage"][idx] = stage
    cases["status"][idx] = status
    cases["last_action"][idx] = action
    cases["last_action_date"][idx] = as_of
    officer = officer_of[idx]
    cases["officer"][idx] = np.where(officer != "", officer, cases["officer"][idx])
    _log(state, world, idx, as_of, action, rule, channel)

    # Contact this week (the response happens next week).
    codes = np.array([CHANNEL_CODES.index(c) if c in CHANNEL_CODES else 0 for c in channel], dtype=np.int8)
    state.contact[idx] = np.maximum(state.contact[idx], codes)
    state.legal_contact[idx] |= np.isin(action, list(LEGAL_NOTICES))

    # Effects of particular steps.
    def rows(*codes: str) -> np.ndarray:
        return idx[np.isin(action, codes)]

    served = rows(*NOTICE_CODES)
    cases["nosp_served_date"][served] = as_of
    state.reached_nosp[served] = True
    counters["nosp_served"] += len(served)
    applied = rows("apply_for_court_date")
    cases["court_date"][applied] = as_of + pd.Timedelta(weeks=a.legal.hearing_after_weeks)
    cases["court_outcome"][applied] = ""
    state.pending_outcome[applied] = ""
    state.reached_court[applied] = True
    counters["court_applications"] += len(applied)
    protocol = rows("pre_action_protocol_check")
    _log(state, world, protocol, as_of, "pre_action_protocol", "pre_action_protocol_check", "")
    recorded = rows("update_court_outcome")
    recorded = recorded[state.pending_outcome[recorded] != ""]
    if len(recorded):
        cases["court_outcome"][recorded] = state.pending_outcome[recorded]
        state.pending_outcome[recorded] = ""
        _court_agreements(state, world, recorded, as_of, a)
    checked = rows("check_data")
    needs_terms = checked[
        np.isin(cases["court_outcome"], list(ORDERS_WITH_TERMS))[checked]
        & ~cases["agreement_formal"][checked]
    ]
    _court_agreements(state, world, needs_terms, as_of, a)
    warrant = rows(*WARRANT_CODES)
    cases["eviction_date"][warrant] = as_of + pd.Timedelta(weeks=a.legal.eviction_after_weeks)
    pausing = idx[kind == "pause"]
    if len(pausing):
        days = d["rule"].map(state.pause_days).fillna(a.pause_days).to_numpy()[kind == "pause"]
        cases["paused_until"][pausing] = as_of + pd.to_timedelta(days, unit="D")
        cases["pause_reason"][pausing] = (
            d["rule"].map(state.pause_reasons).fillna("other").to_numpy()[kind == "pause"]
        )

    # Tallies.
    for s, officer_done in zip(stage, by_officer, strict=True):
        slot = state.actions_by_stage.setdefault(str(s), {"officer": 0, "automated": 0})
        slot["officer" if officer_done else "automated"] += 1
    for code, count in zip(*np.unique(action.astype(str), return_counts=True), strict=True):
        state.actions_total[str(code)] = state.actions_total.get(str(code), 0) + int(count)


def _court_agreements(state, world, idx, as_of, a) -> None:
    """An order with terms (SPO, ADT, PPO, SOT) is a formal agreement from the hearing date."""
    cases = state.cases
    idx = idx[np.isin(cases["court_outcome"], list(ORDERS_WITH_TERMS))[idx]]
    if not len(idx):
        return
    rent = state.last_frame["weekly_rent"].to_numpy(dtype=np.float64)[idx]
    balance = np.round(state.payer.balance[idx], 2)
    instalment = a.response.instalment(balance, rent)
    cases["agreement_start"][idx] = as_of  # recorded today, after the hearing
    cases["agreement_frequency"][idx] = "weekly"
    cases["agreement_instalment"][idx] = instalment
    cases["agreement_initial_payment"][idx] = 0.0
    cases["agreement_starting_balance"][idx] = balance
    cases["agreement_formal"][idx] = True
    cases["agreement_status"][idx] = "live"
    state.payer.set_agreement(idx, instalment, a.response.keep_probability(world.archetype[idx]))


# ---------------------------------------------------------------------------------------------------
# Results


def _results(config, world, states, start_arrears, pack, model, model_note) -> dict:
    policies = {}
    for name in POLICIES:
        state = states[name]
        weekly = state.weekly
        officers = max(1, len(world.inputs.officers))
        officer_cases = np.array([w["officer_cases"] for w in weekly], dtype=np.float64)
        resolution = np.array(state.resolution_weeks, dtype=np.float64)
        ever_open = int(state.ever_open.sum())
        overall = {
            "mean_officer_cases": _r(officer_cases.mean() if len(weekly) else 0.0, 2),
            "peak_officer_cases": int(officer_cases.max()) if len(weekly) else 0,
            "officer_cases_per_officer": _r(officer_cases.mean() / officers if len(weekly) else 0.0, 2),
            "mean_open_cases": _r(np.mean([w["open_cases"] for w in weekly]) if weekly else 0.0, 2),
            "cases_open_during_run": ever_open,
            "cases_never_needing_an_officer": int((state.ever_open & ~state.ever_officer).sum()),
            "handled_without_officer_share": _r(
                float((state.ever_open & ~state.ever_officer).sum()) / max(1, ever_open), 4
            ),
            "officer_hours_total": _r(sum(w["officer_hours"] for w in weekly), 1),
            "officer_hours_per_week": _r(sum(w["officer_hours"] for w in weekly) / max(1, len(weekly)), 1),
            "officer_tasks_unworked": state.unworked,
            "officer_tasks_reassigned": state.reassigned,
            "arrears_start": _r(start_arrears[name], 2),
            "arrears_end": weekly[-1]["arrears"] if weekly else _r(start_arrears[name], 2),
            "arrears_pct_start": _r(100.0 * start_arrears[name] / world.rent_roll, 4),
            "arrears_pct_end": weekly[-1]["arrears_pct_of_rent_roll"] if weekly else None,
            "arrears_pct_mean": _r(np.mean([w["arrears_pct_of_rent_roll"] for w in weekly]), 4)
            if weekly
            else None,
            "rent_due": _r(state.rent_due, 2),
            "collected": _r(state.collected, 2),
            "collection_rate": _r(state.collected / state.rent_due, 4) if state.rent_due else None,
            "cases_reaching_nosp": int(state.reached_nosp.sum()),
            "cases_reaching_court": int(state.reached_court.sum()),
            "evictions": int(state.evicted.sum()),
            "agreements_made": state.agreements_made,
            "cases_resolved": len(resolution),
            "median_weeks_to_resolution": _r(np.median(resolution), 1) if len(resolution) else None,
            "mean_weeks_to_resolution": _r(resolution.mean(), 2) if len(resolution) else None,
            "messages_by_channel": dict(sorted(state.messages_total.items())),
            "messages_total": int(sum(state.messages_total.values())),
            "suppressed_by_reason": dict(sorted(state.suppressed_total.items())),
            "suppressed_total": int(sum(state.suppressed_total.values())),
            "actions": dict(sorted(state.actions_total.items())),
        }
        names = dict(zip(world.inputs.officers["officer"], world.inputs.officers["name"], strict=True))
        load = [
            {
                "officer": officer,
                "name": names.get(officer, ""),
                "mean_cases": _r(state.officer_weeks.get(officer, 0) / max(1, len(weekly)), 2),
                "hours_per_week": _r(
                    state.minutes_by_officer.get(officer, 0.0) / 60.0 / max(1, len(weekly)), 2
                ),
            }
            for officer in world.inputs.officers["officer"]
        ]
        policies[name] = {
            "label": "Manual baseline" if name == "baseline" else "Automation",
            "weekly": weekly,
            "overall": overall,
            "actions_by_stage": state.actions_by_stage,
            "officer_load": load,
        }
    base, auto = policies["baseline"]["overall"], policies["automation"]["overall"]
    reduction = (
        1.0 - auto["mean_officer_cases"] / base["mean_officer_cases"] if base["mean_officer_cases"] else None
    )
    arrears_diff = (auto["arrears_pct_end"] or 0.0) - (base["arrears_pct_end"] or 0.0)
    collection_diff = (auto["collection_rate"] or 0.0) - (base["collection_rate"] or 0.0)
    comparison = {
        "caseload_reduction": _r(reduction, 4),
        "officer_hours_reduction": _r(
            1.0 - auto["officer_hours_total"] / base["officer_hours_total"]
            if base["officer_hours_total"]
            else None,
            4,
        ),
        "arrears_pct_difference": _r(arrears_diff, 4),
        "collection_rate_difference": _r(collection_diff, 4),
        "no_worse": bool(arrears_diff <= 1e-9 and collection_diff >= -1e-9),
    }
    portfolio = world.portfolio
    return {
        "schema": SCHEMA,
        "config": {
            "tenancies": config.tenancies,
            "weeks": config.weeks,
            "seed": config.seed,
            "history_weeks": config.history_weeks,
            "rules": config.rules,
            "officers": len(world.inputs.officers),
            "use_model": config.use_model,
        },
        "assumptions": config.assumptions.to_dict(),
        "portfolio": {
            "tenancies": len(world.ids),
            "weeks": config.weeks,
            "start": world.monday(0).date().isoformat(),
            "end": (world.monday(config.weeks - 1) + pd.Timedelta(days=6)).date().isoformat()
            if config.weeks
            else world.monday(0).date().isoformat(),
            "history_as_of": portfolio.as_of.date().isoformat(),
            "annual_rent_roll": _r(world.rent_roll, 2),
            "officers": len(world.inputs.officers),
            "open_cases_at_start": int(world.inputs.cases["tenancy"].nunique())
            if world.inputs.cases is not None
            else 0,
            "archetypes": {
                str(k): int(v) for k, v in pd.Series(world.archetype).value_counts().sort_index().items()
            },
        },
        "stages": list(pack.stages),
        "policies": policies,
        "comparison": comparison,
        "risk_calibration": _calibration(states["automation"], world, model, model_note),
    }


def _calibration(state: _PolicyState, world: _World, model, note: str) -> dict:
    """The risk model's scores on the first simulated Monday against its own target, observed under the
    automation policy: the rows, features and target of ``model.build_rows`` (the training's own
    definition, Monday to Monday), so the chart compares like with like."""
    if model is None:
        return {"available": False, "note": note or "no risk model in this run", "bins": []}
    from awm_frappe.engine import model as risk
    from awm_frappe.engine.evaluation import brier, calibration_table

    meta = model.metadata.get("training", {})
    horizon = min(int(meta.get("horizon_weeks", 8)), len(state.weekly) - 1)
    target_weeks = float(meta.get("target_weeks", 2))
    if horizon < 1:
        return {"available": False, "note": "the run is too short to observe the risk target", "bins": []}
    start = world.monday(0)
    rows = risk.build_rows(state.tenancies, state.ledger, [start], horizon, target_weeks).frame
    y = rows["target"].to_numpy(dtype=float)
    p = model.predict_proba(rows, rows["as_of"])
    table = calibration_table(y, p, bins=10)
    return {
        "available": True,
        "target_description": (
            f"Scores on {start.date()} (the first simulated Monday); target: arrears after grace reach "
            f"{target_weeks:g} weeks' rent on one of the next {horizon} Mondays (the model's training "
            f"target, horizon {int(meta.get('horizon_weeks', 8))} weeks), observed under the automation "
            "policy."
        ),
        "observed_weeks": horizon,
        "rows": len(rows),
        "brier": _r(brier(y, p), 4),
        "base_rate": _r(float(y.mean()), 4),
        "bins": [
            {
                "lo": row["min_predicted"],
                "hi": row["max_predicted"],
                "n": row["rows"],
                "mean_score": row["mean_predicted"],
                "observed_rate": row["observed"],
            }
            for row in table
        ],
    }


def _r(value, digits: int):
    if value is None:
        return None
    value = float(value)
    if not np.isfinite(value):
        return None
    return round(value, digits)


# Per-seed figures of a multi-seed run (``seed_summary``): (key, where it comes from in one run's results).
SEED_FIGURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("caseload_reduction", ("comparison", "caseload_reduction")),
    ("officer_hours_reduction", ("comparison", "officer_hours_reduction")),
    ("arrears_pct_difference", ("comparison", "arrears_pct_difference")),
    ("collection_rate_difference", ("comparison", "collection_rate_difference")),
    ("baseline_officer_cases", ("policies", "baseline", "overall", "mean_officer_cases")),
    ("automation_officer_cases", ("policies", "automation", "overall", "mean_officer_cases")),
    ("baseline_nosp", ("policies", "baseline", "overall", "cases_reaching_nosp")),
    ("automation_nosp", ("policies", "automation", "overall", "cases_reaching_nosp")),
    ("baseline_court", ("policies", "baseline", "overall", "cases_reaching_court")),
    ("automation_court", ("policies", "automation", "overall", "cases_reaching_court")),
    ("baseline_evictions", ("policies", "baseline", "overall", "evictions")),
    ("automation_evictions", ("policies", "automation", "overall", "evictions")),
)


def seed_summary(runs: list[dict]) -> dict:
    """Figures of several seeds' results side by side, with each figure's min, max and mean.

    The seeds are paired comparisons (each seed runs both policies on one portfolio), so the spread of a
    difference across seeds is the honest measure of how much of it is noise."""
    per_seed = []
    for results in runs:
        row = {"seed": results["config"]["seed"]}
        for key, path in SEED_FIGURES:
            value = results
            for part in path:
                value = value[part]
            row[key] = value
        row["no_worse"] = results["comparison"]["no_worse"]
        per_seed.append(row)
    frame = pd.DataFrame(per_seed)
    spread = {}
    for key, _ in SEED_FIGURES:
        known = pd.to_numeric(frame[key], errors="coerce").dropna()  # None: no baseline cases to cut
        spread[key] = {
            "min": _r(float(known.min()), 4) if len(known) else None,
            "max": _r(float(known.max()), 4) if len(known) else None,
            "mean": _r(float(known.mean()), 4) if len(known) else None,
        }
    return {
        "seeds": [row["seed"] for row in per_seed],
        "config": {k: v for k, v in runs[0]["config"].items() if k != "seed"} if runs else {},
        "per_seed": per_seed,
        "range": spread,
        "no_worse_on_every_seed": bool(all(row["no_worse"] for row in per_seed)),
    }


def write_results(result: SimulationResult, out_dir: str | Path) -> Path:
    """results.json plus weekly_<policy>.csv in ``out_dir``; returns the JSON path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(result.results, indent=2, default=str) + "\n", encoding="utf-8")
    for name, frame in result.weekly.items():
        flat = frame.drop(columns=["messages", "officer_cases_by_reason"], errors="ignore")
        flat.to_csv(out / f"weekly_{name}.csv", index=False)
    return path
