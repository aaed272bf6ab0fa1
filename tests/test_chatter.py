"""The chattering check: a zigzag step after step is found and named; a pulse or a decay is not."""

import numpy as np

import sim
from sim.engine.chatter import find_chattering

from conftest import write_mdl

# Euler on a first-order outflow: each step multiplies the gap by (1 - TIME STEP / tau).
# tau = 0.135 at TIME STEP 0.25 gives -0.85: the level flips sign every step.
FAST = """
level = INTEG(inflow - outflow, 10)
~ widget ~ |
inflow = 0 ~ widget/Year ~ |
outflow = level / tau
~ widget/Year ~ |
tau = 2 ~ Year [0.1, 5] ~ |
"""

# a flow of about 0 one step and thousands the next: MAX(0, ...) of an overshooting rate
CLIPPED = """
queue = INTEG(arrivals - admissions, 100)
~ person ~ |
arrivals = 100 ~ person/Year ~ |
admissions = MAX(0, queue * 2 / TIME STEP - 100 * PULSE(0, 0))
~ person/Year ~ |
"""

PULSES = """
waiting = INTEG(admitted - entering, 0)
~ person ~ |
admitted = 100 ~ person/Year ~ |
entering = waiting / TIME STEP * PULSE TRAIN(0.5, TIME STEP, 2, 100)
~ person/Year ~ |
"""


def test_a_level_that_flips_sign_every_step_is_named_with_its_time_and_runs(tmp_path):
    model = sim.load_model(write_mdl(tmp_path / "fast.mdl", FAST))
    found = find_chattering(model, {"tau": np.array([2.0, 0.135, 1.0, 0.13])})
    assert {ch.variable for ch in found} == {"outflow", "the rate of 'level'"}
    for ch in found:
        assert ch.runs == (1, 3)
        assert ch.time == 0.5  # the first move against the one before
    text = found[0].describe(["a", "b", "c", "d"])
    assert "from time 0.5 in runs b, d" in text


def test_a_flow_jumping_between_zero_and_thousands_chatters(tmp_path):
    model = sim.load_model(write_mdl(tmp_path / "clipped.mdl", CLIPPED))
    found = find_chattering(model)
    assert "admissions" in {ch.variable for ch in found}


def test_pulses_and_smooth_decays_do_not_chatter(tmp_path):
    pulses = sim.load_model(write_mdl(tmp_path / "pulses.mdl", PULSES))
    assert find_chattering(pulses) == []
    decay = sim.load_model(write_mdl(tmp_path / "fast.mdl", FAST))
    assert find_chattering(decay, {"tau": np.array([0.3, 1.0, 5.0])}) == []


def test_brainsim_run_warns_of_chattering_naming_the_variable_time_and_run(run_cli, tmp_path):
    write_mdl(tmp_path / "fast.mdl", FAST)
    (tmp_path / "history.csv").write_text(
        "series,year,value,unit,source,note,model_variable\n", encoding="utf-8"
    )
    for name, tau in (("calm", 2.0), ("fast", 0.135)):
        (tmp_path / f"{name}.yaml").write_text(
            f"name: {name}\ntitle: {{en: A test, ja: テスト}}\n"
            f"description: {{en: A test., ja: テスト。}}\nuncertainty: none\n"
            f"set:\n  tau: {tau}\n",
            encoding="utf-8",
        )
    args = ("--model", "fast.mdl", "--history", "history.csv", "--outputs", "level")
    status, _, stderr = run_cli("run", "calm.yaml", "--out", "calm", *args, cwd=tmp_path)
    assert status == 0, stderr
    assert "zigzag" not in stderr
    status, _, stderr = run_cli("run", "fast.yaml", "--out", "fast", *args, cwd=tmp_path)
    assert status == 0, stderr
    warnings = [line for line in stderr.splitlines() if "zigzags" in line]
    assert len(warnings) == 2  # the outflow and the level's rate
    assert warnings[0].startswith("brainsim: warning: fast.yaml: 'outflow' zigzags")
    assert "from time 0.5 in run 0" in warnings[0]
