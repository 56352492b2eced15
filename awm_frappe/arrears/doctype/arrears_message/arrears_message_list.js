// The approval list: team leaders select messages waiting for approval and approve or reject them in bulk.
frappe.listview_settings["Arrears Message"] = {
	add_fields: ["status", "channel", "reason"],
	get_indicator(doc) {
		const colours = {
			queued: "blue", awaiting_approval: "orange", approved: "cyan", rejected: "gray", sending: "purple",
			sent: "green", failed: "red", held: "yellow", suppressed: "darkgrey", cancelled: "gray", dry_run: "lightblue",
		};
		return [__(doc.status), colours[doc.status] || "gray", `status,=,${doc.status}`];
	},
	onload(listview) {
		const call = (method, names, args) =>
			frappe.call({ method, args: { names, ...(args || {}) }, freeze: true }).then((r) => {
				const out = r.message || {};
				frappe.show_alert({ message: __("{0} message(s) updated", [out.updated || 0]), indicator: "green" });
				listview.refresh();
			});
		listview.page.add_action_item(__("Approve"), () => {
			const names = listview.get_checked_items(true);
			if (names.length) call("awm_frappe.host.outbox.approve", names);
		});
		listview.page.add_action_item(__("Reject"), () => {
			const names = listview.get_checked_items(true);
			if (!names.length) return;
			frappe.prompt({ fieldname: "reason", fieldtype: "Small Text", label: __("Reason") }, (v) =>
				call("awm_frappe.host.outbox.reject", names, { reason: v.reason || "" })
			);
		});
		listview.page.add_action_item(__("Re-queue"), () => {
			const names = listview.get_checked_items(true);
			if (names.length) call("awm_frappe.host.outbox.requeue", names);
		});
		listview.page.add_inner_button(__("Awaiting approval"), () => {
			listview.filter_area.clear().then(() => listview.filter_area.add([["Arrears Message", "status", "=", "awaiting_approval"]]));
		});
	},
};
