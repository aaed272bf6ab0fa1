"""Backtests: calibrate on the years up to one, score the projection of the years after it.

A user who reads a 2033 probability asks how well such a model's projections
have held up. :func:`backtest` refits the calibrated parameters on the
observations up to ``fit_until`` (from the centre of their ranges, not from
the ``.mdl``'s values, which were fitted to the years held out), draws the
constrained ensemble the same way as ``brainsim calibrate``, and scores every
later observation: whether it lies in the ensemble's 5-95% band, and the
error of the band's median and of the best fit.

The exogenous inputs (the cohort, the exchange rate, the 2020-2022 border
closure, the documented policy paths) are the recorded ones throughout, so
this is a conditional (ex post) backtest: it measures the model's structure
and calibration, not the forecasting of its inputs.
"""

import dataclasses

import numpy as np

from sim.engine.errors import BrainsimError
from sim.studies.calibrate import ensemble, fit, make_problem, modelled

SCORE_COLUMNS = (
    "fit_until",
    "series",
    "held_out_years",
    "n",
    "coverage_5_95",
    "median_mape",
    "median_bias",
    "best_fit_mape",
)


@dataclasses.dataclass(frozen=True)
class Backtest:
    """One backtest: the fit on the early years and its scores on the later ones."""

    fit_until: int
    fitted: int  # observations fitted
    held_out: int  # observations scored
    members: int  # ensemble members kept
    rows: list  # one dict per held-out series (SCORE_COLUMNS)
    coverage: float  # share of all held-out observations inside the band
    median_mape: float  # over all held-out observations
    median_ape: float  # the median of their absolute % errors (closure years' tiny counts aside)
    fit_cost: float


def backtest(
    model,
    observations: tuple,
    fit_until: int,
    *,
    starts: int,
    samples: int,
    seed: int,
    tick=None,
    workers=None,
) -> Backtest:
    """Fit on the observations up to ``fit_until``; score the band on those after it.

    ``workers`` (local processes, or a :class:`~sim.engine.cluster.Cluster`)
    runs the prior sample and the members, as in :func:`~sim.studies.calibrate.calibrate`.
    """
    train = tuple(o for o in observations if o.year <= fit_until)
    test = tuple(o for o in observations if o.year > fit_until)
    if not train or not test:
        years = sorted({o.year for o in observations})
        raise BrainsimError(
            f"--fit-until {fit_until}: leaves no observation to "
            f"{'fit' if not train else 'score'}; give a year from {years[0]} to {years[-1] - 1}"
        )
    problem = make_problem(model, train)
    centre = (problem.lower + problem.upper) / 2
    best = fit(problem, starts=starts, seed=seed, tick=tick, initial=centre)
    ens = ensemble(
        problem, best, samples=samples, seed=seed, full_range_check=0, tick=tick, workers=workers
    )
    if len(ens.costs) == 0:
        raise BrainsimError(f"no parameter set of {samples} passed the threshold; raise --samples")
    scored = make_problem(model, test, list(problem.names))
    members = modelled(scored, ens.values.T, workers=workers)
    best_obs = modelled(scored, best.values[:, None])[:, 0]
    lo, med, hi = np.percentile(members, [5, 50, 95], axis=1)
    y, used = scored.data.y, scored.data.weight > 0  # a series weighted 0 is not comparable
    inside = (y >= lo) & (y <= hi)
    err = (med - y) / np.abs(y)
    rows = []
    for label in scored.data.groups:
        idx = [i for i, lab in enumerate(scored.data.labels) if lab == label and used[i]]
        if not idx:
            continue
        years = sorted({scored.data.observations[i].year for i in idx})
        rows.append(
            {
                "fit_until": fit_until,
                "series": label,
                "held_out_years": f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0]),
                "n": len(idx),
                "coverage_5_95": float(np.mean(inside[idx])),
                "median_mape": float(100 * np.mean(np.abs(err[idx]))),
                "median_bias": float(100 * np.mean(err[idx])),
                "best_fit_mape": float(
                    100 * np.mean(np.abs(best_obs[idx] - y[idx]) / np.abs(y[idx]))
                ),
            }
        )
    return Backtest(
        fit_until=fit_until,
        fitted=len(train),
        held_out=int(np.count_nonzero(used)),
        members=len(ens.costs),
        rows=rows,
        coverage=float(np.mean(inside[used])),
        median_mape=float(100 * np.mean(np.abs(err[used]))),
        median_ape=float(100 * np.median(np.abs(err[used]))),
        fit_cost=best.cost,
    )
