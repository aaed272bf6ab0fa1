"""Throughput of the ensemble engine against PySD on the same model and runs.

Prints one JSON line: runs per second of brainsim at 1, 1,000 and 10,000
runs (Euler, the model's TIME STEP), of PySD running the same parameter sets
one after another in the same process, and their ratio. Both keep the same
outputs: every stock at every SAVEPER.

Usage: python benchmarks/bench_engine.py [--pysd-runs 5] [--model PATH]

The subscripted benchmark (30 regions x 5 stocks, SUM over regions, a
subscripted DELAY3): ``--model benchmarks/models/bench_regions.mdl``.
"""

import argparse
import json
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import sim

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "tests" / "data" / "models" / "bench_ten_stocks.mdl"


def sample(model, n, seed=20261127):
    """Parameter sets drawn uniformly within each constant's .mdl range."""
    rng = np.random.default_rng(seed)
    params = {}
    for key in model.param_keys:
        el = model.spec.element(key)
        lo, hi = el.limits
        if lo is not None and hi is not None:
            params[el.name] = rng.uniform(lo, hi, n)
    return params


def time_ours(model, params, outputs, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        ds = sim.simulate(model, params, outputs=outputs)
        best = min(best, time.perf_counter() - start)
    return best, ds


def column(model, ds, name, i):
    """Run ``i`` of output ``name`` (an element of an array too) from the Dataset."""
    from sim.engine.names import python_name

    el = model.spec.element(name)
    if not el.coords:
        return ds[el.py_name].isel(run=i).values
    label = model.spec.ranges.label
    where = {python_name(label(r)): label(e) for r, e in el.coords}
    return ds[python_name(el.name.partition("[")[0])].sel(where).isel(run=i).values


def time_pysd(mdl, params, outputs, n):
    import pysd

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copy = Path(tmp) / mdl.name
        shutil.copy(mdl, copy)
        model = pysd.read_vensim(str(copy))
        results = []
        start = time.perf_counter()
        for i in range(n):
            run = {k: float(v[i]) for k, v in params.items()}
            results.append(model.run(params=run, return_columns=outputs))
        elapsed = time.perf_counter() - start
    return elapsed / n, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--pysd-runs", type=int, default=3)
    args = parser.parse_args()

    model = sim.load_model(args.model)
    outputs = [el.name for el in model.spec.of_kind("stock")]
    ours = {}
    for n, repeat in ((1, 5), (1000, 3), (10000, 2)):
        params = sample(model, n)
        seconds, ds = time_ours(model, params, outputs, repeat)
        ours[n] = n / seconds
    params = sample(model, 10000)
    pysd_seconds, pysd_results = time_pysd(args.model, params, outputs, args.pysd_runs)

    # the runs compared for speed must also agree (DESIGN.md §3: 1e-9 relative)
    worst = 0.0
    for i, ref in enumerate(pysd_results):
        for name in outputs:
            a = column(model, ds, name, i)
            b = ref[name].values
            worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))))

    pysd_rate = 1 / pysd_seconds
    print(
        json.dumps(
            {
                "benchmark": "engine_throughput",
                "model": str(args.model.relative_to(ROOT))
                if args.model.is_relative_to(ROOT)
                else str(args.model),
                "stocks": len(outputs),
                "state_rows": model.n_states,
                "steps": int(
                    round(
                        (model.controls["final_time"] - model.controls["initial_time"])
                        / model.controls["time_step"]
                    )
                ),
                "method": "euler",
                "brainsim_runs_per_s": {str(k): round(v, 1) for k, v in ours.items()},
                "pysd_runs_per_s": round(pysd_rate, 3),
                "pysd_runs_timed": args.pysd_runs,
                "ratio": {str(k): round(v / pysd_rate, 1) for k, v in ours.items()},
                "max_rel_diff_vs_pysd": worst,
                "python": platform.python_version(),
                "numpy": np.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
