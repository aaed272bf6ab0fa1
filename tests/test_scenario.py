"""Scenario files: loading, the shipped set, bad input, interruption and reproducibility."""

import csv
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import sim
from sim.studies.runner import output_timing, run_scenarios, tables
from sim.studies.scenario import ScenarioError, load_scenario, schema
from sim.studies.targets import TARGETS

from conftest import ROOT

SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
MODEL = ROOT / "model" / "brain_circulation.mdl"
EXPECTED = {
    "baseline",
    "expanded-scholarships",
    "researcher-fellowships",
    "joint-research-funds",
    "employment-support",
    "university-capacity",
    "research-environment",
    "weak-yen",
    "strong-yen",
    "border-shock",
    "jmirai-package",
    "jmirai-package-yen",
    "china-demand-fall",
    "origin-screening",
    "asean-india-push",
    "competitor-caps",
    "weaker-dollar",
    "horizon-europe",
}


@pytest.fixture(scope="module")
def model():
    return sim.load_model(MODEL)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """``brainsim compare scenarios/*.yaml`` once, for the tests that read its output."""
    out = tmp_path_factory.mktemp("compare") / "all"
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "compare", *map(str, SCENARIOS), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    with open(out / "targets.csv", encoding="utf-8") as fh:
        targets = list(csv.DictReader(fh))
    return out, proc.stdout, targets


def test_the_scenario_set_is_complete_and_loads(model):
    assert {p.stem for p in SCENARIOS} == EXPECTED
    for path in SCENARIOS:
        scenario = load_scenario(path, model)
        assert scenario.title["ja"]
        assert scenario.description["en"]
        assert scenario.targets[: len(TARGETS)] == TARGETS


def test_compare_writes_every_output(compared, model):
    out, stdout, targets = compared
    assert {p.name for p in out.iterdir()} == {
        "results.nc",
        "summary.csv",
        "quantiles.csv",
        "targets.csv",
        "targets.md",
        "manifest.json",
        "difference.csv",
        ".brainsim-output.json",
    }
    with open(out / "quantiles.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["scenario", "variable", "unit", "year", "p05", "p50", "p95"]
    variables = {r["variable"] for r in rows}
    with open(ROOT / "model" / "history.csv", encoding="utf-8") as fh:
        history_vars = {model.spec.element(r["model_variable"]).name for r in csv.DictReader(fh)}
    assert {t.variable for t in TARGETS} | history_vars <= variables
    years = {int(r["year"]) for r in rows if r["variable"] == "international students in japan"}
    assert years == set(range(2000, 2040))
    for r in rows:
        assert float(r["p05"]) <= float(r["p50"]) <= float(r["p95"])
    assert len(targets) == len(EXPECTED) * len(TARGETS)
    assert "| jmirai-package |" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["sha256"] == sim.read_mdl(MODEL).sha256
    assert set(manifest["runs"]) == EXPECTED
    assert len(manifest["scenarios"]) == len(EXPECTED)


def _probabilities(targets, scenario):
    return {r["target"]: float(r["probability"]) for r in targets if r["scenario"] == scenario}


def _medians(targets, scenario):
    return {r["target"]: float(r["p50"]) for r in targets if r["scenario"] == scenario}


EMPLOYMENT = "domestic employment rate jmirai basis"


def test_jmirai_package_moves_every_other_target_output_toward_its_target(compared):
    _, _, targets = compared
    base, package = _medians(targets, "baseline"), _medians(targets, "jmirai-package")
    base_p = _probabilities(targets, "baseline")
    package_p = _probabilities(targets, "jmirai-package")
    for target in TARGETS:
        if target.variable == EMPLOYMENT:
            continue
        assert package[target.label] > base[target.label], target.label
        assert package_p[target.label] >= base_p[target.label], target.label


def test_jmirai_package_dilutes_employment_as_its_extra_students_graduate(compared):
    # Loops B2 and B4: the package's extra international students compete for the
    # same employer demand, so the employment rate falls even with doubled support.
    _, _, targets = compared
    base, package = _medians(targets, "baseline"), _medians(targets, "jmirai-package")
    label = next(t.label for t in TARGETS if t.variable == EMPLOYMENT)
    students = next(t.label for t in TARGETS if t.variable == "international students in japan")
    assert package[students] > base[students]
    assert package[label] < base[label]


def test_effect_sizes_drawn_from_their_priors_are_named_where_they_drive_a_target(compared):
    # The ensemble carries the effect sizes no fit identifies, drawn from their priors:
    # the package's long-term segment rests on the awards' additionality (grade C).
    out, _, targets = compared
    row = next(
        r
        for r in targets
        if r["scenario"] == "jmirai-package"
        and r["variable"] == "long term students abroad per year"
    )
    assert row["driven_by"].startswith("degree award additionality (grade C, rho +")
    baseline = [r for r in targets if r["scenario"] == "baseline"]
    assert all(r["driven_by"] == "" for r in baseline)  # baseline levers use none of them
    assert "driven most by" in (out / "targets.md").read_text(encoding="utf-8")


def test_every_run_draws_the_effect_sizes_from_their_priors(model):
    from sim.engine.priors import is_effect_size, read_prior
    from sim.studies.runner import parameters

    scenario = load_scenario(ROOT / "scenarios" / "baseline.yaml", model)
    params, n, _ = parameters(scenario, model, ROOT)
    drawn = [el for el in model.spec.of_kind("constant") if is_effect_size(el) and read_prior(el)]
    assert len(drawn) >= 9
    for el in drawn:
        values = params[el.name]
        prior = read_prior(el)
        assert len(values) == n
        assert prior.params[0] <= values.min() < values.max() <= prior.params[-1], el.name


def test_a_weaker_yen_means_fewer_students_abroad(compared):
    _, _, targets = compared
    median = {
        r["scenario"]: float(r["p50"])
        for r in targets
        if r["variable"] == "japanese students abroad per year"
    }
    assert median["weak-yen"] < median["baseline"] < median["strong-yen"]


def test_series_override_keeps_history_before_its_first_year(model):
    scenario = load_scenario(ROOT / "scenarios" / "weak-yen.yaml", model)
    xs, ys = tables(scenario, model)["exchange rate yen per usd"]
    original = next(lk for lk in model.spec.lookups if lk.key == "exchange_rate_yen_per_usd")
    kept = [x for x in original.xs if x < 2024]
    assert list(xs[: len(kept)]) == kept
    assert xs[len(kept) :] == [2024.0, 2030.0, 2040.0]
    assert ys[len(kept) :] == [151.0, 170.0, 180.0]


def test_distributions_are_sampled_reproducibly(model, tmp_path):
    path = tmp_path / "spread.yaml"
    path.write_text(
        "name: spread\ntitle: {en: Spread, ja: 幅}\ndescription: {en: d, ja: d}\n"
        "uncertainty:\n  distributions:\n"
        "    exchange rate perception time: {uniform: [0.5, 2]}\n"
        "  samples: 40\n  seed: 7\n",
        encoding="utf-8",
    )
    scenario = load_scenario(path, model)
    timing = output_timing(model)
    one, two = (run_scenarios([scenario], model, timing, ROOT)[0] for _ in range(2))
    assert one.n_runs == 40
    for name in timing:
        np.testing.assert_array_equal(one.values[name], two.values[name])
    spread = one.values["international students in japan"][30]
    assert spread.max() > spread.min()


def test_schema_accepts_every_shipped_scenario_and_rejects_a_bad_one():
    import jsonschema
    import yaml

    document = schema()
    for path in SCENARIOS:
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "title": {"en": "x"}, "description": {}}, document)


def test_schema_command_prints_json(run_cli):
    status, stdout, _ = run_cli("schema")
    assert status == 0
    assert json.loads(stdout)["required"] == ["name", "title", "description"]


# --- bad input --------------------------------------------------------------------

GOOD = """name: bad
title: {en: A test, ja: テスト}
description: {en: A test scenario., ja: テスト用のシナリオ。}
extends: baseline
"""

BAD_CASES = [
    # (id, text after the header or the whole file, expected fragments)
    (
        "yaml-syntax",
        GOOD + "set: {policy start year: [2030\n",
        [":6:", "not valid YAML", "on line 5"],
    ),
    ("unknown-key", GOOD + "polices: []\n", [":5:", "polices", "did you mean 'policies'"]),
    (
        "unknown-constant",
        GOOD + "set:\n  scholarship coverage targe: 0.3\n",
        [":6:", "set.scholarship coverage targe", "did you mean 'scholarship coverage target'"],
    ),
    (
        "out-of-range",
        GOOD + "set:\n  scholarship coverage target: 1.5\n",
        [":6:", "outside the range [0, 1]"],
    ),
    (
        "not-a-number",
        GOOD + "set:\n  scholarship coverage target: lots\n",
        [":6:", "'lots' is not a number"],
    ),
    ("nan", GOOD + "set:\n  scholarship coverage target: .nan\n", [":6:", "not a finite number"]),
    (
        "missing-base",
        GOOD.replace("extends: baseline", "extends: basline"),
        [":4:", "no base scenario 'basline'", "did you mean 'baseline'"],
    ),
    (
        "unknown-lever",
        GOOD + "policies:\n  - {lever: scholarships, from: 2026, ramp_years: 4, to: 0.3}\n",
        [":6:", "policies[0].lever", "unknown lever 'scholarships'"],
    ),
    (
        "policy-missing-key",
        GOOD + "policies:\n  - {lever: scholarship coverage, from: 2026, to: 0.3}\n",
        [":6:", "lacks 'ramp_years'"],
    ),
    (
        "lever-twice",
        GOOD + "policies:\n"
        "  - {lever: scholarship coverage, from: 2026, ramp_years: 4, to: 0.3}\n"
        "  - {lever: scholarship coverage, from: 2028, ramp_years: 4, to: 0.5}\n",
        [":7:", "policies[1].lever", "moved twice"],
    ),
    (
        "unknown-lookup",
        GOOD + "series:\n  exchange rate: {2030: 170}\n",
        [":6:", "unknown lookup 'exchange rate'", "exchange rate yen per usd"],
    ),
    (
        "target-variable",
        GOOD + "targets:\n  - {variable: students abroad, year: 2033, at_least: 5}\n",
        [":6:", "unknown variable 'students abroad'"],
    ),
    (
        "target-sense",
        GOOD + "targets:\n  - {variable: net researcher flow, year: 2033}\n",
        [":6:", "exactly one of at_least or at_most"],
    ),
    (
        "missing-japanese",
        GOOD.replace("title: {en: A test, ja: テスト}", "title: {en: A test}"),
        [":2:", "title.ja is missing"],
    ),
    ("duplicate-key", GOOD + "set: {}\nset: {}\n", [":6:", "appears twice"]),
    ("name-mismatch", GOOD.replace("name: bad", "name: other"), [":1:", "differs from the file"]),
    (
        "distribution",
        GOOD + "uncertainty:\n  distributions:\n    exchange rate perception time: "
        "{gaussian: [1, 0.1]}\n",
        [":7:", "unknown distribution 'gaussian'", "'normal'"],
    ),
]


@pytest.mark.parametrize(("case", "text", "fragments"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_scenario_is_one_clear_line(run_cli, tmp_path, case, text, fragments):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "baseline.yaml").write_text((ROOT / "scenarios" / "baseline.yaml").read_text())
    bad = folder / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    status, stdout, stderr = run_cli(
        "run",
        bad,
        "--out",
        out,
        "--force",  # a folder of earlier results, left as it was when the run fails
        "--model",
        MODEL,
        "--history",
        ROOT / "model" / "history.csv",
    )
    assert status == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert f"{bad}" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_load_errors_are_scenario_errors(model, tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ScenarioError, match=r"x\.yaml:1: a scenario is a mapping"):
        load_scenario(path, model)


# --- interruption and reproducibility -----------------------------------------------


def test_interrupted_run_leaves_nothing_and_a_rerun_is_identical(tmp_path, small_project):
    root = small_project
    chosen = [
        str(root / "scenarios" / f"{n}.yaml") for n in ("baseline", "weak-yen", "border-shock")
    ]
    command = [sys.executable, "-m", "sim", "compare", *chosen]
    # long enough (40,000 runs, about 20 s) that the signal lands inside the simulation
    long = tmp_path / "inputs" / "long.yaml"
    long.parent.mkdir()
    long.write_text(
        "name: long\ntitle: {en: Long, ja: 長い}\ndescription: {en: d, ja: d}\n"
        "uncertainty:\n  distributions:\n"
        "    exchange rate perception time: {uniform: [0.5, 2]}\n"
        "  samples: 40000\n  seed: 7\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*command, str(long), "--out", str(out)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["inputs"]  # no partial folder either
    runs = []
    for name in ("first", "second"):
        done = subprocess.run(
            [*command, "--out", str(tmp_path / name)],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        runs.append(tmp_path / name)
    for file in ("quantiles.csv", "targets.csv", "summary.csv", "targets.md"):
        assert (runs[0] / file).read_bytes() == (runs[1] / file).read_bytes(), file
