"""Read a Vensim ``.mdl`` file into a :class:`~sim.engine.spec.ModelSpec`.

A small hand-written reader of the subset brainsim runs. It follows PySD's
Vensim grammar (``pysd/translators/vensim/parsing_grammars``) rule for rule:
operator precedence, the sign rules of ``-a ^ b``, the argument order of
PULSE TRAIN, and which functions are stateful. PySD's translator is a
packrat parser written in Python and takes about 1.5 s on the brain model,
plus 1 s to import; this reader takes a few hundredths of a second, so that
``brainsim simulate`` stays under a second even when the file has just
changed. PySD's translator remains the reference: ``tests/test_vensim.py``
reads every shipped and test model both ways and requires equal specs.

Stateful functions (SMOOTH, DELAY, TREND, INITIAL) nested in an equation are
hoisted into hidden :class:`~sim.engine.spec.Stateful` entries, so that later steps
see only plain expressions over variables, stocks and hidden states.

This module splits the file into equations and assembles the spec; each
equation is parsed by :mod:`~sim.engine.calls` (function calls, statefuls
and lookup tables), on top of :mod:`~sim.engine.expressions` (operators and
operands) and :mod:`~sim.engine.cursor` (the tokens).
"""

import dataclasses
import hashlib
import re
from pathlib import Path

from sim.engine import external
from sim.engine.calls import EquationReader
from sim.engine.cursor import NAME, NUMBER, SPACE, ParseError
from sim.engine.errors import ModelError, UnsupportedFunctionError
from sim.engine.macros import Instances, cut_macros, instantiate
from sim.engine.names import python_name, suggestion, vensim_key
from sim.engine.spec import (
    CONTROL_KEYS,
    Call,
    Element,
    Lookup,
    LookupCall,
    ModelSpec,
    Num,
    Op,
    Ref,
    references,
    walk,
)
from sim.engine.subscripts import (
    NO_RANGES,
    REDUCTIONS,
    Parsed,
    expand,
    lhs_elements,
    read_ranges,
)
from sim.engine.vectors import VECTOR_FUNCTIONS


def read_mdl(path: str | Path) -> ModelSpec:
    """Read a Vensim ``.mdl`` file into a :class:`~sim.engine.spec.ModelSpec`.

    Parameters
    ----------
    path
        The model file (Vensim text format).

    Raises
    ------
    ModelError
        The file is missing, not Vensim, does not parse (the message gives
        file:line and the equation), uses subscripts, data or macros, or
        refers to an undefined name.
    UnsupportedFunctionError
        An equation uses a function outside :data:`~sim.engine.spec.FUNCTIONS` and
        :data:`~sim.engine.calls.STATEFULS`.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file; give the path of a Vensim .mdl file")
    raw = path.read_bytes()
    text, macros = cut_macros(str(path), raw.decode("utf-8", errors="replace"))
    entries = split_entries(str(path), text)
    range_defs = [(e.name, e.definition, e.rhs) for e in entries if e.definition in (":", "<->")]
    entries = [e for e in entries if e.definition not in (":", "<->")]
    ranges = read_ranges(str(path), range_defs) if range_defs else NO_RANGES
    reader = EquationReader(str(path), {vensim_key(e.name) for e in entries})
    instances = Instances(macros)
    _with_macros(reader, instances)
    parsed = [_parsed(reader, text, entry, ranges) for entry in entries]
    parsed += [Parsed(el, (), (), ()) for el in instances.elements]
    if any(p.subs for p in parsed) or range_defs or _subscripted(parsed):
        elements, statefuls, lookups = expand(str(path), ranges, parsed)
        named = {p.table.key for p in parsed if p.table is not None}
        lookups += [lk for lk in reader.lookups if lk.key not in named]
    else:
        elements, statefuls, lookups = (
            [p.element for p in parsed],
            reader.statefuls,
            reader.lookups,
        )
    elements = mark_flows(elements)
    check_names(str(path), elements, statefuls, lookups)
    # the files a model reads are part of it: its hash covers them
    digest = hashlib.sha256(raw)
    for file in sorted(reader.files):
        digest.update(file.read_bytes())
    return ModelSpec(
        path=str(path),
        sha256=digest.hexdigest(),
        elements=tuple(elements),
        statefuls=tuple(statefuls),
        lookups=tuple(lookups),
        ranges=ranges if range_defs else None,
        files=tuple(str(f) for f in sorted(reader.files)),
    )


def _with_macros(reader: EquationReader, instances: Instances) -> None:
    """Let ``reader`` expand calls of the model's macros (each call a hidden copy)."""
    reader.macros = instances.macros

    def call(fn: str, args: list):
        def parse(body: str) -> list:
            entries = split_entries(reader.path, body)
            sub = EquationReader(reader.path, {vensim_key(e.name) for e in entries})
            sub.statefuls, sub.lookups = reader.statefuls, reader.lookups
            sub.random_calls = reader.random_calls
            _with_macros(sub, instances)
            elements = [_element(sub, body, e) for e in entries]
            reader.random_calls = sub.random_calls
            return elements

        made = (reader.statefuls, reader.lookups)
        return instantiate(reader.path, instances, instances.macros[fn], args, parse, made)

    reader.macro_call = call


def _external(reader: EquationReader, entry: "Entry", ref, ranges) -> Parsed:
    """Read a GET XLS/DIRECT call's numbers now; return the equation they make."""
    path, name = reader.path, entry.name
    reader.files.add(ref.file)
    common = _common(reader.path, entry)
    if ref.kind == "constants" and entry.definition in ("=", "=="):
        sizes = [len(ranges.elements[s]) for s in entry.subs if s in ranges.elements]
        if len(sizes) > 2:
            raise ModelError(f"{path}: '{name}' reads constants for more than two ranges")
        shape = (sizes[0], sizes[1]) if len(sizes) == 2 else (1, sizes[0] if sizes else 1)
        rows = external.constants(path, name, ref, shape)
        values = tuple(tuple(r) for r in rows)
        el = Element(kind="constant", expr=Num(values[0][0]), **common)
        return Parsed(el, entry.subs, entry.excepts, (), values if entry.subs else None)
    sizes = [len(ranges.elements[s]) for s in entry.subs if s in ranges.elements]
    if len(sizes) > 1:
        raise ModelError(f"{path}: '{name}' reads {ref.kind} for more than one range")
    xs, columns = external.series(path, name, ref, sizes[0] if sizes else 1)
    tables = tuple(Lookup(key=common["key"], xs=xs, ys=ys) for ys in columns)
    if ref.kind == "lookups" and entry.definition == "(":
        el = Element(kind="lookup", expr=None, **common)
        if entry.subs:
            return Parsed(el, entry.subs, entry.excepts, (), tables=tables)
        reader.lookups.append(tables[0])
        return Parsed(el, (), (), (), table=tables[0])
    if ref.kind == "data" and entry.definition == ":=":
        table = dataclasses.replace(tables[0], key=f"_data_{common['key']}")
        el = Element(kind="auxiliary", expr=LookupCall(table.key, Ref("time")), **common)
        if entry.subs:
            return Parsed(el, entry.subs, entry.excepts, (), tables=tables)
        reader.lookups.append(table)
        return Parsed(el, (), (), ())
    raise ModelError(
        f"{path}: '{name}' uses GET ... {ref.kind.upper()} where it cannot: CONSTANTS after "
        "'=', LOOKUPS in a lookup definition name( ... ), DATA after ':='"
    )


def _common(path: str, entry: "Entry") -> dict:
    units, limits = _units_and_limits(path, entry.name, entry.units)
    return {
        "name": entry.name,
        "key": vensim_key(entry.name),
        "py_name": python_name(entry.name),
        "units": units,
        "limits": limits,
        "doc": _one_line(entry.doc),
    }


def _subscripted(parsed: list) -> bool:
    """Whether any equation subscripts a reference or calls an array function (to expand)."""
    exprs = [e for p in parsed for e in (p.element.expr, p.element.init)]
    exprs += [e for p in parsed for s in p.statefuls for e in (s.input, s.time, s.init, s.order)]
    array_functions = {*REDUCTIONS, "elmcount", *VECTOR_FUNCTIONS}
    return any(
        (isinstance(n, Ref | LookupCall) and n.subs)
        or (isinstance(n, Call) and n.fn in array_functions)
        for n in walk(*exprs)
    )


def _parsed(reader: EquationReader, text: str, entry: "Entry", ranges=NO_RANGES) -> Parsed:
    """Parse one equation, keeping what expanding its subscripts needs."""
    first_stateful, first_lookup = len(reader.statefuls), len(reader.lookups)
    ref = external.parse_call(reader.path, entry.name, entry.rhs)
    if ref is not None:
        return _external(reader, entry, ref, ranges)
    if entry.definition == ":=":
        raise UnsupportedFunctionError(
            f"{reader.path}: '{entry.name}' is a data variable without GET XLS DATA or GET "
            "DIRECT DATA (its data would come from a .vdf); give it as GET DIRECT DATA of a "
            ".csv or as a lookup of Time"
        )
    values = _constant_array(entry.rhs) if entry.subs and entry.definition != "(" else None
    if values is not None:
        el = Element(kind="constant", expr=Num(values[0][0]), **_common(reader.path, entry))
    else:
        el = _element(reader, text, entry)
    table = None
    if el.kind == "lookup":
        table = reader.lookups[first_lookup]
    return Parsed(
        element=el,
        subs=entry.subs,
        excepts=entry.excepts,
        statefuls=tuple(reader.statefuls[first_stateful:]),
        values=values,
        table=table,
    )


_ARRAY = re.compile(
    r"[\s\\]*(?:TABBED[\s\\]*ARRAY[\s\\]*\((?P<tabbed>[^)]*)\)[\s\\]*|(?P<plain>.*))",
    re.IGNORECASE | re.DOTALL,
)
_ARRAY_NUMBER = r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"


def _constant_array(rhs: str):
    """Return the rows of a constant array (``1, 2; 3, 4`` or TABBED ARRAY), or None."""
    found = _ARRAY.fullmatch(rhs)
    if found.group("tabbed") is not None:
        lines = [ln.split() for ln in found.group("tabbed").strip().splitlines() if ln.strip()]
        cell = re.compile(_ARRAY_NUMBER)
        if not all(cell.fullmatch(v) for line in lines for v in line):
            return None
        rows = [[float(v) for v in line] for line in lines]
        return tuple(tuple(r) for r in rows) if rows else None
    body = re.sub(r"[\s\\]+", "", found.group("plain")).rstrip(";")
    if "," not in body and ";" not in body:
        return None
    cell = re.compile(_ARRAY_NUMBER)
    rows = [row.split(",") for row in body.split(";")]
    if not all(cell.fullmatch(v) for row in rows for v in row):
        return None
    return tuple(tuple(float(v) for v in row) for row in rows)


# --- the file: entries of ``equation ~ units ~ comment |`` ----------------------


@dataclasses.dataclass(frozen=True)
class Entry:
    """One ``name = expression ~ units ~ comment |`` of the file, not yet parsed."""

    name: str
    definition: str  # "=", "==", "(" (a lookup table), ":=" (data), ":" or "<->" (a range)
    rhs: str
    offset: int  # where ``rhs`` starts in the file
    units: str
    doc: str
    doc_offset: int  # where ``doc`` starts in the file
    subs: tuple = ()  # keys of the subscripts on the left-hand side
    excepts: tuple = ()  # the :EXCEPT: groups, each a tuple of keys


def split_entries(path: str, text: str) -> list[Entry]:
    """Split the model section of ``text`` into its equations, in file order."""
    header = re.match(r"\s*\{[^}]*\}", text)
    start = header.end() if header else 0
    # the sketch begins at \\\---/// (most Vensim versions) or \\---/// (some save two)
    sketch = re.search(r"\\{2,3}---///", text)
    end = sketch.start() if sketch else len(text)
    entries: list[Entry] = []
    seen: dict = {}
    pos = start
    while SPACE.match(text, pos).end() < end:
        at = SPACE.match(text, pos).end()
        parts, pos = _entry_parts(text, at, end)
        if parts is None:
            if not entries:
                raise ModelError(
                    f"{path}: not a readable Vensim model (no 'name = expression ~ units ~ "
                    "comment |' equations); check the file is a Vensim .mdl"
                )
            raise ModelError(
                f"{path}:{_line(text, at)}: Vensim syntax error: the text from here on is not "
                "an equation ending in '~ units ~ comment |'; complete or remove it"
            )
        if len(parts) == 2:
            if parts[0][0].lstrip().startswith("*"):
                continue  # a group header: ****** .Name ****** ~ comment |
            raise ModelError(
                f"{path}:{_line(text, at)}: Vensim syntax error: '{_one_line(parts[0][0])[:40]}' "
                "has units but no comment; end it with '~ comment |' (the comment may be empty)"
            )
        (eq, eq_at), (units, _), (doc, doc_at) = parts[:3]
        entry = _entry(path, text, eq, eq_at, _one_line(units), doc, doc_at)
        if entry is None:
            continue
        key = vensim_key(entry.name)
        if key in seen and not (entry.subs and seen[key].subs):
            raise ModelError(
                f"{path}:{_line(text, eq_at)}: '{entry.name}' is defined twice; "
                "give each equation its own name"
            )
        seen[key] = entry
        entries.append(entry)
    if not entries:
        raise ModelError(
            f"{path}: not a readable Vensim model (no equations); check the file is a Vensim .mdl"
        )
    return entries


def _entry_parts(text: str, pos: int, end: int):
    """Return the ``~``-separated parts of the entry at ``pos`` and where the next starts.

    The equation and units may quote names holding ``~`` or ``|``; the
    comment may not (PySD's section grammar). ``None`` when no ``|`` ends it.
    """
    parts = []
    while True:
        quoted = len(parts) != 2
        stop = pos
        while stop < end and text[stop] not in "~|":
            if quoted and text[stop] == '"':
                close = re.compile(r'"(?:\\"|[^"])*"').match(text, stop)
                stop = close.end() if close else stop + 1
            else:
                stop += 1
        if stop >= end:
            return None, end
        parts.append((text[pos:stop], pos))
        if text[stop] == "|":
            return (parts if len(parts) in (2, 3, 4) else None), stop + 1
        pos = stop + 1


def _entry(path, text, eq, eq_at, units, doc, doc_at) -> Entry | None:
    """Split an equation at its definition sign; ``None`` for what the engine ignores."""
    lead = SPACE.match(eq).end()
    found = NAME.match(eq, lead)
    if not found:
        raise ModelError(
            f"{path}:{_line(text, eq_at + lead)}: Vensim syntax error: an equation must start "
            f"with a variable name, not '{eq[lead : lead + 20].strip()}'; fix the equation"
        )
    name = re.sub(r"[\s\\]+", " ", found.group()).strip()
    rest = eq[found.end() :]
    rest_at = eq_at + found.end()
    sign = rest.lstrip()
    skipped = len(rest) - len(sign)
    for mark in (":THE CONDITION:", ":TEST INPUT:"):
        if sign.upper().startswith(mark):
            return None  # reality checks are not part of a run (as in PySD)
    subs, excepts = (), ()
    if sign.startswith("<->") or (
        sign.startswith(":") and not _KEYWORD.match(sign) and not sign.startswith(":=")
    ):
        mark = "<->" if sign.startswith("<->") else ":"
        return Entry(name, mark, sign[len(mark) :], rest_at, units, doc, doc_at)
    if sign.startswith("["):
        close = sign.find("]")
        if close < 0:
            raise ModelError(
                f"{path}:{_line(text, rest_at)}: the subscripts of '{name}' are not closed "
                "with ']'; close them"
            )
        subs = tuple(vensim_key(s) for s in sign[1:close].split(","))
        sign = sign[close + 1 :].lstrip()
        if sign.upper().startswith(":EXCEPT:"):
            sign = sign[len(":EXCEPT:") :]
            groups = []
            while (found := re.match(r"\s*,?\s*\[([^\]]*)\]", sign)) is not None:
                groups.append(tuple(vensim_key(s) for s in found.group(1).split(",")))
                sign = sign[found.end() :]
            excepts = tuple(groups)
            sign = sign.lstrip()
        skipped = len(rest) - len(sign)
    if sign.startswith(":=") or _KEYWORD.match(sign):
        keyword = _KEYWORD.match(sign)
        if keyword and keyword.group().upper().replace(" ", "") != ":INTERPOLATE:":
            raise UnsupportedFunctionError(
                f"{path}: data variable '{name}' asks for {keyword.group().strip()}; brainsim "
                "interpolates data (:INTERPOLATE:, the default) only"
            )
        sign = sign[keyword.end() :].lstrip() if keyword else sign
        if not sign.startswith(":="):
            raise ModelError(f"{path}:{_line(text, rest_at)}: expected ':=' after '{name}'")
        skip = len(rest) - len(sign) + 2
        return Entry(name, ":=", rest[skip:], rest_at + skip, units, doc, doc_at, subs, excepts)
    for definition in ("==", "=", "("):
        if sign.startswith(definition):
            skip = skipped + (0 if definition == "(" else len(definition))
            return Entry(
                name=name,
                definition=definition,
                rhs=rest[skip:],
                offset=rest_at + skip,
                units=units,
                doc=doc,
                doc_offset=doc_at,
                subs=subs,
                excepts=excepts,
            )
    raise ModelError(
        f"{path}:{_line(text, rest_at)}: Vensim syntax error in the equation of '{name}' "
        "(expected '=' after the name); fix the equation"
    )


_KEYWORD = re.compile(r":\s*[A-Za-z][\w\s]*:")  # :INTERPOLATE: and the like, on data


def _one_line(text: str) -> str:
    r"""Join a comment's continued lines (``\`` at a line end) and collapse blanks."""
    return re.sub(r"\s+", " ", re.sub(r"\\\n", " ", text)).strip()


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _units_and_limits(path: str, name: str, units: str) -> tuple:
    """Split ``people [0, 100, 1]`` into the units and the ``(min, max)`` range."""
    if not units.endswith("]") or "[" not in units:
        return units, (None, None)
    units, _, limits = units.rpartition("[")
    values = []
    for part in limits[:-1].split(",")[:2]:
        part = part.strip()
        try:
            values.append(None if part == "?" else float(part))
        except ValueError:
            raise ModelError(
                f"{path}: the range of '{name}' has '{part}', which is not a number; "
                "write it as [min, max] with numbers or ?"
            ) from None
    return units.strip(), (tuple(values) + (None, None))[:2]


# --- equations ----------------------------------------------------------------


def _element(reader: EquationReader, text: str, entry: Entry) -> Element:
    """Parse the equation of ``entry`` into an element of the spec."""
    reader.start(entry.name, entry.rhs)
    common = _common(reader.path, entry)
    key = common["key"]
    try:
        if entry.definition == "(":
            reader.lookups.append(reader.table(key))
            reader.end()
            return Element(kind="lookup", expr=None, **common)
        if key in CONTROL_KEYS:
            expr = reader.whole()
            return Element(kind="control", expr=expr, **common)
        stock = reader.stock()
        if stock is not None:
            flow, init = stock
            return Element(kind="stock", expr=flow, init=init, **common)
        expr = reader.whole()
    except ParseError as err:
        at = entry.offset + min(err.pos, len(reader.src))
        raise ModelError(
            f"{reader.path}:{_line(text, at)}: Vensim syntax error in the equation of "
            f"'{entry.name}' ({err.why}); fix the equation"
        ) from None
    except RecursionError:
        raise ModelError(
            f"{reader.path}:{_line(text, entry.offset)}: the equation of '{entry.name}' is "
            "too deeply nested to read; split it into named variables"
        ) from None
    if isinstance(expr, Call) and expr.fn == "active_initial":
        # the second argument at INITIAL TIME, the first during the run
        return Element(kind="auxiliary", expr=expr.args[0], init=expr.args[1], **common)
    if "active_initial" in _calls(expr):
        reader.unsupported(
            "ACTIVE INITIAL inside a larger expression (it must be the whole equation)"
        )
    kind = "constant" if isinstance(expr, Num) else "auxiliary"
    return Element(kind=kind, expr=expr, **common)


def _calls(expr) -> set:
    return {n.fn for n in walk(expr) if isinstance(n, Call)}


# --- writing constants back -----------------------------------------------------


def set_constants(path: str | Path, values: dict, note: str) -> str:
    """Return the text of ``path`` with new values for constants, and ``note`` in their comments.

    Only the number and the end of the comment change; the rest of the file
    is kept byte for byte. A comment's earlier note (from ``note``'s first
    word on) is replaced, not repeated.

    Parameters
    ----------
    values
        Constant name to its new value.
    note
        A sentence appended to each changed comment, e.g. which calibration
        fitted the value.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    entries = split_entries(str(path), cut_macros(str(path), text)[0])
    plain = {vensim_key(e.name): e for e in entries if not e.subs}
    edits, noted = [], set()
    marker = note.split()[0]
    for name, value in values.items():
        key = vensim_key(name)
        if "[" in key:
            entry, (start, end) = _array_cell(str(path), entries, key)
        else:
            entry = plain.get(key)
            if entry is None or entry.definition != "=" or not NUMBER.fullmatch(entry.rhs.strip()):
                raise ModelError(f"{path}: '{name}' is not a constant of the model; cannot set it")
            lead = len(entry.rhs) - len(entry.rhs.lstrip())
            start, end = lead, lead + len(entry.rhs.strip())
        edits.append((entry.offset + start, entry.offset + end, f"{value:.6g}"))
        if entry.doc_offset in noted:
            continue
        noted.add(entry.doc_offset)
        doc = entry.doc.rstrip()
        kept = doc.split(f" {marker} ")[0].rstrip() if f" {marker} " in doc else doc
        edits.append((entry.doc_offset, entry.doc_offset + len(doc), f"{kept.rstrip()} {note}"))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _array_cell(path: str, entries: list, key: str) -> tuple:
    """Return the entry defining array element ``key`` and where its number is in the rhs.

    Raises
    ------
    ModelError
        No equation gives the element its own number (it is computed, or one
        number stands for several elements).
    """
    base, _, inner = key.partition("[")
    elems = tuple(inner.rstrip("]").split(","))
    defs = [(e.name, e.definition, e.rhs) for e in entries if e.definition in (":", "<->")]
    ranges = read_ranges(path, defs)
    for entry in entries:
        if vensim_key(entry.name) != base or not entry.subs or entry.definition != "=":
            continue
        defined = [
            el for _, el in lhs_elements(path, ranges, entry.name, entry.subs, entry.excepts)
        ]
        if elems not in defined:
            continue
        cells = list(re.finditer(_ARRAY_NUMBER, entry.rhs))
        if _constant_array(entry.rhs) is not None and len(cells) == len(defined):
            cell = cells[defined.index(elems)]
            return entry, cell.span()
        if len(defined) == 1 and NUMBER.fullmatch(entry.rhs.strip()):
            lead = len(entry.rhs) - len(entry.rhs.lstrip())
            return entry, (lead, lead + len(entry.rhs.strip()))
        break
    raise ModelError(
        f"{path}: '{key}' is not a constant of the model with a number of its own; "
        "cannot set it (give the element its own equation or a constant array)"
    )


# --- structure ----------------------------------------------------------------


def mark_flows(elements: list) -> list:
    """Mark as flows the auxiliaries a stock's rate adds or subtracts directly."""
    flows: set = set()
    for el in elements:
        if el.kind != "stock":
            continue
        stack = [el.expr]
        while stack:
            node = stack.pop()
            if isinstance(node, Ref):
                flows.add(node.key)
            elif isinstance(node, Op) and node.op in ("+", "-", "neg"):
                stack.extend(node.args)
    return [
        dataclasses.replace(el, kind="flow") if el.kind == "auxiliary" and el.key in flows else el
        for el in elements
    ]


def check_names(path: str, elements: list, statefuls: list, lookups: list) -> None:
    """Every reference must name an element, a hidden state, ``time`` or a control."""
    known = {el.key for el in elements} | {s.key for s in statefuls}
    known |= {"time", *CONTROL_KEYS}
    tables = {lk.key for lk in lookups}
    names = [el.name for el in elements]
    seen_py: dict = {}
    for el in elements:
        if el.py_name in seen_py:
            raise ModelError(
                f"{path}: '{el.name}' and '{seen_py[el.py_name]}' have the same Python "
                f"name '{el.py_name}'; rename one of them"
            )
        seen_py[el.py_name] = el.name
    exprs = [(el.name, e) for el in elements for e in (el.expr, el.init) if e is not None]
    exprs += [(s.owner, e) for s in statefuls for e in (s.input, s.time, s.init, s.order)]
    for owner, expr in exprs:
        for key in sorted(references(expr)):
            if key not in known:
                raise ModelError(
                    f"{path}: '{owner}' refers to '{key.replace('_', ' ')}', which the model "
                    f"does not define; {suggestion(key.replace('_', ' '), names)}"
                )
            if key in tables:
                raise ModelError(
                    f"{path}: '{owner}' uses lookup '{key.replace('_', ' ')}' as a value; "
                    "call it with an argument, e.g. name(Time)"
                )
    controls = {el.key for el in elements if el.kind == "control"}
    missing = [k for k in CONTROL_KEYS if k not in controls]
    if missing:
        lacking = ", ".join(m.upper().replace("_", " ") for m in missing)
        raise ModelError(f"{path}: the control section lacks {lacking}; add it to the .mdl")
