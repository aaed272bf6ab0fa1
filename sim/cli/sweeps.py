"""``brainsim sweep``, ``target`` and ``costs``: sensitivity, goals, and what yen buy."""

import sys

from sim.cli.common import (
    MODEL,
    add_cluster,
    add_model,
    add_out,
    command,
    progress,
    project_file,
    wrote,
)
from sim.engine.errors import BrainsimError

# a sweep whose runs' yearly outputs would take more memory than this is streamed to disk
STREAM_ABOVE = 2**30

EXAMPLES = {
    "sweep": "example: brainsim sweep scenarios/baseline.yaml --method morris -n 20 "
    "--params 'scholarship coverage target' 'employment support target' --out results/morris",
    "target": "example: brainsim target scenarios/baseline.yaml --budget 'jsps overseas "
    "fellowship' --goal 'researchers dispatched per year@2033>=7694'; or --lever "
    "'scholarship coverage' --goal 'japanese students abroad per year@2033>=500000' "
    "--probability 0.8",
    "costs": "example: brainsim costs scenarios/baseline.yaml --change 10 --out results/costs",
}


def register(sub) -> None:
    """Add the sweep commands to the subcommand parsers ``sub``."""
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
    p.add_argument(
        "--method",
        default="sobol",
        choices=("lhs", "morris", "sobol", "oat"),
        help="lhs, morris, sobol or oat (default: sobol)",
    )
    p.add_argument(
        "-n",
        type=int,
        help="sample size (sobol: a power of two, default 64; morris: trajectories, default "
        "64; lhs: runs, default 64; oat takes none: it runs each parameter low and high)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the design (default: 0)")
    p.add_argument(
        "--params",
        nargs="*",
        help="levers (as in a scenario's policies) or constants to sweep over their .mdl "
        "ranges (default: the scenario's distributions, else every ranged constant)",
    )
    p.add_argument("--outputs", nargs="*", help="more variables to analyse (any spelling)")
    p.add_argument(
        "--second-order",
        action="store_true",
        help="sobol: second-order design and S2 indices in the target year",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="write the runs to sweep.nc chunk by chunk and compute the indices from it, so "
        "that memory does not grow with -n (default: only when the runs' yearly outputs "
        "would take over 1 GB)",
    )
    add_out(p)
    add_model(p)
    add_cluster(p)
    p.set_defaults(func=sweep)

    _register_target(sub)
    _register_costs(sub)


def _register_target(sub) -> None:
    p = sub.add_parser(
        "target",
        help="the smallest lever level that meets a goal with a given probability",
        description="Search the lever's .mdl range for the smallest level at which the goal "
        "holds in at least the given share of the scenario's runs (its ensemble), or say "
        "that the range cannot reach it; with --out, write the probability curve.",
        epilog=EXAMPLES["target"],
    )
    p.add_argument("scenario", help="a scenario YAML file")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--lever", help="a lever (e.g. 'scholarship coverage') or constant")
    which.add_argument(
        "--budget",
        metavar="PROGRAMME",
        help="a programme's budget, searched in 億円 a year (brainsim names lists them)",
    )
    which.add_argument(
        "--portfolio",
        nargs="+",
        metavar="PROGRAMME",
        help="share --total 億円 a year among these programmes to make the goals most likely "
        "(mean probability over the --goal options)",
    )
    p.add_argument("--total", type=float, help="with --portfolio: 億円 a year to share out")
    p.add_argument(
        "--goal",
        required=True,
        action="append",
        help="VARIABLE@YEAR>=VALUE or VARIABLE@YEAR<=VALUE (repeatable with --portfolio)",
    )
    p.add_argument("--seed", type=int, default=0, help="with --portfolio: search seed (0)")
    p.add_argument("--probability", type=float, default=0.8, help="in (0, 1]; default 0.8")
    p.add_argument(
        "--tolerance", type=float, help="of the level, above 0 (default: the range / 1000)"
    )
    add_out(p, required=False, what="folder for the curve (curve.csv, answer.md)")
    add_model(p)
    add_cluster(p)
    p.set_defaults(func=target)


def _register_costs(sub) -> None:
    p = sub.add_parser(
        "costs",
        help="public yen a year per additional outcome of each programme's budget",
        description="For each programme with a budget lever, run the scenario with that "
        "budget raised by --change 億円 a year (from --from over --ramp-years) against the "
        "scenario itself, over the same runs, and report the extra cost to 2033 and the "
        "public yen a year per additional unit of the programme's outcome in 2033 (median, "
        "5-95%), with the effect size it rests on and its evidence grade.",
        epilog=EXAMPLES["costs"],
    )
    p.add_argument("scenario", help="the scenario to add each budget to (e.g. the baseline)")
    p.add_argument("--change", type=float, default=10.0, help="億円 a year added (default 10)")
    p.add_argument("--from", dest="start", type=float, default=2026, help="default 2026")
    p.add_argument("--ramp-years", type=float, default=2, help="default 2")
    add_out(p, required=False, what="folder for costs.csv and costs.md")
    add_model(p)
    p.set_defaults(func=costs)


def costs(args) -> None:
    """Run each programme's budget against the scenario; print and write the table."""
    from pathlib import Path

    from sim.engine import load_model
    from sim.engine.files import check_out
    from sim.reports.results import costs_markdown, write_costs
    from sim.studies.costs import programme_effectiveness
    from sim.studies.scenario import load_scenario

    if not args.change > 0:
        raise BrainsimError(f"--change {args.change:g} must be above 0 億円; give e.g. 10")
    if args.out is not None:
        check_out(args.out, force=args.force)
    args.model = project_file(args.model, MODEL, [args.scenario])
    model = load_model(args.model)
    scenario = load_scenario(args.scenario, model)
    root = Path(args.model).resolve().parent.parent
    rows = programme_effectiveness(
        scenario,
        model,
        root,
        args.change,
        args.start,
        args.ramp_years,
        progress=progress("costs"),
    )
    text = costs_markdown(rows, scenario, model)
    if args.out is not None:
        write_costs(args.out, rows, text, force=args.force)
    sys.stdout.write(text)
    if args.out is not None:
        wrote(args.out)


def sweep(args) -> None:
    """Run the sweep, write its files, print its summary."""
    import time

    from sim.engine import load_model
    from sim.engine.files import check_out
    from sim.studies.runner import kept_outputs, output_timing
    from sim.studies.scenario import load_scenario
    from sim.studies.sweep import check_n, factors_for, run_sweep

    if args.method == "oat" and args.n is not None:
        raise BrainsimError("-n does not apply to --method oat (one low and one high run each)")
    if args.second_order and args.method != "sobol":
        raise BrainsimError(f"--second-order applies to sobol only, not {args.method}")
    n = 1 if args.method == "oat" else 64 if args.n is None else args.n
    check_n(args.method, n)
    check_out(args.out, force=args.force)
    args.model = project_file(args.model, MODEL, [args.scenario])
    model = load_model(args.model)
    scenario = load_scenario(args.scenario, model)
    factors = factors_for(scenario, model, args.params)
    timing, _ = kept_outputs(model, output_timing(model), args.outputs or [])
    from sim.engine.cluster import connect
    from sim.engine.files import atomic_dir
    from sim.reports.sweepout import write_sweep_files
    from sim.studies.sweep import design_runs, held_bytes

    runs = design_runs(args.method, len(factors), n, args.second_order)
    stream = args.stream or held_bytes(runs, len(timing), model) > STREAM_ABOVE
    start = time.perf_counter()
    with atomic_dir(args.out, force=args.force) as tmp:
        with connect(args.cluster) as cluster:
            result = run_sweep(
                scenario,
                model,
                timing,
                args.method,
                n,
                args.seed,
                factors,
                second_order=args.second_order,
                progress=progress("sweep"),
                workers=cluster,
                store=tmp / "sweep.nc" if stream else None,
            )
        elapsed = time.perf_counter() - start
        text = write_sweep_files(tmp, result, scenario, model, command(), elapsed)
    sys.stdout.write(text)
    wrote(args.out)


def target(args) -> None:
    """Find the lever level that meets the goal; print the answer, write the curve."""
    from pathlib import Path

    from sim.engine import load_model
    from sim.engine.files import check_out
    from sim.studies.goal import budget_constant, parse_goal, seek
    from sim.studies.scenario import load_scenario

    if args.tolerance is not None and not args.tolerance > 0:
        raise BrainsimError(f"--tolerance {args.tolerance:g} must be above 0; give e.g. 0.001")
    if not 0 < args.probability <= 1:
        raise BrainsimError(f"--probability {args.probability:g} is outside (0, 1]; give e.g. 0.8")
    if args.out is not None:
        check_out(args.out, force=args.force)
    if args.portfolio is None and len(args.goal) > 1:
        raise BrainsimError("--goal is given more than once; only --portfolio takes several")
    if (args.portfolio is None) != (args.total is None):
        raise BrainsimError("--total goes with --portfolio (and --portfolio needs --total)")
    args.model = project_file(args.model, MODEL, [args.scenario])
    model = load_model(args.model)
    scenario = load_scenario(args.scenario, model)
    root = Path(args.model).resolve().parent.parent
    if args.portfolio is not None:
        _portfolio(args, scenario, model, root)
        return
    goal = parse_goal(args.goal[0], model)
    lever = args.lever if args.budget is None else budget_constant(model, scenario, args.budget)
    from sim.engine.cluster import connect

    with connect(args.cluster) as cluster:
        answer = seek(
            scenario,
            model,
            root,
            lever,
            goal,
            args.probability,
            tolerance=args.tolerance,
            progress=progress("target", "steps of the search"),
            workers=cluster,
        )
    if args.out is not None:
        from sim.reports.sweepout import write_target

        write_target(args.out, answer, scenario, model, command(), force=args.force)
    sys.stdout.write(answer.sentence() + "\n")
    if args.out is not None:
        wrote(args.out)


def _portfolio(args, scenario, model, root) -> None:
    """Share --total among the --portfolio programmes; print and write the allocation."""
    from sim.engine.cluster import connect
    from sim.studies.goal import parse_goal
    from sim.studies.portfolio import allocate, describe

    goals = [parse_goal(g, model) for g in args.goal]
    with connect(args.cluster) as cluster:
        found = allocate(
            scenario,
            model,
            root,
            args.portfolio,
            args.total,
            goals,
            seed=args.seed,
            progress=progress("target", "generations of the search"),
            workers=cluster,
        )
    text = describe(found, goals)
    if args.out is not None:
        from sim.engine.files import atomic_dir

        with atomic_dir(args.out, force=args.force) as tmp:
            (tmp / "allocation.md").write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    if args.out is not None:
        wrote(args.out)
