"""Our Euler runs equal PySD's own runs of the same files, variable by variable.

Tolerance: 1e-9 relative, 1e-12 absolute near zero (DESIGN.md §3). The
comparison fails on a variable present in one output and not the other.
"""

import numpy as np
import pytest

import sim
from sim.engine.spec import FUNCTIONS, Call, LookupCall, Op
from sim.engine.vectors import VECTOR_FUNCTIONS

from conftest import MODELS
from pysd_reference import compare, pysd_run, pysd_run_kept

TEST_MODELS = sorted(MODELS.glob("*.mdl"))


def test_there_are_enough_test_models():
    assert len(TEST_MODELS) >= 12


@pytest.mark.parametrize("mdl", TEST_MODELS, ids=[p.stem for p in TEST_MODELS])
def test_euler_equals_pysd(mdl, tmp_path):
    ours = sim.simulate(sim.load_model(mdl))
    ref = pysd_run_kept(mdl, tmp_path)  # PySD's run, kept by the hash of its inputs
    assert compare(ours, ref) == []
    assert ours.sizes["time"] == len(ref.index)


def _used(spec) -> set:
    used = {f"stateful:{s.function}" for s in spec.statefuls}
    used |= {f"stateful:{s.kind}" for s in spec.statefuls}
    used |= {"active initial" for el in spec.elements if el.kind != "stock" and el.init}
    used |= {"macro" for el in spec.elements if el.hidden}
    stack = [e for el in spec.elements for e in (el.expr, el.init) if e is not None]
    stack += [e for s in spec.statefuls for e in (s.input, s.time, s.init)]
    while stack:
        node = stack.pop()
        if isinstance(node, Call):
            used.add(node.fn)
            stack.extend(node.args)
        elif isinstance(node, Op):
            used.add(node.op)
            stack.extend(node.args)
        elif isinstance(node, LookupCall):
            used.add("inline lookup" if node.table.startswith("_lookup") else "named lookup")
            stack.append(node.arg)
    return used


def test_test_models_exercise_every_supported_function():
    used = set()
    # with the models checked by hand or by distribution (by_hand/, random/)
    for mdl in sorted(MODELS.rglob("*.mdl")):
        used |= _used(sim.read_mdl(mdl))
    wanted = (
        set(FUNCTIONS)
        | set(VECTOR_FUNCTIONS)
        | {
            "+",
            "-",
            "*",
            "/",
            "^",
            "neg",
            "=",
            "<>",
            "<",
            "<=",
            ">",
            ">=",
            "and",
            "or",
            "not",
            "inline lookup",
            "named lookup",
            "stateful:smooth",
            "stateful:delay",
            "stateful:delay_n",
            "stateful:trend",
            "stateful:initial",
            "stateful:SMOOTH N",
            "stateful:sample",
            "stateful:delay_fixed",
            "stateful:FORECAST",
            "active initial",
        }
    )
    assert wanted - used == set()


def test_reference_comparison_catches_a_difference(tmp_path):
    """The comparison itself can fail: a changed constant is reported by name."""
    mdl = MODELS / "exponential_decay.mdl"
    model = sim.load_model(mdl)
    const = model.spec.element(model.param_keys[0])
    lo, hi = const.limits
    nudged = const.expr.value * (1 + 1e-6)
    if hi is not None:
        nudged = min(nudged, hi)
    ours = sim.simulate(model, {const.name: nudged})
    ref = pysd_run(mdl, tmp_path)
    problems = compare(ours, ref)
    assert problems
    assert np.isfinite(ours.to_array()).all()
