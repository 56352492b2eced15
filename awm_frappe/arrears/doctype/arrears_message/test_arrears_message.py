# Copyright (c) 2026, awm_frappe contributors
# For license information, please see license.txt
"""The outbox and dispatch inside a real site (issue 6, capabilities 1–5).

- a nightly run on demo data produces email (Email Queue + Communication), SMS (SMS Log + a loopback gateway
  that really receives the requests), letters (PDF on the case + a print batch on the AWM Run) and call
  tasks (ToDos), each on the case timeline; rerunning the night sends nothing new;
- a dispatcher killed half-way, then rerun, sends each message exactly once;
- property: over many random small portfolios, nothing reaches a suppressed tenancy;
- approval mode holds messages until a team leader approves them; then the rule switches to automatic;
- dry run, quiet hours, transient gateway failures with back-off.

Dispatch commits per batch in production; here ``commit`` is a savepoint (or nothing), so FrappeTestCase
still rolls everything back.
"""

from __future__ import annotations

import datetime as dt
import random

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days

from awm_frappe.host import dispatch, loopback, outbox
from awm_frappe.host.nightly import run_nightly
from awm_frappe.tests.factories import (
    day,
    ensure_setup,
    make_case,
    make_officer,
    make_rule,
    make_tenancy,
    make_weekly_ledger,
)
from awm_frappe.tests.factories import (
    make_patch as _make_patch,
)


def make_patch(label: str) -> str:
    return _make_patch(label, prefix="AWM MSG")


def set_settings(**values):
    doc = frappe.get_single("AWM Settings")
    doc.update(values)
    doc.save(ignore_permissions=True)
    frappe.clear_document_cache("AWM Settings", "AWM Settings")
    return doc


def settings_dict(**values):
    base = {
        "automation_enabled": 1, "dry_run": 0, "frequency_cap_days": 0, "quiet_hours_start": None,
        "quiet_hours_end": None, "automated_patches": [], "automated_action_types": [],
    }  # fmt: skip
    base.update(values)
    return frappe._dict(base)


NOON = dt.datetime.combine(day(0), dt.time(12, 0))


class savepoint_commits:
    """``commit`` for dispatch in tests: each 'commit' moves a savepoint; ``crash()`` loses what a killed
    worker had not committed."""

    name = "awm_test_committed"

    def __init__(self):
        frappe.db.savepoint(self.name)

    def __call__(self):
        frappe.db.savepoint(self.name)

    def crash(self):
        frappe.db.rollback(save_point=self.name)


class MessagingCase(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ensure_setup()
        cls.gateway = loopback.start()
        cls.addClassCleanup(cls.gateway.stop)
        cls.addClassCleanup(frappe.clear_document_cache, "AWM Settings", "AWM Settings")
        cls.addClassCleanup(frappe.cache.delete_value, "outgoing_email_account")

    def setUp(self):
        loopback.configure_sms_settings(self.gateway)
        loopback.ensure_outgoing_email()
        self.gateway.requests.clear()

    def direct_messages(self, channels_and_flags, patch=None):
        """Tenancies (with flags) each with a case and one queued outbox row; returns message rows."""
        patch = patch or make_patch("direct")
        officer = f"awm.msg.officer.{frappe.generate_hash(length=5)}@example.org"
        make_officer(officer, [patch])
        rows = []
        for i, (channel, flags) in enumerate(channels_and_flags):
            mobile = f"+44770{random.randint(0, 9_999_999):07d}"
            email = f"t{i}.{frappe.generate_hash(length=6)}@example.org"
            tenancy = make_tenancy(patch=patch, mobile_no=mobile, email_id=email, **flags).name
            case = make_case(tenancy=tenancy, status="automated", officer=officer).name
            rows.append(
                {
                    "idempotency_key": outbox.make_key(tenancy, "test", "letter_1", str(day(0))),
                    "tenancy": tenancy, "arrears_case": case, "patch": patch, "channel": channel,
                    "template": f"letter_1:{channel}:*:en:standard", "action_code": "letter_1",
                    "period": str(day(0)),
                    "recipient": {"sms": mobile, "email": email, "phone": mobile}.get(channel, ""),
                    "subject": "Your rent account", "body": f"Your rent account {tenancy} is in arrears.",
                }
            )  # fmt: skip
        outbox.enqueue_messages(rows)
        names = dict(
            frappe.db.sql(
                "select idempotency_key, name from `tabArrears Message` where idempotency_key in %s",
                [tuple(r["idempotency_key"] for r in rows)],
            )
        )
        for row in rows:
            row["name"] = names[row["idempotency_key"]]
        return rows


class TestTemplates(MessagingCase):
    def test_sandbox_escape_is_refused_on_save(self):
        doc = frappe.get_doc(
            {"doctype": "Arrears Message Template",
             "template_name": f"escape {frappe.generate_hash(length=5)}",
             "code": "sms", "channel": "sms", "body": "Hello {{ ''.__class__.__mro__ }}"}
        )  # fmt: skip
        with self.assertRaises(frappe.ValidationError) as caught:
            doc.insert(ignore_permissions=True)
        self.assertIn("__class__", str(caught.exception))
        doc.body = "Hi {{ tenant_nmae }}"
        with self.assertRaises(frappe.ValidationError):
            doc.insert(ignore_permissions=True)

    def test_sms_length_and_segments_are_shown(self):
        doc = frappe.get_doc(
            {"doctype": "Arrears Message Template", "template_name": f"ok {frappe.generate_hash(length=5)}",
             "code": "sms", "channel": "sms", "language": "xx",
             "body": "{{ tenant_name }}, your rent account is {{ arrears }} in arrears. "
                     "Call {{ officer_phone }}."}
        ).insert(ignore_permissions=True)  # fmt: skip
        self.assertGreater(doc.sms_length, 40)
        self.assertEqual(doc.sms_segments, 1)

    def test_site_templates_are_used(self):
        self.assertTrue(frappe.db.count("Arrears Message Template"), "install seeds the shipped templates")
        templates = outbox.site_templates()
        self.assertIn("letter_1:letter:*:en:standard", templates.templates)
        self.assertFalse(templates.errors)


class TestOutbox(MessagingCase):
    def test_second_decision_of_the_same_message_is_a_no_op(self):
        rows = self.direct_messages([("sms", {})])
        row = {k: v for k, v in rows[0].items() if k != "name"}
        again = outbox.enqueue_messages([row, dict(row)])
        self.assertEqual(again["inserted"], 0)
        self.assertEqual(again["duplicates"], 2)
        self.assertEqual(frappe.db.count("Arrears Message", {"idempotency_key": row["idempotency_key"]}), 1)

    def test_crash_half_way_then_rerun_sends_each_message_exactly_once(self):
        rows = self.direct_messages([("sms", {})] * 6 + [("email", {})] * 6)
        mine = [r["name"] for r in rows]
        commits = savepoint_commits()
        with self.assertRaises(dispatch.InjectedCrash):
            dispatch.dispatch(
                batch_size=4, now=NOON, commit=commits, crash_after=5, settings=settings_dict(), names=mine
            )
        commits.crash()  # the killed worker's uncommitted work is lost
        sent_before = frappe.db.count(
            "Arrears Message", {"name": ("in", [r["name"] for r in rows]), "status": "sent"}
        )
        self.assertGreaterEqual(sent_before, 4)
        self.assertLess(sent_before, 12)
        stuck = frappe.db.count(
            "Arrears Message", {"name": ("in", [r["name"] for r in rows]), "status": "sending"}
        )
        self.assertGreater(stuck, 0, "rows claimed by the killed worker are left in 'sending'")
        # the next run, after the stale timeout, reclaims and finishes
        counts = dispatch.dispatch(
            batch_size=4,
            now=NOON + dt.timedelta(hours=1),
            commit=commits,
            settings=settings_dict(),
            names=mine,
        )
        self.assertEqual(counts["reclaimed"], stuck)
        for row in rows:
            doc = frappe.get_doc("Arrears Message", row["name"])
            self.assertEqual(doc.status, "sent", (doc.name, doc.reason))
            self.assertEqual(
                frappe.db.count("Communication", {"reference_doctype": "Arrears Case",
                                                  "reference_name": row["arrears_case"]}), 1
            )  # fmt: skip
            if row["channel"] == "sms":
                self.assertEqual(frappe.db.count("SMS Log", {"sent_to": row["recipient"]}), 1)
            else:
                self.assertEqual(frappe.db.count("Email Queue", {"communication": doc.communication}), 1)
        self.assertEqual(self.gateway.count, 6, "the gateway received each SMS once")
        # and a third run has nothing to do
        counts = dispatch.dispatch(
            now=NOON + dt.timedelta(hours=2), commit=commits, settings=settings_dict(), names=mine
        )
        self.assertEqual(counts.get("sent", 0), 0)
        self.assertEqual(self.gateway.count, 6)

    def test_interrupted_gateway_call_is_never_resent(self):
        rows = self.direct_messages([("sms", {})])
        # a worker claimed the row and committed its send marker, then died during the HTTP call
        frappe.db.sql(
            """update `tabArrears Message` set status='sending', claimed_by='dead', claimed_at=%s,
            send_started_at=%s where name=%s""",
            (NOON, NOON, rows[0]["name"]),
        )
        dispatch.dispatch(
            now=NOON + dt.timedelta(hours=1), commit=False, settings=settings_dict(), names=[rows[0]["name"]]
        )
        doc = frappe.get_doc("Arrears Message", rows[0]["name"])
        self.assertEqual(doc.status, "failed")
        self.assertIn("delivery unknown", doc.reason)
        self.assertEqual(self.gateway.count, 0)

    def test_no_message_reaches_a_suppressed_tenancy(self):
        rng = random.Random(20261123)
        flags_pool = ["deceased", "do_not_contact", "breathing_space_until", "vulnerable", None, None]
        checked = 0
        for _trial in range(8):
            portfolio = []
            for _ in range(rng.randint(3, 6)):
                flags = {}
                for _k in range(rng.randint(0, 2)):
                    flag = rng.choice(flags_pool)
                    if flag == "breathing_space_until":
                        flags[flag] = add_days(day(0), rng.choice([-3, 0, 30]))  # past: no longer applies
                    elif flag:
                        flags[flag] = 1
                portfolio.append((rng.choice(["sms", "email", "phone"]), flags))
            rows = self.direct_messages(portfolio)
            self.gateway.requests.clear()
            dispatch.dispatch(
                now=NOON,
                commit=False,
                settings=settings_dict(),
                print_batch=False,
                names=[r["name"] for r in rows],
            )
            numbers_hit = {r.get("to") for r in self.gateway.requests}
            for row, (channel, flags) in zip(rows, portfolio, strict=True):
                bs = flags.get("breathing_space_until")
                must_not = (
                    flags.get("deceased") or flags.get("do_not_contact") or (bs and bs >= day(0))
                    or (flags.get("vulnerable") and channel != "phone")
                )  # fmt: skip
                doc = frappe.get_doc("Arrears Message", row["name"])
                if must_not:
                    checked += 1
                    self.assertEqual(doc.status, "suppressed", (flags, channel, doc.reason))
                    self.assertTrue(doc.reason)
                    self.assertFalse(
                        frappe.db.count("Communication", {"reference_name": row["arrears_case"]})
                    )
                    self.assertFalse(frappe.db.count("SMS Log", {"sent_to": row["recipient"]}))
                    self.assertFalse(frappe.db.count("Email Queue", {"reference_name": row["arrears_case"]}))
                    self.assertNotIn(row["recipient"], numbers_hit)
                    if channel == "phone" or not flags.get("vulnerable"):
                        self.assertFalse(frappe.db.count("ToDo", {"reference_name": row["arrears_case"],
                                                                  "status": "Open"}))  # fmt: skip
                    timeline = frappe.db.get_value(
                        "Arrears Case Action", {"parent": row["arrears_case"], "reference": doc.name},
                        ["message_status", "notes"], as_dict=True,
                    )  # fmt: skip
                    self.assertEqual(timeline.message_status, "suppressed")
                    self.assertEqual(timeline.notes, doc.reason)
                else:
                    self.assertEqual(doc.status, "sent", (flags, channel, doc.reason))
        self.assertGreater(checked, 5)

    def test_a_channel_opt_out_on_the_tenancy_stops_that_channel_only(self):
        rows = self.direct_messages(
            [("sms", {"opt_out_sms": 1}), ("email", {"opt_out_sms": 1}), ("email", {"opt_out_email": 1})]
        )
        self.gateway.requests.clear()
        dispatch.dispatch(
            now=NOON,
            commit=False,
            settings=settings_dict(),
            print_batch=False,
            names=[r["name"] for r in rows],
        )
        statuses = [frappe.db.get_value("Arrears Message", r["name"], ["status", "reason"]) for r in rows]
        self.assertEqual(statuses[0], ("suppressed", "opted out of sms"))
        self.assertEqual(statuses[1][0], "sent")  # opting out of SMS does not stop email
        self.assertEqual(statuses[2], ("suppressed", "opted out of email"))
        self.assertEqual(self.gateway.requests, [])
        self.assertFalse(frappe.db.count("Email Queue", {"reference_name": rows[2]["arrears_case"]}))

    def test_dry_run_quiet_hours_and_backoff(self):
        rows = self.direct_messages([("sms", {}), ("email", {})])
        dispatch.dispatch(
            now=NOON, commit=False, settings=settings_dict(dry_run=1), names=[r["name"] for r in rows]
        )
        self.assertEqual(
            {frappe.db.get_value("Arrears Message", r["name"], "status") for r in rows}, {"dry_run"}
        )
        self.assertEqual(self.gateway.count, 0)

        rows = self.direct_messages([("sms", {})])
        night = dt.datetime.combine(day(0), dt.time(22, 0))
        quiet = settings_dict(quiet_hours_start="20:00:00", quiet_hours_end="08:00:00")
        dispatch.dispatch(now=night, commit=False, settings=quiet, names=[rows[0]["name"]])
        doc = frappe.get_doc("Arrears Message", rows[0]["name"])
        self.assertEqual((doc.status, str(doc.next_attempt_at)), ("queued", f"{day(1)} 08:00:00"))
        self.gateway.fail(503)
        dispatch.dispatch(
            now=dt.datetime.combine(day(1), dt.time(9, 0)),
            commit=False,
            settings=quiet,
            names=[rows[0]["name"]],
        )
        doc.reload()
        self.assertEqual((doc.status, doc.attempts), ("queued", 1), doc.reason)
        self.assertIn("retry 1/", doc.reason)
        dispatch.dispatch(
            now=dt.datetime.combine(day(1), dt.time(9, 1)),
            commit=False,
            settings=quiet,
            names=[rows[0]["name"]],
        )
        self.assertEqual(frappe.db.get_value("Arrears Message", doc.name, "status"), "queued", "backing off")
        dispatch.dispatch(
            now=dt.datetime.combine(day(1), dt.time(10, 0)),
            commit=False,
            settings=quiet,
            names=[rows[0]["name"]],
        )
        self.assertEqual(frappe.db.get_value("Arrears Message", doc.name, "status"), "sent")
        self.assertEqual(frappe.db.count("SMS Log", {"sent_to": rows[0]["recipient"]}), 1)


class TestNightlyMessages(MessagingCase):
    def scenario(self, approval=False):
        """Four tenancies 6 weeks behind, preferring sms / email / letter / phone; one rule for them."""
        patch = make_patch("night")
        officer = f"awm.night.officer.{frappe.generate_hash(length=5)}@example.org"
        make_officer(officer, [patch])
        rule = make_rule(
            f"awm_msg_{frappe.generate_hash(length=6)}", conditions=(("arrears_after_grace", ">=", "10"),),
            action_code="letter_1", priority=1, channel="preferred", template="letter_1",
            patches=[{"territory": patch}], approval_required=int(approval),
            automatic_after_approved_runs=1 if approval else 0,
        ).name  # fmt: skip
        tenancies = {}
        for i, channel in enumerate(("sms", "email", "letter", "phone")):
            t = make_tenancy(
                patch=patch, weekly_rent=100, preferred_channel=channel, tenant_name=f"Night Tenant {i}",
                mobile_no=f"+4477001{i:05d}{random.randint(0, 9)}",
                email_id=f"night{i}.{patch[-5:]}@example.org",
            ).name  # fmt: skip
            make_weekly_ledger(t, day(-42), 7)
            tenancies[channel] = t
        set_settings(automation_enabled=1, dry_run=0, ledger_source="Rent Transaction", frequency_cap_days=0,
                     automated_patches=[], automated_action_types=[])  # fmt: skip
        return patch, officer, rule, tenancies

    def names(self, patch):
        return frappe.get_all("Arrears Message", filters={"patch": patch}, pluck="name")

    def messages(self, patch):
        return {
            m.channel: m for m in frappe.get_all("Arrears Message", filters={"patch": patch}, fields=["*"])
        }

    def test_nightly_run_sends_every_channel_through_the_host(self):
        patch, officer, rule, tenancies = self.scenario()
        run = run_nightly(day(0), patches=[patch])
        self.assertEqual(run["status"], "Completed", run.get("summary"))
        queued = self.messages(patch)
        self.assertEqual(set(queued), {"sms", "email", "letter", "phone"}, queued)
        self.assertEqual({m.status for m in queued.values()}, {"queued"})

        counts = dispatch.dispatch(now=NOON, commit=False, settings=settings_dict(), names=self.names(patch))
        self.assertEqual(
            counts.get("sent"),
            4,
            (counts, {c: (m.status, m.reason) for c, m in self.messages(patch).items()}),
        )
        sent = self.messages(patch)
        for channel, msg in sent.items():
            self.assertEqual(msg.status, "sent", (channel, msg.reason))
            row = frappe.db.get_value(
                "Arrears Case Action", {"parent": msg.arrears_case, "reference": msg.name},
                ["message_status", "outcome", "rule"], as_dict=True,
            )  # fmt: skip
            self.assertEqual((row.message_status, row.outcome, row.rule), ("sent", "sent", rule), channel)
        # email: Email Queue linked to a Communication on the case and the Customer timeline
        email = sent["email"]
        comm = frappe.get_doc("Communication", email.communication)
        self.assertEqual((comm.reference_doctype, comm.reference_name), ("Arrears Case", email.arrears_case))
        self.assertIn(
            ("Customer", email.customer),
            {(link.link_doctype, link.link_name) for link in comm.timeline_links},
        )
        self.assertTrue(frappe.db.exists("Email Queue", {"communication": comm.name}))
        self.assertIn(tenancies["email"], comm.content)
        # sms: SMS Log, a Communication (SMS) and the loopback gateway got the request
        sms = sent["sms"]
        self.assertEqual(sms.reference_doctype, "SMS Log")
        self.assertEqual(
            frappe.db.get_value("Communication", sms.communication, "communication_medium"), "SMS"
        )
        self.assertEqual([r["to"] for r in self.gateway.requests], [sms.recipient])
        self.assertIn(tenancies["sms"], self.gateway.requests[0]["text"])
        # letter: a private PDF on the case, and the day's print batch on the AWM Run
        letter = sent["letter"]
        file = frappe.get_doc("File", letter.reference_name)
        self.assertEqual((file.attached_to_doctype, file.attached_to_name, file.is_private),
                         ("Arrears Case", letter.arrears_case, 1))  # fmt: skip
        self.assertTrue(file.get_content().startswith(b"%PDF"))
        self.assertTrue(letter.print_batch)
        batch = frappe.get_doc("File", letter.print_batch)
        self.assertEqual((batch.attached_to_doctype, batch.attached_to_name), ("AWM Run", run["name"]))
        import io

        from pypdf import PdfReader

        self.assertGreaterEqual(len(PdfReader(io.BytesIO(batch.get_content())).pages), 2)  # cover + letter
        # phone: a ToDo for the case officer
        phone = sent["phone"]
        todo = frappe.get_doc("ToDo", phone.reference_name)
        self.assertEqual(
            (todo.allocated_to, todo.reference_name, todo.status), (officer, phone.arrears_case, "Open")
        )
        self.assertTrue(todo.date)

        # rerunning the same night: no new outbox rows, nothing sent
        before = frappe.db.count("Arrears Message", {"patch": patch})
        again = run_nightly(day(0), patches=[patch])
        self.assertEqual(frappe.db.count("Arrears Message", {"patch": patch}), before, again.get("summary"))
        counts = dispatch.dispatch(
            now=NOON + dt.timedelta(minutes=5),
            commit=False,
            settings=settings_dict(),
            names=self.names(patch),
        )
        self.assertEqual(counts.get("sent", 0), 0, counts)
        self.assertEqual(self.gateway.count, 1)

    def test_dry_run_night_records_and_sends_nothing(self):
        patch, _officer, _rule, _tenancies = self.scenario()
        run_nightly(day(0), patches=[patch], dry_run=1)
        self.assertEqual({m.status for m in self.messages(patch).values()}, {"dry_run"})
        counts = dispatch.dispatch(now=NOON, commit=False, settings=settings_dict(), names=self.names(patch))
        self.assertEqual(counts.get("sent", 0), 0)

    def test_approval_mode_holds_messages_until_approved(self):
        patch, _officer, rule, _tenancies = self.scenario(approval=True)
        run = run_nightly(day(0), patches=[patch])
        waiting = self.messages(patch)
        self.assertEqual({m.status for m in waiting.values()}, {"awaiting_approval"})
        counts = dispatch.dispatch(now=NOON, commit=False, settings=settings_dict(), names=self.names(patch))
        self.assertEqual(counts.get("sent", 0), 0)
        self.assertEqual(self.gateway.count, 0)
        # a team leader rejects one and approves the rest in bulk from the list view
        names = {c: m.name for c, m in waiting.items()}
        outbox.reject([names["letter"]], reason="check the address first")
        outbox.approve([names["sms"], names["email"], names["phone"]])
        counts = dispatch.dispatch(now=NOON, commit=False, settings=settings_dict(), names=self.names(patch))
        self.assertEqual(counts.get("sent"), 3, counts)
        final = self.messages(patch)
        self.assertEqual(final["letter"].status, "rejected")
        self.assertEqual(final["sms"].approved_by, "Administrator")
        self.assertEqual(self.gateway.count, 1)
        # one approved run reached the rule's threshold: switched to automatic
        self.assertEqual(
            frappe.db.get_value("Worktray Rule", rule, ["approved_runs", "approval_required"]), (1, 0)
        )
        self.assertTrue(run["name"])
