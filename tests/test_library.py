"""Vensim's library beyond arithmetic: discrete states, ACTIVE INITIAL, FORECAST, RANDOM.

Every function here is also run by PySD in ``test_reference.py``
(``tests/data/models/discrete_functions.mdl``); these tests check what a
comparison with PySD cannot: the meaning, by hand, and the refusals.
"""

import numpy as np
import pytest

import sim
from sim.engine.errors import ModelError, ParameterError

from conftest import MODELS, write_mdl

DISCRETE = MODELS / "discrete_functions.mdl"


def _one(ds, var):
    return ds[var].isel(run=0).values


def test_delay_fixed_is_its_input_delay_time_ago_and_its_initial_value_before():
    ds = sim.simulate(sim.load_model(DISCRETE))
    signal, delayed = _one(ds, "signal"), _one(ds, "delayed")
    steps = 6  # delay time 1.5 / TIME STEP 0.25
    assert np.all(delayed[:steps] == 7.0)
    assert np.array_equal(delayed[steps:], signal[:-steps])
    assert np.array_equal(_one(ds, "delayed_one_step")[1:], signal[:-1])


def test_sample_if_true_follows_while_true_and_holds_the_last_sample_after():
    ds = sim.simulate(sim.load_model(DISCRETE))
    t, signal, sampled = ds["time"].values, _one(ds, "signal"), _one(ds, "sampled")
    following = np.mod(t, 2) < 0.5
    assert np.array_equal(sampled[following], signal[following])
    for k in np.where(~following)[0]:
        assert sampled[k] == sampled[k - 1]  # held
    late = _one(ds, "sampled_at_start")
    assert np.all(late[t < 6] == signal[0])


def test_active_initial_breaks_a_loop_that_exists_only_at_initial_time(tmp_path):
    mdl = write_mdl(
        tmp_path / "loop.mdl",
        "level = INTEG(0.1 * level, start) ~ widget ~ |\n"
        "start = ACTIVE INITIAL(level * 2, 5) ~ widget ~ |",
        final=2,
        step=1,
    )
    ds = sim.simulate(sim.load_model(mdl))
    assert list(_one(ds, "level")) == pytest.approx([5.0, 5.5, 6.05])
    assert list(_one(ds, "start")) == pytest.approx([10.0, 11.0, 12.1])
    plain = write_mdl(
        tmp_path / "plain.mdl",
        "level = INTEG(0.1 * level, start) ~ widget ~ |\nstart = level * 2 ~ widget ~ |",
    )
    with pytest.raises(ModelError, match="algebraic loop"):
        sim.load_model(plain)


def test_forecast_extrapolates_a_straight_line_exactly_once_the_average_settles(tmp_path):
    # input a + b t: the first-order average lags by b T; FORECAST adds b H on its own trend
    mdl = write_mdl(
        tmp_path / "f.mdl",
        "x = 10 + 2 * Time ~ widget ~ |\ny = FORECAST(x, 1, 3) ~ widget ~ |",
        final=40,
        step=1 / 64,
    )
    ds = sim.simulate(sim.load_model(mdl))
    x, y = _one(ds, "x")[-1], _one(ds, "y")[-1]
    avg = x - 2 * 1
    assert y == pytest.approx(x * (1 + (x - avg) / (1 * avg) * 3), rel=1e-3)


def test_discrete_states_refuse_other_integrators_and_a_changed_time_step():
    model = sim.load_model(DISCRETE)
    with pytest.raises(ParameterError, match="run it with method euler, not rk4"):
        sim.simulate(model, method="rk4")
    with pytest.raises(ParameterError, match="change TIME STEP in the .mdl"):
        sim.simulate(model, time_step=0.125)
    with pytest.raises(ParameterError, match="length of a DELAY FIXED"):
        sim.simulate(model, {"delay time": 2.0})


def test_get_time_value_of_the_computer_clock_is_refused(tmp_path):
    mdl = write_mdl(tmp_path / "c.mdl", "y = GET TIME VALUE(2, 0, 1) ~ dmnl ~ |")
    with pytest.raises(ModelError, match="GET TIME VALUE other than of the model's clock"):
        sim.load_model(mdl)


# --- RANDOM functions ----------------------------------------------------------------

RANDOM_MODEL = MODELS / "random" / "random_functions.mdl"


def test_random_draws_follow_pysds_distributions(tmp_path):
    from scipy import stats

    from pysd_reference import pysd_run

    np.random.seed(20261201)  # noqa: NPY002 (PySD draws from numpy's global generator)
    # PySD has no RANDOM TRIANGULAR: leave it out of PySD's copy
    text = RANDOM_MODEL.read_text()
    start = text.index("triangular draw=")
    stripped = tmp_path / "src" / RANDOM_MODEL.name
    stripped.parent.mkdir()
    stripped.write_text(text[:start] + text[text.index("|", start) + 1 :])
    ref = pysd_run(stripped, tmp_path)
    ours = sim.simulate(sim.load_model(RANDOM_MODEL))
    for var, name, lo, hi in (
        ("uniform_draw", "uniform draw", 2, 5),
        ("normal_draw", "normal draw", -1, 3),
        ("exponential_draw", "exponential draw", 0.5, 4),
        ("unit_draw", "unit draw", 0, 1),
    ):
        a, b = _one(ours, var), ref[name].values
        assert lo <= a.min()
        assert a.max() <= hi
        assert stats.ks_2samp(a, b).pvalue > 0.01, var
        assert len(np.unique(a)) == len(a)  # a new draw every step


def test_random_triangular_follows_its_distribution():
    from scipy import stats

    ds = sim.simulate(sim.load_model(RANDOM_MODEL))
    draws = _one(ds, "triangular_draw")
    # scipy's triang on [1, 6] with its peak at 2: c = (2 - 1) / (6 - 1)
    assert stats.kstest(draws, stats.triang(0.2, loc=1, scale=5).cdf).pvalue > 0.01
    assert draws.mean() == pytest.approx((1 + 2 + 6) / 3, rel=0.02)


def test_random_draws_are_reproducible_per_run_and_seed_and_independent_of_chunks():
    model = sim.load_model(RANDOM_MODEL)
    kw = {"final_time": 10, "outputs": ["noisy stock", "regional draw"]}
    scales = {"noise scale": np.ones(4001)}  # two chunks of at least 2,000 runs
    split = sim.simulate(model, scales, workers=2, **kw)
    whole = sim.simulate(model, scales, workers=1, **kw)
    assert np.array_equal(split["noisy_stock"].values, whole["noisy_stock"].values)
    last = split["noisy_stock"].isel(time=-1).values
    assert len(np.unique(last)) == len(last)  # each run draws its own numbers
    alone = sim.simulate(model, {"noise scale": 1.0}, **kw)
    assert np.array_equal(_one(alone, "noisy_stock"), split["noisy_stock"].isel(run=0).values)
    seeded = sim.simulate(model, {"noise scale": 1.0}, seed=7, **kw)
    assert not np.array_equal(_one(seeded, "noisy_stock"), _one(alone, "noisy_stock"))
    regional = alone["regional_draw"].isel(run=0)
    assert not np.array_equal(regional.sel(region="north"), regional.sel(region="south"))


# --- GET XLS / GET DIRECT -------------------------------------------------------------

EXTERNAL = MODELS / "external_data.mdl"


def _copy_external(tmp_path):
    import shutil

    for name in ("external_data.mdl", "external_data.xlsx", "external_data.csv"):
        shutil.copy(MODELS / name, tmp_path / name)
    return tmp_path / "external_data.mdl"


def test_data_is_interpolated_and_held_after_its_last_time():
    ds = sim.simulate(sim.load_model(EXTERNAL))
    arrivals = ds["arrivals"].isel(run=0)
    # the sheet: (0, 10), (2, 14), (5, 11), (8, 20), (10, 18)
    assert float(arrivals.sel(time=1.0)) == 12.0
    assert float(arrivals.sel(time=3.5)) == 12.5
    assert float(arrivals.sel(time=12.0)) == 18.0
    price = ds["price"].isel(run=0)  # the .csv: (0, 100), (3, 120), (6, 90), (12, 150)
    assert float(price.sel(time=1.5)) == 110.0
    # a column per region: the south's (0, 8), (4, 6), (10, 4)
    regional = ds["regional_arrivals"].isel(run=0).sel(region="south")
    assert float(regional.sel(time=2.0)) == 7.0
    assert float(regional.sel(time=12.0)) == 4.0


def test_constants_are_read_along_a_row_down_a_column_and_as_a_block():
    spec = sim.read_mdl(EXTERNAL)
    assert spec.element("scale").expr.value == 2.5
    assert spec.element("rate").expr.value == 0.04
    assert [spec.element(f"weights[{r}]").expr.value for r in ("north", "south", "east")] == [
        1.0,
        2.0,
        3.0,
    ]
    assert spec.element("shares[east]").expr.value == 0.125
    assert spec.element("table[high,south]").expr.value == 5.0


def test_the_model_hash_covers_the_files_it_reads(tmp_path):
    mdl = _copy_external(tmp_path)
    before = sim.read_mdl(mdl).sha256
    csv_file = tmp_path / "external_data.csv"
    csv_file.write_text(csv_file.read_text().replace("0,100", "0,101"))
    assert sim.read_mdl(mdl).sha256 != before


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("'external_data.csv', ',', 'A'", "'missing.csv', ',', 'A'", r"reads 'missing.csv'"),
        ("'inputs', 'D2'", "'nowhere', 'D2'", r"reads sheet 'nowhere'"),
        ("'inputs', 'D2'", "'inputs', 'A1'", r"holds 'year', not a number"),
        ("'inputs', 'D2'", "'inputs', 'my range'", r"named cell ranges are not supported"),
        ("arrivals:=", "arrivals :HOLD BACKWARD: :=", r"interpolates data"),
    ],
)
def test_bad_external_references_are_one_clear_error(tmp_path, old, new, message):
    mdl = _copy_external(tmp_path)
    text = mdl.read_text()
    assert old in text
    mdl.write_text(text.replace(old, new, 1))
    with pytest.raises(ModelError, match=message):
        sim.read_mdl(mdl)


def test_a_file_that_is_not_text_or_a_bad_delimiter_is_one_clear_error(tmp_path):
    mdl = _copy_external(tmp_path)
    (tmp_path / "external_data.csv").write_bytes(b"time,price\n0,\xff\xfe100\n")
    with pytest.raises(ModelError, match=r"cannot read 'external_data.csv' as text"):
        sim.read_mdl(mdl)
    _copy_external(tmp_path)
    mdl.write_text(
        mdl.read_text().replace("'external_data.csv', ','", "'external_data.csv', ';;'")
    )
    with pytest.raises(ModelError, match=r"give a one-character delimiter"):
        sim.read_mdl(mdl)


def test_a_data_variable_without_a_file_is_refused(tmp_path):
    mdl = write_mdl(tmp_path / "d.mdl", "y := 1 ~ dmnl ~ |")
    with pytest.raises(ModelError, match=r"'y' is a data variable without GET XLS DATA"):
        sim.read_mdl(mdl)


# --- control variables that change during the run --------------------------------------

CHANGING = MODELS / "changing_controls.mdl"


def test_time_step_and_saveper_follow_their_equations_and_final_time_its_condition():
    ds = sim.simulate(sim.load_model(CHANGING))
    # saved every half year to Time 4, then every year; the stock passes 50 after Time 8
    assert list(ds["time"].values) == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8]
    per_step = _one(ds, "per_step") / _one(ds, "growth")
    assert list(per_step[:6]) == [0.25] * 6  # TIME STEP in an equation: its value then
    assert list(per_step[-3:]) == [0.125] * 3


def test_each_run_stops_at_its_own_final_time_and_is_nan_after():
    ds = sim.simulate(sim.load_model(CHANGING), {"threshold": [30.0, 60.0, 100.0]})
    stock = ds["stock"].values[:, :]
    last = [int(np.flatnonzero(~np.isnan(stock[:, r]))[-1]) for r in range(3)]
    assert last[0] < last[1] < last[2]
    for r, threshold in enumerate([30.0, 60.0, 100.0]):
        assert stock[last[r], r] < threshold  # the last value saved before it passed
    assert ds["time"].values[-1] == 11.0  # the last run decides how long the grid goes


def test_changing_controls_refuse_what_needs_a_fixed_grid(tmp_path):
    model = sim.load_model(CHANGING)
    with pytest.raises(ParameterError, match="run it with method euler, not RK45"):
        sim.simulate(model, method="RK45")
    with pytest.raises(ParameterError, match="TIME STEP is an equation"):
        sim.simulate(model, time_step=0.1)
    with pytest.raises(ParameterError, match="yearly measures need a fixed time grid"):
        sim.engine.simulate.grid_times(model)
    bad = write_mdl(tmp_path / "b.mdl", "level = INTEG(1, 1) ~ widget ~ |")
    bad.write_text(bad.read_text().replace("TIME STEP = 0.25", "TIME STEP = 0.01 * level"))
    with pytest.raises(ModelError, match="TIME STEP depends on the model's state"):
        sim.load_model(bad)


# --- ALLOCATE AVAILABLE --------------------------------------------------------------

ALLOCATE = MODELS / "by_hand" / "allocate_available.mdl"


def test_allocate_available_agrees_with_pysd_to_its_solvers_tolerance(tmp_path):
    from pysd_reference import compare, pysd_run

    ours = sim.simulate(sim.load_model(ALLOCATE))
    # PySD solves for the priority level by least squares (about 1e-8); brainsim bisects
    assert compare(ours, pysd_run(ALLOCATE, tmp_path), rtol=1e-7, atol=1e-9) == []
    total = _one(ours, "total_shipped")
    assert np.allclose(total, np.minimum(_one(ours, "available"), 13.5), rtol=1e-12)


def test_allocate_available_with_rectangular_profiles_by_hand(tmp_path):
    # two requests of 3, rectangular profiles at priority 10 and 8, width 2, 4 available:
    # the first is met (3 for x <= 9), the second gets 3 (9 - x) / 2 = 1 at x = 9 - 2/3
    mdl = write_mdl(
        tmp_path / "a.mdl",
        "t: t1, t2 ~~|\np: kind, priority, width, extra ~~|\n"
        "request[t] = 3, 3 ~ widget ~ |\n"
        "profile[t, p] = 1, 10, 2, 0; 1, 8, 2, 0 ~ dmnl ~ |\n"
        "got[t] = ALLOCATE AVAILABLE(request[t], profile[t, p], 4) ~ widget ~ |",
        final=1,
        step=1,
    )
    got = sim.simulate(sim.load_model(mdl))["got"].isel(time=0, run=0).values
    assert got == pytest.approx([3.0, 1.0], rel=1e-12)
