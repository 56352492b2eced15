"""The host's forms offer what the engine accepts: no field a rule may use is missing from the form."""

from __future__ import annotations

import json
from pathlib import Path

from awm_frappe.engine.fields import KNOWN_FIELDS

CONDITION = Path(__file__).parents[1] / "awm_frappe/arrears/doctype/worktray_rule_condition"


def test_the_condition_form_offers_every_field_a_rule_may_use():
    doctype = json.loads((CONDITION / "worktray_rule_condition.json").read_text())
    (field,) = [f for f in doctype["fields"] if f["fieldname"] == "field_name"]
    offered = field["options"].split("\n")
    assert offered == sorted(KNOWN_FIELDS)  # sorted, so an admin finds a field by its name
