"""The .mdl → spec step: names, kinds, hoisted states and structural errors."""

import numpy as np
import pytest

import sim
from sim.engine.errors import ModelError, ParameterError, UnsupportedFunctionError
from sim.engine.names import python_name, vensim_key
from sim.engine.spec import Ref

from conftest import write_mdl


def test_names_are_case_and_space_insensitive():
    assert vensim_key("Stock  A") == vensim_key("stock_a") == "stock_a"
    assert python_name("Japan's share (of world)") == "japan_s_share_of_world"
    assert python_name("2033 target") == "v_2033_target"


def test_kinds_flows_and_hoisted_states(tmp_path):
    mdl = write_mdl(
        tmp_path / "m.mdl",
        """
pool = INTEG(entry - exit, 10) ~ person ~ |
entry = SMOOTH(base entry, 2) ~ person/Year ~ |
exit = pool / residence ~ person/Year ~ |
base entry = 3 ~ person/Year [0, 10] ~ source: test |
residence = 4 ~ Year [1, 10] ~ assumption: test |
share = exit / entry ~ dmnl ~ |
""",
    )
    spec = sim.read_mdl(mdl)
    kinds = {el.name: el.kind for el in spec.elements}
    assert kinds["pool"] == "stock"
    assert kinds["entry"] == kinds["exit"] == "flow"
    assert kinds["share"] == "auxiliary"
    assert kinds["base entry"] == "constant"
    assert kinds["TIME STEP"] == "control"
    assert len(spec.statefuls) == 1
    assert spec.statefuls[0].kind == "smooth"
    assert spec.element("entry").expr == Ref(spec.statefuls[0].key)
    assert spec.element("base entry").limits == (0.0, 10.0)
    assert spec.element("residence").doc == "assumption: test"


def test_algebraic_loop_names_its_variables(tmp_path):
    mdl = write_mdl(
        tmp_path / "loop.mdl",
        """
alpha = beta + 1 ~ dmnl ~ |
beta = alpha * 2 ~ dmnl ~ |
""",
    )
    with pytest.raises(ModelError, match=r"algebraic loop .*(alpha.*beta|beta.*alpha)"):
        sim.load_model(mdl)


def test_unknown_reference_suggests_names(tmp_path):
    mdl = write_mdl(tmp_path / "typo.mdl", "rate = 2 ~ 1/Year ~ |\ngrowth = rat * 2 ~ 1/Year ~ |")
    with pytest.raises(ModelError, match=r"'growth' refers to 'rat'.*did you mean 'rate'"):
        sim.read_mdl(mdl)


@pytest.mark.parametrize(
    ("equation", "function"),
    [
        ("played = GAME(Time) ~ Year ~ |", "GAME"),
        ("value = NPV(Time, 0.05, 0, 1) ~ Year ~ |", "NPV"),
        ("at = GET DATA AT TIME(Time, 2) ~ Year ~ |", "GET DATA AT TIME"),
        ("moved = DELAY CONVEYOR(Time, 1, 0, 0, 0, 0) ~ Year ~ |", "DELAY CONVEYOR"),
    ],
)
def test_unsupported_function_names_function_and_variable(tmp_path, equation, function):
    mdl = write_mdl(tmp_path / "u.mdl", equation)
    with pytest.raises(UnsupportedFunctionError, match=rf"'\w+' uses .*{function}"):
        sim.read_mdl(mdl)


def test_stateful_order_must_be_whole(tmp_path):
    mdl = write_mdl(tmp_path / "o.mdl", "x = SMOOTH N(Time, 2, 0, 2.5) ~ Year ~ |")
    with pytest.raises(ModelError, match="order of SMOOTH N in 'x' must be a whole number"):
        sim.load_model(mdl)


def test_generated_source_is_kept_and_readable(tmp_path):
    mdl = write_mdl(
        tmp_path / "m.mdl",
        "pool = INTEG(-drain, 10) ~ person ~ |\ndrain = pool / 4 ~ person/Year ~ |",
    )
    model = sim.load_model(mdl)
    assert "def evaluate(" in model.source
    assert "# d/dt pool" in model.source
    assert "v_drain = (v_pool / _k" in model.source


def test_nested_statefuls_get_their_own_states(tmp_path):
    mdl = write_mdl(
        tmp_path / "nested.mdl",
        "twice = SMOOTH(SMOOTH(Time, 1), 2) ~ Year ~ |\nonce = SMOOTH(Time, 1) ~ Year ~ |",
        step=0.125,
    )
    spec = sim.read_mdl(mdl)
    keys = [s.key for s in spec.statefuls]
    assert len(set(keys)) == len(keys) == 3
    inner, outer = spec.statefuls[0], spec.statefuls[1]
    assert outer.input == Ref(inner.key)
    ds = sim.simulate(sim.load_model(mdl))
    # a second smoothing lags further behind the ramp than the first
    assert float(ds["twice"][-1, 0]) < float(ds["once"][-1, 0]) < float(ds.time[-1])


def test_a_stateful_order_given_as_an_expression_is_taken_at_initial_time(tmp_path):
    # Vensim takes a DELAY N / SMOOTH N order at INITIAL TIME; so do we
    literal = write_mdl(
        tmp_path / "lit.mdl",
        "y = DELAY N(inflow, 2, 0, 3) ~ widget ~ |\ninflow = STEP(1, 1) ~ widget ~ |",
        final=8,
    )
    written = write_mdl(
        tmp_path / "expr.mdl",
        "y = DELAY N(inflow, 2, 0, stages) ~ widget ~ |\n"
        "inflow = STEP(1, 1) ~ widget ~ |\n"
        "stages = INTEGER(base order + 0.5 + Time) ~ dmnl ~ |\n"
        "base order = 2.6 ~ dmnl [1, 5] ~ assumption: test value. |",
        final=8,
    )
    a, b = sim.load_model(literal), sim.load_model(written)
    stages = [n for n in b.state_names if n.startswith("DELAY N")]
    assert len(stages) == 3  # INTEGER(2.6 + 0.5 + 0) at INITIAL TIME 0
    ya = sim.simulate(a, outputs=["y"])["y"].values
    yb = sim.simulate(b, outputs=["y"])["y"].values
    assert np.array_equal(ya, yb)
    with pytest.raises(ParameterError, match="'base order' sets the order of a DELAY N"):
        sim.simulate(b, {"base order": 4.0})
    assert sim.simulate(b, {"base order": 2.6}).sizes["run"] == 1  # its own value is fine


def test_an_order_that_needs_the_run_is_refused_in_one_line(tmp_path):
    mdl = write_mdl(
        tmp_path / "o.mdl",
        "x = SMOOTH N(Time, 2, 0, pool) ~ Year ~ |\npool = INTEG(1, 2) ~ dmnl ~ |",
    )
    with pytest.raises(ModelError, match="order of SMOOTH N in 'x' must be a whole number"):
        sim.load_model(mdl)
