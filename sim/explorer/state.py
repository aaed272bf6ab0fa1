"""The explorer's state: the controls a model offers, and a state as a scenario file.

A state is what the page holds and puts in its URL: the scenario it started
from and, for each lever or programme budget moved, its level, start year and
ramp. It becomes a self-contained scenario YAML (:func:`scenario_yaml`) that
is loaded by the same code as any scenario file, so the browser's values
meet the same checks, and the downloaded file reproduces the page with
``brainsim run``.
"""

import math
import tempfile
from pathlib import Path

import yaml

from sim.reports.catalogue import catalogue
from sim.reports.labels import SCENARIOS
from sim.studies.scenario import (
    MILLION_YEN_PER_OKU,
    Scenario,
    ScenarioError,
    budget_levers,
    lever_timing,
    levers,
    load_scenario,
)

NAME = "explorer"  # the name of the scenario a state becomes (and of its file)
RANGE_LABELS = ("lowest", "low", "status quo", "high", "highest")


def controls(model) -> list:
    """Return one control per lever and programme budget, grouped by programme.

    Each has its unit, range, baseline, the five labelled points of
    :data:`RANGE_LABELS` and the range of its start year and ramp.
    """
    cat = catalogue(model)
    out = []
    for item in cat["levers"]:
        out.append(_control(model, "lever", item["lever"], item, item["programme"]))
    for item in cat["budgets"]:
        out.append(_control(model, "budget", item["programme"], item, item["name"]))
    return out


def _control(model, kind: str, key: str, item: dict, programme: dict) -> dict:
    low, high = item["range"]
    base = float(item["baseline"])
    constant = model.spec.element(item["constant"])
    start_el, ramp_el = lever_timing(model, constant)
    return {
        "kind": kind,
        "key": key,
        "programme": programme,
        "acts_on": item.get("acts_on", ""),
        "unit": item["unit"],
        "min": low,
        "max": high,
        "baseline": base,
        "marks": dict(
            zip(RANGE_LABELS, [low, (low + base) / 2, base, (base + high) / 2, high], strict=True)
        ),
        "start": {"min": start_el.limits[0], "max": start_el.limits[1], "default": 2026},
        "ramp": {"min": ramp_el.limits[0], "max": ramp_el.limits[1], "default": 4},
    }


def state_of(scenario: Scenario, model) -> dict:
    """Return the state that reproduces a loaded scenario's levers and budgets."""
    by_constant = {el.name: lever for lever, el in levers(model).items()}
    budget_of = {el.name: prog for prog, (el, _) in budget_levers(model).items()}
    state = {"base": scenario.name, "policies": {}, "budgets": {}}
    for p in scenario.policies:
        entry = {"from": p.start, "ramp": p.ramp_years}
        if p.lever in budget_of:
            state["budgets"][budget_of[p.lever]] = {**entry, "to": p.to / MILLION_YEN_PER_OKU}
        else:
            state["policies"][by_constant[p.lever]] = {**entry, "to": p.to}
    return state


def scenario_yaml(state: dict, base: Scenario, version: str) -> str:
    """Return the scenario file of ``state``: its base's settings, then its own levers.

    The file extends nothing, so it runs wherever it is saved; ``version``
    (the model's short SHA-256) is written in its header comment.
    """
    doc = {
        "name": NAME,
        "title": {"en": "Explorer scenario", "ja": "エクスプローラーのシナリオ"},
        "description": {
            "en": f"Made in brainsim explore from '{base.name}' ({_title(base, 'en')}).",
            "ja": f"brainsim explore で「{_title(base, 'ja')}」をもとに作成。",
        },
    }
    if base.set:
        doc["set"] = {k: _plain(v) for k, v in base.set.items()}
    if base.series:
        doc["series"] = {
            k: [[x, y] for x, y in zip(*xy, strict=True)] for k, xy in base.series.items()
        }
    # the file's keys: policies name a lever, budgets a programme
    for key, name in (("policies", "lever"), ("budgets", "programme")):
        entries = [
            {
                name: k,
                "from": _plain(p["from"]),
                "ramp_years": _plain(p["ramp"]),
                "to": _plain(p["to"]),
            }
            for k, p in state.get(key, {}).items()
        ]
        if entries:
            doc[key] = entries
    if base.uncertainty.kind != "ensemble":
        raise ScenarioError(
            f"{base.name}: the explorer runs scenarios over the calibrated ensemble; "
            "this one draws its own distributions, so run it with brainsim run"
        )
    head = (
        f"# brainsim explore, model sha256 {version}; "
        f"run it with: brainsim run {NAME}.yaml --out DIR\n"
    )
    return head + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)


def _title(s: Scenario, lang: str) -> str:
    return SCENARIOS.get(s.name, {}).get(lang) or s.title.get(lang) or s.name


def _plain(value):
    """Return a whole number as an int; anything else as it is, for the loader to check."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def load_state(state: dict, base: Scenario, model, version: str) -> tuple:
    """Return ``(scenario, yaml text)``: the state checked as a scenario file is.

    Raises :class:`ScenarioError` with the file name replaced by ``the
    explorer's scenario``, for the page to show.
    """
    if not isinstance(state, dict):
        raise ScenarioError("the explorer's scenario: the state must be a mapping")
    for key in ("policies", "budgets"):
        entries = state.get(key, {})
        if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
            raise ScenarioError(f"the explorer's scenario: '{key}' must map names to settings")
        for name, entry in entries.items():
            missing = {"to", "from", "ramp"} - set(entry)
            if missing:
                raise ScenarioError(
                    f"the explorer's scenario: {key}.{name} lacks {', '.join(sorted(missing))}"
                )
    text = scenario_yaml(state, base, version)
    return load_text(text, NAME, model, "the explorer's scenario"), text


def load_text(text: str, name: str, model, shown: str, beside: tuple = ()) -> Scenario:
    """Load scenario ``text`` as the file ``<name>.yaml``, with copies of ``beside`` next to it.

    The file lives in a temporary folder; a message names it as ``shown``.
    """
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        for other in beside:  # the scenarios that an ``extends:`` may name
            shutil.copy(other, Path(tmp) / Path(other).name)
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_scenario(path, model)
        except ScenarioError as err:
            raise ScenarioError(str(err).replace(str(path), shown)) from None
