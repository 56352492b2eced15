// Copyright (c) 2025, awm_frappe contributors
// For license information, please see license.txt

frappe.ui.form.on("Worktray Rule", {
	onload(frm) {
		frappe.call("awm_frappe.arrears.doctype.worktray_rule.worktray_rule.get_rule_fields").then((r) => {
			const names = (r.message || []).map((f) => f.value);
			frm.awm_rule_fields = names;
			frm.fields_dict.conditions.grid.update_docfield_property("field_name", "options", names);
			frm.fields_dict.conditions.grid.update_docfield_property("value_field", "options", names);
		});
	},

	refresh(frm) {
		frm.add_custom_button(__("Preview"), () => awm_preview_rule(frm));
		if (!frm.is_new() && frm.doc.approval_required) {
			frm.add_custom_button(__("Switch to automatic"), () =>
				frappe.confirm(__("Stop reviewing this rule's messages before they are sent? ({0} approved runs so far)", [frm.doc.approved_runs || 0]), () =>
					frappe.call("awm_frappe.host.outbox.switch_to_automatic", { rule: frm.doc.name }).then(() => frm.reload_doc())
				)
			);
			frm.add_custom_button(__("Messages awaiting approval"), () =>
				frappe.set_route("List", "Arrears Message", { rule: frm.doc.name, status: "awaiting_approval" })
			);
		}
	},
});

function awm_preview_rule(frm) {
	frappe.prompt(
		[{ fieldname: "as_of", fieldtype: "Date", label: __("As of"), default: frappe.datetime.get_today(), reqd: 1 }],
		(values) => {
			frm.call({ method: "preview", doc: frm.doc, args: values, freeze: true, freeze_message: __("Evaluating…") })
				.then((r) => show_preview(r.message || {}));
		},
		__("Preview rule"),
		__("Preview")
	);
}

function show_preview(data) {
	const rows = (data.rows || [])
		.map(
			(row) => `<tr>
				<td>${row.case ? `<a href="/app/arrears-case/${encodeURIComponent(row.case)}">${frappe.utils.escape_html(row.case)}</a>` : ""}</td>
				<td><a href="/app/tenancy/${encodeURIComponent(row.tenancy)}">${frappe.utils.escape_html(row.tenancy)}</a></td>
				<td>${frappe.utils.escape_html(row.patch || "")}</td>
				<td>${frappe.utils.escape_html(row.stage || "")}</td>
				<td class="text-right">${row.arrears_after_grace == null ? "" : format_currency(row.arrears_after_grace)}</td>
				<td>${frappe.utils.escape_html(row.action || "")}</td>
				<td>${row.wins ? __("Yes") : frappe.utils.escape_html(row.winning_rule || __("No"))}</td>
				<td>${frappe.utils.escape_html(row.reason || "")}</td>
			</tr>`
		)
		.join("");
	const summary = __("As of {0}: {1} of {2} tenancies match this rule; it would act on {3} of them (earlier rules win the rest). Nothing has been changed.", [
		data.as_of, data.matched, data.tenancies, data.would_win,
	]);
	const dialog = new frappe.ui.Dialog({ title: __("Rule preview"), size: "extra-large" });
	dialog.$body.html(`<p>${summary}</p>
		<div style="max-height: 60vh; overflow: auto">
		<table class="table table-bordered table-sm">
			<thead><tr><th>${__("Case")}</th><th>${__("Tenancy")}</th><th>${__("Patch")}</th><th>${__("Stage")}</th>
			<th>${__("Arrears after grace")}</th><th>${__("Action")}</th><th>${__("Wins")}</th><th>${__("Reason")}</th></tr></thead>
			<tbody>${rows || `<tr><td colspan="8">${__("No tenancy matches.")}</td></tr>`}</tbody>
		</table></div>`);
	dialog.show();
}
