app_name = "awm_frappe"
app_title = "AWM Arrears"
app_publisher = "awm_frappe contributors"
app_description = "Automated rent-arrears case management for social landlords"
app_email = "awm@example.org"
app_license = "mit"
required_apps = ["erpnext"]
