"""What the explorer's pages ask for, as plain data: controls, runs, tables and history.

One :class:`Session` serves every client of one ``brainsim explore``: the
model, its baseline over the ensemble (run once) and the stems that later
runs start from. Its methods take and return JSON-ready dicts; the web
layer (:mod:`sim.explorer.server`) adds only HTTP.
"""

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.explorer.state import NAME, controls, load_state, load_text, state_of
from sim.reports.labels import BUDGET_PROGRAMMES, LABELS, PROGRAMMES, SCENARIOS, VARIABLES
from sim.studies.costs import COST, extra_cost
from sim.studies.history import load_history
from sim.studies.live import LiveRuns
from sim.studies.runner import percentiles, rule_for, run_scenarios, target_rows
from sim.studies.scenario import ScenarioError, load_scenario
from sim.studies.targets import PROJECTION_START

DEFAULT_START = 2026  # the policy start year a control offers first


class StaleRun(Exception):
    """A run that a newer request of the same client has replaced before it began."""


# the charts of the page: each J-MIRAI target output and researchers dispatched
CHARTS = (
    "japanese students abroad per year",
    "international students in japan",
    "domestic employment rate jmirai basis",
    "researchers dispatched per year",
    "long term students abroad per year",
    "university short and mid term participants per year",
    "high school students abroad per year",
    "domestic employment rate of international graduates",
)


@dataclass
class Session:
    """The model, its baseline and the shipped scenarios, shared by every client."""

    model: object
    root: Path
    scenario_dir: Path
    version: str
    workers: object = None  # None: runs here; or a Cluster (see sim.studies.live.LiveRuns)
    live: LiveRuns = field(init=False)
    scenarios: dict = field(init=False)
    _bases: dict = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _baseline_rows: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        files = sorted(self.scenario_dir.glob("*.yaml"))
        self.scenarios = {p.stem: p for p in files}
        if "baseline" not in self.scenarios:
            raise ScenarioError(
                f"{self.scenario_dir}: no baseline.yaml; the explorer starts from the baseline"
            )
        self.live = LiveRuns(self.model, self._base("baseline"), self.root, self.workers)
        self.live.warm(DEFAULT_START)
        self._baseline_rows = {r["target"]: r for r in target_rows(self.live.baseline)}

    def _base(self, name: str):
        if name not in self.scenarios:
            raise ScenarioError(
                f"the explorer's scenario: unknown starting scenario '{name}'; choose one of "
                + ", ".join(self.scenarios)
            )
        if name not in self._bases:
            self._bases[name] = load_scenario(self.scenarios[name], self.model)
        return self._bases[name]

    def meta(self) -> dict:
        """Return what the page needs once: controls, names in both languages, history."""
        outputs = [v for v in CHARTS if self.model.spec.has(v)]
        return {
            "version": self.version,
            "controls": controls(self.model),
            "charts": outputs,
            "variables": sorted(
                el.name for el in self.model.spec.elements if el.kind not in ("lookup", "constant")
            ),
            "scenarios": {n: SCENARIOS.get(n, {"en": n, "ja": n}) for n in self.scenarios},
            "names": {**VARIABLES, **PROGRAMMES, **BUDGET_PROGRAMMES},
            "labels": {k: v for k, v in LABELS.items() if k.startswith("ui_")},
            "history": self._history(outputs),
            "baseline": self.bands(self.live.baseline),
            "projection_start": PROJECTION_START,
        }

    def _history(self, outputs: list) -> dict:
        path = self.root / "model" / "history.csv"
        if not path.is_file():
            return {}
        out: dict = {}
        for obs in load_history(path):
            # JASSO's counts are fitted to "<stock> counted" (2020-2022 add students
            # enrolled online from abroad); the chart of the stock shows them
            name = obs.model_variable.removesuffix(" counted")
            if name in outputs:
                out.setdefault(name, []).append([obs.year, obs.comparable])
        return out

    def state_of(self, name: str) -> dict:
        """Return the state of the shipped scenario ``name``."""
        return state_of(self._base(name), self.model)

    def upload(self, text: str) -> dict:
        """Check a user's scenario file and return its state; it becomes a starting scenario.

        The file is read beside copies of the shipped scenarios, so that
        ``extends: baseline`` finds its base.
        """
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            what = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ScenarioError(f"the uploaded file is not valid YAML ({what})") from None
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name.strip() or "/" in name or "\\" in name:
            raise ScenarioError("the uploaded file has no usable 'name'; see brainsim schema")
        scenario = load_text(
            text, name, self.model, f"{name}.yaml", tuple(self.scenarios.values())
        )
        key = f"{name} (file)"
        self._bases[key] = scenario
        self.scenarios.setdefault(key, self.scenarios["baseline"])
        return {**state_of(scenario, self.model), "base": key}

    def _scenario(self, state) -> tuple:
        """Return ``(scenario, yaml text)`` of a page's state, checked as a scenario file."""
        if not isinstance(state, dict):
            raise ScenarioError("the explorer's scenario: the state must be a mapping")
        base = self._base(str(state.get("base", "baseline")))
        return load_state(state, base, self.model, self.version)

    def run(self, state: dict, wanted=lambda: True) -> dict:
        """Run a state over the ensemble; return bands, the target table, cost and YAML.

        ``wanted()`` is asked once the run's turn comes; if it says no (a newer
        request replaced this one), :class:`StaleRun` is raised instead.
        """
        scenario, text = self._scenario(state)
        with self._lock:  # one integration at a time: each uses both cores' worth of memory
            if not wanted():
                raise StaleRun
            res = self.live.run(scenario, effects=False)
        return {
            "bands": self.bands(res),
            "targets": self.targets(res),
            "cost": self.cost(res),
            "yaml": text,
            "runs": res.n_runs,
        }

    def detail(self, state: dict, variable: str, wanted=lambda: True) -> dict:
        """Return the bands of any model variable, baseline and the state's scenario."""
        if not self.model.spec.has(variable):
            raise ScenarioError(f"the explorer: unknown variable '{variable}'")
        name = self.model.spec.element(variable).name
        scenario, _ = self._scenario(state)
        timing = {name: rule_for(self.model, name)}
        with self._lock:
            if not wanted():
                raise StaleRun
            both = run_scenarios(
                [self.live.baseline_scenario, scenario],
                self.model,
                timing,
                self.root,
                workers=self.workers,
            )
        return {
            "variable": name,
            "unit": self.model.spec.element(name).units,
            "baseline": self.bands(both[0])[name],
            "current": self.bands(both[1])[name],
        }

    @staticmethod
    def bands(res) -> dict:
        """Return each output's years and 5th, 50th and 95th percentiles."""
        names, covered, q = percentiles(res, [5, 50, 95])
        out = {}
        for v, name in enumerate(names):
            keep = covered[v]
            out[name] = {
                "years": res.years[keep].tolist(),
                "p05": q[0, v, keep].tolist(),
                "p50": q[1, v, keep].tolist(),
                "p95": q[2, v, keep].tolist(),
            }
        return out

    def targets(self, res) -> list:
        """Return each target's median, 5-95% and probability, baseline beside the scenario."""
        base = self._baseline_rows
        rows = []
        for r in target_rows(res):
            b = base.get(r["target"], {})
            rows.append(
                {
                    "variable": r["variable"],
                    "year": r["year"],
                    "goal": r["goal"],
                    "sense": r["sense"],
                    "p05": r["p05"],
                    "p50": r["p50"],
                    "p95": r["p95"],
                    "probability": r["probability"],
                    "baseline_p50": b.get("p50"),
                    "baseline_probability": b.get("probability"),
                }
            )
        return rows

    def cost(self, res) -> dict:
        """Return the public budget above the baseline, FY2026-FY2033, in 億円 (median, 5-95%)."""
        if COST not in res.values or res.n_runs != self.live.baseline.n_runs:
            return {}
        extra = extra_cost(res, self.live.baseline, 2033, PROJECTION_START) / 100.0
        p05, p50, p95 = np.percentile(extra, [5, 50, 95])
        yearly = res.values[COST] - self.live.baseline.values[COST]
        return {
            "from": PROJECTION_START,
            "to": 2033,
            "p05": float(p05),
            "p50": float(p50),
            "p95": float(p95),
            "years": res.years.tolist(),
            "yearly_p50": np.nan_to_num(np.median(yearly, axis=1) / 100.0).tolist(),
        }


__all__ = ["NAME", "Session"]
