"""``brainsim validate`` and ``brainsim backtest``: the reviewer's tests, rerun by anyone.

The shipped model passes a reduced validation (warnings allowed, no test
failed); three small models, each broken on purpose (tests/data/validate/),
fail, each naming the test it breaks; a backtest fits only the years up to
its cut and scores the rest.
"""

import csv

import numpy as np
import pytest

import sim
from sim.reports.validation import run_validation
from sim.studies import validate as tests
from sim.studies.backtest import backtest
from sim.studies.history import load_history

from conftest import DATA, ROOT, write_mdl

MODEL = ROOT / "model" / "brain_circulation.mdl"
VALIDATE = DATA / "validate"
TESTS = (
    "dimensional consistency",
    "extreme conditions",
    "integration error",
    "chattering",
    "behaviour reproduction",
    "loop knockout",
    "parameter assessment",
    "sensitivity to judgement",
)


@pytest.fixture(scope="module")
def shipped():
    return run_validation(str(MODEL), quick=True)


def test_the_shipped_model_passes_a_reduced_validation_with_every_test_run(shipped):
    assert [v.test for v in shipped] == list(TESTS)
    failed = [f"{v.test}: {v.summary}; {v.details[:3]}" for v in shipped if v.status == "fail"]
    assert failed == []
    assert all(v.status != "not run" for v in shipped)  # history, ensemble, loops all found


def test_the_shipped_validation_runs_the_named_cases_and_the_ensemble_extremes(shipped):
    by = {v.test: v for v in shipped}
    with open(ROOT / "model" / "validation_cases.csv", encoding="utf-8") as f:
        named = [row["case"] for row in csv.DictReader(f)]
    assert by["extreme conditions"].data["named"] == named
    assert len(named) >= 3
    runs = by["integration error"].data["runs"]
    assert runs[0] == "default"
    assert len(runs) >= 3
    # every target output measured at every saved time, none moved by 1% or more
    worst = by["integration error"].data["worst"]
    assert all(np.max(w) < tests.STEP_TOLERANCE for w in worst.values())


def test_the_parameter_assessment_flags_parameters_fitted_at_a_bound(shipped):
    by = {v.test: v for v in shipped}
    rows = by["parameter assessment"].data["rows"]
    model = sim.load_model(MODEL)
    for name, value, _, flags in rows:
        lo, hi = model.spec.element(name).limits
        at_bound = min(value - lo, hi - value) <= 1e-3 * (hi - lo)
        assert at_bound == ("at a bound" in flags), name


@pytest.mark.parametrize(
    ("model", "broken"),
    [
        ("wrong_units.mdl", "dimensional consistency"),
        ("draining_stock.mdl", "extreme conditions"),
        ("step_too_long.mdl", "integration error"),
    ],
)
def test_a_broken_model_fails_validation_naming_the_test_it_breaks(
    run_cli, tmp_path, model, broken
):
    out = tmp_path / "report"
    status, stdout, stderr = run_cli("validate", VALIDATE / model, "--quick", "--out", out)
    assert status == 1, stderr
    lines = {line.split("  ")[0]: line for line in stdout.splitlines() if "  " in line}
    assert "FAIL" in lines[broken]
    others = [t for t in TESTS if t != broken and "FAIL" in lines[t]]
    assert others == []
    assert stdout.splitlines()[-1] == "verdict: FAIL"
    report = (out / "validation.md").read_text(encoding="utf-8")
    assert "**Verdict: FAIL.**" in report
    assert f"## {broken[:1].upper()}{broken[1:]}: FAIL" in report


def test_a_sound_model_passes_and_the_report_has_a_verdict_per_test(run_cli, tmp_path):
    out = tmp_path / "report"
    status, stdout, stderr = run_cli("validate", VALIDATE / "sound.mdl", "--quick", "--out", out)
    assert status == 0, stderr
    with open(out / "verdicts.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["test"] for r in rows] == list(TESTS)
    assert {r["verdict"] for r in rows} <= {"pass", "not run"}
    assert (out / "integration_error.png").stat().st_size > 1000


def test_a_nan_in_one_run_of_a_batch_is_found_without_hiding_the_others(tmp_path):
    path = write_mdl(
        tmp_path / "nan.mdl",
        """
Stock= INTEG (
\troot term,
\t\t1)
\t~\twidget [0,?]
\t~\tA stock.
\t|

root term=
\tSQRT(limit - Time)
\t~\twidget/Year
\t~\tNaN once Time passes limit.
\t|

limit=
\t20
\t~\tYear [1, 20]
\t~\tassumption: test value.
\t|
""",
    )
    model = sim.load_model(path)
    limits = np.array([20.0, 20.0, 5.0, 20.0, 3.0, 20.0])
    labels = [f"run {i}" for i in range(len(limits))]
    found = tests.screen(model, {"limit": limits}, {}, labels, tests.bounded_outputs(model))
    assert [line.split(":")[0] for line in found] == ["run 2", "run 4"]
    assert all("NaN" in line for line in found)


def test_bad_named_cases_are_one_line_naming_the_file_and_line(run_cli, tmp_path):
    cases = tmp_path / "cases.csv"
    cases.write_text("case,settings\nfine,scholarship coverage target=1\nbad,no such thing=3\n")
    status, stdout, stderr = run_cli(
        "validate", MODEL, "--cases", cases, "--quick", "--out", tmp_path / "r"
    )
    assert status == 2
    assert stderr.count("\n") == 1
    assert f"{cases}, line 3" in stderr
    assert not (tmp_path / "r").exists()


# -- backtest -------------------------------------------------------------------------------


def test_a_backtest_fits_only_the_years_up_to_its_cut_and_scores_the_rest():
    model = sim.load_model(MODEL)
    observations = load_history(ROOT / "model" / "history.csv")
    # one start from the centre of the ranges passes about 1 draw in 1,000 (0 of 200, 3 of
    # 500, 0 to 6 of 3,000 by seed): 10,000 keep 9, so a model change is unlikely to leave none
    result = backtest(model, observations, 2018, starts=1, samples=10_000, seed=1)
    assert result.fitted == sum(1 for o in observations if o.year <= 2018)
    assert 0 < result.held_out <= sum(1 for o in observations if o.year > 2018)
    assert result.members > 0
    for row in result.rows:
        first = int(row["held_out_years"].split("-")[0])
        assert first > 2018
        assert 0.0 <= row["coverage_5_95"] <= 1.0
        assert row["median_mape"] >= abs(row["median_bias"]) - 1e-9
    assert sum(row["n"] for row in result.rows) == result.held_out


def test_a_backtest_cut_after_the_last_observation_is_one_line(run_cli, tmp_path):
    status, _, stderr = run_cli(
        "backtest", MODEL, "--fit-until", "2030", "--out", tmp_path / "b", cwd=ROOT
    )
    assert status == 2
    assert stderr.count("\n") == 1
    assert "--fit-until 2030" in stderr
    assert not (tmp_path / "b").exists()


def test_the_model_readme_shows_the_backtest_table_of_the_committed_report():
    readme = (ROOT / "model" / "README.md").read_text(encoding="utf-8")
    report = (ROOT / "model" / "backtest" / "backtest.md").read_text(encoding="utf-8")
    between = readme.split("<!-- backtest:start -->")[1].split("<!-- backtest:end -->")[0]
    table = report[report.index("| fit until") :].strip()
    assert between.strip() == table
    for year in (2015, 2018):
        assert f"| {year} | **all held-out observations**" in table
