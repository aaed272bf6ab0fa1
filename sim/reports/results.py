"""What ``brainsim run`` and ``brainsim compare`` write, all at once or not at all.

- ``results.nc``: every run's yearly value of the outputs asked for, dims
  ``scenario × run × year`` (``run`` padded with NaN where scenarios have
  fewer runs), with units, .mdl names and the observation rule as attributes;
- ``summary.csv``: tidy statistics over the runs (scenario, variable, unit,
  year, mean, sd, p05, p25, p50, p75, p95), for every variable measured;
- ``quantiles.csv``: scenario, variable, unit, year, p05, p50, p95; with
  ``baseline`` among the scenarios, also the public yen per additional
  outcome of each target (variable ``public yen per additional: <output>``);
- ``difference.csv`` (when ``baseline`` is among the scenarios): each
  scenario's difference from it, run by run over the same parameter sets
  (scenario, variable, unit, year, baseline_p50, p50, difference_p50,
  difference_pct, difference_p05, difference_p95);
- ``targets.csv`` and ``targets.md``: each target's value in its year
  (median and 5-95%), the probability of meeting it and the median year it
  is first met, the effect size driving it, and (with ``baseline``) the extra
  public cost to the target year and the yen per additional outcome;

Every file names a variable as the ``.mdl`` does ("international students in
japan"): the ``variable`` column of the CSVs and the variable names of
``results.nc`` are the same text, the one a scenario file uses. A year a
variable cannot be measured in (a fiscal year that runs past the end of the
run) has no row in the CSVs and is NaN in ``results.nc``, whose attribute
``measured_years`` says which years are measured.
- ``manifest.json``: hashes of the model, scenario files and ensemble, the
  versions, the seed and the command.

``brainsim simulate`` writes one run's full trajectory as CSV (:func:`write_run_csv`).
"""

import datetime
import json
import platform
import sys
from pathlib import Path

import numpy as np

from sim.engine.files import atomic_path
from sim.reports.fitreport import write_csv
from sim.studies.costs import COST, COST_COLUMNS, MILLION_PER_OKU, cost_rows
from sim.studies.runner import (
    percentiles,
    sorted_median,
    sorted_percentiles,
    sorted_stack,
    target_rows,
)

TARGET_COLUMNS = (
    "scenario",
    "target",
    "variable",
    "year",
    "goal",
    "sense",
    "p05",
    "p50",
    "p95",
    "probability",
    "median_year_met",
    "driven_by",
) + COST_COLUMNS


def write_results(
    out, results: list, model, outputs: list, command: list, *, force: bool = False
) -> list:
    """Write every file for ``results`` (one per scenario) into the folder ``out``.

    Returns the target rows, for printing.
    """
    from sim.engine.files import atomic_dir
    from sim.engine.parallel import parallel_map

    with atomic_dir(out, force=force) as tmp:
        # results.nc and difference.csv in forked processes while this one writes the
        # rest: xarray's first write imports its backends (and dask's), about a second
        targets, _, _ = parallel_map(
            lambda write: write(),
            [
                lambda: _tables(tmp, results, model, command),
                lambda: _netcdf(tmp / "results.nc", results, model, outputs),
                lambda: _difference(tmp / "difference.csv", results, model),
            ],
        )
    return targets


def _difference(path: Path, results: list, model) -> None:
    """Write difference.csv, when the baseline is among several results."""
    baseline = next((r for r in results if r.scenario.name == "baseline"), None)
    if baseline is None or len(results) < 2:
        return
    unit = {name: model.spec.element(name).units for name in results[0].values}
    base_median = sorted_median(sorted_stack(baseline, list(baseline.values)))
    write_csv(
        path,
        ["scenario", "variable", "unit", "year", "baseline_p50", "p50"]
        + ["difference_p50", "difference_pct", "difference_p05", "difference_p95"],
        [
            _with_unit(row, unit)
            for res in results
            if res is not baseline
            for row in _difference_rows(res, baseline, base_median)
        ],
    )


def _tables(tmp: Path, results: list, model, command: list) -> list:
    """Write the summaries, targets and manifest into ``tmp``; return the target rows."""
    targets = with_costs(results, model)
    unit = {name: model.spec.element(name).units for name in results[0].values}
    summary = [_with_unit(row, unit) for res in results for row in _summary_rows(res)]
    write_csv(
        tmp / "summary.csv",
        ["scenario", "variable", "unit", "year"]
        + ["mean", "sd", "p05", "p25", "p50", "p75", "p95"],
        summary,
    )
    # the 5th, 50th and 95th percentiles of the summary (numpy takes each alone)
    write_csv(
        tmp / "quantiles.csv",
        ["scenario", "variable", "unit", "year", "p05", "p50", "p95"],
        [(*row[:4], row[6], row[8], row[10]) for row in summary] + _cost_quantiles(targets),
    )
    write_csv(
        tmp / "targets.csv",
        list(TARGET_COLUMNS),
        [[row.get(c, "") for c in TARGET_COLUMNS] for row in targets],
    )
    (tmp / "targets.md").write_text(target_table(targets, results, model), encoding="utf-8")
    (tmp / "manifest.json").write_text(
        json.dumps(_manifest(results, model, command), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return targets


def with_costs(results: list, model) -> list:
    """Target rows of every result, with the extra cost and yen per additional outcome.

    The cost columns are filled when ``baseline`` is among the results and
    shares their runs (:func:`sim.studies.costs.cost_rows`).
    """
    baseline = next((r for r in results if r.scenario.name == "baseline"), None)
    rows = []
    for res in results:
        units = {t.variable: model.spec.element(t.variable).units for t in res.scenario.targets}
        costs = cost_rows(res, baseline, units) if baseline is not None else {}
        for row in target_rows(res):
            rows.append({**row, **costs.get(row["target"], {})})
    return rows


def _cost_quantiles(targets: list) -> list:
    """Quantile rows of the public yen per additional outcome, one per scenario and target."""
    return [
        (
            row["scenario"],
            f"public yen per additional: {row['variable']}",
            row["per"],
            row["year"],
            row["yen_per_additional_p05"],
            row["yen_per_additional_p50"],
            row["yen_per_additional_p95"],
        )
        for row in targets
        if np.isfinite(row.get("yen_per_additional_p50", np.nan))
    ]


def _with_unit(row: tuple, unit: dict) -> tuple:
    return (row[0], row[1], unit[row[1]], *row[2:])


def _difference_rows(res, baseline, base_median) -> list:
    """Rows ``(scenario, variable, year, baseline p50, p50, difference p50, %, p05, p95)``.

    With the same parameter sets (the ensemble) the difference is taken run
    by run; otherwise it is the difference of the medians, with no band.
    ``base_median`` is the baseline's median of every output and year (the
    same for every scenario: taken once).
    """
    paired = res.n_runs == baseline.n_runs and res.scenario.uncertainty == (
        baseline.scenario.uncertainty
    )
    names = list(res.values)
    arr = np.stack([res.values[name] for name in names])  # (output, year, run)
    base = np.stack([baseline.values[name] for name in names])
    ok = ~(np.isnan(arr).any(axis=2) | np.isnan(base).any(axis=2))
    b50, s50 = base_median, sorted_median(np.sort(arr, axis=2))
    if paired:
        d05, d50, d95 = sorted_percentiles(np.sort(arr - base, axis=2), [5, 50, 95])
    else:
        d05 = d95 = np.full(b50.shape, np.nan)
        d50 = s50 - b50
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(b50 != 0, 100 * (s50 - b50) / b50, np.nan)
    columns = np.stack([b50, s50, d50, pct, d05, d95], axis=2).tolist()
    years = [int(y) for y in res.years]
    return [
        (res.scenario.name, name, years[y], *columns[v][y])
        for v, name in enumerate(names)
        for y in np.flatnonzero(ok[v])
    ]


def _summary_rows(res) -> list:
    """Rows ``(scenario, variable, year, mean, sd, p05, p25, p50, p75, p95)`` of covered years."""
    names, covered, q = percentiles(res, [5, 25, 50, 75, 95])
    stacked = np.stack([res.values[name] for name in names])  # (output, year, run)
    columns = np.concatenate([stacked.mean(axis=2)[None], stacked.std(axis=2)[None], q]).transpose(
        1, 2, 0
    )
    columns = columns.tolist()
    years = [int(y) for y in res.years]
    return [
        (res.scenario.name, name, years[y], *columns[v][y])
        for v, name in enumerate(names)
        for y in np.flatnonzero(covered[v])
    ]


def _netcdf(path: Path, results: list, model, outputs: list) -> None:
    import xarray as xr

    n_runs = max(r.n_runs for r in results)
    years = results[0].years
    data = {}
    for name in outputs:
        el = model.spec.element(name)
        arr = np.full((len(results), n_runs, len(years)), np.nan, dtype=np.float32)
        for s, res in enumerate(results):
            arr[s, : res.n_runs] = res.values[name].T
        measured = [int(y) for y in years if not np.isnan(arr[:, :1, years == y]).all()]
        data[el.name] = (
            ("scenario", "run", "year"),
            arr,
            {
                "units": el.units,
                "python_name": el.py_name,
                "measured": results[0].timing[name],
                "measured_years": f"{measured[0]}-{measured[-1]}" if measured else "none",
                "doc": el.doc,
            },
        )
    ds = xr.Dataset(
        data,
        coords={
            "scenario": [r.scenario.name for r in results],
            "run": np.arange(n_runs),
            "year": years,
        },
        attrs={
            "model": model.spec.path,
            "model_sha256": model.spec.sha256,
            "created_by": "brainsim run/compare",
        },
    )
    ds.to_netcdf(path)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def target_table(rows: list, results: list, model) -> str:
    """Return the target table in markdown: one section per scenario."""
    from sim.engine.simulate import package_version

    lines = [
        "# Targets: value in the target year (median, 5–95%), probability of meeting it",
        "",
        f"Model {model.spec.path} (sha256 {model.spec.sha256[:12]}), brainsim "
        f"{package_version()}. Each value is measured as its target's data are: "
        "international students on 1 May, flows as fiscal-year means. Probability: share "
        "of the runs that meet the target; year met: the median over runs of the first "
        "year from 2024 in which it is met. Driven most by: the effect size drawn from "
        "its prior (grade A causal for Japan, B comparable or correlational, C judgement) "
        "whose draws rank-correlate most with the value (Spearman's rho over the runs; "
        "named only when |rho| >= 0.2).",
        "",
    ]
    by_name = {r.scenario.name: r for r in results}
    for name in dict.fromkeys(row["scenario"] for row in rows):
        res = by_name[name]
        lines += [
            f"## {name}: {res.scenario.title['en']} / {res.scenario.title['ja']}",
            "",
            f"{res.n_runs} runs.",
            "",
            *_budget_line(res, [r for r in rows if r["scenario"] == name], model),
            "| target | goal | year | median | 5–95% | probability | year met | driven most by "
            "| public yen a year per additional (median, 5–95%) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            if row["scenario"] != name:
                continue
            sign = "≥" if row["sense"] == "at_least" else "≤"
            lines.append(
                f"| {row['target']} | {sign} {_fmt(row['goal'])} | {row['year']} | "
                f"{_fmt(row['p50'])} | {_fmt(row['p05'])}–{_fmt(row['p95'])} | "
                f"{row['probability']:.0%} | {row['median_year_met']} | "
                f"{row.get('driven_by') or '—'} | {_yen(row)} |"
            )
        lines.append("")
    return "\n".join(lines)


def _budget_line(res, rows: list, model) -> list:
    """Return the scenario's public budget in its last target year and its extra cost."""
    if COST not in res.values or not res.scenario.targets:
        return []
    year = max(t.year for t in res.scenario.targets)
    at = int(np.searchsorted(res.years, year))
    own = float(np.median(res.values[COST][at])) / MILLION_PER_OKU
    text = f"Public budget of the modelled programmes in FY{year}: {own:,.0f} 億円 (median)"
    row = next((r for r in rows if "extra_cost_oku_p50" in r), None)
    if row is not None and res.scenario.name != "baseline":
        text += (
            f"; FY2024–FY{year} together {row['extra_cost_oku_p50']:+,.0f} 億円 against the "
            "baseline (median over paired runs)"
        )
    from sim.studies.scenario import budget_levers

    acted = {f"{acts_on} target" for _, acts_on in budget_levers(model).values()}
    direct = sorted(p.lever[: -len(" target")] for p in res.scenario.policies if p.lever in acted)
    if direct:
        text += (
            f". Not costed: {', '.join(direct)}, set directly under policies rather than "
            "as budgets"
        )
    return [text + ".", ""]


def _yen(row: dict) -> str:
    """Yen per additional outcome as 'median (p05–p95)', or a dash."""
    p50 = row.get("yen_per_additional_p50")
    if p50 is None or not np.isfinite(p50):
        return "—"
    share = row.get("runs_with_gain", 1.0)
    note = f"; gain in {share:.0%} of runs" if share < 0.95 else ""
    return (
        f"{_money(p50)} ({_money(row['yen_per_additional_p05'])}–"
        f"{_money(row['yen_per_additional_p95'])}) {row['per']}{note}"
    )


def _money(yen: float) -> str:
    """Yen in 万円 (10,000 yen) or 億円 (100 million yen), as a reader of a budget writes them."""
    if abs(yen) >= 1e8:
        return f"{yen / 1e8:,.1f}億円"
    return f"{yen / 1e4:,.0f}万円"


def target_lines(rows: list) -> str:
    """Return the target table the command line prints: one row per scenario and target."""
    if not rows:
        return (
            "No targets: the model defines none of the J-MIRAI target outputs and the "
            "scenario names none (add them under targets:); summary.csv holds the results.\n"
        )
    lines = [
        "| scenario | target | year | median | 5–95% | probability | year met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        # one format per row, chosen by the goal: a count's band stays in whole people
        fmt = (lambda v: f"{v:,.0f}") if abs(r["goal"]) >= 100 else (lambda v: f"{v:.2f}")
        sign = "≥" if r["sense"] == "at_least" else "≤"
        lines.append(
            f"| {r['scenario']} | {r['target']} {sign} {fmt(r['goal'])} | {r['year']} | "
            f"{fmt(r['p50'])} | {fmt(r['p05'])}–{fmt(r['p95'])} | {r['probability']:.0%} | "
            f"{r['median_year_met']} |"
        )
    return "\n".join(lines) + "\n"


def _manifest(results: list, model, command: list) -> dict:
    from importlib.metadata import version  # not xarray's own: a 0.4 s import

    import numpy
    import scipy

    from sim.engine.simulate import package_version

    files = {}
    for res in results:
        for path, sha in res.scenario.files:
            files[path] = sha
    seeds = {
        r.scenario.name: r.scenario.uncertainty.seed
        for r in results
        if r.scenario.uncertainty.kind == "distributions"
    }
    return {
        "command": command,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "model": {"path": model.spec.path, "sha256": model.spec.sha256},
        "scenarios": files,
        "ensembles": {
            r.scenario.name: {"path": r.scenario.uncertainty.ensemble, "sha256": r.ensemble_sha256}
            for r in results
            if r.scenario.uncertainty.kind == "ensemble"
        },
        "seeds": seeds,
        "runs": {r.scenario.name: r.n_runs for r in results},
        "versions": {
            "brainsim": package_version(),
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "xarray": version("xarray"),
        },
        "platform": sys.platform,
    }


def write_run_csv(result, path: str | Path, run: int = 0) -> None:
    """Write one run of a :class:`sim.engine.simulate.Result` as CSV.

    Columns: ``time``, then one per output, headed by its Vensim name. Values
    are written with 17 significant digits, so that reading the file back
    gives the same floating-point numbers.
    """
    spec = result.model.spec
    header = ["time"] + [spec.element(key).name for key, _, _ in result.outputs]
    columns = [result.times] + [result.series(j)[:, run] for j in range(len(result.outputs))]
    table = np.column_stack(columns)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(_csv_field(h) for h in header) + "\n")
        for row in table:
            fh.write(",".join(f"{v:.17g}" for v in row) + "\n")


def _csv_field(text: str) -> str:
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


COSTS_COLUMNS = (
    "programme",
    "acts_on",
    "outcome",
    "change_oku",
    "gain_p50",
    "extra_cost_oku_p50",
    "yen_per_additional_p50",
    "yen_per_additional_p05",
    "yen_per_additional_p95",
    "per",
    "runs_with_gain",
    "rests_on",
)


def costs_markdown(rows: list, scenario, model) -> str:
    """Return the cost-effectiveness table of ``brainsim costs`` in markdown."""
    from sim.engine.simulate import package_version

    change = max((r["change_oku"] for r in rows), default=0)
    lines = [
        f"# What each programme's yen buys: up to +{change:g} 億円 a year against "
        f"'{scenario.name}'",
        "",
        f"Model {model.spec.path} (sha256 {model.spec.sha256[:12]}), brainsim "
        f"{package_version()}. Each programme's budget is raised by {change:g} 億円 a year "
        "(or to the top of its range) from FY2026 over two years (unless set otherwise) in "
        "runs paired with the scenario's "
        "own (its ensemble and effect-size draws). Gain: the median change of the outcome in "
        "2033. Yen a year per additional: the extra budget in FY2033 over the gain that year "
        "(median and 5-95% over the runs with a gain). Rests on: the effect size whose draws "
        "rank-correlate most with the gain, and its evidence grade.",
        "",
        "| programme | 億円 a year added | acts on | outcome | gain in 2033 | extra cost "
        "FY2024-2033 | public yen a year per additional (median, 5–95%) | rests on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        unit = " pp" if "percentage point" in r.get("per", "") else ""
        lines.append(
            f"| {r['programme']} | {r['change_oku']:+,.4g} | {r['acts_on']} | {r['outcome']} "
            f"| {r['gain_p50']:+,.4g}{unit} "
            f"| {r.get('extra_cost_oku_p50', float('nan')):,.0f} 億円 | {_yen(r)} "
            f"| {r['rests_on'] or '—'} |"
        )
    return "\n".join(lines) + "\n"


def write_costs(out, rows: list, text: str, *, force: bool = False) -> None:
    """Write ``costs.csv`` and ``costs.md`` into the folder ``out``, all or nothing."""
    from sim.engine.files import atomic_dir

    with atomic_dir(out, force=force) as tmp:
        write_csv(
            tmp / "costs.csv",
            list(COSTS_COLUMNS),
            [[r.get(c, "") for c in COSTS_COLUMNS] for r in rows],
        )
        (tmp / "costs.md").write_text(text, encoding="utf-8")
