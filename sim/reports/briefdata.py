"""Everything the briefing shows, computed once into one ``xarray.Dataset``.

The figures (:mod:`sim.reports.figures`) draw only from this Dataset, so a test can
draw them from a small stored one. Computing it runs: the calibrated model
and its ensemble over history; every shipped scenario over the ensemble, and
again with the calibration or the effect sizes held; a one-at-a-time sweep
and a Sobol sweep of the levers and the calibrated parameters; the goal
search for scholarships; each budget programme's public yen per additional
outcome; and the probability of two main targets against a programme's budget.
"""

import hashlib
from pathlib import Path

import numpy as np

from sim.engine.errors import BrainsimError
from sim.engine.simulate import package_version
from sim.studies import calibrate as cal
from sim.studies.costs import programme_effectiveness, programme_scenarios
from sim.studies.goal import budget_constant, parse_goal, seek
from sim.studies.history import load_history
from sim.studies.runner import SOURCES, output_timing, run_scenarios, target_rows
from sim.studies.scenario import (
    MILLION_YEN_PER_OKU,
    lever_timing,
    levers,
    load_scenario,
)
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
# the cost-effectiveness chart: each budget raised by this many 億円 a year against
# the scenario, from the fiscal year, over the years (as brainsim costs does by default)
COSTS = ("baseline", 10.0, 2026, 2)
# the budget-to-probability curves: the targets (by output), the scenarios tried in
# turn (the first where a curve leaves 0 is drawn), how many programmes per target
# (those acting on its output with the lowest yen per additional outcome that the
# scenario leaves at today's budget) and the budgets across each programme's range
CURVE_OUTPUTS = ("japanese students abroad per year", "researchers dispatched per year")
CURVE_SCENARIOS = ("baseline", "jmirai-package")
CURVE_PROGRAMMES = 2
CURVE_POINTS = 11
# the computing steps of collect, for the progress count of brainsim brief
STEPS = 7
# the arrays the briefing stacks by element, each with how it is observed
PARTS = {
    "international students in japan by origin": "may1",
    "japanese degree students abroad by destination": "mid_year",
    "researchers dispatched by partner": "fiscal_mean",
    "foreign researchers accepted by partner": "fiscal_mean",
}
# further outputs the origin, destination and partner figures show with their bands
EXTRAS = {
    "japanese degree students abroad": "mid_year",
    "japanese students in the us": "mid_year",
    "japan rank among origins in the us": "mid_year",
    "largest origin share": "may1",
    "researchers dispatched per year survey basis": "fiscal_mean",
    "researchers dispatched by partner[european partners]": "fiscal_mean",
    "foreign researchers accepted by partner[european partners]": "fiscal_mean",
}
# the series the composition figures compare with: JASSO's counts by origin, on the
# basis that includes language institutes, and Open Doors' count of Japanese in the US
ORIGIN_SERIES = "international students in japan by origin counted"
US_SERIES = "japanese_students_in_us_open_doors"


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
    data["rank_observed"] = _us_rank_history(model, history)
    progress("every scenario again with the calibration, then the effect sizes, held")
    held_runs = _sources(scenarios, results, model, root, data)
    progress("one-at-a-time swings and Sobol indices of the levers and calibrated parameters")
    baseline = next(s for s in scenarios if s.name == "baseline")
    factors, oat, sob, index_years = _sweeps(baseline, model, list(problem.names), data)
    progress("the goal search for scholarship coverage")
    answer, prob = _goal(scenarios, model, root, data)
    progress(f"each programme's budget +{COSTS[1]:g} 億円 a year: yen per additional outcome")
    rows, cost_runs = _costs(scenarios, results, model, root, data)
    progress("the probability of the main targets against a programme's budget")
    curve_runs = _budget_curves(scenarios, results, model, root, rows, data)
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
            "programme": [r["programme"] for r in rows],
            "curve": np.arange(len(data["curve_programme"][1])),
            "budget_point": np.arange(CURVE_POINTS),
            "curve_output": list(CURVE_OUTPUTS),
            "curve_tried": list(CURVE_SCENARIOS),
            "part": [el.name for arr in PARTS for el in model.spec.array(arr).values()],
            "extra": list(EXTRAS),
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
            "cost_scenario": COSTS[0],
            "cost_change_oku": COSTS[1],
            "cost_from": COSTS[2],
            "cost_ramp_years": COSTS[3],
            "runs": int(
                oat.runs
                + sob.runs
                + sum(r.n_runs for r in results)
                + held_runs
                + len(members)
                + cost_runs
                + curve_runs
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
    parts = {el.name: rule for arr, rule in PARTS.items() for el in model.spec.array(arr).values()}
    timing = {**output_timing(model), **parts, **EXTRAS}
    results = run_scenarios(scenarios, model, timing, root)
    data["quantile"] = (
        ("scenario", "output", "year", "q"),
        _quantiles(results, list(OUTPUT_TIMING)),
    )
    data["part_p50"] = (
        ("scenario", "part", "year"),
        _quantiles(results, list(parts))[..., 1],
    )
    data["part_of"] = (
        "part",
        np.array([arr for arr in PARTS for _ in model.spec.array(arr)]),
    )
    data["extra_quantile"] = (
        ("scenario", "extra", "year", "q"),
        _quantiles(results, list(EXTRAS)),
    )
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


def _quantiles(results: list, names: list) -> np.ndarray:
    """Return the 5/50/95% of each output by scenario and year (NaN where a run failed)."""
    q = np.full((len(results), len(names), len(results[0].years), 3), np.nan)
    for s, res in enumerate(results):
        for o, name in enumerate(names):
            arr = res.values[name]
            ok = ~np.isnan(arr).any(axis=1)
            q[s, o, ok] = np.percentile(arr[ok], [5, 50, 95], axis=1).T
    return q


def _us_rank_history(model, history):
    """Return Japan's rank among origins in the US each year Open Doors counts it.

    The rank of each observed count against the rival origins' counts the model
    holds (``students in the us from rival origin``), read at the same time.
    """
    import xarray as xr

    rivals = model.spec.array("students in the us from rival origin")
    tables = {lk.key: lk for lk in model.spec.lookups}
    obs = sorted((o for o in history if o.series == US_SERIES), key=lambda o: o.year)
    years = np.array([o.year for o in obs])
    counts = np.array([o.value for o in obs])
    above = np.zeros(len(obs))
    for el in rivals.values():
        table = tables[el.key]
        above += np.interp(years + 0.5, table.xs, table.ys) > counts
    return xr.DataArray(1 + above, coords={"rank_year": years}, dims="rank_year")


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


def _costs(scenarios, results, model, root: Path, data: dict):
    """Add each programme's public yen a year per additional outcome in 2033 (:data:`COSTS`).

    Each programme's budget is raised in turn against the scenario, in runs
    paired with the scenario's own
    (:func:`~sim.studies.costs.programme_effectiveness`). Kept per programme:
    its outcome, the 億円 actually added (less where the range tops out), the
    median gain, the extra cost FY2024-2033, the yen a year per additional
    unit (5/50/95% over the runs with a gain) and that share of runs, the
    unit it counts in, the graded effect size the gain rests on with its
    grade, and whether a documented unit cost of the programme is a lower
    bound. Returns the rows and the number of runs made.
    """
    scen_name, change, start, ramp = COSTS
    base = next(s for s in scenarios if s.name == scen_name)
    rows = programme_effectiveness(base, model, root, change, start, ramp)
    nan = float("nan")

    def column(key, default=nan):
        return ("programme", np.array([r.get(key, default) for r in rows]))

    for key, col in (
        ("cost_outcome", "outcome"),
        ("cost_acts_on", "acts_on"),
        ("cost_change_oku", "change_oku"),
        ("cost_gain_p50", "gain_p50"),
        ("cost_extra_oku_p50", "extra_cost_oku_p50"),
        ("cost_runs_with_gain", "runs_with_gain"),
    ):
        data[key] = column(col)
    data["cost_yen_per"] = (
        ("programme", "q"),
        np.array(
            [[r.get(f"yen_per_additional_{q}", nan) for q in ("p05", "p50", "p95")] for r in rows]
        ),
    )
    data["cost_per"] = column("per", "")
    data["cost_rests_on"] = column("rests_on", "")
    data["cost_grade"] = (
        "programme",
        np.array([_grade(r.get("rests_on", "")) for r in rows]),
    )
    data["cost_lower_bound"] = (
        "programme",
        np.array([bool(_lower_bounds(model, r["programme"])) for r in rows]),
    )
    variants = programme_scenarios(base, model, change, start, ramp)
    return rows, (1 + len(variants)) * _runs_of(results, scen_name)


def _grade(rests_on: str) -> str:
    """Return the evidence grade in ``'name (grade C, rho +0.95)'``, or ``""``."""
    import re

    found = re.search(r"\(grade (\w+)", rests_on)
    return found.group(1) if found else ""


def _lower_bounds(model, programme: str) -> list:
    """Return the constants of ``programme`` whose documented value bounds its cost below.

    The model names each programme's unit cost after it (``<programme> cost
    per award``, ``... reference budget``) and says in its comment when the
    documented figures only bound it from below (model/README.md, "Budget
    layer").
    """
    return [
        el.name
        for el in model.spec.of_kind("constant")
        if el.name.startswith(f"{programme} ")
        and not el.name.startswith(f"{programme} budget")
        and "lower bound" in el.doc.lower()
    ]


def _runs_of(results: list, scenario: str) -> int:
    """Return the number of runs of ``scenario`` (its ensemble's members or samples)."""
    return next(r.n_runs for r in results if r.scenario.name == scenario)


def _budget_curves(scenarios, results, model, root: Path, rows: list, data: dict) -> int:
    """Add the probability of each target of :data:`CURVE_OUTPUTS` against programme budgets.

    For each target, the programmes acting on its output are ranked by their
    median yen per additional outcome (``rows``, :func:`_costs`); the
    scenarios of :data:`CURVE_SCENARIOS` are tried in turn, each with the
    best :data:`CURVE_PROGRAMMES` it leaves at today's budget
    (:func:`~sim.studies.goal.budget_constant` refuses the others), and the
    first whose curves leave 0 somewhere is kept (else the first that
    accepts any programme: a flat curve is drawn as it is). Also kept: how
    many of the ranked programmes each scenario tried leaves at today's
    budget. Returns the number of runs made.
    """
    by_name = {s.name: s for s in scenarios}
    own = {
        r.scenario.name: {row["target"]: row["probability"] for row in target_rows(r)}
        for r in results
    }
    curves, runs = [], 0
    accepts = np.zeros((len(CURVE_OUTPUTS), len(CURVE_SCENARIOS)), dtype=int)
    for o, output in enumerate(CURVE_OUTPUTS):
        target = next(t for t in TARGETS if t.variable == output)
        ranked = sorted(
            (r for r in rows if r["outcome"] == output),
            key=lambda r: np.nan_to_num(r.get("yen_per_additional_p50", np.nan), nan=np.inf),
        )
        chosen = []
        for k, name in enumerate(CURVE_SCENARIOS):
            scenario = by_name[name]
            allowed = [r["programme"] for r in ranked if _accepts(model, scenario, r["programme"])]
            accepts[o, k] = len(allowed)
            if not allowed or _leaves_zero(chosen):
                continue
            found = [
                {
                    "target": target,
                    "scenario": name,
                    "programme": programme,
                    "today_probability": own[name][target.label],
                    **_curve(scenario, model, root, programme, target),
                }
                for programme in allowed[:CURVE_PROGRAMMES]
            ]
            runs += len(found) * CURVE_POINTS * _runs_of(results, name)
            if not chosen or _leaves_zero(found):
                chosen = found
        curves += chosen
    _store_curves(curves, accepts, data)
    return runs


def _leaves_zero(curves: list) -> bool:
    """Whether any of ``curves`` has a probability above 0 somewhere."""
    return any(np.max(c["probability"]) > 0 for c in curves)


def _accepts(model, scenario, programme: str) -> bool:
    """Whether ``scenario`` leaves ``programme`` at today's budget (its budget can be varied)."""
    try:
        budget_constant(model, scenario, programme)
    except BrainsimError:
        return False
    return True


def _curve(scenario, model, root: Path, programme: str, target) -> dict:
    """Return the probability of ``target`` at :data:`CURVE_POINTS` budgets of ``programme``.

    :func:`~sim.studies.goal.seek`'s grid across the budget lever's ``.mdl``
    range, in runs paired across the budgets; its tolerance is one grid step,
    so it spends no run refining. The budget moves from the lever's ``.mdl``
    start year over its ramp years (kept with the curve).
    """
    lever = model.spec.element(budget_constant(model, scenario, programme))
    lo, hi = lever.limits
    grid = np.linspace(lo, hi, CURVE_POINTS)
    step = (hi - lo) / (CURVE_POINTS - 1)
    answer = seek(
        scenario, model, root, lever.name, target, GOAL[3], CURVE_POINTS, tolerance=1.5 * step
    )
    at = dict(answer.curve)
    start, ramp = lever_timing(model, lever)
    return {
        "budget_oku": grid / MILLION_YEN_PER_OKU,
        "probability": np.array([at[x] for x in grid.tolist()]),
        "today_oku": float(lever.expr.value) / MILLION_YEN_PER_OKU,
        "from": float(start.expr.value),
        "ramp_years": float(ramp.expr.value),
    }


def _store_curves(curves: list, accepts: np.ndarray, data: dict) -> None:
    """Add the curves of :func:`_budget_curves` to ``data`` (dims ``curve``, ``budget_point``)."""
    data["curve_target"] = ("curve", np.array([c["target"].label for c in curves]))
    for key in ("scenario", "programme"):
        data[f"curve_{key}"] = ("curve", np.array([c[key] for c in curves]))
    for key in ("budget_oku", "probability"):
        data[f"curve_{key}"] = (
            ("curve", "budget_point"),
            np.array([c[key] for c in curves]).reshape(len(curves), CURVE_POINTS),
        )
    for key in ("today_oku", "today_probability", "from", "ramp_years"):
        data[f"curve_{key}"] = ("curve", np.array([c[key] for c in curves], dtype=float))
    data["curve_accepts"] = (("curve_output", "curve_tried"), accepts)
