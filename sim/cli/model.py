"""``brainsim simulate``, ``check`` and ``document``: one model file, run, checked, documented."""

import sys

from sim.cli.common import MODEL
from sim.engine.errors import ParameterError

EXAMPLES = {
    "simulate": "example: brainsim simulate model/brain_circulation.mdl "
    "--set 'scholarship coverage=0.2' --out base.csv",
    "check": "example: brainsim check model/brain_circulation.mdl",
    "document": "example: brainsim document model/brain_circulation.mdl --readme model/README.md",
    "validate": "example: brainsim validate model/brain_circulation.mdl --scenario "
    "scenarios/jmirai-package.yaml --out model/validation",
}


def register(sub) -> None:
    """Add the model commands to the subcommand parsers ``sub``."""
    from sim.engine.simulate import METHODS

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
    p.set_defaults(func=simulate)

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
        default=MODEL,
        help=f"the Vensim .mdl file (default: {MODEL})",
    )
    p.set_defaults(func=check)

    p = sub.add_parser(
        "document",
        help="regenerate the model README's constants table and stock-and-flow diagram",
        description="Rewrite the parts of the model README between its markers (the table "
        "of constants with units, ranges and sources, and the diagram link) and draw the "
        "stock-and-flow diagram, all from the .mdl.",
        epilog=EXAMPLES["document"],
    )
    p.add_argument("model", nargs="?", default=MODEL, help=f"the .mdl file (default: {MODEL})")
    p.add_argument(
        "--readme",
        default="model/README.md",
        help="the README to update (default: model/README.md)",
    )
    p.add_argument(
        "--diagram",
        default="model/stock_flow_diagram",
        help="where to write the diagram, .svg and .png added (default: model/stock_flow_diagram)",
    )
    p.add_argument(
        "--check", action="store_true", help="change nothing; exit 2 if the README is out of date"
    )
    p.set_defaults(func=document)

    _register_validate(sub)


def _register_validate(sub) -> None:
    from sim.cli.common import add_out

    p = sub.add_parser(
        "validate",
        help="run the system-dynamics model tests and write a report with a verdict per test",
        description="Run the model tests of Sterman, Business Dynamics (2000), ch. 21: "
        "dimensional consistency; extreme conditions (every constant at each limit alone, "
        "every bounded lookup at its ends, named cases, corner-heavy Latin-hypercube "
        "combinations: no NaN, no negative stock, no value outside a declared range); "
        "integration error (TIME STEP halved, default and the ensemble's extremes); behaviour "
        "reproduction (fit per series); loop knockout; parameter assessment; sensitivity to "
        "grade-C effect sizes. history.csv, ensemble.csv, loops.csv and validation_cases.csv "
        "beside the model are used when present. Exit status 0 when every test passes "
        "(warnings allowed), 1 when one fails, 2 on bad input.",
        epilog=EXAMPLES["validate"],
    )
    p.add_argument("model", nargs="?", default=MODEL, help=f"the .mdl file (default: {MODEL})")
    for name, what in (
        ("history", "observed series"),
        ("ensemble", "calibrated ensemble"),
        ("loops", "named loops and how to cut them"),
        ("cases", "named extreme cases"),
    ):
        p.add_argument(f"--{name}", help=f"{what} (default: the file beside the model, if any)")
    p.add_argument(
        "--scenario", help="scenario YAML whose levers the sensitivity test sets (default: none)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer draws (100 corner-heavy combinations, 32 of effect sizes), as make test runs",
    )
    add_out(p, what="folder for the report")
    p.set_defaults(func=validate)


def validate(args) -> int:
    """Run the model tests, write the report, print the verdicts; 1 if one fails."""
    from sim.cli.common import progress, wrote
    from sim.reports.validation import STATUS_MARK, validate

    status, verdicts = validate(
        args.model,
        args.out,
        force=args.force,
        history=args.history,
        ensemble=args.ensemble,
        loops=args.loops,
        cases=args.cases,
        scenario=args.scenario,
        quick=args.quick,
        progress=progress("validate", "steps"),
    )
    width = max(len(v.test) for v in verdicts)
    for v in verdicts:
        sys.stdout.write(f"{v.test:<{width}}  {STATUS_MARK[v.status]:<18}  {v.summary}\n")
    sys.stdout.write(f"verdict: {STATUS_MARK[status]}\n")
    wrote(args.out)
    return 1 if status == "fail" else 0


def parse_set(items: list) -> dict:
    """Return the constants of ``--set NAME=VALUE`` options as ``{name: value}``."""
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


def simulate(args) -> None:
    """Run the model once and write its CSV."""
    from sim.engine import load_model
    from sim.engine.simulate import integrate
    from sim.reports.results import write_run_csv

    model = load_model(args.model)
    values = parse_set(args.set)
    try:
        result = integrate(model, values, method=args.method)
    except ParameterError as err:  # what the command line sets is --set
        raise ParameterError(f"--set: {err}") from None
    write_run_csv(result, args.out)


def check(args) -> int:
    """Print the model's problems; exit status 2 if there are any."""
    from sim.engine.check import check_model, format_problems
    from sim.engine.vensim import read_mdl

    problems = check_model(read_mdl(args.model))
    sys.stdout.write(format_problems(problems) + "\n")
    return 2 if problems else 0


def document(args) -> None:
    """Regenerate (or with --check, check) the model README and diagram."""
    from sim.reports.docs import document

    document(args.model, args.readme, args.diagram, check=args.check)
