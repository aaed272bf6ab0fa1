"""``brainsim brief``: the bilingual briefing, its PDF, figures and up-to-date check.

What the briefing shows is computed once by :mod:`sim.reports.briefdata`; the
figures are drawn by :mod:`sim.reports.figures`; this module writes them
all, with the title page and findings, into one folder (all or nothing).
"""

import hashlib
from pathlib import Path

import numpy as np

from sim.reports.briefdata import collect, inputs
from sim.reports.labels import fmt, wrap
from sim.studies.targets import TARGETS

HEADLINE = ("probability", "targets")


def footer(ds, lang: str, scenario: str | tuple | None = None) -> str:
    """Return the footer line of every figure: version, model hash, scenarios, date, sources.

    ``scenario`` is the one scenario a figure shows, a tuple of those it shows,
    or ``None`` for all of them.
    """
    import datetime

    from sim.reports.labels import label, name

    if isinstance(scenario, tuple):
        scenarios = " / ".join(name(s, lang) for s in scenario)
    else:
        scenarios = label("all_scenarios", lang) if scenario is None else name(scenario, lang)
    return label(
        "footer",
        lang,
        version=ds.attrs["brainsim_version"],
        model=ds.attrs["model"],
        sha=ds.attrs["model_sha256"][:12],
        scenarios=scenarios,
        date=datetime.date.today().isoformat(),
        sources=label("sources", lang),
    )


def findings(ds, lang: str) -> list:
    """Key findings as sentences, every number taken from ``ds``."""
    from sim.reports.labels import label, name

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
        # compare the percentages as they are printed, so the verb matches the numbers
        shown_base, shown_pack = round(100 * base), round(100 * pack)
        key = "finding_package" if shown_pack > shown_base else "finding_package_lower"
        if shown_pack == shown_base:
            key = "finding_package_same"
        out.append(
            label(
                key,
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


def _title_page(ds, lang: str, plt):
    import textwrap

    from sim.reports.labels import label, name

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
    from sim.engine.parallel import parallel_map

    made = {}
    for part in parallel_map(lambda lang: _render(ds, spec, out, lang, progress), list(langs)):
        made.update(part)
    return made


def _render(ds, spec, out: Path, lang: str, progress) -> dict:
    from matplotlib.backends.backend_pdf import PdfPages

    from sim.reports import figures

    plt = figures._setup()
    made = {}
    with PdfPages(out / f"briefing_{lang}.pdf") as pdf:
        page = _title_page(ds, lang, plt)
        pdf.savefig(page)
        plt.close(page)
        for key in figures.FIGURES:
            progress(f"figure {key} ({lang})")
            draw = getattr(figures, key)
            note = footer(ds, lang, figures.scenario_of(ds, key))
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
    root: Path,
    out: Path,
    langs: tuple,
    headline: Path | None = None,
    progress=print,
    *,
    force: bool = False,
) -> str:
    """Collect, draw and write the whole briefing into ``out`` (all or nothing)."""
    import json
    import shutil

    from sim.engine.files import atomic_dir, check_out
    from sim.engine.vensim import read_mdl

    check_out(out, force=force)
    if headline is not None:
        check_out(headline, force=force, option="--headline")
    sources = inputs(root)
    ds = collect(root, progress)
    spec = read_mdl(root / "model" / "brain_circulation.mdl")
    with atomic_dir(out, force=force) as tmp:
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
        with atomic_dir(headline, force=force, option="--headline") as tmp:
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
