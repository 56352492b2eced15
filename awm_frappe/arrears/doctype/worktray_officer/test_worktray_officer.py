# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt

from frappe.tests.utils import FrappeTestCase

from awm_frappe.permissions import get_user_patches
from awm_frappe.tests.factories import PATCH_A, PATCH_B, make_officer, make_territory


class TestWorktrayOfficer(FrappeTestCase):
    def test_patches_drive_visibility(self):
        user = "awm-officer-wo@example.com"
        officer = make_officer(user, [PATCH_A, PATCH_A], skills=" legal ,vulnerability,")
        self.assertEqual(officer.get_patches(), [PATCH_A])
        self.assertEqual(officer.skills, "legal, vulnerability")
        self.assertEqual(get_user_patches(user), {PATCH_A})
        make_officer(user, [PATCH_B])
        self.assertEqual(get_user_patches(user), {PATCH_B})

    def test_group_patch_covers_its_children(self):
        make_territory("AWM North", is_group=1)
        make_territory("AWM North 1", parent="AWM North")
        user = "awm-officer-north@example.com"
        make_officer(user, ["AWM North"])
        self.assertIn("AWM North 1", get_user_patches(user))
