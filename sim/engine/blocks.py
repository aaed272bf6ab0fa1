"""Array equations computed as one numpy block a step.

:mod:`sim.engine.subscripts` expands a subscripted variable into one scalar
element per array element, so a model by ten origins computes each of its
equations ten times, one numpy call each. Where the elements of a variable
share one equation up to their subscripts, they are computed together: the
elements they read from other arrays are stacked ``(elements, runs)`` (or
read as one slice of the states or constants), the equation runs once, and
each element is a row of the result. A run's numbers do not change: every
element gets the same operations on the same values, in the same order.

An array whose elements differ in form (element-by-element definitions of
different shapes, different lookup tables), that reads its own elements, or
that calls a function over whole arrays or a random draw, stays scalar.
"""

import graphlib
from dataclasses import dataclass

from sim.engine.codegen import PER_ELEMENT
from sim.engine.order import sort_by_position
from sim.engine.spec import RANDOM, Call, LookupCall, Num, Op, Ref

# functions that read whole arrays, not one element: their calls stay scalar
WHOLE_ARRAY = PER_ELEMENT | {"vector_select"}


@dataclass(frozen=True)
class Block:
    """The elements of one array computed together.

    ``template`` is the shared equation with each subscripted reference
    replaced by ``Ref("_slot<j>")``; ``slots[j]`` are the keys that reference
    stands for, one per element, in the order of ``keys``.
    """

    base: str
    keys: tuple
    template: object
    slots: tuple


def template_of(exprs: list) -> tuple | None:
    """Return ``(template, slots)`` shared by ``exprs``, or ``None`` if they differ in form."""
    slots: dict = {}

    def walk(nodes):
        first = nodes[0]
        if any(type(n) is not type(first) for n in nodes):
            return None
        if isinstance(first, Num):
            return first if all(n.value == first.value for n in nodes) else None
        if isinstance(first, Ref):
            keys = tuple(n.key for n in nodes)
            if len(set(keys)) == 1:
                return Ref(first.key)
            return Ref(f"_slot{slots.setdefault(keys, len(slots))}")
        if isinstance(first, LookupCall):
            if any(n.table != first.table for n in nodes):
                return None
            arg = walk([n.arg for n in nodes])
            return None if arg is None else LookupCall(first.table, arg)
        if isinstance(first, Op | Call):
            head = first.op if isinstance(first, Op) else first.fn
            same = all(
                (n.op if isinstance(n, Op) else n.fn) == head and len(n.args) == len(first.args)
                for n in nodes
            )
            if not same or head in RANDOM or head in WHOLE_ARRAY:
                return None
            args = [walk([n.args[i] for n in nodes]) for i in range(len(first.args))]
            if any(a is None for a in args):
                return None
            return Op(head, tuple(args)) if isinstance(first, Op) else Call(head, tuple(args))
        return None

    template = walk(list(exprs))
    if template is None or not slots:  # no slot: the elements are one value, kept scalar
        return None
    return template, tuple(sorted(slots, key=slots.__getitem__))


def blocks(elements: dict, order: list, deps) -> list:
    """Return ``order`` with the arrays that can be computed at once as :class:`Block` items.

    Parameters
    ----------
    elements
        Key to :class:`~sim.engine.spec.Element` of the spec.
    order
        Keys in an order that computes each after what it needs.
    deps
        ``deps(key)``: the keys ``key`` needs in this phase.
    """
    by_base: dict = {}
    for key in order:
        el = elements.get(key)
        if el is not None and el.base and el.kind in ("auxiliary", "flow") and el.init is None:
            by_base.setdefault(el.base, []).append(key)
    found = []
    for base, keys in by_base.items():
        if len(keys) < 2 or any(deps(k) & set(keys) for k in keys):
            continue
        shared = template_of([elements[k].expr for k in keys])
        if shared is not None:
            found.append(Block(base, tuple(keys), *shared))
    return _ordered(order, deps, found) if found else list(order)


def _ordered(order: list, deps, found: list) -> list:
    """Order keys and blocks so that each comes after what it needs; ``order`` on a cycle."""
    item_of = {k: b for b in found for k in b.keys}
    position: dict = {}
    for i, key in enumerate(order):
        position.setdefault(item_of.get(key, key), i)
    members = set(order)
    graph = {}
    for item in position:
        keys = item.keys if isinstance(item, Block) else (item,)
        needs = {item_of.get(d, d) for k in keys for d in deps(k) if d in members}
        graph[item] = needs - {item}
    try:
        return sort_by_position(graph, position)
    except graphlib.CycleError:  # two arrays read each other's elements: keep them scalar
        return list(order)


def stacked(keys: tuple, names: dict, state_row: dict, const_row: dict, local) -> str:
    """Return the source of the ``(elements, runs)`` values of ``keys``.

    A block computed earlier is its own name; contiguous states or constants
    are a slice of ``s`` or ``c``; anything else is stacked from its locals.
    """
    if keys in names:
        return names[keys]
    for rows, array in ((state_row, "s"), (const_row, "c")):
        if all(k in rows for k in keys):
            first = rows[keys[0]]
            if [rows[k] for k in keys] == list(range(first, first + len(keys))):
                return f"{array}[{first}:{first + len(keys)}]"
    return f"_stack(({', '.join(local(k) for k in keys)},), s)"
