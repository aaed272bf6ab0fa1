"""Subscripts: Vensim's arrays, expanded into one scalar element per array element.

A subscripted equation ``stock[region] = INTEG(inflow[region], 10)`` becomes
``stock[north]``, ``stock[south]``, ... each a scalar element whose
references name the elements they use. Every later step (sorting,
layout, the generated numpy code, the integrators) then sees a scalar model
whose state stays rows x runs, as SDEverywhere and Vensim itself treat each
element as its own equation.

Alignment is resolved here, once, by element name: a reference ``x[age]``
in an equation over ``region`` is an error unless ``age`` is ``region``, a
subrange or superrange of it, mapped to it (``age: a1, a2 -> region``) or
an equivalent (``age <-> region``). Two different ranges of equal length
therefore never combine by position unless the model says they map.

The constructs: ranges from lists and numeric ranges ``(a1-a5)``, ranges
made of other ranges, subranges, mappings and equivalences, ``:EXCEPT:``,
partial and element-by-element definitions, constant arrays ``1, 2; 3, 4``
and TABBED ARRAY, ``range!`` in SUM, PROD, VMIN and VMAX, ELMCOUNT, a range
or element used as a value (its 1-based position in its main range, as
PySD), and subscripted stocks, lookups and statefuls.
"""

import dataclasses
import itertools
import re
from dataclasses import dataclass

from sim.engine.errors import ModelError
from sim.engine.names import vensim_key
from sim.engine.spec import (
    RANDOM,
    Call,
    Element,
    Lookup,
    LookupCall,
    Num,
    Op,
    Ref,
    Stateful,
    walk,
)
from sim.engine.vectors import VECTOR_FUNCTIONS, expand_vector_call

# reductions over a range! and how their terms combine
REDUCTIONS = {"sum": "+", "prod": "*", "vmin": "min", "vmax": "max"}


@dataclass(frozen=True)
class Ranges:
    """The subscript ranges of a model.

    Attributes
    ----------
    elements
        Range key to its element keys, in order (ranges made of ranges expanded).
    labels
        Range or element key to its spelling in the ``.mdl``.
    maps
        Range key to ``(target range, element keys or None)`` pairs: ``None``
        maps by position, as ``a: a1, a2 -> b``.
    """

    elements: dict
    labels: dict
    maps: dict

    def main(self, key: str) -> str:
        """Return the largest range holding every element of ``key`` (its family)."""
        mine = set(self.elements[key])
        best = key
        for other, elems in self.elements.items():
            if mine <= set(elems) and len(elems) > len(self.elements[best]):
                best = other
        return best

    def position(self, element: str) -> int:
        """Return the 1-based position of ``element`` in the first main range holding it."""
        for key, elems in self.elements.items():
            if element in elems and self.main(key) == key:
                return elems.index(element) + 1
        raise KeyError(element)

    def is_element(self, key: str) -> bool:
        """Whether ``key`` is an element of some range (not a range itself)."""
        return key not in self.elements and any(key in e for e in self.elements.values())

    def label(self, key: str) -> str:
        """Return the spelling of a range or element key."""
        return self.labels.get(key, key)


NO_RANGES = Ranges({}, {}, {})

_NUMBERED = re.compile(r"\(\s*(\w*?)(\d+)\s*-\s*(\w*?)(\d+)\s*\)")


def read_ranges(path: str, defs: list) -> Ranges:
    """Read ``(name, definition sign, text)`` range definitions in file order.

    Raises
    ------
    ModelError
        A range that names an undefined range, is empty, or maps to a range
        of another length.
    """
    raw, labels, maps, copies = {}, {}, {}, {}
    for name, sign, text in defs:
        key = vensim_key(name)
        labels[key] = name.strip()
        if sign == "<->":
            copies[key] = vensim_key(text)
            continue
        body, _, mapped = text.partition("->")
        raw[key] = _listed(path, name, body, labels)
        maps[key] = tuple(_mapping(m) for m in _split_top(mapped)) if mapped.strip() else ()
    elements: dict = {}

    def expand(key: str, seen: tuple) -> tuple:
        if key in elements:
            return elements[key]
        if key in seen:
            raise ModelError(f"{path}: subscript range '{labels[key]}' is defined by itself")
        out = []
        for item in raw[key]:
            out += expand(item, (*seen, key)) if item in raw or item in copies else [item]
        elements[key] = tuple(out)
        return elements[key]

    for key in list(raw) + list(copies):
        if key in copies:
            target = copies[key]
            if target not in raw:
                raise ModelError(
                    f"{path}: '{labels[key]}' is a copy of '{target}', which is not a range"
                )
            elements[key] = expand(target, ())
            maps[key] = ((target, None),)
            maps[target] = (*maps.get(target, ()), (key, None))
        else:
            expand(key, ())
    ranges = Ranges(elements, labels, maps)
    for key, pairs in maps.items():
        for target, listed in pairs:
            _check_map(path, ranges, key, target, listed)
    return ranges


def _listed(path: str, name: str, body: str, labels: dict) -> list:
    items = []
    for part in _split_top(body):
        found = _NUMBERED.fullmatch(part.strip())
        if found:
            prefix, first, _, last = found.groups()
            for i in range(int(first), int(last) + 1):
                items.append(vensim_key(f"{prefix}{i}"))
                labels.setdefault(items[-1], f"{prefix}{i}")
            continue
        item = part.strip()
        if not item:
            raise ModelError(f"{path}: subscript range '{name}' has an empty element; remove it")
        items.append(vensim_key(item))
        labels.setdefault(items[-1], item.strip('"'))
    if not items:
        raise ModelError(f"{path}: subscript range '{name}' has no elements; list them")
    return items


def _split_top(text: str) -> list:
    """Split at commas that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _mapping(text: str) -> tuple:
    text = text.strip()
    if text.startswith("("):
        target, _, listed = text.strip("()").partition(":")
        return vensim_key(target), tuple(vensim_key(e) for e in listed.split(","))
    return vensim_key(text), None


def _check_map(path: str, ranges: Ranges, key: str, target: str, listed) -> None:
    if target not in ranges.elements:
        raise ModelError(
            f"{path}: range '{ranges.label(key)}' maps to '{target}', which is not a range"
        )
    size = len(listed) if listed is not None else len(ranges.elements[target])
    if size != len(ranges.elements[key]):
        raise ModelError(
            f"{path}: range '{ranges.label(key)}' ({len(ranges.elements[key])} elements) maps "
            f"to '{ranges.label(target)}' ({size}); a mapping pairs elements one to one"
        )


# --- the left-hand side: which elements an equation defines ------------------------


def lhs_elements(path: str, ranges: Ranges, name: str, subs: tuple, excepts: tuple) -> list:
    """Return ``(binding, element keys)`` for every element an equation defines.

    ``binding`` maps each range written on the left-hand side to the element
    of this copy of the equation.
    """
    choices = []
    for sub in subs:
        if sub in ranges.elements:
            choices.append([(sub, e) for e in ranges.elements[sub]])
        elif ranges.is_element(sub):
            choices.append([(None, sub)])
        else:
            raise ModelError(
                f"{path}: '{name}[{', '.join(subs)}]' uses '{sub}', which is neither a "
                "subscript range nor an element; define it with 'range: element, ...'"
            )
    out = []
    for combo in itertools.product(*choices):
        elems = tuple(e for _, e in combo)
        if any(_matches(ranges, ex, elems) for ex in excepts):
            continue
        out.append(({r: e for r, e in combo if r is not None}, elems))
    return out


def _matches(ranges: Ranges, pattern: tuple, elems: tuple) -> bool:
    return len(pattern) == len(elems) and all(
        e == p or e in ranges.elements.get(p, ()) for p, e in zip(pattern, elems, strict=True)
    )


def element_key(base: str, elems: tuple) -> str:
    """Return the key of one element of an array: ``stock[north,young]``."""
    return f"{base}[{','.join(elems)}]" if elems else base


# --- the right-hand side: references resolved by element name ---------------------


@dataclass
class Expander:
    """Rewrites the expressions of one copy of a subscripted equation as scalars.

    Attributes
    ----------
    path, owner
        For messages: the model file and the variable whose equation this is.
    ranges
        The model's subscript ranges.
    arrays
        Keys of the subscripted variables and lookups, to their number of subscripts.
    defined
        Keys of every defined element (``stock[north]``), to refuse a missing one.
    binding
        Range key (or ``range!``) to this copy's element.
    renamed
        Key of a hidden state of this equation to this copy's key.
    """

    path: str
    owner: str
    ranges: Ranges
    arrays: dict
    defined: set
    binding: dict
    renamed: dict
    salt: int = 0  # 1 + this copy's number for a subscripted equation, else 0
    # the number of each call of an array function, shared by all copies (vectors.py)
    sites: dict = dataclasses.field(default_factory=dict)

    def expr(self, node):
        """Return ``node`` with every subscript resolved and every reduction unrolled."""
        if isinstance(node, Ref):
            return self.ref(node)
        if isinstance(node, LookupCall):
            table = self.resolve(node.table, node.subs) if node.subs else node.table
            return LookupCall(table, self.expr(node.arg))
        if isinstance(node, Call) and node.fn in REDUCTIONS:
            return self.reduce(node)
        if isinstance(node, Call) and node.fn == "elmcount":
            return self.elmcount(node)
        if isinstance(node, Call) and node.fn in VECTOR_FUNCTIONS:
            return expand_vector_call(self, node)
        if isinstance(node, Call) and node.fn in RANDOM and self.salt:
            # each element draws from a stream of its own
            *args, site = node.args
            stream = Num(site.value + 1e6 * self.salt)
            return Call(node.fn, (*(self.expr(a) for a in args), stream))
        if isinstance(node, Op | Call):
            return dataclasses.replace(node, args=tuple(self.expr(a) for a in node.args))
        return node

    def ref(self, node: Ref):
        """Resolve a reference: a hidden state, an array element, or a range as a number."""
        if node.key in self.renamed:
            return Ref(self.renamed[node.key])
        if node.subs:
            return Ref(self.resolve(node.key, node.subs))
        if node.key in self.arrays:
            self.fail(
                f"uses '{node.key}' without subscripts; write the elements it means, "
                f"e.g. {node.key}[{', '.join(['...'] * self.arrays[node.key])}]"
            )
        if node.key in self.ranges.elements and node.key not in self.defined:
            return Num(float(self.ranges.position(self.element(node.key))))
        if self.ranges.is_element(node.key) and node.key not in self.defined:
            return Num(float(self.ranges.position(node.key)))
        return node

    def resolve(self, key: str, subs: tuple) -> str:
        """Return the element key ``key[subs]`` names in this copy of the equation."""
        if key not in self.arrays:
            self.fail(f"subscripts '{key}', which is not subscripted; remove the subscripts")
        if len(subs) != self.arrays[key]:
            self.fail(f"gives '{key}' {len(subs)} subscripts; it has {self.arrays[key]}")
        full = element_key(key, tuple(self.element(s) for s in subs))
        if full not in self.defined:
            self.fail(f"uses '{full}', which the model does not define; define that element")
        return full

    def element(self, sub: str) -> str:
        """Return the element a subscript written in a reference stands for here."""
        if sub in self.binding:
            return self.binding[sub]
        if sub.endswith("!"):
            self.fail(f"uses '{sub}' outside SUM, PROD, VMIN or VMAX; sum over it or remove '!'")
        if sub not in self.ranges.elements:
            if self.ranges.is_element(sub):
                return sub
            self.fail(f"uses '{sub}', which is neither a subscript range nor an element")
        wanted = self.ranges.elements[sub]
        for bound, elem in self.binding.items():
            if bound.endswith("!") or bound not in self.ranges.elements:
                continue
            mine = self.ranges.elements[bound]
            if elem in wanted and (set(mine) <= set(wanted) or set(wanted) <= set(mine)):
                return elem  # a subrange or superrange: the same element by name
            mapped = self.mapped(bound, sub, elem)
            if mapped is not None:
                return mapped
        self.fail(
            f"uses subscript '{self.ranges.label(sub)}', which its left-hand side does not "
            f"run over (nor a subrange of it or a range mapped to it); add it to the "
            f"left-hand side, map the ranges with '->', or sum over it with {sub}!"
        )
        return ""  # unreachable: fail raises

    def mapped(self, bound: str, sub: str, elem: str):
        """Return the element of ``sub`` that ``elem`` of ``bound`` maps to, or None."""
        for source, target in ((bound, sub), (sub, bound)):
            for other, listed in self.ranges.maps.get(source, ()):
                if other != target:
                    continue
                src = self.ranges.elements[source]
                dst = listed or self.ranges.elements[target]
                pairs = dict(zip(src, dst, strict=True))
                if source == sub:
                    pairs = {v: k for k, v in pairs.items()}
                if elem in pairs:
                    return pairs[elem]
        return None

    def reduce(self, node: Call):
        """Unroll SUM/PROD/VMIN/VMAX over the ``range!`` subscripts of its argument."""
        banged = sorted({s for s in _subs_in(node.args[0]) if s.endswith("!")})
        if not banged:
            self.fail(
                f"calls {node.fn.upper()} without a 'range!' subscript; mark the range to "
                f"reduce over, e.g. {node.fn.upper()}(x[region!])"
            )
        terms = []
        for combo in itertools.product(*(self._bang_elements(b) for b in banged)):
            inner = dataclasses.replace(
                self, binding={**self.binding, **dict(zip(banged, combo, strict=True))}
            )
            terms.append(inner.expr(node.args[0]))
        op = REDUCTIONS[node.fn]
        return _balanced(
            terms, lambda a, b: Call(op, (a, b)) if op in ("min", "max") else Op(op, (a, b))
        )

    def _bang_elements(self, bang: str) -> tuple:
        key = bang[:-1]
        if key not in self.ranges.elements:
            self.fail(f"sums over '{key}!', but '{key}' is not a subscript range")
        return self.ranges.elements[key]

    def elmcount(self, node: Call):
        """Return ELMCOUNT(range) as a number."""
        arg = node.args[0]
        if not (isinstance(arg, Ref) and arg.key in self.ranges.elements):
            self.fail("calls ELMCOUNT of something that is not a subscript range")
        return Num(float(len(self.ranges.elements[arg.key])))

    def fail(self, why: str):
        """Raise the one-line error for this equation.

        Raises
        ------
        ModelError
            Always.
        """
        raise ModelError(f"{self.path}: '{self.owner}' {why}")


def _balanced(terms: list, combine):
    """Combine ``terms`` pairwise as a balanced tree: its depth grows as log2 of their number.

    A left-to-right chain of a few hundred terms (SUM over ages 0 to 100 by
    sex and region) would nest deeper than Python compiles.
    """
    while len(terms) > 1:
        pairs = [combine(a, b) for a, b in zip(terms[::2], terms[1::2], strict=False)]
        terms = pairs + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0]


def _subs_in(node) -> set:
    return {s for n in walk(node) if isinstance(n, Ref | LookupCall) for s in n.subs}


# --- whole equations ----------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """One equation as read, before expansion.

    ``values`` holds a constant array's numbers (rows of columns), ``table``
    a lookup's points, ``tables`` a table per element (in the order the
    left-hand side lists them) of a lookup or data variable read from a file;
    ``statefuls`` the hidden states hoisted from it.
    """

    element: Element
    subs: tuple
    excepts: tuple
    statefuls: tuple
    values: tuple | None = None
    table: Lookup | None = None
    # a subscripted lookup or data variable read from a file: a table per element
    tables: tuple | None = None


def expand(path: str, ranges: Ranges, parsed: list) -> tuple:
    """Return ``(elements, statefuls, lookups)`` of the scalar model ``parsed`` describes.

    Raises
    ------
    ModelError
        An element defined twice, a subscript that does not align, a
        reference to a missing element, a constant array of the wrong size.
    """
    copies = []
    arrays: dict = {}
    for p in parsed:
        base = p.element.key
        if p.subs and arrays.setdefault(base, len(p.subs)) != len(p.subs):
            raise ModelError(
                f"{path}: '{p.element.name}' is defined with {len(p.subs)} subscripts "
                f"and with {arrays[base]} elsewhere; give every definition the same number"
            )
        for binding, elems in lhs_elements(path, ranges, p.element.name, p.subs, p.excepts):
            copies.append((p, binding, elems))
    defined: dict = {}
    for p, _, elems in copies:
        key = element_key(p.element.key, elems)
        if key in defined:
            raise ModelError(
                f"{path}: '{_display(ranges, p.element.name, elems)}' is defined twice; "
                "give each element one equation (use :EXCEPT: to leave some out)"
            )
        defined[key] = (p, elems)
    families = _families(path, ranges, copies)
    elements, statefuls, lookups = [], [], []
    cells: dict = {}  # a constant array's position of each copy
    counts: dict = {}  # copies made so far of each equation
    keys = set(defined)
    sites: dict = {}
    for index, (p, binding, elems) in enumerate(copies):
        key = element_key(p.element.key, elems)
        owner = _display(ranges, p.element.name, elems)
        renamed = {s.key: element_key(s.key, elems) for s in p.statefuls}
        salt = index + 1 if p.subs else 0
        ex = Expander(path, owner, ranges, arrays, keys, binding, renamed, salt, sites)
        el = p.element
        changes = {"name": owner, "key": key}
        if p.subs:
            changes["py_name"] = _py_name(el.py_name, elems)
            changes["base"] = el.key
            changes["coords"] = tuple(zip(families[el.key], elems, strict=True))
        if p.values is not None:
            changes["expr"] = Num(_array_value(path, p, cells, index, copies))
        elif el.expr is not None:
            changes["expr"] = ex.expr(el.expr)
        if el.init is not None:
            changes["init"] = ex.expr(el.init)
        new = dataclasses.replace(el, **changes)
        if new.kind == "auxiliary" and isinstance(new.expr, Num):
            new = dataclasses.replace(new, kind="constant")
        elements.append(new)
        if p.table is not None:
            lookups.append(dataclasses.replace(p.table, key=key))
        if p.tables is not None:
            new = _per_element_table(path, p, new, key, counts, lookups)
            elements[-1] = new
        for st in p.statefuls:
            statefuls.append(_stateful(ex, st, owner, renamed[st.key]))
    return elements, statefuls, lookups


def _stateful(ex: Expander, st: Stateful, owner: str, key: str) -> Stateful:
    fields = {f: getattr(st, f) for f in ("input", "time", "init", "order")}
    for name, value in fields.items():
        if value is not None:
            fields[name] = ex.expr(value)
    return dataclasses.replace(st, key=key, owner=owner, **fields)


def _display(ranges: Ranges, name: str, elems: tuple) -> str:
    return f"{name}[{','.join(ranges.label(e) for e in elems)}]" if elems else name


def _py_name(base: str, elems: tuple) -> str:
    return "_".join([base, *(re.sub(r"\W+", "_", e).strip("_") for e in elems)])


def _families(path: str, ranges: Ranges, copies: list) -> dict:
    """Return each array's ranges: per position, the main range of what its equations use."""
    seen: dict = {}
    written: dict = {}
    names_of = {p.element.key: p.element.name for p, _, _ in copies}
    for p, _, elems in copies:
        if p.subs:
            cols = seen.setdefault(p.element.key, [set() for _ in elems])
            names = written.setdefault(p.element.key, [[] for _ in elems])
            for col, name, e, sub in zip(cols, names, elems, p.subs, strict=True):
                col.add(e)
                if sub in ranges.elements:
                    name.append(sub)
    families = {}
    for key, cols in seen.items():
        dims = []
        for col, names in zip(cols, written[key], strict=True):
            fits = [r for r in names if col <= set(ranges.elements[r])]
            fits += [ranges.main(r) for r in names if col <= set(ranges.elements[ranges.main(r)])]
            if not fits:
                holding = [r for r, el in ranges.elements.items() if col <= set(el)]
                fits = [ranges.main(min(holding, key=lambda r: len(ranges.elements[r])))]
            dims.append(fits[0])
        if len(set(dims)) < len(dims):
            raise ModelError(
                f"{path}: '{names_of[key]}' runs over '{ranges.label(dims[0])}' twice; use an "
                "equivalent range for the second ('copy <-> range')"
            )
        families[key] = tuple(dims)
    return families


def _per_element_table(path, p: Parsed, el: Element, key: str, counts: dict, lookups: list):
    """Give this copy its own table: a lookup's points, or a data variable's series."""
    n = counts[id(p)] = counts.get(id(p), -1) + 1
    if n >= len(p.tables):
        raise ModelError(
            f"{path}: '{p.element.name}' reads {len(p.tables)} series for more elements; "
            "give one column (or row) per element"
        )
    if el.kind == "lookup":
        lookups.append(dataclasses.replace(p.tables[n], key=key))
        return el
    table = dataclasses.replace(p.tables[n], key=f"_data_{key}")
    lookups.append(table)
    return dataclasses.replace(el, expr=LookupCall(table.key, Ref("time")))


def _array_value(path: str, p: Parsed, cells: dict, index: int, copies: list) -> float:
    """Return this copy's number from a constant array ``1, 2; 3, 4``."""
    flat = [v for row in p.values for v in row]
    if id(p) not in cells:
        mine = [i for i, (q, _, _) in enumerate(copies) if q is p]
        if len(flat) != len(mine):
            raise ModelError(
                f"{path}: the constant array of '{p.element.name}' has {len(flat)} numbers "
                f"for {len(mine)} elements; give one number per element (rows separated by ';')"
            )
        cells[id(p)] = {i: n for n, i in enumerate(mine)}
    return flat[cells[id(p)][index]]
