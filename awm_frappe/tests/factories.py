"""Shared factories for the FrappeTestCase suites of awm_frappe (doctype and host-layer tests).

Every factory is idempotent where a natural key exists (territory, customer, user, officer, tenancy_ref,
rule_name, action type code) and returns the saved document. Records are inserted with
``ignore_permissions=True``; FrappeTestCase rolls the database back after each test class.

Dates: tests never read the wall clock directly. ``BASE_DATE`` is a fixed Monday; ``day(n)`` is
``BASE_DATE + n days``; ``frozen(date)`` freezes Frappe's clock (``frappe.utils.today()``/``now()``)
at a date, so controller defaults and the nightly run see the same "today".

Stable signatures (the host layer imports these):
    ensure_setup()
    make_territory(name, parent="All Territories", is_group=0)
    make_customer(name, territory=None)
    make_user(email, roles=(), first_name=None)
    make_officer(user, patches, roles=("Income Officer",), capacity=100, skills="", absent_until=None)
    make_tenancy(tenancy_ref=None, patch="AWM Patch A", customer=None, weekly_rent=100.0,
                 start_date=None, **fields)
    make_rent_transaction(tenancy, posting_date, amount, kind="rent", **fields)
    make_rent_history(tenancy, start, weeks, weekly_rent=None, payment=None, payment_kind="payment")
    make_case(tenancy=None, status="worktray", **fields)
    make_agreement(tenancy, start_date=None, instalment=10.0, frequency="weekly", **fields)
    make_action_type(code, title=None, category="note", channel="", is_legal=0)
    make_rule(rule_name, conditions=(("arrears_after_grace", ">=", "10"),), action_code="letter_1",
              priority=100, action_type="send_message", channel="letter", match="all", **fields)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

import frappe
from frappe.utils import add_days, get_datetime, getdate

from awm_frappe.demo import bulk_load

BASE_DATE = dt.date(2025, 6, 2)  # a Monday
PATCH_A = "AWM Patch A"
PATCH_B = "AWM Patch B"


def day(offset: int = 0) -> dt.date:
    """BASE_DATE shifted by ``offset`` days."""
    return BASE_DATE + dt.timedelta(days=offset)


@contextmanager
def frozen(date: dt.date | str | None = None):
    """Set Frappe's clock to ``date`` (default BASE_DATE) 09:00:00.5 system time, running on from there."""
    import pytz
    from frappe.utils import get_system_timezone
    from freezegun import freeze_time

    when = get_datetime(getdate(date or BASE_DATE)).replace(hour=9, microsecond=500000)
    when = pytz.timezone(get_system_timezone()).localize(when).astimezone(pytz.utc)
    # tick: the clock runs on from that moment, so successive saves get distinct `modified` stamps
    with freeze_time(when, tick=True):
        yield


def ensure_setup():
    """Roles, action types and default rules, as after_install leaves them (idempotent)."""
    from awm_frappe.install import after_install

    if not (frappe.db.exists("Role", "Income Officer") and frappe.db.exists("Arrears Action Type", "close")):
        after_install()


def without_active_model():
    """No active Risk Model for this test class (rolled back with it): the ladder as a site runs it before
    any model is trained, whatever a developer's site has active."""
    from awm_frappe.host import nightly

    frappe.db.sql("update `tabRisk Model` set active = 0 where active = 1")
    nightly._MODEL_CACHE.clear()


def _insert(doc: dict):
    return frappe.get_doc(doc).insert(ignore_permissions=True)


def make_territory(name: str = PATCH_A, parent: str = "All Territories", is_group: int = 0):
    if frappe.db.exists("Territory", name):
        return frappe.get_doc("Territory", name)
    if parent and not frappe.db.exists("Territory", parent):
        make_territory(parent, is_group=1)
    return _insert(
        {"doctype": "Territory", "territory_name": name, "parent_territory": parent, "is_group": is_group}
    )


def _customer_group() -> str:
    for group in ("Individual", "All Customer Groups"):
        if frappe.db.exists("Customer Group", group):
            return group
    return frappe.get_all("Customer Group", pluck="name", limit=1)[0]


def make_customer(name: str, territory: str | None = None):
    if frappe.db.exists("Customer", name):
        return frappe.get_doc("Customer", name)
    if territory:
        make_territory(territory)
    return _insert(
        {
            "doctype": "Customer",
            "customer_name": name,
            "customer_type": "Individual",
            "customer_group": _customer_group(),
            "territory": territory or "All Territories",
        }
    )


def make_user(email: str, roles: Iterable[str] = (), first_name: str | None = None):
    if frappe.db.exists("User", email):
        user = frappe.get_doc("User", email)
    else:
        with bulk_load():  # test runs make many users; Frappe caps new users at 60 an hour otherwise
            user = _insert(
                {
                    "doctype": "User",
                    "email": email,
                    "first_name": first_name or email.split("@")[0],
                    "send_welcome_email": 0,
                    "user_type": "System User",
                }
            )
    missing = [r for r in roles if r not in frappe.get_roles(email)]
    if missing:
        user.flags.ignore_permissions = True
        user.add_roles(*missing)
    return user


def make_officer(
    user: str,
    patches: Sequence[str] = (PATCH_A,),
    roles: Iterable[str] = ("Income Officer",),
    capacity: float = 100,
    skills: str = "",
    absent_until=None,
    enabled: int = 1,
):
    """A Worktray Officer (and its User with ``roles``) working ``patches``; existing patches are replaced."""
    ensure_setup()
    if isinstance(patches, str):
        patches = [patches]
    make_user(user, roles)
    for patch in patches:
        make_territory(patch)
    if frappe.db.exists("Worktray Officer", user):
        officer = frappe.get_doc("Worktray Officer", user)
        officer.patches = []
    else:
        officer = frappe.new_doc("Worktray Officer")
        officer.user = user
    for patch in patches:
        officer.append("patches", {"territory": patch})
    officer.update({"capacity": capacity, "skills": skills, "absent_until": absent_until, "enabled": enabled})
    officer.save(ignore_permissions=True)
    return officer


_counter = {"tenancy": 0}


def _next_ref() -> str:
    _counter["tenancy"] += 1
    return f"AWM-T-{frappe.generate_hash(length=6).upper()}-{_counter['tenancy']}"


def make_tenancy(
    tenancy_ref: str | None = None,
    patch: str = PATCH_A,
    customer: str | None = None,
    weekly_rent: float = 100.0,
    start_date=None,
    **fields,
):
    if tenancy_ref and frappe.db.exists("Tenancy", tenancy_ref):
        return frappe.get_doc("Tenancy", tenancy_ref)
    tenancy_ref = tenancy_ref or _next_ref()
    make_territory(patch)
    customer = customer or make_customer(f"Tenant {tenancy_ref}", territory=patch).name
    doc = {
        "doctype": "Tenancy",
        "tenancy_ref": tenancy_ref,
        "customer": customer,
        "patch": patch,
        "weekly_rent": weekly_rent,
        "start_date": start_date or add_days(BASE_DATE, -365),
        "tenure_type": "secure",
        "payment_method": "cash_card",
        "preferred_channel": "letter",
    }
    doc.update(fields)
    return _insert(doc)


def make_rent_transaction(tenancy: str, posting_date, amount: float, kind: str = "rent", **fields):
    doc = {
        "doctype": "Rent Transaction",
        "tenancy": tenancy,
        "posting_date": posting_date,
        "amount": amount,
        "kind": kind,
    }
    doc.update(fields)
    return _insert(doc)


def make_rent_history(
    tenancy: str,
    start=None,
    weeks: int = 8,
    weekly_rent: float | None = None,
    payment: float | None = None,
    payment_kind: str = "payment",
):
    """Weekly rent charges (Mondays from ``start``) and, optionally, a payment of ``payment`` each week.
    Returns the list of Rent Transaction names. Uses bulk insert for speed."""
    weekly_rent = (
        weekly_rent if weekly_rent is not None else frappe.db.get_value("Tenancy", tenancy, "weekly_rent")
    )
    start = getdate(start or add_days(BASE_DATE, -7 * weeks))
    rows = []
    for week in range(weeks):
        monday = add_days(start, 7 * week)
        rows.append((monday, weekly_rent, "rent"))
        if payment:
            rows.append((add_days(monday, 2), -abs(payment), payment_kind))
    names = []
    for posting_date, amount, kind in rows:
        names.append(make_rent_transaction(tenancy, posting_date, amount, kind).name)
    return names


def make_case(tenancy: str | None = None, status: str = "worktray", **fields):
    ensure_setup()
    if tenancy is None:
        tenancy = make_tenancy(patch=fields.pop("patch", PATCH_A)).name
    else:
        fields.pop("patch", None)
    doc = {
        "doctype": "Arrears Case",
        "tenancy": tenancy,
        "status": status,
        "opened_on": fields.pop("opened_on", BASE_DATE),
    }
    doc.update(fields)
    return _insert(doc)


def make_agreement(
    tenancy: str, start_date=None, instalment: float = 10.0, frequency: str = "weekly", **fields
):
    doc = {
        "doctype": "Payment Agreement",
        "tenancy": tenancy,
        "start_date": start_date or BASE_DATE,
        "instalment": instalment,
        "frequency": frequency,
    }
    doc.update(fields)
    return _insert(doc)


def make_action_type(
    code: str, title: str | None = None, category: str = "note", channel: str = "", is_legal: int = 0
):
    if frappe.db.exists("Arrears Action Type", code):
        return frappe.get_doc("Arrears Action Type", code)
    return _insert(
        {
            "doctype": "Arrears Action Type",
            "code": code,
            "title": title or code.replace("_", " ").capitalize(),
            "category": category,
            "channel": channel,
            "is_legal": is_legal,
        }
    )


def make_rule(
    rule_name: str,
    conditions: Iterable = (("arrears_after_grace", ">=", "10"),),
    action_code: str = "letter_1",
    priority: int = 100,
    action_type: str = "send_message",
    channel: str = "letter",
    match: str = "all",
    **fields,
):
    """A Worktray Rule. ``conditions``: tuples (field, op, value[, value_unit[, value_field]]) or dicts with
    the Worktray Rule Condition fields. Pass ``conditions_json`` in ``fields`` for nested groups.
    An existing rule with the same name is replaced."""
    ensure_setup()
    make_action_type(
        action_code,
        category="message" if action_type == "send_message" else "officer_task",
        channel=channel or "",
    )
    if frappe.db.exists("Worktray Rule", rule_name):
        frappe.delete_doc("Worktray Rule", rule_name, ignore_permissions=True, force=True)
    rows = []
    for cond in conditions:
        if isinstance(cond, dict):
            rows.append(cond)
            continue
        cond = list(cond) + [None] * (5 - len(cond))
        field, op, value, unit, value_field = cond[:5]
        rows.append(
            {
                "field_name": field,
                "operator": op,
                "value": "" if value is None else str(value),
                "value_unit": unit or "",
                "value_field": value_field or "",
            }
        )
    doc = {
        "doctype": "Worktray Rule",
        "rule_name": rule_name,
        "title": fields.pop("title", rule_name.replace("_", " ").capitalize()),
        "enabled": fields.pop("enabled", 1),
        "priority": priority,
        "match": match,
        "conditions": rows,
        "action_type": action_type,
        "action_code": action_code,
        "channel": channel if action_type == "send_message" else "",
        "template": fields.pop("template", action_code if action_type == "send_message" else ""),
    }
    doc.update(fields)
    return _insert(doc)


def make_patch(label: str, prefix: str = "AWM") -> str:
    """A fresh patch Territory with a unique name, so suites never see each other's cases."""
    name = f"{prefix} {label} {frappe.generate_hash(length=5)}"
    make_territory(name)
    return name


def make_weekly_ledger(tenancy: str, first_monday, weeks: int, rent: float = 100.0, paid: float = 0.0):
    """Weekly rent (and optional payments two days later) as Rent Transactions, in one bulk insert."""
    from awm_frappe.host.writeback import bulk_insert

    now = frappe.utils.now_datetime()
    rows = []
    for week in range(weeks):
        monday = frappe.utils.add_days(first_monday, 7 * week)
        rows.append([frappe.generate_hash(length=10), now, now, "Administrator", "Administrator",
                     tenancy, monday, rent, "rent"])  # fmt: skip
        if paid:
            rows.append([frappe.generate_hash(length=10), now, now, "Administrator", "Administrator",
                         tenancy, frappe.utils.add_days(monday, 2), -paid, "payment"])  # fmt: skip
    bulk_insert(
        "Rent Transaction",
        ["name", "creation", "modified", "owner", "modified_by", "tenancy", "posting_date", "amount", "kind"],
        rows,
    )
