"""Scenario files: strict loading of the scenario YAML (README, "Scenarios") against a model.

A scenario lists only what differs from the baseline: constants (``set``),
levers moved from a year over a ramp (``policies``), lookup overrides
(``series``), the uncertainty to run over and extra ``targets``. Every
mistake is one :class:`ScenarioError` naming the file, the line, the key
path and, for a name, the closest valid ones.
"""

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from sim.engine.errors import BrainsimError
from sim.engine.names import closest, vensim_key
from sim.studies.history import default_rule, last_year
from sim.studies.targets import PROJECTION_START, TARGETS, Target

DEFAULT_ENSEMBLE = "model/ensemble.csv"
TOP_KEYS = (
    "name",
    "title",
    "description",
    "extends",
    "set",
    "policies",
    "budgets",
    "series",
    "uncertainty",
    "targets",
)
LANGUAGES = ("en", "ja")
POLICY_KEYS = ("lever", "from", "ramp_years", "to")
BUDGET_KEYS = ("programme", "from", "ramp_years", "to", "change")
MILLION_YEN_PER_OKU = 100.0  # budgets: are in 億円 (100 million yen); the .mdl in million yen
TARGET_KEYS = ("variable", "year", "at_least", "at_most", "label")
DISTRIBUTIONS = {"uniform": 2, "normal": 2, "triangular": 3}
MAX_BYTES = 1_000_000  # a scenario lists what differs from the baseline: a few kB
MAX_DEPTH = 8  # the deepest scenario path is e.g. uncertainty.distributions.NAME.normal[0]


class ScenarioError(BrainsimError):
    """A scenario file that cannot be used; the message says where and how to fix it."""


@dataclass(frozen=True)
class Policy:
    """A lever moved to ``to`` from year ``start`` over ``ramp_years``."""

    lever: str  # the lever's constant in the .mdl, e.g. "scholarship coverage target"
    start: float
    ramp_years: float
    to: float
    # the constants the start and ramp set, e.g. "scholarship coverage policy start year"
    start_constant: str = "policy start year"
    ramp_constant: str = "policy ramp years"


@dataclass(frozen=True)
class Uncertainty:
    """What a scenario runs over: the calibrated ensemble, distributions, or one run."""

    kind: str  # "ensemble", "distributions" or "none"
    ensemble: str = DEFAULT_ENSEMBLE
    distributions: tuple = ()  # (constant, family, parameters)
    samples: int = 0
    seed: int = 0


@dataclass(frozen=True)
class Scenario:
    """A scenario, its base scenarios merged in."""

    name: str
    title: dict
    description: dict
    files: tuple  # (path, sha256) of this file and every base it extends
    set: dict = field(default_factory=dict)
    policies: tuple = ()
    series: dict = field(default_factory=dict)
    uncertainty: Uncertainty = Uncertainty("ensemble")
    targets: tuple = TARGETS


class _Doc:
    """A YAML file's data with the line of every key path, for messages."""

    def __init__(self, path: Path):
        from sim.engine.files import read_text

        self.path = path
        if path.stat().st_size > MAX_BYTES:
            raise ScenarioError(
                f"{path}: {path.stat().st_size:,} bytes is too large for a scenario file "
                f"(at most {MAX_BYTES:,}); is it the right file?"
            )
        text = read_text(path, "scenario file")
        self.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self.lines: dict = {}
        self._seen: set = set()
        try:
            loader = yaml.SafeLoader(text)
            try:
                node = loader.get_single_node()
                if node is not None:
                    self._walk(node, ())
                self.data = loader.construct_document(node) if node is not None else None
            finally:
                loader.dispose()
        except RecursionError:
            raise ScenarioError(
                f"{path}: the YAML is nested too deeply to read; a scenario is at most "
                f"{MAX_DEPTH} levels deep"
            ) from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            what = getattr(err, "problem", None) or str(err).splitlines()[0]
            start = getattr(err, "context_mark", None)
            if start is not None and getattr(err, "context", None):
                what += f", {err.context} on line {start.line + 1}"
            raise ScenarioError(
                f"{path}:{line}: not valid YAML ({what}); fix the syntax"
            ) from None

    def _walk(self, node, keypath: tuple) -> None:
        line = node.start_mark.line + 1
        # an alias makes the same node appear twice; refusing it also stops
        # a "billion laughs" file from expanding without end
        if id(node) in self._seen:
            raise ScenarioError(
                f"{self.path}:{line}: {_dotted(keypath) or 'the document'}: YAML aliases "
                "(*name) are not allowed in a scenario; write the value out"
            )
        self._seen.add(id(node))
        if len(keypath) > MAX_DEPTH:
            raise ScenarioError(
                f"{self.path}:{line}: nested {len(keypath)} levels deep; a scenario is at most "
                f"{MAX_DEPTH} levels deep (see brainsim schema)"
            )
        # a key's own line, where known, rather than the line its value starts on
        self.lines.setdefault(keypath, line)
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    where = _dotted(keypath) or "the file"
                    raise ScenarioError(
                        f"{self.path}:{key.start_mark.line + 1}: {where}: a key must be plain "
                        "text, not a list or mapping; write the name"
                    )
                name = key.value
                if name in seen:
                    raise ScenarioError(
                        f"{self.path}:{key.start_mark.line + 1}: {_dotted(keypath + (name,))}: "
                        "the key appears twice; keep one"
                    )
                seen.add(name)
                self.lines[keypath + (name,)] = key.start_mark.line + 1
                self._walk(value, keypath + (name,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, keypath + (i,))

    def error(self, keypath: tuple, problem: str) -> ScenarioError:
        """Return a one-line error at ``keypath`` (the nearest line known)."""
        line = 1
        for n in range(len(keypath), -1, -1):
            if keypath[:n] in self.lines:
                line = self.lines[keypath[:n]]
                break
        where = f" {_dotted(keypath)}:" if keypath else ""
        return ScenarioError(f"{self.path}:{line}:{where} {problem}")


def _dotted(keypath: tuple) -> str:
    out = ""
    for k in keypath:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def _suggest(word: str, candidates: list) -> str:
    hits = closest(str(word), candidates)
    return (
        ("did you mean " + " or ".join(repr(h) for h in hits) + "?")
        if hits
        else ("see the names in the .mdl (or brainsim schema)")
    )


# --- loading -----------------------------------------------------------------


def load_scenarios(paths: list, model) -> list:
    """Load each scenario file of ``paths``; refuse two scenarios of the same name."""
    scenarios = [load_scenario(path, model) for path in paths]
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ScenarioError(
            f"a scenario is named twice in {', '.join(map(str, paths))}; give each once"
        )
    return scenarios


def load_scenario(path: str | Path, model, _chain: tuple = ()) -> Scenario:
    """Load ``path`` and the scenarios it extends, checked against ``model``.

    Parameters
    ----------
    path
        The scenario YAML; a base named in ``extends`` is ``<name>.yaml`` in
        the same folder.
    model
        The compiled model whose names and ranges the file must respect.
    """
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: no such scenario file; give the path of a .yaml file")
    doc = _Doc(path)
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error(
            (), "a scenario is a mapping of keys (name, title, ...); see brainsim schema"
        )
    for key in data:
        if key not in TOP_KEYS:
            raise doc.error((key,), f"unknown key '{key}'; {_suggest(key, list(TOP_KEYS))}")
    for key in ("name", "title", "description"):
        if key not in data:
            raise doc.error((), f"the key '{key}' is missing; add it (see brainsim schema)")
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise doc.error(("name",), "name must be a text, e.g. expanded-scholarships")
    if name != path.stem:
        raise doc.error(
            ("name",),
            f"name '{name}' differs from the file name '{path.stem}'; make them the same",
        )
    texts = {key: _bilingual(doc, key, data[key]) for key in ("title", "description")}

    base = _base(doc, path, data["extends"], model, _chain) if "extends" in data else None

    own_set = _set(doc, data.get("set"), model)
    own_policies = _policies(doc, data.get("policies"), model) + _budgets(
        doc, data.get("budgets"), model
    )
    own_series = _series(doc, data.get("series"), model)
    own_targets = _targets(doc, data.get("targets"), model)
    uncertainty = _uncertainty(doc, data["uncertainty"], model) if "uncertainty" in data else None

    merged_set = {**(base.set if base else {}), **own_set}
    by_lever = {p.lever: p for p in (base.policies if base else ())}
    by_lever.update({p.lever: p for p in own_policies})
    policies = tuple(by_lever.values())
    _same_timing(doc, policies)
    _one_way_per_programme(doc, policies, model)
    return Scenario(
        name=name,
        title=texts["title"],
        description=texts["description"],
        files=((str(path), doc.sha256),) + (base.files if base else ()),
        set=merged_set,
        policies=policies,
        series={**(base.series if base else {}), **own_series},
        uncertainty=uncertainty or (base.uncertainty if base else Uncertainty("ensemble")),
        targets=(base.targets if base else _model_targets(model)) + own_targets,
    )


def _model_targets(model) -> tuple:
    """Return the J-MIRAI targets whose outputs ``model`` defines (all, for the brain model)."""
    return tuple(t for t in TARGETS if model is None or model.spec.has(t.variable))


def _base(doc: _Doc, path: Path, parent, model, chain: tuple) -> Scenario:
    """Load the scenario ``extends: parent`` names, refusing a cycle or a missing file."""
    if not isinstance(parent, str) or not parent.strip():
        raise doc.error(
            ("extends",), "extends must name a scenario, e.g. baseline, or give its path"
        )
    base_path = _base_path(path, parent)
    if str(base_path.resolve()) in chain or base_path.resolve() == path.resolve():
        raise doc.error(
            ("extends",), f"'{parent}' extends this scenario again (a cycle); break the cycle"
        )
    if not base_path.is_file():
        others = [p.stem for p in path.parent.glob("*.yaml")]
        hint = _suggest(parent, others) if others and not _is_path(parent) else ""
        raise doc.error(
            ("extends",),
            f"no base scenario '{parent}' ({base_path} is missing); "
            + (f"{hint}; or " if hint.startswith("did") else "")
            + "give a scenario name in the same folder or a path relative to this file, "
            "e.g. extends: ../scenarios/baseline.yaml",
        )
    return load_scenario(base_path, model, chain + (str(path.resolve()),))


def _is_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.endswith((".yaml", ".yml"))


def _base_path(path: Path, parent: str) -> Path:
    """Return the file ``extends: parent`` names: a scenario in the same folder, or a path."""
    if _is_path(parent):
        given = Path(parent).expanduser()
        return given if given.is_absolute() else path.parent / given
    return path.with_name(f"{parent}.yaml")


def _bilingual(doc: _Doc, key: str, value) -> dict:
    if not isinstance(value, dict):
        raise doc.error((key,), f"{key} needs both languages: {{en: ..., ja: ...}}")
    for lang in value:
        if lang not in LANGUAGES:
            raise doc.error((key, lang), f"unknown language '{lang}'; use en and ja")
    for lang in LANGUAGES:
        if lang in value and not isinstance(value[lang], str):
            raise doc.error(
                (key, lang), f"{key}.{lang} must be a text, not {value[lang]!r}; quote it"
            )
        if not isinstance(value.get(lang), str) or not value[lang].strip():
            raise doc.error(
                (key,),
                f"{key}.{lang} is missing or empty; give the text in "
                f"{'English' if lang == 'en' else 'Japanese'}",
            )
    return dict(value)


def _number(doc: _Doc, keypath: tuple, value) -> float:
    if isinstance(value, str):
        # YAML 1.1 reads 3e4 (no decimal point) as text; it is a number to the reader
        try:
            value = float(value.strip().replace("_", ""))
        except ValueError:
            raise doc.error(keypath, f"'{value}' is not a number; give a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise doc.error(keypath, f"'{value}' is not a number; give a number")
    if not math.isfinite(value):
        raise doc.error(keypath, f"{value} is not a finite number; give a number")
    return float(value)


def _in_range(doc: _Doc, keypath: tuple, el, value: float) -> float:
    lo, hi = el.limits
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise doc.error(
            keypath,
            f"{value:g} is outside the range [{_g(lo)}, {_g(hi)}] of "
            f"'{el.name}' in the .mdl; give a value inside it",
        )
    return value


def _g(v) -> str:
    return "?" if v is None else f"{v:g}"


def _element(doc: _Doc, keypath: tuple, model, name, kinds: tuple, what: str):
    if not isinstance(name, str):
        raise doc.error(keypath, f"'{name}' is not a name; give the {what}'s name as in the .mdl")
    try:
        el = model.spec.element(name)
    except KeyError:
        el = None
    members = model.spec.array(name) if el is None else {}
    if members:  # here each element is its own: a draw or a target is of one element
        first = next(iter(members.values())).name
        raise doc.error(
            keypath, f"'{name}' is subscripted; name one element at a time, e.g. '{first}'"
        )
    if el is None or el.kind not in kinds:
        candidates = [e.name for e in model.spec.elements if e.kind in kinds]
        raise doc.error(keypath, f"unknown {what} '{name}'; {_suggest(name, candidates)}")
    return el


def _mapping(doc: _Doc, key: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error((key,), f"{key} must be a mapping of names to values")
    return value


def _set(doc: _Doc, value, model) -> dict:
    out = {}
    for name, v in _mapping(doc, "set", value).items():
        members = model.spec.array(name) if isinstance(name, str) else {}
        if members:
            # a subscripted constant by element, {north: 0.02, south: 0.03}, or one value
            # for every element, as PySD takes it
            by_sub = v if isinstance(v, dict) else dict.fromkeys(members, v)
            for sub, x in by_sub.items():
                key = vensim_key(f"x[{sub}]").partition("[")[2].rstrip("]")
                if key not in members:
                    raise doc.error(
                        ("set", name, sub),
                        f"'{name}' has no element [{sub}]; its elements are "
                        + ", ".join(f"[{m}]" for m in members),
                    )
                el = members[key]
                at = ("set", name, sub) if isinstance(v, dict) else ("set", name)
                if el.kind != "constant":
                    raise doc.error(at, f"'{el.name}' is not a constant")
                out[el.name] = _in_range(doc, at, el, _number(doc, at, x))
            continue
        el = _element(doc, ("set", name), model, name, ("constant",), "constant")
        out[el.name] = _in_range(doc, ("set", name), el, _number(doc, ("set", name), v))
    return out


def levers(model) -> dict:
    """Lever name (without `` target``) to its target constant, for every lever of the model.

    Budget levers (:func:`budget_levers`) are set under ``budgets:``, in 億円, not here.
    """
    out = {}
    for el in model.spec.elements:
        lever = el.kind == "constant" and el.key.endswith("_target") and "lever" in el.doc.lower()
        if lever and not _is_budget(el):
            out[el.name[: -len(" target")]] = el
    return out


def _is_budget(el) -> bool:
    return el.key.endswith("_budget_target") and "budget lever" in el.doc.lower()


def budget_levers(model) -> dict:
    """Programme name to ``(budget target constant, the lever it acts on or "")``.

    A budget lever is a constant ``<programme> budget target`` [million yen/Year]
    whose comment says ``Budget lever`` and names the share or headcount lever
    it acts on as ``acts on the lever 'NAME'``.
    """
    out = {}
    for el in model.spec.of_kind("constant"):
        if _is_budget(el):
            acts = re.search(r"acts on the lever '([^']+)'", el.doc)
            out[el.name[: -len(" budget target")]] = (el, acts.group(1) if acts else "")
    return out


def _policies(doc: _Doc, value, model) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise doc.error(("policies",), "policies must be a list of {lever, from, ramp_years, to}")
    known = levers(model)
    out = []
    for i, item in enumerate(value):
        at = ("policies", i)
        if not isinstance(item, dict):
            raise doc.error(at, "a policy is {lever: ..., from: ..., ramp_years: ..., to: ...}")
        for key in item:
            if key not in POLICY_KEYS:
                raise doc.error(
                    at + (key,), f"unknown key '{key}'; {_suggest(key, list(POLICY_KEYS))}"
                )
        for key in POLICY_KEYS:
            if key not in item:
                raise doc.error(at, f"the policy lacks '{key}'; give lever, from, ramp_years, to")
        name = item["lever"]
        lever = known.get(str(name)) or next(
            (el for el in known.values() if vensim_key(el.name) == vensim_key(str(name))), None
        )
        if lever is None:
            raise doc.error(
                at + ("lever",), f"unknown lever '{name}'; {_suggest(name, list(known))}"
            )
        if any(p.lever == lever.name for p in out):
            raise doc.error(
                at + ("lever",), f"the lever '{name}' is moved twice in this file; keep one"
            )
        to = _in_range(doc, at + ("to",), lever, _number(doc, at + ("to",), item["to"]))
        out.append(_checked_policy(doc, at, item, model, lever, to))
    return tuple(out)


def timed_policy(model, lever, start: float, ramp_years: float, to: float) -> Policy:
    """Return the policy moving ``lever`` (its target constant) to ``to`` from ``start``."""
    start_el, ramp_el = lever_timing(model, lever)
    return Policy(lever.name, start, ramp_years, to, start_el.name, ramp_el.name)


def _checked_policy(doc: _Doc, at: tuple, item: dict, model, lever, to: float) -> Policy:
    """Return the policy of a file entry, ``from`` and ``ramp_years`` checked against the .mdl."""
    start_el, ramp_el = lever_timing(model, lever)
    start = _in_range(doc, at + ("from",), start_el, _number(doc, at + ("from",), item["from"]))
    ramp = _in_range(
        doc, at + ("ramp_years",), ramp_el, _number(doc, at + ("ramp_years",), item["ramp_years"])
    )
    return timed_policy(model, lever, start, ramp, to)


def _budgets(doc: _Doc, value, model) -> tuple:
    """Parse ``budgets:`` into policies on the budget levers, converting 億円 to million yen."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise doc.error(
            ("budgets",), "budgets must be a list of {programme, from, ramp_years, to or change}"
        )
    known = budget_levers(model)
    out = []
    for i, item in enumerate(value):
        at = ("budgets", i)
        if not isinstance(item, dict):
            raise doc.error(
                at,
                "a budget is {programme: ..., from: ..., ramp_years: ..., to: ...} in 億円 a year",
            )
        for key in item:
            if key not in BUDGET_KEYS:
                raise doc.error(
                    at + (key,), f"unknown key '{key}'; {_suggest(key, list(BUDGET_KEYS))}"
                )
        for key in ("programme", "from", "ramp_years"):
            if key not in item:
                raise doc.error(
                    at,
                    f"the budget lacks '{key}'; give programme, from, ramp_years and to "
                    "(or change)",
                )
        if ("to" in item) == ("change" in item):
            raise doc.error(
                at,
                "give either 'to' (億円 a year) or 'change' (億円 a year against the "
                "baseline), not both or neither",
            )
        name = str(item["programme"])
        match = known.get(name) or next(
            (v for k, v in known.items() if vensim_key(k) == vensim_key(name)), None
        )
        if match is None:
            raise doc.error(
                at + ("programme",), f"unknown programme '{name}'; {_suggest(name, list(known))}"
            )
        lever, _ = match
        if any(p.lever == lever.name for p in out):
            raise doc.error(
                at + ("programme",), f"the budget of '{name}' is set twice in this file; keep one"
            )
        amount = _budget_amount(doc, at, item, lever, model)
        out.append(_checked_policy(doc, at, item, model, lever, amount))
    return tuple(out)


def _budget_amount(doc: _Doc, at: tuple, item: dict, lever, model) -> float:
    """Return a budget entry's level in million yen a year, checked against the lever's range."""
    key = "to" if "to" in item else "change"
    amount = _number(doc, at + (key,), item[key]) * MILLION_YEN_PER_OKU
    if key == "change":
        baseline = model.spec.element(lever.name[: -len(" target")] + " baseline")
        amount += float(baseline.expr.value)
    low, high = lever.limits
    # 億円 with two decimals times 100 may miss a range end by a rounding error
    amount = (
        min(max(amount, low), high)
        if math.isclose(amount, min(max(amount, low), high), rel_tol=1e-12)
        else amount
    )
    if not low <= amount <= high:
        raise doc.error(
            at + (key,),
            f"{amount / MILLION_YEN_PER_OKU:.6g} 億円 a year lies outside the range of "
            f"'{lever.name}', {low / MILLION_YEN_PER_OKU:.6g} to "
            f"{high / MILLION_YEN_PER_OKU:.6g} 億円; give a budget in that range",
        )
    return amount


def _one_way_per_programme(doc: _Doc, policies: tuple, model) -> None:
    """Refuse a programme set both by its budget and by the lever that budget acts on."""
    moved = {p.lever for p in policies}
    for name, (lever, acts_on) in budget_levers(model).items():
        target = f"{acts_on} target"
        if lever.name in moved and target in moved:
            raise doc.error(
                ("budgets",),
                f"the programme '{name}' is set twice: by its budget and by the lever "
                f"'{acts_on}' under policies; set one of them",
            )


def lever_timing(model, lever) -> tuple:
    """Return the constants of a lever's start year and ramp length.

    Each lever has its own (``<lever> policy start year``, ``<lever> policy
    ramp years``); a model with one shared ramp (``policy start year``,
    ``policy ramp years``) moves every lever along it.
    """
    base = lever.name[: -len(" target")] if lever.name.endswith(" target") else lever.name
    for start, ramp in (
        (f"{base} policy start year", f"{base} policy ramp years"),
        ("policy start year", "policy ramp years"),
    ):
        if model.spec.has(start) and model.spec.has(ramp):
            return model.spec.element(start), model.spec.element(ramp)
    raise ScenarioError(
        f"{model.spec.path}: the lever '{base}' has no '{base} policy start year' and "
        f"'{base} policy ramp years' constants; add them to the model"
    )


def _same_timing(doc: _Doc, policies: tuple) -> None:
    # a model with one shared ramp cannot start its levers in different years
    shared = [p for p in policies if p.start_constant == "policy start year"]
    timings = {(p.start, p.ramp_years) for p in shared}
    if len(timings) > 1:
        raise doc.error(
            ("policies",),
            "the model moves every lever along one ramp, but the "
            f"policies give {len(timings)} different from/ramp_years; use one",
        )


def series_lookups(model) -> dict:
    """Name to element of each lookup a scenario's ``series`` may override: paths over time.

    A lookup whose points lie in the run's years is a path over time (the
    exchange rate, the world's mobile students); a table of an effect
    against a ratio is not, and a scenario does not rewrite it.
    """
    ctl = model.controls
    by_key = {lk.key: lk for lk in model.spec.lookups}
    out = {}
    for el in model.spec.of_kind("lookup"):
        xs = by_key[el.key].xs
        if xs[0] >= ctl["initial_time"] - 1 and xs[-1] <= ctl["final_time"] + 1:
            out[el.name] = el
    return out


def _series(doc: _Doc, value, model) -> dict:
    out = {}
    paths = series_lookups(model)
    for name, points in _mapping(doc, "series", value).items():
        el = _element(doc, ("series", name), model, name, ("lookup",), "lookup")
        if el.name not in paths:
            raise doc.error(
                ("series", name),
                f"'{el.name}' is a table of an effect, not a path over time; series override "
                f"one of: {', '.join(paths)}",
            )
        if not isinstance(points, dict) or len(points) < 1:
            raise doc.error(("series", name), "give the series as {year: value, ...}")
        xs, ys = [], []
        for year, v in points.items():
            xs.append(_number(doc, ("series", name, year), year))
            ys.append(_number(doc, ("series", name, year), v))
        if any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
            raise doc.error(("series", name), "list the years in increasing order")
        _series_in_bounds(doc, ("series", name), model, el, xs, ys)
        out[el.name] = (tuple(xs), tuple(ys))
    return out


def _series_in_bounds(doc: _Doc, at: tuple, model, el, xs: list, ys: list) -> None:
    """Refuse override points before the projection starts or outside the declared range."""
    table = next(lk for lk in model.spec.lookups if lk.key == el.key)
    ctl = model.controls
    # history stays history: a scenario changes what comes after the data end
    first = (
        PROJECTION_START if ctl["initial_time"] < PROJECTION_START < ctl["final_time"] else None
    )
    for x, y in zip(xs, ys, strict=True):
        year = int(x) if float(x).is_integer() else x
        if first is not None and x < first:
            raise doc.error(
                at + (year,),
                f"{x:g} is before the projection starts ({first}); a scenario changes the "
                f"future only, so give years from {first}",
            )
        if table.bounds is None:
            continue
        (x0, x1), (y0, y1) = table.bounds
        if not x0 <= x <= x1:
            raise doc.error(
                at + (year,),
                f"year {x:g} is outside the span {x0:g}-{x1:g} the .mdl declares for "
                f"'{el.name}'; give years inside it",
            )
        if not y0 <= y <= y1:
            raise doc.error(
                at + (year,),
                f"{y:g} is outside the range [{y0:g}, {y1:g}] the .mdl declares for "
                f"'{el.name}' ({el.units}); give a value inside it",
            )


def _targets(doc: _Doc, value, model) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise doc.error(("targets",), "targets must be a list of {variable, year, at_least}")
    kinds = ("stock", "flow", "auxiliary")
    out = []
    for i, item in enumerate(value):
        at = ("targets", i)
        if not isinstance(item, dict):
            raise doc.error(at, "a target is {variable: ..., year: ..., at_least: ...}")
        for key in item:
            if key not in TARGET_KEYS:
                raise doc.error(
                    at + (key,), f"unknown key '{key}'; {_suggest(key, list(TARGET_KEYS))}"
                )
        el = _element(doc, at + ("variable",), model, item.get("variable"), kinds, "variable")
        year = item.get("year")
        if isinstance(year, bool) or not isinstance(year, int):
            raise doc.error(at + ("year",), f"year '{year}' must be a whole year, e.g. 2033")
        lo = model.controls["initial_time"]
        hi = last_year(model, default_rule(model, el.name))
        if not lo <= year <= hi:
            raise doc.error(
                at + ("year",),
                f"year {year} is outside the years the run measures '{el.name}' in "
                f"({lo:g}-{hi}); give a year in that span",
            )
        senses = [k for k in ("at_least", "at_most") if k in item]
        if len(senses) != 1:
            raise doc.error(at, "give exactly one of at_least or at_most")
        level = _number(doc, at + (senses[0],), item[senses[0]])
        out.append(
            Target(el.name, year, level, senses[0], str(item.get("label", "")), str(doc.path))
        )
    return tuple(out)


def _uncertainty(doc: _Doc, value, model) -> Uncertainty:
    at = ("uncertainty",)
    if value in ("ensemble", None):
        return Uncertainty("ensemble")
    if value == "none":
        return Uncertainty("none")
    if not isinstance(value, dict):
        raise doc.error(
            at,
            "uncertainty is 'ensemble', 'none', {ensemble: FILE} or "
            "{distributions: ..., samples: N, seed: S}",
        )
    allowed = ("ensemble", "distributions", "samples", "seed")
    for key in value:
        if key not in allowed:
            raise doc.error(at + (key,), f"unknown key '{key}'; {_suggest(key, list(allowed))}")
    if "ensemble" in value:
        given = value["ensemble"]
        # relative to the project folder, as the default model/ensemble.csv is
        root = Path(model.spec.path).resolve().parent.parent
        if not isinstance(given, str) or not (root / given).is_file():
            raise doc.error(
                at + ("ensemble",),
                f"no ensemble file '{given}' in {root}; give its path from the project folder, "
                f"e.g. {DEFAULT_ENSEMBLE}",
            )
        return Uncertainty("ensemble", ensemble=given)
    dists = value.get("distributions")
    if not isinstance(dists, dict) or not dists:
        raise doc.error(at, "give distributions: {constant: {uniform: [low, high]}, ...}")
    out = []
    for name, spec in dists.items():
        where = at + ("distributions", name)
        el = _element(doc, where, model, name, ("constant",), "constant")
        if not isinstance(spec, dict) or len(spec) != 1:
            raise doc.error(
                where,
                "give one of {uniform: [low, high]}, {normal: [mean, sd]}, "
                "{triangular: [low, mode, high]}",
            )
        ((family, params),) = spec.items()
        if family not in DISTRIBUTIONS:
            raise doc.error(
                where + (family,),
                f"unknown distribution '{family}'; choose one of "
                + ", ".join(map(repr, DISTRIBUTIONS)),
            )
        if not isinstance(params, list) or len(params) != DISTRIBUTIONS[family]:
            raise doc.error(where + (family,), f"{family} takes {DISTRIBUTIONS[family]} numbers")
        nums = [_number(doc, where + (family, i), p) for i, p in enumerate(params)]
        if family in ("uniform", "triangular"):
            if nums != sorted(nums) or nums[0] == nums[-1]:
                raise doc.error(where + (family,), "give the bounds low < high (mode between)")
            for i in (0, -1):
                _in_range(doc, where + (family,), el, nums[i])
        elif nums[1] <= 0:
            raise doc.error(where + (family,), "the standard deviation must be positive")
        else:
            _in_range(doc, where + (family,), el, nums[0])
            _mostly_inside(doc, where + (family,), el, nums)
        out.append((el.name, family, tuple(nums)))
    samples = value.get("samples", 1000)
    seed = value.get("seed", 0)
    for key, v in (("samples", samples), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (1 if key == "samples" else 0):
            raise doc.error(
                at + (key,),
                f"{key} must be a whole number" + (" of at least 1" if key == "samples" else ""),
            )
    return Uncertainty("distributions", distributions=tuple(out), samples=samples, seed=seed)


def _mostly_inside(doc: _Doc, keypath: tuple, el, nums: list) -> None:
    """Refuse a normal distribution whose draws would mostly be clipped to the range."""
    from scipy.stats import norm

    lo, hi = el.limits
    inside = norm.cdf(np.inf if hi is None else hi, *nums) - norm.cdf(
        -np.inf if lo is None else lo, *nums
    )
    if inside < 0.95:
        raise doc.error(
            keypath,
            f"normal({nums[0]:g}, {nums[1]:g}) puts {1 - inside:.0%} of its draws outside the "
            f"range [{_g(lo)}, {_g(hi)}] of '{el.name}', where they would be clipped; give a "
            "smaller standard deviation (at least 95% inside)",
        )


def schema(model=None) -> dict:
    """Return the JSON Schema of a scenario file, for editors.

    With ``model``, every name a scenario may use (levers, constants, series,
    output variables) is an enum, so that an editor completes it.
    """
    doc = _schema()
    if model is not None:
        _name_enums(doc, model)
    return doc


def _name_enums(doc: dict, model) -> None:
    props = doc["properties"]
    constants = sorted(el.name for el in model.spec.of_kind("constant") if None not in el.limits)
    outputs = sorted(el.name for el in model.spec.of_kind("stock", "flow", "auxiliary"))
    # a subscripted constant may also be set by its name, element by element
    arrays = sorted(
        {el.name.partition("[")[0] for el in model.spec.of_kind("constant") if el.base}
    )
    props["set"]["propertyNames"] = {"enum": constants + arrays}
    props["policies"]["items"]["properties"]["lever"] = {"enum": sorted(levers(model))}
    props["budgets"]["items"]["properties"]["programme"] = {"enum": sorted(budget_levers(model))}
    props["series"]["propertyNames"] = {"enum": sorted(series_lookups(model))}
    props["uncertainty"]["oneOf"][2]["properties"]["distributions"]["propertyNames"] = {
        "enum": constants
    }
    props["targets"]["items"]["properties"]["variable"] = {"enum": outputs}


def _schema() -> dict:
    number = {"type": "number"}
    text2 = {
        "type": "object",
        "properties": {lang: {"type": "string", "minLength": 1} for lang in LANGUAGES},
        "required": list(LANGUAGES),
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "brainsim scenario",
        "description": "A scenario lists only what differs from the baseline (README: Scenarios). "
        "Names are the .mdl's; values must lie in the .mdl ranges.",
        "type": "object",
        "required": ["name", "title", "description"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "description": "the file name without .yaml"},
            "title": text2,
            "description": text2,
            "extends": {
                "type": "string",
                "description": "a scenario in the same folder, or a path relative to this file",
            },
            "set": {
                "type": "object",
                "additionalProperties": {
                    "oneOf": [number, {"type": "object", "additionalProperties": number}]
                },
                "description": "constants, by .mdl name; a subscripted constant by "
                "element, name: {north: 0.2, south: 0.3}, or one value for every element",
            },
            "policies": {"type": "array", "items": _policy_schema(number)},
            "budgets": {"type": "array", "items": _budget_schema(number)},
            "series": {
                "type": "object",
                "description": "lookup overrides: year -> value; points before the first "
                "year given are kept",
                "additionalProperties": {"type": "object", "additionalProperties": number},
            },
            "uncertainty": _uncertainty_schema(number),
            "targets": {"type": "array", "items": _target_schema(number)},
        },
    }


def _policy_schema(number: dict) -> dict:
    return {
        "type": "object",
        "required": list(POLICY_KEYS),
        "additionalProperties": False,
        "properties": {
            "lever": {"type": "string"},
            "from": number,
            "ramp_years": number,
            "to": number,
        },
    }


def _budget_schema(number: dict) -> dict:
    return {
        "type": "object",
        "required": ["programme", "from", "ramp_years"],
        "oneOf": [{"required": ["to"]}, {"required": ["change"]}],
        "additionalProperties": False,
        "description": "a programme's budget in 億円 a year: 'to' a level, or 'change' "
        "against its baseline",
        "properties": {
            "programme": {"type": "string"},
            "from": number,
            "ramp_years": number,
            "to": number,
            "change": number,
        },
    }


def _uncertainty_schema(number: dict) -> dict:
    dist = {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {
            fam: {"type": "array", "items": number, "minItems": n, "maxItems": n}
            for fam, n in DISTRIBUTIONS.items()
        },
        "additionalProperties": False,
    }
    return {
        "oneOf": [
            {"enum": ["ensemble", "none"]},
            {
                "type": "object",
                "properties": {"ensemble": {"type": "string"}},
                "required": ["ensemble"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["distributions"],
                "additionalProperties": False,
                "properties": {
                    "distributions": {"type": "object", "additionalProperties": dist},
                    "samples": {"type": "integer", "minimum": 1},
                    "seed": {"type": "integer", "minimum": 0},
                },
            },
        ]
    }


def _target_schema(number: dict) -> dict:
    return {
        "type": "object",
        "required": ["variable", "year"],
        "additionalProperties": False,
        "properties": {
            "variable": {"type": "string"},
            "year": {"type": "integer"},
            "at_least": number,
            "at_most": number,
            "label": {"type": "string"},
        },
        "oneOf": [{"required": ["at_least"]}, {"required": ["at_most"]}],
    }
