"""``brainsim simulate`` end to end, and one test per kind of bad input.

Every bad input gives exactly one line on stderr, exit status 2, no
traceback, and no output file.
"""

import csv

import numpy as np
import pytest

import sim

from conftest import BAD, DATA, MODELS, ROOT


def test_simulate_writes_csv_named_as_in_the_mdl(run_cli, tmp_path):
    mdl = MODELS / "migration_chain.mdl"
    out = tmp_path / "out.csv"
    status, _, err = run_cli("simulate", mdl, "--out", out)
    assert (status, err) == (0, "")
    with open(out, encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    model = sim.load_model(mdl)
    names = [el.name for el in model.spec.elements if el.kind not in ("lookup", "control")]
    assert rows[0] == ["time", *names]
    ctl = model.controls
    expected_rows = int(round((ctl["final_time"] - ctl["initial_time"]) / ctl["saveper"])) + 1
    assert len(rows) - 1 == expected_rows
    ds = sim.simulate(model)
    first_stock = model.spec.of_kind("stock")[0]
    column = [float(r[rows[0].index(first_stock.name)]) for r in rows[1:]]
    assert np.array_equal(column, ds[first_stock.py_name].isel(run=0).values)


def test_simulate_set_and_method(run_cli, tmp_path):
    mdl = MODELS / "exponential_decay.mdl"
    out = tmp_path / "out.csv"
    status, _, err = run_cli(
        "simulate", mdl, "--set", "decay time=10", "--method", "rk4", "--out", out
    )
    assert (status, err) == (0, "")
    with open(out, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    last = rows[-1]
    t = float(last["time"])
    assert float(last["Stock"]) == pytest.approx(100 * np.exp(-t / 10), rel=1e-6)


def test_no_arguments_prints_help(run_cli):
    status, out, _ = run_cli()
    assert status == 0
    assert "simulate" in out


def test_help_has_an_example(run_cli):
    status, out, _ = run_cli("simulate", "--help")
    assert status == 0
    assert "example: brainsim simulate" in out


def _bad(run_cli, tmp_path, *args):
    out = tmp_path / "out" / "result.csv"
    status, stdout, stderr = run_cli(*args, "--out", out)
    assert status == 2
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())
    return lines[0]


def test_missing_file(run_cli, tmp_path):
    line = _bad(run_cli, tmp_path, "simulate", tmp_path / "nowhere.mdl")
    assert "nowhere.mdl: no such model file" in line


def test_syntax_error_names_file_line_and_equation(run_cli, tmp_path):
    line = _bad(run_cli, tmp_path, "simulate", BAD / "syntax_error.mdl")
    assert "syntax_error.mdl:" in line
    assert "Vensim syntax error in the equation of" in line


def test_not_a_model(run_cli, tmp_path):
    line = _bad(run_cli, tmp_path, "simulate", BAD / "not_a_model.mdl")
    assert "not_a_model.mdl" in line


def test_unsupported_function_names_function_and_variable(run_cli, tmp_path):
    line = _bad(run_cli, tmp_path, "simulate", BAD / "unsupported_function.mdl")
    assert "'noise' uses the function GAME" in line


def test_algebraic_cycle(run_cli, tmp_path):
    line = _bad(run_cli, tmp_path, "simulate", BAD / "algebraic_cycle.mdl")
    assert "algebraic loop" in line


def test_ranges_of_equal_length_never_combine_silently(run_cli, tmp_path):
    line = _bad(run_cli, tmp_path, "simulate", BAD / "misaligned_subscripts.mdl")
    assert "'births[north]' uses subscript 'age'" in line
    assert "map the ranges with '->'" in line


def test_unknown_set_name_suggests_closest(run_cli, tmp_path):
    line = _bad(
        run_cli, tmp_path, "simulate", MODELS / "exponential_decay.mdl", "--set", "decay tme=3"
    )
    assert "unknown variable 'decay tme'" in line
    assert "did you mean 'decay time'" in line


def test_non_numeric_set_value(run_cli, tmp_path):
    line = _bad(
        run_cli, tmp_path, "simulate", MODELS / "exponential_decay.mdl", "--set", "decay time=abc"
    )
    assert "'abc' is not a number" in line


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_nan_set_value(run_cli, tmp_path, value):
    line = _bad(
        run_cli,
        tmp_path,
        "simulate",
        MODELS / "exponential_decay.mdl",
        "--set",
        f"decay time={value}",
    )
    assert "NaN or infinite" in line


def test_set_value_out_of_range(run_cli, tmp_path):
    line = _bad(
        run_cli, tmp_path, "simulate", MODELS / "exponential_decay.mdl", "--set", "decay time=0.1"
    )
    assert "outside its range [0.5, 50]" in line


def test_set_of_a_non_constant(run_cli, tmp_path):
    line = _bad(
        run_cli, tmp_path, "simulate", MODELS / "exponential_decay.mdl", "--set", "outflow=3"
    )
    assert "'outflow' is a flow, not a constant" in line


def test_nan_during_run_names_variable_and_time(run_cli, tmp_path):
    line = _bad(run_cli, tmp_path, "simulate", BAD / "nan_during_run.mdl")
    assert "'root term' became NaN or infinite at time 5.25" in line


def test_bad_method(run_cli, tmp_path):
    line = _bad(run_cli, tmp_path, "simulate", MODELS / "exponential_decay.mdl", "--method", "x")
    assert "invalid choice" in line


def test_existing_output_is_left_alone_on_error(run_cli, tmp_path):
    out = tmp_path / "result.csv"
    out.write_text("keep me")
    status, _, _ = run_cli("simulate", BAD / "nan_during_run.mdl", "--out", out)
    assert status == 2
    assert out.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["result.csv"]


def test_check_passes_a_clean_model(run_cli):
    status, out, err = run_cli("check", MODELS / "nested_statefuls.mdl")
    assert (status, err) == (0, "")
    assert "no problems found" in out


def test_check_fails_on_problems(run_cli):
    status, out, _ = run_cli("check", MODELS / "bench_ten_stocks.mdl")
    assert status == 2
    assert "[units]" in out
    assert "[source]" in out


def test_output_file_has_the_usual_permissions(run_cli, tmp_path):
    import os
    import stat

    out = tmp_path / "out.csv"
    status, _, _ = run_cli("simulate", MODELS / "constant_inflow.mdl", "--out", out)
    assert status == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_document_writes_readme_sections_and_diagram_then_checks(run_cli, tmp_path):
    mdl = DATA / "docs" / "admissions.mdl"
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Model\n\nWords.\n\n<!-- constants:start -->\n<!-- constants:end -->\n\n"
        "<!-- diagram:start -->\n<!-- diagram:end -->\n",
        encoding="utf-8",
    )
    diagram = tmp_path / "flows"
    args = ("document", mdl, "--readme", readme, "--diagram", diagram)
    status, _, err = run_cli(*args, "--check")
    assert status == 2
    assert "out of date" in err
    status, _, err = run_cli(*args)
    assert (status, err) == (0, "")
    text = readme.read_text(encoding="utf-8")
    assert "](flows.png)" in text
    assert "| Name |" in text or "| name |" in text.lower()
    assert (tmp_path / "flows.png").stat().st_size > 10_000
    assert (tmp_path / "flows.svg").is_file()
    assert run_cli(*args, "--check")[0] == 0
    readme.write_text(text.replace("Words.", "Words changed."), encoding="utf-8")
    assert run_cli(*args, "--check")[0] == 0  # prose outside the markers is free
    readme.write_text(text.replace("<!-- diagram:end -->", ""), encoding="utf-8")
    status, _, err = run_cli(*args, "--check")
    assert status == 2
    assert "diagram:end" in err


def test_history_prints_model_beside_observations(run_cli):
    status, out, err = run_cli(
        "history",
        ROOT / "model" / "brain_circulation.mdl",
        "--history",
        ROOT / "model" / "history.csv",
        "--series",
        "researchers_dispatched_midlong",
        "--years",
        "2000",
        "2018",
    )
    assert (status, err) == (0, "")
    rows = [line for line in out.splitlines() if line.startswith("| researchers_")]
    assert len(rows) == 2
    assert "| 2000 | 7,674 |" in rows[0]


def test_missing_history_file_is_one_line(run_cli, tmp_path):
    status, _, err = run_cli(
        "history", ROOT / "model" / "brain_circulation.mdl", "--history", tmp_path / "none.csv"
    )
    assert status == 2
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"brainsim: error: {tmp_path / 'none.csv'}: no such history file; give the path of "
        "history.csv"
    ]


def test_every_option_has_help_that_names_its_default():
    import argparse

    from sim.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            flag = "/".join(action.option_strings) or action.dest
            if not action.help:
                missing.append(f"{name} {flag}: no help")
            elif action.default not in (None, False) and "default" not in action.help:
                missing.append(f"{name} {flag}: help does not name its default")
    assert missing == []


def test_version(run_cli):
    status, stdout, _ = run_cli("--version")
    assert status == 0
    assert stdout.startswith("brainsim ")
