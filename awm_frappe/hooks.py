app_name = "awm_frappe"
app_title = "AWM Arrears"
app_publisher = "awm_frappe contributors"
app_description = "Automated rent-arrears case management for social landlords"
app_email = "awm@example.org"
app_license = "mit"
required_apps = ["erpnext"]

# ---- Arrears doctypes: install, permissions ----
after_install = "awm_frappe.install.after_install"
after_migrate = "awm_frappe.install.after_migrate"
before_tests = "awm_frappe.install.before_tests"

permission_query_conditions = {
    "Arrears Case": "awm_frappe.permissions.arrears_case_query",
    "Tenancy": "awm_frappe.permissions.tenancy_query",
    "Payment Agreement": "awm_frappe.permissions.payment_agreement_query",
    "Rent Transaction": "awm_frappe.permissions.rent_transaction_query",
}

has_permission = {
    "Arrears Case": "awm_frappe.permissions.has_permission",
    "Tenancy": "awm_frappe.permissions.has_permission",
    "Payment Agreement": "awm_frappe.permissions.has_permission",
    "Rent Transaction": "awm_frappe.permissions.has_permission",
}

# A share must never open another patch's case (assign_to.add shares with assignees who can't read).
doc_events = {
    "DocShare": {
        "validate": "awm_frappe.permissions.validate_docshare",
    },
    # an emailed reply threaded onto an Arrears Case gives the case officer a ToDo (host/attribution.py)
    "Communication": {
        "after_insert": "awm_frappe.host.attribution.on_communication_insert",
    },
    # issue 6: the dispatcher reads the SMS Log that send_sms just wrote (awm_frappe/host/channels.py)
    "SMS Log": {
        "after_insert": "awm_frappe.host.channels.remember_sms_log",
    },
}
# ---- end Arrears doctypes ----

# ---- Nightly run: awm_frappe/host/nightly.py ----
# A 15-minute tick that enqueues tonight's run (long queue, job_id + deduplicate) once the local time
# passes AWM Settings.nightly_time; see docs/nightly-run.md.
scheduler_events = {
    "cron": {
        "*/15 * * * *": [
            "awm_frappe.host.nightly.schedule_nightly",
            # campaigns: enqueue today's day for each scheduled/running campaign inside its send window
            "awm_frappe.host.campaigns.schedule_campaigns",
        ],
        # issue 6: message dispatch (short queue, job_id "awm-dispatch" + deduplicate); host/dispatch.py
        "*/5 * * * *": ["awm_frappe.host.dispatch.schedule_dispatch"],
    },
    # payment attribution (messages → payments within 14 days) and campaign results (host/attribution.py)
    "daily_long": ["awm_frappe.host.attribution.attribute_payments_job"],
    # weekly retraining of the risk model on the site's own ledger (awm_frappe/host/training.py);
    # it enqueues the training job on the long queue with job_id + deduplicate
    "weekly_long": ["awm_frappe.host.training.schedule_training"],
}
# ---- end nightly run ----

# ---- Messages (issue 6): SMS provider hook point ----
# An app that sends SMS through another provider (e.g. GOV.UK Notify) sets
#   awm_send_sms = ["my_app.notify.send_sms"]
# a function (number: str, text: str, message_name: str) -> {"reference_doctype", "reference_name"} | None
# that raises on failure; when set it replaces frappe's send_sms / SMS Settings (the last one wins).
# See docs/messaging-in-frappe.md.
# ---- end messages ----
