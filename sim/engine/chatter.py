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

import numpy as np

from sim.engine.simulate import (
    _constants,
    _tables,
    _time_grid,
    by_element,
    controls_tuple,
    grid_times,
)

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

    Runs Euler on the numpy engine over ``params`` (as for
    :func:`~sim.engine.simulate.integrate`) with every step's flows and
    rates in hand; ordered by the time the chattering starts.
    """
    grid_times(model)  # refuses controls that change during the run
    c, n_runs = _constants(model, by_element(model.spec, params or {}))
    L = _tables(model, tables or {})
    ctl_tuple = controls_tuple(model.controls, "euler")
    grid, _ = _time_grid(model.controls)
    flows = [(key, i) for key, where, i in model.outputs if where == "dyn"]
    flows = [(k, i) for k, i in flows if model.spec.element(k).kind == "flow"]
    names = [model.spec.element(k).name for k, _ in flows]
    names += [f"the rate of '{n}'" for n in model.state_names]
    n_vars = len(names)
    s = np.empty((model.n_states, n_runs))
    m = np.empty((model.n_memory, n_runs))
    D, M = np.empty_like(s), np.empty_like(m)
    prev = np.full((n_vars, n_runs), np.nan)
    move = np.zeros((n_vars, n_runs))
    peak = np.zeros((n_vars, n_runs))
    streak = np.zeros((n_vars, n_runs), dtype=np.int64)
    first = np.full((n_vars, n_runs), np.nan)
    dt = ctl_tuple[2]
    with np.errstate(all="ignore"):
        model.initialize(c, L, ctl_tuple, s, m)
        for t in grid:
            dyn = model.evaluate(t, s, m, c, L, ctl_tuple, D, M, True)
            x = np.empty((n_vars, n_runs))
            for j, (_, i) in enumerate(flows):
                x[j] = dyn[i]
            x[len(flows) :] = D
            step_move = x - prev
            size = np.maximum(np.abs(x), np.abs(prev))
            peak = np.fmax(peak, np.abs(x))
            real = np.abs(step_move) > _NOISE * peak
            low = np.minimum(np.abs(x), np.abs(prev))
            big = (x * prev < 0) | (size > factor * low)
            swing = (step_move * move < 0) & big & real
            streak = np.where(swing, streak + 1, 0)
            start = streak == steps
            first = np.where(start & np.isnan(first), t - (steps - 1) * dt, first)
            prev, move = x, np.where(real, step_move, move)
            if not np.isfinite(D).all():
                break  # the run's NaN is named by simulate, not here
            s += D * dt
            m, M = M, m
    found = []
    for j in np.flatnonzero(~np.isnan(first).all(axis=1)):
        runs = tuple(int(r) for r in np.flatnonzero(~np.isnan(first[j])))
        found.append(Chatter(names[j], float(np.nanmin(first[j])), runs))
    return sorted(found, key=lambda ch: ch.time)
