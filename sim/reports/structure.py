"""Measure the model's structure: loop strengths and the causes of the dispatch decline.

A reviewer of a system-dynamics model asks two questions the equations alone
do not answer (Sterman, *Business Dynamics*, ch. 21): how much does each named
loop matter (cut it and measure), and which causes carry a historical
behaviour (hold each at its starting level and measure). Both are computed
here from runs of the model, so that the model README states measured figures
rather than figures someone once wrote down.

The loops are listed in ``model/loops.csv``: a code, a name, how to cut the
loop (``constant=value``, ``table=flat@x`` to hold a lookup at its value
at ``x``, where ``x`` is a number or a constant's name, or ``table=held@y``
to hold it at the value ``y``) and the output it is
measured on.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.engine.errors import BrainsimError
from sim.engine.simulate import simulate
from sim.studies.history import observe
from sim.studies.targets import OUTPUT_TIMING

DISPATCH = "researchers dispatched per year"


@dataclass(frozen=True)
class Loop:
    """A named feedback loop and how to cut it."""

    code: str
    name: str
    cut: str
    output: str


def read_loops(path: str | Path) -> list:
    """Return the loops listed in ``path`` (``model/loops.csv``)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    missing = {"loop", "name", "cut", "output"} - set(rows[0] if rows else {})
    if missing:
        raise BrainsimError(
            f"{path}: missing column(s) {sorted(missing)}; see sim/reports/structure.py"
        )
    return [Loop(r["loop"], r["name"], r["cut"], r["output"]) for r in rows]


def cut_options(model, cut: str) -> tuple:
    """Return ``(params, tables)`` that cut a loop as ``cut`` says."""
    params, tables = {}, {}
    for part in filter(None, (p.strip() for p in cut.split(";"))):
        name, _, value = (s.strip() for s in part.partition("="))
        if not model.spec.has(name) or not value:
            raise BrainsimError(
                f"loops.csv: cut '{part}' needs 'constant=value' or 'table=flat@x' "
                "naming an element of the model"
            )
        if value.startswith("held@"):
            table = model.spec.element(name)
            lookup = next(lk for lk in model.spec.lookups if lk.key == table.key)
            level = _number_or_constant(model, value[len("held@") :])
            tables[name] = ([lookup.xs[0], lookup.xs[-1] + 1], [level, level])
        elif value.startswith("flat@"):
            table = model.spec.element(name)
            lookup = next(lk for lk in model.spec.lookups if lk.key == table.key)
            at = _number_or_constant(model, value[len("flat@") :])
            level = float(np.interp(at, lookup.xs, lookup.ys))
            tables[name] = ([lookup.xs[0], lookup.xs[-1]], [level, level])
        else:
            params[name] = float(value)
    return params, tables


def _number_or_constant(model, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float(model.spec.element(text).expr.value)


def measure(model, output: str, years, params=None, tables=None):
    """Return ``output`` in each of ``years`` as its target measures it (1 May or fiscal mean).

    ``years`` is one year (a float comes back) or a list (an array does).
    """
    ds = simulate(
        model,
        params or {},
        tables=tables or {},
        outputs=[output],
        saveper=model.controls["time_step"],
    )
    rule = OUTPUT_TIMING.get(output)
    if rule is None:
        rule = "may1" if model.spec.element(output).kind == "stock" else "fiscal_mean"
    values = ds[model.spec.element(output).py_name].values.reshape(len(ds.time), -1)
    got = np.array([observe(ds.time.values, values, y, rule)[0] for y in np.atleast_1d(years)])
    return float(got[0]) if np.ndim(years) == 0 else got


def loop_strengths(model, loops: list, year: int = 2033) -> list:
    """Return one row per loop: its output in ``year`` with the loop in place and cut."""
    base = {output: measure(model, output, year) for output in {lp.output for lp in loops}}
    rows = []
    for loop in loops:
        params, tables = cut_options(model, loop.cut)
        cut = measure(model, loop.output, year, params, tables)
        rows.append(
            {
                "loop": loop,
                "base": base[loop.output],
                "cut": cut,
                "change": cut - base[loop.output],
            }
        )
    return rows


def loops_table(rows: list, year: int = 2033) -> str:
    """Return the loop-strength rows as a markdown table."""
    lines = [
        f"| loop | how it is cut | output | {year}, loop in place | {year}, loop cut | change |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        loop = r["loop"]
        pct = 100 * r["change"] / r["base"] if r["base"] else float("nan")
        lines.append(
            f"| {loop.code} {loop.name} | `{loop.cut}` | `{loop.output}` | {_fmt(r['base'])} "
            f"| {_fmt(r['cut'])} | {_fmt(r['change'], sign=True)} ({pct:+.1f}%) |"
        )
    return "\n".join(lines)


def dispatch_causes(model) -> dict:
    """Return the runs that hold each cause of the dispatch decline at its 2000 level.

    Each value is ``(params, tables)``. The doctoral pipeline is held by keeping
    master's completions and the progression rate at their 2000 values.
    """
    spec = model.spec
    t0 = model.controls["initial_time"]

    def table(name):
        return next(lk for lk in spec.lookups if lk.key == spec.element(name).key)

    def flat(name):
        lk = table(name)
        level = float(np.interp(t0, lk.xs, lk.ys))
        return [lk.xs[0], lk.xs[-1]], [level, level]

    cohort = table("domestic 18 year old cohort path")
    rate = table("masters completion rate path")
    completions = np.interp(t0, rate.xs, rate.ys) * np.interp(t0, cohort.xs, cohort.ys)
    held_rate = (list(cohort.xs), [completions / c for c in cohort.ys])
    return {
        "money (national universities' operating grants)": (
            {},
            {"operating grants index path": flat("operating grants index path")},
        ),
        "doctoral pipeline (straight-track doctoral entry)": (
            {},
            {
                "masters completion rate path": held_rate,
                "master to doctoral progression path": flat("master to doctoral progression path"),
            },
        ),
        "career risk (fixed-term posts)": (
            {},
            {"fixed term share path": flat("fixed term share path")},
        ),
        "exchange rate": ({}, {"exchange rate yen per usd": flat("exchange rate yen per usd")}),
        "residual (interest in research abroad)": ({"interest floor": 1.0}, {}),
    }


def dispatch_decomposition(model, start: int = 2000, end: int = 2018) -> list:
    """Return the share of the FY``start``-FY``end`` dispatch decline due to each cause.

    A cause's share is how much of the decline disappears when that cause
    alone is held at its 2000 level. The causes act multiplicatively, so the
    shares need not add up to 1; the last row holds them all at once.
    """
    first, last = measure(model, DISPATCH, [start, end])
    decline = first - last
    rows = []
    causes = dispatch_causes(model)
    every_param, every_table = {}, {}
    for cause, (params, tables) in causes.items():
        held = measure(model, DISPATCH, end, params, tables)
        rows.append({"cause": cause, "held": held, "share": (held - last) / decline})
        every_param.update(params)
        every_table.update(tables)
    held = measure(model, DISPATCH, end, every_param, every_table)
    rows.append({"cause": "all of them together", "held": held, "share": (held - last) / decline})
    return [{"first": first, "last": last}, *rows]


def decomposition_table(rows: list, start: int = 2000, end: int = 2018) -> str:
    """Return :func:`dispatch_decomposition` as a markdown table."""
    head, *causes = rows
    lines = [
        f"Model dispatch (old survey basis, fiscal-year mean): {_fmt(head['first'])} in "
        f"FY{start}, {_fmt(head['last'])} in FY{end}, a decline of "
        f"{_fmt(head['first'] - head['last'])}.",
        "",
        f"| cause held at its {start} level | FY{end} dispatch "
        "| share of the decline it explains |",
        "|---|---|---|",
    ]
    for r in causes:
        lines.append(f"| {r['cause']} | {_fmt(r['held'])} | {100 * r['share']:.0f}% |")
    return "\n".join(lines)


def _fmt(value: float, sign: bool = False) -> str:
    if abs(value) >= 100:
        return f"{value:+,.0f}" if sign else f"{value:,.0f}"
    return f"{value:+.3g}" if sign else f"{value:.3g}"
