"""Run scenarios over their uncertainty and judge them against the targets.

A scenario becomes one vectorised run: one column per ensemble member (or
per sampled parameter set), with the scenario's constants, levers and
lookup overrides applied to every column. Each output is then measured year
by year as its data are (1 May stocks, fiscal-year means of flows; see
:mod:`sim.history`), and only those yearly values are kept.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.calibrate import read_ensemble
from sim.errors import BrainsimError
from sim.history import timing_weights
from sim.scenario import Scenario
from sim.targets import OUTPUT_TIMING

PROJECTION_START = 2024  # the first year a target can be newly met (after the data end)


@dataclass(frozen=True)
class ScenarioResult:
    """Yearly measured outputs of one scenario, for every run."""

    scenario: Scenario
    years: np.ndarray  # whole years
    values: dict  # variable -> array (year, run); NaN where the year is not covered
    timing: dict  # variable -> observation rule
    n_runs: int
    ensemble_sha256: str


def rule_for(model, name: str) -> str:
    """How an output is measured: its target's rule, else a stock on 1 May, else a fiscal mean."""
    if name in OUTPUT_TIMING:
        return OUTPUT_TIMING[name]
    return "may1" if model.spec.element(name).kind == "stock" else "fiscal_mean"


def output_timing(model, observations=()) -> dict:
    """Return the target outputs, then every variable history observes, with their rules."""
    timing = dict(OUTPUT_TIMING)
    for obs in observations:
        timing.setdefault(model.spec.element(obs.model_variable).name, obs.timing)
    return timing


def parameters(scenario: Scenario, model, root) -> tuple:
    """Return ``(params, n_runs, ensemble sha256)`` for a scenario's runs."""
    import hashlib

    unc = scenario.uncertainty
    params: dict = {}
    sha = ""
    n = 1
    if unc.kind == "ensemble":
        path = Path(root) / unc.ensemble  # an absolute path stays as it is
        _, names, values = read_ensemble(path, model)
        with open(path, "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest()
        params = {name: values[:, j] for j, name in enumerate(names)}
        n = len(values)
    elif unc.kind == "distributions":
        params = sample_distributions(unc.distributions, unc.samples, unc.seed, model)
        n = unc.samples
    params.update(scenario_constants(scenario))
    return params, n, sha


def scenario_constants(scenario: Scenario) -> dict:
    """Return the constants a scenario fixes: its ``set``, and each policy's lever and timing."""
    out = dict(scenario.set)
    for p in scenario.policies:
        out[p.lever] = p.to
        out["policy start year"] = p.start
        out["policy ramp years"] = p.ramp_years
    return out


def sample_distributions(dists: tuple, samples: int, seed: int, model) -> dict:
    """Latin-hypercube draws of each constant's distribution, clipped to its .mdl range."""
    from scipy.stats import norm, qmc, triang

    unit = qmc.LatinHypercube(d=len(dists), seed=seed).random(samples)
    out = {}
    for j, (name, family, p) in enumerate(dists):
        u = unit[:, j]
        if family == "uniform":
            x = p[0] + u * (p[1] - p[0])
        elif family == "normal":
            x = norm.ppf(u, loc=p[0], scale=p[1])
        else:
            c = (p[1] - p[0]) / (p[2] - p[0])
            x = triang.ppf(u, c, loc=p[0], scale=p[2] - p[0])
        lo, hi = model.spec.element(name).limits
        out[name] = np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    return out


def tables(scenario: Scenario, model) -> dict:
    """Lookup overrides: the .mdl's points before the first year given, then the scenario's."""
    out = {}
    by_key = {lk.key: lk for lk in model.spec.lookups}
    for name, (xs, ys) in scenario.series.items():
        base = by_key[model.spec.element(name).key]
        keep = [(x, y) for x, y in zip(base.xs, base.ys, strict=True) if x < xs[0]]
        out[name] = ([x for x, _ in keep] + list(xs), [y for _, y in keep] + list(ys))
    return out


def run_scenarios(scenarios: list, model, timing: dict, root, workers=None) -> list:
    """Run every scenario over its uncertainty; measure every output year by year.

    Scenarios with the same lookups run side by side in one vectorised pass;
    the runs are cut into chunks of at most :data:`CHUNK`, shared out across
    the cores. A run's numbers do not depend on its neighbours.
    """
    prepared = [parameters(s, model, root) for s in scenarios]
    groups: dict = {}
    for i, s in enumerate(scenarios):
        groups.setdefault(repr(sorted(tables(s, model).items())), []).append(i)
    batches = [list(ix) for ix in groups.values()]
    jobs = [(scenarios[ix[0]], *_join([prepared[i] for i in ix], model)) for ix in batches]
    years = _years(model)
    out = {}
    for indices, measured in zip(batches, _measure_all(jobs, model, timing, workers), strict=True):
        start = 0
        for i in indices:
            _, n, sha = prepared[i]
            values = {name: arr[:, start : start + n] for name, arr in measured.items()}
            out[i] = ScenarioResult(scenarios[i], years, values, dict(timing), n, sha)
            start += n
    return [out[i] for i in range(len(scenarios))]


def measure_runs(
    scenario: Scenario, model, timing: dict, params: dict, n: int, workers=None, progress=None
) -> dict:
    """Run ``n`` parameter sets under the scenario's lookups; measure each output by year.

    ``params`` maps a constant to a value or an array of ``n``; each output
    comes back shaped ``(year, run)``. Memory stays bounded whatever ``n``
    (see :func:`_measure_all`); ``progress(done, total)`` is called as chunks
    finish in this process.
    """
    full = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in params.items()}
    return _measure_all([(scenario, full, n)], model, timing, workers, progress)[0]


def _measure_all(jobs: list, model, timing: dict, workers=None, progress=None) -> list:
    """Measure every job ``(scenario, params of n runs, n)``; one dict of outputs per job.

    The runs of all jobs are cut into chunks of at most :data:`CHUNK`, which
    are shared out across the cores together, so that small jobs fill the
    cores alongside large ones.
    """
    import os

    from sim.parallel import parallel_map

    tasks = [
        (b, a, min(a + CHUNK, n)) for b, (_, _, n) in enumerate(jobs) for a in range(0, n, CHUNK)
    ]
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    shares = [tasks[w::n_workers] for w in range(n_workers)]

    def work(share):
        out = []
        for k, (b, a, e) in enumerate(share):
            scenario, params, _ = jobs[b]
            out.append(
                _measure({key: v[a:e] for key, v in params.items()}, scenario, model, timing)
            )
            if progress is not None:
                progress((k + 1) * n_workers, len(tasks))
        return out

    done = dict(
        zip(
            [t for share in shares for t in share],
            [m for part in parallel_map(work, shares) for m in part],
            strict=True,
        )
    )
    return [
        {
            name: np.concatenate([done[t][name] for t in tasks if t[0] == b], axis=1)
            for name in timing
        }
        for b in range(len(jobs))
    ]


def run_scenario(scenario: Scenario, model, timing: dict, root, workers=None) -> ScenarioResult:
    """Run one scenario over its uncertainty; measure every output year by year."""
    return run_scenarios([scenario], model, timing, root, workers)[0]


def _join(prepared: list, model) -> tuple:
    """Put the runs of several scenarios side by side: ``(params, total runs)``."""
    sizes = [n for _, n, _ in prepared]
    keyed = [{model.spec.element(k).key: v for k, v in p.items()} for p, _, _ in prepared]
    joined = {}
    for key in dict.fromkeys(k for params in keyed for k in params):
        default = model.defaults[model.param_keys.index(key)]
        parts = [
            np.broadcast_to(np.asarray(params.get(key, default), dtype=float), (n,))
            for params, n in zip(keyed, sizes, strict=True)
        ]
        joined[model.spec.element(key).name] = np.concatenate(parts)
    return joined, int(sum(sizes))


CHUNK = 1000  # runs integrated together in one process at a time


def _years(model) -> np.ndarray:
    t0, tf = model.controls["initial_time"], model.controls["final_time"]
    return np.arange(int(math.ceil(t0)), int(tf) + 1)


def _measure(params: dict, scenario: Scenario, model, timing: dict) -> dict:
    """Integrate one chunk of runs and measure every output year by year."""
    from sim.simulate import integrate

    result = integrate(
        model,
        params,
        saveper=model.controls["time_step"],
        outputs=list(timing),
        tables=tables(scenario, model),
        scenario=scenario.name,
        workers=1,
    )
    years = _years(model)
    weights = {rule: _year_weights(result.times, years, rule) for rule in set(timing.values())}
    keys = [k for k, _, _ in result.outputs]
    return {
        # NaN rows: years whose window the run does not cover
        name: weights[rule] @ result.series(keys.index(model.spec.element(name).key))
        for name, rule in timing.items()
    }


def _year_weights(times: np.ndarray, years: np.ndarray, rule: str) -> np.ndarray:
    """Rows of :func:`timing_weights` for each year; NaN rows where the run ends too early."""
    w = np.full((len(years), len(times)), np.nan)
    for i, year in enumerate(years):
        try:
            w[i] = timing_weights(times, int(year), rule)
        except BrainsimError:
            continue
    return w


# --- summaries -------------------------------------------------------------------


def quantile_rows(res: ScenarioResult) -> list:
    """Rows ``(scenario, variable, year, p05, p50, p95)``; years not covered are left out."""
    rows = []
    for name, arr in res.values.items():
        ok = ~np.isnan(arr).any(axis=1)
        q = np.percentile(arr[ok], [5, 50, 95], axis=1)
        for year, p05, p50, p95 in zip(res.years[ok], *q, strict=True):
            rows.append((res.scenario.name, name, int(year), float(p05), float(p50), float(p95)))
    return rows


def target_rows(res: ScenarioResult) -> list:
    """One row per target: median and 5-95% in the target year, probability, median year met."""
    rows = []
    for tgt in res.scenario.targets:
        arr = res.values.get(tgt.variable)
        if arr is None:
            raise BrainsimError(f"target variable '{tgt.variable}' was not measured")
        at = int(np.searchsorted(res.years, tgt.year))
        value = arr[at]
        if np.isnan(value).any():
            raise BrainsimError(f"{tgt.describe()}: the run does not cover that year")
        p05, p50, p95 = np.percentile(value, [5, 50, 95])
        rows.append(
            {
                "scenario": res.scenario.name,
                "target": tgt.label or tgt.variable,
                "variable": tgt.variable,
                "year": tgt.year,
                "goal": tgt.value,
                "sense": tgt.sense,
                "p05": float(p05),
                "p50": float(p50),
                "p95": float(p95),
                "probability": float(np.mean(tgt.met(value))),
                "median_year_met": _median_first_year(res.years, arr, tgt),
            }
        )
    return rows


def _median_first_year(years, arr, tgt) -> str:
    mask = (years >= PROJECTION_START) & ~np.isnan(arr).any(axis=1)
    ys, vals = years[mask], arr[mask]
    met = tgt.met(vals)
    first = np.where(met.any(axis=0), ys[np.argmax(met, axis=0)], np.inf)
    median = float(np.median(first))
    return str(int(math.ceil(median))) if math.isfinite(median) else f"not by {int(ys[-1])}"
