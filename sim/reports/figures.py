"""The briefing figures, drawn from the Dataset of :func:`sim.reports.briefdata.collect`.

Each function takes the Dataset, a language (``en`` or ``ja``) and a footer
line, and returns a matplotlib Figure; nothing here runs the model. All
words come from :mod:`sim.reports.labels`; the Japanese font is the bundled
IPAexGothic of matplotlib-fontja, so figures render the same on a fresh
machine.
"""

from pathlib import Path

import numpy as np

from sim.reports.briefdata import DISPATCH_SERIES
from sim.reports.labels import fmt, label, name, wrap
from sim.studies.targets import TARGETS

FIGURES = (
    "history",
    "targets",
    "probability",
    "uncertainty",
    "tornado",
    "sobol",
    "goal",
    "costs",
    "budget_curve",
    "researchers",
    "origins",
    "destinations",
    "partners",
    "diagram",
)
# the outputs the targets apply to, in the order the targets are listed
TARGET_OUTPUTS = list(dict.fromkeys(t.variable for t in TARGETS))
# the scenario each figure shows (None: all of them), for its footer
SCENARIO_OF = {
    "history": "baseline",
    "targets": None,
    "probability": None,
    "uncertainty": ("baseline", "jmirai-package"),
    "tornado": "baseline",
    "sobol": "baseline",
    "goal": "expanded-scholarships",
    "costs": "baseline",
    "budget_curve": "baseline",  # scenario_of reads the one the data drew
    "researchers": None,
    "origins": ("baseline", "china-demand-fall", "origin-screening", "asean-india-push"),
    "destinations": ("baseline", "competitor-caps", "weaker-dollar", "strong-yen"),
    "partners": ("baseline", "horizon-europe", "joint-research-funds"),
    "diagram": "baseline",
}
HIGHLIGHT = ("baseline", "jmirai-package")
COLORS = {"baseline": "0.2", "jmirai-package": "tab:red"}
# the uncertainty figure: a colour for each source of the spread, as briefdata.SPREAD names them
SOURCE_COLORS = {"calibration": "tab:blue", "effects": "tab:orange"}
# the cost chart: a colour for each outcome (in the order of the groups); the curves' colours
GROUP_COLORS = ("tab:blue", "tab:cyan", "tab:purple", "tab:green", "tab:brown", "tab:red")
CURVE_COLORS = ("tab:blue", "tab:orange", "tab:green")


def scenario_of(ds, key: str) -> str | tuple | None:
    """Return the scenario(s) figure ``key`` shows, for its footer (:data:`SCENARIO_OF`).

    The budget curves are drawn on the scenario the data chose for them
    (:data:`sim.reports.briefdata.CURVE_SCENARIOS`); the cost chart on the one
    it was run against.
    """
    if key == "budget_curve" and "curve_scenario" in ds:
        shown = tuple(dict.fromkeys(ds["curve_scenario"].values.tolist()))
        return shown[0] if len(shown) == 1 else shown
    if key == "costs" and "cost_scenario" in ds.attrs:
        return str(ds.attrs["cost_scenario"])
    return SCENARIO_OF[key]


def _setup():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib_fontja  # noqa: F401  (sets the bundled Japanese font)

    # IPAexGothic for Japanese, DejaVu Sans (matplotlib's own) for the symbols it lacks
    plt.rcParams.update(
        {
            "font.family": ["IPAexGothic", "DejaVu Sans"],
            "font.size": 8,
            "axes.titlesize": 8,
            "svg.fonttype": "none",
        }
    )
    return plt


def _footer(fig, text: str) -> None:
    fig.text(0.01, 0.005, text, fontsize=5.5, color="0.35", va="bottom", ha="left", wrap=True)


def _thousands(ax, axis: str = "y") -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(
        FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 10 else f"{v:.2g}")
    )
    if axis == "x":
        target.set_major_locator(MaxNLocator(4))


def history(ds, lang: str, footer: str):
    """1. Each calibrated series: observations, the calibrated model and the ensemble band."""
    import textwrap

    from matplotlib.ticker import MaxNLocator

    plt = _setup()
    series = list(dict.fromkeys(ds["obs_series"].values.tolist()))
    cols = 3
    rows = int(np.ceil(len(series) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(9, 1.9 * rows + 0.6), squeeze=False)
    for ax, s in zip(axes.flat, series, strict=False):
        idx = np.flatnonzero(ds["obs_series"].values == s)
        order = idx[np.argsort(ds["obs_year"].values[idx])]
        x = ds["obs_year"].values[order]
        pct = ds["obs_unit"].values[order[0]] == "%"
        scale = 100 if pct else 1
        ax.fill_between(
            x,
            ds["fit_p05"].values[order] * scale,
            ds["fit_p95"].values[order] * scale,
            color="tab:blue",
            alpha=0.2,
            lw=0,
            label=label("band", lang),
        )
        ax.plot(
            x,
            ds["fit_best"].values[order] * scale,
            "-" if len(x) > 1 else "_",
            color="tab:blue",
            lw=1,
            ms=12,
            label=label("model", lang),
        )
        ax.plot(
            x,
            ds["obs_value"].values[order] * scale,
            "o",
            color="black",
            ms=2.5,
            label=label("observed", lang),
        )
        ax.set_title("\n".join(textwrap.wrap(s.replace("_", " "), 52)), fontsize=6.2)
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        if len(x) == 1:
            ax.set_xlim(x[0] - 2, x[0] + 2)
        ax.set_ylabel("%" if pct else label("persons", lang), fontsize=6.5)
        ax.tick_params(labelsize=6)
        _thousands(ax)
    for ax in axes.flat[len(series) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=6, frameon=False)
    fig.suptitle(label("fig_history", lang), fontsize=10)
    fig.supxlabel(label("year", lang) + " / " + label("fiscal_year", lang), fontsize=7, y=0.022)
    _footer(fig, footer)
    fig.tight_layout(rect=(0, 0.035, 1, 0.98))
    return fig


def targets(ds, lang: str, footer: str):
    """2. Each target output by scenario: medians, bands for two scenarios, the target."""
    plt = _setup()
    outputs = TARGET_OUTPUTS
    fig, axes = plt.subplots(4, 2, figsize=(9, 10.5), squeeze=False)
    years = ds["year"].values
    keep = years >= 2010
    for ax, out in zip(axes.flat, outputs, strict=False):
        for scen in ds["scenario"].values:
            q = ds["quantile"].sel(scenario=scen, output=out).values[keep]
            highlight = scen in HIGHLIGHT
            if highlight:
                ax.fill_between(
                    years[keep], q[:, 0], q[:, 2], color=COLORS[scen], alpha=0.15, lw=0, zorder=1
                )
            ax.plot(
                years[keep],
                q[:, 1],
                lw=1.4 if highlight else 0.7,
                color=COLORS.get(scen),
                alpha=1 if highlight else 0.6,
                label=name(str(scen), lang),
                zorder=_zorder(scen),
            )
        for t in TARGETS:
            if t.variable == out:
                ax.axhline(t.value, color="tab:green", ls="--", lw=1)
                ax.plot(
                    [t.year],
                    [t.value],
                    marker="*",
                    color="tab:green",
                    ms=9,
                    label=label("target", lang),
                )
        ax.set_title(name(out, lang))
        ax.set_ylabel(label("share", lang) if "rate" in out else label("persons", lang))
        _thousands(ax)
    axes.flat[len(outputs) - 1].set_xlabel(label("year", lang))
    handles, labels_ = axes.flat[0].get_legend_handles_labels()
    legend_ax = axes.flat[len(outputs)]
    legend_ax.axis("off")
    legend_ax.legend(handles, labels_, loc="center", fontsize=7, ncol=2, frameon=False)
    for ax in axes.flat[len(outputs) + 1 :]:
        ax.set_visible(False)
    fig.suptitle(label("fig_targets", lang), fontsize=10)
    _footer(fig, footer)
    fig.tight_layout(rect=(0, 0.02, 1, 0.98))
    return fig


def _zorder(scenario: str) -> float:
    """Return the drawing order of a scenario's median line: bands 1, other lines 2, then up.

    The highlighted scenarios' lines go over the others and the baseline's on top: before
    a policy starts every scenario's line lies on the baseline's, which is then the line
    to see, in the colour its legend gives.
    """
    return 2 + (len(HIGHLIGHT) - HIGHLIGHT.index(scenario) if scenario in HIGHLIGHT else 0)


def probability(ds, lang: str, footer: str):
    """3. The probability of meeting each target, scenarios by targets, as a colour table."""
    plt = _setup()
    p = ds["probability"].values
    fig, ax = plt.subplots(figsize=(9, 5.2))
    im = ax.imshow(p, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(p.shape[0]), [name(str(s), lang) for s in ds["scenario"].values])
    ax.set_xticks(
        range(p.shape[1]),
        [
            name(t.variable, lang)
            + "\n"
            + label("goal_short", lang, value=fmt(t.value, lang), year=t.year)
            for t in TARGETS
        ],
        rotation=30,
        ha="right",
        fontsize=6.5,
    )
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            ax.text(j, i, f"{p[i, j]:.0%}", ha="center", va="center", fontsize=6.5, color="black")
    fig.colorbar(im, ax=ax, label=label("probability", lang), fraction=0.03)
    ax.set_title(label("fig_probability", lang), fontsize=10)
    _footer(fig, footer)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def uncertainty(ds, lang: str, footer: str):
    """3b. Each target in baseline and the package: its spread by source, and its probability.

    Per target and scenario, on the left the 5-95% band of the value in the
    target year as a share of the target (log scale, so 50% and 200% sit
    equally far from it): all runs (light), then calibration only and effect
    sizes only as two bars beside each other; on the right the probability of
    meeting the target each way. A band that collapses to its median tick
    is a source that does not act on that target.
    """
    plt = _setup()
    scens = [s for s in HIGHLIGHT if s in ds["scenario"].values]
    grades = ds.attrs["effect_grades"]
    goals = ds["target_goal"].values
    quant = ds["source_quantile"].sel(scenario=scens) / goals[None, :, None, None]
    prob = ds["source_probability"].sel(scenario=scens)
    step = len(scens) + 0.9  # rows of a target, and the gap before the next
    rows = [(t, j, -(t * step + j)) for t in range(len(TARGETS)) for j in range(len(scens))]
    fig, (ax, axp) = plt.subplots(
        1,
        2,
        figsize=(9, 0.36 * len(rows) + 0.3 * len(TARGETS) + 1.9),
        sharey=True,
        gridspec_kw={"width_ratios": [3.2, 1]},
    )
    fig.subplots_adjust(left=0.14, right=0.98, top=0.915, bottom=0.115, wspace=0.04)
    offsets = {"combined": 0.27, "calibration": 0.0, "effects": -0.27}
    cmap = plt.get_cmap("RdYlGn")
    for t, j, y in rows:
        scen = scens[j]
        for source, dy in offsets.items():
            lo, mid, hi = quant.sel(scenario=scen, source=source).values[t]
            color = SOURCE_COLORS.get(source, COLORS[scen])
            alpha = 0.35 if source == "combined" else 0.85
            ax.barh(y + dy, hi - lo, left=lo, height=0.24, color=color, alpha=alpha, lw=0)
            ax.plot([mid], [y + dy], "|", color="black", ms=4.5, mew=0.9)
        for k, source in enumerate(ds["source"].values):
            p = float(prob.sel(scenario=scen, source=source).values[t])
            axp.barh(y, 1, left=k, height=0.9, color=cmap(p), lw=0)
            axp.text(k + 0.5, y, f"{p:.0%}", ha="center", va="center", fontsize=6.5)
    for t, target in enumerate(TARGETS):
        ax.text(
            0.005,
            -t * step + 0.45,
            f"{name(target.variable, lang)}  "
            + label("goal_short", lang, value=fmt(target.value, lang), year=target.year),
            transform=ax.get_yaxis_transform(),
            fontsize=6.5,
            va="bottom",
        )
    ax.set_yticks([y for _, _, y in rows], [name(scens[j], lang) for _, j, _ in rows])
    for tick, (_, j, _) in zip(ax.get_yticklabels(), rows, strict=True):
        tick.set_color(COLORS[scens[j]])
    ax.set_ylim(rows[-1][2] - 0.7, 1.1)
    _share_of_target_axis(ax, quant.values, lang)
    _probability_columns(axp, list(ds["source"].values), lang)
    _source_legend(fig, lang, grades)
    fig.suptitle(label("fig_uncertainty", lang, grades=grades), fontsize=10, y=0.98)
    caption = label(
        "uncertainty_caption",
        lang,
        runs=int(ds.attrs["ensemble_members"]),
        effects=int(ds.attrs["effect_sizes"]),
    )
    width = 90 if lang == "ja" else 170
    ax.set_title("\n".join(wrap(caption, width, lang)), fontsize=6.3, loc="left", color="0.25")
    _footer(fig, footer)
    return fig


def _share_of_target_axis(ax, shares: np.ndarray, lang: str) -> None:
    """Label ``ax``'s x axis in shares of the target, log-scaled when all are positive."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.axvline(1, color="tab:green", ls="--", lw=1)
    values = shares[np.isfinite(shares)]
    if values.size and values.min() > 0:
        lo, hi = values.min() / 1.25, values.max() * 1.25
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ticks = [x for x in (0.1, 0.2, 0.5, 1, 2, 5, 10) if lo <= x <= hi]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_xlabel(label("relative_to_target", lang))
    ax.grid(axis="x", color="0.9", lw=0.5)
    ax.set_axisbelow(True)


def _probability_columns(axp, sources: list, lang: str) -> None:
    """Head the probability panel's columns, one per source, and hide its frame."""
    axp.set_xlim(0, len(sources))
    axp.xaxis.tick_top()
    axp.set_xticks(
        [k + 0.5 for k in range(len(sources))],
        [label(f"src_{s}_short", lang) for s in sources],
        fontsize=6.5,
    )
    axp.tick_params(axis="y", left=False)
    axp.tick_params(axis="x", top=False, pad=1)
    for side in ("top", "right", "bottom", "left"):
        axp.spines[side].set_visible(False)
    axp.set_xlabel(label("prob_by_source", lang))


def _source_legend(fig, lang: str, grades: str) -> None:
    """Add the uncertainty figure's legend: the three bands, the median and the target."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color="0.2", alpha=0.35, label=label("src_combined", lang)),
        Patch(color=SOURCE_COLORS["calibration"], label=label("src_calibration", lang)),
        Patch(color=SOURCE_COLORS["effects"], label=label("src_effects", lang, grades=grades)),
        Line2D([], [], ls="none", marker="|", color="black", label=label("median", lang)),
        Line2D([], [], ls="--", color="tab:green", label=label("target", lang)),
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=5,
        fontsize=6.5,
        frameon=False,
        bbox_to_anchor=(0.5, 0.025),
    )


def tornado(ds, lang: str, footer: str, top: int = 8):
    """4a. One-at-a-time swings of the 2033 target outputs: the largest ``top`` of each."""
    plt = _setup()
    outputs = TARGET_OUTPUTS
    fig, axes = plt.subplots(4, 2, figsize=(9, 11), squeeze=False)
    params = ds["parameter"].values
    for ax, out in zip(axes.flat, outputs, strict=False):
        swing = ds["oat_swing"].sel(output=out).values
        order = np.argsort(-np.abs(swing))[:top][::-1]
        colors = ["tab:blue" if v >= 0 else "tab:orange" for v in swing[order]]
        ax.barh(range(len(order)), swing[order], color=colors)
        ax.set_yticks(range(len(order)), [str(params[i]) for i in order], fontsize=5.5)
        ax.axvline(0, color="0.3", lw=0.6)
        ax.set_title(name(out, lang))
        ax.set_xlabel(label("swing", lang), fontsize=6.5)
        ax.tick_params(axis="x", labelsize=6)
        _thousands(ax, "x")
    for ax in axes.flat[len(outputs) :]:
        ax.set_visible(False)
    fig.suptitle(label("fig_tornado", lang), fontsize=10)
    _footer(fig, footer)
    fig.tight_layout(rect=(0, 0.02, 1, 0.98))
    return fig


def sobol(ds, lang: str, footer: str, top: int = 12):
    """4b. Sobol total indices in 2033 (heat map) and over time for the headline outputs."""
    plt = _setup()
    outputs = TARGET_OUTPUTS
    st = ds["sobol_st"].sel(index_year=2033, output=outputs).values  # (output, parameter)
    order = np.argsort(-np.nanmax(st, axis=0))[:top]
    fig, (ax, ax2) = plt.subplots(
        1, 2, figsize=(12, 6), gridspec_kw={"width_ratios": [1.3, 1]}, layout="constrained"
    )
    fig.get_layout_engine().set(rect=(0, 0.03, 1, 0.97))
    im = ax.imshow(st[:, order].T, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(
        range(len(outputs)), [name(o, lang) for o in outputs], rotation=35, ha="right", fontsize=6
    )
    params = ds["parameter"].values
    ax.set_yticks(range(len(order)), [str(params[i]) for i in order], fontsize=6)
    for i in range(len(order)):
        for j in range(len(outputs)):
            v = st[j, order[i]]
            ax.text(
                j,
                i,
                "" if np.isnan(v) else f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=5.5,
                color="white" if v > 0.6 else "black",
            )
    fig.colorbar(im, ax=ax, label=label("total_index", lang), fraction=0.04)
    ax.set_title(label("fig_sobol", lang))
    headline = "international students in japan"
    over = ds["sobol_st"].sel(output=headline).values  # (index_year, parameter)
    years = ds["index_year"].values
    for i in np.argsort(-np.nanmax(over, axis=0))[:5]:
        ax2.plot(years, over[:, i], lw=1.2, label=str(params[i]))
    ax2.set_ylim(0, 1)
    ax2.set_xlabel(label("year", lang))
    ax2.set_ylabel(label("total_index", lang))
    ax2.set_title(f"{label('fig_sobol_time', lang)}: {name(headline, lang)}")
    ax2.legend(fontsize=6, frameon=False)
    _footer(fig, footer)
    return fig


def goal(ds, lang: str, footer: str):
    """5. The goal-seeking curve: probability of the goal against the lever level."""
    plt = _setup()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(ds["level"].values, ds["goal_probability"].values, "o-", color="tab:blue", ms=3)
    required = float(ds.attrs["goal_probability_required"])
    ax.axhline(required, color="tab:green", ls="--", lw=1, label=label("required", lang))
    level = float(ds.attrs["goal_level"])
    if np.isfinite(level):
        ax.axvline(level, color="tab:green", lw=1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(label("coverage", lang))
    ax.set_ylabel(label("probability", lang))
    ax.set_title(label("fig_goal", lang), fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    _footer(fig, footer)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def costs(ds, lang: str, footer: str):
    """5b. Each programme's public yen a year per additional outcome in 2033, by outcome.

    One row per budget programme (its budget raised alone against the
    scenario): the median of the extra FY2033 budget over the gain in 2033
    (dot, its value beside it) and the 5-95% over the runs with a gain
    (line), on a log scale, grouped by the outcome it is judged on; a panel
    per unit (people, percentage points). To the right: the evidence grade
    of the effect size the gain rests on, the 億円 added where the range
    capped it, the share of runs with a gain where not all, and whether the
    unit cost is only a lower bound.
    """
    plt = _setup()
    panels = _cost_panels(ds)
    heights = [sum(1 + len(rows) for _, rows in groups) for _, groups in panels]
    # inches: a row, above the panels (title, caption), between them, below them
    row, above, gap, below = 0.26, 1.0, 0.75, 0.95
    tall = above + row * sum(heights) + gap * (len(panels) - 1) + below
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(9, tall),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    fig.subplots_adjust(
        left=0.31,
        right=0.76,
        top=1 - above / tall,
        bottom=below / tall,
        hspace=gap / (row * sum(heights) / len(panels)),
    )
    color = 0
    for ax, (per, groups) in zip(axes[:, 0], panels, strict=True):
        color = _cost_panel(ax, ds, per, groups, lang, color)
    caption = label(
        "costs_caption",
        lang,
        change=f"{float(ds.attrs['cost_change_oku']):g}",
        start=int(ds.attrs["cost_from"]),
        ramp=f"{float(ds.attrs['cost_ramp_years']):g}",
        scenario=name(str(ds.attrs["cost_scenario"]), lang),
        runs=int(ds.attrs["ensemble_members"]),
    )
    fig.text(
        0.01,
        1 - 0.42 / tall,
        "\n".join(wrap(caption, 92 if lang == "ja" else 170, lang)),
        fontsize=6.2,
        color="0.25",
        va="top",
    )
    _cost_legend(fig, lang)
    fig.suptitle(label("fig_costs", lang), fontsize=10, y=1 - 0.1 / tall)
    _footer(fig, footer)
    return fig


def _cost_panels(ds) -> list:
    """Group the programmes: ``[(unit, [(outcome, [index, ...]), ...]), ...]``.

    Units in the order they first appear; outcomes in the order of the targets.
    """
    outcomes = ds["cost_outcome"].values.tolist()
    pers = ds["cost_per"].values.tolist()
    order = TARGET_OUTPUTS + [o for o in dict.fromkeys(outcomes) if o not in TARGET_OUTPUTS]
    panels = []
    for per in dict.fromkeys(pers):
        groups = [
            (
                out,
                [
                    i
                    for i, (o, p) in enumerate(zip(outcomes, pers, strict=True))
                    if (o, p) == (out, per)
                ],
            )
            for out in order
        ]
        panels.append((per, [(out, rows) for out, rows in groups if rows]))
    return panels


def _outcome_name(outcome: str, lang: str) -> str:
    """Name an outcome as a heading: a segment of students abroad says whose segment it is."""
    text = name(outcome, lang)
    if text.startswith("—"):
        text = f"{name(TARGET_OUTPUTS[0], lang)} {text}"
    return text


def _cost_panel(ax, ds, per: str, groups: list, lang: str, color: int) -> int:
    """Draw one unit's panel of the cost chart; return the next group colour's index."""
    yen = ds["cost_yen_per"].values
    y, ticks, names = 0.0, [], []
    for outcome, rows in groups:
        tint = GROUP_COLORS[color % len(GROUP_COLORS)]
        color += 1
        ax.text(
            0.005,
            y,
            _outcome_name(outcome, lang),
            transform=ax.get_yaxis_transform(),
            fontsize=6.8,
            va="center",
            color=tint,
        )
        for i in rows:
            y -= 1
            ticks.append(y)
            text = name(str(ds["programme"].values[i]), lang)
            names.append("\n".join(wrap(text, 30 if lang == "ja" else 50, lang)))
            lo, mid, hi = yen[i]
            if np.isfinite(mid):
                ax.plot([lo, hi], [y, y], color=tint, lw=1.6, solid_capstyle="butt")
                ax.plot([mid], [y], "o", color=tint, ms=5)
                ax.text(hi * 1.1, y, _yen(mid, lang), va="center", fontsize=6.3)
            _cost_notes(ax, ds, i, y, lang)
        y -= 1
    ax.set_yticks(ticks, names, fontsize=6.3)
    ax.set_ylim(y + 0.4, 0.6)
    _yen_axis(ax, yen, [i for _, rows in groups for i in rows], lang)
    ax.set_xlabel(
        label("per_point_axis" if "percentage point" in per else "per_person_axis", lang)
    )
    return color


def _cost_notes(ax, ds, i: int, y: float, lang: str) -> None:
    """Write a programme's grade tag and notes to the right of its cost chart row."""
    grade = str(ds["cost_grade"].values[i])
    if grade:
        ax.text(
            1.02,
            y,
            grade,
            transform=ax.get_yaxis_transform(),
            va="center",
            ha="center",
            fontsize=6,
            bbox={"boxstyle": "round,pad=0.25", "fc": "0.92", "ec": "0.5", "lw": 0.5},
        )
    notes = []
    change = float(ds["cost_change_oku"].values[i])
    if change < float(ds.attrs["cost_change_oku"]):
        notes.append(label("cost_capped", lang, change=f"{change:g}"))
    share = float(ds["cost_runs_with_gain"].values[i])
    if share == 0:
        notes.append(label("cost_no_gain", lang))
    elif share < 1:
        notes.append(label("cost_gain_share", lang, share=f"{share:.0%}"))
    if bool(ds["cost_lower_bound"].values[i]):
        notes.append(label("cost_lower_bound", lang))
    if notes:
        ax.text(
            1.045,
            y,
            "\n".join(notes),
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=6,
            color="0.3",
        )


def _yen(value: float, lang: str) -> str:
    """Write an amount of yen as a briefing reads it: ¥570k, ¥4.17m; 57万円, 3.9億円."""
    if lang == "ja":
        return f"{value / 1e8:.3g}億円" if value >= 1e8 else f"{value / 1e4:,.0f}万円"
    for size, unit in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if value >= size:
            return f"¥{value / size:.3g}{unit}"
    return f"¥{value:.3g}"


def _yen_axis(ax, yen: np.ndarray, rows: list, lang: str) -> None:
    """Put ``ax``'s x axis on a log scale of yen, ticked 1-3-10, with room for the labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    values = yen[rows]
    values = values[np.isfinite(values) & (values > 0)]
    lo, hi = (values.min() / 1.5, values.max() * 2.6) if values.size else (1e5, 1e8)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    ticks = [m * 10.0**d for d in decades for m in (1, 3) if lo <= m * 10.0**d <= hi]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _yen(v, lang)))
    ax.tick_params(axis="x", labelsize=6.3)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="0.9", lw=0.5)
    ax.set_axisbelow(True)


def _cost_legend(fig, lang: str) -> None:
    """Add the cost chart's legend: median, 5-95% line and the grade tag."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], ls="none", marker="o", color="0.3", label=label("median", lang)),
        Line2D([], [], color="0.3", lw=1.6, label=label("cost_whisker", lang)),
        Line2D(
            [],
            [],
            ls="none",
            marker="s",
            mfc="0.92",
            mec="0.5",
            ms=7,
            label=label("grade_tag", lang),
        ),
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=3,
        fontsize=6.5,
        frameon=False,
        bbox_to_anchor=(0.5, 0.2 / fig.get_figheight()),
    )


def budget_curve(ds, lang: str, footer: str):
    """5c. The probability of two main targets against one programme's budget at a time.

    A panel per target, a curve per programme (:data:`CURVE_COLORS`), each
    across the programme's budget range; a diamond marks today's budget at
    the scenario's own probability, and the probability at the top of the
    range is written at the curve's end. A panel whose curves stay at 0
    says so, as does the caption.
    """
    plt = _setup()
    targets = list(dict.fromkeys(ds["curve_target"].values.tolist()))
    fig, axes = plt.subplots(1, len(targets), figsize=(9, 4.6), squeeze=False, sharey=True)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.73, bottom=0.3, wspace=0.08)
    for ax, target in zip(axes[0], targets, strict=True):
        _curve_panel(ax, ds, target, lang)
    axes[0, 0].set_ylabel(label("probability", lang))
    fig.suptitle(label("fig_budget_curve", lang), fontsize=10, y=0.985)
    fig.text(
        0.01,
        0.93,
        "\n".join(wrap(_curve_caption(ds, lang), 92 if lang == "ja" else 170, lang)),
        fontsize=6.2,
        color="0.25",
        va="top",
    )
    _footer(fig, footer)
    return fig


def _curve_panel(ax, ds, target: str, lang: str) -> None:
    """Draw one target's curves, today's budgets and the values at the top of each range."""
    from matplotlib.lines import Line2D

    idx = np.flatnonzero(ds["curve_target"].values == target)
    handles = []
    for k, i in enumerate(idx):
        color = CURVE_COLORS[k % len(CURVE_COLORS)]
        x, p = ds["curve_budget_oku"].values[i], ds["curve_probability"].values[i]
        wide = 30 if lang == "ja" else 58
        (line,) = ax.plot(
            x,
            p,
            "o-",
            color=color,
            ms=3,
            lw=1.2,
            label="\n".join(wrap(name(str(ds["curve_programme"].values[i]), lang), wide, lang)),
        )
        handles.append(line)
        ax.plot(
            [float(ds["curve_today_oku"].values[i])],
            [float(ds["curve_today_probability"].values[i])],
            "D",
            mfc="white",
            mec=color,
            mew=1.3,
            ms=6.5,
            zorder=5,
        )
        ax.annotate(
            label("curve_top", lang, prob=_share(p[-1]), budget=_oku(x[-1])),
            (x[-1], p[-1]),
            textcoords="offset points",
            xytext=(0, 7 + 9 * k),
            ha="right",
            fontsize=6.2,
            color=color,
        )
    handles.append(
        Line2D(
            [],
            [],
            ls="none",
            marker="D",
            mfc="white",
            mec="0.2",
            label=label("today_budget", lang),
        )
    )
    _curve_frame(ax, ds, target, idx, handles, lang)


def _curve_frame(ax, ds, target: str, idx: np.ndarray, handles: list, lang: str) -> None:
    """Add a budget curve panel's title, scales and legend, and a note if all curves stay at 0."""
    from matplotlib.ticker import FuncFormatter

    if not np.any(ds["curve_probability"].values[idx] > 0):
        ax.text(
            0.5,
            0.5,
            label("curve_flat", lang),
            transform=ax.transAxes,
            ha="center",
            fontsize=7.5,
            color="0.3",
        )
    goal = ds["target_goal"].sel(target=target)
    variable = str(ds["target_variable"].sel(target=target).values)
    year = int(ds["target_year"].sel(target=target))
    ax.set_title(
        f"{name(variable, lang)}\n"
        + label("goal_short", lang, value=fmt(float(goal), lang), year=year),
        fontsize=7.5,
    )
    ax.set_ylim(-0.02, 1.02)
    right = float(np.max(ds["curve_budget_oku"].values[idx]))
    ax.set_xlim(-0.03 * right, 1.03 * right)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_xlabel(label("budget_oku", lang))
    ax.grid(color="0.92", lw=0.5)
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(0, -0.16), fontsize=6.3, frameon=False
    )


def _oku(value: float) -> str:
    """Write a budget in 億円: whole from 10 up, else to three figures."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.3g}"


def _share(p: float) -> str:
    """Write a probability: to a tenth of a percent below 10%, else a whole percent."""
    return f"{p:.1%}" if 0 < p < 0.1 else f"{p:.0%}"


def _curve_caption(ds, lang: str) -> str:
    """Return the budget curves' caption: what the probability is, each flat or refused case."""
    scenarios = list(dict.fromkeys(ds["curve_scenario"].values.tolist()))
    parts = [
        label(
            "curve_caption",
            lang,
            runs=int(ds.attrs["ensemble_members"]),
            scenario=" / ".join(name(s, lang) for s in scenarios),
            start=int(ds["curve_from"].values[0]),
            ramp=f"{float(ds['curve_ramp_years'].values[0]):g}",
            points=int(ds.sizes["budget_point"]),
        )
    ]
    for target in dict.fromkeys(ds["curve_target"].values.tolist()):
        idx = ds["curve_target"].values == target
        if not np.any(ds["curve_probability"].values[idx] > 0):
            variable = str(ds["target_variable"].sel(target=target).values)
            parts.append(label("curve_flat_caption", lang, output=name(variable, lang)))
    accepts = ds["curve_accepts"]
    for tried in ds["curve_tried"].values.tolist():
        if tried not in scenarios and int(accepts.sel(curve_tried=tried).sum()) == 0:
            parts.append(label("curve_refused", lang, scenario=name(tried, lang)))
    return (" " if lang == "en" else "").join(parts)


def researchers(ds, lang: str, footer: str):
    """6. Researchers dispatched 30+ days: history on both bases, scenarios, the FY2000 level."""
    plt = _setup()
    fig, ax = plt.subplots(figsize=(9, 4.6))
    years = ds["year"].values
    out = "researchers dispatched per year"
    for scen in ds["scenario"].values:
        q = ds["quantile"].sel(scenario=scen, output=out).values
        highlight = scen in HIGHLIGHT
        if highlight:
            band = {"color": COLORS[scen], "alpha": 0.15, "lw": 0, "zorder": 1}
            ax.fill_between(years, q[:, 0], q[:, 2], **band)
        ax.plot(
            years,
            q[:, 1],
            lw=1.4 if highlight else 0.6,
            color=COLORS.get(scen),
            alpha=1 if highlight else 0.5,
            label=name(str(scen), lang),
            zorder=_zorder(scen),
        )
    series = ds["obs_series"].values
    for key, marker in (("per year]", "o"), ("survey basis]", "s")):
        idx = np.array(
            [i for i, s in enumerate(series) if s.startswith(DISPATCH_SERIES) and s.endswith(key)],
            dtype=int,
        )
        ax.plot(
            ds["obs_year"].values[idx],
            ds["obs_value"].values[idx],
            marker,
            color="black",
            ms=3.5,
            mfc="white" if marker == "s" else "black",
            label=label("old_basis" if marker == "o" else "survey_basis", lang),
        )
    ax.axhline(7694, color="tab:green", ls="--", lw=1, label=label("fy2000_level", lang))
    ax.set_xlabel(label("fiscal_year", lang))
    ax.set_ylabel(label("persons_per_year", lang))
    _thousands(ax)
    ax.set_title(label("fig_researchers", lang), fontsize=10)
    ax.text(
        0.01, 0.02, label("dispatch_basis", lang), transform=ax.transAxes, fontsize=6, color="0.3"
    )
    ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    _footer(fig, footer)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def origins(ds, lang: str, footer: str):
    """7. International students by origin (baseline) and the largest origin's share."""
    from sim.reports.briefdata import ORIGIN_SERIES

    plt = _setup()
    fig, (ax, axs) = plt.subplots(1, 2, figsize=(11, 4.8), width_ratios=(1.25, 1))
    total = ds["quantile"].sel(output="international students in japan")
    _stack(ax, ds, "international students in japan by origin", total, lang)
    series = ds["obs_series"].values
    idx = np.flatnonzero(series == "intl_students_total_incl_jlang")
    years, values = ds["obs_year"].values, ds["obs_value"].values
    ax.plot(years[idx], values[idx], "o", color="black", ms=3, label=label("total_observed", lang))
    ax.set_ylabel(label("persons", lang))
    _thousands(ax)
    ax.legend(fontsize=5.5, frameon=False, loc="upper left", ncol=2)
    _scenario_bands(axs, ds, "largest origin share", SCENARIO_OF["origins"], lang)
    china = np.flatnonzero(np.char.endswith(series.astype(str), f"{ORIGIN_SERIES}[china]]"))
    totals = dict(zip(years[idx], values[idx], strict=True))
    shown = [i for i in china if years[i] in totals]
    axs.plot(
        years[shown],
        [values[i] / totals[years[i]] for i in shown],
        "o",
        color="black",
        ms=3,
        label=label("china_share_observed", lang),
    )
    axs.set_ylabel(label("share", lang))
    axs.set_title(label("largest_share", lang), fontsize=8)
    axs.legend(fontsize=5.5, frameon=False, loc="lower left")
    fig.suptitle(label("fig_origins", lang), fontsize=10)
    _footer(fig, footer)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def destinations(ds, lang: str, footer: str):
    """8. Japanese students abroad by destination (baseline) and Japan's rank in the US."""
    plt = _setup()
    fig, (ax, axr) = plt.subplots(1, 2, figsize=(11, 4.8), width_ratios=(1.25, 1))
    total = ds["extra_quantile"].sel(extra="japanese degree students abroad")
    _stack(ax, ds, "japanese degree students abroad by destination", total, lang)
    series = ds["obs_series"].values
    idx = np.flatnonzero(series == "japanese_abroad_oecd_based")
    ax.plot(
        ds["obs_year"].values[idx],
        ds["obs_value"].values[idx],
        "o",
        color="black",
        ms=3,
        label=label("total_observed", lang),
    )
    ax.set_ylabel(label("persons", lang))
    _thousands(ax)
    ax.legend(fontsize=5.5, frameon=False, loc="upper right", ncol=2)
    _scenario_bands(
        axr, ds, "japan rank among origins in the us", SCENARIO_OF["destinations"], lang
    )
    axr.plot(
        ds["rank_year"].values + 0.5,
        ds["rank_observed"].values,
        "o",
        color="black",
        ms=3,
        label=label("us_rank_observed", lang),
    )
    axr.invert_yaxis()
    axr.set_ylabel(label("rank", lang))
    axr.set_title(label("us_rank", lang), fontsize=8)
    axr.legend(fontsize=5.5, frameon=False, loc="lower left")
    fig.suptitle(label("fig_destinations", lang), fontsize=10)
    _footer(fig, footer)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def partners(ds, lang: str, footer: str):
    """9. Researchers dispatched and accepted for 30+ days by partner region, and with Europe."""
    plt = _setup()
    fig, (axd, axa, axe) = plt.subplots(1, 3, figsize=(13, 4.8))
    series, years, values = (ds[k].values for k in ("obs_series", "obs_year", "obs_value"))
    for ax, array, total, observed in (
        (
            axd,
            "researchers dispatched by partner",
            ds["extra_quantile"].sel(extra="researchers dispatched per year survey basis"),
            f"{DISPATCH_SERIES} [researchers dispatched per year survey basis]",
        ),
        (
            axa,
            "foreign researchers accepted by partner",
            ds["quantile"].sel(output="foreign researchers accepted per year"),
            "researchers_inbound_midlong",
        ),
    ):
        _stack(ax, ds, array, total, lang, "dispatched_stack" if ax is axd else "accepted_stack")
        idx = np.flatnonzero(series == observed)
        ax.plot(years[idx], values[idx], "s", color="black", ms=3, mfc="white")
        ax.plot([], [], "s", color="black", ms=3, mfc="white", label=label("total_observed", lang))
        ax.set_title(_wrapped(ax.get_title(), lang), fontsize=8)
        ax.set_ylabel(label("persons_per_year", lang))
        _thousands(ax)
        ax.legend(fontsize=5.5, frameon=False, loc="upper left", ncol=2)
    fig.text(0.01, 0.03, label("partner_shares", lang), fontsize=6, color="0.2", va="bottom")
    _europe(axe, ds, lang)
    fig.suptitle(label("fig_partners", lang), fontsize=10)
    _footer(fig, footer)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _europe(ax, ds, lang: str) -> None:
    """Flows with Europe: each partner scenario's median, and the baseline's band."""
    flows = (
        ("researchers dispatched by partner[european partners]", "-", "to_europe"),
        ("foreign researchers accepted by partner[european partners]", "--", "from_europe"),
    )
    extras = [(extra, ls) for extra, ls, _ in flows]
    # C0-C4 are the regions of the stacks beside it
    _scenario_bands(ax, ds, extras, SCENARIO_OF["partners"], lang, first_color=4)
    for _, ls, what in flows:
        ax.plot([], [], ls=ls, lw=0.9, color="0.5", label=label(what, lang))
    ax.set_title(label("europe_by_scenario", lang), fontsize=8)
    ax.set_ylabel(label("persons_per_year", lang))
    _thousands(ax)
    ax.legend(fontsize=5.5, frameon=False, loc="upper left")


def _wrapped(text: str, lang: str) -> str:
    """``text`` in lines that fit the width of one of three panels."""
    return "\n".join(wrap(text, 50 if lang == "en" else 28, lang))


def _stack(ax, ds, array: str, total, lang: str, title: str = "") -> None:
    """Draw the baseline's median total split by ``array``'s elements, and its 5-95% band.

    ``title``: the label of the panel's title (default: the array's elements' ``_stack``).

    Each element's median, scaled so that the elements add up to the median
    total: the medians of the parts of a skewed ensemble do not add up to the
    median of their sum, and a stack that did not reach the total would misread.
    """
    years = ds["year"].values
    parts = ds["part"].values[ds["part_of"].values == array]
    p50 = ds["part_p50"].sel(scenario="baseline", part=parts).values
    band = total.sel(scenario="baseline").values
    shares = p50 / np.where(p50.sum(axis=0) > 0, p50.sum(axis=0), 1.0)
    places = [str(p).split("[", 1)[1].rstrip("]") for p in parts]
    colors = [f"C{i}" for i in range(len(parts))]
    labels = [name(p, lang) for p in places]
    ax.stackplot(years, shares * band[:, 1], labels=labels, colors=colors, alpha=0.8)
    for col in (0, 2):
        ax.plot(years, band[:, col], ls="--", lw=0.8, color="0.2")
    ax.plot([], [], ls="--", lw=0.8, color="0.2", label=label("total_band", lang))
    title = title or f"{array.split(' by ')[-1]}s_stack"
    ax.set_title(label(title, lang, scenario=name("baseline", lang)))
    ax.set_xlim(*_span(years, band[:, 1]))


def _span(years: np.ndarray, values: np.ndarray) -> tuple:
    """Return the first and last year with a value (fiscal-year means end before the run)."""
    have = years[np.isfinite(values)]
    return (have[0], have[-1]) if have.size else (years[0], years[-1])


def _scenario_bands(ax, ds, extras, wanted: tuple, lang: str, first_color: int = 0) -> None:
    """Each wanted scenario's median of ``extras`` (the first scenario with its 5-95% band).

    ``extras``: one output, or ``(output, line style)`` pairs drawn in each scenario's
    colour (the legend names the scenario once, on the first).
    """
    years = ds["year"].values
    shown = [s for s in wanted if s in ds["scenario"].values]
    extras = ((extras, "-"),) if isinstance(extras, str) else extras
    for k, scen in enumerate(shown):
        color = "0.2" if k == 0 else f"C{k + first_color}"
        for j, (extra, ls) in enumerate(extras):
            q = ds["extra_quantile"].sel(scenario=scen, extra=extra).values
            if k == 0:
                ax.fill_between(years, q[:, 0], q[:, 2], color=color, alpha=0.15, lw=0)
            # the baseline over the others, whose lines lie on it before their policies start
            ax.plot(
                years,
                q[:, 1],
                ls=ls,
                lw=1.4 if k == 0 else 0.9,
                color=color,
                label=name(scen, lang) if j == 0 else None,
                zorder=3 if k == 0 else 2,
            )
    base = ds["extra_quantile"].sel(scenario=shown[0], extra=extras[0][0]).values[:, 1]
    ax.set_xlim(*_span(years, base))


def diagram(spec, lang: str, footer: str):
    """10. The model's stock-and-flow diagram, as :mod:`sim.reports.diagram` draws it."""
    _setup()
    from sim.reports.diagram import stock_flow_diagram

    fig, ax = stock_flow_diagram(spec)
    # replaces the diagram's own (English) title, drawn on the left
    ax.set_title(f"{label('fig_diagram', lang)}: {Path(spec.path).name}", loc="left", fontsize=12)
    _footer(fig, footer)
    return fig
