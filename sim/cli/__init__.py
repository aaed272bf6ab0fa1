"""The ``brainsim`` command line. Each subcommand parses, calls one library function, writes."""

import argparse
import signal
import sys

from sim.engine.errors import BrainsimError, ParameterError

EXAMPLES = {
    "simulate": "example: brainsim simulate model/brain_circulation.mdl "
    "--set 'scholarship coverage=0.2' --out base.csv",
    "check": "example: brainsim check model/brain_circulation.mdl",
    "history": "example: brainsim history --series researchers_dispatched_midlong "
    "--years 2000 2018 2019",
    "document": "example: brainsim document model/brain_circulation.mdl --readme model/README.md",
    "calibrate": "example: brainsim calibrate --out model/calibration --update-model",
    "run": "example: brainsim run scenarios/expanded-scholarships.yaml --out results/scholarships",
    "compare": "example: brainsim compare scenarios/*.yaml --out results/all",
    "schema": "example: brainsim schema > scenario.schema.json",
    "sweep": "example: brainsim sweep scenarios/baseline.yaml --method morris -n 20 "
    "--params 'scholarship coverage target' 'employment support target' --out results/morris",
    "target": "example: brainsim target scenarios/expanded-scholarships.yaml --lever "
    "'scholarship coverage' --goal 'japanese students abroad per year@2033>=500000' "
    "--probability 0.8",
}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit status 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}; see {self.prog} --help\n")
        sys.exit(2)


def _parse_set(items: list) -> dict:
    values = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--set '{item}' is not NAME=VALUE; write e.g. --set 'tau=4'")
        try:
            values[name.strip()] = float(text)
        except ValueError:
            raise ParameterError(
                f"--set '{item}': value '{text}' is not a number; give a number"
            ) from None
    return values


def _check(args) -> int:
    from sim.engine.check import check_model, format_problems
    from sim.engine.vensim import read_mdl

    problems = check_model(read_mdl(args.model))
    sys.stdout.write(format_problems(problems) + "\n")
    return 2 if problems else 0


def _document(args) -> int:
    from pathlib import Path

    from sim.engine.files import atomic_path
    from sim.engine.vensim import read_mdl
    from sim.reports.diagram import save_diagram
    from sim.reports.docs import update_readme

    spec = read_mdl(args.model)
    readme = Path(args.readme)
    if not readme.is_file():
        raise BrainsimError(f"{readme}: no such file; write the README with its markers first")
    diagram = Path(args.diagram)
    link = diagram.with_suffix(".png").name
    try:
        current = readme.read_text(encoding="utf-8")
        updated = update_readme(current, spec, link)
    except ValueError as err:
        raise BrainsimError(f"{readme}: {err}") from None
    if args.check:
        stale = updated != current or not diagram.with_suffix(".png").is_file()
        if stale:
            sys.stderr.write(
                f"brainsim: error: {readme} is out of date with {args.model}; "
                "run brainsim document\n"
            )
        return 2 if stale else 0
    save_diagram(spec, diagram)
    with atomic_path(readme) as tmp:
        tmp.write_text(updated, encoding="utf-8")
    return 0


def _history(args) -> None:
    from sim import load_model
    from sim.studies.history import compare_history, history_table, load_history

    model = load_model(args.model)
    rows = load_history(args.history, [el.name for el in model.spec.elements])
    if args.series:
        rows = tuple(o for o in rows if o.series in args.series)
    if args.years:
        rows = tuple(o for o in rows if o.year in args.years)
    sys.stdout.write(history_table(compare_history(model, rows)) + "\n")


def _calibrate(args) -> None:
    from sim.reports.calibration import run_calibration

    summary = run_calibration(
        args.model,
        args.history,
        args.out,
        ensemble_path=args.ensemble,
        starts=args.starts,
        samples=args.samples,
        seed=args.seed,
        update_model=args.update_model,
    )
    sys.stdout.write(summary)


def _compare(args) -> None:
    from pathlib import Path

    from sim import load_model
    from sim.reports.results import write_results
    from sim.studies.history import load_history
    from sim.studies.runner import output_timing, rule_for, run_scenarios
    from sim.studies.scenario import load_scenario

    model = load_model(args.model)
    scenarios = [load_scenario(path, model) for path in args.scenarios]
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise BrainsimError(
            f"a scenario is named twice in {', '.join(args.scenarios)}; give each once"
        )
    history = load_history(args.history, [el.name for el in model.spec.elements])
    timing = output_timing(model, history)
    outputs = list(
        dict.fromkeys(
            [n for n in timing if n in _target_outputs()]
            + [_name(model, o) for o in args.outputs or []]
        )
    )
    for name in outputs:
        timing.setdefault(name, rule_for(model, name))
    root = Path(args.model).resolve().parent.parent
    results = run_scenarios(scenarios, model, timing, root)
    rows = write_results(args.out, results, model, outputs, ["brainsim", *sys.argv[1:]])
    sys.stdout.write(_target_lines(rows))


def _target_outputs() -> set:
    from sim.studies.targets import OUTPUT_TIMING

    return set(OUTPUT_TIMING)


def _name(model, name: str) -> str:
    from sim.engine.simulate import find_element

    return find_element(model, name).name


def _target_lines(rows: list) -> str:
    lines = [
        "| scenario | target | year | median | 5–95% | probability | year met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fmt = (lambda v: f"{v:,.0f}") if abs(r["goal"]) >= 100 else (lambda v: f"{v:.2f}")
        sign = "≥" if r["sense"] == "at_least" else "≤"
        lines.append(
            f"| {r['scenario']} | {r['target']} {sign} {fmt(r['goal'])} | {r['year']} | "
            f"{fmt(r['p50'])} | {fmt(r['p05'])}–{fmt(r['p95'])} | {r['probability']:.0%} | "
            f"{r['median_year_met']} |"
        )
    return "\n".join(lines) + "\n"


def _progress(label: str):
    if not sys.stderr.isatty():
        return None

    def show(done, total):
        sys.stderr.write(f"\r{label}: {min(done, total)}/{total} chunks of runs")
        sys.stderr.flush()

    return show


def _sweep(args) -> None:
    import time

    from sim import load_model
    from sim.reports.sweepout import write_sweep
    from sim.studies.runner import rule_for
    from sim.studies.scenario import load_scenario
    from sim.studies.sweep import check_n, factors_for, run_sweep
    from sim.studies.targets import OUTPUT_TIMING

    check_n(args.method, args.n)
    model = load_model(args.model)
    scenario = load_scenario(args.scenario, model)
    factors = factors_for(scenario, model, args.params)
    timing = dict(OUTPUT_TIMING)
    for name in args.outputs or []:
        timing.setdefault(_name(model, name), rule_for(model, _name(model, name)))
    start = time.perf_counter()
    sweep = run_sweep(
        scenario,
        model,
        timing,
        args.method,
        args.n,
        args.seed,
        factors,
        second_order=args.second_order,
        progress=_progress("sweep"),
    )
    elapsed = time.perf_counter() - start
    text = write_sweep(args.out, sweep, scenario, model, ["brainsim", *sys.argv[1:]], elapsed)
    sys.stdout.write(text)


def _target(args) -> None:
    from pathlib import Path

    from sim import load_model
    from sim.studies.goal import parse_goal, seek
    from sim.studies.scenario import load_scenario

    if not 0 < args.probability <= 1:
        raise BrainsimError(f"--probability {args.probability:g} is outside (0, 1]; give e.g. 0.8")
    model = load_model(args.model)
    scenario = load_scenario(args.scenario, model)
    goal = parse_goal(args.goal, model)
    root = Path(args.model).resolve().parent.parent
    answer = seek(
        scenario, model, root, args.lever, goal, args.probability, tolerance=args.tolerance
    )
    if args.out:
        from sim.reports.sweepout import write_target

        write_target(args.out, answer, scenario, model, ["brainsim", *sys.argv[1:]])
    sys.stdout.write(answer.sentence() + "\n")


def _brief(args) -> int:
    from pathlib import Path

    from sim.reports.briefing import run_brief, stale

    root = Path(args.root).resolve()
    headline = Path(args.headline) if args.headline else root / "docs" / "headline"
    if args.check:
        changed = stale(root, headline)
        if changed:
            sys.stderr.write(
                f"brainsim: error: the headline figures in {headline} are stale against "
                f"{', '.join(changed)}; run brainsim brief --headline {headline}\n"
            )
            return 2
        sys.stdout.write(f"{headline}: up to date\n")
        return 0
    langs = ("en", "ja") if args.lang == "both" else (args.lang,)
    step = {"n": 0}

    def progress(text):
        step["n"] += 1
        sys.stderr.write(f"brief [{step['n']}]: {text}\n")
        sys.stderr.flush()

    text = run_brief(
        root, Path(args.out), langs, Path(args.headline) if args.headline else None, progress
    )
    sys.stdout.write(text)
    return 0


def _schema(args) -> None:
    import json

    from sim.studies.scenario import schema

    sys.stdout.write(json.dumps(schema(), indent=2, ensure_ascii=False) + "\n")


def _simulate(args) -> None:
    from sim import load_model
    from sim.engine.simulate import integrate
    from sim.reports.results import write_run_csv

    model = load_model(args.model)
    write_run_csv(integrate(model, _parse_set(args.set), method=args.method), args.out)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser for every subcommand."""
    from sim.engine.simulate import METHODS

    parser = _Parser(
        prog="brainsim",
        description="System-dynamics simulator of Japan's international brain circulation.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser(
        "simulate",
        help="run any supported Vensim .mdl and write one CSV",
        description="Run a Vensim .mdl once and write a CSV with a time column and one "
        "column per variable, named as in the .mdl, one row per SAVEPER.",
        epilog=EXAMPLES["simulate"],
    )
    p.add_argument("model", help="the Vensim .mdl file")
    p.add_argument(
        "--method",
        default="euler",
        choices=METHODS,
        help="integration method (default: euler, as Vensim and PySD)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="set a constant for this run (repeatable)",
    )
    p.add_argument("--out", required=True, help="the CSV file to write")
    p.set_defaults(func=_simulate)

    p = sub.add_parser(
        "check",
        help="check units, ranges and sources of a model",
        description="Check that every equation is dimensionally consistent (stock units = "
        "flow units x time), and that every constant and lookup has a [min,max] range and a "
        "source. Prints the problems; exit status 2 if there are any.",
        epilog=EXAMPLES["check"],
    )
    p.add_argument(
        "model",
        nargs="?",
        default="model/brain_circulation.mdl",
        help="the Vensim .mdl file (default: model/brain_circulation.mdl)",
    )
    p.set_defaults(func=_check)

    p = sub.add_parser(
        "document",
        help="regenerate the model README's constants table and stock-and-flow diagram",
        description="Rewrite the parts of the model README between its markers (the table "
        "of constants with units, ranges and sources, and the diagram link) and draw the "
        "stock-and-flow diagram, all from the .mdl.",
        epilog=EXAMPLES["document"],
    )
    p.add_argument("model", nargs="?", default="model/brain_circulation.mdl")
    p.add_argument("--readme", default="model/README.md", help="the README to update")
    p.add_argument(
        "--diagram",
        default="model/stock_flow_diagram",
        help="where to write the diagram (.svg and .png are added)",
    )
    p.add_argument(
        "--check", action="store_true", help="change nothing; exit 2 if the README is out of date"
    )
    p.set_defaults(func=_document)

    p = sub.add_parser(
        "history",
        help="compare the default run with model/history.csv",
        description="Print a markdown table: each observation in history.csv beside the "
        "model's value measured the same way (1 May stocks, fiscal-year means of flows).",
        epilog=EXAMPLES["history"],
    )
    p.add_argument("model", nargs="?", default="model/brain_circulation.mdl")
    p.add_argument("--history", default="model/history.csv")
    p.add_argument("--series", nargs="*", help="only these series")
    p.add_argument("--years", nargs="*", type=int, help="only these years")
    p.set_defaults(func=_history)

    p = sub.add_parser(
        "calibrate",
        help="fit the calibrated parameters to history and build the ensemble",
        description="Fit every constant marked 'calibrated:' to history.csv (weighted least "
        "squares within the .mdl ranges, several starts), write the fitted values, the fit "
        "report (MAPE, R², Theil statistics per series, CSV and markdown), a figure per "
        "series and the baseline's projection bands to OUT, and the constrained ensemble "
        "(Latin hypercube prior, sets within the threshold kept) to --ensemble.",
        epilog=EXAMPLES["calibrate"],
    )
    p.add_argument("model", nargs="?", default="model/brain_circulation.mdl")
    p.add_argument("--history", default="model/history.csv")
    p.add_argument("--out", required=True, help="folder for the report (replaced whole)")
    p.add_argument(
        "--ensemble",
        default="model/ensemble.csv",
        help="where to write the ensemble (default: model/ensemble.csv, read by scenario runs)",
    )
    p.add_argument("--starts", type=int, default=3, help="least-squares starts (default 3)")
    p.add_argument(
        "--samples", type=int, default=50_000, help="prior ensemble size (default 50,000)"
    )
    p.add_argument("--seed", type=int, default=20261127, help="seed of the prior sample")
    p.add_argument(
        "--update-model",
        action="store_true",
        help="write the fitted values into the .mdl as its defaults",
    )
    p.set_defaults(func=_calibrate)

    for command, many in (("run", False), ("compare", True)):
        p = sub.add_parser(
            command,
            help="run a scenario over its uncertainty and judge it against the targets"
            if not many
            else "run several scenarios side by side",
            description="Run the scenario file(s) over the calibrated ensemble (or the "
            "file's uncertainty) and write results.nc, summary.csv, quantiles.csv, "
            "targets.csv/.md and manifest.json to OUT (replaced whole, or left as it was if "
            "the run fails). Prints the target table.",
            epilog=EXAMPLES[command],
        )
        if many:
            p.add_argument("scenarios", nargs="+", help="scenario YAML files")
        else:
            p.add_argument("scenarios", nargs=1, metavar="scenario", help="a scenario YAML file")
        p.add_argument("--out", required=True, help="the folder to write")
        p.add_argument("--model", default="model/brain_circulation.mdl")
        p.add_argument("--history", default="model/history.csv")
        p.add_argument(
            "--outputs",
            nargs="*",
            help="more variables to keep run by run in results.nc (the target outputs always are)",
        )
        p.set_defaults(func=_compare)

    p = sub.add_parser(
        "sweep",
        help="sensitivity sweep: LHS bands, Morris, Sobol or one-at-a-time swings",
        description="Sweep the parameters of a scenario (its distributions, --params with "
        "their .mdl ranges, or every ranged constant) and compute, for each target output "
        "in every year from 2024, LHS rank correlations and bands, Morris mu*/sigma, Sobol "
        "S1/ST with bootstrap intervals, or one-at-a-time swings. Writes sweep.nc (design, "
        "outputs and indices), indices.csv and summary.md to OUT.",
        epilog=EXAMPLES["sweep"],
    )
    p.add_argument("scenario", help="a scenario YAML file")
    p.add_argument("--method", default="sobol", help="lhs, morris, sobol or oat")
    p.add_argument(
        "-n",
        type=int,
        default=64,
        help="sample size (sobol: a power of two; morris: trajectories)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--params", nargs="*", help="constants to sweep over their .mdl ranges")
    p.add_argument("--outputs", nargs="*", help="more variables to analyse")
    p.add_argument(
        "--second-order",
        action="store_true",
        help="sobol: second-order design and S2 indices in the target year",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="model/brain_circulation.mdl")
    p.set_defaults(func=_sweep)

    p = sub.add_parser(
        "target",
        help="the smallest lever level that meets a goal with a given probability",
        description="Search the lever's .mdl range for the smallest level at which the goal "
        "holds in at least the given share of the scenario's runs (its ensemble), or say "
        "that the range cannot reach it; with --out, write the probability curve.",
        epilog=EXAMPLES["target"],
    )
    p.add_argument("scenario", help="a scenario YAML file")
    p.add_argument(
        "--lever", required=True, help="a lever (e.g. 'scholarship coverage') or constant"
    )
    p.add_argument("--goal", required=True, help="VARIABLE@YEAR>=VALUE or VARIABLE@YEAR<=VALUE")
    p.add_argument("--probability", type=float, default=0.8, help="in (0, 1]; default 0.8")
    p.add_argument("--tolerance", type=float, help="of the level (default: range / 1000)")
    p.add_argument("--out", help="folder for the curve (curve.csv, answer.md)")
    p.add_argument("--model", default="model/brain_circulation.mdl")
    p.set_defaults(func=_target)

    p = sub.add_parser(
        "brief",
        help="the briefing: every figure in Japanese and English, and the PDF packs",
        description="Run the shipped model and scenarios and draw the briefing figures "
        "(PNG 300 dpi and SVG) in Japanese and/or English, the PDF briefing pack per "
        "language and figures/manifest.json. --check only says whether the committed "
        "headline figures are stale against the model, scenarios or ensemble.",
        epilog="example: brainsim brief --lang both --out figures",
    )
    p.add_argument("--lang", choices=("ja", "en", "both"), default="both")
    p.add_argument("--out", default="figures")
    p.add_argument("--headline", help="also copy the headline figures here (docs/headline)")
    p.add_argument("--check", action="store_true", help="exit 2 if docs/headline is stale")
    p.add_argument("--root", default=".", help="the project folder (default: here)")
    p.set_defaults(func=_brief)

    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of scenario files",
        description="Print the JSON Schema of scenario files, for editors.",
        epilog=EXAMPLES["schema"],
    )
    p.set_defaults(func=_schema)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    # a terminated run cleans up as an interrupted one does: no partial files
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        status = args.func(args)
    except BrainsimError as err:
        sys.stderr.write(f"brainsim: error: {err}\n")
        return 2
    except OSError as err:  # an unreadable input or unwritable output path
        sys.stderr.write(f"brainsim: error: {err.strerror or err}: {err.filename or ''}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("brainsim: interrupted; no output was written\n")
        return 130
    return status or 0
