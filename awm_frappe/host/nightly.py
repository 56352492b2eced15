"""The nightly run: scheduler entry points, the job, chunking by patch, the AWM Run record.

Scheduling (hooks.py ``scheduler_events``): a cron every 15 minutes calls ``schedule_nightly``, which does
nothing until the site's local time has passed AWM Settings.nightly_time (default 02:00) and then enqueues
``run_nightly_job`` for today on the ``long`` queue with ``job_id=f"awm-nightly-{as_of}"`` and
``deduplicate=True``, unless an AWM Run for today already exists: queued, running, done, or Failed (a failed
night is not retried by the tick, which would otherwise make a new AWM Run and new Error Logs every 15
minutes until midnight; ``enqueue_nightly(as_of)`` or ``run_nightly(as_of)`` retries it by hand).
(``daily_long`` would run at a time the landlord cannot choose; a 15-minute tick costs one cached settings
read and one indexed lookup.)

One night at a time: ``run_nightly`` (for its whole length) and ``run_nightly_job`` (while it checks for and
creates the AWM Run) hold ``nightly_lock(as_of)``, and both refuse while a scheduled run of that as_of is
still Queued or Running, so a synchronous run and a scheduled run of the same night never overlap.

``run_nightly_job(as_of)`` creates the AWM Run (Queued) and fans out one ``run_chunk_job`` per patch (or
per ``patches_per_job`` patches) on the ``long`` queue, each deduplicated by ``awm-nightly-{as_of}-{n}``.
A chunk reads only its patches' tenancies, ledger, cases and officers — allocation is per patch because
officers are per patch — so more workers on more machines share the night. Each chunk adds its counts to
the AWM Run under a row lock; the last one sets the final status.

``run_nightly(as_of, patches=None, dry_run=None)`` runs the same synchronously in this process (tests,
demo, ``bench execute``): by default all patches in one chunk (fewest queries), or chunk by patch with
``chunk_by_patch=True``.

Failures. A tenancy the host or the engine cannot read (weekly rent 0, a broken row) is skipped with an
Error Log naming it (reference Tenancy); the run goes on. An exception in a chunk rolls that chunk back to
its savepoint, logs it, and the other chunks continue; the run ends "Completed with errors".
"""

from __future__ import annotations

import json
import time
import traceback
from contextlib import contextmanager

import frappe
import pandas as pd
from frappe.utils import add_to_date, cint, get_datetime, get_time, getdate, now_datetime, nowdate

from awm_frappe.host import frames, writeback

MAX_ERROR_LOGS = 50
JOB_TIMEOUT = 4 * 3600  # seconds, the nightly and chunk jobs' RQ timeout
LOCK_WAIT = 10  # seconds run_nightly waits for the night's lock
IN_FLIGHT = ("Queued", "Running")
COUNT_FIELDS = (
    "tenancies_scored",
    "cases_opened",
    "escalated",
    "de_escalated",
    "closed",
    "routed_to_officers",
    "messages_decided",
    "suppressed",
    "errors",
)


# ---------------------------------------------------------------------------------------------------
# Query counting


class QueryCounter:
    """Counts every statement sent through ``frappe.db.sql`` (frappe.qb, get_value, bulk_insert all
    end there) while active."""

    def __init__(self):
        self.count = 0
        self.by_kind: dict[str, int] = {}


@contextmanager
def count_queries():
    counter = QueryCounter()
    db = frappe.db
    original = db.sql

    def counted(query, *args, **kwargs):
        counter.count += 1
        word = str(query).lstrip().split(None, 1)[0].lower() if str(query).strip() else "?"
        counter.by_kind[word] = counter.by_kind.get(word, 0) + 1
        return original(query, *args, **kwargs)

    db.sql = counted
    try:
        yield counter
    finally:
        if db.__dict__.get("sql") is counted:
            del db.sql


# ---------------------------------------------------------------------------------------------------
# One night at a time


class NightlyRunInProgress(frappe.ValidationError):
    pass


@contextmanager
def nightly_lock(as_of, wait: int = 0):
    """Hold the site's lock for the night ``as_of`` (a MariaDB ``GET_LOCK`` named after the site's
    database and the date); raise NightlyRunInProgress if another connection still holds it after
    ``wait`` seconds.

    Why a database lock: Frappe 15.12 offers ``frappe.utils.synchronization.filelock`` (a file under the
    site folder: seen only by processes on the same machine, while workers may run on several) and Redis
    (``frappe.cache().lock``, from redis-py: it outlives a crashed holder until its timeout). ``GET_LOCK``
    is seen by every process that shares the site's database and is dropped by the server as soon as the
    holder's connection ends. It is not transactional: commits and rollbacks inside keep it. It is
    re-entrant on one connection, so a nested hold by the same process does not block."""
    name = f"awm-nightly-{frappe.conf.db_name}-{getdate(as_of)}"[:64]
    if not cint(frappe.db.sql("select get_lock(%s, %s)", (name, int(wait)))[0][0]):
        raise NightlyRunInProgress(
            frappe._("The nightly run for {0} is already running in another process.").format(getdate(as_of))
        )
    try:
        yield
    finally:
        frappe.db.sql("select release_lock(%s)", name)


def run_in_flight(as_of) -> str | None:
    """The scheduled AWM Run of ``as_of`` still Queued or Running (its chunk jobs may be at work), if any.
    A run older than the job timeout is taken as dead (its worker was killed) and does not block."""
    return frappe.db.get_value(
        "AWM Run",
        {
            "as_of": getdate(as_of),
            "status": ("in", IN_FLIGHT),
            "creation": (">", add_to_date(now_datetime(), seconds=-JOB_TIMEOUT)),
        },
        "name",
    )


# ---------------------------------------------------------------------------------------------------
# Scheduler entry points


def schedule_nightly():
    """Cron tick (every 15 min): enqueue tonight's run once the site's local time passes nightly_time.

    Any AWM Run of today stops it, a Failed one included: the tick does not retry a failed night (a
    person does, with ``enqueue_nightly`` or ``run_nightly``)."""
    settings = frappe.get_cached_doc("AWM Settings")
    now = now_datetime()
    if now.time() < get_time(settings.get("nightly_time") or "02:00:00"):
        return None
    as_of = getdate(nowdate())
    if frappe.db.exists(
        "AWM Run",
        {"as_of": as_of, "status": ("in", (*IN_FLIGHT, "Completed", "Completed with errors", "Failed"))},
    ):
        return None
    return enqueue_nightly(as_of)


def enqueue_nightly(as_of=None):
    as_of = getdate(as_of or nowdate())
    return frappe.enqueue(
        "awm_frappe.host.nightly.run_nightly_job",
        queue="long",
        timeout=JOB_TIMEOUT,
        job_id=f"awm-nightly-{as_of}",
        deduplicate=True,
        as_of=str(as_of),
    )


def run_nightly_job(as_of=None):
    """The scheduled job: create the AWM Run and fan out one chunk job per patch group.

    Does nothing (returns None) while a synchronous ``run_nightly`` of the same night holds the lock, and
    returns the in-flight run's name if one is already Queued or Running."""
    as_of = getdate(as_of or nowdate())
    try:
        with nightly_lock(as_of):
            running = run_in_flight(as_of)
            if running:
                return running
            settings = frappe.get_cached_doc("AWM Settings")
            chunks = patch_chunks(settings)
            run = _new_run(as_of, bool(cint(settings.get("dry_run"))), chunks, status="Queued")
            frappe.db.commit()
    except NightlyRunInProgress:
        frappe.logger("awm").info(f"AWM nightly {as_of}: skipped, a synchronous run holds the lock")
        return None
    if not chunks:
        _finish(run, errors=0)
        frappe.db.commit()
        return run
    for number, patches in enumerate(chunks):
        frappe.enqueue(
            "awm_frappe.host.nightly.run_chunk_job",
            queue="long",
            timeout=JOB_TIMEOUT,
            job_id=f"awm-nightly-{as_of}-{number}",
            deduplicate=True,
            run=run,
            patches=patches,
            enqueue_after_commit=False,
        )
    return run


def run_chunk_job(run: str, patches: list[str]):
    """One chunk of a scheduled run (a worker job). Commits its own work, then merges into the AWM Run."""
    as_of, dry_run, status = frappe.db.get_value("AWM Run", run, ["as_of", "dry_run", "status"])
    if status == "Queued":
        frappe.db.set_value("AWM Run", run, {"status": "Running", "started": now_datetime()})
        frappe.db.commit()
    settings = frappe.get_cached_doc("AWM Settings")
    with count_queries() as counter:
        outcome = process_chunk(run, getdate(as_of), patches, bool(dry_run), settings)
    outcome["queries"] = counter.count
    frappe.db.commit()
    _merge_chunk(run, outcome, final_check=True)
    frappe.db.commit()


# ---------------------------------------------------------------------------------------------------
# Synchronous run


def run_nightly(as_of=None, patches=None, dry_run=None, chunk_by_patch=False, verbose=False) -> dict:
    """Run the night in this process and return the AWM Run as a dict (tests, demo, bench execute).

    Nothing is committed here: the caller (``bench execute`` commits on success; tests roll back).
    Holds ``nightly_lock(as_of)`` throughout (waiting up to LOCK_WAIT seconds for it) and raises
    NightlyRunInProgress while a scheduled run of the same night is Queued or Running.
    """
    as_of = getdate(as_of or nowdate())
    with nightly_lock(as_of, wait=LOCK_WAIT):
        running = run_in_flight(as_of)
        if running:
            raise NightlyRunInProgress(
                frappe._("The scheduled nightly run {0} for {1} has not finished yet.").format(running, as_of)
            )
        return _run_nightly(as_of, patches, dry_run, chunk_by_patch, verbose)


def _run_nightly(as_of, patches, dry_run, chunk_by_patch, verbose) -> dict:
    settings = frappe.get_cached_doc("AWM Settings")
    dry_run = bool(cint(settings.get("dry_run"))) if dry_run is None else bool(cint(dry_run))
    if patches and isinstance(patches, str):
        patches = [p.strip() for p in patches.split(",") if p.strip()]
    chunks = patch_chunks(settings, patches) if chunk_by_patch else [list(patches or [])]
    started = time.perf_counter()
    with count_queries() as counter:
        run = _new_run(as_of, dry_run, chunks if chunk_by_patch or patches else [], status="Running")
        for _number, chunk in enumerate(chunks):
            outcome = process_chunk(run, as_of, chunk, dry_run, settings)
            _merge_chunk(run, outcome, final_check=False)
        _finish(run)
    seconds = time.perf_counter() - started
    frappe.db.set_value(
        "AWM Run",
        run,
        {"query_count": counter.count, "duration_seconds": round(seconds, 3)},
        update_modified=False,
    )
    out = frappe.get_doc("AWM Run", run).as_dict()
    out["queries_by_kind"] = counter.by_kind
    if verbose:
        print(
            json.dumps(
                {k: out.get(k) for k in ("name", "status", "duration_seconds", "query_count", *COUNT_FIELDS)},
                default=str,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------
# One chunk


def process_chunk(run: str, as_of, patches: list[str], dry_run: bool, settings) -> dict:
    """Read → decide → write back for the tenancies of ``patches`` (all when empty). Never raises: an
    exception rolls the chunk back to its savepoint and is reported in the outcome."""
    from awm_frappe.engine.pipeline import run_nightly as engine_run

    timings: dict[str, float] = {}
    savepoint = "awm_chunk"
    frappe.db.savepoint(savepoint)
    try:
        clock = time.perf_counter()
        host = frames.read_host(as_of, patches, settings)
        timings["read"] = time.perf_counter() - clock

        model, model_note = _active_model(as_of)
        clock = time.perf_counter()
        result = engine_run(
            host.inputs,
            pd.Timestamp(as_of),
            host.pack,
            message_settings=_message_settings(settings),
            model=model,
            templates=_site_templates(),
        )
        timings["engine"] = time.perf_counter() - clock
        timings.update({f"engine.{k}": v for k, v in result.timings.items()})

        clock = time.perf_counter()
        decisions = writeback.apply_switches(result.decisions, settings, host.inputs.officers, as_of)
        written = writeback.write_back(decisions, host, run, dry_run)
        timings["write"] = time.perf_counter() - clock

        clock = time.perf_counter()
        errors = _log_rejects(run, result.rejects, host)
        timings["log"] = time.perf_counter() - clock
        counts = dict(written.counts)
        counts["errors"] = errors
        return {
            "patches": patches,
            "ok": True,
            "counts": counts,
            "model_note": model_note,
            "summary": {
                "pack": result.summary.get("pack"),
                "actions": result.summary.get("actions"),
                "stage_changes": result.summary.get("stage_changes"),
                "blocked_by": result.summary.get("blocked_by"),
                "message_status": result.summary.get("message_status"),
                "suppressed": result.summary.get("suppressed"),
                "officer_load": result.summary.get("officer_load"),
                "rows": host.row_counts,
                "rule_problems": [list(p) for p in host.rule_problems],
                "timings": {k: round(v, 3) for k, v in timings.items()},
            },
        }
    except Exception as exc:
        frappe.db.rollback(save_point=savepoint)
        title = f"AWM nightly {run}: chunk {', '.join(patches) if patches else 'all patches'} failed"
        frappe.log_error(
            title=title[:140], message=traceback.format_exc(), reference_doctype="AWM Run", reference_name=run
        )
        return {
            "patches": patches,
            "ok": False,
            "counts": {"errors": 1},
            "model_note": "",
            "summary": {"error": f"{type(exc).__name__}: {exc}"},
        }


def _log_rejects(run: str, rejects: pd.DataFrame, host) -> int:
    """One Error Log per skipped tenancy (reference Tenancy) and per refused rule; returns the count."""
    entries = []
    by_tenancy: dict[str, list[str]] = {}
    for tenancy, reason in host.host_rejects:
        by_tenancy.setdefault(tenancy, []).append(reason)
    rule_problems = {name: message for name, message in host.rule_problems}
    if rejects is not None and len(rejects):
        for row in rejects.itertuples(index=False):
            if row.file == "rules":
                rule_problems.setdefault(row.column, row.reason)
            elif row.tenancy:
                by_tenancy.setdefault(str(row.tenancy), []).append(f"{row.file} row {row.row}: {row.reason}")
    for tenancy, reasons in by_tenancy.items():
        unique = list(dict.fromkeys(reasons))
        entries.append(
            (
                f"AWM nightly: tenancy {tenancy} skipped"[:140],
                "\n".join(unique[:20]) + ("\n…" if len(unique) > 20 else ""),
                "Tenancy",
                tenancy,
            )
        )
    for name, message in rule_problems.items():
        entries.append((f"AWM nightly: rule {name} skipped"[:140], message, "Worktray Rule", name))
    for title, message, doctype, name in entries[:MAX_ERROR_LOGS]:
        frappe.log_error(
            title=title, message=f"{message}\n\nAWM Run {run}", reference_doctype=doctype, reference_name=name
        )
    if len(entries) > MAX_ERROR_LOGS:
        rest = entries[MAX_ERROR_LOGS:]
        frappe.log_error(
            title=f"AWM nightly: {len(rest)} more rows skipped",
            message="\n".join(f"{doctype} {name}: {message}" for _, message, doctype, name in rest),
            reference_doctype="AWM Run",
            reference_name=run,
        )
    return len(by_tenancy) + len(rule_problems)


# ---------------------------------------------------------------------------------------------------
# Risk scoring seam (issue 3)


_MODEL_CACHE: dict = {}  # (site, Risk Model, content hash, file url) -> engine RiskModel; one entry


def _active_model(as_of=None):
    """The active Risk Model's engine model and a note for the AWM Run: (model, "RM-0001 (version …)"),
    or (None, "no active model…"). The artefact (a private File) is read once per process and content
    hash, so the chunks of a run share one load. A model that cannot be loaded is logged (Error Log,
    reference Risk Model) and the run goes on without scores."""
    try:
        row = frappe.db.get_value(
            "Risk Model",
            {"active": 1},
            ["name", "version", "artefact", "content_hash"],
            as_dict=True,
            order_by="trained_on desc",
        )
    except Exception:  # the doctype may not exist yet
        return None, "no active model"
    if not row:
        return None, "no active model"
    note = f"{row.name} (version {row.version})"
    key = (getattr(frappe.local, "site", None), row.name, row.content_hash or "", row.artefact or "")
    if key in _MODEL_CACHE:
        return _MODEL_CACHE[key], note
    try:
        model = load_artefact(row)
    except Exception as exc:
        frappe.log_error(
            title=f"AWM: Risk Model {row.name} could not be loaded"[:140],
            message=traceback.format_exc(),
            reference_doctype="Risk Model",
            reference_name=row.name,
        )
        return None, f"no active model: {row.name} could not be loaded: {exc}"[:1000]
    _MODEL_CACHE.clear()
    _MODEL_CACHE[key] = model
    return model, note


def load_artefact(row):
    """The engine model in a Risk Model record's artefact (``row``: name, artefact, content_hash), checked
    against the record's content hash; raises ``engine.model.ModelError`` when it cannot be used."""
    from awm_frappe.engine import model as risk_model

    if not row.artefact:
        raise risk_model.ModelError("it has no artefact")
    file_name = frappe.db.get_value(
        "File",
        {"file_url": row.artefact, "attached_to_doctype": "Risk Model", "attached_to_name": row.name},
        "name",
    ) or frappe.db.get_value("File", {"file_url": row.artefact}, "name")
    if not file_name:
        raise risk_model.ModelError(f"no File {row.artefact}")
    model = risk_model.load_model(frappe.get_doc("File", file_name).get_full_path())
    loaded_hash = (model.metadata or {}).get("content_hash")
    if row.content_hash and loaded_hash != row.content_hash:
        raise risk_model.ModelError(
            f"the artefact's content hash {loaded_hash} is not the record's {row.content_hash}"
        )
    return model


def _site_templates():
    """The site's Arrears Message Templates as an engine TemplateSet (shipped defaults when none)."""
    from awm_frappe.host.outbox import site_templates

    return site_templates()


def _message_settings(settings):
    from datetime import time as dtime

    from awm_frappe.engine import messages

    def as_time(value, default):
        if not value:
            return default
        t = get_time(value)
        return dtime(t.hour, t.minute)

    kwargs = {"frequency_cap_days": cint(settings.get("frequency_cap_days") or 0)}
    start, end = settings.get("quiet_hours_start"), settings.get("quiet_hours_end")
    if start and end:
        kwargs["quiet_hours"] = (as_time(start, dtime(20, 0)), as_time(end, dtime(8, 0)))
    try:
        return messages.MessageSettings(**kwargs)
    except TypeError:
        return messages.MessageSettings()


# ---------------------------------------------------------------------------------------------------
# Chunks and the AWM Run record


def patch_chunks(settings, patches=None) -> list[list[str]]:
    """Patches with tenancies, grouped ``patches_per_job`` at a time (0 = one job per patch)."""
    if patches:
        names = sorted(set(patches))
    else:
        names = frappe.db.sql_list(
            "select distinct patch from `tabTenancy` where patch is not null order by patch"
        )
    size = cint(settings.get("patches_per_job")) or 1
    return [names[i : i + size] for i in range(0, len(names), size)]


def _new_run(as_of, dry_run: bool, chunks, status: str) -> str:
    doc = frappe.new_doc("AWM Run")
    doc.update(
        {
            "as_of": as_of,
            "status": status,
            "dry_run": int(dry_run),
            "started": now_datetime(),
            "jobs": max(1, len(chunks)),
            "patches": ", ".join(p for chunk in chunks for p in chunk) if chunks else "all",
            "summary": json.dumps({"chunks": []}),
        }
    )
    doc.flags.ignore_permissions = True
    doc.insert(ignore_permissions=True)
    return doc.name


def _merge_chunk(run: str, outcome: dict, final_check: bool) -> None:
    """Add a chunk's counts to the AWM Run under a row lock (chunks may finish concurrently)."""
    row = frappe.db.sql(
        f"select summary, model_note, query_count, jobs, {', '.join(COUNT_FIELDS)}"
        " from `tabAWM Run` where name = %s for update",
        run,
        as_dict=True,
    )[0]
    summary = json.loads(row.summary or "{}") or {}
    summary.setdefault("chunks", []).append(
        {
            "patches": outcome["patches"],
            "ok": outcome["ok"],
            "counts": outcome["counts"],
            "queries": outcome.get("queries"),
            **outcome["summary"],
        }
    )
    totals = summary.setdefault("totals", {})
    for key, value in outcome["counts"].items():
        totals[key] = totals.get(key, 0) + int(value or 0)
    values = {name: cint(row.get(name)) + cint(outcome["counts"].get(name)) for name in COUNT_FIELDS}
    values["summary"] = json.dumps(summary, indent=1, default=str)
    values["model_note"] = outcome.get("model_note") or row.model_note or "no active model"
    if outcome.get("queries"):
        values["query_count"] = cint(row.query_count) + cint(outcome["queries"])
    frappe.db.set_value("AWM Run", run, values, update_modified=False)
    if final_check and len(summary["chunks"]) >= cint(row.jobs):
        _finish(run)


def _finish(run: str, errors=None):
    row = frappe.db.get_value("AWM Run", run, ["started", "summary", "errors", "model_note"], as_dict=True)
    summary = json.loads(row.summary or "{}") or {}
    chunks = summary.get("chunks", [])
    failed = [c for c in chunks if not c.get("ok")]
    if chunks and len(failed) == len(chunks):
        status = "Failed"
    elif failed or cint(row.errors):
        status = "Completed with errors"
    else:
        status = "Completed"
    finished = now_datetime()
    values = {
        "status": status,
        "finished": finished,
        "duration_seconds": round((finished - get_datetime(row.started)).total_seconds(), 3)
        if row.started
        else 0,
        "model_note": row.model_note or "no active model",
    }
    frappe.db.set_value("AWM Run", run, values, update_modified=False)
    return values
