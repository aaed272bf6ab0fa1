"""``brainsim history`` and ``calibrate``: the model against the observed series."""

import sys

from sim.cli.common import HISTORY, MODEL, add_cluster, add_out, progress, wrote

EXAMPLES = {
    "history": "example: brainsim history --series researchers_dispatched_midlong "
    "--years 2000 2018 2019",
    "calibrate": "example: brainsim calibrate --out model/calibration --update-model",
    "backtest": "example: brainsim backtest --fit-until 2015 2018 --out model/backtest",
}


def register(sub) -> None:
    """Add the history commands to the subcommand parsers ``sub``."""
    p = sub.add_parser(
        "history",
        help="compare the default run with model/history.csv",
        description="Print a markdown table: each observation in history.csv beside the "
        "model's value measured the same way (1 May stocks, fiscal-year means of flows).",
        epilog=EXAMPLES["history"],
    )
    _add_model_and_history(p)
    p.add_argument("--series", nargs="*", help="only these series")
    p.add_argument("--years", nargs="*", type=int, help="only these years")
    p.set_defaults(func=history)

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
    _add_model_and_history(p)
    add_out(p, what="folder for the report")
    p.add_argument(
        "--ensemble",
        default="model/ensemble.csv",
        help="where to write the ensemble (default: model/ensemble.csv, read by scenario runs)",
    )
    _add_fit_options(p)
    p.add_argument(
        "--update-model",
        action="store_true",
        help="write the fitted values into the .mdl as its defaults",
    )
    add_cluster(p)
    p.set_defaults(func=calibrate)

    _register_backtest(sub)


def _add_model_and_history(p) -> None:
    p.add_argument("model", nargs="?", default=MODEL, help=f"the .mdl file (default: {MODEL})")
    p.add_argument("--history", default=HISTORY, help=f"observed series (default: {HISTORY})")


def _add_fit_options(p) -> None:
    """Add the options calibrate and backtest share: fit starts, prior sample and its seed."""
    p.add_argument("--starts", type=int, default=3, help="least-squares starts (default 3)")
    p.add_argument(
        "--samples", type=int, default=50_000, help="prior ensemble size (default 50,000)"
    )
    p.add_argument(
        "--seed", type=int, default=20261127, help="seed of the prior sample (default: 20261127)"
    )


def _register_backtest(sub) -> None:
    p = sub.add_parser(
        "backtest",
        help="calibrate on the years up to YEAR and score the projection of the years after",
        description="For each YEAR: fit the calibrated parameters to the observations up to "
        "YEAR (from the centre of their ranges), draw the constrained ensemble as calibrate "
        "does, and score each later observation: coverage of the 5-95%% band and error of the "
        "median and of the best fit, per series. Writes backtest.md and backtest.csv to OUT. "
        "The model's inputs (cohort, exchange rate, closures) are the recorded ones.",
        epilog=EXAMPLES["backtest"],
    )
    _add_model_and_history(p)
    p.add_argument(
        "--fit-until",
        type=int,
        nargs="+",
        required=True,
        metavar="YEAR",
        help="last year of the observations fitted (one backtest per year)",
    )
    add_out(p, what="folder for the report")
    _add_fit_options(p)
    add_cluster(p)
    p.set_defaults(func=backtest)


def backtest(args) -> None:
    """Run the backtests, write their report, print its table."""
    from sim.engine.errors import BrainsimError
    from sim.reports.backtest import run_backtests

    if args.starts < 1 or args.samples < 1:
        raise BrainsimError("--starts and --samples must be at least 1")
    from sim.engine.cluster import connect

    with connect(args.cluster) as cluster:
        text = run_backtests(
            args.model,
            args.history,
            args.out,
            args.fit_until,
            starts=args.starts,
            samples=args.samples,
            seed=args.seed,
            force=args.force,
            progress=progress("backtest", "steps (fit starts, sample chunks)"),
            workers=cluster,
        )
    sys.stdout.write(text)
    wrote(args.out)


def history(args) -> None:
    """Print the observations beside the default run, measured the same way."""
    from sim.engine import load_model
    from sim.engine.errors import BrainsimError
    from sim.engine.names import closest, suggestion
    from sim.studies.history import compare_history, history_table, load_history

    model = load_model(args.model)
    rows = load_history(args.history, [el.name for el in model.spec.elements])
    series = sorted({o.series for o in rows})
    for name in args.series or []:
        if name not in series:
            hint = suggestion(name, series) if closest(name, series) else "the series are"
            raise BrainsimError(
                f"--series {name}: no such series in {args.history}; {hint}"
                + (f" the first column of {args.history}" if hint == "the series are" else "")
            )
    years = [o.year for o in rows]
    for year in args.years or []:
        if year not in years:
            raise BrainsimError(
                f"--years {year}: {args.history} has no observation that year; give years "
                f"from {min(years)} to {max(years)}"
            )
    if args.series:
        rows = tuple(o for o in rows if o.series in args.series)
    if args.years:
        rows = tuple(o for o in rows if o.year in args.years)
    sys.stdout.write(history_table(compare_history(model, rows)) + "\n")


def calibrate(args) -> None:
    """Fit, build the ensemble, write the report; print its summary."""
    from sim.engine.cluster import connect
    from sim.reports.calibration import run_calibration

    with connect(args.cluster) as cluster:
        summary = run_calibration(
            args.model,
            args.history,
            args.out,
            ensemble_path=args.ensemble,
            starts=args.starts,
            samples=args.samples,
            seed=args.seed,
            update_model=args.update_model,
            force=args.force,
            progress=progress("calibrate", "steps (fit starts, sample chunks, bands)"),
            workers=cluster,
        )
    sys.stdout.write(summary)
    wrote(args.out)
