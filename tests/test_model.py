"""The brain-circulation model: checks, PySD parity, extreme values, step size, history.

Each test runs the shipped `model/brain_circulation.mdl`; see model/README.md for
what the variables mean.
"""

import numpy as np
import pytest

import sim
from sim.check import check_model
from sim.history import load_history, observe

from conftest import ROOT
from pysd_reference import compare, pysd_run

MODEL = ROOT / "model" / "brain_circulation.mdl"
HISTORY = ROOT / "model" / "history.csv"
TARGET_OUTPUTS = [
    "japanese students abroad per year",
    "international students in japan",
    "domestic employment rate of international graduates",
    "researchers dispatched per year",
    "foreign researchers accepted per year",
    "net researcher flow",
]


@pytest.fixture(scope="module")
def model():
    return sim.load_model(MODEL)


@pytest.fixture(scope="module")
def fine(model):
    """The default run saved at every TIME STEP."""
    return sim.simulate(model, saveper=model.controls["time_step"])


def _levers(model):
    return [el for el in model.spec.of_kind("constant") if "lever" in el.doc.lower()]


def test_model_check_finds_no_problems(model):
    assert check_model(model.spec) == []


def test_every_lever_and_target_output_exists(model):
    names = {el.name for el in model.spec.elements}
    assert set(TARGET_OUTPUTS) <= names
    assert len(_levers(model)) >= 12


def test_euler_equals_pysd(model, tmp_path):
    ours = sim.simulate(model)
    assert compare(ours, pysd_run(MODEL, tmp_path)) == []


@pytest.mark.parametrize("end", [0, 1])
def test_levers_at_their_limits_keep_stocks_finite_and_non_negative(model, end):
    params = {el.name: el.limits[end] for el in _levers(model)}
    ds = sim.simulate(model, params)
    for stock in model.spec.of_kind("stock"):
        values = ds[stock.py_name].values
        assert np.all(np.isfinite(values)), stock.name
        assert np.all(values >= 0), stock.name


def test_halving_the_time_step_moves_2033_targets_by_under_one_percent(model):
    dt = model.controls["time_step"]
    base = sim.simulate(model, outputs=TARGET_OUTPUTS)
    half = sim.simulate(model, outputs=TARGET_OUTPUTS, time_step=dt / 2)
    for name in TARGET_OUTPUTS:
        var = model.spec.element(name).py_name
        a = float(base[var].sel(time=2033).item())
        b = float(half[var].sel(time=2033).item())
        assert abs(a - b) <= 0.01 * max(abs(b), 1.0), (name, a, b)


def _observed(model, fine, series, year):
    rows = [
        o
        for o in load_history(HISTORY, [el.name for el in model.spec.elements])
        if o.series == series and o.year == year
    ]
    assert rows, (series, year)
    row = rows[-1]
    var = model.spec.element(row.model_variable).py_name
    value = observe(fine.time.values, fine[var].values, year, row.timing)[0]
    return row.value, value


@pytest.mark.parametrize(
    ("series", "year"),
    [
        ("intl_students_total_excl_jlang_basis", 2005),
        ("intl_students_total_excl_jlang_basis", 2010),
        ("intl_students_total_incl_jlang", 2015),
        ("intl_students_total_incl_jlang", 2019),
        ("researchers_dispatched_midlong", 2000),
        ("researchers_dispatched_midlong", 2018),
        ("researchers_dispatched_midlong", 2019),
    ],
)
def test_default_run_follows_history_within_25_percent(model, fine, series, year):
    observed, modelled = _observed(model, fine, series, year)
    assert abs(modelled / observed - 1) <= 0.25, (observed, modelled)
