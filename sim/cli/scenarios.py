"""``brainsim run``, ``compare`` and ``schema``: scenario files over the ensemble."""

import sys

from sim.cli.common import (
    HISTORY,
    MODEL,
    add_cluster,
    add_model,
    add_out,
    command,
    progress,
    project_file,
    wrote,
)

EXAMPLES = {
    "run": "example: brainsim run scenarios/expanded-scholarships.yaml --out results/scholarships",
    "compare": "example: brainsim compare scenarios/*.yaml --out results/all",
    "schema": "example: brainsim schema > scenario.schema.json",
    "names": "example: brainsim names --lang ja",
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
        add_model(p, history=True)
        p.add_argument(
            "--outputs",
            nargs="*",
            help="more variables to keep run by run in results.nc (the target outputs always are)",
        )
        add_cluster(p)
        p.set_defaults(func=compare)

    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of scenario files",
        description="Print the JSON Schema of scenario files, for editors, with every name "
        "the model offers (levers, constants, series, variables) as enums.",
        epilog=EXAMPLES["schema"],
    )
    p.add_argument(
        "--model",
        help=f"the model whose names become enums (default: {MODEL} if it is here; "
        "without a model, names are plain text)",
    )
    p.set_defaults(func=schema)

    p = sub.add_parser(
        "names",
        help="list what a scenario can name: levers, series, outputs and targets",
        description="List the model's levers (unit, range, baseline and the programme each "
        "stands for), the series a scenario may override, the outputs and the targets.",
        epilog=EXAMPLES["names"],
    )
    p.add_argument("--model", default=MODEL, help=f"the model (default: {MODEL})")
    p.add_argument(
        "--lang",
        choices=("en", "ja"),
        default="en",
        help="language of programme names (default: en)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    p.set_defaults(func=names)


def compare(args) -> None:
    """Run the scenarios, write their result files, print the target table."""
    from pathlib import Path

    from sim.engine import load_model
    from sim.engine.files import check_out
    from sim.reports.results import target_lines, write_results
    from sim.studies.history import load_history
    from sim.studies.runner import kept_outputs, output_timing, run_scenarios, stale_ensembles
    from sim.studies.scenario import load_scenarios

    check_out(args.out, force=args.force)
    args.model = project_file(args.model, MODEL, args.scenarios)
    args.history = project_file(args.history, HISTORY, args.scenarios)
    model = load_model(args.model)
    scenarios = load_scenarios(args.scenarios, model)
    history = load_history(args.history, [el.name for el in model.spec.elements])
    timing, outputs = kept_outputs(model, output_timing(model, history), args.outputs or [])
    root = Path(args.model).resolve().parent.parent
    for note in stale_ensembles(scenarios, model, root):
        sys.stderr.write(f"brainsim: warning: {note}\n")
    from sim.engine.cluster import connect

    with connect(args.cluster) as cluster:
        results = run_scenarios(
            scenarios, model, timing, root, workers=cluster, progress=progress(args.command)
        )
    rows = write_results(args.out, results, model, outputs, command(), force=args.force)
    if args.command == "run":  # one scenario: its runs are checked step by step too
        from sim.studies.runner import chattering_notes

        for note in chattering_notes(scenarios[0], model, root):
            sys.stderr.write(f"brainsim: warning: {note}\n")
    sys.stdout.write(target_lines(rows))
    wrote(args.out)


def schema(args) -> None:
    """Print the JSON Schema of scenario files."""
    import json
    from pathlib import Path

    from sim.engine import load_model
    from sim.studies.scenario import schema

    path = args.model if args.model is not None else MODEL
    given = args.model is not None or Path(MODEL).is_file()
    doc = schema(load_model(path) if given else None)
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def names(args) -> None:
    """Print the catalogue of names a scenario may use."""
    import json

    from sim.engine import load_model
    from sim.reports.catalogue import catalogue, catalogue_markdown

    cat = catalogue(load_model(args.model))
    if args.json:
        sys.stdout.write(json.dumps(cat, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(catalogue_markdown(cat, args.lang))
