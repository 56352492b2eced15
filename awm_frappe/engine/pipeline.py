"""The nightly decision: features → facts → score → rules → messages → allocation → one row per tenancy.

The host (Frappe) and the `awm` command both call ``run_nightly``; it takes validated inputs and an
explicit as_of date and returns decisions, rejects and a summary. It never writes anywhere itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from awm_frappe.engine import allocation, facts, messages, rules
from awm_frappe.engine.schema import DECISION_COLUMNS, OFFICERS
from awm_frappe.engine.validation import Inputs, empty_rejects, make_rejects

Progress = Callable[[str], None]


@dataclass
class NightlyResult:
    decisions: pd.DataFrame
    rejects: pd.DataFrame
    summary: dict
    load: pd.DataFrame
    case_frame: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


class _Stopwatch:
    def __init__(self, progress: Progress | None):
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str):
        if self.progress:
            self.progress(name)
        started = time.perf_counter()
        yield
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started


def rule_rejects(pack: rules.RulePack) -> pd.DataFrame:
    if not pack.problems:
        return empty_rejects()
    names = [problem.rule for problem in pack.problems]
    return make_rejects(
        "rules", np.arange(len(names)), [""] * len(names), names, [p.message for p in pack.problems]
    ).assign(column=names)


def run_nightly(
    inputs: Inputs,
    as_of,
    pack: rules.RulePack,
    templates: messages.TemplateSet | None = None,
    message_settings: messages.MessageSettings | None = None,
    model=None,
    render: bool = True,
    progress: Progress | None = None,
) -> NightlyResult:
    as_of = pd.Timestamp(as_of).normalize()
    clock = _Stopwatch(progress)
    rejects = [inputs.rejects, rule_rejects(pack)]

    case_frame = facts.build_case_frame(
        inputs.tenancies,
        inputs.ledger,
        inputs.cases,
        inputs.actions,
        as_of,
        settings=pack.settings,
        action_codes=rules.action_codes(pack),
        stage=clock.stage,
    )
    if model is not None:
        with clock.stage("score"):
            scores = model.score(case_frame, ledger=inputs.ledger, as_of=as_of)
            case_frame[["risk_score", "risk_band", "risk_reasons"]] = scores[
                ["risk_score", "risk_band", "risk_reasons"]
            ]
    with clock.stage("rules"):
        verdicts = rules.evaluate(case_frame, pack, as_of)
    with clock.stage("messages"):
        to_message = verdicts["action_type"].eq("send_message")
        message_frame = case_frame.loc[to_message].join(
            verdicts.loc[to_message, ["action", "channel", "template"]]
        )
        message_frame = _with_officer_contact(message_frame, inputs.officers)
        decided = messages.decide_messages(
            message_frame, templates or messages.default_templates(), as_of, message_settings, render=render
        )
        rejects.append(_failed_message_rejects(decided))
    with clock.stage("allocation"):
        decisions = _assemble(case_frame, verdicts, decided, pack, as_of)
        officers = inputs.officers if inputs.officers is not None else _no_officers()
        allocated = allocation.allocate(
            decisions[
                ["patch", "needs_officer", "officer", "stage_to", "skill", "risk_score", "priority"]
            ].rename(columns={"stage_to": "stage"}),
            officers,
            as_of,
        )
        decisions["officer"] = allocated.assignments["officer"].where(
            decisions["needs_officer"], decisions["officer"]
        )
    all_rejects = (
        pd.concat([r for r in rejects if len(r)], ignore_index=True)
        if any(map(len, rejects))
        else (empty_rejects())
    )
    output = decisions.reset_index()[[name for name, _ in DECISION_COLUMNS]]
    summary = summarise(output, all_rejects, allocated.load, as_of, pack)
    return NightlyResult(output, all_rejects, summary, allocated.load, case_frame, clock.timings)


def _with_officer_contact(frame: pd.DataFrame, officers: pd.DataFrame | None) -> pd.DataFrame:
    """Messages are signed by the case's current officer; new cases are signed by the team."""
    if officers is None or not len(officers) or "officer" not in frame:
        return frame
    contact = officers.set_index("officer").reindex(columns=["name", "phone"]).fillna("")
    contact = contact.rename(columns={"name": "officer_name", "phone": "officer_phone"})
    return frame.join(contact, on="officer")


def _no_officers() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in OFFICERS.names})


def _failed_message_rejects(decided: pd.DataFrame) -> pd.DataFrame:
    failed = decided.index[decided["message_status"].eq("failed")]
    if not len(failed):
        return empty_rejects()
    reasons = decided.loc[failed, "suppression_reason"].tolist()
    return make_rejects("templates", np.arange(len(failed)), failed.to_numpy(), "template", reasons).assign(
        row=""
    )


def _assemble(
    case_frame: pd.DataFrame,
    verdicts: pd.DataFrame,
    decided: pd.DataFrame,
    pack: rules.RulePack,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    out = pd.DataFrame(index=case_frame.index)
    out["as_of"] = as_of
    for name in (
        "patch",
        "balance",
        "collectable_arrears",
        "arrears_after_grace",
        "weeks_owed",
        "risk_score",
    ):
        out[name] = case_frame[name]
    out["risk_band"] = case_frame["risk_band"].fillna("") if "risk_band" in case_frame else ""
    out["risk_reasons"] = case_frame["risk_reasons"].fillna("") if "risk_reasons" in case_frame else ""
    for name in ("action", "action_type", "rule", "reason", "blocked_by", "skill"):
        out[name] = verdicts[name].fillna("")
    has_case = case_frame["has_case"].astype(bool)
    out["stage_from"] = case_frame["stage"].fillna("").where(has_case, "")
    acted = out["action"].ne("none")
    # The rules engine already keeps the current stage when a rule sets none; a close leaves no stage.
    out["stage_to"] = verdicts["stage_to"].fillna("").where(has_case | acted, "")
    out["stage_change"] = rules.classify_stage_change(out["stage_from"], out["stage_to"], pack.stages)
    opened = acted & ~has_case & out["action_type"].ne("close")
    out.loc[opened, "stage_change"] = "open"
    closed = acted & out["action_type"].eq("close") & has_case
    out.loc[closed, "stage_change"] = "close"
    out["needs_officer"] = verdicts["needs_officer"].astype(bool)
    out["officer"] = case_frame["officer"].fillna("").where(has_case, "")
    out["priority"] = _priority(case_frame, verdicts)

    out["channel"] = ""
    out["template"] = ""
    out["message_status"] = "none"
    out["suppression_reason"] = ""
    if len(decided):
        for name in ("channel", "template", "message_status", "suppression_reason"):
            out.loc[decided.index, name] = decided[name].fillna("")
        routed = decided.index[decided["needs_officer"].astype(bool)]
        out.loc[routed, "needs_officer"] = True
    out["status_to"] = _status_to(case_frame, verdicts, out)
    return out


def _priority(case_frame: pd.DataFrame, verdicts: pd.DataFrame) -> pd.Series:
    """Higher first: weeks owed dominate, the risk score breaks ties, a rule may set it outright."""
    weeks = case_frame["weeks_owed"].clip(lower=0, upper=52).fillna(0)
    risk = case_frame["risk_score"].astype(float).fillna(0) if "risk_score" in case_frame else 0.0
    computed = (weeks * 10 + risk * 50).round(1)
    return verdicts["priority"].astype(float).fillna(computed)


def _status_to(case_frame: pd.DataFrame, verdicts: pd.DataFrame, out: pd.DataFrame) -> pd.Series:
    current = case_frame["status"].fillna("").where(case_frame["has_case"].astype(bool), "")
    by_action = pd.Series("", index=out.index, dtype=object)
    by_action[out["action_type"].eq("send_message")] = "automated"
    by_action[out["action_type"].eq("pause")] = "paused"
    by_action[out["action_type"].eq("flag_legal")] = "legal"
    by_action[out["needs_officer"]] = "worktray"
    by_action[out["action_type"].eq("close")] = "closed"
    explicit = verdicts["status_to"].fillna("")
    status = explicit.where(explicit.ne(""), by_action)
    return status.where(status.ne(""), current)


def summarise(
    decisions: pd.DataFrame, rejects: pd.DataFrame, load: pd.DataFrame, as_of: pd.Timestamp, pack
) -> dict:
    def counts(series: pd.Series) -> dict:
        return {str(k): int(v) for k, v in series.value_counts().sort_index().items()}

    acted = decisions[decisions["action"].ne("none")]
    messages_decided = decisions[decisions["message_status"].ne("none")]
    return {
        "as_of": as_of.date().isoformat(),
        "pack": pack.name,
        "tenancies": len(decisions),
        "in_arrears": int((decisions["arrears_after_grace"] > 0).sum()),
        "actions": counts(acted["action"]),
        "by_stage": counts(decisions.loc[decisions["stage_to"].ne(""), "stage_to"]),
        "stage_changes": counts(decisions.loc[decisions["stage_change"].ne("none"), "stage_change"]),
        "blocked_by": counts(decisions.loc[decisions["blocked_by"].ne(""), "blocked_by"]),
        "needs_officer": int(decisions["needs_officer"].sum()),
        "handled_automatically": int((decisions["action"].ne("none") & ~decisions["needs_officer"]).sum()),
        "by_officer": counts(
            decisions.loc[decisions["officer"].ne("") & decisions["needs_officer"], "officer"]
        ),
        "messages": counts(messages_decided.loc[messages_decided["message_status"].eq("send"), "channel"]),
        "message_status": counts(messages_decided["message_status"]),
        "suppressed": counts(
            messages_decided.loc[messages_decided["message_status"].eq("suppressed"), "suppression_reason"]
        ),
        "rejected": counts(rejects["file"]) if len(rejects) else {},
        "officer_load": load.to_dict(orient="records") if len(load) else [],
    }
