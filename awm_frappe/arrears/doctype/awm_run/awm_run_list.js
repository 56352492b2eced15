frappe.listview_settings["AWM Run"] = {
	get_indicator(doc) {
		const colours = { Queued: "gray", Running: "blue", Completed: "green", "Completed with errors": "orange", Failed: "red" };
		return [__(doc.status), colours[doc.status] || "gray", `status,=,${doc.status}`];
	},
};
