"""--out never loses a user's files: brainsim replaces only folders it wrote itself."""

import json
import shutil

import pytest

from sim.engine.files import MARKER

from conftest import QUICK, ROOT, tree


@pytest.fixture
def project(tmp_path):
    """A copy of the model and one quick scenario, in a folder of their own."""
    tmp_path = tmp_path / "project"
    (tmp_path / "model").mkdir(parents=True)
    for name in ("brain_circulation.mdl", "history.csv", "ensemble.csv"):
        shutil.copy(ROOT / "model" / name, tmp_path / "model" / name)
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "quick.yaml").write_text(QUICK, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("my notes\n", encoding="utf-8")
    return tmp_path


def _run(run_cli, project, *out_args):
    return run_cli("run", "scenarios/quick.yaml", *out_args, cwd=project)


@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("scenarios", "holds files brainsim did not write (e.g. quick.yaml)"),
        (".", "is the current folder or one of its parents"),
        ("..", "is the current folder or one of its parents"),
        ("notes.txt", "is a file"),
        ("notes.txt/sub", "is a file, so no folder can be made inside it"),
        ("", "--out is empty"),
        ("model", "holds files brainsim did not write"),
    ],
)
def test_out_that_is_not_ours_is_refused_and_nothing_changes(run_cli, project, out, says):
    before = tree(project.parent)
    status, stdout, stderr = _run(run_cli, project, "--out", out)
    assert status == 2
    assert says in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stderr
    assert tree(project.parent) == before
    assert not list(project.parent.rglob("*.old"))


def test_force_never_replaces_the_current_folder_a_parent_or_a_file(run_cli, project):
    before = tree(project.parent)
    for out in (".", "..", "notes.txt", str(project)):
        status, _, stderr = _run(run_cli, project, "--out", out, "--force")
        assert status == 2, out
        assert "never" in stderr
    assert tree(project.parent) == before


def test_a_project_folder_is_never_replaced(run_cli, project, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere")
    (project / "pyproject.toml").write_text("[project]\n", encoding="utf-8")
    before = tree(project)
    status, _, stderr = run_cli(
        "run",
        project / "scenarios" / "quick.yaml",
        "--model",
        project / "model" / "brain_circulation.mdl",
        "--out",
        project,
        "--force",
        cwd=other,
    )
    assert status == 2
    assert "is a project folder" in stderr
    assert tree(project) == before


def test_a_folder_brainsim_wrote_is_replaced_and_a_foreign_one_only_with_force(run_cli, project):
    status, _, stderr = _run(run_cli, project, "--out", "results/quick")
    assert status == 0, stderr
    out = project / "results" / "quick"
    listed = json.loads((out / MARKER).read_text(encoding="utf-8"))["files"]
    assert sorted(listed) == sorted(p for p in tree(out) if p != MARKER)
    assert "targets.csv" in listed

    # ours: replaced without --force
    status, _, stderr = _run(run_cli, project, "--out", "results/quick")
    assert status == 0, stderr

    # a user's file added to it: now refused, and kept
    (out / "mine.txt").write_text("keep me\n", encoding="utf-8")
    before = tree(project)
    status, _, stderr = _run(run_cli, project, "--out", "results/quick")
    assert status == 2
    assert "mine.txt" in stderr
    assert "--force" in stderr
    assert tree(project) == before

    # with --force the folder is replaced whole
    status, _, stderr = _run(run_cli, project, "--out", "results/quick", "--force")
    assert status == 0, stderr
    assert not (out / "mine.txt").exists()
    assert (out / "targets.csv").is_file()


def test_an_empty_folder_may_be_written(run_cli, project):
    (project / "empty").mkdir()
    status, _, stderr = _run(run_cli, project, "--out", "empty")
    assert status == 0, stderr
    assert (project / "empty" / "targets.csv").is_file()


@pytest.mark.parametrize(
    "args",
    [
        ("compare", "scenarios/quick.yaml"),
        ("sweep", "scenarios/quick.yaml", "--method", "oat", "--params", "scholarship coverage"),
        (
            "target",
            "scenarios/quick.yaml",
            "--lever",
            "scholarship coverage",
            "--goal",
            "japanese students abroad per year@2033>=500000",
        ),
        ("calibrate",),
        ("brief",),
    ],
)
def test_every_command_that_writes_a_folder_refuses_a_foreign_one(run_cli, project, args):
    before = tree(project.parent)
    status, _, stderr = run_cli(*args, "--out", "scenarios", cwd=project)
    assert status == 2, stderr
    assert "holds files brainsim did not write" in stderr
    assert tree(project.parent) == before
