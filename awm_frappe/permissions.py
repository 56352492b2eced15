"""Patch-based record permissions for Arrears Case, Tenancy, Payment Agreement and Rent Transaction.

One rule, applied everywhere:

- Administrator and users with a role in ``UNRESTRICTED_ROLES`` (Income Team Leader, AWM Manager,
  System Manager) see every record.
- Everybody else (Income Officers, and any other role a site grants read on these doctypes) sees only
  records whose patch (Territory) is one of *their* patches: the patches on their Worktray Officer
  record, plus any Territory User Permissions they hold (group territories include their descendants).

The same patch set drives both hooks in hooks.py:

- ``permission_query_conditions`` (list view, report view, link search, ``frappe.get_list``,
  ``/api/resource``): an SQL condition on the patch column;
- ``has_permission`` (form, ``frappe.get_doc(...).check_permission``, ``frappe.client.get``): False for a
  record outside the user's patches.

Shares. Frappe v15 ORs shared documents into both checks (``DatabaseQuery.build_match_conditions`` adds
``or name in (<shared>)`` when it fetches shares; ``frappe.permissions.has_permission`` falls back to
``false_if_not_shared()`` after a controller hook says no), and ``frappe.desk.form.assign_to.add`` creates
a DocShare when the assignee cannot read the document. So a share would silently open another patch's case
to an officer. ``validate_docshare`` (a DocShare ``validate`` doc event) therefore refuses any share of these
doctypes with a user who is outside the record's patch, and any share with "everyone"; assigning a patch-B
case to a patch-A officer is refused with a clear message instead of opening the case.
``revoke_out_of_patch_shares`` removes shares that predate the app (run from after_migrate).
"""

from __future__ import annotations

import frappe
from frappe import _

UNRESTRICTED_ROLES = frozenset({"System Manager", "AWM Manager", "Income Team Leader"})

# doctype -> the column holding the patch; Rent Transaction has none and goes through its tenancy.
PATCH_FIELD = {
    "Arrears Case": "patch",
    "Tenancy": "patch",
    "Payment Agreement": "patch",
    "Rent Transaction": None,
}
PROTECTED_DOCTYPES = tuple(PATCH_FIELD)


def is_unrestricted(user: str | None = None) -> bool:
    user = user or frappe.session.user
    if user == "Administrator":
        return True
    return bool(UNRESTRICTED_ROLES.intersection(frappe.get_roles(user)))


def get_user_patches(user: str | None = None) -> set[str] | None:
    """The patches a user may see, or None when the user is unrestricted."""
    user = user or frappe.session.user
    if is_unrestricted(user):
        return None

    patches = set(
        frappe.get_all(
            "Worktray Officer Patch",
            filters={"parenttype": "Worktray Officer", "parent": user, "parentfield": "patches"},
            pluck="territory",
        )
    )
    for group in _group_territories(patches):
        patches.update(frappe.db.get_descendants("Territory", group) or [])

    # Territory User Permissions (already expanded to descendants by frappe unless hidden)
    for perm in frappe.permissions.get_user_permissions(user).get("Territory", []) or []:
        applicable_for = perm.get("applicable_for")
        if not applicable_for or applicable_for in PROTECTED_DOCTYPES:
            patches.add(perm.get("doc"))
    patches.discard(None)
    return patches


def _group_territories(patches: set[str]) -> list[str]:
    """Which of ``patches`` are group Territories: one query for all of them, remembered on frappe.local
    for the rest of the request (a permission check runs for every list, link search and document)."""
    if not patches:
        return []
    known = getattr(frappe.local, "awm_territory_is_group", None)
    if known is None:
        known = frappe.local.awm_territory_is_group = {}
    missing = sorted(p for p in patches if p not in known)
    if missing:
        groups = set(
            frappe.get_all("Territory", filters={"name": ("in", missing), "is_group": 1}, pluck="name")
        )
        known.update({p: p in groups for p in missing})
    return sorted(p for p in patches if known[p])


def get_condition(doctype: str, user: str | None = None) -> str:
    """SQL condition restricting ``doctype`` to the user's patches ("" = no restriction)."""
    patches = get_user_patches(user)
    if patches is None:
        return ""
    if not patches:
        return "1=0"
    values = ", ".join(frappe.db.escape(p) for p in sorted(patches))
    field = PATCH_FIELD[doctype]
    if field:
        return f"`tab{doctype}`.`{field}` in ({values})"
    return (
        f"`tab{doctype}`.`tenancy` in "
        f"(select `tabTenancy`.`name` from `tabTenancy` where `tabTenancy`.`patch` in ({values}))"
    )


def get_doc_patch(doc) -> str | None:
    field = PATCH_FIELD.get(doc.doctype)
    if field:
        patch = doc.get(field)
        if not patch and doc.get("tenancy"):
            patch = frappe.db.get_value("Tenancy", doc.get("tenancy"), "patch")
        return patch
    if doc.get("tenancy"):
        return frappe.db.get_value("Tenancy", doc.get("tenancy"), "patch")
    return None


def can_access(doc, user: str | None = None) -> bool:
    patches = get_user_patches(user)
    if patches is None:
        return True
    return get_doc_patch(doc) in patches


# ---- hooks -------------------------------------------------------------------------------------


def has_permission(doc, ptype=None, user=None, debug=False):
    """has_permission hook: deny records outside the user's patches; otherwise defer (None)."""
    if doc.doctype not in PATCH_FIELD:
        return None
    if can_access(doc, user):
        return None
    return False


def arrears_case_query(user=None):
    return get_condition("Arrears Case", user)


def tenancy_query(user=None):
    return get_condition("Tenancy", user)


def payment_agreement_query(user=None):
    return get_condition("Payment Agreement", user)


def rent_transaction_query(user=None):
    return get_condition("Rent Transaction", user)


def validate_docshare(doc, method=None):
    """DocShare validate: never let a share open a record outside the user's patches."""
    if doc.share_doctype not in PATCH_FIELD or not doc.share_name:
        return
    if not (doc.read or doc.write or doc.share or doc.submit):
        return
    if doc.everyone:
        frappe.throw(
            _("{0} records cannot be shared with everyone: access follows the officer's patches.").format(
                _(doc.share_doctype)
            ),
            frappe.PermissionError,
        )
    if not doc.user or not frappe.db.exists(doc.share_doctype, doc.share_name):
        return
    target = frappe.get_doc(doc.share_doctype, doc.share_name)
    if can_access(target, doc.user):
        return
    frappe.throw(
        _(
            "{0} {1} is in patch {2}, which is not one of {3}'s patches. Add the patch to their"
            " Worktray Officer record (or give the case to an officer of that patch) instead of sharing"
            " or assigning it."
        ).format(_(doc.share_doctype), doc.share_name, get_doc_patch(target) or "-", doc.user),
        frappe.PermissionError,
        title=_("Outside the officer's patches"),
    )


def revoke_out_of_patch_shares() -> int:
    """Delete existing shares of protected doctypes that open a record outside the user's patches."""
    removed = 0
    shares = frappe.get_all(
        "DocShare",
        filters={"share_doctype": ("in", PROTECTED_DOCTYPES)},
        fields=["name", "share_doctype", "share_name", "user", "everyone"],
    )
    for share in shares:
        if not share.everyone:
            if not share.user or not frappe.db.exists(share.share_doctype, share.share_name):
                continue
            if can_access(frappe.get_doc(share.share_doctype, share.share_name), share.user):
                continue
        frappe.db.delete("DocShare", {"name": share.name})
        removed += 1
    return removed
