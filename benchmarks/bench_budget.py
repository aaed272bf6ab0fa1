"""Goal seeking in yen on the shipped model: the time each answer takes, and the answers.

Runs, each in a fresh process with everything included (start-up, loading,
runs), ``brainsim target`` with ``--budget`` and with ``--portfolio`` for the
J-MIRAI goal of 500,000 Japanese students abroad and the researchers
dispatched goal (7,694, the FY2000 level), all in 2033, over the calibrated
ensemble on top of the baseline. Prints each command's answer and one JSON
line per command: its wall time in seconds. Issue 16 asks for under 2
minutes each on this machine.

Usage: python benchmarks/bench_budget.py
"""

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "scenarios/baseline.yaml"
STUDENTS = "japanese students abroad per year@2033>=500000"
DISPATCH = "researchers dispatched per year@2033>=7694"
OUTBOUND = ["agreement study abroad support", "tobitate university", "degree study abroad support"]
RESEARCH = [
    "jsps overseas fellowship",
    "young researcher overseas challenge",
    "international joint research funds",
]
CASES = [
    (
        "budget, students abroad",
        ["--budget", "agreement study abroad support", "--goal", STUDENTS],
    ),
    ("budget, dispatch", ["--budget", "young researcher overseas challenge", "--goal", DISPATCH]),
    (
        "portfolio 100 億円, students abroad",
        ["--portfolio", *OUTBOUND, "--total", "100", "--goal", STUDENTS],
    ),
    (
        "portfolio 50 億円, dispatch",
        ["--portfolio", *RESEARCH, "--total", "50", "--goal", DISPATCH],
    ),
]


def main() -> None:
    for label, options in CASES:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "sim", "target", BASELINE, *options, "--probability", "0.8"]
            if "--budget" in options
            else [sys.executable, "-m", "sim", "target", BASELINE, *options],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        seconds = time.perf_counter() - start
        sys.stdout.write(f"## {label}\n\n{proc.stdout}\n")
        sys.stdout.write(
            json.dumps({"case": label, "seconds": round(seconds, 1)}, ensure_ascii=False) + "\n\n"
        )


if __name__ == "__main__":
    main()
