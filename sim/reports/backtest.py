"""``brainsim backtest``: fits ending in given years, scored on the years after, as files."""

import csv
import datetime
from pathlib import Path

from sim.engine.files import atomic_dir, check_out
from sim.engine.progress import ticker
from sim.studies.backtest import SCORE_COLUMNS, backtest


def run_backtests(
    model_path: str,
    history_path: str,
    out: str,
    years: list,
    *,
    starts: int = 3,
    samples: int = 50_000,
    seed: int = 20261127,
    force: bool = False,
    progress=None,
    workers=None,
) -> str:
    """Run a backtest per year of ``years``, write backtest.md and .csv, return the text.

    ``workers``: local processes, or a :class:`~sim.engine.cluster.Cluster`.
    """
    from sim.engine import load_model
    from sim.studies.history import load_history

    check_out(out, force=force)
    model = load_model(model_path)
    observations = load_history(history_path, [el.name for el in model.spec.elements])
    total = len(years) * (starts + -(-samples // 10_000))
    tick = ticker(progress, total)

    results = [
        backtest(
            model,
            observations,
            y,
            starts=starts,
            samples=samples,
            seed=seed,
            tick=tick,
            workers=workers,
        )
        for y in years
    ]
    text = markdown(results, model, history_path, starts, samples, seed)
    with atomic_dir(out, force=force) as tmp:
        (tmp / "backtest.md").write_text(text, encoding="utf-8")
        with open(tmp / "backtest.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=SCORE_COLUMNS)
            w.writeheader()
            for r in results:
                w.writerows(r.rows)
    return text


def table(results: list) -> str:
    """Return the scores of every backtest as one markdown table."""
    lines = [
        "| fit until | series | held-out years | n | in 5-95% band | median error | median bias "
        "| best-fit error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for row in r.rows:
            lines.append(
                f"| {r.fit_until} | {row['series']} | {row['held_out_years']} | {row['n']} "
                f"| {100 * row['coverage_5_95']:.0f}% | {row['median_mape']:.1f}% "
                f"| {row['median_bias']:+.1f}% | {row['best_fit_mape']:.1f}% |"
            )
        lines.append(
            f"| {r.fit_until} | **all held-out observations** | | {r.held_out} "
            f"| **{100 * r.coverage:.0f}%** | **{r.median_mape:.1f}%** (median "
            f"{r.median_ape:.1f}%) | | |"
        )
    return "\n".join(lines)


def markdown(results, model, history_path, starts, samples, seed) -> str:
    """Return the backtest report: provenance, what the columns mean, the table."""
    lines = [
        f"# Backtests of {Path(model.spec.path).name}",
        "",
        f"Model sha256 {model.spec.sha256[:12]}, history {history_path}; "
        f"{datetime.date.today().isoformat()}; brainsim backtest, {starts} least-squares starts "
        f"from the centre of the ranges and Latin-hypercube points, a prior sample of "
        f"{samples:,}, seed {seed}.",
        "",
        "Each backtest fits the calibrated parameters to the observations up to its year and "
        "draws the constrained ensemble as `brainsim calibrate` does, then scores every later "
        "observation. *In 5-95% band*: the share of held-out observations inside the "
        "ensemble's 5-95% band (90% if the band is honest). *Median error*: mean absolute "
        "error of the band's median, % of the observation; *median bias*: its signed mean "
        "(positive: the model projected too high); over all observations the median of the "
        "absolute errors is given too, since a count that fell almost to zero in the closure "
        "years (JASSO's 1,487 participants in FY2020) makes a relative error of thousands of "
        "percent. *Best-fit error*: the same for the single "
        "best fit. The inputs (cohort, exchange rate, the 2020-2022 closure, policy paths) are "
        "the recorded ones, so this scores the model's structure and calibration, not a "
        "forecast of its inputs.",
        "",
    ]
    for r in results:
        lines.append(
            f"- Fit until {r.fit_until}: {r.fitted} observations fitted, {r.held_out} held out, "
            f"{r.members} ensemble members."
        )
    lines += ["", table(results), ""]
    return "\n".join(lines)
