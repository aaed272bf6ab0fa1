"""Vensim unit strings as dimensions: parse, combine and print them.

A unit string such as ``person/(Year*Year)`` becomes a :class:`Dims`, a frozen
mapping from base-unit name to a rational exponent (``{"person": 1, "Year":
-2}``). Any identifier is a base unit, so ``widget``, ``oku_yen`` and
``capital unit`` (Vensim allows spaces inside a unit name) need no
declaration. ``person``/``people``/``persons`` and ``Year``/``Years`` are
spelled differently across models and mean the same thing, so they are
folded together whatever their case; ``dmnl``, ``Dimensionless``, ``1`` and
the empty string are dimensionless.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction

from sim.engine.errors import BrainsimError


class UnitsError(BrainsimError):
    """A unit string that does not parse; the message says where and how to fix it."""


@dataclass(frozen=True, eq=False)
class Dims(Mapping):
    """Dimensions: base-unit name → non-zero rational exponent.

    Built from any mapping or iterable of ``(name, exponent)`` pairs; zero
    exponents are dropped and names sorted into ``exponents``, so equal
    dimensions hash equal. A :class:`Dims` equals any mapping with the same
    items (``Dims({"Year": -1}) == {"Year": -1}``); the empty one is
    dimensionless.
    """

    exponents: tuple = ()

    def __post_init__(self):
        pairs = self.exponents.items() if isinstance(self.exponents, Mapping) else self.exponents
        total: dict = {}
        for name, exponent in pairs:
            total[name] = total.get(name, Fraction(0)) + Fraction(exponent)
        canonical = tuple(sorted((n, e) for n, e in total.items() if e != 0))
        object.__setattr__(self, "exponents", canonical)

    def __getitem__(self, name: str) -> Fraction:
        for key, exponent in self.exponents:
            if key == name:
                return exponent
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.exponents)

    def __len__(self) -> int:
        return len(self.exponents)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return dict(self.exponents) == {n: Fraction(e) for n, e in other.items() if e != 0}

    def __hash__(self) -> int:
        return hash(self.exponents)

    def __str__(self) -> str:
        return format_units(self)


DIMENSIONLESS = Dims()

# Spellings folded into one base unit, compared lower-case.
_SYNONYMS = {
    "person": "person",
    "persons": "person",
    "people": "person",
    "year": "Year",
    "years": "Year",
}
_DIMENSIONLESS_WORDS = frozenset({"dmnl", "dimensionless", "1"})

# A token: a (possibly multi-word) identifier, an integer, or one operator.
# Identifiers may hold letters of any script, digits, `_` and `$`, and inner
# spaces ("capital unit"); they may not start with a digit.
_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<name>(?:[^\W\d]|\$)[\w$]*(?:[ \t]+(?:[^\W\d]|\$)[\w$]*)*)"
    r"|(?P<int>\d+)"
    r"|(?P<op>\*\*|[*/^()+-])"
    r")"
)


def parse_units(text: str) -> Dims:
    """Parse a Vensim unit string into dimensions.

    Parameters
    ----------
    text
        The units field without its ``[min,max]`` range, e.g. ``person/Year``,
        ``1/Year``, ``widget/(Year*Year)``, ``Year^-2``, ``dmnl`` or ``""``.

    Returns
    -------
    Dims
        The dimensions; :data:`DIMENSIONLESS` for ``dmnl``, ``1`` or ``""``.

    Raises
    ------
    UnitsError
        The string is not a product/quotient of unit names with integer
        powers (a stray character, an unbalanced parenthesis, ``**``, a
        number other than 1, a missing operand).
    """
    tokens = _tokenize(text)
    if not tokens:
        return DIMENSIONLESS
    dims, at = _product(tokens, 0, text)
    if at != len(tokens):
        raise UnitsError(
            f"units '{text}': unexpected '{tokens[at][1]}'; "
            "write names joined by * and /, e.g. person/Year"
        )
    return dims


def _tokenize(text: str) -> list:
    """Split a unit string into ``(kind, text)`` tokens."""
    tokens = []
    at = 0
    stripped = text.rstrip()
    while at < len(stripped):
        match = _TOKEN.match(stripped, at)
        if not match or match.end() == at:
            bad = stripped[at:].strip()[:1]
            raise UnitsError(
                f"units '{text}': unexpected character '{bad}'; "
                "use unit names, *, /, ^ and parentheses, e.g. person/Year"
            )
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        at = match.end()
    return tokens


def _product(tokens: list, at: int, text: str) -> tuple:
    """Parse ``factor (('*' | '/') factor)*`` from ``tokens[at]``."""
    dims, at = _factor(tokens, at, text)
    while at < len(tokens) and tokens[at][1] in ("*", "/"):
        op = tokens[at][1]
        right, at = _factor(tokens, at + 1, text)
        dims = multiply(dims, right) if op == "*" else divide(dims, right)
    return dims, at


def _factor(tokens: list, at: int, text: str) -> tuple:
    """Parse ``base ('^' integer)?``."""
    base, at = _base(tokens, at, text)
    if at < len(tokens) and tokens[at][1] in ("^", "**"):
        if tokens[at][1] == "**":
            raise UnitsError(f"units '{text}': '**' is not Vensim; write ^ for a power")
        exponent, at = _exponent(tokens, at + 1, text)
        base = power(base, exponent)
    return base, at


def _base(tokens: list, at: int, text: str) -> tuple:
    """Parse a unit name, ``1``, or a parenthesised product."""
    if at >= len(tokens):
        raise UnitsError(f"units '{text}': ends after an operator; complete or remove it")
    kind, value = tokens[at]
    if kind == "name":
        return _name_dims(value), at + 1
    if kind == "int":
        if value != "1":
            raise UnitsError(
                f"units '{text}': the number {value} is not a unit; "
                "name the unit instead (e.g. thousand person), only 1 is allowed as in 1/Year"
            )
        return DIMENSIONLESS, at + 1
    if value == "(":
        dims, at = _product(tokens, at + 1, text)
        if at >= len(tokens) or tokens[at][1] != ")":
            raise UnitsError(f"units '{text}': '(' is never closed; add ')'")
        return dims, at + 1
    raise UnitsError(f"units '{text}': unexpected '{value}'; a unit name, 1 or '(' must come here")


def _exponent(tokens: list, at: int, text: str) -> tuple:
    """Parse a signed integer exponent, optionally in parentheses."""
    parenthesised = at < len(tokens) and tokens[at][1] == "("
    at += parenthesised
    sign = 1
    if at < len(tokens) and tokens[at][1] in ("+", "-"):
        sign = -1 if tokens[at][1] == "-" else 1
        at += 1
    if at >= len(tokens) or tokens[at][0] != "int":
        raise UnitsError(f"units '{text}': ^ must be followed by an integer, e.g. Year^2")
    exponent = sign * int(tokens[at][1])
    at += 1
    if parenthesised:
        if at >= len(tokens) or tokens[at][1] != ")":
            raise UnitsError(f"units '{text}': '(' is never closed; add ')'")
        at += 1
    return exponent, at


def _name_dims(name: str) -> Dims:
    """Dimensions of one unit name, folding synonyms and dimensionless words."""
    name = re.sub(r"\s+", " ", name)
    lowered = name.lower()
    if lowered in _DIMENSIONLESS_WORDS:
        return DIMENSIONLESS
    return Dims({_SYNONYMS.get(lowered, name): 1})


def multiply(a: Mapping, b: Mapping) -> Dims:
    """Return the dimensions of a product: exponents add."""
    return Dims([*a.items(), *b.items()])


def divide(a: Mapping, b: Mapping) -> Dims:
    """Return the dimensions of a quotient: the divisor's exponents subtract."""
    return Dims([*a.items(), *((n, -e) for n, e in b.items())])


def power(a: Mapping, exponent: int | Fraction) -> Dims:
    """Return the dimensions of ``a`` raised to a (rational) power."""
    return Dims((n, e * Fraction(exponent)) for n, e in a.items())


def format_units(dims: Mapping) -> str:
    """Return a readable unit string, e.g. ``person/Year`` or ``1/Year^2``.

    Dimensionless is ``dmnl``; a denominator of several factors is
    parenthesised (``widget/(person*Year)``); fractional exponents are
    written ``Year^(1/2)``. The result parses back with :func:`parse_units`
    when every exponent is an integer.
    """
    if not dims:
        return "dmnl"
    order = sorted(dims.items(), key=lambda item: (item[0].lower(), item[0]))
    above = [(n, e) for n, e in order if e > 0]
    below = [(n, -e) for n, e in order if e < 0]
    top = "*".join(_factor_text(n, e) for n, e in above) or "1"
    if not below:
        return top
    bottom = "*".join(_factor_text(n, e) for n, e in below)
    if len(below) > 1:
        bottom = f"({bottom})"
    return f"{top}/{bottom}"


def _factor_text(name: str, exponent: Fraction) -> str:
    if exponent == 1:
        return name
    if exponent.denominator == 1:
        return f"{name}^{exponent.numerator}"
    return f"{name}^({exponent})"
