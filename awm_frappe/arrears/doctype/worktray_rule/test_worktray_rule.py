# Copyright (c) 2025, awm_frappe contributors
# For license information, please see license.txt

import json

import frappe
from frappe.tests.utils import FrappeTestCase

from awm_frappe.arrears.doctype.worktray_rule.worktray_rule import (
    _normal,
    doc_from_engine_rule,
    get_rule_fields,
)
from awm_frappe.install import add_shipped_rule, load_shipped_pack
from awm_frappe.tests.factories import (
    BASE_DATE,
    PATCH_A,
    ensure_setup,
    make_case,
    make_rent_history,
    make_rule,
    make_tenancy,
)


class TestWorktrayRule(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ensure_setup()

    def assert_refused(self, fragment, **kwargs):
        with self.assertRaises(frappe.ValidationError) as ctx:
            make_rule("awm_test_bad_rule", **kwargs)
        message = str(ctx.exception)
        self.assertIn("awm_test_bad_rule", message)
        self.assertIn(fragment, message)
        return message

    def test_refuses_invalid_rules_with_clear_message(self):
        self.assert_refused("no_such_field", conditions=[("no_such_field", ">=", "10")])
        self.assert_refused("does not apply", conditions=[("nosp_served", ">=", "true")])
        self.assert_refused("expected a number", conditions=[("arrears_after_grace", ">=", "lots")])
        self.assert_refused("duration", conditions=[("last_letter_1_date", "older than", "soon")])
        self.assert_refused("not valid JSON", conditions=[], conditions_json="{all: [")
        self.assert_refused(
            "unknown field",
            conditions=[],
            conditions_json=json.dumps({"all": [{"not": {"field": "bogus", "op": "=", "value": 1}}]}),
        )
        self.assert_refused("pause needs 'days'", action_type="pause", action_code="pause", channel="")
        self.assert_refused("stage", stage="no_such_stage")
        self.assert_refused("reason", reason="Owes {nothing_here}")
        self.assertFalse(frappe.db.exists("Worktray Rule", "awm_test_bad_rule"))

    def test_table_conditions_become_typed_engine_conditions(self):
        rule = make_rule(
            "awm_test_typed",
            conditions=[
                ("arrears_after_grace", ">=", "4", "weeks_rent"),
                ("nosp_served", "=", "false"),
                ("tenure_type", "in", "secure, assured"),
                ("last_letter_1_date", "not newer than", "3 months"),
                ("weeks_owed", "between", "1, 2.5"),
                ("court_date", "is not set", ""),
                ("court_date", ">", "", None, "last_action_date"),
            ],
            priority=5,
            cooldown_days=14,
            reason="Owes £{arrears_after_grace:.2f}",
            tenure_types="secure, assured",
            patches=[{"territory": PATCH_A}],
        )
        engine = rule.as_engine_rule()
        self.assertEqual(
            engine["when"],
            {
                "all": [
                    {"field": "arrears_after_grace", "op": ">=", "value": {"weeks_rent": 4}},
                    {"field": "nosp_served", "op": "=", "value": False},
                    {"field": "tenure_type", "op": "in", "value": ["secure", "assured"]},
                    {"field": "last_letter_1_date", "op": "not newer than", "value": "3 months"},
                    {"field": "weeks_owed", "op": "between", "value": [1, 2.5]},
                    {"field": "court_date", "op": "is not set"},
                    {"field": "court_date", "op": ">", "value_field": "last_action_date"},
                ]
            },
        )
        self.assertEqual(engine["scope"], {"tenure_types": ["secure", "assured"], "patches": [PATCH_A]})
        self.assertEqual(
            engine["action"],
            {"type": "send_message", "code": "letter_1", "channel": "letter", "template": "letter_1"},
        )
        self.assertEqual(engine["cooldown_days"], 14)

    def test_shipped_packs_are_accepted_and_round_trip(self):
        original = frappe.db.get_single_value("AWM Settings", "rule_pack_settings")
        self.addCleanup(frappe.db.set_single_value, "AWM Settings", "rule_pack_settings", original)
        for pack_name in ("uk-ladder", "hackney-2020"):
            raw = load_shipped_pack(pack_name)
            if not raw:
                continue
            frappe.db.set_single_value(
                "AWM Settings", "rule_pack_settings", json.dumps(raw.get("settings") or {})
            )
            for position, rule in enumerate(raw["rules"], start=1):
                doc = frappe.get_doc(
                    doc_from_engine_rule(
                        {**rule, "name": f"t_{pack_name[:2]}_{rule['name']}"}, position, pack_name
                    )
                )
                doc.insert(ignore_permissions=True)  # validate() runs the engine parser
                back = doc.as_engine_rule()
                self.assertEqual(_normal(back["when"]), _normal(rule["when"]), rule["name"])
                for key, value in (rule.get("action") or {}).items():
                    self.assertEqual(
                        _normal(back["action"].get(key)), _normal(value), f"{rule['name']}.{key}"
                    )
                self.assertEqual(back["cooldown_days"], rule.get("cooldown_days", 0))
                self.assertEqual(back["reason"], rule.get("reason") or "")

    def test_default_rules_installed_from_uk_ladder(self):
        raw = load_shipped_pack("uk-ladder")
        if not raw:
            self.skipTest("uk-ladder pack not shipped")
        names = frappe.get_all(
            "Worktray Rule", filters={"pack": "uk-ladder"}, order_by="priority asc", pluck="name"
        )
        self.assertEqual(names, [r["name"] for r in raw["rules"]])
        flat = [n for n in names if frappe.get_all("Worktray Rule Condition", filters={"parent": n}, limit=1)]
        self.assertTrue(flat, "flat rules go to the conditions table")

    def test_a_rule_a_release_adds_lands_in_its_place_on_a_site_that_has_the_pack(self):
        raw = load_shipped_pack("uk-ladder")
        if not raw or "risk_call" not in [r["name"] for r in raw["rules"]]:
            self.skipTest("uk-ladder has no risk_call")
        pack_order = [r["name"] for r in raw["rules"]]
        self._remove_risk_call()
        # No whole number left between the rules it must sit between: the site is renumbered, same order.
        letter_2 = frappe.db.get_value("Worktray Rule", "letter_2", "priority")
        frappe.db.set_value("Worktray Rule", "vulnerable_review", "priority", letter_2 - 1)

        self.assertEqual(add_shipped_rule("risk_call", "uk-ladder"), "risk_call")
        self.assertEqual(self._site_order(), pack_order)
        doc = frappe.get_doc("Worktray Rule", "risk_call")
        self.assertEqual(doc.action_code, "arrears_call")  # its action type was made first
        self.assertTrue(doc.enabled)
        shipped = raw["rules"][pack_order.index("risk_call")]
        self.assertEqual(_normal(doc.as_engine_rule()["when"]), _normal(shipped["when"]))
        self.assertIsNone(add_shipped_rule("risk_call", "uk-ladder"))  # once only

    def test_an_added_rule_follows_its_neighbour_not_a_rule_an_admin_moved_to_the_top(self):
        self._remove_risk_call()
        frappe.db.set_value("Worktray Rule", "check_data", "priority", 5)  # the pack's last rule, moved first
        add_shipped_rule("risk_call", "uk-ladder")
        order = self._site_order()
        self.assertEqual(order.index("risk_call"), order.index("vulnerable_review") + 1)
        self.assertLess(order.index("nosp"), order.index("risk_call"))

    def test_no_rule_is_added_to_a_site_that_no_longer_runs_the_pack(self):
        self._remove_risk_call()
        frappe.db.sql("update `tabWorktray Rule` set enabled = 0 where pack = 'uk-ladder'")
        self.assertIsNone(add_shipped_rule("risk_call", "uk-ladder"))
        self.assertFalse(frappe.db.exists("Worktray Rule", "risk_call"))

    def _remove_risk_call(self):
        """Start from a site without risk_call; whatever the test changes is rolled back after it."""
        frappe.db.savepoint("awm_added_rule")
        self.addCleanup(frappe.db.rollback, save_point="awm_added_rule")
        if frappe.db.exists("Worktray Rule", "risk_call"):
            frappe.delete_doc("Worktray Rule", "risk_call", force=True, ignore_permissions=True)
        if frappe.db.exists("Arrears Action Type", "arrears_call"):
            frappe.delete_doc("Arrears Action Type", "arrears_call", force=True, ignore_permissions=True)

    def _site_order(self) -> list[str]:
        return frappe.get_all(
            "Worktray Rule", filters={"pack": "uk-ladder"}, order_by="priority asc, name asc", pluck="name"
        )

    def test_field_choices(self):
        values = {f["value"] for f in get_rule_fields()}
        self.assertIn("arrears_after_grace", values)
        self.assertIn("last_letter_1_date", values)
        self.assertIn("last_pause_date", values)

    def test_preview_changes_nothing(self):
        try:
            import awm_frappe.host.frames  # noqa: F401
        except ImportError:
            self.skipTest("host layer not installed")
        tenancy = make_tenancy(patch=PATCH_A, weekly_rent=100)
        make_rent_history(tenancy.name, weeks=8)  # 8 weeks unpaid
        case = make_case(tenancy.name)
        rule = make_rule(
            "awm_test_preview",
            conditions=[("arrears_after_grace", ">=", "2", "weeks_rent")],
            action_type="route_to_officer",
            action_code="call",
            channel="",
            priority=1,
            reason="Owes {weeks_owed:.1f} weeks",
        )
        before = (
            frappe.db.count("Arrears Case"),
            frappe.db.count("Arrears Case Action"),
            frappe.db.count("ToDo"),
        )
        case_modified = frappe.db.get_value("Arrears Case", case.name, "modified")
        result = rule.preview(as_of=str(BASE_DATE))
        hit = [r for r in result["rows"] if r["tenancy"] == tenancy.name]
        self.assertEqual(len(hit), 1, result)
        self.assertEqual(hit[0]["action"], "call")
        self.assertTrue(hit[0]["wins"])
        self.assertEqual(hit[0]["case"], case.name)
        self.assertIn("weeks", hit[0]["reason"])
        self.assertGreaterEqual(result["matched"], 1)
        after = (
            frappe.db.count("Arrears Case"),
            frappe.db.count("Arrears Case Action"),
            frappe.db.count("ToDo"),
        )
        self.assertEqual(before, after)
        self.assertEqual(frappe.db.get_value("Arrears Case", case.name, "modified"), case_modified)

    def test_preview_is_for_leaders(self):
        from awm_frappe.tests.factories import make_officer

        rule = make_rule("awm_test_preview_perm")
        make_officer("awm-officer-preview@example.com", [PATCH_A])
        frappe.set_user("awm-officer-preview@example.com")
        try:
            self.assertRaises(frappe.PermissionError, rule.preview)
        finally:
            frappe.set_user("Administrator")
