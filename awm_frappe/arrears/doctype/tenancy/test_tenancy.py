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
