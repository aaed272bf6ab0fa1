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

from sim.engine.calls import EquationReader
from sim.engine.cursor import NAME, NUMBER, SPACE, ParseError
from sim.engine.errors import ModelError, UnsupportedFunctionError
from sim.engine.names import python_name, suggestion, vensim_key
from sim.engine.spec import (
    CONTROL_KEYS,
    Element,
    ModelSpec,
    Num,
    Op,
    Ref,
    references,
)


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
    text = raw.decode("utf-8", errors="replace")
    entries = split_entries(str(path), text)
    reader = EquationReader(str(path), {vensim_key(e.name) for e in entries})
    elements = [_element(reader, text, entry) for entry in entries]
    elements = mark_flows(elements)
    check_names(str(path), elements, reader.statefuls, reader.lookups)
    return ModelSpec(
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
        elements=tuple(elements),
        statefuls=tuple(reader.statefuls),
        lookups=tuple(reader.lookups),
    )


# --- the file: entries of ``equation ~ units ~ comment |`` ----------------------


@dataclasses.dataclass(frozen=True)
class Entry:
    """One ``name = expression ~ units ~ comment |`` of the file, not yet parsed."""

    name: str
    definition: str  # "=", "==" or "(" (a lookup table)
    rhs: str
    offset: int  # where ``rhs`` starts in the file
    units: str
    doc: str
    doc_offset: int  # where ``doc`` starts in the file


def split_entries(path: str, text: str) -> list[Entry]:
    """Split the model section of ``text`` into its equations, in file order."""
    header = re.match(r"\s*\{[^}]*\}", text)
    start = header.end() if header else 0
    # the sketch begins at \\\---/// (most Vensim versions) or \\---/// (some save two)
    sketch = re.search(r"\\{2,3}---///", text)
    end = sketch.start() if sketch else len(text)
    if re.search(r":MACRO:", text[start:end], re.IGNORECASE):
        raise ModelError(f"{path}: macros are not supported; inline the macro's equations")
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
        if key in seen:
            raise ModelError(
                f"{path}:{_line(text, eq_at)}: '{entry.name}' is defined twice; "
                "subscripted models are not supported, give each equation its own name"
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
    if sign.startswith(("[", "<->")):
        raise ModelError(
            f"{path}:{_line(text, rest_at)}: '{name}' is subscripted; "
            "subscripted models are not supported, write one variable per element"
        )
    if sign.startswith(":=") or re.match(r":\s*\w[\w\s]*:", sign):
        raise UnsupportedFunctionError(
            f"{path}: '{name}' is a data variable, which brainsim does not support; "
            "give it as a lookup of Time instead"
        )
    if sign.startswith(":"):
        raise ModelError(
            f"{path}: subscript range '{name}' found; "
            "subscripted models are not supported, write one variable per element"
        )
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
            )
    raise ModelError(
        f"{path}:{_line(text, rest_at)}: Vensim syntax error in the equation of '{name}' "
        "(expected '=' after the name); fix the equation"
    )


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
    key = vensim_key(entry.name)
    units, limits = _units_and_limits(reader.path, entry.name, entry.units)
    common = {
        "name": entry.name,
        "key": key,
        "py_name": python_name(entry.name),
        "units": units,
        "limits": limits,
        "doc": _one_line(entry.doc),
    }
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
    kind = "constant" if isinstance(expr, Num) else "auxiliary"
    return Element(kind=kind, expr=expr, **common)


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
    entries = {vensim_key(e.name): e for e in split_entries(str(path), text)}
    edits = []
    marker = note.split()[0]
    for name, value in values.items():
        entry = entries.get(vensim_key(name))
        if entry is None or entry.definition == "(" or not NUMBER.fullmatch(entry.rhs.strip()):
            raise ModelError(f"{path}: '{name}' is not a constant of the model; cannot set it")
        lead = len(entry.rhs) - len(entry.rhs.lstrip())
        start = entry.offset + lead
        edits.append((start, start + len(entry.rhs.strip()), f"{value:.6g}"))
        doc = entry.doc.rstrip()
        kept = doc.split(f" {marker} ")[0].rstrip() if f" {marker} " in doc else doc
        edits.append((entry.doc_offset, entry.doc_offset + len(doc), f"{kept.rstrip()} {note}"))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


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
