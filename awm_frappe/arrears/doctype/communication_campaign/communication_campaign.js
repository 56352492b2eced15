// Copyright (c) 2026, awm_frappe contributors
// For license information, please see license.txt

frappe.ui.form.on("Communication Campaign", {
	refresh(frm) {
		const status = frm.doc.status || "Draft";
		frm.add_custom_button(__("Preview audience"), () => awm_campaign_preview(frm));
		if (frm.is_new()) return;
		const act = (method, message) =>
			frm.call({ method, doc: frm.doc, freeze: true }).then((r) => {
				frappe.show_alert({ message: typeof message === "function" ? message(r.message) : message, indicator: "green" });
				frm.reload_doc();
			});
		if (status === "Draft") {
			frm.add_custom_button(__("Start"), () => {
				frappe.confirm(
					__("Start this campaign? From {0}, inside the send window, it will queue its messages (the audience and message are then fixed).", [frappe.datetime.str_to_user(frm.doc.start_date)]),
					() => act("start", __("Campaign scheduled"))
				);
			}).addClass("btn-primary");
		}
		if (status === "Scheduled" || status === "Running") {
			frm.add_custom_button(__("Run today now"), () =>
				act("run_today", (out) => __("{0} members recorded, {1} messages queued", [out.recorded || 0, out.queued || 0])), __("Campaign"));
			frm.add_custom_button(__("Cancel campaign"), () => {
				frappe.confirm(__("Cancel the campaign? Messages not yet sent are cancelled."), () =>
					act("cancel_campaign", (n) => __("Campaign cancelled; {0} unsent messages cancelled", [n || 0])));
			}, __("Campaign"));
		}
		if (status !== "Draft") {
			frm.add_custom_button(__("Refresh results"), () => act("refresh_results", __("Results refreshed")), __("Campaign"));
			frm.add_custom_button(__("Messages"), () => frappe.set_route("List", "Arrears Message", { campaign: frm.doc.name }), __("View"));
		}
		frm.set_intro(awm_campaign_intro(frm.doc), status === "Cancelled" ? "red" : "blue");
	},
});

function awm_campaign_intro(doc) {
	if (!doc.results_as_of) return "";
	const pct = (v) => `${flt(v, 1)}%`;
	return __("Results as of {0}: messaged {1} (paying {2}, {3}) vs control {4} (paying {5}, {6}); difference {7} points{8}.", [
		frappe.datetime.str_to_user(doc.results_as_of),
		doc.treated_members || 0, doc.treated_paying || 0, pct(doc.treated_rate),
		doc.control_members || 0, doc.control_paying || 0, pct(doc.control_rate),
		flt(doc.rate_difference, 1),
		doc.p_value != null && doc.p_value !== "" ? `, p = ${flt(doc.p_value, 3)}` : "",
	]);
}

function awm_campaign_preview(frm) {
	frappe.prompt(
		[{ fieldname: "as_of", fieldtype: "Date", label: __("As of"), default: frappe.datetime.get_today(), reqd: 1 }],
		(values) => {
			frm.call({ method: "preview", doc: frm.doc, args: values, freeze: true, freeze_message: __("Building the audience…") })
				.then((r) => awm_show_campaign_preview(r.message || {}));
		},
		__("Preview audience"),
		__("Preview")
	);
}

function awm_show_campaign_preview(data) {
	const esc = frappe.utils.escape_html;
	const list = (obj) =>
		Object.entries(obj || {}).map(([k, v]) => `<li>${esc(k)}: <b>${v}</b></li>`).join("") || `<li>${__("none")}</li>`;
	const samples = (data.sample || [])
		.map((s) => `<div class="mb-3"><div class="text-muted small">${esc(s.tenancy)} · ${esc(s.tenant_name || "")} · ${esc(s.channel)} · ${esc(s.template)}</div>
			${s.subject ? `<div><b>${esc(s.subject)}</b></div>` : ""}
			<pre style="white-space: pre-wrap">${esc(s.body || "")}</pre></div>`)
		.join("");
	const dialog = new frappe.ui.Dialog({ title: __("Campaign preview as of {0}", [data.as_of]), size: "extra-large" });
	dialog.$body.html(`
		<div class="row">
			<div class="col-sm-6">
				<table class="table table-sm">
					<tr><td>${__("Audience (matching the filters)")}</td><td class="text-right"><b>${data.audience}</b></td></tr>
					<tr><td>${__("Excluded")}</td><td class="text-right">${data.excluded}</td></tr>
					<tr><td>${__("Eligible")}</td><td class="text-right">${data.eligible}</td></tr>
					<tr><td>${__("Held back as control ({0}%)", [data.control_percent])}</td><td class="text-right">${data.control}</td></tr>
					<tr><td>${__("To message")}</td><td class="text-right">${data.treated}</td></tr>
					<tr><td>${__("… suppressed")}</td><td class="text-right">${data.suppressed}</td></tr>
					<tr><td>${__("… template failures")}</td><td class="text-right">${data.failed}</td></tr>
					<tr><td><b>${__("Will be sent")}</b></td><td class="text-right"><b>${data.to_send}</b></td></tr>
					<tr><td>${__("Already recorded by this campaign")}</td><td class="text-right">${data.already_recorded}</td></tr>
					<tr><td>${__("Days needed at the daily limit")}</td><td class="text-right">${data.days_needed}</td></tr>
				</table>
			</div>
			<div class="col-sm-6">
				<p>${__("Excluded by reason")}</p><ul>${list(data.excluded_by_reason)}</ul>
				<p>${__("Suppressed by reason")}</p><ul>${list(data.suppressed_by_reason)}</ul>
				<p>${__("By channel")}</p><ul>${list(data.to_send_by_channel)}</ul>
			</div>
		</div>
		<h5>${__("Sample messages")}</h5>
		<div style="max-height: 40vh; overflow: auto">${samples || __("Nothing would be sent.")}</div>
		<p class="text-muted small">${__("Nothing has been changed.")}</p>`);
	dialog.show();
}
