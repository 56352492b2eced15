// Copyright (c) 2025, awm_frappe contributors
// For license information, please see license.txt

frappe.ui.form.on("Risk Model", {
	refresh(frm) {
		if (!frm.is_new() && !frm.doc.active && frm.doc.status === "Trained" && frm.doc.artefact) {
			frm.add_custom_button(__("Activate"), () =>
				frm.call("activate").then(() => {
					frappe.show_alert({ message: __("The nightly run will score with this model"), indicator: "green" });
					frm.reload_doc();
				})
			);
		}
		if (frm.doc.active) {
			frm.dashboard.set_headline(__("Active: the nightly run scores every tenancy with this model."));
		} else if (frm.doc.status && frm.doc.status !== "Trained") {
			frm.dashboard.set_headline(frm.doc.notes || __(frm.doc.status));
		}
	},
});
