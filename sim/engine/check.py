"""Check a model spec: dimensional consistency, units, ranges and sources.

:func:`check_model` takes a :class:`~sim.engine.spec.ModelSpec` and returns a list
of :class:`Problem`, each one line naming the element and the fix. It never
raises for a problem in the model (a malformed unit string is a problem too)
and prints nothing; the command line prints :func:`format_problems` and
exits with status 2 when the list is not empty.

Units are inferred bottom-up over each expression. A number literal has no
units of its own: it takes whatever units make its expression consistent,
so ``x + 1`` and ``x * 2`` both have the units of ``x`` (in a product a
literal is a pure number). Where a term's units cannot be known (an element
with no or malformed units, an error further down), the check stays silent
about it rather than report the same mistake again.
"""

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from sim.engine.errors import ModelError
from sim.engine.priors import is_effect_size, prior_problem
from sim.engine.spec import Call, Element, LookupCall, ModelSpec, Num, Op, Ref, Stateful, source_of
from sim.engine.units import (
    DIMENSIONLESS,
    Dims,
    UnitsError,
    divide,
    format_units,
    multiply,
    parse_units,
)
from sim.engine.units import power as dims_power


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a model.

    ``kind`` is one of ``units`` (dimensionally inconsistent), ``no units``,
    ``bad units`` (a unit string that does not parse), ``range``, ``source``
    and ``prior`` (an effect size without a sound prior; :mod:`sim.engine.priors`);
    ``message`` is one line naming the element and the fix.
    """

    element: str
    kind: str
    message: str


UNITS = "units"
NO_UNITS = "no units"
BAD_UNITS = "bad units"
RANGE = "range"
SOURCE = "source"
PRIOR = "prior"

# Documentation that says where a number comes from contains one of these.


class _Wild(enum.Enum):
    """Units that are not fixed dimensions."""

    # A number literal, or an expression of literals only: fits any units.
    FREE = "any"
    # Not knowable (no or malformed declared units, an error below): never
    # compared, so that one mistake is reported once.
    UNKNOWN = "unknown"


FREE = _Wild.FREE
UNKNOWN = _Wild.UNKNOWN
Units = Dims | _Wild


@dataclass(frozen=True)
class _Context:
    """What inference needs to know about the model, read once from the spec."""

    declared: Mapping  # element key -> Units
    names: Mapping  # element key -> name as written
    statefuls: Mapping  # hidden-state key -> Stateful
    time: Units  # units of Time (TIME STEP's units)


# --- public API ----------------------------------------------------------------


def check_model(spec: ModelSpec) -> list[Problem]:
    """Check a model's units, ranges and sources.

    Parameters
    ----------
    spec
        The model, as read by :func:`sim.read_mdl`.

    Returns
    -------
    list of Problem
        In file order, element by element; empty when the model passes. The
        checks: every element but the controls has units and they parse;
        each stock's rate × time and initial value have the stock's units;
        each flow's and auxiliary's equation gives its declared units; no
        expression adds, compares or chooses between different units;
        function arguments have the units the function needs; every
        constant has a ``[min,max]`` range (``?`` counts as missing) holding
        its value; every constant and lookup table names its source
        (``source:``, ``assumption:`` or ``calibrated:`` in its comment).
    """
    declared, problems = _declared_units(spec.elements)
    ctx = _Context(
        declared=declared,
        names={el.key: el.name for el in spec.elements},
        statefuls={st.key: st for st in spec.statefuls},
        time=declared.get("time_step", UNKNOWN),
    )
    by_owner: dict = {}
    for st in spec.statefuls:
        by_owner.setdefault(st.owner, []).append(st)
    problems = list(problems) + _time_units(spec.elements, ctx)
    for el in spec.elements:
        try:
            problems += _element(el, by_owner.get(el.name, ()), ctx)
        except RecursionError:
            raise ModelError(
                f"{spec.path}: the equation of '{el.name}' is too long or too deeply nested "
                "to check; split it into named variables"
            ) from None
    order = {el.name: i for i, el in enumerate(spec.elements)}
    return sorted(problems, key=lambda p: order.get(p.element, len(order)))


def _element(el: Element, owned: Sequence[Stateful], ctx: _Context) -> list:
    """Check one element: its equation, its hidden states, range and source."""
    problems = _equation(el, ctx)
    for st in owned:
        problems += _stateful(st, ctx)
    if el.kind == "constant":
        problems += _range(el)
    exprs = (el.expr, el.init, *(e for st in owned for e in (st.input, st.init)))
    if el.kind in ("constant", "lookup") or any(_has_inline_lookup(e) for e in exprs):
        problems += _source(el)
    if is_effect_size(el):
        complaint = prior_problem(el)
        if complaint:
            problems.append(Problem(el.name, PRIOR, complaint))
    return problems


def format_problems(problems: Sequence[Problem]) -> str:
    """Return the problems as text, one line each, then a count.

    Parameters
    ----------
    problems
        As returned by :func:`check_model`.

    Returns
    -------
    str
        ``[kind] message`` lines and a last line counting them, or
        ``no problems found`` for an empty list.
    """
    if not problems:
        return "no problems found"
    lines = [f"[{p.kind}] {p.message}" for p in problems]
    count = len(problems)
    lines.append(f"{count} problem{'s' if count != 1 else ''}")
    return "\n".join(lines)


# --- declared units ----------------------------------------------------------


def _declared_units(elements: Iterable[Element]) -> tuple:
    """Parse every element's units; report the missing and the malformed."""
    declared: dict = {}
    problems = []
    for el in elements:
        text = el.units.strip()
        if not text:
            declared[el.key] = UNKNOWN
            if el.kind != "control":
                problems.append(
                    Problem(
                        el.name,
                        NO_UNITS,
                        f"'{el.name}' has no units; write them after the first ~ "
                        "(e.g. person/Year, or dmnl for a pure number)",
                    )
                )
            continue
        try:
            declared[el.key] = parse_units(text)
        except UnitsError as err:
            declared[el.key] = UNKNOWN
            problems.append(Problem(el.name, BAD_UNITS, f"'{el.name}': {err}"))
    declared["time"] = declared.get("time_step", UNKNOWN)
    return declared, problems


def _time_units(elements: Iterable[Element], ctx: _Context) -> list:
    """Require TIME STEP to have units (the model's time unit) and the controls to share them."""
    problems = []
    for el in elements:
        if el.kind != "control":
            continue
        units = ctx.declared[el.key]
        if el.key == "time_step" and not el.units.strip():
            problems.append(
                Problem(
                    el.name,
                    NO_UNITS,
                    f"'{el.name}' has no units, so stocks and time arguments cannot be "
                    "checked; give it the model's time unit (e.g. Year)",
                )
            )
        elif el.key != "time_step" and _differ(units, ctx.time):
            problems.append(
                Problem(
                    el.name,
                    UNITS,
                    f"'{el.name}' is in {_text(units)} but TIME STEP is in "
                    f"{_text(ctx.time)}; give all control variables the same time unit",
                )
            )
    return problems


# --- equations ---------------------------------------------------------------


def _equation(el: Element, ctx: _Context) -> list:
    """Check one element's equation against its declared units."""
    if el.kind in ("control", "lookup", "constant") or el.expr is None:
        return []
    declared = ctx.declared[el.key]
    units, issues = _infer(el.expr, ctx)
    problems = [Problem(el.name, UNITS, f"'{el.name}': {issue}") for issue in issues]
    if el.kind == "stock":
        return problems + _stock(el, units, declared, ctx)
    if _differ(units, declared):
        problems.append(
            Problem(
                el.name,
                UNITS,
                f"'{el.name}': its equation {_quote(el.expr, ctx)} gives {_text(units)} "
                f"but it is declared {_text(declared)}; fix the equation or the declared units",
            )
        )
    return problems


def _stock(el: Element, rate: Units, declared: Units, ctx: _Context) -> list:
    """Check a stock: rate × time and the initial value must have its units."""
    problems = []
    expected = UNKNOWN if _wild(declared) or _wild(ctx.time) else divide(declared, ctx.time)
    if _differ(rate, expected):
        problems.append(
            Problem(
                el.name,
                UNITS,
                f"'{el.name}': its rate {_quote(el.expr, ctx)} is in {_text(rate)} but "
                f"a stock in {_text(declared)} needs flows in {_text(expected)}; "
                "fix the flows' units or the stock's",
            )
        )
    init_units, init_issues = _infer(el.init, ctx)
    problems += [
        Problem(el.name, UNITS, f"'{el.name}' (initial value): {issue}") for issue in init_issues
    ]
    if _differ(init_units, declared):
        problems.append(
            Problem(
                el.name,
                UNITS,
                f"'{el.name}': its initial value {_quote(el.init, ctx)} is in "
                f"{_text(init_units)} but the stock is in {_text(declared)}; "
                "give the initial value the stock's units",
            )
        )
    return problems


def _stateful(st: Stateful, ctx: _Context) -> list:
    """Check the arguments of one SMOOTH, DELAY, TREND or INITIAL."""
    call = f"{st.function}({_show(st.input, ctx)}, ...)"
    units, issues = _infer(st.input, ctx)
    if st.kind == "trend":
        units = UNKNOWN if _wild(ctx.time) else divide(DIMENSIONLESS, ctx.time)
    if st.time is not None and st.kind != "sample":  # SAMPLE IF TRUE's is its condition
        issues += _needs(st.time, ctx.time, ctx, f"the time of {call}", "Time")
    if st.init is not None and st.init != st.input:
        what = "the initial trend" if st.kind == "trend" else "the initial value"
        issues += _needs(st.init, units, ctx, f"{what} of {call}", "its output")
    if st.order is not None and st.kind != "initial":
        issues += _needs(st.order, DIMENSIONLESS, ctx, f"the order of {call}", "a count")
    return [Problem(st.owner, UNITS, f"'{st.owner}': {issue}") for issue in issues]


def _needs(expr, wanted: Units, ctx: _Context, what: str, whose: str) -> tuple:
    """Infer ``expr`` and require the ``wanted`` units of it."""
    units, issues = _infer(expr, ctx)
    if _differ(units, wanted):
        issues += (
            f"{what}, {_quote(expr, ctx)}, is in {_text(units)} but {whose} is in "
            f"{_text(wanted)}; give it in {_text(wanted)}",
        )
    return issues


# --- ranges and sources ------------------------------------------------------


def _range(el: Element) -> list:
    """Require a constant to have a closed ``[min,max]`` range that holds its value."""
    low, high = el.limits
    missing = [side for side, bound in (("min", low), ("max", high)) if bound is None]
    if missing:
        return [
            Problem(
                el.name,
                RANGE,
                f"'{el.name}' has no {' or '.join(missing)} (? counts as open); write its range "
                f"after its units: ~ {el.units.strip() or 'dmnl'} [low, high] ~",
            )
        ]
    value = el.expr.value
    if low > high:
        return [
            Problem(
                el.name,
                RANGE,
                f"'{el.name}' has the range [{low:g}, {high:g}], min above max; swap them",
            )
        ]
    if not low <= value <= high:
        return [
            Problem(
                el.name,
                RANGE,
                f"'{el.name}' = {value:g} lies outside its range [{low:g}, {high:g}]; "
                "correct the value or widen the range",
            )
        ]
    return []


def _source(el: Element) -> list:
    """Require source:, assumption: or calibrated: in a constant's or table's comment."""
    if source_of(el.doc):
        return []
    what = {"constant": "constant", "lookup": "lookup table"}.get(el.kind, "WITH LOOKUP table")
    return [
        Problem(
            el.name,
            SOURCE,
            f"'{el.name}' ({what}) does not say where its numbers come from; in its comment "
            "give its source (source: ...) or assumption: why (or calibrated: against what)",
        )
    ]


def _has_inline_lookup(expr) -> bool:
    """Whether ``expr`` holds a WITH LOOKUP table (its data need a source too)."""
    if isinstance(expr, LookupCall):
        return expr.table.startswith("_lookup_") or _has_inline_lookup(expr.arg)
    if isinstance(expr, Op | Call):
        return any(_has_inline_lookup(a) for a in expr.args)
    return False


# --- unit inference ----------------------------------------------------------

_SAME_UNITS = {"+": "adds", "-": "subtracts"}
_COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">="})
_DIMENSIONLESS_FUNCTIONS = frozenset(
    {"exp", "ln", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh"}
)


def _infer(expr, ctx: _Context, seen: frozenset = frozenset()) -> tuple:
    """Return ``(units, issues)`` of an expression.

    ``issues`` is a tuple of one-line messages (without the element name)
    about inconsistencies inside ``expr``. ``seen`` holds the hidden states
    being resolved, to stop at a state that (wrongly) refers to itself.
    """
    if isinstance(expr, Num):
        return FREE, ()
    if isinstance(expr, Ref):
        return _ref_units(expr.key, ctx, seen), ()
    if isinstance(expr, LookupCall):
        # A table's units describe its output; its input is not declared, so
        # the argument is checked only inside itself.
        _, issues = _infer(expr.arg, ctx, seen)
        return ctx.declared.get(expr.table, FREE), issues
    parts = [_infer(arg, ctx, seen) for arg in expr.args]
    units = [u for u, _ in parts]
    issues = tuple(i for _, found in parts for i in found)
    if isinstance(expr, Op):
        result, issue = _op_units(expr, units, ctx)
    else:
        result, issue = _call_units(expr, units, ctx)
    return result, issues + ((issue,) if issue else ())


def _ref_units(key: str, ctx: _Context, seen: frozenset) -> Units:
    if key in ctx.statefuls:
        return _stateful_units(ctx.statefuls[key], ctx, seen)
    return ctx.declared.get(key, UNKNOWN)


def _stateful_units(st: Stateful, ctx: _Context, seen: frozenset) -> Units:
    """Units of a hidden state's output: its input's, or 1/time for TREND."""
    if st.kind == "trend":
        return UNKNOWN if _wild(ctx.time) else divide(DIMENSIONLESS, ctx.time)
    if st.key in seen:
        return UNKNOWN
    units, _ = _infer(st.input, ctx, seen | {st.key})
    return units


def _op_units(expr: Op, units: list, ctx: _Context) -> tuple:
    """Units of an operator and the issue it raises, or ``None``."""
    op = expr.op
    if op in ("+", "-"):
        return _same(units, expr, ctx, f"{_SAME_UNITS[op]} {{}}; give both terms the same units")
    if op in _COMPARISONS:
        _, issue = _same(units, expr, ctx, "compares {}; compare quantities in the same units")
        return DIMENSIONLESS, issue
    if op in ("and", "or", "not"):
        return DIMENSIONLESS, None
    if op == "neg":
        return units[0], None
    if op == "*":
        return _product(units[0], units[1], multiply), None
    if op == "/":
        return _product(units[0], units[1], divide), None
    return _power(expr, units[0], units[1], ctx)


def _call_units(expr: Call, units: list, ctx: _Context) -> tuple:
    """Units of a function call and the issue it raises, or ``None``."""
    fn = expr.fn
    name = fn.replace("_", " ").upper()
    if fn in ("min", "max", "modulo"):
        return _same(units, expr, ctx, "compares {}; give both arguments the same units")
    if fn == "if_then_else":
        return _same(units[1:], expr, ctx, "chooses between {}; give both branches the same units")
    if fn in ("abs", "integer"):
        return units[0], None
    if fn == "sqrt":
        return _power_of(units[0], Fraction(1, 2)), None
    if fn == "power":
        return _power(expr, units[0], units[1], ctx)
    if fn in _DIMENSIONLESS_FUNCTIONS or fn == "log":
        bad = [(a, u) for a, u in zip(expr.args, units, strict=True) if _differ(u, DIMENSIONLESS)]
        if bad:
            arg, got = bad[0]
            return DIMENSIONLESS, (
                f"{name} needs a dmnl argument but {_quote(arg, ctx)} is in {_text(got)}; "
                "divide it by a reference value in the same units"
            )
        return DIMENSIONLESS, None
    if fn in ("zidz", "xidz"):
        ratio = _product(units[0], units[1], divide)
        if fn == "xidz" and _differ(units[2], ratio):
            return UNKNOWN, (
                f"in {_quote(expr, ctx)} the fallback {_quote(expr.args[2], ctx)} is in "
                f"{_text(units[2])} but the ratio is in {_text(ratio)}; give the fallback "
                "the ratio's units"
            )
        return ratio, None
    # STEP, RAMP, PULSE, PULSE TRAIN: every argument after the height/slope is a time.
    times = expr.args if fn in ("pulse", "pulse_train") else expr.args[1:]
    offsets = range(len(expr.args) - len(times), len(expr.args))
    for at in offsets:
        if _differ(units[at], ctx.time):
            return UNKNOWN, (
                f"{name}'s time argument {_quote(expr.args[at], ctx)} is in "
                f"{_text(units[at])} but Time is in {_text(ctx.time)}; give it in "
                f"{_text(ctx.time)}"
            )
    if fn == "step":
        return units[0], None
    if fn == "ramp":
        if units[0] is FREE:
            return FREE, None
        return _product(units[0], ctx.time, multiply), None
    return DIMENSIONLESS, None


def _same(units: list, expr, ctx: _Context, complaint: str) -> tuple:
    """Require equal units of ``units``; return the common units and any issue.

    ``complaint`` has a ``{}`` for the two differing units.
    """
    fixed = [u for u in units if not _wild(u)]
    for other in fixed[1:]:
        if other != fixed[0]:
            pair = f"{_text(fixed[0])} and {_text(other)}"
            return UNKNOWN, f"{_quote(expr, ctx)} {complaint.format(pair)}"
    if UNKNOWN in units:
        return UNKNOWN, None
    return (fixed[0] if fixed else FREE), None


def _product(a: Units, b: Units, combine) -> Units:
    """Multiply or divide units; a literal in a product is a pure number."""
    if a is UNKNOWN or b is UNKNOWN:
        return UNKNOWN
    if a is FREE and b is FREE:
        return FREE
    return combine(DIMENSIONLESS if a is FREE else a, DIMENSIONLESS if b is FREE else b)


def _power(expr, base: Units, exponent: Units, ctx: _Context) -> tuple:
    """Return the units of ``base ^ exponent`` and any issue.

    The exponent must be dmnl, and a number when the base has units (else
    the result's units would change with the exponent's value).
    """
    exponent_expr = expr.args[1]
    if _differ(exponent, DIMENSIONLESS):
        return UNKNOWN, (
            f"in {_quote(expr, ctx)} the exponent is in {_text(exponent)}; an exponent must "
            "be dmnl (divide it by a reference value in the same units)"
        )
    if _wild(base) or base == DIMENSIONLESS:
        return base, None
    value = _number(exponent_expr)
    if value is None:
        return UNKNOWN, (
            f"in {_quote(expr, ctx)} the base is in {_text(base)} and the exponent is not a "
            "number, so the units would change with it; make the base dmnl (divide by a "
            "reference value) or write the exponent as a number"
        )
    return _power_of(base, Fraction(value).limit_denominator(1000)), None


def _power_of(units: Units, exponent: Fraction) -> Units:
    return units if _wild(units) else dims_power(units, exponent)


def _number(expr) -> float | None:
    """Return the value of an expression of number literals only, else ``None``."""
    if isinstance(expr, Num):
        return expr.value
    if not isinstance(expr, Op) or expr.op not in ("neg", "+", "-", "*", "/"):
        return None
    values = [_number(a) for a in expr.args]
    if None in values:
        return None
    if expr.op == "neg":
        return -values[0]
    a, b = values
    if expr.op == "/":
        return a / b if b else None
    return {"+": a + b, "-": a - b, "*": a * b}[expr.op]


# --- helpers -----------------------------------------------------------------


def _wild(units: Units) -> bool:
    return isinstance(units, _Wild)


def _differ(a: Units, b: Units) -> bool:
    """Whether two units are both known and different (a literal fits anything)."""
    return not _wild(a) and not _wild(b) and a != b


def _text(units: Units) -> str:
    if units is FREE:
        return "any units"
    if units is UNKNOWN:
        return "unknown units"
    return format_units(units)


_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7, "^": 8}
_PRECEDENCE |= dict.fromkeys(_COMPARISONS, 4)
_VENSIM_OPS = {"and": ":AND:", "or": ":OR:", "not": ":NOT:"}


def _quote(expr, ctx: _Context, limit: int = 70) -> str:
    """Return an expression as Vensim text in backquotes, cut to ``limit`` characters."""
    text = _show(expr, ctx)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"`{text}`"


def _show(expr, ctx: _Context, depth: int = 0) -> str:
    """Write an expression back as Vensim text (hidden states as their calls)."""
    if depth > 20:
        return "..."
    if isinstance(expr, Num):
        return f"{expr.value:g}"
    if isinstance(expr, Ref):
        if expr.key == "time":
            return "Time"
        st = ctx.statefuls.get(expr.key)
        if st is not None:
            args = [a for a in (st.input, st.time) if a is not None]
            shown = ", ".join(_show(a, ctx, depth + 1) for a in args)
            return f"{st.function}({shown})"
        return ctx.names.get(expr.key, expr.key.replace("_", " "))
    if isinstance(expr, LookupCall):
        arg = _show(expr.arg, ctx, depth + 1)
        if expr.table.startswith("_lookup_"):
            return f"WITH LOOKUP({arg}, ...)"
        return f"{ctx.names.get(expr.table, expr.table)}({arg})"
    if isinstance(expr, Call):
        args = ", ".join(_show(a, ctx, depth + 1) for a in expr.args)
        return f"{expr.fn.replace('_', ' ').upper()}({args})"
    return _show_op(expr, ctx, depth)


def _show_op(expr: Op, ctx: _Context, depth: int) -> str:
    mine = _PRECEDENCE[expr.op]
    shown = []
    for at, arg in enumerate(expr.args):
        text = _show(arg, ctx, depth + 1)
        if isinstance(arg, Op):
            theirs = _PRECEDENCE[arg.op]
            # The right operand of - / ^ needs brackets at equal precedence too.
            if theirs < mine or (theirs == mine and at == 1 and expr.op in ("-", "/", "^")):
                text = f"({text})"
        shown.append(text)
    if expr.op == "neg":
        return f"-{shown[0]}"
    if expr.op == "not":
        return f":NOT: {shown[0]}"
    return f" {_VENSIM_OPS.get(expr.op, expr.op)} ".join(shown)
