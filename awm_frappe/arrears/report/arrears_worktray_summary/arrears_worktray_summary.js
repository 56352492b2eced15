// Copyright (c) 2025, awm_frappe contributors
// For license information, please see license.txt

frappe.query_reports["Arrears Worktray Summary"] = {
	filters: [
		{ fieldname: "as_of", label: __("As of"), fieldtype: "Date", default: frappe.datetime.get_today() },
		{ fieldname: "patch", label: __("Patch"), fieldtype: "Link", options: "Territory" },
		{ fieldname: "officer", label: __("Officer"), fieldtype: "Link", options: "User" },
	],
};
