"""Scan the text of a Vensim equation: the tokens and a cursor over one equation.

The patterns of blanks, numbers and names serve both the splitting of a
file into equations (:mod:`sim.engine.vensim`) and the parsing of each
equation (:mod:`sim.engine.expressions`).
"""

import re

SPACE = re.compile(r"[\s\\]*")  # Vensim continues lines with a backslash
NUMBER = re.compile(r"[+-]?[\s\\]*(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
# a name may wrap with a backslash at the end of a line, as Vensim saves long names
NAME = re.compile(r"\"(?:\\\"|[^\"])*\"|\w(?:[\w'$\s]|\\(?=\s))*")


class ParseError(Exception):
    """A parse failure at ``pos`` in the equation text; becomes a ModelError."""

    def __init__(self, pos: int, why: str):
        super().__init__(why)
        self.pos = pos
        self.why = why


class Cursor:
    """A position in the text of one equation, moved past what has been read.

    Attributes
    ----------
    src
        The text of the equation (the right-hand side).
    pos
        Offset in ``src`` of the next character to read.
    """

    def __init__(self):
        self.src = ""
        self.pos = 0

    def skip(self) -> int:
        """Move past blanks and return the new position."""
        self.pos = SPACE.match(self.src, self.pos).end()
        return self.pos

    def take(self, pattern: re.Pattern):
        """Consume ``pattern`` after blanks and return its match, or ``None``."""
        found = pattern.match(self.src, self.skip())
        if found:
            self.pos = found.end()
        return found

    def at(self, chars: str) -> bool:
        """Tell whether the next non-blank character is one of ``chars``."""
        return self.skip() < len(self.src) and self.src[self.pos] in chars

    def expect(self, char: str) -> None:
        """Consume ``char`` after blanks.

        Raises
        ------
        ParseError
            The next non-blank character is not ``char``.
        """
        if not self.at(char):
            raise ParseError(self.pos, f"expected '{char}' {self.where()}")
        self.pos += 1

    def where(self) -> str:
        """Describe the position for a message: the text that follows it."""
        rest = self.src[self.pos :].strip()
        return f"before '{rest[:20]}'" if rest else "at the end of the equation"

    def end(self) -> None:
        """Check that only blanks are left.

        Raises
        ------
        ParseError
            Text is left.
        """
        if self.skip() < len(self.src):
            raise ParseError(self.pos, f"unexpected text {self.where()}")
