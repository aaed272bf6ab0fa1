"""Comparing every shipped scenario over the whole ensemble, and PySD on the same model.

Prints one JSON line: the wall time of ``brainsim compare scenarios/*.yaml``
in a fresh process (best of ``--repeat``, everything included: start-up,
loading, runs, measuring, writing), its number of model runs and runs per
second, and the runs per second of PySD running the same model once in this
process, with their ratio.

Usage: python benchmarks/bench_compare.py [--repeat 3] [--no-pysd]
"""

import argparse
import json
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
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-pysd", action="store_true")
    args = parser.parse_args()
    scenarios = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    best, runs = float("inf"), 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            out = Path(tmp) / f"run{i}"
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "sim", "compare", *scenarios, "--out", str(out)],
                check=True,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
            best = min(best, time.perf_counter() - start)
            runs = sum(json.loads((out / "manifest.json").read_text())["runs"].values())
        figures = {
            "scenarios": len(scenarios),
            "runs": runs,
            "compare_wall_s": round(best, 2),
            "brainsim_runs_per_s": round(runs / best, 1),
        }
        if not args.no_pysd:
            pysd_s = pysd_run_seconds(MODEL)
            figures["pysd_runs_per_s"] = round(1 / pysd_s, 4)
            figures["ratio"] = round(runs / best * pysd_s, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
