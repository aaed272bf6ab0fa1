"""Everything the briefing shows, computed once into one ``xarray.Dataset``.

The figures (:mod:`sim.reports.figures`) draw only from this Dataset, so a test can
draw them from a small stored one. Computing it runs: the calibrated model
and its ensemble over history; every shipped scenario over the ensemble, and
again with the calibration or the effect sizes held; a one-at-a-time sweep
and a Sobol sweep of the levers and the calibrated parameters; and the goal
search for scholarships.
"""

import hashlib
from pathlib import Path

import numpy as np

from sim.engine.simulate import package_version
from sim.studies import calibrate as cal
from sim.studies.goal import parse_goal, seek
from sim.studies.history import load_history
from sim.studies.runner import SOURCES, output_timing, run_scenarios, target_rows
from sim.studies.scenario import levers, load_scenario
from sim.studies.sweep import factors_for, run_sweep
from sim.studies.targets import OUTPUT_TIMING, TARGETS

SOBOL_N = 256  # Sobol base sample: N x (D + 2) runs
GOAL = (
    "expanded-scholarships",
    "scholarship coverage",
    "japanese students abroad per year@2033>=500000",
    0.8,
)
DISPATCH_SERIES = "researchers_dispatched_midlong"
# the runs each target's spread is shown from: both sources of uncertainty
# varying, then each alone (runner.SOURCES), the other held at its .mdl values
SPREAD = ("combined", *SOURCES)


def inputs(root: Path) -> dict:
    """SHA-256 of every input the briefing depends on, by path relative to ``root``."""
    files = [
        root / "model" / "brain_circulation.mdl",
        root / "model" / "history.csv",
        root / "model" / "ensemble.csv",
        *sorted((root / "scenarios").glob("*.yaml")),
    ]
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def collect(root: Path, progress=print):
    """Run everything the briefing needs; return it as an ``xarray.Dataset``."""
    import xarray as xr

    from sim.engine import load_model
    from sim.engine.priors import stated_priors

    model = load_model(root / "model" / "brain_circulation.mdl")
    history = load_history(root / "model" / "history.csv", [el.name for el in model.spec.elements])
    data = {}  # filled in order: the Dataset's variables keep it

    progress("history against the calibrated model and its ensemble")
    problem, members = _history_fit(model, history, root, data)
    progress("every scenario over the ensemble")
    scenarios, results = _scenarios(model, root, data)
    progress("every scenario again with the calibration, then the effect sizes, held")
    held_runs = _sources(scenarios, results, model, root, data)
    progress("one-at-a-time swings and Sobol indices of the levers and calibrated parameters")
    baseline = next(s for s in scenarios if s.name == "baseline")
    factors, oat, sob, index_years = _sweeps(baseline, model, list(problem.names), data)
    progress("the goal search for scholarship coverage")
    answer, prob = _goal(scenarios, model, root, data)
    effects = stated_priors(model.spec)

    return xr.Dataset(
        data,
        coords={
            "scenario": [r.scenario.name for r in results],
            "output": list(OUTPUT_TIMING),
            "year": results[0].years,
            "q": ["p05", "p50", "p95"],
            "source": list(SPREAD),
            "target": [t.label for t in TARGETS],
            "target_variable": ("target", [t.variable for t in TARGETS]),
            "target_year": ("target", [t.year for t in TARGETS]),
            "target_goal": ("target", [t.value for t in TARGETS]),
            "parameter": [f.name for f in factors],
            "index_year": index_years,
            "level": np.array([x for x, _ in answer.curve]),
        },
        attrs={
            "model": "model/brain_circulation.mdl",
            "model_sha256": model.spec.sha256,
            "brainsim_version": package_version(),
            "goal_lever": answer.lever,
            "goal_probability_required": prob,
            "goal_level": float("nan") if answer.level is None else answer.level,
            "goal_best": answer.achieved,
            "goal_sentence": answer.sentence(),
            "sobol_n": SOBOL_N,
            "ensemble_members": len(members),
            "effect_sizes": len(effects),
            "effect_grades": ", ".join(sorted({p.grade for p in effects.values()})),
            "runs": int(
                len(oat.unit)
                + len(sob.unit)
                + sum(r.n_runs for r in results)
                + held_runs
                + len(members)
            ),
        },
    )


def _history_fit(model, history, root: Path, data: dict):
    """Add the observations, the best fit and the ensemble's 5-95% band at each."""
    problem = cal.make_problem(model, history)
    _, names, members = cal.read_ensemble(root / "model" / "ensemble.csv", model)
    order = [names.index(n) for n in problem.names]
    defaults = np.array(
        [model.defaults[model.param_keys.index(model.spec.element(n).key)] for n in problem.names]
    )
    best = cal.modelled(problem, defaults[:, None])[:, 0]
    spread = cal.modelled(problem, members[:, order].T, workers=None)
    used = problem.data.weight > 0
    obs = [o for o, u in zip(problem.data.observations, used, strict=True) if u]
    data["obs_series"] = (
        "obs",
        np.array([lab for lab, u in zip(problem.data.labels, used, strict=True) if u]),
    )
    data["obs_year"] = ("obs", np.array([o.year for o in obs]))
    data["obs_value"] = ("obs", problem.data.y[used])
    data["obs_unit"] = ("obs", np.array(["%" if o.unit.startswith("%") else o.unit for o in obs]))
    data["fit_best"] = ("obs", best[used])
    lo, hi = np.percentile(spread, [5, 95], axis=1)
    data["fit_p05"] = ("obs", lo[used])
    data["fit_p95"] = ("obs", hi[used])
    return problem, members


def _scenarios(model, root: Path, data: dict):
    """Add every shipped scenario's yearly 5/50/95% quantiles and its target table."""
    paths = sorted((root / "scenarios").glob("*.yaml"))
    scenarios = [load_scenario(p, model) for p in paths]
    results = run_scenarios(scenarios, model, output_timing(model), root)
    outputs = list(OUTPUT_TIMING)
    q = np.full((len(results), len(outputs), len(results[0].years), 3), np.nan)
    for s, res in enumerate(results):
        for o, name in enumerate(outputs):
            arr = res.values[name]
            ok = ~np.isnan(arr).any(axis=1)
            q[s, o, ok] = np.percentile(arr[ok], [5, 50, 95], axis=1).T
    data["quantile"] = (("scenario", "output", "year", "q"), q)
    by_cell = {(r["scenario"], r["target"]): r for res in results for r in target_rows(res)}
    for key, column in (
        ("probability", "probability"),
        ("target_p50", "p50"),
        ("target_p05", "p05"),
        ("target_p95", "p95"),
    ):
        data[key] = (
            ("scenario", "target"),
            np.array(
                [
                    [by_cell[(res.scenario.name, t.label)][column] for t in TARGETS]
                    for res in results
                ]
            ),
        )
    return scenarios, results


def _sources(scenarios: list, results: list, model, root: Path, data: dict) -> int:
    """Add each target's probability and band in its year with one source of uncertainty held.

    A run over the ensemble draws two sources at once (:data:`SOURCES`): the
    calibrated parameters (the ensemble's members) and the effect sizes, from
    their stated priors (today all of grade C, judgement; the Dataset's
    ``effect_grades`` says which). To show them apart, every scenario is run
    twice more over as many runs: ``calibration``, the members with every
    effect size at its ``.mdl`` value; ``effects``, the same effect-size
    draws with the calibrated parameters at the best fit (the ``.mdl``).
    ``combined`` is the scenario's own run. Each cell keeps the probability
    of meeting the target and the 5/50/95% of the value in the target year,
    in the target's units. Every scenario is kept, not only the two the
    figure shows, so that the cells share the Dataset's scenario axis (the
    extra runs take seconds).

    Holding one source at its central value is chosen over a variance split
    (Sobol indices of the two groups): it reads as "what if this source were
    known" and costs two runs of each scenario rather than thousands. The
    two bands do not add up to the combined one (the sources interact), and
    the ``effects`` runs sit where the best fit projects, which need not be
    the ensemble's median: their probability is the chance at the best fit.
    Returns the number of runs made.
    """
    timing = {t.variable: OUTPUT_TIMING[t.variable] for t in TARGETS}
    runs = {"combined": results}
    for source in SOURCES:
        runs[source] = run_scenarios(scenarios, model, timing, root, vary=(source,))
    prob = np.full((len(results), len(TARGETS), len(SPREAD)), np.nan)
    quant = np.full((len(results), len(TARGETS), len(SPREAD), 3), np.nan)
    for k, source in enumerate(SPREAD):
        for s, res in enumerate(runs[source]):
            rows = {r["target"]: r for r in target_rows(res)}
            for t, target in enumerate(TARGETS):
                row = rows[target.label]
                prob[s, t, k] = row["probability"]
                quant[s, t, k] = [row["p05"], row["p50"], row["p95"]]
    data["source_probability"] = (("scenario", "target", "source"), prob)
    data["source_quantile"] = (("scenario", "target", "source", "q"), quant)
    return sum(r.n_runs for source in SOURCES for r in runs[source])


def _sweeps(baseline, model, calibrated: list, data: dict):
    """Add the one-at-a-time swings in 2033 and the Sobol total indices by year."""
    outputs = list(OUTPUT_TIMING)
    swept = [el.name for el in levers(model).values()] + calibrated
    factors = factors_for(baseline, model, swept)
    oat = run_sweep(baseline, model, dict(OUTPUT_TIMING), "oat", 1, 0, factors)
    sob = run_sweep(baseline, model, dict(OUTPUT_TIMING), "sobol", SOBOL_N, 0, factors)
    index_years = sorted({y for _, y in sob.indices})
    for key in ("swing", "low", "high"):
        data[f"oat_{key}"] = (
            ("output", "parameter"),
            np.array([oat.indices[(o, 2033)][key] for o in outputs]),
        )
    st = np.full((len(outputs), len(index_years), len(factors)), np.nan)
    for o, name in enumerate(outputs):
        for y, year in enumerate(index_years):
            if (name, year) in sob.indices:
                st[o, y] = sob.indices[(name, year)]["ST"]
    data["sobol_st"] = (("output", "index_year", "parameter"), st)
    return factors, oat, sob, index_years


def _goal(scenarios, model, root: Path, data: dict):
    """Add the probability curve of the goal search for scholarship coverage."""
    scen_name, lever, goal_text, prob = GOAL
    goal_scenario = next(s for s in scenarios if s.name == scen_name)
    answer = seek(goal_scenario, model, root, lever, parse_goal(goal_text, model), prob)
    data["goal_probability"] = ("level", np.array([p for _, p in answer.curve]))
    return answer, prob
