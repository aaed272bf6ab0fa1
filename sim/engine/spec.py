"""A model as data: the frozen spec that :func:`sim.engine.vensim.read_mdl` makes of a ``.mdl``.

An expression tree (numbers, references, operators, calls, lookups), the
hidden states that stateful functions become, and the named elements with
their units, ranges and documentation. Every later step (compiling,
checking, documenting, drawing) reads only this.
"""

import functools
import re
from dataclasses import dataclass, field

from sim.engine.names import python_name, vensim_key

# --- expression tree -------------------------------------------------------


@dataclass(frozen=True)
class Num:
    """A number literal."""

    value: float


@dataclass(frozen=True)
class Ref:
    """A reference to a variable, a hidden state output, ``time`` or a control.

    ``subs`` holds the subscripts written after the name (range or element
    keys, a range ending in ``!`` inside SUM and the like); the reader
    resolves them away (:mod:`sim.engine.subscripts`), so that every later
    step sees scalar references such as ``stock[north]``.
    """

    key: str
    subs: tuple = ()


@dataclass(frozen=True)
class Op:
    """An operator: ``+ - * / ^ neg = <> < <= > >= and or not``."""

    op: str
    args: tuple


@dataclass(frozen=True)
class Call:
    """A call of a supported Vensim function, by its key (``if_then_else``)."""

    fn: str
    args: tuple


@dataclass(frozen=True)
class LookupCall:
    """A lookup table (named or inline) evaluated at ``arg``."""

    table: str
    arg: object
    subs: tuple = ()  # a subscripted lookup's subscripts, resolved like Ref.subs


Expr = Num | Ref | Op | Call | LookupCall

# --- model structure ---------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """A piecewise-linear table; held at its end values outside ``xs``."""

    key: str
    xs: tuple
    ys: tuple
    # the range the .mdl declares, ((x min, x max), (y min, y max)), or None;
    # Vensim draws with it and brainsim checks a scenario's overrides against it
    bounds: tuple | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Stateful:
    """A hidden state made by SMOOTH, DELAY, TREND, INITIAL and the like inside an equation.

    ``kind`` is ``smooth``, ``delay``, ``delay_n``, ``trend``, ``initial``,
    ``sample`` (SAMPLE IF TRUE) or ``delay_fixed``. ``time`` is the
    smoothing/delay/averaging time, and for SAMPLE IF TRUE its condition;
    ``order`` the number of internal stages (for DELAY FIXED, delay time /
    TIME STEP); ``function`` the Vensim spelling, for messages. ``sample``
    and ``delay_fixed`` are discrete: they change once per Euler step and
    live in the memory rows, not in the integrated state.
    """

    key: str
    kind: str
    owner: str
    function: str
    input: object
    time: object
    init: object
    order: object


@dataclass(frozen=True)
class Element:
    """One named equation of the model.

    ``kind`` is ``stock``, ``flow``, ``auxiliary``, ``constant``, ``lookup``
    or ``control``. ``expr`` is the rate for a stock (``init`` its initial
    value) and ``None`` for a lookup. ``limits`` is the ``[min, max]`` range
    from the units field, ``None`` where open.
    """

    name: str
    key: str
    py_name: str
    kind: str
    units: str
    limits: tuple
    doc: str
    expr: object
    init: object = None
    # an element of a subscripted variable: the variable's key and its
    # ((range, element), ...) pairs, in the order of the variable's ranges
    base: str = ""
    coords: tuple = ()
    # a variable inside a copy of a macro: computed, not an output
    hidden: bool = False

    @property
    def source(self) -> str:
        """The documentation from its first ``source:``/``assumption:``/``calibrated:`` on."""
        return source_of(self.doc)


@dataclass(frozen=True)
class ModelSpec:
    """A model as data: its elements, hidden states and lookup tables."""

    path: str
    sha256: str
    elements: tuple
    statefuls: tuple
    lookups: tuple
    # the subscript ranges (sim.engine.subscripts.Ranges), None without any
    ranges: object = None
    # the data files the model reads (GET XLS, GET DIRECT), in the order of their names
    files: tuple = ()

    def element(self, name: str) -> Element:
        """Return the element named ``name``: any Vensim spelling, its key or its Python name."""
        key = vensim_key(name)
        by_key, by_py = self._index
        # the first in file order that matches any of the three spellings
        found = [f for f in (by_key.get(key), by_py.get(name), by_py.get(python_name(name))) if f]
        if not found:
            raise KeyError(key)
        return min(found, key=lambda f: f[0])[1]

    @functools.cached_property
    def _index(self) -> tuple:
        """``(key -> (position, element), Python name -> (position, element))``, first kept."""
        by_key: dict = {}
        by_py: dict = {}
        for i, el in enumerate(self.elements):
            by_key.setdefault(el.key, (i, el))
            by_py.setdefault(el.py_name, (i, el))
        return by_key, by_py

    def has(self, name: str) -> bool:
        """Whether an element is named ``name`` (any spelling :meth:`element` accepts)."""
        try:
            self.element(name)
        except KeyError:
            return False
        return True

    def array(self, name: str) -> dict:
        """Return the elements of subscripted variable ``name`` by subscripts (``"north,c1"``).

        Empty when ``name`` is not subscripted. Any spelling of the elements is a key
        (their keys, as ``vensim_key`` makes them).
        """
        return dict(self._arrays.get(vensim_key(name), {}))

    @functools.cached_property
    def _arrays(self) -> dict:
        """``base key -> {subscripts: element}``, in file order: asked once per name set."""
        out: dict = {}
        for el in self.elements:
            if el.base:
                out.setdefault(el.base, {})[el.key.partition("[")[2].rstrip("]")] = el
        return out

    def of_kind(self, *kinds: str) -> tuple:
        """Return the elements whose kind is one of ``kinds``, in file order."""
        return tuple(el for el in self.elements if el.kind in kinds)


CONTROL_KEYS = ("initial_time", "final_time", "time_step", "saveper")

# How a comment says where a number comes from (STYLE.md §6).
SOURCE_MARK = re.compile(r"\b(source|assumption|calibrated)\s*:", re.IGNORECASE)


def source_of(doc: str) -> str:
    """Return ``doc`` from its first source mark on, or ``""`` if it gives no source."""
    found = SOURCE_MARK.search(doc)
    return doc[found.start() :].strip() if found else ""


# Supported functions and their number of arguments.
FUNCTIONS = {
    "if_then_else": (3,),
    "min": (2,),
    "max": (2,),
    "abs": (1,),
    "exp": (1,),
    "ln": (1,),
    "log": (2,),
    "sqrt": (1,),
    "power": (2,),
    "integer": (1,),
    "modulo": (2,),
    "quantum": (2,),
    "sin": (1,),
    "cos": (1,),
    "tan": (1,),
    "arcsin": (1,),
    "arccos": (1,),
    "arctan": (1,),
    "sinh": (1,),
    "cosh": (1,),
    "tanh": (1,),
    "xidz": (3,),
    "zidz": (2,),
    "step": (2,),
    "ramp": (2, 3),
    "pulse": (2,),
    "pulse_train": (4,),
    # the reader adds a last argument to each: the call's own stream (see RANDOM)
    "random_0_1": (0,),
    "random_uniform": (3,),
    "random_normal": (5,),
    "random_exponential": (5,),
    "random_triangular": (6,),
}

# Functions that draw a new number at every evaluation, from a stream of their own
RANDOM = frozenset(
    {"random_0_1", "random_uniform", "random_normal", "random_exponential", "random_triangular"}
)

# Functions that read the clock without naming Time.
# the row of c that holds each run's key for the RANDOM functions
NOISE = "_noise"

TIME_FUNCTIONS = frozenset({"step", "ramp", "pulse", "pulse_train"}) | RANDOM


def walk(*exprs):
    """Yield every node of the expression trees ``exprs`` (``None`` skipped)."""
    stack = [e for e in exprs if e is not None]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Op | Call):
            stack.extend(node.args)
        elif isinstance(node, LookupCall):
            stack.append(node.arg)


def references(expr) -> set:
    """Return the keys ``expr`` depends on (lookup tables excluded).

    STEP, RAMP and PULSE count as references to ``time``.
    """
    found: set = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Ref):
            found.add(node.key)
        elif isinstance(node, Call) and node.fn in TIME_FUNCTIONS:
            found.add("time")
            stack.extend(node.args)
        elif isinstance(node, Op | Call):
            stack.extend(node.args)
        elif isinstance(node, LookupCall):
            stack.append(node.arg)
    return found
