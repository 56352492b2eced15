"""Dispatch: claim outbox rows in batches, re-check the law and the switches at send time, send through the
host's channels, record, retry transient failures with back-off. Crash-safe; see docs/messaging-in-frappe.md
("Exactly once") for the argument.

Scheduler: a 5-minute cron tick enqueues ``run_dispatch_job`` on the ``short`` queue with
``job_id="awm-dispatch"`` and ``deduplicate=True`` (one dispatcher at a time per site; two would still be
safe because claims are atomic UPDATEs with a per-run token).

One pass of ``dispatch()``:
1. Reclaim rows stuck in ``sending`` past ``STALE_AFTER``: a row whose external send was never started goes
   back to ``queued``; a row whose external send (SMS) was started but has no recorded result is *unknown*:
   it goes to ``failed`` with that reason, never re-sent automatically (at most once), for an officer to
   check the gateway and re-queue.
2. Claim: ``UPDATE … SET status='sending', claimed_by=<token>, claimed_at=now WHERE status IN ('queued',
   'approved') AND due … ORDER BY creation LIMIT n``; commit; read the claimed rows by token.
3. Re-check per row with fresh data (one query per batch): deceased, do-not-contact, Breathing Space →
   suppressed; vulnerable → suppressed and routed to the officer (a call task); automation off globally /
   for the patch / for the action → held; site-wide dry run → dry_run; per-channel opt-out → suppressed;
   frequency cap (another message sent to the tenancy within the cap) → suppressed; quiet hours (sms,
   email) → back to queued with ``next_attempt_at`` = the end of the quiet window.
4. Send. Internal channels (email → Email Queue, letter → File, phone → ToDo) are transactional: the
   effect, its reference and ``sent`` commit together, every ``commit_every`` rows. SMS is external: the
   row's ``send_started_at`` is committed first, then the gateway is called, then the SMS Log, the
   Communication and ``sent`` are committed at once.
5. Failures: a transient error (gateway down, timeout) → ``queued`` again with ``attempts``+1 and
   ``next_attempt_at`` = now + ``BACKOFF_BASE`` × 2^attempts, up to ``MAX_ATTEMPTS``, then ``failed``; a
   permanent one (no address, no gateway configured, bad template) → ``held``/``failed`` at once.
Every outcome is written on the case timeline (outbox.record_outcomes).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import frappe
from frappe.utils import cint, get_datetime, get_time, getdate, now_datetime

from awm_frappe.host import channels, outbox

BATCH = 200
COMMIT_EVERY = 50
MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(minutes=5)
STALE_AFTER = timedelta(minutes=30)
MESSAGE_FIELDS = (
    "name", "tenancy", "arrears_case", "customer", "patch", "channel", "template", "action_code", "rule",
    "campaign", "awm_run", "period", "status", "reason", "recipient", "subject", "body", "attempts",
    "communication", "reference_doctype", "reference_name", "send_started_at", "control_group",
)  # fmt: skip


class InjectedCrash(RuntimeError):
    """Raised by the test hook ``crash_after`` to simulate a worker killed mid-batch."""


# ---------------------------------------------------------------------------------------------------
# Scheduler


def schedule_dispatch():
    """Cron tick: enqueue the dispatcher unless one is queued or running (job_id + deduplicate)."""
    if not frappe.db.table_exists("Arrears Message"):
        return None
    if not frappe.db.exists("Arrears Message", {"status": ("in", ("queued", "approved", "sending"))}):
        return None
    return frappe.enqueue(
        "awm_frappe.host.dispatch.run_dispatch_job",
        queue="short",
        timeout=1500,
        job_id="awm-dispatch",
        deduplicate=True,
    )


def run_dispatch_job():
    counts = dispatch()
    frappe.db.commit()
    return counts


# ---------------------------------------------------------------------------------------------------
# The dispatcher


def dispatch(
    batch_size: int = BATCH,
    max_batches: int | None = None,
    now: datetime | None = None,
    commit: bool = True,
    crash_after: int | None = None,
    settings=None,
    channels_only: tuple[str, ...] | None = None,
    print_batch: bool = True,
    names: list[str] | None = None,
) -> dict:
    """Send what is due. Returns counts by outcome. ``now`` overrides the clock (tests, quiet hours);
    ``commit=False`` keeps everything in the caller's transaction (benchmark); ``crash_after`` raises
    ``InjectedCrash`` after that many sends (tests: a worker killed half-way); ``names`` limits the pass to
    those outbox rows (tests; "send these now")."""
    settings = settings or frappe.get_cached_doc("AWM Settings")
    clock = now or now_datetime()
    do_commit = commit if callable(commit) else (frappe.db.commit if commit else (lambda: None))
    token = frappe.generate_hash(length=16)
    counts: dict[str, int] = {"reclaimed": reclaim_stale(clock)}
    do_commit()
    state = {"sent": 0, "crash_after": crash_after, "letters": 0}
    batches = 0
    while max_batches is None or batches < max_batches:
        rows = claim(token, batch_size, clock, channels_only, names)
        do_commit()
        if not rows:
            break
        batches += 1
        _process(rows, settings, clock, counts, state, do_commit)
        do_commit()
    if print_batch and state["letters"]:
        counts["print_batch"] = channels.build_print_batch(getdate(now_datetime()))
        do_commit()
    counts["batches"] = batches
    return counts


def reclaim_stale(clock: datetime, stale_after: timedelta = STALE_AFTER) -> int:
    cutoff = clock - stale_after
    unknown = frappe.db.sql(
        """select name, arrears_case, action_code, rule, channel, period from `tabArrears Message`
        where status = 'sending' and claimed_at < %s and send_started_at is not null
        and (communication is null or communication = '')""",
        cutoff,
        as_dict=True,
    )
    if unknown:
        reason = (
            "interrupted while the gateway was being called: delivery unknown, never re-sent automatically."
            " Check the gateway's log, then re-queue if it did not go."
        )
        _bulk_status([r.name for r in unknown], "failed", reason=reason)
        outbox.record_outcomes([{**r, "status": "failed", "reason": reason, "date": clock} for r in unknown])
    frappe.db.sql(
        """update `tabArrears Message` set status = 'sent', claimed_by = null
        where status = 'sending' and claimed_at < %s and communication is not null and communication != ''""",
        cutoff,
    )
    frappe.db.sql(
        """update `tabArrears Message` set status = if(approved_by is null, 'queued', 'approved'),
        claimed_by = null, claimed_at = null
        where status = 'sending' and claimed_at < %s and send_started_at is null""",
        cutoff,
    )
    return len(unknown) + cint(frappe.db._cursor.rowcount)


def claim(token: str, batch_size: int, clock: datetime, channels_only=None, names=None) -> list:
    channel_filter = ""
    params = [token, clock, clock]
    if channels_only:
        channel_filter = f" and channel in ({', '.join(['%s'] * len(channels_only))})"
        params += list(channels_only)
    if names is not None:
        channel_filter += f" and name in ({', '.join(['%s'] * len(names))})" if names else " and 1 = 0"
        params += list(names)
    frappe.db.sql(
        f"""update `tabArrears Message` set status = 'sending', claimed_by = %s, claimed_at = %s,
        send_started_at = null
        where status in ('queued', 'approved') and control_group = 0
        and (next_attempt_at is null or next_attempt_at <= %s){channel_filter}
        order by creation limit {cint(batch_size)}""",
        params,
    )
    return frappe.db.sql(
        f"""select {", ".join(MESSAGE_FIELDS)} from `tabArrears Message`
        where claimed_by = %s and status = 'sending' order by creation""",
        token,
        as_dict=True,
    )


# ---------------------------------------------------------------------------------------------------
# One batch


def _process(rows, settings, clock, counts, state, do_commit):
    ctx = _context(rows, settings, clock)
    verdicts = [(row, _check(row, ctx, settings, clock)) for row in rows]
    # terminal outcomes decided without sending: one bulk update + one timeline write
    for status in ("suppressed", "held", "dry_run", "failed"):
        picked = [(r, why) for r, (s, why) in verdicts if s == status]
        if not picked:
            continue
        for r, why in picked:
            _bulk_status([r.name], status, reason=why)
        outbox.record_outcomes([{**r, "status": status, "reason": why, "date": clock} for r, why in picked])
        counts[status] = counts.get(status, 0) + len(picked)
    routed = [r for r, (s, why) in verdicts if s == "suppressed" and why.startswith("vulnerable")]
    for r in routed:
        _route_to_officer(r, ctx)
    deferred = [(r, when) for r, (s, when) in verdicts if s == "defer"]
    for r, when in deferred:
        frappe.db.sql(
            """update `tabArrears Message` set status = if(approved_by is null, 'queued', 'approved'),
            claimed_by = null, next_attempt_at = %s, reason = 'quiet hours' where name = %s""",
            (when, r.name),
        )
    if deferred:
        counts["deferred"] = counts.get("deferred", 0) + len(deferred)
    do_commit()

    pending = 0
    for row in (r for r, (s, _w) in verdicts if s == "send"):
        if state["crash_after"] is not None and state["sent"] >= state["crash_after"]:
            raise InjectedCrash(f"injected crash after {state['sent']} sends")
        if row.communication or (row.reference_doctype and row.reference_name):
            # already delivered (a reference exists): record, never send again
            _mark_sent(row, {"communication": row.communication, "reference_doctype": row.reference_doctype,
                             "reference_name": row.reference_name}, clock)  # fmt: skip
            continue
        external = row.channel in channels.EXTERNAL
        if external:
            frappe.db.sql(
                "update `tabArrears Message` set send_started_at = %s, attempts = attempts + 1"
                " where name = %s",
                (now_datetime(), row.name),
            )
            do_commit()  # the marker is durable before the gateway is called
        savepoint = "awm_dispatch_row"
        frappe.db.savepoint(savepoint)
        try:
            result = channels.SENDERS[row.channel](row, ctx)
        except Exception as exc:
            frappe.db.rollback(save_point=savepoint)
            _failure(row, exc, clock, counts, external)
            if external:
                do_commit()
            continue
        _mark_sent(row, result, clock)
        counts["sent"] = counts.get("sent", 0) + 1
        counts[f"sent_{row.channel}"] = counts.get(f"sent_{row.channel}", 0) + 1
        state["sent"] += 1
        if row.channel == "letter":
            state["letters"] += 1
        pending += 1
        if external or pending >= COMMIT_EVERY:
            do_commit()
            pending = 0


def _mark_sent(row, result, clock):
    frappe.db.sql(
        """update `tabArrears Message` set status = 'sent', sent_at = %s, communication = %s,
        reference_doctype = %s, reference_name = %s, claimed_by = null, reason = '',
        attempts = attempts + %s where name = %s""",
        (now_datetime(), result.get("communication"), result.get("reference_doctype"),
         result.get("reference_name"), 0 if row.channel in channels.EXTERNAL else 1, row.name),
    )  # fmt: skip
    outbox.record_outcomes([{**row, "status": "sent", "reason": "", "date": _night(row, clock)}])


def _night(row, clock):
    return outbox._period_date(row.period) if row.period and row.period[:4].isdigit() else clock


def _failure(row, exc, clock, counts, external):
    attempts = cint(row.attempts) + 1  # for SMS the marker already counted it in the database
    permanent = isinstance(exc, (channels.PermanentFailure, frappe.ValidationError))
    reason = f"{type(exc).__name__}: {exc}"[:900]
    if permanent or attempts >= MAX_ATTEMPTS:
        status = "held" if isinstance(exc, channels.PermanentFailure) else "failed"
        frappe.db.sql(
            """update `tabArrears Message` set status = %s, reason = %s, attempts = %s, claimed_by = null,
            send_started_at = null where name = %s""",
            (status, reason, attempts, row.name),
        )
        outbox.record_outcomes([{**row, "status": status, "reason": reason, "date": _night(row, clock)}])
        counts[status] = counts.get(status, 0) + 1
        if not permanent:
            frappe.log_error(title=f"AWM dispatch: {row.name} failed", message=reason,
                             reference_doctype="Arrears Message", reference_name=row.name)  # fmt: skip
        return
    retry_at = clock + BACKOFF_BASE * (2 ** (attempts - 1))
    frappe.db.sql(
        """update `tabArrears Message`
        set status = if(approved_by is null, 'queued', 'approved'), reason = %s, attempts = %s,
            next_attempt_at = %s, claimed_by = null, send_started_at = null
        where name = %s""",
        (f"retry {attempts}/{MAX_ATTEMPTS} at {retry_at:%Y-%m-%d %H:%M}: {reason}", attempts, retry_at,
         row.name),
    )  # fmt: skip
    counts["retry"] = counts.get("retry", 0) + 1


def _bulk_status(names, status, reason=""):
    if not names:
        return
    frappe.db.sql(
        f"""update `tabArrears Message` set status = %s, reason = %s, claimed_by = null
        where name in ({", ".join(["%s"] * len(names))})""",
        [status, (reason or "")[:1000], *names],
    )


def _route_to_officer(row, ctx):
    """A vulnerable tenant is contacted by a person: a call task for the case officer instead."""
    try:
        channels.send_phone(frappe._dict({**row, "action_code": row.action_code}), ctx)
    except channels.PermanentFailure:
        pass


# ---------------------------------------------------------------------------------------------------
# Send-time checks


def _context(rows, settings, clock) -> dict:
    tenancies = sorted({r.tenancy for r in rows if r.tenancy})
    cases = sorted({r.arrears_case for r in rows if r.arrears_case})
    meta = frappe.get_meta("Tenancy")
    opt_fields = [
        f"opt_out_{c}" for c in ("sms", "email", "letter", "phone") if meta.has_field(f"opt_out_{c}")
    ]
    flags = {}
    if tenancies:
        for t in frappe.db.sql(
            f"""select name, patch, deceased, do_not_contact, breathing_space_until, vulnerable, mobile_no,
                email_id, has_postal_address{"".join(", " + f for f in opt_fields)}
            from `tabTenancy` where name in ({", ".join(["%s"] * len(tenancies))})""",
            tenancies,
            as_dict=True,
        ):
            flags[t.name] = t
    officers = {}
    if cases:
        officers = dict(
            frappe.db.sql(
                "select name, officer from `tabArrears Case`"
                f" where name in ({', '.join(['%s'] * len(cases))})",
                cases,
            )
        )
    last_sent = {}
    cap = cint(settings.get("frequency_cap_days"))
    if cap and tenancies:
        last_sent = dict(
            frappe.db.sql(
                f"""select tenancy, max(sent_at) from `tabArrears Message` where status = 'sent'
                and channel in ('sms', 'email', 'letter') and sent_at >= %s
                and tenancy in ({", ".join(["%s"] * len(tenancies))}) group by tenancy""",
                [clock - timedelta(days=cap), *tenancies],
            )
        )
    emails = sorted({r.recipient for r in rows if r.channel == "email" and r.recipient})
    unsubscribed = set()
    if emails:
        unsubscribed = set(
            frappe.db.sql_list(
                f"""select email from `tabEmail Unsubscribe` where global_unsubscribe = 1
                and email in ({", ".join(["%s"] * len(emails))})""",
                emails,
            )
        )
    print_formats = {}
    if any(r.channel == "letter" for r in rows):
        print_formats = dict(
            frappe.db.sql(
                """select name, print_format from `tabArrears Message Template`
                where channel = 'letter' and ifnull(print_format, '') != ''"""
            )
        )
    patches = {r.territory for r in settings.get("automated_patches") or [] if r.territory}
    codes = {r.action_type for r in settings.get("automated_action_types") or [] if r.action_type}
    return {
        "tenancies": flags,
        "officers": officers,
        "last_sent": last_sent,
        "unsubscribed": unsubscribed,
        "print_formats": print_formats,
        "patches": patches,
        "codes": codes,
        "sms_ready": channels.sms_ready() if any(r.channel == "sms" for r in rows) else "",
    }


def _check(row, ctx, settings, clock) -> tuple[str, object]:
    """('send', None) | ('suppressed'|'held'|'dry_run'|'failed', reason) | ('defer', when)."""
    t = ctx["tenancies"].get(row.tenancy)
    if t is None:
        return "failed", "tenancy not found"
    if cint(t.deceased):
        return "suppressed", "deceased"
    if cint(t.do_not_contact):
        return "suppressed", "do not contact"
    if t.breathing_space_until and getdate(t.breathing_space_until) >= getdate(clock):
        return "suppressed", f"breathing space until {t.breathing_space_until}"
    if cint(t.vulnerable) and row.channel != "phone":
        return "suppressed", "vulnerable: routed to officer"
    automated = row.channel != "phone"
    if automated and not row.campaign:
        if not cint(settings.get("automation_enabled")):
            return "held", "automation is off"
        if ctx["patches"] and (row.patch or t.patch) not in ctx["patches"]:
            return "held", f"automation is off for patch {row.patch or t.patch}"
        if ctx["codes"] and row.action_code not in ctx["codes"]:
            return "held", f"automation is off for {row.action_code}"
    if cint(settings.get("dry_run")):
        return "dry_run", "site-wide dry run: decided, not sent"
    if cint(t.get(f"opt_out_{row.channel}")):
        return "suppressed", f"opted out of {row.channel}"
    if row.channel == "email" and row.recipient in ctx["unsubscribed"]:
        return "suppressed", "opted out of email (unsubscribed)"
    if row.channel == "sms" and ctx["sms_ready"]:
        return "held", ctx["sms_ready"]
    if row.channel == "letter" and not cint(t.has_postal_address):
        return "held", "no postal address"
    last = ctx["last_sent"].get(row.tenancy)
    if last and row.channel != "phone":
        return "suppressed", f"frequency cap: contacted {get_datetime(last):%d %b %Y %H:%M}"
    if row.channel in ("sms", "email"):
        when = quiet_until(settings, clock)
        if when:
            return "defer", when
    if row.channel not in channels.SENDERS:
        return "failed", f"unknown channel {row.channel!r}"
    if row.channel in ("sms", "email") and not row.body:
        return "held", "empty message body"
    if row.channel in ("sms", "email", "letter"):
        # a second message to this tenancy in the same batch counts against the cap too
        ctx["last_sent"][row.tenancy] = clock if cint(settings.get("frequency_cap_days")) else None
    return "send", None


def quiet_until(settings, clock: datetime):
    """The end of the quiet window when ``clock`` is inside it (AWM Settings quiet hours), else None."""
    start, end = settings.get("quiet_hours_start"), settings.get("quiet_hours_end")
    if not start or not end:
        return None
    start, end, now = get_time(start), get_time(end), clock.time()
    inside = (start <= now < end) if start <= end else (now >= start or now < end)
    if not inside:
        return None
    day = clock.date() if now < end else clock.date() + timedelta(days=1)
    return datetime.combine(day, end)


# ---------------------------------------------------------------------------------------------------
# Benchmark


def benchmark(messages: int = 10000, letters: int = 20, batch_size: int = BATCH):
    """Dispatch throughput inside the site: ``messages`` outbox rows (half email, half SMS to a loopback
    gateway started here) plus ``letters`` letters, dispatched with the real channels; prints messages per
    second per channel. Everything is rolled back at the end (commits are suppressed while it runs).

        bench --site SITE execute awm_frappe.host.dispatch.benchmark --kwargs "{'messages': 10000}"
    """
    import json as _json

    from awm_frappe.host import loopback

    frappe.db.rollback()
    server = loopback.start()
    original_commit = frappe.db.commit
    frappe.db.commit = lambda *a, **k: None  # keep everything in one transaction, rolled back below
    results = {}
    try:
        loopback.configure_sms_settings(server)
        loopback.ensure_outgoing_email()
        settings = frappe.get_doc("AWM Settings")
        settings.automation_enabled = 1
        settings.dry_run = 0
        settings.frequency_cap_days = 0
        settings.quiet_hours_start = settings.quiet_hours_end = None
        settings.automated_patches = []
        settings.automated_action_types = []
        cases = loopback.bench_cases(max(1, min(1000, messages // 10)))
        for channel, count in (
            ("email", messages // 2),
            ("sms", messages - messages // 2),
            ("letter", letters),
        ):
            if not count:
                continue
            keys = loopback.bench_messages(cases, channel, count)["keys"]
            mine = frappe.db.sql_list(
                "select name from `tabArrears Message`"
                f" where idempotency_key in ({', '.join(['%s'] * len(keys))})",
                keys,
            )
            started = time.perf_counter()
            counts = dispatch(batch_size=batch_size, settings=settings, commit=False,
                              channels_only=(channel,), names=mine,
                              now=datetime.combine(getdate(), datetime.min.time()).replace(hour=12),
                              print_batch=channel == "letter")  # fmt: skip
            seconds = time.perf_counter() - started
            sent = counts.get("sent", 0)
            results[channel] = {
                "messages": count, "sent": sent, "seconds": round(seconds, 2),
                "per_second": round(sent / seconds, 1) if seconds else None,
                "other": {k: v for k, v in counts.items() if k not in ("sent", f"sent_{channel}")},
            }  # fmt: skip
        results["gateway_requests"] = server.count
        total = sum(results[c]["sent"] for c in ("email", "sms") if c in results)
        seconds = sum(results[c]["seconds"] for c in ("email", "sms") if c in results)
        results["email_and_sms_per_second"] = round(total / seconds, 1) if seconds else None
    finally:
        frappe.db.commit = original_commit
        frappe.db.rollback()
        server.stop()
    print(_json.dumps(results, indent=1, default=str))
    return results
