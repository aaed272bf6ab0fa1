"""The explorer's session and web API, in-process on the shipped model (no browser here).

The browser tests (test_explorer_browser.py) drive the same app through Chromium.
"""

import csv
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

import sim
from sim.explorer.server import Queue, create_app
from sim.explorer.session import Session
from sim.explorer.state import RANGE_LABELS, controls
from sim.studies.calibrate import read_ensemble
from sim.studies.live import LiveRuns
from sim.studies.runner import run_scenarios
from sim.studies.scenario import load_scenario

ROOT = Path(__file__).parent.parent
MOVE = {
    "base": "baseline",
    "policies": {"scholarship coverage": {"to": 0.4, "from": 2027, "ramp": 3}},
}


@pytest.fixture(scope="module")
def model():
    return sim.load_model(ROOT / "model" / "brain_circulation.mdl")


@pytest.fixture(scope="module")
def session(model, small_project):
    # the first 40 members: what the page shows and what a run of its YAML gives
    return Session(model, small_project, small_project / "scenarios", model.spec.sha256[:12])


@pytest.fixture(scope="module")
def client(session):
    from fastapi.testclient import TestClient

    return TestClient(create_app(session, queue=4))


def test_every_lever_and_budget_has_a_control_with_ordered_labelled_marks(model):
    from sim.studies.scenario import budget_levers, levers

    ctl = controls(model)
    assert {c["key"] for c in ctl if c["kind"] == "lever"} == set(levers(model))
    assert {c["key"] for c in ctl if c["kind"] == "budget"} == set(budget_levers(model))
    for c in ctl:
        marks = [c["marks"][k] for k in RANGE_LABELS]
        assert marks == sorted(marks), c["key"]
        assert marks[0] == c["min"]
        assert marks[-1] == c["max"]
        assert marks[2] == c["baseline"], "the status quo mark is the baseline"
        assert c["programme"]["en"]
        assert c["unit"]


def test_live_runs_give_the_runner_s_numbers_to_the_bit(model, small_project):
    root = small_project
    base = load_scenario(root / "scenarios" / "baseline.yaml", model)
    live = LiveRuns(model, base, root)
    # policies and budgets: carried on from the cached stem; a yen path: run whole
    for name in ("expanded-scholarships", "jmirai-package-yen", "weak-yen"):
        scenario = load_scenario(root / "scenarios" / f"{name}.yaml", model)
        mine = live.run(scenario)
        ref = run_scenarios([scenario], model, live.timing, root, workers=1)[0]
        assert mine.values.keys() == ref.values.keys()
        for key, arr in ref.values.items():
            np.testing.assert_array_equal(mine.values[key], arr, err_msg=f"{name}: {key}")
    members = len(read_ensemble(root / "model" / "ensemble.csv", model)[2])
    assert live.run(base).values["international students in japan"].shape[1] == members


def test_an_unchanged_state_gives_the_baseline_and_a_moved_lever_changes_it(session):
    same = session.run({"base": "baseline"})
    probs = {r["variable"]: (r["probability"], r["baseline_probability"]) for r in same["targets"]}
    assert all(p == b for p, b in probs.values())
    moved = session.run(MOVE)
    row = next(
        r
        for r in moved["targets"]
        if r["variable"] == "university short and mid term participants per year"
    )
    # scholarship coverage 0.4 from 2027: about +9% on the first 40 members, +10% on all 679
    assert row["p50"] > row["baseline_p50"] * 1.05
    assert (
        moved["bands"]["japanese students abroad per year"]["p50"][-1]
        > same["bands"]["japanese students abroad per year"]["p50"][-1]
    )


def test_the_yaml_reproduces_the_page_with_brainsim_run(session, run_cli, tmp_path, small_project):
    shown = session.run(MOVE)
    path = tmp_path / "explorer.yaml"
    path.write_text(shown["yaml"], encoding="utf-8")
    status, _, err = run_cli("run", path, "--out", tmp_path / "out", cwd=small_project)
    assert status == 0, err
    with open(tmp_path / "out" / "targets.csv", encoding="utf-8") as fh:
        rows = {r["variable"]: r for r in csv.DictReader(fh)}
    for r in shown["targets"]:
        got = rows[r["variable"]]
        assert math.isclose(float(got["p50"]), r["p50"], rel_tol=1e-12), r["variable"]
        assert math.isclose(float(got["probability"]), r["probability"], abs_tol=1e-12)


def test_a_budget_state_runs_and_costs_more_than_the_baseline(session):
    budget = {
        "base": "baseline",
        "budgets": {"jsps overseas fellowship": {"to": 170, "from": 2026, "ramp": 4}},
    }
    out = session.run(budget)
    assert out["cost"]["p50"] > 0
    assert "jsps overseas fellowship" in yaml.safe_load(out["yaml"])["budgets"][0]["programme"]


def test_a_shipped_scenario_loads_as_a_state_that_reproduces_it(session, model, small_project):
    state = session.state_of("jmirai-package")
    assert state["base"] == "jmirai-package"
    assert state["policies"]
    via_state = session.run(state)
    scenario = load_scenario(small_project / "scenarios" / "jmirai-package.yaml", model)
    ref = run_scenarios([scenario], model, session.live.timing, small_project, workers=1)[0]
    got = {r["variable"]: r["p50"] for r in via_state["targets"]}
    for var, arr in ref.values.items():
        if var in got:
            year = next(r["year"] for r in via_state["targets"] if r["variable"] == var)
            at = int(np.searchsorted(ref.years, year))
            assert math.isclose(got[var], float(np.median(arr[at])), rel_tol=1e-12), var


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ({"policies": {"scholarship coverage": {"to": 7, "from": 2026, "ramp": 4}}}, "range"),
        (
            {"policies": {"scholarship coverag": {"to": 0.2, "from": 2026, "ramp": 4}}},
            "did you mean",
        ),
        (
            {"policies": {"scholarship coverage": {"to": "lots", "from": 2026, "ramp": 4}}},
            "number",
        ),
        ({"policies": {"scholarship coverage": {"to": 0.2, "from": 2026}}}, "lacks ramp"),
        ({"base": "no-such-scenario"}, "unknown starting scenario"),
        (
            {
                "policies": {"researcher fellowships": {"to": 200, "from": 2026, "ramp": 4}},
                "budgets": {"jsps overseas fellowship": {"to": 170, "from": 2026, "ramp": 4}},
            },
            "set one of them",
        ),
    ],
)
def test_bad_values_from_the_browser_get_one_line_and_no_traceback(client, state, words):
    response = client.post("/api/run", json={"state": state, "client": "t", "seq": 1})
    assert response.status_code == 400
    error = response.json()["error"]
    assert words in error.lower(), error
    assert "\n" not in error
    assert "Traceback" not in error
    assert "/tmp" not in error, "the message names the explorer's scenario, not a temp file"


def test_nan_from_the_browser_is_refused(client):
    state = {"policies": {"scholarship coverage": {"to": math.nan, "from": 2026, "ramp": 4}}}
    text = '{"state": ' + __import__("json").dumps(state) + ', "client": "t", "seq": 2}'
    response = client.post("/api/run", content=text, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "\n" not in response.json()["error"]


def test_the_page_meta_and_static_files_are_served(client, session):
    meta = client.get("/api/meta").json()
    assert meta["version"] == session.version
    assert set(meta["charts"]) <= set(meta["baseline"])
    assert all(k.startswith("ui_") for k in meta["labels"])
    assert all(set(v) == {"en", "ja"} for v in meta["labels"].values())
    employment = [v for _, v in meta["history"]["domestic employment rate jmirai basis"]]
    assert all(0 < v < 1 for v in employment), "percent observations as fractions"
    # fitted on JASSO's counting basis ("... counted"), drawn on the stock's chart
    students = dict(meta["history"]["international students in japan"])
    assert students[2019] == 312214
    assert 2022 in students
    assert client.get("/").text.count("/static/app.js") == 1
    assert client.get("/vendor/plotly.min.js").status_code == 200
    assert client.get("/static/nothing.js").status_code == 404


def test_a_user_scenario_file_becomes_a_starting_point(client):
    text = (ROOT / "scenarios" / "expanded-scholarships.yaml").read_text(encoding="utf-8")
    text = text.replace("name: expanded-scholarships", "name: my-plan").replace(
        "to: 0.3", "to: 0.35"
    )
    state = client.post("/api/upload", json={"text": text}).json()
    assert state["base"] == "my-plan (file)"
    assert state["policies"]["scholarship coverage"]["to"] == 0.35
    assert (
        client.post("/api/run", json={"state": state, "client": "u", "seq": 1}).status_code == 200
    )
    bad = client.post("/api/upload", json={"text": text.replace("to: 0.35", "to: 9")})
    assert bad.status_code == 400
    assert "my-plan.yaml" in bad.json()["error"]


def test_the_queue_is_bounded_and_drops_a_client_s_stale_runs():
    queue = Queue(2)
    assert queue.admit("a", 1)
    assert queue.admit("b", 1)
    assert not queue.admit("c", 1), "a third run at once is refused"
    queue.release()
    assert queue.admit("a", 2)
    assert queue.stale("a", 1)
    assert not queue.stale("a", 2)
    assert not queue.stale("b", 1)


def test_a_full_queue_answers_busy_in_one_line(session):
    from fastapi.testclient import TestClient

    app = create_app(session, queue=1)
    gate, started = threading.Event(), threading.Event()
    original = session.run

    def slow(state, wanted=lambda: True):
        started.set()
        gate.wait(30)
        return original(state, wanted)

    session.run = slow
    try:
        with TestClient(app) as c:
            first = threading.Thread(
                target=c.post, args=("/api/run",), kwargs={"json": {"client": "x", "seq": 1}}
            )
            first.start()
            assert started.wait(30)
            busy = c.post("/api/run", json={"client": "y", "seq": 1})
            gate.set()
            first.join(60)
    finally:
        session.run = original
    assert busy.status_code == 503
    assert "busy" in busy.json()["error"]


def test_brainsim_explore_serves_localhost_and_warns_for_another_host(tmp_path):
    import json
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "sim", "explore", "--port", str(port), "--no-browser"]
    proc = subprocess.Popen(
        [*args, "--host", "0.0.0.0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        line = proc.stdout.readline().decode()
        assert f"http://0.0.0.0:{port}/" in line
        deadline, meta = time.time() + 60, None
        while meta is None and time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/meta", timeout=5) as r:
                    meta = json.load(r)
            except OSError:
                time.sleep(0.2)
        assert meta is not None
        assert meta["charts"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "warning: serving on 0.0.0.0" in err.decode()


def test_a_bad_port_is_one_line_and_exit_2(run_cli):
    status, _, err = run_cli("explore", "--port", "70000", "--no-browser", cwd=ROOT)
    assert status == 2
    assert err.strip().count("\n") == 0
    assert "--port 70000" in err


def test_a_port_in_use_is_one_line_and_exit_2(run_cli):
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        status, out, err = run_cli("explore", "--port", port, "--no-browser", cwd=ROOT)
    assert status == 2
    assert err.strip().count("\n") == 0
    assert f"--port {port}" in err
    assert "http://" not in out, "no address printed for a server that never started"


def test_the_detail_view_gives_bands_of_any_variable_for_baseline_and_scenario(client):
    body = {"state": MOVE, "variable": "study abroad returnees", "client": "d", "seq": 1}
    out = client.post("/api/detail", json=body).json()
    assert out["variable"] == "study abroad returnees"
    base, now = out["baseline"], out["current"]
    assert base["years"] == now["years"]
    assert base["years"][0] == 2000
    assert all(
        lo <= mid <= hi for lo, mid, hi in zip(now["p05"], now["p50"], now["p95"], strict=True)
    )
    assert now["p50"][-1] > base["p50"][-1], "more scholarships, more returnees by 2040"
    unknown = client.post("/api/detail", json={**body, "variable": "no such thing"})
    assert unknown.status_code == 400
    assert "unknown variable" in unknown.json()["error"]
