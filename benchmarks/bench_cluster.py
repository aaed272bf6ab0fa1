"""A Sobol study of the brain model on the local pool and on a local Dask cluster.

Runs ``brainsim sweep scenarios/baseline.yaml --method sobol -n N`` over the
first P calibrated parameters (N x (P + 2) runs; the default 16,384 x 32 =
524,288) three ways, each in a fresh process: on the local process pool, and
with ``--cluster local:1`` and ``--cluster local:2``. Prints one JSON line per
way: wall time, runs per second, the client's peak memory and the largest
peak of the processes it started (a worker, or a forked child of the pool).

With ``--stream`` the sweep writes its runs to ``sweep.nc`` chunk by chunk
(``brainsim sweep --stream``) and the line also gives the file's size: the
10-million-run study is ``--n 262144 --params 37 --ways local:2 --stream``
(262,144 x 39 = 10,223,616 runs; about 40 GB of disk under ``--tmp``).

Usage: python benchmarks/bench_cluster.py [--n 16384] [--params 30] [--ways pool local:1 local:2]
       [--stream] [--tmp DIR]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "model" / "brain_circulation.mdl"

# run in the measured process: the sweep, then its own and its children's peak memory
CLIENT = """
import json, resource, sys
from sim.cli import main
status = main(sys.argv[1:])
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"status": status, "client_mb": own, "largest_child_mb": children}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16384)
    parser.add_argument("--params", type=int, default=30)
    parser.add_argument("--ways", nargs="*", default=["pool", "local:1", "local:2"])
    parser.add_argument("--stream", action="store_true", help="brainsim sweep --stream")
    parser.add_argument("--tmp", default=None, help="folder for the sweep's files")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import sim
    from sim.studies.calibrate import calibrated_names

    names = calibrated_names(sim.read_mdl(MODEL))[: args.params]
    runs = args.n * (len(names) + 2)
    for way in args.ways:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            argv = ["sweep", str(ROOT / "scenarios" / "baseline.yaml"), "--method", "sobol"]
            argv += ["-n", str(args.n), "--params", *names, "--out", f"{tmp}/sweep"]
            if way != "pool":
                argv += ["--cluster", way]
            if args.stream:
                argv += ["--stream"]
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", CLIENT, *argv],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            wall = time.perf_counter() - start
            size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        memory = json.loads(proc.stdout.strip().splitlines()[-1])
        if memory["status"]:
            sys.exit(f"{way}: the sweep failed: {proc.stderr.strip().splitlines()[-1]}")
        print(
            json.dumps(
                {
                    "way": way,
                    "parameters": len(names),
                    "runs": runs,
                    "wall_s": round(wall, 1),
                    "runs_per_s": round(runs / wall),
                    "client_peak_mb": round(memory["client_mb"]),
                    "largest_worker_peak_mb": round(memory["largest_child_mb"]),
                    "streamed": args.stream,
                    "files_gb": round(size / 1e9, 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
