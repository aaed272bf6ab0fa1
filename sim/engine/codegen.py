"""Translate expression trees into Python source over numpy arrays.

Each variable becomes a local of the generated functions, each lookup call
an ``np.interp`` over the table arrays ``L``, and each Vensim function its
numpy form or a helper of :mod:`sim.engine.functions`. Number literals are
collected so that the generated module can define them once, as numpy
scalars.
"""

from sim.engine.spec import CONTROL_KEYS, NOISE, RANDOM, Call, LookupCall, ModelSpec, Num, Op, Ref

_NUMPY_FUNCS = {
    "abs": "np.abs",
    "exp": "np.exp",
    "ln": "np.log",
    "sqrt": "np.sqrt",
    "sin": "np.sin",
    "cos": "np.cos",
    "tan": "np.tan",
    "arcsin": "np.arcsin",
    "arccos": "np.arccos",
    "arctan": "np.arctan",
    "sinh": "np.sinh",
    "cosh": "np.cosh",
    "tanh": "np.tanh",
    "integer": "np.trunc",
    "min": "np.minimum",
    "max": "np.maximum",
    "power": "np.power",
    "xidz": "_xidz",
    "zidz": "_zidz",
    "modulo": "_modulo",
    "quantum": "_quantum",
    "vector_sort_order": "_vector_sort_order",
    "vector_rank": "_vector_rank",
    "vector_reorder": "_vector_reorder",
    "vector_select": "_vector_select",
    "invert_matrix": "_invert_matrix",
    "allocate_by_priority": "_allocate_by_priority",
    "allocate_available": "_allocate_available",
}
# array functions computed once for all elements of a call (functions.per_element)
PER_ELEMENT = frozenset(
    {
        "vector_sort_order",
        "vector_rank",
        "vector_reorder",
        "invert_matrix",
        "allocate_by_priority",
        "allocate_available",
    }
)

_BINARY = {
    "+": "+",
    "-": "-",
    "*": "*",
    "/": "/",
    "=": "==",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}


class ExpressionCode:
    """Python source for the expressions of one spec, and the literals they use.

    Attributes
    ----------
    literals
        Each number met so far, mapped to the name of its constant, in the
        order first met.
    table_index
        Index into ``L`` of each lookup table.
    """

    def __init__(self, spec: ModelSpec):
        self.elements = {el.key: el for el in spec.elements}
        # a hidden state of a subscripted equation has a key like _smooth_1[east]
        self.hidden = {
            s.key: "h" + (s.key if s.key.isidentifier() else f"_state_{i}")
            for i, s in enumerate(spec.statefuls)
        }
        self.table_index = {lk.key: i for i, lk in enumerate(spec.lookups)}
        self.literals: dict = {}

    def local(self, key: str) -> str:
        """Return the name of the local variable that holds ``key``."""
        if key == "time":
            return "t"
        if key in CONTROL_KEYS:
            return f"ctl_{key}"
        if key == NOISE:
            return "_noise"
        if key in self.hidden:
            return self.hidden[key]
        return "v_" + self.elements[key].py_name

    def code(self, expr, names: dict | None = None) -> str:
        """Return the Python source of ``expr``; ``names`` maps keys to other sources."""
        if isinstance(expr, Num):
            # numpy scalars, so that 1/0 gives inf (then a named NaN error) not ZeroDivisionError
            return self.literals.setdefault(expr.value, f"_k{len(self.literals)}")
        if isinstance(expr, Ref):
            return names[expr.key] if names and expr.key in names else self.local(expr.key)
        if isinstance(expr, LookupCall):
            i = self.table_index[expr.table]
            return f"np.interp({self.code(expr.arg, names)}, L[{i}][0], L[{i}][1])"
        if isinstance(expr, Op):
            args = [self.code(a, names) for a in expr.args]
            if expr.op == "neg":
                return f"(-{args[0]})"
            if expr.op == "not":
                return f"np.logical_not({args[0]})"
            if expr.op in ("and", "or"):
                return f"np.logical_{expr.op}({args[0]}, {args[1]})"
            if expr.op == "^":  # the ufunc for one run too: `**` on numpy scalars is libm's pow
                return f"np.power({args[0]}, {args[1]})"
            return f"({args[0]} {_BINARY[expr.op]} {args[1]})"
        assert isinstance(expr, Call)
        return self._call(expr.fn, [self.code(a, names) for a in expr.args])

    def literal_lines(self) -> list:
        """Return the lines that define the literals met so far."""
        return [f"{name} = np.float64({value!r})" for value, name in self.literals.items()]

    def _call(self, fn: str, args: list) -> str:
        if fn in RANDOM:  # the time and the runs' keys pick the draws (functions.py)
            return f"_{fn}(t, _noise, {', '.join(args)})"
        if fn in PER_ELEMENT:  # the whole array once a call, kept in _memo (functions.py)
            return f"_{fn}(_memo, {', '.join(args)})"
        if fn == "if_then_else":
            return f"np.where({args[0]}, {args[1]}, {args[2]})"
        if fn == "log":
            return f"(np.log({args[0]}) / np.log({args[1]}))"
        if fn == "step":
            return f"({args[0]} * ((t + _step_offset) > {args[1]}))"
        if fn == "ramp":
            return f"_ramp(t, {', '.join(args)})"
        if fn == "pulse":
            return f"_pulse(t, {args[0]}, {args[1]})"
        if fn == "pulse_train":
            return f"_pulse_train(t, {', '.join(args)})"
        return f"{_NUMPY_FUNCS[fn]}({', '.join(args)})"
