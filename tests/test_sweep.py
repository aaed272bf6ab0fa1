"""Sensitivity sweeps and goal seeking: known answers on test problems, bad input, the CLI."""

import csv

import numpy as np
import pytest

import sim
from sim.studies import sweep as sw
from sim.studies.goal import parse_goal, seek
from sim.studies.runner import sample_distributions
from sim.studies.scenario import load_scenario

from conftest import ROOT, write_mdl

TINY = """
level = INTEG(a * 2 + b * b, 0) ~ widget ~ |
signal = lever * k ~ widget/Year ~ |
a = 1 ~ widget/Year [0, 2] ~ assumption: test |
b = 1 ~ widget/Year [0, 2] ~ assumption: test |
c = 1 ~ widget/Year [0, 2] ~ assumption: test (the model ignores it) |
lever = 1 ~ dmnl [0, 20] ~ assumption: test |
k = 1.5 ~ widget/Year [1, 2] ~ assumption: test |
"""


def _tiny(tmp_path, uncertainty="none"):
    mdl = write_mdl(tmp_path / "tiny.mdl", TINY, final=2010, step=0.25)
    mdl.write_text(mdl.read_text().replace("INITIAL TIME = 0", "INITIAL TIME = 2000"))
    scenario = tmp_path / "tiny-case.yaml"
    scenario.write_text(
        "name: tiny-case\ntitle: {en: Tiny, ja: 小}\ndescription: {en: A test, ja: テスト}\n"
        f"uncertainty: {uncertainty}\n",
        encoding="utf-8",
    )
    model = sim.load_model(mdl)
    return model, load_scenario(scenario, model), scenario, mdl


def _salib(problem, y, seed):
    from SALib.analyze import sobol

    return sobol.analyze(problem, y, calc_second_order=False, num_resamples=100, seed=seed)


def test_sobol_matches_salib_and_the_analytic_ishigami_indices():
    from pathlib import Path

    import SALib.test_functions
    from SALib.test_functions import Ishigami
    from SALib.util import read_param_file

    problem = read_param_file(Path(SALib.test_functions.__file__).parent / "params/Ishigami.txt")
    factors = [
        sw.Factor(name, "uniform", tuple(b))
        for name, b in zip(problem["names"], problem["bounds"], strict=True)
    ]
    unit = sw.saltelli_design(1024, 3, seed=11)
    x = np.column_stack([f.ppf(unit[:, i]) for i, f in enumerate(factors)])
    y = Ishigami.evaluate(x)
    found = sw.analyze("sobol", factors, unit, y, seed=11)
    ref = _salib(problem, y, seed=11)
    # the same standardisation, estimators and bootstrap draws: equal but for rounding
    for k in ("S1", "S1_conf", "ST", "ST_conf"):
        np.testing.assert_allclose(found[k], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)
    # analytic values for a = 7, b = 0.1 (Ishigami and Homma 1990; Sobol' and Levitan 1999)
    a, b = 7.0, 0.1
    v1, v2, v13 = 0.5 * (1 + b * np.pi**4 / 5) ** 2, a**2 / 8, 8 * b**2 * np.pi**8 / 225
    v = v1 + v2 + v13
    s1, st = np.array([v1, v2, 0]) / v, np.array([v1 + v13, v2, v13]) / v
    np.testing.assert_allclose(s1, [0.3139, 0.4424, 0.0], atol=1e-4)
    np.testing.assert_allclose(st, [0.5576, 0.4424, 0.2437], atol=1e-4)
    # each estimate within its own 95% half-width of the truth (0.03 to 0.08 at N = 1024)
    assert np.all(np.abs(found["S1"] - s1) <= found["S1_conf"])
    assert np.all(np.abs(found["ST"] - st) <= found["ST_conf"])
    assert np.all(found["S1_conf"] < 0.1)


def test_sobol_indices_ignore_shift_and_scale_and_keep_constants_at_zero():
    rng = np.random.default_rng(0)
    y = rng.normal(size=64 * 5)
    found = sw.sobol_indices(np.stack([y, 2e5 + 300 * y, np.full_like(y, 7.0), 0 * y]), 3)
    for k, arr in found.items():
        np.testing.assert_allclose(arr[1], arr[0], rtol=1e-9, err_msg=k)
        assert np.all(arr[2:] == 0), k


def test_second_order_design_gives_the_same_first_order_indices():
    factors = [sw.Factor(f"x{i}", "uniform", (0.0, 1.0)) for i in range(4)]
    unit = sw.design("sobol", factors, 256, seed=2, second_order=True)
    y = unit[:, 0] + 2 * unit[:, 1] * unit[:, 2]
    cheap = sw.analyze("sobol", factors, unit, y, 2, second_order=True)
    full = sw.analyze("sobol", factors, unit, y, 2, second_order=True, s2=True)
    np.testing.assert_allclose(cheap["S1"], full["S1"], atol=1e-12)
    np.testing.assert_allclose(cheap["ST"], full["ST"], atol=1e-12)
    assert full["S2"][1, 2] > 0.05  # the x1-x2 interaction
    assert abs(full["S2"][0, 3]) < 0.05


def test_morris_ranks_the_ignored_parameter_last(tmp_path):
    model, scenario, _, _ = _tiny(tmp_path)
    factors = sw.factors_for(scenario, model, ["a", "b", "c"])
    result = sw.run_sweep(scenario, model, {"level": "may1"}, "morris", 12, 4, factors)
    mu = result.indices[("level", 2005)]["mu_star"]
    assert mu[2] == 0.0
    assert np.argsort(mu)[0] == 2
    assert mu[0] > 0
    assert mu[1] > 0


def test_oat_swings_follow_the_equation(tmp_path):
    model, scenario, _, _ = _tiny(tmp_path)
    factors = sw.factors_for(scenario, model, ["a", "c"])
    result = sw.run_sweep(scenario, model, {"level": "may1"}, "oat", 1, 0, factors)
    swing = result.indices[("level", 2005)]["swing"]
    # a from its 5% to its 95% value (0.1 to 1.9) adds 2 * 1.8 a year for 5 + 1/3 years
    assert swing[0] == pytest.approx(2 * 1.8 * (5 + 120 / 365), rel=0.02)
    assert swing[1] == 0.0


def test_target_search_finds_a_known_threshold(tmp_path):
    unc = "{distributions: {k: {uniform: [1, 2]}}, samples: 400, seed: 3}"
    model, scenario, _, _ = _tiny(tmp_path, unc)
    goal = parse_goal("signal@2005>=10", model)
    answer = seek(scenario, model, tmp_path, "lever", goal, 0.5, tolerance=0.01)
    k = np.sort(sample_distributions(scenario.uncertainty.distributions, 400, 3, model)["k"])
    # half of the runs meet lever * k >= 10 once lever reaches 10 / (the 200th largest k)
    assert answer.level == pytest.approx(10 / k[-200], abs=0.01)
    assert answer.achieved >= 0.5
    unreachable = seek(
        scenario, model, tmp_path, "lever", parse_goal("signal@2005>=100", model), 0.5
    )
    assert unreachable.level is None
    assert "cannot be met" in unreachable.sentence()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["target", "--lever", "scholarships", "--goal", "net researcher flow@2033>=1"],
            "unknown lever 'scholarships'",
        ),
        (
            ["target", "--lever", "scholarship coverage", "--goal", "students 2033 > 5"],
            "is not VARIABLE@YEAR>=VALUE",
        ),
        (
            [
                "target",
                "--lever",
                "scholarship coverage",
                "--goal",
                "net researcher flow@2033>=1",
                "--probability",
                "1.5",
            ],
            "outside (0, 1]",
        ),
        (
            [
                "target",
                "--lever",
                "scholarship coverage",
                "--goal",
                "net researcher flow@2033>=1",
                "--probability",
                "0",
            ],
            "outside (0, 1]",
        ),
        (["sweep", "--method", "sobol", "-n", "8", "--out", "OUT"], "too small for sobol"),
        (["sweep", "--method", "sobol", "-n", "100", "--out", "OUT"], "not a power of two"),
        (["sweep", "--method", "morris", "-n", "2", "--out", "OUT"], "too small for morris"),
        (["sweep", "--method", "fast", "-n", "64", "--out", "OUT"], "invalid choice: 'fast'"),
        (
            ["sweep", "--method", "oat", "--params", "scholarship coverag", "--out", "OUT"],
            "unknown parameter 'scholarship coverag'",
        ),
    ],
)
def test_bad_sweep_and_target_input(run_cli, tmp_path, args, fragment):
    command, *rest = args
    rest = [str(tmp_path / "out") if a == "OUT" else a for a in rest]
    status, _, stderr = run_cli(
        command,
        ROOT / "scenarios" / "baseline.yaml",
        *rest,
        "--model",
        ROOT / "model" / "brain_circulation.mdl",
    )
    assert status == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert fragment in lines[0]
    assert not (tmp_path / "out").exists()


def test_sweep_command_on_the_brain_model(run_cli, tmp_path):
    out = tmp_path / "oat"
    status, stdout, stderr = run_cli(
        "sweep",
        ROOT / "scenarios" / "baseline.yaml",
        "--method",
        "oat",
        "--params",
        "jmirai inbound recruitment uplift target",
        "scholarship coverage target",
        "--model",
        ROOT / "model" / "brain_circulation.mdl",
        "--out",
        out,
    )
    assert status == 0, stderr
    assert {p.name for p in out.iterdir()} == {
        "indices.csv",
        "sweep.nc",
        "summary.md",
        ".brainsim-output.json",
    }
    with open(out / "indices.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["index"] == "swing" and r["year"] == "2033"]
    swing = {(r["output"], r["parameter"]): float(r["value"]) for r in rows}
    employment = "domestic employment rate jmirai basis"
    # more international students, more graduates competing for the same jobs (B2, B4)
    assert swing[(employment, "jmirai inbound recruitment uplift target")] < -0.01
    assert swing[(employment, "scholarship coverage target")] == pytest.approx(0, abs=1e-9)
    assert "## domestic employment rate jmirai basis, 2033" in stdout


LEVERS = [
    "scholarship coverage target",
    "employment support target",
    "jmirai inbound recruitment uplift target",
    "research security screening loss target",
]


@pytest.fixture(scope="module")
def brain_sobol():
    """A Sobol sweep of the brain model's baseline over four levers, N = 256."""
    from sim.studies.targets import OUTPUT_TIMING

    model = sim.load_model(ROOT / "model" / "brain_circulation.mdl")
    scenario = load_scenario(ROOT / "scenarios" / "baseline.yaml", model)
    factors = sw.factors_for(scenario, model, LEVERS)
    result = sw.run_sweep(scenario, model, dict(OUTPUT_TIMING), "sobol", 256, 7, factors)
    return result, scenario, model


@pytest.mark.parametrize(
    "output", ["japanese students abroad per year", "international students in japan"]
)
def test_brain_model_sobol_indices_match_salib(brain_sobol, output):
    result, _, _ = brain_sobol
    assert result.target_years[output] == 2033
    y = result.values[output][list(result.years).index(2033)]
    ref = _salib(sw.salib_problem(result.factors), y, seed=result.seed)
    found = result.indices[(output, 2033)]
    for k in ("S1", "S1_conf", "ST", "ST_conf"):
        np.testing.assert_allclose(found[k], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)
    assert np.ptp(y) > 0
    assert found["ST"][3] == 0.0  # the screening loss does not reach these outputs by 2033


def test_summary_warns_when_n_is_too_small(brain_sobol):
    from dataclasses import replace

    from sim.reports.sweepout import summary

    result, scenario, model = brain_sobol
    text = summary(result, scenario, model, 1.0)
    warning = [line for line in text.splitlines() if line.startswith("**Warning:**")]
    assert len(warning) == 1, text
    assert "N = 256 is too small" in warning[0]
    assert "japanese students abroad per year (2033)" in warning[0]
    assert "-n 1024" in warning[0]
    # half-widths of at most 0.1 and no ST above 1 beyond its half-width: no warning
    tight = {
        key: {k: v * 0.1 if k.endswith("_conf") else v for k, v in found.items()}
        for key, found in result.indices.items()
    }
    assert "Warning" not in summary(replace(result, indices=tight), scenario, model, 1.0)
    # one ST of 1.2 whose half-width (0.05) does not reach 1: a warning naming that output
    output = "international students in japan"
    over = dict(tight)
    over[(output, 2033)] = {**tight[(output, 2033)], "ST": np.array([0, 0, 1.2, 0])}
    over[(output, 2033)]["ST_conf"] = np.array([0, 0, 0.05, 0])
    text = summary(replace(result, indices=over), scenario, model, 1.0)
    assert f"indices of {output} (2033): an ST above 1" in text


def test_the_default_sweep_takes_each_effect_size_over_its_prior():
    from sim.studies.scenario import load_scenario
    from sim.studies.sweep import factors_for

    model = sim.load_model(ROOT / "model" / "brain_circulation.mdl")
    scenario = load_scenario(ROOT / "scenarios" / "baseline.yaml", model)
    factors = {f.name: f for f in factors_for(scenario, model)}
    assert factors["joint research elasticity"].family == "triangular"
    assert factors["joint research elasticity"].params == (0.0, 0.3, 0.6)
    assert factors["capacity adjustment time"].family == "uniform"  # not an effect size
