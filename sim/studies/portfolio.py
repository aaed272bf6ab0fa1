"""Allocating a total budget across programmes to make goals most likely.

The decision is how to share ``total`` 億円 a year, added on top of the
scenario's budgets, among ``programmes``: ``x`` in ``[0, 1]^k`` gives the
shares ``x / sum(x)`` (a programme is capped at the top of its budget range;
money above the cap buys nothing, so the search learns to avoid it).

The objective, maximised, is the mean over the goals of the probability of
meeting the goal (the share of the scenario's runs that meet it), plus a
tie-break worth at most :data:`TIE_BREAK`: the mean over the goals of
``tanh(median margin / goal)``, the median run's distance to the goal
relative to it. Probabilities move in steps of one run, and are flat at 0
or 1 over wide regions; the tie-break points the search toward the goal
there, and is smaller than one run's worth of probability (1/1,000), so it
only decides between allocations whose probabilities tie. The search is SciPy's differential
evolution (seeded, vectorised: each generation is one batch of scenarios
sharing their runs up to the budgets' start), without polishing, since the
objective is not smooth.
"""

import dataclasses
import math
import time

import numpy as np

from sim.engine.errors import BrainsimError

TIE_BREAK = 1e-4
POPSIZE = 5  # candidates per programme in each generation
MAXITER = 8  # generations after the first


@dataclasses.dataclass(frozen=True)
class Allocation:
    """The best allocation found, the probabilities it gives and reference allocations."""

    programmes: tuple
    total_oku: float
    budgets_oku: tuple  # added to each programme, 億円 a year
    probabilities: tuple  # per goal
    objective: float  # mean probability over the goals
    references: tuple  # (label, budgets added, mean probability)
    evaluations: int  # candidate allocations run
    runs: int
    seconds: float


def _candidates(scenario, model, levers, added_oku: np.ndarray, start, ramp_years) -> list:
    """Scenarios with each row of ``added_oku`` (candidates x programmes) added to the budgets."""
    from sim.studies.scenario import MILLION_YEN_PER_OKU, timed_policy

    out = []
    for i, row in enumerate(added_oku):
        extra = [
            timed_policy(
                model,
                el,
                start,
                ramp_years,
                min(float(el.expr.value) + amount * MILLION_YEN_PER_OKU, el.limits[1]),
            )
            for el, amount in zip(levers, row, strict=True)
        ]
        out.append(
            dataclasses.replace(
                scenario,
                name=f"{scenario.name} candidate {i}",
                policies=scenario.policies + tuple(extra),
            )
        )
    return out


@dataclasses.dataclass(frozen=True)
class _Problem:
    """What every evaluation needs: the scenario, the budget levers, the goals."""

    scenario: object
    model: object
    root: object
    levers: list
    goals: list
    start: float
    ramp_years: float
    workers: object = None


def _evaluate(problem: _Problem, added: np.ndarray, tally: list) -> tuple:
    """Return the mean probability and the tie-break of each row of ``added`` (億円 x k)."""
    from sim.studies.runner import rule_for, run_scenarios

    p = problem
    cands = _candidates(p.scenario, p.model, p.levers, added, p.start, p.ramp_years)
    timing = {g.variable: rule_for(p.model, g.variable) for g in p.goals}
    results = run_scenarios(cands, p.model, timing, p.root, p.workers)
    tally[0] += len(cands)
    tally[1] += sum(r.n_runs for r in results)
    prob = np.zeros((len(p.goals), len(cands)))
    tie = np.zeros(len(cands))
    for j, g in enumerate(p.goals):
        for i, res in enumerate(results):
            value = res.values[g.variable][int(np.searchsorted(res.years, g.year))]
            prob[j, i] = np.mean(g.met(value))
            sign = 1 if g.sense == "at_least" else -1
            tie[i] += math.tanh(sign * (np.median(value) - g.value) / abs(g.value or 1))
    return prob, tie / len(p.goals)


def _shares(x: np.ndarray) -> np.ndarray:
    """Shares from the search's coordinates ``(k, S)``: x / sum(x), equal where all are 0."""
    total = x.sum(axis=0)
    return np.where(total > 0, x / np.where(total > 0, total, 1), 1 / len(x))


def allocate(
    scenario,
    model,
    root,
    programmes: list,
    total_oku: float,
    goals: list,
    *,
    start: float = 2026,
    ramp_years: float = 2,
    seed: int = 0,
    popsize: int = POPSIZE,
    maxiter: int = MAXITER,
    workers=None,
    progress=None,
) -> Allocation:
    """Find the shares of ``total_oku`` across ``programmes`` that make ``goals`` most likely."""
    from scipy.optimize import differential_evolution

    from sim.studies.goal import budget_constant

    if len(set(programmes)) != len(programmes) or len(programmes) < 2:
        raise BrainsimError("--portfolio needs at least two different programmes")
    if not total_oku > 0:
        raise BrainsimError(f"--total {total_oku:g} must be above 0 億円; give e.g. 100")
    levers = [model.spec.element(budget_constant(model, scenario, p)) for p in programmes]
    problem = _Problem(scenario, model, root, levers, goals, start, ramp_years, workers)
    clock, tally, generation = time.perf_counter(), [0, 0], [0]

    def objective(x: np.ndarray) -> np.ndarray:
        prob, tie = _evaluate(problem, (_shares(x) * total_oku).T, tally)
        generation[0] += 1
        if progress is not None:
            progress(min(generation[0], maxiter + 2), maxiter + 2)
        return -(prob.mean(axis=0) + TIE_BREAK * tie)  # minimised

    found = differential_evolution(
        objective,
        bounds=[(0.0, 1.0)] * len(levers),
        maxiter=maxiter,
        seed=seed,
        polish=False,
        tol=0,
        vectorized=True,
        updating="deferred",
        init=_first_generation(len(levers), popsize, seed),
    )
    best = _shares(found.x[:, None])[:, 0] * total_oku
    refs = [("equal split", np.full(len(levers), total_oku / len(levers)))]
    refs += [(f"all to {p}", total_oku * np.eye(len(levers))[i]) for i, p in enumerate(programmes)]
    prob, _ = _evaluate(problem, np.vstack([best] + [r[1] for r in refs]), tally)
    if progress is not None:
        progress(maxiter + 2, maxiter + 2)
    mean = prob.mean(axis=0)
    return Allocation(
        programmes=tuple(programmes),
        total_oku=total_oku,
        budgets_oku=tuple(float(b) for b in best),
        probabilities=tuple(float(v) for v in prob[:, 0]),
        objective=float(mean[0]),
        references=tuple(
            (label, tuple(float(v) for v in added), float(m))
            for (label, added), m in zip(refs, mean[1:], strict=True)
        ),
        evaluations=tally[0],
        runs=tally[1],
        seconds=time.perf_counter() - clock,
    )


def _first_generation(k: int, popsize: int, seed: int) -> np.ndarray:
    """Return all to each programme, the equal split, then Latin-hypercube points.

    The search starts from the allocations a reader would compare it with, so
    the best it reports is never worse than those.
    """
    from scipy.stats import qmc

    size = max(popsize * k, k + 5)
    corners = np.eye(k)
    equal = np.full((1, k), 0.5)
    rest = qmc.LatinHypercube(d=k, seed=seed).random(size - k - 1)
    return np.vstack([corners, equal, rest])


def describe(a: Allocation, goals: list) -> str:
    """Return the allocation as a short markdown report."""
    lines = [
        f"Best split of {a.total_oku:,.4g} 億円 a year found ({a.evaluations} allocations, "
        f"{a.runs:,} runs, {a.seconds:.0f} s):",
        "",
        "| programme | 億円 a year added |",
        "|---|---|",
    ]
    lines += [f"| {p} | {b:,.1f} |" for p, b in zip(a.programmes, a.budgets_oku, strict=True)]
    lines += ["", "| goal | probability |", "|---|---|"]
    lines += [
        f"| {g.label or g.describe()} | {p:.3f} |"
        for g, p in zip(goals, a.probabilities, strict=True)
    ]
    lines += [
        "",
        f"Mean probability over the goals: {a.objective:.3f}. How flat the optimum is: the "
        "same total split other ways gives",
        "",
    ]
    lines += [f"- {label}: {p:.3f}" for label, _, p in a.references]
    return "\n".join(lines) + "\n"
