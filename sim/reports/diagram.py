"""Draw a model's stock-and-flow diagram from its spec.

The structure comes from the stocks' rate expressions alone: a term added to
stock B's rate and subtracted from stock A's is a flow from A to B; a term
that only fills comes from a cloud (a source outside the model) and one that
only drains goes to a cloud (a sink). Stocks that flows connect form a
group, laid out left to right in the direction of its flows; the groups are
packed in file order into bands across a page of roughly landscape shape.

The geometry is computed first, as plain data in inches, and drawn second,
so that the same layout serves a figure of its own (one data unit = one
inch, so text sizes in points are known in data units) or an ``Axes`` the
caller supplies (fonts and lines are scaled to fit).
"""

import dataclasses
import itertools
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon

from sim.engine.files import atomic_path
from sim.engine.spec import Call, LookupCall, ModelSpec, Num, Op, Ref, references

# --- geometry, in inches ----------------------------------------------------

BOX_W, BOX_H = 1.8, 0.9  # a stock's box
CELL_W, CELL_H = 3.4, 3.6  # grid spacing of stocks within a group
GROUP_GAP = 0.6  # between the drawings of groups of connected stocks
CLOUD_SIDE = 1.95  # a cloud beside a stock, from the stock's centre
CLOUD_VERTICAL = 1.4  # a cloud above or below a stock, from its centre
CLOUD_SPREAD = 1.05  # between clouds on the same side of a stock
CLOUD_RX, CLOUD_RY = 0.3, 0.2
TARGET_ASPECT = 1.45  # width / height the packing aims at

STOCK_FONT = 9.0  # [pt] at most; long names get smaller
FLOW_FONT = 7.5  # [pt]
STOCK_WRAP = 18  # characters per line of a stock's name
FLOW_WRAP = 20  # characters per line of a flow's label
LABEL_CHARS = 60  # an unnamed rate term is labelled with at most this much text

# Average advance of a DejaVu Sans character and line height, in ems: used to
# estimate text extents before anything is drawn.
CHAR_EM, LINE_EM = 0.58, 1.25

STOCK_FILL, STOCK_EDGE = "#eaf1fb", "#1f4e79"
PIPE_COLOR = "#1f4e79"
LINK_COLOR = "#8c8c8c"
CLOUD_EDGE = "#7f7f7f"


# --- structure --------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """A flow in the diagram: a term of one or more stocks' rates.

    ``key`` is the element's key for a named flow, or ``<stock key>#<n>`` for
    an unnamed term of a stock's rate (such as ``k * Stock``). ``drains``
    and ``fills`` are the keys of the stocks that subtract and add it; an
    empty side is a cloud.
    """

    key: str
    label: str
    drains: tuple
    fills: tuple
    term: object


def one_per_array(spec: ModelSpec) -> ModelSpec:
    """Return ``spec`` with each subscripted variable drawn once, as ``stock[region]``.

    The first element of each array stands for all of them; references to
    any element point to it, so a flow between two arrays is drawn once.
    """
    if spec.ranges is None:
        return spec
    first: dict = {}
    rename: dict = {}
    for el in spec.elements:
        if el.coords:
            rename[el.key] = first.setdefault(el.base, el).key
    kept = []
    for el in spec.elements:
        if el.coords and first[el.base] is not el:
            continue
        changes: dict = {"expr": _renamed(el.expr, rename), "init": _renamed(el.init, rename)}
        if el.coords:
            ranges = ",".join(spec.ranges.label(r) for r, _ in el.coords)
            changes["name"] = f"{el.name.partition('[')[0]}[{ranges}]"
        kept.append(dataclasses.replace(el, **changes))
    return dataclasses.replace(spec, elements=tuple(kept))


def _renamed(expr, rename: dict):
    if isinstance(expr, Ref):
        return Ref(rename.get(expr.key, expr.key))
    if isinstance(expr, Op | Call):
        return dataclasses.replace(expr, args=tuple(_renamed(a, rename) for a in expr.args))
    if isinstance(expr, LookupCall):
        return dataclasses.replace(expr, arg=_renamed(expr.arg, rename))
    return expr


def stock_flows(spec: ModelSpec) -> tuple:
    """Return the flows of ``spec``, read from its stocks' rate expressions.

    Each stock's rate is split into the terms of its top-level sum (walking
    ``+``, ``-`` and unary minus). A term that references one variable is
    the flow of that name, and a variable added to one stock and subtracted
    from another connects them; any other term is an unnamed flow of that
    stock alone.

    Parameters
    ----------
    spec
        The model, from :func:`sim.read_mdl`.

    Returns
    -------
    tuple of Flow
        In the order the flows are first met, stocks in file order.
    """
    names = {el.key: el.name for el in spec.elements}
    hidden = {s.key: s for s in spec.statefuls}
    order: list = []
    found: dict = {}
    for stock in spec.of_kind("stock"):
        net: dict = {}
        terms: dict = {}
        for n, (sign, term) in enumerate(_signed_terms(stock.expr, 1)):
            if isinstance(term, Num) and term.value == 0:
                continue
            if isinstance(term, Num) and term.value < 0:
                sign, term = -sign, Num(-term.value)
            key = term.key if isinstance(term, Ref) else f"{stock.key}#{n}"
            net[key] = net.get(key, 0) + sign
            terms[key] = term
        for key, sign in net.items():
            if sign == 0:  # added and subtracted: no net effect on this stock
                continue
            if key not in found:
                order.append(key)
                found[key] = (terms[key], [], [])
            found[key][1 if sign < 0 else 2].append(stock.key)
    return tuple(
        Flow(
            key=key,
            label=_expr_text(found[key][0], names, hidden),
            drains=tuple(found[key][1]),
            fills=tuple(found[key][2]),
            term=found[key][0],
        )
        for key in order
    )


def _signed_terms(expr, sign: int) -> list:
    """Split a sum into ``(sign, term)`` pairs, through ``+``, ``-`` and ``neg``."""
    if isinstance(expr, Op) and expr.op in ("+", "-") and len(expr.args) == 2:
        left, right = expr.args
        flip = -1 if expr.op == "-" else 1
        return _signed_terms(left, sign) + _signed_terms(right, sign * flip)
    if isinstance(expr, Op) and expr.op in ("neg", "-") and len(expr.args) == 1:
        return _signed_terms(expr.args[0], -sign)
    return [(sign, expr)]


_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "=": 4, "<>": 4, "<": 4, "<=": 4, ">": 4, ">=": 4}
_PRECEDENCE |= {"+": 5, "-": 5, "*": 6, "/": 6, "neg": 7, "^": 8}


def _expr_text(expr, names: dict, hidden: dict) -> str:
    """Write an expression briefly in Vensim's notation, for a flow's label."""

    def text(node, outer: int) -> str:
        if isinstance(node, Num):
            return f"{node.value:g}"
        if isinstance(node, Ref):
            if node.key in hidden:
                state = hidden[node.key]
                return f"{state.function}({text(state.input, 0)})"
            return names.get(node.key, node.key.replace("_", " "))
        if isinstance(node, LookupCall):
            table = names.get(node.table, "lookup")
            return f"{table}({text(node.arg, 0)})"
        if isinstance(node, Call):
            args = ", ".join(text(a, 0) for a in node.args)
            return f"{node.fn.replace('_', ' ').upper()}({args})"
        own = _PRECEDENCE.get(node.op, 9)
        if len(node.args) == 1:
            prefix = "-" if node.op == "neg" else f"{node.op.upper()} "
            body = prefix + text(node.args[0], own)
        else:
            body = f" {node.op.upper() if node.op.isalpha() else node.op} ".join(
                text(a, own + (i > 0)) for i, a in enumerate(node.args)
            )
        return f"({body})" if own < outer else body

    label = text(expr, 0)
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _named_stocks(spec: ModelSpec, flow: Flow) -> set:
    """Return the stocks named in a flow's own equation.

    Stocks reached only through auxiliaries are left out: in a model of
    any size nearly every flow depends on nearly every stock that way, and
    the diagram would be a web of links.
    """
    elements = {el.key: el for el in spec.elements}
    hidden = {s.key: s for s in spec.statefuls}
    own = elements.get(flow.key)
    named = own is not None and own.kind != "stock" and own.expr is not None
    stack = [own.expr if named else flow.term]
    found: set = set()
    seen: set = set()
    while stack:
        for key in references(stack.pop()) - seen:
            seen.add(key)
            if key in elements and elements[key].kind == "stock":
                found.add(key)
            elif key in hidden:
                # A SMOOTH or DELAY written in the equation is part of it.
                stack.extend(e for e in (hidden[key].input, hidden[key].time) if e is not None)
    return found


# --- layout -----------------------------------------------------------------


@dataclass(frozen=True)
class _Pipe:
    """One arrow of a flow: from a stock or cloud to a stock or cloud."""

    flow: Flow
    source: str | None
    target: str | None
    start: tuple
    end: tuple
    rad: float
    cloud: tuple | None  # the cloud's centre, when one end is a cloud
    points: np.ndarray  # samples of the visible part of the arrow
    valve: tuple
    angle: float  # direction of the arrow at the valve [rad]


@dataclass(frozen=True)
class _Label:
    text: str
    x: float
    y: float
    size: float
    gid: str


@dataclass(frozen=True)
class _Link:
    stock: str
    flow: str
    valve: tuple
    rad: float


@dataclass(frozen=True)
class _Scene:
    stocks: dict  # stock key -> (x, y) centre
    stock_labels: dict  # stock key -> (wrapped name, font size)
    pipes: tuple
    labels: tuple
    links: tuple
    bounds: tuple  # (x0, y0, x1, y1)


@dataclass(frozen=True)
class _Group:
    """A group of connected stocks: their (column, row) cells and its size in cells."""

    cells: dict
    width: int
    height: int


def _stock_groups(keys: list, edges: list) -> list:
    """Split stocks into groups connected by flows, in file order."""
    parent = {k: k for k in keys}

    def root(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a, b in edges:
        parent[root(a)] = root(b)
    groups: dict = {}
    for k in keys:
        groups.setdefault(root(k), []).append(k)
    return sorted(groups.values(), key=lambda g: keys.index(g[0]))


def _place_group(group: list, edges: list) -> _Group:
    """Lay out one group: columns by the longest chain of flows leading to each stock.

    Rows may fall half-way between integers, so that short columns centre.
    """
    members = set(group)
    succ = {k: [] for k in group}
    for a, b in edges:
        if a in members and b != a and b not in succ[a]:
            succ[a].append(b)
    # Flows that close a loop (found by depth-first search in file order)
    # point backwards; the rest order the stocks.
    state: dict = {}
    back: set = set()

    def visit(u):
        state[u] = 1
        for v in succ[u]:
            if state.get(v) == 1:
                back.add((u, v))
            elif v not in state:
                visit(v)
        state[u] = 2

    for k in group:
        if k not in state:
            visit(k)
    forward = [(a, b) for a in group for b in succ[a] if (a, b) not in back]
    rank = dict.fromkeys(group, 0)
    for _ in group:  # longest path: at most len(group) relaxations
        for a, b in forward:
            rank[b] = max(rank[b], rank[a] + 1)
    columns: dict = {}
    for k in group:
        columns.setdefault(rank[k], []).append(k)
    height = max(len(c) for c in columns.values())
    rows: dict = {}
    for col in sorted(columns):
        stocks = columns[col]

        def barycentre(k, stocks=stocks):
            preds = [rows[a] for a, b in forward if b == k and a in rows]
            return (sum(preds) / len(preds) if preds else math.inf, stocks.index(k))

        stocks = sorted(stocks, key=barycentre)
        offset = (height - len(stocks)) / 2
        for i, k in enumerate(stocks):
            rows[k] = i + offset
    positions = {k: (rank[k], rows[k]) for k in group}
    return _Group(positions, len(columns), height)


def _shelves(groups: list, extents: dict) -> list:
    """Arrange groups into bands of slots; a slot stacks groups under each other.

    Groups go in file order, left to right, a new band when a band is full;
    a group that fits under the groups of an earlier slot of the band goes
    there instead, so that one tall group does not leave a band half empty.
    Of the band widths that could be chosen, the one whose page is nearest
    ``TARGET_ASPECT`` wins. ``extents`` is as in :func:`_place`.
    """
    size = {
        id(g): (e[0] + e[1] + GROUP_GAP, e[2] + e[3] + GROUP_GAP)
        for g, e in ((g, extents[id(g)]) for g in groups)
    }
    widths = [size[id(g)][0] for g in groups]
    candidates = {
        sum(widths[i:j]) for i in range(len(widths)) for j in range(i + 1, len(widths) + 1)
    }
    best = None
    for limit in sorted(w for w in candidates if w >= max(widths)):
        bands = _fill_bands(groups, size, limit)
        width = max(sum(max(size[id(g)][0] for g in slot) for slot in band) for band in bands)
        height = sum(_band_height(band, size) for band in bands)
        score = abs(math.log(width / height / TARGET_ASPECT))
        if best is None or score < best[0] - 1e-9:
            best = (score, bands)
    return best[1]


def _band_height(band: list, size: dict) -> float:
    return max(sum(size[id(g)][1] for g in slot) for slot in band)


def _fill_bands(groups: list, size: dict, limit: float) -> list:
    """Fill bands at most ``limit`` inches wide: a band is a list of slots of groups."""
    bands: list = []
    for group in groups:
        width, height = size[id(group)]
        band = bands[-1] if bands else None
        if band is not None:
            room = max(_band_height(band, size), height)
            slot = next(
                (
                    s
                    for s in band
                    if max(size[id(g)][0] for g in s) >= width - 1e-9
                    and sum(size[id(g)][1] for g in s) + height <= room + 1e-9
                ),
                None,
            )
            if slot is not None:
                slot.append(group)
                continue
            used = sum(max(size[id(g)][0] for g in s) for s in band)
            if used + width <= limit + 1e-9:
                band.append([group])
                continue
        bands.append([[group]])
    return bands


def _place(bands: list, extents: dict) -> dict:
    """Return the origin (first cell's centre) of each group, by ``id``, in inches.

    ``extents`` gives how far each group's drawing reaches (left, right, up,
    down) from its origin. The top groups of a band share one row, so their
    stocks line up; groups stacked in a slot follow each other downwards.
    """
    origins: dict = {}
    top = 0.0
    for band in bands:
        up = max(extents[id(slot[0])][2] for slot in band)
        left = 0.0
        band_depth = 0.0
        for slot in band:
            reach = [extents[id(g)] for g in slot]
            slot_left = max(r[0] for r in reach)
            y = top - up
            for i, (group, (_, _, group_up, down)) in enumerate(zip(slot, reach, strict=True)):
                if i:
                    y -= group_up
                origins[id(group)] = (left + slot_left, y)
                y -= down + GROUP_GAP
            band_depth = max(band_depth, top - y)
            left += slot_left + max(r[1] for r in reach) + GROUP_GAP
        top -= band_depth
    return origins


def _bezier(a, b, rad: float, n: int = 48) -> np.ndarray:
    """Sample the quadratic curve matplotlib draws for ``arc3,rad=rad`` from a to b."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    control = (a + b) / 2 + rad * np.array([d[1], -d[0]])
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * a + 2 * t * (1 - t) * control + t**2 * b


def _inside_box(points: np.ndarray, centre, pad: float = 0.0) -> np.ndarray:
    """Which points fall inside a stock's box grown by ``pad``."""
    return (np.abs(points[:, 0] - centre[0]) <= BOX_W / 2 + pad) & (
        np.abs(points[:, 1] - centre[1]) <= BOX_H / 2 + pad
    )


def _inside_cloud(points: np.ndarray, centre) -> np.ndarray:
    return ((points[:, 0] - centre[0]) / CLOUD_RX) ** 2 + (
        (points[:, 1] - centre[1]) / CLOUD_RY
    ) ** 2 <= 1.0


def _visible(points: np.ndarray, ends: list) -> np.ndarray:
    """Drop the samples hidden inside the boxes or clouds at an arrow's ends."""
    keep = np.ones(len(points), bool)
    for kind, centre in ends:
        keep &= ~(_inside_box(points, centre) if kind == "box" else _inside_cloud(points, centre))
    shown = points[keep]
    return shown if len(shown) >= 2 else points[[0, -1]]


def _midpoint(points: np.ndarray) -> tuple:
    """Return the point half-way along a polyline, and the direction there."""
    steps = np.hypot(*np.diff(points, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    half = along[-1] / 2
    i = int(np.clip(np.searchsorted(along, half) - 1, 0, len(steps) - 1))
    f = (half - along[i]) / steps[i] if steps[i] > 0 else 0.0
    p = points[i] + f * (points[i + 1] - points[i])
    d = points[i + 1] - points[i]
    return (float(p[0]), float(p[1])), math.atan2(d[1], d[0])


def _make_pipe(flow, source, target, start, end, rad, ends, cloud=None) -> _Pipe:
    points = _visible(_bezier(start, end, rad), ends)
    valve, angle = _midpoint(points)
    return _Pipe(flow, source, target, start, end, rad, cloud, points, valve, angle)


def _route_between_stocks(edges: list, centres: dict) -> list:
    """Bend each stock-to-stock arrow as little as it can without crossing a box."""
    pipes: list = []
    # Short arrows first: they have the fewest ways around, long ones bend.
    for flow, a, b in sorted(edges, key=lambda e: math.dist(centres[e[1]], centres[e[2]])):
        best = None
        for rad in (0.0, 0.2, -0.2, 0.35, -0.35, 0.5, -0.5, 0.7, -0.7):
            pipe = _make_pipe(
                flow, a, b, centres[a], centres[b], rad, [("box", centres[a]), ("box", centres[b])]
            )
            hits = sum(
                int(_inside_box(pipe.points, c, pad=0.2).sum())
                for k, c in centres.items()
                if k not in (a, b)
            )
            crowding = sum(
                int(
                    (
                        np.min(np.hypot(*(pipe.points[:, None] - p.points[None]).T), axis=0) < 0.3
                    ).sum()
                )
                for p in pipes
            )
            clash = sum(math.dist(pipe.valve, p.valve) < 0.9 for p in pipes)
            cost = 100 * hits + 4 * crowding + 40 * clash + 3 * abs(rad)
            if best is None or cost < best[0]:
                best = (cost, pipe)
        pipes.append(best[1])
    return pipes


def _side(centre, point) -> str:
    """Which side of a stock's box a point lies beyond, scaled to the box's shape."""
    dx, dy = (point[0] - centre[0]) / BOX_W, (point[1] - centre[1]) / BOX_H
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "top" if dy > 0 else "bottom"


def _cloud_pipes(flows: tuple, centres: dict, stock_pipes: list) -> list:
    """Give every flow from or to outside the model a cloud beside its stock.

    The first inflow from a cloud goes on the left and the first outflow on
    the right, as stock-and-flow diagrams are read, when that side is free;
    the others go above (inflows) or below (outflows).
    """
    used: dict = {k: set() for k in centres}
    for pipe in stock_pipes:
        used[pipe.source].add(_side(centres[pipe.source], pipe.points[0]))
        used[pipe.target].add(_side(centres[pipe.target], pipe.points[-1]))
    # A stock beside this one (in the next column) leaves no room for a cloud.
    for k, (x, y) in centres.items():
        for other, (ox, oy) in centres.items():
            if other != k and abs(oy - y) < BOX_H and BOX_W < abs(ox - x) < 2 * CLOUD_SIDE + BOX_W:
                used[k].add("right" if ox > x else "left")
    inflows = {k: [] for k in centres}
    outflows = {k: [] for k in centres}
    for flow in flows:
        if not flow.drains:
            for k in flow.fills:
                inflows[k].append(flow)
        if not flow.fills:
            for k in flow.drains:
                outflows[k].append(flow)
    pipes = list(stock_pipes)
    clouds: list = []
    for k, (x, y) in centres.items():
        slots: dict = {"left": [], "right": [], "top": [], "bottom": []}
        ins, outs = list(inflows[k]), list(outflows[k])
        if ins and "left" not in used[k]:
            slots["left"].append((ins.pop(0), True))
        if outs and "right" not in used[k]:
            slots["right"].append((outs.pop(0), False))
        up = "bottom" if "top" in used[k] and "bottom" not in used[k] else "top"
        down = "top" if "bottom" in used[k] and "top" not in used[k] else "bottom"
        slots[up] += [(f, True) for f in ins]
        slots[down] += [(f, False) for f in outs]
        for side, entries in slots.items():
            for i, (flow, inflow) in enumerate(entries):
                shift = (i - (len(entries) - 1) / 2) * CLOUD_SPREAD
                # The usual place first; where that is taken (a flow between
                # stocks leaves the box there), the nearest free place.
                options = [(side, shift, 1.0)] + [
                    (other, i * CLOUD_SPREAD / 2, far)
                    for far in (1.0, 1.5)
                    for i in (0, -2, 2, -4, 4, -1, 1, -3, 3)
                    for other in (("top", "bottom") if inflow else ("bottom", "top"))
                ]
                best = None
                for option in options:
                    pipe = _cloud_pipe(flow, k, (x, y), inflow, *option)
                    cost = _crowding(pipe, k, centres, pipes, clouds)
                    if best is None or cost < best[0]:
                        best = (cost, pipe)
                    if cost == 0:
                        break
                pipes.append(best[1])
                clouds.append(best[1].cloud)
    return pipes[len(stock_pipes) :]


def _cloud_pipe(flow, k, centre, inflow: bool, side: str, shift: float, far: float) -> _Pipe:
    """Make the pipe between stock ``k`` and a cloud on ``side``, ``shift`` along it."""
    x, y = centre
    if side in ("left", "right"):
        cloud = (x + (-1 if side == "left" else 1) * CLOUD_SIDE, y)  # a straight run
        attach = (x, y)
    else:
        cloud = (x + shift, y + (1 if side == "top" else -1) * CLOUD_VERTICAL * far)
        # Aim at the part of the box below/above the cloud, so that the
        # arrows fanning into one side stay parallel.
        attach = (x + float(np.clip(shift, -BOX_W / 3, BOX_W / 3)), y)
    ends = [("cloud", cloud), ("box", centre)]
    if inflow:
        return _make_pipe(flow, None, k, cloud, attach, 0.0, ends, cloud)
    return _make_pipe(flow, k, None, attach, cloud, 0.0, ends[::-1], cloud)


def _crowding(pipe: _Pipe, k: str, centres: dict, pipes: list, clouds: list) -> int:
    """Count what a new cloud and its pipe would run into: pipes, boxes, clouds."""
    cx, cy = pipe.cloud
    hits = 0
    if pipes:
        others = np.concatenate([p.points for p in pipes])
        near = np.hypot(*(pipe.points[:, None] - others[None]).T).min(axis=0) < 0.25
        hits += int(near.sum())
        hits += int(
            (
                (np.abs(others[:, 0] - cx) < CLOUD_RX + 0.2) & (np.abs(others[:, 1] - cy) < 0.45)
            ).sum()
        )
    for other, centre in centres.items():
        inside = _inside_box(pipe.points, centre, pad=0.3)
        if other == k:
            continue
        hits += 10 * int(inside.sum())
        hits += 10 * int(abs(cx - centre[0]) < BOX_W / 2 + 0.6 and abs(cy - centre[1]) < 0.9)
    hits += 10 * sum(abs(cx - ox) < 0.9 and abs(cy - oy) < 0.7 for ox, oy in clouds)
    hits += 10 * sum(math.dist(pipe.valve, p.valve) < 0.6 for p in pipes)
    return hits


def _text_size(text: str, size: float) -> tuple:
    """Estimate the (width, height) of a text in inches."""
    lines = text.split("\n")
    return (
        max(len(line) for line in lines) * size * CHAR_EM / 72 + 0.06,
        len(lines) * size * LINE_EM / 72 + 0.04,
    )


def _overlaps(rect, other) -> bool:
    return not (
        rect[2] <= other[0] or other[2] <= rect[0] or rect[3] <= other[1] or other[3] <= rect[1]
    )


def _place_labels(pipes: list, centres: dict) -> list:
    """Put each flow's label beside its valve, where it covers nothing else."""
    rects = [
        (x - BOX_W / 2 - 0.05, y - BOX_H / 2 - 0.05, x + BOX_W / 2 + 0.05, y + BOX_H / 2 + 0.05)
        for x, y in centres.values()
    ]
    for pipe in pipes:
        vx, vy = pipe.valve
        rects.append((vx - 0.12, vy - 0.12, vx + 0.12, vy + 0.12))
        if pipe.cloud is not None:
            cx, cy = pipe.cloud
            rects.append((cx - CLOUD_RX, cy - CLOUD_RY, cx + CLOUD_RX, cy + CLOUD_RY))
    points = np.concatenate([p.points for p in pipes]) if pipes else np.zeros((0, 2))
    labels = []
    for pipe in pipes:
        text = textwrap.fill(pipe.flow.label, FLOW_WRAP, break_long_words=False)
        w, h = _text_size(text, FLOW_FONT)
        tangent = np.array([math.cos(pipe.angle), math.sin(pipe.angle)])
        normal = np.array([tangent[1], -tangent[0]])
        if normal[1] > 1e-9 or (abs(normal[1]) <= 1e-9 and normal[0] < 0):
            normal = -normal  # first try below a level arrow, right of an upright one
        reach = abs(normal[0]) * w / 2 + abs(normal[1]) * h / 2
        best = None
        # Nearest first: both sides at one distance, sliding along the pipe
        # a little, before moving further out.
        for gap in (0.14, 0.3, 0.5, 0.75, 1.0, 1.4):
            for side, slide in itertools.product(
                (1, -1), (0.0, 0.25, -0.25, 0.5, -0.5, 0.8, -0.8)
            ):
                c = np.array(pipe.valve) + side * normal * (reach + gap) + slide * tangent
                rect = (c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2)
                hits = 20 * sum(_overlaps(rect, r) for r in rects)
                hits += int(
                    (
                        (points[:, 0] > rect[0] - 0.03)
                        & (points[:, 0] < rect[2] + 0.03)
                        & (points[:, 1] > rect[1] - 0.03)
                        & (points[:, 1] < rect[3] + 0.03)
                    ).sum()
                )
                cost = 10 * hits + gap + 0.5 * abs(slide) + 0.05 * (side < 0)
                if best is None or cost < best[0]:
                    best = (cost, c, rect)
            if best[0] < 10:  # a free place: nothing covered
                break
        rects.append(best[2])
        gid = f"flow-label:{_pipe_gid(pipe)}"
        labels.append(_Label(text, float(best[1][0]), float(best[1][1]), FLOW_FONT, gid))
    return labels


def _pipe_gid(pipe: _Pipe) -> str:
    return f"{pipe.flow.key}:{pipe.source or 'cloud'}->{pipe.target or 'cloud'}"


def _stock_label(name: str) -> tuple:
    """Wrap a stock's name to its box and pick the largest font that fits."""
    text = textwrap.fill(name, STOCK_WRAP, break_long_words=False)
    lines = text.split("\n")
    longest = max(len(line) for line in lines)
    size = min(
        STOCK_FONT,
        (BOX_W - 0.15) * 72 / (CHAR_EM * longest),
        (BOX_H - 0.1) * 72 / (LINE_EM * len(lines)),
    )
    return text, size


def _scene(spec: ModelSpec, flows: tuple, info_links: bool) -> _Scene:
    """Compute where everything goes, in inches.

    Each group of connected stocks is drawn in its own coordinates first
    (flows only join stocks of one group), then the groups are packed by
    how far each one's drawing, clouds and labels included, reaches.
    """
    keys = [el.key for el in spec.of_kind("stock")]
    edges = [(f, a, b) for f in flows for a in f.drains for b in f.fills]
    pairs = [(a, b) for _, a, b in edges]
    groups = [_place_group(g, pairs) for g in _stock_groups(keys, pairs)] if keys else []
    drawn = {}
    extents = {}
    for group in groups:
        local = {k: (col * CELL_W, -row * CELL_H) for k, (col, row) in group.cells.items()}
        inside = [e for e in edges if e[1] in local]
        own = tuple(f for f in flows if set(f.drains + f.fills) & set(local))
        stock_pipes = _route_between_stocks(inside, local)
        pipes = stock_pipes + _cloud_pipes(own, local, stock_pipes)
        labels = _place_labels(pipes, local)
        drawn[id(group)] = (local, pipes, labels)
        x0, y0, x1, y1 = _extent(list(local.values()), list(zip(pipes, labels, strict=True)))
        extents[id(group)] = (-x0, x1, y1, -y0)
    origins = _place(_shelves(groups, extents), extents) if groups else {}
    centres: dict = {}
    pipes, labels = [], []
    for group in groups:
        dx, dy = origins[id(group)]
        local, group_pipes, group_labels = drawn[id(group)]
        centres |= {k: (x + dx, y + dy) for k, (x, y) in local.items()}
        pipes += [_moved(p, dx, dy) for p in group_pipes]
        labels += [dataclasses.replace(lb, x=lb.x + dx, y=lb.y + dy) for lb in group_labels]
    centres = {k: centres[k] for k in keys}  # file order
    links = []
    if info_links:
        first_valve: dict = {}
        for pipe in pipes:
            first_valve.setdefault(pipe.flow.key, pipe.valve)
        for flow in flows:
            for stock in sorted(_named_stocks(spec, flow), key=keys.index):
                valve = first_valve[flow.key]
                # Bend, so that a link is not taken for a flow, the way
                # round that crosses fewer boxes.
                rad = min(
                    (0.25, -0.25),
                    key=lambda r, s=stock, v=valve: sum(
                        int(_inside_box(_bezier(centres[s], v, r), c, 0.05).sum())
                        for k, c in centres.items()
                        if k != s
                    ),
                )
                links.append(_Link(stock, flow.key, valve, rad))
    x0, y0, x1, y1 = _extent(list(centres.values()), list(zip(pipes, labels, strict=True)))
    for link in links:
        curve = _bezier(centres[link.stock], link.valve, link.rad)
        x0, y0 = min(x0, *curve[:, 0]), min(y0, *curve[:, 1])
        x1, y1 = max(x1, *curve[:, 0]), max(y1, *curve[:, 1])
    pad = 0.25
    return _Scene(
        stocks=centres,
        stock_labels={el.key: _stock_label(el.name) for el in spec.of_kind("stock")},
        pipes=tuple(pipes),
        labels=tuple(labels),
        links=tuple(links),
        bounds=(x0 - pad, y0 - pad, x1 + pad, y1 + pad),
    )


def _moved(pipe: _Pipe, dx: float, dy: float) -> _Pipe:
    """Return ``pipe`` shifted by (dx, dy)."""

    def shift(point):
        return None if point is None else (point[0] + dx, point[1] + dy)

    return dataclasses.replace(
        pipe,
        start=shift(pipe.start),
        end=shift(pipe.end),
        cloud=shift(pipe.cloud),
        valve=shift(pipe.valve),
        points=pipe.points + np.array([dx, dy]),
    )


def _extent(centres: list, drawn: list) -> tuple:
    """Return the (x0, y0, x1, y1) that stock boxes, pipes, clouds and labels cover."""
    xs = [x + s * BOX_W / 2 for x, _ in centres for s in (-1, 1)]
    ys = [y + s * BOX_H / 2 for _, y in centres for s in (-1, 1)]
    for pipe, label in drawn:
        xs += list(pipe.points[:, 0])
        ys += list(pipe.points[:, 1])
        if pipe.cloud is not None:
            xs += [pipe.cloud[0] - CLOUD_RX, pipe.cloud[0] + CLOUD_RX]
            ys += [pipe.cloud[1] - CLOUD_RY, pipe.cloud[1] + CLOUD_RY]
        w, h = _text_size(label.text, label.size)
        xs += [label.x - w / 2, label.x + w / 2]
        ys += [label.y - h / 2, label.y + h / 2]
    if not xs:
        return (0.0, 0.0, 1.0, 1.0)
    return (min(xs), min(ys), max(xs), max(ys))


# --- drawing ----------------------------------------------------------------

_TITLE_SPACE, _SIDE_SPACE = 0.75, 0.2  # [in] above and beside the drawing
_TITLE_FONT, _KEY_FONT = 13.0, 7.5  # [pt]
_KEY = (
    "boxes: stocks · thick arrows with valves: flows · clouds: sources and sinks "
    "outside the model · dashed arrows: a stock named in a flow's equation"
)


def stock_flow_diagram(
    spec: ModelSpec, ax: Axes | None = None, *, info_links: bool = True
) -> tuple:
    """Draw the stock-and-flow diagram of a model.

    Each stock is a labelled box and each flow a labelled arrow with a valve,
    from the stock it drains to the stock it fills, or from/to a cloud where
    it crosses the model's boundary (see :func:`stock_flows`). Connected
    stocks are laid out left to right along their flows.

    Parameters
    ----------
    spec
        The model, from :func:`sim.read_mdl`.
    ax
        Axes to draw into. By default a new figure is made, sized so that
        one data unit is one inch and all text is at its natural size; given
        axes, text and lines are scaled to fit them.
    info_links
        Also draw thin dashed arrows from each stock to the flows whose
        equations name it (links through auxiliaries are left out, to keep
        the diagram readable).

    Returns
    -------
    fig, ax
        The figure and the axes drawn into. Artists carry gids that name
        what they show: ``stock:<key>``, ``flow:<flow>:<from>-><to>`` (with
        ``cloud`` for an end outside the model), ``valve:...``,
        ``cloud:...``, ``flow-label:...``, ``link:<stock>-><flow>``.
    """
    spec = one_per_array(spec)
    flows = stock_flows(spec)
    scene = _scene(spec, flows, info_links)
    x0, y0, x1, y1 = scene.bounds
    width, height = x1 - x0, y1 - y0
    title = f"Stock-and-flow diagram: {Path(spec.path).name}"
    if ax is None:
        # The page is at least as wide as the title; the key wraps to it.
        page = max(width, _text_size(title, _TITLE_FONT)[0], 5.0)
        key = _wrap_key(page, 1.0)
        foot = _text_size(key, _KEY_FONT)[1] + 0.2
        fig = Figure(figsize=(page + 2 * _SIDE_SPACE, height + _TITLE_SPACE + foot), layout="none")
        FigureCanvasAgg(fig)  # a canvas that can render, without pyplot
        fw, fh = fig.get_size_inches()
        ax = fig.add_axes((_SIDE_SPACE / fw, foot / fh, width / fw, height / fh))
        scale = 1.0
    else:
        fig = ax.figure
        box = ax.get_position()
        fw, fh = fig.get_size_inches()
        scale = min(box.width * fw / width, box.height * fh / height)
        key = _wrap_key(box.width * fw, scale)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    _draw(ax, scene, scale)
    ax.set_title(title, fontsize=_TITLE_FONT * scale, loc="left", pad=8 * scale)
    ax.text(
        0,
        0,
        key,
        transform=ax.transAxes,
        fontsize=_KEY_FONT * scale,
        va="top",
        color="#555555",
        gid="key",
    )
    return fig, ax


def _wrap_key(width: float, scale: float) -> str:
    """Wrap the key to ``width`` inches at the key's font size times ``scale``."""
    chars = width * 72 / (_KEY_FONT * scale * CHAR_EM)
    return textwrap.fill(_KEY, max(20, int(chars) - 2))


def _draw(ax: Axes, scene: _Scene, scale: float) -> None:
    """Add the scene's artists to ``ax``."""
    # artists of equal zorder are drawn, and written to the SVG, in the order added
    boxes = _draw_stocks(ax, scene, scale)
    for pipe in scene.pipes:
        _draw_pipe(ax, pipe, boxes, scale)
    _draw_flow_labels(ax, scene, scale)
    _draw_links(ax, scene, boxes, scale)


def _draw_stocks(ax: Axes, scene: _Scene, scale: float) -> dict:
    """Draw each stock as a labelled box; return the boxes by stock key."""
    boxes = {}
    for key, (x, y) in scene.stocks.items():
        box = FancyBboxPatch(
            (x - BOX_W / 2, y - BOX_H / 2),
            BOX_W,
            BOX_H,
            boxstyle="round,pad=0,rounding_size=0.08",
            facecolor=STOCK_FILL,
            edgecolor=STOCK_EDGE,
            linewidth=1.4 * scale,
            zorder=3,
            gid=f"stock:{key}",
        )
        ax.add_patch(box)
        boxes[key] = box
        text, size = scene.stock_labels[key]
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=size * scale,
            zorder=4,
            gid=f"stock-label:{key}",
        )
    return boxes


def _draw_pipe(ax: Axes, pipe: _Pipe, boxes: dict, scale: float) -> None:
    """Draw one arrow of a flow with its valve, and its cloud if it has one."""
    cloud = None
    gid = _pipe_gid(pipe)
    if pipe.cloud is not None:
        cloud = Polygon(
            _cloud_outline(pipe.cloud),
            closed=True,
            facecolor="white",
            edgecolor=CLOUD_EDGE,
            linewidth=1.0 * scale,
            zorder=3,
            gid=f"cloud:{gid}",
        )
        ax.add_patch(cloud)
    ax.add_patch(
        FancyArrowPatch(
            pipe.start,
            pipe.end,
            connectionstyle=f"arc3,rad={pipe.rad}",
            arrowstyle="-|>,head_length=0.6,head_width=0.35",
            mutation_scale=14 * scale,
            linewidth=2.0 * scale,
            color=PIPE_COLOR,
            patchA=boxes.get(pipe.source) or cloud,
            patchB=boxes.get(pipe.target) or cloud,
            shrinkA=0,
            shrinkB=0,
            zorder=2,
            gid=f"flow:{gid}",
        )
    )
    ax.add_patch(
        Polygon(
            _valve_outline(pipe.valve, pipe.angle),
            closed=True,
            facecolor="white",
            edgecolor=PIPE_COLOR,
            linewidth=1.0 * scale,
            zorder=3,
            gid=f"valve:{gid}",
        )
    )


def _draw_flow_labels(ax: Axes, scene: _Scene, scale: float) -> None:
    """Write each flow's label beside its valve."""
    for label in scene.labels:
        ax.text(
            label.x,
            label.y,
            label.text,
            ha="center",
            va="center",
            fontsize=label.size * scale,
            color="#222222",
            zorder=5,
            gid=label.gid,
            linespacing=1.1,
        )


def _draw_links(ax: Axes, scene: _Scene, boxes: dict, scale: float) -> None:
    """Draw a thin dashed arrow from each stock to each flow whose equation names it."""
    for link in scene.links:
        ax.add_patch(
            FancyArrowPatch(
                scene.stocks[link.stock],
                link.valve,
                connectionstyle=f"arc3,rad={link.rad}",
                arrowstyle="-|>,head_length=0.5,head_width=0.25",
                mutation_scale=8 * scale,
                linewidth=0.6 * scale,
                linestyle=(0, (4, 3)),
                color=LINK_COLOR,
                alpha=0.75,
                patchA=boxes[link.stock],
                shrinkB=6 * scale,
                zorder=1,
                gid=f"link:{link.stock}->{link.flow}",
            )
        )


def _cloud_outline(centre) -> np.ndarray:
    """Outline a cloud, the mark of a source or sink outside the model: a scalloped ellipse."""
    theta = np.linspace(0, 2 * np.pi, 121)
    bumps = 0.78 + 0.22 * np.abs(np.sin(3.5 * theta))
    return np.column_stack(
        [
            centre[0] + CLOUD_RX * bumps * np.cos(theta),
            centre[1] + CLOUD_RY * bumps * np.sin(theta),
        ]
    )


def _valve_outline(centre, angle: float, size: float = 0.13) -> np.ndarray:
    """Outline a valve: an hourglass across the pipe, its waist on the pipe."""
    t = np.array([math.cos(angle), math.sin(angle)]) * size * 0.7
    n = np.array([-math.sin(angle), math.cos(angle)]) * size
    c = np.asarray(centre)
    return np.array([c + n + t, c + n - t, c - n + t, c - n - t])


def save_diagram(spec: ModelSpec, path_without_suffix: str | Path) -> tuple:
    """Write the stock-and-flow diagram as ``.svg`` and ``.png`` (200 dpi).

    Each file is written under a temporary name and renamed when complete,
    so an interrupted run leaves no half-written figure. The SVG's ids and
    metadata are fixed, so the same model gives the same file.

    Parameters
    ----------
    spec
        The model, from :func:`sim.read_mdl`.
    path_without_suffix
        Where to write, without the suffix: ``figures/model_diagram`` writes
        ``figures/model_diagram.svg`` and ``figures/model_diagram.png``.

    Returns
    -------
    svg, png
        The paths written.
    """
    base = Path(path_without_suffix)
    fig, _ = stock_flow_diagram(spec)
    written = []
    with matplotlib.rc_context({"svg.hashsalt": "brainsim", "svg.fonttype": "path"}):
        for suffix, options in (
            (".svg", {"metadata": {"Date": None}}),
            (".png", {"dpi": 200, "metadata": {"Software": None}}),
        ):
            target = base.with_name(base.name + suffix)
            with atomic_path(target) as tmp, open(tmp, "wb") as handle:
                fig.savefig(handle, format=suffix[1:], facecolor="white", **options)
            written.append(target)
    return tuple(written)
