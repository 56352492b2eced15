"""Demo data for a site: patches, tenants, tenancies, officers, a year of rent and payments, the synthetic
portfolio's open cases and their history, then one nightly run — so a new user sees full worktrays.

    bench --site SITE execute awm_frappe.demo.make_demo_data --kwargs "{'tenancies': 500}"

Data comes from the engine's synthetic generator (``awm_frappe.engine.synth.synthesize``) and is written in
bulk (multi-row INSERTs: no document events, no per-row validation), except Territories, Users and
Worktray Officers (a handful, inserted as documents). Everything is prefixed (``prefix``, default "DEMO-")
so a second call with another prefix (the benchmark uses "BENCH-") does not collide.

``source="ERPNext Receivables"`` posts the rent as real Sales Invoices and the payments as Payment Entries
instead (slow — about 0.1–0.2 s per document — so keep it to a few dozen tenancies and weeks), and switches
AWM Settings.ledger_source to it.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import frappe
import numpy as np
import pandas as pd
from frappe.utils import cint, getdate, now_datetime, nowdate

from awm_frappe.host.writeback import DOC_COLUMNS, bulk_insert, reserve_names, standard_values

ROLES = ("Income Officer",)


def make_demo_data(
    tenancies: int = 500,
    weeks: int = 52,
    seed: int = 7,
    as_of=None,
    prefix: str = "DEMO-",
    source: str = "Rent Transaction",
    run: bool = True,
    live: bool = False,
    with_cases: bool = True,
    commit: bool = True,
) -> dict:
    """Create the demo portfolio and (by default) run the nightly job on it. Returns a summary."""
    from awm_frappe.engine import synth

    started = time.perf_counter()
    tenancies, weeks = cint(tenancies), cint(weeks)
    as_of = getdate(as_of or nowdate())
    if frappe.db.exists("Tenancy", {"name": ("like", f"{prefix}%")}):
        frappe.throw(f"Demo data with prefix {prefix!r} already exists; pass another prefix")
    if source == "ERPNext Receivables":
        weeks = min(weeks, 8)
    portfolio = synth.synthesize(tenancies, weeks, seed, end=pd.Timestamp(as_of))
    out = {"prefix": prefix, "tenancies": len(portfolio.tenancies), "as_of": str(as_of)}
    timings = {"synthesize": time.perf_counter() - started}

    def lap(name, since):
        timings[name] = round(time.perf_counter() - since, 2)
        return time.perf_counter()

    t = time.perf_counter()
    patches = _patches(portfolio.tenancies, prefix)
    t = lap("patches", t)
    customers = _customers(portfolio.tenancies, prefix, patches)
    t = lap("customers", t)
    _tenancies(portfolio.tenancies, prefix, patches, customers)
    t = lap("tenancies", t)
    officers = _officers(portfolio.officers, prefix, patches)
    out["officers"] = officers
    t = lap("officers", t)
    if source == "ERPNext Receivables":
        out["documents"] = _erpnext_ledger(portfolio.ledger, prefix)
        settings = frappe.get_single("AWM Settings")
        settings.ledger_source = "ERPNext Receivables"
        settings.company = settings.company or frappe.db.get_single_value(
            "Global Defaults", "default_company"
        )
        settings.save(ignore_permissions=True)
    else:
        out["ledger_rows"] = _rent_transactions(portfolio.ledger, prefix)
    t = lap("ledger", t)
    if with_cases:
        out["cases"] = _cases(portfolio.cases, portfolio.actions, prefix, patches, customers, officers)
        t = lap("cases", t)
    if commit:
        frappe.db.commit()
    if run:
        from awm_frappe.host.nightly import run_nightly

        result = run_nightly(as_of, patches=sorted(set(patches.values())), dry_run=None if not live else 0)
        out["run"] = {
            k: result.get(k)
            for k in (
                "name",
                "status",
                "duration_seconds",
                "query_count",
                "tenancies_scored",
                "cases_opened",
                "escalated",
                "closed",
                "routed_to_officers",
                "messages_decided",
                "errors",
            )
        }
        t = lap("nightly", t)
        if commit:
            frappe.db.commit()
    out["timings"] = timings
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(frappe.as_json(out))
    return out


# ---------------------------------------------------------------------------------------------------


def _patches(tenancies: pd.DataFrame, prefix: str) -> dict:
    parent = f"{prefix}Patches".strip()
    if not frappe.db.exists("Territory", parent):
        frappe.get_doc(
            {
                "doctype": "Territory",
                "territory_name": parent,
                "parent_territory": "All Territories",
                "is_group": 1,
            }
        ).insert(ignore_permissions=True)
    names = {}
    for patch in sorted(tenancies["patch"].unique()):
        name = f"{prefix}{patch}"
        if not frappe.db.exists("Territory", name):
            frappe.get_doc(
                {"doctype": "Territory", "territory_name": name, "parent_territory": parent, "is_group": 0}
            ).insert(ignore_permissions=True)
        names[patch] = name
    return names


def _customer_group() -> str:
    for group in ("Individual", "All Customer Groups"):
        if frappe.db.exists("Customer Group", group):
            return group
    return frappe.get_all("Customer Group", pluck="name", limit=1)[0]


def _customers(tenancies: pd.DataFrame, prefix: str, patches: dict) -> dict:
    now, user = now_datetime(), frappe.session.user
    group = _customer_group()
    rows, names = [], {}
    for ref, name, patch in zip(
        tenancies["tenancy"], tenancies["tenant_name"], tenancies["patch"], strict=False
    ):
        customer = f"{name or 'Tenant'} ({prefix}{ref})"
        names[ref] = customer
        rows.append([customer, now, now, user, user, 0, 0, customer, "Individual", group, patches[patch]])
    bulk_insert(
        "Customer",
        [
            *DOC_COLUMNS,
            "idx",
            "customer_name",
            "customer_type",
            "customer_group",
            "territory",
        ],
        rows,
    )
    return names


def _tenancies(tenancies: pd.DataFrame, prefix: str, patches: dict, customers: dict) -> None:
    now, user = now_datetime(), frappe.session.user
    fields = [
        *DOC_COLUMNS,
        "idx",
        "tenancy_ref",
        "customer",
        "tenant_name",
        "patch",
        "tenure_type",
        "weekly_rent",
        "start_date",
        "end_date",
        "payment_method",
        "uc_status",
        "uc_claim_date",
        "hb_status",
        "vulnerable",
        "vulnerability",
        "language",
        "preferred_channel",
        "mobile_no",
        "email_id",
        "has_postal_address",
        "do_not_contact",
        "breathing_space_until",
        "deceased",
    ]

    def date(value):
        return None if pd.isna(value) else pd.Timestamp(value).date()

    rows = []
    for r in tenancies.itertuples(index=False):
        ref = f"{prefix}{r.tenancy}"
        rows.append(
            [
                ref,
                now,
                now,
                user,
                user,
                0,
                0,
                ref,
                customers[r.tenancy],
                r.tenant_name,
                patches[r.patch],
                r.tenure_type,
                float(r.weekly_rent),
                date(r.start_date),
                date(r.end_date),
                r.payment_method,
                r.uc_status,
                date(r.uc_claim_date),
                r.hb_status,
                int(bool(r.vulnerable)),
                r.vulnerability or None,
                r.language or "en",
                r.preferred_channel,
                r.mobile or None,
                r.email or None,
                int(bool(r.has_postal_address)),
                int(bool(r.do_not_contact)),
                date(r.breathing_space_until),
                int(bool(r.deceased)),
            ]
        )
    bulk_insert("Tenancy", fields, rows)


@contextmanager
def bulk_load():
    """Creating users in bulk (demo officers, test fixtures): lift, for this process only, Frappe's cap of
    60 new users an hour (``throttle_user_limit``), which a 20,000-tenancy portfolio's officers and a test
    run's users otherwise reach. Frappe's own ``in_import`` flag would also skip field defaults (a user
    would not be enabled)."""
    conf = frappe.local.conf
    missing = object()
    previous = conf.get("throttle_user_limit", missing)
    conf["throttle_user_limit"] = 1_000_000
    try:
        yield
    finally:
        if previous is missing:
            conf.pop("throttle_user_limit", None)
        else:
            conf["throttle_user_limit"] = previous


def _officers(officers: pd.DataFrame, prefix: str, patches: dict) -> list[str]:
    from frappe.utils import validate_email_address

    made = []
    for r in officers.itertuples(index=False):
        email = f"{prefix.lower().strip('-')}.{r.officer}"
        if not validate_email_address(email):
            email = f"{prefix.lower().strip('-')}-{frappe.scrub(r.officer)}@example.org"
        if not frappe.db.exists("User", email):
            first, _, last = (r.name or email).partition(" ")
            user = frappe.get_doc(
                {
                    "doctype": "User",
                    "email": email,
                    "first_name": first,
                    "last_name": last,
                    "send_welcome_email": 0,
                    "user_type": "System User",
                }
            )
            user.flags.ignore_permissions = True
            with bulk_load():  # a 20,000-tenancy portfolio has 40 officers
                user.insert(ignore_permissions=True)
            user.add_roles(*[role for role in ROLES if frappe.db.exists("Role", role)])
        officer_patches = (
            r.patches if isinstance(r.patches, list | tuple | np.ndarray) else str(r.patches).split(";")
        )
        skills = (
            r.skills if isinstance(r.skills, list | tuple | np.ndarray) else str(r.skills or "").split(";")
        )
        doc = frappe.get_doc(
            {
                "doctype": "Worktray Officer",
                "user": email,
                "phone": r.phone or "",
                "capacity": float(r.capacity or 100),
                "skills": ", ".join(s for s in skills if s),
                "patches": [{"territory": patches[p]} for p in officer_patches if p in patches],
            }
        )
        doc.insert(ignore_permissions=True)
        made.append(email)
    return made


def _rent_transactions(ledger: pd.DataFrame, prefix: str) -> int:
    now, user = now_datetime(), frappe.session.user
    tenancy = (prefix + ledger["tenancy"].astype(str)).to_numpy()
    dates = pd.to_datetime(ledger["date"]).dt.date.to_numpy()
    amounts = ledger["amount"].astype(float).round(2).to_numpy()
    kinds = ledger["kind"].to_numpy()
    names = [frappe.generate_hash(length=12) for _ in range(len(ledger))]
    rows = [
        [names[i], now, now, user, user, 0, 0, tenancy[i], dates[i], float(amounts[i]), kinds[i]]
        for i in range(len(ledger))
    ]
    bulk_insert(
        "Rent Transaction",
        [
            *DOC_COLUMNS,
            "idx",
            "tenancy",
            "posting_date",
            "amount",
            "kind",
        ],
        rows,
        chunk=5000,
    )
    return len(rows)


def _erpnext_ledger(ledger: pd.DataFrame, prefix: str) -> int:
    """Rent charges as Sales Invoices, payments of every kind as Payment Entries (adjustments skipped)."""
    from awm_frappe.host import ledger as host_ledger

    count = 0
    for r in ledger.sort_values("date").itertuples(index=False):
        tenancy = f"{prefix}{r.tenancy}"
        if r.kind == "rent" and r.amount > 0:
            host_ledger.make_rent_invoice(tenancy, r.date, amount=float(r.amount))
        elif r.amount < 0 and r.kind in ("payment", "hb", "uc"):
            host_ledger.make_rent_payment(tenancy, r.date, float(-r.amount))
        else:
            continue
        count += 1
    return count


def _cases(
    cases: pd.DataFrame, actions: pd.DataFrame, prefix: str, patches: dict, customers: dict, officers
) -> int:
    """The portfolio's open cases (with their agreements) and action history, as they would be after a
    migration from the landlord's previous system."""
    if cases is None or cases.empty:
        return 0
    now, user = now_datetime(), frappe.session.user
    officer_map = {o.split(".", 1)[1] if "." in o else o: o for o in officers}
    names = reserve_names("Arrears Case", len(cases))
    case_of = {}
    rows = []

    def date(value):
        return None if value is None or pd.isna(value) else pd.Timestamp(value).date()

    tenancy_patch = dict(
        frappe.db.sql("select name, patch from `tabTenancy` where name like %s", f"{prefix}%")
    )
    for name, r in zip(names, cases.itertuples(index=False), strict=False):
        ref = f"{prefix}{r.tenancy}"
        case_of[r.tenancy] = name
        officer = officer_map.get(r.officer) or None
        rows.append(
            [
                name,
                now,
                now,
                user,
                user,
                0,
                0,
                ref,
                customers.get(r.tenancy),
                customers.get(r.tenancy, "").rsplit(" (", 1)[0],
                tenancy_patch.get(ref),
                r.status or "automated",
                r.stage or "",
                officer,
                date(r.opened_date),
                r.last_action or None,
                date(r.last_action_date),
                int(bool(r.last_letter_failed)),
                date(r.nosp_served_date),
                date(r.court_date),
                r.court_outcome or "",
                date(r.eviction_date),
                date(r.paused_until),
                r.pause_reason or "",
                json_list(officer),
            ]
        )
    bulk_insert(
        "Arrears Case",
        [
            *DOC_COLUMNS,
            "idx",
            "tenancy",
            "customer",
            "tenant_name",
            "patch",
            "status",
            "stage",
            "officer",
            "opened_on",
            "last_action",
            "last_action_date",
            "last_letter_failed",
            "nosp_served_date",
            "court_date",
            "court_outcome",
            "eviction_date",
            "paused_until",
            "pause_reason",
            "_assign",
        ],
        rows,
    )
    frappe.db.sql(
        "update `tabTenancy` t join `tabArrears Case` c on c.tenancy = t.name set t.open_case = c.name "
        "where c.status != 'closed' and t.name like %s",
        f"{prefix}%",
    )

    # ToDos for cases that already have an officer
    todos = [
        [
            *standard_values(now, user),
            0,
            "Open",
            "Medium",
            date(r.opened_date) or now.date(),
            officer_map[r.officer],
            f"Imported case {case_of[r.tenancy]}",
            "Arrears Case",
            case_of[r.tenancy],
            user,
        ]
        for r in cases.itertuples(index=False)
        if r.officer and officer_map.get(r.officer)
    ]
    bulk_insert(
        "ToDo",
        [
            *DOC_COLUMNS,
            "idx",
            "status",
            "priority",
            "date",
            "allocated_to",
            "description",
            "reference_type",
            "reference_name",
            "assigned_by",
        ],
        todos,
    )

    # agreements
    with_agreement = cases[cases["agreement_start"].notna()] if "agreement_start" in cases else cases.iloc[:0]
    if len(with_agreement):
        pa_names = reserve_names("Payment Agreement", len(with_agreement))
        pa_rows = []
        for pa, r in zip(pa_names, with_agreement.itertuples(index=False), strict=False):
            ref = f"{prefix}{r.tenancy}"
            pa_rows.append(
                [
                    pa,
                    now,
                    now,
                    user,
                    user,
                    0,
                    0,
                    ref,
                    case_of[r.tenancy],
                    customers.get(r.tenancy),
                    tenancy_patch.get(ref),
                    date(r.agreement_start),
                    r.agreement_frequency or "weekly",
                    float(r.agreement_instalment or 0),
                    float(r.agreement_initial_payment or 0),
                    float(r.agreement_starting_balance or 0),
                    int(bool(r.agreement_formal)),
                    r.agreement_status or "live",
                ]
            )
        bulk_insert(
            "Payment Agreement",
            [
                *DOC_COLUMNS,
                "idx",
                "tenancy",
                "arrears_case",
                "customer",
                "patch",
                "start_date",
                "frequency",
                "instalment",
                "initial_payment",
                "starting_balance",
                "formal",
                "status",
            ],
            pa_rows,
        )
        frappe.db.sql(
            "update `tabArrears Case` c join `tabPayment Agreement` pa on pa.arrears_case = c.name "
            "set c.agreement = pa.name where c.tenancy like %s",
            f"{prefix}%",
        )

    # timeline history
    known_types = set(frappe.get_all("Arrears Action Type", pluck="name"))
    known_rules = set(frappe.get_all("Worktray Rule", pluck="name"))
    history = actions[actions["tenancy"].isin(case_of.keys())].sort_values("date", kind="stable")
    idx: dict[str, int] = {}
    tl = []
    for r in history.itertuples(index=False):
        if r.action not in known_types:
            continue
        parent = case_of[r.tenancy]
        idx[parent] = idx.get(parent, 0) + 1
        tl.append(
            [
                *standard_values(now, user),
                parent,
                "timeline",
                "Arrears Case",
                idx[parent],
                date(r.date),
                r.action,
                r.channel or "",
                r.rule if r.rule in known_rules else None,
                1,
                "done",
                "imported history",
            ]
        )
    bulk_insert(
        "Arrears Case Action",
        [
            *DOC_COLUMNS,
            "parent",
            "parentfield",
            "parenttype",
            "idx",
            "action_date",
            "action_type",
            "channel",
            "rule",
            "by_automation",
            "outcome",
            "notes",
        ],
        tl,
    )
    return len(rows)


def json_list(value) -> str:
    return frappe.as_json([value] if value else [], indent=None)


def remove_demo_data(prefix: str = "DEMO-", commit: bool = True) -> dict:
    """Delete everything ``make_demo_data`` created with ``prefix`` (bulk deletes)."""
    like = f"{prefix}%"
    cases = frappe.db.sql_list("select name from `tabArrears Case` where tenancy like %s", like)
    counts = {}
    if cases:
        counts["ToDo"] = frappe.db.sql(
            "delete from `tabToDo` where reference_type='Arrears Case' and reference_name in %s",
            [tuple(cases)],
        )
        frappe.db.sql(
            "delete from `tabArrears Case Action` where parenttype='Arrears Case' and parent in %s",
            [tuple(cases)],
        )
    for doctype, column in (
        ("Arrears Message", "tenancy"),
        ("Payment Agreement", "tenancy"),
        ("Arrears Case", "tenancy"),
        ("Rent Transaction", "tenancy"),
        ("Tenancy", "name"),
    ):
        frappe.db.sql(f"delete from `tab{doctype}` where `{column}` like %s", like)
    frappe.db.sql("delete from `tabCustomer` where name like %s", f"%({prefix}%")
    users = frappe.db.sql_list(
        "select name from `tabWorktray Officer` where name like %s", f"{prefix.lower().strip('-')}%"
    )
    for user in users:
        frappe.db.sql("delete from `tabWorktray Officer Patch` where parent=%s", user)
        frappe.db.sql("delete from `tabWorktray Officer` where name=%s", user)
    if commit:
        frappe.db.commit()
    return {"cases": len(cases), "officers": len(users)}
