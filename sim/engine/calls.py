"""Parse the function calls of Vensim equations, and their lookup tables.

Calls to built-in functions become :class:`~sim.engine.spec.Call` nodes and
calls to the model's lookups :class:`~sim.engine.spec.LookupCall` nodes.
Stateful functions (SMOOTH, DELAY, TREND, INITIAL) are hoisted into hidden
:class:`~sim.engine.spec.Stateful` entries, leaving a reference in their
place. Lookup tables, whether defined on their own or inline with WITH
LOOKUP, are collected as :class:`~sim.engine.spec.Lookup` entries.
"""

import re

from sim.engine.cursor import NUMBER, ParseError
from sim.engine.errors import ModelError
from sim.engine.expressions import ExpressionParser
from sim.engine.spec import FUNCTIONS, RANDOM, Call, Lookup, LookupCall, Num, Op, Ref, Stateful
from sim.engine.vectors import VECTOR_FUNCTIONS

# name → (kind, spelling in messages, number of arguments, fixed order or None).
# The fixed-order forms take their initial value from the input unless an
# ``I`` form gives it (PySD's vensim_structures.py).
STATEFULS = {
    "smooth": ("smooth", "SMOOTH", 2, 1),
    "smoothi": ("smooth", "SMOOTH", 3, 1),
    "smooth3": ("smooth", "SMOOTH", 2, 3),
    "smooth3i": ("smooth", "SMOOTH", 3, 3),
    "smooth_n": ("smooth", "SMOOTH N", 4, None),
    "delay1": ("delay", "DELAY", 2, 1),
    "delay1i": ("delay", "DELAY", 3, 1),
    "delay3": ("delay", "DELAY", 2, 3),
    "delay3i": ("delay", "DELAY", 3, 3),
    "delay_n": ("delay_n", "DELAY N", 4, None),
    "trend": ("trend", "TREND", 3, 1),
    "initial": ("initial", "INITIAL", 1, 1),
    "sample_if_true": ("sample", "SAMPLE IF TRUE", 3, 1),
    "delay_fixed": ("delay_fixed", "DELAY FIXED", 3, None),
    "forecast": ("smooth", "FORECAST", 3, 1),
}

# functions over subscript ranges, unrolled when subscripts are expanded
ARRAY_FUNCTIONS = frozenset({"sum", "prod", "vmin", "vmax", "elmcount"})

_INTEG = re.compile(r"[\s\\]*INTEG[\s\\]*\(", re.IGNORECASE)


class EquationReader(ExpressionParser):
    """Parses each equation into the expression tree, hoisting statefuls.

    Attributes
    ----------
    defined
        Keys of every name the file defines, to tell lookup calls from functions.
    statefuls
        The hidden states hoisted so far, in file order.
    lookups
        The lookup tables read so far, in file order.
    """

    def __init__(self, path: str, defined: set):
        super().__init__(path)
        self.defined = defined
        self.statefuls: list[Stateful] = []
        self.lookups: list[Lookup] = []
        self.random_calls = 0
        self.files: set = set()  # the spreadsheets GET XLS/DIRECT read
        # macros by key, and the function that makes a copy of one for a call
        self.macros: dict = {}
        self.macro_call = None

    def stock(self):
        """Parse an equation ``INTEG(flow, init)``; return ``None`` if it is not one."""
        found = _INTEG.match(self.src)
        if not found:
            return None
        self.pos = found.end()
        flow, init = self.arguments("INTEG", 2)
        if self.skip() < len(self.src):
            self.unsupported("INTEG inside a larger expression (INTEG must be the whole equation)")
        return flow, init

    def arguments(self, spelling: str, count) -> list:
        """Parse ``a, b, ...)`` after an opening parenthesis; check the count."""
        args = []
        if self.at(")"):
            self.pos += 1
        else:
            while True:
                if self.at("'"):
                    self.unsupported(f"the function {spelling} with a file argument")
                args.append(self.logic())
                if self.at(","):
                    self.pos += 1
                    continue
                self.expect(")")
                break
        counts = count if isinstance(count, tuple) else (count,)
        if count is not None and len(args) not in counts:
            raise ModelError(
                f"{self.path}: '{self.owner}' calls {spelling} with {len(args)} "
                f"arguments; it takes {' or '.join(map(str, counts))}"
            )
        return args

    def call(self, fn: str, subs: tuple = ()):
        """Parse a call to ``fn`` after its ``(``: a lookup, a stateful or a function."""
        spelling = fn.replace("_", " ").upper()
        if fn in self.macros:
            return self.macro_call(fn, self.arguments(spelling, None))
        if subs and fn not in self.defined:
            self.unsupported(f"subscripts on the function {spelling}")
        if fn in self.defined:
            args = self.arguments(fn, None)
            if len(args) != 1:
                raise ModelError(
                    f"{self.path}: '{self.owner}' calls lookup '{fn}' with {len(args)} "
                    "arguments; a lookup takes one"
                )
            return LookupCall(fn, args[0], subs)
        if fn in STATEFULS:
            return self.stateful(fn, spelling)
        if fn == "integ":
            self.unsupported("INTEG inside a larger expression (INTEG must be the whole equation)")
        if fn in ARRAY_FUNCTIONS:
            return Call(fn, tuple(self.arguments(spelling, 1)))
        if fn in VECTOR_FUNCTIONS:
            return Call(fn, tuple(self.arguments(spelling, VECTOR_FUNCTIONS[fn][0])))
        if fn == "active_initial":
            return Call(fn, tuple(self.arguments(spelling, 2)))
        if fn == "get_time_value":
            return self.time_value(self.arguments(spelling, 3))
        if fn not in FUNCTIONS:
            self.unsupported(f"the function {spelling}")
        args = self.arguments(spelling, FUNCTIONS[fn])
        if fn in RANDOM:
            # each call draws from its own stream: number the calls in file order
            self.random_calls += 1
            return Call(fn, (*args, Num(float(self.random_calls))))
        if fn == "pulse_train":
            # Vensim's (start, width, interval, end); the engine takes PySD's order
            start, width, interval, end = args
            args = [start, interval, width, end]
        return Call(fn, tuple(args))

    def stateful(self, fn: str, spelling: str):
        """Parse the arguments of stateful ``fn``, hoist it, and return a reference to it."""
        kind, function, count, order = STATEFULS[fn]
        args = self.arguments(spelling, count)
        inp = args[0]
        if kind == "initial":
            time, init = None, inp
        elif fn == "sample_if_true":  # (condition, input, initial value)
            time, inp, init = args
        else:
            time = args[1]
            init = args[2] if count >= 3 else inp
        if fn == "forecast":  # a first-order average, then PySD's formula below
            init = inp
        if fn == "delay_fixed":
            order = Op("/", (time, Ref("time_step")))
        else:
            order = args[3] if order is None else Num(float(order))
        key = f"_{kind}_{len(self.statefuls) + 1}"
        self.statefuls.append(
            Stateful(
                key=key,
                kind=kind,
                owner=self.owner,
                function=function,
                input=inp,
                time=time,
                init=init,
                order=order,
            )
        )
        if fn == "forecast":
            # input * (1 + ZIDZ(input - average, time * average) * horizon), as PySD
            avg, horizon = Ref(key), args[2]
            trend = Call("zidz", (Op("-", (inp, avg)), Op("*", (time, avg))))
            return Op("*", (inp, Op("+", (Num(1.0), Op("*", (trend, horizon))))))
        return Ref(key)

    def time_value(self, args: list):
        """Rewrite GET TIME VALUE(relative to, offset, measure) as Time (or INITIAL TIME) + offset.

        Only the model's own clock (measure 0, relative to 0: the current time,
        or 1: INITIAL TIME) is supported: the computer's clock would make runs
        irreproducible.
        """
        relative, offset, measure = args
        if not (isinstance(relative, Num) and relative.value in (0, 1)) or measure != Num(0.0):
            self.unsupported(
                "GET TIME VALUE other than of the model's clock (relative to 0 or 1, measure 0)"
            )
        start = Ref("time") if relative.value == 0 else Ref("initial_time")
        return Op("+", (start, offset))

    # -- lookup tables

    def with_lookup(self):
        """Parse ``input, table)`` after ``WITH LOOKUP(`` and keep the table."""
        arg = self.logic()
        self.expect(",")
        table = self.table(f"_lookup_{len(self.lookups) + 1}")
        self.expect(")")
        self.lookups.append(table)
        return LookupCall(table.key, arg)

    def table(self, key: str) -> Lookup:
        """Parse ``([(x0,y0)-(x1,y1)], (x,y), ...)`` into a table."""
        self.expect("(")
        bounds = None
        if self.at("["):
            close = self.src.find("]", self.pos)
            if close < 0:
                raise ParseError(self.pos, "the range of the lookup is not closed with ']'")
            bounds = _bounds(self.src[self.pos + 1 : close])
            self.pos = close + 1
            if self.at(","):
                self.pos += 1
        if re.match(r"GET[ _](XLS|DIRECT)", self.src[self.skip() :], re.IGNORECASE):
            self.unsupported("GET XLS/DIRECT LOOKUPS")
        points = []
        while self.at("("):
            self.pos += 1
            x = self.number()
            self.expect(",")
            y = self.number()
            self.expect(")")
            points.append((x, y))
            if self.at(","):
                self.pos += 1
        self.expect(")")
        if not points:
            raise ParseError(self.pos, "a lookup needs at least one (x, y) point")
        xs = tuple(p[0] for p in points)
        if any(b < a for a, b in zip(xs, xs[1:], strict=False)):
            raise ModelError(
                f"{self.path}: lookup in '{self.owner}' has x values that decrease; "
                "list the points in increasing x"
            )
        return Lookup(key=key, xs=xs, ys=tuple(p[1] for p in points), bounds=bounds)

    def number(self) -> float:
        """Parse a number.

        Raises
        ------
        ParseError
            The next token is not a number.
        """
        found = self.take(NUMBER)
        if not found:
            raise ParseError(self.pos, f"expected a number {self.where()}")
        return float(re.sub(r"[\s\\]", "", found.group()))


_BOUNDS = re.compile(
    r"\s*\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)\s*-\s*\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)"
)


def _bounds(text: str) -> tuple | None:
    """Return ``((x0, x1), (y0, y1))`` of a lookup's ``(x0,y0)-(x1,y1)``, or None if unreadable."""
    found = _BOUNDS.match(text)
    if not found:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in found.groups())
    except ValueError:
        return None
    return ((min(x0, x1), max(x0, x1)), (min(y0, y1), max(y0, y1)))
