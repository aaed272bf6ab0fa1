"""Parse the operators and operands of a Vensim equation into an expression tree.

The precedence levels follow PySD's ``components.peg``, loosest first:
:AND:/:OR:, :NOT:, comparison, sum, product, power, sign, then operands
(numbers, names, parentheses). Function calls and WITH LOOKUP are left to
:class:`~sim.engine.calls.EquationReader`, which builds on this grammar.
"""

import abc
import re

from sim.engine.cursor import NAME, NUMBER, Cursor, ParseError
from sim.engine.errors import UnsupportedFunctionError
from sim.engine.names import vensim_key
from sim.engine.spec import Num, Op, Ref

_LOGIC = re.compile(r":(AND|OR):", re.IGNORECASE)
_NOT = re.compile(r":NOT:", re.IGNORECASE)
_NA = re.compile(r":NA:", re.IGNORECASE)
# Vensim's :NA: is a number, -2^109, not a NaN: a model may test for it (x = :NA:)
VENSIM_NA = -(2.0**109)
_COMPARE = re.compile(r"=|<>|<=|<|>=|>")
_WITH_LOOKUP = re.compile(r"WITH\s+LOOKUP\s*\(", re.IGNORECASE)

MAX_NESTING = 60  # parentheses and calls inside one another; real models use a handful


class ExpressionParser(Cursor, abc.ABC):
    """The operator grammar of Vensim equations, one method per precedence level.

    Attributes
    ----------
    path
        The model file, for messages.
    owner
        Name of the variable whose equation is being read, for messages.
    """

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.owner = ""
        self.depth = 0

    def start(self, owner: str, src: str) -> None:
        """Begin reading ``src``, the equation of ``owner``."""
        self.owner = owner
        self.src = src
        self.pos = 0
        self.depth = 0

    def whole(self):
        """Parse the rest of the equation as one expression."""
        expr = self.logic()
        self.end()
        return expr

    def unsupported(self, what: str):
        """Raise the error for a Vensim feature brainsim does not run.

        Raises
        ------
        UnsupportedFunctionError
            Always; ``what`` names the feature.
        """
        raise UnsupportedFunctionError(
            f"{self.path}: '{self.owner}' uses {what}, which brainsim does not support; "
            "rewrite it with the functions listed in the README (The engine)"
        )

    # the grammar leaves calls and tables to a subclass: an abstract method
    # makes a parser without them fail when it is made, not mid-equation

    @abc.abstractmethod
    def call(self, fn: str, subs: tuple = ()):
        """Parse a call to ``fn`` (a lookup may be subscripted) after its ``(``."""

    @abc.abstractmethod
    def with_lookup(self):
        """Parse ``input, table)`` after ``WITH LOOKUP(``; a subclass gives the tables."""

    # -- precedence levels, loosest first

    def logic(self):
        """Parse operands joined by :AND: and :OR:; refuse nesting deeper than MAX_NESTING."""
        # every parenthesis and call argument comes back here: count the depth
        # so that a deep expression is an error naming it, not a RecursionError
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise ParseError(
                    self.pos,
                    f"the expression is nested more than {MAX_NESTING} levels deep; "
                    "split it into named variables",
                )
            return self._logic()
        finally:
            self.depth -= 1

    def _logic(self):
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
        """Parse a comparison, maybe after :NOT:."""
        if self.take(_NOT):
            return Op("not", (self.comparison(),))
        return self.comparison()

    def comparison(self):
        """Parse a sum, maybe compared with another."""
        left = self.additive()
        found = self.take(_COMPARE)
        return Op(found.group(), (left, self.additive())) if found else left

    def additive(self):
        """Parse products joined by ``+`` and ``-``."""
        result = self.product()
        while self.at("+-"):
            op = self.src[self.pos]
            self.pos += 1
            result = Op(op, (result, self.product()))
        return result

    def product(self):
        """Parse powers joined by ``*`` and ``/``."""
        result = self.power()
        while self.at("*/"):
            op = self.src[self.pos]
            self.pos += 1
            result = Op(op, (result, self.power()))
        return result

    def power(self):
        """Parse signed operands joined by ``^``."""
        # Built from the right; a leading minus applies to the power it starts,
        # so -a ^ 2 is -(a ^ 2) and -2 ^ 2 is -4, as Vensim computes it (PySD's
        # split_arithmetic folds the sign into the number and gives 4).
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
        """Parse an operand with an optional sign; return ``(negated, operand)``."""
        sign = ""
        if self.at("+-"):
            sign = self.src[self.pos]
            self.pos += 1
        node = self.primary()
        if sign == "-" and isinstance(node, Num) and not self.at("^"):
            return False, Num(-node.value)
        return sign == "-", node

    def primary(self):
        """Parse an operand: a number, a name, a call or a parenthesised expression."""
        start = self.skip()
        if start >= len(self.src):
            raise ParseError(start, "an operand is missing at the end of the equation")
        if self.take(_WITH_LOOKUP):
            return self.with_lookup()
        if self.src[start] == "(":
            self.pos += 1
            inner = self.logic()
            self.expect(")")
            return inner
        if found := self.take(NUMBER):
            return Num(float(re.sub(r"[\s\\]", "", found.group())))
        if self.take(_NA):
            return Num(VENSIM_NA)
        found = self.take(NAME)
        if not found:
            raise ParseError(start, f"unexpected '{self.src[start]}' where a value should be")
        name = found.group()
        subs = self.subscripts() if self.at("[") else ()
        if self.at("("):
            self.pos += 1
            return self.call(vensim_key(name), subs)
        return Ref(vensim_key(name), subs)

    def subscripts(self) -> tuple:
        """Parse ``[a, b!, c1]`` after a name into subscript keys (``!`` kept)."""
        self.expect("[")
        subs = []
        while True:
            found = self.take(NAME)
            if not found:
                raise ParseError(self.pos, f"expected a subscript {self.where()}")
            bang = "!" if self.at("!") else ""
            self.pos += len(bang)
            subs.append(vensim_key(found.group()) + bang)
            if self.at(","):
                self.pos += 1
                continue
            self.expect("]")
            return tuple(subs)
