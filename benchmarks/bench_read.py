"""Reading the brain model: our .mdl reader against PySD's translator, and a whole CLI run.

Prints one JSON line: milliseconds to read ``model/brain_circulation.mdl``
into a spec with ``sim.engine.vensim.read_mdl`` and with PySD's Vensim translator
(import excluded, same process, best of ``--repeat``), their ratio, and the
wall time of ``brainsim simulate model/brain_circulation.mdl --out FILE`` in
a fresh process (best of ``--repeat``; there is no cache, every run reads
the file).

Usage: python benchmarks/bench_read.py [--repeat 3]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from sim.engine.vensim import read_mdl

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "model" / "brain_circulation.mdl"


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pysd_read() -> None:
    from pysd.translators.vensim.vensim_file import VensimFile

    vf = VensimFile(MODEL)
    vf.parse()
    vf.get_abstract_model()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's dependencies warn on import
        import pysd.translators.vensim.vensim_file  # noqa: F401  (import kept out of the timing)

        ours = best(lambda: read_mdl(MODEL), args.repeat)
        theirs = best(pysd_read, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "sim", "simulate", str(MODEL), "--out", f"{tmp}/base.csv"]
        cli = best(lambda: subprocess.run(command, check=True), args.repeat)
    print(
        json.dumps(
            {
                "read_ms": {"brainsim": round(ours * 1e3, 1), "pysd": round(theirs * 1e3, 1)},
                "read_ratio": round(theirs / ours, 1),
                "cli_simulate_s": round(cli, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
