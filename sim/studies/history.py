"""Observed history (``model/history.csv``) and how model output is made comparable to it.

A model output compared with a series must measure the same thing
(``MODEL_NOTES.md``): a stock at the same date in the year, or a flow summed
over the same year. :data:`TIMING` says, for each series, how the
observation is taken; :func:`observe` applies that to a run saved finely
enough (``saveper`` = TIME STEP) to integrate flows over the year.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.engine.errors import BrainsimError
from sim.engine.names import suggestion, vensim_key

COLUMNS = ("series", "year", "value", "unit", "source", "note", "model_variable")

# How each series is observed (MODEL_NOTES.md, "Stocks and flows in the data").
#   may1           a stock counted on 1 May of the year (JASSO, MEXT school survey)
#   mid_year       a stock in a calendar/statistical year, taken at mid-year
#   early_january  a stock counted in the first days of January (4 January)
#   fiscal_mean    a flow (or a ratio of flows) over the fiscal year April-March,
#                  as the mean of the model's rate over [year + 0.25, year + 1.25)
#   calendar_mean  the same over the calendar year [year, year + 1)
TIMING_BY_PREFIX = (
    ("intl_students_awaiting_entry", "early_january"),
    ("intl_students_", "may1"),
    ("doctoral_students_enrolled", "may1"),
    ("japanese_abroad_oecd_based", "mid_year"),
    ("japanese_abroad_oecd_in_", "mid_year"),
    ("japanese_abroad_jasso_to_", "fiscal_mean"),
    ("japanese_students_in_us_open_doors", "mid_year"),
    ("japanese_abroad_jasso_agreement_survey", "fiscal_mean"),
    ("researchers_", "fiscal_mean"),
    ("intl_grads_employed_in_japan_share", "fiscal_mean"),
    ("intl_grads_domestic_employment_rate_jmirai", "fiscal_mean"),
    ("master_to_doctoral_progression_rate", "fiscal_mean"),
    ("doctoral_entrants", "fiscal_mean"),
    ("doctoral_graduates", "fiscal_mean"),
    ("status_change_permits_study_to_work", "calendar_mean"),
)
_WINDOWS = {"fiscal_mean": (0.25, 1.25), "calendar_mean": (0.0, 1.0)}
# 1 May is the 121st day of the year; 4 January the 4th
_POINTS = {"may1": 120 / 365, "mid_year": 0.5, "early_january": 3 / 365}


@dataclass(frozen=True)
class Observation:
    """One row of ``model/history.csv``."""

    series: str
    year: int
    value: float
    unit: str
    source: str
    note: str
    model_variable: str

    @property
    def timing(self) -> str:
        """How the observation is taken; see :data:`TIMING_BY_PREFIX`."""
        return timing(self.series)

    @property
    def comparable(self) -> float:
        """The value on the model's scale: history keeps percentages as published."""
        return self.value / 100 if self.unit.startswith("%") else self.value


def timing(series: str) -> str:
    """Return how ``series`` is observed, or raise if no rule covers it."""
    for prefix, rule in TIMING_BY_PREFIX:
        if series.startswith(prefix):
            return rule
    raise BrainsimError(
        f"series '{series}' has no observation rule; add it to "
        "sim.studies.history.TIMING_BY_PREFIX "
        "(stock on 1 May, mid-year stock, fiscal or calendar flow)"
    )


def load_history(path: str | Path, variables: list | None = None) -> tuple:
    """Read ``history.csv`` strictly: the columns, numbers and (if given) variable names.

    Parameters
    ----------
    path
        The CSV file.
    variables
        Names of the model's variables; each row's ``model_variable`` must be one.
    """
    import io

    from sim.engine.files import read_text

    path = Path(path)
    if not path.is_file():
        raise BrainsimError(f"{path}: no such history file; give the path of history.csv")
    reader = csv.DictReader(io.StringIO(read_text(path, "history file"), newline=""))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise BrainsimError(
            f"{path}: columns are {reader.fieldnames}; expected {', '.join(COLUMNS)}"
        )
    rows = []
    known = {vensim_key(v): v for v in variables or []}
    for line, row in enumerate(reader, start=2):
        try:
            year, value = int(row["year"]), float(row["value"])
        except ValueError:
            raise BrainsimError(
                f"{path}:{line}: year '{row['year']}' or value '{row['value']}' is not a number"
            ) from None
        if not math.isfinite(value):
            raise BrainsimError(f"{path}:{line}: value is not finite")
        if variables is not None and vensim_key(row["model_variable"]) not in known:
            raise BrainsimError(
                f"{path}:{line}: model_variable '{row['model_variable']}' is not in the "
                f"model; {suggestion(row['model_variable'], list(known.values()))}"
            )
        timing(row["series"])
        rows.append(Observation(**{**row, "year": year, "value": value}))
    return tuple(rows)


def timing_weights(times: np.ndarray, year: int, rule: str) -> np.ndarray:
    """Weights over ``times`` whose dot product with a variable is its observation in ``year``.

    A stock at a date is a linear interpolation between the two saved times
    around it; a flow over a year is the mean of its values saved inside the
    year. :func:`observe` is this applied to every run.
    """
    weights = np.zeros(len(times))
    if rule in _POINTS:
        at = year + _POINTS[rule]
        if not times[0] <= at <= times[-1]:
            raise BrainsimError(f"the run does not cover {at:g} for a {rule} observation")
        k = min(int(np.searchsorted(times, at, side="right")) - 1, len(times) - 2)
        frac = (at - times[k]) / (times[k + 1] - times[k])
        weights[k], weights[k + 1] = 1 - frac, frac
        return weights
    start, end = (year + a for a in _WINDOWS[rule])
    if start < times[0] or end > times[-1] + 1e-9:
        raise BrainsimError(f"the run does not cover {start:g}-{end:g} for a {rule} observation")
    inside = (times >= start - 1e-9) & (times < end - 1e-9)
    # the mean of a rate held over each Euler step is the mean of its step values
    weights[inside] = 1 / np.count_nonzero(inside)
    return weights


def last_year(model, rule: str) -> int:
    """Return the last year whose ``rule`` observation a run of ``model`` covers."""
    end = model.controls["final_time"]
    reach = _POINTS[rule] if rule in _POINTS else _WINDOWS[rule][1]
    return int(np.floor(end - reach + 1e-9))


def default_rule(model, name: str) -> str:
    """How an output is measured: its target's rule, else a stock on 1 May, else a fiscal mean."""
    from sim.studies.targets import OUTPUT_TIMING

    if name in OUTPUT_TIMING:
        return OUTPUT_TIMING[name]
    return "may1" if model.spec.element(name).kind == "stock" else "fiscal_mean"


def observation_weights(times: np.ndarray, obs: "Observation") -> np.ndarray:
    """:func:`timing_weights` for one row of ``history.csv``."""
    return timing_weights(times, obs.year, obs.timing)


def observe(times: np.ndarray, values: np.ndarray, year: int, rule: str) -> np.ndarray:
    """Return the model's counterpart of an observation in ``year``, for every run.

    Parameters
    ----------
    times
        Saved times [Year], fine enough to average over a year (every TIME STEP).
    values
        The model variable, shaped ``(time, run)``.
    year
        The observation's year (fiscal year ``year`` runs April ``year`` to March
        ``year + 1``).
    rule
        One of the rules of :data:`TIMING_BY_PREFIX`.
    """
    return timing_weights(times, year, rule) @ values


def compare_history(model, observations: tuple, params: dict | None = None) -> list:
    """Return ``(observation, modelled)`` pairs for the default (or given) parameters.

    The model is run once, saved at every TIME STEP so that flows can be
    averaged over fiscal years.
    """
    from sim.engine.simulate import simulate

    names = sorted({o.model_variable for o in observations})
    ds = simulate(model, params, saveper=model.controls["time_step"], outputs=names)
    times = ds["time"].values
    pairs = []
    for obs in observations:
        var = model.spec.element(obs.model_variable).py_name
        pairs.append((obs, float(observe(times, ds[var].values, obs.year, obs.timing)[0])))
    return pairs


def history_table(pairs: list) -> str:
    """Format ``compare_history`` pairs as a markdown table with the % difference."""
    lines = [
        "| series | year | observed | model | difference | model variable |",
        "|---|---|---|---|---|---|",
    ]
    for obs, modelled in pairs:
        diff = (modelled / obs.value - 1) * 100 if obs.value else float("nan")
        lines.append(
            f"| {obs.series} | {obs.year} | {obs.value:,.6g} | {modelled:,.6g} | "
            f"{diff:+.1f}% | {obs.model_variable} |"
        )
    return "\n".join(lines)
