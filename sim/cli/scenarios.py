"""``brainsim run``, ``compare`` and ``schema``: scenario files over the ensemble."""

import sys

from sim.cli.common import HISTORY, MODEL, add_out, command

EXAMPLES = {
    "run": "example: brainsim run scenarios/expanded-scholarships.yaml --out results/scholarships",
    "compare": "example: brainsim compare scenarios/*.yaml --out results/all",
    "schema": "example: brainsim schema > scenario.schema.json",
}


def register(sub) -> None:
    """Add the scenario commands to the subcommand parsers ``sub``."""
    for name, many in (("run", False), ("compare", True)):
        p = sub.add_parser(
            name,
            help="run a scenario over its uncertainty and judge it against the targets"
            if not many
            else "run several scenarios side by side",
            description="Run the scenario file(s) over the calibrated ensemble (or the "
            "file's uncertainty) and write results.nc, summary.csv, quantiles.csv, "
            "targets.csv/.md and manifest.json to OUT (replaced whole, or left as it was if "
            "the run fails). Prints the target table.",
            epilog=EXAMPLES[name],
        )
        if many:
            p.add_argument("scenarios", nargs="+", help="scenario YAML files")
        else:
            p.add_argument("scenarios", nargs=1, metavar="scenario", help="a scenario YAML file")
        add_out(p)
        p.add_argument("--model", default=MODEL)
        p.add_argument("--history", default=HISTORY)
        p.add_argument(
            "--outputs",
            nargs="*",
            help="more variables to keep run by run in results.nc (the target outputs always are)",
        )
        p.set_defaults(func=compare)

    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of scenario files",
        description="Print the JSON Schema of scenario files, for editors.",
        epilog=EXAMPLES["schema"],
    )
    p.set_defaults(func=schema)


def compare(args) -> None:
    """Run the scenarios, write their result files, print the target table."""
    from pathlib import Path

    from sim.engine import load_model
    from sim.engine.files import check_out
    from sim.reports.results import target_lines, write_results
    from sim.studies.history import load_history
    from sim.studies.runner import kept_outputs, output_timing, run_scenarios
    from sim.studies.scenario import load_scenarios

    check_out(args.out, force=args.force)
    model = load_model(args.model)
    scenarios = load_scenarios(args.scenarios, model)
    history = load_history(args.history, [el.name for el in model.spec.elements])
    timing, outputs = kept_outputs(model, output_timing(model, history), args.outputs or [])
    root = Path(args.model).resolve().parent.parent
    results = run_scenarios(scenarios, model, timing, root)
    rows = write_results(args.out, results, model, outputs, command(), force=args.force)
    sys.stdout.write(target_lines(rows))


def schema(args) -> None:
    """Print the JSON Schema of scenario files."""
    import json

    from sim.studies.scenario import schema

    sys.stdout.write(json.dumps(schema(), indent=2, ensure_ascii=False) + "\n")
