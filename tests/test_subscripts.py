"""Subscripts: Vensim's arrays, where PySD and Vensim differ, results by element, errors.

The models under ``tests/data/models/subscript_*.mdl`` are run by PySD in
``test_reference.py`` and must equal it element by element. The model under
``by_hand/`` uses what PySD does not run as Vensim does; its values are
derived here by hand.
"""

import csv
import itertools
import re

import numpy as np
import pytest

import sim
from sim.engine.errors import ModelError, ParameterError
from sim.engine.names import vensim_key
from sim.engine.vensim import read_mdl, set_constants

from conftest import MODELS, write_mdl

BY_HAND = MODELS / "by_hand" / "subscript_vensim_only.mdl"
SUBSCRIPTED = sorted(MODELS.glob("subscript_*.mdl")) + [BY_HAND]


def _at(ds, var, **where):
    return ds[var].sel(**where).isel(run=0).values


def test_a_subrange_on_the_left_takes_its_parents_element_of_the_same_name():
    ds = sim.simulate(sim.load_model(BY_HAND))
    assert ds["asia_view"].dims == ("time", "asia", "run")
    assert list(ds["asia"].values) == ["china", "korea"]
    for country, students in (("china", 100.0), ("korea", 40.0)):
        assert np.all(_at(ds, "asia_view", asia=country) == 2 * students)


def test_a_mapping_element_by_element_pairs_the_listed_elements():
    # tier: t1, t2, t3 -> (level: graduate, doctoral, undergraduate); bonus 10, 20, 30
    ds = sim.simulate(sim.load_model(BY_HAND))
    got = {lvl: float(_at(ds, "level_bonus", level=lvl)[0]) for lvl in ds["level"].values}
    assert got == {"undergraduate": 30.0, "graduate": 10.0, "doctoral": 20.0}


def test_a_subscripted_smooth_n_equals_the_scalar_one_of_each_element(tmp_path):
    ds = sim.simulate(sim.load_model(BY_HAND))
    for k, origin in enumerate(["china", "korea", "france", "usa"], start=1):
        scalar = write_mdl(
            tmp_path / f"s{k}.mdl",
            f"x = 5 + STEP(3 * {k}, 2) ~ dmnl ~ |\ny = SMOOTH N(x, 2, 1, 2) ~ dmnl ~ |",
            final=10,
            step=0.25,
        )
        one = sim.simulate(sim.load_model(scalar))
        assert np.allclose(_at(ds, "smoothed", origin=origin), _at(one, "y"), rtol=1e-12)


def test_get_time_value_relative_to_initial_time_is_initial_time_plus_the_offset():
    ds = sim.simulate(sim.load_model(BY_HAND))
    assert np.all(_at(ds, "start_clock") == 2.0)


def test_the_dataset_has_a_dim_per_range_and_the_elements_as_coordinates():
    ds = sim.simulate(sim.load_model(MODELS / "subscript_dynamics.mdl"))
    assert ds["population"].dims == ("time", "region", "age", "sex", "run")
    assert list(ds["sex"].values) == ["female", "male"]
    assert ds["population"].attrs["vensim_name"] == "population"
    assert ds["total_by_sex"].dims == ("time", "sex", "run")
    # the SUM over two of three ranges is the sum of the array's cells
    pop = ds["population"].isel(run=0)
    assert np.allclose(pop.sum(["region", "age"]), ds["total_by_sex"].isel(run=0))


def test_a_partial_array_is_nan_where_it_is_not_defined():
    ds = sim.simulate(sim.load_model(MODELS / "subscript_ranges.mdl"))
    assert ds["initial_students"].dims == ("time", "origin", "run")
    weight = ds["weight"].isel(time=0, run=0)
    assert float(weight.sel(origin="korea")) == 1.5
    assert float(weight.sel(origin="usa")) == 1.0


def test_csv_columns_name_each_element_as_vensim_does(run_cli, tmp_path):
    out = tmp_path / "run.csv"
    status, _, stderr = run_cli("simulate", MODELS / "subscript_basics.mdl", "--out", out)
    assert status == 0, stderr
    with open(out, encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert "population[north]" in header
    assert "cohort share[west,c3]" in header
    assert "total population" in header


def test_parameters_by_element_name_and_by_a_mapping_of_elements():
    model = sim.load_model(MODELS / "subscript_basics.mdl")
    base = sim.simulate(model)
    one = sim.simulate(model, {"birth rate[south]": 0.1})
    both = sim.simulate(model, {"birth rate": {"south": 0.1, "EAST": [0.01, 0.02]}})
    assert np.array_equal(
        _at(one, "population", region="north"), _at(base, "population", region="north")
    )
    assert not np.array_equal(
        _at(one, "population", region="south"), _at(base, "population", region="south")
    )
    assert np.array_equal(
        one["population"].sel(region="south").values[:, 0],
        both["population"].sel(region="south").values[:, 0],
    )
    assert both.sizes["run"] == 2
    with pytest.raises(ParameterError, match=r"'birth rate' has no element \[nowhere\]"):
        sim.simulate(model, {"birth rate": {"nowhere": 0.1}})
    with pytest.raises(ParameterError, match=r"'lifetime' is not subscripted"):
        sim.simulate(model, {"lifetime": {"north": 3}})
    with pytest.raises(ParameterError, match=r"outside its range"):
        sim.simulate(model, {"birth rate[north]": 2})


def test_one_value_for_an_array_s_name_goes_to_every_element_as_pysd_takes_it():
    model = sim.load_model(MODELS / "subscript_basics.mdl")
    regions = ("north", "south", "east", "west")
    one = sim.simulate(model, {"birth rate": [0.01, 0.06]})
    each = sim.simulate(model, {"birth rate": {r: [0.01, 0.06] for r in regions}})
    assert np.array_equal(one["population"].values, each["population"].values)
    base = sim.simulate(model)
    for r in regions:  # every element moved, and by the same rate
        assert not np.array_equal(
            _at(one, "population", region=r), _at(base, "population", region=r)
        )
    with pytest.raises(ParameterError, match=r"outside its range"):
        sim.simulate(model, {"birth rate": 2})


def test_set_constants_writes_one_cell_of_an_array(tmp_path):
    mdl = tmp_path / "basics.mdl"
    mdl.write_text((MODELS / "subscript_basics.mdl").read_text())
    text = set_constants(mdl, {"cohort share[south,c2]": 0.45, "birth rate[west]": 0.01}, "Fit x.")
    mdl.write_text(text)
    spec = read_mdl(mdl)
    assert spec.element("cohort share[south,c2]").expr.value == 0.45
    assert spec.element("cohort share[south,c1]").expr.value == 0.4
    assert spec.element("birth rate[west]").expr.value == 0.01
    assert spec.element("birth rate[north]").expr.value == 0.03
    assert text.count("Fit x.") == 2
    with pytest.raises(ModelError, match=r"'population\[north\]' is not a constant"):
        set_constants(mdl, {"population[north]": 1}, "Fit x.")


BAD = [
    (
        "region: a, b ~~|\nage: x, y ~~|\nv[age] = 1, 2 ~ dmnl ~ |\ny[region] = v[age] ~ dmnl ~ |",
        r"'y\[a\]' uses subscript 'age', which its left-hand side does not run over",
    ),
    (
        "region: a, b ~~|\nv[region] = 1, 2 ~ dmnl ~ |\ny = v ~ dmnl ~ |",
        r"'y' uses 'v' without subscripts",
    ),
    (
        "region: a, b ~~|\nv[region] = 1, 2 ~ dmnl ~ |\ny = v[c] ~ dmnl ~ |",
        r"'y' uses 'c', which is neither a subscript range nor an element",
    ),
    (
        "region: a, b ~~|\nv[a] = 1 ~ dmnl ~ |\ny[region] = v[region] ~ dmnl ~ |",
        r"'y\[b\]' uses 'v\[b\]', which the model does not define",
    ),
    (
        "region: a, b ~~|\nv[region] = 1 ~ dmnl ~ |\nv[a] = 2 ~ dmnl ~ |",
        r"'v\[a\]' is defined twice",
    ),
    (
        "region: a, b ~~|\nv[region] = 1, 2, 3 ~ dmnl ~ |",
        r"the constant array of 'v' has 3 numbers for 2 elements",
    ),
    (
        "region: a, b ~~|\nv[region] = 1, 2 ~ dmnl ~ |\ny = SUM(v[region]) ~ dmnl ~ |",
        r"'y' calls SUM without a 'range!' subscript",
    ),
    (
        "region: a, b ~~|\nv[region] = 1, 2 ~ dmnl ~ |\ny[region] = v[region!] ~ dmnl ~ |",
        r"uses 'region!' outside SUM",
    ),
    ("region: a, b -> age ~~|\nage: x, y, z ~~|", r"'region' \(2 elements\) maps to 'age' \(3\)"),
    (
        "region: a, b ~~|\nv[region] = 1, 2 ~ dmnl ~ |\n"
        "y = VECTOR SELECT(v[region!], v[region!], 0, 12, 0) ~ dmnl ~ |",
        r"'y' calls VECTOR SELECT with a numerical action that is not a number from 0 to 10",
    ),
    ("all: part, c ~~|\npart: all ~~|", r"is defined by itself"),
    (
        "region: a, b ~~|\nv[region, region] = 1 ~ dmnl ~ |",
        r"bad\.mdl: 'v' runs over 'region' twice; use an equivalent range",
    ),
    (
        "region: a, b ~~|\nv[region] = 1, 2 ~ dmnl ~ |\nv[region, region] = 1 ~ dmnl ~ |",
        r"'v' is defined with 2 subscripts and with 1 elsewhere",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=range(len(BAD)))
def test_bad_subscripts_are_one_clear_error(tmp_path, text, message):
    mdl = write_mdl(tmp_path / "bad.mdl", text)
    with pytest.raises(ModelError, match=message):
        sim.load_model(mdl)


def test_equal_length_ranges_combine_only_when_mapped(tmp_path):
    text = (
        "region: a, b ~~|\nage: x, y{map} ~~|\nv[age] = 1, 2 ~ dmnl ~ |\n"
        "y[region] = v[age] * 10 ~ dmnl ~ |"
    )
    with pytest.raises(ModelError, match="map the ranges with '->'"):
        sim.load_model(write_mdl(tmp_path / "a.mdl", text.format(map="")))
    ds = sim.simulate(sim.load_model(write_mdl(tmp_path / "b.mdl", text.format(map=" -> region"))))
    assert list(ds["y"].isel(time=0, run=0).values) == [10.0, 20.0]


# --- every construct appears in a test model -----------------------------------------

CONSTRUCTS = {
    "list range": r"^\w[\w ]*:\s*\w[\w ]*,",
    "numeric range": r":\s*\(\w*\d+\s*-\s*\w*\d+\)",
    "range of ranges": None,
    "subrange": None,
    "mapping by position": r"->\s*\w",
    "mapping by element": r"->\s*\(",
    "equivalence": r"<->",
    ":EXCEPT:": r":EXCEPT:",
    "partial definition": None,
    "element definition": None,
    "constant array": r"=\s*[\d.]+\s*,\s*[\d.]+",
    "two-dimensional constant array": r"[\d.]+\s*;\s*[\d.]+",
    "tabbed array": r"TABBED ARRAY",
    "bang": r"!\]|!,",
    "SUM": r"\bSUM\(",
    "PROD": r"\bPROD\(",
    "VMIN": r"\bVMIN\(",
    "VMAX": r"\bVMAX\(",
    "ELMCOUNT": r"\bELMCOUNT\(",
    "range as a value": None,
    "three dimensions": None,
    "subscripted stock": None,
    "subscripted lookup": None,
    "subscripted SMOOTH": None,
    "subscripted DELAY": None,
    "subscripted DELAY N": None,
    "subscripted SMOOTH N": None,
    "subscripted TREND": None,
    "subscripted INITIAL": None,
}


_STATEFUL = {
    "SMOOTH": "subscripted SMOOTH",
    "DELAY": "subscripted DELAY",
    "DELAY N": "subscripted DELAY N",
    "SMOOTH N": "subscripted SMOOTH N",
    "TREND": "subscripted TREND",
    "INITIAL": "subscripted INITIAL",
}


def _constructs(path) -> set:
    """Return the subscript constructs ``path`` uses, from its text and its spec."""
    text = path.read_text()
    found = {n for n, pattern in CONSTRUCTS.items() if pattern and re.search(pattern, text, re.M)}
    spec = read_mdl(path)
    sets = {k: set(v) for k, v in spec.ranges.elements.items()}
    if any(a < b for a in sets.values() for b in sets.values()):
        found.add("subrange")
    for body in re.findall(r"^\w[\w ]*:\s*([^~]*)~", text, re.M):
        if any(vensim_key(item) in sets for item in body.split(",")):
            found.add("range of ranges")
    for name, subs in re.findall(r"^([\w ]+)\[([^\]]+)\][^=~]*=", text, re.M):
        keys = [vensim_key(s) for s in subs.split(",")]
        if any(k not in sets for k in keys):
            found.add("element definition")
        elif len(spec.array(name)) > len(list(itertools.product(*(sets[k] for k in keys)))):
            found.add("partial definition")
    for el in spec.elements:
        if len(el.coords) >= 3:
            found.add("three dimensions")
        if el.coords and el.kind in ("stock", "lookup"):
            found.add(f"subscripted {el.kind}")
    found |= {_STATEFUL[st.function] for st in spec.statefuls if "[" in st.key}
    if any(re.search(rf"=\s*\n\s*{re.escape(spec.ranges.label(r))}\s*\n", text) for r in sets):
        found.add("range as a value")
    return found


def test_every_subscript_construct_appears_in_a_test_model():
    found = set().union(*(_constructs(p) for p in SUBSCRIPTED))
    assert set(CONSTRUCTS) - found == set()


# --- the commands on a small subscripted model ----------------------------------------

TINY = """
region: north, south ~~|
students[region] = INTEG(entry[region] - leaving[region], 50) ~ person ~ |
entry[region] = growth rate[region] * students[region] * (1 - students[region] / capacity) \
~ person/Year ~ |
leaving[region] = students[region] / stay ~ person/Year ~ |
growth rate[region] = 0.3, 0.5 ~ 1/Year [0.05, 1] ~ calibrated: test value |
capacity = 1000 ~ person [200, 5000] ~ calibrated: test value |
stay = 4 ~ Year [1, 10] ~ assumption: test value |
total students = SUM(students[region!]) ~ person ~ |
"""


@pytest.fixture
def project(tmp_path):
    mdl = write_mdl(tmp_path / "tiny.mdl", TINY, final=2030, step=0.125)
    mdl.write_text(mdl.read_text().replace("INITIAL TIME = 0", "INITIAL TIME = 2000"))
    (tmp_path / "case.yaml").write_text(
        "name: case\ntitle: {en: Case, ja: 事例}\ndescription: {en: A test, ja: テスト}\n"
        "uncertainty:\n  distributions:\n    growth rate[north]: {uniform: [0.2, 0.4]}\n"
        "  samples: 20\n  seed: 1\nset:\n  growth rate: {south: 0.6}\n",
        encoding="utf-8",
    )
    # generated by the model itself at growth rate 0.45 (north), 0.6 (south), capacity 800
    from sim.studies import calibrate as cal

    model = sim.load_model(mdl)
    rows = [
        (f"intl_students_{r}", y, f"students[{r}]")
        for r in ("north", "south")
        for y in range(2001, 2026, 2)
    ]
    obs = [cal.Observation(series, y, 1.0, "persons", "", "", var) for series, y, var in rows]
    problem = cal.make_problem(model, tuple(obs))
    truth = {"growth rate[north]": 0.45, "growth rate[south]": 0.6, "capacity": 800.0}
    values = cal.modelled(problem, np.array([truth[n] for n in problem.names])[:, None])[:, 0]
    with open(tmp_path / "history.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["series", "year", "value", "unit", "source", "note", "model_variable"])
        for (series, year, var), value in zip(rows, values, strict=True):
            w.writerow([series, year, repr(float(value)), "persons", "generated", "", var])
    return tmp_path


def test_run_on_a_subscripted_model_reports_each_element(run_cli, project):
    status, stdout, stderr = run_cli(
        "run",
        "case.yaml",
        "--model",
        "tiny.mdl",
        "--history",
        "history.csv",
        "--out",
        "out",
        "--outputs",
        "total students",
        "entry",  # a whole subscripted variable: each of its elements
        cwd=project,
    )
    assert status == 0, stderr
    assert stdout.startswith("No targets: the model defines none of the J-MIRAI")
    with open(project / "out" / "summary.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    variables = {r["variable"] for r in rows}
    assert {"students[north]", "students[south]", "total students"} <= variables
    assert {"entry[north]", "entry[south]"} <= variables
    # the north varies with its drawn growth rate; the south is set and does not
    south = [r for r in rows if r["variable"] == "students[south]" and r["year"] == "2010"][0]
    north = [r for r in rows if r["variable"] == "students[north]" and r["year"] == "2010"][0]
    assert float(south["sd"]) < 1e-9 * float(south["mean"])
    assert float(north["sd"]) > 0.0


def test_sweep_on_a_subscripted_model_finds_the_elements_apart(run_cli, project):
    status, _, stderr = run_cli(
        "sweep",
        "case.yaml",
        "--model",
        "tiny.mdl",
        "--method",
        "sobol",
        "-n",
        "64",
        "--params",
        "growth rate",  # a whole subscripted constant: each of its elements
        "capacity",
        "--outputs",
        "students[north]",
        "--out",
        "sw",
        cwd=project,
    )
    assert status == 0, stderr
    with open(project / "sw" / "indices.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["output"] == "students[north]"]
    first = {
        r["parameter"]: float(r["value"])
        for r in rows
        if r["index"] == "ST" and r["year"] == "2024"
    }
    assert first["growth rate[south]"] == 0.0  # the south's rate never reaches the north
    assert first["growth rate[north]"] > 0.1


def test_calibrate_on_a_subscripted_model_recovers_each_element(run_cli, project):
    status, _, stderr = run_cli(
        "calibrate",
        "tiny.mdl",
        "--history",
        "history.csv",
        "--out",
        "cal",
        "--ensemble",
        "ens.csv",
        "--starts",
        "1",
        "--samples",
        "200",
        "--update-model",
        cwd=project,
    )
    assert status == 0, stderr
    fitted = read_mdl(project / "tiny.mdl")
    assert fitted.element("growth rate[north]").expr.value == pytest.approx(0.45, rel=0.05)
    assert fitted.element("growth rate[south]").expr.value == pytest.approx(0.6, rel=0.05)
    assert fitted.element("capacity").expr.value == pytest.approx(800, rel=0.05)


def test_the_diagram_draws_each_array_once(tmp_path):
    from sim.reports.diagram import stock_flow_diagram

    mdl = write_mdl(tmp_path / "t.mdl", TINY, final=2030, step=0.125)
    fig, ax = stock_flow_diagram(read_mdl(mdl))
    stocks = [p.get_gid() for p in ax.patches if (p.get_gid() or "").startswith("stock:")]
    assert stocks == ["stock:students[north]"]
    labels = {t.get_text() for t in ax.texts}
    assert "students[region]" in labels
    assert "entry[region]" in labels


def test_a_scenario_sets_every_element_of_an_array_with_one_value(project):
    from sim.studies.scenario import ScenarioError, load_scenario

    model = sim.load_model(project / "tiny.mdl")
    path = project / "case.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("growth rate: {south: 0.6}", "growth rate: 0.6"), "utf-8")
    got = load_scenario(path, model).set
    assert got["growth rate[north]"] == got["growth rate[south]"] == 0.6
    path.write_text(text.replace("growth rate: {south: 0.6}", "growth rate: 3"), "utf-8")
    with pytest.raises(ScenarioError, match=r"case.yaml:\d+: set.growth rate: 3 is outside"):
        load_scenario(path, model)
    # a draw is of one element: the array's name alone says which to name
    path.write_text(text.replace("growth rate[north]: {uniform", "growth rate: {uniform"), "utf-8")
    with pytest.raises(ScenarioError, match=r"subscripted; .* e.g. 'growth rate\[north\]'$"):
        load_scenario(path, model)


def test_the_scenario_schema_accepts_a_subscripted_constant_by_element(project):
    import jsonschema
    import yaml

    from sim.studies.scenario import schema

    doc = schema(sim.load_model(project / "tiny.mdl"))
    case = yaml.safe_load((project / "case.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(case, doc)  # set: {growth rate: {south: 0.6}}
    case["set"] = {"growth rate": {"south": "high"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(case, doc)


def test_a_sum_over_hundreds_of_elements_compiles_and_is_exact(tmp_path):
    # a chain of 301 terms would nest deeper than Python compiles: reductions are balanced
    mdl = write_mdl(
        tmp_path / "big.mdl",
        "age: (a0-a300) ~~|\nx[age] = age ~ dmnl ~ |\n"
        "total = SUM(x[age!]) ~ dmnl ~ |\noldest = VMAX(x[age!]) ~ dmnl ~ |",
        final=1,
        step=1,
    )
    ds = sim.simulate(sim.load_model(mdl))
    assert float(ds["total"][0, 0]) == 301 * 302 / 2
    assert float(ds["oldest"][0, 0]) == 301.0


# --- arrays computed as one block ---------------------------------------------------------

BLOCKED = """
region: north, south, east ~~|
students[region] = INTEG(entry[region] - leaving[region], 50) ~ person ~ |
entry[region] = growth rate[region] * students[region] * (1 - students[region] / capacity) \
~ person/Year ~ |
leaving[region] = students[region] / stay * EXP(-Time / 40) ~ person/Year ~ |
growth rate[region] = 0.3, 0.5, 0.4 ~ 1/Year [0.05, 1] ~ |
capacity = 1000 ~ person [200, 5000] ~ |
stay = 4 ~ Year [1, 10] ~ |
total students = SUM(students[region!]) ~ person ~ |
"""


def _scalar_copy(regions=("north", "south", "east"), rates=(0.3, 0.5, 0.4)) -> str:
    lines = []
    for r, g in zip(regions, rates, strict=True):
        lines += [
            f"students {r} = INTEG(entry {r} - leaving {r}, 50) ~ person ~ |",
            f"entry {r} = growth rate {r} * students {r} * (1 - students {r} / capacity) "
            "~ person/Year ~ |",
            f"leaving {r} = students {r} / stay * EXP(-Time / 40) ~ person/Year ~ |",
            f"growth rate {r} = {g} ~ 1/Year [0.05, 1] ~ |",
        ]
    lines += [
        "capacity = 1000 ~ person [200, 5000] ~ |",
        "stay = 4 ~ Year [1, 10] ~ |",
        "total students = students north + students south + students east ~ person ~ |",
    ]
    return "\n".join(lines)


def test_an_array_computed_as_one_block_equals_its_elements_written_one_by_one(tmp_path):
    blocked = sim.load_model(write_mdl(tmp_path / "blocked.mdl", BLOCKED, final=20))
    scalar = sim.load_model(write_mdl(tmp_path / "scalar.mdl", _scalar_copy(), final=20))
    # the array's flows and its stocks' derivatives are each one numpy block
    assert "b_entry_north = " in blocked.source
    assert "D[0:3] = " in blocked.source
    capacity = {"capacity": np.array([300.0, 1000.0, 4000.0])}
    for method in ("euler", "rk4"):
        a = sim.simulate(blocked, capacity, method=method)
        b = sim.simulate(scalar, capacity, method=method)
        for region in ("north", "south", "east"):
            got = a["students"].sel(region=region).values
            assert np.array_equal(got, b[f"students_{region}"].values), (method, region)
        assert np.array_equal(a["total_students"].values, b["total_students"].values)
    one = sim.simulate(blocked, method="RK45")  # solve_ivp: states without a run axis
    assert np.allclose(
        one["total_students"].values,
        sim.simulate(scalar, method="RK45")["total_students"].values,
        rtol=1e-9,
    )
