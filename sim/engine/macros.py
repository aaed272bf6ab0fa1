"""Vensim macros: ``:MACRO: NAME(a, b) ... :END OF MACRO:``, expanded at each call.

Each call of a macro makes a copy of its equations, named
``NAME#k.variable`` (``k`` counts the calls in file order), in which the
macro's parameters are the call's argument expressions and the variable
named like the macro is the value of the call. The copies are hidden
elements of the model: they are computed and checked like any other, but
are not outputs (as in PySD, whose results hold only the model's own
variables). A macro may call another macro, not itself.
"""

import dataclasses
import re

from sim.engine.errors import ModelError
from sim.engine.names import python_name, vensim_key
from sim.engine.spec import Call, LookupCall, Op, Ref

_BLOCK = re.compile(
    r":MACRO:\s*(?P<name>[^(]+?)\s*\((?P<params>[^)]*)\)(?P<body>.*?):END OF MACRO:",
    re.IGNORECASE | re.DOTALL,
)
MAX_DEPTH = 20


@dataclasses.dataclass(frozen=True)
class Macro:
    """One macro definition: its name, parameter keys and the text of its equations."""

    name: str
    key: str
    params: tuple
    body: str  # the equations, at their offsets in the file (the rest blanked)


def cut_macros(path: str, text: str) -> tuple:
    """Return the file's text with its macro blocks blanked, and the macros by key.

    Blanking keeps every other equation at its line, for messages.

    Raises
    ------
    ModelError
        A macro with more outputs than its own name (``:`` in its parameters),
        or an unclosed block.
    """
    macros = {}
    out = text
    for found in _BLOCK.finditer(text):
        name = found.group("name").strip()
        params = found.group("params")
        if ":" in params:
            raise ModelError(
                f"{path}: macro '{name}' has extra outputs (after ':'); brainsim supports a "
                "macro's own output only, give each output a macro of its own"
            )
        keys = tuple(vensim_key(p) for p in params.split(",") if p.strip())
        start, end = found.span("body")
        body = _blank(text[:start]) + text[start:end] + _blank(text[end:])
        macros[vensim_key(name)] = Macro(name, vensim_key(name), keys, body)
        out = out[: found.start()] + _blank(found.group()) + out[found.end() :]
    if re.search(r":MACRO:", out, re.IGNORECASE):
        raise ModelError(f"{path}: a :MACRO: block is not closed by :END OF MACRO:; close it")
    return out, macros


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


@dataclasses.dataclass
class Instances:
    """The copies made so far of each macro, and the hidden elements they add."""

    macros: dict
    counts: dict = dataclasses.field(default_factory=dict)
    elements: list = dataclasses.field(default_factory=list)
    depth: int = 0


def instantiate(path, instances: Instances, macro: Macro, args: list, parse, made) -> Ref:
    """Add a copy of ``macro`` for one call with ``args``; return the reference to its value.

    ``parse(body)`` parses the macro's equations into elements; the hidden
    states and lookup tables it adds to the lists ``made`` (statefuls,
    lookups) from their current ends on are this copy's.
    """
    if len(args) != len(macro.params):
        raise ModelError(
            f"{path}: macro '{macro.name}' takes {len(macro.params)} arguments, "
            f"and is called with {len(args)}"
        )
    if instances.depth >= MAX_DEPTH:
        raise ModelError(f"{path}: macro '{macro.name}' calls itself; a macro may not recurse")
    k = instances.counts[macro.key] = instances.counts.get(macro.key, 0) + 1
    statefuls, lookups = made
    first_state, first_table = len(statefuls), len(lookups)
    first_copy = len(instances.elements)  # copies of macros this one calls
    instances.depth += 1
    try:
        elements = parse(macro.body)
    finally:
        instances.depth -= 1
    local = {el.key: f"{macro.key}#{k}.{el.key}" for el in elements}
    if macro.key not in local:
        raise ModelError(
            f"{path}: macro '{macro.name}' does not define a variable named '{macro.name}' "
            "(its value); add that equation to the macro"
        )
    swap = _Swap(dict(zip(macro.params, args, strict=True)), local)
    for i in range(first_copy, len(instances.elements)):
        inner = instances.elements[i]
        instances.elements[i] = dataclasses.replace(
            inner, expr=swap(inner.expr), init=swap(inner.init)
        )
    for el in elements:
        instances.elements.append(
            dataclasses.replace(
                el,
                key=local[el.key],
                name=f"{macro.name}#{k}.{el.name}",
                py_name=python_name(f"{macro.key}_{k}_{el.key}"),
                expr=swap(el.expr),
                init=swap(el.init),
                hidden=True,
            )
        )
    for i in range(first_state, len(statefuls)):
        st = statefuls[i]
        statefuls[i] = dataclasses.replace(
            st,
            owner=f"{macro.name}#{k}.{st.owner}",
            input=swap(st.input),
            time=swap(st.time),
            init=swap(st.init),
            order=swap(st.order),
        )
    for i in range(first_table, len(lookups)):
        lookups[i] = dataclasses.replace(lookups[i], key=local.get(lookups[i].key, lookups[i].key))
    return Ref(local[macro.key])


@dataclasses.dataclass(frozen=True)
class _Swap:
    """Replaces a macro's parameters by the call's arguments and its names by the copy's."""

    values: dict
    local: dict

    def __call__(self, node):
        if isinstance(node, Ref):
            if node.key in self.values:
                return self.values[node.key]
            return Ref(self.local.get(node.key, node.key), node.subs)
        if isinstance(node, Op | Call):
            return dataclasses.replace(node, args=tuple(self(a) for a in node.args))
        if isinstance(node, LookupCall):
            table = self.local.get(node.table, node.table)
            return dataclasses.replace(node, table=table, arg=self(node.arg))
        return node
