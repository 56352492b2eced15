"""Message decisions: which channel, whether to suppress and why, which template, and the rendered text.

The rules engine decides *that* a tenancy should get a message (action ``send_message``, a requested
channel and a template code). This module decides *how*, for the whole batch at once:

1. Channel: the requested one, or the tenant's preference for ``preferred``; when it is unreachable
   (no mobile, no email, no postal address, opted out, or no template for it) the next channel in
   ``MessageSettings.channel_fallback``. ``phone`` is not sent: it becomes a call task for an officer.
2. Suppression, vectorised, first reason wins (see ``SUPPRESSION_PRECEDENCE``).
3. Template: the most specific match for code, channel, language, variant and tenure type.
4. Rendering in a sandboxed Jinja environment, one compiled template per variant; a failure marks only
   that tenancy ``failed``.
5. Quiet hours: a message that would go out now, inside quiet hours, is ``deferred``.

docs/messages.md documents the fields templates may use, the settings and the shipped templates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from awm_frappe.engine.schema import CHANNELS

DEFAULT_TEMPLATES_PATH = Path(__file__).parent / "templates" / "default.json"

MESSAGE_STATUSES = ("send", "suppressed", "deferred", "failed", "none")
VARIANTS = ("standard", "plain")
OUTPUT_COLUMNS = (
    "channel",
    "template",
    "message_status",
    "suppression_reason",
    "subject",
    "body",
    "needs_officer",
)

# Fields a template may use. Money is pre-formatted (£1,234.56), dates as "11 March 2026"; a value the
# tenancy lacks renders as an empty string, so only a misspelt field name can make a template fail.
TEMPLATE_FIELDS: dict[str, str] = {
    "tenant_name": "Tenant's name (or MessageSettings.default_tenant_name).",
    "tenancy": "Tenancy (rent account) reference.",
    "payment_reference": "Reference to quote when paying: a payment_reference column, else prefix + tenancy.",
    "balance": "Balance owed on the as-of date, as money.",
    "arrears": "Arrears after one week's grace (the figure the rules tested), as money.",
    "weeks_owed": "Weeks of rent owed, one decimal place.",
    "weekly_rent": "Weekly rent, as money.",
    "agreement_start": "Payment agreement start date.",
    "agreement_frequency": "Payment agreement frequency (weekly, fortnightly, 4-weekly, monthly).",
    "agreement_instalment": "Payment agreement instalment, as money.",
    "agreement_expected_balance": "Balance the agreement expected by now, as money.",
    "officer_name": "Case officer's name (or MessageSettings.team_name).",
    "officer_phone": "Case officer's phone (or MessageSettings.contact_phone).",
    "landlord_name": "Landlord name used to sign off.",
    "ways_to_pay": "How to pay (MessageSettings.ways_to_pay).",
    "money_advice": "Where to get free money advice (MessageSettings.money_advice).",
    "as_of": "The decision date.",
}
_MONEY_FIELDS = {
    "balance": "balance",
    "arrears": "arrears_after_grace",
    "weekly_rent": "weekly_rent",
    "agreement_instalment": "agreement_instalment",
    "agreement_expected_balance": "agreement_expected_balance",
}

# First match wins: the most absolute legal/ethical bars first, then routing to a human, then the
# operational limits. A deceased tenant's or do-not-contact case must never be "routed for a call".
SUPPRESSION_PRECEDENCE = (
    "deceased",
    "do not contact",
    "breathing space",
    "vulnerable: routed to officer",
    "frequency cap",
    "no available channel",
)

# GSM 03.38: the basic set costs one septet a character, the extension table two (escape + char).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")

_MONTHS = {
    "en": "January February March April May June July August September October November December".split(),
    "cy": "Ionawr Chwefror Mawrth Ebrill Mai Mehefin Gorffennaf Awst Medi Hydref Tachwedd Rhagfyr".split(),
}


class TemplateError(ValueError):
    """Raised by ``load_templates(strict=True)`` when any template is invalid."""


# ---------------------------------------------------------------------------------------------------
# Settings and templates


@dataclass(frozen=True)
class MessageSettings:
    frequency_cap_days: int = 7  # no automated message within N days of the last contact; 0 = off
    quiet_hours: tuple[time, time] | None = (time(20, 0), time(8, 0))  # [start, end), may wrap midnight
    quiet_channels: tuple[str, ...] = ("sms", "email")  # letters are posted, not delivered at night
    send_at: time | None = None  # when the batch goes out; None = not checked (the dispatcher decides)
    channel_fallback: tuple[str, ...] = ("preferred", "sms", "email", "letter")
    opt_out_column: str = "opt_out_{channel}"  # a bool column per channel, used when present
    vulnerable_to_officer: bool = True  # False: message vulnerable tenants with the plain variant
    max_sms_segments: int = 3
    landlord_name: str = "Housing Services"
    team_name: str = "Income Team"  # signs messages on cases without an officer
    contact_phone: str = ""
    default_tenant_name: str = "Tenant"
    payment_reference_prefix: str = ""
    ways_to_pay: str = (
        "You can pay online or by phone with a debit card, by Direct Debit or standing order, "
        "or at any Post Office or PayPoint with your rent payment card."
    )
    money_advice: str = (
        "Free, confidential money advice is available from Citizens Advice (citizensadvice.org.uk), "
        "StepChange (stepchange.org), National Debtline (nationaldebtline.org) and MoneyHelper "
        "(moneyhelper.org.uk)."
    )

    def __post_init__(self):
        unknown = [c for c in self.channel_fallback if c != "preferred" and c not in CHANNELS]
        if unknown:
            raise ValueError(f"channel_fallback: unknown channel(s) {unknown}; use {CHANNELS} or 'preferred'")


@dataclass(frozen=True)
class Template:
    code: str
    channel: str
    body: str
    subject: str = ""
    tenure_type: str = "*"
    language: str = "en"
    variant: str = "standard"

    @property
    def name(self) -> str:
        """Unique key, also written to the decision's ``template`` column."""
        return f"{self.code}:{self.channel}:{self.tenure_type}:{self.language}:{self.variant}"

    @classmethod
    def from_dict(cls, data: Mapping) -> Template:
        def text(key: str, default: str = "") -> str:
            value = data.get(key, default)
            # JSON has no multi-line strings: a body may be a list of lines.
            return (
                "\n".join(value) if isinstance(value, list) else str(value if value is not None else default)
            )

        return cls(
            code=text("code").strip(),
            channel=text("channel").strip().lower(),
            body=text("body"),
            subject=text("subject"),
            tenure_type=text("tenure_type", "*").strip() or "*",
            language=text("language", "en").strip().lower() or "en",
            variant=text("variant", "standard").strip().lower() or "standard",
        )


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    # Immutable sandbox: no attribute starting with '_', no mutating list/dict methods, bounded range().
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=autoescape, trim_blocks=True, lstrip_blocks=True
    )


_TEXT_ENV = _environment(autoescape=False)  # sms and letters are plain text
_HTML_ENV = _environment(autoescape=True)  # email bodies are HTML: tenant data must be escaped


def _env_for(channel: str) -> ImmutableSandboxedEnvironment:
    return _HTML_ENV if channel == "email" else _TEXT_ENV


class TemplateSet:
    """Templates by code and channel, validated and compiled once.

    Invalid templates stay in the set so that selection does not silently fall back to another language
    or variant; a tenancy that selects one fails with the validation error as its reason.
    """

    def __init__(
        self,
        templates: Iterable[Template],
        aliases: Mapping[str, str] | None = None,
        validate: bool = True,
        settings: MessageSettings | None = None,
    ):
        self.aliases = dict(aliases or {})
        self.templates: dict[str, Template] = {}
        self.errors: dict[str, list[str]] = {}
        for template in templates:
            if template.name in self.templates:
                self.errors.setdefault(template.name, []).append("defined more than once: keep one")
            self.templates[template.name] = template
            if validate:
                problems = validate_template(template, settings)
                if problems:
                    self.errors.setdefault(template.name, []).extend(problems)
        self._by_code_channel: dict[tuple[str, str], list[Template]] = {}
        for template in self.templates.values():
            self._by_code_channel.setdefault((template.code, template.channel), []).append(template)
        self._compiled: dict[str, tuple[JinjaTemplate | None, JinjaTemplate] | str] = {}
        for alias, target in self.aliases.items():
            if target not in {t.code for t in self.templates.values()}:
                self.errors.setdefault(f"alias:{alias}", []).append(
                    f"alias {alias!r} names unknown code {target!r}"
                )

    def __len__(self) -> int:
        return len(self.templates)

    def __iter__(self):
        return iter(self.templates.values())

    def resolve(self, code: str) -> str:
        return self.aliases.get(code, code)

    def codes_for(self, channel: str) -> set[str]:
        """Codes (and aliases) that have at least one template on this channel."""
        codes = {code for code, ch in self._by_code_channel if ch == channel}
        return codes | {alias for alias, target in self.aliases.items() if target in codes}

    def select(
        self, code: str, channel: str, tenure_type: str, language: str, variant: str
    ) -> Template | None:
        """Most specific match; language outranks variant, which outranks tenure type.

        A Welsh speaker gets Welsh even if only the English has a plain variant (Welsh Language
        Standards); a plain variant beats a tenure-specific wording.
        """
        best, best_score = None, -1
        for template in self._by_code_channel.get((self.resolve(code), channel), ()):
            if template.language not in (language, "en") or template.variant not in (variant, "standard"):
                continue
            if template.tenure_type not in (tenure_type, "*"):
                continue
            score = (
                4 * (template.language == language)
                + 2 * (template.variant == variant)
                + (template.tenure_type == tenure_type)
            )
            if score > best_score:
                best, best_score = template, score
        return best

    def compiled(self, template: Template) -> tuple[JinjaTemplate | None, JinjaTemplate] | str:
        """(subject, body) compiled in the sandbox, or the reason the template cannot be used."""
        if template.name not in self._compiled:
            self._compiled[template.name] = self._compile(template)
        return self._compiled[template.name]

    def _compile(self, template: Template) -> tuple[JinjaTemplate | None, JinjaTemplate] | str:
        if template.name in self.errors:
            return f"template {template.name} is invalid: " + "; ".join(self.errors[template.name])
        env = _env_for(template.channel)
        try:
            subject = env.from_string(template.subject) if template.subject else None
            return subject, env.from_string(template.body)
        except TemplateSyntaxError as exc:
            return f"template {template.name} does not compile: {exc.message}"


def load_templates(
    source: str | Path | Iterable | Mapping, strict: bool = False, settings: MessageSettings | None = None
) -> TemplateSet:
    """Templates from a JSON file, a parsed JSON document, or a list of dicts / ``Template`` objects.

    The JSON is ``{"templates": [...], "aliases": {"code": "other_code"}}`` or just the list. Every
    template is validated; errors are in ``TemplateSet.errors`` (``strict=True`` raises instead).
    """
    if isinstance(source, (str, Path)):
        source = json.loads(Path(source).read_text(encoding="utf-8"))
    aliases: Mapping[str, str] = {}
    if isinstance(source, Mapping):
        aliases = source.get("aliases", {})
        source = source.get("templates", [])
    templates = [item if isinstance(item, Template) else Template.from_dict(item) for item in source]
    template_set = TemplateSet(templates, aliases=aliases, settings=settings)
    if strict and template_set.errors:
        raise TemplateError(
            "; ".join(f"{name}: {', '.join(problems)}" for name, problems in template_set.errors.items())
        )
    return template_set


@lru_cache(maxsize=1)
def default_templates() -> TemplateSet:
    """The shipped templates (awm_frappe/engine/templates/default.json)."""
    return load_templates(DEFAULT_TEMPLATES_PATH)


# ---------------------------------------------------------------------------------------------------
# Validation


def sms_segments(text: str) -> int:
    """How many SMS parts a text needs: GSM-7 160 / 153 per part, otherwise UCS-2 70 / 67 per part."""
    if not text:
        return 0
    characters = set(text)
    if characters <= GSM_BASIC | GSM_EXTENDED:
        septets = len(text) + sum(text.count(c) for c in characters & GSM_EXTENDED)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2  # characters outside the BMP (emoji) take two units
    return 1 if units <= 70 else math.ceil(units / 67)


def sample_context(settings: MessageSettings | None = None) -> dict[str, str]:
    """Realistic, longish values used to validate templates and to preview them."""
    settings = settings or MessageSettings()
    return {
        "tenant_name": "Alexandra Richardson",
        "tenancy": "TEN-0012345",
        "payment_reference": settings.payment_reference_prefix + "TEN-0012345",
        "balance": "£1,234.56",
        "arrears": "£1,134.56",
        "weeks_owed": "11.3",
        "weekly_rent": "£100.50",
        "agreement_start": "2 March 2026",
        "agreement_frequency": "fortnightly",
        "agreement_instalment": "£25.00",
        "agreement_expected_balance": "£1,050.00",
        "officer_name": "Sam Income-Officer",
        "officer_phone": settings.contact_phone or "020 7946 0000",
        "landlord_name": settings.landlord_name,
        "ways_to_pay": settings.ways_to_pay,
        "money_advice": settings.money_advice,
        "as_of": "11 March 2026",
    }


def validate_template(template: Template, settings: MessageSettings | None = None) -> list[str]:
    """Problems that would stop a template working: empty list when it is fine."""
    settings = settings or MessageSettings()
    errors = _shape_errors(template)
    env = _env_for(template.channel)
    parts = {"body": template.body, "subject": template.subject}
    rendered = {}
    for part, source in parts.items():
        if not source:
            continue
        try:
            tree = env.parse(source)
            compiled = env.from_string(source)
        except TemplateSyntaxError as exc:
            errors.append(f"{part}: syntax error on line {exc.lineno}: {exc.message}")
            continue
        unknown = sorted(meta.find_undeclared_variables(tree) - set(TEMPLATE_FIELDS) - set(env.globals))
        if unknown:
            errors.append(f"{part}: unknown field(s) {', '.join(unknown)}")
            continue
        unsafe = _private_attributes(tree)
        if unsafe:
            errors.append(f"{part}: sandbox: access to {', '.join(unsafe)} is not allowed")
            continue
        try:
            rendered[part] = compiled.render(sample_context(settings))
        except SecurityError as exc:
            errors.append(f"{part}: sandbox: {exc}")
        except Exception as exc:  # any render failure makes the template unusable
            errors.append(f"{part}: does not render: {exc}")
    if template.channel == "sms" and "body" in rendered:
        errors.extend(_sms_errors(rendered["body"], settings.max_sms_segments))
    return errors


def _shape_errors(template: Template) -> list[str]:
    errors = []
    if not template.code:
        errors.append("code is required")
    if template.channel not in CHANNELS:
        errors.append(f"channel {template.channel!r} is not one of {', '.join(CHANNELS)}")
    if template.variant not in VARIANTS:
        errors.append(f"variant {template.variant!r} is not one of {', '.join(VARIANTS)}")
    if not template.body.strip():
        errors.append("body is empty")
    if template.channel == "email" and not template.subject.strip():
        errors.append("an email needs a subject")
    return errors


def _private_attributes(tree: nodes.Template) -> list[str]:
    """Attribute or item names starting with '_' (e.g. __class__): the classic sandbox-escape route."""
    names = {node.attr for node in tree.find_all(nodes.Getattr) if node.attr.startswith("_")}
    for node in tree.find_all(nodes.Getitem):
        if isinstance(node.arg, nodes.Const) and str(node.arg.value).startswith("_"):
            names.add(str(node.arg.value))
    return sorted(names)


def _sms_errors(text: str, max_segments: int) -> list[str]:
    segments = sms_segments(text)
    if segments <= max_segments:
        return []
    outside = sorted(set(text) - GSM_BASIC - GSM_EXTENDED)
    hint = f" (characters outside GSM-7 force UCS-2: {''.join(outside)})" if outside else ""
    return [f"SMS is {segments} segments with sample data, more than {max_segments}{hint}"]


# ---------------------------------------------------------------------------------------------------
# Decisions


def decide_messages(
    frame: pd.DataFrame,
    templates: TemplateSet,
    as_of,
    settings: MessageSettings | None = None,
    render: bool = True,
) -> pd.DataFrame:
    """One row per frame row: channel, template, message_status, suppression_reason, subject, body,
    needs_officer. ``frame`` is the case frame joined with the decision's action, channel and template;
    rows whose ``action_type`` (when present) is not ``send_message`` get status ``none``.
    """
    settings = settings or MessageSettings()
    as_of = pd.Timestamp(as_of).normalize()
    out = _blank_output(frame)
    if frame.empty:
        return out
    is_message = _message_rows(frame)
    codes = _text(frame, "template").where(_text(frame, "template").ne(""), _text(frame, "action"))

    channel = choose_channels(frame, codes, templates, settings).where(is_message, "")
    reason = suppression_reasons(frame, channel, as_of, settings).where(is_message, "")
    routed = reason.eq("vulnerable: routed to officer") | reason.eq("no available channel")
    call_task = reason.eq("") & channel.eq("phone")
    status = pd.Series(np.where(reason.ne(""), "suppressed", "send"), index=frame.index, dtype=object)
    status[call_task | ~is_message] = "none"

    out["channel"] = channel
    out["needs_officer"] = out["needs_officer"] | routed | call_task
    selected = _select_templates(frame, codes, channel, templates, settings)
    out["template"] = selected.map(lambda t: t.name if t is not None else "")

    missing = status.eq("send") & selected.isna()
    reason[missing] = "no template " + codes[missing] + " for " + channel[missing]
    status[missing] = "failed"
    if render:
        subject, body, failure = _render(frame, selected, status.eq("send"), templates, as_of, settings)
        out["subject"], out["body"] = subject, body
        status[failure.ne("")] = "failed"
        reason[failure.ne("")] = failure[failure.ne("")]

    deferred = status.eq("send") & channel.isin(settings.quiet_channels) & _in_quiet_hours(settings)
    status[deferred] = "deferred"
    reason[deferred] = "quiet hours"
    out["message_status"], out["suppression_reason"] = status, reason
    return out


def choose_channels(
    frame: pd.DataFrame, codes: pd.Series, templates: TemplateSet, settings: MessageSettings
) -> pd.Series:
    """The first reachable channel: requested (or preferred), then the fallback order; '' when none."""
    preferred = _text(frame, "preferred_channel").str.lower()
    requested = _text(frame, "channel").str.lower()
    first = requested.where(~requested.isin(["", "preferred"]), preferred)
    candidates = [first] + [preferred if c == "preferred" else c for c in settings.channel_fallback]
    usable = {channel: _usable(frame, codes, channel, templates, settings) for channel in CHANNELS}

    chosen = pd.Series("", index=frame.index, dtype=object)
    for candidate in candidates:
        candidate = candidate if isinstance(candidate, pd.Series) else pd.Series(candidate, index=frame.index)
        ok = np.zeros(len(frame), bool)
        for channel, can in usable.items():
            ok |= (candidate.to_numpy() == channel) & can
        chosen = chosen.where(chosen.ne("") | ~ok, candidate)
    return chosen


def _usable(
    frame: pd.DataFrame, codes: pd.Series, channel: str, templates: TemplateSet, settings: MessageSettings
) -> np.ndarray:
    """Contact detail present, not opted out, and (except for a call) a template for the code."""
    if channel == "sms":
        reachable = _text(frame, "mobile").ne("")
    elif channel == "email":
        reachable = _text(frame, "email").ne("")
    elif channel == "letter":
        reachable = _flag(frame, "has_postal_address", default=True)
    else:  # phone: a call needs a number
        reachable = _text(frame, "mobile").ne("") | _text(frame, "phone").ne("")
    opted_out = _flag(frame, settings.opt_out_column.format(channel=channel))
    has_template = codes.isin(templates.codes_for(channel)) if channel != "phone" else True
    return (reachable & ~opted_out & has_template).to_numpy()


def suppression_reasons(
    frame: pd.DataFrame, channel: pd.Series, as_of: pd.Timestamp, settings: MessageSettings
) -> pd.Series:
    """The first applicable reason in SUPPRESSION_PRECEDENCE for each row; '' when the message may go."""
    if "breathing_space" in frame:
        breathing_space = _flag(frame, "breathing_space")
    else:
        breathing_space = _dates(frame, "breathing_space_until").ge(as_of)
    days_since_contact = (as_of - _dates(frame, "last_contact_date")).dt.days
    capped = days_since_contact.lt(settings.frequency_cap_days) if settings.frequency_cap_days > 0 else False
    conditions = [
        _flag(frame, "deceased"),
        _flag(frame, "do_not_contact"),
        breathing_space,
        _flag(frame, "vulnerable") & settings.vulnerable_to_officer,
        pd.Series(capped, index=frame.index).fillna(False).astype(bool),
        channel.eq(""),
    ]
    reasons = list(SUPPRESSION_PRECEDENCE)
    reasons[4] = f"frequency cap: contacted within {settings.frequency_cap_days} days"
    picked = np.select([np.asarray(c, bool) for c in conditions], reasons, default="")
    return pd.Series(picked, index=frame.index, dtype=object)


def _select_templates(
    frame: pd.DataFrame,
    codes: pd.Series,
    channel: pd.Series,
    templates: TemplateSet,
    settings: MessageSettings,
) -> pd.Series:
    """The Template for each row (None when there is none), resolved once per distinct combination."""
    plain = _flag(frame, "vulnerable") | _flag(frame, "plain_language")
    keys = pd.DataFrame(
        {
            "code": codes.to_numpy(),
            "channel": channel.to_numpy(),
            "tenure": _text(frame, "tenure_type").to_numpy(),
            "language": _text(frame, "language").str.lower().replace("", "en").to_numpy(),
            "variant": np.where(plain.to_numpy(), "plain", "standard"),
        }
    )
    selected = np.full(len(frame), None, dtype=object)
    for key, positions in keys.groupby(list(keys.columns), sort=False).indices.items():
        if key[1] and key[1] != "phone":
            selected[positions] = templates.select(*key)
    return pd.Series(selected, index=frame.index, dtype=object)


def _render(
    frame: pd.DataFrame,
    selected: pd.Series,
    mask: pd.Series,
    templates: TemplateSet,
    as_of: pd.Timestamp,
    settings: MessageSettings,
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Subject, body and failure reason per row; only masked rows are rendered."""
    subject = np.full(len(frame), "", dtype=object)
    body = np.full(len(frame), "", dtype=object)
    failure = np.full(len(frame), "", dtype=object)
    positions = np.flatnonzero(mask.to_numpy())
    if len(positions):
        contexts = _records(template_context(frame.iloc[positions], as_of, settings))
        names = pd.Series([selected.iat[p].name for p in positions])
        for group in names.groupby(names, sort=False).indices.values():
            template = selected.iat[positions[group[0]]]
            compiled = templates.compiled(template)
            for g in group:
                row = positions[g]
                if isinstance(compiled, str):
                    failure[row] = compiled
                    continue
                subject[row], body[row], failure[row] = _render_one(template, compiled, contexts[g], settings)
    index = frame.index
    return pd.Series(subject, index=index), pd.Series(body, index=index), pd.Series(failure, index=index)


def _render_one(
    template: Template, compiled, context: dict, settings: MessageSettings
) -> tuple[str, str, str]:
    subject_template, body_template = compiled
    try:
        subject = subject_template.render(context) if subject_template is not None else ""
        body = body_template.render(context)
    except SecurityError as exc:
        return "", "", f"template {template.name} refused by the sandbox: {exc}"
    except Exception as exc:  # one tenancy's failure must not stop the batch
        return "", "", f"template {template.name} failed: {exc}"
    if template.channel == "sms" and sms_segments(body) > settings.max_sms_segments:
        return "", "", f"template {template.name}: SMS is {sms_segments(body)} segments for this tenancy"
    return subject, body, ""


def template_context(frame: pd.DataFrame, as_of: pd.Timestamp, settings: MessageSettings) -> pd.DataFrame:
    """The documented template fields for each row, formatted for people (vectorised)."""
    language = _text(frame, "language").str.lower()
    tenancy = (
        _text(frame, "tenancy") if "tenancy" in frame else pd.Series(frame.index.astype(str), frame.index)
    )
    reference = _text(frame, "payment_reference")
    context = pd.DataFrame(index=frame.index)
    context["tenant_name"] = _or(_text(frame, "tenant_name"), settings.default_tenant_name)
    context["tenancy"] = tenancy
    context["payment_reference"] = _or(reference, None, settings.payment_reference_prefix + tenancy)
    for name, column in _MONEY_FIELDS.items():
        context[name] = _number(frame, column).map(format_money)
    context["weeks_owed"] = _number(frame, "weeks_owed").map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    context["agreement_start"] = _format_dates(_dates(frame, "agreement_start"), language)
    context["agreement_frequency"] = _text(frame, "agreement_frequency")
    context["officer_name"] = _or(_text(frame, "officer_name"), settings.team_name)
    context["officer_phone"] = _or(_text(frame, "officer_phone"), settings.contact_phone)
    context["landlord_name"] = settings.landlord_name
    context["ways_to_pay"] = settings.ways_to_pay
    context["money_advice"] = settings.money_advice
    context["as_of"] = _format_dates(pd.Series(as_of, index=frame.index), language)
    return context[list(TEMPLATE_FIELDS)]


def format_money(value) -> str:
    """£1,234.56; -£12.00 for a credit; '' when unknown."""
    if value is None or pd.isna(value):
        return ""
    return f"-£{-value:,.2f}" if value < 0 else f"£{value:,.2f}"


def _format_dates(dates: pd.Series, language: pd.Series) -> pd.Series:
    """'11 March 2026' (or 'Mawrth' for Welsh speakers); '' for a missing date."""
    months = np.where(
        language.eq("cy").to_numpy()[:, None], [_MONTHS["cy"]], [_MONTHS["en"]]
    )  # rows x 12 month names in each row's language
    valid = dates.notna().to_numpy()
    out = np.full(len(dates), "", dtype=object)
    if valid.any():
        day = dates[valid].dt.day.to_numpy()
        month = dates[valid].dt.month.to_numpy() - 1
        year = dates[valid].dt.year.to_numpy()
        names = months[np.flatnonzero(valid), month]
        out[valid] = [f"{d} {m} {y}" for d, m, y in zip(day, names, year, strict=True)]
    return pd.Series(out, index=dates.index)


def _in_quiet_hours(settings: MessageSettings) -> bool:
    if settings.send_at is None or settings.quiet_hours is None:
        return False
    start, end = settings.quiet_hours
    now = settings.send_at
    return (start <= now < end) if start <= end else (now >= start or now < end)


# ---------------------------------------------------------------------------------------------------
# Small helpers


def _blank_output(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for name in ("channel", "template"):
        out[name] = pd.Series("", index=frame.index, dtype=object)
    out["message_status"] = pd.Series("none", index=frame.index, dtype=object)
    for name in ("suppression_reason", "subject", "body"):
        out[name] = pd.Series("", index=frame.index, dtype=object)
    out["needs_officer"] = _flag(frame, "needs_officer")
    return out


def _message_rows(frame: pd.DataFrame) -> pd.Series:
    if "action_type" in frame:
        return _text(frame, "action_type").eq("send_message")
    return pd.Series(True, index=frame.index)


def _records(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Rows as dicts; much faster than to_dict("records") on Arrow-backed string columns."""
    names = list(frame.columns)
    columns = [frame[name].to_numpy(dtype=object).tolist() for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _column(frame: pd.DataFrame, name: str, default) -> pd.Series:
    return frame[name] if name in frame else pd.Series(default, index=frame.index, dtype=object)


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    values = _column(frame, name, "")
    return values.where(values.notna(), "").astype(str).str.strip()


def _number(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(_column(frame, name, np.nan), errors="coerce").astype(float)


def _dates(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_datetime(_column(frame, name, pd.NaT), errors="coerce")


def _flag(frame: pd.DataFrame, name: str, default: bool = False) -> pd.Series:
    values = _column(frame, name, default)
    if values.dtype == bool:
        return values
    filled = np.where(values.isna().to_numpy(), default, values.to_numpy())
    return pd.Series(filled.astype(bool), index=frame.index)


def _or(values: pd.Series, default: str | None, fallback: pd.Series | None = None) -> pd.Series:
    """Empty strings replaced by a default text or by another series."""
    replacement = fallback if fallback is not None else default
    return values.where(values.ne(""), replacement)
