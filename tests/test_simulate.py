"""simulate(): the Dataset it returns, ensembles, parameters, and solver errors."""

import numpy as np
import pytest
import xarray as xr

import sim
from sim.engine.errors import ParameterError, SimulationError

from conftest import MODELS, ROOT, write_mdl


def _sample(model, n, names, seed):
    rng = np.random.default_rng(seed)
    params = {}
    for name in names:
        lo, hi = model.spec.element(name).limits
        params[name] = rng.uniform(lo, hi, n)
    return params


@pytest.mark.parametrize(
    ("file", "names", "time_step"),
    [
        # a tenth of the steps keeps 1,000 single runs quick; exactness does not need more
        (
            "bench_ten_stocks.mdl",
            [
                "fertility rate",
                "land yield",
                "capital lifetime",
                "food perception time",
                "policy year",
            ],
            0.5,
        ),
        ("math_functions.mdl", None, None),
    ],
)
def test_ensemble_equals_single_runs_exactly(file, names, time_step):
    model = sim.load_model(MODELS / file)
    names = names or [model.spec.element(k).name for k in model.param_keys]
    params = _sample(model, 1000, names, seed=7)
    together = sim.simulate(model, params, time_step=time_step)
    assert together.sizes["run"] == 1000
    for i in range(0, 1000, 4):  # every fourth: tests/test_kernel.py runs 1,000 alone
        alone = sim.simulate(model, {k: v[i] for k, v in params.items()}, time_step=time_step)
        for var in together.data_vars:
            a = together[var].isel(run=i).values
            b = alone[var].isel(run=0).values
            assert np.array_equal(a, b), (i, var)


def test_worker_processes_give_the_same_result():
    model = sim.load_model(MODELS / "bench_ten_stocks.mdl")
    params = _sample(model, 4500, ["fertility rate", "land yield"], seed=3)
    one = sim.simulate(model, params, time_step=0.25, workers=1)
    two = sim.simulate(model, params, time_step=0.25, workers=2)
    xr.testing.assert_identical(one.drop_attrs(), two.drop_attrs())


def test_an_error_in_a_worker_process_reaches_the_caller(tmp_path):
    mdl = write_mdl(
        tmp_path / "nan.mdl",
        "k = 1 ~ dmnl [0, 10] ~ |\nx = LN(k - Time / 5) ~ dmnl ~ |",
        step=0.5,
    )
    model = sim.load_model(mdl)
    k = np.full(4000, 10.0)
    k[3999] = 1.0  # only the last run, in the second process, fails (at time 5)
    with pytest.raises(
        SimulationError, match=r"'x' became NaN or infinite at time 5 \(run 3999\)"
    ):
        sim.simulate(model, {"k": k}, workers=2)


def test_dataset_layout_and_attributes():
    model = sim.load_model(MODELS / "migration_chain.mdl")
    ds = sim.simulate(model, scenario="test", seed=5)
    assert ds["time"].dims == ("time",)
    stock = model.spec.of_kind("stock")[0]
    var = ds[stock.py_name]
    assert var.dims == ("time", "run")
    assert var.attrs["vensim_name"] == stock.name
    assert var.attrs["kind"] == "stock"
    assert var.attrs["units"] == stock.units
    for key in (
        "model_sha256",
        "params_sha256",
        "method",
        "time_step",
        "saveper",
        "brainsim_version",
        "created",
    ):
        assert ds.attrs[key] != ""
    assert ds.attrs["scenario"] == "test"
    assert ds.attrs["seed"] == 5
    assert ds.attrs["time_step"] == model.controls["time_step"]


def test_outputs_keeps_only_what_is_asked():
    model = sim.load_model(MODELS / "migration_chain.mdl")
    stock = model.spec.of_kind("stock")[0]
    ds = sim.simulate(model, outputs=[stock.name])
    assert list(ds.data_vars) == [stock.py_name]
    full = sim.simulate(model)
    assert np.array_equal(ds[stock.py_name], full[stock.py_name])


def test_python_and_vensim_names_are_both_accepted():
    model = sim.load_model(MODELS / "exponential_decay.mdl")
    a = sim.simulate(model, {"decay time": 8.0})
    b = sim.simulate(model, {"decay_time": 8.0})
    c = sim.simulate(model, {"Decay Time": 8.0})
    assert np.array_equal(a["stock"], b["stock"])
    assert np.array_equal(a["stock"], c["stock"])


def test_parameter_errors():
    model = sim.load_model(MODELS / "exponential_decay.mdl")
    with pytest.raises(ParameterError, match="different lengths"):
        sim.simulate(model, {"decay time": [1.0, 2.0], "initial stock": [1.0, 2.0, 3.0]})
    with pytest.raises(ParameterError, match="outside its range"):
        sim.simulate(model, {"decay time": [5.0, 500.0]})
    with pytest.raises(ParameterError, match="NaN or infinite"):
        sim.simulate(model, {"decay time": [5.0, np.nan]})
    with pytest.raises(ParameterError, match="unknown method"):
        sim.simulate(model, method="heun")


def test_lookup_table_override(tmp_path):
    mdl = write_mdl(
        tmp_path / "lk.mdl",
        """
curve([(0,0)-(10,10)],(0,1),(10,1)) ~ dmnl ~ |
level = curve(Time) ~ dmnl ~ |
""",
    )
    model = sim.load_model(mdl)
    base = sim.simulate(model)
    moved = sim.simulate(model, tables={"curve": ([0, 10], [0, 10])})
    assert np.all(base["level"] == 1)
    assert np.allclose(moved["level"].isel(run=0), moved.time)


def test_nan_names_first_variable_and_time(tmp_path):
    mdl = write_mdl(
        tmp_path / "nan.mdl",
        """
pool = INTEG(inflow, 1) ~ person ~ |
inflow = LN(3 - Time) ~ person/Year ~ |
""",
        step=0.5,
    )
    with pytest.raises(SimulationError, match=r"'inflow' became NaN or infinite at time 3\b"):
        sim.simulate(sim.load_model(mdl))


def test_solver_failure_is_our_error_with_status_and_time(tmp_path):
    mdl = write_mdl(
        tmp_path / "blowup.mdl",
        "x = INTEG(x * x, 1) ~ dmnl ~ |",  # dx/dt = x^2 reaches infinity at t = 1
        final=2,
    )
    with pytest.raises(
        SimulationError, match=r"solve_ivp \(RK45\) failed with status -1 at time (0\.99\d*|1):"
    ):
        sim.simulate(sim.load_model(mdl), method="RK45")


def test_a_delay_shorter_than_its_stages_runs_as_vensim_writes_it(tmp_path):
    # Vensim runs DELAY3 as three first-order stages of delay / 3 each, whatever TIME STEP
    # (PySD lowers the order instead); here each stage's outflow takes 1.5 times its content
    # a step, so the output overshoots, as it does in Vensim
    mdl = write_mdl(
        tmp_path / "d.mdl",
        "late = DELAY3(inflow, 0.5) ~ widget ~ |\ninflow = 1 + STEP(1, 1) ~ widget ~ |",
        step=0.25,
        final=4,
        saveper=0.25,
    )
    ds = sim.simulate(sim.load_model(mdl), outputs=["late"])
    dt, stage_time = 0.25, 0.5 / 3
    levels = [stage_time * 1.0] * 3
    expected = []
    for k in range(17):
        t = k * dt
        rates = [lv / stage_time for lv in levels]
        expected.append(rates[2])
        inflow = 1 + (1 if t >= 1 - 1e-9 else 0)
        levels = [
            levels[0] + dt * (inflow - rates[0]),
            levels[1] + dt * (rates[0] - rates[1]),
            levels[2] + dt * (rates[1] - rates[2]),
        ]
    got = ds["late"].values[:, 0]
    assert np.allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert got.max() > 2  # the overshoot a short delay gives in Vensim


def test_constants_computed_at_initialization_come_back_from_every_worker(monkeypatch):
    from sim.engine import simulate as engine

    monkeypatch.setattr(engine, "_MIN_CHUNK", 200)  # 410 runs over two processes
    model = sim.load_model(ROOT / "model" / "brain_circulation.mdl")
    rng = np.random.default_rng(3)
    params = {"scholarship coverage target": rng.uniform(0, 1, 410)}
    kept = ["international students in japan"]  # the constants come back whatever is kept
    one = sim.integrate(model, params, workers=1, outputs=kept)
    two = sim.integrate(model, params, workers=2, outputs=kept)
    assert np.array_equal(one.constants, two.constants, equal_nan=True)


def test_a_call_whose_saved_values_and_their_copies_do_not_fit_is_refused_first(monkeypatch):
    """Every output of 4,000 brain-model runs is about 1.5 GB, 2.2 GB with its copies."""
    from sim.engine import budget
    from sim.engine.errors import BrainsimError
    from sim.engine.simulate import _check_size

    model = sim.load_model(ROOT / "model" / "brain_circulation.mdl")
    monkeypatch.setattr(budget, "available_memory", lambda: 4 << 30)  # 2 GB for a study
    params = {"scholarship coverage target": np.full(4000, 0.1)}
    with pytest.raises(BrainsimError, match=r"4,000 runs would need about 2\.\d+ GB") as err:
        sim.simulate(model, params)
    assert "outputs=" in str(err.value)
    # the same runs keeping the target outputs fit
    _check_size(model, model.controls, 4000, 30)


def test_runs_cut_into_parts_by_memory_give_the_same_bits_and_constants(monkeypatch):
    from sim.engine import simulate as engine

    model = sim.load_model(MODELS / "subscript_dynamics.mdl")
    params = {"smoothing time[north]": np.linspace(0.5, 6, 60)}
    whole = engine.integrate(model, params, workers=2)  # 60 runs: one part
    per_run = 8 * whole.values.shape[0] * whole.values.shape[1]
    monkeypatch.setattr(engine, "PART_BYTES", 3 * per_run)  # three runs a part
    edges = engine._part_edges(60, 2, per_run)
    assert len(edges) == 21
    assert np.all(np.diff(edges) == 3)
    cut = engine.integrate(model, params, workers=2)
    assert np.array_equal(cut.values, whole.values)
    assert np.array_equal(cut.constants, whole.constants)


def test_an_array_s_dataset_variable_is_a_view_of_the_saved_values_element_by_element():
    from sim.engine.names import python_name
    from sim.engine.simulate import integrate, to_dataset

    model = sim.load_model(MODELS / "subscript_dynamics.mdl")
    result = integrate(model)
    ds = to_dataset(result)
    assert np.shares_memory(ds["population"].values, result.values)  # not a copy
    ranges = model.spec.ranges
    checked = 0
    for j, (key, _, _) in enumerate(result.outputs):
        el = model.spec.element(key)
        if not el.coords:
            continue
        at = {python_name(ranges.label(r)): ranges.label(e) for r, e in el.coords}
        got = ds[python_name(el.name.partition("[")[0])].sel(at).values
        np.testing.assert_array_equal(got, result.series(j), err_msg=el.name)
        checked += 1
    assert checked > 20
