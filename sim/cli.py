"""The ``brainsim`` command line. Each subcommand parses, calls one library function, writes."""

import argparse
import sys

from sim.errors import BrainsimError, ParameterError

EXAMPLES = {
    "simulate": "example: brainsim simulate model/brain_circulation.mdl "
    "--set 'scholarship coverage=0.2' --out base.csv",
    "check": "example: brainsim check model/brain_circulation.mdl",
    "history": "example: brainsim history --series researchers_dispatched_midlong "
    "--years 2000 2018 2019",
    "document": "example: brainsim document model/brain_circulation.mdl --readme model/README.md",
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
    from sim.check import check_model, format_problems
    from sim.vensim import read_mdl

    problems = check_model(read_mdl(args.model))
    sys.stdout.write(format_problems(problems) + "\n")
    return 2 if problems else 0


def _document(args) -> int:
    from pathlib import Path

    from sim.diagram import save_diagram
    from sim.docs import update_readme
    from sim.output import atomic_path
    from sim.vensim import read_mdl

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
    from sim.history import compare_history, history_table, load_history

    model = load_model(args.model)
    rows = load_history(args.history, [el.name for el in model.spec.elements])
    if args.series:
        rows = tuple(o for o in rows if o.series in args.series)
    if args.years:
        rows = tuple(o for o in rows if o.year in args.years)
    sys.stdout.write(history_table(compare_history(model, rows)) + "\n")


def _simulate(args) -> None:
    from sim import load_model
    from sim.output import write_run_csv
    from sim.simulate import integrate

    model = load_model(args.model)
    write_run_csv(integrate(model, _parse_set(args.set), method=args.method), args.out)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser for every subcommand."""
    from sim.simulate import METHODS

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
    return parser


def main(argv: list | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
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
