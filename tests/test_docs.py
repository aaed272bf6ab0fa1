import dataclasses
import io
import itertools
import re
import warnings

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from sim import read_mdl
from sim.reports.diagram import save_diagram, stock_flow_diagram, stock_flows
from sim.reports.docs import constants_table, update_readme

from conftest import DATA, MODELS

DOCS = DATA / "docs"
ADMISSIONS = DOCS / "admissions.mdl"

# --- constants table ------------------------------------------------------


def _rows(table: str) -> list:
    """Split a markdown table into rows of cells, honouring escaped pipes."""
    lines = table.splitlines()
    assert lines[0] == "| Name | Value | Units | Range | Calibrated | Source |"
    assert lines[1] == "| --- | --- | --- | --- | --- | --- |"
    rows = []
    for line in lines[2:]:
        assert line.startswith("| ")
        assert line.endswith(" |")
        cells = re.split(r"(?<!\\)\|", line[1:-1])
        rows.append([c.strip().replace("\\|", "|") for c in cells])
    return rows


def test_table_has_one_row_per_constant_and_lookup_in_file_order():
    rows = _rows(constants_table(read_mdl(ADMISSIONS)))
    assert [r[0] for r in rows] == [
        "application rate",
        "admission fraction",
        "study time",
        "attrition rate",
        "return fraction",
        "donation lookup",
        "withdrawal time",
    ]
    assert all(len(r) == 6 for r in rows)


def test_table_cells():
    rows = {r[0]: r[1:] for r in _rows(constants_table(read_mdl(ADMISSIONS)))}
    assert rows["application rate"] == [
        "40",
        "person/Year",
        "[0, 100]",
        "",
        "source: admissions office report 2020, table 3",
    ]
    assert rows["admission fraction"] == [
        "0.5",
        "1/Year",
        "[0, 1]",
        "",
        "assumption: half the applicants are decided on within a year.",
    ]
    assert rows["study time"] == [
        "4",
        "Year",
        "[2, 6]",
        "yes",
        "calibrated: fitted to the 2000-2020 enrolment.",
    ]
    # An open maximum is written as Vensim writes it; no source mark gives a dash.
    assert rows["attrition rate"] == ["0.02", "1/Year", "[0, ?]", "", "—"]
    assert rows["return fraction"][2:] == [
        "—",
        "",
        "Source: alumni survey (capitalised on purpose).",
    ]
    assert rows["donation lookup"] == [
        "lookup, 3 points, x from 0 to 20",
        "dollar/Year",
        "—",
        "",
        "assumption: linear growth.",
    ]
    # The source starts at the first mark; a later "calibrated:" still marks it.
    assert rows["withdrawal time"] == [
        "2.5",
        "Year",
        "[0.5, 4]",
        "yes",
        "assumption: two to three years; calibrated: by hand.",
    ]


def test_table_escapes_pipes():
    # Vensim ends an equation at "|", so a pipe cannot come from a .mdl;
    # a spec built another way can still carry one.
    spec = read_mdl(ADMISSIONS)
    elements = tuple(
        dataclasses.replace(el, doc="source: report | table 3", units="a|b")
        if el.name == "study time"
        else el
        for el in spec.elements
    )
    table = constants_table(dataclasses.replace(spec, elements=elements))
    line = next(x for x in table.splitlines() if x.startswith("| study time "))
    assert "report \\| table 3" in line
    assert "a\\|b" in line
    assert len(re.findall(r"(?<!\\)\|", line)) == 7
    row = next(r for r in _rows(table) if r[0] == "study time")
    assert row[2] == "a|b"
    assert row[5] == "source: report | table 3"


def test_table_of_the_test_models_lists_every_constant():
    spec = read_mdl(MODELS / "migration_chain.mdl")
    rows = _rows(constants_table(spec))
    assert [r[0] for r in rows] == [el.name for el in spec.of_kind("constant", "lookup")]
    assert rows


# --- README update ----------------------------------------------------------

README = """# A model

Intro text stays.

<!-- constants:start -->
stale table
<!-- constants:end -->

Between the sections.

<!-- diagram:start -->
![old](old.png)
<!-- diagram:end -->

Closing text stays.
"""


def test_update_readme_replaces_only_between_markers():
    spec = read_mdl(ADMISSIONS)
    updated = update_readme(README, spec, "figures/model_diagram.png")
    table = constants_table(spec)
    assert updated == README.replace("stale table", table).replace(
        "![old](old.png)",
        "![Stock-and-flow diagram of admissions.mdl](figures/model_diagram.png)",
    )


def test_update_readme_is_idempotent():
    spec = read_mdl(ADMISSIONS)
    once = update_readme(README, spec, "figures/model_diagram.png")
    assert update_readme(once, spec, "figures/model_diagram.png") == once
    assert update_readme(once, spec, "other.png") != once


@pytest.mark.parametrize(
    "marker",
    [
        "<!-- constants:start -->",
        "<!-- constants:end -->",
        "<!-- diagram:start -->",
        "<!-- diagram:end -->",
    ],
)
def test_update_readme_missing_marker_raises(marker):
    spec = read_mdl(ADMISSIONS)
    with pytest.raises(ValueError, match=f"marker '{re.escape(marker)}' is missing"):
        update_readme(README.replace(marker, ""), spec, "d.png")


def test_update_readme_repeated_or_reversed_markers_raise():
    spec = read_mdl(ADMISSIONS)
    doubled = README + "\n<!-- diagram:start -->\n"
    with pytest.raises(ValueError, match="appears 2 times"):
        update_readme(doubled, spec, "d.png")
    swapped = README.replace("<!-- constants:start -->", "@@").replace(
        "<!-- constants:end -->", "<!-- constants:start -->"
    )
    swapped = swapped.replace("@@", "<!-- constants:end -->")
    with pytest.raises(ValueError, match="comes before"):
        update_readme(swapped, spec, "d.png")


# --- stock-and-flow diagram -------------------------------------------------

# (flow, from, to) of the admissions model; None is a cloud.
ADMISSIONS_FLOWS = {
    ("applications", None, "applicants"),
    ("admissions", "applicants", "students"),
    ("withdrawals", "applicants", None),
    ("graduations", "students", "alumni"),
    ("returns", "alumni", "students"),
    ("alumni#2", "alumni", None),
    ("spending", "endowment", None),
    ("donations", None, "endowment"),
}


def _by_gid(ax, prefix: str) -> dict:
    return {
        p.get_gid()[len(prefix) + 1 :]: p
        for p in ax.patches
        if (p.get_gid() or "").startswith(prefix + ":")
    }


def _parse_flow_gid(gid: str) -> tuple:
    flow, ends = gid.split(":")
    source, target = ends.split("->")
    return flow, None if source == "cloud" else source, None if target == "cloud" else target


def test_stock_flows_follow_the_signs_of_the_rates():
    flows = {f.key: f for f in stock_flows(read_mdl(ADMISSIONS))}
    assert {(k, f.drains, f.fills) for k, f in flows.items()} == {
        ("applications", (), ("applicants",)),
        ("admissions", ("applicants",), ("students",)),
        ("withdrawals", ("applicants",), ()),
        ("graduations", ("students",), ("alumni",)),
        ("returns", ("alumni",), ("students",)),
        ("alumni#2", ("alumni",), ()),
        ("spending", ("endowment",), ()),
        ("donations", (), ("endowment",)),
    }
    # An unnamed term of a rate is labelled with its expression.
    assert flows["alumni#2"].label == "Alumni * attrition rate"


def test_diagram_has_a_box_per_stock_and_an_arrow_per_flow():
    fig, ax = stock_flow_diagram(read_mdl(ADMISSIONS))
    stocks = _by_gid(ax, "stock")
    assert sorted(stocks) == ["alumni", "applicants", "endowment", "students"]
    arrows = _by_gid(ax, "flow")
    assert {_parse_flow_gid(g) for g in arrows} == ADMISSIONS_FLOWS
    assert len(arrows) == 8
    assert len(_by_gid(ax, "valve")) == 8
    assert len(_by_gid(ax, "cloud")) == 5
    texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert texts["stock-label:students"] == "Students"
    labels = sorted(v for k, v in texts.items() if k.startswith("flow-label:"))
    assert labels == sorted(
        [
            "applications",
            "admissions",
            "withdrawals",
            "graduations",
            "returns",
            "Alumni * attrition\nrate",
            "spending",
            "donations",
        ]
    )
    # Information links: the stocks named in each flow's own equation.
    links = {p.get_gid() for p in ax.patches if (p.get_gid() or "").startswith("link:")}
    assert links == {
        "link:applicants->admissions",
        "link:applicants->withdrawals",
        "link:students->graduations",
        "link:alumni->returns",
        "link:alumni->alumni#2",
        "link:endowment->spending",
    }
    assert "admissions.mdl" in ax.get_title(loc="left")


def _distance_to_box(points: np.ndarray, box) -> np.ndarray:
    """Distance of each point to a stock box (0 inside), in data units."""
    (x0, y0), (x1, y1) = box.get_bbox().get_points()
    dx = np.maximum(np.maximum(x0 - points[:, 0], points[:, 0] - x1), 0)
    dy = np.maximum(np.maximum(y0 - points[:, 1], points[:, 1] - y1), 0)
    return np.hypot(dx, dy)


def test_flow_arrows_join_the_right_boxes():
    fig, ax = stock_flow_diagram(read_mdl(ADMISSIONS))
    fig.canvas.draw()
    stocks = _by_gid(ax, "stock")
    clouds = _by_gid(ax, "cloud")
    for gid, arrow in _by_gid(ax, "flow").items():
        _, source, target = _parse_flow_gid(gid)
        line = np.concatenate(arrow.get_path().to_polygons(closed_only=False))
        for key, box in stocks.items():
            gap = _distance_to_box(line, box).min()
            if key in (source, target):
                assert gap < 0.05, (gid, key)  # starts or ends on the box
            else:
                assert gap > 0.1, (gid, key)  # passes clear of every other box
        if None in (source, target):
            cloud = clouds[gid].get_path().vertices
            assert np.hypot(*(line[:, None] - cloud[None]).T).min() < 0.05
    # Arrowheads sit at the stock a flow fills: the arrow's last point is on
    # its target, and a flow's drawing runs from left to right along a chain.
    arrows = _by_gid(ax, "flow")
    for gid in ("admissions:applicants->students", "graduations:students->alumni"):
        _, source, target = _parse_flow_gid(gid)
        tip = arrows[gid].get_path().to_polygons(closed_only=False)[-1]
        assert _distance_to_box(tip, stocks[target]).max() < 0.3
        assert _distance_to_box(tip, stocks[source]).min() > 0.5
        assert stocks[source].get_bbox().x1 < stocks[target].get_bbox().x0


def _text_overlaps(fig, ax) -> list:
    """Pairs of texts, or a text and a box or cloud, that overlap; texts off the page."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in [*ax.texts, ax.title] if t.get_text()]
    extents = {id(t): t.get_window_extent(renderer).padded(-1) for t in texts}
    problems = []
    page = fig.bbox
    for t in texts:
        e = extents[id(t)]
        if not (e.x0 >= page.x0 and e.y0 >= page.y0 and e.x1 <= page.x1 and e.y1 <= page.y1):
            problems.append(("off the page", t.get_text()))
    for a, b in itertools.combinations(texts, 2):
        if extents[id(a)].overlaps(extents[id(b)]):
            problems.append((a.get_text(), b.get_text()))
    shapes = [
        p for p in ax.patches if (p.get_gid() or "").split(":")[0] in ("stock", "cloud", "valve")
    ]
    for t in texts:
        if (t.get_gid() or "").startswith("stock-label:"):
            continue
        for p in shapes:
            if extents[id(t)].overlaps(p.get_window_extent(renderer).padded(-1)):
                problems.append((t.get_text(), p.get_gid()))
    # No label sits on a flow's arrow.
    for arrow in _by_gid(ax, "flow").values():
        line = np.concatenate(arrow.get_path().to_polygons(closed_only=False))
        pixels = ax.transData.transform(line)
        for t in texts:
            e = extents[id(t)]
            inside = (
                (pixels[:, 0] > e.x0)
                & (pixels[:, 0] < e.x1)
                & (pixels[:, 1] > e.y0)
                & (pixels[:, 1] < e.y1)
            )
            if inside.any():
                problems.append((t.get_text(), arrow.get_gid()))
    for t in texts:
        gid = t.get_gid() or ""
        if gid.startswith("stock-label:"):
            box = _by_gid(ax, "stock")[gid.split(":")[1]].get_window_extent(renderer)
            e = extents[id(t)]
            assert box.x0 <= e.x0
            assert e.x1 <= box.x1
            assert box.y0 <= e.y0
            assert e.y1 <= box.y1
    return problems


@pytest.mark.parametrize(
    "path",
    [ADMISSIONS, *sorted(MODELS.glob("*.mdl"))],
    ids=lambda p: p.stem,
)
def test_diagram_text_does_not_overlap(path):
    fig, ax = stock_flow_diagram(read_mdl(path))
    assert _text_overlaps(fig, ax) == []


def test_diagram_in_given_axes_scales_to_fit():
    spec = read_mdl(ADMISSIONS)
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    same_fig, same_ax = stock_flow_diagram(spec, ax)
    assert same_fig is fig
    assert same_ax is ax
    assert len(_by_gid(ax, "stock")) == 4
    natural_fig, natural_ax = stock_flow_diagram(spec)
    small = {t.get_gid(): t.get_fontsize() for t in ax.texts if t.get_gid()}
    large = {t.get_gid(): t.get_fontsize() for t in natural_ax.texts if t.get_gid()}
    assert small.keys() == large.keys()
    assert all(small[k] < large[k] for k in small)


def test_diagram_without_info_links():
    _, ax = stock_flow_diagram(read_mdl(ADMISSIONS), info_links=False)
    assert not _by_gid(ax, "link")
    assert len(_by_gid(ax, "flow")) == 8


def test_model_without_stocks_draws_an_empty_diagram():
    spec = read_mdl(MODELS / "smooth_family.mdl")
    assert not spec.of_kind("stock")
    fig, ax = stock_flow_diagram(spec)
    assert not _by_gid(ax, "stock")
    assert not _by_gid(ax, "flow")
    fig.savefig(io.BytesIO(), format="png")


def test_save_diagram_writes_nonblank_png_and_svg(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # also without pytest's filter
        svg, png = save_diagram(read_mdl(ADMISSIONS), tmp_path / "diagram")
    assert svg == tmp_path / "diagram.svg"
    assert png == tmp_path / "diagram.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diagram.png", "diagram.svg"]
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 400
    assert image.shape[1] > 800
    assert image[..., :3].std() > 0.05  # not a blank page
    # Dark pixels (lines, text) are a small but real part of the page.
    dark = (image[..., :3].mean(axis=2) < 0.5).mean()
    assert 0.005 < dark < 0.2
    text = svg.read_text(encoding="utf-8")
    assert text.startswith("<?xml")
    assert 'id="stock:students"' in text


def test_save_diagram_is_reproducible(tmp_path):
    spec = read_mdl(ADMISSIONS)
    save_diagram(spec, tmp_path / "a")
    save_diagram(spec, tmp_path / "b")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
