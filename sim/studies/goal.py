"""Goal seeking: the smallest lever level that meets a target with a stated probability.

The probability of a goal at a lever level is the share of the scenario's
runs (its ensemble, or its sampled distributions) that meet the goal with
the lever at that level. It is evaluated on a grid across the lever's
``.mdl`` range in one vectorised pass (the curve), then refined by
bisection between the grid points that bracket the requested probability.
"""

import math
import re
from dataclasses import dataclass

import numpy as np

from sim.engine.errors import BrainsimError
from sim.studies.targets import Target

GOAL = re.compile(
    r"^\s*(?P<var>[^@]+?)\s*@\s*(?P<year>\d{4})\s*(?P<op>>=|<=)\s*(?P<value>\S+)\s*$"
)


def parse_goal(text: str, model) -> Target:
    """Parse ``'VARIABLE@YEAR>=VALUE'`` (or ``<=``) into a :class:`~sim.studies.targets.Target`."""
    found = GOAL.match(text or "")
    if not found:
        raise BrainsimError(
            f"--goal '{text}' is not VARIABLE@YEAR>=VALUE; write e.g. "
            "'japanese students abroad per year@2033>=500000'"
        )
    try:
        value = float(found["value"].replace(",", "").replace("_", ""))
    except ValueError:
        raise BrainsimError(f"--goal '{text}': '{found['value']}' is not a number") from None
    if not math.isfinite(value):
        raise BrainsimError(f"--goal '{text}': the level must be a finite number")
    from sim.engine.simulate import find_element

    try:
        el = find_element(model, found["var"])
    except BrainsimError as err:
        raise BrainsimError(f"--goal '{text}': {err}") from None
    year = int(found["year"])
    from sim.studies.history import default_rule, last_year

    lo, hi = model.controls["initial_time"], last_year(model, default_rule(model, el.name))
    if not lo <= year <= hi:
        raise BrainsimError(
            f"--goal '{text}': year {year} is outside the years the run measures "
            f"'{el.name}' in ({lo:g}-{hi}); give a year in that span"
        )
    sense = "at_least" if found["op"] == ">=" else "at_most"
    return Target(el.name, year, value, sense, label=text.strip())


def lever_constant(model, name: str):
    """Return the constant a lever name stands for (``scholarship coverage`` -> ``... target``)."""
    from sim.engine.names import closest, suggestion
    from sim.studies.scenario import levers

    known = levers(model)
    for lever, el in known.items():
        if lever.lower() == name.strip().lower() or el.name.lower() == name.strip().lower():
            return el
    try:
        el = model.spec.element(name)
    except KeyError:
        el = None
    if el is None or el.kind != "constant" or None in el.limits:
        hint = (
            suggestion(name, list(known))
            if closest(name, list(known))
            else ("brainsim names lists the levers")
        )
        raise BrainsimError(f"--lever: unknown lever '{name}'; {hint}")
    return el


def budget_constant(model, scenario, programme: str) -> str:
    """Return the budget lever of ``programme``, refusing one the scenario sets another way."""
    from sim.engine.names import closest, suggestion, vensim_key
    from sim.studies.scenario import budget_levers

    known = budget_levers(model)
    match = next((k for k in known if vensim_key(k) == vensim_key(programme)), None)
    if match is None:
        hint = (
            suggestion(programme, list(known))
            if closest(programme, list(known))
            else ("brainsim names lists the programmes")
        )
        raise BrainsimError(f"--budget: unknown programme '{programme}'; {hint}")
    lever, acts_on = known[match]
    moved = {p.lever for p in scenario.policies}
    for name, what in (
        (lever.name, "its budget"),
        (f"{acts_on} target", f"the lever '{acts_on}'"),
    ):
        if name in moved:
            raise BrainsimError(
                f"--budget '{match}': the scenario already sets {what}; search a scenario "
                "that leaves the programme at its baseline"
            )
    return lever.name


@dataclass(frozen=True)
class Answer:
    """The result of a search: the level (or None), the curve and how it was found."""

    lever: str
    goal: Target
    probability: float
    level: float | None  # None: the range cannot reach the probability
    achieved: float  # the probability at ``level`` (or at the best end of the range)
    curve: list  # (level, probability), sorted by level
    tolerance: float
    increasing: bool

    def sentence(self) -> str:
        """Return the answer in one sentence (a budget in 億円 a year)."""
        if self.lever.endswith(" budget target"):
            return self._budget_sentence()
        goal = self.goal.label or self.goal.describe()
        if self.level is None:
            end = self.curve[-1][0] if self.increasing else self.curve[0][0]
            return (
                f"{goal} cannot be met with probability {self.probability:g} by '{self.lever}' "
                f"alone: at {end:g}, the {'top' if self.increasing else 'bottom'} of its range, "
                f"the probability is {self.achieved:.2f}."
            )
        word = "at least" if self.increasing else "at most"
        return (
            f"{goal} holds with probability {self.achieved:.2f} (>= {self.probability:g}) "
            f"with '{self.lever}' {word} {self.level:.4g} (to within {self.tolerance:.2g})."
        )

    def _budget_sentence(self) -> str:
        from sim.studies.scenario import MILLION_YEN_PER_OKU as OKU

        goal = self.goal.label or self.goal.describe()
        programme = self.lever[: -len(" budget target")]
        if self.level is None:
            end = self.curve[-1][0] if self.increasing else self.curve[0][0]
            return (
                f"{goal} cannot be met with probability {self.probability:g} by the budget of "
                f"'{programme}' alone: at {end / OKU:,.4g} 億円 a year, the "
                f"{'top' if self.increasing else 'bottom'} of its range, the probability is "
                f"{self.achieved:.2f}."
            )
        word = "at least" if self.increasing else "at most"
        return (
            f"{goal} holds with probability {self.achieved:.2f} (>= {self.probability:g}) with "
            f"the budget of '{programme}' {word} {self.level / OKU:,.4g} 億円 a year (to within "
            f"{self.tolerance / OKU:.2g} 億円)."
        )


def seek(
    scenario,
    model,
    root,
    lever: str,
    goal: Target,
    probability: float,
    points: int = 11,
    tolerance: float | None = None,
    workers=None,
    progress=None,
) -> Answer:
    """Find the smallest level of ``lever`` that meets ``goal`` in ``probability`` of the runs.

    If the lever works against the goal (the probability falls as it rises),
    the largest level is found instead. ``progress(done, total)`` is called
    after the grid and after each bisection step.
    """
    from sim.studies.runner import measure_runs, parameters, rule_for

    if not 0 < probability <= 1:
        raise BrainsimError(f"--probability {probability:g} is outside (0, 1]; give e.g. 0.8")
    el = lever_constant(model, lever)
    lo, hi = el.limits
    if tolerance is not None and not tolerance > 0:
        raise BrainsimError(f"--tolerance {tolerance:g} must be above 0; give e.g. 0.001")
    # below a billionth of the range the search would only chase rounding
    tol = max(tolerance if tolerance is not None else (hi - lo) / 1000, (hi - lo) * 1e-9)
    base, n, _ = parameters(scenario, model, root)
    timing = {goal.variable: rule_for(model, goal.variable)}
    year_index = goal.year - int(math.ceil(model.controls["initial_time"]))

    def chances(levels: np.ndarray) -> np.ndarray:
        params = {
            k: np.tile(np.broadcast_to(np.asarray(v, float), (n,)), len(levels))
            for k, v in base.items()
        }
        params[el.name] = np.repeat(levels, n)
        values = measure_runs(scenario, model, timing, params, n * len(levels), workers)
        at = values[goal.variable][year_index].reshape(len(levels), n)
        if np.isnan(at).any():
            raise BrainsimError(f"{goal.describe()}: the run does not cover that year")
        return goal.met(at).mean(axis=1)

    grid = np.linspace(lo, hi, points)
    # the grid, then bisection of one grid interval down to the tolerance
    steps = 1 + max(0, math.ceil(math.log2((hi - lo) / (points - 1) / tol)))
    curve = dict(zip(grid.tolist(), chances(grid).tolist(), strict=True))
    if progress is not None:
        progress(1, steps)
    increasing = curve[hi] >= curve[lo]
    ok = [x for x in sorted(curve) if curve[x] >= probability]
    if not ok:
        best = curve[hi] if increasing else curve[lo]
        if progress is not None:
            progress(steps, steps)
        return Answer(
            el.name, goal, probability, None, best, sorted(curve.items()), tol, increasing
        )
    good = _bisect(curve, ok, increasing, probability, tol, chances, progress, steps)
    return Answer(
        el.name, goal, probability, good, curve[good], sorted(curve.items()), tol, increasing
    )


def _bisect(curve, ok, increasing, probability, tol, chances, progress, steps) -> float:
    """Narrow the grid interval where the goal starts to hold; add each level to ``curve``."""
    points = len(curve)
    # bracket: the first grid level that meets it and its neighbour that does not
    if increasing:
        good = ok[0]
        bad = max((x for x in curve if x < good), default=None)
    else:
        good = ok[-1]
        bad = min((x for x in curve if x > good), default=None)
    while bad is not None and abs(good - bad) > tol:
        mid = (good + bad) / 2
        p = float(chances(np.array([mid]))[0])
        curve[mid] = p
        if progress is not None:
            progress(min(len(curve) - points + 1, steps), steps)
        if p >= probability:
            good = mid
        else:
            bad = mid
    if progress is not None:
        progress(steps, steps)
    return good
