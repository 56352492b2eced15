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
}
# ---- end Arrears doctypes ----

# ---- Nightly run: awm_frappe/host/nightly.py ----
# A 15-minute tick that enqueues tonight's run (long queue, job_id + deduplicate) once the local time
# passes AWM Settings.nightly_time; see docs/nightly-run.md.
scheduler_events = {
    "cron": {
        "*/15 * * * *": ["awm_frappe.host.nightly.schedule_nightly"],
    },
    # weekly retraining of the risk model on the site's own ledger (awm_frappe/host/training.py);
    # it enqueues the training job on the long queue with job_id + deduplicate
    "weekly_long": ["awm_frappe.host.training.schedule_training"],
}
# ---- end nightly run ----
