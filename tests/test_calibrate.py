"""Calibration: fit statistics, identifiability, the ensemble and the shipped calibration."""

import csv

import numpy as np
import pytest

import sim
from sim.engine.vensim import read_mdl, set_constants
from sim.studies import calibrate as cal
from sim.studies.history import load_history

from conftest import ROOT, write_mdl

TRUE = {"growth rate": 0.45, "capacity": 1800.0}

TINY = """
students = INTEG(entry - leaving, initial students) ~ person ~ |
entry = growth rate * students * (1 - students / capacity) ~ person/Year ~ |
leaving = students / stay ~ person/Year ~ |
growth rate = 0.3 ~ 1/Year [0.05, 1] ~ calibrated: test value |
capacity = 1000 ~ person [200, 5000] ~ calibrated: test value |
stay = 4 ~ Year [1, 10] ~ assumption: test value |
initial students = 50 ~ person [1, 1000] ~ assumption: test value |
"""


def _tiny(tmp_path):
    """A small logistic model and a history generated from it at the TRUE values."""
    mdl = write_mdl(tmp_path / "tiny.mdl", TINY, final=2030, step=0.125)
    text = mdl.read_text().replace("INITIAL TIME = 0", "INITIAL TIME = 2000")
    mdl.write_text(text)
    model = sim.load_model(mdl)
    rows = [
        *(("intl_students_tiny", y, "students") for y in range(2000, 2026, 2)),
        *(("researchers_tiny_entry", y, "entry") for y in range(2001, 2026, 3)),
    ]
    obs = [load_history_row(series, year, var) for series, year, var in rows]
    problem = cal.make_problem(model, tuple(obs))
    truth = np.array([TRUE[n] for n in problem.names])
    values = cal.modelled(problem, truth[:, None])[:, 0]
    history = tmp_path / "history.csv"
    with open(history, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["series", "year", "value", "unit", "source", "note", "model_variable"])
        for (series, year, var), value in zip(rows, values, strict=True):
            w.writerow([series, year, repr(float(value)), "persons", "generated", "", var])
    return mdl, model, load_history(history)


def load_history_row(series, year, var):
    return cal.Observation(series, year, 1.0, "persons", "", "", var)


def test_the_corners_of_the_unit_box_are_the_ranges_ends_exactly(tmp_path):
    """A fit at a bound gives the bound itself: -0.2 + 1 * 0.3 rounds past 0.1."""
    mdl, _, history = _tiny(tmp_path)
    mdl.write_text(mdl.read_text().replace("1/Year [0.05, 1]", "1/Year [-0.2, 0.1]"))
    problem = cal.make_problem(sim.load_model(mdl), history)
    k = problem.names.index("growth rate")
    assert problem.to_values(np.ones(problem.n_params))[k] == 0.1
    assert problem.to_values(np.zeros(problem.n_params))[k] == -0.2


def test_fit_statistics_equal_hand_computed_values():
    stats = cal.fit_statistics([1, 2, 3, 4], [1.5, 2, 2.5, 5])
    # errors 0.5, 0, -0.5, 1: MAPE = (0.5/1 + 0 + 0.5/3 + 1/4) / 4
    assert stats["mape"] == pytest.approx(22.916667, rel=1e-6)
    # MSE = (0.25 + 0 + 0.25 + 1) / 4 = 0.375; bias^2 = (2.75 - 2.5)^2 = 0.0625
    assert stats["rmse"] == pytest.approx(0.375**0.5)
    assert stats["um"] == pytest.approx(0.0625 / 0.375)
    # s_obs = sqrt(1.25), s_sim = sqrt(1.8125), covariance 1.375
    s_y, s_m = 1.25**0.5, 1.8125**0.5
    r = 1.375 / (s_y * s_m)
    assert stats["us"] == pytest.approx((s_m - s_y) ** 2 / 0.375)
    assert stats["uc"] == pytest.approx(2 * (1 - r) * s_m * s_y / 0.375)
    assert stats["r2"] == pytest.approx(0.834482, rel=1e-5)
    assert stats["um"] + stats["us"] + stats["uc"] == pytest.approx(1.0)


def test_a_perfect_fit_has_zero_error():
    stats = cal.fit_statistics([3.0, 5.0, 9.0], [3.0, 5.0, 9.0])
    assert stats["mape"] == 0.0
    assert stats["r2"] == pytest.approx(1.0)


def test_known_parameters_are_recovered(tmp_path):
    _, model, history = _tiny(tmp_path)
    problem = cal.make_problem(model, history)
    assert problem.names == ("growth rate", "capacity")
    best = cal.fit(problem, starts=2, seed=3)
    for name, value in zip(problem.names, best.values, strict=True):
        assert value == pytest.approx(TRUE[name], rel=0.05), name
    assert best.cost < 1e-8


def test_weights_make_series_count_alike(tmp_path):
    _, model, history = _tiny(tmp_path)
    data = cal.make_problem(model, history).data
    per_series = {}
    for label, y, w in zip(data.labels, data.y, data.weight, strict=True):
        per_series.setdefault(label, []).append((w * y) ** 2)
    # every series' weights, times its values, sum to the same total
    totals = [sum(v) for v in per_series.values()]
    assert totals == pytest.approx([1.0] * len(totals))


def test_ensemble_is_reproducible_and_seed_dependent(tmp_path):
    _, model, history = _tiny(tmp_path)
    problem = cal.make_problem(model, history)
    # a fit that is not exact, so that the threshold admits a spread of sets
    values = np.array([0.44, 1850.0])
    best = _fit_at(problem, values)
    files = []
    for seed in (1, 1, 2):
        ens = cal.ensemble(problem, best, samples=3000, seed=seed, full_range_check=0)
        path = tmp_path / f"ens{len(files)}.csv"
        cal.write_ensemble(path, ens)
        files.append(path)
    a, b, c = (p.read_bytes() for p in files)
    assert a == b
    assert a != c
    _, names, one = cal.read_ensemble(files[0], model)
    _, _, two = cal.read_ensemble(files[2], model)
    assert names == problem.names
    assert len(one) >= 200
    assert len(two) >= 200
    # same statistics within sampling error: means within 4 standard errors
    for j in range(len(names)):
        se = np.hypot(one[:, j].std() / len(one) ** 0.5, two[:, j].std() / len(two) ** 0.5)
        assert abs(one[:, j].mean() - two[:, j].mean()) < 4 * se


def _fit_at(problem, values):
    cols = problem.to_unit(values)
    p = problem.n_params
    h = 1e-4
    grid = np.repeat(cols[:, None], p + 1, axis=1)
    grid[np.arange(p), np.arange(1, p + 1)] += h
    res = cal.residuals(problem, cal.modelled(problem, problem.to_values(grid)))
    jac = (res[:, 1:] - res[:, :1]) / h
    n = len(problem.data.y)
    return cal.Fit(
        values=values,
        cost=float(0.5 * np.sum(res[:, 0] ** 2)),
        jacobian=jac,
        dof=n - p,
        starts=(),
        runs=0,
    )


def test_set_constants_changes_only_values_and_notes(tmp_path):
    mdl, _, _ = _tiny(tmp_path)
    before = mdl.read_text()
    text = set_constants(mdl, {"capacity": 1234.5}, "Fitted by a test.")
    mdl.write_text(text)
    again = set_constants(mdl, {"capacity": 1500}, "Fitted by a second test.")
    mdl.write_text(again)
    spec = read_mdl(mdl)
    assert spec.element("capacity").expr.value == 1500
    assert spec.element("capacity").doc == "calibrated: test value Fitted by a second test."
    changed = [line for line in again.splitlines() if line not in before.splitlines()]
    assert len(changed) == 1  # the one-line equation of capacity, with its comment


def test_calibrate_command_writes_everything(run_cli, tmp_path):
    mdl, _, _ = _tiny(tmp_path)
    history = tmp_path / "history.csv"
    out, ens = tmp_path / "cal", tmp_path / "ensemble.csv"
    status, stdout, stderr = run_cli(
        "calibrate",
        mdl,
        "--history",
        history,
        "--out",
        out,
        "--ensemble",
        ens,
        "--starts",
        "1",
        "--samples",
        "2000",
        "--update-model",
    )
    assert status == 0, stderr
    assert "runs/s" in stdout
    assert {p.name for p in out.iterdir()} >= {
        "fit_report.csv",
        "fit_report.md",
        "fitted_parameters.csv",
        "baseline_bands.csv",
        "summary.md",
        "figures",
    }
    with open(out / "fit_report.csv", encoding="utf-8") as fh:
        report = {r["series"]: r for r in csv.DictReader(fh)}
    assert float(report["intl_students_tiny"]["mape"]) < 1.0
    fitted = sim.read_mdl(mdl)
    assert fitted.element("capacity").expr.value == pytest.approx(1800, rel=0.05)
    assert "Fitted by brainsim calibrate" in fitted.element("capacity").doc
    header, _, members = cal.read_ensemble(ens)
    assert header["model_sha256"] == fitted.sha256
    assert len(members) == int(header["members"]) >= 1


def test_calibrate_without_calibrated_parameters_is_one_line(run_cli, tmp_path):
    mdl, _, _ = _tiny(tmp_path)
    mdl.write_text(mdl.read_text().replace("calibrated:", "assumption:"))
    out = tmp_path / "cal"
    status, _, stderr = run_cli(
        "calibrate",
        mdl,
        "--history",
        tmp_path / "history.csv",
        "--out",
        out,
        "--ensemble",
        tmp_path / "e.csv",
    )
    assert status == 2
    assert len(stderr.strip().splitlines()) == 1
    assert "no constant is marked 'calibrated:'" in stderr
    assert not out.exists()


# --- the shipped calibration ---------------------------------------------------------------

MODEL = ROOT / "model" / "brain_circulation.mdl"


@pytest.fixture(scope="module")
def shipped():
    model = sim.load_model(MODEL)
    problem = cal.make_problem(model, load_history(ROOT / "model" / "history.csv"))
    return model, problem


def test_calibrated_defaults_meet_the_fit_bars(shipped):
    from sim.reports.calibration import HEADLINE

    model, problem = shipped
    defaults = np.array(
        [model.defaults[model.param_keys.index(model.spec.element(n).key)] for n in problem.names]
    )
    got = cal.modelled(problem, defaults[:, None])[:, 0]
    data = problem.data
    for series, bar in HEADLINE.items():
        idx = [i for i, o in enumerate(data.observations) if o.series == series]
        assert cal.fit_statistics(data.y[idx], got[idx])["mape"] <= bar, series


def test_shipped_ensemble_is_large_enough_and_covers_history(shipped):
    model, problem = shipped
    header, names, members = cal.read_ensemble(ROOT / "model" / "ensemble.csv", model)
    assert set(names) == set(problem.names)
    assert len(members) >= 200
    assert int(header["passed"]) >= len(members)
    order = [names.index(n) for n in problem.names]
    assert cal.coverage(problem, members[:, order]) >= 0.8


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("member,cost,a\n0,1.0\n", r"e\.csv:3: 2 values for 3 columns"),
        ("member,cost,a\n", "has no members"),
        ("member,cost,a\n0,1.0,x\n", r"e\.csv:3: a value is not a number"),
    ],
)
def test_a_damaged_ensemble_file_is_one_clear_error(tmp_path, body, message):
    from sim.engine.errors import BrainsimError

    path = tmp_path / "e.csv"
    path.write_text("# seed: 1\n" + body, encoding="utf-8")
    with pytest.raises(BrainsimError, match=message):
        cal.read_ensemble(path)
