"""What a scenario costs the public purse against the baseline, and what each yen buys.

The model's output ``public programme budget`` [million yen a year] sums the
budgets of the programmes with a budget lever. A scenario's extra cost is
the sum of its fiscal-year budgets above the baseline's from
:data:`~sim.studies.targets.PROJECTION_START` to the target year, run by run
(the scenarios share the ensemble's parameter sets and effect-size draws, so
run ``i`` of each is the same world). The yen per additional outcome is that
cost over the run's gain in the target output in the target year; it is
summarised over the runs with a gain, and the share of such runs is given,
because a ratio over a gain near zero means nothing.
"""

import numpy as np

from sim.studies.targets import PROJECTION_START

COST = "public programme budget"
YEN_PER_MILLION = 1e6
MILLION_PER_OKU = 100.0
COST_COLUMNS = (
    "extra_cost_oku_p50",
    "yen_per_additional_p50",
    "yen_per_additional_p05",
    "yen_per_additional_p95",
    "runs_with_gain",
    "per",
)


def paired(res, baseline) -> bool:
    """Whether run ``i`` of ``res`` and of ``baseline`` share their parameter sets."""
    return res.n_runs == baseline.n_runs and res.scenario.uncertainty == (
        baseline.scenario.uncertainty
    )


def extra_cost(res, baseline, end: int, start: int = PROJECTION_START) -> np.ndarray:
    """Return each run's public budget above the baseline's, FY start-end [million yen]."""
    years = (res.years >= start) & (res.years <= end)
    return np.sum(res.values[COST][years] - baseline.values[COST][years], axis=0)


def per_unit(units: str) -> tuple:
    """Return ``(factor, unit)``: a ratio's gain counts in percentage points, a count in people."""
    if units.strip().lower() in ("dmnl", "1", ""):
        return 100.0, "yen per percentage point"
    return 1.0, "yen per person"


def cost_rows(res, baseline, units: dict) -> dict:
    """Per target of ``res``: its extra cost to the target year and yen per additional unit.

    ``units`` maps each target variable to its units (a ratio's gain counts in
    percentage points). Returns ``{target label: {column: value}}``
    (:data:`COST_COLUMNS` and ``per``); empty when the model has no budget
    output or the runs are not paired.
    """
    if COST not in res.values or COST not in baseline.values or not paired(res, baseline):
        return {}
    out = {}
    for tgt in res.scenario.targets:
        if tgt.variable not in baseline.values:
            continue
        at = int(np.searchsorted(res.years, tgt.year))
        cost = extra_cost(res, baseline, tgt.year)
        factor, per = per_unit(units.get(tgt.variable, ""))
        gain = factor * (res.values[tgt.variable][at] - baseline.values[tgt.variable][at])
        if tgt.sense == "at_most":
            gain = -gain
        row = {"extra_cost_oku_p50": float(np.median(cost)) / MILLION_PER_OKU, "per": per}
        useful = gain > 0
        if np.any(cost != 0) and np.any(useful):
            ratio = cost[useful] * YEN_PER_MILLION / gain[useful]
            p05, p50, p95 = np.percentile(ratio, [5, 50, 95])
            row.update(
                yen_per_additional_p50=float(p50),
                yen_per_additional_p05=float(p05),
                yen_per_additional_p95=float(p95),
            )
        else:
            row.update(
                yen_per_additional_p50=np.nan,
                yen_per_additional_p05=np.nan,
                yen_per_additional_p95=np.nan,
            )
        row["runs_with_gain"] = float(np.mean(useful))
        out[tgt.label or tgt.variable] = row
    return out
