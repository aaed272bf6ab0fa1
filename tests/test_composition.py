"""Students by origin and by destination, researchers by partner region: the parts add up
to the totals, and a lever on one origin, destination or partner region moves the others
only through what they share.

Checked on the shipped model; the checks compare runs with each other, or with
the documented ranks of Japan in the United States, so a recalibration does not
change what is asserted.
"""

import csv

import numpy as np
import pytest

import sim
from sim.studies.history import load_history

from conftest import ROOT

MODEL = ROOT / "model" / "brain_circulation.mdl"
HISTORY = ROOT / "model" / "history.csv"

# each total and the variable that holds it by origin
BY_ORIGIN = {
    "students in japanese language institutes": (
        "students in japanese language institutes by origin"
    ),
    "intl vocational students": "intl vocational students by origin",
    "intl undergraduates": "intl undergraduates by origin",
    "intl graduate students": "intl graduate students by origin",
    "admitted students awaiting entry to universities": (
        "admitted students awaiting entry to universities by origin"
    ),
    "admitted students awaiting entry to vocational schools": (
        "admitted students awaiting entry to vocational schools by origin"
    ),
    "admitted students awaiting entry to language institutes": (
        "admitted students awaiting entry to language institutes by origin"
    ),
    "international students in japan": "international students in japan by origin",
    "international students in japan counted": "international students in japan by origin counted",
    "international students in higher education counted": (
        "international students in higher education by origin counted"
    ),
}
ADMISSIONS = (
    "university admissions by origin",
    "vocational school admissions by origin",
    "language institute admissions by origin",
)
NEPAL_CLOSED = {
    "origin entry closure start[nepal]": 2030,
    "origin entry closure duration[nepal]": 2,
}
CAPS = {
    "destination intake change": {"in canada": -0.35, "in uk": -0.14},
    "destination intake change start year": 2026,
    "destination intake change ramp years": 1,
}
EUROPE_FUNDS = {
    "partner joint research change[european partners]": 1,
    "partner joint research change start year": 2026,
    "partner joint research change ramp years": 4,
}
BY_DESTINATION = {
    "japanese degree students abroad": "japanese degree students abroad by destination",
    "long term departures": "long term departures by destination",
    "university short and mid term participants per year": (
        "university short and mid term participants by destination"
    ),
}
# each researcher flow and the variable that splits it by partner region
BY_PARTNER = {
    "researchers dispatched per year survey basis": "researchers dispatched by partner",
    "foreign researchers accepted per year": "foreign researchers accepted by partner",
}
CHINA_FALL = {
    "origin demand change[china]": -0.5,
    "origin demand change start year": 2026,
    "origin demand change ramp years": 4,
}


@pytest.fixture(scope="module")
def model():
    return sim.load_model(MODEL)


def _var(ds, name):
    return ds[name.replace(" ", "_")]


@pytest.fixture(scope="module")
def runs(model):
    """The default run, a Nepal closure and a fall in China's demand, saved every step."""
    dt = model.controls["time_step"]
    runs = {
        key: sim.simulate(model, params, saveper=dt)
        for key, params in (
            ("base", {}),
            ("nepal", NEPAL_CLOSED),
            ("china", CHINA_FALL),
            ("caps", CAPS),
            ("europe", EUROPE_FUNDS),
        )
    }
    runs["dollar"] = sim.simulate(model, tables=_cheap_dollar(model), saveper=dt)
    return runs


def _cheap_dollar(model):
    """The dollar path as shipped to 2023, then down to 100 yen by 2030 (other currencies held)."""
    name = "exchange rate yen per usd"
    table = next(lk for lk in model.spec.lookups if lk.key == model.spec.element(name).key)
    xs = [x for x in table.xs if x <= 2023] + [2030.0]
    ys = [y for x, y in zip(table.xs, table.ys, strict=True) if x <= 2023] + [100.0]
    return {name: (xs, ys)}


@pytest.mark.parametrize("case", ["base", "nepal", "china", "caps"])
def test_the_origins_sum_to_each_total_at_every_step(runs, case):
    ds = runs[case]
    _assert_parts_sum(ds, BY_ORIGIN, "origin")
    shares = _var(ds, "origin share of international students").sum("origin").values[:, 0]
    np.testing.assert_allclose(shares, 1.0, rtol=1e-12)
    _assert_parts_sum(ds, BY_DESTINATION, "destination")


@pytest.mark.parametrize("case", ["base", "europe"])
def test_the_partner_regions_sum_to_each_researcher_flow_at_every_step(runs, case):
    _assert_parts_sum(runs[case], BY_PARTNER, "partner")


def _assert_parts_sum(ds, pairs: dict, dim: str):
    """Each total equals the sum of its parts over ``dim`` at every step, to 1e-9."""
    for total, parts in pairs.items():
        whole = _var(ds, total).values[:, 0]
        summed = _var(ds, parts).sum(dim).values[:, 0]
        np.testing.assert_allclose(summed, whole, rtol=1e-9, atol=1e-9, err_msg=total)


def test_joint_research_with_european_partners_moves_researchers_to_and_from_europe(runs):
    """Horizon Europe association, say: flows with Europe rise; the others all move alike.

    Before the lever starts nothing changes, to the bit. After it, the other partner
    regions change only through what all flows share (the early-career pool, the
    researchers already in Japan), so by one common ratio, and by little.
    """
    base, europe = runs["base"], runs["europe"]
    before, late = base.time.values < 2026, base.time.values >= 2031
    for flow in BY_PARTNER.values():
        assert np.array_equal(_var(europe, flow).values[before], _var(base, flow).values[before])
        ratio = _var(europe, flow).values[late, :, 0] / _var(base, flow).values[late, :, 0]
        column = list(base["partner"].values).index("european partners")
        assert np.all(ratio[:, column] > 1.15), flow
        others = np.delete(ratio, column, axis=1)
        np.testing.assert_allclose(others, np.broadcast_to(others[:, :1], others.shape), rtol=1e-9)
        assert np.all(np.abs(others - 1) < 0.02), flow


def _at(ds, name, **where):
    return float(_var(ds, name).sel(run=0, **where))


def _during(ds, start, end):
    return (ds.time.values >= start) & (ds.time.values < end)


def test_a_closed_border_for_one_origin_stops_only_its_entries(runs):
    base, nepal = runs["base"], runs["nepal"]
    inside = _during(nepal, 2030.0, 2032.0)
    for flow in ("entry to language institutes from abroad by origin",):
        entries = _var(nepal, flow)
        assert np.all(entries.sel(origin="nepal").values[inside] == 0)
        others = entries.drop_sel(origin="nepal").values[inside]
        assert others.sum() > 0
    by_origin = "international students in japan by origin"
    assert _at(nepal, by_origin, origin="nepal", time=2032) < 0.8 * _at(
        base, by_origin, origin="nepal", time=2032
    )


@pytest.mark.parametrize("case", ["nepal", "china"])
def test_other_origins_move_only_through_the_places_and_job_prospects_they_share(runs, case):
    """Every other origin's admissions change by one common ratio per institution type.

    An origin's lever reaches the others only through stocks they share (the
    places of each institution type and the graduates competing for jobs), which
    scale every origin's admissions alike; so the ratio to the baseline is the
    same for each other origin, to rounding.
    """
    moved = "nepal" if case == "nepal" else "china"
    base, other = runs["base"], runs[case]
    late = other.time.values >= 2026
    for flow in ADMISSIONS:
        a = _var(base, flow).drop_sel(origin=moved).values[late, :, 0]
        b = _var(other, flow).drop_sel(origin=moved).values[late, :, 0]
        ratio = np.where(a > 0, b / np.where(a > 0, a, 1.0), np.nan)
        common = np.nanmean(ratio, axis=1, keepdims=True)
        held = np.isfinite(ratio)
        assert held.sum() > 0.9 * ratio.size, flow
        np.testing.assert_allclose(
            ratio[held], np.broadcast_to(common, ratio.shape)[held], rtol=1e-9
        )
    by_origin = "international students in japan by origin"
    assert _at(other, by_origin, origin=moved, time=2033) < _at(
        base, by_origin, origin=moved, time=2033
    )


def test_a_fall_in_one_origins_demand_lowers_the_total_by_less_than_its_students(runs):
    """Fewer Chinese applicants lower the total, but freed places let others in."""
    base, china = runs["base"], runs["china"]
    by_origin = "international students in japan by origin"
    lost = _at(base, by_origin, origin="china", time=2033) - _at(
        china, by_origin, origin="china", time=2033
    )
    total = "international students in japan"
    total_fall = _at(base, total, time=2033) - _at(china, total, time=2033)
    assert lost > 0
    assert 0 < total_fall <= lost * (1 + 1e-9)


def test_each_origin_count_is_compared_on_its_own_basis(model):
    rows = [
        o
        for o in load_history(HISTORY, [el.name for el in model.spec.elements])
        if o.series.startswith("intl_students_from_")
    ]
    assert len({o.series for o in rows}) == 8
    for o in rows:
        expected = (
            "international students in higher education by origin counted"
            if o.year <= 2012
            else "international students in japan by origin counted"
        )
        assert o.model_variable.startswith(expected + "["), (o.series, o.year)


def test_a_destinations_cap_lowers_its_departures_and_others_move_alike(runs):
    """Capped destinations lose departures; the others all change by one common ratio.

    Students a cap turns away are not sent elsewhere, so the uncapped destinations
    move only through what all departures share (the long-stay ceiling, returnees'
    word of mouth).
    """
    base, caps = runs["base"], runs["caps"]
    flow = "long term departures by destination"
    late = base.time.values >= 2027
    for capped, cut in (("in canada", 0.35), ("in uk", 0.14)):
        ratio = (
            _var(caps, flow).sel(destination=capped).values[late, 0]
            / _var(base, flow).sel(destination=capped).values[late, 0]
        )
        assert np.all(ratio < 1 - 0.9 * cut), capped
    others = [d for d in base["destination"].values if d not in ("in canada", "in uk")]
    ratio = (
        _var(caps, flow).sel(destination=others).values[late, :, 0]
        / _var(base, flow).sel(destination=others).values[late, :, 0]
    )
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1], ratio.shape), rtol=1e-9)


def test_a_cheaper_dollar_draws_japanese_students_to_the_united_states(runs):
    """With the other currencies held in yen, a cheaper dollar raises the US's share."""
    base, dollar = runs["base"], runs["dollar"]
    flow = "long term departures by destination"

    def us_share(ds, year):
        at = _var(ds, flow).sel(time=year, run=0)
        return float(at.sel(destination="in usa") / at.sum("destination"))

    assert us_share(dollar, 2033) > us_share(base, 2033) + 0.01
    assert us_share(dollar, 2020) == pytest.approx(us_share(base, 2020), rel=1e-12)


def test_japans_rank_in_the_us_from_open_doors_is_the_documented_one(model):
    """3rd in 2000/01, 8th in 2019/20 and 2022/23 (seed document footnote 351, Open Doors)."""
    years, ranks = _observed_ranks(model)
    got = dict(zip(years.tolist(), ranks.tolist(), strict=True))
    assert (got[2000], got[2019], got[2022]) == (3, 8, 8)


def test_the_model_ranks_japan_within_one_place_of_open_doors(model, runs):
    years, ranks = _observed_ranks(model)
    rank = _var(runs["base"], "japan rank among origins in the us")
    for year in (2000, 2010, 2019):
        observed = ranks[years.tolist().index(year)]
        assert abs(float(rank.sel(time=year + 0.5, run=0)) - observed) <= 1, year


def _observed_ranks(model):
    from sim.reports.briefdata import _us_rank_history

    ranks = _us_rank_history(model, load_history(HISTORY, [el.name for el in model.spec.elements]))
    return ranks["rank_year"].values, ranks.values


def test_targets_and_outputs_name_an_origin_or_a_destination(run_cli, tmp_path):
    scenario = tmp_path / "vietnam.yaml"
    scenario.write_text(
        "name: vietnam\ntitle: {en: Vietnam, ja: ベトナム}\n"
        "description: {en: A target on one origin, ja: 一出身国の目標}\n"
        "uncertainty: none\ntargets:\n"
        "  - {variable: 'international students in japan by origin[vietnam]', year: 2033,\n"
        "     at_least: 1, label: Students from Vietnam}\n",
        encoding="utf-8",
    )
    status, stdout, stderr = run_cli(
        "run",
        scenario,
        "--out",
        tmp_path / "out",
        "--outputs",
        "japanese degree students abroad by destination",
        cwd=ROOT,
    )
    assert status == 0, stderr
    assert "Students from Vietnam" in stdout
    with open(tmp_path / "out" / "summary.csv", encoding="utf-8") as fh:
        variables = {row["variable"] for row in csv.DictReader(fh)}
    assert "international students in japan by origin[vietnam]" in variables
    assert "japanese degree students abroad by destination[in usa]" in variables


def test_an_origins_own_drivers_are_one_in_2000_and_held_where_no_series_was_found(runs):
    base = runs["base"]
    effect = _var(base, "origin driver effect")
    np.testing.assert_array_equal(effect.sel(time=2000.0, run=0).values, 1.0)
    for name, held in (
        ("origin income index", ["taiwan", "other asia", "rest of world"]),
        ("origin currency index", ["myanmar", "other asia", "rest of world"]),
    ):
        np.testing.assert_array_equal(_var(base, name).sel(origin=held).values, 1.0)


def test_a_weaker_currency_of_one_origin_lowers_only_its_weight(model, runs):
    """Vietnam's dong at half its 2023 dollar value by 2030: its weight, and no other, falls."""
    name = "origin currency per usd[vietnam]"
    table = next(lk for lk in model.spec.lookups if lk.key == "origin_currency_per_usd[vietnam]")
    xs = [x for x in table.xs if x <= 2023] + [2030.0]
    ys = [y for x, y in zip(table.xs, table.ys, strict=True) if x <= 2023] + [2 * table.ys[-1]]
    weaker = sim.simulate(model, tables={name: (xs, ys)}, saveper=model.controls["time_step"])
    base = runs["base"]
    weight = "degree route origin weight now"
    ratio = _var(weaker, weight).sel(time=2033.0, run=0) / _var(base, weight).sel(
        time=2033.0, run=0
    )
    elasticity = model.defaults[model.param_keys.index("origin_currency_elasticity")]
    assert elasticity < 0
    assert float(ratio.sel(origin="vietnam")) == pytest.approx(2.0**elasticity, rel=1e-12)
    assert np.all(ratio.drop_sel(origin="vietnam").values == 1.0)
    mix = "degree route origin mix"
    assert float(_var(weaker, mix).sel(time=2033.0, run=0, origin="vietnam")) < float(
        _var(base, mix).sel(time=2033.0, run=0, origin="vietnam")
    )
