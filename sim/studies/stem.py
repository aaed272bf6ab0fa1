"""What of a scenario acts before a given time: the part of the run scenarios can share.

Scenarios differ from each other in the future: policies start in 2026, a
yen path departs from the data in 2023. Until then their runs are the same
arithmetic on the same numbers, so the runner integrates one run (the
"stem") and carries each scenario on from the step at which its settings
may first act. This module says, from the model's equations alone, which
settings cannot act before which step; a setting it cannot place stays in
the stem, whose run is then the scenario's own.

A lever's constants (and a programme budget's) are left out of the stem only
when every use of them in the model is multiplied by a ramp, an auxiliary ``RAMP(..., START, ...)``
whose start is a constant (each lever has its own, ``<lever> policy ramp``
from ``<lever> policy start year``), and the ramp's own constants are used
nowhere else: before the policy's start the lever is then multiplied by
zero. Any other constant a scenario sets is left out by the same rule over
every *switch*: an auxiliary that is zero until a constant start, a ramp,
``STEP(h, START)`` or a window ``STEP(h, START) - STEP(h, START + D)``
with D never negative (a border closure, an origin's fall in demand, a
competitor's cap). Such a constant acts from the earlier of its switch's
start in the ``.mdl`` and in the scenario. A lookup override is left out
only when every call of the lookup is at Time; it acts from the first step
at which its values differ from the ``.mdl``'s.
"""

from dataclasses import dataclass

import numpy as np

from sim.engine.spec import Call, LookupCall, Num, Op, Ref, references
from sim.studies.scenario import Scenario, budget_levers, levers


def ramps(spec) -> dict:
    """Key of each ramp auxiliary ``[MIN(1,] RAMP(..., START, ...)`` to its constants."""
    constants = {el.key for el in spec.of_kind("constant")}
    out = {}
    for el in spec.of_kind("auxiliary", "flow"):
        expr = _unclipped(el.expr)
        if (
            isinstance(expr, Call)
            and expr.fn == "ramp"
            and isinstance(expr.args[1], Ref)
            and expr.args[1].key in constants
        ):
            out[el.key] = frozenset(references(expr) & constants)
    return out


def _unclipped(expr):
    """Return the RAMP inside ``MIN(1, RAMP(...))`` (clipped so rounding never takes it past 1)."""
    if (
        isinstance(expr, Call)
        and expr.fn == "min"
        and len(expr.args) == 2
        and isinstance(expr.args[0], Num)
        and expr.args[0].value == 1
        and isinstance(expr.args[1], Call)
    ):
        return expr.args[1]
    return expr


def ramped_constants(model) -> frozenset:
    """Keys of the lever constants that act only through a ramp (see module doc)."""
    spec = model.spec
    by_ramp = ramps(spec)
    if not by_ramp:
        return frozenset()
    targets = {el.key for el in levers(model).values()}
    targets |= {el.key for el, _ in budget_levers(model).values()}
    timing = set().union(*by_ramp.values())  # safe only where their ramp itself uses them
    unsafe: set = set()
    for expr, owner in _expressions(spec):
        found = _unramped_refs(expr, targets | timing, set(by_ramp))
        unsafe |= found - by_ramp[owner] if owner in by_ramp else found
    return frozenset((targets | timing) - unsafe)


def time_lookups(model) -> frozenset:
    """Keys of the lookups that are only ever read at Time."""
    calls: dict = {}
    for expr, _ in _expressions(model.spec):
        stack = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, LookupCall):
                at_time = isinstance(node.arg, Ref) and node.arg.key == "time"
                calls[node.table] = calls.get(node.table, True) and at_time
                stack.append(node.arg)
            elif isinstance(node, Op | Call):
                stack.extend(node.args)
    return frozenset(k for k, only_time in calls.items() if only_time)


def switches(spec) -> dict:
    """Key of each switch (see the module doc) to ``(its start constant, its constants)``."""
    constants = {el.key: el for el in spec.of_kind("constant")}
    out = {}
    for el in spec.of_kind("auxiliary", "flow"):
        start = _switch_start(_unclipped(el.expr), constants)
        if start is not None:
            out[el.key] = (start, frozenset(references(el.expr) & set(constants)))
    return out


def _switch_start(expr, constants: dict):
    """Return the start constant of a RAMP, STEP or STEP window (zero before it), or None."""
    if isinstance(expr, Call) and expr.fn in ("ramp", "step"):
        start = expr.args[1]
        return start.key if isinstance(start, Ref) and start.key in constants else None
    if not (isinstance(expr, Op) and expr.op == "-"):
        return None
    on, off = expr.args
    key = _switch_start(on, constants)
    if key is None or not isinstance(off, Call) or off.fn != "step" or off.args[0] != on.args[0]:
        return None
    end = off.args[1]
    if not (isinstance(end, Op) and end.op == "+" and end.args[0] == on.args[1]):
        return None
    length = end.args[1]
    low = (
        constants[length.key].limits[0]
        if isinstance(length, Ref) and length.key in constants
        else None
    )
    return key if low is not None and low >= 0 else None


def switched_constants(model) -> dict:
    """Return each constant used under switches only, to those switches (see the module doc)."""
    spec = model.spec
    by_switch = switches(spec)
    constants = {el.key for el in spec.of_kind("constant")}
    under: dict = {}
    unsafe: set = set()
    for expr, owner in _expressions(spec):
        own = by_switch[owner][1] if owner in by_switch else frozenset()
        for key, switch in _refs_under(expr, constants, set(by_switch)):
            if switch is None and key not in own:
                unsafe.add(key)
            else:
                under.setdefault(key, set()).add(switch or owner)
    return {k: frozenset(v) for k, v in under.items() if k not in unsafe}


def _refs_under(expr, keys: set, switch_keys: set):
    """Yield ``(key, switch)`` per reference to ``keys``: the switch of its product, or None."""
    stack = [(expr, None)]
    while stack:
        node, switch = stack.pop()
        if isinstance(node, Ref):
            if node.key in keys:
                yield node.key, switch
        elif isinstance(node, Op):
            if switch is None and node.op == "*":
                switch = next(
                    (a.key for a in node.args if isinstance(a, Ref) and a.key in switch_keys), None
                )
            stack.extend((a, switch) for a in node.args)
        elif isinstance(node, Call):
            stack.extend((a, switch) for a in node.args)
        elif isinstance(node, LookupCall):
            stack.append((node.arg, switch))


@dataclass(frozen=True)
class Rules:
    """What the model's equations say of when settings may act; the same for every scenario."""

    ramped: frozenset  # see ramped_constants
    at_time: frozenset  # see time_lookups
    switched: dict  # see switched_constants
    switches: dict  # see switches


def rules(model) -> Rules:
    """Read the model's :class:`Rules` (a walk over every equation: do it once a model)."""
    return Rules(
        ramped_constants(model),
        time_lookups(model),
        switched_constants(model),
        switches(model.spec),
    )


def _switched_step(constants: dict, model, grid, found: Rules) -> int:
    """Return the first step at which ``constants`` (name: value) may act; 0 if not switched."""
    switched, by_switch = found.switched, found.switches
    keys = {model.spec.element(n).key: v for n, v in constants.items()}
    if not all(k in switched for k in keys):
        return 0
    defaults = dict(zip(model.param_keys, model.defaults, strict=True))
    starts = [  # a start that is not a run constant: -inf, so the setting stays in the stem
        min(defaults.get(by_switch[w][0], -np.inf), keys.get(by_switch[w][0], np.inf))
        for k in keys
        for w in switched[k]
    ]
    # STEP and RAMP switch up to half a step early on a fixed grid: one step of margin
    dt = float(model.controls["time_step"])
    return int(np.searchsorted(grid, min(starts) - dt))


def stem_settings(
    scenario: Scenario, constants: dict, tables: dict, model, grid, found: Rules | None = None
) -> tuple:
    """Split a scenario's settings into those that may act from the start and the rest.

    ``constants`` and ``tables`` are the scenario's settings (constant name to
    value, lookup name to ``(xs, ys)``); ``grid`` the model's time grid.
    Returns ``(stem constants, stem tables, step)``: the settings the stem
    keeps, and the first grid step at which the others may act (the length
    of the grid when there are none). Settings equal to the ``.mdl``'s
    values change nothing and are left out. Policies whose levers act only through
    their ramps act from a step before their start; a lookup override
    read only at Time, from the first step at which it differs from the
    ``.mdl``. ``found`` is the model's :func:`rules`, read here if not given.
    """
    found = found or rules(model)
    grid = np.asarray(grid)
    step = len(grid)
    constants = {n: v for n, v in constants.items() if not is_default(model, n, v)}
    ramped = found.ramped
    policy = {n for p in scenario.policies for n in (p.lever, p.start_constant, p.ramp_constant)}
    lever_keys = {model.spec.element(n).key for n in constants if n in policy}
    if scenario.policies and lever_keys <= ramped:
        # STEP and RAMP switch up to half a step early on a fixed grid: one step of margin
        dt = float(model.controls["time_step"])
        first = min(p.start for p in scenario.policies)
        step = min(step, int(np.searchsorted(grid, first - dt)))
    else:
        policy = set()
    stem_constants = {n: v for n, v in constants.items() if n not in policy}
    if stem_constants and all(np.ndim(v) == 0 for v in stem_constants.values()):
        first = _switched_step(stem_constants, model, grid, found)
        if first > 0:
            step, stem_constants = min(step, first), {}
    base = {lk.key: lk for lk in model.spec.lookups}
    at_time = found.at_time
    stem_tables = {}
    for name, (xs, ys) in tables.items():
        lk = base[model.spec.element(name).key]
        if lk.key not in at_time:
            stem_tables[name] = (xs, ys)
            continue
        differs = np.interp(grid, xs, ys) != np.interp(grid, lk.xs, lk.ys)
        if differs.any():
            step = min(step, int(np.argmax(differs)))
    return stem_constants, stem_tables, step


def is_default(model, name: str, value) -> bool:
    """Whether a setting is one number, equal to the constant's value in the ``.mdl``."""
    el = model.spec.element(name)
    default = model.defaults[model.param_keys.index(el.key)]
    return np.ndim(value) == 0 and float(value) == float(default)


def _expressions(spec):
    """Every expression of the model, with the key of the element it belongs to."""
    for el in spec.elements:
        for expr in (el.expr, el.init):
            if expr is not None:
                yield expr, el.key
    for st in spec.statefuls:
        for expr in (st.input, st.time, st.init, st.order):
            if expr is not None:
                yield expr, st.owner


def _unramped_refs(expr, keys: set, ramp_keys: set) -> set:
    """Keys among ``keys`` referred to outside a product with a ramp."""
    found = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Ref):
            if node.key in keys:
                found.add(node.key)
        elif isinstance(node, Op):
            ramped = any(isinstance(a, Ref) and a.key in ramp_keys for a in node.args)
            if node.op == "*" and ramped:
                continue  # everything under this product is zero before the policy starts
            stack.extend(node.args)
        elif isinstance(node, Call):
            stack.extend(node.args)
        elif isinstance(node, LookupCall):
            stack.append(node.arg)
    return found
