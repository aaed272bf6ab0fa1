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
"""

import dataclasses
import hashlib
import math
import re
from pathlib import Path

from sim.engine.errors import ModelError, UnsupportedFunctionError
from sim.engine.names import python_name, suggestion, vensim_key
from sim.engine.spec import (
    CONTROL_KEYS,
    FUNCTIONS,
    Call,
    Element,
    Lookup,
    LookupCall,
    ModelSpec,
    Num,
    Op,
    Ref,
    Stateful,
    references,
)

# name → (kind, spelling in messages, number of arguments, fixed order or None).
# The fixed-order forms take their initial value from the input unless an
# ``I`` form gives it (PySD's vensim_structures.py).
STATEFULS = {
    "smooth": ("smooth", "SMOOTH", 2, 1),
    "smoothi": ("smooth", "SMOOTH", 3, 1),
    "smooth3": ("smooth", "SMOOTH", 2, 3),
    "smooth3i": ("smooth", "SMOOTH", 3, 3),
    "smooth_n": ("smooth", "SMOOTH N", 4, None),
    "delay1": ("delay", "DELAY", 2, 1),
    "delay1i": ("delay", "DELAY", 3, 1),
    "delay3": ("delay", "DELAY", 2, 3),
    "delay3i": ("delay", "DELAY", 3, 3),
    "delay_n": ("delay_n", "DELAY N", 4, None),
    "trend": ("trend", "TREND", 3, 1),
    "initial": ("initial", "INITIAL", 1, 1),
}

_SPACE = re.compile(r"[\s\\]*")  # Vensim continues lines with a backslash
_NUMBER = re.compile(r"[+-]?[\s\\]*(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
_NAME = re.compile(r"\"(?:\\\"|[^\"])*\"|\w[\w'$\s]*")
_LOGIC = re.compile(r":(AND|OR):", re.IGNORECASE)
_NOT = re.compile(r":NOT:", re.IGNORECASE)
_NA = re.compile(r":NA:", re.IGNORECASE)
_COMPARE = re.compile(r"=|<>|<=|<|>=|>")
_WITH_LOOKUP = re.compile(r"WITH\s+LOOKUP\s*\(", re.IGNORECASE)
_INTEG = re.compile(r"[\s\\]*INTEG[\s\\]*\(", re.IGNORECASE)


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
        :data:`STATEFULS`.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file; give the path of a Vensim .mdl file")
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    entries = split_entries(str(path), text)
    reader = _Reader(str(path), text, {vensim_key(e.name) for e in entries})
    elements = [reader.element(entry) for entry in entries]
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
    sketch = text.find("\\\\\\---///")
    end = sketch if sketch >= 0 else len(text)
    if re.search(r":MACRO:", text[start:end], re.IGNORECASE):
        raise ModelError(f"{path}: macros are not supported; inline the macro's equations")
    entries: list[Entry] = []
    seen: dict = {}
    pos = start
    while _SPACE.match(text, pos).end() < end:
        at = _SPACE.match(text, pos).end()
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
    lead = _SPACE.match(eq).end()
    found = _NAME.match(eq, lead)
    if not found:
        raise ModelError(
            f"{path}:{_line(text, eq_at + lead)}: Vensim syntax error: an equation must start "
            f"with a variable name, not '{eq[lead : lead + 20].strip()}'; fix the equation"
        )
    name = re.sub(r"\s+", " ", found.group()).strip()
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


class _Syntax(Exception):
    """A parse failure at ``pos`` in the equation text; becomes a ModelError."""

    def __init__(self, pos: int, why: str):
        super().__init__(why)
        self.pos = pos
        self.why = why


class _Reader:
    """Parses each equation into the expression tree, hoisting statefuls."""

    def __init__(self, path: str, text: str, defined: set):
        self.path = path
        self.text = text
        self.defined = defined
        self.statefuls: list[Stateful] = []
        self.lookups: list[Lookup] = []
        self.owner = ""
        self.src = ""
        self.pos = 0

    def element(self, entry: Entry) -> Element:
        self.owner = entry.name
        self.src = entry.rhs
        self.pos = 0
        key = vensim_key(entry.name)
        units, limits = _units_and_limits(self.path, entry.name, entry.units)
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
                self.lookups.append(self.table(key))
                self.end()
                return Element(kind="lookup", expr=None, **common)
            if key in CONTROL_KEYS:
                expr = self.whole()
                return Element(kind="control", expr=expr, **common)
            if _INTEG.match(self.src):
                self.pos = _INTEG.match(self.src).end()
                flow, init = self.arguments("INTEG", 2)
                if self.skip() < len(self.src):
                    self.unsupported(
                        "INTEG inside a larger expression (INTEG must be the whole equation)"
                    )
                return Element(kind="stock", expr=flow, init=init, **common)
            expr = self.whole()
        except _Syntax as err:
            at = entry.offset + min(err.pos, len(self.src))
            raise ModelError(
                f"{self.path}:{_line(self.text, at)}: Vensim syntax error in the equation of "
                f"'{entry.name}' ({err.why}); fix the equation"
            ) from None
        kind = "constant" if isinstance(expr, Num) else "auxiliary"
        return Element(kind=kind, expr=expr, **common)

    # -- scanning

    def skip(self) -> int:
        self.pos = _SPACE.match(self.src, self.pos).end()
        return self.pos

    def take(self, pattern: re.Pattern):
        """Consume ``pattern`` after blanks and return its match, or ``None``."""
        found = pattern.match(self.src, self.skip())
        if found:
            self.pos = found.end()
        return found

    def at(self, chars: str) -> bool:
        """Whether the next non-blank character is one of ``chars``."""
        return self.skip() < len(self.src) and self.src[self.pos] in chars

    def expect(self, char: str) -> None:
        if not self.at(char):
            raise _Syntax(self.pos, f"expected '{char}' {self.where()}")
        self.pos += 1

    def where(self) -> str:
        rest = self.src[self.pos :].strip()
        return f"before '{rest[:20]}'" if rest else "at the end of the equation"

    def end(self) -> None:
        if self.skip() < len(self.src):
            raise _Syntax(self.pos, f"unexpected text {self.where()}")

    def whole(self):
        expr = self.logic()
        self.end()
        return expr

    def unsupported(self, what: str):
        raise UnsupportedFunctionError(
            f"{self.path}: '{self.owner}' uses {what}, which brainsim does not support; "
            "rewrite it with the functions listed in DESIGN.md §3"
        )

    # -- precedence levels, loosest first (PySD's components.peg)

    def logic(self):
        # :AND: and :OR: share a level; PySD nests the chain from the right
        args, ops = [self.negation()], []
        while found := self.take(_LOGIC):
            ops.append(found.group(1).lower())
            args.append(self.negation())
        result = args[-1]
        for op, arg in zip(reversed(ops), reversed(args[:-1]), strict=True):
            result = Op(op, (arg, result))
        return result

    def negation(self):
        if self.take(_NOT):
            return Op("not", (self.comparison(),))
        return self.comparison()

    def comparison(self):
        left = self.additive()
        found = self.take(_COMPARE)
        return Op(found.group(), (left, self.additive())) if found else left

    def additive(self):
        result = self.product()
        while self.at("+-"):
            op = self.src[self.pos]
            self.pos += 1
            result = Op(op, (result, self.product()))
        return result

    def product(self):
        result = self.power()
        while self.at("*/"):
            op = self.src[self.pos]
            self.pos += 1
            result = Op(op, (result, self.power()))
        return result

    def power(self):
        # Built from the right; a leading minus applies to the power it starts,
        # so -a ^ 2 is -(a ^ 2), while a minus on a number is part of the
        # number: -2 ^ 2 is 4 (PySD's split_arithmetic).
        terms = [self.signed()]
        while self.at("^"):
            self.pos += 1
            terms.append(self.signed())
        negative, result = terms[-1]
        result = Op("neg", (result,)) if negative else result
        for negative, base in reversed(terms[:-1]):
            result = Op("^", (base, result))
            if negative:
                result = Op("neg", (result,))
        return result

    def signed(self) -> tuple:
        sign = ""
        if self.at("+-"):
            sign = self.src[self.pos]
            self.pos += 1
        node = self.primary()
        if sign == "-" and isinstance(node, Num):
            return False, Num(-node.value)
        return sign == "-", node

    def primary(self):
        start = self.skip()
        if start >= len(self.src):
            raise _Syntax(start, "an operand is missing at the end of the equation")
        if self.take(_WITH_LOOKUP):
            arg = self.logic()
            self.expect(",")
            table = self.table(f"_lookup_{len(self.lookups) + 1}")
            self.expect(")")
            self.lookups.append(table)
            return LookupCall(table.key, arg)
        if self.src[start] == "(":
            self.pos += 1
            inner = self.logic()
            self.expect(")")
            return inner
        if found := self.take(_NUMBER):
            return Num(float(re.sub(r"[\s\\]", "", found.group())))
        if self.take(_NA):
            return Num(math.nan)
        found = self.take(_NAME)
        if not found:
            raise _Syntax(start, f"unexpected '{self.src[start]}' where a value should be")
        name = found.group()
        if self.at("["):
            self.unsupported("subscripts")
        if self.at("("):
            self.pos += 1
            return self.call(vensim_key(name))
        return Ref(vensim_key(name))

    # -- calls

    def arguments(self, spelling: str, count) -> list:
        """Parse ``a, b, ...)`` after an opening parenthesis; check the count."""
        args = []
        if self.at(")"):
            self.pos += 1
        else:
            while True:
                if self.at("'"):
                    self.unsupported(f"the function {spelling} with a file argument")
                args.append(self.logic())
                if self.at(","):
                    self.pos += 1
                    continue
                self.expect(")")
                break
        counts = count if isinstance(count, tuple) else (count,)
        if count is not None and len(args) not in counts:
            raise ModelError(
                f"{self.path}: '{self.owner}' calls {spelling} with {len(args)} "
                f"arguments; it takes {' or '.join(map(str, counts))}"
            )
        return args

    def call(self, fn: str):
        spelling = fn.replace("_", " ").upper()
        if fn in self.defined:
            args = self.arguments(fn, None)
            if len(args) != 1:
                raise ModelError(
                    f"{self.path}: '{self.owner}' calls lookup '{fn}' with {len(args)} "
                    "arguments; a lookup takes one"
                )
            return LookupCall(fn, args[0])
        if fn in STATEFULS:
            return self.stateful(fn, spelling)
        if fn == "integ":
            self.unsupported("INTEG inside a larger expression (INTEG must be the whole equation)")
        if fn not in FUNCTIONS:
            self.unsupported(f"the function {spelling}")
        args = self.arguments(spelling, FUNCTIONS[fn])
        if fn == "pulse_train":
            # Vensim's (start, width, interval, end); the engine takes PySD's order
            start, width, interval, end = args
            args = [start, interval, width, end]
        return Call(fn, tuple(args))

    def stateful(self, fn: str, spelling: str):
        kind, function, count, order = STATEFULS[fn]
        args = self.arguments(spelling, count)
        inp = args[0]
        if kind == "initial":
            time, init = None, inp
        else:
            time = args[1]
            init = args[2] if count >= 3 else inp
        order = args[3] if order is None else Num(float(order))
        key = f"_{kind}_{len(self.statefuls) + 1}"
        self.statefuls.append(
            Stateful(
                key=key,
                kind=kind,
                owner=self.owner,
                function=function,
                input=inp,
                time=time,
                init=init,
                order=order,
            )
        )
        return Ref(key)

    # -- lookup tables

    def table(self, key: str) -> Lookup:
        """Parse ``([(x0,y0)-(x1,y1)], (x,y), ...)`` into a table."""
        self.expect("(")
        if self.at("["):
            close = self.src.find("]", self.pos)
            if close < 0:
                raise _Syntax(self.pos, "the range of the lookup is not closed with ']'")
            self.pos = close + 1
            if self.at(","):
                self.pos += 1
        if re.match(r"GET[ _](XLS|DIRECT)", self.src[self.skip() :], re.IGNORECASE):
            self.unsupported("GET XLS/DIRECT LOOKUPS")
        points = []
        while self.at("("):
            self.pos += 1
            x = self.number()
            self.expect(",")
            y = self.number()
            self.expect(")")
            points.append((x, y))
            if self.at(","):
                self.pos += 1
        self.expect(")")
        if not points:
            raise _Syntax(self.pos, "a lookup needs at least one (x, y) point")
        xs = tuple(p[0] for p in points)
        if any(b < a for a, b in zip(xs, xs[1:], strict=False)):
            raise ModelError(
                f"{self.path}: lookup in '{self.owner}' has x values that decrease; "
                "list the points in increasing x"
            )
        return Lookup(key=key, xs=xs, ys=tuple(p[1] for p in points))

    def number(self) -> float:
        found = self.take(_NUMBER)
        if not found:
            raise _Syntax(self.pos, f"expected a number {self.where()}")
        return float(re.sub(r"[\s\\]", "", found.group()))


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
        if entry is None or entry.definition == "(" or not _NUMBER.fullmatch(entry.rhs.strip()):
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
