frappe.listview_settings["Risk Model"] = {
	add_fields: ["active", "status"],
	get_indicator(doc) {
		if (doc.active) return [__("Active"), "green", "active,=,1"];
		if (doc.status === "Trained") return [__("Trained"), "blue", "status,=,Trained"];
		return [__(doc.status), doc.status === "Failed" ? "red" : "orange", `status,=,${doc.status}`];
	},
};
