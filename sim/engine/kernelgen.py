"""Write a compiled model's Euler loop as one scalar function per run, for numba.

The numpy functions of :mod:`sim.engine.emit` take a step for every run at
once; each of their lines is a numpy call. This module writes the same
equations, in the same order, over plain floats: one run's whole step is a
straight run of arithmetic that numba compiles to machine code
(:mod:`sim.engine.kernel`). Every operation is the one numpy does, in the
same order, so the two paths differ only where numpy's vectorised ``exp``,
``log`` and ``power`` round differently from the C library's (a unit in the
last place); see the README's "Same numbers on every path".

Models that use what the kernel does not have (RANDOM draws, functions over
whole arrays, DELAY N, DELAY FIXED, SAMPLE IF TRUE, controls that change
during the run) get no kernel: :func:`kernel_source` returns ``""``.
"""

from sim.engine.codegen import _NUMPY_FUNCS, PER_ELEMENT, ExpressionCode
from sim.engine.layout import Layout
from sim.engine.spec import CONTROL_KEYS, RANDOM, Call, LookupCall, ModelSpec, Num, Op, Ref, walk

# numpy's name to the kernel's scalar function (sim.engine.kernel's helpers)
_SCALAR = {
    "np.abs": "abs",
    "np.exp": "math.exp",
    "np.log": "math.log",
    "np.sqrt": "math.sqrt",
    "np.sin": "math.sin",
    "np.cos": "math.cos",
    "np.tan": "math.tan",
    "np.arcsin": "math.asin",
    "np.arccos": "math.acos",
    "np.arctan": "math.atan",
    "np.sinh": "math.sinh",
    "np.cosh": "math.cosh",
    "np.tanh": "math.tanh",
    "np.trunc": "np.trunc",
    "np.minimum": "_minimum",
    "np.maximum": "_maximum",
    "np.power": "_power",
    "_xidz": "_xidz",
    "_zidz": "_zidz",
    "_modulo": "_modulo",
    "_quantum": "_quantum",
}
_WHOLE_ARRAY = PER_ELEMENT | {"vector_select"}
_TIME_KEYS = frozenset(CONTROL_KEYS) | {"time"}

# The step's bookkeeping, written into the loop rather than called: numba counts
# a reference, atomically, to every array passed to a function, and these run
# every step (with 11 arrays, the yearly sums' call cost a fifth of a step).
# Put run r's kept outputs at this step into acc (block rows r): each entry of
# the step, (row, first output, end) with its weight, sets acc[r, row, j] = x_j
# or, with add, adds weight * x_j; an output that is not finite marks the run.
_KEEP = [
    "ok = True",
    "for j in range(keep_where.shape[0]):",
    "    if keep_where[j] == 0:",
    "        ok = ok and math.isfinite(s[keep_index[j]])",
    "    elif keep_where[j] == 1:",
    "        ok = ok and math.isfinite(dyn[keep_index[j]])",
    "if not ok:",
    "    bad[r] = True",
    "    break",
    "for e in range(ptr[step], ptr[step + 1]):",
    "    row, weight = entries[e, 0], weights[e]",
    "    for j in range(entries[e, 1], entries[e, 2]):",
    "        if keep_where[j] == 0:",
    "            x = s[keep_index[j]]",
    "        elif keep_where[j] == 1:",
    "            x = dyn[keep_index[j]]",
    "        else:",
    "            continue  # a run constant: read from c afterwards",
    "        if add:",
    "            acc[r, row, j] += weight * x",
    "        else:",
    "            acc[r, row, j] = x",
]
# Euler: s += D * dt, unless D is not finite (as numpy's isfinite(D.sum()))
# (a bad run's states are not handed back, so they may be advanced before the check)
_STEP = [
    "total = 0.0",
    "for i in range(D.shape[0]):",
    "    total += D[i]",
    "    s[i] += D[i] * ctl_time_step",
    "if not math.isfinite(total):",
    "    bad[r] = True",
    "    break",
]


def unsupported(spec: ModelSpec, n_memory: int, changing) -> str:
    """Return why ``spec`` gets no kernel, or ``""`` when it can have one."""
    if changing:
        return "TIME STEP, SAVEPER or FINAL TIME change during the run"
    if n_memory:
        return "DELAY N, DELAY FIXED or SAMPLE IF TRUE"
    exprs = [e for el in spec.elements for e in (el.expr, el.init)]
    exprs += [e for s in spec.statefuls for e in (s.input, s.time, s.init)]
    for node in walk(*exprs):
        if isinstance(node, Call) and (node.fn in RANDOM or node.fn in _WHOLE_ARRAY):
            return f"the function {node.fn.upper()}"
    return ""


def _of_time(expr) -> bool:
    """Whether ``expr`` is the same in every run at a step: time, controls and numbers only."""
    return all(
        isinstance(node, Num | Op) or (isinstance(node, Ref) and node.key in _TIME_KEYS)
        for node in walk(expr)
    )


class ScalarCode(ExpressionCode):
    """Python source of an expression over the floats of one run.

    A lookup of time alone (a data series, most of the model's lookups) is
    the same for every run of a kernel call, which shares its tables: it is
    read once a step for the call, into column ``over_time[call]`` of ``TL``.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.over_time: dict = {}

    def code(self, expr, names: dict | None = None) -> str:
        """Return the scalar source of ``expr`` (lookups over the kernel's flat tables)."""
        if isinstance(expr, LookupCall):
            i = self.table_index[expr.table]
            call = f"_interp({self.code(expr.arg)}, px, py, LO[{i}], LO[{i + 1}])"
            if _of_time(expr.arg):
                return f"TL[step, {self.over_time.setdefault(call, len(self.over_time))}]"
            return call
        if isinstance(expr, Op) and expr.op in ("not", "and", "or"):
            args = [self.code(a) for a in expr.args]
            if expr.op == "not":
                return f"({args[0]} == 0)"
            return f"_{expr.op}({args[0]}, {args[1]})"
        if isinstance(expr, Op) and expr.op == "^":
            left, right = (self.code(a) for a in expr.args)
            return f"_power({left}, {right})"
        return super().code(expr, names)

    def _call(self, fn: str, args: list) -> str:
        if fn == "if_then_else":
            return f"({args[1]} if {args[0]} else {args[2]})"
        if fn == "log":
            return f"(math.log({args[0]}) / math.log({args[1]}))"
        if fn == "step":
            return f"({args[0]} * (1.0 if (t + _step_offset) > {args[1]} else 0.0))"
        if fn in ("ramp", "pulse", "pulse_train"):
            return super()._call(fn, args)
        return f"{_SCALAR[_NUMPY_FUNCS[fn]]}({', '.join(args)})"


class KernelWriter:
    """Writes the kernel module of one spec laid out as ``layout``."""

    def __init__(self, spec: ModelSpec, layout: Layout):
        self.spec = spec
        self.layout = layout
        self.elements = {el.key: el for el in spec.elements}
        self.statefuls = {s.key: s for s in spec.statefuls}
        self.python = ScalarCode(spec)
        self.code = self.python.code
        self.local = self.python.local

    def module(self, run_order: list, dyn_keys: list) -> str:
        """Return the source of the kernel's ``run`` function, with its literals."""
        n_states = len(self.layout.state_names)
        inner = self._run_lines(run_order, dyn_keys)
        body = [
            "@numba.njit(SIGNATURE, cache=True, error_model='numpy', nogil=True)",
            "def run(c, states, LX, LY, LO, grid, ctl, span, ptr, entries, weights, keep_where,",
            "        keep_index, acc, bad):",
            '    """Euler over the runs (rows of c); see sim.engine.kernel.accumulate."""',
            "    ctl_initial_time, ctl_final_time, ctl_time_step, ctl_saveper, _step_offset = (",
            "        ctl[0], ctl[1], ctl[2], ctl[3], ctl[4])",
            "    first, stop, add = span[0], span[1], span[2] != 0",
            f"    s = np.empty({n_states})",
            f"    D = np.empty({n_states})",
            f"    dyn = np.empty({max(len(dyn_keys), 1)})",
            "    last = grid.shape[0] - 1",
            "    px, py = LX.ctypes.data, LY.ctypes.data  # see kernel._at",
            *self._over_time_lines(),
            "    for r in range(c.shape[0]):",
            *("        " + line for line in inner),
        ]
        lines = [
            # nothing of the model's path or text beyond its equations: a copy elsewhere, or
            # a model with other constants, shares the compiled kernel
            "# Generated by sim.engine.kernelgen",
            "import math",
            "",
            "import numba",
            "import numpy as np",
            "",
            "from sim.engine.kernel import (",
            "    SIGNATURE, _and, _interp, _maximum, _minimum, _modulo, _or, _power, _pulse,",
            "    _pulse_train, _quantum, _ramp, _xidz, _zidz,",
            ")",
            "",
            *self.python.literal_lines(),
            "",
            "",
            *body,
        ]
        return "\n".join(lines) + "\n"

    def _over_time_lines(self) -> list:
        """Fill ``TL``: each lookup of time alone, once a step for the call (none: no lines)."""
        calls = self.python.over_time
        if not calls:
            return []
        return [
            f"    TL = np.empty((grid.shape[0], {len(calls)}))",
            "    for step in range(first, stop):",
            "        t = grid[step]",
            *(f"        TL[step, {j}] = {call}" for call, j in calls.items()),
        ]

    def _run_lines(self, run_order: list, dyn_keys: list) -> list:
        """Return the body of the loop over runs: load, Euler steps, write the states back."""
        n_states = len(self.layout.state_names)
        inner = [f"{self.local(k)} = c[r, {row}]" for k, row in self.layout.const_row.items()]
        inner += [
            f"for i in range({n_states}):",
            "    s[i] = states[i, r]",
            "total = 0.0  # numpy checks every state at every step: so must this",
            f"for i in range({n_states}):",
            "    total += s[i]",
            "if not math.isfinite(total):",
            "    bad[r] = True",
            "    continue",
            "for step in range(first, stop):",
        ]
        step = ["t = grid[step]"]
        step += [
            f"{self.local(k)} = s[{row}]"
            for k, row in self.layout.state_row.items()
            if k in self.elements
        ]
        for key in run_order:
            step += self._value(key)
        step += self._derivatives()
        # sums add up at every step, so a NaN is looked for at every step, as numpy does
        step += ["if add or ptr[step + 1] > ptr[step]:"]
        step += [f"    dyn[{i}] = {self.local(k)}" for i, k in enumerate(dyn_keys)]
        step += ["    " + line for line in _KEEP]
        step += ["if step == last:", "    break", *_STEP]
        inner += ["    " + line for line in step]
        inner += [f"for i in range({n_states}):", "    states[i, r] = s[i]"]
        return inner

    def _value(self, key: str) -> list:
        name = self.local(key)
        if key in self.elements:
            return [f"{name} = {self.code(self.elements[key].expr)}"]
        st = self.statefuls[key]
        row, n = self.layout.state_row[key], self.layout.orders[key]
        last = row + n - 1
        if st.kind == "smooth":
            return [f"{name} = s[{last}]"]
        if st.kind == "delay":
            return [f"{name} = s[{last}] / {self.code(st.time)}"]
        return [  # trend
            f"{name} = _zidz({self.code(st.input)} - s[{row}], "
            f"{self.code(st.time)} * abs(s[{row}]))"
        ]

    def _derivatives(self) -> list:
        """``D`` of every stock and stage, each as the numpy engine computes its row."""
        lines = []
        for key, row in self.layout.state_row.items():
            if key in self.elements:
                lines.append(f"D[{row}] = {self.code(self.elements[key].expr)}")
                continue
            st, n = self.statefuls[key], self.layout.orders[key]
            lines += [f"_in = {self.code(st.input)}", f"_T = {self.code(st.time)}"]
            if st.kind == "smooth":  # (g - b) * n / T, g the stage before
                for i in range(n):
                    g = "_in" if i == 0 else f"s[{row + i - 1}]"
                    lines.append(f"D[{row + i}] = ({g} - s[{row + i}]) * {n} / _T")
            elif st.kind == "delay":  # (i - o) * n, o = stage / T
                for i in range(n):
                    g = "_in" if i == 0 else f"(s[{row + i - 1}] / _T)"
                    lines.append(f"D[{row + i}] = ({g} - (s[{row + i}] / _T)) * {n}")
            else:
                lines.append(f"D[{row}] = (_in - s[{row}]) / _T")
        return lines


def kernel_source(spec: ModelSpec, layout: Layout, changing, run_order, dyn_keys) -> str:
    """Return the kernel module's source for ``spec``, or ``""`` if it cannot have one."""
    if unsupported(spec, layout.n_memory, changing):
        return ""
    return KernelWriter(spec, layout).module(run_order, dyn_keys)
