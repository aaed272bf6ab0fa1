"""Bad input to any command: exit 2, one line naming the file or option and the fix, no change.

Every case is one ``brainsim`` call in a copy of the project (the model, its
history and ensemble, a few scenarios, a folder of earlier results brainsim
wrote, a folder of the user's own files and a repository). The call must
end with exit status 2 and exactly one line on stderr that names the file or
option (each case lists the fragments it expects), never a traceback, and
must leave every file of the working folder byte-identical, adding none.
"""

import json
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import sim

from conftest import QUICK, ROOT, tree, write_mdl

TIMEOUT = 60  # seconds; every refusal here should come in one or two
MEMORY = 6 << 30  # address space of one call: a runaway allocation fails, not the machine

HEAD = """\
name: bad
title: {en: A test, ja: テスト}
description: {en: A test scenario., ja: テスト用のシナリオ。}
"""

BAD = "scenarios/bad.yaml"
DIR = object()  # a file entry that is a folder
MDL = "model/brain_circulation.mdl"
GOAL = "japanese students abroad per year@2033>=500000"
# a constant whose .mdl range is [1, 10], for a normal prior mostly outside it
ONE_TO_TEN = next(
    e.name
    for e in sim.read_mdl(ROOT / MDL).elements
    if e.kind == "constant" and e.limits == (1, 10) and "policy" not in e.name
)
SMALL_MODEL = "a = 1\n\t~\tdmnl [0, 1]\n\t~\tassumption: test value\n\t|\n\n"


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple
    expect: tuple  # fragments the one line must hold
    files: dict = field(default_factory=dict)  # written into the project before the call


def scenario(case_id: str, text, *expect: str, files=None) -> Case:
    """A bad ``scenarios/bad.yaml`` run over a folder of earlier results brainsim wrote."""
    return Case(
        case_id,
        ("run", BAD, "--out", "results/earlier"),
        (BAD, *expect),
        {BAD: text, **(files or {})},
    )


def head(text: str) -> str:
    return HEAD + text


def alias_bomb() -> str:
    """A "billion laughs": nine levels of nine aliases each, 9**9 strings if expanded."""
    lines = ['  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return head("set:\n" + "\n".join(lines) + "\n")


def dist(spec: str, name: str = "exchange rate perception time") -> str:
    return head(f"uncertainty:\n  distributions:\n    {name}: {spec}\n  samples: 10\n")


def policy(**fields) -> str:
    item = {"lever": "scholarship coverage", "from": 2026, "ramp_years": 4, "to": 0.3}
    item.update(fields)
    body = ", ".join(f"{k}: {v}" for k, v in item.items() if v is not None)
    return head(f"policies:\n  - {{{body}}}\n")


def target(**fields) -> str:
    item = {"variable": "international students in japan", "year": 2033, "at_least": 400000}
    item.update(fields)
    body = ", ".join(f"{k}: {v}" for k, v in item.items() if v is not None)
    return head(f"targets:\n  - {{{body}}}\n")


def series(points: str, name: str = "exchange rate yen per usd") -> str:
    return head(f"series:\n  {name}: {points}\n")


def set_(value: str, name: str = "scholarship coverage target") -> str:
    return head(f"set:\n  {name}: {value}\n")


SCENARIO_CASES = [
    # --- the file itself
    scenario("yaml-syntax", head("set: {policy start year: [2030\n"), "not valid YAML"),
    scenario("yaml-tab-indent", head("set:\n\tscholarship coverage target: 0.3\n"), "YAML"),
    scenario("yaml-two-documents", head("---\nname: bad\n"), "YAML"),
    scenario("yaml-python-tag", head("set: !!python/object/apply:os.getcwd []\n"), "YAML"),
    scenario("yaml-complex-key-top", head("? [a, b]\n: 1\n"), "bad.yaml:4"),
    scenario("yaml-complex-key-set", head("set:\n  ? [a, b]\n  : 1\n"), "set"),
    scenario("yaml-duplicate-key", head("set: {}\nset: {}\n"), "appears twice"),
    scenario("yaml-alias-bomb", alias_bomb(), "alias"),
    scenario("yaml-nested-3000-lists", head("set: " + "[" * 3000 + "]" * 3000 + "\n"), "deep"),
    scenario("yaml-nested-3000-maps", head("set: " + "{a: " * 3000 + "1" + "}" * 3000), "deep"),
    scenario(
        "latin-1",
        "name: bad\ntitle: {en: Caf\xe9, ja: x}\ndescription: {en: d, ja: d}\n".encode("latin-1"),
        "UTF-8",
    ),
    scenario("binary", bytes(range(256)) * 8, "binary"),
    scenario("empty", b"", "mapping"),
    scenario("over-1-MB", head("# padding padding padding padding\n" * 32_000), "too large"),
    scenario("a-list", "- just\n- a list\n", ":1:", "mapping"),
    scenario("a-scalar", "just some text\n", ":1:", "mapping"),
    Case(
        "scenario-is-a-directory",
        ("run", "scenarios/folder.yaml", "--out", "results/earlier"),
        ("scenarios/folder.yaml",),
        {"scenarios/folder.yaml": DIR},
    ),
    Case(
        "scenario-missing",
        ("run", "scenarios/nosuch.yaml", "--out", "results/earlier"),
        ("scenarios/nosuch.yaml",),
    ),
    # --- top-level keys, name, title, description
    scenario("unknown-top-key", head("polices: []\n"), ":4:", "polices"),
    scenario("numeric-top-key", head("2033: 1\n"), "2033"),
    scenario("key-with-a-newline", head('"a\\nb": 1\n'), ":4:"),
    scenario("name-with-a-carriage-return", HEAD.replace("name: bad", 'name: "bad\\rx"'), ":1:"),
    scenario("missing-name", HEAD.replace("name: bad\n", ""), "'name'"),
    scenario("missing-title", HEAD.replace("title: {en: A test, ja: テスト}\n", ""), "'title'"),
    scenario("missing-description", "name: bad\ntitle: {en: A, ja: B}\n", "'description'"),
    scenario("name-differs", HEAD.replace("name: bad", "name: other"), ":1:", "other"),
    scenario("name-not-text", HEAD.replace("name: bad", "name: [bad]"), ":1:", "name"),
    scenario("name-empty", HEAD.replace("name: bad", "name: ''"), ":1:", "name"),
    scenario("title-missing-ja", HEAD.replace(", ja: テスト}", "}"), ":2:", "title.ja"),
    scenario(
        "description-missing-en",
        HEAD.replace("{en: A test scenario., ", "{"),
        ":3:",
        "description.en",
    ),
    scenario("title-not-a-mapping", HEAD.replace("{en: A test, ja: テスト}", "A test"), "title"),
    scenario("title-en-a-list", HEAD.replace("en: A test,", "en: [A, test],"), "title.en"),
    scenario("title-ja-a-number", HEAD.replace("ja: テスト}", "ja: 5}"), "title.ja"),
    scenario("title-ja-empty", HEAD.replace("ja: テスト}", "ja: ''}"), "title.ja"),
    scenario("title-unknown-language", HEAD.replace("ja: テスト}", "ja: テスト, fr: Test}"), "fr"),
    # --- set
    scenario(
        "unknown-constant",
        set_("0.3", "scholarship coverage targe"),
        "set.scholarship coverage targe",
        "scholarship coverage target",
    ),
    scenario("set-a-lookup", set_("3", "exchange rate yen per usd"), "exchange rate yen per usd"),
    scenario("set-an-auxiliary", set_("3", "exchange rate"), "set.exchange rate"),
    scenario("set-name-a-number", head("set: {5: 1}\n"), "set"),
    scenario("set-not-a-mapping", head("set: [1, 2]\n"), "set"),
    scenario("set-above-range", set_("1.5"), ":5:", "outside the range [0, 1]"),
    scenario("set-below-range", set_("-0.1"), ":5:", "outside the range [0, 1]"),
    scenario("set-not-a-number", set_("lots"), "'lots' is not a number"),
    scenario("set-a-list", set_("[0.1, 0.2]"), "set.scholarship coverage target"),
    scenario("set-nan", set_(".nan"), "not a finite number"),
    scenario("set-inf", set_(".inf"), "not a finite number"),
    scenario("set-minus-inf", set_("-.inf"), "not a finite number"),
    scenario("set-boolean", set_("true"), "not a number"),
    scenario("set-null", set_("null"), "set.scholarship coverage target"),
    # --- policies
    scenario("policies-not-a-list", head("policies: {lever: x}\n"), "policies"),
    scenario("policy-not-a-mapping", head("policies:\n  - scholarship coverage\n"), "policies[0]"),
    scenario("policy-unknown-key", policy(start=2026), "policies[0].start"),
    scenario("policy-missing-to", policy(to=None), "policies[0]", "'to'"),
    scenario("unknown-lever", policy(lever="scholarships"), "policies[0].lever"),
    scenario("lever-is-a-constant", policy(lever="reference exchange rate"), "policies[0].lever"),
    scenario("lever-a-number", policy(lever=5), "policies[0].lever"),
    scenario("lever-to-above-range", policy(to=1.5), "policies[0].to", "outside the range"),
    scenario("lever-from-before-2024", policy(**{"from": 2020}), "policies[0].from"),
    scenario("lever-ramp-years-0", policy(ramp_years=0), "policies[0].ramp_years"),
    scenario("lever-to-not-a-number", policy(to="lots"), "policies[0].to"),
    scenario("lever-to-boolean", policy(to="yes"), "policies[0].to"),
    scenario("lever-from-inf", policy(**{"from": ".inf"}), "policies[0].from"),
    scenario(
        "lever-moved-twice",
        head(
            "policies:\n"
            "  - {lever: scholarship coverage, from: 2026, ramp_years: 4, to: 0.3}\n"
            "  - {lever: scholarship coverage, from: 2026, ramp_years: 4, to: 0.4}\n"
        ),
        "policies[1].lever",
        "twice",
    ),
    scenario("lever-from-after-2040", policy(**{"from": 2045}), "policies[0].from", "2045"),
    # --- extends
    scenario("extends-missing", head("extends: basline\n"), "extends", "basline"),
    scenario("extends-missing-path", head("extends: ../other/base.yaml\n"), "extends"),
    scenario("extends-itself", head("extends: bad\n"), "extends", "cycle"),
    Case(
        "extends-cycle",
        ("run", BAD, "--out", "results/earlier"),
        ("scenarios/loop.yaml:4", "extends", "cycle"),  # the place that closes the cycle
        {
            BAD: head("extends: loop\n"),
            "scenarios/loop.yaml": "name: loop\ntitle: {en: L, ja: L}\n"
            "description: {en: L, ja: L}\nextends: bad\n",
        },
    ),
    scenario("extends-not-text", head("extends: [baseline]\n"), "extends"),
    scenario("extends-a-number", head("extends: 5\n"), "extends"),
    Case(
        "extends-a-broken-base",
        ("run", BAD, "--out", "results/earlier"),
        ("scenarios/broken.yaml", "polices"),
        {
            BAD: head("extends: broken\n"),
            "scenarios/broken.yaml": "name: broken\ntitle: {en: B, ja: B}\n"
            "description: {en: B, ja: B}\npolices: []\n",
        },
    ),
    # --- series
    scenario("unknown-lookup", series("{2030: 170}", "exchange rate"), "series.exchange rate"),
    scenario("series-of-a-constant", series("{2030: 1}", "reference exchange rate"), "series"),
    scenario("series-not-a-mapping", series("150"), "series.exchange rate yen per usd"),
    scenario("series-empty", series("{}"), "series.exchange rate yen per usd"),
    scenario("series-years-decreasing", series("{2030: 170, 2025: 160}"), "increasing"),
    scenario("series-before-2024", series("{2020: 100, 2030: 150}"), "2020", "2024"),
    scenario("series-outside-span", series("{2030: 150, 2050: 160}"), "2050", "span"),
    scenario("series-1000-yen", series("{2030: 1000}"), "1000", "range"),
    scenario("series-negative", series("{2030: -5}"), "-5", "range"),
    scenario("series-year-text", series("{soon: 150}"), "not a number"),
    scenario("series-value-nan", series("{2030: .nan}"), "not a finite number"),
    scenario("series-year-twice", series("{2030: 150, 2030: 160}"), "twice"),
    # --- targets
    scenario("targets-not-a-list", head("targets: {variable: x}\n"), "targets"),
    scenario("target-not-a-mapping", head("targets:\n  - 5\n"), "targets[0]"),
    scenario("target-unknown-key", target(when=2033), "targets[0].when"),
    scenario("target-unknown-variable", target(variable="students"), "targets[0].variable"),
    scenario(
        "target-a-constant", target(variable="reference exchange rate"), "targets[0].variable"
    ),
    scenario("target-no-variable", target(variable=None), "targets[0]"),
    scenario("target-year-not-whole", target(year=2033.5), "targets[0].year"),
    scenario("target-year-text", target(year="'2033'"), "targets[0].year"),
    scenario("target-year-missing", target(year=None), "targets[0].year"),
    scenario("target-year-after-run", target(year=2050), "targets[0].year", "2050"),
    scenario("target-year-before-run", target(year=1990), "targets[0].year", "1990"),
    scenario(
        "target-2039-fiscal-year-output",
        target(variable="japanese students abroad per year", year=2039),
        "targets[0].year",
        "2039",
    ),
    scenario("target-at-least-and-at-most", target(at_most=500000), "targets[0]", "exactly one"),
    scenario("target-no-level", target(at_least=None), "targets[0]", "exactly one"),
    scenario("target-level-text", target(at_least="lots"), "targets[0].at_least"),
    scenario("target-level-nan", target(at_least=".nan"), "targets[0].at_least"),
    # --- uncertainty
    scenario("uncertainty-unknown-text", head("uncertainty: some\n"), "uncertainty"),
    scenario("uncertainty-a-list", head("uncertainty: [none]\n"), "uncertainty"),
    scenario(
        "uncertainty-unknown-key",
        head(
            "uncertainty:\n  distributions:\n"
            "    exchange rate perception time: {uniform: [0.5, 2]}\n  sead: 1\n"
        ),
        "uncertainty.sead",
    ),
    scenario("uncertainty-no-distributions", head("uncertainty: {samples: 10}\n"), "uncertainty"),
    scenario(
        "uncertainty-ensemble-missing",
        head("uncertainty: {ensemble: model/nosuch.csv}\n"),
        "nosuch.csv",
    ),
    scenario("dist-unknown-constant", dist("{uniform: [0.5, 2]}", "perception"), "perception"),
    scenario("dist-unknown-family", dist("{gaussian: [1, 0.1]}"), "gaussian"),
    scenario("dist-two-families", dist("{uniform: [0.5, 2], normal: [1, 0.1]}"), "uncertainty"),
    scenario("dist-not-a-mapping", dist("[0.5, 2]"), "uncertainty.distributions"),
    scenario("dist-params-not-a-list", dist("{uniform: 1}"), "uniform"),
    scenario("dist-uniform-one-number", dist("{uniform: [1]}"), "uniform", "2 numbers"),
    scenario("dist-normal-three-numbers", dist("{normal: [1, 0.1, 3]}"), "normal"),
    scenario("dist-low-above-high", dist("{uniform: [2, 1]}"), "low < high"),
    scenario("dist-low-equals-high", dist("{uniform: [1, 1]}"), "low < high"),
    scenario("dist-triangular-mode-outside", dist("{triangular: [1, 2.5, 2]}"), "triangular"),
    scenario("dist-uniform-outside-range", dist("{uniform: [0.1, 2]}"), "range"),
    scenario("dist-sd-zero", dist("{normal: [1, 0]}"), "standard deviation"),
    scenario("dist-sd-negative", dist("{normal: [1, -1]}"), "standard deviation"),
    scenario("dist-mean-outside-range", dist("{normal: [5, 0.1]}"), "range"),
    scenario(
        "dist-normal-4-100-on-1-10",
        dist("{normal: [4, 100]}", ONE_TO_TEN),
        "normal(4, 100)",
        "[1, 10]",
    ),
    scenario("dist-param-text", dist("{uniform: [low, 2]}"), "uniform"),
    scenario("dist-param-boolean", dist("{uniform: [0.5, true]}"), "uniform"),
    scenario("samples-0", dist("{uniform: [0.5, 2]}").replace("samples: 10", "samples: 0"), "sam"),
    scenario(
        "samples-not-whole",
        dist("{uniform: [0.5, 2]}").replace("samples: 10", "samples: 2.5"),
        "uncertainty.samples",
    ),
    scenario(
        "samples-text",
        dist("{uniform: [0.5, 2]}").replace("samples: 10", "samples: many"),
        "uncertainty.samples",
    ),
    scenario(
        "samples-1e9",
        dist("{uniform: [0.5, 2]}").replace("samples: 10", "samples: 1000000000"),
        "uncertainty.samples",
        "memory",
    ),
    scenario(
        "seed-negative",
        dist("{uniform: [0.5, 2]}") + "  seed: -1\n",
        "uncertainty.seed",
    ),
    scenario(
        "seed-not-whole",
        dist("{uniform: [0.5, 2]}") + "  seed: 1.5\n",
        "uncertainty.seed",
    ),
]


def _mdl_text(equations: str) -> str:
    """The text ``write_mdl`` writes for ``equations``."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        return write_mdl(Path(folder) / "m.mdl", equations).read_text(encoding="utf-8")


UNITS = "\n\t~\tdmnl\n\t~\tassumption: test value\n\t|\n"
DEEP = _mdl_text(SMALL_MODEL + "x = " + "(" * 5000 + "a" + ")" * 5000 + UNITS)
LONG = _mdl_text(SMALL_MODEL + "x = " + " + ".join(["a"] * 3000) + UNITS)
BINARY = bytes(range(256)) * 16
SWEEP = ("sweep", "scenarios/quick.yaml", "--out", "results/sweep")
TARGET = ("target", "scenarios/quick.yaml", "--lever", "scholarship coverage")


def sweep(*args: str) -> tuple:
    return (*SWEEP, *args)


def seek(*args: str) -> tuple:
    return (*TARGET, *args)


OPTION_CASES = [
    # --- --out of run, compare and the other commands that write a folder
    Case("run-out-empty", ("run", "scenarios/quick.yaml", "--out", ""), ("--out",)),
    Case("run-out-a-file", ("run", "scenarios/quick.yaml", "--out", "notes.txt"), ("notes.txt",)),
    Case("run-out-here", ("run", "scenarios/quick.yaml", "--out", "."), ("--out .",)),
    Case("run-out-parent", ("run", "scenarios/quick.yaml", "--out", ".."), ("--out ..",)),
    Case("run-out-user-files", ("run", "scenarios/quick.yaml", "--out", "mine"), ("mine",)),
    Case(
        "run-out-file-in-results",
        ("run", "scenarios/quick.yaml", "--out", "results/earlier/targets.csv"),
        ("results/earlier/targets.csv",),
    ),
    Case(
        "run-out-here-force",
        ("run", "scenarios/quick.yaml", "--out", ".", "--force"),
        ("--out .", "never"),
    ),
    Case(
        "run-out-parent-force",
        ("run", "scenarios/quick.yaml", "--out", "..", "--force"),
        ("--out ..", "never"),
    ),
    Case(
        "run-out-a-file-force",
        ("run", "scenarios/quick.yaml", "--out", "notes.txt", "--force"),
        ("notes.txt", "never"),
    ),
    Case(
        "run-out-a-repository-force",
        ("run", "scenarios/quick.yaml", "--out", "repo", "--force"),
        ("repo", "never"),
    ),
    Case("run-no-out", ("run", "scenarios/quick.yaml"), ("--out",)),
    Case(
        "run-model-missing",
        ("run", "scenarios/quick.yaml", "--out", "r", "--model", "model/nosuch.mdl"),
        ("model/nosuch.mdl",),
    ),
    Case(
        "run-model-binary",
        ("run", "scenarios/quick.yaml", "--out", "r", "--model", "model/binary.mdl"),
        ("model/binary.mdl",),
        {"model/binary.mdl": BINARY},
    ),
    Case(
        "run-history-missing",
        ("run", "scenarios/quick.yaml", "--out", "r", "--history", "model/nosuch.csv"),
        ("model/nosuch.csv",),
    ),
    Case(
        "run-history-binary",
        ("run", "scenarios/quick.yaml", "--out", "r", "--history", "model/binary.csv"),
        ("model/binary.csv",),
        {"model/binary.csv": BINARY},
    ),
    Case(
        "run-outputs-unknown",
        ("run", "scenarios/quick.yaml", "--out", "r", "--outputs", "nosuch"),
        ("--outputs", "nosuch"),
    ),
    Case(
        "compare-same-file-twice",
        ("compare", "scenarios/quick.yaml", "scenarios/quick.yaml", "--out", "r"),
        ("quick",),
    ),
    Case(
        "compare-same-name-twice",
        ("compare", "scenarios/quick.yaml", "other/quick.yaml", "--out", "r"),
        ("quick",),
        {"other/quick.yaml": QUICK},
    ),
    Case(
        "compare-out-user-files",
        ("compare", "scenarios/quick.yaml", "--out", "mine"),
        ("--out mine",),
    ),
    # --- sweep
    Case("sweep-unknown-method", sweep("--method", "fast"), ("--method",)),
    Case("sweep-n-too-small", sweep("-n", "3"), ("-n 3",)),
    Case("sweep-n-not-a-power-of-two", sweep("-n", "20"), ("-n 20", "power of two")),
    Case("sweep-n-zero-lhs", sweep("--method", "lhs", "-n", "0"), ("-n 0",)),
    Case("sweep-n-negative-morris", sweep("--method", "morris", "-n", "-4"), ("-n -4",)),
    Case("sweep-n-not-a-number", sweep("-n", "many"), ("-n",)),
    Case("sweep-n-with-oat", sweep("--method", "oat", "-n", "10"), ("-n", "oat")),
    Case(
        "sweep-second-order-morris",
        sweep("--method", "morris", "--second-order"),
        ("--second-order",),
    ),
    Case("sweep-params-empty", sweep("--params"), ("--params",)),
    Case(
        "sweep-params-twice",
        sweep("--method", "oat", "--params", "scholarship coverage", "scholarship coverage"),
        ("--params", "twice"),
    ),
    Case(
        "sweep-params-lever-and-its-constant",
        sweep(
            "--method",
            "oat",
            "--params",
            "scholarship coverage",
            "scholarship coverage target",
        ),
        ("--params", "twice"),
    ),
    Case("sweep-params-unknown", sweep("--params", "nosuch"), ("--params", "nosuch")),
    Case(
        "sweep-params-an-auxiliary",
        sweep("--method", "oat", "--params", "exchange rate"),
        ("--params", "exchange rate"),
    ),
    Case(
        "sweep-params-without-range",
        sweep("--method", "oat", "--params", "jmirai counting period"),
        ("--params", "jmirai counting period"),
    ),
    Case("sweep-seed-negative", sweep("--method", "lhs", "-n", "16", "--seed", "-1"), ("--seed",)),
    Case(
        "sweep-seed-too-large",
        sweep("--method", "lhs", "-n", "16", "--seed", str(2**32)),
        ("--seed",),
    ),
    Case("sweep-n-2-to-the-30", sweep("-n", "1073741824"), ("-n",)),
    Case(
        "sweep-lhs-n-1e9",
        sweep("--method", "lhs", "-n", "1000000000", "--params", "scholarship coverage"),
        ("-n",),
    ),
    Case(
        "sweep-outputs-unknown",
        sweep("--method", "oat", "--outputs", "nosuch"),
        ("--outputs", "nosuch"),
    ),
    Case(
        "sweep-out-user-files",
        ("sweep", "scenarios/quick.yaml", "--method", "oat", "--out", "mine"),
        ("--out mine",),
    ),
    Case(
        "sweep-scenario-missing",
        ("sweep", "scenarios/nosuch.yaml", "--method", "oat", "--out", "r"),
        ("scenarios/nosuch.yaml",),
    ),
    # --- target
    Case("target-probability-0", seek("--goal", GOAL, "--probability", "0"), ("--probability",)),
    Case(
        "target-probability-1.5", seek("--goal", GOAL, "--probability", "1.5"), ("--probability",)
    ),
    Case(
        "target-probability-nan", seek("--goal", GOAL, "--probability", "nan"), ("--probability",)
    ),
    Case(
        "target-probability-text",
        seek("--goal", GOAL, "--probability", "high"),
        ("--probability",),
    ),
    Case("target-tolerance-0", seek("--goal", GOAL, "--tolerance", "0"), ("--tolerance",)),
    Case("target-tolerance-negative", seek("--goal", GOAL, "--tolerance", "-1"), ("--tolerance",)),
    Case("target-tolerance-nan", seek("--goal", GOAL, "--tolerance", "nan"), ("--tolerance",)),
    Case("target-goal-malformed", seek("--goal", "more students"), ("--goal",)),
    Case("target-goal-empty", seek("--goal", ""), ("--goal",)),
    Case("target-goal-unknown-variable", seek("--goal", "nosuch@2033>=5"), ("--goal", "nosuch")),
    Case(
        "target-goal-year-outside",
        seek("--goal", "japanese students abroad per year@2050>=5"),
        ("--goal", "2050"),
    ),
    Case(
        "target-goal-year-2039-fiscal",
        seek("--goal", "japanese students abroad per year@2039>=5"),
        ("--goal", "2039"),
    ),
    Case(
        "target-goal-not-a-number",
        seek("--goal", "japanese students abroad per year@2033>=lots"),
        ("--goal",),
    ),
    Case(
        "target-goal-infinite",
        seek("--goal", "japanese students abroad per year@2033>=1e999"),
        ("--goal",),
    ),
    Case("target-no-goal", TARGET, ("--goal",)),
    Case(
        "target-lever-unknown",
        ("target", "scenarios/quick.yaml", "--lever", "nosuch", "--goal", GOAL),
        ("--lever", "nosuch"),
    ),
    Case(
        "target-lever-an-auxiliary",
        ("target", "scenarios/quick.yaml", "--lever", "exchange rate", "--goal", GOAL),
        ("--lever", "exchange rate"),
    ),
    Case("target-out-user-files", seek("--goal", GOAL, "--out", "mine"), ("--out mine",)),
    # --- history
    Case("history-series-unknown", ("history", "--series", "nosuch"), ("--series", "nosuch")),
    Case("history-years-1800", ("history", "--years", "1800"), ("--years", "1800")),
    Case("history-years-text", ("history", "--years", "recent"), ("--years",)),
    Case(
        "history-file-missing",
        ("history", "--history", "model/nosuch.csv"),
        ("model/nosuch.csv",),
    ),
    Case(
        "history-file-binary",
        ("history", "--history", "model/binary.csv"),
        ("model/binary.csv",),
        {"model/binary.csv": BINARY},
    ),
    Case(
        "history-file-random-bytes",
        ("history", "--history", "model/random.csv"),
        ("model/random.csv",),
        {"model/random.csv": bytes((i * 167 + 13) % 256 for i in range(4096))},
    ),
    Case(
        "history-file-wrong-columns",
        ("history", "--history", "mine/data.csv"),
        ("mine/data.csv",),
    ),
    Case("history-file-a-folder", ("history", "--history", "mine"), ("mine",)),
    Case("history-model-missing", ("history", "model/nosuch.mdl"), ("model/nosuch.mdl",)),
    # --- simulate
    Case(
        "simulate-set-no-equals",
        ("simulate", MDL, "--set", "scholarship coverage target", "--out", "run.csv"),
        ("--set",),
    ),
    Case("simulate-set-no-name", ("simulate", MDL, "--set", "=3", "--out", "run.csv"), ("--set",)),
    Case(
        "simulate-set-unknown",
        ("simulate", MDL, "--set", "nosuch=1", "--out", "run.csv"),
        ("--set", "nosuch"),
    ),
    Case(
        "simulate-set-out-of-range",
        ("simulate", MDL, "--set", "scholarship coverage target=1.5", "--out", "run.csv"),
        ("--set", "scholarship coverage target", "1.5"),
    ),
    Case(
        "simulate-set-nan",
        ("simulate", MDL, "--set", "scholarship coverage target=nan", "--out", "run.csv"),
        ("--set", "scholarship coverage target"),
    ),
    Case(
        "simulate-set-inf",
        ("simulate", MDL, "--set", "scholarship coverage target=inf", "--out", "run.csv"),
        ("--set", "scholarship coverage target"),
    ),
    Case(
        "simulate-set-not-a-number",
        ("simulate", MDL, "--set", "scholarship coverage target=lots", "--out", "run.csv"),
        ("--set", "lots"),
    ),
    Case(
        "simulate-set-an-auxiliary",
        ("simulate", MDL, "--set", "exchange rate=100", "--out", "run.csv"),
        ("--set", "exchange rate"),
    ),
    Case(
        "simulate-method-unknown",
        ("simulate", MDL, "--method", "leapfrog", "--out", "run.csv"),
        ("--method",),
    ),
    Case(
        "simulate-model-missing",
        ("simulate", "model/nosuch.mdl", "--out", "run.csv"),
        ("model/nosuch.mdl",),
    ),
    Case(
        "simulate-model-binary",
        ("simulate", "model/binary.mdl", "--out", "run.csv"),
        ("model/binary.mdl",),
        {"model/binary.mdl": BINARY},
    ),
    Case(
        "simulate-model-not-vensim",
        ("simulate", "notes.txt", "--out", "run.csv"),
        ("notes.txt",),
    ),
    Case("simulate-out-a-folder", ("simulate", MDL, "--out", "mine"), ("mine",)),
    Case("simulate-out-empty", ("simulate", MDL, "--out", ""), ("--out",)),
    # --- check
    Case("check-nested-5000", ("check", "deep.mdl"), ("deep.mdl",), {"deep.mdl": DEEP}),
    Case("check-sum-3000-terms", ("check", "long.mdl"), ("long.mdl",), {"long.mdl": LONG}),
    Case(
        "check-equation-without-a-name",
        ("check", "noname.mdl"),
        ("noname.mdl:2",),
        {"noname.mdl": "{UTF-8}\n=\n\t1\n\t~\tdmnl\n\t~\tassumption: test value\n\t|\n"},
    ),
    Case(
        "check-unclosed-name",
        ("check", "unclosed.mdl"),
        ("unclosed.mdl:2",),
        {"unclosed.mdl": "{UTF-8}\na( =\n\t1\n\t~\tdmnl\n\t~\tassumption: test value\n\t|\n"},
    ),
    Case("check-model-missing", ("check", "model/nosuch.mdl"), ("model/nosuch.mdl",)),
    Case(
        "check-model-binary",
        ("check", "model/binary.mdl"),
        ("model/binary.mdl",),
        {"model/binary.mdl": BINARY},
    ),
    Case("check-model-a-folder", ("check", "mine"), ("mine",)),
    # --- calibrate, brief, document, the command itself
    Case("calibrate-starts-0", ("calibrate", "--out", "cal", "--starts", "0"), ("--starts",)),
    Case("calibrate-samples-0", ("calibrate", "--out", "cal", "--samples", "0"), ("--samples",)),
    Case("calibrate-out-user-files", ("calibrate", "--out", "mine"), ("--out mine",)),
    Case(
        "calibrate-history-missing",
        ("calibrate", "--out", "cal", "--history", "model/nosuch.csv"),
        ("model/nosuch.csv",),
    ),
    Case("brief-out-user-files", ("brief", "--out", "mine"), ("--out mine",)),
    Case("brief-out-a-file", ("brief", "--out", "notes.txt"), ("notes.txt",)),
    Case("brief-headline-user-files", ("brief", "--headline", "mine"), ("--headline mine",)),
    Case("brief-lang-unknown", ("brief", "--lang", "fr"), ("--lang",)),
    Case("document-model-missing", ("document", "model/nosuch.mdl"), ("model/nosuch.mdl",)),
    Case(
        "document-readme-without-markers",
        ("document", MDL, "--readme", "mine/notes.md", "--diagram", "model/diagram"),
        ("mine/notes.md",),
    ),
    Case("unknown-command", ("simulat",), ("simulat",)),
]

CASES = SCENARIO_CASES + OPTION_CASES


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def brainsim(*args, cwd) -> tuple:
    """Run ``python -m sim`` in its own process group; return (status, stdout, stderr).

    After TIMEOUT the whole group is killed and the status is None.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_limit_memory,
    )
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return None, stdout, f"still running after {TIMEOUT} s; killed\n{stderr}"
    return proc.returncode, stdout, stderr


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The project every case starts from, with earlier results brainsim wrote."""
    project = tmp_path_factory.mktemp("template") / "project"
    (project / "model").mkdir(parents=True)
    for name in ("brain_circulation.mdl", "history.csv", "ensemble.csv"):
        shutil.copy(ROOT / "model" / name, project / "model" / name)
    (project / "scenarios").mkdir()
    (project / "scenarios" / "quick.yaml").write_text(QUICK, encoding="utf-8")
    shutil.copy(ROOT / "scenarios" / "baseline.yaml", project / "scenarios" / "baseline.yaml")
    (project / "notes.txt").write_text("my notes\n", encoding="utf-8")
    mine = project / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("# My notes\n\nNothing generated here.\n", encoding="utf-8")
    (mine / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (project / "repo" / ".git").mkdir(parents=True)
    (project / "repo" / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (project / "repo" / "code.py").write_text("print('mine')\n", encoding="utf-8")
    status, _, stderr = brainsim(
        "run", "scenarios/quick.yaml", "--out", "results/earlier", cwd=project
    )
    assert status == 0, stderr
    return project


def _write(project, files: dict) -> None:
    for name, content in files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is DIR:
            path.mkdir()
            (path / "inside.txt").write_text("a file in a folder\n", encoding="utf-8")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@dataclass(frozen=True)
class Outcome:
    status: int | None
    stdout: str
    stderr: str
    unchanged: bool


class Zygote:
    """A process that has imported brainsim and forks a fresh one for each call (zygote.py)."""

    def __init__(self, streams):
        self.streams = streams
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "zygote.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def call(self, args, cwd, name: str) -> tuple:
        """Return (status, stdout, stderr) of ``brainsim args`` in ``cwd``, as brainsim() does."""
        out, err = self.streams / f"{name}.out", self.streams / f"{name}.err"
        request = {
            "args": list(map(str, args)),
            "cwd": str(cwd),
            "out": str(out),
            "err": str(err),
            "timeout": TIMEOUT,
            "memory": MEMORY,
        }
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        status = json.loads(self.proc.stdout.readline())
        stdout, stderr = (p.read_text(encoding="utf-8") for p in (out, err))
        if status is None:
            stderr = f"still running after {TIMEOUT} s; killed\n{stderr}"
        return status, stdout, stderr

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def outcomes(request, template, tmp_path_factory) -> dict:
    """Run every selected case, each its own call in its own copy, on every core at once.

    Each call is a fresh process forked from one that has imported brainsim
    (a zygote), so that the hundreds of calls do not each import numpy.
    """
    selected = {
        item.callspec.params["case"].id
        for item in request.session.items
        if item.module is request.module
        and "case" in getattr(getattr(item, "callspec", None), "params", {})
    }
    folders = {}
    for case in CASES:
        if case.id in selected:
            folders[case.id] = tmp_path_factory.mktemp("case")
            shutil.copytree(template, folders[case.id] / "project")
            _write(folders[case.id] / "project", case.files)

    streams = tmp_path_factory.mktemp("streams")
    width = max(2, os.cpu_count() or 2)
    zygotes = queue.Queue()
    for _ in range(width):
        zygotes.put(Zygote(streams))

    def one(case: Case) -> Outcome:
        folder = folders[case.id]
        before = tree(folder)
        zygote = zygotes.get()
        try:
            status, stdout, stderr = zygote.call(case.args, folder / "project", case.id)
        finally:
            zygotes.put(zygote)
        return Outcome(status, stdout, stderr, tree(folder) == before)

    try:
        with ThreadPoolExecutor(max_workers=width) as pool:
            chosen = [c for c in CASES if c.id in folders]
            return dict(zip(folders, pool.map(one, chosen), strict=True))
    finally:
        while not zygotes.empty():
            zygotes.get().close()


def test_there_are_many_distinct_cases():
    assert len({c.id for c in CASES}) == len(CASES) >= 80
    assert len({(c.args, repr(sorted(c.files.items()))) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(outcomes, case):
    got = outcomes[case.id]
    command = "brainsim " + " ".join(repr(a) if " " in a or not a else a for a in case.args)
    lines = got.stderr.strip().splitlines()
    assert "Traceback" not in got.stderr, f"{command}\n{got.stderr}"
    assert got.status == 2, f"{command}: exit {got.status}\n{got.stderr or got.stdout}"
    assert len(lines) == 1, f"{command}\n{got.stderr}"
    for fragment in case.expect:
        assert fragment in lines[0], f"{command}\n{lines[0]}"
    assert got.unchanged, f"{command} changed or added files"
