"""The simulation report: one self-contained HTML page with PNG charts written beside it.

``write_report(results, out_dir)`` takes the JSON-able results of ``simulate.run_simulation`` (the same
dict ``awm simulate --json`` writes) and writes ``report.html`` plus five PNG charts into ``out_dir``:

- ``caseload.png``: officer cases per officer, week by week, under both policies;
- ``arrears.png``: current arrears as % of the annual rent roll, week by week;
- ``actions_by_stage.png``: actions taken over the run, by ladder stage, under both policies;
- ``officer_load.png``: average open officer cases per officer, officer by officer;
- ``risk_calibration.png``: the risk model's predicted probability against the observed rate.

The page uses inline CSS only, no scripts, fonts or remote resources; the charts are referenced by
relative file name, so the directory can be zipped, mailed or opened offline. Charts are drawn with
matplotlib's Agg backend (no display needed). Everything is computed from the results dict, so a report
can be rebuilt from a saved ``results.json``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # the Agg backend is chosen above, before pyplot loads

POLICY_STYLE = {
    "baseline": {"color": "#b2182b", "label": "Manual baseline"},
    "automation": {"color": "#2166ac", "label": "Automation (awm)"},
}
CHARTS = {
    "caseload": "caseload.png",
    "arrears": "arrears.png",
    "actions_by_stage": "actions_by_stage.png",
    "officer_load": "officer_load.png",
    "risk_calibration": "risk_calibration.png",
}
_DPI = 110


def write_report(results: dict, out_dir: str | Path) -> Path:
    """Write report.html and the charts into ``out_dir``; return the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _caseload_chart(results, out / CHARTS["caseload"])
    _arrears_chart(results, out / CHARTS["arrears"])
    _actions_chart(results, out / CHARTS["actions_by_stage"])
    _load_chart(results, out / CHARTS["officer_load"])
    _calibration_chart(results, out / CHARTS["risk_calibration"])
    path = out / "report.html"
    path.write_text(render_html(results), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------
# Headline figures (shared with the command line)


HEADLINE_ROWS: tuple[tuple[str, str, str], ...] = (
    # (label, key in policies[...]["overall"], format)
    ("Officer cases (mean per week)", "mean_officer_cases", "{:,.0f}"),
    ("Open officer cases per officer", "officer_cases_per_officer", "{:,.1f}"),
    ("Cases handled without an officer", "handled_without_officer_share", "{:.0%}"),
    ("Officer hours per week", "officer_hours_per_week", "{:,.1f}"),
    ("Arrears, % of annual rent roll (end)", "arrears_pct_end", "{:.2f}%"),
    ("Arrears, % of annual rent roll (start)", "arrears_pct_start", "{:.2f}%"),
    ("Collection rate over the run", "collection_rate", "{:.2%}"),
    ("Cases reaching NOSP", "cases_reaching_nosp", "{:,}"),
    ("Cases reaching court", "cases_reaching_court", "{:,}"),
    ("Cases resolved", "cases_resolved", "{:,}"),
    ("Median weeks to resolution", "median_weeks_to_resolution", "{:.1f}"),
    ("Messages sent", "messages_total", "{:,}"),
    ("Contacts suppressed", "suppressed_total", "{:,}"),
)


def headline_rows(results: dict) -> list[tuple[str, str, str]]:
    """(label, baseline, automation) strings for the headline table."""
    rows = []
    policies = results["policies"]
    for label, key, fmt in HEADLINE_ROWS:
        cells = []
        for policy in ("baseline", "automation"):
            value = policies[policy]["overall"].get(key)
            cells.append(_fmt(value, fmt))
        rows.append((label, *cells))
    return rows


def headline_text(results: dict) -> str:
    """The headline table as fixed-width text, with the caseload reduction underneath."""
    rows = headline_rows(results)
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'':<{width}}{'baseline':>16}{'automation':>16}", "-" * (width + 32)]
    lines += [f"{label:<{width}}{b:>16}{a:>16}" for label, b, a in rows]
    comparison = results["comparison"]
    lines.append("-" * (width + 32))
    lines.append(f"Caseload reduction: {comparison['caseload_reduction']:.1%}  (1 - automation / baseline)")
    lines.append(
        f"Arrears end: {comparison['arrears_pct_difference']:+.2f} pp · collection rate: "
        f"{comparison['collection_rate_difference'] * 100:+.2f} pp · "
        f"no worse on both: {'yes' if comparison['no_worse'] else 'NO'}"
    )
    return "\n".join(lines)


def seeds_text(summary: dict) -> str:
    """A multi-seed run (``simulate.seed_summary``) as a fixed-width table, one row per seed and a range."""
    head = (
        f"{'seed':>6}{'caseload cut':>14}{'hours cut':>11}{'arrears pp':>12}{'collection pp':>15}"
        f"{'NOSP base→auto':>17}{'court base→auto':>17}{'no worse':>10}"
    )
    lines = [head, "-" * len(head)]
    for row in summary["per_seed"]:
        lines.append(
            f"{row['seed']:>6}{_fmt(row['caseload_reduction'], '{:.1%}'):>14}"
            f"{_fmt(row['officer_hours_reduction'], '{:.1%}'):>11}"
            f"{_fmt(row['arrears_pct_difference'], '{:+.2f}'):>12}"
            f"{_fmt(_pp(row['collection_rate_difference']), '{:+.2f}'):>15}"
            f"{row['baseline_nosp']:>8,} → {row['automation_nosp']:<6,}"
            f"{row['baseline_court']:>8,} → {row['automation_court']:<6,}"
            f"{'yes' if row['no_worse'] else 'NO':>10}"
        )
    spread = summary["range"]
    cut, arrears, collection = (
        spread["caseload_reduction"],
        spread["arrears_pct_difference"],
        spread["collection_rate_difference"],
    )
    lines.append("-" * len(head))
    lines.append(
        f"caseload reduction {_fmt(cut['min'], '{:.1%}')} to {_fmt(cut['max'], '{:.1%}')} "
        f"(mean {_fmt(cut['mean'], '{:.1%}')}); arrears {_fmt(arrears['min'], '{:+.2f}')} to "
        f"{_fmt(arrears['max'], '{:+.2f}')} pp; collection {_fmt(_pp(collection['min']), '{:+.2f}')} to "
        f"{_fmt(_pp(collection['max']), '{:+.2f}')} pp"
    )
    verdict = "yes" if summary["no_worse_on_every_seed"] else "NO"
    lines.append(f"arrears and collection no worse on every seed: {verdict}")
    return "\n".join(lines)


def _pp(rate_difference):
    """A difference of two rates in percentage points (None stays None)."""
    return None if rate_difference is None else rate_difference * 100


def _fmt(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


# ---------------------------------------------------------------------------------------------------
# Charts


def _weekly(results: dict, policy: str, key: str) -> tuple[list, list]:
    weekly = results["policies"][policy]["weekly"]
    return [row["week"] for row in weekly], [row.get(key) for row in weekly]


def _new_axes(title: str, figsize=(7.5, 4.0)):
    fig, ax = plt.subplots(figsize=figsize)
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def _caseload_chart(results: dict, path: Path) -> None:
    fig, ax = _new_axes("Open officer cases per officer, week by week")
    for policy, style in POLICY_STYLE.items():
        weeks, values = _weekly(results, policy, "officer_cases_per_officer")
        ax.plot(weeks, values, color=style["color"], label=style["label"], lw=2)
    ax.set_xlabel("simulated week")
    ax.set_ylabel("cases per officer")
    ax.set_ylim(bottom=0)
    reduction = results["comparison"]["caseload_reduction"]
    ax.legend(title=f"caseload reduction {reduction:.0%}", frameon=False)
    _save(fig, path)


def _arrears_chart(results: dict, path: Path) -> None:
    fig, ax = _new_axes("Current arrears as % of the annual rent roll")
    for policy, style in POLICY_STYLE.items():
        weeks, values = _weekly(results, policy, "arrears_pct_of_rent_roll")
        ax.plot(weeks, values, color=style["color"], label=style["label"], lw=2)
    ax.set_xlabel("simulated week")
    ax.set_ylabel("% of annual rent roll")
    ax.legend(frameon=False)
    _save(fig, path)


def _actions_chart(results: dict, path: Path) -> None:
    stages = list(results.get("stages") or [])
    seen = set()
    for policy in POLICY_STYLE:
        seen.update((results["policies"][policy].get("actions_by_stage") or {}).keys())
    stages = [s for s in stages if s in seen] + sorted(seen - set(stages))
    fig, ax = _new_axes("Actions over the run, by the case's stage after the action", figsize=(8.5, 4.2))
    if not stages:
        ax.text(0.5, 0.5, "no actions", ha="center", va="center", transform=ax.transAxes)
        _save(fig, path)
        return
    width = 0.4
    xs = range(len(stages))
    for i, (policy, style) in enumerate(POLICY_STYLE.items()):
        by_stage = results["policies"][policy].get("actions_by_stage") or {}
        officer = [by_stage.get(s, {}).get("officer", 0) for s in stages]
        automated = [by_stage.get(s, {}).get("automated", 0) for s in stages]
        offset = [x + (i - 0.5) * width for x in xs]
        ax.bar(offset, officer, width, color=style["color"], label=f"{style['label']}: by an officer")
        ax.bar(
            offset,
            automated,
            width,
            bottom=officer,
            color=style["color"],
            alpha=0.35,
            label=f"{style['label']}: automated",
        )
    ax.set_xticks(list(xs))
    ax.set_xticklabels([s or "(no stage)" for s in stages], rotation=30, ha="right")
    ax.set_ylabel("actions")
    ax.legend(frameon=False, fontsize=8)
    _save(fig, path)


def _load_chart(results: dict, path: Path) -> None:
    fig, ax = _new_axes("Average open officer cases per officer, officer by officer", figsize=(8.5, 4.2))
    officers: list[str] = []
    for policy in POLICY_STYLE:
        for row in results["policies"][policy].get("officer_load") or []:
            if row["officer"] not in officers:
                officers.append(row["officer"])
    if not officers:
        ax.text(0.5, 0.5, "no officers", ha="center", va="center", transform=ax.transAxes)
        _save(fig, path)
        return
    width = 0.4
    for i, (policy, style) in enumerate(POLICY_STYLE.items()):
        load = {row["officer"]: row for row in results["policies"][policy].get("officer_load") or []}
        values = [load.get(o, {}).get("mean_cases", 0) for o in officers]
        xs = [x + (i - 0.5) * width for x in range(len(officers))]
        ax.bar(xs, values, width, color=style["color"], label=style["label"])
    ax.set_xticks(range(len(officers)))
    ax.set_xticklabels([_short(o) for o in officers], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("open cases (weekly mean)")
    ax.legend(frameon=False)
    _save(fig, path)


def _calibration_chart(results: dict, path: Path) -> None:
    calibration = results.get("risk_calibration") or {}
    fig, ax = _new_axes("Risk model calibration: predicted vs observed", figsize=(5.5, 5.0))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
    bins = calibration.get("bins") or []
    if calibration.get("available") and bins:
        xs = [b["mean_score"] for b in bins]
        ys = [b["observed_rate"] for b in bins]
        sizes = [max(12, min(300, b["n"] / 4)) for b in bins]
        ax.plot(xs, ys, color=POLICY_STYLE["automation"]["color"], lw=1.5)
        ax.scatter(xs, ys, s=sizes, color=POLICY_STYLE["automation"]["color"], label="score decile")
        brier = calibration.get("brier")
        ax.legend(
            frameon=False,
            title=(f"Brier {brier:.3f}" if brier is not None else None),
            loc="upper left",
        )
    else:
        ax.text(
            0.5,
            0.5,
            calibration.get("note") or "no risk model in this run",
            ha="center",
            va="center",
            wrap=True,
            transform=ax.transAxes,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability (mean in bin)")
    ax.set_ylabel("observed rate")
    _save(fig, path)


def _short(name: str, width: int = 18) -> str:
    name = name.split("@")[0]
    return name if len(name) <= width else name[: width - 1] + "…"


# ---------------------------------------------------------------------------------------------------
# HTML

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:60rem;
color:#222;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8rem 0}td,th{padding:.25rem .7rem;border-bottom:1px solid #eee}
th{text-align:left;background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.big{font-size:2.4rem;font-weight:700;color:#2166ac}.muted{color:#666;font-size:.9rem}
figure{margin:1rem 0}figcaption{color:#444;font-size:.9rem}img{max-width:100%;height:auto}
code{background:#f3f3f3;padding:0 .2rem}
"""


def render_html(results: dict) -> str:
    esc = html.escape
    portfolio = results.get("portfolio", {})
    comparison = results["comparison"]
    calibration = results.get("risk_calibration") or {}
    rows = "\n".join(
        f"<tr><td>{esc(label)}</td><td class=n>{esc(b)}</td><td class=n>{esc(a)}</td></tr>"
        for label, b, a in headline_rows(results)
    )
    assumptions = results.get("assumptions", {})
    assumption_rows = "\n".join(
        f"<tr><td><code>{esc(key)}</code></td><td>{esc(json.dumps(value, default=str))}</td></tr>"
        for key, value in _flatten(assumptions)
    )
    channels = sorted(
        set(results["policies"]["baseline"]["overall"].get("messages_by_channel", {}))
        | set(results["policies"]["automation"]["overall"].get("messages_by_channel", {}))
    )
    sent = {p: results["policies"][p]["overall"].get("messages_by_channel", {}) for p in POLICY_STYLE}
    channel_rows = "\n".join(
        f"<tr><td>{esc(ch)}</td>"
        + "".join(f"<td class=n>{sent[p].get(ch, 0):,}</td>" for p in POLICY_STYLE)
        + "</tr>"
        for ch in channels
    )
    figures = [
        (
            "caseload",
            "Open officer cases per officer each week. Under the manual baseline every tenancy over the "
            "arrears threshold is an officer's case; under automation only the cases the rules route to "
            "a person (legal steps, vulnerability, failed contact, agreements to set up) are.",
        ),
        (
            "arrears",
            "Current arrears (collectable, positive balances) as a percentage of the annual rent roll. "
            "Lower is better; the two policies see the same rent and the same underlying payments.",
        ),
        (
            "actions_by_stage",
            "Every action over the run, grouped by the case's ladder stage after it; dark bars "
            "were done by an officer, light bars were sent automatically.",
        ),
        (
            "officer_load",
            "Each officer's weekly mean of open officer cases (baseline cases are split evenly across "
            "officers in the patch; automation uses the engine's weighted allocation).",
        ),
        (
            "risk_calibration",
            "Risk score at the start of the run against the observed outcome during it, by score "
            "decile. " + esc(calibration.get("target_description") or calibration.get("note") or ""),
        ),
    ]
    figure_html = "\n".join(
        f'<figure><img src="{CHARTS[key]}" alt="{esc(key)} chart"><figcaption>{caption}</figcaption></figure>'
        for key, caption in figures
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>awm simulation: automation vs manual baseline</title>
<style>{_CSS}</style></head>
<body>
<h1>Automation vs the manual baseline</h1>
<p class=muted>{portfolio.get("tenancies", 0):,} synthetic tenancies · {portfolio.get("weeks", 0)} simulated
weeks from {esc(str(portfolio.get("start", "")))} · {portfolio.get("officers", 0)} officers ·
rule pack <code>{esc(str(results.get("config", {}).get("rules", "")))}</code> · seed
{esc(str(results.get("config", {}).get("seed", "")))} · annual rent roll
£{portfolio.get("annual_rent_roll", 0):,.0f}</p>
<p><span class=big>{comparison["caseload_reduction"]:.0%}</span> fewer officer cases under automation
(1 − automation ÷ baseline, weekly means), with arrears at the end
{comparison["arrears_pct_difference"]:+.2f} percentage points and the collection rate
{comparison["collection_rate_difference"] * 100:+.2f} points against the baseline
({"no worse on both" if comparison["no_worse"] else "worse on at least one"}).</p>
<h2>Headline</h2>
<table><tr><th></th><th>Manual baseline</th><th>Automation</th></tr>
{rows}
</table>
<h2>Messages by channel</h2>
<table><tr><th>channel</th><th>Manual baseline</th><th>Automation</th></tr>
{channel_rows}
</table>
<h2>Charts</h2>
{figure_html}
<h2>Assumptions</h2>
<p class=muted>Every figure above follows from these assumptions (docs/simulation.md gives their
sources). Rerun with your own: <code>awm simulate --assumptions FILE</code>.</p>
<table><tr><th>assumption</th><th>value</th></tr>
{assumption_rows}
</table>
</body></html>
"""


def _flatten(mapping: dict, prefix: str = ""):
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and all(not isinstance(v, dict) for v in value.values()):
            yield name, value
        elif isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value
