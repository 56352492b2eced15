frappe.listview_settings["Payment Agreement"] = {
	get_indicator(doc) {
		const colours = { live: "green", breached: "red", completed: "blue", cancelled: "gray" };
		return [__(frappe.model.unscrub(doc.status)), colours[doc.status] || "gray", `status,=,${doc.status}`];
	},
};
