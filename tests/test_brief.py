"""Briefing figures: each drawn from a small stored Dataset, in both languages, checked.

``tests/data/brief/small.nc`` is a subset of what ``brainsim brief`` computes
(4 scenarios, 10 parameters; see its ``note`` attribute). Warnings are errors
in this suite, so a glyph missing from the Japanese font fails the test.
"""

import numpy as np
import pytest
import xarray as xr

from sim.engine.vensim import read_mdl
from sim.reports import figures
from sim.reports.briefing import findings, footer, render, stale
from sim.reports.labels import LABELS, label, name
from sim.studies.targets import TARGETS

from conftest import DATA, ROOT, project_copy

SMALL = DATA / "brief" / "small.nc"


@pytest.fixture(scope="module")
def ds():
    return xr.load_dataset(SMALL)


def _pixels(fig) -> float:
    """Share of the canvas that is not white."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    return float(np.mean(rgba.min(axis=2) < 245))


def _texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


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
    other = "ja" if lang == "en" else "en"
    leftover = {label(k, other) for k, v in LABELS.items() if "{" not in v[other]} - {
        label(k, lang) for k, v in LABELS.items() if "{" not in v[lang]
    }
    assert not texts & leftover
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
