"""Briefing figures: each drawn from a small stored Dataset, in both languages, checked.

``tests/data/brief/small.nc`` is a subset of what ``brainsim brief`` computes
(5 scenarios, 10 parameters; see its ``note`` attribute). Warnings are errors
in this suite, so a glyph missing from the Japanese font fails the test.
"""

import re

import numpy as np
import pytest
import xarray as xr

from sim.engine.vensim import read_mdl
from sim.reports import figures
from sim.reports.briefdata import CURVE_OUTPUTS, CURVE_PROGRAMMES, CURVE_SCENARIOS
from sim.reports.briefing import findings, footer, render, stale
from sim.reports.labels import BUDGET_PROGRAMMES, LABELS, label, name
from sim.studies.targets import TARGETS

from conftest import DATA, ROOT, project_copy

SMALL = DATA / "brief" / "small.nc"


@pytest.fixture(scope="module")
def ds():
    return xr.load_dataset(SMALL)


@pytest.fixture(autouse=True)
def _close_figures():
    """Close each test's figures (pyplot warns, an error here, past 20 open at once)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _pixels(fig) -> float:
    """Share of the canvas that is not white."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    return float(np.mean(rgba.min(axis=2) < 245))


def _texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


def _leftover(texts: set, lang: str) -> set:
    """Texts of ``texts`` in the other language: whole labels, or (in English) Japanese script.

    An English figure writes budgets in 億円, as the scenario files do; nothing else Japanese.
    """
    other = "ja" if lang == "en" else "en"
    whole = {label(k, other) for k, v in LABELS.items() if "{" not in v[other]} - {
        label(k, lang) for k, v in LABELS.items() if "{" not in v[lang]
    }
    left = texts & whole
    if lang == "en":
        kana_kanji = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uff00-\uffef]")
        left |= {t for t in texts if kana_kanji.search(t.replace("億円", ""))}
    return left


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_history_figure(ds, lang):
    fig = figures.history(ds, lang, footer(ds, lang, "baseline"))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(set(ds["obs_series"].values.tolist()))
    assert label("fig_history", lang) in _texts(fig)
    # each panel: observations, the model line and the band
    assert all(len(ax.lines) == 2 and len(ax.collections) == 1 for ax in visible)
    assert all(ax.get_ylabel() for ax in visible)
    assert _pixels(fig) > 0.03


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_targets_figure(ds, lang):
    fig = figures.targets(ds, lang, footer(ds, lang))
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.lines]
    assert len(panels) == 7  # the J-MIRAI outputs and researchers dispatched
    first = panels[0]
    # one median line per scenario, the target line and its star
    assert len(first.lines) == ds.sizes["scenario"] + 2
    assert len(first.collections) == 2  # bands for baseline and the J-MIRAI package
    assert label("fig_targets", lang) in _texts(fig)
    assert all(ax.get_ylabel() for ax in panels)
    assert _pixels(fig) > 0.03


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_probability_table(ds, lang):
    fig = figures.probability(ds, lang, footer(ds, lang))
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == ds.sizes["scenario"]
    assert len(ax.get_xticklabels()) == ds.sizes["target"]
    cells = [t.get_text() for t in ax.texts]
    assert len(cells) == ds.sizes["scenario"] * ds.sizes["target"]
    assert f"{float(ds['probability'].sel(scenario='baseline').values[4]):.0%}" in cells
    assert _pixels(fig) > 0.3


def test_spread_by_source_is_kept_per_scenario_target_and_source(ds):
    prob, quant = ds["source_probability"], ds["source_quantile"]
    assert prob.dims == ("scenario", "target", "source")
    assert quant.dims == ("scenario", "target", "source", "q")
    assert ds["source"].values.tolist() == ["combined", "calibration", "effects"]
    # both sources varying is the scenario's own run: the target table's numbers
    np.testing.assert_array_equal(prob.sel(source="combined"), ds["probability"])
    for q in ("p05", "p50", "p95"):
        np.testing.assert_array_equal(quant.sel(source="combined", q=q), ds[f"target_{q}"])
    assert ((prob >= 0) & (prob <= 1)).all()
    assert (quant.diff("q") >= 0).all()
    band = quant.sel(q="p95") - quant.sel(q="p05")
    # high-school study abroad is the lever's rate times the population: no effect size (and
    # no calibrated parameter) acts on it, so its effect-size band is a point in both scenarios
    high_school = next(t.label for t in TARGETS if t.variable.startswith("high school"))
    for scen in ("baseline", "jmirai-package"):
        assert float(band.sel(scenario=scen, target=high_school, source="effects")) == 0
    # the package's degree awards count through a grade-C additionality, which the
    # baseline's 120 awards a year barely move: the effect-size band widens with the package
    long_term = next(t.label for t in TARGETS if t.variable.startswith("long term"))
    width = band.sel(target=long_term, source="effects")
    assert float(width.sel(scenario="jmirai-package")) > 10 * float(width.sel(scenario="baseline"))
    # with the effect sizes held, the calibration still spreads every other target
    others = [t.label for t in TARGETS if t.label != high_school]
    assert (band.sel(target=others, source="calibration") > 0).all()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_uncertainty_figure_shows_each_source_apart_in_its_language(ds, lang):
    scenarios = figures.SCENARIO_OF["uncertainty"]
    fig = figures.uncertainty(ds, lang, footer(ds, lang, scenarios))
    bars, cells = fig.axes
    grades = ds.attrs["effect_grades"]
    rows = len(TARGETS) * len(scenarios)
    assert len(bars.get_yticklabels()) == rows
    # each row: the band of all runs, of calibration only and of effect sizes only
    assert len(bars.patches) == 3 * rows
    numbers = [t.get_text() for t in cells.texts]
    assert len(numbers) == 3 * rows
    base = ds["source_probability"].sel(scenario="baseline")
    assert numbers[:3] == [f"{float(p):.0%}" for p in base.isel(target=0).values]
    texts = {t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))}
    for key, fields in (
        ("fig_uncertainty", {"grades": grades}),
        ("src_combined", {}),
        ("src_calibration", {}),
        ("src_effects", {"grades": grades}),
        ("relative_to_target", {}),
        ("prob_by_source", {}),
        ("median", {}),
        ("target", {}),
        ("src_calibration_short", {}),
    ):
        assert label(key, lang, **fields) in texts, key
    assert all(name(s, lang) in texts for s in scenarios)
    assert footer(ds, lang, scenarios) in texts
    # no word of the other language left in the figure
    assert not _leftover(texts, lang)
    assert _pixels(fig) > 0.05


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_tornado_and_sobol(ds, lang):
    fig = figures.tornado(ds, lang, footer(ds, lang, "baseline"), top=5)
    bars = [ax for ax in fig.axes if ax.get_visible()]
    assert len(bars) == 7
    assert all(len(ax.patches) == 5 for ax in bars)
    assert all(ax.get_xlabel() == label("swing", lang) for ax in bars)
    fig = figures.sobol(ds, lang, footer(ds, lang, "baseline"), top=6)
    heat, lines = fig.axes[0], fig.axes[1]
    assert len(heat.get_yticklabels()) == 6
    assert len(lines.lines) == 5
    assert lines.get_ylabel() == label("total_index", lang)
    assert _pixels(fig) > 0.05


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_goal_and_researchers(ds, lang):
    fig = figures.goal(ds, lang, footer(ds, lang, "expanded-scholarships"))
    ax = fig.axes[0]
    curve = ax.lines[0]
    np.testing.assert_allclose(curve.get_ydata(), ds["goal_probability"].values)
    assert ax.get_xlabel() == label("coverage", lang)
    fig = figures.researchers(ds, lang, footer(ds, lang))
    ax = fig.axes[0]
    assert ax.get_ylabel() == label("persons_per_year", lang)
    # scenarios, two observed bases and the FY2000 level
    assert len(ax.lines) == ds.sizes["scenario"] + 3
    assert _pixels(fig) > 0.03


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_partners_figure_splits_both_flows_by_region_and_draws_europe_by_scenario(ds, lang):
    fig = figures.partners(ds, lang, footer(ds, lang, figures.SCENARIO_OF["partners"]))
    dispatched, accepted, europe = fig.axes
    regions = [str(p).split("[", 1)[1].rstrip("]") for p in ds["part"].values if "partner" in p]
    assert len(regions) == 10  # five regions in each of the two flows
    totals = (
        ds["extra_quantile"].sel(extra="researchers dispatched per year survey basis"),
        ds["quantile"].sel(output="foreign researchers accepted per year"),
    )
    for ax, total in zip((dispatched, accepted), totals, strict=True):
        legend = {t.get_text() for t in ax.get_legend().get_texts()}
        assert {name(r, lang) for r in regions} <= legend
        # the regions stack up to the baseline's median total
        top = ax.collections[len(set(regions)) - 1].get_paths()[0].vertices[:, 1]
        median = total.sel(scenario="baseline", q="p50").values
        np.testing.assert_allclose(np.nanmax(top), np.nanmax(median), rtol=1e-9)
    years = ds["year"].values
    for scen in ("baseline", "horizon-europe"):
        assert name(scen, lang) in {t.get_text() for t in europe.get_legend().get_texts()}
    medians = {
        (scen, flow): ds["extra_quantile"]
        .sel(scenario=scen, extra=f"{flow} by partner[european partners]", q="p50")
        .values
        for scen in ("baseline", "horizon-europe")
        for flow in ("researchers dispatched", "foreign researchers accepted")
    }
    drawn = [line.get_ydata() for line in europe.lines if len(line.get_xdata()) == len(years)]
    for values in medians.values():
        assert any(np.array_equal(values, y, equal_nan=True) for y in drawn)
    later = years >= 2030
    for flow in ("researchers dispatched", "foreign researchers accepted"):
        gain = medians[("horizon-europe", flow)][later] / medians[("baseline", flow)][later]
        gain = gain[np.isfinite(gain)]  # the last years are past the run's final time
        assert gain.size > 5
        assert np.all(gain > 1.1), flow  # both flows move with Europe
    assert not _leftover(
        {t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))}, lang
    )
    assert _pixels(fig) > 0.05


def test_cost_chart_data_has_every_programme_with_a_yen_figure_or_a_reason(ds):
    yen = ds["cost_yen_per"]
    assert yen.dims == ("programme", "q")
    for key in (
        "cost_outcome",
        "cost_change_oku",
        "cost_gain_p50",
        "cost_runs_with_gain",
        "cost_per",
        "cost_grade",
        "cost_lower_bound",
    ):
        assert ds[key].dims == ("programme",), key
    assert sorted(ds["programme"].values.tolist()) == sorted(BUDGET_PROGRAMMES)
    share = ds["cost_runs_with_gain"].values
    assert ((share >= 0) & (share <= 1)).all()
    median = yen.sel(q="p50").values
    # a programme without a median is one no run gains from, and the share says so
    assert (np.isfinite(median) | (share == 0)).all()
    ok = np.isfinite(median)
    assert (median[ok] > 0).all()
    assert (yen.diff("q").values[ok] >= 0).all()
    # +10 億円 a year, less where the range tops out: the employment programme gets +4
    change = ds["cost_change_oku"]
    assert ((change > 0) & (change <= ds.attrs["cost_change_oku"])).all()
    assert float(change.sel(programme="employment promotion programme")) == pytest.approx(4)
    assert set(ds["cost_outcome"].values) <= {t.variable for t in TARGETS}
    per = dict(zip(ds["cost_outcome"].values, ds["cost_per"].values, strict=True))
    assert per["domestic employment rate jmirai basis"].endswith("per percentage point")
    assert per["japanese students abroad per year"].endswith("per person")
    # a grade is the effect size the gain rests on, one of the model's grades
    grades = set(ds.attrs["effect_grades"].split(", ")) | {""}
    assert set(ds["cost_grade"].values) <= grades
    assert ((ds["cost_grade"] != "") == (ds["cost_rests_on"] != "")).all()
    # the unit costs the model documents only from below (model/README.md, "Budget layer")
    assert bool(ds["cost_lower_bound"].sel(programme="agreement study abroad support"))
    assert not bool(ds["cost_lower_bound"].sel(programme="kokuhi scholarship"))


def test_budget_curves_rise_with_the_budget_of_a_programme_acting_on_the_target(ds):
    assert ds["curve_probability"].dims == ("curve", "budget_point")
    assert ds["curve_budget_oku"].dims == ("curve", "budget_point")
    for key in ("curve_target", "curve_programme", "curve_scenario", "curve_today_oku"):
        assert ds[key].dims == ("curve",), key
    assert ds["curve_accepts"].dims == ("curve_output", "curve_tried")
    assert ds["curve_tried"].values.tolist() == list(CURVE_SCENARIOS)
    assert set(ds["curve_scenario"].values) <= set(CURVE_SCENARIOS)
    by_label = {t.label: t for t in TARGETS}
    targets = [by_label[str(t)] for t in ds["curve_target"].values]
    assert {t.variable for t in targets} == set(CURVE_OUTPUTS)
    # every target output has at least two programmes acting on it that the baseline leaves
    # at today's budget, so each gets the full number of curves
    assert [sum(t.variable == output for t in targets) for output in CURVE_OUTPUTS] == [
        CURVE_PROGRAMMES
    ] * len(CURVE_OUTPUTS)
    prob = ds["curve_probability"].values
    budget = ds["curve_budget_oku"].values
    assert ((prob >= 0) & (prob <= 1)).all()
    assert (np.diff(budget, axis=1) > 0).all()
    assert (budget[:, 0] == 0).all()  # every budget range starts at none
    for i, target in enumerate(targets):
        programme = str(ds["curve_programme"].values[i])
        # the programme acts on the target's output, and more of it can only help
        assert str(ds["cost_outcome"].sel(programme=programme).values) == target.variable
        assert target.sense == "at_least"
        assert (np.diff(prob[i]) >= -0.01).all(), programme
        today = float(ds["curve_today_oku"].values[i])
        assert budget[i, 0] <= today <= budget[i, -1]
        # the probability at today's budget is the scenario's own
        own = float(
            ds["probability"].sel(scenario=ds["curve_scenario"].values[i], target=target.label)
        )
        assert float(ds["curve_today_probability"].values[i]) == own
        on_grid = np.isclose(budget[i], today)
        if on_grid.any():
            assert prob[i][on_grid][0] == pytest.approx(own)
    assert len(set(ds["curve_from"].values)) == len(set(ds["curve_ramp_years"].values)) == 1


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_cost_chart_figure_names_every_programme_in_its_language(ds, lang):
    scenario = figures.scenario_of(ds, "costs")
    fig = figures.costs(ds, lang, footer(ds, lang, scenario))
    texts = {t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))}
    ticks = " ".join(
        t.get_text().replace("\n", " " if lang == "en" else "")
        for ax in fig.axes
        for t in ax.get_yticklabels()
    )
    for programme in ds["programme"].values:
        assert BUDGET_PROGRAMMES[str(programme)][lang] in ticks, programme
    # a dot and a line for each programme with a median, in a panel per unit
    median = ds["cost_yen_per"].sel(q="p50").values
    dots = [line for ax in fig.axes for line in ax.lines if line.get_marker() == "o"]
    assert len(dots) == int(np.isfinite(median).sum())
    np.testing.assert_allclose(
        sorted(d.get_xdata()[0] for d in dots), sorted(median[np.isfinite(median)])
    )
    assert len(fig.axes) == len(set(ds["cost_per"].values))
    for key, fields in (
        ("fig_costs", {}),
        ("per_person_axis", {}),
        ("per_point_axis", {}),
        ("median", {}),
        ("cost_whisker", {}),
        ("grade_tag", {}),
        ("cost_lower_bound", {}),
    ):
        assert any(label(key, lang, **fields) in t for t in texts), key
    assert any(label("cost_capped", lang, change="4") in t for t in texts)
    assert texts & set(ds["cost_grade"].values)  # the grade tags
    assert footer(ds, lang, scenario) in texts
    assert not _leftover(texts, lang)
    assert _pixels(fig) > 0.03


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_budget_curve_figure_draws_each_curve_and_todays_budget(ds, lang):
    scenario = figures.scenario_of(ds, "budget_curve")
    assert scenario == "baseline"
    fig = figures.budget_curve(ds, lang, footer(ds, lang, scenario))
    targets = list(dict.fromkeys(ds["curve_target"].values.tolist()))
    assert len(fig.axes) == len(targets)
    texts = {t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))}
    for ax, target in zip(fig.axes, targets, strict=True):
        idx = np.flatnonzero(ds["curve_target"].values == target)
        curves = [line for line in ax.lines if line.get_marker() == "o"]
        today = [line for line in ax.lines if line.get_marker() == "D"]
        assert len(curves) == len(today) == len(idx)
        for line, i in zip(curves, idx, strict=True):
            np.testing.assert_allclose(line.get_xdata(), ds["curve_budget_oku"].values[i])
            np.testing.assert_allclose(line.get_ydata(), ds["curve_probability"].values[i])
        assert ax.get_xlabel() == label("budget_oku", lang)
        legend = " ".join(
            t.get_text().replace("\n", " " if lang == "en" else "")
            for t in ax.get_legend().get_texts()
        )
        for i in idx:
            assert name(str(ds["curve_programme"].values[i]), lang) in legend
        assert label("today_budget", lang) in legend
    # each text unwrapped: English lines break at spaces, Japanese anywhere
    unwrapped = {t.replace("\n", " " if lang == "en" else "") for t in texts}
    start, ramp = int(ds["curve_from"].values[0]), f"{float(ds['curve_ramp_years'].values[0]):g}"
    caption = label(
        "curve_caption",
        lang,
        runs=int(ds.attrs["ensemble_members"]),
        scenario=name(scenario, lang),
        start=start,
        ramp=ramp,
        points=ds.sizes["budget_point"],
    )
    caption = next(t for t in unwrapped if caption in t)
    # students abroad stay at 0 at every budget of the baseline: the panel and caption say so
    flat = [
        t
        for t in targets
        if not (ds["curve_probability"].values[ds["curve_target"].values == t] > 0).any()
    ]
    assert flat
    for target in flat:
        variable = str(ds["target_variable"].sel(target=target).values)
        assert label("curve_flat_caption", lang, output=name(variable, lang)) in caption
    # the J-MIRAI package sets the levers every one of these programmes acts on
    assert label("curve_refused", lang, scenario=name("jmirai-package", lang)) in caption
    assert label("curve_flat", lang) in texts
    assert footer(ds, lang, scenario) in texts
    assert not _leftover(texts, lang)
    assert _pixels(fig) > 0.03


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_diagram_figure(lang):
    spec = read_mdl(DATA / "docs" / "admissions.mdl")
    fig = figures.diagram(spec, lang, "footer")
    assert label("fig_diagram", lang) in _texts(fig)
    assert _pixels(fig) > 0.01


def test_findings_take_their_numbers_from_the_data(ds):
    en, ja = findings(ds, "en"), findings(ds, "ja")
    assert len(en) == len(ja)
    share = float(ds["probability"].sel(scenario="baseline").values[4])
    assert any(f"{share:.0%}" in s for s in en)
    assert any(f"{share:.0%}" in s for s in ja)
    assert all(any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in s) for s in ja)


def test_every_label_has_both_languages():
    import string

    for key, texts in LABELS.items():
        assert set(texts) == {"en", "ja"}, key
        assert all(texts.values()), key
        # a template takes the same numbers in both languages
        fields = [{f for _, f, _, _ in string.Formatter().parse(t) if f} for t in texts.values()]
        assert fields[0] == fields[1], key


def test_render_writes_png_svg_and_pdf_for_each_language(ds, tmp_path):
    spec = read_mdl(DATA / "docs" / "admissions.mdl")
    made = render(ds, spec, tmp_path, ("en", "ja"), progress=lambda _: None)
    for lang in ("en", "ja"):
        for key in figures.FIGURES:
            assert (tmp_path / f"{key}_{lang}.png").stat().st_size > 10_000
            assert (tmp_path / f"{key}_{lang}.svg").stat().st_size > 1_000
        assert (tmp_path / f"briefing_{lang}.pdf").read_bytes().startswith(b"%PDF")
        assert made[f"briefing_{lang}.pdf"] == "pack"
    from PIL import Image

    with Image.open(tmp_path / "goal_en.png") as img:
        assert round(img.info["dpi"][0]) == 300


def test_check_finds_stale_headline_figures(tmp_path):
    project_copy(tmp_path)
    headline = tmp_path / "docs" / "headline"
    assert stale(tmp_path, headline) == []
    weak = tmp_path / "scenarios" / "weak-yen.yaml"
    weak.write_text(weak.read_text().replace("170", "175"))
    assert stale(tmp_path, headline) == ["scenarios/weak-yen.yaml"]


def test_committed_headline_figures_are_current(run_cli):
    status, stdout, stderr = run_cli("brief", "--check", "--root", ROOT)
    assert status == 0, stderr
    assert "up to date" in stdout


def test_japanese_lines_never_break_inside_a_number():
    from sim.reports.briefing import wrap

    text = (
        "現行政策では、2033年の留学者数は190,951（5〜95%：134,525〜286,832）。"
        "目標500,000の達成確率は0%。"
    )
    for width in range(20, 60):
        lines = wrap(text, width, "ja")
        assert "".join(lines) == text
        for a, b in zip(lines, lines[1:], strict=False):
            assert not (a[-1].isdigit() and (b[0].isdigit() or b[0] == ",")), (width, a, b)
