"""Sensitivity sweeps: which parameters drive each target output.

Four methods over the same machinery (a design of parameter sets, one
vectorised pass of the model in chunks, each output measured year by year
as its data are):

- ``lhs``: a Latin hypercube of the parameters; uncertainty bands.
- ``morris``: elementary effects (mu*, sigma; SALib), a cheap screening.
- ``sobol``: first-order, second-order and total indices with bootstrap
  confidence intervals (SALib's Saltelli design and estimator).
- ``oat``: one parameter at a time to its low and high values, the others at
  their defaults: the swings of a tornado chart.

Parameters come from the scenario's ``distributions`` or, failing that,
from ``--params`` with their ``.mdl`` ranges.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.engine.errors import BrainsimError

METHODS = ("lhs", "morris", "sobol", "oat")
MIN_N = {"lhs": 10, "morris": 4, "sobol": 16, "oat": 1}
MORRIS_LEVELS = 4


@dataclass(frozen=True)
class Factor:
    """A swept parameter: its .mdl name, distribution family and parameters."""

    name: str
    family: str  # "uniform", "normal" or "triangular"
    params: tuple

    def bounds(self) -> tuple:
        """Return the sampling range: the bounds, or the 0.5-99.5% range of a normal."""
        if self.family == "normal":
            mean, sd = self.params
            return (mean - 2.576 * sd, mean + 2.576 * sd)
        return (self.params[0], self.params[-1])

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Map unit-interval draws to values of the distribution."""
        from scipy.stats import norm, triang

        lo, hi = self.params[0], self.params[-1]
        if self.family == "uniform":  # clipped: lo + 1 * (hi - lo) can round past hi
            return np.clip(lo + u * (hi - lo), lo, hi)
        if self.family == "normal":
            return norm.ppf(u, loc=self.params[0], scale=self.params[1])
        c = (self.params[1] - lo) / (hi - lo)
        return triang.ppf(u, c, loc=lo, scale=hi - lo)


def salib_problem(factors: list) -> dict:
    """Return the SALib problem of ``factors`` on the unit interval (see :meth:`Factor.ppf`)."""
    return {
        "num_vars": len(factors),
        "names": [f.name for f in factors],
        "bounds": [[0.0, 1.0]] * len(factors),
    }


def check_n(method: str, n: int) -> None:
    """Refuse a sample size too small (or, for Sobol, not a power of two)."""
    if method not in METHODS:
        raise BrainsimError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}")
    if n < MIN_N[method]:
        raise BrainsimError(f"-n {n} is too small for {method}; give at least {MIN_N[method]}")
    if method == "sobol" and n & (n - 1):
        raise BrainsimError(
            f"-n {n} is not a power of two, which Sobol sampling needs; give e.g. "
            f"{1 << (n - 1).bit_length()}"
        )


def design_runs(method: str, d: int, n: int, second_order: bool = False) -> int:
    """Return the number of runs of ``method``'s design over ``d`` parameters."""
    if method == "sobol":
        return n * (2 * d + 2 if second_order else d + 2)
    return {"lhs": n, "morris": n * (d + 1), "oat": 2 * d + 1}[method]


def held_bytes(runs: int, outputs: int, model) -> int:
    """Return the memory the yearly outputs of ``runs`` runs take when held [bytes]."""
    ctl = model.controls
    years = int(ctl["final_time"]) - int(np.ceil(ctl["initial_time"])) + 1
    return 8 * runs * outputs * years


def design(
    method: str, factors: list, n: int, seed: int, second_order: bool = False
) -> np.ndarray:
    """Return the unit-interval design, shaped ``(runs, factors)``.

    ``oat`` gives the default point first, then each factor at its low
    (5%) and high (95%) quantile in turn, as rows ``1 + 2i`` and ``2 + 2i``.
    """
    check_n(method, n)
    d = len(factors)
    if method == "lhs":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=d, seed=seed).random(n)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(salib_problem(factors), n, num_levels=MORRIS_LEVELS, seed=seed)
    if method == "sobol":
        return saltelli_design(n, d, seed, second_order)
    rows = [np.full(d, np.nan)]  # NaN: the factor stays at its default
    for i in range(d):
        for q in (0.05, 0.95):
            row = np.full(d, np.nan)
            row[i] = q
            rows.append(row)
    return np.array(rows)


def saltelli_design(n: int, d: int, seed: int, second_order: bool = False) -> np.ndarray:
    """Saltelli's design from a scrambled Sobol' sequence, in SALib's row order.

    For each of the ``n`` base points: ``A``, then ``A`` with column ``i`` from
    ``B`` for every ``i`` (``AB_i``), then (second order) ``B`` with column
    ``i`` from ``A`` (``BA_i``), then ``B``.
    """
    return saltelli_rows(n, d, seed, second_order, 0, design_runs("sobol", d, n, second_order))


def saltelli_rows(n: int, d: int, seed: int, second_order: bool, first: int, end: int):
    """Return rows ``first`` to ``end`` of :func:`saltelli_design`, without making the rest.

    The Sobol' sequence is fast-forwarded to the first base point needed,
    which gives the same points to the bit as drawing them all.
    """
    import warnings

    from scipy.stats import qmc

    block = 2 * d + 2 if second_order else d + 2
    lo, hi = first // block, min(n, -(-end // block))
    engine = qmc.Sobol(d=2 * d, scramble=True, seed=seed)
    if lo:
        engine.fast_forward(lo)
    with warnings.catch_warnings():  # a part of a power-of-two sample is balanced as a whole
        warnings.simplefilter("ignore", UserWarning)
        base = engine.random(hi - lo)
    a, b = base[:, :d], base[:, d:]
    blocks = [a]
    for i in range(d):
        ab = a.copy()
        ab[:, i] = b[:, i]
        blocks.append(ab)
    if second_order:
        for i in range(d):
            ba = b.copy()
            ba[:, i] = a[:, i]
            blocks.append(ba)
    blocks.append(b)
    rows = np.stack(blocks, axis=1).reshape(-1, d)
    return rows[first - lo * block : end - lo * block]


@dataclass(frozen=True)
class DesignRows:
    """A sweep's parameter sets, made chunk by chunk where the chunk runs.

    A Sobol' design is made from its sequence (:func:`saltelli_rows`), so
    that no process holds it whole; the other designs are held (``unit``).
    """

    method: str
    factors: list
    n: int
    seed: int
    second_order: bool
    defaults: dict
    fixed: dict  # what the scenario sets, the same in every run
    unit: np.ndarray | None = None

    def unit_rows(self, first: int, end: int) -> np.ndarray:
        """Return the unit-interval design of runs ``first`` to ``end``."""
        if self.unit is not None:
            return self.unit[first:end]
        return saltelli_rows(self.n, len(self.factors), self.seed, self.second_order, first, end)

    def rows(self, first: int, end: int) -> dict:
        """Return the parameters of runs ``first`` to ``end`` (see ``runner.measure_runs``)."""
        return {**self.fixed, **values(self.factors, self.unit_rows(first, end), self.defaults)}


def sobol_indices(
    y: np.ndarray,
    d: int,
    second_order: bool = False,
    resamples: int = 100,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Return first-order and total Sobol' indices of every row of ``y`` at once.

    ``y`` is shaped ``(outputs, runs)`` in the order of :func:`saltelli_design`.
    This is SALib's ``sobol.analyze`` (first and total order) vectorised over
    outputs: each output is standardised over all its runs (``(y - mean) /
    std``) before the Saltelli et al. (2010) S1 and Jansen (1999) ST
    estimators; the confidence half-widths are the normal quantile times the
    standard deviation of ``resamples`` bootstrap estimates, the resamples
    being the columns of ``np.random.default_rng(seed).integers(n, size=(n,
    resamples))`` as SALib draws them (SALib itself draws unseeded when its
    seed is 0 or None; here the seed always applies). An output that does not
    vary (its standard deviation at most 1e-12 of its largest magnitude:
    rounding, not the parameters) gets indices of 0.
    """
    from scipy.stats import norm

    y = np.atleast_2d(np.asarray(y, dtype=float))
    block = 2 * d + 2 if second_order else d + 2
    sd = y.std(axis=1)
    varies = sd > 1e-12 * np.abs(y).max(axis=1)
    z = (y - y.mean(axis=1, keepdims=True)) / np.where(varies, sd, 1.0)[:, None]
    zb = z.reshape(z.shape[0], -1, block)
    n = zb.shape[1]
    a, b, ab = zb[:, :, 0], zb[:, :, -1], zb[:, :, 1 : d + 1]
    # per base point, the terms whose means are the estimators' numerators: (outputs, n, d)
    first = b[:, :, None] * (ab - a[:, :, None])
    total = 0.5 * (a[:, :, None] - ab) ** 2
    eps = np.finfo(float).eps

    def ratio(num, var):
        ok = (var > eps)[..., None] & varies[:, None, None]
        return np.where(ok, num / np.where(ok, var[..., None], 1.0), 0.0)

    var = np.var(np.concatenate([a, b], axis=1), axis=1)
    s1 = ratio(first.mean(axis=1)[:, None], var[:, None])[:, 0]
    st = ratio(total.mean(axis=1)[:, None], var[:, None])[:, 0]
    if resamples < 2:
        nan = np.full_like(s1, np.nan)
        return {"S1": s1, "S1_conf": nan, "ST": st, "ST_conf": nan.copy()}
    # A bootstrap resample's mean is a weighted mean over the base points, the
    # weights being how often each point is drawn: one matrix product for all.
    draws = np.random.default_rng(seed).integers(n, size=(n, resamples))
    counts = np.bincount(
        (draws + n * np.arange(resamples)).ravel(), minlength=n * resamples
    ).reshape(resamples, n)
    w = counts / n  # (resamples, n)

    def boot_mean(x):  # (outputs, n, ...) -> (outputs, resamples, ...)
        flat = np.moveaxis(x, 1, 0).reshape(n, -1)
        return np.moveaxis((w @ flat).reshape(resamples, x.shape[0], *x.shape[2:]), 0, 1)

    mean_ab = (boot_mean(a) + boot_mean(b)) / 2
    var_r = np.maximum((boot_mean(a * a) + boot_mean(b * b)) / 2 - mean_ab**2, 0.0)
    s1_r = ratio(boot_mean(first), var_r)
    st_r = ratio(boot_mean(total), var_r)
    q = norm.ppf(0.5 + level / 2)
    return {
        "S1": s1,
        "S1_conf": q * s1_r.std(axis=1, ddof=1),
        "ST": st,
        "ST_conf": q * st_r.std(axis=1, ddof=1),
    }


def analyze(
    method: str,
    factors: list,
    unit: np.ndarray,
    y: np.ndarray,
    seed: int,
    second_order: bool = False,
    resamples: int = 100,
    s2: bool = False,
) -> dict:
    """Return the indices of one output (``y``, one value per design row) by ``method``.

    Returns index name to an array over factors: ``S1``, ``S1_conf``, ``ST``,
    ``ST_conf`` (sobol); ``mu_star``, ``mu_star_conf``, ``sigma`` (morris);
    ``low``, ``high``, ``swing`` (oat: the output with the factor at its low
    and high value, and their difference); ``rank_corr`` (lhs: Spearman's
    rank correlation of the factor with the output).
    """
    problem = salib_problem(factors)
    if method == "sobol":
        found = {
            k: v[0]
            for k, v in sobol_indices(y, len(factors), second_order, resamples, seed).items()
        }
        if second_order and s2 and np.ptp(y) > 0:
            from SALib.analyze import sobol

            res = sobol.analyze(
                problem, y, calc_second_order=True, num_resamples=resamples, seed=seed
            )
            found["S2"] = np.asarray(res["S2"])
        return found
    if np.ptp(y) == 0:  # an output the parameters do not move
        zeros = np.zeros(len(factors))
        if method == "morris":
            return {"mu_star": zeros, "mu_star_conf": zeros, "sigma": zeros}
    if method == "morris":
        from SALib.analyze import morris

        res = morris.analyze(
            problem, unit, y, num_levels=MORRIS_LEVELS, num_resamples=100, seed=seed
        )
        return {k: np.asarray(res[k]) for k in ("mu_star", "mu_star_conf", "sigma")}
    if method == "oat":
        low, high = y[1::2], y[2::2]
        return {"low": low, "high": high, "swing": high - low}
    from scipy.stats import spearmanr

    corr = [
        spearmanr(unit[:, i], y).statistic if np.ptp(y) > 0 else 0.0 for i in range(len(factors))
    ]
    return {"rank_corr": np.asarray(corr, dtype=float)}


def values(factors: list, unit: np.ndarray, defaults: dict) -> dict:
    """Return the parameter arrays: each factor's values, its default where NaN."""
    out = {}
    for i, f in enumerate(factors):
        column = unit[:, i]
        x = np.where(np.isnan(column), defaults[f.name], f.ppf(np.nan_to_num(column, nan=0.5)))
        out[f.name] = x
    return out


# --- a sweep of the model ---------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """A sweep's design, measured outputs and indices."""

    method: str
    factors: list
    unit: np.ndarray  # the design on the unit interval, (runs, factors)
    years: np.ndarray
    values: dict  # output -> (year, run)
    target_years: dict  # output -> the year its target is set for
    indices: dict  # (output, year) -> {index name: array over factors}
    seed: int
    n: int  # the sample size asked for (sobol: the base sample, N)
    runs: int = 0
    store: Path | None = None  # the values were streamed to this sweep.nc (values is empty)
    outputs: tuple = ()  # the outputs of the stored file, in its order

    def series(self, output: str, i: int) -> np.ndarray:
        """Return every run's value of ``output`` in the ``i``-th year, held or stored."""
        if self.store is None:
            return self.values[output][i]
        from sim.studies.store import read_values

        return read_values(self.store, self.outputs.index(output), i)

    @property
    def target_outputs(self) -> list:
        """Return the measured outputs, in the order of the values (or of the stored file)."""
        return list(self.values) if self.store is None else list(self.outputs)


def factors_for(scenario, model, names=None) -> list:
    """Return the swept parameters.

    ``names`` with their .mdl ranges; else the scenario's distributions; else
    every constant with a range that the scenario does not fix, an effect size
    over its prior (:mod:`sim.engine.priors`), any other over its range.
    """
    if names is not None and not names:
        raise BrainsimError("--params names no parameter; give at least one, or leave it out")
    if names:
        from sim.studies.scenario import levers

        by_lever = levers(model)
        # a subscripted constant's name stands for each of its elements
        names = [m for n in names for m in ([e.name for e in model.spec.array(n).values()] or [n])]
        out = []
        for name in names:
            try:
                # a lever is named as in a scenario's policies: its target is swept
                el = by_lever[name] if name in by_lever else model.spec.element(name)
            except KeyError:
                from sim.engine.names import suggestion

                consts = [e.name for e in model.spec.elements if e.kind == "constant"]
                raise BrainsimError(
                    f"--params: unknown parameter '{name}'; "
                    f"{suggestion(name, consts + list(by_lever))}"
                ) from None
            if any(f.name == el.name for f in out):
                raise BrainsimError(f"--params names '{el.name}' twice; give each once")
            if el.kind != "constant" or None in el.limits or el.limits[0] == el.limits[1]:
                raise BrainsimError(
                    f"--params: '{el.name}' is not a constant with a [min, max] range; "
                    "name a lever or a ranged constant"
                )
            out.append(Factor(el.name, "uniform", tuple(el.limits)))
        return out
    if scenario.uncertainty.kind == "distributions":
        return [Factor(n, fam, p) for n, fam, p in scenario.uncertainty.distributions]
    from sim.engine.priors import stated_priors
    from sim.studies.runner import scenario_constants

    # what the scenario fixes (its set, its levers and their timing) is not swept over;
    # an effect size is swept over its prior, everything else over its range
    fixed = set(scenario_constants(scenario))
    priors = stated_priors(model.spec)
    out = []
    for el in model.spec.elements:
        if el.kind != "constant" or None in el.limits or el.limits[0] >= el.limits[1]:
            continue
        if el.name in fixed:
            continue
        prior = priors.get(el.name)
        if prior is not None:
            out.append(Factor(el.name, prior.family, prior.params))
        else:
            out.append(Factor(el.name, "uniform", tuple(el.limits)))
    return out


def run_sweep(
    scenario,
    model,
    timing: dict,
    method: str,
    n: int,
    seed: int,
    factors: list,
    second_order: bool = False,
    progress=None,
    workers=None,
    store=None,
) -> Sweep:
    """Run the design of ``method`` under ``scenario`` and compute the indices.

    ``workers``: local processes, or a :class:`~sim.engine.cluster.Cluster`.

    Indices are computed for every output in every year from 2024 that the
    run covers, and so for each target year; only the outputs in ``timing``
    are kept, so memory is bounded by outputs x years x runs. Given
    ``store`` (a path), the runs are written there chunk by chunk instead
    (:mod:`sim.studies.store`) and each index is computed from the stored
    values, one output and year at a time: memory is then bounded whatever
    the number of runs, and the indices are the same to the bit.
    """
    from sim.studies.runner import check_runs, measure_runs, scenario_constants

    if len(factors) < 2 and method in ("sobol", "morris"):
        raise BrainsimError(f"{method} needs at least 2 parameters; give more with --params")
    if seed < 0 or seed >= 2**32:
        raise BrainsimError(f"--seed {seed} is outside [0, 2^32); give e.g. --seed 0")
    runs = design_runs(method, len(factors), n, second_order)
    what = f"a {method} sweep of {len(factors)} parameters"
    # a Sobol' design is made chunk by chunk when streamed; the others are held
    lazy = method == "sobol" and store is not None
    if store is None:
        check_runs(what, runs, model, len(timing), "-n")
    else:  # streamed: only the design may be held, and the time is what it is
        from sim.engine.budget import check_size

        ctl = model.controls
        steps = (ctl["final_time"] - ctl["initial_time"]) / ctl["time_step"]
        check_size(what, runs, 0 if lazy else 3 * 8 * len(factors), steps, "-n")
    defaults = {
        f.name: model.defaults[model.param_keys.index(model.spec.element(f.name).key)]
        for f in factors
    }
    held = None if lazy else design(method, factors, n, seed, second_order)
    rows = DesignRows(
        method, factors, n, seed, second_order, defaults, scenario_constants(scenario), held
    )
    years = np.arange(
        int(np.ceil(model.controls["initial_time"])), int(model.controls["final_time"]) + 1
    )
    sweep = Sweep(method, factors, held, years, {}, {}, {}, seed, n, runs)
    if store is None:
        measured = measure_runs(scenario, model, timing, rows, runs, workers, progress)
        sweep = dataclasses.replace(sweep, values=measured)
    else:
        _stream(sweep, scenario, model, timing, rows, store, workers, progress)
        sweep = dataclasses.replace(sweep, store=Path(store), outputs=tuple(timing))
    target_years = {}
    for tgt in scenario.targets:
        target_years.setdefault(tgt.variable, tgt.year)
    return dataclasses.replace(
        sweep, target_years=target_years, indices=_indices(sweep, target_years, second_order)
    )


def _stream(sweep: Sweep, scenario, model, timing, rows, store, workers, progress) -> None:
    """Measure the sweep's runs into the file ``store``, chunk by chunk as they finish."""
    import json

    from sim.studies.runner import measure_runs
    from sim.studies.store import RunStore

    attrs = {
        "method": sweep.method,
        "seed": sweep.seed,
        "model_sha256": model.spec.sha256,
        "factors": json.dumps(
            [[f.name, f.family, list(f.params)] for f in sweep.factors], ensure_ascii=False
        ),
    }
    names = [f.name for f in sweep.factors]
    out = RunStore.create(store, list(timing), sweep.years, names, sweep.runs, attrs)

    def each(first, end, measured):
        swept = values(sweep.factors, rows.unit_rows(first, end), rows.defaults)
        out.add(first, end, measured, np.column_stack([swept[k] for k in names]))

    try:
        measure_runs(scenario, model, timing, rows, sweep.runs, workers, progress, each)
    finally:
        out.close()


def _indices(sweep: Sweep, target_years: dict, second_order: bool) -> dict:
    """Return the indices of every output in every year from the first projection year."""
    from sim.studies.runner import PROJECTION_START

    years = sweep.years
    # indices from the first projection year, or over the whole run if it ends before
    first = PROJECTION_START if years[-1] > PROJECTION_START else years[0]
    indices = {}
    for name in sweep.target_outputs:
        for i, year in enumerate(years):
            if year < first:
                continue
            y = sweep.series(name, i)
            if np.isnan(y).any():
                continue
            at_target = year == target_years.get(name)
            indices[(name, int(year))] = analyze(
                sweep.method,
                sweep.factors,
                sweep.unit,
                y,
                sweep.seed,
                second_order,
                resamples=100 if at_target else 30,
                s2=second_order and at_target,
            )
    return indices


def index_rows(sweep: Sweep) -> list:
    """Return tidy rows ``(method, output, year, parameter, index, value)``."""
    rows = []
    for (output, year), found in sweep.indices.items():
        for index, arr in found.items():
            if arr.ndim != 1:
                continue  # S2, a matrix, goes to its own file
            for factor, value in zip(sweep.factors, arr, strict=True):
                rows.append((sweep.method, output, year, factor.name, index, float(value)))
    return rows
