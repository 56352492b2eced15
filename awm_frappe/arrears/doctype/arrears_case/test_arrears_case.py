# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt

import json
from unittest import mock

import frappe
import frappe.client
import frappe.desk.reportview
import frappe.desk.search
from frappe.desk.form import assign_to
from frappe.tests.utils import FrappeTestCase
from frappe.utils import getdate

from awm_frappe.arrears.doctype.arrears_case.arrears_case import OpenCaseExistsError
from awm_frappe.host import loopback
from awm_frappe.tests.factories import (
    BASE_DATE,
    PATCH_A,
    PATCH_B,
    day,
    ensure_setup,
    frozen,
    make_agreement,
    make_case,
    make_officer,
    make_rent_transaction,
    make_tenancy,
    make_user,
)


class TestArrearsCase(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ensure_setup()

    def setUp(self):
        frappe.set_user("Administrator")

    def test_actions_append_timeline_rows(self):
        case = make_case(balance=640, arrears_after_grace=540)
        with frozen(BASE_DATE):
            case.log_contact("call", channel="phone", outcome="promised to pay", notes="Spoke to tenant")
            case.pause(until=str(day(14)), reason="promise_of_payment")
            agreement = case.set_up_agreement(str(day(7)), "weekly", 25, initial_payment=50)
            case.escalate("nosp_served", notes="served by hand")
            case.close_case("balance cleared")
        case.reload()
        self.assertEqual(
            [row.action_type for row in case.timeline],
            ["call", "pause", "agreement_made", "nosp_served", "close"],
        )
        self.assertTrue(all(getdate(row.action_date) == BASE_DATE for row in case.timeline))
        self.assertTrue(all(row.user == "Administrator" and not row.by_automation for row in case.timeline))
        self.assertEqual(case.timeline[0].outcome, "promised to pay")
        self.assertEqual(case.timeline[2].reference, agreement)
        self.assertEqual(case.status, "closed")
        self.assertEqual(case.close_reason, "balance cleared")
        self.assertEqual(getdate(case.closed_on), BASE_DATE)
        self.assertEqual(getdate(case.nosp_served_date), BASE_DATE)
        self.assertEqual(case.last_action, "close")
        self.assertEqual(case.agreement, agreement)
        pa = frappe.get_doc("Payment Agreement", agreement)
        self.assertEqual(
            (pa.tenancy, pa.arrears_case, pa.instalment, pa.starting_balance),
            (case.tenancy, case.name, 25, 640),
        )
        self.assertEqual(pa.status, "live")
        self.assertFalse(frappe.db.get_value("Tenancy", case.tenancy, "open_case"))

    def test_action_status_changes(self):
        case = make_case()
        with frozen(BASE_DATE):
            case.pause(until=str(day(10)), reason="delayed_benefit")
            self.assertEqual(
                (case.status, getdate(case.paused_until), case.pause_reason),
                ("paused", day(10), "delayed_benefit"),
            )
            self.assertRaises(frappe.ValidationError, case.pause, until=str(day(-1)), reason="dispute")
            self.assertRaises(frappe.ValidationError, case.pause, until=str(day(5)), reason="bored")
            case.set_up_agreement(str(BASE_DATE), "monthly", 40)
            self.assertEqual(case.status, "agreement")
            self.assertFalse(case.paused_until)
            case.escalate("court_warning_letter")
            self.assertEqual(case.status, "legal")
            self.assertRaises(frappe.ValidationError, case.close_case, "")

    def test_closed_case_refuses_actions(self):
        case = make_case()
        case.close_case("done", action_date=str(BASE_DATE))
        self.assertRaises(frappe.ValidationError, case.pause, until=str(day(30)), reason="other")
        self.assertRaises(frappe.ValidationError, case.close_case, "again")

    def test_one_open_case_per_tenancy(self):
        tenancy = make_tenancy().name
        first = make_case(tenancy)
        self.assertEqual(frappe.db.get_value("Tenancy", tenancy, "open_case"), first.name)
        self.assertRaises(OpenCaseExistsError, make_case, tenancy)
        self.assertRaises(OpenCaseExistsError, make_case, tenancy, status="paused")
        # a closed case does not count; reopening a second case is refused while one is open
        closed = make_case(tenancy, status="closed", close_reason="old")
        self.assertEqual(closed.status, "closed")
        first.close_case("cleared", action_date=str(BASE_DATE))
        second = make_case(tenancy)
        self.assertEqual(frappe.db.get_value("Tenancy", tenancy, "open_case"), second.name)
        closed.reload()
        closed.status = "worktray"
        self.assertRaises(OpenCaseExistsError, closed.save)

    def test_fetches_patch_and_name_from_tenancy(self):
        tenancy = make_tenancy(patch=PATCH_B)
        case = make_case(tenancy.name)
        self.assertEqual(case.patch, PATCH_B)
        self.assertEqual(case.tenant_name, tenancy.tenant_name)
        self.assertEqual(case.customer, tenancy.customer)


OFFICER_A = "awm-officer-a@example.com"
OFFICER_B = "awm-officer-b@example.com"
OFFICER_UP = "awm-officer-up@example.com"
LEADER = "awm-leader@example.com"


class TestPatchPermissions(FrappeTestCase):
    """An officer of patch A never gets a patch-B record, by any road, even after an assignment attempt."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # assign_to.add notifies the assignee, and under tests Frappe sends that email at once
        # (sendmail(now=in_test)); EmailQueue.send commits, which would commit this class's fixtures to the
        # site. Muted, the Email Queue row is still made but nothing is sent and nothing commits.
        cls.enterClassContext(mock.patch.dict(frappe.flags, {"mute_emails": True}))
        frappe.set_user("Administrator")
        ensure_setup()
        # Building that notification needs a sender: without an outgoing account Frappe falls back to one
        # with no address and the assignment itself fails (a fresh site has none).
        loopback.ensure_outgoing_email()
        make_officer(OFFICER_A, [PATCH_A])
        make_officer(OFFICER_B, [PATCH_B])
        make_user(LEADER, ["Income Team Leader"])
        # an officer whose patch comes from a Territory User Permission, not a Worktray Officer record
        make_user(OFFICER_UP, ["Income Officer"])
        if not frappe.db.exists(
            "User Permission", {"user": OFFICER_UP, "allow": "Territory", "for_value": PATCH_B}
        ):
            frappe.get_doc(
                {
                    "doctype": "User Permission",
                    "user": OFFICER_UP,
                    "allow": "Territory",
                    "for_value": PATCH_B,
                    "apply_to_all_doctypes": 1,
                }
            ).insert(ignore_permissions=True)
        cls.tenancy_a = make_tenancy(patch=PATCH_A).name
        cls.tenancy_b = make_tenancy(patch=PATCH_B).name
        cls.case_a = make_case(cls.tenancy_a).name
        cls.case_b = make_case(cls.tenancy_b).name
        cls.agreement_a = make_agreement(cls.tenancy_a).name
        cls.agreement_b = make_agreement(cls.tenancy_b).name
        cls.rt_a = make_rent_transaction(cls.tenancy_a, BASE_DATE, 100).name
        cls.rt_b = make_rent_transaction(cls.tenancy_b, BASE_DATE, 100).name

    def tearDown(self):
        frappe.set_user("Administrator")

    def try_assign(self, user, case):
        """assign_to.add as an administrator would; returns the exception (None if it went through)."""
        frappe.set_user("Administrator")
        frappe.db.savepoint("awm_assign")
        try:
            assign_to.add(
                {"assign_to": [user], "doctype": "Arrears Case", "name": case, "description": "test"}
            )
        except frappe.PermissionError as exc:
            frappe.db.rollback(save_point="awm_assign")
            frappe.clear_last_message()
            return exc
        return None

    def names_via_every_road(self, user, doctype="Arrears Case", probes=None):
        """What `user` can reach of `doctype` by list, REST, report and link search. Link search returns one
        page ranked by relevance, so it looks up each probe (the test's own records) by name."""
        probes = probes or (self.case_a, self.case_b)
        frappe.set_user(user)
        roads = {
            "get_list": set(frappe.get_list(doctype, pluck="name", limit_page_length=0)),
            "client.get_list": {
                r["name"] for r in frappe.client.get_list(doctype, fields=["name"], limit_page_length=0)
            },
            "search_link": {
                r["value"]
                for name in probes
                for r in frappe.desk.search.search_link(doctype, name, page_length=20)
            },
        }
        frappe.local.form_dict = frappe._dict(
            doctype=doctype,
            fields=json.dumps([f"`tab{doctype}`.`name`"]),
            page_length=0,
            with_comment_count=False,
        )
        result = frappe.desk.reportview.get()
        roads["reportview.get"] = {row[0] for row in result.get("values", [])} if result else set()
        frappe.local.form_dict = frappe._dict()
        return roads

    def assert_can_read(self, user, doctype, name, expected):
        frappe.set_user(user)
        doc = frappe.get_doc(doctype, name)
        self.assertEqual(bool(doc.has_permission("read")), expected, f"{user} read {doctype} {name}")
        self.assertEqual(bool(frappe.has_permission(doctype, "read", doc=name, user=user)), expected)
        if expected:
            self.assertEqual(frappe.client.get(doctype, name)["name"], name)
        else:
            self.assertRaises(frappe.PermissionError, frappe.client.get, doctype, name)
            self.assertRaises(frappe.PermissionError, doc.check_permission, "read")

    def test_assigning_out_of_patch_case_is_refused_and_opens_nothing(self):
        error = self.try_assign(OFFICER_A, self.case_b)
        self.assertIsInstance(error, frappe.PermissionError)
        self.assertIn(PATCH_B, str(error))
        self.assertFalse(
            frappe.db.exists(
                "DocShare", {"share_doctype": "Arrears Case", "share_name": self.case_b, "user": OFFICER_A}
            )
        )
        self.assertFalse(
            frappe.db.exists(
                "ToDo", {"reference_name": self.case_b, "allocated_to": OFFICER_A, "status": "Open"}
            )
        )
        self.assert_patch_a_only()

    def test_direct_share_is_refused(self):
        frappe.set_user("Administrator")
        self.assertRaises(frappe.PermissionError, frappe.share.add, "Arrears Case", self.case_b, OFFICER_A)
        self.assertRaises(
            frappe.PermissionError, frappe.share.add, "Tenancy", self.tenancy_b, OFFICER_A, write=1
        )
        self.assertRaises(
            frappe.PermissionError, frappe.share.add, "Arrears Case", self.case_a, None, everyone=1
        )
        self.assert_patch_a_only()

    def test_in_patch_assignment_needs_no_share(self):
        self.assertIsNone(self.try_assign(OFFICER_A, self.case_a))
        self.assertTrue(
            frappe.db.exists(
                "ToDo", {"reference_name": self.case_a, "allocated_to": OFFICER_A, "status": "Open"}
            )
        )
        self.assertFalse(frappe.db.exists("DocShare", {"share_name": self.case_a, "user": OFFICER_A}))
        roads = self.names_via_every_road(OFFICER_A)
        frappe.set_user(OFFICER_A)
        assigned = frappe.get_list(
            "Arrears Case", filters={"_assign": ("like", f"%{OFFICER_A}%")}, pluck="name", limit_page_length=0
        )
        # among this test's own cases, the officer is assigned exactly the patch-A one ...
        self.assertEqual(sorted(set(assigned) & {self.case_a, self.case_b}), [self.case_a])
        # ... and whatever else the site holds, nothing the officer gets is outside patch A
        frappe.set_user("Administrator")
        for road, names in {**roads, "assigned": set(assigned)}.items():
            patches = set(frappe.get_all("Arrears Case", {"name": ("in", list(names))}, pluck="patch"))
            self.assertEqual(patches, {PATCH_A}, road)
        self.assertIn(self.case_a, roads["get_list"])

    def test_stale_share_is_revoked(self):
        from awm_frappe.permissions import revoke_out_of_patch_shares

        frappe.set_user("Administrator")
        share = frappe.get_doc(
            {
                "doctype": "DocShare",
                "share_doctype": "Arrears Case",
                "share_name": self.case_b,
                "user": OFFICER_A,
                "read": 1,
            }
        )
        share.db_insert()  # a share made before the app was installed (no validate hook)
        self.assertGreaterEqual(revoke_out_of_patch_shares(), 1)
        self.assertFalse(frappe.db.exists("DocShare", share.name))
        self.assert_patch_a_only()

    def assert_patch_a_only(self):
        for doctype, a, b in (
            ("Arrears Case", self.case_a, self.case_b),
            ("Tenancy", self.tenancy_a, self.tenancy_b),
            ("Payment Agreement", self.agreement_a, self.agreement_b),
            ("Rent Transaction", self.rt_a, self.rt_b),
        ):
            for road, names in self.names_via_every_road(OFFICER_A, doctype, probes=(a, b)).items():
                self.assertIn(a, names, f"{road} {doctype}")
                self.assertNotIn(b, names, f"{road} {doctype} leaked patch B")
            self.assert_can_read(OFFICER_A, doctype, a, True)
            self.assert_can_read(OFFICER_A, doctype, b, False)

    def test_officer_sees_only_own_patch(self):
        self.assert_patch_a_only()
        for road, names in self.names_via_every_road(OFFICER_B).items():
            self.assertIn(self.case_b, names, road)
            self.assertNotIn(self.case_a, names, road)

    def test_user_permission_patch(self):
        for road, names in self.names_via_every_road(OFFICER_UP).items():
            self.assertIn(self.case_b, names, road)
            self.assertNotIn(self.case_a, names, road)
        self.assert_can_read(OFFICER_UP, "Arrears Case", self.case_a, False)
        self.assertIsInstance(self.try_assign(OFFICER_UP, self.case_a), frappe.PermissionError)
        self.assert_can_read(OFFICER_UP, "Arrears Case", self.case_a, False)

    def test_leader_sees_all(self):
        roads = self.names_via_every_road(LEADER)
        for road, names in roads.items():
            self.assertTrue({self.case_a, self.case_b} <= names, road)
        self.assert_can_read(LEADER, "Arrears Case", self.case_b, True)

    def test_officer_can_work_own_case_but_not_other(self):
        frappe.set_user(OFFICER_A)
        case = frappe.get_doc("Arrears Case", self.case_a)
        case.log_contact("call", outcome="no answer", action_date=str(BASE_DATE))
        self.assertEqual(case.timeline[-1].user, OFFICER_A)
        self.assertRaises(
            frappe.PermissionError, frappe.get_doc("Arrears Case", self.case_b).log_contact, "call"
        )
        # creating a record in another patch is refused as well
        self.assertRaises(
            frappe.PermissionError,
            frappe.get_doc(
                {
                    "doctype": "Payment Agreement",
                    "tenancy": self.tenancy_b,
                    "start_date": BASE_DATE,
                    "instalment": 5,
                }
            ).insert,
        )

    def test_officer_without_patches_sees_nothing(self):
        user = "awm-officer-none@example.com"
        make_officer(user, [])
        for road, names in self.names_via_every_road(user).items():
            self.assertFalse({self.case_a, self.case_b} & names, road)

    def test_worktray_summary_report_follows_patches(self):
        from awm_frappe.arrears.report.arrears_worktray_summary.arrears_worktray_summary import (
            STATUSES,
            execute,
        )

        frappe.db.set_value("Arrears Case", self.case_a, {"officer": OFFICER_A, "next_action_due": BASE_DATE})
        frappe.db.set_value("Arrears Case", self.case_b, {"officer": OFFICER_B, "next_action_due": BASE_DATE})
        # what the report must show officer A: every open case of patch A (this test's and any other the
        # shared site holds), by officer, and nothing of patch B
        expected = {}
        for row in frappe.get_all(
            "Arrears Case",
            filters={"patch": PATCH_A, "status": ("in", STATUSES)},
            fields=["officer", "next_action_due"],
        ):
            total, due = expected.get(row.officer or "", (0, 0))
            is_due = bool(row.next_action_due) and getdate(row.next_action_due) <= getdate(BASE_DATE)
            expected[row.officer or ""] = (total + 1, due + int(is_due))
        total, due = expected.get(OFFICER_A, (0, 0))
        self.assertTrue(total >= 1 and due >= 1, expected)  # this test's case_a is among them
        frappe.set_user(OFFICER_A)
        _columns, data, _msg, _chart = execute({"as_of": str(BASE_DATE)})
        self.assertEqual({r["officer"]: (r["total"], r["due"]) for r in data}, expected)
        self.assertNotIn(OFFICER_B, {r["officer"] for r in data})
        _columns, data, _msg, _chart = execute({"as_of": str(BASE_DATE), "officer": OFFICER_B})
        self.assertEqual(data, [])  # case_b (officer B, patch B) is not counted by any road
        frappe.set_user(LEADER)
        _columns, data, _msg, _chart = execute({"as_of": str(BASE_DATE)})
        officers = {r["officer"] for r in data}
        self.assertTrue({OFFICER_A, OFFICER_B} <= officers)
