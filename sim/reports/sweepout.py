"""What ``brainsim sweep`` and ``brainsim target`` write, all at once or not at all.

``sweep``: ``sweep.nc`` (the design, every run's yearly outputs and the
indices as a Dataset), ``indices.csv`` (tidy: method, output, year,
parameter, index, value), ``bands.csv`` (lhs: p05/p50/p95 by output and year), ``s2.csv``
(sobol with --second-order) and ``summary.md``. ``target``: ``curve.csv``
(lever level, probability) and ``answer.md``.
"""

import json

import numpy as np

from sim.reports.fitreport import write_csv
from sim.studies.sweep import index_rows

MAIN_INDEX = {"sobol": "ST", "morris": "mu_star", "oat": "swing", "lhs": "rank_corr"}
# a Sobol index is not to be trusted when its 95% half-width is wider than this
MAX_HALF_WIDTH = 0.1


def write_sweep(
    out, sweep, scenario, model, command: list, elapsed: float, *, force: bool = False
) -> str:
    """Write every file of a sweep into the folder ``out``; return the printed summary."""
    from sim.engine.files import atomic_dir

    with atomic_dir(out, force=force) as tmp:
        return write_sweep_files(tmp, sweep, scenario, model, command, elapsed)


def write_sweep_files(folder, sweep, scenario, model, command: list, elapsed: float) -> str:
    """Write a sweep's files into ``folder`` (being built); return the printed summary.

    A streamed sweep's ``sweep.nc`` is already there (see
    :mod:`sim.studies.store`): its indices and command are added to it.
    """
    from pathlib import Path

    folder = Path(folder)
    rows = index_rows(sweep)
    text = summary(sweep, scenario, model, elapsed)
    write_csv(
        folder / "indices.csv", ["method", "output", "year", "parameter", "index", "value"], rows
    )
    if sweep.method == "lhs":
        write_csv(folder / "bands.csv", ["output", "year", "p05", "p50", "p95"], _bands(sweep))
    s2 = [
        (o, y, a.name, b.name, float(v))
        for (o, y), found in sweep.indices.items()
        if "S2" in found
        for i, a in enumerate(sweep.factors)
        for j, b in enumerate(sweep.factors)
        if j > i and np.isfinite(v := found["S2"][i, j])
    ]
    if s2:
        write_csv(folder / "s2.csv", ["output", "year", "parameter_1", "parameter_2", "S2"], s2)
    if sweep.store is None:
        design = _design_values(sweep, model)
        _dataset(sweep, design, model, command).to_netcdf(folder / "sweep.nc")
    else:
        _add_indices(sweep, command)
    (folder / "summary.md").write_text(text, encoding="utf-8")
    return text


def _add_indices(sweep, command: list) -> None:
    """Add the index variables and the command to a streamed sweep's ``sweep.nc``."""
    import netCDF4

    years = sorted({y for _, y in sweep.indices})
    outputs = sweep.target_outputs
    with netCDF4.Dataset(sweep.store, "a") as nc:
        nc.createDimension("index_year", len(years))
        nc.createVariable("index_year", "i8", ("index_year",))[:] = years
        for index, arr in _index_arrays(sweep, outputs, years).items():
            nc.createVariable(index, "f8", ("output", "index_year", "parameter"))[:] = arr
        nc.setncattr("command", json.dumps(command, ensure_ascii=False))


def _index_arrays(sweep, outputs: list, years: list) -> dict:
    """Return each index as an array ``(output, index year, parameter)``; NaN: not computed."""
    index_names = sorted(
        {k for found in sweep.indices.values() for k, v in found.items() if v.ndim == 1}
    )
    out = {}
    for index in index_names:
        arr = np.full((len(outputs), len(years), len(sweep.factors)), np.nan)
        for (o, y), found in sweep.indices.items():
            if index in found:
                arr[outputs.index(o), years.index(y)] = found[index]
        out[index] = arr
    return out


def _design_values(sweep, model) -> np.ndarray:
    from sim.studies.sweep import values

    defaults = {
        f.name: model.defaults[model.param_keys.index(model.spec.element(f.name).key)]
        for f in sweep.factors
    }
    swept = values(sweep.factors, sweep.unit, defaults)
    return np.column_stack([swept[f.name] for f in sweep.factors])


def _bands(sweep) -> list:
    rows = []
    for name in sweep.target_outputs:
        for i, year in enumerate(sweep.years):
            y = sweep.series(name, i)
            if np.isnan(y).any():
                continue
            p05, p50, p95 = np.percentile(y, [5, 50, 95])
            rows.append((name, int(year), float(p05), float(p50), float(p95)))
    return rows


def _dataset(sweep, design, model, command):
    import xarray as xr

    outputs = list(sweep.values)
    names = [f.name for f in sweep.factors]
    years = sorted({y for _, y in sweep.indices})
    data = {
        "design": (("run", "parameter"), design),
        "value": (
            ("output", "year", "run"),
            np.stack([sweep.values[o] for o in outputs]).astype(np.float32),
        ),
    }
    for index, arr in _index_arrays(sweep, outputs, years).items():
        data[index] = (("output", "index_year", "parameter"), arr)
    return xr.Dataset(
        data,
        coords={
            "run": np.arange(len(design)),
            "parameter": names,
            "output": outputs,
            "year": sweep.years,
            "index_year": years,
        },
        attrs={
            "method": sweep.method,
            "seed": sweep.seed,
            "model_sha256": model.spec.sha256,
            "command": json.dumps(command, ensure_ascii=False),
            "factors": json.dumps(
                [[f.name, f.family, list(f.params)] for f in sweep.factors], ensure_ascii=False
            ),
        },
    )


def summary(sweep, scenario, model, elapsed: float) -> str:
    """Return the indices in each output's target year, largest first, as markdown.

    A Sobol sweep whose indices are not to be trusted (see :func:`untrusted`)
    gets a warning line, naming the outputs and years, before the tables.
    """
    main = MAIN_INDEX[sweep.method]
    runs = sweep.runs
    lines = [
        f"# Sweep ({sweep.method}) of {scenario.name}",
        "",
        f"{len(sweep.factors)} parameters, {runs:,} runs in {elapsed:.1f} s "
        f"({runs / elapsed:,.0f} runs/s), seed {sweep.seed}; model {model.spec.path} "
        f"(sha256 {model.spec.sha256[:12]}).",
        "",
    ]
    if sweep.method == "sobol" and (loose := untrusted(sweep)):
        lines += [
            f"**Warning:** N = {sweep.n} is too small to trust the Sobol indices of "
            + ", ".join(f"{o} ({y})" for o, y in loose)
            + f": an ST above 1 by more than its half-width, or a half-width above "
            f"{MAX_HALF_WIDTH:g}. Run again with a larger -n (e.g. -n {4 * sweep.n}; four "
            "times N halves the half-widths).",
            "",
        ]
    for output, year in sorted(sweep.target_years.items()):
        found = sweep.indices.get((output, year))
        if found is None:
            continue
        order = np.argsort(-np.abs(np.nan_to_num(found[main])))
        extra = [k for k in found if k != main and found[k].ndim == 1]
        lines += [
            f"## {output}, {year}",
            "",
            "| parameter | " + " | ".join([main, *extra]) + " |",
            "|---" * (2 + len(extra)) + "|",
        ]
        for i in order[:10]:
            cells = [_g(found[k][i]) for k in [main, *extra]]
            lines.append(f"| {sweep.factors[i].name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def untrusted(sweep) -> list:
    """Return the summary's ``(output, year)`` pairs whose Sobol indices are not trusted.

    A pair is untrusted when, for any parameter, ST exceeds 1 by more than
    its confidence half-width, or the half-width of S1 or ST exceeds
    :data:`MAX_HALF_WIDTH`.
    """
    out = []
    for output, year in sorted(sweep.target_years.items()):
        found = sweep.indices.get((output, year))
        if found is None:
            continue
        st, st_conf, s1_conf = (np.nan_to_num(found[k]) for k in ("ST", "ST_conf", "S1_conf"))
        if np.any(st - st_conf > 1) or np.any(np.maximum(s1_conf, st_conf) > MAX_HALF_WIDTH):
            out.append((output, year))
    return out


def _g(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def write_target(out, answer, scenario, model, command: list, *, force: bool = False) -> None:
    """Write the probability curve and the answer into the folder ``out``."""
    from sim.engine.files import atomic_dir

    with atomic_dir(out, force=force) as tmp:
        write_csv(
            tmp / "curve.csv",
            ["level", "probability"],
            [(float(x), float(p)) for x, p in answer.curve],
        )
        (tmp / "answer.md").write_text(
            f"# {answer.goal.label or answer.goal.describe()}\n\n{answer.sentence()}\n\n"
            f"Scenario {scenario.name}; lever `{answer.lever}`; model {model.spec.path} "
            f"(sha256 {model.spec.sha256[:12]}); command: {' '.join(command)}\n",
            encoding="utf-8",
        )
