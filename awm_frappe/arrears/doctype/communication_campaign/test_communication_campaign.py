# Copyright (c) 2026, awm_frappe contributors
# For license information, please see license.txt
"""Communication Campaigns (audience, control group, suppression, exclusions, throttle, idempotency,
results), payment attribution, the two-click phone outcome and inbound email reply threading.

    bench --site SITE run-tests \
        --module awm_frappe.arrears.doctype.communication_campaign.test_communication_campaign
"""

from __future__ import annotations

import frappe
import pandas as pd
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days, get_datetime

from awm_frappe.host import attribution, campaigns
from awm_frappe.tests.factories import (
    day,
    ensure_setup,
    frozen,
    make_case,
    make_officer,
    make_rent_transaction,
    make_tenancy,
    make_territory,
)


def _settings(**values):
    for key, value in values.items():
        frappe.db.set_single_value("AWM Settings", key, value)
    frappe.clear_document_cache("AWM Settings", "AWM Settings")


def _patch() -> str:
    name = f"AWM Camp {frappe.generate_hash(length=6)}"
    make_territory(name)
    return name


def _tenancies(patch: str, count: int, **fields) -> list[str]:
    base = {
        "mobile_no": "07700900123",
        "preferred_channel": "sms",
        "balance": 250.0,
        "arrears_after_grace": 150.0,
        "weeks_owed": 2.5,
    }
    base.update(fields)
    return [make_tenancy(patch=patch, **base).name for _ in range(count)]


def _campaign(patch: str, **fields):
    doc = {
        "doctype": "Communication Campaign",
        "title": "Test campaign",
        "template_code": "sms",
        "channel": "sms",
        "patches": [{"territory": patch}],
        "control_group_percent": 10,
        "exclude_legal": 1,
        "exclude_contacted_days": 0,
        "start_date": day(0),
        "send_window_start": "00:00:00",
        "send_window_end": "23:59:59",
        "daily_limit": 0,
        "status": "Draft",
    }
    doc.update(fields)
    campaign = frappe.get_doc(doc).insert(ignore_permissions=True)
    campaign.start()
    return campaign


def _process_reply(raw: str):
    """InboundMail(raw).process() without the assignment's notification email: Frappe sends that one
    at once in tests and its Email Queue commits (frappe.email.doctype.email_queue.update_status), which
    would leak the test's data into the site."""
    from unittest.mock import patch as mock_patch

    from frappe.email.receive import InboundMail

    account = frappe._dict(name=None, email_id="rents@example.org", use_imap=0, append_to=None)
    with mock_patch("frappe.desk.doctype.notification_log.notification_log.send_notification_email"):
        return InboundMail(raw, account).process()


def _rows(campaign: str) -> list[dict]:
    return frappe.get_all(
        "Arrears Message",
        filters={"campaign": campaign},
        fields=["name", "tenancy", "status", "control_group", "reason", "idempotency_key", "body", "channel"],
    )


SENDABLE = ("queued", "awaiting_approval", "approved", "sending", "sent", "dry_run")


class TestCommunicationCampaign(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ensure_setup()
        _settings(dry_run=0, frequency_cap_days=7, ledger_source="Rent Transaction")

    def test_the_control_group_is_the_share_asked_for_and_stable(self):
        names = [f"T{i:05d}" for i in range(10_000)]
        for percent in (5, 10, 25):
            share = campaigns.control_mask("CAMP-00001", names, percent).mean()
            self.assertAlmostEqual(share, percent / 100, delta=0.01)
        again = campaigns.control_mask("CAMP-00001", names, 10)
        self.assertTrue((again == campaigns.control_mask("CAMP-00001", names, 10)).all())
        # another campaign holds back a different tenth
        other = campaigns.control_mask("CAMP-00002", names, 10)
        self.assertLess((again & other).mean(), 0.02)

    def test_control_group_and_results_for_both_groups(self):
        patch = _patch()
        members = _tenancies(patch, 80)
        with frozen(day(0)):
            campaign = _campaign(patch, control_group_percent=10)
            outcome = campaigns.run_campaign_day(campaign.name, day(0))
        rows = _rows(campaign.name)
        self.assertEqual(len(rows), 80, outcome)
        expected_control = set(pd.Index(members)[campaigns.control_mask(campaign.name, members, 10)])
        control = {r.tenancy for r in rows if r.control_group}
        # deterministic (same hash again); about 10% is checked on 10,000 fixed names below, since 80
        # random members fall outside 3..16 about once in a hundred runs
        self.assertEqual(control, expected_control)
        self.assertTrue(control and len(control) < len(members), len(control))
        for row in rows:
            if row.control_group:
                self.assertNotIn(row.status, SENDABLE, row)
                self.assertEqual(row.status, "cancelled")
                self.assertFalse(row.body)
            else:
                self.assertEqual(row.status, "queued", row)
                self.assertIn("|" + campaign.name + "|sms|", row.idempotency_key)
                self.assertTrue(row.body)
        self.assertEqual(frappe.db.get_value("Communication Campaign", campaign.name, "status"), "Completed")

        # payments: 3 messaged members pay inside 14 days, 1 pays too late; 2 control members pay inside
        treated = sorted(r.tenancy for r in rows if not r.control_group)
        held = sorted(control)
        for tenancy in treated[:3]:
            make_rent_transaction(tenancy, day(5), -40.0, "payment")
        make_rent_transaction(treated[3], day(20), -500.0, "payment")  # outside the window
        make_rent_transaction(treated[4], day(6), -90.0, "hb")  # a benefit credit is not a response
        for tenancy in held[:2]:
            make_rent_transaction(tenancy, day(13), -25.0, "payment")

        results = campaigns.compute_results(campaign.name, day(30))
        self.assertEqual(results["targeted"], len(treated))
        self.assertEqual(results["control"], len(held))
        self.assertEqual(results["treated"]["members"], len(treated))
        self.assertEqual(results["treated"]["paying"], 3)
        self.assertAlmostEqual(results["treated"]["amount"], 120.0)
        self.assertEqual(results["control_group"]["members"], len(held))
        self.assertEqual(results["control_group"]["paying"], 2)
        self.assertAlmostEqual(results["control_group"]["amount"], 50.0)
        treated_rate = round(100 * 3 / len(treated), 2)
        control_rate = round(100 * 2 / len(held), 2)
        self.assertAlmostEqual(results["treated"]["rate"], treated_rate)
        self.assertAlmostEqual(results["control_group"]["rate"], control_rate)
        self.assertAlmostEqual(results["rate_difference"], round(treated_rate - control_rate, 2))
        saved = frappe.get_doc("Communication Campaign", campaign.name)
        self.assertEqual((saved.treated_paying, saved.control_paying), (3, 2))
        self.assertAlmostEqual(saved.control_amount, 50.0)
        self.assertAlmostEqual(saved.treated_rate, treated_rate)

    def test_suppression_always_applies_and_exclusions_are_counted(self):
        patch = _patch()
        ok = _tenancies(patch, 2)
        breathing = _tenancies(patch, 1, breathing_space_until=day(60))[0]
        deceased = _tenancies(patch, 1, deceased=1)[0]
        dnc = _tenancies(patch, 1, do_not_contact=1)[0]
        vulnerable = _tenancies(patch, 1, vulnerable=1, vulnerability="mental health")[0]
        legal = _tenancies(patch, 1)[0]
        contacted = _tenancies(patch, 1)[0]
        with frozen(day(0)):
            make_case(legal, status="legal", stage="nosp")
            case = make_case(contacted, status="worktray")
            case.log_contact("call", channel="phone", outcome="spoke", action_date=day(-2))
            campaign = _campaign(patch, control_group_percent=0, exclude_contacted_days=7)
            preview = campaign.preview(day(0))
        self.assertEqual(preview["audience"], 8)
        self.assertEqual(
            preview["excluded_by_reason"], {"open legal stage": 1, "contacted in the last 7 days": 1}
        )
        self.assertEqual(preview["control"], 0)
        self.assertEqual(preview["to_send"], 2)
        self.assertEqual(preview["suppressed"], 4)
        self.assertEqual(
            preview["suppressed_by_reason"],
            {"deceased": 1, "do not contact": 1, "breathing space": 1, "vulnerable: routed to officer": 1},
        )
        self.assertEqual(len(preview["sample"]), 2)
        self.assertIn("£250.00", preview["sample"][0]["body"])

        with frozen(day(0)):
            campaigns.run_campaign_day(campaign.name, day(0))
        rows = {r.tenancy: r for r in _rows(campaign.name)}
        self.assertEqual(set(rows), set(ok) | {breathing, deceased, dnc, vulnerable})  # excluded: no row
        for tenancy in (breathing, deceased, dnc, vulnerable):
            self.assertEqual(rows[tenancy].status, "suppressed", rows[tenancy])
            self.assertNotIn(rows[tenancy].status, SENDABLE)
        self.assertEqual(rows[breathing].reason, "breathing space")
        for tenancy in ok:
            self.assertEqual(rows[tenancy].status, "queued")

    def test_control_member_who_would_be_suppressed_is_not_counted_as_control(self):
        patch = _patch()
        members = _tenancies(patch, 40, deceased=1)
        with frozen(day(0)):
            campaign = _campaign(patch, control_group_percent=30)
            campaigns.run_campaign_day(campaign.name, day(0))
        rows = _rows(campaign.name)
        self.assertEqual(len(rows), len(members))
        self.assertTrue(any(r.control_group for r in rows))
        self.assertTrue(all(r.status == "suppressed" for r in rows))
        results = campaigns.compute_results(campaign.name, day(20))
        self.assertEqual(results["control_group"]["members"], 0)
        self.assertEqual(results["treated"]["members"], 0)

    def test_rerun_queues_nothing_new_and_daily_limit_spreads_the_audience(self):
        patch = _patch()
        _tenancies(patch, 12)
        with frozen(day(0)):
            campaign = _campaign(patch, control_group_percent=0, daily_limit=5)
            first = campaigns.run_campaign_day(campaign.name, day(0))
            again = campaigns.run_campaign_day(campaign.name, day(0))
        self.assertEqual(first["queued"], 5)
        self.assertEqual(again["queued"], 0)
        self.assertEqual(len(_rows(campaign.name)), 5)
        self.assertEqual(frappe.db.get_value("Communication Campaign", campaign.name, "status"), "Running")
        with frozen(day(1)):
            second = campaigns.run_campaign_day(campaign.name, day(1))
            campaigns.run_campaign_day(campaign.name, day(1))
        with frozen(day(2)):
            third = campaigns.run_campaign_day(campaign.name, day(2))
            fourth = campaigns.run_campaign_day(campaign.name, day(2))
        self.assertEqual((second["queued"], third["queued"], fourth["queued"]), (5, 2, 0))
        rows = _rows(campaign.name)
        self.assertEqual(len(rows), 12)
        self.assertEqual(len({r.tenancy for r in rows}), 12)
        self.assertEqual(frappe.db.get_value("Communication Campaign", campaign.name, "status"), "Completed")
        # the outbox's own idempotency: the same rows again insert nothing
        doc = frappe.get_doc("Communication Campaign", campaign.name)
        frame = campaigns.plan(doc, day(2))
        frame = frame.loc[frame["exclusion"].eq("")]
        counts = campaigns.enqueue(campaigns.outbox_rows(doc, frame))
        self.assertEqual(counts["inserted"], 0)

    def test_window_status_and_cancel(self):
        patch = _patch()
        _tenancies(patch, 3)
        with frozen(day(0)):
            campaign = _campaign(patch, send_window_start="10:00:00", send_window_end="11:00:00")
            # frozen() sets 09:00 local: outside the window
            self.assertEqual(
                campaigns.run_campaign_day(campaign.name, day(0))["skipped"], "outside the send window"
            )
            self.assertFalse(campaigns.in_window(campaign, get_datetime(f"{day(0)} 09:30:00")))
            self.assertTrue(campaigns.in_window(campaign, get_datetime(f"{day(0)} 10:30:00")))
            self.assertEqual(
                campaigns.run_campaign_day(campaign.name, day(-1), force_window=True)["skipped"],
                "not started",
            )
            out = campaigns.run_campaign_day(campaign.name, day(0), force_window=True)
            self.assertEqual(out["recorded"], 3)
            campaign.reload()
            with self.assertRaises(frappe.ValidationError):
                campaign.control_group_percent = 20
                campaign.save()
            campaign.reload()
            frappe.db.set_value("Communication Campaign", campaign.name, "status", "Running")
            campaign.reload()
            cancelled = campaign.cancel_campaign()
        self.assertGreaterEqual(cancelled, 1)
        self.assertFalse([r for r in _rows(campaign.name) if r.status in SENDABLE])

    def test_end_to_end_dispatch_reply_and_attribution(self):
        """Campaign → outbox → the host's email channel (dispatcher) → tenant reply threaded onto the case
        → payment attributed to the message; control rows are never claimed by the dispatcher."""
        from awm_frappe.host import dispatch
        from awm_frappe.host.loopback import ensure_outgoing_email

        ensure_outgoing_email()
        officer = "camp.e2e@example.com"
        patch = _patch()
        make_officer(officer, [patch])
        with frozen(day(0)):
            campaign = _campaign(patch, channel="email", control_group_percent=25)
        # tenancy references picked so that both groups have members (the draw is a hash of the names)
        refs, picked = [f"E2E-{frappe.generate_hash(length=8)}" for _ in range(200)], []
        mask = campaigns.control_mask(campaign.name, refs, 25)
        held_refs = [r for r, c in zip(refs, mask, strict=True) if c][:3]
        picked = held_refs + [r for r, c in zip(refs, mask, strict=True) if not c][:6]
        members = [
            make_tenancy(
                ref, patch=patch, preferred_channel="email", email_id="t.e2e@example.com", balance=80.0
            ).name
            for ref in picked
        ]
        cases = {t: make_case(t, officer=officer, status="automated").name for t in members}
        with frozen(day(0)):
            campaigns.run_campaign_day(campaign.name, day(0))
            counts = dispatch.dispatch(commit=False, channels_only=("email",), print_batch=False)
        rows = {r.tenancy: r for r in _rows(campaign.name)}
        sent = [t for t, r in rows.items() if not r.control_group]
        held = [t for t, r in rows.items() if r.control_group]
        self.assertTrue(sent and held, (len(sent), len(held)))
        self.assertGreaterEqual(counts.get("sent_email", 0), len(sent))
        for tenancy in held:
            self.assertEqual(rows[tenancy].status, "cancelled")
        for tenancy in sent:
            self.assertEqual(rows[tenancy].status, "sent", rows[tenancy])
        first = frappe.get_doc("Arrears Message", rows[sent[0]].name)
        self.assertEqual(
            frappe.db.get_value(
                "Communication", first.communication, ["reference_doctype", "reference_name"]
            ),
            ("Arrears Case", cases[sent[0]]),
        )
        message_id = frappe.db.get_value("Email Queue", {"communication": first.communication}, "message_id")
        raw = (
            "From: Tenant <t.e2e@example.com>\r\nTo: arrears@example.org\r\nSubject: Re: rent\r\n"
            f"Message-ID: <{frappe.generate_hash(length=10)}@example.com>\r\nIn-Reply-To: <{message_id}>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nPaid today.\r\n"
        )
        reply = _process_reply(raw)
        self.assertEqual((reply.reference_doctype, reply.reference_name), ("Arrears Case", cases[sent[0]]))
        self.assertEqual(reply.in_reply_to, first.communication)

        sent_on = first.sent_at.date()
        make_rent_transaction(sent[0], add_days(sent_on, 2), -60.0, "payment")
        attribution.attribute_payments(add_days(sent_on, 20))
        self.assertEqual(frappe.db.get_value("Arrears Message", first.name, "attributed_payment"), 60.0)

    def test_scheduler_tick_enqueues_once_per_day_inside_the_window(self):
        from unittest.mock import patch as mock_patch

        patch = _patch()
        _tenancies(patch, 2)
        with frozen(day(0)):
            campaign = _campaign(patch, send_window_start="08:00:00", send_window_end="18:00:00")
        calls = []
        with mock_patch("frappe.enqueue", side_effect=lambda *a, **k: calls.append(k)):
            self.assertNotIn(campaign.name, campaigns.schedule_campaigns(f"{day(0)} 07:00:00"))  # before
            self.assertIn(campaign.name, campaigns.schedule_campaigns(f"{day(0)} 09:00:00"))
            self.assertNotIn(
                campaign.name, campaigns.schedule_campaigns(f"{day(-1)} 09:00:00")
            )  # not started
        mine = [k for k in calls if k.get("campaign") == campaign.name]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["queue"], "long")
        self.assertEqual(mine[0]["job_id"], f"awm-campaign-{campaign.name}-{day(0)}")
        self.assertTrue(mine[0]["deduplicate"])
        frappe.db.set_value("Communication Campaign", campaign.name, "last_run_date", day(0))
        with mock_patch("frappe.enqueue", side_effect=lambda *a, **k: calls.append(k)):
            self.assertNotIn(campaign.name, campaigns.schedule_campaigns(f"{day(0)} 10:00:00"))  # done today

    def test_validation(self):
        patch = _patch()
        with self.assertRaises(frappe.ValidationError):
            _campaign(patch, template_code="no_such_template_code")
        with self.assertRaises(frappe.ValidationError):
            _campaign(patch, tenure_types="secure, castle")
        with self.assertRaises(frappe.ValidationError):
            _campaign(patch, balance_min=500, balance_max=100)


class TestAttributionAndOutcomes(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ensure_setup()
        _settings(dry_run=0, ledger_source="Rent Transaction")

    def _sent(self, tenancy: str, on, rule=None, campaign=None) -> str:
        return (
            frappe.get_doc(
                {
                    "doctype": "Arrears Message",
                    "idempotency_key": f"{tenancy}|test|{frappe.generate_hash(length=6)}|{on}",
                    "tenancy": tenancy,
                    "channel": "sms",
                    "status": "sent",
                    "sent_at": get_datetime(f"{on} 10:00:00"),
                    "rule": rule,
                    "campaign": campaign,
                    "body": "x",
                }
            )
            .insert(ignore_permissions=True)
            .name
        )

    def test_payment_goes_to_the_latest_prior_message_within_14_days(self):
        patch = _patch()
        a, b = _tenancies(patch, 2)
        first = self._sent(a, day(0))
        second = self._sent(a, day(10))
        late = self._sent(b, day(0))
        make_rent_transaction(a, day(3), -20.0, "payment")  # → first
        make_rent_transaction(a, day(12), -30.0, "payment")  # → second (latest before it)
        make_rent_transaction(a, day(13), -5.0, "payment")  # → second
        make_rent_transaction(a, day(40), -99.0, "payment")  # 30 days after second: nobody
        make_rent_transaction(b, day(15), -70.0, "payment")  # 15 days after: too old
        make_rent_transaction(b, day(2), -10.0, "hb")  # benefit credit: not attributed
        out = attribution.attribute_payments(day(45), days=14, lookback=60)
        values = {
            name: frappe.db.get_value("Arrears Message", name, ["attributed_payment", "attributed_on"])
            for name in (first, second, late)
        }
        self.assertEqual(values[first], (20.0, day(3)))
        self.assertEqual(values[second], (35.0, day(12)))
        self.assertEqual(values[late][0] or 0, 0)
        self.assertIsNone(values[late][1])
        # idempotent: nothing changes on a rerun
        self.assertEqual(attribution.attribute_payments(day(45), days=14, lookback=60)["updated"], 0)
        self.assertGreaterEqual(out["attributed"], 2)

    def test_match_payments_pure(self):
        messages = pd.DataFrame(
            {
                "message": ["m1", "m2", "m3"],
                "tenancy": ["T1", "T1", "T2"],
                "date": pd.to_datetime(["2025-06-01", "2025-06-10", "2025-06-01"]),
            }
        )
        payments = pd.DataFrame(
            {
                "tenancy": ["T1", "T1", "T2", "T2"],
                "date": pd.to_datetime(["2025-06-09", "2025-06-24", "2025-06-15", "2025-06-16"]),
                "amount": [10.0, 20.0, 30.0, 40.0],
            }
        )
        got = attribution.match_payments(messages, payments, 14).set_index("message")
        self.assertEqual(got.loc["m1", "amount"], 10.0)
        self.assertEqual(got.loc["m2", "amount"], 20.0)  # exactly 14 days: counted
        self.assertEqual(got.loc["m3", "amount"], 30.0)  # 14 days yes, 15 days no
        self.assertNotIn("m4", got.index)

    def test_results_by_rule(self):
        patch = _patch()
        (a,) = _tenancies(patch, 1)
        name = self._sent(a, day(0))
        make_rent_transaction(a, day(1), -15.0, "payment")
        attribution.attribute_payments(day(5), lookback=30)
        rows = {r.source: r for r in attribution.results_by_rule(day(-1), day(5))}
        self.assertIn("", rows)
        self.assertGreaterEqual(rows[""].paid, 1)
        self.assertTrue(frappe.db.get_value("Arrears Message", name, "attributed_payment"))
        from awm_frappe.arrears.report.message_results_by_rule.message_results_by_rule import execute

        columns, data = execute({"from_date": day(-1), "to_date": day(5), "group_by": "rule"})
        self.assertEqual([c["fieldname"] for c in columns][:3], ["source", "sent", "paid"])
        self.assertTrue(any(row.paid for row in data))

    def test_two_click_phone_outcome(self):
        case = make_case(status="automated")
        before = len(case.timeline)
        case.log_call_outcome("no_answer", action_date=day(0))
        case.reload()
        self.assertEqual(len(case.timeline), before + 1)
        row = case.timeline[-1]
        self.assertEqual((row.action_type, row.channel, row.outcome), ("call", "phone", "no answer"))
        case.log_call_outcome("promised_to_pay", until=day(7), action_date=day(0))
        case.reload()
        self.assertEqual(case.status, "paused")
        self.assertEqual(str(case.paused_until), str(day(7)))
        self.assertEqual(case.pause_reason, "promise_of_payment")
        self.assertIn("promised to pay", case.timeline[-2].outcome)
        with self.assertRaises(frappe.ValidationError):
            case.log_call_outcome("promised_to_pay", action_date=day(0))  # no date
        with self.assertRaises(frappe.ValidationError):
            case.log_call_outcome("maybe", action_date=day(0))
        for outcome in ("paid", "agreement_made", "dispute", "wrong_number"):
            case.log_call_outcome(outcome, action_date=day(1))
        case.reload()
        self.assertEqual(
            [r.outcome for r in case.timeline[-4:]], ["paid", "agreement made", "dispute", "wrong number"]
        )

    def test_inbound_reply_threads_onto_the_case(self):
        officer = "camp.officer@example.com"
        patch = _patch()
        make_officer(officer, [patch])
        (tenancy,) = _tenancies(patch, 1, email_id="tenant.reply@example.com")
        case = make_case(tenancy, officer=officer)
        # the outbound case email as the email channel makes it: a Communication on the Arrears Case,
        # queued through the host's Email Queue (which gives it the Message-ID the tenant replies to)
        outbound = frappe.get_doc(
            {
                "doctype": "Communication",
                "communication_type": "Communication",
                "communication_medium": "Email",
                "sent_or_received": "Sent",
                "subject": "Your rent account",
                "content": "Please get in touch.",
                "recipients": "tenant.reply@example.com",
                "reference_doctype": "Arrears Case",
                "reference_name": case.name,
            }
        ).insert(ignore_permissions=True)
        message_id = None
        try:
            from awm_frappe.host.loopback import ensure_outgoing_email

            ensure_outgoing_email()
            outbound.send_email()
            message_id = frappe.db.get_value("Email Queue", {"communication": outbound.name}, "message_id")
        except Exception:
            message_id = None
        if not message_id:  # no outgoing account: thread on the Communication's own Message-ID
            message_id = f"{frappe.generate_hash(length=10)}@{frappe.local.site}"
            outbound.db_set("message_id", message_id)
        raw = (
            "From: Tenant <tenant.reply@example.com>\r\n"
            "To: rents@example.org\r\n"
            "Subject: Re: Your rent account\r\n"
            f"Message-ID: <{frappe.generate_hash(length=10)}@example.com>\r\n"
            f"In-Reply-To: <{message_id}>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "I will pay on Friday.\r\n"
        )
        reply = _process_reply(raw)
        self.assertEqual((reply.reference_doctype, reply.reference_name), ("Arrears Case", case.name))
        self.assertEqual(reply.in_reply_to, outbound.name)
        self.assertEqual(reply.sent_or_received, "Received")
        self.assertTrue(
            frappe.db.exists(
                "ToDo",
                {"reference_type": "Arrears Case", "reference_name": case.name, "allocated_to": officer,
                 "status": "Open"},
            )
        )  # fmt: skip
