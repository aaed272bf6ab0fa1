"""Find chattering: a flow or a stock's rate that zigzags from one Euler step to the next.

Euler with too long a TIME STEP for a fast loop overshoots, then overshoots
back: a flow flips between about 0 and millions step after step, or changes
sign each step. The saved values (one a year) can hide it entirely, while
the results then depend on rounding. A value *swings* at a step when it
moves in the opposite direction to its previous move and either changes
sign or moves past ``factor`` times (or a ``factor``-th of) where it was; it
*chatters* when it swings on ``steps`` steps in a row. A pulse (an intake
each April) rises and falls once: two swings, not a chatter. Moves below a millionth of the value's
largest size so far are rounding, not swings.
"""

from dataclasses import dataclass

import numba
import numpy as np

from sim.engine.simulate import _constants, by_element, integrate

FACTOR = 2.0  # a move to more than twice, or less than half, the value before
STEPS = 8  # swings in a row that make a chatter: an intake's pulse makes up to four
_NOISE = 1e-6  # of the largest size so far: smaller moves are rounding


@dataclass(frozen=True)
class Chatter:
    """A variable that chatters: from which time, and in which runs (column indices)."""

    variable: str
    time: float
    runs: tuple

    def describe(self, labels=None) -> str:
        """One phrase: the variable, the time and the first runs."""
        runs = [str(labels[r]) if labels else str(r) for r in self.runs[:5]]
        more = f" and {len(self.runs) - 5} more" if len(self.runs) > 5 else ""
        plural = "s" if len(self.runs) > 1 else ""
        return (
            f"'{self.variable}' zigzags step after step from time {self.time:g} "
            f"in run{plural} {', '.join(runs)}{more}"
        )


def find_chattering(
    model,
    params: dict | None = None,
    *,
    tables: dict | None = None,
    factor: float = FACTOR,
    steps: int = STEPS,
) -> list:
    """Return a :class:`Chatter` for each flow or stock rate that chatters in any run.

    Runs Euler over ``params`` (as for :func:`~sim.engine.simulate.integrate`,
    on the engine it picks), saving every flow and stock at every step, a
    chunk of runs at a time; a stock's rate is its change over the step.
    Ordered by the time the chattering starts.
    """
    spec = model.spec
    flows = [spec.element(k) for k, where, _ in model.outputs if where == "dyn"]
    flows = [el.name for el in flows if el.kind == "flow"]
    stocks = [el.name for el in spec.of_kind("stock") if not el.hidden]
    names = flows + [f"the rate of '{n}'" for n in stocks]
    params = by_element(spec, params or {})
    _, n_runs = _constants(model, params)
    per_run = 8 * len(names) * _steps(model)
    width = max(1, int(CHUNK_BYTES // max(per_run, 1)))
    first = np.full((len(names), n_runs), np.nan)
    for a in range(0, n_runs, width):
        part = {k: _part(v, a, a + width, n_runs) for k, v in params.items()}
        result = integrate(
            model,
            part,
            tables=tables,
            saveper=model.controls["time_step"],
            outputs=flows + stocks,
        )
        first[:, a : a + width] = _first_chatter(result, len(flows), factor, steps)
    found = []
    for j in np.flatnonzero(~np.isnan(first).all(axis=1)):
        runs = tuple(int(r) for r in np.flatnonzero(~np.isnan(first[j])))
        found.append(Chatter(names[j], float(np.nanmin(first[j])), runs))
    return sorted(found, key=lambda ch: ch.time)


# saved values of one chunk of runs, at the most
CHUNK_BYTES = 200e6


def _steps(model) -> int:
    ctl = model.controls
    return int(round((ctl["final_time"] - ctl["initial_time"]) / ctl["time_step"])) + 1


def _part(value, a: int, b: int, n_runs: int):
    """Return runs ``a:b`` of a parameter's value (one the same in every run stays as it is)."""
    array = np.asarray(value)
    return array[a:b] if array.ndim == 1 and len(array) == n_runs and n_runs > 1 else value


def _first_chatter(result, n_flows: int, factor: float, steps: int) -> np.ndarray:
    """For each flow and stock rate of each run, when its chattering starts (NaN if never)."""
    values = np.ascontiguousarray(result.values)  # (times, outputs, runs)
    times = np.asarray(result.times, dtype=float)
    dt = times[1] - times[0] if len(times) > 1 else 1.0
    return _scan(values, times, n_flows, dt, factor, steps, _NOISE)


@numba.njit(cache=True, nogil=True)
def _scan(values, times, n_flows, dt, factor, steps, noise):  # pragma: no cover - compiled
    # one pass over the steps; each (variable, run) keeps its last value, last
    # real move, largest size so far and the swings in a row. A NaN never swings.
    n_times, n_out, n_runs = values.shape
    prev = np.full((n_out, n_runs), np.nan)
    move = np.zeros((n_out, n_runs))
    peak = np.zeros((n_out, n_runs))
    streak = np.zeros((n_out, n_runs), dtype=np.int64)
    first = np.full((n_out, n_runs), np.nan)
    for k in range(n_times - 1):
        start = times[max(k - steps + 1, 0)]
        for v in range(n_out):
            for r in range(n_runs):
                if v < n_flows:
                    x = values[k, v, r]
                else:  # a stock's rate over the step
                    x = (values[k + 1, v, r] - values[k, v, r]) / dt
                p = prev[v, r]
                step_move = x - p
                if abs(x) > peak[v, r]:
                    peak[v, r] = abs(x)
                real = abs(step_move) > noise * peak[v, r]
                big = x * p < 0 or max(abs(x), abs(p)) > factor * min(abs(x), abs(p))
                if step_move * move[v, r] < 0 and big and real:
                    streak[v, r] += 1
                else:
                    streak[v, r] = 0
                if streak[v, r] == steps and first[v, r] != first[v, r]:
                    first[v, r] = start
                prev[v, r] = x
                if real:
                    move[v, r] = step_move
    return first
