# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from awm_frappe.tests.factories import PATCH_A, PATCH_B, make_agreement, make_case, make_tenancy


class TestTenancy(FrappeTestCase):
    def test_validation(self):
        self.assertRaises(frappe.ValidationError, make_tenancy, weekly_rent=0)
        self.assertRaises(
            frappe.ValidationError, make_tenancy, start_date="2025-01-01", end_date="2024-01-01"
        )

    def test_patch_move_follows_to_case_and_agreement(self):
        tenancy = make_tenancy(patch=PATCH_A)
        case = make_case(tenancy.name)
        agreement = make_agreement(tenancy.name)
        tenancy.patch = PATCH_B
        tenancy.save()
        self.assertEqual(frappe.db.get_value("Arrears Case", case.name, "patch"), PATCH_B)
        self.assertEqual(frappe.db.get_value("Payment Agreement", agreement.name, "patch"), PATCH_B)

    def test_early_warning_tenancies_are_counted_and_listed_on_the_workspace(self):
        """A tenancy the nightly run put in the early_warning band (nothing owed, rated at risk) is counted
        by the Arrears workspace's number card and listed by its shortcut, which share one filter."""
        from frappe.desk.doctype.number_card.number_card import get_result

        card = frappe.get_doc("Number Card", "Early Warning Tenancies")
        before = get_result(card.as_dict(), card.filters_json)
        at_risk, owing = make_tenancy(), make_tenancy()
        frappe.db.set_value("Tenancy", at_risk.name, "risk_band", "early_warning")
        frappe.db.set_value("Tenancy", owing.name, "risk_band", "high")
        self.assertEqual(get_result(card.as_dict(), card.filters_json), before + 1)

        workspace = frappe.get_doc("Workspace", "Arrears")
        (shortcut,) = [s for s in workspace.shortcuts if s.label == "Early Warning"]
        self.assertEqual(shortcut.link_to, "Tenancy")
        listed = frappe.get_list("Tenancy", filters=frappe.parse_json(shortcut.stats_filter), pluck="name")
        self.assertIn(at_risk.name, listed)
        self.assertNotIn(owing.name, listed)
        self.assertIn("Early Warning Tenancies", [c.number_card_name for c in workspace.number_cards])
