"""Read a Vensim ``.mdl`` into a frozen model spec.

The file goes through PySD's Vensim translator (its abstract model, not its
runtime), and the abstract syntax is lowered into the small expression tree
below. Stateful functions (SMOOTH, DELAY, TREND, INITIAL) nested in an
equation are hoisted into hidden :class:`Stateful` entries, so that later
steps see only plain expressions over variables, stocks and hidden states.
"""

import dataclasses
import hashlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from sim.errors import ModelError, UnsupportedFunctionError
from sim.names import python_name, suggestion, vensim_key

# --- expression tree -------------------------------------------------------


@dataclass(frozen=True)
class Num:
    """A number literal."""

    value: float


@dataclass(frozen=True)
class Ref:
    """A reference to a variable, a hidden state output, ``time`` or a control."""

    key: str


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


Expr = Num | Ref | Op | Call | LookupCall

# --- model structure ---------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """A piecewise-linear table; held at its end values outside ``xs``."""

    key: str
    xs: tuple
    ys: tuple


@dataclass(frozen=True)
class Stateful:
    """A hidden state made by SMOOTH, DELAY, TREND or INITIAL inside an equation.

    ``kind`` is ``smooth``, ``delay``, ``delay_n``, ``trend`` or ``initial``.
    ``time`` is the smoothing/delay/averaging time; ``order`` the number of
    internal stages; ``function`` the Vensim spelling, for messages.
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

    def element(self, name: str) -> Element:
        """Return the element named ``name``: any Vensim spelling, its key or its Python name."""
        key = vensim_key(name)
        py_name = python_name(name)
        for el in self.elements:
            if el.key == key or el.py_name in (name, py_name):
                return el
        raise KeyError(key)

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
}

_OPS = {
    "+": "+",
    "-": "-",
    "*": "*",
    "/": "/",
    "^": "^",
    "negative": "neg",
    "=": "=",
    "<>": "<>",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    ":and:": "and",
    ":or:": "or",
    ":not:": "not",
}

# PySD structure names that have no implementation here, as Vensim spells them.
_UNSUPPORTED_STRUCTURES = {
    "DelayFixedStructure": "DELAY FIXED",
    "ForecastStructure": "FORECAST",
    "SampleIfTrueStructure": "SAMPLE IF TRUE",
    "GameStructure": "GAME",
    "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
    "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY",
    "GetLookupsStructure": "GET XLS/DIRECT LOOKUPS",
    "GetDataStructure": "GET XLS/DIRECT DATA",
    "GetConstantsStructure": "GET XLS/DIRECT CONSTANTS",
    "DataStructure": "a data variable",
    "SubscriptsReferenceStructure": "subscripts",
}


def read_mdl(path: str | Path) -> ModelSpec:
    """Read a Vensim ``.mdl`` file into a :class:`ModelSpec`.

    Parameters
    ----------
    path
        The model file (Vensim text format).

    Raises
    ------
    ModelError
        The file is missing, not Vensim, uses subscripts, data or macros, or
        refers to an undefined name.
    UnsupportedFunctionError
        An equation uses a function outside :data:`FUNCTIONS` and the
        stateful functions listed in DESIGN.md §3.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file; give the path of a Vensim .mdl file")
    raw = path.read_bytes()
    abstract = _abstract_model(path, raw.decode("utf-8", errors="replace"))
    if len(abstract.sections) > 1:
        raise ModelError(f"{path}: macros are not supported; inline the macro's equations")
    section = abstract.sections[0]
    if section.subscripts:
        raise ModelError(
            f"{path}: subscript range '{section.subscripts[0].name}' found; "
            "subscripted models are not supported, write one variable per element"
        )
    builder = _Lowering(str(path), {vensim_key(el.name) for el in section.elements})
    elements = [builder.element(el) for el in section.elements]
    elements = _mark_flows(elements)
    _check_names(elements, builder, str(path))
    return ModelSpec(
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
        elements=tuple(elements),
        statefuls=tuple(builder.statefuls),
        lookups=tuple(builder.lookups),
    )


def _abstract_model(path: Path, text: str):
    """Run PySD's Vensim translator up to its abstract model."""
    with warnings.catch_warnings():
        # PySD warns when the file lacks an encoding line (UTF-8 is assumed)
        # and its dependencies warn of their own deprecations on import.
        warnings.simplefilter("ignore")
        from pysd.translators.vensim.vensim_file import VensimFile

        try:
            vf = VensimFile(path)
            vf.parse()
            return vf.get_abstract_model()
        except ModelError:
            raise
        except Exception as err:  # the translator raises many kinds
            raise ModelError(_syntax_message(path, text, err)) from None


def _syntax_message(path: Path, text: str, err: Exception) -> str:
    """Locate a translator error: the first equation that does not parse."""
    from pysd.translators.vensim.vensim_file import VensimFile

    detail = re.sub(r"\s+", " ", str(err)).strip()[:160]
    try:
        vf = VensimFile(path)
        vf.parse(parse_all=False)
        for section in vf.sections:
            section.parse(parse_all=False)
            for element in section.elements:
                try:
                    component = element.parse()
                    if hasattr(component, "parse"):
                        component.parse()
                except Exception as inner:
                    lhs = element.equation.split("=")[0].strip()
                    line = _line_of(text, lhs)
                    why = re.sub(r"\s+", " ", str(inner)).strip()[:160]
                    return (
                        f"{path}:{line}: Vensim syntax error in the equation of '{lhs}' "
                        f"({why}); fix the equation"
                    )
    except Exception:  # the file does not even split into equations
        pass
    return f"{path}: not a readable Vensim model ({detail}); check the file is a Vensim .mdl"


def _line_of(text: str, fragment: str) -> int:
    """Return the 1-based line where ``fragment`` starts, or 1."""
    at = text.find(fragment[:40])
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


class _Lowering:
    """Turns PySD's abstract syntax into our expression tree, hoisting statefuls."""

    def __init__(self, path: str, defined: set):
        self.path = path
        self.defined = defined
        self.statefuls: list[Stateful] = []
        self.lookups: list[Lookup] = []
        self.owner = ""
        # PySD's SMOOTH(x, t) reuses the node x as its initial value; a stateful
        # met twice through such sharing is one state, not two.
        self.hoisted: dict = {}

    def element(self, el) -> Element:
        key = vensim_key(el.name)
        self.owner = el.name
        if len(el.components) != 1:
            raise ModelError(
                f"{self.path}: '{el.name}' has {len(el.components)} equations; "
                "subscripted models are not supported"
            )
        component = el.components[0]
        sub_defs = component.subscripts[0] if component.subscripts else []
        if sub_defs:
            raise ModelError(
                f"{self.path}: '{el.name}' is subscripted; subscripted models are not supported"
            )
        ctype = type(component).__name__
        ast = component.ast
        limits = tuple(el.limits[:2]) if el.limits else (None, None)
        limits = tuple(None if v is None else float(v) for v in limits) + (None,) * (
            2 - len(limits)
        )
        common = {
            "name": el.name,
            "key": key,
            "py_name": python_name(el.name),
            "units": el.units or "",
            "limits": limits[:2],
            "doc": re.sub(r"\s+", " ", el.documentation or "").strip(),
        }
        if ctype == "AbstractData":
            self._unsupported("a data variable")
        if type(el).__name__ == "AbstractControlElement":
            return Element(kind="control", expr=self.expr(ast), **common)
        if ctype == "AbstractLookup":
            self.lookups.append(self._table(key, ast))
            return Element(kind="lookup", expr=None, **common)
        name = type(ast).__name__
        if name == "IntegStructure":
            if getattr(ast, "non_negative", False):
                self._unsupported("non-negative INTEG")
            return Element(
                kind="stock", expr=self.expr(ast.flow), init=self.expr(ast.initial), **common
            )
        expr = self.expr(ast)
        kind = "constant" if isinstance(expr, Num) else "auxiliary"
        return Element(kind=kind, expr=expr, **common)

    def _unsupported(self, what: str):
        raise UnsupportedFunctionError(
            f"{self.path}: '{self.owner}' uses {what}, which brainsim does not support; "
            "rewrite it with the functions listed in DESIGN.md §3"
        )

    def _table(self, key: str, ast) -> Lookup:
        if type(ast).__name__ != "LookupsStructure":
            self._unsupported(
                _UNSUPPORTED_STRUCTURES.get(type(ast).__name__, "an external lookup")
            )
        if ast.type != "interpolate":
            self._unsupported(f"a '{ast.type}' lookup")
        xs = tuple(float(v) for v in ast.x)
        ys = tuple(float(v) for v in ast.y)
        if any(b < a for a, b in zip(xs, xs[1:], strict=False)):
            raise ModelError(
                f"{self.path}: lookup in '{self.owner}' has x values that decrease; "
                "list the points in increasing x"
            )
        return Lookup(key=key, xs=xs, ys=ys)

    def expr(self, ast):
        """Lower one abstract-syntax node."""
        if isinstance(ast, bool):
            return Num(float(ast))
        if isinstance(ast, int | float) or type(ast).__module__ == "numpy":
            return Num(float(ast))
        kind = type(ast).__name__
        if kind == "ReferenceStructure":
            if ast.subscripts:
                self._unsupported("subscripts")
            return Ref(vensim_key(ast.reference))
        if kind in ("ArithmeticStructure", "LogicStructure"):
            return self._operation(ast)
        if kind == "CallStructure":
            return self._call(ast)
        if kind == "InlineLookupsStructure":
            table = self._table(f"_lookup_{len(self.lookups) + 1}", ast.lookups)
            self.lookups.append(table)
            return LookupCall(table.key, self.expr(ast.argument))
        if kind == "LookupsStructure":
            self._unsupported("a lookup definition inside an equation")
        if kind == "IntegStructure":
            self._unsupported(
                "INTEG inside a larger expression (INTEG must be the whole equation)"
            )
        if id(ast) in self.hoisted:
            return self.hoisted[id(ast)]
        if kind in ("SmoothStructure", "SmoothNStructure"):
            function = "SMOOTH N" if kind == "SmoothNStructure" else "SMOOTH"
            return self.stateful(
                ast, "smooth", function, ast.input, ast.smooth_time, ast.initial, ast.order
            )
        if kind == "DelayStructure":
            return self.stateful(
                ast, "delay", "DELAY", ast.input, ast.delay_time, ast.initial, ast.order
            )
        if kind == "DelayNStructure":
            return self.stateful(
                ast, "delay_n", "DELAY N", ast.input, ast.delay_time, ast.initial, ast.order
            )
        if kind == "TrendStructure":
            return self.stateful(
                ast, "trend", "TREND", ast.input, ast.average_time, ast.initial_trend, 1
            )
        if kind == "InitialStructure":
            return self.stateful(ast, "initial", "INITIAL", ast.initial, None, ast.initial, 1)
        self._unsupported(_UNSUPPORTED_STRUCTURES.get(kind, kind))
        return None  # unreachable: _unsupported raises

    def _operation(self, ast):
        ops = [_OPS[o.lower()] for o in ast.operators]
        args = [self.expr(a) for a in ast.arguments]
        if len(args) == 1:
            return Op(ops[0], (args[0],))
        # PySD writes + - * / chains as Python text (left to right) and ^ as
        # Python's right-associative **; :AND:/:OR: it nests from the right.
        if ops[0] in ("^", "and", "or"):
            result = args[-1]
            for op, arg in zip(reversed(ops), reversed(args[:-1]), strict=True):
                result = Op(op, (arg, result))
            return result
        result = args[0]
        for op, arg in zip(ops, args[1:], strict=True):
            result = Op(op, (result, arg))
        return result

    def _call(self, ast):
        fn = vensim_key(ast.function.reference)
        args = tuple(self.expr(a) for a in ast.arguments)
        if fn in self.defined:
            if len(args) != 1:
                raise ModelError(
                    f"{self.path}: '{self.owner}' calls lookup '{fn}' with {len(args)} "
                    "arguments; a lookup takes one"
                )
            return LookupCall(fn, args[0])
        if fn not in FUNCTIONS:
            self._unsupported(f"the function {fn.replace('_', ' ').upper()}")
        if len(args) not in FUNCTIONS[fn]:
            raise ModelError(
                f"{self.path}: '{self.owner}' calls {fn.replace('_', ' ').upper()} with "
                f"{len(args)} arguments; it takes {' or '.join(map(str, FUNCTIONS[fn]))}"
            )
        return Call(fn, args)

    def _hoist(self, kind, function, inp, time, init, order):
        # lower the arguments first: a nested SMOOTH(SMOOTH(x, 1), 1) takes its key first
        args = {
            "input": self.expr(inp),
            "time": None if time is None else self.expr(time),
            "init": self.expr(init),
            "order": self.expr(order),
        }
        key = f"_{kind}_{len(self.statefuls) + 1}"
        self.statefuls.append(
            Stateful(key=key, kind=kind, owner=self.owner, function=function, **args)
        )
        return Ref(key)

    def stateful(self, ast, kind, function, inp, time, init, order):
        """Hoist a stateful node once, however often the abstract syntax shares it."""
        ref = self._hoist(kind, function, inp, time, init, order)
        self.hoisted[id(ast)] = ref
        return ref


# Functions that read the clock without naming Time.
TIME_FUNCTIONS = frozenset({"step", "ramp", "pulse", "pulse_train"})


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


def _mark_flows(elements: list) -> list:
    """Mark as flows the auxiliaries a stock's rate adds or subtracts directly."""
    flows: set = set()
    for el in elements:
        if el.kind != "stock":
            continue
        stack = [el.expr]
        while stack:
            node = stack.pop()
            if isinstance(node, Ref):
                flows.add(node.key)
            elif isinstance(node, Op) and node.op in ("+", "-", "neg"):
                stack.extend(node.args)
    return [
        dataclasses.replace(el, kind="flow") if el.kind == "auxiliary" and el.key in flows else el
        for el in elements
    ]


def _check_names(elements: list, builder: _Lowering, path: str) -> None:
    """Every reference must name an element, a hidden state, ``time`` or a control."""
    known = {el.key for el in elements} | {s.key for s in builder.statefuls}
    known |= {"time", *CONTROL_KEYS}
    tables = {lk.key for lk in builder.lookups}
    names = [el.name for el in elements]
    seen_py: dict = {}
    for el in elements:
        if el.py_name in seen_py:
            raise ModelError(
                f"{path}: '{el.name}' and '{seen_py[el.py_name]}' have the same Python "
                f"name '{el.py_name}'; rename one of them"
            )
        seen_py[el.py_name] = el.name
    exprs = [(el.name, e) for el in elements for e in (el.expr, el.init) if e is not None]
    exprs += [(s.owner, e) for s in builder.statefuls for e in (s.input, s.time, s.init, s.order)]
    for owner, expr in exprs:
        for key in sorted(references(expr)):
            if key not in known:
                raise ModelError(
                    f"{path}: '{owner}' refers to '{key.replace('_', ' ')}', which the model "
                    f"does not define; {suggestion(key.replace('_', ' '), names)}"
                )
            if key in tables:
                raise ModelError(
                    f"{path}: '{owner}' uses lookup '{key.replace('_', ' ')}' as a value; "
                    "call it with an argument, e.g. name(Time)"
                )
    controls = {el.key for el in elements if el.kind == "control"}
    missing = [k for k in CONTROL_KEYS if k not in controls]
    if missing:
        lacking = ", ".join(m.upper().replace("_", " ") for m in missing)
        raise ModelError(f"{path}: the control section lacks {lacking}; add it to the .mdl")
