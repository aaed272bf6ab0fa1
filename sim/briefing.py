"""``brainsim brief``: compute everything the briefing shows, once, into one Dataset.

The figures (:mod:`sim.brief`) draw only from this Dataset, so a test can
draw them from a small stored one. Computing it runs: the calibrated model
and its ensemble over history; every shipped scenario over the ensemble; a
one-at-a-time sweep and a Sobol sweep of the levers and the calibrated
parameters; and the goal search for scholarships.
"""

import hashlib
import math
from pathlib import Path

import numpy as np

from sim.targets import TARGETS

SOBOL_N = 256  # Sobol base sample: N x (D + 2) runs
GOAL = (
    "expanded-scholarships",
    "scholarship coverage",
    "japanese students abroad per year@2033>=500000",
    0.8,
)
DISPATCH_SERIES = "researchers_dispatched_midlong"


def inputs(root: Path) -> dict:
    """SHA-256 of every input the briefing depends on, by path relative to ``root``."""
    files = [
        root / "model" / "brain_circulation.mdl",
        root / "model" / "history.csv",
        root / "model" / "ensemble.csv",
        *sorted((root / "scenarios").glob("*.yaml")),
    ]
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def collect(root: Path, progress=print):
    """Run everything the briefing needs; return it as an ``xarray.Dataset``."""
    import xarray as xr

    from sim import calibrate as cal
    from sim import load_model
    from sim.goal import parse_goal, seek
    from sim.history import load_history
    from sim.runner import output_timing, run_scenarios, target_rows
    from sim.scenario import levers, load_scenario
    from sim.sweep import factors_for, run_sweep
    from sim.targets import OUTPUT_TIMING

    model = load_model(root / "model" / "brain_circulation.mdl")
    history = load_history(root / "model" / "history.csv", [el.name for el in model.spec.elements])
    data = {}

    progress("history against the calibrated model and its ensemble")
    problem = cal.make_problem(model, history)
    _, names, members = cal.read_ensemble(root / "model" / "ensemble.csv", model)
    order = [names.index(n) for n in problem.names]
    defaults = np.array(
        [model.defaults[model.param_keys.index(model.spec.element(n).key)] for n in problem.names]
    )
    best = cal.modelled(problem, defaults[:, None])[:, 0]
    spread = cal.modelled(problem, members[:, order].T, workers=None)
    used = problem.data.weight > 0
    obs = [o for o, u in zip(problem.data.observations, used, strict=True) if u]
    data["obs_series"] = (
        "obs",
        np.array([lab for lab, u in zip(problem.data.labels, used, strict=True) if u]),
    )
    data["obs_year"] = ("obs", np.array([o.year for o in obs]))
    data["obs_value"] = ("obs", problem.data.y[used])
    data["obs_unit"] = ("obs", np.array(["%" if o.unit.startswith("%") else o.unit for o in obs]))
    data["fit_best"] = ("obs", best[used])
    lo, hi = np.percentile(spread, [5, 95], axis=1)
    data["fit_p05"] = ("obs", lo[used])
    data["fit_p95"] = ("obs", hi[used])

    progress("every scenario over the ensemble")
    paths = sorted((root / "scenarios").glob("*.yaml"))
    scenarios = [load_scenario(p, model) for p in paths]
    timing = output_timing(model)
    results = run_scenarios(scenarios, model, timing, root)
    outputs = list(OUTPUT_TIMING)
    years = results[0].years
    q = np.full((len(results), len(outputs), len(years), 3), np.nan)
    for s, res in enumerate(results):
        for o, name in enumerate(outputs):
            arr = res.values[name]
            ok = ~np.isnan(arr).any(axis=1)
            q[s, o, ok] = np.percentile(arr[ok], [5, 50, 95], axis=1).T
    data["quantile"] = (("scenario", "output", "year", "q"), q)
    by_cell = {(r["scenario"], r["target"]): r for res in results for r in target_rows(res)}
    for key, column in (
        ("probability", "probability"),
        ("target_p50", "p50"),
        ("target_p05", "p05"),
        ("target_p95", "p95"),
    ):
        data[key] = (
            ("scenario", "target"),
            np.array(
                [
                    [by_cell[(res.scenario.name, t.label)][column] for t in TARGETS]
                    for res in results
                ]
            ),
        )

    progress("one-at-a-time swings and Sobol indices of the levers and calibrated parameters")
    baseline = next(s for s in scenarios if s.name == "baseline")
    swept = [el.name for el in levers(model).values()] + list(problem.names)
    factors = factors_for(baseline, model, swept)
    oat = run_sweep(baseline, model, dict(OUTPUT_TIMING), "oat", 1, 0, factors)
    sob = run_sweep(baseline, model, dict(OUTPUT_TIMING), "sobol", SOBOL_N, 0, factors)
    index_years = sorted({y for _, y in sob.indices})
    swing = np.array([oat.indices[(o, 2033)]["swing"] for o in outputs])
    low = np.array([oat.indices[(o, 2033)]["low"] for o in outputs])
    high = np.array([oat.indices[(o, 2033)]["high"] for o in outputs])
    data["oat_swing"] = (("output", "parameter"), swing)
    data["oat_low"] = (("output", "parameter"), low)
    data["oat_high"] = (("output", "parameter"), high)
    st = np.full((len(outputs), len(index_years), len(factors)), np.nan)
    for o, name in enumerate(outputs):
        for y, year in enumerate(index_years):
            if (name, year) in sob.indices:
                st[o, y] = sob.indices[(name, year)]["ST"]
    data["sobol_st"] = (("output", "index_year", "parameter"), st)

    progress("the goal search for scholarship coverage")
    scen_name, lever, goal_text, prob = GOAL
    goal_scenario = next(s for s in scenarios if s.name == scen_name)
    answer = seek(goal_scenario, model, root, lever, parse_goal(goal_text, model), prob)
    data["goal_probability"] = ("level", np.array([p for _, p in answer.curve]))

    from sim.simulate import package_version

    return xr.Dataset(
        data,
        coords={
            "scenario": [r.scenario.name for r in results],
            "output": outputs,
            "year": years,
            "q": ["p05", "p50", "p95"],
            "target": [t.label for t in TARGETS],
            "target_variable": ("target", [t.variable for t in TARGETS]),
            "target_year": ("target", [t.year for t in TARGETS]),
            "target_goal": ("target", [t.value for t in TARGETS]),
            "parameter": [f.name for f in factors],
            "index_year": index_years,
            "level": np.array([x for x, _ in answer.curve]),
        },
        attrs={
            "model": "model/brain_circulation.mdl",
            "model_sha256": model.spec.sha256,
            "brainsim_version": package_version(),
            "goal_lever": answer.lever,
            "goal_probability_required": prob,
            "goal_level": float("nan") if answer.level is None else answer.level,
            "goal_best": answer.achieved,
            "goal_sentence": answer.sentence(),
            "sobol_n": SOBOL_N,
            "runs": int(
                len(oat.unit) + len(sob.unit) + sum(r.n_runs for r in results) + len(members)
            ),
        },
    )


def fmt(value: float, lang: str) -> str:
    """Format a number as a briefing shows it: thousands separated, ratios as percentages."""
    if not math.isfinite(value):
        return "—"
    if abs(value) < 1.5:
        return f"{value:.0%}"
    return f"{value:,.0f}"


# --- writing the briefing ----------------------------------------------------------

HEADLINE = ("probability", "targets")


def footer(ds, lang: str, scenario: str | None = None) -> str:
    """Return the footer line of every figure: version, model hash, scenarios, date, sources."""
    import datetime

    from sim.labels import label, name

    return label(
        "footer",
        lang,
        version=ds.attrs["brainsim_version"],
        model=ds.attrs["model"],
        sha=ds.attrs["model_sha256"][:12],
        scenarios=label("all_scenarios", lang) if scenario is None else name(scenario, lang),
        date=datetime.date.today().isoformat(),
        sources=label("sources", lang),
    )


def findings(ds, lang: str) -> list:
    """Key findings as sentences, every number taken from ``ds``."""
    from sim.labels import label, name

    out = []
    headline = [t for t in TARGETS if not name(t.variable, "en").startswith("—")]
    for t in headline:
        sel = {"scenario": "baseline", "target": t.label}
        out.append(
            label(
                "finding_baseline",
                lang,
                output=name(t.variable, lang),
                year=t.year,
                p50=fmt(float(ds["target_p50"].sel(**sel)), lang),
                p05=fmt(float(ds["target_p05"].sel(**sel)), lang),
                p95=fmt(float(ds["target_p95"].sel(**sel)), lang),
                goal=fmt(t.value, lang),
                prob=f"{float(ds['probability'].sel(**sel)):.0%}",
            )
        )
    for t in headline:
        base = float(ds["probability"].sel(scenario="baseline", target=t.label))
        pack = float(ds["probability"].sel(scenario="jmirai-package", target=t.label))
        out.append(
            label(
                "finding_package",
                lang,
                output=name(t.variable, lang),
                base=f"{base:.0%}",
                package=f"{pack:.0%}",
            )
        )
    abroad = TARGETS[0].label
    out.append(
        label(
            "finding_yen",
            lang,
            weak=fmt(float(ds["target_p50"].sel(scenario="weak-yen", target=abroad)), lang),
            base=fmt(float(ds["target_p50"].sel(scenario="baseline", target=abroad)), lang),
            strong=fmt(float(ds["target_p50"].sel(scenario="strong-yen", target=abroad)), lang),
        )
    )
    level = float(ds.attrs["goal_level"])
    answer = (
        label("goal_reached", lang, level=f"{level:.2f}")
        if np.isfinite(level)
        else label("goal_unreachable", lang, prob=f"{float(ds.attrs['goal_best']):.0%}")
    )
    out.append(label("finding_goal", lang, answer=answer))
    return out


def wrap(text: str, width: int, lang: str) -> list:
    """Split ``text`` into lines of at most ``width`` characters, never inside a number.

    English breaks at spaces; Japanese, which has none, anywhere but inside a
    run of digits, separators and percent signs.
    """
    import textwrap

    if lang != "ja":
        return textwrap.wrap(text, width, break_on_hyphens=False)
    numeric = set("0123456789,.%〜–-")
    lines = []
    while len(text) > width:
        cut = width
        while cut > width // 2 and text[cut - 1] in numeric and text[cut] in numeric:
            cut -= 1
        lines.append(text[:cut])
        text = text[cut:]
    return [*lines, text] if text else lines


def _title_page(ds, lang: str, plt):
    import textwrap

    from sim.labels import label, name

    fig = plt.figure(figsize=(8.27, 11.69))
    fig.text(0.06, 0.95, label("pack_title", lang), fontsize=13)
    fig.text(0.06, 0.92, label("findings", lang), fontsize=11)
    width = 62 if lang == "ja" else 112
    y = 0.895
    for sentence in findings(ds, lang):
        for line in wrap(sentence, width, lang):
            fig.text(0.07, y, line, fontsize=7.5)
            y -= 0.016
        y -= 0.006
    fig.text(0.06, y - 0.01, label("target_table", lang), fontsize=11)
    headline = [t for t in TARGETS if not name(t.variable, "en").startswith("—")]
    cells = []
    for scen in ds["scenario"].values:
        row = [name(str(scen), lang)]
        for t in headline:
            sel = {"scenario": scen, "target": t.label}
            row.append(
                f"{fmt(float(ds['target_p50'].sel(**sel)), lang)} "
                f"({fmt(float(ds['target_p05'].sel(**sel)), lang)}–"
                f"{fmt(float(ds['target_p95'].sel(**sel)), lang)})\n"
                f"{float(ds['probability'].sel(**sel)):.0%}"
            )
        cells.append(row)
    header_width = 14 if lang == "ja" else 26
    cols = [label("scenario", lang)] + [
        "\n".join(textwrap.wrap(name(t.variable, lang), header_width, break_on_hyphens=False))
        + "\n"
        + label("goal_short", lang, value=fmt(t.value, lang), year=t.year)
        for t in headline
    ]
    ax = fig.add_axes((0.04, 0.05, 0.92, max(y - 0.08, 0.2)))
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=cols, loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(5.5)
    table.scale(1, 2.1)
    for (row, _), cell in table.get_celld().items():
        if row == 0:
            cell.set_height(cell.get_height() * 1.9)
    fig.text(0.06, 0.02, footer(ds, lang), fontsize=6, color="0.35")
    return fig


def render(ds, spec, out: Path, langs: tuple, progress=print) -> dict:
    """Draw every figure in every language (PNG 300 dpi and SVG) and the PDF packs.

    The languages are drawn at once, on separate cores. Returns the
    manifest entries: figure file to the hashes it was made from.
    """
    from sim.parallel import parallel_map

    made = {}
    for part in parallel_map(lambda lang: _render(ds, spec, out, lang, progress), list(langs)):
        made.update(part)
    return made


def _render(ds, spec, out: Path, lang: str, progress) -> dict:
    from matplotlib.backends.backend_pdf import PdfPages

    from sim import brief

    plt = brief._setup()
    made = {}
    with PdfPages(out / f"briefing_{lang}.pdf") as pdf:
        page = _title_page(ds, lang, plt)
        pdf.savefig(page)
        plt.close(page)
        for key in brief.FIGURES:
            progress(f"figure {key} ({lang})")
            draw = getattr(brief, key)
            note = footer(ds, lang, brief.SCENARIO_OF[key])
            fig = draw(spec, lang, note) if key == "diagram" else draw(ds, lang, note)
            for ext in ("png", "svg"):
                path = out / f"{key}_{lang}.{ext}"
                fig.savefig(path, dpi=300 if ext == "png" else None)
                made[path.name] = key
            pdf.savefig(fig)
            plt.close(fig)
    made[f"briefing_{lang}.pdf"] = "pack"
    return made


def run_brief(
    root: Path, out: Path, langs: tuple, headline: Path | None = None, progress=print
) -> str:
    """Collect, draw and write the whole briefing into ``out`` (all or nothing)."""
    import json
    import shutil

    from sim.output import atomic_dir
    from sim.vensim import read_mdl

    sources = inputs(root)
    ds = collect(root, progress)
    spec = read_mdl(root / "model" / "brain_circulation.mdl")
    with atomic_dir(out) as tmp:
        ds.to_netcdf(tmp / "brief_data.nc")
        data_sha = hashlib.sha256((tmp / "brief_data.nc").read_bytes()).hexdigest()
        made = render(ds, spec, tmp, langs, progress)
        manifest = {
            "inputs": sources,
            "brainsim_version": ds.attrs["brainsim_version"],
            "model_sha256": ds.attrs["model_sha256"],
            "figures": {
                f: {
                    "figure": key,
                    "data": "brief_data.nc",
                    "data_sha256": data_sha,
                    "inputs": sorted(sources),
                }
                for f, key in sorted(made.items())
            },
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if headline is not None:
        with atomic_dir(headline) as tmp:
            for key in HEADLINE:
                for lang in langs:
                    shutil.copy(out / f"{key}_{lang}.png", tmp / f"{key}_{lang}.png")
            (tmp / "manifest.json").write_text(
                json.dumps({"inputs": sources}, indent=2) + "\n", encoding="utf-8"
            )
    return "\n".join(f"- {s}" for s in findings(ds, "en")) + "\n"


def stale(root: Path, headline: Path) -> list:
    """Return the inputs that changed since the headline figures were made (empty: up to date)."""
    import json

    path = headline / "manifest.json"
    if not path.is_file():
        return ["(no manifest: run brainsim brief --headline)"]
    recorded = json.loads(path.read_text(encoding="utf-8"))["inputs"]
    current = inputs(root)
    return sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))
