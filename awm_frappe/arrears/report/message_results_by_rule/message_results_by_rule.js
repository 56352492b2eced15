// Copyright (c) 2026, awm_frappe contributors
// For license information, please see license.txt

frappe.query_reports["Message Results by Rule"] = {
	filters: [
		{ fieldname: "from_date", label: __("Sent from"), fieldtype: "Date", default: frappe.datetime.add_days(frappe.datetime.get_today(), -90) },
		{ fieldname: "to_date", label: __("Sent to"), fieldtype: "Date", default: frappe.datetime.get_today() },
		{ fieldname: "group_by", label: __("Group by"), fieldtype: "Select", options: "rule\ncampaign", default: "rule" },
	],
};
