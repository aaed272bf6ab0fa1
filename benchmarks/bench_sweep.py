"""A Sobol sweep of the brain model: time, runs per second, peak memory, and PySD.

Runs ``brainsim sweep scenarios/baseline.yaml --method sobol -n 1024`` over
the first 30 calibrated parameters (1024 x 32 = 32,768 runs, first- and
total-order indices with bootstrap intervals for every target output in
every year from 2024) in a fresh process, and PySD's single run of the same
model in this process. Prints one JSON line: wall time, runs per second,
peak memory (the largest process, and the sum over the worker processes as
an upper bound), PySD's runs per second and the ratio.

Usage: python benchmarks/bench_sweep.py [--n 1024] [--params 30] [--no-pysd]
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

from pysd_timing import pysd_run_seconds

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "model" / "brain_circulation.mdl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--params", type=int, default=30)
    parser.add_argument("--no-pysd", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import sim
    from sim.studies.calibrate import calibrated_names

    names = calibrated_names(sim.read_mdl(MODEL))[: args.params]
    runs = args.n * (len(names) + 2)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sim",
                "sweep",
                str(ROOT / "scenarios" / "baseline.yaml"),
                "--method",
                "sobol",
                "-n",
                str(args.n),
                "--params",
                *names,
                "--out",
                f"{tmp}/sweep",
            ],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
        largest_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        figures = {
            "parameters": len(names),
            "runs": runs,
            "wall_s": round(wall, 2),
            "runs_per_s": round(runs / wall, 1),
            "peak_rss_mb_largest_process": round(largest_mb),
            "peak_rss_mb_all_processes_at_most": round(largest_mb * (os.cpu_count() or 1)),
        }
        if not args.no_pysd:
            pysd_s = pysd_run_seconds(MODEL)
            figures["pysd_runs_per_s"] = round(1 / pysd_s, 4)
            figures["ratio"] = round(runs / wall * pysd_s)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
