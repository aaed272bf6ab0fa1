"""Run scenarios over their uncertainty and judge them against the targets.

A scenario becomes one vectorised run: one column per ensemble member (or
per sampled parameter set), with the scenario's constants, levers and
lookup overrides applied to every column. Each output is then measured year
by year as its data are (1 May stocks, fiscal-year means of flows; see
:mod:`sim.studies.history`), and only those yearly values are kept.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.engine.errors import BrainsimError
from sim.studies.calibrate import ensemble_model_mismatch, read_ensemble
from sim.studies.history import default_rule, timing_weights
from sim.studies.scenario import Scenario
from sim.studies.targets import OUTPUT_TIMING, PROJECTION_START


@dataclass(frozen=True)
class ScenarioResult:
    """Yearly measured outputs of one scenario, for every run."""

    scenario: Scenario
    years: np.ndarray  # whole years
    values: dict  # variable -> array (year, run); NaN where the year is not covered
    timing: dict  # variable -> observation rule
    n_runs: int
    ensemble_sha256: str
    # effect sizes drawn from their priors: name -> (evidence grade, draws per run)
    effects: dict = field(default_factory=dict)


def rule_for(model, name: str) -> str:
    """How an output is measured: its target's rule, else a stock on 1 May, else a fiscal mean."""
    return default_rule(model, name)


def output_timing(model, observations=()) -> dict:
    """Return the target outputs, then every variable history observes, with their rules."""
    # the targets' outputs that the model defines: another model has its own names
    timing = {name: rule for name, rule in OUTPUT_TIMING.items() if model.spec.has(name)}
    for obs in observations:
        timing.setdefault(model.spec.element(obs.model_variable).name, obs.timing)
    return timing


def kept_outputs(model, timing: dict, extra=()) -> tuple:
    """Return ``(timing, outputs)``: the rules of every output measured, and those kept run by run.

    The target outputs are always kept, then the variables named in ``extra``
    (any spelling); each extra output not yet in ``timing`` gets its rule.
    """
    from sim.engine.simulate import find_element

    timing = dict(timing)
    try:
        named = []
        for name in extra:  # a subscripted variable's name stands for all its elements
            members = model.spec.array(name)
            named += [el.name for el in members.values()] or [find_element(model, name).name]
    except BrainsimError as err:
        raise BrainsimError(f"--outputs: {err}") from None
    outputs = list(dict.fromkeys([n for n in timing if n in OUTPUT_TIMING] + named))
    for name in outputs:
        timing.setdefault(name, rule_for(model, name))
    return timing, outputs


def stale_ensembles(scenarios: list, model, root) -> list:
    """Return a note for each ensemble the scenarios use that was made from another model."""
    paths = {
        Path(root) / s.uncertainty.ensemble for s in scenarios if s.uncertainty.kind == "ensemble"
    }
    return [note for note in (ensemble_model_mismatch(p, model) for p in sorted(paths)) if note]


def chattering_notes(scenario: Scenario, model, root) -> list:
    """Return a note for each variable that zigzags step after step in the scenario's runs."""
    from sim.engine.chatter import find_chattering

    params, _, _ = parameters(scenario, model, root)
    found = find_chattering(model, params, tables=tables(scenario, model))
    where = scenario.files[0][0] if scenario.files else scenario.name
    return [
        f"{where}: {ch.describe()}; Euler at this TIME STEP overshoots there (see "
        "`brainsim validate`'s chattering test), so those runs' numbers are not to be trusted"
        for ch in found
    ]


# Seed of the effect sizes' draws alongside the ensemble: the same draws in every
# scenario, so that scenarios differ only by what they set.
PRIOR_SEED = 20261201
# Below this rank correlation an effect size's draws explain too little of a
# target's spread (under 4% of its rank variance) to name it as the driver.
DRIVER_RHO = 0.2


def prior_draws(model, n: int) -> dict:
    """Latin-hypercube draws of every effect size that states a prior (n of each), seeded."""
    from sim.engine.priors import stated_priors

    dists = tuple((name, p.family, p.params) for name, p in stated_priors(model.spec).items())
    return sample_distributions(dists, n, PRIOR_SEED, model) if dists else {}


# The two sources of uncertainty of a run over the ensemble: the calibrated
# parameters (the ensemble's members) and the effect sizes (drawn from their priors).
SOURCES = ("calibration", "effects")


def parameters(
    scenario: Scenario, model, root, ensembles: dict | None = None, vary: tuple = SOURCES
) -> tuple:
    """Return ``(params, n_runs, ensemble sha256)`` for a scenario's runs.

    ``ensembles`` keeps each ensemble file read, and the effect sizes drawn for
    it, for the next scenario that uses it.
    ``vary`` names the sources of :data:`SOURCES` that vary from run to run in a
    scenario over the ensemble; a source left out is held at its ``.mdl`` values
    (the calibrated parameters at the best fit, each effect size at its stated
    value) in every run. The number of runs and the draws of the source that
    varies stay the same, so run ``i`` holding one source pairs with run ``i``
    varying both; with nothing left to vary, the scenario runs once.
    """
    import hashlib

    unknown = set(vary) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; choose from {SOURCES}")
    unc = scenario.uncertainty
    params: dict = {}
    sha = ""
    n = 1
    if unc.kind == "distributions" and set(vary) != set(SOURCES):
        raise BrainsimError(
            f"{scenario.name}: only a scenario over the ensemble can hold a source of "
            "uncertainty; this one draws its own distributions"
        )
    if unc.kind == "ensemble":
        path = Path(root) / unc.ensemble  # an absolute path stays as it is
        cache = {} if ensembles is None else ensembles
        if path not in cache:
            _, names, values = read_ensemble(path, model)
            with open(path, "rb") as fh:
                cache[path] = (names, values, hashlib.sha256(fh.read()).hexdigest())
        names, values, sha = cache[path]
        n = len(values)
        if "calibration" in vary:
            params = {name: values[:, j] for j, name in enumerate(names)}
        if "effects" in vary:
            # the effect sizes no fit can identify come with the ensemble, from their
            # priors: the same draws for every scenario, so drawn once
            key = ("prior draws", model.spec.sha256, n)
            if key not in cache:
                cache[key] = prior_draws(model, n)
            params.update(cache[key])
        if not params:
            n = 1
    elif unc.kind == "distributions":
        check_runs(
            f"{scenario.files[0][0]}: uncertainty.samples", unc.samples, model, 32, "samples"
        )
        params = sample_distributions(unc.distributions, unc.samples, unc.seed, model)
        n = unc.samples
    params.update(scenario_constants(scenario))
    return params, n, sha


def check_runs(what: str, runs: int, model, outputs: int, fix: str = "it") -> None:
    """Refuse ``runs`` of ``model`` keeping ``outputs`` yearly series that will not fit."""
    from sim.engine.budget import check_size

    ctl = model.controls
    steps = (ctl["final_time"] - ctl["initial_time"]) / ctl["time_step"]
    years = ctl["final_time"] - ctl["initial_time"] + 1
    # each kept series is held year by year in a few copies (runs, joins, quantiles)
    per_run = 8 * (3 * outputs * years + len(model.param_keys))
    check_size(what, runs, per_run, steps, fix)


def scenario_constants(scenario: Scenario) -> dict:
    """Return the constants a scenario fixes: its ``set``, and each policy's lever and timing."""
    out = dict(scenario.set)
    for p in scenario.policies:
        out[p.lever] = p.to
        out[p.start_constant] = p.start
        out[p.ramp_constant] = p.ramp_years
    return out


def sample_distributions(dists: tuple, samples: int, seed: int, model) -> dict:
    """Latin-hypercube draws of each constant's distribution, clipped to its .mdl range.

    The draws of ``scipy.stats`` (``qmc.LatinHypercube``, ``norm.ppf``,
    ``triang.ppf``), number for number, without importing it: a second of
    every run and comparison.
    """
    from scipy.special import ndtri

    unit = latin_hypercube(len(dists), samples, seed)
    out = {}
    for j, (name, family, p) in enumerate(dists):
        u = unit[:, j]
        if family == "uniform":
            x = p[0] + u * (p[1] - p[0])
        elif family == "normal":
            x = ndtri(u) * p[1] + p[0]
        else:
            c = (p[1] - p[0]) / (p[2] - p[0])
            x = np.where(u < c, np.sqrt(c * u), 1 - np.sqrt((1 - c) * (1 - u)))
            x = x * (p[2] - p[0]) + p[0]
        lo, hi = model.spec.element(name).limits
        out[name] = np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    return out


def latin_hypercube(d: int, n: int, seed: int) -> np.ndarray:
    """``scipy.stats.qmc.LatinHypercube(d=d, seed=seed).random(n)``: the same numbers."""
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(size=(n, d))
    perms = np.tile(np.arange(1, n + 1), (d, 1))
    for i in range(d):
        rng.shuffle(perms[i, :])
    return (perms.T - jitter) / n


def tables(scenario: Scenario, model) -> dict:
    """Lookup overrides: the .mdl's points before the first year given, then the scenario's."""
    out = {}
    by_key = {lk.key: lk for lk in model.spec.lookups}
    for name, (xs, ys) in scenario.series.items():
        base = by_key[model.spec.element(name).key]
        keep = [(x, y) for x, y in zip(base.xs, base.ys, strict=True) if x < xs[0]]
        out[name] = ([x for x, _ in keep] + list(xs), [y for _, y in keep] + list(ys))
    return out


def run_scenarios(
    scenarios: list, model, timing: dict, root, workers=None, progress=None, vary=SOURCES
) -> list:
    """Run every scenario over its uncertainty; measure every output year by year.

    ``vary`` names the sources of uncertainty that vary (see :func:`parameters`);
    the others are held at their ``.mdl`` values in every scenario.

    Scenarios run over the same parameter sets share one run (the stem)
    until the step at which their own settings may first act (see
    :mod:`sim.studies.stem`); from there each carries on, those with the same
    lookups side by side in one vectorised pass. The runs are cut into
    chunks shared out across the cores. A run's numbers do not depend on its
    neighbours, nor on what it was run with.
    """
    from sim.engine.simulate import grid_times
    from sim.studies.stem import rules, stem_settings

    grid = grid_times(model)
    # a scenario's own targets may name any variable: measure each by its default rule
    timing = dict(timing)
    for s in scenarios:
        for tgt in s.targets:
            if model.spec.has(tgt.variable):
                timing.setdefault(tgt.variable, default_rule(model, tgt.variable))
    ensembles: dict = {}
    jobs, shas = [], []
    found = rules(model)
    for s in scenarios:
        params, n, sha = parameters(s, model, root, ensembles, vary)
        own = scenario_constants(s)
        full_tables = tables(s, model)
        stem_consts, stem_tables, step = stem_settings(s, own, full_tables, model, grid, found)
        shared = {k: v for k, v in params.items() if k not in own or k in stem_consts}
        stem = repr(
            (
                s.uncertainty,
                sorted(stem_consts.items()),
                sorted(stem_tables.items()),
            )
        )
        jobs.append(_Job(s, params, n, full_tables, stem, shared, stem_tables, step))
        shas.append(sha)
    years = _years(model)
    check_runs(
        ", ".join(s.name for s in scenarios),
        sum(job.n for job in jobs),
        model,
        len(timing),
        "the runs (uncertainty.samples or the ensemble)",
    )
    return [
        ScenarioResult(
            s, years, measured, dict(timing), job.n, sha, drawn_effects(model, job.params)
        )
        for s, job, sha, measured in zip(
            scenarios,
            jobs,
            shas,
            _measure_all(jobs, model, timing, workers, progress),
            strict=True,
        )
    ]


def measure_runs(
    scenario: Scenario,
    model,
    timing: dict,
    params,
    n: int,
    workers=None,
    progress=None,
    each=None,
):
    """Run ``n`` parameter sets under the scenario's lookups; measure each output by year.

    ``params`` maps a constant to a value or an array of ``n``, or is an
    object whose ``rows(first, end)`` returns that mapping for runs ``first``
    to ``end`` only (so that a design too large to hold is made chunk by
    chunk where the chunk runs). Each output comes back shaped ``(year,
    run)``; given ``each``, chunks go to ``each(first, end, outputs)`` instead
    and nothing is returned. Memory stays bounded whatever ``n`` (see
    :func:`_measure_all`); ``progress(done, total)`` is called as chunks finish.
    """
    if hasattr(params, "rows"):
        full = params
    else:
        full = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in params.items()}
    lookups = tables(scenario, model)
    job = _Job(scenario, full, n, lookups, "own", full, lookups, math.inf)
    if each is not None:
        return _measure_all(
            [job], model, timing, workers, progress, lambda a, e, out: each(a, e, out[0])
        )
    return _measure_all([job], model, timing, workers, progress)[0]


@dataclass(frozen=True)
class _Job:
    """One scenario's runs, and the part of them that acts before the branch (its stem)."""

    scenario: Scenario
    params: dict  # constant name -> array of n
    n: int
    tables: dict  # lookup overrides
    stem: str  # jobs with equal stems share their runs up to where they diverge
    stem_params: dict
    stem_tables: dict
    diverge: float  # the grid step from which the job's own settings may act (inf: never)


def _measure_all(jobs: list, model, timing: dict, workers=None, progress=None, each=None):
    """Measure every job; one dict of outputs, each ``(year, run)``, per job.

    The runs are cut by index into chunks of at most :data:`CHUNK`; a chunk
    takes those runs of every job, so that the chunks, shared out across the
    cores, carry equal work. Only yearly sums are kept during the
    integration, so memory does not grow with the time grid. ``workers`` is
    a number of local processes, or a :class:`~sim.engine.cluster.Cluster`
    whose workers take the chunks instead (see
    :func:`~sim.engine.cluster.map_parts`). Given ``each``, a chunk's
    measures go to ``each(first, end, [outputs of each job])`` as it is done
    and nothing is returned: the study is never held whole.
    """
    from sim.engine.cluster import CHUNKS_PER_WORKER, Cluster, map_parts
    from sim.engine.simulate import grid_times

    grid = grid_times(model)
    weights, covered = yearly_weights(model, timing)
    n_max = max(job.n for job in jobs)
    shared = (jobs, model, weights, timing, len(grid))
    if isinstance(workers, Cluster):
        parts = workers.n_workers * CHUNKS_PER_WORKER
    else:
        import os

        parts = max(1, workers or os.cpu_count() or 1)
    tasks = _tasks(n_max, max(1, min(CHUNK, math.ceil(n_max / parts))))
    if each is not None:

        def deliver(task, sums):
            each(*task, [by_output(m, timing, covered) if m is not None else None for m in sums])

        map_parts(_measure_task, tasks, shared, workers, progress, deliver)
        return None
    if not isinstance(workers, Cluster):  # forked here: chunks write into shared memory
        rows = len(next(iter(weights.values())))
        outs = [_shared_array((rows, len(timing), job.n)) for job in jobs]
        map_parts(_measure_into, tasks, (shared, outs), workers, progress)
        return [by_output(out, timing, covered) for out in outs]
    done = dict(
        zip(tasks, map_parts(_measure_task, tasks, shared, workers, progress), strict=True)
    )
    return [
        by_output(
            np.concatenate([done[t][b] for t in tasks if t[0] < job.n], axis=2),
            timing,
            covered,
        )
        for b, job in enumerate(jobs)
    ]


def _shared_array(shape: tuple) -> np.ndarray:
    """Return a float array in memory that forked children share: their writes are seen here.

    A chunk's sums then need not be pickled and sent back through a pipe
    (about 100 MB a core for a comparison of 17 scenarios).
    """
    import mmap

    count = math.prod(shape)
    buffer = mmap.mmap(-1, max(count, 1) * 8)
    return np.frombuffer(buffer, dtype=float, count=count).reshape(shape)


def _measure_into(task: tuple, both: tuple) -> None:
    """Measure the chunk ``task`` of the jobs; write each job's sums into its shared array."""
    shared, outs = both
    for out, sums in zip(outs, _measure_task(task, shared), strict=True):
        if sums is not None:
            out[..., task[0] : task[0] + sums.shape[2]] = sums


def yearly_weights(model, timing: dict) -> tuple:
    """Return ``(weights, covered)`` per observation rule of ``timing``.

    ``weights[rule]`` is the ``(year, grid step)`` matrix that :func:`measure`
    takes, ``covered[rule]`` which years the run's grid covers.
    """
    from sim.engine.simulate import grid_times

    grid, years = grid_times(model), _years(model)
    raw = {rule: _year_weights(grid, years, rule) for rule in dict.fromkeys(timing.values())}
    return (
        {rule: np.nan_to_num(w) for rule, w in raw.items()},
        {rule: ~np.isnan(w).any(axis=1) for rule, w in raw.items()},
    )


def by_output(sums: np.ndarray, timing: dict, covered: dict) -> dict:
    """Split measured sums ``(year, output, run)`` by output; years not covered are NaN."""
    out = {}
    for j, (name, rule) in enumerate(timing.items()):
        arr = sums[:, j, :]
        arr[~covered[rule]] = np.nan  # years whose window the run does not cover
        out[name] = arr
    return out


def drawn_effects(model, params: dict) -> dict:
    """Return the effect sizes drawn run by run: name -> (evidence grade, draws)."""
    from sim.engine.priors import stated_priors

    return {
        name: (prior.grade, np.asarray(params[name]))
        for name, prior in stated_priors(model.spec).items()
        if np.ndim(params.get(name)) == 1 and np.ptp(params[name]) > 0
    }


def _tasks(n: int, size: int) -> list:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _measure_task(task: tuple, shared: tuple):
    """Measure the chunk ``task`` = (first run, end) of the jobs in ``shared``, on any worker."""
    jobs, model, weights, timing, end = shared
    return _measure_chunk(jobs, task[0], task[1], model, weights, timing, end)


def _measure_chunk(jobs: list, a: int, e: int, model, weights: dict, timing: dict, end: int):
    """Measure runs ``a`` to ``e`` of every job: each stem once, then each job from its stem.

    Returns one array ``(year, output, run)`` per job (``None`` where the job
    has no run in the chunk). ``end`` is the number of grid steps.
    """
    from sim.engine.simulate import Branch, measure

    live = [b for b, job in enumerate(jobs) if job.n > a]
    width = {b: min(e, jobs[b].n) - a for b in live}
    diverge = {b: int(min(jobs[b].diverge, end)) for b in live}
    stems: dict = {}
    for b in live:
        stems.setdefault(jobs[b].stem, []).append(b)
    at: dict = {}  # (stem, step) -> Branch there; (stem, end) -> the sums of the whole run
    stem_tables = {key: sorted(jobs[b[0]].stem_tables.items()) for key, b in stems.items()}
    for group in _side_by_side(list(stems), stem_tables.get):
        heads = [stems[key][0] for key in group]
        params = _join([(jobs[h].stem_params, a, width[h]) for h in heads], model)
        labels = _labels(jobs, heads, a, width)
        branch = None
        for stop in sorted({diverge[b] for key in group for b in stems[key]}):
            sums, branch = measure(
                model,
                params,
                weights,
                timing,
                tables=jobs[heads[0]].stem_tables,
                start=branch,
                stop=stop,
                labels=labels,
            )
            for key, cols in zip(group, _columns(heads, width), strict=True):
                at[key, stop] = sums[..., cols] if stop == end else branch.columns(cols)
    out: list = [None] * len(jobs)
    tails = []
    for b in live:
        if diverge[b] == end:
            out[b] = at[jobs[b].stem, end]
        else:
            tails.append(b)
    for group in _side_by_side(tails, lambda b: (diverge[b], sorted(jobs[b].tables.items()))):
        step = diverge[group[0]]
        # a job whose settings act from the first step has nothing to carry on from
        sums, _ = measure(
            model,
            _join([(jobs[b].params, a, width[b]) for b in group], model),
            weights,
            timing,
            tables=jobs[group[0]].tables,
            start=Branch.join([at[jobs[b].stem, step] for b in group]) if step > 0 else None,
            labels=_labels(jobs, group, a, width),
        )
        for b, cols in zip(group, _columns(group, width), strict=True):
            out[b] = sums[..., cols]
    return out


def _columns(group: list, width: dict) -> list:
    """Return the columns each job of a group takes in their side-by-side pass."""
    edges = np.cumsum([0] + [width[b] for b in group])
    return [slice(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _labels(jobs: list, group: list, a: int, width: dict) -> tuple:
    """Return ``(scenario, run)`` for each column of a side-by-side pass (error messages)."""
    return tuple((jobs[b].scenario.name, a + i) for b in group for i in range(width[b]))


def _side_by_side(items: list, settings) -> list:
    """Group items whose ``settings(item)`` are equal: they run in one vectorised pass."""
    groups: dict = {}
    for item in items:
        groups.setdefault(repr(settings(item)), []).append(item)
    return list(groups.values())


def run_scenario(scenario: Scenario, model, timing: dict, root, workers=None) -> ScenarioResult:
    """Run one scenario over its uncertainty; measure every output year by year."""
    return run_scenarios([scenario], model, timing, root, workers)[0]


def _join(parts: list, model) -> dict:
    """Put runs of parameter sets side by side; ``parts`` are ``(params, first, count)``."""
    # by key: one constant may be spelled the Vensim way in one part, the Python way in another
    keyed = []
    for p, a, n in parts:
        if hasattr(p, "rows"):  # a design made chunk by chunk (see measure_runs)
            p, a = p.rows(a, a + n), 0
        keyed.append(({model.spec.element(k).key: v for k, v in p.items()}, a, n))
    joined = {}
    for key in dict.fromkeys(k for params, _, _ in keyed for k in params):
        default = model.defaults[model.param_keys.index(key)]
        pieces = []
        for params, first, count in keyed:
            value = params.get(key, default)
            if np.ndim(value) == 0:
                pieces.append(np.full(count, float(value)))
            else:
                pieces.append(np.asarray(value, dtype=float)[first : first + count])
        joined[model.spec.element(key).name] = np.concatenate(pieces)
    return joined


CHUNK = 2000  # runs integrated together in one process at a time (more gains little)


def _years(model) -> np.ndarray:
    t0, tf = model.controls["initial_time"], model.controls["final_time"]
    return np.arange(int(math.ceil(t0)), int(tf) + 1)


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


def percentiles(res: ScenarioResult, q: list) -> tuple:
    """Return ``(names, covered, values)``: percentiles ``q`` of every output over the runs.

    ``values[i, v, y]`` is percentile ``q[i]`` of output ``names[v]`` in year
    ``y``; ``covered[v, y]`` says whether the runs cover that year. One call
    for all outputs: numpy's percentile costs about 1 ms a call whatever its size.
    """
    names = list(res.values)
    stacked = sorted_stack(res, names)
    covered = ~np.isnan(stacked).any(axis=2)
    return names, covered, sorted_percentiles(stacked, q)


def sorted_stack(res: ScenarioResult, names: list) -> np.ndarray:
    """Every output's values ``(output, year, run)``, sorted over the runs (NaN last)."""
    return np.sort(np.stack([res.values[name] for name in names]), axis=2)


def sorted_percentiles(ordered: np.ndarray, q) -> np.ndarray:
    """``np.percentile(ordered, q, axis=-1)`` of values sorted along the last axis.

    numpy's own arithmetic (its 'linear' method, NaN wherever a NaN was
    sorted last), read off by index instead of partitioning again: the same
    numbers, ten times faster on the tables of a comparison.
    """
    q = np.true_divide(np.asarray(q, dtype=float), 100)
    n = ordered.shape[-1]
    virtual = (n - 1) * q
    before = np.floor(virtual)
    after = before + 1
    before[virtual >= n - 1] = after[virtual >= n - 1] = -1
    before[virtual < 0] = after[virtual < 0] = 0
    gamma = (virtual - before).reshape(q.shape + (1,) * (ordered.ndim - 1))
    a = np.moveaxis(ordered[..., before.astype(np.intp)], -1, 0)
    b = np.moveaxis(ordered[..., after.astype(np.intp)], -1, 0)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, as numpy gives
        diff = b - a
        out = np.add(a, diff * gamma)
        np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    last = ordered[..., -1]
    np.copyto(out, last, where=np.isnan(last))
    return out


def sorted_median(ordered: np.ndarray) -> np.ndarray:
    """``np.median(ordered, axis=-1)`` of values sorted along the last axis: the same numbers."""
    n = ordered.shape[-1]
    k = n // 2
    out = ordered[..., k] if n % 2 else (ordered[..., k - 1] + ordered[..., k]) / 2
    out = np.array(out, dtype=float)
    last = ordered[..., -1]
    np.copyto(out, last, where=np.isnan(last))
    return out


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
                "driven_by": driver(res.effects, value),
            }
        )
    return rows


def driver(effects: dict, value: np.ndarray) -> str:
    """Name the drawn effect size whose draws rank-correlate most with ``value``.

    Returns e.g. ``career credit strength (grade C, rho +0.62)``, or ``""``
    when no effect size was drawn, the value does not vary, or no effect
    size reaches ``|rho|`` >= :data:`DRIVER_RHO`.
    """
    if not effects or np.ptp(value) == 0:
        return ""
    rhos = rank_correlations({n: d for n, (_, d) in effects.items()}, value)
    if not rhos:
        return ""
    name = max(rhos, key=lambda k: abs(rhos[k]))
    if abs(rhos[name]) < DRIVER_RHO:
        return ""
    return f"{name} (grade {effects[name][0]}, rho {rhos[name]:+.2f})"


def rank_correlations(draws: dict, value: np.ndarray) -> dict:
    """Spearman's rho of each name's draws with ``value``, all at once (ties: average ranks).

    Draws of another length, or that do not vary, are left out. The same
    numbers as ``scipy.stats.spearmanr`` pair by pair, to rounding, at a
    fraction of its cost: a comparison asks this for every target of every
    scenario.
    """
    names = [n for n, d in draws.items() if len(d) == len(value) and np.ptp(d) > 0]
    if not names:
        return {}
    ranks = average_ranks(np.stack([np.asarray(draws[n], dtype=float) for n in names]))
    ranks -= ranks.mean(axis=1, keepdims=True)
    target = average_ranks(np.asarray(value, dtype=float))
    target -= target.mean()
    rho = (ranks @ target) / np.sqrt((ranks * ranks).sum(axis=1) * (target @ target))
    return {n: float(r) for n, r in zip(names, rho, strict=True)}


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 1 along the last axis, ties given their mean rank (``scipy.stats.rankdata``).

    A row with a NaN is all NaN, as scipy's.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    order = np.argsort(x, axis=-1, kind="mergesort")
    ordered = np.take_along_axis(x, order, axis=-1)
    new = np.ones(x.shape, dtype=bool)  # where a group of equal values starts
    new[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    last = np.ones(x.shape, dtype=bool)
    last[..., :-1] = new[..., 1:]
    at = np.arange(n)
    first = np.maximum.accumulate(np.where(new, at, 0), axis=-1)
    end = np.flip(np.minimum.accumulate(np.flip(np.where(last, at, n), -1), axis=-1), -1)
    out = np.empty(x.shape)
    np.put_along_axis(out, order, (first + end + 2) / 2, axis=-1)
    out[np.isnan(x).any(axis=-1)] = np.nan
    return out


def _median_first_year(years, arr, tgt) -> str:
    mask = (years >= PROJECTION_START) & ~np.isnan(arr).any(axis=1)
    ys, vals = years[mask], arr[mask]
    met = tgt.met(vals)
    first = np.where(met.any(axis=0), ys[np.argmax(met, axis=0)], np.inf)
    median = float(np.median(first))
    return str(int(math.ceil(median))) if math.isfinite(median) else f"not by {int(ys[-1])}"
