"""Generate the model's documentation (the parameter table) from its spec.

DESIGN.md §2 and STYLE.md §6: every number lives in the ``.mdl``, with its
units, ``[min,max]`` range and source, and the README's table of them is
generated, never kept by hand. :func:`update_readme` rewrites only the text
between marker comments, so a test can check that the committed README is
up to date by comparing it with its own update.
"""

import re
from pathlib import Path

from sim.engine.spec import Element, ModelSpec, source_of

CONSTANTS_START = "<!-- constants:start -->"
CONSTANTS_END = "<!-- constants:end -->"
DIAGRAM_START = "<!-- diagram:start -->"
DIAGRAM_END = "<!-- diagram:end -->"
LOOPS_START = "<!-- loops:start -->"
LOOPS_END = "<!-- loops:end -->"
CAUSES_START = "<!-- dispatch-causes:start -->"
CAUSES_END = "<!-- dispatch-causes:end -->"
PRIORS_START = "<!-- priors:start -->"
PRIORS_END = "<!-- priors:end -->"

# The documentation conventions of the .mdl (STYLE.md §6): the source of a
# number starts at the first of these words.
_CALIBRATED_MARK = re.compile(r"\bcalibrated:", re.IGNORECASE)

_MISSING = "—"


def constants_table(spec: ModelSpec) -> str:
    """Return a markdown table of the model's constants and lookups.

    One row per constant and lookup, in file order: name, value (for a
    lookup: its number of points and x span), units, ``[min, max]`` range
    (``?`` where open), whether it is calibrated, and its source.

    Parameters
    ----------
    spec
        The model, from :func:`sim.read_mdl`.

    Returns
    -------
    str
        The table, one line per row, without a trailing newline.

    Notes
    -----
    The source is the element's documentation from the first ``source:``,
    ``assumption:`` or ``calibrated:`` on (``—`` if it has none); the text
    before it describes the variable, not where its number comes from. A
    parameter is marked calibrated when its documentation says
    ``calibrated:`` anywhere.
    """
    tables = {lookup.key: lookup for lookup in spec.lookups}
    lines = [
        "| Name | Value | Units | Range | Calibrated | Source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for el in spec.of_kind("constant", "lookup"):
        if el.kind == "lookup":
            table = tables[el.key]
            value = (
                f"lookup, {len(table.xs)} points, "
                f"x from {_number(table.xs[0])} to {_number(table.xs[-1])}"
            )
        else:
            value = _number(el.expr.value)
        cells = (
            el.name,
            value,
            el.units or _MISSING,
            _range(el.limits),
            "yes" if _CALIBRATED_MARK.search(el.doc) else "",
            _source(el),
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def priors_table(spec: ModelSpec) -> str:
    """Return a markdown table of the model's effect sizes and the evidence for each.

    Effect sizes not fitted to history show their prior and its grade
    (:mod:`sim.engine.priors`); those fitted to history say so, since the
    calibrated ensemble carries their uncertainty.
    """
    from sim.engine.priors import EFFECT_NAME, stated_priors

    lines = [
        "| effect size | value | prior | grade | evidence |",
        "| --- | --- | --- | --- | --- |",
    ]
    priors = stated_priors(spec)
    for el in spec.of_kind("constant"):
        if not EFFECT_NAME.search(el.name):
            continue
        prior = priors.get(el.name)
        if _CALIBRATED_MARK.search(el.doc):
            shown, grade = "fitted to history (the calibrated ensemble)", "fitted"
        else:
            shown, grade = (prior.describe(), prior.grade) if prior else (_MISSING, _MISSING)
        cells = (el.name, _number(el.expr.value), shown, grade, _source(el))
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def update_readme(
    readme_text: str, spec: ModelSpec, diagram_name: str, measured: dict | None = None
) -> str:
    """Return ``readme_text`` with its generated sections brought up to date.

    The text between ``<!-- constants:start -->`` and
    ``<!-- constants:end -->`` becomes :func:`constants_table`, and the text
    between ``<!-- diagram:start -->`` and ``<!-- diagram:end -->`` a
    markdown image link to ``diagram_name``. Everything else, the markers
    included, is kept as it is, so updating an up-to-date README returns it
    unchanged.

    Parameters
    ----------
    readme_text
        The current README.
    spec
        The model, from :func:`sim.read_mdl`.
    diagram_name
        The diagram image as the README should link it (a path relative to
        the README, e.g. ``figures/model_diagram.png``).
    measured
        Optional text measured from runs of the model, keyed by marker pair:
        ``(LOOPS_START, LOOPS_END)`` for the loop strengths and
        ``(CAUSES_START, CAUSES_END)`` for the causes of the dispatch decline
        (see :func:`structure_sections`).

    Raises
    ------
    ValueError
        A marker is missing, repeated, or an end marker comes before its
        start marker.
    """
    model_name = Path(spec.path).name
    image = f"![Stock-and-flow diagram of {model_name}]({diagram_name})"
    text = _replace_between(readme_text, CONSTANTS_START, CONSTANTS_END, constants_table(spec))
    if PRIORS_START in text:
        text = _replace_between(text, PRIORS_START, PRIORS_END, priors_table(spec))
    for (start, end), content in (measured or {}).items():
        text = _replace_between(text, start, end, content)
    return _replace_between(text, DIAGRAM_START, DIAGRAM_END, image)


def structure_sections(model_path: str | Path) -> dict:
    """Return the README text measured from runs of the model: loop strengths, dispatch causes.

    The loops are read from ``loops.csv`` beside the ``.mdl``; without that
    file there is nothing to measure and the result is empty.
    """
    from sim.engine import load_model
    from sim.reports import structure

    loops_path = Path(model_path).with_name("loops.csv")
    if not loops_path.is_file():
        return {}
    model = load_model(model_path)
    loops = structure.loop_strengths(model, structure.read_loops(loops_path))
    causes = structure.dispatch_decomposition(model)
    return {
        (LOOPS_START, LOOPS_END): structure.loops_table(loops),
        (CAUSES_START, CAUSES_END): structure.decomposition_table(causes),
    }


def _replace_between(text: str, start: str, end: str, content: str) -> str:
    """Put ``content`` on its own lines between the ``start`` and ``end`` markers."""
    for marker in (start, end):
        count = text.count(marker)
        if count != 1:
            found = "is missing" if count == 0 else f"appears {count} times"
            raise ValueError(
                f"README marker '{marker}' {found}; the README needs exactly one "
                f"'{start}' followed by one '{end}' where the generated text goes"
            )
    head, rest = text.split(start)
    if end not in rest:
        raise ValueError(
            f"README marker '{end}' comes before '{start}'; put the start marker first"
        )
    _, tail = rest.split(end)
    return f"{head}{start}\n{content}\n{end}{tail}"


def _source(el: Element) -> str:
    """Return the documentation from the first source mark on, or a dash."""
    return source_of(el.doc) or _MISSING


def _range(limits: tuple) -> str:
    """Write a ``(min, max)`` pair as Vensim does: ``[0, ?]``; a dash if both are open."""
    low, high = limits
    if low is None and high is None:
        return _MISSING
    return "[" + ", ".join("?" if v is None else _number(v) for v in (low, high)) + "]"


def _number(value: float) -> str:
    """Write a number exactly and briefly: ``2026``, ``0.0204``, ``1e-06``."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    # repr is the shortest text that reads back as the same float.
    return repr(value)


def _cell(text: str) -> str:
    """Make ``text`` safe inside one markdown table cell."""
    text = re.sub(r"\s+", " ", text).strip()
    return text.replace("\\", "\\\\").replace("|", "\\|")


def document(model: str | Path, readme: str | Path, diagram: str | Path, check: bool = False):
    """Regenerate the model README's tables and the diagram from the ``.mdl``.

    With ``check``, change nothing and raise if the README or the diagram is
    out of date. The README is rewritten only between its markers.
    """
    from sim.engine.errors import BrainsimError
    from sim.engine.files import atomic_path
    from sim.engine.vensim import read_mdl
    from sim.reports.diagram import save_diagram

    spec = read_mdl(model)
    readme, diagram = Path(readme), Path(diagram)
    if not readme.is_file():
        raise BrainsimError(f"{readme}: no such file; write the README with its markers first")
    try:
        current = readme.read_text(encoding="utf-8")
        measured = structure_sections(model)
        updated = update_readme(current, spec, diagram.with_suffix(".png").name, measured)
    except ValueError as err:
        raise BrainsimError(f"{readme}: {err}") from None
    if check:
        if updated != current or not diagram.with_suffix(".png").is_file():
            raise BrainsimError(f"{readme} is out of date with {model}; run brainsim document")
        return
    save_diagram(spec, diagram)
    with atomic_path(readme) as tmp:
        tmp.write_text(updated, encoding="utf-8")
