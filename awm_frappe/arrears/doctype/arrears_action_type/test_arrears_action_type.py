# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt

import json

import frappe
from frappe.tests.utils import FrappeTestCase

from awm_frappe import install
from awm_frappe.tests.factories import ensure_setup, make_action_type


def snapshot():
    return {
        "roles": frappe.db.count("Role", {"name": ("in", install.ROLES)}),
        "action_types": frappe.db.count("Arrears Action Type"),
        "rules": frappe.db.count("Worktray Rule"),
        "conditions": frappe.db.count("Worktray Rule Condition"),
        "settings": frappe.db.sql("select count(*) from `tabSingles` where doctype='AWM Settings'")[0][0],
        "ledger_index": [
            row[4]  # Column_name, in Seq_in_index order
            for row in frappe.db.sql(
                "show index from `tabRent Transaction` where Key_name='tenancy_posting_date_amount_kind'"
            )
        ],
        "replaced_index": len(
            frappe.db.sql("show index from `tabRent Transaction` where Key_name='tenancy_posting_date'")
        ),
    }


class TestInstall(FrappeTestCase):
    def test_install_is_idempotent(self):
        install.after_install()
        first = snapshot()
        install.after_install()
        install.after_migrate()
        install.after_migrate()
        self.assertEqual(snapshot(), first)
        self.assertEqual(first["roles"], 3)
        # the nightly ledger read is served by one covering index; the narrower one it replaced is gone
        self.assertEqual(first["ledger_index"], ["tenancy", "posting_date", "amount", "kind"])
        self.assertEqual(first["replaced_index"], 0)
        for code in (
            "call",
            "visit",
            "note",
            "pause",
            "close",
            "agreement_made",
            "agreement_breached",
            "court_date_set",
            "court_outcome",
            "nosp_served",
            "letter_1",
            "letter_2",
            "sms",
        ):
            self.assertTrue(frappe.db.exists("Arrears Action Type", code), code)

    def test_every_shipped_action_code_has_a_type(self):
        ensure_setup()
        for pack in install.SHIPPED_PACKS:
            for rule in (install.load_shipped_pack(pack) or {}).get("rules", []):
                self.assertTrue(
                    frappe.db.exists("Arrears Action Type", rule["action"]["code"]), rule["action"]["code"]
                )

    def test_install_keeps_admin_changes(self):
        ensure_setup()
        frappe.db.set_value("Arrears Action Type", "letter_1", "title", "First arrears letter")
        frappe.db.set_single_value("AWM Settings", "dry_run", 0)
        frappe.db.set_single_value("AWM Settings", "frequency_cap_days", 3)
        rule = frappe.get_all("Worktray Rule", pluck="name", limit=1)
        if rule:
            frappe.delete_doc("Worktray Rule", rule[0], force=True)
        install.after_migrate()
        self.assertEqual(
            frappe.db.get_value("Arrears Action Type", "letter_1", "title"), "First arrears letter"
        )
        self.assertEqual(frappe.db.get_single_value("AWM Settings", "dry_run"), 0)
        self.assertEqual(frappe.db.get_single_value("AWM Settings", "frequency_cap_days"), 3)
        if rule:
            self.assertFalse(
                frappe.db.exists("Worktray Rule", rule[0]), "a deleted default rule stays deleted"
            )
        self.assertIsInstance(
            json.loads(frappe.db.get_single_value("AWM Settings", "rule_pack_settings")), dict
        )


class TestArrearsActionType(FrappeTestCase):
    def test_code_must_be_snake_case(self):
        self.assertRaises(frappe.ValidationError, make_action_type, "Letter One")
        self.assertRaises(frappe.ValidationError, make_action_type, "1st_letter")
        doc = make_action_type("awm_test_code", category="legal")
        self.assertEqual(doc.is_legal, 1)
