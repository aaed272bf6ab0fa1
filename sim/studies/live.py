"""Runs for an interactive session: the baseline once, then each change from a shared stem.

An explorer re-runs one scenario over the ensemble every time a lever moves.
Most changes only move levers from their policy start year, so every run
until then is the baseline's: :class:`LiveRuns` keeps that part (a
:class:`~sim.engine.simulate.Branch` per start step) and integrates only the
years after it. The numbers are those of :func:`sim.studies.runner.run_scenarios`
to the bit, since a run carried on from its branch gives the sums of the run
made in one go; a scenario whose settings act from the start (a changed
constant, a lookup read at every step) is run whole by the runner.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.studies.runner import (
    ScenarioResult,
    _years,
    by_output,
    drawn_effects,
    output_timing,
    parameters,
    run_scenarios,
    scenario_constants,
    tables,
    yearly_weights,
)
from sim.studies.scenario import Scenario

STEMS_KEPT = 16  # branches kept, one per policy start step; each is ~states x runs floats


@dataclass
class LiveRuns:
    """The model, its baseline over the ensemble and the stems that later runs start from.

    Parameters
    ----------
    model
        The compiled model.
    baseline
        The baseline scenario (loaded against ``model``).
    root
        The project folder that ensemble paths are relative to.
    workers
        ``None`` (runs in this process), or a :class:`~sim.engine.cluster.Cluster`
        whose workers carry each change on from the stem, a share of the runs
        each; the stems themselves are made here, once.
    """

    model: object
    baseline_scenario: Scenario
    root: Path
    workers: object = None
    timing: dict = field(init=False)
    baseline: ScenarioResult = field(init=False)
    _weights: dict = field(init=False)
    _covered: dict = field(init=False)
    _ensembles: dict = field(init=False, default_factory=dict)
    _stems: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        self.timing = dict(output_timing(self.model))
        self._weights, self._covered = yearly_weights(self.model, self.timing)
        self.baseline = self.run(self.baseline_scenario)

    def warm(self, year: float) -> None:
        """Keep the baseline's stem for policies starting in ``year``, before anyone asks."""
        from sim.engine.simulate import grid_times

        # the step sim.studies.stem.stem_settings gives a policy starting in ``year``
        dt = float(self.model.controls["time_step"])
        step = int(np.searchsorted(grid_times(self.model), year - dt))
        params, _, _ = parameters(self.baseline_scenario, self.model, self.root, self._ensembles)
        self._stem(params, {}, step)

    def run(
        self, scenario: Scenario, workers: int | None = 1, effects: bool = True
    ) -> ScenarioResult:
        """Run ``scenario`` over its uncertainty; reuse the baseline's stem where it may.

        ``effects=False`` leaves out the effect sizes' draws (used only to name
        the one that drives a target most), which a live view does not show.
        """
        from sim.engine.simulate import grid_times
        from sim.studies.stem import stem_settings

        params, n, sha = parameters(scenario, self.model, self.root, self._ensembles)
        own = scenario_constants(scenario)
        full_tables = tables(scenario, self.model)
        grid = grid_times(self.model)
        stem_consts, stem_tables, step = stem_settings(
            scenario, own, full_tables, self.model, grid
        )
        shares_stem = (
            not stem_consts
            and not stem_tables
            and 0 < step < len(grid)
            and scenario.uncertainty == self.baseline_scenario.uncertainty
        )
        if not shares_stem:
            where = workers if self.workers is None else self.workers
            return run_scenarios([scenario], self.model, self.timing, self.root, workers=where)[0]
        measured = self._tail(params, full_tables, self._stem(params, own, step))
        return ScenarioResult(
            scenario,
            _years(self.model),
            measured,
            dict(self.timing),
            n,
            sha,
            drawn_effects(self.model, params) if effects else {},
        )

    def _stem(self, params: dict, own: dict, step: int):
        """Return the baseline's runs stopped before grid step ``step``."""
        from sim.engine.simulate import measure

        if step in self._stems:
            return self._stems[step]
        earlier = [s for s in self._stems if s < step]
        start = self._stems[max(earlier)] if earlier else None
        stem_params = {k: v for k, v in params.items() if k not in own}
        _, branch = measure(
            self.model, stem_params, self._weights, self.timing, start=start, stop=step
        )
        if len(self._stems) >= STEMS_KEPT:
            self._stems.pop(next(iter(self._stems)))
        self._stems[step] = branch
        return branch

    def _tail(self, params: dict, lookups: dict, branch) -> dict:
        """Carry ``branch`` on with the scenario's ``params``; yearly measures by output."""
        from sim.engine.cluster import Cluster, map_parts

        shared = (self.model, self._weights, self.timing, lookups)
        if not isinstance(self.workers, Cluster):
            # one process: the tail is bound by the per-step cost of the equations, not
            # by the number of runs, so halving the runs across two processes gains nothing;
            # on a cluster the point is to take the work off the machine serving the page
            return by_output(_tail_part((params, branch), shared), self.timing, self._covered)
        n = branch.states.shape[1]
        edges = np.linspace(0, n, self.workers.n_workers + 1).astype(int)
        parts = [
            (
                {k: v[a:b] if np.ndim(v) else v for k, v in params.items()},
                branch.columns(slice(a, b)),
            )
            for a, b in zip(edges[:-1], edges[1:], strict=True)
            if b > a
        ]
        sums = np.concatenate(map_parts(_tail_part, parts, shared, self.workers), axis=2)
        return by_output(sums, self.timing, self._covered)


def _tail_part(part: tuple, shared: tuple) -> np.ndarray:
    """Carry a share of the runs on from its branch: ``(params, branch)``; their sums."""
    from sim.engine.simulate import measure

    params, branch = part
    model, weights, timing, lookups = shared
    sums, _ = measure(model, params, weights, timing, tables=lookups, start=branch)
    return sums
