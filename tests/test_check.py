"""The model checker: unit parsing, unit inference, ranges and sources."""

import dataclasses
import re
from fractions import Fraction

import pytest

import sim
from sim.engine.check import Problem, check_model, format_problems
from sim.engine.units import (
    DIMENSIONLESS,
    Dims,
    UnitsError,
    divide,
    format_units,
    multiply,
    parse_units,
    power,
)

from conftest import DATA, MODELS, ROOT, write_mdl

CHECK = DATA / "check"


def _check(name: str) -> list:
    return check_model(sim.read_mdl(CHECK / name))


def _summary(problems: list) -> list:
    return [(p.element, p.kind) for p in problems]


# --- parsing units -----------------------------------------------------------


def test_rate_times_time_is_the_stock_unit():
    assert multiply(parse_units("person/Year"), parse_units("Year")) == parse_units("person")
    assert parse_units("person") == {"person": 1}


def test_per_year_and_exponents():
    assert parse_units("1/Year") == {"Year": -1}
    assert parse_units("Year^2") == {"Year": 2}
    assert parse_units("Year^-2") == parse_units("Year^(-2)") == {"Year": -2}
    assert parse_units("person/(Year*Year)") == parse_units("person*Year^-2")
    assert parse_units("person/Year/Year") == {"person": 1, "Year": -2}
    assert parse_units("(person/Year)^2") == {"person": 2, "Year": -2}
    assert parse_units("person/Year * Year") == {"person": 1}


@pytest.mark.parametrize("text", ["dmnl", "DMNL", "Dimensionless", "1", "", "  ", "Year/Year"])
def test_dimensionless_spellings(text):
    assert parse_units(text) == DIMENSIONLESS
    assert len(parse_units(text)) == 0


@pytest.mark.parametrize("text", ["person", "people", "persons", "Person", "PEOPLE"])
def test_person_spellings_are_one_unit(text):
    assert parse_units(text) == {"person": 1}


@pytest.mark.parametrize("text", ["Year", "Years", "year", "years", "YEAR"])
def test_year_spellings_are_one_unit(text):
    assert parse_units(text) == {"Year": 1}


def test_any_identifier_is_a_unit():
    assert parse_units("oku_yen/USD") == {"oku_yen": 1, "USD": -1}
    assert parse_units("capital  unit/Year") == {"capital unit": 1, "Year": -1}
    assert parse_units("widget") != parse_units("gadget")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("person/(Year", r"'\(' is never closed"),
        ("person**2", r"'\*\*' is not Vensim"),
        ("person/", "ends after an operator"),
        ("2 person", "the number 2 is not a unit"),
        ("person @ Year", "unexpected character '@'"),
        ("person)", "unexpected '\\)'"),
        ("Year^x", "must be followed by an integer"),
        ("Year^1.5", "unexpected character '\\.'"),
    ],
)
def test_malformed_units_raise_units_error(text, match):
    with pytest.raises(UnitsError, match=match):
        parse_units(text)


def test_dims_are_canonical_and_hashable():
    a = Dims({"person": 1, "Year": -1})
    b = Dims([("Year", -1), ("person", 1), ("widget", 0)])
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a["Year"] == Fraction(-1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.exponents = ()


def test_power_and_divide():
    assert power(parse_units("metre^2"), Fraction(1, 2)) == {"metre": 1}
    assert power(parse_units("Year"), Fraction(1, 2))["Year"] == Fraction(1, 2)
    assert divide(parse_units("person"), parse_units("person")) == DIMENSIONLESS


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("person/Year", "person/Year"),
        ("1/Year", "1/Year"),
        ("Year*person/Year", "person"),
        ("widget/(Year*person)", "widget/(person*Year)"),
        ("person/(Year*Year)", "person/Year^2"),
        ("yen/USD", "yen/USD"),
        ("dmnl", "dmnl"),
    ],
)
def test_format_units_is_readable_and_parses_back(text, shown):
    assert format_units(parse_units(text)) == shown
    assert parse_units(shown) == parse_units(text)


def test_format_fractional_exponent():
    assert format_units(power(parse_units("Year"), Fraction(-1, 2))) == "1/Year^(1/2)"


# --- unit inference, one rule at a time --------------------------------------

_CONSTANTS = """
headcount = 50 ~ person [0, 100] ~ assumption: test value |
duration = 2 ~ Year [1, 5] ~ assumption: test value |
share = 0.5 ~ dmnl [0, 1] ~ assumption: test value |
area = 4 ~ metre^2 [0, 10] ~ assumption: test value |
table([(0,0)-(100,1)],(0,0),(100,1)) ~ dmnl ~ source: test table |
"""


def _result_problems(tmp_path, expr: str, units: str) -> list:
    equations = _CONSTANTS + f"result = {expr} ~ {units} ~ source: a test table if any |"
    return check_model(sim.read_mdl(write_mdl(tmp_path / "m.mdl", equations)))


@pytest.mark.parametrize(
    ("expr", "units"),
    [
        ("headcount + 1", "person"),
        ("headcount * 2", "person"),
        ("2 * 3 + headcount", "person"),
        ("-headcount / duration", "person/Year"),
        ("1 / duration", "1/Year"),
        ("headcount * duration / duration", "people"),
        ("headcount ^ 2", "person^2"),
        ("POWER(headcount, -1)", "1/person"),
        ("share ^ share", "dmnl"),
        ("SQRT(area)", "metre"),
        ("ABS(INTEGER(headcount))", "person"),
        ("IF THEN ELSE(headcount > 0 :AND: Time < duration, headcount, 0)", "person"),
        ("MIN(headcount, MAX(0, headcount))", "person"),
        ("MODULO(Time, duration)", "Year"),
        ("ZIDZ(headcount, duration)", "person/Year"),
        ("XIDZ(headcount, duration, 0)", "person/Year"),
        ("EXP(-duration / duration) * LN(share) + SIN(share)", "dmnl"),
        ("STEP(headcount, duration) + RAMP(headcount / duration, 1, duration)", "person"),
        ("headcount * PULSE(duration, 1) * PULSE TRAIN(1, duration, 0.5, 9)", "person"),
        ("table(headcount * duration) * headcount", "person"),
        ("SMOOTH(headcount, duration) + DELAY3(headcount, duration)", "person"),
        ("TREND(headcount, duration, 0) * duration", "dmnl"),
        ("INITIAL(headcount) - headcount", "person"),
        ("Time - INITIAL TIME + TIME STEP", "Year"),
        ("WITH LOOKUP(Time, ([(0,0)-(10,10)],(0,0),(10,10)))", "widget"),
    ],
)
def test_consistent_expression_passes(tmp_path, expr, units):
    assert _result_problems(tmp_path, expr, units) == []


@pytest.mark.parametrize(
    ("expr", "units", "match"),
    [
        ("headcount + duration", "person", r"`headcount \+ duration` adds person and Year"),
        ("headcount * 2", "person/Year", r"gives person but it is declared person/Year"),
        (
            "IF THEN ELSE(headcount > duration, 1, 0)",
            "dmnl",
            r"`headcount > duration` compares person and Year",
        ),
        (
            "IF THEN ELSE(Time > 5, headcount, duration)",
            "person",
            r"chooses between person and Year; give both branches",
        ),
        ("MIN(headcount, duration)", "person", r"compares person and Year"),
        ("EXP(duration)", "dmnl", r"EXP needs a dmnl argument but `duration` is in Year"),
        ("STEP(headcount, headcount)", "person", r"STEP's time argument .* is in person"),
        ("RAMP(headcount, 1, 5)", "person", r"gives person\*Year but it is declared person"),
        ("PULSE(headcount, 1)", "dmnl", r"PULSE's time argument `headcount` is in person"),
        ("SMOOTH(headcount, headcount)", "person", r"the time of SMOOTH\(headcount.* in person"),
        ("DELAY1(headcount, duration)", "Year", r"gives person but it is declared Year"),
        ("TREND(headcount, duration, 0)", "person", r"gives 1/Year but it is declared person"),
        ("TREND(headcount, duration, share)", "1/Year", r"initial trend .* dmnl .* 1/Year"),
        ("INITIAL(headcount)", "Year", r"gives person but it is declared Year"),
        ("SQRT(headcount)", "person", r"gives person\^\(1/2\)"),
        ("headcount ^ share", "person", r"exponent is not a number"),
        ("share ^ duration", "dmnl", r"the exponent is in Year"),
        ("XIDZ(headcount, duration, headcount)", "person/Year", r"the fallback `headcount`"),
        ("table(headcount)", "person", r"gives dmnl but it is declared person"),
        ("(headcount + duration) * share", "dmnl", r"adds person and Year"),
    ],
)
def test_inconsistent_expression_is_named(tmp_path, expr, units, match):
    problems = _result_problems(tmp_path, expr, units)
    assert _summary(problems) == [("result", "units")]
    assert re.search(match, problems[0].message), problems[0].message
    assert problems[0].message.startswith("'result'")


def test_stock_initial_value_and_rate(tmp_path):
    equations = (
        _CONSTANTS
        + """
pool = INTEG(inflow, duration) ~ person ~ |
inflow = headcount / duration ~ person/Year ~ |
wrong pool = INTEG(headcount, headcount) ~ person ~ |
"""
    )
    problems = check_model(sim.read_mdl(write_mdl(tmp_path / "m.mdl", equations)))
    assert _summary(problems) == [("pool", "units"), ("wrong pool", "units")]
    assert "initial value `duration` is in Year but the stock is in person" in problems[0].message
    assert "rate `headcount` is in person but" in problems[1].message
    assert "needs flows in person/Year" in problems[1].message


def test_nested_smooth_does_not_hang(tmp_path):
    equations = _CONSTANTS + "result = SMOOTH(SMOOTH(headcount, duration), duration) ~ person ~ |"
    problems = check_model(sim.read_mdl(write_mdl(tmp_path / "m.mdl", equations)))
    assert problems == []


# --- the bad models ----------------------------------------------------------


def test_clean_model_has_no_problems():
    assert _check("clean.mdl") == []


def test_every_unit_change_in_the_clean_model_is_caught():
    spec = sim.read_mdl(CHECK / "clean.mdl")
    targets = [el for el in spec.elements if el.kind in ("stock", "flow", "auxiliary", "lookup")]
    assert len(targets) == 12
    for target in targets:
        changed = dataclasses.replace(target, units="widget")
        elements = tuple(changed if el is target else el for el in spec.elements)
        problems = check_model(dataclasses.replace(spec, elements=elements))
        assert any(p.kind == "units" for p in problems), target.name


def test_flow_declared_in_stock_units():
    problems = _check("flow_in_stock_units.mdl")
    assert _summary(problems) == [("Students", "units")]
    assert problems[0].message == (
        "'Students': its rate `enrollment` is in person but a stock in person needs flows in "
        "person/Year; fix the flows' units or the stock's"
    )


def test_person_plus_year():
    problems = _check("add_person_and_year.mdl")
    assert _summary(problems) == [("students and years", "units")]
    assert "`Students + study time` adds person and Year" in problems[0].message


def test_constant_and_lookup_without_source():
    problems = _check("missing_source.mdl")
    assert _summary(problems) == [("base enrollment", "source"), ("demand effect", "source")]
    assert "give its source (source: ...) or assumption: why" in problems[0].message
    assert "(lookup table)" in problems[1].message


def test_constant_without_full_range():
    problems = _check("no_range.mdl")
    assert _summary(problems) == [("no range rate", "range"), ("open range rate", "range")]
    assert "has no min or max" in problems[0].message
    assert "has no max (? counts as open)" in problems[1].message


def test_constant_outside_range():
    problems = _check("outside_range.mdl")
    assert _summary(problems) == [("capacity", "range"), ("fraction lost", "range")]
    assert "'capacity' = 1500 lies outside its range [0, 1000]" in problems[0].message
    assert "'fraction lost' = -0.1 lies outside its range [0, 1]" in problems[1].message


def test_malformed_units_are_reported_not_raised():
    problems = _check("bad_units.mdl")
    assert _summary(problems) == [("enrollment", "bad units"), ("base enrollment", "bad units")]
    assert "units 'person/(Year': '(' is never closed" in problems[0].message
    assert "'**' is not Vensim" in problems[1].message


def test_missing_units():
    problems = _check("missing_units.mdl")
    assert _summary(problems) == [("enrollment", "no units"), ("half enrollment", "no units")]
    assert "has no units; write them after the first ~" in problems[0].message


def test_time_step_without_units_is_reported():
    problems = _check("time_step_without_units.mdl")
    assert _summary(problems) == [("TIME STEP", "no units")]
    assert "give it the model's time unit" in problems[0].message


def test_control_units_must_match_time_step():
    problems = _check("control_units_differ.mdl")
    assert _summary(problems) == [("FINAL TIME", "units")]
    assert "'FINAL TIME' is in Month but TIME STEP is in Year" in problems[0].message


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.mdl")), ids=lambda p: p.stem)
def test_reference_models_check_without_raising(path):
    spec = sim.read_mdl(path)
    names = {el.name for el in spec.elements}
    for problem in check_model(spec):
        assert isinstance(problem, Problem)
        assert problem.element in names
        assert f"'{problem.element}'" in problem.message
        assert "\n" not in problem.message


# --- output ------------------------------------------------------------------


def test_format_problems():
    problems = _check("outside_range.mdl")
    text = format_problems(problems)
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[0] == f"[range] {problems[0].message}"
    assert lines[-1] == "2 problems"
    assert format_problems([]) == "no problems found"


def test_problem_is_frozen():
    problem = Problem("x", "units", "'x': fix it")
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.kind = "range"


def test_with_lookup_table_needs_a_source(tmp_path):
    equations = """
shape = WITH LOOKUP(Time, ([(0,0)-(10,1)],(0,0),(10,1))) ~ dmnl ~ A shape with no origin. |
smoothed = SMOOTH(WITH LOOKUP(Time, ([(0,0)-(10,1)],(0,0),(10,1))), 2) ~ dmnl ~ No origin. |
"""
    problems = check_model(sim.read_mdl(write_mdl(tmp_path / "m.mdl", equations)))
    assert _summary(problems) == [("shape", "source"), ("smoothed", "source")]
    assert "'shape' (WITH LOOKUP table) does not say where" in problems[0].message


# -- effect sizes need a prior and a grade ------------------------------------------------


def _effect_model(tmp_path, comment):
    return write_mdl(
        tmp_path / "effect.mdl",
        f"""
demand elasticity = 0.3
	~	dmnl [0,1]
	~	{comment}
	|

demand = 100 * 2 ^ demand elasticity
	~	person/Year
	~	Output.
	|

stock = INTEG(demand, 0)
	~	person
	~	A stock.
	|
""",
    )


@pytest.mark.parametrize(
    ("comment", "fragment"),
    [
        ("assumption: no estimate.", "is an effect size without a prior"),
        ("assumption: x. prior: normal(0.3), grade C", "normal takes 2 numbers, not 1"),
        ("assumption: x. prior: uniform(0.5, 0.1), grade C", "is not a valid distribution"),
        ("assumption: x. prior: uniform(0, 2), grade C", "reaches outside its range [0, 1]"),
        ("assumption: x. prior: uniform(0, 0.5), grade D", "grade D is not one of A, B, C"),
    ],
)
def test_an_effect_size_without_a_sound_prior_is_a_problem(tmp_path, comment, fragment):
    problems = check_model(sim.read_mdl(_effect_model(tmp_path, comment)))
    assert [p.kind for p in problems] == ["prior"]
    assert fragment in problems[0].message


@pytest.mark.parametrize(
    "comment",
    [
        "assumption: x. prior: triangular(0, 0.3, 0.6), grade C",
        "source: a study. prior: normal(0.3, 0.1), grade B",
        "calibrated: fitted to history (the ensemble carries it).",
    ],
)
def test_a_stated_prior_or_a_calibration_satisfies_the_check(tmp_path, comment):
    assert check_model(sim.read_mdl(_effect_model(tmp_path, comment))) == []


def test_the_model_readme_lists_every_effect_size_with_its_evidence():
    from sim.engine.priors import EFFECT_NAME

    spec = sim.read_mdl(ROOT / "model" / "brain_circulation.mdl")
    readme = (ROOT / "model" / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- priors:start -->")[1].split("<!-- priors:end -->")[0]
    effects = [el.name for el in spec.of_kind("constant") if EFFECT_NAME.search(el.name)]
    assert len(effects) >= 20
    for name in effects:
        assert f"| {name} |" in table, name
    assert "| degree award additionality | 0.75 | uniform(0.25, 1) | C |" in table
