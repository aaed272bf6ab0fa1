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

The steps have modules of their own: :mod:`~sim.engine.order` sorts the
equations, :mod:`~sim.engine.layout` assigns the rows of these arrays,
:mod:`~sim.engine.codegen` translates expressions and :mod:`~sim.engine.emit`
writes the functions; this module runs them and builds the
:class:`CompiledModel`.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.engine.blocks import blocks
from sim.engine.emit import SourceWriter
from sim.engine.errors import ModelError
from sim.engine.functions import NAMESPACE
from sim.engine.kernelgen import kernel_source
from sim.engine.layout import (
    DISCRETE,
    Layout,
    control_values,
    initial_references,
    plan_layout,
)
from sim.engine.order import EquationGraph
from sim.engine.spec import NOISE, ModelSpec


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
    # constants that set a DELAY N or SMOOTH N order: fixed at compile time
    fixed_keys: frozenset = frozenset()
    # SAMPLE IF TRUE or DELAY FIXED: states that change once per Euler step
    discrete: bool = False
    # the row of c holding each run's key for the RANDOM functions, if any
    noise_row: int | None = None
    # controls that change during the run, to their index in what evaluate returns
    changing: dict = dataclasses.field(default_factory=dict)
    # the Euler loop as scalar code for numba (sim.engine.kernelgen); "" if it has none
    kernel_source: str = ""

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
    defaults = {el.key: el.expr.value for el in spec.of_kind("constant")}
    controls, changing = control_values(spec, defaults)
    graph = EquationGraph(spec, changing)
    dynamic = graph.dynamic()
    _check_changing(spec, graph, changing)
    # a DELAY N or SMOOTH N order is taken at INITIAL TIME and fixes the state's size
    env = {**defaults, "time": controls["initial_time"], "time_step": controls["time_step"]}
    layout = plan_layout(spec, env, dynamic)
    fixed = frozenset().union(
        *(initial_references(st.order, spec) for st in spec.statefuls if st.order is not None)
    )

    stocks = [el.key for el in spec.of_kind("stock")]
    computed = [el.key for el in spec.of_kind("auxiliary", "flow")] + sorted(changing)
    hidden = list(graph.statefuls)
    init_order = graph.sort(set(computed) | set(hidden) | set(stocks), "init")
    run_nodes = [k for k in computed if k in dynamic] + [k for k in hidden if k in dynamic]
    run_order = graph.sort(set(run_nodes), "run")
    dyn_keys = [k for k in run_order if k in graph.elements]
    needed = graph.needed_for_rates(run_order, stocks)
    # a discrete state writes its next memory every step, needed or not
    discrete = {k for k in hidden if graph.statefuls[k].kind in DISCRETE}
    # so are the controls that change: the time loop reads them every step
    rates_order = [k for k in run_order if k in needed or k in discrete or k in changing]

    elements = {el.key: el for el in spec.elements}

    def run_deps(key):
        return graph.deps(key, "run")

    try:
        source = SourceWriter(spec, layout).module(
            init_order,
            blocks(elements, run_order, run_deps),
            dyn_keys,
            blocks(elements, rates_order, run_deps),
        )
        namespace = dict(NAMESPACE)
        exec(compile(source, f"<brainsim model {spec.path}>", "exec"), namespace)  # noqa: S102
    except (RecursionError, SyntaxError, MemoryError):
        # Python's own limits on nesting, met by a very long chain of operators
        raise ModelError(
            f"{spec.path}: an equation is too long or too deeply nested to compile; "
            "split it into named variables"
        ) from None
    model = CompiledModel(
        spec=spec,
        param_keys=tuple(layout.params),
        defaults=np.array([defaults[k] for k in layout.params], dtype=float),
        n_consts=len(layout.const_row),
        state_names=tuple(layout.state_names),
        n_memory=layout.n_memory,
        controls=dict(controls),
        outputs=_outputs(spec, layout, dyn_keys),
        tables=tuple(
            (np.asarray(lk.xs, dtype=float), np.asarray(lk.ys, dtype=float)) for lk in spec.lookups
        ),
        source=source,
        initialize=namespace["initialize"],
        evaluate=namespace["evaluate"],
        rates=namespace["rates"],
        breakpoints=namespace["breakpoints"],
        fixed_keys=fixed,
        discrete=bool(discrete),
        noise_row=layout.const_row.get(NOISE),
        changing={k: dyn_keys.index(k) for k in sorted(changing)},
        kernel_source=kernel_source(spec, layout, changing, run_order, dyn_keys),
    )
    return _with_initial_controls(model) if changing else model


def _check_changing(spec: ModelSpec, graph: EquationGraph, changing: frozenset) -> None:
    """Refuse a TIME STEP or SAVEPER that depends on the state: all runs share one grid."""
    for key in ("time_step", "saveper"):
        if key not in changing:
            continue
        seen, todo = set(), [key]
        while todo:
            k = todo.pop()
            if k in seen:
                continue
            seen.add(k)
            el = graph.elements.get(k)
            if k in graph.statefuls or (el is not None and el.kind == "stock"):
                raise ModelError(
                    f"{spec.path}: {key.upper().replace('_', ' ')} depends on the model's state "
                    f"('{graph.label(k)}'); it may change with Time and constants only, so that "
                    "every run shares one time grid (FINAL TIME may depend on the state)"
                )
            todo += list(graph.deps(k, "run"))
    if changing and any(st.kind in DISCRETE for st in spec.statefuls) and "time_step" in changing:
        raise ModelError(
            f"{spec.path}: DELAY FIXED and SAMPLE IF TRUE need a TIME STEP that does not change"
        )


def _with_initial_controls(model: CompiledModel) -> CompiledModel:
    """Fill in the changing controls' values at INITIAL TIME, from one run at the defaults."""
    c = np.zeros((model.n_consts, 1))  # the defaults; a RANDOM key of 0
    c[: len(model.defaults), 0] = model.defaults
    ctl = model.controls
    # as simulate.controls_tuple gives Euler: STEP switches half a step early
    start = tuple(np.float64(ctl[k]) for k in ("initial_time", "final_time", "time_step"))
    ctl_tuple = (*start, np.float64(ctl["saveper"]), np.float64(ctl["time_step"] / 2))
    s, m = np.empty((model.n_states, 1)), np.empty((model.n_memory, 1))
    D, M = np.empty_like(s), np.empty_like(m)
    with np.errstate(all="ignore"):
        model.initialize(c, model.tables, ctl_tuple, s, m)
        dyn = model.evaluate(ctl_tuple[0], s, m, c, model.tables, ctl_tuple, D, M, True)
    values = dict(ctl)
    for key, i in model.changing.items():
        values[key] = float(np.ravel(dyn[i])[0])
    if not values["time_step"] > 0 or not values["saveper"] > 0:
        raise ModelError(f"{model.spec.path}: TIME STEP and SAVEPER must be positive")
    return dataclasses.replace(model, controls=values)


def _outputs(spec: ModelSpec, layout: Layout, dyn_keys: list) -> tuple:
    """Say where each reported variable is found; see ``CompiledModel.outputs``."""
    dyn_index = {k: i for i, k in enumerate(dyn_keys)}
    outputs = []
    for el in spec.elements:
        if el.kind in ("lookup", "control") or el.hidden:
            continue
        if el.kind == "stock":
            outputs.append((el.key, "state", layout.state_row[el.key]))
        elif el.key in dyn_index:
            outputs.append((el.key, "dyn", dyn_index[el.key]))
        else:
            outputs.append((el.key, "c", layout.const_row[el.key]))
    return tuple(outputs)
