"""The model tests of Sterman, *Business Dynamics* (2000), ch. 21, as runs of a model.

Each test returns a :class:`Verdict`: ``pass``, ``warn`` (a finding a
reviewer should read, not a defect: a parameter fitted at a bound, an output
resting on judgement), ``fail`` (a defect: inconsistent units, NaN, a negative
stock, a value outside the bounds the ``.mdl`` declares, an integration error
above its tolerance, a headline series fitted worse than its bar) or
``not run`` (its input, such as history, is missing). The tests that need
the model's documents (loops, named cases) are assembled in
:mod:`sim.reports.validation`; those here take only the model and arrays.
"""

import dataclasses
import math

import numpy as np

from sim.engine.errors import SimulationError
from sim.engine.simulate import integrate

PASS, WARN, FAIL, NOT_RUN = "pass", "warn", "fail", "not run"
CONTROLS = {"initial_time", "final_time", "time_step", "saveper"}
UNIT_KINDS = ("units", "no units", "bad units")

# Integration error: halving TIME STEP may move an output by at most this share.
STEP_TOLERANCE = 0.01
# Below these magnitudes a change is measured against the floor, not the value
# (a ratio near 0, a stock of a few people).
STEP_FLOOR = {"dmnl": 1e-3}
STEP_FLOOR_DEFAULT = 1.0
# A stock below -NEGATIVE_TOLERANCE x its largest magnitude is negative (Euler's
# rounding leaves about -1e-12 where a stock empties exactly).
NEGATIVE_TOLERANCE = 1e-6
# Corner-heavy draws: Beta(a, a) quantiles of a Latin hypercube put most values
# within 10% of a range limit.
CORNER_BETA = 0.2
CHUNK = 500
# A loop whose cut moves its output by less than this share is reported as inert.
INERT_LOOP = 1e-3
# Theil's U^S above this: the model's variation differs from the data's
# (Sterman 1984); reported, not failed, beside each series' MAPE bar.
THEIL_US = 0.5


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One test's result: its status, a one-line summary, detail lines and data for figures."""

    test: str
    status: str
    summary: str
    details: tuple = ()
    data: dict = dataclasses.field(default_factory=dict, compare=False)


def overall(verdicts: list) -> str:
    """``fail`` if any test failed, else ``warn`` if any warned, else ``pass``."""
    statuses = {v.status for v in verdicts}
    return FAIL if FAIL in statuses else WARN if WARN in statuses else PASS


def _status(fails: list, warns: list = ()) -> str:
    return FAIL if fails else WARN if warns else PASS


def _series(result, model, name: str) -> np.ndarray:
    """Output ``name`` of ``result`` as ``(time, run)`` (outputs come in model order)."""
    key = model.spec.element(name).key
    j = next(j for j, (k, _, _) in enumerate(result.outputs) if k == key)
    return np.broadcast_to(result.series(j), (len(result.times), result.n_runs))


# --- dimensional consistency ------------------------------------------------------------


def dimensional_consistency(spec) -> Verdict:
    """Every equation's units agree (``brainsim check``'s units findings)."""
    from sim.engine.check import check_model

    problems = [p for p in check_model(spec) if p.kind in UNIT_KINDS]
    equations = sum(1 for el in spec.elements if el.name.lower().replace(" ", "_") not in CONTROLS)
    return Verdict(
        "dimensional consistency",
        FAIL if problems else PASS,
        f"{equations} equations checked; {len(problems)} dimensionally inconsistent",
        tuple(f"[{p.kind}] {p.message}" for p in problems),
    )


# --- extreme conditions -----------------------------------------------------------------


def ranged_constants(model) -> list:
    """Constants with a range wider than a point, not the time controls."""
    out = []
    for el in model.spec.of_kind("constant"):
        lo, hi = el.limits
        if el.key in CONTROLS or lo is None or hi is None or not lo < hi:
            continue
        out.append(el)
    return out


def limit_cases(model) -> list:
    """``(label, params, tables)`` of each constant at each limit and each lookup at its bounds.

    A lookup with a declared y range is held flat at its lowest and at its
    highest value (a cohort of 0, an exchange rate at either end of its range).
    """
    cases = []
    for el in ranged_constants(model):
        for side, value in zip(("minimum", "maximum"), el.limits, strict=True):
            cases.append((f"{el.name} = {value:g} (its {side})", {el.name: value}, {}))
    names = {el.key: el.name for el in model.spec.elements}
    for lookup in model.spec.lookups:
        if lookup.bounds is None:
            continue
        (x0, x1), (y0, y1) = lookup.bounds
        xs = [min(x0, lookup.xs[0]), max(x1, lookup.xs[-1])]
        if xs[0] == xs[1]:
            xs[1] = xs[0] + 1
        name = names[lookup.key]
        for side, y in (("lowest", y0), ("highest", y1)):
            cases.append((f"{name} held at {y:g} (its {side})", {}, {name: (xs, [y, y])}))
    return cases


def corner_draws(model, n: int, seed: int) -> dict:
    """``n`` Latin-hypercube draws of every ranged constant, pushed towards its limits."""
    from scipy.stats import beta, qmc

    constants = ranged_constants(model)
    unit = qmc.LatinHypercube(d=len(constants), seed=seed).random(n)
    q = beta.ppf(unit, CORNER_BETA, CORNER_BETA)
    # clipped: lo + 1 * (hi - lo) can round past hi
    return {
        el.name: np.clip(el.limits[0] + q[:, j] * (el.limits[1] - el.limits[0]), *el.limits)
        for j, el in enumerate(constants)
    }


def bounded_outputs(model) -> list:
    """Stocks and every variable with a declared ``[min, max]``: what extremes are judged on."""
    out = []
    for el in model.spec.elements:
        if el.kind in ("constant", "lookup", "control"):
            continue
        if el.kind == "stock" or any(b is not None for b in el.limits):
            out.append(el)
    return out


def screen(model, params: dict, tables: dict, labels: list, elements: list) -> list:
    """Run ``params`` (one run per label) and return one line per run-variable problem.

    A run that stops on NaN is found by splitting the batch in halves, so one
    bad draw does not hide the others.
    """
    n = len(labels)
    try:
        result = integrate(
            model,
            params,
            tables=tables,
            outputs=[el.name for el in elements],
            saveper=model.controls["time_step"],
            workers=1,
        )
    except SimulationError as err:
        if n == 1:
            return [f"{labels[0]}: {err}"]
        half = n // 2
        parts = [slice(0, half), slice(half, n)]
        out = []
        for part in parts:
            sub = {k: (v[part] if np.ndim(v) else v) for k, v in params.items()}
            out += screen(model, sub, tables, labels[part], elements)
        return out
    problems = []
    for el in elements:
        values = _series(result, model, el.name)
        for what, bad, at in _breaches(values, el.limits):
            for r in np.flatnonzero(bad):
                k = int(at(values[:, r]))
                problems.append(
                    f"{labels[r]}: '{el.name}' {what} (value {values[k, r]:.6g} at time "
                    f"{result.times[k]:g})"
                )
    return problems


def _breaches(values: np.ndarray, limits: tuple) -> list:
    """Return ``(what, bad runs, where in a run)`` for each way ``values`` can go wrong."""
    lo, hi = limits
    scale = np.maximum(np.nanmax(np.abs(values), axis=0), 1.0)
    out = [
        (
            "is not finite",
            ~np.all(np.isfinite(values), axis=0),
            lambda v: np.argmax(~np.isfinite(v)),
        )
    ]
    with np.errstate(invalid="ignore"):
        if lo is not None:
            low = values.min(axis=0) < lo - NEGATIVE_TOLERANCE * scale
            out.append((f"falls below its minimum {lo:g}", low, np.argmin))
        if hi is not None:
            high = values.max(axis=0) > hi + NEGATIVE_TOLERANCE * scale
            out.append((f"exceeds its maximum {hi:g}", high, np.argmax))
    return out


def extreme_conditions(model, named: list, draws: int, seed: int, tick=None) -> Verdict:
    """No NaN, negative stock or value outside declared bounds at the limits of every input.

    ``named`` holds ``(label, params, tables)`` cases a reviewer names (a
    closed border, ...); every constant at each limit alone, every bounded
    lookup held at its ends and ``draws`` corner-heavy combinations are added.
    """
    elements = bounded_outputs(model)
    alone = [c for c in limit_cases(model) if not c[2]]
    flat = [c for c in limit_cases(model) if c[2]]
    problems = []
    # constants at a limit alone: one vectorised batch of the defaults with one change each
    defaults = {el.name: float(el.expr.value) for el in ranged_constants(model)}
    batch = {name: np.full(len(alone), value) for name, value in defaults.items()}
    for i, (_, params, _) in enumerate(alone):
        for name, value in params.items():
            batch[name][i] = value
    problems += screen(model, batch, {}, [c[0] for c in alone], elements)
    if tick:
        tick()
    for label, params, tables in flat + list(named):
        problems += screen(model, params, tables, [label], elements)
    if tick:
        tick()
    if draws:
        sample = corner_draws(model, draws, seed)
        for a in range(0, draws, CHUNK):
            part = {k: v[a : a + CHUNK] for k, v in sample.items()}
            labels = [f"corner draw {i} (seed {seed})" for i in range(a, min(a + CHUNK, draws))]
            problems += screen(model, part, {}, labels, elements)
            if tick:
                tick()
    runs = len(alone) + len(flat) + len(named) + draws
    summary = (
        f"{runs} runs ({len(alone)} with one constant at a limit, {len(flat)} with a lookup "
        f"held at an end of its range, {len(named)} named cases, {draws} corner-heavy "
        f"combinations), {len(elements)} variables judged: {len(problems)} problems"
    )
    return Verdict(
        "extreme conditions",
        _status(problems),
        summary,
        tuple(problems[:50])
        + ((f"... and {len(problems) - 50} more",) if len(problems) > 50 else ()),
        {"named": [c[0] for c in named]},
    )


# --- integration error ------------------------------------------------------------------


def extreme_members(model, members: dict, outputs: list) -> tuple:
    """Return ``(parameters, member numbers)``: the members at the extremes of each output.

    For each output, the members with its lowest and its highest final value.
    """
    if not members:
        return {}, np.array([], dtype=int)
    result = integrate(model, members, outputs=outputs, saveper=model.controls["saveper"])
    chosen = set()
    for name in outputs:
        final = _series(result, model, name)[-1]
        chosen |= {int(np.argmin(final)), int(np.argmax(final))}
    idx = np.array(sorted(chosen))
    return {name: np.asarray(v)[idx] for name, v in members.items()}, idx


def _after_default(model, members: dict) -> dict:
    """Parameter arrays: run 0 at the ``.mdl``'s defaults, then one run per member."""
    return {
        name: np.r_[float(model.spec.element(name).expr.value), np.asarray(values, dtype=float)]
        for name, values in members.items()
    }


def integration_error(model, members: dict, index, outputs: list) -> Verdict:
    """Halving TIME STEP moves no output by :data:`STEP_TOLERANCE` or more at any saved time.

    Run for the ``.mdl``'s defaults and ``members`` (e.g. the ensemble's
    extremes; a dict of arrays), ``index`` naming them.
    """
    params = _after_default(model, members)
    labels = ["default"] + [f"ensemble member {i}" for i in index]
    dt = model.controls["time_step"]
    saveper = model.controls["saveper"]
    full = integrate(model, params, outputs=outputs, saveper=saveper)
    half = integrate(model, params, outputs=outputs, saveper=saveper, time_step=dt / 2)
    misses, worst = [], {}
    for name in outputs:
        a, b = _series(full, model, name), _series(half, model, name)
        units = model.spec.element(name).units.strip().lower()
        floor = STEP_FLOOR.get(units, STEP_FLOOR_DEFAULT)
        moved = np.abs(a - b) / np.maximum(np.abs(b), floor)
        worst[name] = moved.max(axis=1)
        k, r = np.unravel_index(np.argmax(moved), moved.shape)
        if moved[k, r] >= STEP_TOLERANCE:
            misses.append(
                f"'{name}', {labels[r]}, time {full.times[k]:g}: {a[k, r]:.6g} at TIME STEP "
                f"{dt:g} against {b[k, r]:.6g} at {dt / 2:g} ({100 * moved[k, r]:.2f}%)"
            )
    largest = max(worst, key=lambda n: worst[n].max())
    summary = (
        f"{len(outputs)} outputs x {len(labels)} runs x {len(full.times)} saved times: largest "
        f"move {100 * worst[largest].max():.3f}% ('{largest}'); tolerance "
        f"{100 * STEP_TOLERANCE:g}%"
    )
    return Verdict(
        "integration error",
        _status(misses),
        summary,
        tuple(misses),
        {"times": full.times, "worst": worst, "runs": labels},
    )


def chattering(model, members: dict) -> Verdict:
    """No flow or stock rate zigzags step after step, at the defaults or in any member.

    ``members`` holds parameter arrays, one value per member (e.g. the whole
    calibrated ensemble); see :mod:`sim.engine.chatter` for what counts.
    """
    from sim.engine.chatter import FACTOR, STEPS, find_chattering

    params = _after_default(model, members)
    n = len(next(iter(members.values()))) if members else 0
    labels = ["default"] + [f"ensemble member {i}" for i in range(n)]
    found = find_chattering(model, params)
    runs = sorted({r for ch in found for r in ch.runs})
    summary = (
        f"{len(labels)} runs (the defaults and {len(labels) - 1} ensemble members), every "
        f"flow and stock rate at every TIME STEP: {len(found)} chattering, in {len(runs)} runs "
        f"(a swing is a move against the last one that changes sign or passes {FACTOR:g}x; "
        f"{STEPS} in a row chatter)"
    )
    details = tuple(ch.describe(labels) for ch in found)
    return Verdict("chattering", _status(details), summary, details, {"runs": runs})


# --- behaviour reproduction ------------------------------------------------------------


def behaviour_reproduction(model, observations: tuple, bars: dict) -> Verdict:
    """Fit statistics of the ``.mdl``'s defaults per series; fail where a MAPE bar is missed.

    ``bars`` maps a series name to its largest MAPE [%] (over all its bases);
    series with Theil's U^S above :data:`THEIL_US` are reported as warnings.
    """
    from sim.studies.calibrate import fit_statistics, make_problem, modelled, report_rows

    problem = make_problem(model, observations, names=[])
    sim_obs = modelled(problem, np.zeros((0, 1)))[:, 0]
    rows = report_rows(problem, sim_obs)
    data = problem.data
    fails, warns = [], []
    for series, bar in bars.items():
        idx = [i for i, o in enumerate(data.observations) if o.series == series]
        if not idx:
            continue
        mape = fit_statistics(data.y[idx], sim_obs[idx])["mape"]
        if mape > bar:
            fails.append(f"{series}: MAPE {mape:.1f}% above its bar {bar:g}%")
    for row in rows:
        if row["weight"] > 0 and row["n"] >= 5 and row.get("us", 0) > THEIL_US:
            warns.append(
                f"{row['series']}: Theil U^S {row['us']:.2f} above {THEIL_US:g} (MAPE "
                f"{row['mape']:.1f}%): the model's swings differ in size from the data's"
            )
    worst = max(rows, key=lambda r: r["mape"] if r["weight"] > 0 else -1)
    summary = (
        f"{len(rows)} series, {len(data.y)} observations; {len(bars)} headline bars, "
        f"{len(fails)} missed; largest MAPE of a fitted series {worst['mape']:.1f}% "
        f"({worst['series']}); {len(warns)} with U^S > {THEIL_US:g}"
    )
    return Verdict(
        "behaviour reproduction",
        _status(fails, warns),
        summary,
        tuple(fails + warns),
        {"rows": rows},
    )


# --- parameter assessment ---------------------------------------------------------------


def parameter_assessment(model, observations: tuple | None) -> Verdict:
    """Every constant documented (range, source, prior); fitted ones checked against the data.

    Documentation problems fail. A fitted parameter at a bound of its range,
    not identified by the data (its Jacobian column is zero) or with a
    standard error above its value is a warning: the model README must say why.
    """
    from sim.engine.check import check_model
    from sim.studies.calibrate import calibrated_names, linearised, make_problem

    fails = [
        f"[{p.kind}] {p.message}" for p in check_model(model.spec) if p.kind not in UNIT_KINDS
    ]
    warns, rows = [], []
    names = calibrated_names(model.spec)
    if observations and names:
        problem = make_problem(model, observations, names)
        values = np.array([float(model.spec.element(n).expr.value) for n in names])
        local = linearised(problem, values)
        stderr = local.stderr(problem)
        column = np.linalg.norm(local.jacobian, axis=0)
        for i, name in enumerate(names):
            lo, hi = problem.lower[i], problem.upper[i]
            width = hi - lo
            flags = []
            if values[i] <= lo + 1e-3 * width or values[i] >= hi - 1e-3 * width:
                flags.append(f"at a bound of [{lo:g}, {hi:g}]")
            if column[i] <= 1e-9 * max(column.max(), 1e-300):
                flags.append("not identified (the data do not move with it)")
            elif stderr[i] > abs(values[i]):
                flags.append(f"standard error {stderr[i]:.3g} above its value")
            rows.append((name, values[i], stderr[i], "; ".join(flags)))
            if flags:
                warns.append(f"'{name}' = {values[i]:.6g}: {'; '.join(flags)}")
    summary = (
        f"{sum(1 for el in model.spec.of_kind('constant'))} constants documented, "
        f"{len(fails)} problems; {len(names)} fitted"
        + (
            f", {len(warns)} at a bound, unidentified or imprecise"
            if rows
            else " (not assessed: no history)"
            if names
            else ""
        )
    )
    return Verdict(
        "parameter assessment",
        _status(fails, warns),
        summary,
        tuple(fails + warns),
        {"rows": rows},
    )


# --- sensitivity to judgement ----------------------------------------------------------


def judgement_sensitivity(
    model, outputs: list, timing: dict, year: int, n: int, constants: dict, tables: dict
) -> Verdict:
    """Which outputs rest on effect sizes of evidence grade C (judgement).

    Draws every stated prior (``n`` Latin-hypercube draws, the scenario runs'
    seed) with the rest at ``constants`` over the ``.mdl``; an output whose
    5-95% spread is over 5% of its median and rank-correlates with a grade-C
    effect (|rho| at least the driver threshold) is a warning.
    """
    from scipy.stats import spearmanr

    from sim.engine.priors import stated_priors
    from sim.studies.history import observe
    from sim.studies.runner import DRIVER_RHO, prior_draws

    priors = stated_priors(model.spec)
    if not priors:
        return Verdict("sensitivity to judgement", NOT_RUN, "no effect size states a prior")
    draws = prior_draws(model, n)
    result = integrate(
        model,
        {**constants, **draws},
        tables=tables,
        outputs=outputs,
        saveper=model.controls["time_step"],
    )
    rows, warns = [], []
    for name in outputs:
        series = _series(result, model, name)
        value = observe(result.times, series, year, timing[name])
        p05, p50, p95 = np.percentile(value, [5, 50, 95])
        spread = (p95 - p05) / abs(p50) if p50 else math.inf
        drivers = []
        if np.ptp(value) > 0:
            for effect, x in draws.items():
                rho = float(spearmanr(x, value).statistic)
                if abs(rho) >= DRIVER_RHO:
                    drivers.append((effect, priors[effect].grade, rho))
        drivers.sort(key=lambda d: -abs(d[2]))
        rows.append((name, p05, p50, p95, spread, drivers))
        graded_c = [d for d in drivers if d[1] == "C"]
        if graded_c and spread > 0.05:
            warns.append(
                f"'{name}' {year}: 5-95% {fmt(p05)} to {fmt(p95)} from effect sizes alone "
                f"({100 * spread:.0f}% of the median), resting on grade C "
                + ", ".join(f"{e} (rho {r:+.2f})" for e, _, r in graded_c)
            )
    summary = (
        f"{len(priors)} effect sizes with priors ({_grades(priors)}), {n} draws, "
        f"{len(outputs)} outputs in {year}: {len(warns)} rest on grade-C judgement"
    )
    return Verdict(
        "sensitivity to judgement", _status([], warns), summary, tuple(warns), {"rows": rows}
    )


def fmt(value: float) -> str:
    """Return a count with thousands separators, a ratio with three digits."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _grades(priors: dict) -> str:
    counts: dict = {}
    for p in priors.values():
        counts[p.grade] = counts.get(p.grade, 0) + 1
    return ", ".join(f"{k} grade {g}" for g, k in sorted(counts.items()))
