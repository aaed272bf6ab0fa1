"""What ``brainsim calibrate`` writes: fitted values, the fit report, figures and bands.

Every file names the model (path and SHA-256) and the history it was fitted
to, so that a number in a report can be traced to the run that made it.
"""

import csv
import math
from pathlib import Path

import numpy as np

REPORT_COLUMNS = (
    "series",
    "model_variable",
    "years",
    "n",
    "weight",
    "mape",
    "r2",
    "um",
    "us",
    "uc",
)


def write_csv(path: Path, header: list, rows: list) -> None:
    """Write ``rows`` under ``header`` as CSV (floats at full precision: csv writes repr)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def fitted_rows(problem, fit, defaults: np.ndarray, members: np.ndarray) -> list:
    """Return one row per fitted parameter.

    Each row: range, default before, fitted value, standard error, and the
    5-95% range of the ensemble's members.
    """
    rows = []
    stderr = fit.stderr(problem)
    p05, p95 = np.percentile(members, [5, 95], axis=0) if len(members) else (defaults, defaults)
    for i, name in enumerate(problem.names):
        el = problem.model.spec.element(name)
        rows.append(
            (
                name,
                el.units,
                float(problem.lower[i]),
                float(problem.upper[i]),
                float(defaults[i]),
                float(fit.values[i]),
                float(stderr[i]),
                float(p05[i]),
                float(p95[i]),
            )
        )
    return rows


FITTED_COLUMNS = (
    "parameter",
    "units",
    "min",
    "max",
    "default_before",
    "fitted",
    "stderr",
    "ensemble_p05",
    "ensemble_p95",
)


def report_markdown(rows: list, title: str, provenance: str) -> str:
    """Return the fit report as a markdown table, one row per series."""
    lines = [
        f"# {title}",
        "",
        provenance,
        "",
        "MAPE: mean absolute percentage error. R²: squared correlation of model and data.",
        "U^M, U^S, U^C: shares of the mean squared error due to bias, unequal variation and",
        "unequal covariation (Theil; Sterman 1984); they sum to 1. Weight 0: shown, not fitted.",
        "",
        "| series | model variable | years | n | weight | MAPE % | R² | U^M | U^S | U^C |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['series']} | {r['model_variable']} | {r['years']} | {r['n']} | "
            f"{r['weight']:g} | {r['mape']:.1f} | {_num(r['r2'], 2)} | {_num(r['um'], 2)} | "
            f"{_num(r['us'], 2)} | {_num(r['uc'], 2)} |"
        )
    return "\n".join(lines) + "\n"


def _num(value: float, digits: int) -> str:
    return (
        "—"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.{digits}f}")
    )


def series_figure(path: Path, label: str, obs: list, best: np.ndarray, band, footer: str):
    """History (points) against the best fit (line) and the ensemble's 5-95% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    years = np.array([o.year for o in obs])
    y = np.array([o.value for o in obs])
    scale = 0.01 if obs[0].unit.startswith("%") else 1.0  # the model's ratios are fractions
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    order = np.argsort(years)
    if band is not None:
        lo, hi = band
        ax.fill_between(
            years[order],
            lo[order] / scale,
            hi[order] / scale,
            color="tab:blue",
            alpha=0.2,
            label="ensemble 5–95%",
        )
    ax.plot(years[order], best[order] / scale, "-", color="tab:blue", label="calibrated model")
    ax.plot(years, y, "o", color="black", ms=4, label="observed (history.csv)")
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(
        FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}")
    )
    ax.set_title(label, fontsize=9)
    ax.set_ylabel(obs[0].unit, fontsize=8)
    ax.set_xlabel("year (fiscal year for flows)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.text(0.01, 0.01, footer, fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)
