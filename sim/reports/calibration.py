"""``brainsim calibrate``: fit, ensemble, bands and every file they produce.

The arithmetic is in :mod:`sim.studies.calibrate`; this module runs the steps in
order, times them, and writes the outputs (all or nothing).
"""

import dataclasses
import datetime
import hashlib
import re
import time
from pathlib import Path

import numpy as np

from sim.engine.errors import BrainsimError
from sim.engine.files import atomic_dir, atomic_path, check_out
from sim.reports.fitreport import (
    FITTED_COLUMNS,
    REPORT_COLUMNS,
    fitted_rows,
    report_markdown,
    series_figure,
    write_csv,
)
from sim.studies.calibrate import (
    THRESHOLD,
    Calibration,
    calibrate,
    fit_statistics,
    report_rows,
    write_ensemble,
)

# Series whose fit issue 4 sets a bar for (MAPE, %), by series name over all its bases.
HEADLINE = {
    "intl_students_total_excl_jlang_basis": 10.0,
    "intl_students_total_incl_jlang": 10.0,
    "researchers_dispatched_midlong": 10.0,
    "japanese_abroad_oecd_based": 15.0,
    "japanese_abroad_jasso_agreement_survey": 15.0,
}


def run_calibration(
    model_path: str,
    history_path: str,
    out: str,
    *,
    ensemble_path: str,
    starts: int = 3,
    samples: int = 50_000,
    seed: int = 20261127,
    update_model: bool = False,
    force: bool = False,
    progress=None,
    workers=None,
) -> str:
    """Calibrate, build the ensemble, write every output; return the printed summary.

    ``workers``: local processes, or a :class:`~sim.engine.cluster.Cluster`.
    """
    from sim.engine import load_model
    from sim.engine.vensim import set_constants
    from sim.studies.history import load_history

    if starts < 1 or samples < 1:
        raise BrainsimError("--starts and --samples must be at least 1")
    check_out(out, force=force)
    clock = time.perf_counter()
    model = load_model(model_path)
    observations = load_history(history_path, [el.name for el in model.spec.elements])
    cal = calibrate(
        model,
        observations,
        starts=starts,
        samples=samples,
        seed=seed,
        progress=progress,
        workers=workers,
    )
    rows = report_rows(cal.problem, cal.best_obs)

    new_text = None
    if update_model:
        note = (
            f"Fitted by brainsim calibrate to {Path(history_path).name} on "
            f"{datetime.date.today().isoformat()} (report: {out}/fit_report.md)."
        )
        values = dict(zip(cal.problem.names, cal.rounded, strict=True))
        new_text = set_constants(model_path, values, note)
        sha = hashlib.sha256(new_text.encode("utf-8")).hexdigest()
    else:
        sha = model.spec.sha256
    provenance = (
        f"Model {model_path} (sha256 {sha[:12]}), history {history_path}, "
        f"{len(cal.problem.names)} parameters, {int(np.count_nonzero(cal.problem.data.weight))} "
        f"fitted observations; brainsim calibrate, seed {seed}."
    )
    summary = _summary(cal, _headline(cal), rows, time.perf_counter() - clock, provenance)
    caption = (
        f"{Path(model_path).name} sha256 {sha[:12]} · {Path(history_path).name} · "
        f"brainsim calibrate, seed {seed}"
    )
    with atomic_dir(out, force=force) as tmp:
        _write_report(tmp, cal, rows, summary, provenance, caption)
        write_ensemble(Path(ensemble_path), dataclasses.replace(cal.ensemble, model_sha256=sha))
        if new_text is not None:
            with atomic_path(model_path) as mdl:
                mdl.write_text(new_text, encoding="utf-8")
    return summary


def _headline(cal: Calibration) -> list:
    """Return ``(series, n, MAPE, bar)`` of each series issue 4 sets a bar for."""
    data = cal.problem.data
    headline = []
    for series, bar in HEADLINE.items():
        idx = [i for i, o in enumerate(data.observations) if o.series == series]
        if idx:
            stats = fit_statistics(data.y[idx], cal.best_obs[idx])
            headline.append((series, len(idx), stats["mape"], bar))
    return headline


def _write_report(tmp: Path, cal: Calibration, rows, summary, provenance, caption) -> None:
    """Write the fit report, the fitted values, the bands and one figure per series."""
    problem, data = cal.problem, cal.problem.data
    write_csv(
        tmp / "fitted_parameters.csv",
        list(FITTED_COLUMNS),
        fitted_rows(problem, cal.best, cal.defaults, cal.ensemble.values),
    )
    write_csv(
        tmp / "fit_report.csv",
        list(REPORT_COLUMNS),
        [[r[c] for c in REPORT_COLUMNS] for r in rows],
    )
    (tmp / "fit_report.md").write_text(
        report_markdown(rows, "Fit of the calibrated baseline to history", provenance),
        encoding="utf-8",
    )
    write_csv(tmp / "baseline_bands.csv", ["variable", "year", "p05", "p50", "p95"], cal.band_rows)
    (tmp / "summary.md").write_text(summary, encoding="utf-8")
    figures = tmp / "figures"
    figures.mkdir()
    lo, hi = np.percentile(cal.member_obs, [5, 95], axis=1)
    for r in rows:
        idx = [i for i, lab in enumerate(data.labels) if lab == r["series"]]
        name = re.sub(r"[^0-9a-zA-Z]+", "_", r["series"]).strip("_")
        series_figure(
            figures / f"{name}.png",
            f"{r['series']} — MAPE {r['mape']:.1f}%",
            [data.observations[i] for i in idx],
            cal.best_obs[idx],
            (lo[idx], hi[idx]),
            caption,
        )


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _summary(cal: Calibration, headline: list, rows: list, elapsed: float, prov: str) -> str:
    best, ens, share, runs, t_fit = cal.best, cal.ensemble, cal.coverage, cal.runs, cal.fit_seconds
    lines = ["# brainsim calibrate", "", prov, "", "## Headline fit (issue 4 bars)", ""]
    lines += ["| series (all bases) | n | MAPE % | bar % | |", "|---|---|---|---|---|"]
    for series, n, mape, bar in headline:
        lines.append(
            f"| {series} | {n} | {mape:.1f} | {bar:g} | {'ok' if mape <= bar else 'ABOVE'} |"
        )
    lines += ["", "## Every series", ""]
    lines += [
        "| series | n | weight | MAPE % | R² | U^M | U^S | U^C |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['series']} | {r['n']} | {r['weight']:g} | {r['mape']:.1f} | {r['r2']:.2f} | "
            f"{r['um']:.2f} | {r['us']:.2f} | {r['uc']:.2f} |"
        )
    costs = ", ".join(f"{c:.4g}" for _, c, _ in best.starts)
    lines += [
        "",
        "## Fit and ensemble",
        "",
        f"- least squares from {len(best.starts)} starts (costs {costs}); "
        f"best cost {best.cost:.4g}",
        f"- prior sample {ens.prior_size:,} (seed {ens.seed}); {ens.passed:,} pass with cost "
        f"<= {THRESHOLD:g} x best = {ens.threshold:.4g}; the first {len(ens.costs):,} are the "
        "ensemble's members",
        f"- of {ens.full_range_size:,} sets drawn uniformly over the full .mdl ranges, "
        f"{ens.full_range_kept} pass the same threshold",
        f"- the kept members' 5-95% band covers {share:.0%} of the fitted observations",
        f"- prior sample run at {ens.runs_per_s:,.0f} runs/s",
        "",
        "## Baseline in 2033 over the ensemble (median, 5-95%)",
        "",
        "| output | p50 | p05 | p95 |",
        "|---|---|---|---|",
    ]
    for name, year, p05, p50, p95 in cal.band_rows:
        if year == 2033:
            lines.append(f"| {name} | {_fmt(p50)} | {_fmt(p05)} | {_fmt(p95)} |")
    lines += [
        "",
        f"Time: {elapsed:.0f} s in all (fit {t_fit:.0f} s); {runs:,} model runs, "
        f"{runs / elapsed:,.0f} runs/s.",
        "",
    ]
    return "\n".join(lines)


def stale_calibration(root: Path, model) -> list:
    """Return what in the calibration outputs was made from another model (empty: current).

    Checks ``model/ensemble.csv`` (its ``# model_sha256`` header) and
    ``model/calibration/fit_report.md`` (the hash in its provenance line)
    against the model as it is now.
    """
    from sim.studies.calibrate import ensemble_model_mismatch

    root = Path(root)
    notes = []
    mismatch = ensemble_model_mismatch(root / "model" / "ensemble.csv", model)
    if mismatch:
        notes.append(mismatch)
    report = root / "model" / "calibration" / "fit_report.md"
    if report.is_file():
        found = re.search(r"sha256 ([0-9a-f]{12})", report.read_text(encoding="utf-8"))
        if not found or found.group(1) != model.spec.sha256[:12]:
            made = f"sha256 {found.group(1)}" if found else "an unrecorded model"
            notes.append(
                f"{report} was made from {made}, not the current model (sha256 "
                f"{model.spec.sha256[:12]}); rerun brainsim calibrate --out "
                "model/calibration --update-model"
            )
    return notes
