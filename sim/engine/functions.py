"""Vensim functions over arrays of runs, with PySD's exact semantics.

Each takes and returns numpy arrays (or scalars) shaped like one state row,
``(n_runs,)``. They reproduce the arithmetic of ``pysd.py_backend.functions``
operation for operation, so that Euler runs equal PySD's to rounding.
"""

import numpy as np

# What Vensim treats as zero in XIDZ, ZIDZ, RAMP, PULSE (Vensim help; PySD).
SMALL_VENSIM = 1e-6


def xidz(numerator, denominator, value):
    """``numerator / denominator``, or ``value`` where ``|denominator| < 1e-6``."""
    return np.where(np.abs(denominator) < SMALL_VENSIM, value, numerator / denominator)


def zidz(numerator, denominator):
    """``numerator / denominator``, or 0 where ``|denominator| < 1e-6``."""
    return np.where(np.abs(denominator) < SMALL_VENSIM, 0.0, numerator / denominator)


def quantum(a, b):
    """``b * INTEGER(a / b)``, or ``a`` where ``b < 1e-6``."""
    return np.where(b < SMALL_VENSIM, a, b * np.trunc(a / b))


def modulo(x, m):
    """Vensim's MODULO: ``x - QUANTUM(x, m)`` (negative ``x`` gives (-m, 0])."""
    return x - quantum(x, m)


def ramp(t, slope, start, finish=None):
    """Vensim's RAMP: 0 before ``start``, then ``slope`` per time unit until ``finish``."""
    final = t if finish is None else np.minimum(finish, t)
    return (t + SMALL_VENSIM > start) * slope * (final - start)


def pulse(t, start, width):
    """Vensim's PULSE: 1 on ``[start, start + width)``, else 0."""
    return np.where((start - SMALL_VENSIM <= t) & (t < start + width), 1.0, 0.0)


def pulse_train(t, start, repeat, width, end):
    """Vensim's PULSE TRAIN: pulses of ``width`` every ``repeat`` from ``start`` to ``end``."""
    single = (start - SMALL_VENSIM <= t) & (t < start + width)
    train = (start <= t) & (t < end) & (np.mod(t - start + SMALL_VENSIM, repeat) < width)
    return np.where(repeat == 0, single, train) * 1.0


NAMESPACE = {
    "np": np,
    "_xidz": xidz,
    "_zidz": zidz,
    "_modulo": modulo,
    "_quantum": quantum,
    "_ramp": ramp,
    "_pulse": pulse,
    "_pulse_train": pulse_train,
}


def train_edges(start, repeat, width, end, final_time, limit=1000):
    """Switching times of a PULSE TRAIN whose arguments are the same in every run."""
    args = [np.unique(np.atleast_1d(a)) for a in (start, repeat, width, end)]
    if any(a.size != 1 for a in args) or args[1][0] <= 0:
        return np.array([])
    s0, r, w, e = (float(a[0]) for a in args)
    count = min(int((min(e, final_time) - s0) / r) + 1, limit)
    k = np.arange(max(count, 0))
    return np.concatenate([s0 + k * r - SMALL_VENSIM, s0 + k * r + w])


NAMESPACE.update({"_train_edges": train_edges})
