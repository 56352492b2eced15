"""Train the arrears risk model on the site's own history, weekly, and keep it as a private File.

Scheduling (hooks.py ``scheduler_events["weekly_long"]``): ``schedule_training`` enqueues
``train_site_model`` for today on the ``long`` queue with ``job_id=f"awm-train-{as_of}"`` and
``deduplicate=True``, so a second tick on the same day (or a manual call) does not queue a second job.

``train_site_model(as_of=None, activate=True, patches=None)``:

1. reads the tenancies and the rent ledger up to ``as_of`` with the set-based reader
   (``frames.load_inputs``: a handful of queries whatever the number of tenancies);
2. checks there is enough history (``plan_training``): the ledger's *history start* is the first rent
   week in which at least half as many tenancies were charged as in the busiest week (a few old imported
   rows do not count as history); a scoring date D is usable when it has ``MIN_LOOKBACK_WEEKS`` of ledger
   behind it (the 13-week payment features mean something) and D + 8 weeks (the target horizon) is on or
   before as_of; the engine's 26-week window is shortened to the usable span, and at least
   ``MIN_SCORING_DATES`` dates are required (so a site needs about 31 weeks of ledger);
3. trains ``engine.model.train`` and checks the rows hold at least ``MIN_OUTCOMES`` tenancies-dates of
   each outcome;
4. writes the artefact (``engine.model.save_model``: JSON, no pickle) as a **private** File attached to a
   new **Risk Model** (version, training window, feature list, metrics, content hash), and makes it the
   active model when ``activate`` (the Risk Model controller deactivates the others).

When the history is too short, or holds too few outcomes of either kind, nothing is trained or
activated: a Risk Model with status "Insufficient history" and a note saying what is missing is
recorded instead, and the nightly run goes on scoring with the model already active, or without one
("no active model" on the AWM Run). An unexpected failure is written to Error Log and recorded as a
Risk Model with status "Failed"; it never raises out of the job (the record must survive the job).

Nothing is committed here: the RQ job commits on success; ``bench execute`` commits; tests roll back.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import traceback

import frappe
import pandas as pd
from frappe.utils import getdate, now_datetime, nowdate

HORIZON_WEEKS = 8
STEP_WEEKS = 2
MAX_HISTORY_WEEKS = 26
MIN_LOOKBACK_WEEKS = 13
MIN_SCORING_DATES = 6
MIN_OUTCOMES = 20
MIN_TENANCIES = 20


# ---------------------------------------------------------------------------------------------------
# Scheduler entry point


def schedule_training(as_of=None):
    """Weekly tick: enqueue today's training on the long queue, once (job_id + deduplicate)."""
    as_of = getdate(as_of or nowdate())
    return frappe.enqueue(
        "awm_frappe.host.training.train_site_model",
        queue="long",
        timeout=4 * 3600,
        job_id=f"awm-train-{as_of}",
        deduplicate=True,
        as_of=str(as_of),
    )


# ---------------------------------------------------------------------------------------------------
# History check


def history_start(ledger: pd.DataFrame):
    """The Monday of the first rent week in which at least half as many tenancies were charged rent as in
    the busiest week; None when the ledger has no rent charges."""
    if ledger is None or ledger.empty:
        return None
    rent = ledger[ledger["kind"].eq("rent") & (pd.to_numeric(ledger["amount"], errors="coerce") > 0)]
    if rent.empty:
        return None
    dates = pd.to_datetime(rent["date"]).dt.normalize()
    week = dates - pd.to_timedelta(dates.dt.weekday, unit="D")
    counts = rent.groupby(week.to_numpy())["tenancy"].nunique()
    return pd.Timestamp(counts.index[counts >= 0.5 * counts.max()].min())


def plan_training(tenancies: pd.DataFrame, ledger: pd.DataFrame, as_of) -> dict:
    """Whether the site's history is enough to train on, and the training window if so.

    Returns ``{"ok", "reason", "history_start", "history_weeks", "scoring_dates", "tenancies",
    "ledger_rows"}``."""
    as_of = pd.Timestamp(getdate(as_of)).normalize()
    start = history_start(ledger)
    plan = {
        "ok": False,
        "reason": "",
        "as_of": str(as_of.date()),
        "history_start": str(start.date()) if start is not None else None,
        "history_weeks": 0,
        "scoring_dates": 0,
        "tenancies": len(tenancies),
        "ledger_rows": len(ledger),
    }
    needed = MIN_LOOKBACK_WEEKS + STEP_WEEKS * (MIN_SCORING_DATES - 1) + HORIZON_WEEKS
    if len(tenancies) < MIN_TENANCIES:
        plan["reason"] = (
            f"{len(tenancies)} tenancies with usable data; at least {MIN_TENANCIES} are needed to train"
        )
        return plan
    if start is None:
        plan["reason"] = f"the rent ledger has no rent charges up to {as_of.date()}"
        return plan
    last = as_of - pd.Timedelta(weeks=HORIZON_WEEKS)
    earliest = start + pd.Timedelta(weeks=MIN_LOOKBACK_WEEKS)
    span = (last - earliest).days // 7
    if span >= 0:
        plan["history_weeks"] = min(MAX_HISTORY_WEEKS, (span // STEP_WEEKS) * STEP_WEEKS)
        plan["scoring_dates"] = plan["history_weeks"] // STEP_WEEKS + 1
    if plan["scoring_dates"] < MIN_SCORING_DATES:
        have = max(0, (as_of - start).days // 7 + 1)
        plan["reason"] = (
            f"the rent ledger covers {have} weeks (rent weeks from {start.date()} to {as_of.date()}), "
            "which gives "
            f"{plan['scoring_dates']} usable scoring dates; at least {MIN_SCORING_DATES} are needed, that is "
            f"about {needed} weeks of ledger ({MIN_LOOKBACK_WEEKS} weeks of payment history before the first "
            f"date, {HORIZON_WEEKS} weeks of outcomes after the last)"
        )
        return plan
    plan["ok"] = True
    return plan


# ---------------------------------------------------------------------------------------------------
# Training job


def train_site_model(as_of=None, activate=True, patches=None, **options) -> dict:
    """Train on the site's ledger to ``as_of`` (default today) and record a Risk Model.

    ``patches`` limits the training data to some patches (tests, trials); ``options`` go to
    ``engine.model.train`` (seed, max_rows, ...). Returns a summary dict with the Risk Model's name.
    """
    from awm_frappe.engine.model import ModelError, train
    from awm_frappe.host import frames

    as_of = getdate(as_of or nowdate())
    activate = bool(frappe.utils.cint(activate)) if isinstance(activate, str | int) else bool(activate)
    if patches and isinstance(patches, str):
        patches = [p.strip() for p in patches.split(",") if p.strip()]
    started = time.perf_counter()
    logger = frappe.logger("awm_frappe.training")
    try:
        inputs = frames.load_inputs(as_of, patches)
        plan = plan_training(inputs.tenancies, inputs.ledger, as_of)
        if not plan["ok"]:
            return _record_unusable(as_of, "Insufficient history", plan["reason"], plan)
        model = train(
            inputs.tenancies,
            inputs.ledger,
            pd.Timestamp(as_of),
            horizon_weeks=HORIZON_WEEKS,
            step_weeks=STEP_WEEKS,
            history_weeks=plan["history_weeks"],
            progress=lambda message: logger.info(message),
            **options,
        )
    except ModelError as error:
        return _record_unusable(as_of, "Insufficient history", str(error), locals().get("plan") or {})
    except Exception as error:
        frappe.log_error(title=f"AWM: risk model training for {as_of} failed", message=traceback.format_exc())
        return _record_unusable(
            as_of, "Failed", f"training failed: {type(error).__name__}: {error}", locals().get("plan") or {}
        )

    metrics = model.metadata.get("metrics") or {}
    positives = sum(int((metrics.get(part) or {}).get("positives") or 0) for part in ("fit", "holdout"))
    rows = sum(int((metrics.get(part) or {}).get("rows") or 0) for part in ("fit", "holdout"))
    if min(positives, rows - positives) < MIN_OUTCOMES:
        reason = (
            f"the {rows:,} training rows hold {positives:,} where arrears reached 2 weeks' rent and "
            f"{rows - positives:,} where they did not; at least {MIN_OUTCOMES} of each are needed"
        )
        return _record_unusable(as_of, "Insufficient history", reason, plan)
    doc = _record_model(model, as_of, activate, plan, seconds=time.perf_counter() - started)
    return {
        "risk_model": doc.name,
        "status": doc.status,
        "active": int(doc.active),
        "version": doc.version,
        "artefact": doc.artefact,
        "content_hash": doc.content_hash,
        "seconds": round(time.perf_counter() - started, 2),
        "plan": plan,
    }


def _record_model(model, as_of, activate: bool, plan: dict, seconds: float):
    from awm_frappe.arrears.doctype.risk_model.risk_model import fill_from_metadata, model_version_label
    from awm_frappe.engine.model import save_model

    handle, path = tempfile.mkstemp(prefix="awm-risk-model-", suffix=".json")
    os.close(handle)
    try:
        metadata = save_model(model, path)
        with open(path, "rb") as file:
            content = file.read()
    finally:
        os.unlink(path)

    doc = frappe.new_doc("Risk Model")
    doc.status = "Trained"
    doc.trained_on = now_datetime()
    doc.version = model_version_label(metadata)
    fill_from_metadata(doc, metadata)
    doc.notes = (
        f"Trained on the site's ledger to {as_of}: {plan.get('tenancies', 0):,} tenancies, "
        f"{plan.get('ledger_rows', 0):,} ledger rows from {plan.get('history_start')}, "
        f"{plan.get('scoring_dates')} scoring dates, in {seconds:.1f} s."
    )
    doc.insert(ignore_permissions=True)

    file = frappe.get_doc(
        {
            "doctype": "File",
            "file_name": f"{doc.name}-{doc.version}.json",
            "attached_to_doctype": "Risk Model",
            "attached_to_name": doc.name,
            "attached_to_field": "artefact",
            "is_private": 1,
            "content": content,
        }
    )
    file.insert(ignore_permissions=True)
    doc.artefact = file.file_url
    doc.active = 1 if activate else 0
    doc.save(ignore_permissions=True)  # validate re-reads the stored artefact; on_update deactivates others
    return doc


def _record_unusable(as_of, status: str, reason: str, plan: dict) -> dict:
    """A Risk Model that says why no model was trained (never active)."""
    doc = frappe.new_doc("Risk Model")
    doc.update(
        {
            "status": status,
            "active": 0,
            "trained_on": now_datetime(),
            "version": f"not trained ({as_of})",
            "window_end": as_of,
            "notes": f"No model was trained on {as_of}: {reason}. The nightly run keeps the active model, "
            "if any, and otherwise runs without risk scores.",
            "metrics": json.dumps({"plan": plan}, indent=1, default=str) if plan else None,
        }
    )
    doc.insert(ignore_permissions=True)
    return {"risk_model": doc.name, "status": status, "active": 0, "reason": reason, "plan": plan}
