"""The rent ledger, from either source, as the engine's ledger frame: tenancy, date, amount, kind.

AWM Settings.ledger_source chooses:

- **Rent Transaction** (default): landlords whose rent lives in another housing system import their
  transactions (Data Import or REST). One SELECT: signed amounts (charges +, payments −) and the kind as
  stored.
- **ERPNext Receivables**: the tenant is a Customer and rent is an ordinary receivable. One SELECT over
  Payment Ledger Entry (the party ledger ERPNext v15 keeps per receivable posting) against the tenants'
  Customers, for the company (and the receivable account when one is set), joined to Tenancy on
  ``Tenancy.customer``. Mapping:

  | Payment Ledger Entry | kind |
  |---|---|
  | voucher_type Sales Invoice, amount > 0 (the weekly rent run) | rent |
  | voucher_type Sales Invoice, amount < 0 (a credit note) | adjustment |
  | voucher_type Payment Entry, amount < 0 | payment |
  | voucher_type Journal Entry, amount < 0 (e.g. a Housing Benefit schedule) | payment |
  | anything else (Journal Entry debits, reversals, ...) | adjustment |

  Delinked entries (cancelled vouchers) are left out. One Customer per Tenancy is assumed (a tenant
  with two tenancies gets two Customers); entries are summed per (tenancy, voucher, day), so a payment
  allocated across several invoices counts once.

  Weekly rent is posted as a **rent run**: every Monday one Sales Invoice per current tenancy for the
  AWM Settings.rent_item at the tenancy's weekly rent, posting date = the Monday, due the same day
  (``post_rent_run`` below does it for tests and demos; a production rent run would typically be a
  scheduled job or ERPNext's Auto Repeat on a template invoice per tenancy). Payments arrive as Payment
  Entries (Receive, party = the tenant Customer), allocated or unallocated: either way the Payment
  Ledger Entry moves the balance the same.

Dates travel as day numbers (TO_DAYS) and money as DOUBLE so that a year of ledger for thousands of
tenancies decodes fast; the frame is typed once with vectorised pandas.
"""

from __future__ import annotations

import frappe
import numpy as np
import pandas as pd
from frappe.utils import add_days, getdate

LEDGER_COLUMNS = ["tenancy", "date", "amount", "kind"]
_TO_DAYS_EPOCH = 719528  # TO_DAYS('1970-01-01') in MariaDB


def patch_condition(patches, alias: str = "t") -> tuple[str, dict]:
    """SQL ``and <alias>.patch in (...)`` for a list of patches; empty when every patch is wanted."""
    if not patches:
        return "", {}
    return f" and {alias}.patch in %(patches)s", {"patches": tuple(patches)}


def days_to_dates(days) -> pd.Series:
    values = pd.to_numeric(pd.Series(days), errors="coerce")
    return pd.to_datetime(values - _TO_DAYS_EPOCH, unit="D")


def read_ledger(as_of, patches=None, settings=None) -> pd.DataFrame:
    """The ledger frame for the tenancies of ``patches`` (all when empty), dated on or before as_of."""
    settings = settings or frappe.get_cached_doc("AWM Settings")
    if (settings.get("ledger_source") or "Rent Transaction") == "ERPNext Receivables":
        return read_receivables(as_of, patches, settings.get("company"), settings.get("receivable_account"))
    return read_rent_transactions(as_of, patches)


def read_rent_transactions(as_of, patches=None) -> pd.DataFrame:
    where, values = patch_condition(patches)
    rows = frappe.db.sql(
        f"""select rt.tenancy, to_days(rt.posting_date), rt.amount * 1e0, rt.kind
        from `tabRent Transaction` rt
        {"join `tabTenancy` t on t.name = rt.tenancy" if where else ""}
        where rt.posting_date <= %(as_of)s{where}""",
        {"as_of": getdate(as_of), **values},
    )
    return _frame(rows)


def receivable_filter(alias: str, values: dict, company=None, account=None) -> str:
    """SQL conditions limiting Payment Ledger Entries (aliased ``alias``) to the landlord's company and
    receivable account when they are set; fills ``values`` with the parameters."""
    where = ""
    if company:
        where += f" and {alias}.company = %(company)s"
        values["company"] = company
    if account:
        where += f" and {alias}.account = %(account)s"
        values["account"] = account
    return where


def read_receivables(as_of, patches=None, company=None, account=None) -> pd.DataFrame:
    where, values = patch_condition(patches)
    where += receivable_filter("ple", values, company, account)
    rows = frappe.db.sql(
        f"""select t.name, to_days(ple.posting_date), sum(ple.amount) * 1e0,
            case
                when ple.voucher_type = 'Sales Invoice' and sum(ple.amount) > 0 then 'rent'
                when ple.voucher_type in ('Payment Entry', 'Journal Entry') and sum(ple.amount) < 0
                    then 'payment'
                else 'adjustment'
            end
        from `tabPayment Ledger Entry` ple
        join `tabTenancy` t on t.customer = ple.party
        where ple.party_type = 'Customer' and ple.delinked = 0 and ple.account_type = 'Receivable'
            and ple.posting_date <= %(as_of)s{where}
        group by t.name, ple.voucher_type, ple.voucher_no, ple.posting_date""",
        {"as_of": getdate(as_of), **values},
    )
    return _frame(rows)


def _frame(rows) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(
            {
                "tenancy": pd.Series(dtype=object),
                "date": pd.Series(dtype="datetime64[ns]"),
                "amount": pd.Series(dtype=float),
                "kind": pd.Series(dtype=object),
            }
        )
    frame = pd.DataFrame.from_records(rows, columns=LEDGER_COLUMNS)
    frame["date"] = days_to_dates(frame["date"]).to_numpy()
    frame["amount"] = frame["amount"].astype(float)
    return frame


# ---------------------------------------------------------------------------------------------------
# ERPNext rent run helpers (tests, demo; a landlord's own rent run would post the same documents)


def rent_settings():
    settings = frappe.get_cached_doc("AWM Settings")
    company = settings.get("company") or frappe.defaults.get_user_default("Company")
    if not company:
        frappe.throw("Set AWM Settings.company to post rent to ERPNext")
    return settings, company


def ensure_rent_item(item_code: str = "Weekly Rent") -> str:
    """The non-stock service Item rent invoices use (created once)."""
    if not frappe.db.exists("Item", item_code):
        frappe.get_doc(
            {
                "doctype": "Item",
                "item_code": item_code,
                "item_name": item_code,
                "item_group": frappe.db.get_value("Item Group", {"is_group": 0}, "name") or "All Item Groups",
                "stock_uom": "Nos",
                "is_stock_item": 0,
                "include_item_in_manufacturing": 0,
            }
        ).insert(ignore_permissions=True)
    return item_code


def make_rent_invoice(tenancy: str, posting_date, amount=None, company=None, item=None, submit=True):
    """One weekly rent charge as a Sales Invoice to the tenant Customer."""
    settings = frappe.get_cached_doc("AWM Settings")
    company = company or settings.get("company")
    item = item or settings.get("rent_item") or ensure_rent_item()
    customer, weekly_rent = frappe.db.get_value("Tenancy", tenancy, ["customer", "weekly_rent"])
    posting_date = getdate(posting_date)
    invoice = frappe.get_doc(
        {
            "doctype": "Sales Invoice",
            "customer": customer,
            "company": company,
            "posting_date": posting_date,
            "set_posting_time": 1,
            "due_date": posting_date,
            "debit_to": settings.get("receivable_account") or None,
            "remarks": f"Rent week commencing {posting_date} for {tenancy}",
            "items": [{"item_code": item, "qty": 1, "rate": amount if amount is not None else weekly_rent}],
        }
    )
    if company:
        invoice.currency = frappe.get_cached_value("Company", company, "default_currency")
        invoice.conversion_rate = 1
    invoice.insert(ignore_permissions=True)
    if submit:
        invoice.submit()
    return invoice


def make_rent_payment(tenancy: str, posting_date, amount, company=None, mode_of_payment=None, submit=True):
    """A payment from the tenant as an unallocated Payment Entry (Receive); it credits the receivable."""
    from erpnext.accounts.party import get_party_account

    settings = frappe.get_cached_doc("AWM Settings")
    company = company or settings.get("company")
    customer = frappe.db.get_value("Tenancy", tenancy, "customer")
    receivable = settings.get("receivable_account") or get_party_account("Customer", customer, company)
    cash = frappe.get_cached_value("Company", company, "default_cash_account") or frappe.db.get_value(
        "Account", {"company": company, "account_type": "Cash", "is_group": 0}, "name"
    )
    currency = frappe.get_cached_value("Company", company, "default_currency")
    entry = frappe.get_doc(
        {
            "doctype": "Payment Entry",
            "payment_type": "Receive",
            "company": company,
            "posting_date": getdate(posting_date),
            "party_type": "Customer",
            "party": customer,
            "paid_from": receivable,
            "paid_to": cash,
            "paid_from_account_currency": currency,
            "paid_to_account_currency": currency,
            "paid_amount": amount,
            "received_amount": amount,
            "source_exchange_rate": 1,
            "target_exchange_rate": 1,
            "mode_of_payment": mode_of_payment,
            "reference_no": f"{tenancy}-{posting_date}",
            "reference_date": getdate(posting_date),
            "remarks": f"Rent payment for {tenancy}",
        }
    )
    entry.insert(ignore_permissions=True)
    if submit:
        entry.submit()
    return entry


def post_rent_run(monday, patches=None, submit=True) -> list[str]:
    """The weekly rent run: one Sales Invoice per current tenancy (of ``patches``) dated ``monday``."""
    monday = getdate(monday)
    where, values = patch_condition(patches)
    tenancies = frappe.db.sql_list(
        f"""select t.name from `tabTenancy` t
        where t.start_date <= %(monday)s and (t.end_date is null or t.end_date >= %(monday)s){where}
        order by t.name""",
        {"monday": monday, **values},
    )
    return [make_rent_invoice(name, monday, submit=submit).name for name in tenancies]


def mondays(start, end) -> list:
    """Every Monday from start to end inclusive (rent-run dates)."""
    start, end = getdate(start), getdate(end)
    first = add_days(start, (7 - start.weekday()) % 7)
    out, day = [], getdate(first)
    while day <= end:
        out.append(day)
        day = getdate(add_days(day, 7))
    return out


def ledger_summary(ledger: pd.DataFrame) -> dict:
    """Row count and balance by kind, for the AWM Run summary."""
    if ledger.empty:
        return {"rows": 0}
    by_kind = ledger.groupby("kind")["amount"].agg(["count", "sum"])
    return {
        "rows": len(ledger),
        "by_kind": {
            k: {"rows": int(r["count"]), "amount": round(float(r["sum"]), 2)} for k, r in by_kind.iterrows()
        },
        "first": str(ledger["date"].min().date()) if len(ledger) else None,
        "last": str(ledger["date"].max().date()) if len(ledger) else None,
        "tenancies": int(np.unique(ledger["tenancy"].to_numpy()).size),
    }
