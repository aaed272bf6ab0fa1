"""Measuring runs year by year while integrating, and sharing runs between scenarios."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from sim import load_model
from sim.engine import simulate
from sim.engine.errors import SimulationError
from sim.engine.simulate import choose_engine, grid_times, integrate, measure
from sim.studies.runner import (
    _year_weights,
    _years,
    measure_runs,
    output_timing,
    parameters,
    run_scenarios,
    scenario_constants,
    tables,
)
from sim.studies.scenario import Policy, Scenario, Uncertainty, load_scenario
from sim.studies.stem import ramped_constants, stem_settings, time_lookups

from conftest import ROOT, write_mdl

LEVERS = """
policy start year = 5 ~ Year [0,10] ~ assumption: test. |
policy ramp years = 2 ~ Year [1,5] ~ assumption: test. |
policy ramp = RAMP(1 / policy ramp years, policy start year, policy start year + policy ramp years)
 ~ dmnl ~ 0 before the start. |
push target = 1 ~ dmnl [0,5] ~ Lever (push): ramped. source: test. |
pull target = 1 ~ dmnl [0,5] ~ Lever (pull): also used outside the ramp. source: test. |
push = 1 + (push target - 1) * policy ramp ~ dmnl ~ |
pull = pull target + (pull target - 1) * policy ramp ~ dmnl ~ |
path( [(0,0)-(10,10)],(0,1),(4,2),(10,3)) ~ dmnl ~ source: test. |
effect( [(0,0)-(100,10)],(0,1),(100,2)) ~ dmnl ~ source: test. |
level = INTEG(inflow - outflow, 10) ~ person ~ |
inflow = 3 * push * pull * path(Time) * effect(level) + STEP(2, 3) ~ person/Year ~ |
outflow = level / life ~ person/Year ~ |
life = 4 ~ Year [1,10] ~ source: test. |
share = outflow / inflow ~ dmnl ~ |
"""


@pytest.fixture
def tiny(tmp_path):
    return load_model(write_mdl(tmp_path / "tiny.mdl", LEVERS, final=10, step=0.125))


def _weights(model, rules):
    grid = grid_times(model)
    raw = {r: _year_weights(grid, _years(model), r) for r in rules}
    return raw, {r: np.nan_to_num(w) for r, w in raw.items()}


def _on(engine: str, model, monkeypatch) -> None:
    """Make ``auto`` pick ``engine`` for ``model`` (the kernel is kept for large models)."""
    if engine == "kernel":
        monkeypatch.setattr(simulate, "KERNEL_MIN_SIZE", 0)
    assert choose_engine(model, "euler") == engine


@pytest.mark.parametrize("engine", ["numpy", "kernel"])
def test_yearly_sums_equal_the_saved_steps_weighted_and_a_branch_carries_on_exactly(
    tiny, engine, monkeypatch
):
    _on(engine, tiny, monkeypatch)
    outputs = {"level": "may1", "inflow": "fiscal_mean", "share": "fiscal_mean", "life": "may1"}
    raw, weights = _weights(tiny, ["may1", "fiscal_mean"])
    params = {"life": np.linspace(2, 8, 7)}
    sums, none = measure(tiny, params, weights, outputs)
    assert none is None
    assert sums.shape == (11, 4, 7)

    saved = integrate(tiny, params, saveper=0.125, outputs=list(outputs))
    keys = [k for k, _, _ in saved.outputs]
    for j, (name, rule) in enumerate(outputs.items()):
        expected = raw[rule] @ saved.series(keys.index(tiny.spec.element(name).key))
        ok = ~np.isnan(expected).any(axis=1)
        np.testing.assert_allclose(sums[ok, j], expected[ok], rtol=1e-13)
    # a constant is its value in every year the rule covers (1 May of year 10 is past the end)
    np.testing.assert_allclose(sums[:10, 3], np.broadcast_to(params["life"], (10, 7)))
    assert np.all(sums[10, 3] == 0)

    for stop in (1, 30, 79):
        done, branch = measure(tiny, params, weights, outputs, stop=stop)
        assert done is None
        assert branch.step == stop
        carried, _ = measure(tiny, params, weights, outputs, start=branch)
        assert np.array_equal(carried, sums)  # the same arithmetic, to the bit


def test_yearly_sums_on_the_kernel_are_numpy_s_within_the_readme_s_tolerance(tiny, monkeypatch):
    outputs = {"level": "may1", "inflow": "fiscal_mean", "share": "fiscal_mean", "life": "may1"}
    _, weights = _weights(tiny, ["may1", "fiscal_mean"])
    params = {"life": np.linspace(2, 8, 7)}
    numpy_sums, _ = measure(tiny, params, weights, outputs)
    _on("kernel", tiny, monkeypatch)
    kernel_sums, _ = measure(tiny, params, weights, outputs)
    np.testing.assert_allclose(kernel_sums, numpy_sums, rtol=1e-10, atol=1e-12)
    alone = [measure(tiny, {"life": v}, weights, outputs)[0][..., 0] for v in params["life"]]
    assert np.array_equal(np.stack(alone, axis=-1), kernel_sums)  # alone or in a batch: the bits


@pytest.mark.parametrize(
    ("equations", "when"),
    [
        ("level = INTEG(1 / (cutoff - Time), 0)", "time 4"),  # its rate, at time 4
        ("level = INTEG(1, 1 / (cutoff - 4))", "time 0"),  # its initial value
    ],
)
def test_a_run_that_turns_nan_while_measured_is_named_alike_on_both_engines(
    tmp_path, monkeypatch, equations, when
):
    model = load_model(
        write_mdl(
            tmp_path / "nan.mdl",
            f"""
{equations}
~ widget ~ |
other = INTEG(1, 0) ~ widget ~ |
cutoff = 4 ~ Year [1, 8] ~ |
""",
            step=0.125,
        )
    )
    _, weights = _weights(model, ["may1"])
    params = {"cutoff": np.array([8.0, 8.0, 4.0])}  # the third run divides by zero
    labels = (("a", 0), ("a", 1), ("b", 7))
    messages = []
    for engine in ("numpy", "kernel"):
        _on(engine, model, monkeypatch)
        with pytest.raises(SimulationError) as err:
            # only 'other' is measured: the stock that is not finite must still stop the run
            measure(model, params, weights, {"other": "may1"}, labels=labels)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert "'level'" in messages[0]
    assert "(run 7) in scenario 'b'" in messages[0]
    assert when in messages[0]


def test_levers_act_only_through_the_ramp_and_lookups_only_at_time(tiny):
    ramped = ramped_constants(tiny)
    assert "push_target" in ramped
    assert "policy_start_year" in ramped
    assert "pull_target" not in ramped  # used outside the product with policy ramp
    assert time_lookups(tiny) == {"path"}  # effect is read at a stock


def _scenario(policies=(), series=None, set_=None):
    return Scenario(
        name="s",
        title={"en": "s", "ja": "s"},
        description={"en": "s", "ja": "s"},
        files=(),
        set=set_ or {},
        policies=tuple(policies),
        series=series or {},
        uncertainty=Uncertainty("none"),
    )


def test_stem_settings_say_what_may_act_from_which_step(tiny):
    grid = grid_times(tiny)

    def split(scenario):
        return stem_settings(
            scenario, scenario_constants(scenario), tables(scenario, tiny), tiny, grid
        )

    push = _scenario([Policy("push target", 6, 2, 3)])
    consts, lookups, step = split(push)
    assert consts == {}
    assert lookups == {}
    assert grid[step - 1] < 6 - 0.125 <= grid[step]  # one step of margin before the start

    pull = _scenario([Policy("pull target", 6, 2, 3)])
    consts, _, step = split(pull)
    assert consts["pull target"] == 3
    assert step == len(grid)

    fixed = _scenario(set_={"life": 5})
    assert split(fixed)[0] == {"life": 5}  # a set constant may act anywhere
    assert split(_scenario(set_={"life": 4}))[0] == {}  # equal to the .mdl: changes nothing

    late = _scenario(series={"path": ([8, 10], [5, 6])})
    _, lookups, step = split(late)
    assert lookups == {}
    assert grid[step] == pytest.approx(4.125)
    read_at_stock = _scenario(series={"effect": ([50, 100], [1, 3])})
    assert "effect" in split(read_at_stock)[1]


def test_scenarios_sharing_a_run_give_what_each_gives_alone(small_project):
    model = load_model(ROOT / "model" / "brain_circulation.mdl")
    names = ["baseline", "weak-yen", "jmirai-package", "border-shock", "expanded-scholarships"]
    names += ["china-demand-fall", "competitor-caps"]
    root = small_project
    scenarios = [load_scenario(root / "scenarios" / f"{n}.yaml", model) for n in names]
    timing = output_timing(model)
    shared = run_scenarios(scenarios, model, timing, root)
    for scenario, result in zip(scenarios, shared, strict=True):
        params, n, _ = parameters(scenario, model, root)
        alone = measure_runs(scenario, model, timing, params, n)
        for name in timing:
            np.testing.assert_array_equal(result.values[name], alone[name], err_msg=name)


def test_run_scenarios_reads_an_ensemble_once(monkeypatch):
    import sim.studies.runner

    model = load_model(ROOT / "model" / "brain_circulation.mdl")
    reads = []
    real = sim.studies.runner.read_ensemble

    def counting(path, m):
        reads.append(Path(path))
        return real(path, m)

    monkeypatch.setattr(sim.studies.runner, "read_ensemble", counting)
    cache: dict = {}
    for name in ("baseline", "weak-yen"):
        scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml", model)
        parameters(scenario, model, ROOT, cache)
    assert len(reads) == 1


def test_runs_joined_side_by_side_keep_each_part_whatever_its_spelling(tiny):
    from sim.studies.runner import _join

    joined = _join(
        [({"life": np.array([2.0, 3.0, 9.0])}, 1, 2), ({"Life": 5.0}, 0, 3), ({}, 0, 1)], tiny
    )
    np.testing.assert_array_equal(joined["life"], [3.0, 9.0, 5.0, 5.0, 5.0, 4.0])


def test_shipped_scenarios_share_the_past_until_their_own_settings_act():
    model = load_model(ROOT / "model" / "brain_circulation.mdl")
    grid = grid_times(model)

    def split(scenario):
        return stem_settings(
            scenario, scenario_constants(scenario), tables(scenario, model), model, grid
        )

    def load(name):
        return load_scenario(ROOT / "scenarios" / f"{name}.yaml", model)

    consts, lookups, step = split(load("jmirai-package"))
    assert consts == {}
    assert lookups == {}
    assert grid[step] == 2026 - 0.0625  # policies start in 2026
    faster = dataclasses.replace(
        load("expanded-scholarships"),
        policies=tuple(
            dataclasses.replace(p, ramp_years=2) for p in load("expanded-scholarships").policies
        ),
    )
    assert split(faster)[0] == {}  # a shorter ramp does not rewrite history either
    _, lookups, step = split(load("weak-yen"))
    assert lookups == {}
    assert grid[step] == 2023.0625  # the yen path leaves the data's after 2023
    # set constants that act only under a switch: a closure window, an origin's ramp
    consts, _, step = split(load("border-shock"))
    assert consts == {}
    assert grid[step] == 2030 - 0.0625
    consts, _, step = split(load("china-demand-fall"))
    assert consts == {}
    assert grid[step] == 2026 - 0.0625
    _, _, step = split(load("origin-screening"))  # its start moves from 2026 to 2026.25
    assert grid[step] == 2026 - 0.0625
    consts, _, step = split(load("horizon-europe"))  # a partner region's ramp
    assert consts == {}
    assert grid[step] == 2026 - 0.0625
    assert split(load("baseline"))[2] == len(grid)


SWITCHES = """
closure start = 8 ~ Year [0,20] ~ assumption: test. |
closure length = 1 ~ Year [0,5] ~ assumption: test. |
shift start = 6 ~ Year [0,20] ~ assumption: test. |
shift = 1 ~ Year [-2,2] ~ assumption: test. |
closed = STEP(1, closure start) - STEP(1, closure start + closure length) ~ dmnl ~ |
shifted = STEP(1, shift start) - STEP(1, shift start + shift) ~ dmnl ~ may be -1 early. |
loss = 0.5 ~ dmnl [0,1] ~ assumption: test. |
seen = 0.2 ~ dmnl [0,1] ~ assumption: test. |
level = INTEG(2 * (1 - loss * closed) - level / 4 + seen * shifted, 1) ~ person ~ |
echo = seen * 3 ~ dmnl ~ read outside the switch. |
"""


def test_constants_under_a_switch_act_from_its_earlier_start(tmp_path):
    model = load_model(write_mdl(tmp_path / "switch.mdl", SWITCHES, final=10, step=0.125))
    grid = grid_times(model)

    def split(set_):
        scenario = _scenario(set_=set_)
        return stem_settings(scenario, scenario_constants(scenario), {}, model, grid)

    consts, _, step = split({"loss": 0.9, "closure length": 2})
    assert consts == {}
    assert grid[step] == 8 - 0.125
    _, _, step = split({"loss": 0.9, "closure start": 5})  # moved earlier: acts from then
    assert grid[step] == 5 - 0.125
    _, _, step = split({"closure start": 9.5})  # moved later: differs from the .mdl's 8
    assert grid[step] == 8 - 0.125
    # a window whose length may be negative is not zero before its start; a constant
    # read outside its switch acts anywhere
    assert split({"shift": 0.5})[0] == {"shift": 0.5}
    assert split({"seen": 0.4})[0] == {"seen": 0.4}
    assert split({"loss": 0.9, "seen": 0.4})[0] == {"loss": 0.9, "seen": 0.4}


def test_a_run_that_turns_nan_in_a_shared_pass_is_named_by_its_scenario_and_index(tmp_path):
    from sim.engine.errors import SimulationError
    from sim.studies.runner import _Job, _measure_all

    mdl = write_mdl(
        tmp_path / "nan.mdl",
        "k = 10 ~ dmnl [0, 10] ~ source: test. |\n"
        "x = LN(k - Time / 5) ~ dmnl ~ |\nstock = INTEG(x, 0) ~ dmnl ~ |",
        step=0.5,
    )
    model = load_model(mdl)
    timing = {"stock": "may1"}

    def job(name, k):
        params = {"k": np.asarray(k, dtype=float)}
        scenario = dataclasses.replace(_scenario(), name=name)
        return _Job(scenario, params, len(k), {}, name, params, {}, math.inf)

    bad = [10.0] * 5 + [1.0]  # the sixth run of 'second' fails at time 5
    jobs = [job("first", [10.0] * 6), job("second", bad)]
    with pytest.raises(SimulationError, match=r"time 5 \(run 5\) in scenario 'second'"):
        _measure_all(jobs, model, timing, workers=1)


# An effect size that acts only through a lever, and a calibrated constant it does not touch.
HELD = """
policy start year = 2 ~ Year [0,10] ~ assumption: test. |
policy ramp years = 2 ~ Year [1,5] ~ assumption: test. |
policy ramp = RAMP(1 / policy ramp years, policy start year, policy start year + policy ramp years)
 ~ dmnl ~ 0 before the start. |
push target = 1 ~ dmnl [0,5] ~ Lever (push): ramped. source: test. |
push strength = 0.5 ~ dmnl [0,1] ~ prior: uniform(0, 1), grade C. assumption: test. |
push = 1 + push strength * (push target - 1) * policy ramp ~ dmnl ~ |
level = INTEG(inflow - outflow, 10) ~ person ~ |
inflow = 3 * push ~ person/Year ~ |
outflow = level / life ~ person/Year ~ |
life = 4 ~ Year [1,10] ~ calibrated: test. |
"""


def test_holding_a_source_leaves_the_other_alone_and_no_spread_where_nothing_acts(tmp_path):
    model = load_model(write_mdl(tmp_path / "held.mdl", HELD, final=10, step=0.125))
    ensemble = tmp_path / "ensemble.csv"
    ensemble.write_text(
        "member,cost,life\n" + "".join(f"{i},0,{2 + i}\n" for i in range(6)), encoding="utf-8"
    )
    over = Uncertainty("ensemble", ensemble=str(ensemble))
    base = dataclasses.replace(_scenario(), name="base", uncertainty=over)
    package = dataclasses.replace(
        _scenario([Policy("push target", 2, 2, 3)]), name="package", uncertainty=over
    )
    timing = {"inflow": "fiscal_mean", "level": "may1"}

    def run(vary):
        return {
            r.scenario.name: r.values
            for r in run_scenarios([base, package], model, timing, tmp_path, workers=1, vary=vary)
        }

    both, calibration, effects = (
        run(("calibration", "effects")),
        run(("calibration",)),
        run(("effects",)),
    )
    late = 7  # the year 7 row: the ramp is over
    # effect sizes only: in the baseline the lever does not move, so nothing varies at all
    assert np.nanmax(np.ptp(effects["base"]["level"], axis=1)) == 0
    assert np.ptp(effects["package"]["inflow"][late]) > 1
    # the effect-size draws are those of the combined runs, run by run
    np.testing.assert_array_equal(effects["package"]["inflow"], both["package"]["inflow"])
    # calibration only: the effect size at its .mdl value (0.5), life as the members give it
    np.testing.assert_allclose(calibration["package"]["inflow"][late], 3 * (1 + 0.5 * 2))
    np.testing.assert_array_equal(calibration["base"]["level"], both["base"]["level"])
    assert np.ptp(calibration["base"]["level"][late]) > 1
    # nothing left to vary: one run; a source that is not one is refused
    assert parameters(base, model, tmp_path, vary=())[1] == 1
    with pytest.raises(ValueError, match="unknown source"):
        parameters(base, model, tmp_path, vary=("grade C",))


def test_the_shipped_scenarios_hold_a_source_at_the_mdl_and_keep_the_others_draws():
    from sim.engine.priors import stated_priors

    model = load_model(ROOT / "model" / "brain_circulation.mdl")
    baseline = load_scenario(ROOT / "scenarios" / "baseline.yaml", model)
    both, n, _ = parameters(baseline, model, ROOT)
    calibration, n_cal, _ = parameters(baseline, model, ROOT, vary=("calibration",))
    effects, n_eff, _ = parameters(baseline, model, ROOT, vary=("effects",))
    assert n == n_cal == n_eff > 1
    priors = set(stated_priors(model.spec))
    assert priors
    assert not priors & set(calibration)
    assert set(effects) == priors
    assert set(calibration) | set(effects) == set(both)
    for name in both:
        held = calibration if name in calibration else effects
        np.testing.assert_array_equal(held[name], both[name], err_msg=name)


def test_rank_correlations_are_spearman_s_rho_with_ties_and_leave_out_constant_draws():
    from scipy.stats import spearmanr

    from sim.studies.runner import rank_correlations

    rng = np.random.default_rng(5)
    value = np.round(rng.normal(size=300), 1)  # many ties
    draws = {
        "tied": np.round(value + rng.normal(size=300), 0),
        "smooth": rng.uniform(size=300),
        "against": -value + 0.1 * rng.normal(size=300),
        "constant": np.full(300, 2.0),
        "short": rng.uniform(size=10),
    }
    rhos = rank_correlations(draws, value)
    assert set(rhos) == {"tied", "smooth", "against"}
    for name, rho in rhos.items():
        assert rho == pytest.approx(spearmanr(draws[name], value).statistic, abs=1e-12), name
    assert rhos["against"] < -0.9


def test_average_ranks_are_scipy_s_rankdata_to_the_bit():
    from scipy.stats import rankdata

    from sim.studies.runner import average_ranks

    rng = np.random.default_rng(11)
    for x in (rng.integers(0, 7, size=200).astype(float), rng.normal(size=50), np.ones(9)):
        np.testing.assert_array_equal(average_ranks(x), rankdata(x))
    rows = rng.integers(0, 4, size=(5, 30)).astype(float)
    rows[2, 7] = np.nan
    want = rankdata(rows, axis=1)
    want[2] = np.nan
    np.testing.assert_array_equal(average_ranks(rows), want)
    assert np.isnan(average_ranks(np.array([1.0, np.nan, 2.0]))).all()


def test_prior_draws_are_scipy_s_latin_hypercube_and_quantiles_to_the_bit(tiny):
    from scipy.stats import norm, qmc, triang

    from sim.studies.runner import latin_hypercube, sample_distributions

    for d, n, seed in ((1, 1, 0), (3, 679, 20261201), (7, 40, 5)):
        want = qmc.LatinHypercube(d=d, seed=seed).random(n)
        np.testing.assert_array_equal(latin_hypercube(d, n, seed), want)
    dists = (("life", "normal", (4.0, 1.5)), ("push target", "triangular", (0.5, 1.0, 4.0)))
    unit = qmc.LatinHypercube(d=2, seed=3).random(500)
    got = sample_distributions(dists, 500, 3, tiny)
    want = norm.ppf(unit[:, 0], loc=4.0, scale=1.5)
    np.testing.assert_array_equal(got["life"], np.clip(want, 1, 10))
    want = triang.ppf(unit[:, 1], (1.0 - 0.5) / 3.5, loc=0.5, scale=3.5)
    np.testing.assert_array_equal(got["push target"], np.clip(want, 0, 5))
    assert got["life"].min() == 1  # some draws clipped to the range


def test_percentiles_and_medians_of_sorted_values_are_numpy_s_to_the_bit():
    from sim.studies.runner import sorted_median, sorted_percentiles

    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 10, 679):
        x = rng.lognormal(size=(4, 6, n))
        x[0, 1] = np.round(x[0, 1])  # ties
        x[1, 2, 0] = np.nan
        x[2, 3, -1] = np.inf
        x[3, 0] = -x[3, 0]
        ordered = np.sort(x, axis=-1)
        for q in ([5, 25, 50, 75, 95], [50], [0, 100], [2.5, 97.5]):
            with np.errstate(invalid="ignore"):
                want = np.percentile(x, q, axis=-1)
            np.testing.assert_array_equal(sorted_percentiles(ordered, q), want)
        np.testing.assert_array_equal(sorted_median(ordered), np.median(x, axis=-1))
        one = np.sort(x[0, 0])
        np.testing.assert_array_equal(
            sorted_percentiles(one, [5, 95]), np.percentile(one, [5, 95])
        )
