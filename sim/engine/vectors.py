"""Vensim's functions of whole arrays: VECTOR ..., INVERT MATRIX, ALLOCATE BY PRIORITY.

A subscripted equation is expanded into one scalar equation per element
(:mod:`sim.engine.subscripts`); a function of a whole array becomes, in
each, a call that receives every element of the array and the position of
the element being computed. The numerical work, over arrays shaped
``(elements, runs)``, is in :mod:`sim.engine.functions`, with PySD's
semantics: VECTOR SORT ORDER gives 0-based positions, VECTOR RANK 1-based
ranks, VECTOR REORDER takes 0-based positions.
"""

import dataclasses
import itertools

from sim.engine.spec import Call, Num, Ref

# name -> (arguments, how many of the first are arrays over their last range)
VECTOR_FUNCTIONS = {
    "vector_sort_order": (2, 1),
    "vector_rank": (2, 1),
    "vector_reorder": (2, 2),
    "vector_select": (5, 2),
    "invert_matrix": (2, 1),
    "allocate_by_priority": (5, 2),
    "allocate_available": (3, 1),
}


def expand_vector_call(ex, node: Call):
    """Return the scalar call that computes this copy's element of ``node``.

    ``ex`` is the :class:`~sim.engine.subscripts.Expander` of the copy.
    """
    if node.fn == "vector_select":
        return _select(ex, node)
    if node.fn == "invert_matrix":
        return _invert(ex, node)
    if node.fn == "allocate_available":
        return _available(ex, node)
    arrays, rest = (
        node.args[: VECTOR_FUNCTIONS[node.fn][1]],
        node.args[VECTOR_FUNCTIONS[node.fn][1] :],
    )
    columns, position = [], None
    for arg in arrays:
        elems, at = _along_last(ex, node, arg)
        columns.append(elems)
        position = at if position is None else position
    if len({len(c) for c in columns}) != 1:
        ex.fail(f"calls {_spelling(node)} with arrays of different lengths")
    n = Num(float(len(columns[0])))
    scalars = tuple(ex.expr(a) for a in rest)
    if node.fn == "allocate_by_priority":
        scalars = (scalars[1], scalars[2])  # width, supply (size is the array's length)
    flat = tuple(e for col in columns for e in col)
    return Call(node.fn, (_site(ex, node), Num(float(position)), n, *scalars, *flat))


def _site(ex, node: Call) -> Num:
    """Return the call's number, which every element's copy of it shares (with the result)."""
    return Num(float(ex.sites.setdefault(id(node), len(ex.sites) + 1)))


def _along_last(ex, node: Call, arg):
    """Return every element of ``arg`` along its last range, and this copy's position in it."""
    if not (isinstance(arg, Ref) and arg.subs):
        ex.fail(f"calls {_spelling(node)} of something that is not a subscripted variable")
    last = arg.subs[-1].rstrip("!")
    if last not in ex.ranges.elements:
        ex.fail(f"calls {_spelling(node)} of '{arg.key}[...]' whose last subscript is not a range")
    mine = ex.element(last)
    elems = ex.ranges.elements[last]
    if mine not in elems:
        ex.fail(f"calls {_spelling(node)} for an element outside '{ex.ranges.label(last)}'")
    out = []
    for elem in elems:
        inner = _bound(ex, {last: elem, arg.subs[-1]: elem})
        out.append(inner.expr(Ref(arg.key, arg.subs)))
    return out, elems.index(mine)


def _select(ex, node: Call):
    """VECTOR SELECT(selection[r!], values[r!], missing, action, error): over the banged ranges."""
    sel, values, *rest = node.args
    banged = sorted({s for s in (*_subs(sel), *_subs(values)) if s.endswith("!")})
    if not banged:
        ex.fail("calls VECTOR SELECT without a 'range!' subscript to select over")
    sels, vals = [], []
    for combo in itertools.product(*(ex.ranges.elements[b[:-1]] for b in banged)):
        inner = _bound(ex, dict(zip(banged, combo, strict=True)))
        sels.append(inner.expr(sel))
        vals.append(inner.expr(values))
    missing, action, error = (ex.expr(a) for a in rest)
    if action not in tuple(Num(float(k)) for k in range(11)) or error not in tuple(
        Num(float(k)) for k in range(4)
    ):
        ex.fail(
            "calls VECTOR SELECT with a numerical action that is not a number from 0 to 10 "
            "or an error action that is not one from 0 to 3; give them as numbers"
        )
    return Call("vector_select", (missing, action, error, Num(float(len(sels))), *sels, *vals))


def _invert(ex, node: Call):
    """INVERT MATRIX(a[r, c], size): this copy's cell of the inverse of the square matrix."""
    arg = node.args[0]
    if not (isinstance(arg, Ref) and len(arg.subs) >= 2):
        ex.fail("calls INVERT MATRIX of something that is not a two-dimensional variable")
    rows_sub, cols_sub = arg.subs[-2], arg.subs[-1]
    rows, cols = ex.ranges.elements.get(rows_sub), ex.ranges.elements.get(cols_sub)
    if rows is None or cols is None or len(rows) != len(cols):
        ex.fail("calls INVERT MATRIX of a matrix that is not square over two ranges")
    i, j = rows.index(ex.element(rows_sub)), cols.index(ex.element(cols_sub))
    cells = [
        _bound(ex, {rows_sub: r, cols_sub: c}).expr(Ref(arg.key, arg.subs))
        for r in rows
        for c in cols
    ]
    at = Num(float(i * len(rows) + j))
    return Call("invert_matrix", (_site(ex, node), at, Num(float(len(rows))), *cells))


def _available(ex, node: Call):
    """ALLOCATE AVAILABLE(request[t], profile[t, p], avail): each target's request and profile."""
    request, profile, avail = node.args
    requests, position = _along_last(ex, node, request)
    if not (isinstance(profile, Ref) and len(profile.subs) >= 2):
        ex.fail("calls ALLOCATE AVAILABLE with a priority profile that is not two-dimensional")
    target, kinds = request.subs[-1], profile.subs[-1]
    if len(ex.ranges.elements.get(kinds, ())) != 4:
        ex.fail(
            "calls ALLOCATE AVAILABLE with a profile whose last range does not have four "
            "elements (type, priority, width, extra)"
        )
    cells = []
    for elem in ex.ranges.elements[target.rstrip("!")]:
        for kind in ex.ranges.elements[kinds]:
            inner = _bound(ex, {target: elem, target.rstrip("!"): elem, kinds: kind})
            cells.append(inner.expr(Ref(profile.key, profile.subs)))
    n = Num(float(len(requests)))
    at = Num(float(position))
    return Call(node.fn, (_site(ex, node), at, n, ex.expr(avail), *requests, *cells))


def _bound(ex, extra: dict):
    return dataclasses.replace(ex, binding={**ex.binding, **extra})


def _subs(node) -> tuple:
    return node.subs if isinstance(node, Ref) else ()


def _spelling(node: Call) -> str:
    return node.fn.replace("_", " ").upper()
