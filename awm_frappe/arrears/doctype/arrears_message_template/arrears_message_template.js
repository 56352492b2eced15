// Preview a template against a tenancy (renders the form as it is, saved or not).
frappe.ui.form.on("Arrears Message Template", {
	refresh(frm) {
		frm.add_custom_button(__("Preview"), () => {
			frappe.prompt(
				[{ fieldname: "tenancy", fieldtype: "Link", options: "Tenancy", label: __("Tenancy"), reqd: 1 }],
				(values) => {
					frm.call("preview", { tenancy: values.tenancy }).then((r) => {
						const out = r.message || {};
						if (!out.ok) {
							frappe.msgprint({ title: __("Cannot render"), message: (out.errors || []).join("<br>"), indicator: "red" });
							return;
						}
						let html = "";
						if (out.subject) html += `<p><b>${frappe.utils.escape_html(out.subject)}</b></p>`;
						html += out.channel === "email" ? out.body : `<pre style="white-space:pre-wrap">${frappe.utils.escape_html(out.body)}</pre>`;
						if (out.channel === "sms") html += `<p class="text-muted">${out.sms_length} characters, ${out.sms_segments} segment(s)</p>`;
						frappe.msgprint({ title: __("Preview for {0}", [values.tenancy]), message: html, wide: true });
					});
				},
				__("Preview against a tenancy")
			);
		});
	},
});
