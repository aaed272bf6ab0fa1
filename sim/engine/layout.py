"""Lay out the arrays of a compiled model, and read what is fixed before any run.

Decides the row of every value in ``c`` (parameters, then run-constant
auxiliaries), ``s`` (stocks, then the stages of SMOOTH/DELAY/TREND) and
``m`` (DELAY N's remembered delay times); see :mod:`sim.engine.compile`.
The control values and the order of each stage block must be known to do
so, and are worked out from the constants' default values.
"""

import operator
from dataclasses import dataclass

from sim.engine.errors import ModelError
from sim.engine.spec import (
    CONTROL_KEYS,
    NOISE,
    RANDOM,
    Call,
    ModelSpec,
    Num,
    Op,
    Ref,
    Stateful,
    walk,
)


@dataclass(frozen=True)
class Layout:
    """Where each value of a compiled model lives.

    Attributes
    ----------
    params
        Keys of the constants, in file order: rows ``0..n_params-1`` of ``c``.
    frozen
        Keys of the auxiliaries that do not change during a run and of the
        INITIALs: the rows of ``c`` after the parameters.
    const_row
        Row of ``c`` of each parameter and frozen key.
    state_names
        A label for each row of ``s``.
    state_row
        First row of ``s`` of each stock and stage block.
    orders
        Number of stages of each stage block.
    memory_row
        First row of ``m`` of each DELAY N.
    n_memory
        Rows of ``m``.
    """

    params: list
    frozen: list
    const_row: dict
    state_names: list
    state_row: dict
    orders: dict
    memory_row: dict
    n_memory: int


def plan_layout(spec: ModelSpec, defaults: dict, dynamic: set) -> Layout:
    """Assign rows of ``c``, ``s`` and ``m``; ``dynamic`` holds the keys that change in a run.

    Raises
    ------
    ModelError
        A stateful order that is not a whole constant number.
    """
    statefuls = {s.key: s for s in spec.statefuls}
    computed = [el.key for el in spec.of_kind("auxiliary", "flow")]
    frozen = [k for k in computed if k not in dynamic] + [
        k for k in statefuls if statefuls[k].kind == "initial"
    ]
    state_names, state_row, orders = [], {}, {}
    for el in spec.of_kind("stock"):
        state_row[el.key] = len(state_names)
        state_names.append(el.name)
    memory_row, n_memory = {}, 0
    for key, st in statefuls.items():
        if st.kind == "initial":
            continue
        if st.kind in DISCRETE:  # held in memory rows, changed once per Euler step
            n = delay_slots(spec, st, defaults) if st.kind == "delay_fixed" else 1
            orders[key] = n
            memory_row[key] = n_memory
            n_memory += n
            continue
        n = 1 if st.kind == "trend" else stateful_order(spec, st, defaults)
        orders[key] = n
        state_row[key] = len(state_names)
        state_names += [f"{st.function} in '{st.owner}'[{i + 1}]" for i in range(n)]
        if st.kind == "delay_n":
            memory_row[key] = n_memory
            n_memory += n
    params = [el.key for el in spec.of_kind("constant")]
    const_row = {k: i for i, k in enumerate(params)}
    for key in frozen:
        const_row[key] = len(const_row)
    if uses_random(spec):
        const_row[NOISE] = len(const_row)
    return Layout(
        params=params,
        frozen=frozen,
        const_row=const_row,
        state_names=state_names,
        state_row=state_row,
        orders=orders,
        memory_row=memory_row,
        n_memory=n_memory,
    )


# hidden states that change once per Euler step instead of being integrated
DISCRETE = ("sample", "delay_fixed")


def delay_slots(spec: ModelSpec, st: Stateful, env: dict) -> int:
    """Return the steps a DELAY FIXED holds its input: delay time / TIME STEP, rounded (PySD).

    Raises
    ------
    ModelError
        The delay time has no value before the run starts.
    """
    try:
        value = float(initial_value(st.order, env, spec))
    except (KeyError, ZeroDivisionError, OverflowError):
        raise ModelError(
            f"{spec.path}: the delay time of DELAY FIXED in '{st.owner}' must be known at "
            "INITIAL TIME (numbers, constants, Time and arithmetic)"
        ) from None
    return max(round(value + 1e-6), 1)


def uses_random(spec: ModelSpec) -> bool:
    """Whether any equation calls a RANDOM function (the runs then need keys)."""
    exprs = [e for el in spec.elements for e in (el.expr, el.init)]
    exprs += [e for s in spec.statefuls for e in (s.input, s.time, s.init)]
    return any(isinstance(n, Call) and n.fn in RANDOM for n in walk(*exprs))


def control_values(spec: ModelSpec, defaults: dict) -> tuple:
    """Return ``initial_time``, ``final_time``, ``time_step`` and ``saveper``, and which change.

    A control given as an expression of more than constants (Time, or for
    FINAL TIME a condition on the model's state) changes during the run: its
    key is in the returned set and its value here is the one at INITIAL TIME
    where that can be worked out before the run (``nan`` otherwise; the
    compiler fills it in).

    Raises
    ------
    ModelError
        INITIAL TIME that is not made of constants, or values that do not
        define a run.
    """
    elements = {el.key: el for el in spec.elements}
    values, changing = {}, set()
    for key in CONTROL_KEYS:
        expr = elements[key].expr
        env = {**defaults, **values}
        try:
            values[key] = float(constant_value(expr, env))
            continue
        except KeyError as missing:
            if key == "initial_time":
                raise ModelError(
                    f"{spec.path}: INITIAL TIME depends on '{missing.args[0]}', which is not a "
                    "constant; give INITIAL TIME a numeric value"
                ) from None
        changing.add(key)
        try:
            values[key] = float(initial_value(expr, {**env, "time": values["initial_time"]}, spec))
        except (KeyError, ZeroDivisionError, OverflowError):
            values[key] = float("nan")
    known = {k: v for k, v in values.items() if v == v}
    if not known.get("time_step", 1) > 0 or not known.get("saveper", 1) > 0:
        raise ModelError(f"{spec.path}: TIME STEP and SAVEPER must be positive")
    if "final_time" in known and not known["final_time"] > values["initial_time"]:
        raise ModelError(f"{spec.path}: FINAL TIME must be after INITIAL TIME")
    return values, frozenset(changing)


def stateful_order(spec: ModelSpec, st: Stateful, env: dict) -> int:
    """Return the number of stages of ``st``: its order's value at INITIAL TIME.

    ``env`` holds the constants' values and ``time`` (INITIAL TIME). The order
    may be any expression of numbers, constants, auxiliaries made of these,
    Time, arithmetic and INTEGER, MIN, MAX, ABS (Vensim takes it at INITIAL
    TIME; it cannot change during a run).

    Raises
    ------
    ModelError
        The order is not a whole number of at least 1, or uses something
        that has no value before the run starts (a stock, a lookup, ...).
    """
    try:
        value = float(initial_value(st.order, env, spec))
    except (KeyError, ZeroDivisionError, OverflowError):
        value = float("nan")
    if not (value >= 1 and value == int(value)):
        raise ModelError(
            f"{spec.path}: the order of {st.function} in '{st.owner}' must be a whole "
            "number of at least 1 at INITIAL TIME, from numbers, constants, Time and "
            "arithmetic (it was "
            + (f"{value:g}" if value == value else "not computable before the run")
            + ")"
        )
    return int(value)


# computed lazily: a + 0 must not compute a / 0 on the way
_ARITHMETIC = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "^": operator.pow,
}
_INITIAL_CALLS = {"integer": lambda x: float(int(x)), "min": min, "max": max, "abs": abs}


def initial_value(expr, env: dict, spec: ModelSpec | None = None, depth: int = 0) -> float:
    """Evaluate ``expr`` before the run: numbers, ``env`` names, auxiliaries made of them.

    Raises
    ------
    KeyError
        The expression uses something without a value before the run.
    """
    if depth > 100:
        raise KeyError("too deep")
    if isinstance(expr, Ref) and expr.key not in env and spec is not None:
        el = spec.element(expr.key) if spec.has(expr.key) else None
        if el is None or el.kind not in ("auxiliary", "flow") or el.expr is None:
            raise KeyError(expr.key)
        return initial_value(el.expr, env, spec, depth + 1)
    if isinstance(expr, Call) and expr.fn in _INITIAL_CALLS:
        args = [initial_value(a, env, spec, depth + 1) for a in expr.args]
        return float(_INITIAL_CALLS[expr.fn](*args))
    if isinstance(expr, Op) and expr.op in ("+", "-", "*", "/", "^", "neg"):
        vals = [initial_value(a, env, spec, depth + 1) for a in expr.args]
        if expr.op == "neg":
            return -vals[0]
        a, b = vals
        return _ARITHMETIC[expr.op](a, b)
    return constant_value(expr, env)


def initial_references(expr, spec: ModelSpec, depth: int = 0) -> set:
    """Return the constants an expression evaluated before the run depends on."""
    from sim.engine.spec import references

    found = set()
    for key in references(expr):
        if not spec.has(key) or depth > 100:
            continue
        el = spec.element(key)
        if el.kind == "constant":
            found.add(key)
        elif el.kind in ("auxiliary", "flow") and el.expr is not None:
            found |= initial_references(el.expr, spec, depth + 1)
    return found


def constant_value(expr, env: dict) -> float:
    """Evaluate an expression made of numbers, constants and operators.

    Raises
    ------
    KeyError
        The expression refers to a name missing from ``env``, or uses
        something other than arithmetic.
    """
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        return env[expr.key]
    if isinstance(expr, Op) and expr.op in ("+", "-", "*", "/", "^", "neg"):
        vals = [constant_value(a, env) for a in expr.args]
        if expr.op == "neg":
            return -vals[0]
        a, b = vals
        return _ARITHMETIC[expr.op](a, b)
    raise KeyError("an expression")
