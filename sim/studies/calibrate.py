"""Calibration to history and the constrained ensemble.

The parameters whose comment in the ``.mdl`` begins ``calibrated:`` are
fitted to ``model/history.csv`` by weighted least squares, each within its
``[min, max]`` range, from several starts. Every observation is measured on
the model the way the data measure the world (:mod:`sim.studies.history`). Each
series (a series name and the model variable it is compared with, so that
basis breaks mapped to different variables stay apart) counts through
relative errors, ``(model - observed) / observed``, weighted by one over the
square root of its number of points: a series of hundreds of thousands of
students and one of a few thousand researchers count alike, and a long series
does not drown a short one.

The ensemble then follows the constrained-ensemble method of FaIR: a large
prior sample of parameter sets, run in one vectorised pass, of which the sets
whose fit is within a stated threshold of the best are kept. The prior is
the Gaussian around the fitted values whose covariance is
:data:`PRIOR_SCALE`² times the least-squares covariance ``s² (JᵀJ)⁻¹``
(each principal direction's spread capped at half the range), drawn by Latin
hypercube (stratified in every principal direction) and clipped to the
``.mdl`` ranges. Drawn uniformly over the full ranges instead, 34 parameters
leave almost no set near the best fit; ``brainsim calibrate`` reports how
many of such a draw pass. A set is kept when its cost is at most
:data:`THRESHOLD` times the best (its weighted RMS relative error at most
twice the best fit's): loose enough that the kept runs span the data about
the fit, so that the baseline's 5-95% band covers most observations. Of the
kept sets, the first :data:`MEMBERS` drawn make the ensemble file: the draws
are in random order, so this is a uniform thinning, and it keeps scenario
runs over the whole ensemble fast.
"""

import csv
import dataclasses
import math
import re
import time
from pathlib import Path

import numpy as np

from sim.engine.errors import BrainsimError
from sim.engine.names import vensim_key
from sim.engine.progress import ticker
from sim.studies.history import Observation, observation_weights

# Relative weight of a series, 1 when not listed. Each entry says why.
SERIES_WEIGHTS = {
    # a lower bound only: excludes junior colleges and kosen, which the model's
    # undergraduate stock includes (intl_students_undergrad_jc_kosen is the match)
    "intl_students_undergrad_only": 0.0,
    # wider basis than the model's hires: counts language-institute students and,
    # in later years, other statuses (model/README.md, inconsistencies)
    "status_change_permits_study_to_work": 0.5,
    # each origin's counts come on two bases (higher education up to 2012, language
    # institutes included from 2014), so two series; a half each keeps an origin at one
    **{
        f"intl_students_from_{origin}": 0.5
        for origin in ("china", "vietnam", "nepal", "korea", "taiwan", "indonesia")
        + ("myanmar", "srilanka")
    },
    # each destination is counted on two bases (students enrolled there, OECD/IIE, and
    # students sent by universities, JASSO), so two series; a half each keeps it at one
    "japanese_students_in_us_open_doors": 1.0,
    **{
        f"japanese_abroad_{basis}_{destination}": 0.5
        for basis in ("oecd_in", "jasso_to")
        for destination in ("australia", "canada", "uk", "korea", "china", "taiwan")
    },
    "japanese_abroad_jasso_to_usa": 0.5,
}
UNCERTAIN_WEIGHT = 0.5  # rows whose note gives their confidence as uncertain
PRIOR_SCALE = 3.0  # prior spread, in least-squares standard errors
THRESHOLD = 4.0  # keep a set when its cost is at most this times the best
MEMBERS = 1_000  # kept sets written to the ensemble file (the first ones drawn)


@dataclasses.dataclass(frozen=True)
class FitData:
    """Observations prepared for fitting: values in model units and their weights."""

    observations: tuple
    labels: tuple  # the series label of each observation
    y: np.ndarray  # observed, in the model's units
    weight: np.ndarray  # residual multiplier: series weight / (|observed| * sqrt(n))
    variables: tuple  # model variables observed, in order
    var_index: np.ndarray  # index into ``variables`` of each observation

    @property
    def groups(self) -> list:
        """The series labels, in first-seen order."""
        return list(dict.fromkeys(self.labels))


def series_label(obs: Observation, multi: set) -> str:
    """Return the series name, with its model variable when the series spans variables."""
    return f"{obs.series} [{obs.model_variable}]" if obs.series in multi else obs.series


def prepare(observations: tuple, model) -> FitData:
    """Turn history rows into values in model units with fitting weights."""
    by_series: dict = {}
    for obs in observations:
        by_series.setdefault(obs.series, set()).add(obs.model_variable)
    multi = {s for s, v in by_series.items() if len(v) > 1}
    labels = tuple(series_label(o, multi) for o in observations)
    y = np.array([o.comparable for o in observations])
    weight = np.empty(len(y))
    for label in set(labels):
        idx = [i for i, lab in enumerate(labels) if lab == label]
        for i in idx:
            obs = observations[i]
            w = SERIES_WEIGHTS.get(obs.series, 1.0)
            if re.search(r"confidence:\s*uncertain", obs.note, re.IGNORECASE):
                w *= UNCERTAIN_WEIGHT
            if y[i] == 0:
                raise BrainsimError(
                    f"history row {obs.series} {obs.year} is 0; a relative error needs a "
                    "non-zero observation"
                )
            weight[i] = w / (abs(y[i]) * math.sqrt(len(idx)))
    names = {}
    for obs in observations:
        names.setdefault(
            vensim_key(obs.model_variable), model.spec.element(obs.model_variable).name
        )
    variables = tuple(names.values())
    var_index = np.array([list(names).index(vensim_key(o.model_variable)) for o in observations])
    return FitData(tuple(observations), labels, y, weight, variables, var_index)


# --- running the model on the observations ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Problem:
    """A model, the parameters to fit with their bounds, and the data."""

    model: object
    names: tuple  # Vensim names of the fitted parameters
    lower: np.ndarray
    upper: np.ndarray
    data: FitData
    final_time: float

    @property
    def n_params(self) -> int:
        """Number of fitted parameters."""
        return len(self.names)

    def to_values(self, u: np.ndarray) -> np.ndarray:
        """Parameter values from unit-box coordinates (``u`` shaped ``(p,)`` or ``(p, n)``)."""
        u = np.clip(u, 0.0, 1.0)
        lo, hi = (b if u.ndim == 1 else b[:, None] for b in (self.lower, self.upper))
        # clipped again: lo + 1 * (hi - lo) can round past hi (-0.2 + 0.3 > 0.1)
        return np.clip(lo + u * (hi - lo), lo, hi)

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        """Unit-box coordinates of parameter values (the inverse of :meth:`to_values`)."""
        return (values - self.lower) / (self.upper - self.lower)


def calibrated_names(spec) -> list:
    """Return the constants whose comment begins ``calibrated:``, in file order."""
    return [
        el.name
        for el in spec.elements
        if el.kind == "constant" and el.source.lower().startswith("calibrated")
    ]


def make_problem(model, observations: tuple, names: list | None = None) -> Problem:
    """Set up the fit of ``names`` (default: every ``calibrated:`` constant).

    An empty list measures the ``.mdl``'s values against the data without fitting.
    """
    if names is None:
        names = calibrated_names(model.spec)
        if not names:
            raise BrainsimError(
                f"{model.spec.path}: no constant is marked 'calibrated:' in its comment; "
                "mark the parameters to fit"
            )
    elements = [model.spec.element(n) for n in names]
    for el in elements:
        if el.kind != "constant" or None in el.limits:
            raise BrainsimError(
                f"{model.spec.path}: '{el.name}' cannot be calibrated: it needs to be a "
                "constant with a [min, max] range"
            )
    data = prepare(observations, model)
    last = max(o.year for o in observations) + 1.25  # a fiscal year ends in March
    final = min(model.controls["final_time"], math.ceil(last * 4) / 4 + 0.25)
    return Problem(
        model=model,
        names=tuple(el.name for el in elements),
        lower=np.array([el.limits[0] for el in elements], dtype=float),
        upper=np.array([el.limits[1] for el in elements], dtype=float),
        data=data,
        final_time=final,
    )


def modelled(problem: Problem, values: np.ndarray, workers=1) -> np.ndarray:
    """Return the model's counterpart of every observation, shaped ``(n_obs, n_runs)``.

    ``values`` holds one parameter set per column, shaped ``(p, n_runs)``.
    """
    from sim.engine.simulate import integrate

    model, data = problem.model, problem.data
    params = {name: values[i] for i, name in enumerate(problem.names)}
    result = integrate(
        model,
        params,
        saveper=model.controls["time_step"],
        final_time=problem.final_time,
        outputs=list(data.variables),
        workers=workers,
    )
    out = np.empty((len(data.y), values.shape[1]))
    for v, name in enumerate(data.variables):
        rows = np.flatnonzero(data.var_index == v)
        weights = np.array([observation_weights(result.times, data.observations[i]) for i in rows])
        out[rows] = weights @ result.series(_output_index(result, name))
    return out


def _output_index(result, name: str) -> int:
    key = vensim_key(name)
    return next(j for j, (k, _, _) in enumerate(result.outputs) if k == key)


def residuals(problem: Problem, sim_obs: np.ndarray) -> np.ndarray:
    """Weighted residuals, shaped like ``sim_obs`` (observations by runs)."""
    data = problem.data
    return (sim_obs - data.y[:, None]) * data.weight[:, None]


def cost(problem: Problem, sim_obs: np.ndarray) -> np.ndarray:
    """Half the sum of squared weighted residuals, per run."""
    return 0.5 * np.sum(residuals(problem, sim_obs) ** 2, axis=0)


# --- the fit -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Fit:
    """The best parameter set and what is known about it."""

    values: np.ndarray
    cost: float
    jacobian: np.ndarray  # of the weighted residuals, in unit-box coordinates
    dof: int  # fitted observations less parameters
    starts: tuple  # (start values, cost reached, evaluations) per start
    runs: int  # model runs spent

    def covariance(self) -> np.ndarray:
        """``s² (JᵀJ)⁻¹`` in unit-box coordinates (pseudo-inverse where not identified)."""
        s2 = 2 * self.cost / self.dof
        return s2 * np.linalg.pinv(self.jacobian.T @ self.jacobian)

    def stderr(self, problem: "Problem") -> np.ndarray:
        """Return the standard error of each parameter, in its units."""
        sigma = np.sqrt(np.clip(np.diag(self.covariance()), 0, None))
        return sigma * (problem.upper - problem.lower)


def fit(
    problem: Problem,
    starts: int = 4,
    seed: int = 0,
    max_nfev: int = 60,
    tick=None,
    initial: np.ndarray | None = None,
) -> Fit:
    """Weighted least squares from ``initial`` and ``starts - 1`` Latin-hypercube starts.

    ``initial`` defaults to the ``.mdl``'s current values; a backtest passes
    the centre of the ranges, since the ``.mdl``'s values were fitted to the
    years it holds out.

    The Jacobian is a forward difference computed as one ensemble run of
    ``p + 1`` columns, so each iteration costs one vectorised model run.
    """
    from scipy.optimize import least_squares
    from scipy.stats import qmc

    p = problem.n_params
    defaults = np.array([problem.model.defaults[_param_index(problem, n)] for n in problem.names])
    points = [problem.to_unit(defaults if initial is None else np.asarray(initial, float))]
    if starts > 1:
        points += list(qmc.LatinHypercube(d=p, seed=seed).random(starts - 1))
    counter = {"runs": 0}
    cache: dict = {}

    def columns(u: np.ndarray) -> np.ndarray:
        counter["runs"] += p + 1
        cache[u.tobytes()] = _residuals_and_jacobian(problem, u)
        return cache[u.tobytes()]

    def fun(u):
        key = u.tobytes()
        return cache[key][0] if key in cache else columns(u)[0]

    def jac(u):
        key = u.tobytes()
        return cache[key][1] if key in cache else columns(u)[1]

    best, results = None, []
    for start in points:
        out = least_squares(
            fun, np.clip(start, 0, 1), jac=jac, bounds=(0.0, 1.0), method="trf", max_nfev=max_nfev
        )
        cache.clear()
        results.append((problem.to_values(start), float(out.cost), int(out.nfev)))
        if best is None or out.cost < best.cost:
            best = out
        if tick is not None:
            tick()
    _, jacobian = columns(best.x)
    n = int(np.count_nonzero(problem.data.weight))
    return Fit(
        values=problem.to_values(best.x),
        cost=float(best.cost),
        jacobian=jacobian,
        dof=max(n - p, 1),
        starts=tuple(results),
        runs=counter["runs"],
    )


def _residuals_and_jacobian(problem: Problem, u: np.ndarray) -> tuple:
    """Weighted residuals at ``u`` (unit box) and their forward-difference Jacobian.

    ``u`` and ``u + h e_i`` run as one ensemble pass; ``h`` steps inward at
    the upper bound.
    """
    p = problem.n_params
    h = np.where(u + 1e-4 <= 1.0, 1e-4, -1e-4)
    cols = np.repeat(u[:, None], p + 1, axis=1)
    cols[np.arange(p), np.arange(1, p + 1)] += h
    res = residuals(problem, modelled(problem, problem.to_values(cols)))
    return res[:, 0], (res[:, 1:] - res[:, :1]) / h


def linearised(problem: Problem, values: np.ndarray) -> Fit:
    """Return ``values`` (e.g. the ``.mdl``'s fitted values) as a :class:`Fit` with its Jacobian.

    This gives the standard errors of a fit already made without refitting.
    """
    u = problem.to_unit(np.asarray(values, float))
    res, jacobian = _residuals_and_jacobian(problem, u)
    n = int(np.count_nonzero(problem.data.weight))
    return Fit(
        values=np.asarray(values, float),
        cost=float(0.5 * np.sum(res**2)),
        jacobian=jacobian,
        dof=max(n - problem.n_params, 1),
        starts=(),
        runs=problem.n_params + 1,
    )


def _param_index(problem: Problem, name: str) -> int:
    key = vensim_key(name)
    return problem.model.param_keys.index(key)


# --- the ensemble -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Ensemble:
    """Kept parameter sets with how they were drawn."""

    names: tuple
    values: np.ndarray  # (n_kept, p)
    costs: np.ndarray  # (n_kept,)
    seed: int
    prior_size: int
    passed: int  # sets within the threshold, of which ``values`` holds the first
    threshold: float  # largest cost kept
    best_cost: float
    model_sha256: str
    full_range_kept: int  # of ``full_range_size`` sets drawn over the full .mdl ranges
    full_range_size: int
    runs_per_s: float


def prior_sample(problem: Problem, best: Fit, samples: int, seed: int) -> np.ndarray:
    """Latin-hypercube draws of the Gaussian prior around ``best``, shaped ``(samples, p)``."""
    from scipy.stats import norm, qmc

    eigval, eigvec = np.linalg.eigh(best.covariance())
    spread = np.minimum(PRIOR_SCALE * np.sqrt(np.clip(eigval, 0, None)), 0.5)
    z = norm.ppf(qmc.LatinHypercube(d=problem.n_params, seed=seed).random(samples))
    u = problem.to_unit(best.values)[:, None] + eigvec @ (spread[:, None] * z.T)
    return problem.to_values(np.clip(u, 0.0, 1.0)).T


def ensemble(
    problem: Problem,
    best: Fit,
    samples: int = 50_000,
    seed: int = 20261127,
    chunk: int = 10_000,
    full_range_check: int = 5_000,
    members: int = MEMBERS,
    tick=None,
    workers=None,
) -> Ensemble:
    """Draw ``samples`` prior sets, run them, keep those within :data:`THRESHOLD` of the best.

    ``full_range_check`` sets are also drawn uniformly over the full ``.mdl``
    ranges, to report how many of those would pass (0 to skip). ``workers``:
    local processes (every core when None), or a
    :class:`~sim.engine.cluster.Cluster` that runs the draws.
    """
    from scipy.stats import qmc

    draws = prior_sample(problem, best, samples, seed)
    limit = THRESHOLD * best.cost
    start = time.perf_counter()
    costs = _costs(problem, draws, chunk, tick, workers)
    rate = samples / (time.perf_counter() - start)
    full_kept = -1
    if full_range_check:
        unit = qmc.LatinHypercube(d=problem.n_params, seed=seed + 1).random(full_range_check)
        full = problem.to_values(unit.T).T
        full_kept = int(np.count_nonzero(_costs(problem, full, chunk, tick, workers) <= limit))
    passed = np.flatnonzero(costs <= limit)
    keep = passed[:members]
    return Ensemble(
        names=problem.names,
        values=draws[keep],
        costs=costs[keep],
        seed=seed,
        prior_size=samples,
        passed=len(passed),
        threshold=limit,
        best_cost=best.cost,
        model_sha256=problem.model.spec.sha256,
        full_range_kept=full_kept,
        full_range_size=full_range_check,
        runs_per_s=rate,
    )


def _costs(problem: Problem, draws: np.ndarray, chunk: int, tick=None, workers=None):
    out = []
    for a in range(0, len(draws), chunk):
        part = draws[a : a + chunk].T
        out.append(cost(problem, modelled(problem, part, workers=workers)))
        if tick is not None:
            tick()
    return np.concatenate(out)


ENSEMBLE_KEYS = (
    "model_sha256",
    "seed",
    "prior_size",
    "passed",
    "members",
    "threshold",
    "best_cost",
    "method",
)


def write_ensemble(path: Path, ens: Ensemble) -> None:
    """Write the kept sets as CSV: ``#`` lines of provenance, then one row per member."""
    from sim.engine.files import atomic_path

    header = {
        "model_sha256": ens.model_sha256,
        "seed": ens.seed,
        "prior_size": ens.prior_size,
        "passed": ens.passed,
        "members": len(ens.costs),
        "threshold": repr(ens.threshold),
        "best_cost": repr(ens.best_cost),
        "method": (
            f"Latin hypercube of the Gaussian around the fit, {PRIOR_SCALE:g} x the "
            f"least-squares covariance, clipped to the .mdl ranges; kept when cost <= "
            f"{THRESHOLD:g} x best; the first {MEMBERS} kept are the members "
            "(sim/studies/calibrate.py)"
        ),
    }
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        for key, value in header.items():
            fh.write(f"# {key}: {value}\n")
        writer = csv.writer(fh)
        writer.writerow(["member", "cost", *ens.names])
        for i, (c, row) in enumerate(zip(ens.costs, ens.values, strict=True)):
            writer.writerow([i, repr(float(c)), *(repr(float(v)) for v in row)])


def ensemble_model_mismatch(path: Path, model) -> str:
    """Return a one-line note if the ensemble at ``path`` was made from another model, else ``""``.

    The ensemble's ``# model_sha256`` header records the ``.mdl`` it was fitted
    to; parameter sets fitted to one model say little about another.
    """
    path = Path(path)
    if not path.is_file():
        return ""
    recorded = read_ensemble(path)[0].get("model_sha256", "")
    if recorded == model.spec.sha256:
        return ""
    made = f"model sha256 {recorded[:12]}" if recorded else "a model it does not record"
    return (
        f"{path} was made from {made}, not from {Path(model.spec.path).name} as it is now "
        f"(sha256 {model.spec.sha256[:12]}); rerun brainsim calibrate --update-model"
    )


def read_ensemble(path: Path, model=None) -> tuple:
    """Read an ensemble file: ``(header dict, parameter names, values (n, p))``.

    With ``model``, every name must be one of its constants and every value
    inside the constant's range.
    """
    path = Path(path)
    if not path.is_file():
        raise BrainsimError(f"{path}: no such ensemble file; run brainsim calibrate first")
    from sim.engine.files import read_text

    header, rows = {}, []
    lines = read_text(path, "ensemble file").splitlines(keepends=True)
    body = []
    for line in lines:
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            header[key.strip()] = value.strip()
        else:
            body.append(line)
    reader = csv.reader(body)
    try:
        columns = next(reader)
    except StopIteration:
        raise BrainsimError(
            f"{path}: the ensemble file has no table; rerun brainsim calibrate"
        ) from None
    if columns[:2] != ["member", "cost"]:
        raise BrainsimError(f"{path}: the first columns must be member, cost")
    names = tuple(columns[2:])
    for line, row in enumerate(reader, start=len(lines) - len(body) + 2):
        if len(row) != len(columns):
            raise BrainsimError(
                f"{path}:{line}: {len(row)} values for {len(columns)} columns; "
                "rerun brainsim calibrate"
            )
        try:
            values = [float(v) for v in row[2:]]
        except ValueError:
            raise BrainsimError(f"{path}:{line}: a value is not a number") from None
        if not all(math.isfinite(v) for v in values):
            raise BrainsimError(
                f"{path}:{line}: a value is not a finite number (NaN or inf); "
                "rerun brainsim calibrate"
            )
        rows.append(values)
    if not rows:
        raise BrainsimError(f"{path}: the ensemble has no members; rerun brainsim calibrate")
    values = np.array(rows, dtype=float)
    if model is not None:
        missing = [n for n in calibrated_names(model.spec) if n not in names]
        if missing:
            raise BrainsimError(
                f"{path}: no column for the calibrated parameter '{missing[0]}'"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + f" of {model.spec.path}; rerun brainsim calibrate for this model"
            )
        for j, name in enumerate(names):
            el = model.spec.element(name) if model.spec.has(name) else None
            if el is None or el.kind != "constant":
                raise BrainsimError(
                    f"{path}: column '{name}' is not a constant of {model.spec.path}; "
                    "rerun brainsim calibrate for this model"
                )
            lo, hi = el.limits
            if (lo is not None and values[:, j].min() < lo) or (
                hi is not None and values[:, j].max() > hi
            ):
                shown = ", ".join("?" if v is None else f"{v:g}" for v in (lo, hi))
                raise BrainsimError(
                    f"{path}: column '{name}' leaves the range [{shown}] of the .mdl; "
                    "rerun brainsim calibrate"
                )
    return header, names, values


# --- fit statistics ----------------------------------------------------------------------


def fit_statistics(observed: np.ndarray, simulated: np.ndarray) -> dict:
    """MAPE, R² and Theil's inequality statistics of one series.

    ``mape`` is the mean absolute percentage error [%]; ``r2`` the squared
    correlation of simulated and observed values; ``um``, ``us``, ``uc`` the
    fractions of the mean squared error due to bias, to unequal variation
    and to imperfect covariation (Sterman 1984), which sum to 1. Standard
    deviations are population ones (``ddof=0``), so that the three add up.
    """
    y, m = np.asarray(observed, float), np.asarray(simulated, float)
    mse = np.mean((m - y) ** 2)
    sy, sm = y.std(), m.std()
    r = float(np.corrcoef(m, y)[0, 1]) if sy > 0 and sm > 0 else float("nan")
    stats = {
        "n": len(y),
        "mape": float(np.mean(np.abs(m - y) / np.abs(y)) * 100),
        "r2": r * r,
        "rmse": float(math.sqrt(mse)),
    }
    if mse > 0:
        stats["um"] = float((m.mean() - y.mean()) ** 2 / mse)
        stats["us"] = float((sm - sy) ** 2 / mse)
        stats["uc"] = float(2 * (1 - r) * sm * sy / mse) if not math.isnan(r) else float("nan")
    else:
        stats.update(um=0.0, us=0.0, uc=0.0)
    return stats


def report_rows(problem: Problem, sim_obs: np.ndarray) -> list:
    """Fit statistics per series for one run's modelled observations (shape ``(n_obs,)``)."""
    data = problem.data
    rows = []
    for label in data.groups:
        idx = [i for i, lab in enumerate(data.labels) if lab == label]
        obs = [data.observations[i] for i in idx]
        stats = fit_statistics(data.y[idx], sim_obs[idx])
        rows.append(
            {
                "series": label,
                "model_variable": obs[0].model_variable,
                "years": f"{min(o.year for o in obs)}-{max(o.year for o in obs)}",
                "weight": SERIES_WEIGHTS.get(obs[0].series, 1.0),
                **stats,
            }
        )
    return rows


# --- projection bands ---------------------------------------------------------------------


def bands(model, names: tuple, values: np.ndarray, timing: dict, workers=None) -> list:
    """Return the 5th, 50th and 95th percentiles of each output, year by year, over the ensemble.

    ``values`` holds one parameter set per row (``(n, p)``); ``timing`` maps
    an output name to its observation rule (:data:`sim.studies.targets.OUTPUT_TIMING`).
    Returns rows ``(variable, year, p05, p50, p95)`` for every whole year the
    run covers under that rule.
    """
    from sim.engine.simulate import integrate
    from sim.studies.history import timing_weights

    params = {name: values[:, i] for i, name in enumerate(names)}
    result = integrate(
        model,
        params,
        saveper=model.controls["time_step"],
        outputs=list(timing),
        workers=workers,
    )
    rows = []
    t0, tf = result.times[0], result.times[-1]
    for name, rule in timing.items():
        series = result.series(_output_index(result, name))
        for year in range(int(math.ceil(t0)), int(tf) + 1):
            try:
                w = timing_weights(result.times, year, rule)
            except BrainsimError:
                continue  # the year's window runs past the end of the run
            p05, p50, p95 = np.percentile(w @ series, [5, 50, 95])
            rows.append((name, year, float(p05), float(p50), float(p95)))
    return rows


def coverage(problem: Problem, members: np.ndarray, workers=None) -> float:
    """Share of the fitted observations inside the members' 5-95% band."""
    sim_obs = modelled(problem, members.T, workers=workers)
    lo, hi = np.percentile(sim_obs, [5, 95], axis=1)
    y = problem.data.y
    used = problem.data.weight > 0
    return float(np.mean(((y >= lo) & (y <= hi))[used]))


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Everything one calibration found: the fit, the ensemble and the baseline's bands."""

    problem: Problem
    defaults: np.ndarray  # the .mdl's values of the calibrated parameters before the fit
    best: Fit
    rounded: np.ndarray  # the fitted values as the .mdl will hold them (six digits, 8 decimals)
    best_obs: np.ndarray  # the rounded fit at each observation
    ensemble: Ensemble
    member_obs: np.ndarray  # each member at each observation (observation, member)
    coverage: float
    band_rows: list
    runs: int
    fit_seconds: float


def calibrate(
    model,
    observations: tuple,
    *,
    starts: int,
    samples: int,
    seed: int,
    progress=None,
    workers=None,
) -> Calibration:
    """Fit the calibrated parameters to ``observations``, then draw the constrained ensemble.

    ``progress(done, total)`` is called after each least-squares start, each
    chunk of the prior sample and the bands. ``workers`` (local processes,
    or a :class:`~sim.engine.cluster.Cluster`) runs the prior sample, the
    members and the bands; the least-squares fit, a few runs at a time, stays
    in this process.
    """
    total = starts + math.ceil(samples / 10_000) + math.ceil(5_000 / 10_000) + 1
    tick = ticker(progress, total)

    from sim.studies.targets import OUTPUT_TIMING

    clock = time.perf_counter()
    problem = make_problem(model, observations)
    defaults = np.array(
        [model.defaults[model.param_keys.index(model.spec.element(n).key)] for n in problem.names]
    )
    best = fit(problem, starts=starts, seed=seed, tick=tick)
    # the .mdl keeps six significant digits and eight decimals (PySD's translation keeps
    # no more decimals of an array's values); report the values it will hold
    rounded = np.clip(
        [round(float(f"{v:.6g}"), 8) for v in best.values], problem.lower, problem.upper
    )
    best_obs = modelled(problem, rounded[:, None])[:, 0]
    fit_seconds = time.perf_counter() - clock

    ens = ensemble(problem, best, samples=samples, seed=seed, tick=tick, workers=workers)
    if len(ens.costs) == 0:
        raise BrainsimError(f"no parameter set of {samples} passed the threshold; raise --samples")
    member_obs = modelled(problem, ens.values.T, workers=workers)
    share = coverage(problem, ens.values, workers)
    # the target outputs the model has, then every variable history observes
    timing = {n: r for n, r in OUTPUT_TIMING.items() if model.spec.has(n)}
    for obs in observations:
        timing.setdefault(model.spec.element(obs.model_variable).name, obs.timing)
    band_rows = bands(model, ens.names, ens.values, timing, workers)
    tick()
    runs = best.runs + 1 + samples + max(ens.full_range_size, 0) + 2 * len(ens.costs)
    return Calibration(
        problem,
        defaults,
        best,
        rounded,
        best_obs,
        ens,
        member_obs,
        share,
        band_rows,
        runs,
        fit_seconds,
    )
