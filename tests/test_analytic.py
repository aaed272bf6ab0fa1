"""Closed-form checks: exponential decay and logistic growth.

Euler must converge at first order (halving the step halves the error),
and RK4 and solve_ivp's RK45 must be within 1e-6 relative of the exact
solution, as scipy's own test_ivp checks its solvers.
"""

import numpy as np
import pytest

import sim

from conftest import MODELS


def _constant(model, name):
    return model.spec.element(name).expr.value


def decay_exact(model, t):
    s0, tau = _constant(model, "initial stock"), _constant(model, "decay time")
    return s0 * np.exp(-t / tau)


def logistic_exact(model, t):
    r = _constant(model, "growth rate")
    k = _constant(model, "carrying capacity")
    p0 = _constant(model, "initial population")
    return k / (1 + (k - p0) / p0 * np.exp(-r * t))


CASES = [
    ("exponential_decay.mdl", "stock", decay_exact),
    ("logistic_growth.mdl", "population", logistic_exact),
]


@pytest.mark.parametrize(("file", "var", "exact"), CASES)
def test_euler_converges_at_first_order(file, var, exact):
    model = sim.load_model(MODELS / file)
    errors = []
    for dt in (1 / 8, 1 / 16, 1 / 32, 1 / 64):
        ds = sim.simulate(model, time_step=dt, saveper=0.5)
        got = ds[var].isel(run=0).values
        errors.append(np.max(np.abs(got - exact(model, ds.time.values))))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 1.8) & (ratios < 2.2)), ratios


@pytest.mark.parametrize(("file", "var", "exact"), CASES)
@pytest.mark.parametrize("method", ["rk4", "RK45", "LSODA"])
def test_higher_order_methods_match_closed_form(file, var, exact, method):
    model = sim.load_model(MODELS / file)
    ds = sim.simulate(model, method=method, rtol=1e-10, atol=1e-10)
    got = ds[var].isel(run=0).values
    want = exact(model, ds.time.values)
    assert np.max(np.abs(got / want - 1)) < 1e-6


@pytest.mark.parametrize("file", ["bench_ten_stocks.mdl", "delay_family.mdl", "trend_initial.mdl"])
def test_euler_approaches_the_adaptive_solution_as_the_step_shrinks(file):
    """Fixed-step and adaptive paths agree in the limit (models whose equations do not use
    TIME STEP themselves, so that the limit exists)."""
    model = sim.load_model(MODELS / file)
    ref = sim.simulate(model, method="RK45", rtol=1e-8, atol=1e-8)
    stocks = [el.py_name for el in model.spec.of_kind("stock")]
    saveper = model.controls["saveper"]
    gaps = []
    for dt in (saveper / 4, saveper / 16, saveper / 64):
        ds = sim.simulate(model, time_step=dt)
        gaps.append(
            max(float(np.max(np.abs(ds[v] - ref[v]) / (np.abs(ref[v]) + 1))) for v in stocks)
        )
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.01
