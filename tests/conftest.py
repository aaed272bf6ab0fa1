import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
MODELS = DATA / "models"
BAD = DATA / "bad"
ROOT = Path(__file__).parent.parent


@pytest.fixture
def run_cli(tmp_path):
    """Run ``python -m sim`` in a subprocess; return (status, stdout, stderr)."""

    def run(*args, cwd=None):
        proc = subprocess.run(
            [sys.executable, "-m", "sim", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd or tmp_path,
            timeout=300,
        )
        return proc.returncode, proc.stdout, proc.stderr

    return run


def write_mdl(path: Path, equations: str, *, final=10, step=0.25, saveper=1) -> Path:
    """Write a small Vensim model with the given equations and a control section."""
    path.write_text(
        "{UTF-8}\n"
        + equations.strip()
        + f"""
********************************************************
\t.Control
********************************************************~
\t\tSimulation Control Parameters
\t|
FINAL TIME = {final} ~ Year ~ |
INITIAL TIME = 0 ~ Year ~ |
SAVEPER = {saveper} ~ Year [0,?] ~ |
TIME STEP = {step} ~ Year [0,?] ~ |
""",
        encoding="utf-8",
    )
    return path


# A scenario that runs once, fast: for tests of what a command does, not of the model.
QUICK = """\
name: quick
title:
  en: One run
  ja: 一回の実行
description:
  en: The baseline once, without uncertainty.
  ja: 不確実性なしの基準を一回。
uncertainty: none
"""


def tree(folder: Path) -> dict:
    """Return ``{relative path: sha256}`` of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def project_copy(tmp_path: Path, members: int | None = None) -> Path:
    """A copy of the project's model and scenarios with a current headline manifest.

    With ``members``, the copy's ensemble keeps only its first ``members``
    parameter sets: for tests of what a command does (clusters, folders,
    interruptions), which need runs but not all 679 of them.
    """
    import json
    import shutil

    from sim.reports.briefdata import inputs

    for folder in ("model", "scenarios"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    if members is not None:
        _keep_members(tmp_path / "model" / "ensemble.csv", members)
    headline = tmp_path / "docs" / "headline"
    headline.mkdir(parents=True)
    (headline / "manifest.json").write_text(json.dumps({"inputs": inputs(tmp_path)}))
    return tmp_path


def _keep_members(path: Path, n: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    head = [ln for ln in lines if ln.startswith("#")]
    head = [f"# members: {n}\n" if ln.startswith("# members:") else ln for ln in head]
    table = [ln for ln in lines if not ln.startswith("#")]
    path.write_text("".join(head + table[: n + 1]), encoding="utf-8")


# Members in the ensemble of `small_project`: enough runs for every worker to get chunks.
FEW_MEMBERS = 40


@pytest.fixture(scope="session")
def small_project(tmp_path_factory) -> Path:
    """A project copy whose ensemble has :data:`FEW_MEMBERS` members; not to be written to."""
    return project_copy(tmp_path_factory.mktemp("small_project"), members=FEW_MEMBERS)
