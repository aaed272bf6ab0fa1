"""The brain model on the numpy engine and on the compiled kernel: runs/s, peak memory, warm start.

Prints one JSON line. Each measurement runs in a fresh process, so that its
peak memory (the process's and its forked workers') is its own: Euler over
10,000 and 50,000 parameter sets (the calibrated ensemble's members, cycled,
with the scholarship lever moved from run to run) on both cores, keeping the
J-MIRAI target outputs at every SAVEPER. Then the kernel's start in a fresh
process, cold (an empty cache folder: numba compiles) and warm (the same
folder again), and PySD's runs/s on the same model in this process, for the
ratio.

Usage: python benchmarks/bench_kernel.py [--runs 10000 50000] [--pysd-runs 1]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "model" / "brain_circulation.mdl"
sys.path.insert(0, str(ROOT / "benchmarks"))


def parameter_sets(model, n: int) -> dict:
    from sim.studies.calibrate import read_ensemble

    _, names, values = read_ensemble(ROOT / "model" / "ensemble.csv", model)
    idx = np.arange(n) % values.shape[0]
    params = {name: values[idx, j] for j, name in enumerate(names)}
    params["scholarship coverage target"] = np.linspace(0.0, 0.4, n)
    return params


def outputs(model) -> list:
    from sim.studies.targets import TARGETS

    return sorted({t.variable for t in TARGETS if model.spec.has(t.variable)})


def one(engine: str, n: int) -> dict:
    """Time one ensemble in this process; return runs/s and the peak memory [MB]."""
    import sim
    from sim.engine.simulate import integrate

    model = sim.load_model(MODEL)
    params = parameter_sets(model, n)
    keep = outputs(model)
    integrate(model, parameter_sets(model, 1), outputs=keep, engine=engine)  # compile or load
    start = time.perf_counter()
    integrate(model, params, outputs=keep, engine=engine)
    seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "runs_per_s": round(n / seconds, 1),
        "peak_mb": round(own),
        "worker_peak_mb": round(children),
    }


def start_time(cache: str) -> float:
    """Seconds to load the model and run it once on the kernel, in a fresh process."""
    code = (
        "import time; t = time.perf_counter(); import sim; "
        "from sim.engine.simulate import integrate; "
        f"integrate(sim.load_model({str(MODEL)!r}), engine='kernel'); "
        "print(time.perf_counter() - t)"
    )
    env = dict(os.environ, BRAINSIM_CACHE=cache)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return float(out.stdout.strip())


def pysd_rate(n: int) -> float:
    """PySD's runs/s on the brain model at its defaults (PySD cannot set one element of an
    array by name, and its speed does not depend on the values)."""
    from bench_engine import time_pysd

    import sim

    model = sim.load_model(MODEL)
    params = {"exchange rate perception time": np.full(n, 1.0)}
    seconds, _ = time_pysd(MODEL, params, outputs(model), n)
    return 1 / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[10000, 50000])
    parser.add_argument("--pysd-runs", type=int, default=1)
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]))))
        return
    measured = {}
    for engine in ("numpy", "kernel"):
        for n in args.runs:
            out = subprocess.run(
                [sys.executable, __file__, "--one", engine, str(n)],
                capture_output=True,
                text=True,
                check=True,
            )
            measured[f"{engine}_{n}"] = json.loads(out.stdout)
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = start_time(cache), start_time(cache)
    pysd = pysd_rate(args.pysd_runs) if args.pysd_runs else None
    print(
        json.dumps(
            {
                "benchmark": "brain_model_engines",
                "model": str(MODEL.relative_to(ROOT)),
                "cores": os.cpu_count(),
                "runs": measured,
                "kernel_cold_start_s": round(cold, 2),
                "kernel_warm_start_s": round(warm, 2),
                "pysd_runs_per_s": round(pysd, 4) if pysd else None,
                "kernel_vs_pysd": {
                    str(n): round(measured[f"kernel_{n}"]["runs_per_s"] / pysd) for n in args.runs
                }
                if pysd
                else None,
            }
        )
    )


if __name__ == "__main__":
    main()
