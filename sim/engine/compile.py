"""Compile a model spec into numpy functions over ensembles of runs.

The equations are sorted topologically (a cycle is an error naming its
variables) and written out as Python source over arrays shaped
``(n_states, n_runs)``: one pass of numpy operations advances every run at
once. The generated source is kept on the compiled model for inspection.

Values are held in three arrays:

``c``
    ``(n_consts, n_runs)``: the model's constants (the parameters), then the
    auxiliaries that do not change during a run (including ``INITIAL``),
    computed once by ``initialize``.
``s``
    ``(n_states, n_runs)``: stocks, then the stages of SMOOTH/DELAY/TREND.
``m``
    ``(n_memory, n_runs)``: the delay times remembered by DELAY N, which
    PySD shifts once per Euler step.
"""

import graphlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.engine.errors import ModelError
from sim.engine.functions import NAMESPACE
from sim.engine.spec import CONTROL_KEYS, Call, LookupCall, ModelSpec, Num, Op, Ref, references

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
}
_BINARY = {
    "+": "+",
    "-": "-",
    "*": "*",
    "/": "/",
    "^": "**",
    "=": "==",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}


@dataclass(frozen=True)
class CompiledModel:
    """A model ready to simulate: its layout, defaults and generated functions.

    Attributes
    ----------
    spec
        The model spec it was compiled from.
    param_keys
        Keys of the constants, in file order: rows ``0..n_params-1`` of ``c``.
    defaults
        Default value of each constant, from the ``.mdl``.
    n_consts
        Rows of ``c``: the parameters, then the run-constant auxiliaries.
    state_names
        A label for each row of ``s`` (a stock's name, or ``SMOOTH of x[1]``).
    n_memory
        Rows of ``m``.
    controls
        ``initial_time``, ``final_time``, ``time_step``, ``saveper`` [time units].
    outputs
        ``(key, where, index)`` for every reported variable, in file order:
        ``where`` is ``"c"`` (a row of ``c``), ``"state"`` (a row of ``s``)
        or ``"dyn"`` (an index into the tuple that ``evaluate`` returns).
    source
        The generated Python source of ``initialize``, ``evaluate``, ``rates``
        and ``breakpoints``.
    """

    spec: ModelSpec
    param_keys: tuple
    defaults: np.ndarray
    n_consts: int
    state_names: tuple
    n_memory: int
    controls: dict
    outputs: tuple
    tables: tuple
    source: str
    initialize: Callable
    evaluate: Callable
    rates: Callable
    breakpoints: Callable

    @property
    def n_states(self) -> int:
        """Rows of the state array."""
        return len(self.state_names)


def compile_model(spec: ModelSpec) -> CompiledModel:
    """Compile ``spec`` into numpy functions; see the module docstring.

    Raises
    ------
    ModelError
        An algebraic loop (named), a stateful order that is not a whole
        constant number, or control values that do not define a run.
    """
    return _Compiler(spec).build()


class _Compiler:
    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.path = spec.path
        self.elements = {el.key: el for el in spec.elements}
        self.statefuls = {s.key: s for s in spec.statefuls}
        self.table_index = {lk.key: i for i, lk in enumerate(spec.lookups)}
        self.params = [el.key for el in spec.of_kind("constant")]
        self.defaults = {el.key: el.expr.value for el in spec.of_kind("constant")}
        self.controls = self._controls()
        self.literals: dict = {}

    # -- names and classification ---------------------------------------

    def _label(self, key: str) -> str:
        if key in self.elements:
            return self.elements[key].name
        if key in self.statefuls:
            st = self.statefuls[key]
            return f"{st.function} in '{st.owner}'"
        return key

    def local(self, key: str) -> str:
        if key == "time":
            return "t"
        if key in CONTROL_KEYS:
            return f"ctl_{key}"
        if key in self.statefuls:
            return "h" + key
        return "v_" + self.elements[key].py_name

    def _deps(self, key: str, phase: str) -> set:
        """Keys that ``key`` needs, in the ``init`` or ``run`` phase."""
        if key in self.statefuls:
            st = self.statefuls[key]
            if phase == "init" or st.kind == "initial":
                parts = [st.init, st.time, st.order]
                if st.kind == "trend":
                    parts.append(st.input)
            else:  # the output of a stage block during the run
                parts = {"delay": [st.time], "trend": [st.input, st.time]}.get(st.kind, [])
        else:
            el = self.elements[key]
            parts = [el.init] if el.kind == "stock" and phase == "init" else [el.expr]
            if el.kind == "stock" and phase == "run":
                parts = []
        found = set()
        for part in parts:
            if part is not None:
                found |= references(part)
        return {k for k in found if k != "time" and k not in CONTROL_KEYS}

    def _controls(self) -> dict:
        values = {}
        for key in CONTROL_KEYS:
            expr = self.elements[key].expr
            env = {**self.defaults, **values}
            try:
                values[key] = float(_constant_value(expr, env))
            except KeyError as missing:
                raise ModelError(
                    f"{self.path}: {self.elements[key].name} depends on '{missing.args[0]}', "
                    "which is not a constant; give control variables numeric values"
                ) from None
        if not values["time_step"] > 0 or not values["saveper"] > 0:
            raise ModelError(f"{self.path}: TIME STEP and SAVEPER must be positive")
        if not values["final_time"] > values["initial_time"]:
            raise ModelError(f"{self.path}: FINAL TIME must be after INITIAL TIME")
        return values

    def _order(self, st) -> int:
        try:
            value = float(_constant_value(st.order, self.defaults))
        except KeyError:
            value = float("nan")
        if not (value >= 1 and value == int(value)):
            raise ModelError(
                f"{self.path}: the order of {st.function} in '{st.owner}' must be a whole "
                "number of at least 1, written as a number or a constant"
            )
        return int(value)

    def _sort(self, nodes: set, phase: str) -> list:
        graph = {k: self._deps(k, phase) & nodes for k in nodes}
        # sort ties by file position so that the generated source is stable
        position = {el.key: i for i, el in enumerate(self.spec.elements)}
        position |= {k: len(position) + i for i, k in enumerate(self.statefuls)}
        sorter = graphlib.TopologicalSorter(graph)
        try:
            sorter.prepare()
        except graphlib.CycleError as err:
            cycle = " -> ".join(self._label(k) for k in reversed(err.args[1]))
            raise ModelError(
                f"{self.path}: algebraic loop {cycle}; break it with a stock, a SMOOTH or a DELAY"
            ) from None
        order = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            order.extend(ready)
            sorter.done(*ready)
        return order

    # -- expressions -----------------------------------------------------

    def code(self, expr) -> str:
        if isinstance(expr, Num):
            # numpy scalars, so that 1/0 gives inf (then a named NaN error) not ZeroDivisionError
            return self.literals.setdefault(expr.value, f"_k{len(self.literals)}")
        if isinstance(expr, Ref):
            return self.local(expr.key)
        if isinstance(expr, LookupCall):
            i = self.table_index[expr.table]
            return f"np.interp({self.code(expr.arg)}, L[{i}][0], L[{i}][1])"
        if isinstance(expr, Op):
            args = [self.code(a) for a in expr.args]
            if expr.op == "neg":
                return f"(-{args[0]})"
            if expr.op == "not":
                return f"np.logical_not({args[0]})"
            if expr.op in ("and", "or"):
                return f"np.logical_{expr.op}({args[0]}, {args[1]})"
            return f"({args[0]} {_BINARY[expr.op]} {args[1]})"
        assert isinstance(expr, Call)
        args = [self.code(a) for a in expr.args]
        fn = expr.fn
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

    # -- layout ----------------------------------------------------------

    def build(self) -> CompiledModel:
        stocks = [el.key for el in self.spec.of_kind("stock")]
        computed = [el.key for el in self.spec.of_kind("auxiliary", "flow")]
        hidden = list(self.statefuls)

        # Which values change during a run: time, stocks and stage blocks
        # (not INITIAL), and anything that depends on them.
        dynamic = set(stocks) | {k for k in hidden if self.statefuls[k].kind != "initial"}
        changed = True
        while changed:
            changed = False
            for key in computed:
                if key in dynamic:
                    continue
                refs = references(self.elements[key].expr)
                if "time" in refs or refs & dynamic:
                    dynamic.add(key)
                    changed = True
        frozen = [k for k in computed if k not in dynamic] + [
            k for k in hidden if self.statefuls[k].kind == "initial"
        ]

        # state rows
        state_names, state_row, orders = [], {}, {}
        for key in stocks:
            state_row[key] = len(state_names)
            state_names.append(self.elements[key].name)
        memory_row, n_memory = {}, 0
        for key in hidden:
            st = self.statefuls[key]
            if st.kind == "initial":
                continue
            n = 1 if st.kind == "trend" else self._order(st)
            orders[key] = n
            state_row[key] = len(state_names)
            state_names += [f"{st.function} in '{st.owner}'[{i + 1}]" for i in range(n)]
            if st.kind == "delay_n":
                memory_row[key] = n_memory
                n_memory += n

        const_row = {k: i for i, k in enumerate(self.params)}
        for key in frozen:
            const_row[key] = len(const_row)

        init_order = self._sort(set(computed) | set(hidden) | set(stocks), "init")
        run_nodes = [k for k in computed if k in dynamic] + [k for k in hidden if k in dynamic]
        run_order = self._sort(set(run_nodes), "run")

        lines = ["# Generated by sim.engine.compile from " + self.path, ""]
        lines += self._initialize(init_order, frozen, state_row, memory_row, orders, const_row)
        dyn_keys = [k for k in run_order if k in self.elements]
        lines += self._evaluate(
            "evaluate", run_order, dyn_keys, state_row, memory_row, orders, const_row
        )
        needed = self._needed_for_rates(run_order, stocks)
        lines += self._evaluate(
            "rates",
            [k for k in run_order if k in needed],
            None,
            state_row,
            memory_row,
            orders,
            const_row,
        )
        lines += self._breakpoints(const_row, frozen)
        consts = [f"{name} = np.float64({value!r})" for value, name in self.literals.items()]
        lines[2:2] = ["# number literals of the equations", *consts, "", ""]
        source = "\n".join(lines) + "\n"
        namespace = dict(NAMESPACE)
        exec(compile(source, f"<brainsim model {self.path}>", "exec"), namespace)  # noqa: S102

        dyn_index = {k: i for i, k in enumerate(dyn_keys)}
        outputs = []
        for el in self.spec.elements:
            if el.kind in ("lookup", "control"):
                continue
            if el.kind == "stock":
                outputs.append((el.key, "state", state_row[el.key]))
            elif el.key in dyn_index:
                outputs.append((el.key, "dyn", dyn_index[el.key]))
            else:
                outputs.append((el.key, "c", const_row[el.key]))
        return CompiledModel(
            spec=self.spec,
            param_keys=tuple(self.params),
            defaults=np.array([self.defaults[k] for k in self.params], dtype=float),
            n_consts=len(const_row),
            state_names=tuple(state_names),
            n_memory=n_memory,
            controls=dict(self.controls),
            outputs=tuple(outputs),
            tables=tuple(
                (np.asarray(lk.xs, dtype=float), np.asarray(lk.ys, dtype=float))
                for lk in self.spec.lookups
            ),
            source=source,
            initialize=namespace["initialize"],
            evaluate=namespace["evaluate"],
            rates=namespace["rates"],
            breakpoints=namespace["breakpoints"],
        )

    def _needed_for_rates(self, run_order, stocks) -> set:
        need: set = set()
        stack = list(stocks) + [k for k in self.statefuls if k in run_order]
        exprs = []
        for key in stack:
            if key in self.elements:
                exprs.append(self.elements[key].expr)
            else:
                st = self.statefuls[key]
                exprs += [st.input, st.time]
        todo = set()
        for e in exprs:
            if e is not None:
                todo |= references(e)
        while todo:
            key = todo.pop()
            if key in need or key not in run_order:
                continue
            need.add(key)
            if key in self.elements:
                todo |= references(self.elements[key].expr)
            else:
                st = self.statefuls[key]
                todo |= references(st.time) if st.time is not None else set()
                if st.kind == "trend":
                    todo |= references(st.input)
        return need

    # -- generated functions ---------------------------------------------

    # _step_offset is TIME STEP / 2 on fixed grids (Vensim's STEP) and 0 for solve_ivp
    _HEADER = (
        "    ctl_initial_time, ctl_final_time, ctl_time_step, ctl_saveper, _step_offset = ctl"
    )

    def _read_consts(self, const_row: dict, keys) -> list:
        return [f"    {self.local(k)} = c[{const_row[k]}]" for k in keys]

    def _initialize(self, order, frozen, state_row, memory_row, orders, const_row) -> list:
        lines = [
            "def initialize(c, L, ctl, s, m):",
            '    """Fill the run constants of c and the states s, m at INITIAL TIME."""',
            self._HEADER,
            "    t = ctl_initial_time",
        ]
        lines += self._read_consts(const_row, self.params)
        for key in order:
            name = self.local(key)
            if key in self.elements:
                el = self.elements[key]
                if el.kind == "stock":
                    lines.append(f"    s[{state_row[key]}] = {self.code(el.init)}  # {el.name}")
                    lines.append(f"    {name} = s[{state_row[key]}]")
                else:
                    lines.append(f"    {name} = {self.code(el.expr)}  # {el.name}")
                continue
            st = self.statefuls[key]
            if st.kind == "initial":
                lines.append(f"    {name} = {self.code(st.init)}  # {st.function} in {st.owner}")
                continue
            row, n = state_row[key], orders[key]
            block = f"s[{row}:{row + n}]"
            lines.append(f"    # {st.function} in '{st.owner}'")
            if st.kind == "smooth":
                lines.append(f"    {block} = {self.code(st.init)}")
                lines.append(f"    {name} = s[{row + n - 1}]")
            elif st.kind in ("delay", "delay_n"):
                lines.append(f"    _T = {self.code(st.time)}")
                lines.append(
                    f"    _check_delay_order(_T, {n}, ctl_time_step, {st.owner!r}, "
                    f"{st.function!r})"
                )
                lines.append(f"    {block} = {self.code(st.init)} * _T")
                if st.kind == "delay_n":
                    mrow = memory_row[key]
                    lines.append(f"    m[{mrow}:{mrow + n}] = _T")
                lines.append(f"    {name} = s[{row + n - 1}] / _T")
            else:  # trend
                lines.append(f"    _T = {self.code(st.time)}")
                lines.append(f"    _I = {self.code(st.input)}")
                lines.append(f"    s[{row}] = _I / (1 + {self.code(st.init)} * _T)")
                lines.append(f"    {name} = _zidz(_I - s[{row}], _T * np.abs(s[{row}]))")
        for key in frozen:
            lines.append(f"    c[{const_row[key]}] = {self.local(key)}")
        lines += ["", ""]
        return lines

    def _evaluate(self, fname, order, returned, state_row, memory_row, orders, const_row):
        if returned is None:
            doc = "Write d(state)/dt into D (and DELAY N's next memory into M)."
        else:
            doc = "As rates(), and return every time-varying variable, in run order."
        lines = [
            f"def {fname}(t, s, m, c, L, ctl, D, M, shift):",
            f'    """{doc}"""',
            self._HEADER,
        ]
        lines += self._read_consts(const_row, list(const_row))
        for key, row in state_row.items():
            if key in self.elements:
                lines.append(f"    {self.local(key)} = s[{row}]")
        for key in order:
            name = self.local(key)
            if key in self.elements:
                el = self.elements[key]
                lines.append(f"    {name} = {self.code(el.expr)}  # {el.name}")
                continue
            st = self.statefuls[key]
            row, n = state_row[key], orders[key]
            last = row + n - 1
            if st.kind == "smooth":
                lines.append(f"    {name} = s[{last}]")
            elif st.kind == "delay":
                lines.append(f"    {name} = s[{last}] / {self.code(st.time)}")
            elif st.kind == "delay_n":
                mrow = memory_row[key]
                lines.append(
                    f"    {name} = s[{last}] / (m[{mrow}] if shift else {self.code(st.time)})"
                )
            else:
                lines.append(
                    f"    {name} = _zidz({self.code(st.input)} - s[{row}], "
                    f"{self.code(st.time)} * np.abs(s[{row}]))"
                )
        # derivatives: stocks, then stage blocks, as PySD orders its statefuls
        for key, row in state_row.items():
            if key in self.elements:
                el = self.elements[key]
                lines.append(f"    D[{row}] = {self.code(el.expr)}  # d/dt {el.name}")
        for key, row in state_row.items():
            if key in self.elements:
                continue
            st = self.statefuls[key]
            n = orders[key]
            block = f"s[{row}:{row + n}]"
            lines.append(f"    # d/dt {st.function} in '{st.owner}'")
            if st.kind == "smooth":
                lines.append(f"    _b = {block}")
                lines.append("    _g = np.empty_like(_b)")
                lines.append(f"    _g[0] = {self.code(st.input)}")
                lines.append("    _g[1:] = _b[:-1]")
                lines.append(f"    D[{row}:{row + n}] = (_g - _b) * {n} / {self.code(st.time)}")
            elif st.kind in ("delay", "delay_n"):
                if st.kind == "delay":
                    lines.append(f"    _T = {self.code(st.time)}")
                else:
                    mrow = memory_row[key]
                    lines.append("    if shift:")
                    lines.append(f"        _T = np.empty_like(m[{mrow}:{mrow + n}])")
                    lines.append(f"        _T[0] = {self.code(st.time)}")
                    lines.append(f"        _T[1:] = m[{mrow}:{mrow + n - 1}]")
                    lines.append(f"        M[{mrow}:{mrow + n}] = _T")
                    lines.append("    else:")
                    lines.append(f"        _T = {self.code(st.time)}")
                lines.append(f"    _o = {block} / _T")
                lines.append("    _i = np.empty_like(_o)")
                lines.append(f"    _i[0] = {self.code(st.input)}")
                lines.append("    _i[1:] = _o[:-1]")
                lines.append(f"    D[{row}:{row + n}] = (_i - _o) * {n}")
            else:
                lines.append(
                    f"    D[{row}] = ({self.code(st.input)} - s[{row}]) / {self.code(st.time)}"
                )
        if returned is not None:
            items = ", ".join(self.local(k) for k in returned)
            lines.append(f"    return ({items}{',' if len(returned) == 1 else ''})")
        lines += ["", ""]
        return lines

    def _breakpoints(self, const_row, frozen) -> list:
        """Generate the function listing times where the right-hand side jumps."""
        fixed = set(self.params) | set(frozen)
        found = []
        exprs = [el.expr for el in self.spec.elements if el.kind in ("auxiliary", "flow", "stock")]
        exprs += [e for s in self.spec.statefuls for e in (s.input, s.time)]
        stack = [e for e in exprs if e is not None]
        while stack:
            node = stack.pop()
            if isinstance(node, Op | Call):
                stack.extend(node.args)
            if isinstance(node, LookupCall):
                stack.append(node.arg)
                if node.arg == Ref("time"):
                    found.append(f"L[{self.table_index[node.table]}][0]")
            if not isinstance(node, Call):
                continue
            if not all(references(a) <= fixed for a in node.args):
                continue  # the jump moves during the run; the adaptive step copes
            a = [self.code(x) for x in node.args]
            if node.fn == "step":
                found.append(f"{a[1]} - _step_offset")
            elif node.fn == "ramp":
                found += [f"{a[1]} - 1e-06"] + ([a[2]] if len(a) == 3 else [])
            elif node.fn == "pulse":
                found += [f"{a[0]} - 1e-06", f"{a[0]} + {a[1]}"]
            elif node.fn == "pulse_train":
                found.append(f"_train_edges({a[0]}, {a[1]}, {a[2]}, {a[3]}, ctl_final_time)")
        lines = [
            "def breakpoints(c, L, ctl):",
            '    """Candidate discontinuity times (arrays), from run-constant arguments."""',
            self._HEADER,
        ]
        lines += self._read_consts(const_row, list(const_row))
        lines.append("    return [" + ", ".join(f"np.atleast_1d({f})" for f in found) + "]")
        return lines


def _constant_value(expr, env: dict) -> float:
    """Evaluate an expression made of numbers, constants and operators."""
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        return env[expr.key]
    if isinstance(expr, Op) and expr.op in ("+", "-", "*", "/", "^", "neg"):
        vals = [_constant_value(a, env) for a in expr.args]
        if expr.op == "neg":
            return -vals[0]
        a, b = vals
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "^": a**b}[expr.op]
    raise KeyError("an expression")
