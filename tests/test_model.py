"""The brain-circulation model: checks, PySD parity, extreme values, step size, history.

Each test runs the shipped `model/brain_circulation.mdl`; see model/README.md for
what the variables mean.
"""

import numpy as np
import pytest

import sim
from sim.engine.check import check_model
from sim.engine.spec import Op, Ref
from sim.reports.diagram import stock_flows
from sim.studies.history import load_history, observe

from conftest import ROOT
from pysd_reference import compare, pysd_run_kept

MODEL = ROOT / "model" / "brain_circulation.mdl"
HISTORY = ROOT / "model" / "history.csv"
TARGET_OUTPUTS = [
    "japanese students abroad per year",
    "international students in japan",
    "domestic employment rate jmirai basis",
    "domestic employment rate of international graduates",
    "researchers dispatched per year",
    "foreign researchers accepted per year",
    "net researcher flow",
]
WAITING_STOCKS = [
    "admitted students awaiting entry to universities",
    "admitted students awaiting entry to vocational schools",
    "admitted students awaiting entry to language institutes",
]
ENTRY_FLOWS = [
    "entry to undergraduate programmes from abroad",
    "entry to graduate schools from abroad",
    "entry to vocational schools from abroad",
    "entry to language institutes from abroad",
]
STUDENT_STOCKS = [
    "students in japanese language institutes",
    "intl vocational students",
    "intl undergraduates",
    "intl graduate students",
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
    """Every variable at every saved time equals PySD's run (kept by the model's hash)."""
    ours = sim.simulate(model)
    assert compare(ours, pysd_run_kept(MODEL, tmp_path)) == []


def _signed_flows(expr, sign=1.0):
    """A stock's rate as (sign, flow key) pairs; the rate must be a sum of named flows."""
    if isinstance(expr, Ref):
        return [(sign, expr.key)]
    if isinstance(expr, Op) and expr.op in ("+", "-"):
        left, right = expr.args
        return _signed_flows(left, sign) + _signed_flows(right, sign if expr.op == "+" else -sign)
    if isinstance(expr, Op) and expr.op == "neg":
        return _signed_flows(expr.args[0], -sign)
    raise AssertionError(f"a stock's rate should add and subtract named flows, found {expr}")


def _cell(model, ds, el):
    """An element's saved values (time x run): a scalar's variable, or its cell of an array."""
    if not el.base:
        return ds[el.py_name].values
    label = model.spec.ranges.label
    return ds[el.base].sel({label(r): label(e) for r, e in el.coords}).values


def _values(model, ds, el):
    return _cell(model, ds, el)[:, 0]


def test_mass_balance_every_stock(model, fine):
    """Each stock changes over each step by its inflows minus outflows times the step.

    Tolerance 1e-9 relative: the Euler update is exactly this sum, so only
    rounding separates the two sides.
    """
    dt = model.controls["time_step"]
    for stock in model.spec.of_kind("stock"):
        level = _values(model, fine, stock)
        net = sum(
            sign * _values(model, fine, model.spec.element(key))
            for sign, key in _signed_flows(stock.expr)
        )
        np.testing.assert_allclose(np.diff(level), dt * net[:-1], rtol=1e-9, atol=1e-6 * dt)


def test_each_flow_leaves_at_most_one_stock_and_enters_at_most_one(model):
    """People moving between stages are taken from one stock and added to the next."""
    for flow in stock_flows(model.spec):
        assert len(flow.drains) <= 1, flow
        assert len(flow.fills) <= 1, flow
        assert not set(flow.drains) & set(flow.fills), flow


def _elements(model, name):
    return model.spec.array(f"{name} by origin").values()


def _boundary_inflows(model, stocks):
    keys = {model.spec.element(s).key for s in stocks}
    return [f.key for f in stock_flows(model.spec) if set(f.fills) & keys and not f.drains]


def test_no_global_mobility_means_no_new_international_students(model):
    table = model.spec.element("global mobile students path")
    assert table.kind == "lookup"
    ds = sim.simulate(model, tables={table.name: ([2000.0, 2040.0], [0.0, 0.0])})
    # the stocks are kept by origin; their totals are sums
    by_origin = [el.name for s in STUDENT_STOCKS + WAITING_STOCKS for el in _elements(model, s)]
    admissions = _boundary_inflows(model, by_origin)
    origins = len(model.spec.ranges.elements["origin"])
    assert len(admissions) == 3 * origins  # university, vocational and language admissions
    for key in admissions:
        assert np.all(_cell(model, ds, model.spec.element(key)) == 0), key


def test_a_closed_border_stops_every_crossing(model):
    closed = {
        "future border closure start": 2025,
        "future border closure duration": 5,
        "border openness during closure": 0,
        "inbound enrolment openness during closure": 0,
        "outbound long stay openness during closure": 0,
        "researcher border openness during closure": 0,
        "outbound travel adaptation rate": 0,
        "outbound long stay adaptation rate": 0,
        "researcher travel adaptation rate": 0,
    }
    ds = sim.simulate(model, closed, saveper=model.controls["time_step"])
    inside = (ds.time.values >= 2025.1) & (ds.time.values < 2029.9)
    crossings = ENTRY_FLOWS + [
        "long term departures",
        "university short and mid term participants per year",
        "researchers dispatched per year",
        "foreign researchers accepted per year",
    ]
    for name in crossings:
        values = ds[model.spec.element(name).py_name].values[inside]
        assert np.all(values == 0), name


@pytest.mark.parametrize("end", [0, 1])
def test_levers_at_their_limits_keep_stocks_finite_and_non_negative(model, end):
    params = {el.name: el.limits[end] for el in _levers(model)}
    ds = sim.simulate(model, params)
    for stock in model.spec.of_kind("stock"):
        values = _cell(model, ds, stock)
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


def test_international_students_fall_through_2020_to_2022(model, fine):
    """The 2020-2022 closure: the 1 May count falls in 2020 and 2021 and stays below 2019.

    Students could enter under the daily caps from March 2022 (46,889 new student
    entries in April 2022), so the model's count turns up by 1 May 2022; the
    JASSO count fell once more that year, partly because its 2020-2022 counts
    include students enrolled but studying online from abroad.
    """
    var = model.spec.element("international students in japan").py_name
    may = {y: observe(fine.time.values, fine[var].values, y, "may1")[0] for y in range(2018, 2024)}
    assert may[2019] > may[2020] > may[2021]
    assert may[2022] < 0.8 * may[2019]
    assert may[2023] > may[2022]
    assert may[2022] < may[2019]


def test_japanese_degree_students_abroad_fall_after_the_2004_peak(model, fine):
    """OECD-based count (a stock): 82,945 in 2004, falling afterwards."""
    observed, modelled = _observed(model, fine, "japanese_abroad_oecd_based", 2004)
    assert abs(modelled / observed - 1) <= 0.25, (observed, modelled)
    var = model.spec.element("japanese degree students abroad").py_name
    mid = {
        y: observe(fine.time.values, fine[var].values, y, "mid_year")[0]
        for y in (2004, 2010, 2018)
    }
    assert mid[2004] > mid[2010] > mid[2018]


def test_model_readme_table_and_diagram_are_current(run_cli):
    status, _, err = run_cli(
        "document",
        MODEL,
        "--readme",
        ROOT / "model" / "README.md",
        "--diagram",
        ROOT / "model" / "stock_flow_diagram",
        "--check",
    )
    assert (status, err) == (0, "")
