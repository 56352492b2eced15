"""`awm`: the engine from the command line, on CSV/Parquet exports or the synthetic portfolio."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from awm_frappe.engine import io, messages, rules
from awm_frappe.engine.validation import InputError


class _Progress:
    """Stage names with elapsed seconds on stderr, so long runs show they are alive."""

    def __init__(self, quiet: bool = False):
        self.started = time.perf_counter()
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)


def _load_pack(rules_arg: str) -> rules.RulePack:
    from awm_frappe.engine.packs import load_pack

    return load_pack(rules_arg)


def cmd_synth(args: argparse.Namespace) -> int:
    from awm_frappe.engine import synth

    progress = _Progress(args.quiet)
    progress(f"synthesising {args.tenancies:,} tenancies x {args.weeks} weeks (seed {args.seed})")
    portfolio = synth.synthesize(
        args.tenancies, args.weeks, args.seed, **({"end": args.end} if args.end else {})
    )
    progress(f"writing {len(portfolio.ledger):,} ledger rows to {args.out} as {args.format}")
    synth.write_portfolio(portfolio, args.out, fmt=args.format)
    progress("done")
    print(
        json.dumps(
            {
                "out": str(args.out),
                "as_of": portfolio.as_of.date().isoformat(),
                "tenancies": len(portfolio.tenancies),
                "ledger_rows": len(portfolio.ledger),
            }
        )
    )
    return 0


def _write_outputs(result, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    io.write_frame(result.decisions, out / "decisions.csv")
    io.write_frame(result.rejects, out / "rejects.csv")
    io.write_json(result.summary, out / "summary.json")


def run_once(
    data: Path,
    as_of,
    rules_arg: str,
    officers: str | None,
    out: Path,
    templates: str | None,
    model_path: str | None,
    progress,
) -> dict:
    """Load, decide, write: the nightly job on an export. Returns the summary with stage timings."""
    from awm_frappe.engine.pipeline import run_nightly

    timings = {}
    started = time.perf_counter()
    progress(f"loading {data}")
    inputs = io.read_inputs(data, officers)
    timings["load"] = time.perf_counter() - started
    progress(
        f"loaded {len(inputs.tenancies):,} tenancies, {len(inputs.ledger):,} ledger rows, "
        f"{len(inputs.rejects):,} rejected rows"
    )
    pack = _load_pack(rules_arg)
    for problem in pack.problems:
        progress(f"rule {problem.rule!r} skipped: {problem.message}")
    template_set = messages.load_templates(templates) if templates else messages.default_templates()
    for problem in getattr(template_set, "problems", []):
        progress(f"template skipped: {problem}")
    model = None
    if model_path:
        from awm_frappe.engine import model as risk_model

        model = risk_model.load_model(model_path)
    result = run_nightly(inputs, as_of, pack, template_set, model=model, progress=progress)
    timings.update(result.timings)
    started = time.perf_counter()
    progress(f"writing {out}")
    _write_outputs(result, out)
    timings["write"] = time.perf_counter() - started
    result.summary["timings_seconds"] = {k: round(v, 3) for k, v in timings.items()}
    io.write_json(result.summary, out / "summary.json")
    return result.summary


def _print_summary(summary: dict) -> None:
    print(
        f"as of {summary['as_of']} · pack {summary['pack']} · {summary['tenancies']:,} tenancies, "
        f"{summary['in_arrears']:,} in arrears after grace"
    )
    print(
        f"handled automatically: {summary['handled_automatically']:,} · for officers: "
        f"{summary['needs_officer']:,}"
    )
    for title, key in (
        ("actions", "actions"),
        ("messages to send", "messages"),
        ("suppressed", "suppressed"),
        ("blocked by guard", "blocked_by"),
        ("rejected rows", "rejected"),
    ):
        values = summary.get(key) or {}
        if values:
            print(f"{title}:")
            for name, count in sorted(values.items(), key=lambda kv: -kv[1]):
                print(f"  {name:<44} {count:>8,}")
    load = summary.get("officer_load") or []
    if load:
        print("officer load (weighted points / capacity):")
        for row in load:
            print(
                f"  {row['officer']:<36} {row['cases']:>5} cases {row['points']:>8.0f} / "
                f"{row['capacity']:<6.0f} {row['utilisation']:>6.0%}"
            )


def cmd_run(args: argparse.Namespace) -> int:
    progress = _Progress(args.quiet)
    summary = run_once(
        Path(args.data),
        pd.Timestamp(args.as_of),
        args.rules,
        args.officers,
        Path(args.out),
        args.templates,
        args.model,
        progress,
    )
    _print_summary(summary)
    return 0


def _simulation_config(args: argparse.Namespace):
    from awm_frappe.engine import simulate

    try:
        assumptions = (
            simulate.Assumptions.from_file(args.assumptions) if args.assumptions else simulate.Assumptions()
        )
    except (OSError, ValueError) as error:  # json.JSONDecodeError is a ValueError
        raise InputError(f"--assumptions {args.assumptions}: {error}") from None
    return simulate.SimulationConfig(
        tenancies=args.tenancies,
        weeks=args.weeks,
        seed=args.seed,
        rules=args.rules,
        officers=args.officers,
        use_model=not args.no_model,
        assumptions=assumptions,
    )


def _simulate_and_report(args: argparse.Namespace, report_too: bool = True) -> dict:
    """Run both policies, write results.json, weekly CSVs and (unless told not to) the HTML report."""
    from awm_frappe.engine import report, simulate

    progress = _Progress(args.quiet)
    out = Path(args.out)
    config = _simulation_config(args)
    progress(
        f"simulating {config.tenancies:,} tenancies x {config.weeks} weeks (seed {config.seed}, "
        f"pack {config.rules}): manual baseline vs automation"
    )
    result = simulate.run_simulation(config, progress=progress)
    simulate.write_results(result, out)
    if report_too:
        progress("drawing the charts and writing the report")
        report.write_report(result.results, out)
    progress("done")
    return result.results


def cmd_simulate(args: argparse.Namespace) -> int:
    from awm_frappe.engine import report

    if args.seeds:
        return _simulate_seeds(args)
    results = _simulate_and_report(args, report_too=not args.no_report)
    written = f"results.json, weekly CSVs{'' if args.no_report else ' and report.html'} in {args.out}"
    return _print_results(args, results, report.headline_text, written)


def _print_results(args: argparse.Namespace, results: dict, as_text, written: str) -> int:
    """The results as JSON (--json), or as text followed by where the files are."""
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        print(as_text(results))
        print(f"\n{written}")
    return 0


def _simulate_seeds(args: argparse.Namespace) -> int:
    """One paired simulation per seed (each in OUT/seed-S), then the seeds side by side (OUT/seeds.json)."""
    from awm_frappe.engine import report, simulate

    out = Path(args.out)
    runs = []
    for seed in args.seeds:
        runs.append(
            _simulate_and_report(
                argparse.Namespace(**{**vars(args), "seed": seed, "out": str(out / f"seed-{seed}")}),
                report_too=not args.no_report,
            )
        )
    summary = simulate.seed_summary(runs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "seeds.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return _print_results(
        args, summary, report.seeds_text, f"seeds.json in {out}; each seed's results in {out}/seed-S"
    )


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: simulate both policies on a synthetic portfolio and write the report."""
    from awm_frappe.engine import report

    results = _simulate_and_report(args)
    out = Path(args.out)
    print(report.headline_text(results))
    print(f"\nreport: {out / 'report.html'} (charts beside it); figures: {out / 'results.json'}")
    return 0


def _bench_training(args: argparse.Namespace) -> int:
    """Time `awm train` in a child process on a synthetic export, so peak memory is the training's own."""
    from awm_frappe.engine import synth

    with tempfile.TemporaryDirectory(prefix="awm-bench-train-") as tmp:
        data, artefact = Path(tmp) / "data", Path(tmp) / "model.json"
        portfolio = synth.synthesize(args.tenancies, args.weeks, args.seed)
        synth.write_portfolio(portfolio, data, fmt="parquet")
        ledger_rows = len(portfolio.ledger)
        del portfolio
        command = [sys.executable, "-m", "awm_frappe.engine.cli", "train", "--data", str(data)]
        started = time.perf_counter()
        subprocess.run([*command, "--out", str(artefact), "--quiet"], check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        metadata = json.loads(artefact.read_text()).get("metadata", {})
    figures = {
        "tenancies": args.tenancies,
        "weeks": args.weeks,
        "ledger_rows": ledger_rows,
        "train_wall_seconds": round(wall, 2),
        "train_peak_rss_mib": round(peak_mib, 1),
        "training_rows": metadata.get("training", {}).get("rows"),
    }
    print(
        f"awm train on {args.tenancies:,} tenancies x {args.weeks} weeks ({ledger_rows:,} ledger rows): "
        f"{figures['train_wall_seconds']} s wall, peak RSS {figures['train_peak_rss_mib']} MiB "
        "(loading the export included)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Time `awm run` in a child process on a synthetic export, so peak memory is the run's own."""
    from awm_frappe.engine import synth

    if args.train:
        return _bench_training(args)

    sizes = [10_000, 30_000, 100_000, 300_000] if args.scale else [args.tenancies]
    rows = []
    model_dir = tempfile.TemporaryDirectory(prefix="awm-bench-model-")
    model_args = [] if args.no_model else ["--model", _bench_model(args, Path(model_dir.name))]
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="awm-bench-") as tmp:
            data, out = Path(tmp) / "data", Path(tmp) / "out"
            started = time.perf_counter()
            portfolio = synth.synthesize(size, args.weeks, args.seed)
            synthesised = time.perf_counter() - started
            synth.write_portfolio(portfolio, data, fmt=args.format)
            ledger_rows, as_of = len(portfolio.ledger), portfolio.as_of
            del portfolio
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            command = [
                sys.executable,
                "-m",
                "awm_frappe.engine.cli",
                "run",
                "--data",
                str(data),
                "--as-of",
                as_of.date().isoformat(),
                "--out",
                str(out),
                "--rules",
                args.rules,
                "--quiet",
                *model_args,
            ]
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - started
            peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            summary = json.loads((out / "summary.json").read_text())
        rows.append(
            {
                "tenancies": size,
                "ledger_rows": ledger_rows,
                "synth_seconds": round(synthesised, 2),
                "run_wall_seconds": round(wall, 2),
                "run_peak_rss_mib": round(peak_kib / 1024, 1) if peak_kib > before else None,
                "tenancies_per_second": round(size / wall),
                "stages": summary["timings_seconds"],
            }
        )
        _print_bench_row(rows[-1])
    if len(rows) > 1:
        base = rows[0]
        print("\ngrowth of time with N (relative to the smallest run):")
        for row in rows:
            n_ratio = row["tenancies"] / base["tenancies"]
            t_ratio = row["run_wall_seconds"] / base["run_wall_seconds"]
            print(f"  N x{n_ratio:>5.1f}  time x{t_ratio:>5.1f}  (time/N ratio {t_ratio / n_ratio:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def _bench_model(args: argparse.Namespace, directory: Path) -> str:
    """Train the risk model once, on a portfolio with another seed, so the runs time the score stage."""
    from awm_frappe.engine import model as risk_model
    from awm_frappe.engine import synth

    started = time.perf_counter()
    portfolio = synth.synthesize(10_000, args.weeks, args.seed + 1)
    trained = risk_model.train(portfolio.tenancies, portfolio.ledger, portfolio.as_of, seed=args.seed)
    path = directory / "model.json"
    risk_model.save_model(trained, path)
    seconds = time.perf_counter() - started
    print(f"risk model trained on 10,000 tenancies (seed {args.seed + 1}) in {seconds:.1f} s")
    return str(path)


def _print_bench_row(row: dict) -> None:
    print(
        f"\n{row['tenancies']:,} tenancies, {row['ledger_rows']:,} ledger rows "
        f"(synthesised in {row['synth_seconds']} s)"
    )
    print(
        f"  awm run: {row['run_wall_seconds']} s wall, peak RSS {row['run_peak_rss_mib']} MiB, "
        f"{row['tenancies_per_second']:,} tenancies/s"
    )
    for stage, seconds in row["stages"].items():
        print(f"    {stage:<12} {seconds:>8.2f} s")


def cmd_train(args: argparse.Namespace) -> int:
    from awm_frappe.engine import model as risk_model

    progress = _Progress(args.quiet)
    progress(f"loading {args.data}")
    inputs = io.read_inputs(args.data)
    as_of = pd.Timestamp(args.as_of) if args.as_of else inputs.ledger["date"].max().normalize()
    progress(f"training on history up to {as_of.date()}")
    trained = risk_model.train(inputs.tenancies, inputs.ledger, as_of, seed=args.seed, progress=progress)
    risk_model.save_model(trained, args.out)
    progress(f"saved {args.out}")
    print(json.dumps(trained.metadata, indent=2, default=str))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from awm_frappe.engine import evaluation
    from awm_frappe.engine import model as risk_model

    progress = _Progress(args.quiet)
    progress(f"loading {args.data}")
    inputs = io.read_inputs(args.data)
    as_of = pd.Timestamp(args.as_of) if args.as_of else inputs.ledger["date"].max().normalize()
    trained = risk_model.load_model(args.model) if args.model else None
    progress("evaluating" + (f" {args.model}" if args.model else " (training on the earlier dates)"))
    report = evaluation.evaluate(inputs.tenancies, inputs.ledger, as_of, model=trained)
    text = json.dumps(report, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    print("\n".join(evaluation.summary_lines(report)), file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="awm", description="Rent-arrears automation engine.")
    sub = parser.add_subparsers(dest="command", required=True)

    synth_p = sub.add_parser("synth", help="write a synthetic portfolio in the documented input format")
    synth_p.add_argument("--tenancies", type=int, default=5000)
    synth_p.add_argument("--weeks", type=int, default=52)
    synth_p.add_argument("--seed", type=int, default=0)
    synth_p.add_argument("--end", help="last rent Monday (as-of date); default 2026-03-30")
    synth_p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    synth_p.add_argument("--out", required=True, type=Path)
    synth_p.set_defaults(func=cmd_synth)

    run_p = sub.add_parser("run", help="the nightly decision on exported data")
    run_p.add_argument("--data", required=True, help="directory with tenancies, ledger, ... (CSV or Parquet)")
    run_p.add_argument("--as-of", required=True, help="decision date YYYY-MM-DD")
    run_p.add_argument(
        "--rules", default="uk-ladder", help="pack name (uk-ladder, hackney-2020) or JSON file"
    )
    run_p.add_argument("--officers", help="officers file (default: officers.csv in --data)")
    run_p.add_argument("--templates", help="message templates JSON (default: the shipped templates)")
    run_p.add_argument("--model", help="risk model artefact from `awm train`")
    run_p.add_argument("--out", required=True)
    run_p.set_defaults(func=cmd_run)

    demo_p = sub.add_parser(
        "demo", help="simulate automation vs the manual baseline and write the HTML report with charts"
    )
    simulate_p = sub.add_parser(
        "simulate", help="week-by-week simulation of the manual baseline and automation (docs/simulation.md)"
    )
    for sim_p, out_default in ((demo_p, "demo-out"), (simulate_p, None)):
        sim_p.add_argument("--tenancies", type=int, default=5000)
        sim_p.add_argument("--weeks", type=int, default=26, help="simulated weeks (default 26)")
        sim_p.add_argument("--seed", type=int, default=0)
        sim_p.add_argument("--rules", default="uk-ladder", help="pack name or JSON file")
        sim_p.add_argument("--officers", type=int, help="officers (default: about one per 500 tenancies)")
        sim_p.add_argument("--assumptions", help="JSON file overriding the simulation's assumptions")
        sim_p.add_argument("--no-model", action="store_true", help="run automation without the risk model")
        if out_default:
            sim_p.add_argument("--out", default=out_default)
        else:
            sim_p.add_argument("--out", required=True)
    simulate_p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="run each seed (paired; replaces --seed) and print them side by side, with the range",
    )
    simulate_p.add_argument("--json", action="store_true", help="print the results as JSON")
    simulate_p.add_argument("--no-report", action="store_true", help="skip the HTML report and charts")
    demo_p.set_defaults(func=cmd_demo)
    simulate_p.set_defaults(func=cmd_simulate)

    bench_p = sub.add_parser("bench", help="time the nightly decision on a synthetic export")
    bench_p.add_argument("--tenancies", type=int, default=100_000)
    bench_p.add_argument("--weeks", type=int, default=52)
    bench_p.add_argument("--seed", type=int, default=0)
    bench_p.add_argument("--rules", default="uk-ladder")
    bench_p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    bench_p.add_argument("--scale", action="store_true", help="run N = 10k, 30k, 100k, 300k")
    bench_p.add_argument("--no-model", action="store_true", help="time the runs without a risk model")
    bench_p.add_argument("--train", action="store_true", help="time `awm train` instead of `awm run`")
    bench_p.add_argument("--json", help="also write the figures to this JSON file")
    bench_p.set_defaults(func=cmd_bench)

    train_p = sub.add_parser("train", help="train the risk model on a data directory's ledger history")
    train_p.add_argument("--data", required=True)
    train_p.add_argument("--as-of", help="last date of history to use (default: the ledger's last date)")
    train_p.add_argument("--seed", type=int, default=0)
    train_p.add_argument("--out", required=True, help="artefact file to write")
    train_p.set_defaults(func=cmd_train)

    evaluate_p = sub.add_parser(
        "evaluate", help="evaluate the risk model against baselines, with a fairness audit"
    )
    evaluate_p.add_argument("--data", required=True)
    evaluate_p.add_argument("--model", help="artefact from `awm train` (default: train on the earlier dates)")
    evaluate_p.add_argument("--as-of", help="last date of history to use (default: the ledger's last date)")
    evaluate_p.add_argument("--out", help="also write the JSON report to this file")
    evaluate_p.set_defaults(func=cmd_evaluate)

    for sub_parser in (synth_p, run_p, demo_p, simulate_p, bench_p, train_p, evaluate_p):
        sub_parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, rules.RuleError) as error:
        print(f"awm: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
