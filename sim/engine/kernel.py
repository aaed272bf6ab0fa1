"""Run Euler ensembles through a compiled kernel: one fused step per run, built by numba.

:mod:`sim.engine.kernelgen` writes the model's step as scalar Python; this
module compiles it with numba (``cache=True``: the machine code is kept
beside the generated file, in the cache folder of :mod:`sim.engine.cache`,
named by the hash of the source, so a warm start only loads it) and runs it
over the columns of ``c``. The numpy engine stays the reference and the
fallback: a run that turns NaN or infinite is flagged here and replayed in
numpy by :mod:`sim.engine.simulate`, whose error names the variable and the
time.

The helpers below are the scalar forms of :mod:`sim.engine.functions`,
operation for operation.
"""

import fcntl
import hashlib
import importlib.util
import math
import os
import sys
import tempfile
from functools import cache
from pathlib import Path

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba.core import types
from numba.extending import intrinsic

from sim.engine import cache as disk

SMALL_VENSIM = 1e-6
_JIT = {"cache": True, "error_model": "numpy", "nogil": True}
# the types of run(c, states, LX, LY, LO, grid, ctl, span, ptr, entries, weights,
# keep_where, keep_index, acc, bad): given, so that the module compiles (or loads
# its cache) when it is imported
SIGNATURE = (
    "void(f8[:, ::1], f8[:, ::1], f8[::1], f8[::1], i8[::1], f8[::1], f8[::1], i8[::1], "
    "i8[::1], i8[:, ::1], f8[::1], i8[::1], i8[::1], f8[:, :, ::1], b1[::1])"
)


@numba.njit(**_JIT)
def _minimum(a, b):
    # numpy's minimum: NaN if either is NaN
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


@numba.njit(**_JIT)
def _maximum(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


@numba.njit(**_JIT)
def _power(a, b):
    return a**b


@numba.njit(**_JIT)
def _and(a, b):
    return a != 0 and b != 0


@numba.njit(**_JIT)
def _or(a, b):
    return a != 0 or b != 0


@numba.njit(**_JIT)
def _xidz(numerator, denominator, value):
    return value if abs(denominator) < SMALL_VENSIM else numerator / denominator


@numba.njit(**_JIT)
def _zidz(numerator, denominator):
    return 0.0 if abs(denominator) < SMALL_VENSIM else numerator / denominator


@numba.njit(**_JIT)
def _quantum(a, b):
    return a if b < SMALL_VENSIM else b * np.trunc(a / b)


@numba.njit(**_JIT)
def _modulo(x, m):
    return x - _quantum(x, m)


@numba.njit(**_JIT)
def _ramp(t, slope, start, finish=np.inf):
    final = t if finish == np.inf else _minimum(finish, t)
    return (1.0 if t + SMALL_VENSIM > start else 0.0) * slope * (final - start)


@numba.njit(**_JIT)
def _pulse(t, start, width):
    return 1.0 if (start - SMALL_VENSIM <= t) and (t < start + width) else 0.0


@numba.njit(**_JIT)
def _mod(a, b):
    # numpy's float remainder: the sign of the divisor
    r = np.fmod(a, b)
    if r != 0.0:
        if (b < 0.0) != (r < 0.0):
            r += b
    else:
        r = math.copysign(0.0, b)
    return r


@numba.njit(**_JIT)
def _pulse_train(t, start, repeat, width, end):
    if repeat == 0:
        return _pulse(t, start, width)
    on = (start <= t) and (t < end) and (_mod(t - start + SMALL_VENSIM, repeat) < width)
    return 1.0 if on else 0.0


@intrinsic
def _at(typingctx, address, index):
    """Read the float at ``address`` + 8 × ``index`` without holding a reference.

    numba counts a reference, with an atomic operation, to every array a
    function is given: passing the tables to 37 lookups a step spent over a
    third of the kernel's time in those counts. The tables are the caller's
    arrays, alive for the whole call.
    """

    def codegen(context, builder, signature, args):
        ptr = builder.inttoptr(args[0], llvm_ir.DoubleType().as_pointer())
        return builder.load(builder.gep(ptr, [args[1]]))

    return types.float64(address, index), codegen


@numba.njit(**_JIT)
def _interp(x, xs, ys, a, b):
    """numpy.interp over rows ``a:b`` of the tables at addresses ``xs``, ``ys``, as numpy does."""
    n = b - a
    if x != x:
        return x
    if n == 1:
        return _at(ys, a)
    if x < _at(xs, a):
        return _at(ys, a)
    if x > _at(xs, b - 1):
        return _at(ys, b - 1)
    lo, hi = 0, n - 1  # xs[a + lo] <= x < xs[a + hi], or x is the last point
    if x == _at(xs, b - 1):
        return _at(ys, b - 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _at(xs, a + mid) <= x:
            lo = mid
        else:
            hi = mid
    j = a + lo
    x0, x1, y0, y1 = _at(xs, j), _at(xs, j + 1), _at(ys, j), _at(ys, j + 1)
    if x0 == x:
        return y0
    slope = (y1 - y0) / (x1 - x0)
    res = slope * (x - x0) + y0
    if res != res:
        res = slope * (x - x1) + y1
        if res != res and y0 == y1:
            res = y0
    return res


class KernelUnavailable(Exception):
    """numba could not compile this model's kernel; the numpy engine runs it instead."""


@cache
def _compiled(source: str):
    """Return the ``run`` function of a kernel source, compiled (or loaded from numba's cache).

    ``None`` when numba cannot compile it; the model then always runs on numpy,
    so its numbers still do not depend on the batch.
    """
    key = hashlib.sha256((disk.engine_digest() + source).encode()).hexdigest()[:24]
    try:
        path = _written(disk.folder(), key, source)
    except OSError:  # a cache folder that cannot be written: compile in this process only
        path = _written(None, key, source)
    name = f"brainsim_kernel_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cache finds the function by its module
    # one process compiles; the others wait, then load what it cached
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            spec.loader.exec_module(module)
        except numba.core.errors.NumbaError:  # an equation numba cannot type: numpy runs it
            return None
    return module.run


def _written(where: Path | None, key: str, source: str) -> Path:
    """Return the kernel's file in ``where`` (a new temporary folder if None), written whole."""
    if where is None:
        where = Path(tempfile.mkdtemp(prefix="brainsim-kernel-"))
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"kernel_{key}.py"
    if not path.is_file() or path.read_text(encoding="utf-8") != source:
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".part-", suffix=".py")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        os.replace(tmp, path)
    return path


# Runs a kernel call takes at a time. Each run writes into its own rows of a
# small buffer, one after another, and the block is then copied into place:
# writing straight into ``(rows, outputs, runs)`` strides across every run at
# each step, which took most of the time when every step is saved.
BLOCK_RUNS = 32
_WHERE = {"state": 0, "dyn": 1, "c": 2}


def accumulate(model, c, states, tables, grid, ctl, span, entries, keep, acc) -> np.ndarray:
    """Euler over the runs of ``c`` through steps ``span[0]:span[1]`` of ``grid``.

    ``states`` (``(n_states, runs)``, at the first step) is advanced in place.
    ``entries = (ptr, rows, weights)`` say what each step writes into ``acc``
    (``(rows, len(keep), runs)``): step ``k``'s entries are rows
    ``ptr[k]:ptr[k + 1]`` of ``rows``, each ``(row, first output, end)``. With
    ``span[2]`` = 0 a step's outputs are stored there, with 1 their weighted
    values are added (and every step is checked for NaN). Returns ``bad``,
    marking the runs that turned NaN or infinite: their states and ``acc``
    are left as they were given.
    """
    run = _compiled(model.kernel_source)
    if run is None:
        raise KernelUnavailable(model.spec.path)
    xs = np.concatenate([np.asarray(x, dtype=float) for x, _ in tables] or [np.zeros(0)])
    ys = np.concatenate([np.asarray(y, dtype=float) for _, y in tables] or [np.zeros(0)])
    offsets = np.cumsum([0] + [len(x) for x, _ in tables]).astype(np.int64)
    keep_where = np.array([_WHERE[w] for _, w, _ in keep], dtype=np.int64)
    keep_index = np.array([i for _, _, i in keep], dtype=np.int64)
    ptr, rows, weights = entries
    shared = (
        xs,
        ys,
        offsets,
        np.ascontiguousarray(grid, dtype=float),
        np.array(ctl, dtype=float),
        np.asarray(span, dtype=np.int64),
        np.asarray(ptr, dtype=np.int64),
        np.ascontiguousarray(rows, dtype=np.int64).reshape(-1, 3),
        np.asarray(weights, dtype=float),
        keep_where,
        keep_index,
    )
    n_runs = c.shape[1]
    by_run = np.ascontiguousarray(c.T, dtype=float)  # a block of runs is then a slice
    bad = np.zeros(n_runs, dtype=np.bool_)
    for a in range(0, n_runs, BLOCK_RUNS):
        b = min(a + BLOCK_RUNS, n_runs)
        # copies (never views: a bad run's states and sums must stay as given)
        block = np.array(acc[:, :, a:b].transpose(2, 0, 1), dtype=float, order="C")
        part = np.array(states[:, a:b], dtype=float, order="C")
        run(by_run[a:b], part, *shared, block, bad[a:b])
        good = np.flatnonzero(~bad[a:b])
        if len(good) == b - a:
            acc[:, :, a:b] = block.transpose(1, 2, 0)
            states[:, a:b] = part
        else:  # a run marked bad keeps its states and sums as they were, for the replay
            acc[:, :, a + good] = block[good].transpose(1, 2, 0)
            states[:, a + good] = part[:, good]
    return bad


def integrate(model, c, s, tables, grid, saved, ctl, keep) -> tuple:
    """Euler over the runs of ``c`` (states ``s`` at INITIAL TIME); return ``(values, bad)``.

    ``values`` is ``(saves, len(keep), runs)``, C-ordered, as the numpy
    engine's (later sums over it must not depend on the engine's memory
    layout); ``bad`` marks the runs that turned NaN or infinite (their values
    are incomplete).
    """
    steps = np.flatnonzero(saved)
    ptr = np.searchsorted(steps, np.arange(len(grid) + 1))
    rows = np.column_stack(
        [np.arange(len(steps)), np.zeros(len(steps)), np.full(len(steps), len(keep))]
    )
    values = np.zeros((len(steps), len(keep), c.shape[1]))
    span = (0, len(grid), 0)
    bad = accumulate(
        model, c, s.copy(), tables, grid, ctl, span, (ptr, rows, np.ones(len(steps))), keep, values
    )
    return values, bad
