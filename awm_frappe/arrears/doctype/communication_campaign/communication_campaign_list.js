// Copyright (c) 2026, awm_frappe contributors
// For license information, please see license.txt

frappe.listview_settings["Communication Campaign"] = {
	add_fields: ["status", "start_date", "rate_difference"],
	get_indicator(doc) {
		const colours = { Draft: "gray", Scheduled: "blue", Running: "orange", Completed: "green", Cancelled: "red" };
		return [__(doc.status), colours[doc.status] || "gray", `status,=,${doc.status}`];
	},
};
