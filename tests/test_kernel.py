"""The compiled Euler kernel: the numpy engine's numbers on every path, within the tolerance.

The README ("Same numbers on every path") states what is guaranteed: on
either engine a run's numbers do not depend on the batch it is in or the
processes it is split over, to the bit; the kernel and the numpy engine
agree to a relative 1e-10 (each calls a different ``exp`` and ``pow``, a
unit in the last place apart).
"""

import numpy as np
import pytest

import sim
from sim.engine import simulate as engine
from sim.engine.errors import ParameterError, SimulationError
from sim.engine.simulate import choose_engine, integrate
from sim.studies.calibrate import read_ensemble

from conftest import MODELS, ROOT, write_mdl

RTOL, ATOL = 1e-10, 1e-12  # the README's tolerance between the two engines
BRAIN = ROOT / "model" / "brain_circulation.mdl"
OUTPUTS = [
    "international students in japan",
    "international students in higher education by origin counted",
    "japanese degree students abroad by destination",
    "researchers dispatched per year",
    "japan rank among origins in the us",
]


def _close(a, b) -> bool:
    return np.allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.fixture(scope="module")
def brain():
    return sim.load_model(BRAIN)


@pytest.fixture(scope="module")
def thousand(brain):
    """1,000 parameter sets: the ensemble's members, repeated with a lever moved."""
    _, names, values = read_ensemble(ROOT / "model" / "ensemble.csv", brain)
    idx = np.arange(1000) % values.shape[0]
    params = {name: values[idx, j] for j, name in enumerate(names)}
    params["scholarship coverage target"] = np.linspace(0.0, 0.4, 1000)
    return params


@pytest.fixture(scope="module")
def kernel_all(brain, thousand):
    return integrate(brain, thousand, outputs=OUTPUTS, engine="kernel", workers=1).values


def _part(params, a, b):
    return {k: v[a:b] for k, v in params.items()}


def test_the_brain_model_runs_on_the_kernel_by_default(brain):
    assert choose_engine(brain, "euler") == "kernel"
    assert choose_engine(brain, "rk4") == "numpy"


def test_kernel_runs_one_at_a_time_in_sevens_and_on_two_processes_are_identical(
    brain, thousand, kernel_all, monkeypatch
):
    for i in range(1000):
        one = integrate(brain, _part(thousand, i, i + 1), outputs=OUTPUTS, engine="kernel")
        assert np.array_equal(one.values[:, :, 0], kernel_all[:, :, i]), f"run {i}"
    for a in range(0, 1000, 7):
        seven = integrate(brain, _part(thousand, a, a + 7), outputs=OUTPUTS, engine="kernel")
        assert np.array_equal(seven.values, kernel_all[:, :, a : a + 7]), f"runs {a}-{a + 6}"
    monkeypatch.setattr(engine, "_MIN_CHUNK", 100)  # 1,000 runs over 2 forked processes
    split = integrate(brain, thousand, outputs=OUTPUTS, engine="kernel", workers=2)
    assert np.array_equal(split.values, kernel_all)


def test_numpy_runs_alone_or_in_sevens_equal_the_batch_and_the_kernel(brain, thousand, kernel_all):
    batch = integrate(brain, thousand, outputs=OUTPUTS, engine="numpy", workers=1).values
    assert _close(batch, kernel_all)
    assert not np.array_equal(batch, kernel_all), "two engines, two exp's: expected ulps apart"
    for i in (0, 678, 999):  # a numpy run alone takes over a second
        one = integrate(brain, _part(thousand, i, i + 1), outputs=OUTPUTS, engine="numpy")
        assert np.array_equal(one.values[:, :, 0], batch[:, :, i]), f"run {i}"
    for a in (343, 994):
        seven = integrate(brain, _part(thousand, a, a + 7), outputs=OUTPUTS, engine="numpy")
        assert np.array_equal(seven.values, batch[:, :, a : a + 7]), f"runs {a}-{a + 6}"


def test_every_output_of_the_brain_model_matches_numpy(brain):
    kernel, numpy = (integrate(brain, engine=e) for e in ("kernel", "numpy"))
    assert kernel.outputs == numpy.outputs
    assert _close(kernel.values, numpy.values)


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.mdl")), ids=lambda p: p.stem)
def test_every_test_model_with_a_kernel_matches_numpy(path):
    model = sim.load_model(path)
    if not model.kernel_source:
        with pytest.raises(ParameterError, match="no compiled kernel"):
            integrate(model, engine="kernel")
        return
    kernel, numpy = (integrate(model, engine=e) for e in ("kernel", "numpy"))
    assert _close(kernel.values, numpy.values), path.name


def test_a_run_that_turns_nan_in_the_kernel_is_named_as_numpy_names_it(tmp_path):
    mdl = write_mdl(
        tmp_path / "nan.mdl",
        """
level = INTEG(1 / (cutoff - Time), 0)
~ widget ~ |
cutoff = 4 ~ Year [1, 8] ~ |
""",
    )
    model = sim.load_model(mdl)
    assert model.kernel_source
    params = {"cutoff": np.array([8.0, 8.0, 4.0])}  # the third run divides by zero at 4
    messages = []
    for name in ("kernel", "numpy"):
        with pytest.raises(SimulationError) as err:
            integrate(model, params, engine=name)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert "'level'" in messages[0]
    assert "(run 2)" in messages[0]
    assert "time 4" in messages[0]


def test_a_run_that_turns_nan_in_the_kernel_keeps_its_states_and_sums_as_given(tmp_path):
    """What the replay in numpy starts from: the same block of runs, views or not."""
    from sim.engine import kernel
    from sim.engine.simulate import grid_times

    mdl = write_mdl(
        tmp_path / "nan.mdl",
        "level = INTEG(1 / (cutoff - Time), 3) ~ widget ~ |\ncutoff = 4 ~ Year [1, 50] ~ |",
    )
    model = sim.load_model(mdl)
    grid = grid_times(model)
    c = np.array([[20.0, 4.0, 30.0]])  # the second run divides by zero at time 4
    states = np.full((1, 3), 3.0)  # contiguous: a block of all three is the whole array
    acc = np.full((1, 1, 3), 7.0)
    ptr = np.arange(len(grid) + 1)
    rows = np.zeros((len(grid), 3), dtype=np.int64)
    rows[:, 2] = 1
    ctl = [*(float(model.controls[k]) for k in ("initial_time", "final_time")), 0.0, 0.0, 0.0]
    ctl[2] = ctl[3] = float(model.controls["time_step"])
    span = (0, len(grid), 1)
    entries = (ptr, rows, np.full(len(grid), 0.5))
    keep = [("", "state", 0)]
    bad = kernel.accumulate(model, c, states, [], grid, ctl, span, entries, keep, acc)
    assert bad.tolist() == [False, True, False]
    assert states[0, 1] == 3.0  # as given
    assert acc[0, 0, 1] == 7.0
    assert (states[0, [0, 2]] > 3.0).all()  # the others went on
    assert (acc[0, 0, [0, 2]] > 7.0).all()


def test_the_kernel_can_be_turned_off(brain, monkeypatch):
    monkeypatch.setenv("BRAINSIM_KERNEL", "off")
    assert choose_engine(brain, "euler") == "numpy"
    with pytest.raises(ParameterError, match="unknown engine 'fast'"):
        integrate(brain, engine="fast")


def test_a_cache_folder_that_cannot_be_written_still_gives_the_kernel(tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    monkeypatch.setenv("BRAINSIM_CACHE", str(blocker / "cache"))
    mdl = write_mdl(
        tmp_path / "growth.mdl",
        "level = INTEG(level * 0.0371, 2) ~ widget ~ |",  # a rate no other test compiles
    )
    model = sim.load_model(mdl)
    kernel, numpy = (integrate(model, engine=e) for e in ("kernel", "numpy"))
    assert _close(kernel.values, numpy.values)
    assert kernel.values[-1, 0, 0] > 2


def test_a_kernel_numba_cannot_type_falls_back_to_numpy_not_a_traceback():
    import dataclasses

    model = sim.load_model(MODELS / "exponential_decay.mdl")
    broken = model.kernel_source.replace(
        "    last = grid.shape[0] - 1", "    last = grid.shape[0] - 1\n    _typo = 'a' + 1.0", 1
    )
    assert broken != model.kernel_source
    model = dataclasses.replace(model, kernel_source=broken)
    kernel, numpy = (integrate(model, engine=e) for e in ("kernel", "numpy"))
    assert np.array_equal(kernel.values, numpy.values)


def test_a_lookup_in_the_kernel_is_numpy_interp_to_the_bit():
    """Below, at, between and above the points, NaN, and a one-point table, read by address."""
    from sim.engine.kernel import _interp

    xs = np.array([7.0, 0.0, 1.0, 2.5, 4.0, 10.0])  # a one-point table, then a five-point one
    ys = np.array([3.0, 1.0, -2.0, 0.5, np.inf, 8.0])
    px, py = xs.ctypes.data, ys.ctypes.data
    probes = [-1.0, 0.0, 0.3, 1.0, 2.0, 2.5, 3.9, 4.0, 7.0, 10.0, 11.0, np.nan]
    for x in probes:
        want = np.interp(x, xs[1:], ys[1:])
        assert np.array_equal(_interp(x, px, py, 1, 6), want, equal_nan=True), x
        assert _interp(x, px, py, 0, 1) == 3.0 or np.isnan(x)


def test_the_floor_benchmark_counts_a_steps_divisions_powers_and_exps(tmp_path):
    """What bounds the kernel's runs/s (benchmarks/bench_floor.py), on a model counted by hand."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_floor", ROOT / "benchmarks" / "bench_floor.py"
    )
    floor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(floor)
    mdl = write_mdl(
        tmp_path / "ops.mdl",
        """
level = INTEG(level / lag + ZIDZ(level, half) + level ^ shape - EXP(-level), 1)
~ widget ~ |
half = level / 2 ~ widget ~ |
lag = 3 ~ Year [1, 8] ~ |
shape = 0.5 ~ Dmnl [0, 1] ~ |
""",
    )
    counts = floor.operation_counts(sim.load_model(mdl).kernel_source)
    # by a run constant: level / lag, level / 2; not: ZIDZ's level / half
    assert counts == {"divide": 3, "divide_by_run_constant": 2, "power": 1, "exp": 1, "log": 0}
