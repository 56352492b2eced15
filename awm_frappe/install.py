"""Install and migrate hooks: roles, action types, default rules, settings, indexes. Idempotent.

``after_install`` and ``after_migrate`` both call ``setup()``; running it any number of times creates each
record once and never overwrites what an administrator changed (titles, rule edits, settings).
Default Worktray Rules are created from the shipped ``uk-ladder`` pack on install, and on migrate only when
the site has no Worktray Rule at all (so a rule an administrator deleted stays deleted).
"""

from __future__ import annotations

import json

import frappe

from awm_frappe.engine import packs
from awm_frappe.engine.packs import DEFAULT_PACK
from awm_frappe.engine.rules import RuleError

ROLES = ("Income Officer", "Income Team Leader", "AWM Manager")
SHIPPED_PACKS = tuple(packs.list_packs())

# code: (title, category, channel, is_legal). Codes the packs use but this list lacks are added from the
# pack (title from the rule title, category from the action type).
ACTION_TYPES: dict[str, tuple[str, str, str, int]] = {
    "sms": ("First SMS", "message", "sms", 0),
    "email": ("Arrears email", "message", "email", 0),
    "letter_1": ("Letter 1", "message", "letter", 0),
    "letter_2": ("Letter 2", "message", "letter", 0),
    "nosp": ("Serve Notice of Seeking Possession", "legal", "letter", 1),
    "nosp_served": ("NOSP served", "legal", "", 1),
    "court_warning_letter": ("Court warning letter", "legal", "letter", 1),
    "apply_for_court_date": ("Apply for court date", "legal", "", 1),
    "court_date_set": ("Court date set", "legal", "", 1),
    "court_outcome": ("Court outcome recorded", "legal", "", 1),
    "update_court_outcome": ("Update court outcome", "officer_task", "", 1),
    "court_breach_letter": ("Court agreement breach letter", "legal", "letter", 1),
    "court_breach_visit": ("Court agreement breach visit", "officer_task", "", 1),
    "court_breach_no_payment": ("Court breach, no payment", "officer_task", "", 1),
    "address_court_agreement_breach": ("Address court agreement breach", "officer_task", "", 1),
    "informal_breach_letter": ("Informal agreement breach letter", "message", "letter", 0),
    "informal_breached_after_letter": ("Informal agreement breached after letter", "officer_task", "", 0),
    "apply_for_outright_possession_warrant": ("Apply for outright possession warrant", "legal", "", 1),
    "warrant": ("Warrant of possession", "legal", "", 1),
    "eviction": ("Eviction", "legal", "", 1),
    "review_failed_letter": ("Review failed letter", "officer_task", "", 0),
    "check_data": ("Check data", "officer_task", "", 0),
    "call": ("Phone call", "note", "phone", 0),
    "visit": ("Visit", "note", "", 0),
    "note": ("Note", "note", "", 0),
    "pause": ("Case paused", "case", "", 0),
    "close": ("Case closed", "case", "", 0),
    "escalate": ("Escalated by officer", "case", "", 0),
    "agreement_made": ("Payment agreement made", "case", "", 0),
    "agreement_breached": ("Payment agreement breached", "case", "", 0),
}

CATEGORY_BY_ACTION = {
    "send_message": "message",
    "route_to_officer": "officer_task",
    "flag_legal": "legal",
    "pause": "case",
    "close": "case",
    "set_stage": "case",
    "set_priority": "case",
}

SETTINGS_DEFAULTS = {
    "automation_enabled": 0,
    "dry_run": 1,
    "ledger_source": "Rent Transaction",
    "nightly_time": "02:00:00",
    "frequency_cap_days": 7,
    "quiet_hours_start": "20:00:00",
    "quiet_hours_end": "08:00:00",
    "agreement_tolerance_days": 5,
    "patches_per_job": 0,
}

# (doctype, columns, index name)
INDEXES = (
    # Covers the nightly ledger read (tenancy, date, amount, kind), so it never visits the table's rows:
    # rows are clustered by their random name, and once the table outgrows the buffer pool, reading a
    # year of ledger for 20,000 tenancies through the table took 123 s instead of 6 s.
    ("Rent Transaction", ("tenancy", "posting_date", "amount", "kind"), "tenancy_posting_date_amount_kind"),
    ("Arrears Case", ("tenancy", "status"), "tenancy_status"),
    ("Arrears Case", ("patch", "status"), "patch_status"),
    ("Payment Agreement", ("tenancy", "status"), "tenancy_status"),
)


def after_install():
    setup(install_rules=True)


def after_migrate():
    setup(install_rules=not frappe.db.count("Worktray Rule"))
    from awm_frappe.permissions import revoke_out_of_patch_shares

    revoke_out_of_patch_shares()


def before_tests():
    """Make sure a test site has the app's records even if it was restored from a bare backup, and the
    test patches exist (Territory is a nested set: creating one inside a test locks the whole tree)."""
    setup(install_rules=not frappe.db.count("Worktray Rule"))
    from awm_frappe.tests.factories import PATCH_A, PATCH_B, make_territory

    for patch in (PATCH_A, PATCH_B):
        make_territory(patch)
    frappe.db.commit()  # nosemgrep: runs outside a request, before the test runner starts


def setup(install_rules: bool = True):
    make_roles()
    make_action_types()
    set_settings_defaults()
    add_indexes()
    if install_rules:
        make_default_rules()
    seed_message_templates()


# ---- pieces ---------------------------------------------------------------------------------------


def load_shipped_pack(name: str) -> dict | None:
    try:
        return packs.load_raw(name)
    except RuleError:
        return None


def _is_copy_of_shipped_settings(text: str) -> bool:
    """Earlier installs stored uk-ladder's settings here; they are not an administrator's overrides."""
    try:
        return json.loads(text) == (load_shipped_pack(DEFAULT_PACK) or {}).get("settings")
    except ValueError:
        return False


def make_roles():
    for role in ROLES:
        if not frappe.db.exists("Role", role):
            frappe.get_doc({"doctype": "Role", "role_name": role, "desk_access": 1}).insert(
                ignore_permissions=True
            )


def _pack_action_types() -> dict[str, tuple[str, str, str, int]]:
    found: dict[str, tuple[str, str, str, int]] = {}
    for pack in SHIPPED_PACKS:
        raw = load_shipped_pack(pack) or {}
        for rule in raw.get("rules") or []:
            action = rule.get("action") or {}
            code = action.get("code")
            if not code or code in ACTION_TYPES or code in found:
                continue
            kind = action.get("type") or "send_message"
            channel = (
                action.get("channel") if action.get("channel") in ("sms", "email", "letter", "phone") else ""
            )
            category = CATEGORY_BY_ACTION.get(kind, "note")
            found[code] = (
                rule.get("title") or code.replace("_", " ").capitalize(),
                category,
                channel,
                int(category == "legal"),
            )
    return found


def make_action_types():
    existing = set(frappe.get_all("Arrears Action Type", pluck="name"))
    for code, (title, category, channel, is_legal) in {**ACTION_TYPES, **_pack_action_types()}.items():
        if code in existing:
            continue
        frappe.get_doc(
            {
                "doctype": "Arrears Action Type",
                "code": code,
                "title": title,
                "category": category,
                "channel": channel,
                "is_legal": is_legal,
            }
        ).insert(ignore_permissions=True)


def set_settings_defaults():
    values = {}
    stored = {row[0] for row in frappe.db.sql("select field from `tabSingles` where doctype='AWM Settings'")}
    for field, default in SETTINGS_DEFAULTS.items():
        # only fields never stored: an administrator's 0 or blank is kept
        if field not in stored:
            values[field] = default
    # rule_pack_settings holds only an administrator's overrides of the rules' own pack settings: a copy
    # of uk-ladder's would give Hackney's rules a 28-day NOSP notice instead of 3 months.
    stored_overrides = frappe.db.get_single_value("AWM Settings", "rule_pack_settings")
    if not stored_overrides or _is_copy_of_shipped_settings(stored_overrides):
        values["rule_pack_settings"] = "{}"
    for field, value in values.items():
        frappe.db.set_single_value("AWM Settings", field, value)


# Indexes an earlier version made that a wider one above now serves.
REPLACED_INDEXES = (("Rent Transaction", "tenancy_posting_date"),)


def add_indexes():
    for doctype, columns, name in INDEXES:
        if not frappe.db.table_exists(doctype):
            continue
        frappe.db.add_index(doctype, list(columns), index_name=name)
    for doctype, name in REPLACED_INDEXES:
        if frappe.db.table_exists(doctype) and frappe.db.has_index(f"tab{doctype}", name):
            frappe.db.sql_ddl(f"alter table `tab{doctype}` drop index `{name}`")


def seed_message_templates() -> list[str]:
    """Arrears Message Templates from engine/templates/default.json, once (idempotent; see host/outbox.py)."""
    from awm_frappe.host.outbox import seed_templates

    return seed_templates()


def add_shipped_rule(name: str, pack: str = DEFAULT_PACK) -> str | None:
    """Add one rule of a shipped pack to a site that runs that pack (a release that adds a rule ships a
    patch calling this). It goes just after the nearest rule before it in the pack that the site has (or
    just before the nearest one after it), so it keeps its place in the ladder whatever the site did to
    its other priorities. Nothing happens when the site has the rule already, or has no enabled rule of
    that pack (a site that moved to another pack). Returns the rule's name when it was made."""
    from awm_frappe.arrears.doctype.worktray_rule.worktray_rule import doc_from_engine_rule

    raw = load_shipped_pack(pack) or {}
    shipped = {rule["name"]: rule for rule in raw.get("rules") or [] if rule.get("name")}
    names = list(shipped)
    if name not in shipped or frappe.db.exists("Worktray Rule", name):
        return None
    if not frappe.db.exists("Worktray Rule", {"pack": pack, "enabled": 1}):
        return None
    make_action_types()  # the rule's action code must exist before the rule links to it
    at = names.index(name)
    priority = _free_priority_between(names[:at], names[at + 1 :])
    doc = frappe.get_doc(doc_from_engine_rule(shipped[name], priority=priority, pack=pack))
    doc.insert(ignore_permissions=True)
    return doc.name


def _free_priority_between(before: list[str], after: list[str]) -> int:
    """A free priority just after the last of ``before`` the site has (else just before the first of
    ``after`` it has). When no whole number is free there, the site's rules are renumbered 10, 20, ...
    in their order, and the place is found again."""
    for _attempt in range(2):
        rules = frappe.get_all(
            "Worktray Rule", fields=["name", "priority"], order_by="priority asc, name asc"
        )
        priority = {rule.name: rule.priority for rule in rules}
        preceding = [priority[n] for n in before if n in priority]
        following = [priority[n] for n in after if n in priority]
        if preceding:
            lower = preceding[-1]
            upper = min((p for p in priority.values() if p > lower), default=lower + 20)
        else:
            upper = following[0] if following else max(priority.values(), default=0) + 20
            lower = max((p for p in priority.values() if p < upper), default=0)
        if upper - lower >= 2:
            return (lower + upper) // 2
        for position, rule in enumerate(rules, start=1):
            frappe.db.set_value("Worktray Rule", rule.name, "priority", position * 10, update_modified=False)
    raise frappe.ValidationError("no free rule priority")  # unreachable: renumbering leaves gaps of 10


def make_default_rules(pack: str = DEFAULT_PACK) -> list[str]:
    """Create a Worktray Rule for every rule of the shipped pack that has none yet. Returns names made."""
    from awm_frappe.arrears.doctype.worktray_rule.worktray_rule import doc_from_engine_rule

    raw = load_shipped_pack(pack)
    if not raw:
        return []
    made = []
    for position, rule in enumerate(raw.get("rules") or [], start=1):
        if not rule.get("name") or frappe.db.exists("Worktray Rule", rule["name"]):
            continue
        doc = frappe.get_doc(doc_from_engine_rule(rule, priority=position * 10, pack=raw.get("pack") or pack))
        doc.flags.ignore_links = False
        doc.insert(ignore_permissions=True)
        made.append(doc.name)
    return made
