"""Evidence for the model's effect sizes: a prior distribution and a grade for each.

A policy lever acts on the model through effect sizes (elasticities,
strengths, uplifts, additionalities, offsets, credits). Those fitted to
history are carried by the calibrated ensemble; the others rest on evidence
from elsewhere or on judgement, and a reader must see which. Each such
constant states, in its ``.mdl`` comment::

    prior: normal(0.3, 0.15), grade C

``uniform(low, high)``, ``normal(mean, sd)`` or ``triangular(low, mode, high)``,
followed by a grade: A, a causal estimate for Japan; B, an estimate from a
comparable country or a correlational study; C, judgement. The reasoning is
the comment's ``source:`` or ``assumption:`` text.
"""

import re
from dataclasses import dataclass

from sim.engine.errors import ModelError
from sim.engine.spec import Element, ModelSpec

# Constants named like this are effect sizes (the model's naming convention).
EFFECT_NAME = re.compile(r"(elasticity|strength|uplift|additionality|offset|credit)$")
GRADES = {
    "A": "a causal estimate for Japan",
    "B": "an estimate from a comparable country, or a correlational study",
    "C": "judgement",
}
_PRIOR = re.compile(
    r"\bprior:\s*(uniform|normal|triangular)\s*\(([^)]*)\)\s*,?\s*grade\s+([A-Za-z])\b"
)
_ARITY = {"uniform": 2, "normal": 2, "triangular": 3}


@dataclass(frozen=True)
class Prior:
    """A prior distribution of an effect size and the grade of its evidence."""

    family: str
    params: tuple
    grade: str

    def describe(self) -> str:
        """Return the prior as written, e.g. ``normal(0.3, 0.15)``."""
        return f"{self.family}({', '.join(f'{p:g}' for p in self.params)})"


def is_effect_size(el: Element) -> bool:
    """Whether ``el`` is an effect size that needs a prior (not fitted to history)."""
    return (
        el.kind == "constant"
        and bool(EFFECT_NAME.search(el.name))
        and "calibrated:" not in el.doc.lower()
    )


def read_prior(el: Element) -> Prior | None:
    """Return the prior stated in ``el``'s comment, or ``None`` if it states none.

    Raises ``ValueError`` with the fix when a stated prior is malformed.
    """
    found = _PRIOR.search(el.doc)
    if not found:
        return None
    family, args, grade = found.group(1), found.group(2), found.group(3).upper()
    try:
        params = tuple(float(a) for a in args.split(","))
    except ValueError:
        raise ValueError(f"its prior {family}({args}) needs numbers") from None
    if len(params) != _ARITY[family]:
        raise ValueError(f"{family} takes {_ARITY[family]} numbers, not {len(params)}")
    if grade not in GRADES:
        raise ValueError(f"grade {grade} is not one of A, B, C")
    if family == "uniform":
        ok = params[0] < params[1]
    elif family == "normal":
        ok = params[1] > 0
    else:
        ok = params[0] <= params[1] <= params[2] and params[0] < params[2]
    if not ok:
        raise ValueError(f"{family}({args}) is not a valid distribution")
    return Prior(family, params, grade)


def prior_problem(el: Element) -> str:
    """Return what is wrong with an effect size's prior (``""`` if nothing)."""
    try:
        prior = read_prior(el)
    except ValueError as err:
        return f"'{el.name}': {err}; write e.g. prior: normal(0.3, 0.15), grade C"
    if prior is None:
        return (
            f"'{el.name}' is an effect size without a prior; in its comment add e.g. "
            "prior: uniform(0.1, 0.5), grade C (A causal for Japan, B comparable or "
            "correlational, C judgement)"
        )
    low, high = el.limits
    # a normal prior's mean, or every point of a bounded one, must lie in the range
    values = prior.params[:1] if prior.family == "normal" else prior.params
    below = low is not None and min(values) < low
    above = high is not None and max(values) > high
    if below or above:
        return (
            f"'{el.name}': its prior {prior.describe()} reaches outside its range "
            f"[{'?' if low is None else f'{low:g}'}, {'?' if high is None else f'{high:g}'}]; "
            "narrow the prior or widen the range"
        )
    return ""


def stated_priors(spec: ModelSpec) -> dict:
    """Return the prior of every effect size that states one, by constant name.

    A malformed prior raises :class:`ModelError` in one line naming the file
    and the fix (``brainsim check`` lists them all).
    """
    out = {}
    for el in spec.of_kind("constant"):
        if not is_effect_size(el):
            continue
        try:
            prior = read_prior(el)
        except ValueError as err:
            raise ModelError(
                f"{spec.path}: '{el.name}': {err}; write e.g. prior: normal(0.3, 0.15), grade C"
            ) from None
        if prior is not None:
            out[el.name] = prior
    return out
