"""Integrate a compiled model for one or many parameter sets at once.

``simulate`` is a pure function: model and parameters in, ``xarray.Dataset``
out. Three integrators, picked by name:

``euler``
    Vensim's and PySD's method: the same time grid (time accumulated by
    repeated addition of TIME STEP), the same order of operations, and the
    same SAVEPER test, so results equal PySD's to rounding.
``rk4``
    Classical fourth-order Runge-Kutta on the same fixed grid.
``RK45``, ``RK23``, ``DOP853``, ``Radau``, ``BDF``, ``LSODA``
    scipy's ``solve_ivp``, restarted at known discontinuities (STEP, RAMP,
    PULSE edges and the corners of lookups over Time).
"""

import dataclasses
import functools
import hashlib
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import numpy as np

from sim.engine.compile import CompiledModel
from sim.engine.errors import ParameterError, SimulationError
from sim.engine.names import suggestion, vensim_key

if TYPE_CHECKING:  # xarray takes half a second to import; only to_dataset needs it
    import xarray as xr

# PySD's relative precision for the end of the run and the saving times.
_RPREC = 1e-5
IVP_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
METHODS = ("euler", "rk4", *IVP_METHODS)
# Fewer runs than this per process and forking costs more than it saves.
_MIN_CHUNK = 2000


def simulate(model: CompiledModel, params: dict | None = None, **options) -> "xr.Dataset":
    """Run ``model`` for every parameter set in ``params``; return an ``xarray.Dataset``.

    The options are those of :func:`integrate`. The Dataset has dims ``time``
    and ``run`` and one variable per model variable, named in snake_case, with
    attributes ``units``, ``vensim_name``, ``kind``, ``doc`` and ``source``;
    its attributes record the model and parameter hashes, method, step, seed,
    package version and creation time.
    """
    return to_dataset(integrate(model, params, **options))


def integrate(
    model: CompiledModel,
    params: dict | None = None,
    *,
    method: str = "euler",
    time_step: float | None = None,
    saveper: float | None = None,
    final_time: float | None = None,
    outputs: list | None = None,
    tables: dict | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-9,
    scenario: str = "",
    seed: int | None = None,
    workers=None,
    engine: str = "auto",
) -> "Result":
    """Run ``model`` for every parameter set in ``params`` at once.

    Parameters
    ----------
    model
        From :func:`sim.engine.compile.compile_model`.
    params
        Constant name (Vensim or Python spelling) to a value or a 1-d array of
        one value per run (one length for all), checked against its range.
    method
        ``euler`` (default), ``rk4`` or a ``solve_ivp`` method name.
    time_step, saveper, final_time
        Override the model's controls [model time units]; equations that use
        FINAL TIME see the new value.
    outputs
        Names of the variables to keep; all of them when ``None``.
    tables
        Lookup name to ``(xs, ys)``, replacing that lookup's points.
    rtol, atol
        Tolerances of the ``solve_ivp`` methods.
    scenario
        Recorded in the Dataset's attributes.
    seed
        Recorded too; run ``r`` of a model with RANDOM functions draws from
        the stream keyed by ``seed`` and ``r``.
    workers
        Processes to split the runs over (at least 2,000 runs each; the cores
        when ``None``) or a :class:`~sim.engine.cluster.Cluster`. Results do
        not depend on it.
    engine
        ``numpy``, ``kernel`` or ``auto``: see :func:`choose_engine`.

    Returns
    -------
    Result
        The saved values as plain arrays; :func:`to_dataset` labels them.

    Raises
    ------
    ParameterError
        Unknown name (with the closest names), non-numeric, NaN or
        out-of-range value, or arrays of different lengths.
    SimulationError
        The solver failed, or an equation produced NaN or inf (naming the
        first variable and the time).
    """
    _check_method(model, method, time_step=time_step, saveper=saveper, final_time=final_time)
    params = by_element(model.spec, params or {})
    c, _ = _constants(model, params, seed)
    table_values = _tables(model, tables or {})
    ctl = _overridden(model.controls, time_step, saveper, final_time)
    keep = _select(model, outputs)
    _check_size(model, ctl, c.shape[1], len(keep))
    grid, saved = _time_grid(ctl)
    ctl_tuple = controls_tuple(ctl, method)
    job = _Job(model, table_values, ctl_tuple, grid, saved, keep, method, rtol, atol, scenario)
    job = dataclasses.replace(job, engine=choose_engine(model, method, engine))
    times, values = _run(job, c, workers, ctl["time_step"])
    _check_finite_constants(model, c, keep, ctl_tuple[0])
    attrs = _attrs(model, method, ctl, params, scenario, seed)
    return Result(
        model=model, times=times, outputs=tuple(keep), values=values, constants=c, attrs=attrs
    )


def _run(job: "_Job", c: np.ndarray, workers, dt: float) -> tuple:
    """Return the saved times and values: on the fixed grid, or as the controls change."""
    if job.model.changing:
        return _changing_run(job, c)
    return _round_times(job.grid[job.saved], dt), _run_in_parts(job, c, workers)


ENGINES = ("auto", "numpy", "kernel")
# Below this many equations a step, numpy's few calls a step cost less than
# compiling a kernel (a second or more per new model, the first time).
KERNEL_MIN_SIZE = 300


def _dynamic_size(model: CompiledModel) -> int:
    return model.n_states + sum(1 for _, where, _ in model.outputs if where == "dyn")


def choose_engine(model: CompiledModel, method: str, engine: str = "auto") -> str:
    """Return the engine that runs ``model`` by ``method``: ``numpy`` or ``kernel``.

    ``auto`` takes the kernel for Euler wherever the model has one, has at
    least :data:`KERNEL_MIN_SIZE` equations a step and numba is installed,
    unless ``BRAINSIM_KERNEL=off``. The choice depends on the model only,
    never on the number of runs, so that a run gives the same numbers alone
    or in any batch.
    """
    if engine not in ENGINES:
        raise ParameterError(f"unknown engine '{engine}'; choose one of {', '.join(ENGINES)}")
    has_kernel = method == "euler" and bool(model.kernel_source)
    if engine == "kernel" and not has_kernel:
        from sim.engine.kernelgen import unsupported

        why = (
            f"it uses {unsupported(model.spec, model.n_memory, model.changing)}"
            if method == "euler"
            else "the kernel integrates by Euler only"
        )
        raise ParameterError(
            f"{model.spec.path}: no compiled kernel for "
            f"{'this model' if method == 'euler' else 'method ' + method} ({why}); "
            "use engine 'numpy'"
        )
    if engine != "auto":
        return engine
    if not has_kernel or os.environ.get("BRAINSIM_KERNEL", "on") == "off":
        return "numpy"
    if _dynamic_size(model) < KERNEL_MIN_SIZE:
        return "numpy"
    try:
        import numba  # noqa: F401
    except ImportError:
        return "numpy"
    return "kernel"


def _check_method(model: CompiledModel, method: str, **overrides) -> None:
    """Refuse a method or an override that the model's discrete states or controls rule out."""
    if method not in METHODS:
        raise ParameterError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}")
    _check_discrete(model, method, overrides["time_step"])
    _check_changing(model, method, **overrides)


def _run_in_parts(job: "_Job", c: np.ndarray, workers) -> np.ndarray:
    """Integrate the runs (columns of ``c``) in parts, on ``workers`` processes or a cluster.

    Each part's values are copied into the result as its wave of parts comes
    back, so the caller holds the result and one wave, never every part and
    their concatenation; parts are sized by :func:`_part_edges`.
    """
    from sim.engine.cluster import Cluster, map_parts

    n_runs = c.shape[1]
    width = workers.n_workers if isinstance(workers, Cluster) else workers or os.cpu_count() or 1
    out = np.empty((int(job.saved.sum()), len(job.keep), n_runs))  # every part fills its columns
    edges = _part_edges(n_runs, width, out.itemsize * out.shape[0] * out.shape[1])
    # each part carries its own columns, so that a cluster's workers get only theirs
    parts = [(a, c[:, a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)]

    def put(part, done):
        (a, cols), (values, filled) = part, done
        out[:, :, a : a + cols.shape[1]] = values
        c[:, a : a + cols.shape[1]] = filled

    map_parts(_integrate_part, parts, job, workers, each=put)
    return out


# The most a part's saved values may take, and the share of the memory available
# now that the parts in flight together may take: the result is held once, and
# each part a few times (in its worker, in the pipe, in the caller) while it lands.
PART_BYTES = 64e6
PARTS_SHARE = 0.1


def _part_edges(n_runs: int, width: int, per_run: int) -> np.ndarray:
    """Return where the parts of ``n_runs`` start and end.

    Runs split across the ``width`` processes once there are :data:`_MIN_CHUNK`
    each; parts are then cut smaller while one would hold more than
    :data:`PART_BYTES` of saved values, or a wave of ``width`` of them more
    than :data:`PARTS_SHARE` of the memory available. Runs are independent
    columns, so the numbers do not depend on the cut.
    """
    from sim.engine.budget import available_memory

    n_parts = max(1, min(width, n_runs // _MIN_CHUNK))
    cap = min(PART_BYTES, PARTS_SHARE * available_memory() / max(width, 1))
    runs_per_part = max(1, int(cap // max(per_run, 1)))
    n_parts = max(n_parts, -(-n_runs // runs_per_part))
    return np.linspace(0, n_runs, min(n_parts, n_runs) + 1).astype(int)


def _integrate_part(part: tuple, job: "_Job") -> tuple:
    """Integrate the runs ``(first run, constants)`` of one part; return values and constants."""
    first, c = part
    model, method = job.model, job.method
    run = _euler if method == "euler" else _rk4 if method == "rk4" else _ivp
    if method == "euler" and job.engine == "kernel":
        run = _euler_kernel
    c = c.copy()  # initialize fills its run-constant rows in place: send them back
    # one run keeps its run axis: over numpy scalars, numpy's power takes other
    # paths (sqrt for ^0.5, libm's pow) and a run's numbers would depend on its batch
    s = np.empty((model.n_states, c.shape[1]))
    m = np.empty((model.n_memory, c.shape[1]))
    with np.errstate(all="ignore"):  # NaN and inf are checked and named instead
        model.initialize(c, job.tables, job.ctl, s, m)
        values = run(dataclasses.replace(job, first_run=first), c, s, m)
    return values, c


# -- inputs ------------------------------------------------------------------


def _overridden(controls: dict, time_step, saveper, final_time) -> dict:
    """Return the model's controls with those the caller gives in their place, checked."""
    ctl = dict(controls)
    if time_step is not None:
        ctl["time_step"] = _positive(time_step, "time step")
    if saveper is not None:
        ctl["saveper"] = _positive(saveper, "saveper")
    if final_time is not None:
        if not final_time > ctl["initial_time"]:
            raise ParameterError(
                f"final time {final_time:g} is not after the initial time "
                f"{ctl['initial_time']:g}; give a later final time"
            )
        ctl["final_time"] = float(final_time)
    return ctl


def controls_tuple(ctl: dict, method: str) -> tuple:
    """Return the controls as the generated functions take them, with STEP's switch offset."""
    # numpy scalars: equations over them divide by zero to inf, not an exception.
    # STEP switches half a step early on a fixed grid (Vensim, PySD); at the
    # step time itself for the adaptive solvers, whose limit is continuous time.
    offset = 0.0 if method in IVP_METHODS else ctl["time_step"] / 2
    return tuple(
        np.float64(ctl[k]) for k in ("initial_time", "final_time", "time_step", "saveper")
    ) + (np.float64(offset),)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _positive(value, what):
    value = float(value)
    if not value > 0 or not math.isfinite(value):
        raise ParameterError(f"{what} must be a positive number, got {value}")
    return value


def find_element(model: CompiledModel, name: str):
    """Return the element named ``name`` (Vensim or Python spelling), or raise."""
    try:
        return model.spec.element(name)
    except KeyError:
        names = [el.name for el in model.spec.elements if el.kind != "control"]
        raise ParameterError(f"unknown variable '{name}'; {suggestion(name, names)}") from None


def by_element(spec, params: dict) -> dict:
    """Return ``params`` with each ``{element: value}`` of a subscripted constant spread out.

    ``{"birth rate": {"north": 0.02, "south": 0.03}}`` becomes
    ``{"birth rate[north]": 0.02, "birth rate[south]": 0.03}``; a key of a
    two-dimensional array lists both subscripts, ``"north,c1"``. One value
    (or one per run) for the array's name goes to every element, as PySD
    takes it.
    """
    out = {}
    for name, value in params.items():
        if not isinstance(value, dict):
            members = spec.array(name) if isinstance(name, str) else {}
            out.update({el.name: value for el in members.values()} or {name: value})
            continue
        members = spec.array(name)
        if not members:
            raise ParameterError(
                f"'{name}' is not subscripted; give it one value (or one per run), "
                "not values by element"
            )
        for sub, v in value.items():
            key = vensim_key(f"x[{sub}]").partition("[")[2].rstrip("]")
            if key not in members:
                raise ParameterError(
                    f"'{name}' has no element [{sub}]; its elements are "
                    + ", ".join(f"[{m}]" for m in members)
                )
            out[members[key].name] = v
    return out


def _check_discrete(model: CompiledModel, method: str, time_step) -> None:
    """Refuse what a SAMPLE IF TRUE or DELAY FIXED cannot do: change only between Euler steps."""
    if not model.discrete:
        return
    if method != "euler":
        raise ParameterError(
            f"the model uses SAMPLE IF TRUE or DELAY FIXED, which change once per Euler step; "
            f"run it with method euler, not {method}"
        )
    if time_step is not None and float(time_step) != model.controls["time_step"]:
        raise ParameterError(
            "the model uses DELAY FIXED or SAMPLE IF TRUE, whose steps are fixed by the "
            ".mdl's TIME STEP; change TIME STEP in the .mdl instead"
        )


def _check_changing(model: CompiledModel, method: str, **overrides) -> None:
    """Refuse what a model whose controls change during the run cannot do."""
    if not model.changing:
        return
    names = ", ".join(k.upper().replace("_", " ") for k in model.changing)
    if method != "euler":
        raise ParameterError(
            f"the model's {names} change during the run; run it with method euler, not {method}"
        )
    for key, value in overrides.items():
        if value is not None and key in model.changing:
            raise ParameterError(
                f"the model's {key.upper().replace('_', ' ')} is an equation that changes during "
                "the run; it cannot be overridden, change it in the .mdl"
            )


def _constants(model: CompiledModel, params: dict, seed=None):
    lengths = {np.size(v) for v in params.values() if np.ndim(v) > 0}
    if len(lengths) > 1:
        raise ParameterError(
            f"parameter arrays have different lengths {sorted(lengths)}; give one value per run"
        )
    n_runs = lengths.pop() if lengths else 1
    c = np.empty((model.n_consts, n_runs))
    c[: len(model.defaults)] = model.defaults[:, None]
    index = {k: i for i, k in enumerate(model.param_keys)}
    for name, value in params.items():
        el = find_element(model, name)
        if el.key not in index:
            raise ParameterError(
                f"'{el.name}' is {_article(el.kind)} {el.kind}, not a constant; only constants "
                "can be set"
            )
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ParameterError(
                f"value {value!r} for '{el.name}' is not a number; give a number"
            ) from None
        if arr.ndim > 1:
            raise ParameterError(f"values for '{el.name}' must be a number or a 1-d array")
        if not np.all(np.isfinite(arr)):
            raise ParameterError(f"value for '{el.name}' is NaN or infinite; give a finite number")
        lo, hi = el.limits
        bad = (arr < lo) if lo is not None else np.zeros(arr.shape, bool)
        if hi is not None:
            bad = bad | (arr > hi)
        if np.any(bad):
            first = float(np.atleast_1d(arr)[np.atleast_1d(bad)][0])
            raise ParameterError(
                f"value {first:g} for '{el.name}' is outside its range "
                f"[{_fmt(lo)}, {_fmt(hi)}] in the .mdl; give a value inside it"
            )
        if el.key in model.fixed_keys and np.any(arr != model.defaults[index[el.key]]):
            raise ParameterError(
                f"'{el.name}' sets the order of a DELAY N or SMOOTH N (or the length of a "
                "DELAY FIXED), which is fixed when the "
                "model is compiled (Vensim takes it at INITIAL TIME); change it in the .mdl"
            )
        c[index[el.key]] = arr
    if model.noise_row is not None:
        # each parameter set's key for the RANDOM functions: its number, and the seed
        c[model.noise_row] = np.arange(n_runs) + (0 if seed is None else int(seed)) * 2.0**32
    return c, n_runs


def _fmt(v):
    return "?" if v is None else f"{v:g}"


def _tables(model: CompiledModel, tables: dict) -> tuple:
    values = list(model.tables)
    keys = [lk.key for lk in model.spec.lookups]
    for name, (xs, ys) in tables.items():
        el = find_element(model, name)
        if el.kind != "lookup":
            raise ParameterError(f"'{el.name}' is {_article(el.kind)} {el.kind}, not a lookup")
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        if xs.shape != ys.shape or xs.ndim != 1 or xs.size < 1:
            raise ParameterError(f"lookup '{el.name}' needs equal, non-empty lists of x and y")
        if np.any(np.diff(xs) <= 0) or not np.all(np.isfinite(xs) & np.isfinite(ys)):
            raise ParameterError(
                f"lookup '{el.name}' needs finite points with increasing x values"
            )
        values[keys.index(el.key)] = (xs, ys)
    return tuple(values)


def _select(model: CompiledModel, outputs) -> list:
    if outputs is None:
        return list(model.outputs)
    wanted = set()
    for name in outputs:  # a subscripted variable's name stands for all its elements
        members = model.spec.array(name)
        wanted |= {el.key for el in members.values()} or {find_element(model, name).key}
    kept = [o for o in model.outputs if o[0] in wanted]
    missing = wanted - {o[0] for o in kept}
    if missing:
        raise ParameterError(f"'{sorted(missing)[0]}' is a lookup or control, not an output")
    return kept


# Copies of the saved values a call holds at its peak, over all its processes:
# measured on the brain model with every output at 5,000 runs on two cores, a
# 1.98 GB Dataset took 2.56 GB in the calling process (the result, filled part
# by part, of which the Dataset is a view, and one wave of parts); a worker
# holds one part of at most PART_BYTES. (3.5 before parts were sized and put in
# place: 4.11 GB in the caller and 2.15 GB in the worker.)
SAVED_COPIES = 1.5


def _check_size(model: CompiledModel, ctl: dict, n_runs: int, n_outputs: int) -> None:
    """Refuse a run whose time grid or saved values would not fit, before building either."""
    from sim.engine.budget import check_size

    span = ctl["final_time"] - ctl["initial_time"]
    steps = span / ctl["time_step"]
    saves = span / min(max(ctl["saveper"], ctl["time_step"]), span) + 1
    what = (
        f"{model.spec.path}: INITIAL TIME {ctl['initial_time']:g} to FINAL TIME "
        f"{ctl['final_time']:g} by TIME STEP {ctl['time_step']:g}"
    )
    # the grid itself is held as a float per step, on top of each run's saved values
    check_size(
        what,
        n_runs,
        8 * (SAVED_COPIES * saves * n_outputs + steps / max(n_runs, 1)),
        steps,
        "the runs or the outputs kept (outputs=...), lower FINAL TIME, or raise SAVEPER",
    )


def _time_grid(ctl: dict):
    """PySD's grid: ``t += dt`` while ``t + dt*1e-5 < final``; saved where on SAVEPER."""
    t0, tf, dt, sp = ctl["initial_time"], ctl["final_time"], ctl["time_step"], ctl["saveper"]
    times = [t0]
    t = t0
    while t + dt * _RPREC < tf:
        t = t + dt
        times.append(t)
    grid = np.array(times)
    prec = dt * _RPREC
    delay = grid - t0
    saved = (np.mod(delay, sp) < prec) | (np.mod(-delay, sp) < prec)
    return grid, saved


def _round_times(times, dt):
    return np.round(times, -int(np.log10(dt * _RPREC)))


# -- integrators --------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """What every part of a run shares: the model, tables, controls and time grid."""

    model: CompiledModel
    tables: tuple
    ctl: tuple
    grid: np.ndarray
    saved: np.ndarray
    keep: list
    method: str
    rtol: float
    atol: float
    scenario: str
    first_run: int = 0  # index of this part's first run in the whole ensemble
    labels: tuple = ()  # (scenario, run) of each column, where runs of several share a pass
    engine: str = "numpy"  # "kernel": Euler through sim.engine.kernel


def _width(c) -> int:
    """Count the runs in this part: columns of ``c``, or 1 where the run axis was dropped."""
    return c.shape[1] if c.ndim == 2 else 1


def _gather(values_out, k, s, dyn, keep):
    for j, (_, where, i) in enumerate(keep):
        if where == "state":
            values_out[k, j] = s[i]
        elif where == "dyn":
            values_out[k, j] = dyn[i]


def _euler(job: _Job, c, s, m):
    model, L, ctl = job.model, job.tables, job.ctl
    values = np.zeros((int(job.saved.sum()), len(job.keep), _width(c)))
    D = np.empty_like(s)
    M = np.empty_like(m)
    dt = ctl[2]
    k = 0
    last = len(job.grid) - 1
    for step, t in enumerate(job.grid):
        if job.saved[step]:
            dyn = model.evaluate(t, s, m, c, L, ctl, D, M, True)
            _gather(values, k, s, dyn, job.keep)
            _check_finite(job, t, s, m, c, values[k])
            k += 1
        elif step != last:
            model.rates(t, s, m, c, L, ctl, D, M, True)
        if step == last:
            break
        if not np.isfinite(D.sum()):
            _raise_nan(job, t, s, m, c)
        D *= dt  # D is rewritten at the next evaluation
        s += D
        m, M = M, m
    return values


def _euler_kernel(job: _Job, c, s, m):
    """Euler through the compiled kernel; a run that turns NaN is replayed in numpy."""
    from sim.engine import kernel

    try:
        values, bad = kernel.integrate(
            job.model, c, s, job.tables, job.grid, job.saved, job.ctl, job.keep
        )
    except kernel.KernelUnavailable:
        return _euler(job, c, s, m)
    if bad.any():  # numpy names the variable, the time and the run
        cols = np.flatnonzero(bad)
        again = _replay_job(job, c, cols)
        c1, m1 = c[:, cols], m[:, cols]
        s1 = np.empty((job.model.n_states, len(cols)))
        job.model.initialize(c1, job.tables, job.ctl, s1, m1)
        values[:, :, cols] = _euler(again, c1, s1, m1)  # numpy rounded past the NaN: keep
    return values


def _replay_job(job: _Job, c, cols) -> _Job:
    """Return the job that replays columns ``cols`` in numpy, naming runs as in the batch."""
    if _width(c) == 1 and not job.first_run and not job.labels:
        return job  # named as numpy names a lone run
    labels = job.labels or tuple((job.scenario, job.first_run + i) for i in range(_width(c)))
    return dataclasses.replace(job, labels=tuple(labels[i] for i in cols))


def _changing_run(job: _Job, c) -> tuple:
    """Euler with TIME STEP, SAVEPER and FINAL TIME read from the model at every step.

    PySD's loop (``Model._integrate``): at each time, save if it is on the
    current SAVEPER, stop if the current FINAL TIME is reached, else step by
    the current TIME STEP. A run whose FINAL TIME (a condition on its state)
    is reached stops there: its later saved values are NaN while the other
    runs go on. Returns ``(times, values)``.
    """
    model, L, ctl = job.model, job.tables, job.ctl
    n = c.shape[1]
    s, m = np.empty((model.n_states, n)), np.empty((model.n_memory, n))
    D, M = np.empty_like(s), np.empty_like(m)
    t0, t = ctl[0], ctl[0]
    index = model.changing
    times, rows = [], []
    done = np.zeros(n, dtype=bool)
    with np.errstate(all="ignore"):
        model.initialize(c, L, ctl, s, m)
        for _ in range(_MAX_STEPS):
            dyn = model.evaluate(t, s, m, c, L, ctl, D, M, True)
            dt = _common_value(dyn, index, "time_step", ctl[2], t)
            saveper = _common_value(dyn, index, "saveper", ctl[3], t)
            final = np.broadcast_to(
                dyn[index["final_time"]] if "final_time" in index else ctl[1], n
            )
            prec = dt * _RPREC
            if (t - t0) % saveper < prec or -(t - t0) % saveper < prec:
                row = np.zeros((1, len(job.keep), n))
                _gather(row, 0, s, dyn, job.keep)
                row[0][:, done] = np.nan
                times.append(t)
                rows.append(row[0])
                _check_finite(job, t, s[:, ~done], m, c, row[0][:, ~done])
            done |= ~(t + prec < final)
            if done.all():
                break
            if not np.isfinite(D[:, ~done].sum()):
                _raise_nan(job, t, s, m, c)
            s[:, ~done] += D[:, ~done] * dt
            m[:, ~done] = M[:, ~done]
            t = np.float64(t + dt)
            ctl = (ctl[0], ctl[1], dt, saveper, dt / 2)
        else:
            raise SimulationError(
                f"{model.spec.path}: FINAL TIME was not reached in {_MAX_STEPS:,} steps; "
                "check its condition and TIME STEP"
            )
    return np.array(times), np.stack(rows)


_MAX_STEPS = 10_000_000


def _common_value(dyn, index: dict, key: str, default, t) -> np.float64:
    """Return a control's value now, the same in every run (TIME STEP and SAVEPER are)."""
    if key not in index:
        return np.float64(default)
    values = np.unique(np.ravel(dyn[index[key]]))
    if values.size != 1 or not values[0] > 0:
        raise SimulationError(
            f"{key.upper().replace('_', ' ')} is {', '.join(f'{v:g}' for v in values[:3])} at "
            f"time {t:g}; it must be positive and the same in every run"
        )
    return np.float64(values[0])


def grid_times(model: CompiledModel) -> np.ndarray:
    """Return the Euler grid of ``model``: every TIME STEP from INITIAL to FINAL TIME."""
    if model.changing:
        raise ParameterError(
            f"{model.spec.path}: TIME STEP, SAVEPER or FINAL TIME change during the run; "
            "`brainsim simulate` runs such a model, yearly measures need a fixed time grid"
        )
    ctl = dict(model.controls)
    grid, _ = _time_grid({**ctl, "saveper": ctl["time_step"]})
    return _round_times(grid, ctl["time_step"])


@dataclass(frozen=True)
class Branch:
    """An Euler run stopped before grid step ``step``: all that is needed to carry it on."""

    step: int
    states: np.ndarray  # (n_states, n_runs)
    memory: np.ndarray  # (n_memory, n_runs)
    sums: np.ndarray  # (rows, outputs that vary in time, n_runs), as far as it went

    def columns(self, cols) -> "Branch":
        """Return the same point for some of the runs (an index array may repeat them)."""
        return Branch(self.step, self.states[:, cols], self.memory[:, cols], self.sums[..., cols])

    @staticmethod
    def join(parts: list) -> "Branch":
        """Put the runs of several branches at one step side by side."""
        fields = ("states", "memory", "sums")
        joined = (np.concatenate([getattr(b, f) for b in parts], axis=-1) for f in fields)
        return Branch(parts[0].step, *joined)


def measure(
    model: CompiledModel,
    params: dict,
    weights: dict,
    outputs: dict,
    *,
    tables: dict | None = None,
    start: Branch | None = None,
    stop: int | None = None,
    labels: tuple = (),
) -> tuple:
    """Integrate by Euler over grid steps ``[start.step, stop)``, keeping only weighted sums.

    Instead of every step of every output, it returns
    ``sums[r, j, run] = sum over steps k of weights[rule_j][r, k] * output_j(k)``,
    for example one row per year holding the 1 May value of a stock or the
    fiscal-year mean of a flow; memory stays ``rows x outputs x runs``
    however fine the grid. The arithmetic of each step is that of
    :func:`integrate` with ``saveper`` = TIME STEP, so a run cut at a step
    and carried on from its :class:`Branch` gives the same sums, to the bit,
    as the run made in one go: the branch carries the sums so far.

    Parameters
    ----------
    params, tables
        As for :func:`integrate`.
    weights
        Rule name to a matrix ``(rows, steps of grid_times(model))``.
    outputs
        Output name to its rule.
    start
        Carry on from here (its runs are the columns of ``params``); from the
        initial time when ``None``.
    stop
        First grid step not taken; the end of the grid when ``None``.
    labels
        ``(scenario, run)`` that each column stands for, named when a run
        turns NaN; the column's index when empty.

    Returns
    -------
    tuple
        ``(sums, None)`` at the end of the grid, ``sums`` shaped ``(rows,
        len(outputs), runs)`` in the order of ``outputs``; ``(None, branch)``
        when stopped before it.
    """
    grid_times(model)  # refuses controls that change during the run
    c, n_runs = _constants(model, by_element(model.spec, params))
    L = _tables(model, tables or {})
    ctl = dict(model.controls, saveper=model.controls["time_step"])
    grid, _ = _time_grid(ctl)
    ctl_tuple = controls_tuple(ctl, "euler")
    keep = _select(model, list(outputs))
    where_of, dyn = _measured(model, keep, weights, outputs)
    blocks = _rule_blocks(weights, outputs, dyn)
    job = _Job(
        model, L, ctl_tuple, grid, np.ones(len(grid), bool), keep, "euler", 0, 0, "", 0, labels
    )
    job = dataclasses.replace(job, engine=choose_engine(model, "euler"))
    n_rows = len(next(iter(weights.values())))
    sums = np.zeros((n_rows, len(dyn), n_runs)) if start is None else start.sums.copy()
    s, m = _starting_states(job, c, start)
    first = 0 if start is None else start.step
    stop = len(grid) if stop is None else stop
    sources = [where_of[n] for n in dyn]
    sum_steps = _kernel_sums if job.engine == "kernel" else _euler_sums
    s, m = sum_steps(job, c, s, m, sums, sources, blocks, first, stop)
    _check_finite_constants(model, c, keep, ctl_tuple[0])
    if stop < len(grid):
        return None, Branch(stop, s, m, sums)
    return _sums_by_output(weights, outputs, where_of, dyn, sums, c), None


def _measured(model: CompiledModel, keep: list, weights: dict, outputs: dict) -> tuple:
    """Return where each output is read, and the outputs that vary in time, ordered by rule."""
    by_key = {k: (w, i) for k, w, i in keep}
    where_of = {name: by_key[find_element(model, name).key] for name in outputs}
    # outputs of one rule sit side by side, so one slice takes them all
    order = sorted(outputs, key=lambda name: list(weights).index(outputs[name]))
    dyn = [n for n in order if where_of[n][0] != "c"]
    return where_of, dyn


def _rule_blocks(weights: dict, outputs: dict, dyn: list) -> list:
    """Return, for each rule, the slice of ``dyn`` it weights and its rows by step."""
    blocks = []
    for rule, w in weights.items():
        idx = [j for j, n in enumerate(dyn) if outputs[n] == rule]
        if idx:
            blocks.append((slice(idx[0], idx[-1] + 1), _rows_by_step(w)))
    return blocks


def _starting_states(job: _Job, c: np.ndarray, start: Branch | None) -> tuple:
    """Return the states and memory to start from: the initial ones, or those of ``start``."""
    model = job.model
    s = np.empty((model.n_states, c.shape[1]))
    m = np.empty((model.n_memory, c.shape[1]))
    with np.errstate(all="ignore"):  # NaN and inf are checked and named instead
        # also when carrying on: it fills the run-constant rows of c
        model.initialize(c, job.tables, job.ctl, s, m)
    if start is not None:
        s[...], m[...] = start.states, start.memory
    return s, m


def _euler_sums(job: _Job, c, s, m, sums, sources, blocks, first: int, stop: int) -> tuple:
    """Take Euler steps ``[first, stop)``, adding to ``sums``; return the states and memory.

    ``sources`` says where each output that varies in time is read, and
    ``blocks`` which of them each step adds, to which rows, with what weight.
    """
    model, L, ctl_tuple, grid = job.model, job.tables, job.ctl, job.grid
    buf = np.empty((len(sources), c.shape[1]))
    D, M = np.empty_like(s), np.empty_like(m)
    dt, last = ctl_tuple[2], len(grid) - 1
    with np.errstate(all="ignore"):  # NaN and inf are checked and named instead
        for step in range(first, stop):
            t = grid[step]
            values = model.evaluate(t, s, m, c, L, ctl_tuple, D, M, True)
            for j, (where, i) in enumerate(sources):
                buf[j] = s[i] if where == "state" else values[i]
            if not (np.isfinite(s.sum()) and np.isfinite(buf.sum())):
                _raise_nan(job, t, s, m, c)
            for cols, rows in blocks:
                for r, w in zip(*rows[step], strict=True):
                    sums[r, cols] += w * buf[cols]
            if step == last:
                break
            if not np.isfinite(D.sum()):
                _raise_nan(job, t, s, m, c)
            D *= dt
            s += D
            m, M = M, m
    return s, m


def _kernel_sums(job: _Job, c, s, m, sums, sources, blocks, first: int, stop: int) -> tuple:
    """Do :func:`_euler_sums` through the compiled kernel; NaN runs are replayed in numpy."""
    from sim.engine import kernel

    keep = [("", where, i) for where, i in sources]
    entries = _step_entries(blocks, len(job.grid))
    try:
        bad = kernel.accumulate(
            job.model, c, s, job.tables, job.grid, job.ctl, (first, stop, 1), entries, keep, sums
        )
    except kernel.KernelUnavailable:  # raised before any run: s and sums are untouched
        return _euler_sums(job, c, s, m, sums, sources, blocks, first, stop)
    if bad.any():  # numpy names the variable, the time and the run (bad runs are as given)
        cols = np.flatnonzero(bad)
        s1, sums1 = s[:, cols], sums[..., cols]
        again = _replay_job(job, c, cols)
        _euler_sums(again, c[:, cols], s1, m[:, cols], sums1, sources, blocks, first, stop)
        s[:, cols], sums[..., cols] = s1, sums1
    return s, m


def _step_entries(blocks: list, n_steps: int) -> tuple:
    """``blocks`` as the kernel's entries: ``(ptr, rows, weights)``, see kernel.accumulate."""
    ptr, rows, weights = [0], [], []
    for step in range(n_steps):
        for cols, by_step in blocks:
            for r, w in zip(*by_step[step], strict=True):
                rows.append((r, cols.start, cols.stop))
                weights.append(w)
        ptr.append(len(rows))
    return np.array(ptr), np.array(rows, dtype=np.int64).reshape(-1, 3), np.array(weights)


def _sums_by_output(weights: dict, outputs: dict, where_of: dict, dyn: list, sums, c):
    """Return the sums shaped ``(rows, outputs, runs)`` in the order of ``outputs``."""
    n_rows = len(next(iter(weights.values())))
    out = np.empty((n_rows, len(outputs), c.shape[1]))
    row = {name: j for j, name in enumerate(dyn)}
    for j, name in enumerate(outputs):
        where, i = where_of[name]
        if where == "c":  # constant all along: the sum of its weights, times it
            out[:, j] = weights[outputs[name]].sum(axis=1)[:, None] * c[i]
        else:
            out[:, j] = sums[:, row[name]]
    return out


def _rows_by_step(w: np.ndarray) -> list:
    """For each step (column of ``w``), the rows it adds to and by how much."""
    steps, rows = np.nonzero(w.T)  # ordered by step
    bounds = np.searchsorted(steps, np.arange(w.shape[1] + 1))
    values = w.T[steps, rows]
    return [(rows[a:b], values[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _rk4(job: _Job, c, s, m):
    model, L, ctl = job.model, job.tables, job.ctl
    values = np.zeros((int(job.saved.sum()), len(job.keep), _width(c)))
    dt = ctl[2]

    def f(t, y):
        D = np.empty_like(y)
        model.rates(t, y, m, c, L, ctl, D, None, False)
        return D

    k = 0
    for step, t in enumerate(job.grid):
        if job.saved[step]:
            dyn = model.evaluate(t, s, m, c, L, ctl, np.empty_like(s), None, False)
            _gather(values, k, s, dyn, job.keep)
            _check_finite(job, t, s, m, c, values[k])
            k += 1
        if step == len(job.grid) - 1:
            break
        k1 = f(t, s)
        k2 = f(t + dt / 2, s + dt / 2 * k1)
        k3 = f(t + dt / 2, s + dt / 2 * k2)
        k4 = f(t + dt, s + dt * k3)
        s = s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if not np.isfinite(s.sum()):
            _raise_nan(job, t, s, m, c)
    return values


def _ivp(job: _Job, c, s, m):
    from scipy.integrate import solve_ivp

    model, L, ctl = job.model, job.tables, job.ctl
    shape = s.shape
    save_times = job.grid[job.saved]
    t0, tf = job.grid[0], job.grid[-1]
    bounds = [t0, *_breaks(model, c, L, ctl, t0, tf), tf]
    reached = [t0]  # the last time the solver asked for, for the error message

    def fun(t, y):
        reached[0] = t
        D = np.empty(shape)
        model.rates(np.float64(t), y.reshape(shape), m, c, L, ctl, D, None, False)
        return D.ravel()

    states = {}
    y = s.ravel().copy()
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        # t_eval always ends at b: the segment's last column is the next start
        inside = sorted({x for x in save_times if a <= x < b} | {b})
        sol = solve_ivp(
            fun, (a, b), y, method=job.method, t_eval=inside, rtol=job.rtol, atol=job.atol
        )
        if sol.status < 0:
            scen = f" in scenario '{job.scenario}'" if job.scenario else ""
            raise SimulationError(
                f"solve_ivp ({job.method}) failed with status {sol.status} at time "
                f"{reached[0]:g}{scen}: {sol.message}"
            )
        for j, x in enumerate(sol.t):
            states.setdefault(float(x), sol.y[:, j].reshape(shape))
        y = sol.y[:, -1]
        if not np.all(np.isfinite(y)):
            _raise_nan(job, b, y.reshape(shape), m, c)
    values = np.zeros((len(save_times), len(job.keep), shape[1]))
    for k, t in enumerate(save_times):
        st = states[float(t)]
        dyn = model.evaluate(t, st, m, c, L, ctl, np.empty(shape), None, False)
        _gather(values, k, st, dyn, job.keep)
        _check_finite(job, t, st, m, c, values[k])
    return values


def _breaks(model, c, L, ctl, t0, tf, limit=200):
    found = np.concatenate([np.ravel(b) for b in model.breakpoints(c, L, ctl)] or [[]])
    found = np.unique(found[np.isfinite(found)])
    found = found[(found > t0) & (found < tf)]
    # many distinct jump times (e.g. one per run) are left to the step control
    return list(found) if found.size <= limit else []


# -- NaN ------------------------------------------------------------------------


def _check_finite(job: _Job, t, s, m, c, saved):
    # the states and the outputs kept (run constants are zeros here, checked once);
    # an auxiliary that feeds neither cannot matter
    if np.isfinite(s.sum()) and np.isfinite(saved.sum()):
        return
    _raise_nan(job, t, s, m, c)


def _raise_nan(job: _Job, t, s, m, c):
    """Name the first variable, in evaluation order, that is not finite at ``t``."""
    model = job.model
    D = np.empty_like(s)
    dyn = model.evaluate(
        t, s, m, c, job.tables, job.ctl, D, np.empty_like(m), job.method == "euler"
    )
    dyn_keys = [
        o[0] for o in sorted((o for o in model.outputs if o[1] == "dyn"), key=lambda o: o[2])
    ]
    n = _width(c)
    culprit, run = None, 0
    for key, v in zip(dyn_keys, dyn, strict=True):
        bad = ~np.isfinite(np.broadcast_to(v, (n,)))
        if bad.any():
            culprit, run = model.spec.element(key).name, int(np.argmax(bad))
            break
    if culprit is None:  # a stock, or a rate written inside its INTEG
        for values in (s, D):
            bad = ~np.isfinite(values.reshape(len(s), n))
            rows = np.flatnonzero(bad.any(axis=1))
            if rows.size:
                culprit, run = model.state_names[rows[0]], int(np.argmax(bad[rows[0]]))
                break
        else:
            culprit = "a stock's rate"
    where = f" (run {job.first_run + run})" if n > 1 or job.first_run else ""
    scen = f" in scenario '{job.scenario}'" if job.scenario else ""
    if job.labels:
        name, index = job.labels[run]
        where, scen = f" (run {index})", f" in scenario '{name}'" if name else ""
    raise SimulationError(
        f"{model.spec.path}: '{culprit}' became NaN or infinite at time {t:g}{where}{scen}; "
        "check its equation and the values it uses"
    )


def _check_finite_constants(model, c, keep, t0):
    for key, where, i in keep:
        if where == "c" and not np.all(np.isfinite(c[i])):
            raise SimulationError(
                f"{model.spec.path}: '{model.spec.element(key).name}' is NaN or infinite at "
                f"time {t0:g}; check its equation and the values it uses"
            )


# -- result -------------------------------------------------------------------


@functools.cache
def package_version() -> str:
    """Return the installed brainsim version."""
    try:
        return version("brainsim")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class Result:
    """The saved values of a run, as plain arrays (xarray is imported only to label them).

    ``values[k, j, r]`` is output ``j`` at saved time ``k`` in run ``r`` for
    outputs read from states or the time loop; constants and run-constant
    outputs are rows of ``constants`` (see ``CompiledModel.outputs``).
    """

    model: CompiledModel
    times: np.ndarray
    outputs: tuple
    values: np.ndarray
    constants: np.ndarray
    attrs: dict

    @property
    def n_runs(self) -> int:
        """Number of runs."""
        return self.constants.shape[1]

    def series(self, j: int) -> np.ndarray:
        """Return output ``j`` as an array shaped ``(time, run)``."""
        _, where, i = self.outputs[j]
        if where == "c":  # stored once, broadcast along time
            return np.broadcast_to(self.constants[i], (len(self.times), self.n_runs))
        return self.values[:, j, :]


def to_dataset(result: Result) -> "xr.Dataset":
    """Label a :class:`Result` as an ``xarray.Dataset`` with dims ``time`` and ``run``.

    A subscripted variable is one data variable with dims ``(time, *ranges,
    run)`` and the ranges' elements as coordinates; an element it does not
    define (a partial definition, :EXCEPT:) is NaN.
    """
    import xarray as xr

    spec = result.model.spec
    by_key = {el.key: el for el in spec.elements}
    data, coords = {}, {"time": result.times, "run": np.arange(result.n_runs)}
    arrays: dict = {}
    for j, (key, _, _) in enumerate(result.outputs):
        el = by_key[key]
        if el.coords:
            arrays.setdefault(el.base, []).append((j, el))
        else:
            data[el.py_name] = xr.Variable(("time", "run"), result.series(j), attrs=_var_attrs(el))
    for members in arrays.values():
        name, variable = _array_variable(result, spec.ranges, members, coords)
        data[name] = variable
    return xr.Dataset(data, coords=coords, attrs=dict(result.attrs))


def _var_attrs(el, name: str | None = None) -> dict:
    return {
        "units": el.units,
        "vensim_name": name or el.name,
        "kind": el.kind,
        "doc": el.doc,
        "source": el.source,
    }


def _array_variable(result: Result, ranges, members: list, coords: dict) -> tuple:
    """Stack the elements of one subscripted variable into ``(time, *ranges, run)``."""
    import xarray as xr

    from sim.engine.names import python_name

    first = members[0][1]
    dims = [python_name(ranges.label(r)) for r, _ in first.coords]
    for (r, _), dim in zip(first.coords, dims, strict=True):
        coords[dim] = [ranges.label(e) for e in ranges.elements[r]]
    index = [{e: i for i, e in enumerate(ranges.elements[r])} for r, _ in first.coords]
    shape = (len(result.times), *(len(ix) for ix in index), result.n_runs)
    at = [tuple(ix[e] for ix, (_, e) in zip(index, el.coords, strict=True)) for _, el in members]
    js = [j for j, _ in members]
    whole = len(members) == math.prod(shape[1:-1]) and js == list(range(js[0], js[0] + len(js)))
    if whole and at == list(np.ndindex(*shape[1:-1])) and _all_saved(result, js):
        # every element, side by side in the saved values in row-major order: a view, no copy
        values = result.values[:, js[0] : js[0] + len(js), :].reshape(shape)
    else:
        values = np.full(shape, np.nan)
        for (j, _), where in zip(members, at, strict=True):
            values[(slice(None), *where, slice(None))] = result.series(j)
    base_name = first.name.partition("[")[0]
    attrs = _var_attrs(first, base_name)
    attrs["kind"] = "/".join(dict.fromkeys(el.kind for _, el in members))
    return python_name(base_name), xr.Variable(("time", *dims, "run"), values, attrs=attrs)


def _all_saved(result: Result, js: list) -> bool:
    """Whether outputs ``js`` are all in the saved values (a run constant is kept once)."""
    return all(result.outputs[j][1] != "c" for j in js)


def _params_sha256(params: dict) -> str:
    # the bytes of each array, not a JSON text of it: this runs on every call,
    # and a JSON dump of 35 parameters x 1,000 runs costs ~30 ms
    digest = hashlib.sha256()
    for name in sorted(params or {}):
        digest.update(name.encode() + b"\0")
        digest.update(np.ascontiguousarray(params[name], dtype=float).tobytes())
    return digest.hexdigest()


def _attrs(model, method, ctl, params, scenario, seed) -> dict:
    return {
        "model_file": model.spec.path,
        "model_sha256": model.spec.sha256,
        "params_sha256": _params_sha256(params),
        "scenario": scenario,
        "method": method,
        "time_step": ctl["time_step"],
        "saveper": ctl["saveper"],
        "initial_time": ctl["initial_time"],
        "final_time": ctl["final_time"],
        "seed": "" if seed is None else int(seed),
        "brainsim_version": package_version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
