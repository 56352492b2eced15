"""Worktray rules: parse rules written as data, then evaluate a pack over the case frame.

A rule is a JSON-able dict (the shape a Frappe "Worktray Rule" stores; see docs/engine.md, "Rules"):
conditions on case-frame fields, an action, a scope, a cooldown and a reason template. Parsing checks
every part against the field catalogue (``fields.field_kind``) and refuses what it cannot use with a
``RuleError`` naming the rule and the part. Nothing the user writes is ever eval'd: each condition is
compiled into a vectorised comparison over the whole frame, and the first matching rule (pack order)
wins per tenancy.

Guards no rule can override: paused, Breathing Space and deceased block every rule; an eviction date or
a future court date block every rule except ``review`` ones (data-quality tasks for officers).
"""

from __future__ import annotations

import json
import operator
import re
import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from awm_frappe.engine.durations import DurationError, parse_duration
from awm_frappe.engine.facts import DEFAULT_SETTINGS
from awm_frappe.engine.fields import KNOWN_FIELDS, field_kind, last_action_field
from awm_frappe.engine.schema import CASE_STATUSES, CHANNELS, TENURE_TYPES


class RuleError(ValueError):
    """A rule, or one part of it, that cannot be used. The message names the rule and the part."""


class _Invalid(Exception):
    """Raised while parsing one part of a rule; parse_rule adds the rule's name."""


# ---------------------------------------------------------------------------------------------------
# The vocabulary rules are written in.

ACTION_TYPES = (
    "send_message",
    "set_stage",
    "route_to_officer",
    "pause",
    "close",
    "set_priority",
    "flag_legal",
)
OFFICER_ACTION_TYPES = frozenset({"route_to_officer", "flag_legal"})
# Review rules run past the eviction/court guards, so they must never contact the tenant or move the
# case on their own: only officer tasks and priority changes.
REVIEW_ACTION_TYPES = frozenset({"route_to_officer", "flag_legal", "set_priority"})
MESSAGE_CHANNELS = (*CHANNELS, "preferred")

COMPARISONS = ("=", "!=", ">", ">=", "<", "<=")
WINDOWS = ("older than", "newer than", "not newer than", "within next")
OPERATORS = (*COMPARISONS, "in", "not in", "is set", "is not set", "between", *WINDOWS)
_OP_ALIASES = {"==": "=", "<>": "!="}

OPS_BY_KIND: dict[str, frozenset[str]] = {
    "number": frozenset({*COMPARISONS, "between", "in", "not in", "is set", "is not set"}),
    "money": frozenset({*COMPARISONS, "between", "is set", "is not set"}),
    "date": frozenset({*COMPARISONS, "between", "is set", "is not set", *WINDOWS}),
    "bool": frozenset({"=", "!=", "is set", "is not set"}),
    "text": frozenset({"=", "!=", "in", "not in", "is set", "is not set"}),
}
# Kinds whose values can be compared with each other through value_field.
_COMPARABLE = {"number": "numeric", "money": "numeric", "date": "date", "bool": "bool", "text": "text"}

# (label reported in blocked_by, case-frame field, whether review rules still run)
GUARDS: tuple[tuple[str, str, bool], ...] = (
    ("paused", "paused", False),
    ("breathing_space", "breathing_space", False),
    ("deceased", "deceased", False),
    ("eviction_date", "eviction_date_set", True),
    ("court_date_future", "court_date_future", True),
)

DEFAULT_STAGES = ["", "sms", "letter_1", "letter_2", "nosp", "court_warning", "court", "warrant", "eviction"]
_DURATION_SETTINGS = ("nosp_notice", "nosp_valid", "warrant_window")
_WEEKS_PER_MONTH = 52 / 12

# A code becomes the field name last_<code>_date, so it must be a plain snake_case word and must not
# collide with the catalogue's own last_action_date / last_payment_date / last_contact_date.
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED_CODES = frozenset(
    name[len("last_") : -len("_date")]
    for name in KNOWN_FIELDS
    if name.startswith("last_") and name.endswith("_date")
)

_RULE_KEYS = {"name", "title", "enabled", "scope", "when", "action", "cooldown_days", "reason", "description"}
_ACTION_KEYS = {
    "type",
    "code",
    "channel",
    "template",
    "stage",
    "status",
    "skill",
    "days",
    "reason",
    "priority",
    "review",
    "needs_officer",
}
_CONDITION_KEYS = {"field", "op", "value", "value_field"}


# ---------------------------------------------------------------------------------------------------
# Parsed rules.


@dataclass(frozen=True)
class RentMultiple:
    """A money value written in rent: {"weeks_rent": n} or {"months_rent": n} (weekly × 52 / 12 × n)."""

    weeks: float
    text: str

    def amounts(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["weekly_rent"].to_numpy(dtype=float, na_value=np.nan) * self.weeks


@dataclass(frozen=True)
class Condition:
    field: str
    kind: str
    op: str
    value: object = None
    value_field: str | None = None


@dataclass(frozen=True)
class Group:
    kind: str  # "all" | "any" | "not"
    children: tuple[Condition | Group, ...]


Node = Condition | Group


@dataclass(frozen=True)
class Scope:
    tenure_types: tuple[str, ...] = ()
    patches: tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    type: str
    code: str
    channel: str = ""
    template: str = ""
    stage: str | None = None  # None: leave the stage as it is
    status: str = ""  # "": let the pipeline derive it from the action type
    skill: str = ""
    days: int | None = None
    reason: str = ""
    priority: float | None = None
    review: bool = False
    needs_officer: bool = False

    @property
    def for_officer(self) -> bool:
        return self.needs_officer or self.type in OFFICER_ACTION_TYPES


@dataclass(frozen=True)
class Rule:
    name: str
    title: str
    enabled: bool
    scope: Scope
    when: Node
    action: Action
    cooldown_days: int = 0
    reason: str = ""
    reason_fields: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class RuleProblem:
    rule: str
    message: str


@dataclass
class RulePack:
    name: str
    version: int
    settings: dict
    stages: list[str]
    rules: list[Rule]
    problems: list[RuleProblem] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# Parsing.


def parse_rule(raw: dict, code_sets: dict[str, list[str]] | None = None) -> Rule:
    """One rule from its JSON-able dict, or RuleError naming the rule and the offending part.

    ``code_sets`` are the pack's named lists of action codes, usable as a value {"code_set": name}.
    """
    if not isinstance(raw, dict):
        raise RuleError(f"a rule must be an object, not {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError("a rule needs a non-empty 'name'")
    name = name.strip()
    try:
        return _parse_rule(name, raw, code_sets or {})
    except _Invalid as error:
        raise RuleError(f"rule {name!r}: {error}") from None


def _parse_rule(name: str, raw: dict, code_sets: dict[str, list[str]]) -> Rule:
    _refuse_unknown_keys(raw, _RULE_KEYS, "rule")
    title = raw.get("title") or name
    if not isinstance(title, str):
        raise _Invalid("title must be text")
    if "when" not in raw:
        raise _Invalid('no conditions: give "when" (use {"all": []} to match every tenancy)')
    reason, reason_fields = _parse_reason(raw.get("reason") or "")
    return Rule(
        name=name,
        title=title,
        enabled=_parse_flag(raw.get("enabled", True), "enabled"),
        scope=_parse_scope(_maybe_json(raw.get("scope") or {}, "scope")),
        when=_parse_node(_maybe_json(raw["when"], "when"), "when", code_sets),
        action=_parse_action(_maybe_json(raw.get("action"), "action")),
        cooldown_days=_parse_cooldown(raw.get("cooldown_days", 0)),
        reason=reason,
        reason_fields=reason_fields,
        raw=raw,
    )


def _refuse_unknown_keys(raw: dict, allowed: set[str], where: str) -> None:
    # Keys starting with "_" are comments in pack files.
    unknown = sorted(k for k in raw if k not in allowed and not str(k).startswith("_"))
    if unknown:
        raise _Invalid(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")


def _maybe_json(value, where: str):
    """The host may store the structured parts as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise _Invalid(f"{where}: not valid JSON ({error.msg})") from None
    return value


def _parse_flag(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # a host Check field
        return bool(value)
    raise _Invalid(f"{where} must be true or false, not {value!r}")


def _parse_cooldown(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != int(value):
        raise _Invalid(f"cooldown_days must be a whole number of days ≥ 0, not {value!r}")
    return int(value)


def _parse_scope(raw) -> Scope:
    if not isinstance(raw, dict):
        raise _Invalid("scope must be an object with tenure_types and patches")
    _refuse_unknown_keys(raw, {"tenure_types", "patches"}, "scope")
    tenures = _text_list(raw.get("tenure_types") or [], "scope.tenure_types")
    unknown = [t for t in tenures if t not in TENURE_TYPES]
    if unknown:
        raise _Invalid(f"scope.tenure_types: unknown tenure type(s) {unknown} (use {list(TENURE_TYPES)})")
    return Scope(tuple(tenures), tuple(_text_list(raw.get("patches") or [], "scope.patches")))


def _text_list(value, where: str) -> list[str]:
    if isinstance(value, str):  # a host text field: "secure, assured"
        value = re.split(r"[;,]", value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(f"{where} must be a list of text")
    return [v.strip() for v in value if v.strip()]


# --- conditions ---------------------------------------------------------------------------------------


def _parse_node(raw, where: str, code_sets: dict[str, list[str]]) -> Node:
    if not isinstance(raw, dict):
        raise _Invalid(f"{where}: a condition or group must be an object, not {raw!r}")
    if "field" in raw:
        return _parse_condition(raw, where, code_sets)
    groups = [key for key in ("all", "any", "not") if key in raw]
    if len(groups) != 1 or len(raw) != 1:
        raise _Invalid(
            f'{where}: expected a condition {{"field", "op", "value"}} or exactly one group '
            f'"all", "any" or "not", got keys {sorted(raw)}'
        )
    kind = groups[0]
    if kind == "not":
        return Group("not", (_parse_node(raw["not"], f"{where}.not", code_sets),))
    items = raw[kind]
    if not isinstance(items, list):
        raise _Invalid(f"{where}.{kind}: must be a list of conditions")
    if kind == "any" and not items:
        raise _Invalid(f"{where}.any: an empty 'any' can never match")
    children = tuple(_parse_node(item, f"{where}.{kind}[{i}]", code_sets) for i, item in enumerate(items))
    return Group(kind, children)


def _parse_condition(raw: dict, where: str, code_sets: dict[str, list[str]]) -> Condition:
    try:
        _refuse_unknown_keys(raw, _CONDITION_KEYS, "condition")
    except _Invalid as error:
        raise _Invalid(f"{where}: {error}") from None
    name = raw["field"]
    kind = field_kind(name) if isinstance(name, str) else None
    if kind is None:
        raise _Invalid(f"{where}: unknown field {name!r} (see docs/engine.md, 'Fields rules can use')")
    where = f"{where} ({name})"
    op = _parse_op(raw.get("op"), where)
    if op not in OPS_BY_KIND[kind]:
        allowed = ", ".join(o for o in OPERATORS if o in OPS_BY_KIND[kind])
        raise _Invalid(f"{where}: operator {op!r} does not apply to a {kind} field (use {allowed})")
    has_value, value_field = "value" in raw, raw.get("value_field")
    if op in ("is set", "is not set"):
        if (has_value and raw["value"] is not None) or value_field is not None:
            raise _Invalid(f"{where}: {op!r} takes no value")
        return Condition(name, kind, op)
    if value_field is not None:
        if has_value:
            raise _Invalid(f"{where}: give either value or value_field, not both")
        return Condition(name, kind, op, value_field=_parse_value_field(value_field, kind, op, where))
    if not has_value:
        raise _Invalid(f"{where}: {op!r} needs a value")
    return Condition(name, kind, op, value=_parse_value(raw["value"], kind, op, where, code_sets))


def _parse_op(op, where: str) -> str:
    text = " ".join(str(op).lower().split()) if isinstance(op, str) else op
    text = _OP_ALIASES.get(text, text)
    if text not in OPERATORS:
        raise _Invalid(f"{where}: unknown operator {op!r} (use one of {', '.join(OPERATORS)})")
    return text


def _parse_value_field(name, kind: str, op: str, where: str) -> str:
    if op not in COMPARISONS:
        raise _Invalid(f"{where}: value_field works only with {', '.join(COMPARISONS)}, not {op!r}")
    other = field_kind(name) if isinstance(name, str) else None
    if other is None:
        raise _Invalid(f"{where}: unknown value_field {name!r}")
    if _COMPARABLE[other] != _COMPARABLE[kind]:
        raise _Invalid(f"{where}: cannot compare a {kind} field with {name!r}, a {other} field")
    if kind in ("bool", "text") and op not in ("=", "!="):
        raise _Invalid(f"{where}: {kind} fields compare only with = and !=")
    return name


def _parse_value(value, kind: str, op: str, where: str, code_sets: dict[str, list[str]]):
    if op in WINDOWS:
        try:
            return parse_duration(value)
        except DurationError as error:
            raise _Invalid(f"{where}: {error}") from None
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise _Invalid(f"{where}: 'between' needs a list [low, high]")
        low, high = (_parse_scalar(v, kind, where) for v in value)
        if not isinstance(low, RentMultiple) and not isinstance(high, RentMultiple) and low > high:
            raise _Invalid(f"{where}: 'between' low {value[0]!r} is above high {value[1]!r}")
        return (low, high)
    if op in ("in", "not in"):
        items = _expand_code_sets(value, where, code_sets)
        if not items:
            raise _Invalid(f"{where}: {op!r} needs a non-empty list")
        return tuple(_parse_scalar(v, kind, where, in_list=True) for v in items)
    scalar = _parse_scalar(value, kind, where)
    if kind == "text" and scalar == "":
        raise _Invalid(f"{where}: compare with '' using 'is set' / 'is not set'")
    return scalar


def _expand_code_sets(value, where: str, code_sets: dict[str, list[str]]) -> list:
    """A list (or one {"code_set": name}) with any {"code_set": name} items replaced by the set's codes."""
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else None
    if items is None:
        raise _Invalid(f"{where}: 'in' / 'not in' need a list, not {value!r}")
    expanded: list = []
    for item in items:
        if isinstance(item, dict):
            set_name = item.get("code_set")
            if list(item) != ["code_set"] or set_name not in code_sets:
                raise _Invalid(f"{where}: unknown code set {item!r} (the pack defines {sorted(code_sets)})")
            expanded.extend(code_sets[set_name])
        else:
            expanded.append(item)
    return expanded


def _parse_scalar(value, kind: str, where: str, in_list: bool = False):
    if kind in ("number", "money"):
        if isinstance(value, dict):
            return _parse_rent_multiple(value, kind, where)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise _Invalid(f"{where}: expected a number, not {value!r}")
        return float(value)
    if kind == "date":
        return _parse_date(value, where)
    if kind == "bool":
        if not isinstance(value, bool):
            raise _Invalid(f"{where}: expected true or false, not {value!r}")
        return value
    if not isinstance(value, str) or (in_list and not value):
        raise _Invalid(f"{where}: expected text, not {value!r}")
    return value


def _parse_rent_multiple(value: dict, kind: str, where: str) -> RentMultiple:
    if kind != "money":
        raise _Invalid(f"{where}: weeks_rent / months_rent values apply only to money fields")
    if len(value) != 1 or next(iter(value)) not in ("weeks_rent", "months_rent"):
        raise _Invalid(f'{where}: a money value is a number, {{"weeks_rent": n}} or {{"months_rent": n}}')
    unit, count = next(iter(value.items()))
    if isinstance(count, bool) or not isinstance(count, int | float) or count < 0:
        raise _Invalid(f"{where}: {unit} must be a number ≥ 0, not {count!r}")
    if unit == "weeks_rent":
        return RentMultiple(float(count), f"{count:g} weeks' rent")
    return RentMultiple(float(count) * _WEEKS_PER_MONTH, f"{count:g} months' rent")


def _parse_date(value, where: str) -> pd.Timestamp:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return pd.Timestamp(value.strip())
        except ValueError:
            pass
    hint = " (for dates relative to as_of use 'older than' / 'newer than')" if isinstance(value, str) else ""
    raise _Invalid(f"{where}: expected a date 'YYYY-MM-DD', not {value!r}{hint}")


# --- actions --------------------------------------------------------------------------------------------


def _parse_action(raw) -> Action:
    if not isinstance(raw, dict):
        raise _Invalid('action: give an object {"type": ..., "code": ...}')
    _refuse_unknown_keys(raw, _ACTION_KEYS, "action")
    kind = raw.get("type")
    if kind not in ACTION_TYPES:
        raise _Invalid(f"action: unknown type {kind!r} (use one of {', '.join(ACTION_TYPES)})")
    code = raw.get("code")
    if not isinstance(code, str) or not _CODE.match(code) or code in _RESERVED_CODES:
        raise _Invalid(f"action: code must be a snake_case word (e.g. 'letter_1'), not {code!r}")
    _refuse_keys_for_type(raw, kind)
    review = _parse_flag(raw.get("review", False), "action.review")
    if review and kind not in REVIEW_ACTION_TYPES:
        raise _Invalid(f"action: a review rule may only {', '.join(sorted(REVIEW_ACTION_TYPES))}")
    return Action(
        type=kind,
        code=code,
        channel=_parse_channel(raw) if kind == "send_message" else "",
        template=_text(raw, "template", default=code) if kind == "send_message" else "",
        stage=_parse_stage(raw, kind),
        status=_parse_status(raw),
        skill=_text(raw, "skill"),
        days=_parse_days(raw) if kind == "pause" else None,
        reason=_text(raw, "reason"),
        priority=_parse_priority(raw, kind),
        review=review,
        needs_officer=_parse_flag(raw.get("needs_officer", False), "action.needs_officer"),
    )


_KEYS_FOR_TYPE = {
    "channel": {"send_message"},
    "template": {"send_message"},
    "days": {"pause"},
    "reason": {"pause", "close"},
}


def _refuse_keys_for_type(raw: dict, kind: str) -> None:
    for key, types in _KEYS_FOR_TYPE.items():
        if raw.get(key) not in (None, "") and kind not in types:
            raise _Invalid(f"action: {key!r} applies only to {' / '.join(sorted(types))}, not {kind}")


def _text(raw: dict, key: str, default: str = "") -> str:
    value = raw.get(key)
    if value in (None, ""):
        return default
    if not isinstance(value, str):
        raise _Invalid(f"action: {key} must be text, not {value!r}")
    return value


def _parse_channel(raw: dict) -> str:
    channel = raw.get("channel")
    if channel not in MESSAGE_CHANNELS:
        raise _Invalid(f"action: channel must be one of {', '.join(MESSAGE_CHANNELS)}, not {channel!r}")
    return channel


def _parse_stage(raw: dict, kind: str) -> str | None:
    if "stage" not in raw or raw["stage"] is None:
        if kind == "set_stage" and not raw.get("status"):
            raise _Invalid("action: set_stage needs a 'stage' or a 'status'")
        return "" if kind == "close" else None  # a closed case has no stage
    if not isinstance(raw["stage"], str):
        raise _Invalid(f"action: stage must be text, not {raw['stage']!r}")
    return raw["stage"]


def _parse_status(raw: dict) -> str:
    status = _text(raw, "status")
    if status and status not in CASE_STATUSES:
        raise _Invalid(f"action: status must be one of {', '.join(CASE_STATUSES)}, not {status!r}")
    return status


def _parse_days(raw: dict) -> int:
    days = raw.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
        raise _Invalid(f"action: pause needs 'days', a whole number > 0, not {days!r}")
    return days


def _parse_priority(raw: dict, kind: str) -> float | None:
    priority = raw.get("priority")
    if priority is None:
        if kind == "set_priority":
            raise _Invalid("action: set_priority needs a 'priority' number")
        return None
    if isinstance(priority, bool) or not isinstance(priority, int | float):
        raise _Invalid(f"action: priority must be a number, not {priority!r}")
    return float(priority)


# --- reasons ------------------------------------------------------------------------------------------

_SAMPLE_BY_KIND = {"number": 1.5, "money": 1.5, "date": pd.Timestamp("2026-01-05").date(), "bool": True}


def _parse_reason(text) -> tuple[str, tuple[str, ...]]:
    """A str.format template whose placeholders are plain field names (no attribute or index access)."""
    if not isinstance(text, str):
        raise _Invalid(f"reason must be text, not {text!r}")
    names: list[str] = []
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as error:
        raise _Invalid(f"reason: {error} (write a literal brace as '{{{{' or '}}}}')") from None
    for _literal, name, spec, _conversion in parts:
        if name is None:
            continue
        if not name.isidentifier():
            raise _Invalid(f"reason: placeholder {{{name}}} must be a plain field name like {{balance}}")
        if field_kind(name) is None:
            raise _Invalid(f"reason: unknown field {{{name}}}")
        if spec and "{" in spec:
            raise _Invalid(f"reason: nested placeholders are not allowed in {{{name}:{spec}}}")
        names.append(name)
    sample = {name: _SAMPLE_BY_KIND.get(field_kind(name), "text") for name in names}
    try:
        text.format_map(sample)
    except (ValueError, TypeError) as error:
        raise _Invalid(f"reason: {error}") from None
    return text, tuple(dict.fromkeys(names))


# --- packs --------------------------------------------------------------------------------------------


def parse_pack(raw: dict) -> RulePack:
    """A pack from its JSON: bad rules are reported in ``problems`` and skipped, the rest are kept."""
    if not isinstance(raw, dict):
        raise RuleError("a rule pack must be a JSON object")
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list):
        raise RuleError("a rule pack's 'rules' must be a list")
    problems: list[RuleProblem] = []
    settings = _parse_settings(raw.get("settings") or {}, problems)
    stages = _parse_stages(raw.get("stages"), problems)
    code_sets = settings.get("code_sets", {})
    rules: list[Rule] = []
    for position, item in enumerate(rules_raw, start=1):
        try:
            rule = parse_rule(item, code_sets)
            _check_rule_in_pack(rule, rules, stages)
        except RuleError as error:
            problems.append(RuleProblem(_rule_label(item, position), str(error)))
            continue
        rules.append(rule)
    return RulePack(
        name=str(raw.get("pack") or raw.get("name") or "custom"),
        version=_parse_version(raw.get("version", 1), problems),
        settings=settings,
        stages=stages,
        rules=rules,
        problems=problems,
    )


def _rule_label(item, position: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() else f"rule #{position}"


def _check_rule_in_pack(rule: Rule, earlier: list[Rule], stages: list[str]) -> None:
    if any(other.name == rule.name for other in earlier):
        raise RuleError(f"rule {rule.name!r}: another rule in the pack has the same name")
    if rule.action.stage is not None and rule.action.stage not in stages:
        raise RuleError(
            f"rule {rule.name!r}: action: stage {rule.action.stage!r} is not in the pack's stages"
        )


def _parse_version(value, problems: list[RuleProblem]) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    problems.append(RuleProblem("(pack)", f"version must be a whole number, not {value!r}; using 1"))
    return 1


def _parse_settings(raw, problems: list[RuleProblem]) -> dict:
    settings = dict(DEFAULT_SETTINGS)
    if not isinstance(raw, dict):
        problems.append(RuleProblem("(settings)", "settings must be an object; using the defaults"))
        return settings
    for key, value in raw.items():
        if str(key).startswith("_"):
            continue
        try:
            settings[key] = _parse_setting(key, value)
        except _Invalid as error:
            problems.append(RuleProblem("(settings)", f"{key}: {error}; using {settings.get(key)!r}"))
    return settings


def _parse_setting(key: str, value):
    if key in _DURATION_SETTINGS:
        try:
            parse_duration(value)
        except DurationError as error:
            raise _Invalid(str(error)) from None
        return value
    if key == "agreement_tolerance_days":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _Invalid(f"must be a whole number of days ≥ 0, not {value!r}")
        return value
    if key == "code_sets":
        return _parse_code_sets(value)
    if key == "contact_only_actions":
        if not isinstance(value, list) or not all(isinstance(c, str) and _CODE.match(c) for c in value):
            raise _Invalid("must be a list of snake_case action codes")
        return list(value)
    raise _Invalid("unknown setting")


def _parse_code_sets(value) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise _Invalid('code_sets must be an object {"name": ["code", ...]}')
    sets: dict[str, list[str]] = {}
    for name, codes in value.items():
        if str(name).startswith("_"):
            continue
        if (
            not isinstance(codes, list)
            or not codes
            or not all(isinstance(c, str) and _CODE.match(c) for c in codes)
        ):
            raise _Invalid(f"code set {name!r} must be a non-empty list of snake_case codes")
        sets[name] = list(codes)
    return sets


def _parse_stages(raw, problems: list[RuleProblem]) -> list[str]:
    if raw is None:
        return list(DEFAULT_STAGES)
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw) or len(set(raw)) != len(raw):
        problems.append(
            RuleProblem("(stages)", "stages must be a list of distinct names; using the defaults")
        )
        return list(DEFAULT_STAGES)
    # "" (no stage) is always the bottom of the ladder.
    return raw if raw[:1] == [""] else ["", *(s for s in raw if s)]


# ---------------------------------------------------------------------------------------------------
# What a pack needs from the case frame.


def _walk(node: Node) -> Iterator[Condition]:
    if isinstance(node, Condition):
        yield node
    else:
        for child in node.children:
            yield from _walk(child)


def _rule_fields(rule: Rule) -> set[str]:
    names: set[str] = set(rule.reason_fields)
    for condition in _walk(rule.when):
        names.add(condition.field)
        if condition.value_field:
            names.add(condition.value_field)
        if _uses_rent(condition.value):
            names.add("weekly_rent")
    if rule.cooldown_days:
        names.add(last_action_field(rule.action.code))
    if rule.scope.tenure_types:
        names.add("tenure_type")
    if rule.scope.patches:
        names.add("patch")
    return names


def _uses_rent(value) -> bool:
    if isinstance(value, tuple):
        return any(isinstance(v, RentMultiple) for v in value)
    return isinstance(value, RentMultiple)


def required_fields(pack: RulePack) -> set[str]:
    """Every case-frame field the pack reads, including the guards and the current stage."""
    names = {guard_field for _, guard_field, _ in GUARDS} | {"stage"}
    for rule in pack.rules:
        names |= _rule_fields(rule)
    return names


def _code_of(name: str) -> str | None:
    """The action code in a last_<code>_date field, or None for other fields."""
    if name in KNOWN_FIELDS or not (name.startswith("last_") and name.endswith("_date")):
        return None
    return name[len("last_") : -len("_date")] or None


def action_codes(pack: RulePack) -> list[str]:
    """Codes the pack writes or reads through last_<code>_date, in pack order (for the frame builder)."""
    codes: dict[str, None] = {}
    for rule in pack.rules:
        codes[rule.action.code] = None
        for name in sorted(_rule_fields(rule)):
            code = _code_of(name)
            if code:
                codes[code] = None
    return list(codes)


# ---------------------------------------------------------------------------------------------------
# Evaluation: one boolean mask per rule over the whole frame.


def _as_of(as_of) -> pd.Timestamp:
    return pd.Timestamp(as_of).normalize()


def _has_field(frame: pd.DataFrame, name: str) -> bool:
    # The builder's frame is indexed by tenancy, so "tenancy" may be the index rather than a column.
    return name in frame.columns or (name == frame.index.name and name is not None)


def _check_columns(frame: pd.DataFrame, names: Iterable[str]) -> None:
    # A last_<code>_date column the builder did not produce means that action never happened.
    missing = sorted(n for n in names if not _has_field(frame, n) and _code_of(n) is None and n != "stage")
    if missing:
        raise ValueError(f"the case frame lacks field(s) the rules use: {', '.join(missing)}")


def _column(frame: pd.DataFrame, name: str, kind: str) -> pd.Series:
    if name not in frame.columns:
        if name == frame.index.name:
            return pd.Series(frame.index, index=frame.index, name=name)
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    column = frame[name]
    if kind == "date" and not pd.api.types.is_datetime64_any_dtype(column):
        column = pd.to_datetime(column, errors="coerce")
    return column


def _bools(result) -> np.ndarray:
    """A comparison result as a plain numpy bool array; NA counts as False."""
    if isinstance(result, pd.Series):
        return result.to_numpy(dtype=bool, na_value=False)
    return np.asarray(result, dtype=bool)


def _missing(column: pd.Series, kind: str) -> np.ndarray:
    missing = column.isna().to_numpy()
    if kind == "text":
        missing = missing | _bools(column.eq(""))
    return missing


_COMPARE: dict[str, Callable] = {
    "=": operator.eq,
    "!=": operator.eq,  # computed as "not equal", so a missing value counts as different
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _operand(value, frame: pd.DataFrame):
    return value.amounts(frame) if isinstance(value, RentMultiple) else value


def _condition_mask(frame: pd.DataFrame, condition: Condition, as_of: pd.Timestamp) -> np.ndarray:
    column = _column(frame, condition.field, condition.kind)
    missing = _missing(column, condition.kind)
    op = condition.op
    if op == "is set":
        return ~missing
    if op == "is not set":
        return missing
    if op in WINDOWS:
        return _window_mask(column, op, condition.value, as_of)
    if op in ("in", "not in"):
        found = _bools(column.isin(list(condition.value))) & ~missing
        return found if op == "in" else ~found
    if op == "between":
        low, high = (_operand(v, frame) for v in condition.value)
        return _bools(column >= low) & _bools(column <= high) & ~missing
    if condition.value_field:
        other_kind = field_kind(condition.value_field) or condition.kind
        other = _column(frame, condition.value_field, other_kind)
        missing = missing | _missing(other, other_kind)
        right = other.to_numpy() if other_kind == condition.kind else other.astype(float).to_numpy()
    else:
        right = _operand(condition.value, frame)
    with np.errstate(invalid="ignore"):
        hit = _bools(_COMPARE[op](column, right)) & ~missing
    return ~hit if op == "!=" else hit


def _window_mask(column: pd.Series, op: str, offset: pd.DateOffset, as_of: pd.Timestamp) -> np.ndarray:
    # NaT compares False, which gives each window its documented meaning for a missing date.
    cutoff = as_of - offset
    if op == "older than":
        return _bools(column < cutoff)
    if op == "newer than":
        return _bools(column > cutoff)
    if op == "not newer than":
        return ~_bools(column > cutoff)
    return _bools(column >= as_of) & _bools(column <= as_of + offset)  # within next


def _node_mask(frame: pd.DataFrame, node: Node, as_of: pd.Timestamp) -> np.ndarray:
    if isinstance(node, Condition):
        return _condition_mask(frame, node, as_of)
    masks = [_node_mask(frame, child, as_of) for child in node.children]
    if node.kind == "not":
        return ~masks[0]
    if not masks:
        return np.ones(len(frame), dtype=bool)
    return np.logical_and.reduce(masks) if node.kind == "all" else np.logical_or.reduce(masks)


def _scope_mask(frame: pd.DataFrame, scope: Scope) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    if scope.tenure_types:
        mask &= _bools(frame["tenure_type"].isin(scope.tenure_types))
    if scope.patches:
        mask &= _bools(frame["patch"].isin(scope.patches))
    return mask


def _cooldown_mask(frame: pd.DataFrame, rule: Rule, as_of: pd.Timestamp) -> np.ndarray:
    """True where the rule's own action happened within cooldown_days (strictly after as_of − days)."""
    if not rule.cooldown_days:
        return np.zeros(len(frame), dtype=bool)
    last = _column(frame, last_action_field(rule.action.code), "date")
    return _bools(last > as_of - pd.Timedelta(days=rule.cooldown_days))


@dataclass(frozen=True)
class _Guards:
    first: np.ndarray  # position in GUARDS of the first guard that holds, len(GUARDS) where none
    blocks_all: np.ndarray  # blocks every rule
    blocks_ordinary: np.ndarray  # blocks every rule except review ones


def _guards(frame: pd.DataFrame) -> _Guards:
    n = len(frame)
    first = np.full(n, len(GUARDS), dtype=np.intp)
    blocks_all, blocks_ordinary = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for position in reversed(range(len(GUARDS))):  # reversed so the first guard that holds wins
        _label, name, review_passes = GUARDS[position]
        holds = _bools(frame[name])
        first[holds] = position
        blocks_ordinary |= holds
        if not review_passes:
            blocks_all |= holds
    return _Guards(first, blocks_all, blocks_ordinary)


def _rule_mask(frame: pd.DataFrame, rule: Rule, as_of: pd.Timestamp, guards: _Guards) -> np.ndarray:
    if not rule.enabled:
        return np.zeros(len(frame), dtype=bool)
    blocked = guards.blocks_all if rule.action.review else guards.blocks_ordinary
    mask = ~blocked & _scope_mask(frame, rule.scope)
    mask &= ~_cooldown_mask(frame, rule, as_of)
    return mask & _node_mask(frame, rule.when, as_of)


def matches(case_frame: pd.DataFrame, rule: Rule, as_of) -> pd.Series:
    """Which tenancies the rule would hit on its own (guards, scope and cooldown applied): a preview."""
    as_of = _as_of(as_of)
    _check_columns(case_frame, _rule_fields(rule) | {name for _, name, _ in GUARDS})
    mask = _rule_mask(case_frame, rule, as_of, _guards(case_frame))
    return pd.Series(mask, index=case_frame.index, name=rule.name)


def evaluate(case_frame: pd.DataFrame, pack: RulePack, as_of) -> pd.DataFrame:
    """One verdict per tenancy (indexed like case_frame): the first matching enabled rule, or none."""
    as_of = _as_of(as_of)
    _check_columns(case_frame, required_fields(pack))
    rules = [rule for rule in pack.rules if rule.enabled]
    guards = _guards(case_frame)
    masks = np.zeros((len(rules) + 1, len(case_frame)), dtype=bool)
    for i, rule in enumerate(rules):
        masks[i] = _rule_mask(case_frame, rule, as_of, guards)
    masks[-1] = True  # a sentinel "no rule" row so argmax lands on it where nothing matched
    winner = masks.argmax(axis=0)
    return _verdicts(case_frame, rules, winner, guards)


def _verdicts(frame: pd.DataFrame, rules: list[Rule], winner: np.ndarray, guards: _Guards) -> pd.DataFrame:
    actions = [rule.action for rule in rules]

    def text(values: list[str], default: str = ""):
        return _take([*values, default], winner)

    def number(values: list, default) -> np.ndarray:
        return np.array([*values, default], dtype=float)[winner]

    def flag(values: list[bool]) -> np.ndarray:
        return np.array([*values, False], dtype=bool)[winner]

    out = {
        "action": text([a.code for a in actions], "none"),
        "action_type": text([a.type for a in actions], "none"),
        "rule": text([r.name for r in rules]),
        "rule_title": text([r.title for r in rules]),
        "reason": _reasons(frame, rules, winner),
        "blocked_by": _take([*(label for label, _, _ in GUARDS), ""], guards.first),
        "stage_to": _stage_to(frame, actions, winner),
        "status_to": text([a.status for a in actions]),
        "needs_officer": flag([a.for_officer for a in actions]),
        "channel": text([a.channel for a in actions]),
        "template": text([a.template for a in actions]),
        "skill": text([a.skill for a in actions]),
        "pause_days": number([_or_nan(a.days) for a in actions], np.nan),
        "pause_reason": text([a.reason if a.type == "pause" else "" for a in actions]),
        "close_reason": text([a.reason if a.type == "close" else "" for a in actions]),
        "priority": number([_or_nan(a.priority) for a in actions], np.nan),
        "review": flag([a.review for a in actions]),
    }
    return pd.DataFrame(out, index=frame.index)


def _take(values: list, positions: np.ndarray):
    """values[positions] for a short list of values, built once in pandas' own text dtype and then taken
    by position, so a 100k-row column costs no per-row conversion."""
    return pd.Series(values, dtype=None if any(v is None for v in values) else _TEXT).array.take(positions)


_TEXT = pd.Series(["text"]).dtype  # "str" on pandas 3, object on pandas 2


def _stage_to(frame: pd.DataFrame, actions: list[Action], winner: np.ndarray) -> pd.Series:
    """The winning rule's stage, or the current stage when it sets none (close sets "")."""
    keeps = np.array([a.stage is None for a in actions] + [True])[winner]
    chosen = pd.Series(_take([a.stage or "" for a in actions] + [""], winner), index=frame.index)
    current = frame["stage"].fillna("") if "stage" in frame else pd.Series("", index=frame.index)
    return chosen.where(~keeps, current.astype(chosen.dtype))


def _or_nan(value) -> float:
    return np.nan if value is None else float(value)


# --- reasons ------------------------------------------------------------------------------------------


class _Missing:
    """Stands in for a missing value in a reason: prints "n/a" whatever the format spec."""

    def __format__(self, spec: str) -> str:
        return "n/a"


_MISSING = _Missing()


def _reasons(frame: pd.DataFrame, rules: list[Rule], winner: np.ndarray) -> np.ndarray:
    reasons = np.full(len(frame), "", dtype=object)
    for i, rule in enumerate(rules):
        rows = np.flatnonzero(winner == i)
        if rows.size:
            reasons[rows] = _format_reason(frame, rule, rows)
    return reasons


def _format_reason(frame: pd.DataFrame, rule: Rule, rows: np.ndarray) -> list[str]:
    if not rule.reason:
        return [rule.title] * rows.size
    if not rule.reason_fields:
        return [rule.reason.format()] * rows.size  # still format: "{{" prints "{"
    columns = [_reason_values(frame, name, rows) for name in rule.reason_fields]
    template, names = rule.reason, rule.reason_fields
    return [
        template.format_map(dict(zip(names, values, strict=True))) for values in zip(*columns, strict=True)
    ]


def _reason_values(frame: pd.DataFrame, name: str, rows: np.ndarray) -> list:
    kind = field_kind(name) or "text"
    column = _column(frame, name, kind).iloc[rows]
    missing = _missing(column, kind)
    if kind == "date":
        values = column.dt.date.tolist()  # prints as 2026-03-11 and takes strftime specs
    elif kind == "number":
        values = [_tidy_number(v) for v in column.tolist()]
    else:
        values = column.tolist()
    return [_MISSING if gone else value for value, gone in zip(values, missing, strict=True)]


def _tidy_number(value):
    # Counts such as days_since_last_payment arrive as floats when the column has gaps; print 12, not 12.0.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# ---------------------------------------------------------------------------------------------------
# Stage movement.

STAGE_CHANGES = ("escalate", "de-escalate", "open", "close", "none")


def classify_stage_change(stage_from: pd.Series, stage_to: pd.Series, stages: list[str]) -> pd.Series:
    """escalate / de-escalate (by position in ``stages``), open ("" → a stage), close (a stage → "") or
    none (no change, or a stage the pack does not list, whose direction is unknown)."""
    index = pd.Series(stage_from).index
    before = pd.Series(stage_from).fillna("").astype(str).reset_index(drop=True)
    after = pd.Series(stage_to).fillna("").astype(str).reset_index(drop=True)
    rank = {name: float(i) for i, name in enumerate(stages)}
    rank_before = before.map(rank).to_numpy(dtype=float, na_value=np.nan)
    rank_after = after.map(rank).to_numpy(dtype=float, na_value=np.nan)
    before, after = before.to_numpy(dtype=object), after.to_numpy(dtype=object)
    with np.errstate(invalid="ignore"):
        change = np.select(
            [before == after, before == "", after == "", rank_after > rank_before, rank_after < rank_before],
            ["none", "open", "close", "escalate", "de-escalate"],
            default="none",
        )
    return pd.Series(change, index=index, name="stage_change", dtype=object)
