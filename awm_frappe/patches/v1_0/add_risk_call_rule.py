"""uk-ladder gained risk_call (a high-risk case gets an officer's call from a week after Letter 1): add it
to sites that run uk-ladder. It matches nothing until a risk model is active (docs/rules.md)."""

from awm_frappe.install import add_shipped_rule


def execute():
    add_shipped_rule("risk_call", "uk-ladder")
