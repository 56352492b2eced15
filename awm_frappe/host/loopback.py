"""Test and benchmark helpers: a tiny SMS gateway on 127.0.0.1, SMS Settings pointed at it, an outgoing
Email Account (mail is only queued, never delivered, in tests and the benchmark), and bulk fixtures.
Nothing here runs in production."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import frappe
from frappe.utils import now_datetime


class _Handler(BaseHTTPRequestHandler):
    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        params = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        params.update({k: v[0] for k, v in parse_qs(body).items()})
        server = self.server
        with server.lock:
            server.requests.append(params)
        status = server.fail_next.pop(0) if server.fail_next else 200
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"OK" if status < 300 else b"ERR")

    do_GET = do_POST = _handle

    def log_message(self, *args):
        pass


class Gateway:
    def __init__(self, server, thread):
        self.server, self.thread = server, thread

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    @property
    def requests(self):
        return self.server.requests

    @property
    def count(self):
        return len(self.server.requests)

    def fail(self, *statuses):
        self.server.fail_next.extend(statuses)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def start() -> Gateway:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.requests, server.fail_next, server.lock = [], [], threading.Lock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Gateway(server, thread)


def configure_sms_settings(gateway: Gateway):
    for field, value in {
        "sms_gateway_url": gateway.url,
        "message_parameter": "text",
        "receiver_parameter": "to",
        "use_post": 0,
    }.items():
        frappe.db.set_single_value("SMS Settings", field, value)
    frappe.clear_document_cache("SMS Settings", "SMS Settings")


def ensure_outgoing_email(name: str = "AWM Loopback Outgoing") -> str:
    """A default outgoing Email Account (raw insert: no SMTP login check). Mail is only queued."""
    frappe.db.sql("update `tabEmail Account` set default_outgoing = 0")
    if not frappe.db.exists("Email Account", name):
        now = now_datetime()
        frappe.db.sql(
            """insert into `tabEmail Account` (name, creation, modified, owner, modified_by, docstatus,
            email_account_name, email_id, enable_outgoing, default_outgoing, smtp_server, smtp_port,
            service, use_tls, awaiting_password, login_id_is_different, no_smtp_authentication,
            send_unsubscribe_message, track_email_status, always_use_account_email_id_as_sender)
            values (%s, %s, %s, 'Administrator', 'Administrator', 0, %s, %s, 1, 1, '127.0.0.1', 2525,
            '', 0, 0, 0, 1, 0, 0, 1)""",
            (name, now, now, name, "arrears@example.org"),
        )
    else:
        frappe.db.set_value("Email Account", name, {"enable_outgoing": 1, "default_outgoing": 1})
    frappe.cache.delete_value("outgoing_email_account")
    frappe.local.outgoing_email_account = {}
    return name


def bench_cases(count: int, patch: str | None = None) -> list[tuple[str, str]]:
    """``count`` tenancies with mobile and email, each with an open case: (tenancy, case) pairs, bulk SQL."""
    from awm_frappe.host.writeback import bulk_insert

    patch = patch or frappe.db.get_value("Territory", {"is_group": 0}, "name")
    now = now_datetime()
    tag = frappe.generate_hash(length=6).upper()
    tenancies, cases = [], []
    pairs = []
    for i in range(count):
        ref = f"BENCH-{tag}-{i:05d}"
        case = f"BENCH-AC-{tag}-{i:05d}"
        tenancies.append([ref, now, now, "Administrator", "Administrator", 0, ref, f"Bench Tenant {i}", patch,
                          "secure", 100.0, f"+4477009{i:05d}", f"bench.{tag.lower()}.{i}@example.org", 1,
                          case])  # fmt: skip
        cases.append([case, now, now, "Administrator", "Administrator", 0, ref, f"Bench Tenant {i}", patch,
                      "automated", now.date()])  # fmt: skip
        pairs.append((ref, case))
    bulk_insert(
        "Tenancy",
        ["name", "creation", "modified", "owner", "modified_by", "docstatus", "tenancy_ref", "tenant_name",
         "patch", "tenure_type", "weekly_rent", "mobile_no", "email_id", "has_postal_address", "open_case"],
        tenancies,
    )  # fmt: skip
    bulk_insert(
        "Arrears Case",
        ["name", "creation", "modified", "owner", "modified_by", "docstatus", "tenancy", "tenant_name",
         "patch", "status", "opened_on"],
        cases,
    )  # fmt: skip
    return pairs


def bench_messages(pairs, channel: str, count: int) -> dict:
    from awm_frappe.host.outbox import enqueue_messages, make_key

    tag = frappe.generate_hash(length=6)
    rows = []
    for i in range(count):
        tenancy, case = pairs[i % len(pairs)]
        mobile = f"+4477009{int(tenancy.rsplit('-', 1)[1]):05d}"
        rows.append(
            {
                "idempotency_key": make_key(tenancy, f"bench-{tag}", channel, str(i)),
                "tenancy": tenancy,
                "arrears_case": case,
                "channel": channel,
                "template": f"letter_1:{channel}:*:en:standard",
                "action_code": "letter_1",
                "status": "queued",
                "recipient": mobile if channel == "sms" else (
                    frappe.db.get_value("Tenancy", tenancy, "email_id") if i < len(pairs) else None),
                "subject": "Your rent account" if channel == "email" else "",
                "body": f"Dear tenant, your rent account {tenancy} is £{100 + i % 50:.2f} in arrears. "
                "Please pay or call us on 020 7946 0000.",
            }
        )  # fmt: skip
    if channel == "email":
        emails = dict(frappe.db.sql(
            f"select name, email_id from `tabTenancy` where name in ({', '.join(['%s'] * len(pairs))})",
            [p[0] for p in pairs]))  # fmt: skip
        for row in rows:
            row["recipient"] = emails.get(row["tenancy"])
    return enqueue_messages(rows)
