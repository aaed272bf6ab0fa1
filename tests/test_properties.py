"""Property tests of bad input: generated scenario files and .mdl text, valid and broken.

Whatever a user writes, reading it either succeeds or raises a
:class:`~sim.engine.errors.BrainsimError` whose message is one line (for a
scenario, starting with the file's path); never another exception. A few
examples go through the real command line too: exit 0 with every output, or
exit 2 with one line on stderr, never a traceback.
"""

import contextlib
import functools
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import sim
from sim.engine.calls import STATEFULS
from sim.engine.check import check_model
from sim.engine.errors import BrainsimError
from sim.engine.spec import FUNCTIONS
from sim.studies.scenario import Scenario, levers, load_scenario

from conftest import ROOT, write_mdl

MODEL = ROOT / "model" / "brain_circulation.mdl"
TIMEOUT = 120
OUTPUTS = {
    "results.nc",
    "summary.csv",
    "quantiles.csv",
    "targets.csv",
    "targets.md",
    "manifest.json",
    ".brainsim-output.json",
}

FAST = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def model():
    return sim.load_model(MODEL)


@functools.cache
def names() -> dict:
    """The real names a scenario may use, by kind, with each constant's range."""
    m = model()
    elements = m.spec.elements
    return {
        "constants": sorted(e.name for e in elements if e.kind == "constant"),
        "levers": sorted(levers(m)),
        "lookups": sorted(e.name for e in elements if e.kind == "lookup"),
        "variables": sorted(e.name for e in elements if e.kind in ("stock", "flow", "auxiliary")),
        "limits": {e.name: e.limits for e in elements if e.kind == "constant"},
    }


def one_line(err: BaseException) -> str:
    text = str(err)
    assert text, type(err)
    assert "\n" not in text, repr(text)
    assert "\r" not in text, repr(text)
    return text


def outcome(call, *args):
    """Return what ``call(*args)`` returns, or the BrainsimError it raises."""
    try:
        return call(*args)
    except BrainsimError as err:
        return err


# --- scenario documents ---------------------------------------------------------------

WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.floats(allow_nan=True, allow_infinity=True),
)


def number_near(limits) -> st.SearchStrategy:
    """Numbers inside ``limits`` (mostly), at and just past its ends, and wild ones."""
    lo, hi = limits if limits else (None, None)
    lo = -1e6 if lo is None else lo
    hi = 1e6 if hi is None else hi
    inside = st.floats(lo, hi, allow_nan=False) if lo < hi else st.just(lo)
    edges = st.sampled_from([lo, hi, lo - abs(lo) * 0.5 - 1, hi + abs(hi) * 0.5 + 1])
    return st.one_of(inside, inside, inside, edges, st.integers(-(10**12), 10**12), WEIRD)


def name_of(kind: str) -> st.SearchStrategy:
    known = st.sampled_from(names()[kind])
    typo = known.map(lambda n: n[:-1] if len(n) > 2 else n + "x")
    return st.one_of(known, known, known, typo, st.text(max_size=15), WEIRD)


@st.composite
def set_section(draw):
    constants = draw(st.lists(name_of("constants"), max_size=3))
    out = {}
    for name in constants:
        limits = names()["limits"].get(name) if isinstance(name, str) else None
        key = name if isinstance(name, str | int | float | bool) or name is None else str(name)
        out[key] = draw(number_near(limits))
    return out


@st.composite
def policy(draw):
    lever = draw(name_of("levers"))
    limits = names()["limits"].get(f"{lever} target") if isinstance(lever, str) else None
    item = {
        "lever": lever,
        "from": draw(st.one_of(st.just(2026), number_near((2024, 2040)))),
        "ramp_years": draw(st.one_of(st.just(4), number_near((1, 10)))),
        "to": draw(number_near(limits)),
    }
    if draw(st.integers(0, 5)) == 0:
        item.pop(draw(st.sampled_from(sorted(item))))
    if draw(st.integers(0, 8)) == 0:
        item[draw(st.text(min_size=1, max_size=8))] = draw(WEIRD)
    return item


@st.composite
def series_section(draw):
    out = {}
    for name in draw(st.lists(name_of("lookups"), max_size=2)):
        years = draw(
            st.lists(
                st.one_of(st.integers(1990, 2060), st.floats(2000, 2050), WEIRD),
                min_size=0,
                max_size=4,
            )
        )
        points = {}
        for year in years:
            try:
                points[year] = draw(
                    st.one_of(st.floats(0, 250), st.integers(-10, 2_000_000), WEIRD)
                )
            except TypeError:  # an unhashable key: skip it
                continue
        key = name if isinstance(name, str) else str(name)
        out[key] = points if draw(st.integers(0, 6)) else draw(WEIRD)
    return out


@st.composite
def target(draw):
    item = {
        "variable": draw(name_of("variables")),
        "year": draw(st.one_of(st.integers(1995, 2045), st.floats(2000, 2040), WEIRD)),
    }
    senses = draw(st.lists(st.sampled_from(["at_least", "at_most"]), max_size=2, unique=True))
    for sense in senses:
        item[sense] = draw(st.one_of(st.floats(-1e6, 1e7), WEIRD))
    if draw(st.booleans()):
        item["label"] = draw(st.text(max_size=10))
    if draw(st.integers(0, 8)) == 0:
        item[draw(st.text(min_size=1, max_size=8))] = draw(WEIRD)
    return item


@st.composite
def distribution(draw):
    family = draw(st.sampled_from(["uniform", "normal", "triangular", "gaussian", "beta"]))
    count = {"uniform": 2, "normal": 2, "triangular": 3}.get(family, 2)
    count = draw(st.one_of(st.just(count), st.integers(0, 4)))
    params = draw(
        st.lists(
            st.one_of(st.floats(-5, 10), st.integers(-2, 12), WEIRD),
            min_size=count,
            max_size=count,
        )
    )
    if family in ("uniform", "triangular") and draw(st.booleans()):
        with contextlib.suppress(TypeError):  # a list with text in it stays as drawn
            params = sorted(params)
    return {family: params}


@st.composite
def uncertainty(draw, none_only=False):
    if none_only:
        return "none"
    kind = draw(st.sampled_from(["none", "ensemble", "dists", "weird", "bad-key"]))
    if kind in ("none", "ensemble"):
        return kind
    if kind == "weird":
        return draw(WEIRD)
    out = {
        "distributions": draw(
            st.dictionaries(name_of("constants").map(str), distribution(), max_size=2)
        ),
        "samples": draw(st.one_of(st.integers(-2, 40), WEIRD)),
        "seed": draw(st.one_of(st.integers(-3, 2**40), WEIRD)),
    }
    if kind == "bad-key":
        out[draw(st.text(min_size=1, max_size=6))] = 1
    return out


def bilingual(draw) -> object:
    good = {"en": "A scenario", "ja": "シナリオ"}
    choice = draw(st.integers(0, 9))
    if choice < 7:
        return good
    if choice == 7:
        return {k: v for k, v in good.items() if draw(st.booleans())}
    if choice == 8:
        return {**good, draw(st.sampled_from(["en", "ja", "fr"])): draw(WEIRD)}
    return draw(WEIRD)


@st.composite
def scenario_document(draw, stem: str, none_only: bool = False):
    """A scenario as data: mostly well formed, with a few broken parts."""
    doc = {
        "name": draw(st.one_of(st.just(stem), st.just(stem), st.just(stem), WEIRD)),
        "title": bilingual(draw),
        "description": bilingual(draw),
    }
    optional = {
        "extends": lambda: draw(st.sampled_from(["baseline", stem, "nosuch", "../x.yaml", 5])),
        "set": lambda: draw(st.one_of(set_section(), set_section(), WEIRD)),
        "policies": lambda: draw(st.one_of(st.lists(policy(), max_size=3), WEIRD)),
        "series": lambda: draw(st.one_of(series_section(), series_section(), WEIRD)),
        "targets": lambda: draw(st.one_of(st.lists(target(), max_size=2), WEIRD)),
    }
    for key, make in optional.items():
        if draw(st.integers(0, 3)) == 0:
            doc[key] = make()
    if none_only or draw(st.booleans()):
        doc["uncertainty"] = draw(uncertainty(none_only=none_only))
    if draw(st.integers(0, 6)) == 0:
        doc[draw(st.text(min_size=1, max_size=10))] = draw(WEIRD)
    for key in draw(st.lists(st.sampled_from(sorted(doc)), max_size=1)):
        if draw(st.integers(0, 9)) == 0:
            del doc[key]
    return doc


MUTATION_CHARS = st.sampled_from(list(":-[]{}&*!|>#'\"\t\n ,?%@`\\") + ["\x00", "\ufeff", "é"])


@st.composite
def mutated(draw, text: str) -> str:
    """Random edits of YAML text: characters dropped, inserted, lines swapped or cut."""
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["drop", "insert", "swap", "cut", "indent", "repeat"]))
        if not text:
            text = draw(st.text(max_size=20))
            continue
        i = draw(st.integers(0, len(text) - 1))
        if how == "drop":
            text = text[:i] + text[i + draw(st.integers(1, 5)) :]
        elif how == "insert":
            text = text[:i] + draw(st.text(MUTATION_CHARS, min_size=1, max_size=4)) + text[i:]
        elif how == "cut":
            text = text[:i]
        elif how == "repeat":
            text = text[:i] + text[i : i + 40] * draw(st.integers(2, 5)) + text[i:]
        else:
            lines = text.splitlines(keepends=True)
            j = draw(st.integers(0, len(lines) - 1))
            if how == "swap" and len(lines) > 1:
                k = draw(st.integers(0, len(lines) - 1))
                lines[j], lines[k] = lines[k], lines[j]
            else:
                lines[j] = draw(st.sampled_from(["  ", "\t", "- ", "? "])) + lines[j]
            text = "".join(lines)
    return text


def dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=None)


@st.composite
def scenario_file(draw, stem: str = "generated"):
    """The bytes of a scenario file: dumped data, maybe mutated, maybe re-encoded."""
    documents = [valid_document(stem), scenario_document(stem), scenario_document(stem)]
    text = dump(draw(st.one_of(documents)))
    if draw(st.booleans()):
        text = draw(mutated(text))
    encoding = draw(st.sampled_from(["utf-8"] * 8 + ["utf-8-sig", "cp932", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


@pytest.fixture(scope="module")
def folder():
    """A folder with the shipped baseline beside the generated files, for extends."""
    with tempfile.TemporaryDirectory() as name:
        path = Path(name)
        shutil.copy(ROOT / "scenarios" / "baseline.yaml", path / "baseline.yaml")
        yield path


@settings(FAST, max_examples=600)
@given(data=scenario_file())
def test_a_scenario_file_loads_or_is_refused_in_one_line(folder, data):
    path = folder / "generated.yaml"
    path.write_bytes(data)
    scenario = outcome(load_scenario, path, model())
    event("refused" if isinstance(scenario, BrainsimError) else "loaded")
    if isinstance(scenario, BrainsimError):
        assert one_line(scenario).startswith(str(path)), str(scenario)
        return
    assert isinstance(scenario, Scenario)
    assert scenario.name == "generated"
    for value in scenario.set.values():
        assert math.isfinite(value)


@settings(FAST, max_examples=100)
@given(text=st.text(max_size=300))
def test_any_text_as_a_scenario_loads_or_is_refused_in_one_line(folder, text):
    path = folder / "text.yaml"
    path.write_text(text, encoding="utf-8")
    got = outcome(load_scenario, path, model())
    if isinstance(got, BrainsimError):
        assert one_line(got).startswith(str(path)), str(got)
    else:
        assert isinstance(got, Scenario)


def ranged(kind: str) -> list:
    """Names of ``kind`` whose constant has a [min, max] range with min < max."""
    limits = names()["limits"]
    if kind == "levers":
        return [n for n in names()["levers"] if _spread(limits[f"{n} target"])]
    return [n for n in names()["constants"] if _spread(limits[n])]


def _spread(limits) -> bool:
    return None not in limits and limits[0] < limits[1]


@st.composite
def valid_document(draw, stem: str = "generated"):
    """A scenario that should load and run: real names, values inside the .mdl ranges."""
    limits = names()["limits"]
    doc = {
        "name": stem,
        "title": {"en": draw(st.text(min_size=1, max_size=20).filter(str.strip)), "ja": "題"},
        "description": {"en": "Generated.", "ja": "生成。"},
    }
    if draw(st.booleans()):
        doc["extends"] = "baseline"
    chosen = draw(st.lists(st.sampled_from(ranged("constants")), max_size=3, unique=True))
    if chosen:
        doc["set"] = {n: draw(st.floats(*limits[n])) for n in chosen}
    moved = draw(st.lists(st.sampled_from(ranged("levers")), max_size=3, unique=True))
    start, ramp = draw(st.integers(2024, 2036)), draw(st.integers(1, 10))
    doc["policies"] = [
        {
            "lever": n,
            "from": start,
            "ramp_years": ramp,
            "to": draw(st.floats(*limits[f"{n} target"])),
        }
        for n in moved
    ]
    if draw(st.booleans()):
        years = draw(st.lists(st.integers(2024, 2040), min_size=1, max_size=3, unique=True))
        doc["series"] = {
            "exchange rate yen per usd": {y: draw(st.floats(60, 200)) for y in sorted(years)}
        }
    if draw(st.booleans()):
        doc["targets"] = [
            {
                "variable": draw(
                    st.sampled_from(["international students in japan", "net researcher flow"])
                ),
                "year": draw(st.integers(2024, 2038)),
                draw(st.sampled_from(["at_least", "at_most"])): draw(st.floats(-1e6, 1e6)),
            }
        ]
    doc["uncertainty"] = "none"
    return doc


@st.composite
def quick_scenario(draw):
    """A scenario with ``uncertainty: none``: valid, or broken in one place."""
    how = draw(st.sampled_from(["valid", "valid", "generated", "mutated"]))
    if how == "generated":
        return dump(draw(scenario_document("generated", none_only=True)))
    text = dump(draw(valid_document()))
    return draw(mutated(text)) if how == "mutated" else text


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "project"
    (path / "model").mkdir(parents=True)
    for name in ("brain_circulation.mdl", "history.csv", "ensemble.csv"):
        shutil.copy(ROOT / "model" / name, path / "model" / name)
    (path / "scenarios").mkdir()
    shutil.copy(ROOT / "scenarios" / "baseline.yaml", path / "scenarios" / "baseline.yaml")
    return path


def brainsim(*args, cwd) -> tuple:
    proc = subprocess.run(
        [sys.executable, "-m", "sim", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=TIMEOUT,
    )
    return proc.returncode, proc.stdout, proc.stderr


@settings(FAST, max_examples=15)
@given(text=quick_scenario())
def test_a_generated_scenario_runs_whole_or_is_refused_in_one_line(project, text):
    (project / "scenarios" / "generated.yaml").write_text(text, encoding="utf-8")
    out = project / "results"
    if out.exists():
        shutil.rmtree(out)
    status, stdout, stderr = brainsim(
        "run", "scenarios/generated.yaml", "--out", "results", cwd=project
    )
    assert "Traceback" not in stderr, stderr
    event(f"exit {status}")
    if status == 0:
        assert {p.name for p in out.iterdir()} == OUTPUTS, stderr
        assert (out / "targets.csv").read_text(encoding="utf-8").count("\n") >= 8
        assert "| generated |" in stdout
    else:
        assert status == 2, stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert not out.exists()


# --- .mdl text --------------------------------------------------------------------------


def vensim(key: str) -> str:
    """``pulse_train`` -> ``PULSE TRAIN``, as a .mdl writes a function."""
    return key.replace("_", " ").upper()


FUNCTION_NAMES = sorted(FUNCTIONS)
STATEFUL_NAMES = sorted(STATEFULS)
OPERATORS = ["+", "-", "*", "/", "^", "=", "<>", "<", ">", "<=", ">=", ":AND:", ":OR:"]
ATOMS = st.one_of(
    st.sampled_from(["a", "b", "c", "level", "Time", "TIME STEP", "x", "my var", "nosuch"]),
    st.integers(-5, 1000).map(str),
    st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: f"{v:g}"),
    st.sampled_from(["1e3", "0.5", ".5", "1E-2", "2.", "inf", "NaN", ":NA:"]),
    st.sampled_from(
        ["tab(a)", "tab(Time)", "a[i]", "b[one, two]", "WITH LOOKUP(a, ((0,0),(1,1)))"]
    ),
)


def _call(name: str, args: list) -> str:
    return f"{name}({', '.join(args)})"


@st.composite
def expression(draw, depth=0) -> str:
    if depth > 4 or draw(st.integers(0, 3)) == 0:
        return draw(ATOMS)
    kind = draw(st.sampled_from(["op", "op", "neg", "paren", "fn", "stateful", "unknown", "not"]))
    sub = functools.partial(expression, depth=depth + 1)
    if kind == "op":
        return f"{draw(sub())} {draw(st.sampled_from(OPERATORS))} {draw(sub())}"
    if kind == "neg":
        return f"-{draw(sub())}"
    if kind == "not":
        return f":NOT: {draw(sub())}"
    if kind == "paren":
        return f"({draw(sub())})"
    if kind == "fn":
        key = draw(st.sampled_from(FUNCTION_NAMES))
        arity = draw(st.one_of(st.sampled_from(FUNCTIONS[key]), st.integers(0, 5)))
        return _call(vensim(key), [draw(sub()) for _ in range(arity)])
    if kind == "stateful":
        key = draw(st.sampled_from(STATEFUL_NAMES))
        arity = draw(st.one_of(st.just(STATEFULS[key][2]), st.integers(0, 5)))
        return _call(vensim(key), [draw(sub()) for _ in range(arity)])
    name = draw(st.sampled_from(["FOO", "GET XLS DATA", "RANDOM UNIFORM", "VECTOR SELECT"]))
    return _call(name, [draw(sub()) for _ in range(draw(st.integers(0, 3)))])


def equation(name: str, rhs: str, units: str = "dmnl", comment: str = "assumption: test") -> str:
    return f"{name} =\n\t{rhs}\n\t~\t{units}\n\t~\t{comment}\n\t|\n\n"


@st.composite
def model_text(draw) -> str:
    """A small model: constants, a lookup, a stock and auxiliaries with random equations."""
    units = st.sampled_from(["dmnl", "Year", "person", "person/Year", "1/Year", "widget", "?"])
    parts = [
        equation("a", draw(st.sampled_from(["1", "2.5", "-3", "1e2"])), "dmnl [0, 10]"),
        equation("b", "2", draw(st.sampled_from(["dmnl [0,?]", "Year [1, 5]", "dmnl"]))),
        equation("c", draw(expression()), draw(units)),
        "tab(\n\t[(0,0)-(10,10)],(0,0),(5,5),(10,10))\n\t~\tdmnl\n\t~\tassumption: t\n\t|\n\n",
        equation("level", f"INTEG({draw(expression())}, {draw(ATOMS)})", draw(units)),
        equation("x", draw(expression()), draw(units)),
        equation("my var", draw(expression()), draw(units)),
    ]
    if draw(st.booleans()):
        parts.append(equation("deep", "(" * 70 + "a" + ")" * 70))
    return "".join(draw(st.permutations(parts)))


@st.composite
def mdl_mutated(draw) -> str:
    text = draw(model_text())
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(text) - 1))
        how = draw(st.sampled_from(["drop", "paren", "insert", "nest"]))
        if how == "drop":
            text = text[:i] + text[i + draw(st.integers(1, 4)) :]
        elif how == "paren":
            text = text[:i] + draw(st.sampled_from(["(", ")", "((", "))"])) + text[i:]
        elif how == "insert":
            bits = st.sampled_from(list("~|[]{}=:,;\\\"'") + ["\x00", "\n", "é", ":MACRO:"])
            text = text[:i] + "".join(draw(st.lists(bits, min_size=1, max_size=3))) + text[i:]
        else:
            depth = draw(st.integers(50, 3000))
            text = text.replace("c =\n\t", "c =\n\t" + "(" * depth + "a" + ")" * depth + " + ", 1)
    return text


def write_model(path: Path, text: str) -> Path:
    write_mdl(path, text)
    return path


@settings(FAST, max_examples=300)
@given(text=mdl_mutated())
def test_a_model_text_is_checked_or_refused_in_one_line(text):
    with tempfile.TemporaryDirectory() as name:
        path = write_model(Path(name) / "m.mdl", text)
        spec = outcome(sim.read_mdl, path)
        problems = spec if isinstance(spec, BrainsimError) else outcome(check_model, spec)
    if isinstance(problems, BrainsimError):
        one_line(problems)
    else:
        assert isinstance(problems, list)


@settings(FAST, max_examples=8)
@given(text=mdl_mutated())
def test_brainsim_check_exits_0_or_2_without_a_traceback(tmp_path_factory, text):
    path = write_model(tmp_path_factory.mktemp("check") / "m.mdl", text)
    status, stdout, stderr = brainsim("check", path.name, cwd=path.parent)
    assert "Traceback" not in stderr, stderr
    assert status in (0, 2), stderr
    if stderr.strip():
        assert status == 2
        assert len(stderr.strip().splitlines()) == 1, stderr


# --- subscripted models -----------------------------------------------------------------

BASE = [
    "r: a, b, c ~~|",
    "q: (x1-x3) ~~|",
    "x[r] = 1, 2, 3 ~ dmnl ~ |",
    "z[q] = 4, 5, 6 ~ dmnl ~ |",
    "y[r, q] = 1 + r * q ~ dmnl ~ |",
]
RANGES = ["s: a, b ~~|", "m: u, v, w -> r ~~|", "e <-> r ~~|", "g: s, c ~~|", "k: p1, p2 ~~|"]
LEFT = ["[r]", "[s]", "[a]", "[r, q]", "[q, r]", "[q]", "[m]", "[r] :EXCEPT: [b]", "", "[e]"]
RIGHT = [
    "1, 2, 3",
    "1, 2; 3, 4",
    "TABBED ARRAY(1 2 3)",
    "x[r] * 2",
    "x[a] + 1",
    "SUM(x[r!])",
    "SUM(y[r!, q!])",
    "VMAX(x[r!]) - VMIN(x[s!])",
    "PROD(z[q!])",
    "x[m]",
    "x[e]",
    "y[r, q] / z[q]",
    "ELMCOUNT(r) + r",
    "VECTOR SORT ORDER(x[r], 1)",
    "VECTOR RANK(x[r], -1)",
    "SMOOTH(x[r], 2)",
    "DELAY3(z[q], 1)",
    "INTEG(x[r], 1)",
    "RANDOM UNIFORM(0, 1, 0)",
    "x[q]",
    "SUM(x[r])",
    "x",
    "Time",
]


@st.composite
def subscripted_text(draw) -> str:
    """A small subscripted model: ranges, then equations of random shape (many wrong)."""
    ranges = draw(st.lists(st.sampled_from(RANGES), max_size=4, unique=True))
    equations = [
        f"w{i}{draw(st.sampled_from(LEFT))} = {draw(st.sampled_from(RIGHT))} ~ dmnl ~ |"
        for i in range(draw(st.integers(1, 5)))
    ]
    text = "\n".join(BASE + ranges + equations) + "\n"
    for _ in range(draw(st.integers(0, 1))):
        i = draw(st.integers(0, len(text) - 1))
        bit = draw(st.sampled_from(["[", "]", ",", "!", ":", "->", "<->", ";", "(", ")"]))
        text = text[:i] + bit + text[i:]
    return text


@settings(FAST, max_examples=300)
@given(text=subscripted_text())
def test_a_subscripted_model_runs_or_is_refused_in_one_line(text):
    with tempfile.TemporaryDirectory() as name:
        path = write_mdl(Path(name) / "m.mdl", text, final=2, step=0.5)
        model = outcome(sim.load_model, path)
        result = model if isinstance(model, BrainsimError) else outcome(sim.simulate, model)
    if isinstance(result, BrainsimError):
        event(type(result).__name__)
        one_line(result)
    else:
        event("ran")
        assert result.sizes["time"] == 3  # 0, 1 and 2 (SAVEPER 1)
