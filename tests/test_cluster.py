"""Studies on a Dask cluster (``--cluster local:2``) give the local pool's results to the bit.

Includes a worker that dies in the middle of its chunk: Dask runs the chunk
again on another worker and the study's result does not change.
"""

import os
import sys
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

    def map(self, func, parts, shared):
        return super().map(_dies_once, parts, (func, shared, self.marker))


@pytest.fixture(scope="module")
def model():
    return sim.load_model(ROOT / "model" / "brain_circulation.mdl")


def test_compare_on_a_local_cluster_writes_the_pool_s_results_to_the_bit(run_cli, tmp_path):
    outs = {}
    for name, extra in (("pool", []), ("cluster", ["--cluster", "local:2"])):
        outs[name] = tmp_path / name
        status, _, err = run_cli("compare", *SCENARIOS, "--out", outs[name], *extra, cwd=ROOT)
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


def test_a_worker_killed_mid_study_still_gives_the_identical_result(model, tmp_path):
    scenarios = [load_scenario(p, model) for p in SCENARIOS]
    timing = output_timing(model)
    here = run_scenarios(scenarios, model, timing, ROOT, workers=2)
    with connect("local:2") as cluster:
        dying = _DyingCluster(cluster.client)
        dying.marker = str(tmp_path / "died")
        there = run_scenarios(scenarios, model, timing, ROOT, workers=dying)
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
