"""A calibration made from another model is an error for ``brief --check`` and a warning for runs.

The ensemble (``# model_sha256``) and the fit report (the hash in its first
line) record the ``.mdl`` they were fitted to. Once the model changes, the
parameter sets and the fit statistics describe a model that no longer exists,
so ``make test`` (through ``brainsim brief --check``) must fail until they are
remade, and every scenario run must say so.
"""

import sim
from sim.reports.calibration import stale_calibration

from conftest import ROOT, project_copy


def _change_the_model(root):
    mdl = root / "model" / "brain_circulation.mdl"
    text = mdl.read_text(encoding="utf-8")
    text = text.replace("desired capacity headroom = 1.15", "desired capacity headroom = 1.2")
    mdl.write_text(text, encoding="utf-8")
    return sim.load_model(mdl)


def test_the_shipped_calibration_was_made_from_the_shipped_model():
    assert stale_calibration(ROOT, sim.load_model(ROOT / "model" / "brain_circulation.mdl")) == []


def test_a_changed_model_makes_the_ensemble_and_fit_report_stale(tmp_path):
    root = project_copy(tmp_path)
    notes = stale_calibration(root, _change_the_model(root))
    assert len(notes) == 2
    assert "ensemble.csv was made from model sha256" in notes[0]
    assert "fit_report.md was made from sha256" in notes[1]
    assert all("brainsim calibrate" in note for note in notes)


def test_brief_check_fails_on_a_stale_calibration(tmp_path, run_cli):
    root = project_copy(tmp_path)
    status, _, stderr = run_cli("brief", "--check", "--root", root)
    assert status == 0, stderr
    _change_the_model(root)
    status, _, stderr = run_cli("brief", "--check", "--root", root)
    assert status == 2
    assert "ensemble.csv was made from model sha256" in stderr
    assert "Traceback" not in stderr


def test_a_run_on_a_stale_ensemble_warns_in_one_line(tmp_path, run_cli):
    root = project_copy(tmp_path, members=40)
    _change_the_model(root)
    status, _, stderr = run_cli(
        "run", root / "scenarios" / "baseline.yaml", "--out", tmp_path / "out"
    )
    assert status == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("brainsim: warning:")]
    assert len(warnings) == 1
    assert "rerun brainsim calibrate --update-model" in warnings[0]
