// Copyright (c) 2025, awm_frappe contributors
// For license information, please see license.txt

frappe.listview_settings["Arrears Case"] = {
	add_fields: ["status", "priority", "next_action_due", "paused_until", "court_date", "eviction_date"],
	hide_name_column: false,
	get_indicator(doc) {
		const today = frappe.datetime.get_today();
		switch (doc.status) {
			case "worktray":
				if (doc.next_action_due && doc.next_action_due <= today) {
					return [__("Worktray: due"), "red", "status,=,worktray"];
				}
				return [__("Worktray"), "orange", "status,=,worktray"];
			case "automated":
				return [__("Automated"), "blue", "status,=,automated"];
			case "paused":
				return [__("Paused"), "yellow", "status,=,paused"];
			case "agreement":
				return [__("Agreement"), "green", "status,=,agreement"];
			case "legal":
				return [__("Legal"), "purple", "status,=,legal"];
			case "closed":
				return [__("Closed"), "gray", "status,=,closed"];
		}
	},
	onload(listview) {
		listview.page.add_inner_button(__("My Worktray"), () => {
			listview.filter_area.clear(false).then(() => {
				listview.filter_area.add([
					["Arrears Case", "_assign", "like", `%${frappe.session.user}%`],
					["Arrears Case", "status", "!=", "closed"],
				]);
				listview.sort_selector.set_value("priority", "desc");
			});
		});
	},
};
