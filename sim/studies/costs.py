"""What a scenario costs the public purse against the baseline, and what each yen buys.

The model's output ``public programme budget`` [million yen a year] sums the
budgets of the programmes with a budget lever. Two figures per scenario and
target, run by run (the scenarios share the ensemble's parameter sets and
effect-size draws, so run ``i`` of each is the same world):

- the extra cost: the scenario's fiscal-year budgets above the baseline's,
  summed from :data:`~sim.studies.targets.PROJECTION_START` to the target year;
- the public yen a year per additional unit of the outcome: the extra budget
  in the target year over the gain in the target output that year (a
  budget analyst's "each additional student abroad costs so much a year").
  It is summarised over the runs with a gain, and the share of such runs is
  given, because a ratio over a gain near zero means nothing.
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
        return 100.0, "yen a year per percentage point"
    return 1.0, "yen a year per person"


def cost_rows(res, baseline, units: dict) -> dict:
    """Per target of ``res``: its extra cost to the target year and yen a year per unit gained.

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
        yearly = res.values[COST][at] - baseline.values[COST][at]
        factor, per = per_unit(units.get(tgt.variable, ""))
        gain = factor * (res.values[tgt.variable][at] - baseline.values[tgt.variable][at])
        if tgt.sense == "at_most":
            gain = -gain
        row = {"extra_cost_oku_p50": float(np.median(cost)) / MILLION_PER_OKU, "per": per}
        useful = gain > 0
        if np.any(yearly != 0) and np.any(useful):
            ratio = yearly[useful] * YEN_PER_MILLION / gain[useful]
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


# The outcome each lever's programmes are judged on in the cost-effectiveness table: the
# target output the lever moves first (the model's structure, model/README.md).
OUTCOME_OF_LEVER = {
    "scholarship coverage": "japanese students abroad per year",
    "degree study abroad awards": "long term students abroad per year",
    "high school study abroad rate": "high school students abroad per year",
    "jmirai inbound recruitment uplift": "international students in japan",
    "employment support": "domestic employment rate jmirai basis",
    "researcher fellowships": "researchers dispatched per year",
    "joint research funding index": "researchers dispatched per year",
}


def programme_scenarios(base, model, change_oku: float, start: float, ramp_years: float):
    """``(programme, lever it acts on, 億円 added, scenario)`` for each budget programme.

    Each scenario is ``base`` with that budget raised by ``change_oku`` 億円 a
    year, or to the top of its range if that is less.
    """
    import dataclasses

    from sim.studies.scenario import MILLION_YEN_PER_OKU, budget_levers, timed_policy

    moved = {p.lever for p in base.policies}
    out = []
    for programme, (lever, acts_on) in budget_levers(model).items():
        if lever.name in moved or f"{acts_on} target" in moved:
            continue  # the base scenario already sets this programme
        level = min(float(lever.expr.value) + change_oku * MILLION_YEN_PER_OKU, lever.limits[1])
        policy = timed_policy(model, lever, start, ramp_years, level)
        added = (level - float(lever.expr.value)) / MILLION_YEN_PER_OKU
        out.append(
            (
                programme,
                acts_on,
                added,
                dataclasses.replace(
                    base, name=f"{base.name} + {programme}", policies=base.policies + (policy,)
                ),
            )
        )
    return out


def programme_effectiveness(
    base,
    model,
    root,
    change_oku: float = 10.0,
    start: float = 2026,
    ramp_years: float = 2,
    workers=None,
    progress=None,
) -> list:
    """Yen per additional outcome of each programme: ``base`` against ``base`` + one budget.

    Returns one dict per programme: programme, the lever it acts on, its
    outcome (:data:`OUTCOME_OF_LEVER`), the extra cost to the target year, the
    yen per additional unit (median, 5-95%), the share of runs with a gain and
    the evidence grade of the effect sizes the programme's runs rest on most.
    """
    from sim.studies.runner import driver, output_timing, run_scenarios

    variants = programme_scenarios(base, model, change_oku, start, ramp_years)
    timing = output_timing(model)
    results = run_scenarios(
        [base] + [v for *_, v in variants], model, timing, root, workers, progress
    )
    base_res, rows = results[0], []
    for (programme, acts_on, added, _), res in zip(variants, results[1:], strict=True):
        outcome = OUTCOME_OF_LEVER.get(acts_on)
        if outcome is None:
            continue
        units = {outcome: model.spec.element(outcome).units}
        label = next(t.label or t.variable for t in res.scenario.targets if t.variable == outcome)
        row = cost_rows(res, base_res, units).get(label, {})
        at = int(np.searchsorted(res.years, 2033))
        factor, _ = per_unit(units[outcome])
        gain = factor * (res.values[outcome][at] - base_res.values[outcome][at])
        rows.append(
            {
                "programme": programme,
                "acts_on": acts_on,
                "outcome": outcome,
                "change_oku": added,
                "gain_p50": float(np.median(gain)),
                **row,
                "rests_on": driver(res.effects, gain) if np.ptp(gain) > 0 else "",
            }
        )
    return rows
