"""``brainsim validate``: the model tests of Sterman (2000, ch. 21) as a report with verdicts.

The tests are in :mod:`sim.studies.validate`; this module gathers their
inputs from the files beside the model (``history.csv``, ``ensemble.csv``,
``loops.csv``, ``validation_cases.csv``), runs them in order, and writes
``validation.md`` (a verdict per test, then what each found), ``verdicts.csv``
and two figures, all or nothing.
"""

import csv
import dataclasses
import datetime
from pathlib import Path

import numpy as np

from sim.engine.errors import BrainsimError, SimulationError
from sim.engine.files import atomic_dir, check_out
from sim.engine.progress import ticker
from sim.studies import validate as tests
from sim.studies.validate import FAIL, NOT_RUN, PASS, WARN, Verdict

# The settings of the full report and of --quick (the reduced version make test runs).
FULL = {"draws": 2000, "effect_draws": 256}
QUICK = {"draws": 100, "effect_draws": 32}
CORNER_SEED = 20240611
SENSITIVITY_YEAR = 2033
INPUTS = ("history.csv", "ensemble.csv", "loops.csv", "validation_cases.csv")
STATUS_MARK = {PASS: "pass", WARN: "pass with warnings", FAIL: "FAIL", NOT_RUN: "not run"}


def read_cases(path: Path, model) -> list:
    """Return the named extreme cases of ``path`` as ``(label, params, tables)``.

    Columns ``case`` and ``settings``; settings as in ``loops.csv``
    (``constant=value; table=flat@x``, see :mod:`sim.reports.structure`).
    """
    from sim.reports.structure import cut_options

    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"case", "settings"} <= set(rows[0]):
        raise BrainsimError(f"{path}: needs the columns case,settings; see {__name__}")
    out = []
    for i, row in enumerate(rows, start=2):
        try:
            params, tables = cut_options(model, row["settings"])
        except BrainsimError as err:
            raise BrainsimError(f"{path}, line {i}: {err}") from None
        out.append((row["case"], params, tables))
    return out


def loop_knockout(model, loops_path: Path, year: int) -> Verdict:
    """Cut each named loop; fail on a cut that breaks the run, warn on one that changes nothing."""
    from sim.reports.structure import loop_strengths, read_loops

    loops = read_loops(loops_path)
    try:
        rows = loop_strengths(model, loops, year)
    except SimulationError as err:
        return Verdict("loop knockout", FAIL, f"a loop cut breaks the run: {err}")
    fails, warns, lines = [], [], []
    for r in rows:
        loop, base, cut = r["loop"], r["base"], r["cut"]
        share = r["change"] / base if base else float("nan")
        lines.append(f"{loop.code} {loop.name}: '{loop.output}' {base:,.4g} -> {cut:,.4g}")
        if not np.isfinite(cut):
            fails.append(f"{loop.code}: cutting it gives {cut} for '{loop.output}'")
        elif abs(share) < tests.INERT_LOOP:
            warns.append(
                f"{loop.code} {loop.name}: cutting it moves '{loop.output}' in {year} by "
                f"{100 * share:+.3f}%; the loop is inert there"
            )
    summary = f"{len(rows)} loops cut one at a time, change in {year}: " + ", ".join(
        f"{r['loop'].code} {100 * r['change'] / r['base']:+.1f}%" if r["base"] else r["loop"].code
        for r in rows
    )
    return Verdict(
        "loop knockout",
        tests._status(fails, warns),
        summary,
        tuple(fails + warns),
        {"rows": rows, "year": year},
    )


def _beside(model_path: Path, given, name: str) -> Path | None:
    """Return the file given, else ``name`` beside the model if it exists, else None."""
    if given:
        path = Path(given)
        if not path.is_file():
            raise BrainsimError(f"{given}: no such file; give an existing file or leave it out")
        return path
    path = model_path.parent / name
    return path if path.is_file() else None


def run_validation(
    model_path: str,
    *,
    history=None,
    ensemble=None,
    loops=None,
    cases=None,
    scenario=None,
    quick: bool = False,
    progress=None,
) -> list:
    """Run every test on the model; return the verdicts in Sterman's order."""
    from sim.engine import load_model
    from sim.studies.history import load_history

    settings = QUICK if quick else FULL
    path = Path(model_path)
    model = load_model(path)
    history_path = _beside(path, history, "history.csv")
    ensemble_path = _beside(path, ensemble, "ensemble.csv")
    loops_path = _beside(path, loops, "loops.csv")
    cases_path = _beside(path, cases, "validation_cases.csv")
    names = [el.name for el in model.spec.elements]
    observations = load_history(history_path, names) if history_path else ()
    named = read_cases(cases_path, model) if cases_path else []
    steps = 7 + 2 + -(-settings["draws"] // tests.CHUNK)
    tick = ticker(progress, steps)

    verdicts = [tests.dimensional_consistency(model.spec)]
    tick()
    verdicts.append(
        tests.extreme_conditions(model, named, settings["draws"], CORNER_SEED, tick=tick)
    )
    outputs = _outputs(model)
    ensemble = _ensemble(model, ensemble_path)
    members, index = tests.extreme_members(model, ensemble, outputs)
    verdicts.append(tests.integration_error(model, members, index, outputs))
    tick()
    verdicts.append(tests.chattering(model, ensemble))
    tick()
    if observations:
        from sim.reports.calibration import HEADLINE

        verdicts.append(tests.behaviour_reproduction(model, observations, HEADLINE))
    else:
        verdicts.append(Verdict("behaviour reproduction", NOT_RUN, "no history.csv given"))
    tick()
    if loops_path:
        verdicts.append(loop_knockout(model, loops_path, SENSITIVITY_YEAR))
    else:
        verdicts.append(Verdict("loop knockout", NOT_RUN, "no loops.csv given"))
    tick()
    verdicts.append(tests.parameter_assessment(model, observations))
    tick()
    verdicts.append(_sensitivity(model, scenario, outputs, settings["effect_draws"]))
    tick()
    return verdicts


def _outputs(model) -> list:
    """Return the target outputs the model has, else its stocks."""
    from sim.studies.targets import TARGETS

    targets = [t.variable for t in TARGETS if model.spec.has(t.variable)]
    return list(dict.fromkeys(targets or [el.name for el in model.spec.of_kind("stock")]))


def _ensemble(model, ensemble_path) -> dict:
    """Return the ensemble's members as parameter arrays (none without one)."""
    from sim.studies.calibrate import read_ensemble

    if not ensemble_path:
        return {}
    _, names, values = read_ensemble(ensemble_path, model)
    return {n: values[:, j] for j, n in enumerate(names) if model.spec.has(n)}


def _sensitivity(model, scenario, outputs: list, draws: int) -> Verdict:
    """Run the sensitivity test under ``scenario``'s levers (or the defaults), saying which."""
    from sim.studies.runner import output_timing, scenario_constants, tables

    constants, overrides, where = {}, {}, "the .mdl's defaults"
    if scenario:
        from sim.studies.scenario import load_scenario

        sc = load_scenario(scenario, model)
        constants, overrides, where = scenario_constants(sc), tables(sc, model), sc.name
    timing = output_timing(model)
    verdict = tests.judgement_sensitivity(
        model,
        outputs,
        {n: timing.get(n, "fiscal_mean") for n in outputs},
        SENSITIVITY_YEAR,
        draws,
        constants,
        overrides,
    )
    return dataclasses.replace(verdict, summary=f"{verdict.summary} ({where})")


def report(verdicts: list, model_path: str, quick: bool) -> str:
    """Return the validation report as markdown."""
    from sim.engine.simulate import package_version
    from sim.engine.vensim import read_mdl

    spec = read_mdl(model_path)
    verdict = tests.overall(verdicts)
    lines = [
        f"# Validation of {Path(model_path).name}",
        "",
        f"Model sha256 {spec.sha256[:12]}; brainsim {package_version()}; "
        f"{datetime.date.today().isoformat()}; "
        + ("reduced run (--quick)" if quick else "full run")
        + ". The tests follow Sterman, *Business Dynamics* (2000), ch. 21.",
        "",
        f"**Verdict: {STATUS_MARK[verdict]}.**",
        "",
        "| test | verdict | what it found |",
        "|---|---|---|",
    ]
    lines += [f"| {v.test} | {STATUS_MARK[v.status]} | {v.summary} |" for v in verdicts]
    for v in verdicts:
        lines += ["", f"## {v.test[:1].upper()}{v.test[1:]}: {STATUS_MARK[v.status]}", ""]
        lines.append(v.summary + ".")
        if v.details:
            lines.append("")
            lines += [f"- {d}" for d in v.details]
        lines += _extra(v)
    return "\n".join(lines) + "\n"


def _extra(v: Verdict) -> list:
    if v.test == "behaviour reproduction" and v.data.get("rows"):
        out = [
            "",
            "| series | years | n | MAPE % | R² | U^M | U^S | U^C |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in v.data["rows"]:
            out.append(
                f"| {r['series']} | {r['years']} | {r['n']} | {r['mape']:.1f} | {r['r2']:.2f} "
                f"| {r['um']:.2f} | {r['us']:.2f} | {r['uc']:.2f} |"
            )
        return out
    if v.test == "sensitivity to judgement" and v.data.get("rows"):
        out = [
            "",
            f"| output | {SENSITIVITY_YEAR} p05 | median | p95 | spread "
            "| effect sizes it rests on |",
            "|---|---|---|---|---|---|",
        ]
        for name, p05, p50, p95, spread, drivers in v.data["rows"]:
            named = ", ".join(f"{e} (grade {g}, rho {r:+.2f})" for e, g, r in drivers) or "—"
            out.append(
                f"| {name} | {tests.fmt(p05)} | {tests.fmt(p50)} | {tests.fmt(p95)} "
                f"| {100 * spread:.1f}% "
                f"| {named} |"
            )
        return out
    if v.test == "integration error":
        return ["", "Figure: `integration_error.png`."]
    if v.test == "loop knockout" and v.data.get("rows"):
        return ["", "Figure: `loop_knockout.png`."]
    return []


def _figures(tmp: Path, verdicts: list, caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {v.test: v for v in verdicts}
    step = by["integration error"].data
    if step.get("worst"):
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        for name, worst in step["worst"].items():
            ax.plot(step["times"], 100 * np.maximum(worst, 1e-9), lw=1, label=name)
        ax.axhline(100 * tests.STEP_TOLERANCE, color="k", ls="--", lw=0.8, label="tolerance")
        ax.set_yscale("log")
        ax.set_ylabel("largest change when TIME STEP is halved [%]")
        ax.set_title(
            f"Integration error over {len(step['runs'])} runs (default and ensemble extremes)"
        )
        ax.legend(fontsize=5.5, ncol=2)
        fig.text(0.01, 0.005, caption, fontsize=5.5, color="0.35")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(tmp / "integration_error.png", dpi=150)
        plt.close(fig)
    loops = by["loop knockout"].data
    if loops.get("rows"):
        rows = loops["rows"]
        share = [100 * r["change"] / r["base"] if r["base"] else 0.0 for r in rows]
        fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(rows) + 1.2))
        ax.barh([f"{r['loop'].code} -> {r['loop'].output}" for r in rows], share, color="0.4")
        ax.axvline(0, color="k", lw=0.6)
        ax.invert_yaxis()
        ax.set_xlabel(f"change of the loop's output in {loops['year']} when the loop is cut [%]")
        ax.set_title("Loop knockout")
        fig.text(0.01, 0.005, caption, fontsize=5.5, color="0.35")
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        fig.savefig(tmp / "loop_knockout.png", dpi=150)
        plt.close(fig)


def write_validation(verdicts: list, model_path: str, out: str, quick: bool, force: bool) -> str:
    """Write the report, the verdicts and the figures to ``out``; return the report."""
    from sim.engine.vensim import read_mdl

    text = report(verdicts, model_path, quick)
    caption = (
        f"{Path(model_path).name} sha256 {read_mdl(model_path).sha256[:12]} · brainsim validate"
        + (" --quick" if quick else "")
    )
    with atomic_dir(out, force=force) as tmp:
        (tmp / "validation.md").write_text(text, encoding="utf-8")
        with open(tmp / "verdicts.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["test", "verdict", "summary"])
            w.writerows((v.test, v.status, v.summary) for v in verdicts)
        _figures(tmp, verdicts, caption)
    return text


def validate(model_path: str, out: str, *, force: bool = False, **options) -> tuple:
    """Run the tests and write the report; return ``(overall verdict, verdicts)``."""
    check_out(out, force=force)
    verdicts = run_validation(model_path, **options)
    write_validation(verdicts, model_path, out, options.get("quick", False), force)
    return tests.overall(verdicts), verdicts
