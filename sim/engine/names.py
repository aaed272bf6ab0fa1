"""Names: Vensim's case- and space-insensitive names, and Python identifiers.

One function derives each kind of name, and the model spec stores both, so
that a variable can be asked for by either (``"Stock A"`` or ``stock_a``).
"""

import difflib
import keyword
import re
from functools import lru_cache


# a pure function of the text, asked again for every constant of every scenario and chunk
@lru_cache(maxsize=65536)
def vensim_key(name: str) -> str:
    """Return the canonical key of a Vensim name.

    Vensim treats names as case-insensitive and spaces and underscores as
    the same character; PySD's abstract model writes references as lower
    case with underscores. The key collapses runs of either.
    """
    if "[" in name:  # an element of a subscripted variable: stock[north,young]
        base, _, subs = name.partition("[")
        parts = subs.rstrip().rstrip("]").split(",")
        return f"{vensim_key(base)}[{','.join(vensim_key(p) for p in parts)}]"
    # a backslash that wraps a long name onto the next line is not part of it
    name = re.sub(r"\\(?=\s)", " ", name).strip().strip('"').strip()
    return re.sub(r"[\s_]+", "_", name.lower())


@lru_cache(maxsize=65536)
def python_name(name: str) -> str:
    """Return a snake_case Python identifier for a Vensim name."""
    ident = re.sub(r"[^0-9a-zA-Z_]+", "_", vensim_key(name)).strip("_")
    ident = re.sub(r"_+", "_", ident) or "var"
    if ident[0].isdigit():
        ident = "v_" + ident
    if keyword.iskeyword(ident) or ident in {"time", "run", "scenario"}:
        ident += "_"
    return ident


def closest(word: str, candidates: list[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates closest to ``word`` (for "did you mean")."""
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


def suggestion(word: str, candidates: list[str]) -> str:
    """Return a "did you mean" clause, or a pointer to where names are listed."""
    hits = closest(word, candidates)
    if hits:
        return "did you mean " + " or ".join(repr(h) for h in hits) + "?"
    return "see the variable names in the .mdl file"
