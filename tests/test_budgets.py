"""Budgets in yen: scenario files set a programme's budget in 億円, the model turns it into people.

A tiny model with the shipped model's budget pattern (a budget lever acting
on a headcount lever through a documented unit cost, then an additionality)
checks the arithmetic exactly; the shipped model's budget layer is checked to
leave the fitted run untouched at the baseline budgets.
"""

import numpy as np
import pytest
import yaml

import sim
from sim.studies.runner import scenario_constants
from sim.studies.scenario import ScenarioError, budget_levers, levers, load_scenario

from conftest import DATA, ROOT


@pytest.fixture(scope="module")
def tiny():
    """The shipped budget pattern on one programme: 1,000 million yen buys 100 fellows."""
    return sim.load_model(DATA / "budgets" / "fellowship_fund.mdl")


def _scenario(folder, name, **keys):
    doc = {
        "name": name,
        "title": {"en": name, "ja": name},
        "description": {"en": name, "ja": name},
        "uncertainty": "none",
        **keys,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _dispatches(model, scenario, year):
    ds = sim.simulate(model, scenario_constants(scenario), outputs=["dispatches"])
    return float(ds["dispatches"].sel(time=year).values.flat[0])


def test_a_budget_lever_is_listed_apart_from_the_levers(tiny):
    assert list(budget_levers(tiny)) == ["fellowship fund"]
    assert budget_levers(tiny)["fellowship fund"][1] == "fellowships"
    assert "fellowship fund budget" not in levers(tiny)


def test_doubling_a_budget_adds_budget_over_unit_cost_times_additionality(tiny, tmp_path):
    doubled = load_scenario(
        _scenario(
            tmp_path,
            "doubled",
            budgets=[
                {"programme": "fellowship fund", "from": 2026, "ramp_years": 2, "change": 10}
            ],
        ),
        tiny,
    )
    same = load_scenario(
        _scenario(
            tmp_path,
            "same",
            budgets=[{"programme": "fellowship fund", "from": 2026, "ramp_years": 2, "to": 20}],
        ),
        tiny,
    )
    # 10 億円 = 1,000 million yen a year more; 1,000 / (5 x 2) = 100 fellows; x 0.6 = 60
    assert scenario_constants(doubled)["fellowship fund budget target"] == 2000
    assert scenario_constants(same) == scenario_constants(doubled)
    base = load_scenario(_scenario(tmp_path, "base"), tiny)
    assert _dispatches(tiny, base, 2030) == 100
    assert _dispatches(tiny, doubled, 2030) == pytest.approx(160, abs=1e-9)
    assert _dispatches(tiny, doubled, 2027) == pytest.approx(100 + 60 * 0.5, abs=1e-9)
    assert _dispatches(tiny, doubled, 2025) == 100


def test_a_programme_cannot_be_set_by_its_budget_and_its_lever(tiny, tmp_path):
    path = _scenario(
        tmp_path,
        "both",
        policies=[{"lever": "fellowships", "from": 2026, "ramp_years": 2, "to": 300}],
        budgets=[{"programme": "fellowship fund", "from": 2026, "ramp_years": 2, "change": 5}],
    )
    with pytest.raises(ScenarioError, match=r"both\.yaml.*set twice.*'fellowships'"):
        load_scenario(path, tiny)


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        (
            {"programme": "fellowship fnd", "from": 2026, "ramp_years": 2, "to": 20},
            "unknown programme 'fellowship fnd'; did you mean 'fellowship fund'",
        ),
        (
            {"programme": "fellowship fund", "from": 2026, "ramp_years": 2, "to": 60},
            "60 億円 a year lies outside the range",
        ),
        ({"programme": "fellowship fund", "from": 2026, "ramp_years": 2}, "give either 'to'"),
        (
            {"programme": "fellowship fund", "from": 2026, "ramp_years": 2, "to": 20, "change": 1},
            "give either 'to'",
        ),
        ({"programme": "fellowship fund", "from": 2050, "ramp_years": 2, "to": 20}, "from"),
    ],
)
def test_a_bad_budget_is_one_message_naming_the_file_and_place(tiny, tmp_path, budget, message):
    path = _scenario(tmp_path, "bad", budgets=[budget])
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, tiny)
    text = str(err.value)
    assert "\n" not in text
    assert "bad.yaml" in text
    assert "budgets" in text
    assert message in text


def test_the_shipped_budget_layer_leaves_the_default_run_as_it_was_fitted():
    model = sim.load_model(ROOT / "model" / "brain_circulation.mdl")
    programmes = budget_levers(model)
    assert len(programmes) >= 10
    acts_on = {a for _, a in programmes.values()}
    assert acts_on <= set(levers(model))
    extras = [
        el.name
        for el in model.spec.of_kind("auxiliary")
        if " extra " in f" {el.name} " or el.name.endswith(" change")
    ]
    assert len(extras) >= 10
    ds = sim.simulate(model, outputs=extras, saveper=model.controls["time_step"])
    moved = [n for n in extras if np.any(ds[model.spec.element(n).py_name].values != 0)]
    assert moved == []
    # a change of each budget moves its lever's quantity, in the direction of the change
    for name, (lever, _acts) in programmes.items():
        low, high = lever.limits
        up = min(high, float(lever.expr.value) + 0.25 * (high - low))
        if up == float(lever.expr.value):
            continue
        changed = sim.simulate(model, {lever.name: up}, outputs=extras)
        assert any(np.any(changed[model.spec.element(n).py_name].values > 0) for n in extras), name


def test_rising_prices_erode_a_budget_held_flat_in_yen_from_fy2025_only():
    model = sim.load_model(ROOT / "model" / "brain_circulation.mdl")
    name = "kokuhi scholarship extra places"
    key = model.spec.element(name).py_name
    baseline = model.spec.element("kokuhi scholarship budget baseline").expr.value
    cost = model.spec.element("kokuhi scholarship cost per place year").expr.value
    ds = sim.simulate(model, {"programme cost inflation": 0.03}, outputs=[name])
    places = ds[key].isel(run=0)
    assert np.all(places.sel(time=slice(None, 2025)).values == 0)  # the fitted past stays
    # the FY2025 budget at prices e^(0.03 t) buys baseline / e^(0.03 t) places
    expected = (baseline / np.exp(0.03 * 8) - baseline) / cost
    assert float(places.sel(time=2033.0)) == pytest.approx(expected, rel=1e-12)
    # a weaker yen moves the awards paid abroad by their pass-through share only
    weak = {"exchange rate yen per usd": ([2000.0, 2040.0], [180.0, 180.0])}
    share = {"agreement study abroad support fx pass through share": 1.0}
    awards = "agreement study abroad support extra awards"
    moved = sim.simulate(model, share, tables=weak, outputs=[awards])
    held = sim.simulate(model, tables=weak, outputs=[awards])
    key = model.spec.element(awards).py_name
    assert float(moved[key].sel(time=2033.0)[0]) < 0
    assert np.all(moved[key].sel(time=slice(None, 2024)).values == 0)
    assert float(held[key].sel(time=2033.0)[0]) == 0


YEARS = np.arange(2020, 2036)


def _result(name, cost, outcome, years=YEARS, runs=3, sense="at_least"):
    from sim.studies.runner import ScenarioResult
    from sim.studies.scenario import Scenario, Uncertainty
    from sim.studies.targets import Target

    target = Target("dispatches", 2033, 1.0, sense, "dispatches")
    scenario = Scenario(
        name,
        {"en": name, "ja": name},
        {"en": "", "ja": ""},
        (),
        targets=(target,),
        uncertainty=Uncertainty("ensemble"),
    )
    values = {
        "public programme budget": np.broadcast_to(cost[:, None], (len(years), runs)).copy(),
        "dispatches": np.broadcast_to(outcome[:, None], (len(years), runs)).copy(),
    }
    return ScenarioResult(scenario, years, values, {}, runs, "")


def test_extra_cost_and_yen_per_additional_outcome_are_paired_run_sums():
    from sim.studies.costs import cost_rows

    years = np.arange(2020, 2036)
    base = _result("baseline", np.full(len(years), 1000.0), np.full(len(years), 100.0))
    more = _result(
        "more",
        np.where(years >= 2026, 2000.0, 1000.0),
        np.where(years >= 2026, 150.0, 100.0),
    )
    row = cost_rows(more, base, {"dispatches": "person/Year"})["dispatches"]
    # FY2026-FY2033: 8 years x 1,000 million yen = 80 億円; 1e9 yen in 2033 / 50 more that year
    assert row["extra_cost_oku_p50"] == pytest.approx(80)
    assert row["yen_per_additional_p50"] == pytest.approx(1e9 / 50)
    assert row["runs_with_gain"] == 1.0
    assert row["per"] == "yen a year per person"
    ratio = cost_rows(more, base, {"dispatches": "dmnl"})["dispatches"]
    assert ratio["yen_per_additional_p50"] == pytest.approx(1e9 / 5000)  # per percentage point
    assert ratio["per"] == "yen a year per percentage point"
    worse = _result("worse", more.values["public programme budget"][:, 0], np.full(16, 90.0))
    none = cost_rows(worse, base, {"dispatches": "person/Year"})["dispatches"]
    assert none["runs_with_gain"] == 0.0
    assert np.isnan(none["yen_per_additional_p50"])


def test_compare_reports_the_extra_cost_and_yen_per_additional_outcome(run_cli, tmp_path):
    import csv

    path = _scenario(
        tmp_path,
        "more-fellows",
        extends=str(ROOT / "scenarios" / "baseline.yaml"),
        budgets=[
            {"programme": "jsps overseas fellowship", "from": 2026, "ramp_years": 2, "change": 10}
        ],
    )
    text = path.read_text(encoding="utf-8").replace("uncertainty: none\n", "")
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    status, _, stderr = run_cli(
        "compare", ROOT / "scenarios" / "baseline.yaml", path, "--out", out, cwd=ROOT
    )
    assert status == 0, stderr
    with open(out / "targets.csv", encoding="utf-8") as f:
        rows = {(r["scenario"], r["variable"]): r for r in csv.DictReader(f)}
    dispatch = rows[("more-fellows", "researchers dispatched per year")]
    # +10 億円 a year ramped over 2026-2028; fiscal years run April-March, so FY2025-FY2027
    # take 1/64, 3/8 and 55/64 of it, FY2028-FY2033 all of it: 7.25 years' worth
    assert float(dispatch["extra_cost_oku_p50"]) == pytest.approx(10 * 7.25, rel=0.005)
    yen = float(dispatch["yen_per_additional_p50"])
    assert 1e6 < yen < 1e9
    assert dispatch["per"] == "yen a year per person"
    assert rows[("baseline", "researchers dispatched per year")]["extra_cost_oku_p50"] == "0.0"
    with open(out / "quantiles.csv", encoding="utf-8") as f:
        yen_rows = [r for r in csv.DictReader(f) if r["variable"].startswith("public yen per")]
    assert any(r["scenario"] == "more-fellows" and float(r["p50"]) == yen for r in yen_rows)
    assert "Public budget of the modelled programmes in FY2033" in (out / "targets.md").read_text(
        encoding="utf-8"
    )


def test_target_budget_finds_the_budget_a_goal_needs_in_oku(tiny, tmp_path):
    from sim.studies.goal import budget_constant, parse_goal, seek

    scenario = load_scenario(_scenario(tmp_path, "base"), tiny)
    lever = budget_constant(tiny, scenario, "fellowship fund")
    assert lever == "fellowship fund budget target"
    goal = parse_goal("dispatches@2030>=130", tiny)
    answer = seek(scenario, tiny, tmp_path, lever, goal, 1.0, tolerance=1.0)
    # 30 more a year = 0.6 x (B - 1,000) / (5 x 2)  ->  B = 1,500 million yen = 15 億円
    assert answer.level == pytest.approx(1500, abs=1.0)
    assert "'fellowship fund' at least 15" in answer.sentence()
    assert "億円 a year" in answer.sentence()


def test_target_budget_refuses_a_programme_the_scenario_sets_another_way(tiny, tmp_path):
    from sim.engine.errors import BrainsimError
    from sim.studies.goal import budget_constant

    moved = load_scenario(
        _scenario(
            tmp_path,
            "moved",
            policies=[{"lever": "fellowships", "from": 2026, "ramp_years": 2, "to": 300}],
        ),
        tiny,
    )
    with pytest.raises(BrainsimError, match="already sets the lever 'fellowships'"):
        budget_constant(tiny, moved, "fellowship fund")
    with pytest.raises(BrainsimError, match="unknown programme 'fellowship fun'; did you mean"):
        budget_constant(tiny, moved, "fellowship fun")


def test_costs_gives_each_programme_its_yen_a_year_per_additional_outcome(run_cli, tmp_path):
    import csv

    out = tmp_path / "costs"
    status, stdout, stderr = run_cli(
        "costs", ROOT / "scenarios" / "baseline.yaml", "--change", "10", "--out", out, cwd=ROOT
    )
    assert status == 0, stderr
    with open(out / "costs.csv", encoding="utf-8") as f:
        rows = {r["programme"]: r for r in csv.DictReader(f)}
    model = sim.load_model(ROOT / "model" / "brain_circulation.mdl")
    assert set(rows) == set(budget_levers(model))
    for name, row in rows.items():
        lever, _ = budget_levers(model)[name]
        top = (lever.limits[1] - float(lever.expr.value)) / 100
        assert float(row["change_oku"]) == pytest.approx(min(10, top)), name
    outbound = rows["agreement study abroad support"]
    assert outbound["outcome"] == "japanese students abroad per year"
    gain, yen = float(outbound["gain_p50"]), float(outbound["yen_per_additional_p50"])
    assert gain > 0
    # the median of per-run ratios sits near the ratio of the FY2033 budget to the median gain
    assert 0.5 < yen / (10e8 / gain) < 2
    assert "public yen a year per additional" in stdout


def test_the_portfolio_search_finds_the_known_best_split(tmp_path):
    from sim.studies.goal import parse_goal
    from sim.studies.portfolio import allocate

    model = sim.load_model(DATA / "budgets" / "two_funds.mdl")
    scenario = load_scenario(_scenario(tmp_path, "base"), model)
    # 10 億円 a year: the cheap fund (5 million yen a fellow-year) takes at most 3 億円 more,
    # the dear one (10) the rest; dispatches = 100 + 0.6 x (10 min(A, 3) + 5 (10 - A)),
    # highest (139) at A = 3; the goal >= 138.5 holds only for A in (2.83, 3.17)
    goal = parse_goal("dispatches@2030>=138.5", model)
    found = allocate(
        scenario, model, tmp_path, ["fellowship fund", "exchange fund"], 10, [goal], seed=1
    )
    cheap, dear = found.budgets_oku
    assert cheap + dear == pytest.approx(10)
    assert 2.83 < cheap < 3.17
    assert found.probabilities == (1.0,)
    references = {label: p for label, _, p in found.references}
    assert references == {
        "equal split": 0.0,
        "all to fellowship fund": 0.0,
        "all to exchange fund": 0.0,
    }
