// Copyright (c) 2025, awm_frappe contributors
// For license information, please see license.txt

frappe.ui.form.on("Arrears Case", {
	setup(frm) {
		frm.set_query("agreement", () => ({ filters: { tenancy: frm.doc.tenancy } }));
	},

	refresh(frm) {
		if (frm.is_new() || frm.doc.status === "closed") return;
		const group = __("Actions");
		const call = (method, args, message) =>
			frm.call(method, args).then(() => {
				frappe.show_alert({ message, indicator: "green" });
				frm.reload_doc();
			});

		frm.add_custom_button(__("Log contact"), () => {
			frappe.prompt(
				[
					{ fieldname: "action_type", fieldtype: "Link", options: "Arrears Action Type", label: __("Action"), reqd: 1, default: "call" },
					{ fieldname: "channel", fieldtype: "Select", options: "\nphone\nsms\nemail\nletter\nvisit", label: __("Channel") },
					{ fieldname: "outcome", fieldtype: "Data", label: __("Outcome") },
					{ fieldname: "notes", fieldtype: "Small Text", label: __("Notes") },
				],
				(v) => call("log_contact", v, __("Contact logged")),
				__("Log contact"),
				__("Save")
			);
		}, group);

		// Two clicks: "Call outcome" → the outcome. A promise to pay asks for the date (paused until then).
		const outcomes = [
			["no_answer", __("No answer")],
			["promised_to_pay", __("Promised to pay…")],
			["paid", __("Paid")],
			["agreement_made", __("Agreement made")],
			["dispute", __("Dispute")],
			["wrong_number", __("Wrong number")],
		];
		outcomes.forEach(([outcome, label]) => {
			frm.add_custom_button(label, () => {
				if (outcome === "promised_to_pay") {
					frappe.prompt(
						[
							{ fieldname: "until", fieldtype: "Date", label: __("Promised to pay by"), reqd: 1, default: frappe.datetime.add_days(frappe.datetime.get_today(), 7) },
							{ fieldname: "notes", fieldtype: "Small Text", label: __("Notes") },
						],
						(v) => call("log_call_outcome", { outcome, ...v }, __("Call logged; case paused until {0}", [v.until])),
						__("Promised to pay"),
						__("Save")
					);
				} else {
					call("log_call_outcome", { outcome }, __("Call logged: {0}", [label]));
				}
			}, __("Call outcome"));
		});

		frm.add_custom_button(__("Pause"), () => {
			frappe.prompt(
				[
					{ fieldname: "until", fieldtype: "Date", label: __("Pause until"), reqd: 1 },
					{
						fieldname: "reason", fieldtype: "Select", label: __("Reason"), reqd: 1,
						options: "promise_of_payment\ndelayed_benefit\ndeceased\nmissing_data\ncourt_or_eviction_date\ndispute\nother",
					},
					{ fieldname: "notes", fieldtype: "Small Text", label: __("Notes") },
				],
				(v) => call("pause", v, __("Case paused")),
				__("Pause case"),
				__("Pause")
			);
		}, group);

		frm.add_custom_button(__("Set up agreement"), () => {
			frappe.prompt(
				[
					{ fieldname: "start_date", fieldtype: "Date", label: __("Start date"), reqd: 1, default: frappe.datetime.get_today() },
					{ fieldname: "frequency", fieldtype: "Select", label: __("Frequency"), reqd: 1, options: "weekly\nfortnightly\n4-weekly\nmonthly", default: "weekly" },
					{ fieldname: "instalment", fieldtype: "Currency", label: __("Instalment"), reqd: 1 },
					{ fieldname: "initial_payment", fieldtype: "Currency", label: __("Initial payment") },
					{ fieldname: "formal", fieldtype: "Check", label: __("Court-ordered") },
					{ fieldname: "notes", fieldtype: "Small Text", label: __("Notes") },
				],
				(v) => call("set_up_agreement", v, __("Agreement created")),
				__("Set up payment agreement"),
				__("Create")
			);
		}, group);

		frm.add_custom_button(__("Escalate"), () => {
			frappe.prompt(
				[
					{ fieldname: "action_type", fieldtype: "Link", options: "Arrears Action Type", label: __("Step taken"), reqd: 1, default: frm.doc.next_action },
					{ fieldname: "stage", fieldtype: "Data", label: __("New stage (optional)") },
					{ fieldname: "notes", fieldtype: "Small Text", label: __("Notes") },
				],
				(v) => call("escalate", v, __("Escalated")),
				__("Escalate"),
				__("Escalate")
			);
		}, group);

		frm.add_custom_button(__("Close case"), () => {
			frappe.prompt(
				[
					{ fieldname: "reason", fieldtype: "Data", label: __("Reason"), reqd: 1 },
					{ fieldname: "notes", fieldtype: "Small Text", label: __("Notes") },
				],
				(v) => call("close_case", v, __("Case closed")),
				__("Close case"),
				__("Close")
			);
		}, group);

		if (frm.doc.tenancy) {
			frm.add_custom_button(__("Rent transactions"), () =>
				frappe.set_route("List", "Rent Transaction", { tenancy: frm.doc.tenancy }), __("View"));
		}
	},
});
