"""Studies on a Dask cluster (``--cluster local:2``) give the local pool's results to the bit.

Includes a worker that dies in the middle of its chunk: Dask runs the chunk
again on another worker and the study's result does not change.
"""

import os
import signal
import sys
import time
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import xarray as xr

import sim
from sim.engine.cluster import Cluster, connect
from sim.studies.runner import output_timing, run_scenarios
from sim.studies.scenario import load_scenario

ROOT = Path(__file__).parent.parent
SCENARIOS = [ROOT / "scenarios" / f"{n}.yaml" for n in ("baseline", "jmirai-package")]

# the dying function below is sent to the workers by value: they cannot import this file
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _dies_once(part, bundle):
    """Run ``func(part, shared)``, but first kill this worker if nobody has died yet."""
    func, shared, marker = bundle
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL)  # only the first chunk to get here
    except FileExistsError:
        return func(part, shared)
    os.close(fd)
    os._exit(1)


class _DyingCluster(Cluster):
    """A cluster on which the first chunk kills its worker mid-study."""

    marker: str = ""

    def map(self, func, parts, shared, progress=None, each=None):
        return super().map(_dies_once, parts, (func, shared, self.marker), progress, each)


@pytest.fixture(scope="module")
def model():
    return sim.load_model(ROOT / "model" / "brain_circulation.mdl")


def _scenarios(root: Path) -> list:
    return [root / "scenarios" / p.name for p in SCENARIOS]


def test_compare_on_a_local_cluster_writes_the_pool_s_results_to_the_bit(
    run_cli, tmp_path, small_project
):
    outs = {}
    paths = _scenarios(small_project)
    for name, extra in (("pool", []), ("cluster", ["--cluster", "local:2"])):
        outs[name] = tmp_path / name
        status, _, err = run_cli("compare", *paths, "--out", outs[name], *extra, cwd=small_project)
        assert status == 0, err
    with (
        xr.open_dataset(outs["pool"] / "results.nc") as a,
        xr.open_dataset(outs["cluster"] / "results.nc") as b,
    ):
        assert set(a.data_vars) == set(b.data_vars)
        for var in a.data_vars:
            np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
    for name in ("targets.csv", "quantiles.csv"):
        assert (outs["pool"] / name).read_bytes() == (outs["cluster"] / name).read_bytes()


def test_a_worker_killed_mid_study_still_gives_the_identical_result(
    model, tmp_path, small_project
):
    scenarios = [load_scenario(p, model) for p in _scenarios(small_project)]
    timing = output_timing(model)
    here = run_scenarios(scenarios, model, timing, small_project, workers=2)
    with connect("local:2") as cluster:
        dying = _DyingCluster(cluster.client)
        dying.marker = str(tmp_path / "died")
        there = run_scenarios(scenarios, model, timing, small_project, workers=dying)
    assert (tmp_path / "died").exists(), "a worker did die"
    for a, b in zip(here, there, strict=True):
        for key in a.values:
            np.testing.assert_array_equal(a.values[key], b.values[key], err_msg=key)


@pytest.mark.parametrize("address", ["local:0", "local:two", "not-an-address"])
def test_a_bad_cluster_address_is_one_line_and_exit_2(run_cli, tmp_path, address):
    status, _, err = run_cli(
        "run", SCENARIOS[0], "--out", tmp_path / "out", "--cluster", address, cwd=ROOT
    )
    assert status == 2
    assert err.strip().count("\n") == 0
    assert "local:2" in err
    assert not (tmp_path / "out").exists()


def test_a_sobol_sweep_on_a_local_cluster_equals_the_pool_s_to_the_bit(run_cli, tmp_path):
    args = ["sweep", SCENARIOS[0], "--method", "sobol", "-n", "64"]
    args += ["--params", "scholarship coverage", "researcher fellowships"]
    for name, extra in (("pool", []), ("cluster", ["--cluster", "local:2"])):
        status, _, err = run_cli(*args, "--out", tmp_path / name, *extra, cwd=ROOT)
        assert status == 0, err
    with (
        xr.open_dataset(tmp_path / "pool" / "sweep.nc") as a,
        xr.open_dataset(tmp_path / "cluster" / "sweep.nc") as b,
    ):
        for var in a.data_vars:
            np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
    assert (tmp_path / "pool" / "indices.csv").read_bytes() == (
        tmp_path / "cluster" / "indices.csv"
    ).read_bytes()


@pytest.fixture(scope="module")
def cluster():
    with connect("local:2") as c:
        yield c


def test_a_calibration_s_prior_sample_and_bands_on_a_cluster_equal_the_pool_s(
    model, cluster, monkeypatch
):
    from sim.engine import simulate
    from sim.studies import calibrate as cal
    from sim.studies.history import load_history

    observations = load_history(
        ROOT / "model" / "history.csv", [el.name for el in model.spec.elements]
    )
    problem = cal.make_problem(model, observations)
    defaults = [
        model.defaults[model.param_keys.index(model.spec.element(n).key)] for n in problem.names
    ]
    best = cal.linearised(problem, defaults)
    # 600 draws: two parts of 300 runs, one per worker
    monkeypatch.setattr(simulate, "_MIN_CHUNK", 300)
    kw = {"samples": 600, "seed": 3, "chunk": 600, "full_range_check": 0}
    here = cal.ensemble(problem, best, workers=None, **kw)
    there = cal.ensemble(problem, best, workers=cluster, **kw)
    np.testing.assert_array_equal(here.costs, there.costs)
    np.testing.assert_array_equal(here.values, there.values)
    assert here.passed > 0
    timing = {"international students in japan": "may1"}
    assert cal.bands(model, here.names, here.values, timing, None) == cal.bands(
        model, here.names, here.values, timing, cluster
    )
    assert cal.coverage(problem, here.values, None) == cal.coverage(problem, here.values, cluster)


def test_a_streamed_sweep_on_a_cluster_gives_the_held_sweep_s_indices(
    model, cluster, tmp_path, monkeypatch
):
    from sim.studies import store
    from sim.studies.runner import output_timing
    from sim.studies.sweep import factors_for, run_sweep

    # blocks smaller than the chunks, so that chunks straddle blocks and arrive out of order
    monkeypatch.setattr(store, "BLOCK", 75)
    scenario = load_scenario(SCENARIOS[0], model)
    factors = factors_for(scenario, model, ["scholarship coverage", "researcher fellowships"])
    timing = dict(list(output_timing(model).items())[:3])
    held = run_sweep(scenario, model, timing, "sobol", 128, 5, factors, workers=2)
    ticks = []
    streamed = run_sweep(
        scenario,
        model,
        timing,
        "sobol",
        128,
        5,
        factors,
        workers=cluster,
        store=tmp_path / "sweep.nc",
        progress=lambda done, total: ticks.append((done, total)),
    )
    assert streamed.values == {}
    assert streamed.runs == held.runs == 512
    assert ticks[-1][0] == ticks[-1][1] > 1, "progress reached every chunk on the cluster"
    assert held.indices.keys() == streamed.indices.keys()
    for key, found in held.indices.items():
        for index, arr in found.items():
            np.testing.assert_array_equal(
                arr, streamed.indices[key][index], err_msg=f"{key} {index}"
            )
    with xr.open_dataset(tmp_path / "sweep.nc") as ds:
        for j, name in enumerate(timing):
            np.testing.assert_array_equal(ds["value"].values[j], held.values[name])
        assert ds.attrs["model_sha256"] == model.spec.sha256
        design = ds["design"].values
    assert design.shape == (512, 2)
    assert not np.isnan(design).any()


def test_a_run_store_takes_chunks_in_any_order_and_refuses_a_missing_one(tmp_path, monkeypatch):
    from sim.studies import store

    monkeypatch.setattr(store, "BLOCK", 4)
    years = np.arange(2000, 2003)
    rs = store.RunStore.create(tmp_path / "s.nc", ["a", "b"], years, ["p"], 10, {"method": "x"})
    full = np.arange(2 * 3 * 10, dtype=float).reshape(2, 3, 10)
    for first, end in ((7, 10), (0, 3), (3, 7)):
        values = {"a": full[0, :, first:end], "b": full[1, :, first:end]}
        rs.add(first, end, values, np.arange(first, end, dtype=float)[:, None])
    rs.close()
    with xr.open_dataset(tmp_path / "s.nc") as ds:
        np.testing.assert_array_equal(ds["value"].values, full)
        np.testing.assert_array_equal(ds["design"].values[:, 0], np.arange(10.0))
    np.testing.assert_array_equal(store.read_values(tmp_path / "s.nc", 1, 2), full[1, 2])
    rs = store.RunStore.create(tmp_path / "t.nc", ["a"], years, ["p"], 10, {})
    rs.add(0, 3, {"a": full[0, :, :3]}, np.zeros((3, 1)))
    with pytest.raises(RuntimeError, match="never measured"):
        rs.close()


def test_sweep_stream_writes_the_same_indices_as_a_held_sweep(run_cli, tmp_path):
    args = ["sweep", SCENARIOS[0], "--method", "lhs", "-n", "40"]
    args += ["--params", "scholarship coverage", "researcher fellowships"]
    for name, extra in (("held", []), ("streamed", ["--stream"])):
        status, out, err = run_cli(*args, "--out", tmp_path / name, *extra, cwd=ROOT)
        assert status == 0, err
    for name in ("indices.csv", "bands.csv"):
        assert (tmp_path / "held" / name).read_bytes() == (
            tmp_path / "streamed" / name
        ).read_bytes()
    with (
        xr.open_dataset(tmp_path / "held" / "sweep.nc") as a,
        xr.open_dataset(tmp_path / "streamed" / "sweep.nc") as b,
    ):
        assert set(a.data_vars) == set(b.data_vars)
        # the held file rounds the values to float32; the streamed one keeps them
        np.testing.assert_array_equal(a["value"].values, b["value"].values.astype(np.float32))
        np.testing.assert_array_equal(a["design"].values, b["design"].values)
        np.testing.assert_array_equal(a["rank_corr"].values, b["rank_corr"].values)
        assert {k: v for k, v in a.attrs.items() if k != "command"} == {
            k: v for k, v in b.attrs.items() if k != "command"
        }
        assert "--stream" in b.attrs["command"]


def test_the_explorer_s_runs_on_a_cluster_equal_those_made_here(model, cluster, small_project):
    from sim.studies.live import LiveRuns

    base = load_scenario(_scenarios(small_project)[0], model)
    here = LiveRuns(model, base, small_project)
    there = LiveRuns(model, base, small_project, workers=cluster)
    # a policy: carried on from the stem by both workers; a yen path: run whole there
    for name in ("expanded-scholarships", "weak-yen"):
        scenario = load_scenario(small_project / "scenarios" / f"{name}.yaml", model)
        a, b = here.run(scenario), there.run(scenario)
        for key, arr in a.values.items():
            np.testing.assert_array_equal(arr, b.values[key], err_msg=f"{name}: {key}")


def test_a_portfolio_search_on_a_cluster_finds_the_same_split(cluster, tmp_path):
    import yaml

    from sim.studies.goal import parse_goal
    from sim.studies.portfolio import allocate

    small = sim.load_model(ROOT / "tests" / "data" / "budgets" / "two_funds.mdl")
    doc = {"name": "base", "uncertainty": "none"}
    doc["title"], doc["description"] = {"en": "b", "ja": "b"}, {"en": "b", "ja": "b"}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    scenario = load_scenario(tmp_path / "base.yaml", small)
    goal = parse_goal("dispatches@2030>=138.5", small)
    found = [
        allocate(
            scenario,
            small,
            tmp_path,
            ["fellowship fund", "exchange fund"],
            10,
            [goal],
            seed=1,
            popsize=4,
            maxiter=3,
            workers=workers,
        )
        for workers in (None, cluster)
    ]
    assert found[0].budgets_oku == found[1].budgets_oku
    assert found[0].probabilities == found[1].probabilities


def _plus(part, shared):
    return part + shared["add"]


class _LosingCluster(Cluster):
    """A cluster whose first copy of the shared data is on one worker only, which then dies."""

    scattered: int = 0

    def scatter(self, value):
        self.scattered += 1
        if self.scattered > 1:
            return super().scatter(value)
        holder = sorted(self.client.scheduler_info(n_workers=-1)["workers"])[0]
        future = self.client.scatter(value, workers=[holder], broadcast=False, hash=False)
        pid = self.client.run(os.getpid, workers=[holder])[holder]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while holder in self.client.scheduler_info(n_workers=-1)["workers"]:
            assert time.monotonic() < deadline, "the scheduler saw the worker die"
            time.sleep(0.05)
        return future


def test_shared_data_lost_with_its_worker_is_sent_again_and_every_part_still_runs():
    with connect("local:2") as cluster:
        losing = _LosingCluster(cluster.client)
        got = losing.map(_plus, list(range(10)), {"add": 100})
    assert losing.scattered == 2, "the shared data was sent a second time"
    assert got == [100 + k for k in range(10)]


def _always_dies(part, shared):
    os._exit(1)


def test_a_chunk_that_kills_every_worker_it_runs_on_is_one_line():
    import dask

    from sim.engine.errors import BrainsimError

    # the memory manager off, so that the shared data outlives the deaths and Dask itself
    # gives up on the chunk (KilledWorker) rather than the data being lost first
    amm_off = {"distributed.scheduler.active-memory-manager.start": False}
    dies = pytest.raises(BrainsimError, match=r"killed every cluster worker")
    with dask.config.set(amm_off), connect("local:4") as cluster, dies as err:
        cluster.map(_always_dies, [0], (1,))
    assert "\n" not in str(err.value)
