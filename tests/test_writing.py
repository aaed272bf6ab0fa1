"""Writing and reading scenarios: the names a scenario can use, and outputs that agree."""

import csv
import json
import re
import shutil

import jsonschema
import pytest
import yaml

import sim
from sim.reports.catalogue import catalogue
from sim.studies.scenario import ScenarioError, levers, load_scenario, schema, series_lookups

from conftest import ROOT

MODEL = ROOT / "model" / "brain_circulation.mdl"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.fixture(scope="module")
def model():
    return sim.load_model(MODEL)


def test_names_lists_every_lever_with_unit_range_baseline_and_programme(model, run_cli):
    cat = catalogue(model)
    assert [lv["lever"] for lv in cat["levers"]] == list(levers(model))
    for lever in cat["levers"]:
        lo, hi = lever["range"]
        assert lo <= lever["baseline"] <= hi
        assert lever["unit"]
        assert lever["programme"]["en"]
        assert lever["programme"]["ja"]
    assert {s["lookup"] for s in cat["series"]} == set(series_lookups(model))
    assert "inbound capacity effect table" not in set(series_lookups(model))
    assert "exchange rate yen per usd" in set(series_lookups(model))

    status, stdout, _ = run_cli("names", "--model", MODEL, "--lang", "ja")
    assert status == 0
    assert "海外留学支援制度" in stdout
    status, stdout, _ = run_cli("names", "--model", MODEL, "--json")
    assert json.loads(stdout)["levers"][0]["lever"] == cat["levers"][0]["lever"]


def test_schema_enums_accept_every_shipped_scenario_and_refuse_a_misspelt_lever(model):
    doc = schema(model)
    for path in SCENARIOS:
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), doc)
    bad = yaml.safe_load((ROOT / "scenarios" / "expanded-scholarships.yaml").read_text())
    bad["policies"][0]["lever"] = "scholarship coverag"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, doc)
    bad = {"name": "x", "title": {"en": "x", "ja": "x"}, "description": {"en": "x", "ja": "x"}}
    bad["series"] = {"inbound capacity effect table": {2030: 0.5}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, doc)


def _scenario(folder, name, **keys):
    doc = {
        "name": name,
        "title": {"en": name, "ja": name},
        "description": {"en": name, "ja": name},
        **keys,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_extends_takes_a_name_or_a_path_relative_to_the_file(model, tmp_path):
    (tmp_path / "mine").mkdir()
    relative = "../" * len(tmp_path.parts) + str(ROOT / "scenarios" / "weak-yen.yaml")[1:]
    by_path = _scenario(tmp_path / "mine", "a", extends=relative)
    loaded = load_scenario(by_path, model)
    assert "exchange rate yen per usd" in loaded.series
    shutil.copy(ROOT / "scenarios" / "baseline.yaml", tmp_path / "mine" / "baseline.yaml")
    by_name = _scenario(tmp_path / "mine", "b", extends="baseline")
    assert load_scenario(by_name, model).files[1][0].endswith("baseline.yaml")
    missing = _scenario(tmp_path / "mine", "c", extends="weak-yen")
    with pytest.raises(ScenarioError, match="path relative to this file"):
        load_scenario(missing, model)


def test_series_are_checked_against_the_declared_range_and_the_projection(model, tmp_path):
    cases = {
        "high": ({2030: 1000}, "outside the range [50, 300]"),
        "negative": ({2030: -5}, "outside the range [50, 300]"),
        "zero": ({2030: 0}, "outside the range [50, 300]"),
        "history": ({1800: 100}, "before the projection starts (2024)"),
        "past": ({2010: 100}, "before the projection starts (2024)"),
    }
    for name, (points, says) in cases.items():
        path = _scenario(tmp_path, name, series={"exchange rate yen per usd": points})
        with pytest.raises(ScenarioError, match=re.escape(says)):
            load_scenario(path, model)


def test_commands_work_from_any_folder(run_cli, tmp_path, small_project):
    scenario = small_project / "scenarios" / "baseline.yaml"
    status, _, stderr = run_cli("run", scenario, "--out", tmp_path / "out", cwd=tmp_path)
    assert status == 0, stderr
    assert (tmp_path / "out" / "targets.csv").is_file()
    assert "wrote " in stderr
    assert str(tmp_path / "out") in stderr


def test_outputs_name_variables_alike_carry_units_and_a_difference_from_baseline(
    tmp_path, small_project
):
    import subprocess
    import sys

    import xarray as xr

    out = tmp_path / "out"
    names = ("baseline", "expanded-scholarships")
    scenarios = [small_project / "scenarios" / f"{n}.yaml" for n in names]
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "compare", *map(str, scenarios), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=small_project,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    with open(out / "quantiles.csv", encoding="utf-8") as fh:
        quantiles = list(csv.DictReader(fh))
    with open(out / "summary.csv", encoding="utf-8") as fh:
        summary = list(csv.DictReader(fh))
    with open(out / "difference.csv", encoding="utf-8") as fh:
        difference = list(csv.DictReader(fh))
    ds = xr.open_dataset(out / "results.nc")
    names = {r["variable"] for r in quantiles}
    assert names == {r["variable"] for r in summary}
    assert set(ds.data_vars) <= names  # results.nc keeps the kept outputs run by run
    abroad = "japanese students abroad per year"
    assert {r["unit"] for r in quantiles if r["variable"] == abroad} == {"person/Year"}
    assert ds[abroad].attrs["units"] == "person/Year"
    # a fiscal-year mean cannot be measured in the run's last years: no row, and said so
    assert ds[abroad].attrs["measured_years"] == "2000-2038"
    assert max(int(r["year"]) for r in quantiles if r["variable"] == abroad) == 2038

    row = next(
        r
        for r in difference
        if r["variable"] == abroad and r["year"] == "2033" and r["scenario"] != "baseline"
    )
    p50 = {
        r["scenario"]: float(r["p50"])
        for r in quantiles
        if r["variable"] == abroad and r["year"] == "2033"
    }
    assert float(row["baseline_p50"]) == pytest.approx(p50["baseline"])
    assert float(row["p50"]) == pytest.approx(p50["expanded-scholarships"])
    assert float(row["difference_pct"]) == pytest.approx(
        100 * (p50["expanded-scholarships"] / p50["baseline"] - 1)
    )
    # run by run over the same ensemble: the band of the difference sits around its median
    assert float(row["difference_p05"]) <= float(row["difference_p50"])
    assert float(row["difference_p50"]) <= float(row["difference_p95"])
    assert float(row["difference_p50"]) > 0
    assert not any(r["scenario"] == "baseline" for r in difference)


def test_each_lever_has_its_own_start_year_and_ramp(model, tmp_path):
    from sim.studies.runner import run_scenarios, scenario_constants
    from sim.studies.stem import ramped_constants

    path = _scenario(
        tmp_path,
        "staggered",
        uncertainty="none",
        policies=[
            {"lever": "scholarship coverage", "from": 2026, "ramp_years": 2, "to": 0.5},
            {"lever": "researcher fellowships", "from": 2030, "ramp_years": 5, "to": 1000},
        ],
    )
    scenario = load_scenario(path, model)
    constants = scenario_constants(scenario)
    assert constants["scholarship coverage policy start year"] == 2026
    assert constants["researcher fellowships policy start year"] == 2030
    assert constants["researcher fellowships policy ramp years"] == 5
    # every lever and its timing act only through its own ramp: scenarios share their past
    assert {model.spec.element(n).key for n in constants} <= ramped_constants(model)

    ds = sim.simulate(
        model, constants, outputs=["scholarship coverage", "researcher fellowships per year"]
    )
    at = {t: ds.sel(time=t).isel(run=0) for t in (2025.0, 2028.0, 2029.0, 2032.0, 2036.0)}
    fellows = "researcher_fellowships_per_year"
    assert float(at[2028.0]["scholarship_coverage"]) == pytest.approx(0.5)
    assert float(at[2029.0][fellows]) == pytest.approx(130)  # not started yet
    assert float(at[2032.0][fellows]) == pytest.approx(130 + (1000 - 130) * 2 / 5)
    assert float(at[2036.0][fellows]) == pytest.approx(1000)
    fellows = "researcher fellowships per year"

    # the shared stem is the same arithmetic as running the scenario alone
    timing = {fellows: "fiscal_mean"}
    together = run_scenarios([scenario], model, timing, ROOT)[0].values[fellows]
    assert together[list(range(2000, 2041)).index(2033), 0] == pytest.approx(
        130 + (1000 - 130) * (2033.75 - 2030) / 5, rel=2e-2
    )
