# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import getdate

from awm_frappe.tests.factories import BASE_DATE, PATCH_B, day, make_agreement, make_case, make_tenancy


class TestPaymentAgreement(FrappeTestCase):
    def test_status_history(self):
        tenancy = make_tenancy(patch=PATCH_B)
        agreement = make_agreement(tenancy.name, instalment=20)
        self.assertEqual(agreement.patch, PATCH_B)
        self.assertEqual([(h.from_status, h.to_status) for h in agreement.history], [("", "live")])
        agreement.set_status("breached", actual_balance=300, expected_balance=260, on=day(14))
        agreement.reload()
        self.assertEqual(agreement.status, "breached")
        self.assertEqual(getdate(agreement.last_checked), day(14))
        last = agreement.history[-1]
        self.assertEqual(
            (last.from_status, last.to_status, last.balance, last.expected_balance),
            ("live", "breached", 300, 260),
        )
        self.assertEqual(getdate(last.change_date), day(14))
        # no change, no row
        agreement.set_status("breached", actual_balance=310, expected_balance=240, on=day(21))
        agreement.reload()
        self.assertEqual(len(agreement.history), 2)
        # a status changed in the form is recorded too
        agreement.status = "cancelled"
        agreement.save()
        self.assertEqual(agreement.history[-1].to_status, "cancelled")
        self.assertEqual(len(agreement.history), 3)

    def test_validation(self):
        tenancy = make_tenancy()
        self.assertRaises(frappe.ValidationError, make_agreement, tenancy.name, instalment=0)
        other_case = make_case(make_tenancy().name)
        self.assertRaises(frappe.ValidationError, make_agreement, tenancy.name, arrears_case=other_case.name)
        self.assertEqual(getdate(make_agreement(tenancy.name).start_date), BASE_DATE)
