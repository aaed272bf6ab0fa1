"""Vensim functions over arrays of runs, with PySD's exact semantics.

Each takes and returns numpy arrays (or scalars) shaped like one state row,
``(n_runs,)``. They reproduce the arithmetic of ``pysd.py_backend.functions``
operation for operation, so that Euler runs equal PySD's to rounding.
"""

import warnings

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
    from scipy.special import ndtr, ndtri  # here: scipy is slow to import for every run

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


# --- functions of whole arrays (sim.engine.vectors passes every element) ----------


def _rows(values) -> np.ndarray:
    """Stack elements (each a number or one value per run) into ``(elements, runs)``."""
    return np.stack(np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, float)) for v in values)))


def _shaped(out, inputs):
    """Return ``out`` as a number when every input is one (a single run), else per run."""
    if all(np.ndim(x) == 0 for x in inputs):
        return np.float64(np.ravel(out)[0])
    return out


def per_element(whole):
    """Make ``whole(*args) -> (elements, runs)`` answer one element, computing it once.

    A subscripted equation is one scalar equation per element, each calling
    the function with the same arguments and its own position ``i``; the
    whole result is kept in ``memo`` (made anew by each generated function
    call, so for one time step) under the call's ``site``, so that the sort,
    inversion or allocation is done once per step, not once per element.
    """

    def element(memo, site, i, *args):
        key = (whole, float(site))
        if key not in memo:
            rows = whole(*args)
            # a single run (every input a number): one number per element
            memo[key] = rows[:, 0] if all(np.ndim(x) == 0 for x in args) else rows
        return memo[key][int(i)]

    element.__doc__ = whole.__doc__
    return element


def _order(values, direction) -> np.ndarray:
    order = np.argsort(_rows(values), axis=0)
    # ascending where direction > 0, descending elsewhere (per run)
    return np.where(np.asarray(direction) > 0, order, order[::-1])


def vector_sort_order(n, direction, *values):
    """VECTOR SORT ORDER: the 0-based position of the i-th smallest (or largest) element."""
    return _order(values, direction).astype(float)


def vector_rank(n, direction, *values):
    """VECTOR RANK: each element's 1-based rank."""
    return (np.argsort(_order(values, direction), axis=0) + 1).astype(float)


def vector_reorder(n, *values):
    """VECTOR REORDER: for each element, the element at the 0-based position the second gives."""
    n = int(n)
    vec, pos = _rows(values[:n]), _rows(values[n:])
    return np.take_along_axis(vec, np.broadcast_to(pos, vec.shape).astype(int), axis=0)


# VECTOR SELECT's numerical actions (PySD): how the selected values combine
_SELECT_REDUCE = {0: np.nansum, 6: np.nansum, 1: np.nanprod, 5: np.nanprod, 7: np.nanprod}
_SELECT_REDUCE |= {2: np.nanmin, 8: np.nanmin, 3: np.nanmax, 9: np.nanmax, 4: np.nanmean}
_SELECT_REDUCE |= {10: np.nanmean}


def vector_select(missing, action, error, n, *values):
    """VECTOR SELECT over the elements given: PySD's numerical and error actions.

    An error action that the selection violates (1: none selected, 2: more
    than one, 3: either) gives NaN, which stops the run with the variable named.
    """
    n = int(n)
    sel, vals = _rows(values[:n]), _rows(values[n:])
    action, error = int(np.ravel(action)[0]), int(np.ravel(error)[0])
    chosen = sel != 0
    if action in range(5):
        array = sel * vals
    elif action == 5:
        array = vals**sel
    else:
        array = vals
    array = np.where(chosen, array, np.nan)
    none = ~chosen.any(axis=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: set below
        out = _SELECT_REDUCE[action](np.where(none, 0.0, array), axis=0)
    out = np.where(none, missing, out)
    bad = (none & (error in (1, 3))) | ((chosen.sum(axis=0) > 1) & (error in (2, 3)))
    return _shaped(np.where(bad, np.nan, out), (*values, missing))


def invert_matrix(n, *cells):
    """INVERT MATRIX: the inverse of each run's ``n`` x ``n`` matrix, cell (i, j) at i n + j."""
    n = int(n)
    m = _rows(cells).reshape(n, n, -1).transpose(2, 0, 1)
    with np.errstate(all="ignore"):
        try:
            inv = np.linalg.inv(m)
        except np.linalg.LinAlgError:  # a singular matrix in some run: NaN there
            inv = np.stack([_inverse_or_nan(a) for a in m])
    return inv.reshape(len(m), n * n).T


def _inverse_or_nan(a):
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return np.full_like(a, np.nan)


def allocate_by_priority(n, width, supply, *values):
    """ALLOCATE BY PRIORITY: each element's share of ``supply`` (PySD's algorithm, run by run)."""
    n = int(n)
    request, priority = _rows(values[:n]), _rows(values[n:])
    width = np.broadcast_to(np.asarray(width, dtype=float), request.shape[1:])
    supply = np.broadcast_to(np.asarray(supply, dtype=float), request.shape[1:])
    out = np.empty(request.shape)
    for r in range(request.shape[1]):
        out[:, r] = _by_priority_1d(request[:, r], priority[:, r], width[r], supply[r])
    return out


def allocate_available(n, avail, *values):
    """ALLOCATE AVAILABLE: each target's share of ``avail`` under the priority profiles.

    Finds, run by run, the priority level at which the targets' demand
    curves (PySD's profiles: 1 rectangular, 2 triangular, 3 normal, 4
    exponential) add up to ``avail``, by bisection to the last bit (PySD
    solves the same equation with scipy's least squares), and returns the
    demands there. With more than enough, every request is met.
    """
    n = int(n)
    request = _rows(values[:n])
    profile = _rows(values[n:]).reshape(n, 4, -1)
    request, profile = np.broadcast_arrays(request[:, None], profile)
    request = request[:, 0]
    kind, mid, width = profile[:, 0], profile[:, 1], profile[:, 2]
    avail = np.broadcast_to(np.asarray(avail, dtype=float), request.shape[1:])
    reach = np.where(kind == 3, 8.2923611, np.where(kind == 4, 36.7368005696, 0.5)) * width
    lo, hi = (mid - reach).min(axis=0), (mid + reach).max(axis=0)
    for _ in range(200):  # bisection: the total demand falls as the priority level rises
        x = (lo + hi) / 2
        enough = _demand(request, kind, mid, width, x).sum(axis=0) >= avail
        lo, hi = np.where(enough, x, lo), np.where(enough, hi, x)
    share = _demand(request, kind, mid, width, (lo + hi) / 2)
    full = avail >= request.sum(axis=0)
    out = np.where(full, request, np.where(avail <= 0, 0.0, share))
    # an unknown profile, a width that is not positive or a negative request: NaN, named
    valid = np.isin(kind, (1, 2, 3, 4)).all(0) & (width > 0).all(0) & (request >= 0).all(0)
    return np.where(valid, out, np.nan)


def _demand(q0, kind, mid, width, x):
    """Return each target's demand at priority level ``x`` (PySD's priority profiles)."""
    from scipy.special import erfc

    z = x - mid + width / 2
    with np.errstate(all="ignore"):
        rectangular = np.clip(1 - z / width, 0, 1)
        triangular = np.where(
            x <= mid - width / 2,
            1.0,
            np.where(
                x < mid,
                1 - 2 * z**2 / width**2,
                np.where(x < mid + width / 2, 2 * (mid + width / 2 - x) ** 2 / width**2, 0.0),
            ),
        )
        normal = 0.5 * (2 - erfc((mid - x) / (np.sqrt(2) * width)))
        exponential = np.where(
            x < mid, 1 - 0.5 * np.exp((x - mid) / width), 0.5 * np.exp((mid - x) / width)
        )
    shape = np.select(
        [kind == 1, kind == 2, kind == 3, kind == 4],
        [rectangular, triangular, normal, exponential],
        np.nan,
    )
    return q0 * shape


def _by_priority_1d(request, priority, width, supply):
    """PySD's ``_allocate_by_priority_1d`` (pysd/py_backend/allocation.py), step for step."""
    if np.any(request < 0) or width <= 0 or supply < 0:
        return np.full_like(request, np.nan)
    if supply >= np.sum(request):
        return request.copy()
    if supply == 0:
        return np.zeros_like(request)
    is_0 = request == 0
    sort = (-priority[~is_0]).argsort()
    request = request[~is_0].astype(float)[sort]
    priority = priority[~is_0][sort]
    out_return = np.zeros_like(is_0, dtype=float)
    out = np.zeros_like(request, dtype=float)
    distances = np.full_like(request, np.nan, dtype=float)
    distances[:-1] = np.minimum(-np.diff(priority) / width, 1) * request[:-1]
    active = np.zeros_like(request, dtype=bool)
    active[0] = True
    c_i = 0
    with np.errstate(all="ignore"):
        while supply > 0:
            slopes = request * active
            slopes /= np.sum(slopes)
            dx_next_top = np.nanmin((request - out)[active] / slopes[active])
            dx_next_start = (distances[c_i] - out[c_i]) / slopes[c_i]
            dx = np.nanmin((dx_next_top, dx_next_start, supply))
            out += slopes * dx
            if np.isclose(dx, dx_next_start, rtol=1e-10, atol=1e-16):
                c_i += 1
                active[c_i] = True
            if dx == dx_next_top:
                active[out == request] = False
            supply -= dx
    out_return[~is_0] = out[sort.argsort()]
    return out_return


def stack(values, states: np.ndarray) -> np.ndarray:
    """Return an array's element values as one block shaped like ``states`` (sim.engine.blocks).

    ``(elements, runs)`` when the states have a run axis: elements that do not
    vary by run are broadcast, and if none does the block is one column, so
    that it lines up with values by run. ``(elements,)`` when they have none.
    """
    try:
        block = np.stack(values)
    except ValueError:  # some elements vary by run, some do not
        block = np.stack(np.broadcast_arrays(*values))
    return block[:, None] if block.ndim < states.ndim else block


NAMESPACE = {
    "np": np,
    "_stack": stack,
    "_xidz": xidz,
    "_zidz": zidz,
    "_modulo": modulo,
    "_quantum": quantum,
    "_vector_sort_order": per_element(vector_sort_order),
    "_vector_rank": per_element(vector_rank),
    "_vector_reorder": per_element(vector_reorder),
    "_vector_select": vector_select,
    "_invert_matrix": per_element(invert_matrix),
    "_allocate_by_priority": per_element(allocate_by_priority),
    "_allocate_available": per_element(allocate_available),
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
