"""The .mdl reader: equal to PySD's translator on every model, and its grammar case by case."""

import pytest

import sim
from sim.engine.errors import ModelError, UnsupportedFunctionError
from sim.engine.spec import Call, LookupCall, Num, Op, Ref
from sim.engine.vensim import read_mdl

from conftest import DATA, ROOT, write_mdl
from pysd_reference import pysd_spec

# the scalar models without macros: PySD's abstract model of a subscripted
# model or of macros is not lowered here (their runs are compared with
# PySD's, element by element, in test_reference)
EVERY_MODEL = [
    p
    for p in sorted(
        [*DATA.glob("models/*.mdl"), *DATA.glob("check/*.mdl"), *DATA.glob("docs/*.mdl")]
    )
    + [ROOT / "model" / "brain_circulation.mdl"]
    if read_mdl(p).ranges is None and not any(el.hidden for el in read_mdl(p).elements)
]


@pytest.mark.parametrize("mdl", EVERY_MODEL, ids=lambda p: p.name)
def test_reader_equals_pysd_translator(mdl):
    ours, theirs = read_mdl(mdl), pysd_spec(mdl)
    assert [el.name for el in ours.elements] == [el.name for el in theirs.elements]
    for a, b in zip(ours.elements, theirs.elements, strict=True):
        assert a == b, a.name
    assert ours.statefuls == theirs.statefuls
    assert ours.lookups == theirs.lookups
    assert ours == theirs


def _expr(tmp_path, rhs: str, *extra: str):
    """The parsed right-hand side of ``y = rhs``, checked against PySD's translator."""
    lines = [f"y = {rhs} ~ dmnl ~ |", "a = 2 ~ dmnl ~ |", "b = 3 ~ dmnl ~ |", *extra]
    mdl = write_mdl(tmp_path / "e.mdl", "\n".join(lines))
    ours = read_mdl(mdl)
    assert ours == pysd_spec(mdl)
    return ours.element("y").expr, ours


A, B = Ref("a"), Ref("b")


@pytest.mark.parametrize(
    ("rhs", "tree"),
    [
        ("a + b * 2", Op("+", (A, Op("*", (B, Num(2.0)))))),
        ("a - b - 1", Op("-", (Op("-", (A, B)), Num(1.0)))),
        ("a / b / 2", Op("/", (Op("/", (A, B)), Num(2.0)))),
        ("a ^ b ^ 2", Op("^", (A, Op("^", (B, Num(2.0)))))),
        # a leading minus negates the power it starts (for a number, see the next test)
        ("-a ^ 2", Op("neg", (Op("^", (A, Num(2.0))),))),
        ("a ^ -2", Op("^", (A, Num(-2.0)))),
        ("-2 * a", Op("*", (Num(-2.0), A))),
        ("a * -b", Op("*", (A, Op("neg", (B,))))),
        ("+a", A),
        ("-(3)", Num(-3.0)),
        ("a > b :AND: b > 1 :OR: a = 2", None),
        (":NOT: a >= b", Op("not", (Op(">=", (A, B)),))),
        ("a <> b", Op("<>", (A, B))),
        ("(a + b) * 2", Op("*", (Op("+", (A, B)), Num(2.0)))),
        (
            "IF THEN ELSE(a <= b, 1e3, .5)",
            Call("if_then_else", (Op("<=", (A, B)), Num(1e3), Num(0.5))),
        ),
        ("a * \\\n\t\tb", Op("*", (A, B))),
    ],
)
def test_precedence_and_signs_follow_pysd(tmp_path, rhs, tree):
    expr, _ = _expr(tmp_path, rhs)
    if tree is not None:
        assert expr == tree
    else:  # :AND: and :OR: share one level, nested from the right
        assert expr.op == "and"
        assert expr.args[1].op == "or"


def test_pulse_train_takes_the_engine_argument_order(tmp_path):
    expr, _ = _expr(tmp_path, "PULSE TRAIN(1, 2, 3, 4)")
    # Vensim writes (start, width, interval, end); the engine takes (start, interval, width, end)
    assert expr == Call("pulse_train", (Num(1.0), Num(3.0), Num(2.0), Num(4.0)))


def test_lookups_named_and_inline(tmp_path):
    expr, spec = _expr(
        tmp_path,
        "table(a) + WITH LOOKUP(b, ([(0,0)-(4,4)], (0, 1), (4, -1)))",
        "table( [(0,0)-(10,10)], (0,0), (1,0.5), (10,2)) ~ dmnl ~ |",
    )
    assert expr.args[0] == LookupCall("table", A)
    tables = {lk.key: lk for lk in spec.lookups}
    assert tables["table"].xs == (0.0, 1.0, 10.0)
    inline = expr.args[1]
    assert inline.arg == B
    assert tables[inline.table].ys == (1.0, -1.0)


def test_stateful_family_defaults_and_hoisting(tmp_path):
    mdl = write_mdl(
        tmp_path / "s.mdl",
        """
x = SMOOTH3I(Time, 2, 5) + DELAY1(Time, 1) ~ Year ~ |
z = TREND(Time, 2, 0) * INITIAL(Time) ~ Year ~ |
""",
    )
    spec = read_mdl(mdl)
    assert spec == pysd_spec(mdl)
    smooth, delay, trend, initial = spec.statefuls
    assert (smooth.kind, smooth.order, smooth.init) == ("smooth", Num(3.0), Num(5.0))
    assert (delay.kind, delay.order, delay.init) == ("delay", Num(1.0), Ref("time"))
    assert (trend.kind, trend.init) == ("trend", Num(0.0))
    assert (initial.kind, initial.time) == ("initial", None)
    assert spec.element("x").expr == Op("+", (Ref(smooth.key), Ref(delay.key)))


def test_quoted_names_group_headers_and_continued_comments(tmp_path):
    mdl = write_mdl(
        tmp_path / "q.mdl",
        """
********************************************************
\t.Students
********************************************************~
\t\tA group header, skipped.
\t|
"rate ~ per | year" = 0.5 ~ 1/Year [0, 1] ~ assumption: a comment that \\
\t\tcontinues on a second line |
stock = INTEG("rate ~ per | year" * stock, 1) ~ person ~ ~ :SUPPLEMENTARY |
""",
    )
    spec = read_mdl(mdl)
    rate = spec.element("rate ~ per | year")
    assert rate.limits == (0.0, 1.0)
    assert rate.doc == "assumption: a comment that continues on a second line"
    assert spec.element("stock").expr == Op("*", (Ref(rate.key), Ref("stock")))


def test_a_minus_before_a_number_negates_its_power_as_vensim_does(tmp_path):
    # PySD's translator folds the sign into the number (-2 ^ a = 4 at a = 2); Vensim
    # negates the power, -(2 ^ a) = -4, and so do we
    mdl = write_mdl(tmp_path / "p.mdl", "y = -2 ^ a ~ dmnl ~ |\na = 2 ~ dmnl ~ |")
    assert read_mdl(mdl).element("y").expr == Op("neg", (Op("^", (Num(2.0), A)),))
    assert pysd_spec(mdl).element("y").expr == Op("^", (Num(-2.0), A))


def test_na_is_vensims_number_minus_two_to_the_109(tmp_path):
    mdl = write_mdl(
        tmp_path / "n.mdl",
        "y = :NA: ~ dmnl ~ |\nflag = IF THEN ELSE(y = :NA:, 1, 0) ~ dmnl ~ |\n"
        "z = -2 ^ 2 ~ dmnl ~ |",
    )
    assert read_mdl(mdl).element("y").expr.value == -(2.0**109)
    ds = sim.simulate(sim.load_model(mdl), outputs=["y", "flag", "z"])
    assert float(ds["y"].values.flat[0]) == -(2.0**109)
    assert float(ds["flag"].values.flat[0]) == 1.0  # a model can test for NA
    assert float(ds["z"].values.flat[0]) == -4.0  # Vensim's -2^2


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("y = a + ~ dmnl ~ |\na = 1 ~ dmnl ~ |", 2, "operand is missing"),
        ("a = 1 ~ dmnl ~ |\ny = (a\n * 2)) ~ dmnl ~ |", 4, r"unexpected text before '\)'"),
        ("a = 1 ~ dmnl ~ |\ny = MIN(a, ~ dmnl ~ |", 3, "operand is missing"),
        ("a = 1 ~ dmnl ~ |\ny = a * # 2 ~ dmnl ~ |", 3, "unexpected '#'"),
    ],
)
def test_syntax_errors_name_file_line_and_equation(tmp_path, text, line, message):
    mdl = write_mdl(tmp_path / "bad.mdl", text)
    with pytest.raises(
        ModelError,
        match=rf"bad\.mdl:{line}: Vensim syntax error in the equation of 'y' \(.*{message}",
    ):
        read_mdl(mdl)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("y = 1 ~ dmnl |", r"bad\.mdl:2: .*'y = 1' has units but no comment"),
        ("y = 1 ~ dmnl ~ |\nY = 2 ~ dmnl ~ |", r"'Y' is defined twice"),
        ("y[region] = 1 ~ dmnl ~ |", r"'y\[region\]' uses 'region', which is neither a"),
        ("y := 1 ~ dmnl ~ |", r"'y' is a data variable"),
        ("a = 1 ~ dmnl ~ |\ny = a[one] ~ dmnl ~ |", r"'y' subscripts 'a', which is not subscr"),
        ("y = 1 ~ dmnl [0, lots] ~ |", r"the range of 'y' has 'lots'"),
        ("y = MIN(1) ~ dmnl ~ |", r"'y' calls MIN with 1 arguments; it takes 2"),
        (
            "t((0,0), (1,1)) ~ dmnl ~ |\ny = t(1, 2) ~ dmnl ~ |",
            r"calls lookup 't' with 2 arguments",
        ),
        ("t((0,0), (2,1), (1,2)) ~ dmnl ~ |", r"lookup in 't' has x values that decrease"),
        (
            ":MACRO: M(x)\nz = x ~ dmnl ~ |\n:END OF MACRO:\ny = M(1) ~ dmnl ~ |",
            r"macro 'M' does not define a variable named 'M'",
        ),
        (
            ":MACRO: M(x)\nM = x ~ dmnl ~ |\ny = M(1, 2) ~ dmnl ~ |",
            r"not closed by :END OF MACRO:",
        ),
        (
            ":MACRO: M(x)\nM = x ~ dmnl ~ |\n:END OF MACRO:\ny = M(1, 2) ~ dmnl ~ |",
            r"macro 'M' takes 1 arguments, and is called with 2",
        ),
        (
            ":MACRO: M(x)\nM = M(x) ~ dmnl ~ |\n:END OF MACRO:\ny = M(1) ~ dmnl ~ |",
            r"macro 'M' calls itself",
        ),
    ],
)
def test_structural_errors(tmp_path, text, message):
    mdl = write_mdl(tmp_path / "bad.mdl", text)
    with pytest.raises(ModelError, match=message):
        read_mdl(mdl)


def test_text_after_the_last_equation_is_an_error(tmp_path):
    mdl = write_mdl(tmp_path / "bad.mdl", "y = 1 ~ dmnl ~ |")
    mdl.write_text(mdl.read_text() + "\nleft over = 2 ~ dmnl\n")
    with pytest.raises(ModelError, match=r"bad\.mdl:13: .*not an equation ending in '~ units ~"):
        read_mdl(mdl)


@pytest.mark.parametrize(
    ("rhs", "what"),
    [
        ("1 + INTEG(a, 1)", "INTEG inside a larger expression"),
        ("INTEG(a, 1) * 2", "INTEG inside a larger expression"),
        ("1 + GET XLS CONSTANTS('f.xlsx', 'tab', 'B2')", "the function GET XLS CONSTANTS"),
    ],
)
def test_unsupported_constructs_are_named(tmp_path, rhs, what):
    mdl = write_mdl(tmp_path / "u.mdl", f"y = {rhs} ~ dmnl ~ |\na = 1 ~ dmnl ~ |")
    with pytest.raises(UnsupportedFunctionError, match=rf"'y' uses {what}"):
        read_mdl(mdl)


def test_a_parsed_model_runs(tmp_path):
    mdl = write_mdl(tmp_path / "r.mdl", "pool = INTEG(-pool / 4, 8) ~ person ~ |", final=4, step=1)
    ds = sim.simulate(sim.load_model(mdl))
    assert [float(v) for v in ds["pool"][:, 0]] == [8.0, 6.0, 4.5, 3.375, 2.53125]


def test_a_two_backslash_sketch_marker_and_wrapped_names_read_and_run():
    path = DATA / "quirks" / "teacup_two_backslashes.mdl"
    spec = read_mdl(path)
    assert spec.element("Characteristic Time").expr == Num(10.0)
    loss = spec.element("Heat Loss to Room").expr
    assert Ref("room_temperature") in loss.args[0].args
    ds = sim.simulate(sim.load_model(path), outputs=["Teacup Temperature"])
    # Euler at TIME STEP 0.125: T(t) = 70 + 110 (1 - 0.125 / 10) ^ (t / 0.125)
    expected = 70 + 110 * (1 - 0.125 / 10) ** (30 / 0.125)
    assert float(ds["teacup_temperature"].sel(time=30.0).values.flat[0]) == pytest.approx(
        expected, rel=1e-12
    )
