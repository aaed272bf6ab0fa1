"""The fastest the brain model's Euler ensembles could run on this machine: a floor, measured.

Counts what one run's step costs in the compiled kernel's generated source
(:mod:`sim.engine.kernelgen`): its divisions (``/`` and those inside XIDZ and
ZIDZ), powers, ``exp`` and ``log`` calls, per run and step (the lookups of
time alone, shared by every run of a call, are left out). Then times numpy's
vectorised ``divide``, ``power``, ``exp`` and ``log`` on this machine (AVX-512
here), per element, over arrays that stay in cache: the hardware's speed for
these operations, with every lane busy. The floor is the time of those
operations alone, as if all the rest of the step (about 400 additions,
multiplications, comparisons and lookups) were free and every run shared
its vector lanes perfectly; no kernel can be faster than it.

It is printed twice: for the equations as written, and for the same
equations if every division by a run constant were a multiplication by a
reciprocal computed once a run (which changes the last bit of results, so the
kernel does not do it).

Usage: python benchmarks/bench_floor.py [--cores 2]
"""

import argparse
import ast
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "model" / "brain_circulation.mdl"
sys.path.insert(0, str(ROOT))

_DIVIDING = ("_xidz", "_zidz")  # each divides once, after a comparison
_CALLS = {"_power": "power", "math.exp": "exp", "math.log": "log"}


def _step_loop(source: str) -> tuple:
    """Return the per-run step loop of a kernel source and the names that hold run constants."""
    module = ast.parse(source)
    run = next(n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "run")
    runs = next(
        n
        for n in run.body
        if isinstance(n, ast.For) and ast.unparse(n.iter).startswith("range(c.shape")
    )
    # the module's literals (each number is written once, as _k0 ...), then the run's constants
    constant = {
        st.targets[0].id
        for st in module.body
        if isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name)
    }
    constant |= {
        st.targets[0].id
        for st in runs.body
        if isinstance(st, ast.Assign)
        and isinstance(st.value, ast.Subscript)
        and ast.unparse(st.value.value) == "c"
    }
    loop = next(
        n
        for n in runs.body
        if isinstance(n, ast.For) and ast.unparse(n.iter) == "range(first, stop)"
    )
    return loop, constant


def operation_counts(source: str) -> dict:
    """Count one run's divisions, powers, exp and log calls a step in a kernel's source."""
    loop, constant = _step_loop(source)

    def fixed(node) -> bool:  # a run constant or a number: the same at every step of a run
        return all(
            isinstance(n, ast.Name) and n.id in constant
            for n in ast.walk(node)
            if isinstance(n, ast.Name | ast.Subscript | ast.Call)
        )

    counts = {"divide": 0, "divide_by_run_constant": 0, "power": 0, "exp": 0, "log": 0}
    for node in ast.walk(loop):
        denominator = None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            denominator = node.right
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in _DIVIDING:
                denominator = node.args[1]
            elif name in _CALLS:
                counts[_CALLS[name]] += 1
        if denominator is not None:
            counts["divide"] += 1
            counts["divide_by_run_constant"] += fixed(denominator)
    return counts


def element_ns(repeat: int = 2000) -> dict:
    """numpy's vectorised divide, power, exp and log: best ns per element, arrays in cache."""
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.5, 2.0, 4096), rng.uniform(0.5, 2.0, 4096)
    out = np.empty_like(a)
    calls = {
        "divide": lambda: np.divide(a, b, out=out),
        "power": lambda: np.power(a, b, out=out),
        "exp": lambda: np.exp(a, out=out),
        "log": lambda: np.log(a, out=out),
    }
    best = {}
    for name, call in calls.items():
        times = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(repeat):
                call()
            times.append(time.perf_counter() - start)
        best[name] = min(times) / (repeat * a.size) * 1e9
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    args = parser.parse_args()
    import sim
    from sim.engine.simulate import grid_times

    model = sim.load_model(MODEL)
    steps = len(grid_times(model))
    counts = operation_counts(model.kernel_source)
    ns = element_ns()
    as_written = sum(counts[k] * ns[k] for k in ("divide", "power", "exp", "log"))
    reciprocal = as_written - counts["divide_by_run_constant"] * ns["divide"]

    def runs_per_s(step_ns: float) -> float:
        return round(args.cores * 1e9 / (step_ns * steps), 1)

    print(
        json.dumps(
            {
                "benchmark": "brain_model_floor",
                "model": str(MODEL.relative_to(ROOT)),
                "cores": args.cores,
                "steps_per_run": steps,
                "operations_per_run_step": counts,
                "numpy_vector_ns_per_element": {k: round(v, 3) for k, v in ns.items()},
                "floor_ns_per_run_step": round(as_written, 1),
                "max_runs_per_s": runs_per_s(as_written),
                "max_runs_per_s_if_divisions_by_constants_were_reciprocals": runs_per_s(
                    reciprocal
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
