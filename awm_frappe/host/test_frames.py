"""The rule pack a site runs: its own settings, the administrator's overrides, and bad settings reported."""

import json

import frappe
from frappe.tests.utils import FrappeTestCase

from awm_frappe.host.frames import _with_settings, build_pack_raw, get_settings, shipped_pack_raw
from awm_frappe.install import set_settings_defaults


class TestRulePackSettings(FrappeTestCase):
    def setUp(self):
        frappe.db.set_single_value("AWM Settings", "rule_pack_settings", "")

    def test_installed_settings_do_not_override_a_packs_own(self):
        set_settings_defaults()
        problems = []
        raw = _with_settings(shipped_pack_raw("hackney-2020"), get_settings(), problems)
        self.assertEqual(raw["settings"]["nosp_notice"], "3 months")
        self.assertEqual(problems, [])

    def test_an_administrators_override_applies(self):
        frappe.db.set_single_value(
            "AWM Settings", "rule_pack_settings", json.dumps({"nosp_notice": "35 days"})
        )
        raw = _with_settings(shipped_pack_raw("hackney-2020"), get_settings(), [])
        self.assertEqual(raw["settings"]["nosp_notice"], "35 days")

    def test_settings_that_are_not_json_are_reported_not_ignored(self):
        frappe.db.set_single_value("AWM Settings", "rule_pack_settings", "{nosp_notice: 3 months")
        problems = []
        raw = _with_settings(shipped_pack_raw("uk-ladder"), get_settings(), problems)
        self.assertEqual(raw["settings"]["nosp_notice"], "28 days")
        self.assertEqual(problems[0][0], "(settings)")
        self.assertIn("not a JSON object", problems[0][1])

    def test_an_unknown_pack_name_is_reported_and_uk_ladder_used(self):
        problems = []
        raw = shipped_pack_raw("no-such-pack", problems)
        self.assertEqual(raw["pack"], "uk-ladder")
        self.assertIn("no-such-pack", problems[0][1])

    def test_a_copy_of_the_shipped_settings_is_cleared_on_migrate(self):
        shipped = shipped_pack_raw("uk-ladder")["settings"]
        frappe.db.set_single_value("AWM Settings", "rule_pack_settings", json.dumps(shipped, indent=1))
        set_settings_defaults()
        self.assertEqual(frappe.db.get_single_value("AWM Settings", "rule_pack_settings"), "{}")

    def test_the_nightly_pack_reads_the_enabled_rules(self):
        raw, problems = build_pack_raw(get_settings())
        enabled = frappe.get_all("Worktray Rule", filters={"enabled": 1}, pluck="rule_name")
        self.assertEqual({rule["name"] for rule in raw["rules"]}, set(enabled) - {p[0] for p in problems})
