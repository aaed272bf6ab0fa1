"""Behaviour a reviewer of the brain-circulation model expects, checked on the shipped model.

These tests state what the model should do, not the numbers it gives: a
border closure lowers enrolment in every calibrated ensemble member and
freezes the growth of places; no combination of constants at their range
limits gives NaN or a negative stock; halving TIME STEP barely moves the
target outputs; and each cause acts where the model's structure says it
does. The calibrated constants and ``model/ensemble.csv`` may be
recalibrated, so every check compares runs with each other or with margins,
never with exact figures.
"""

import numpy as np
import pytest
from scipy.stats import beta, qmc

import sim
from sim.engine.errors import SimulationError
from sim.reports.structure import dispatch_decomposition
from sim.studies.calibrate import read_ensemble
from sim.studies.history import observe
from sim.studies.targets import TARGETS

from conftest import ROOT

MODEL = ROOT / "model" / "brain_circulation.mdl"
ENSEMBLE = ROOT / "model" / "ensemble.csv"

CLOSURE = {"future border closure start": 2030, "future border closure duration": 2}
STUDENTS = "international students in japan"
STAGES = (
    "intl undergraduates",
    "intl graduate students",
    "intl vocational students",
    "students in japanese language institutes",
)
PLACES = [
    "international student places",
    "university international places",
    "vocational school international places",
    "language institute places",
]
EXCHANGE_PLACES = "short programme capacity"
SHORT_TERM = "university short and mid term participants per year"
TARGET_OUTPUTS = list(dict.fromkeys([t.variable for t in TARGETS] + [STUDENTS]))

LHS_DRAWS = 2000
LHS_CHUNKS = 2
LHS_SEED = 20240611
CONTROLS = {"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER"}


@pytest.fixture(scope="module")
def model():
    return sim.load_model(MODEL)


def _values(model, ds, name):
    """The variable ``name`` of ``ds`` as an array (time, run): a scalar, or a cell of an array."""
    el = model.spec.element(name)
    if not el.base:
        return ds[el.py_name].values
    label = model.spec.ranges.label
    return ds[el.base].sel({label(r): label(e) for r, e in el.coords}).values


def _at(model, ds, name, t):
    """The first run's ``name`` at time ``t`` (a saved time)."""
    return float(ds[model.spec.element(name).py_name].sel(time=t).values.flat[0])


def _table(model, name):
    """A lookup's points as shipped: ``(xs, ys)``."""
    key = model.spec.element(name).key
    table = next(lk for lk in model.spec.lookups if lk.key == key)
    return np.array(table.xs), np.array(table.ys)


def _default(model, name):
    return float(model.spec.element(name).expr.value)


@pytest.fixture(scope="module")
def ensemble(model):
    """The calibrated ensemble as run parameters: one array per calibrated constant."""
    _, names, values = read_ensemble(ENSEMBLE)
    params = {
        name: values[:, j]
        for j, name in enumerate(names)
        if model.spec.has(name) and model.spec.element(name).kind == "constant"
    }
    assert params
    return params


@pytest.fixture(scope="module")
def ensemble_closure(model, ensemble):
    """Every member without, then with, the 2030-2032 closure, saved at every TIME STEP.

    Returns ``(n members, Dataset)``; runs ``[:n]`` are the baseline, ``[n:]`` the closure.
    """
    n = len(next(iter(ensemble.values())))
    params = {name: np.concatenate([v, v]) for name, v in ensemble.items()}
    for name, value in CLOSURE.items():
        params[name] = np.r_[np.full(n, _default(model, name)), np.full(n, float(value))]
    ds = sim.simulate(
        model,
        params,
        outputs=[STUDENTS, *PLACES, EXCHANGE_PLACES],
        saveper=model.controls["time_step"],
    )
    return n, ds


@pytest.fixture(scope="module")
def default_closure(model):
    """The default run with the 2030-2032 closure, saved at every TIME STEP."""
    return sim.simulate(
        model,
        CLOSURE,
        outputs=[STUDENTS, *PLACES, EXCHANGE_PLACES],
        saveper=model.controls["time_step"],
    )


@pytest.fixture(scope="module")
def default_run(model):
    """The default run, every variable, saved every year."""
    return sim.simulate(model)


# -- border closure -----------------------------------------------------------------------


def _closure_effect(model, ensemble_closure, year):
    """Return ``(baseline, closure)`` 1 May enrolment of every member in ``year``."""
    n, ds = ensemble_closure
    may1 = observe(ds.time.values, _values(model, ds, STUDENTS), year, "may1")
    return may1[:n], may1[n:]


@pytest.mark.parametrize("year", [2031, 2032, 2033, 2034, 2035])
def test_a_2030_closure_lowers_students_below_baseline_to_2035_in_every_member(
    model, ensemble_closure, year
):
    base, closed = _closure_effect(model, ensemble_closure, year)
    above = np.flatnonzero(closed >= base)
    worst = int(np.argmax(closed / base))
    assert above.size == 0, (
        f"1 May {year}: {above.size} of {base.size} members at or above the baseline, e.g. "
        f"member {worst}: closure {closed[worst]:,.0f} against {base[worst]:,.0f}"
    )
    assert np.median(closed / base) < 0.95


def _closure_window(times):
    return (times >= 2030 - 1e-9) & (times <= 2032 + 1e-9)


@pytest.mark.parametrize("name", PLACES)
def test_places_do_not_grow_while_the_border_is_closed(
    model, default_closure, ensemble_closure, name
):
    n, ens = ensemble_closure
    for what, ds, runs in (
        ("default", default_closure, slice(None)),
        ("ensemble", ens, slice(n, None)),
    ):
        inside = _closure_window(ds.time.values)
        places = _values(model, ds, name)[inside][:, runs]
        growth = np.diff(places, axis=0)
        assert np.all(growth <= 1e-9 * places[:-1]), (what, name, float(growth.max()))


def test_enrolment_and_exchange_places_recover_slowly_after_the_closure(model, default_closure):
    ds = default_closure
    times = ds.time.values
    # one year after reopening, enrolment is still below its level before the closure
    before, after = _at(model, ds, STUDENTS, 2030.0), _at(model, ds, STUDENTS, 2033.0)
    assert after < before, (after, before)
    # exchange places lapse while closed ...
    start, end = _at(model, ds, EXCHANGE_PLACES, 2030.0), _at(model, ds, EXCHANGE_PLACES, 2032.0)
    assert end < start, (end, start)
    # ... and a year after reopening they have not yet regained their level
    year_after = (times >= 2032.0) & (times <= 2033.0 + 1e-9)
    regained = _values(model, ds, EXCHANGE_PLACES)[year_after, 0]
    assert np.all(regained < start), (float(regained.max()), start)


# -- extreme values -----------------------------------------------------------------------


def _ranged_constants(model):
    """Constants with a finite range wider than a point, not the time controls."""
    out = []
    for el in model.spec.of_kind("constant"):
        lo, hi = el.limits
        if el.name.upper() in CONTROLS or lo is None or hi is None or not lo < hi:
            continue
        out.append(el)
    return out


def _corner_heavy_draws(constants):
    """Latin hypercube draws pushed towards the range limits by Beta(0.2, 0.2) quantiles."""
    unit = qmc.LatinHypercube(d=len(constants), seed=np.random.default_rng(LHS_SEED)).random(
        LHS_DRAWS
    )
    q = beta.ppf(unit, 0.2, 0.2)
    # clipped: lo + 1 * (hi - lo) can round past hi
    return {
        el.name: np.clip(el.limits[0] + q[:, j] * (el.limits[1] - el.limits[0]), *el.limits)
        for j, el in enumerate(constants)
    }


def test_no_nan_or_negative_stock_with_constants_at_their_limits(model):
    constants = _ranged_constants(model)
    assert len(constants) > 100
    draws = _corner_heavy_draws(constants)
    position = np.array(
        [(draws[el.name] - el.limits[0]) / (el.limits[1] - el.limits[0]) for el in constants]
    )
    near_limit = np.mean((position < 0.1) | (position > 0.9))
    assert near_limit > 0.5  # corner-heavy: most values within 10% of a limit
    stocks = [el.name for el in model.spec.of_kind("stock")]
    problems = []
    for runs in np.array_split(np.arange(LHS_DRAWS), LHS_CHUNKS):
        params = {name: values[runs] for name, values in draws.items()}
        try:
            ds = sim.simulate(model, params, outputs=stocks, saveper=model.controls["time_step"])
        except SimulationError as err:
            problems.append(f"draws {runs[0]}-{runs[-1]} (run k is draw {runs[0]} + k): {err}")
            continue
        for name in stocks:
            values = _values(model, ds, name)
            scale = np.maximum(np.abs(values).max(axis=0), 1.0)
            bad = ~np.all(np.isfinite(values), axis=0) | (values.min(axis=0) < -1e-6 * scale)
            if bad.any():
                problems.append(
                    f"{name}: {bad.sum()} runs non-finite or negative (lowest "
                    f"{np.nanmin(values):.6g}), e.g. draw {runs[np.flatnonzero(bad)[0]]}"
                )
    assert not problems, "\n".join(problems)


def test_no_18_year_olds_gives_no_nan_and_no_short_term_participants(model):
    ds = sim.simulate(model, tables={"domestic 18 year old cohort path": ([2000, 2041], [0, 0])})
    not_finite = [v for v in ds.data_vars if not np.all(np.isfinite(ds[v].values))]
    assert not_finite == []
    assert np.all(_values(model, ds, SHORT_TERM) == 0)


def test_full_scholarship_coverage_at_the_largest_cost_offset_stays_finite(model):
    params = {
        "scholarship coverage target": 1.0,
        "scholarship cost offset": model.spec.element("scholarship cost offset").limits[1],
    }
    ds = sim.simulate(model, params)
    not_finite = [v for v in ds.data_vars if not np.all(np.isfinite(ds[v].values))]
    assert not_finite == []


def test_a_yen_at_300_per_dollar_cuts_2033_short_term_participants_by_over_15_percent(model):
    """The yen at 300 per dollar from 2000, and as weak against every destination's currency."""
    dt = model.controls["time_step"]
    weak = {"exchange rate yen per usd": ([2000.0, 2040.0], [300.0, 300.0])}
    usd = _table(model, "exchange rate yen per usd")
    for currency in ("aud", "cad", "gbp", "krw", "cny", "twd", "eur"):
        xs, ys = _table(model, f"yen per {currency}")
        weak[f"yen per {currency}"] = (xs, ys * 300.0 / np.interp(xs, *usd))
    base = sim.simulate(model, outputs=[SHORT_TERM], saveper=dt)
    cheap = sim.simulate(model, outputs=[SHORT_TERM], saveper=dt, tables=weak)
    b = observe(base.time.values, _values(model, base, SHORT_TERM), 2033, "fiscal_mean")[0]
    c = observe(cheap.time.values, _values(model, cheap, SHORT_TERM), 2033, "fiscal_mean")[0]
    assert c < 0.85 * b, (c, b)


# -- step size ----------------------------------------------------------------------------


def test_halving_the_time_step_moves_every_target_output_by_under_one_percent(
    model, ensemble, ensemble_closure
):
    """Default run and the ensemble members with the lowest and highest 2033 students."""
    n, ds = ensemble_closure
    may1 = observe(ds.time.values, _values(model, ds, STUDENTS)[:, :n], 2033, "may1")
    members = np.array([np.argmin(may1), np.argmax(may1)])
    params = {
        name: np.r_[_default(model, name), values[members]] for name, values in ensemble.items()
    }
    labels = ["default", f"member {members[0]} (lowest)", f"member {members[1]} (highest)"]
    dt = model.controls["time_step"]
    full = sim.simulate(model, params, outputs=TARGET_OUTPUTS, saveper=1.0)
    half = sim.simulate(model, params, outputs=TARGET_OUTPUTS, saveper=1.0, time_step=dt / 2)
    assert np.array_equal(full.time.values, half.time.values)
    assert full.time.values[0] == 2000
    assert full.time.values[-1] == 2040
    misses = []
    for name in TARGET_OUTPUTS:
        a, b = _values(model, full, name), _values(model, half, name)
        floor = 1e-3 if model.spec.element(name).units.lower() == "dmnl" else 1.0
        moved = np.abs(a - b) / np.maximum(np.abs(b), floor)
        k, r = np.unravel_index(np.argmax(moved), moved.shape)
        if moved[k, r] >= 0.01:
            misses.append(
                f"{name}, {labels[r]}, {full.time.values[k]:g}: {a[k, r]:.6g} at TIME STEP "
                f"against {b[k, r]:.6g} at half ({100 * moved[k, r]:.2f}%)"
            )
    assert not misses, "\n".join(misses)


# -- cause-based structure ----------------------------------------------------------------


def test_employment_prospects_effect_starts_moderate_and_never_exceeds_its_maximum(
    model, default_run
):
    effect = _values(model, default_run, "employment prospects effect")[:, 0]
    start = _at(model, default_run, "employment prospects effect", 2000)
    assert 0.5 <= start <= 1.5, start
    ceiling = _default(model, "maximum employment prospects effect")
    assert np.all(effect <= ceiling * (1 + 1e-12)), (float(effect.max()), ceiling)


def test_sgu_uplift_acts_on_graduate_demand_only(model):
    """SGU funding raises graduate demand; undergraduate, vocational and language demand stay.

    The three demands share one attractiveness, which feeds back from graduates'
    domestic employment; the employment-prospects loop is held fixed
    (``inbound employment elasticity`` = 0) so that only the direct effect is seen.
    """
    el = model.spec.element("sgu programme uplift")
    params = {
        "sgu programme uplift": np.array([el.limits[0], el.limits[1]]),
        "inbound employment elasticity": 0.0,
    }
    demands = ["university demand", "vocational school demand", "language institute demand"]
    share = "undergraduate share of university entry"
    ds = sim.simulate(model, params, outputs=[*demands, share])
    after = ds.time.values >= 2015
    university = _values(model, ds, "university demand")[after]
    assert np.all(university[:, 1] > 1.1 * university[:, 0])
    for name in demands[1:]:
        low, high = _values(model, ds, name).T
        np.testing.assert_allclose(high, low, rtol=1e-12, err_msg=name)
    # the programmes act on graduate schools: undergraduate demand is unchanged
    undergraduate = university * _values(model, ds, share)[after]
    np.testing.assert_allclose(undergraduate[:, 1], undergraduate[:, 0], rtol=1e-12)


def test_the_2004_screening_acts_on_language_institutes_and_vocational_schools_only(model):
    """Tightened certificate screening from the April 2004 intake (MOJ, 2003-11-11)."""
    params = {"tightened screening issuance ratio": np.array([1.0, 0.5])}
    demands = ["university demand", "vocational school demand", "language institute demand"]
    ds = sim.simulate(model, params, outputs=demands, saveper=0.25)
    t = ds.time.values
    for name in demands:
        free, screened = _values(model, ds, name).T
        np.testing.assert_allclose(screened[t < 2004.25], free[t < 2004.25], rtol=1e-12)
        if name == "university demand":
            # only through loop B4 (job prospects) can universities feel it, and weakly
            assert np.all(np.abs(screened / free - 1) < 0.02), name
        else:
            first = np.flatnonzero(t >= 2004.25)[0]
            assert screened[first] / free[first] == pytest.approx(0.5, rel=1e-9), name


def test_the_2011_earthquake_lowers_applications_for_a_while(model):
    name = "earthquake effect on applications"
    ds = sim.simulate(model, outputs=[name], saveper=model.controls["time_step"])
    effect, t = _values(model, ds, name)[:, 0], ds.time.values
    loss = _default(model, "earthquake demand loss")
    dt = model.controls["time_step"]
    assert np.all(effect[t < 2011.19 - dt] == 1)  # STEP switches half a step early
    assert effect.min() == pytest.approx(1 - loss, rel=1e-9)
    assert t[np.argmin(effect)] == pytest.approx(2011.19, abs=dt)
    assert np.all(np.diff(effect[t >= 2011.25]) >= 0), "recovers monotonically"
    assert effect[t == 2040][0] > 1 - 0.01 * loss


def test_jasso_counts_add_students_enrolled_online_only_while_entry_is_held_back(
    model, default_run
):
    t = default_run.time.values
    openness = _values(model, default_run, "student entry openness")[:, 0]
    for stock in STAGES:
        held, counted = (_values(model, default_run, n)[:, 0] for n in (stock, f"{stock} counted"))
        np.testing.assert_array_equal(counted[openness == 1], held[openness == 1], err_msg=stock)
        closed = (openness < 1) & (t > 2020.5) & (t < 2022)
        assert np.all(counted[closed] > held[closed]), stock
    total = _values(model, default_run, "international students in japan counted")[:, 0]
    parts = sum(_values(model, default_run, f"{n} counted")[:, 0] for n in STAGES)
    np.testing.assert_allclose(total, parts, rtol=1e-12)


def test_the_language_route_boom_has_ended_by_2025(model, default_run):
    # at most 4-year build time: by 2025 (14.5 years on) under 3% of the boom is still to come
    early, late = (_at(model, default_run, "language route boom", t) for t in (2025, 2040))
    assert abs(late / early - 1) < 0.03, (early, late)


def test_employer_demand_saturates_below_its_ceiling(model):
    ceiling = 200_000.0
    ds = sim.simulate(
        model,
        {"employer demand ceiling": ceiling},
        outputs=["employer demand for international graduates", "employer demand growth"],
    )
    demand = ds[model.spec.element("employer demand for international graduates").py_name]
    growth = ds[model.spec.element("employer demand growth").py_name]
    assert float(demand.max()) < ceiling
    rate = growth / demand
    assert float(rate.sel(time=2040).item()) < float(rate.sel(time=2010).item())


def test_jmirai_basis_employment_rate_exceeds_the_share_of_all_graduates(model, default_run):
    jmirai = _values(model, default_run, "domestic employment rate jmirai basis")[:, 0]
    all_graduates = _values(
        model, default_run, "domestic employment rate of international graduates"
    )
    assert np.all(jmirai > all_graduates[:, 0])


def test_long_term_students_abroad_stay_under_their_ceiling_even_at_the_strongest_pull(model):
    outputs = ["long term students abroad per year", "domestic university students"]
    strongest = {
        name: model.spec.element(name).limits[1]
        for name in ("word of mouth elasticity", "base long term propensity")
    }
    share = _default(model, "maximum long term abroad share")
    for params in ({}, strongest):
        ds = sim.simulate(model, params, outputs=outputs, saveper=model.controls["time_step"])
        abroad = _values(model, ds, outputs[0])[:, 0]
        ceiling = share * _values(model, ds, outputs[1])[:, 0]
        assert np.all(abroad <= ceiling * (1 + 1e-9)), (params, float(np.max(abroad / ceiling)))


def test_high_school_students_abroad_fall_with_the_high_school_population(model, default_run):
    abroad = [
        _at(model, default_run, "high school students abroad per year", t) for t in (2025, 2040)
    ]
    students = [_at(model, default_run, "high school students", t) for t in (2025, 2040)]
    assert abroad[1] < abroad[0], abroad
    assert students[1] < students[0], students
    # the share going abroad is unchanged: the fall is the population's
    assert abroad[1] / students[1] == pytest.approx(abroad[0] / students[0], rel=1e-9)


def test_degree_awards_add_no_departures_once_scholarships_cover_everyone(model):
    dt = model.controls["time_step"]
    awards = {"degree study abroad awards target": 35_200.0}
    ds = sim.simulate(
        model,
        {
            "scholarship coverage target": np.array(
                [_default(model, "scholarship coverage target"), 1.0]
            ),
            **awards,
        },
        outputs=["additional degree departures"],
        saveper=dt,
    )
    extra = _values(model, ds, "additional degree departures")
    from_2030 = ds.time.values >= 2030
    assert np.all(extra[from_2030, 0] > 0)  # the awards do add departures otherwise
    leftover = np.abs(extra[from_2030, 1]).max()
    assert leftover <= 1e-9 * extra[from_2030, 0].min(), float(leftover)


def test_the_dispatch_decline_is_mostly_explained_by_named_causes(model):
    head, *rows = dispatch_decomposition(model)
    assert head["first"] > head["last"]
    residual = [r for r in rows if r["cause"].startswith("residual")]
    assert len(residual) == 1
    assert residual[0]["share"] < 0.5, residual[0]


def test_researchers_flow_out_of_japan_on_the_oecd_basis_before_2020(model, ensemble):
    # the seed document: the OECD finds a small continuing net outflow of researchers
    name = "net researcher migration"
    default = sim.simulate(model, outputs=[name], saveper=model.controls["time_step"])
    before = default.time.values < 2020
    flow = _values(model, default, name)[before, 0]
    assert flow.max() < 0, f"a net inflow of {flow.max():,.0f} a year in the default run"
    assert flow.min() > -1_000, "small: under 1,000 researchers a year"
    members = sim.simulate(model, ensemble, outputs=[name], saveper=1)
    mean = _values(model, members, name)[members.time.values < 2020].mean(axis=0)
    assert np.mean(mean < 0) >= 0.99, f"{np.sum(mean >= 0)} members net inflow 2000-2019"


# -- loop strengths -----------------------------------------------------------------------


def test_cutting_each_named_loop_changes_its_output_as_the_model_readme_states(model):
    from sim.reports.structure import loop_strengths, read_loops

    readme = (ROOT / "model" / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- loops:start -->")[1].split("<!-- loops:end -->")[0]
    stated = {}
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        stated[cells[0].split()[0]] = float(cells[4].replace(",", ""))
    loops = read_loops(ROOT / "model" / "loops.csv")
    assert set(stated) == {loop.code for loop in loops}
    for row in loop_strengths(model, loops):
        cut = row["cut"]
        assert cut == pytest.approx(stated[row["loop"].code], rel=5e-3, abs=5e-3), row["loop"]
