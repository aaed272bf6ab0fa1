"""What a scenario file can name: levers, series, constants, outputs and targets.

``brainsim names`` prints this catalogue (markdown or JSON); the JSON Schema
of scenario files (:func:`sim.studies.scenario.schema`) carries the same
names as enums, so that an editor completes them.
"""

from sim.reports.labels import BUDGET_PROGRAMMES, PROGRAMMES, name
from sim.studies.history import default_rule
from sim.studies.scenario import MILLION_YEN_PER_OKU, budget_levers, levers, series_lookups
from sim.studies.targets import OUTPUT_TIMING, TARGETS


def catalogue(model) -> dict:
    """Return every name a scenario of ``model`` may use, with units, ranges and baselines."""
    by_key = {lk.key: lk for lk in model.spec.lookups}
    return {
        "levers": [
            {
                "lever": lever,
                "constant": el.name,
                "unit": el.units,
                "range": list(el.limits),
                "baseline": el.expr.value,
                "programme": PROGRAMMES.get(lever, {"en": el.doc, "ja": ""}),
            }
            for lever, el in levers(model).items()
        ],
        "budgets": [
            {
                "programme": programme,
                "constant": el.name,
                "unit": "億円/Year",
                "range": [b / MILLION_YEN_PER_OKU for b in el.limits],
                "baseline": el.expr.value / MILLION_YEN_PER_OKU,
                "acts_on": acts_on,
                "name": BUDGET_PROGRAMMES.get(programme, {"en": programme, "ja": ""}),
            }
            for programme, (el, acts_on) in budget_levers(model).items()
        ],
        "series": [
            {
                "lookup": el.name,
                "unit": el.units,
                "years": [by_key[el.key].xs[0], by_key[el.key].xs[-1]],
                "range": list(by_key[el.key].bounds[1]) if by_key[el.key].bounds else None,
            }
            for el in series_lookups(model).values()
        ],
        "outputs": [
            {
                "variable": out,
                "unit": model.spec.element(out).units,
                "measured": default_rule(model, out),
                "name": {"en": name(out, "en"), "ja": name(out, "ja")},
            }
            for out in OUTPUT_TIMING
            if model.spec.has(out)
        ],
        "targets": [
            {
                "variable": t.variable,
                "year": t.year,
                "sense": t.sense,
                "value": t.value,
                "label": t.label,
            }
            for t in TARGETS
        ],
    }


def catalogue_markdown(cat: dict, lang: str = "en") -> str:
    """Return the catalogue as markdown tables, programme names in ``lang``."""
    lines = ["# Levers (policies: lever, from, ramp_years, to)", ""]
    lines += ["| lever | unit | range | baseline | programme |", "|---|---|---|---|---|"]
    for lv in cat["levers"]:
        lo, hi = lv["range"]
        lines.append(
            f"| {lv['lever']} | {lv['unit']} | [{lo:g}, {hi:g}] | {lv['baseline']:g} | "
            f"{lv['programme'][lang]} |"
        )
    lines += [
        "",
        "# Budgets (budgets: programme, from, ramp_years, to or change, in 億円 a year)",
        "",
        "| programme | range, 億円 a year | baseline | acts on the lever | programme name |",
        "|---|---|---|---|---|",
    ]
    for b in cat["budgets"]:
        lo, hi = b["range"]
        lines.append(
            f"| {b['programme']} | [{lo:.6g}, {hi:.6g}] | {b['baseline']:.6g} | {b['acts_on']} "
            f"| {b['name'][lang]} |"
        )
    lines += ["", "# Series a scenario may override (series: {lookup: {year: value}})", ""]
    lines += ["| lookup | unit | years | declared range |", "|---|---|---|---|"]
    for s in cat["series"]:
        rng = "?" if s["range"] is None else f"[{s['range'][0]:g}, {s['range'][1]:g}]"
        lines.append(
            f"| {s['lookup']} | {s['unit']} | {s['years'][0]:g}-{s['years'][1]:g} | {rng} |"
        )
    lines += ["", "# Outputs (targets: variable, year, at_least or at_most)", ""]
    lines += ["| variable | unit | measured as | name |", "|---|---|---|---|"]
    for o in cat["outputs"]:
        lines.append(f"| {o['variable']} | {o['unit']} | {o['measured']} | {o['name'][lang]} |")
    lines += ["", "# Targets every scenario is judged against", ""]
    lines += ["| variable | year | goal | label |", "|---|---|---|---|"]
    for t in cat["targets"]:
        sign = "≥" if t["sense"] == "at_least" else "≤"
        lines.append(f"| {t['variable']} | {t['year']} | {sign} {t['value']:g} | {t['label']} |")
    lines += [
        "",
        "Constants (set: {constant: value}) are every constant of the .mdl with a "
        "[min, max] range; `brainsim schema` lists them.",
    ]
    return "\n".join(lines) + "\n"
