"""Vensim functions over arrays of runs, with PySD's exact semantics.

Each takes and returns numpy arrays (or scalars) shaped like one state row,
``(n_runs,)``. They reproduce the arithmetic of ``pysd.py_backend.functions``
operation for operation, so that Euler runs equal PySD's to rounding.
"""

import numpy as np
from scipy.special import ndtr, ndtri

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


# --- RANDOM functions ------------------------------------------------------------
#
# A draw is a hash of (the run's key, the call's stream, the time, the seed
# argument): the same run, call and time always give the same number, whatever
# the other runs, the chunking across processes or the order of evaluation;
# runs with different keys (one per parameter set) get independent draws.

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x):
    """Scatter every bit of ``x`` (uint64) with the splitmix64 finaliser, a bijection."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniform01(t, keys, seed, stream):
    """Return draws in (0, 1), one per run, for the call ``stream`` at time ``t``."""
    with np.errstate(over="ignore"):
        h = np.asarray(keys, dtype=np.float64).astype(np.uint64) * _GOLDEN
        h = _mix(h ^ _mix(np.uint64(int(stream)) + _GOLDEN))
        h = _mix(h ^ np.asarray(np.float64(t)).view(np.uint64))
        h = _mix(h ^ np.asarray(seed, dtype=np.float64).view(np.uint64))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def random_0_1(t, keys, stream):
    """RANDOM 0 1(): uniform on (0, 1)."""
    return uniform01(t, keys, 0.0, stream)


def random_uniform(t, keys, low, high, seed, stream):
    """RANDOM UNIFORM(min, max, seed): uniform on (min, max)."""
    return low + (high - low) * uniform01(t, keys, seed, stream)


def random_normal(t, keys, low, high, mean, sd, seed, stream):
    """RANDOM NORMAL(min, max, mean, sd, seed): normal truncated to [min, max]."""
    a, b = ndtr((low - mean) / sd), ndtr((high - mean) / sd)
    return mean + sd * ndtri(a + (b - a) * uniform01(t, keys, seed, stream))


def random_exponential(t, keys, low, high, shift, stretch, seed, stream):
    """RANDOM EXPONENTIAL(min, max, shift, stretch, seed): shift + stretch x Exp(1), in [min, max].

    As PySD: starting at max(min, shift), truncated at max.
    """
    start = np.maximum(low, shift)
    mass = -np.expm1(-(high - start) / stretch)  # the share of Exp(1) below the cut
    return start - stretch * np.log1p(-mass * uniform01(t, keys, seed, stream))


def random_triangular(t, keys, low, high, start, peak, end, seed, stream):
    """RANDOM TRIANGULAR(min, max, start, peak, end, seed): triangular, cut to [min, max]."""
    u = uniform01(t, keys, seed, stream)
    lo, hi = np.maximum(low, start), np.minimum(high, end)
    cdf = lambda x: np.where(  # noqa: E731
        x <= peak,
        (x - start) ** 2 / ((end - start) * (peak - start)),
        1 - (end - x) ** 2 / ((end - start) * (end - peak)),
    )
    p = cdf(lo) + u * (cdf(hi) - cdf(lo))
    left = start + np.sqrt(p * (end - start) * (peak - start))
    right = end - np.sqrt((1 - p) * (end - start) * (end - peak))
    return np.where(p <= (peak - start) / (end - start), left, right)


NAMESPACE = {
    "np": np,
    "_xidz": xidz,
    "_zidz": zidz,
    "_modulo": modulo,
    "_quantum": quantum,
    "_random_0_1": random_0_1,
    "_random_uniform": random_uniform,
    "_random_normal": random_normal,
    "_random_exponential": random_exponential,
    "_random_triangular": random_triangular,
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
