"""Order a model's equations by what each one needs.

Finds which values change during a run, sorts the equations of a phase
(``init`` at INITIAL TIME, ``run`` at every step) topologically, naming the
variables of any algebraic loop, and finds which run-time values the
derivatives need.
"""

import graphlib

from sim.engine.errors import ModelError
from sim.engine.spec import CONTROL_KEYS, ModelSpec, references


def sort_by_position(graph: dict, position: dict) -> list:
    """Return the nodes of ``graph`` (node to what it needs) each after what it needs.

    Nodes ready together come in the order of ``position``, so that the
    generated source is stable. Raises ``graphlib.CycleError`` on a cycle.
    """
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    order = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    return order


class EquationGraph:
    """The dependencies between a spec's variables and hidden states."""

    def __init__(self, spec: ModelSpec, controls: frozenset = frozenset()):
        self.spec = spec
        # the control variables that change during the run: computed like auxiliaries
        self.controls = controls
        self.elements = {el.key: el for el in spec.elements}
        self.statefuls = {s.key: s for s in spec.statefuls}

    def label(self, key: str) -> str:
        """Return how messages name ``key``."""
        if key in self.elements:
            return self.elements[key].name
        if key in self.statefuls:
            st = self.statefuls[key]
            return f"{st.function} in '{st.owner}'"
        return key

    def deps(self, key: str, phase: str) -> set:
        """Return the keys that ``key`` needs, in the ``init`` or ``run`` phase."""
        if key in self.statefuls:
            st = self.statefuls[key]
            if phase == "init" or st.kind == "initial":
                parts = [st.init, st.time, st.order]
                if st.kind in ("trend", "sample"):
                    parts.append(st.input)
            else:  # the output of a stage block during the run
                parts = {
                    "delay": [st.time],
                    "trend": [st.input, st.time],
                    "sample": [st.input, st.time],
                }.get(st.kind, [])
        else:
            el = self.elements[key]
            # a stock's or an ACTIVE INITIAL's initial value at INITIAL TIME
            initial = phase == "init" and el.init is not None
            parts = [el.init] if initial else [el.expr]
            if el.kind == "stock" and phase == "run":
                parts = []
        found = set()
        for part in parts:
            if part is not None:
                found |= references(part)
        return {k for k in found if k != "time" and (k not in CONTROL_KEYS or k in self.controls)}

    def dynamic(self) -> set:
        """Return the keys whose values change during a run.

        These are the stocks and stage blocks (not INITIAL), and every
        auxiliary or flow that depends on them or on time.
        """
        computed = [el.key for el in self.spec.of_kind("auxiliary", "flow")]
        computed += sorted(self.controls)
        dynamic = {el.key for el in self.spec.of_kind("stock")} | set(self.controls)
        dynamic |= {k for k, st in self.statefuls.items() if st.kind != "initial"}
        # ACTIVE INITIAL: one value at INITIAL TIME, another during the run
        dynamic |= {el.key for el in self.spec.of_kind("auxiliary", "flow") if el.init is not None}
        changed = True
        while changed:
            changed = False
            for key in computed:
                if key in dynamic:
                    continue
                refs = references(self.elements[key].expr)
                refs = {k for k in refs if k not in CONTROL_KEYS or k in self.controls}
                if "time" in refs or refs & dynamic:
                    dynamic.add(key)
                    changed = True
        return dynamic

    def sort(self, nodes: set, phase: str) -> list:
        """Return ``nodes`` in an order that computes each after what it needs.

        Raises
        ------
        ModelError
            The nodes hold an algebraic loop; the message names its variables.
        """
        graph = {k: self.deps(k, phase) & nodes for k in nodes}
        # sort ties by file position so that the generated source is stable
        position = {el.key: i for i, el in enumerate(self.spec.elements)}
        position |= {k: len(position) + i for i, k in enumerate(self.statefuls)}
        try:
            return sort_by_position(graph, position)
        except graphlib.CycleError as err:
            cycle = " -> ".join(self.label(k) for k in reversed(err.args[1]))
            raise ModelError(
                f"{self.spec.path}: algebraic loop {cycle}; "
                "break it with a stock, a SMOOTH or a DELAY"
            ) from None

    def needed_for_rates(self, run_order: list, stocks: list) -> set:
        """Return the keys of ``run_order`` that the derivatives depend on."""
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
                if st.kind in ("trend", "sample"):
                    todo |= references(st.input)
        return need
