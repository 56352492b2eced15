# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt
"""Worktray Rule: one engine rule, edited as a host form.

The form holds either a flat list of conditions (the child table, combined with ``match`` = all/any) or a
full engine ``when`` in ``conditions_json`` (nested all/any/not groups). ``as_engine_rule()`` turns the
document into the engine's rule JSON (docs/engine.md, "Rules"); ``validate`` hands that to
``awm_frappe.engine.rules.parse_rule`` and refuses the save with the engine's own message.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint, flt, getdate, today

from awm_frappe.engine.fields import KNOWN_FIELDS, field_kind, last_action_field

if TYPE_CHECKING:
    pass

NO_VALUE_OPS = ("is set", "is not set")
DURATION_OPS = ("older than", "newer than", "not newer than", "within next")
LIST_OPS = ("in", "not in", "between")
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", *LIST_OPS, *NO_VALUE_OPS, *DURATION_OPS)
UNITS = ("weeks_rent", "months_rent")
PREVIEW_ROLES = frozenset({"Income Team Leader", "AWM Manager", "System Manager"})
TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")


class WorktrayRule(Document):
    def validate(self):
        if not self.title:
            self.title = self.rule_name.replace("_", " ").capitalize()
        self.validate_rows()
        rule = self.as_engine_rule()  # throws on bad JSON
        try:
            from awm_frappe.engine.rules import RuleError, parse_rule
        except ImportError:  # engine rules module not installed yet: structural checks above only
            return
        try:
            parse_rule(rule, get_code_sets())
        except RuleError as exc:
            frappe.throw(
                _("Rule {0} is not valid: {1}").format(frappe.bold(self.rule_name), str(exc)),
                title=_("Invalid Worktray Rule"),
            )
        stages = get_stages()
        if self.stage and self.stage not in stages:
            frappe.throw(
                _("Rule {0}: stage {1} is not one of the ladder's stages ({2}).").format(
                    frappe.bold(self.rule_name), frappe.bold(self.stage), ", ".join(s for s in stages if s)
                ),
                title=_("Invalid Worktray Rule"),
            )

    def validate_rows(self):
        for row in self.conditions:
            if not row.field_name or not field_kind(row.field_name):
                frappe.throw(
                    _("Rule {0}: condition row {1}: {2} is not a field rules can use.").format(
                        frappe.bold(self.rule_name), row.idx, frappe.bold(row.field_name)
                    ),
                    title=_("Invalid Worktray Rule"),
                )
            if row.operator not in OPERATORS:
                frappe.throw(
                    _("Rule {0}: condition row {1}: unknown operator {2}.").format(
                        frappe.bold(self.rule_name), row.idx, row.operator
                    ),
                    title=_("Invalid Worktray Rule"),
                )
            if row.operator not in NO_VALUE_OPS and not (row.value or "").strip() and not row.value_field:
                frappe.throw(
                    _("Rule {0}: condition row {1}: {2} {3} needs a value.").format(
                        frappe.bold(self.rule_name), row.idx, row.field_name, row.operator
                    ),
                    title=_("Invalid Worktray Rule"),
                )
            if row.value_field and not field_kind(row.value_field):
                frappe.throw(
                    _("Rule {0}: condition row {1}: {2} is not a field rules can use.").format(
                        frappe.bold(self.rule_name), row.idx, frappe.bold(row.value_field)
                    ),
                    title=_("Invalid Worktray Rule"),
                )

    # ---- engine form -----------------------------------------------------------------------------

    def get_when(self) -> dict:
        if (self.conditions_json or "").strip():
            try:
                when = json.loads(self.conditions_json)
            except ValueError as exc:
                frappe.throw(
                    _("Conditions (JSON) of rule {0} is not valid JSON: {1}").format(
                        frappe.bold(self.rule_name), exc
                    ),
                    title=_("Invalid Worktray Rule"),
                )
            if not isinstance(when, dict):
                frappe.throw(_("Conditions (JSON) must be an object such as {0}").format('{"all": [...]}'))
            return when
        return when_from_rows(self.match or "all", self.conditions)

    def get_engine_action(self) -> dict:
        action: dict[str, Any] = {"type": self.action_type, "code": self.action_code}
        if self.action_type == "send_message":
            action["channel"] = self.channel or "preferred"
            if self.template:
                action["template"] = self.template
        if self.stage:
            action["stage"] = self.stage
        if self.status:
            action["status"] = self.status
        if self.action_type == "route_to_officer" and self.skill:
            action["skill"] = self.skill
        if self.action_type == "pause":
            action["days"] = cint(self.pause_days)
            if self.get("pause_reason"):
                action["reason"] = self.pause_reason
        if self.action_type == "close" and self.close_reason:
            action["reason"] = self.close_reason
        if self.action_type == "set_priority":
            action["priority"] = flt(self.set_priority)
        if self.review:
            action["review"] = True
        if self.get("needs_officer"):
            action["needs_officer"] = True
        return action

    def as_engine_rule(self) -> dict:
        """The engine's rule JSON for this document (docs/engine.md)."""
        return {
            "name": self.rule_name,
            "title": self.title or self.rule_name,
            "enabled": bool(self.enabled),
            "scope": {
                "tenure_types": split_list(self.tenure_types),
                "patches": [row.territory for row in self.get("patches") or []],
            },
            "when": self.get_when(),
            "action": self.get_engine_action(),
            "cooldown_days": cint(self.cooldown_days),
            "reason": self.reason or "",
        }

    # ---- preview ---------------------------------------------------------------------------------

    @frappe.whitelist()
    def preview(self, as_of: str | None = None, limit: int = 200) -> dict:
        """What this rule (as currently on the form, saved or not) would do today. Changes nothing."""
        if frappe.session.user != "Administrator" and not PREVIEW_ROLES.intersection(frappe.get_roles()):
            frappe.throw(_("Only team leaders and AWM managers can preview rules."), frappe.PermissionError)
        return preview_rule(self, getdate(as_of or today()), cint(limit) or 200)


# ---- conversions (also used by install.py) ---------------------------------------------------------


def split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").replace("\n", ",").split(",") if part.strip()]


def _coerce(text: str, kind: str | None):
    t = text.strip()
    low = t.lower()
    if kind == "bool":
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        return t
    if kind == "text" or kind == "date":
        return t
    if low in ("true", "false"):
        return low == "true"
    try:
        number = float(t)
    except ValueError:
        return t
    if math.isfinite(number) and number == int(number) and "." not in t and "e" not in low:
        return int(number)
    return number


def condition_from_row(row) -> dict:
    op = row.operator
    cond: dict[str, Any] = {"field": row.field_name, "op": op}
    if op in NO_VALUE_OPS:
        return cond
    if row.value_field:
        cond["value_field"] = row.value_field
        return cond
    text = row.value or ""
    kind = field_kind(row.field_name)
    if op in DURATION_OPS:
        cond["value"] = text.strip()
        return cond
    if op in LIST_OPS:
        value: Any = [_coerce(part, kind) for part in text.split(",") if part.strip()]
    else:
        value = _coerce(text, kind)
    if row.value_unit in UNITS:
        value = {row.value_unit: value}
    cond["value"] = value
    return cond


def when_from_rows(match: str, rows) -> dict:
    return {match if match in ("all", "any") else "all": [condition_from_row(row) for row in rows]}


def _text_of(value) -> str | None:
    """The Data text that round-trips to ``value``, or None when a plain row cannot hold it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return None if "," in value else value
    return None


def row_from_condition(cond: dict) -> dict | None:
    """A Worktray Rule Condition row for an engine condition, or None when it needs conditions_json."""
    if (
        not isinstance(cond, dict)
        or "field" not in cond
        or not set(cond) <= {"field", "op", "value", "value_field"}
    ):
        return None
    row = {
        "field_name": cond["field"],
        "operator": cond.get("op"),
        "value": "",
        "value_unit": "",
        "value_field": "",
    }
    if cond.get("value_field"):
        row["value_field"] = cond["value_field"]
        return row
    if row["operator"] in NO_VALUE_OPS:
        return row
    value = cond.get("value")
    if isinstance(value, dict):
        if len(value) != 1 or next(iter(value)) not in UNITS:
            return None
        row["value_unit"], value = next(iter(value.items()))
    if isinstance(value, list):
        parts = [_text_of(v) for v in value]
        if any(p is None or p == "" for p in parts):
            return None
        row["value"] = ", ".join(parts)
    else:
        text = _text_of(value)
        if text is None:
            return None
        row["value"] = text
    return row


def _normal(obj):
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int | float):
        return float(obj)
    if isinstance(obj, list):
        return [_normal(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _normal(v) for k, v in obj.items()}
    return obj


def rows_from_when(when: dict) -> tuple[str, list[dict]] | None:
    """(match, rows) when ``when`` is a flat all/any of plain conditions that survives the round trip."""
    if not isinstance(when, dict):
        return None
    if "field" in when:
        when = {"all": [when]}
    if len(when) != 1 or next(iter(when)) not in ("all", "any"):
        return None
    match, conds = next(iter(when.items()))
    if not isinstance(conds, list):
        return None
    rows = [row_from_condition(c) for c in conds]
    if any(r is None for r in rows):
        return None
    back = when_from_rows(match, [frappe._dict(r) for r in rows])
    if _normal(back) != _normal(when):
        return None
    return match, rows


def doc_from_engine_rule(rule: dict, priority: int, pack: str | None = None) -> dict:
    """A Worktray Rule document dict for an engine rule (shipped packs → default rules)."""
    action = rule.get("action") or {}
    when = rule.get("when") or {"all": []}
    scope = rule.get("scope") or {}
    doc: dict[str, Any] = {
        "doctype": "Worktray Rule",
        "rule_name": rule["name"],
        "title": rule.get("title") or rule["name"],
        "enabled": 1 if rule.get("enabled", True) else 0,
        "priority": priority,
        "pack": pack,
        "tenure_types": ", ".join(scope.get("tenure_types") or []),
        "patches": [{"territory": p} for p in scope.get("patches") or [] if frappe.db.exists("Territory", p)],
        "action_type": action.get("type") or "send_message",
        "action_code": action.get("code") or rule["name"],
        "channel": action.get("channel") or "",
        "template": action.get("template") or "",
        "stage": action.get("stage") or "",
        "status": action.get("status") or "",
        "skill": action.get("skill") or "",
        "pause_days": cint(action.get("days")),
        "pause_reason": (action.get("reason") or "") if action.get("type") == "pause" else "",
        "close_reason": (action.get("reason") or "") if action.get("type") == "close" else "",
        "set_priority": flt(action.get("priority")),
        "review": 1 if (action.get("review") or rule.get("review")) else 0,
        "needs_officer": 1 if action.get("needs_officer") else 0,
        "cooldown_days": cint(rule.get("cooldown_days")),
        "reason": rule.get("reason") or "",
    }
    flat = rows_from_when(when)
    if flat:
        doc["match"], doc["conditions"] = flat
    else:
        doc["match"] = "all"
        doc["conditions_json"] = json.dumps(when, indent=1, ensure_ascii=False)
    return doc


# ---- field choices and pack -------------------------------------------------------------------------


@frappe.whitelist()
def get_rule_fields() -> list[dict]:
    """Field names a condition may use, with their kind (for the form's autocomplete)."""
    fields = [{"value": name, "kind": kind} for name, kind in sorted(KNOWN_FIELDS.items())]
    seen = {f["value"] for f in fields}
    for code in frappe.get_all("Arrears Action Type", pluck="name", order_by="name asc"):
        name = last_action_field(code)
        if name not in seen:
            fields.append({"value": name, "kind": "date"})
    return fields


def get_pack_settings() -> dict:
    """AWM Settings' rule_pack_settings as a dict ({} when blank or broken)."""
    raw = frappe.db.get_single_value("AWM Settings", "rule_pack_settings")
    try:
        settings = json.loads(raw) if raw else {}
    except ValueError:
        settings = {}
    return settings if isinstance(settings, dict) else {}


def get_code_sets() -> dict:
    code_sets = get_pack_settings().get("code_sets") or {}
    return {k: v for k, v in code_sets.items() if not str(k).startswith("_") and isinstance(v, list)}


def get_stages() -> list[str]:
    stages = get_pack_settings().get("stages")
    if isinstance(stages, list) and stages:
        return stages
    from awm_frappe.install import DEFAULT_PACK, load_shipped_pack

    raw = load_shipped_pack(DEFAULT_PACK) or {}
    return raw.get("stages") or [
        "",
        "sms",
        "letter_1",
        "letter_2",
        "nosp",
        "court_warning",
        "court",
        "warrant",
        "eviction",
    ]


def preview_rule(rule_doc: WorktrayRule, as_of, limit: int = 200) -> dict:
    """Evaluate ``rule_doc`` (as on the form) against the site's tenancies as of ``as_of``.

    Returns how many tenancies it matches on its own (guards, scope and cooldown applied) and, with the
    site's other enabled rules in priority order, how many it would actually win. Changes nothing."""
    import pandas as pd

    from awm_frappe.engine import rules as engine_rules
    from awm_frappe.engine.facts import build_case_frame

    try:
        from awm_frappe.host.frames import build_pack_raw, load_inputs
    except ImportError:
        frappe.throw(_("Preview needs the host layer (awm_frappe.host.frames), which is not installed."))

    engine_rule = rule_doc.as_engine_rule()
    try:
        rule = engine_rules.parse_rule(engine_rule, get_code_sets())
    except engine_rules.RuleError as exc:
        frappe.throw(_("Rule {0} is not valid: {1}").format(frappe.bold(rule_doc.rule_name), str(exc)))

    as_of = getdate(as_of)
    stamp = pd.Timestamp(as_of)
    inputs = load_inputs(as_of)
    pack_raw, _problems = build_pack_raw()
    others = [r for r in pack_raw.get("rules") or [] if r.get("name") != rule_doc.rule_name]
    ordered = sorted(
        [(cint(frappe.db.get_value("Worktray Rule", r["name"], "priority")), r) for r in others]
        + [(cint(rule_doc.priority), {**engine_rule, "enabled": True})],
        key=lambda pair: pair[0],
    )
    pack = engine_rules.parse_pack({**pack_raw, "rules": [r for _, r in ordered]})
    codes = sorted(set(engine_rules.action_codes(pack)) | {rule.action.code})
    frame = build_case_frame(
        inputs.tenancies,
        inputs.ledger,
        inputs.cases,
        inputs.actions,
        stamp,
        settings=pack.settings,
        action_codes=codes,
    )
    if frame.empty:
        return {
            "as_of": str(as_of),
            "tenancies": 0,
            "matched": 0,
            "would_win": 0,
            "action": rule.action.code,
            "rows": [],
        }

    mask = engine_rules.matches(frame, rule, stamp).astype(bool)
    hits = frame[mask.to_numpy()]
    winners = {}
    try:
        verdicts = engine_rules.evaluate(frame, pack, stamp)
        winners = verdicts["rule"].to_dict()
    except Exception:
        frappe.log_error(title="Worktray Rule preview: full-pack evaluation failed")

    case_of = {}
    if "case" in (inputs.cases.columns if inputs.cases is not None else []):
        case_of = dict(zip(inputs.cases["tenancy"], inputs.cases["case"], strict=False))
    rows = []
    for tenancy, rec in hits.head(limit).iterrows():
        data = rec.to_dict()
        rows.append(
            {
                "tenancy": tenancy,
                "case": case_of.get(tenancy) or frappe.db.get_value("Tenancy", tenancy, "open_case") or "",
                "patch": data.get("patch") or "",
                "stage": data.get("stage") or "",
                "arrears_after_grace": _num(data.get("arrears_after_grace")),
                "action": rule.action.code,
                "reason": _reason(rule.reason, data),
                "wins": winners.get(tenancy) == rule.name,
                "winning_rule": winners.get(tenancy) or "",
            }
        )
    return {
        "as_of": str(as_of),
        "tenancies": len(frame),
        "matched": len(hits),
        "would_win": int(sum(1 for t in hits.index if winners.get(t) == rule.name)),
        "action": rule.action.code,
        "rows": rows,
    }


def _num(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else round(value, 2)


def _reason(template: str | None, data: dict) -> str:
    if not template:
        return ""
    try:
        return template.format(**data)
    except Exception:
        return template
