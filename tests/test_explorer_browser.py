"""The explorer driven in headless Chromium through Playwright, against the shipped model.

Chromium comes from the system (Debian's package, installed by ``make test``);
set ``BRAINSIM_CHROMIUM`` to use another build.
"""

import csv
import os
import socket
import threading
import time
from pathlib import Path

import pytest

import sim
from sim.explorer.server import create_app
from sim.explorer.session import Session
from sim.studies.calibrate import read_ensemble

ROOT = Path(__file__).parent.parent
CHROMIUM = os.environ.get("BRAINSIM_CHROMIUM", "/usr/bin/chromium")
# as root and offline: no sandbox, and no background connections that would be refused
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SLIDER = '.control[data-key="lever:scholarship coverage"] input[type=range]'
SHORT_TERM = "university short and mid term participants per year"


@pytest.fixture(scope="module")
def server(small_project):
    import uvicorn

    # the first 40 members: what the page shows and what a run of its YAML gives
    model = sim.load_model(ROOT / "model" / "brain_circulation.mdl")
    session = Session(model, small_project, small_project / "scenarios", model.spec.sha256[:12])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(session), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "the explorer did not start"
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), (
        f"no Chromium at {CHROMIUM}: run make test (it installs Debian's chromium) "
        "or set BRAINSIM_CHROMIUM"
    )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


def _drawn(page, n: int) -> None:
    page.wait_for_function(f"Number(document.body.dataset.draws || 0) >= {n}", timeout=60_000)


def _move(page, selector: str, value: float) -> None:
    page.eval_on_selector(
        selector,
        """(el, v) => { el.value = v; el.dispatchEvent(new Event('input'));
                         el.dispatchEvent(new Event('change')); }""",
        value,
    )


def _row(page, variable: str) -> list:
    return page.eval_on_selector(
        f'#targets tr[data-variable="{variable}"]', "tr => [...tr.cells].map(c => c.textContent)"
    )


def _median_line(page, variable: str) -> list:
    return page.evaluate(
        """v => { const gd = document.querySelector(`.chart[data-variable="${v}"]`);
                  return gd.data[3].y; }""",
        variable,
    )


def test_the_page_loads_with_every_chart_and_target_and_no_console_error(
    server, page, small_project
):
    page.goto(server)
    _drawn(page, 1)
    charts = page.eval_on_selector_all(".chart[data-variable]", "els => els.length")
    assert charts == 8
    assert page.eval_on_selector_all("#targets tbody tr", "rows => rows.length") == 7
    members = len(read_ensemble(small_project / "model" / "ensemble.csv")[2])
    assert f"{members:,} calibrated ensemble members" in page.inner_text("#caption")
    assert page.errors == []


def test_a_slider_changes_the_charts_the_table_and_the_url_and_a_reload_restores_them(
    server, page
):
    page.goto(server)
    _drawn(page, 1)
    before_row, before_line, before_url = (
        _row(page, SHORT_TERM),
        _median_line(page, SHORT_TERM),
        page.url,
    )
    _move(page, SLIDER, 0.5)
    _drawn(page, 2)
    after_row, after_line = _row(page, SHORT_TERM), _median_line(page, SHORT_TERM)
    assert after_row[3] != before_row[3], "the scenario's median in the table moved"
    assert after_line[-1] > before_line[-1] * 1.05, "the chart's median moved up"
    assert page.url != before_url
    assert "s=" in page.url
    # undo and redo, then the state survives a reload; reset returns to the baseline
    page.click("#undo")
    _drawn(page, 3)
    assert _row(page, SHORT_TERM) == before_row
    page.click("#redo")
    _drawn(page, 4)
    assert _row(page, SHORT_TERM) == after_row
    page.reload()
    _drawn(page, 1)
    assert _row(page, SHORT_TERM) == after_row
    assert float(page.eval_on_selector(SLIDER, "el => el.value")) == 0.5
    page.click("#reset")
    _drawn(page, 2)
    assert _row(page, SHORT_TERM) == before_row
    assert page.errors == []


def test_the_language_switch_changes_every_label(server, page):
    page.goto(server + "?lang=en")
    _drawn(page, 1)

    def texts():
        return page.evaluate(
            """() => ({
                labels: [...document.querySelectorAll('[data-i18n]')].map(e => e.textContent),
                titles: [...document.querySelectorAll('.chart .gtitle')].map(e => e.textContent),
                names: [...document.querySelectorAll('.control .name')].map(e => e.textContent),
                rows: [...document.querySelectorAll('#targets td:first-child')]
                    .map(e => e.textContent),
                caption: document.querySelector('#caption').textContent })"""
        )

    en = texts()
    page.click("#lang")
    page.wait_for_function("document.documentElement.lang === 'ja'")
    _drawn(page, 2)
    ja = texts()
    for key in ("labels", "titles", "names", "rows"):
        assert len(en[key]) == len(ja[key]) > 0, key
        same = [a for a, b in zip(en[key], ja[key], strict=True) if a == b]
        assert not same, f"{key} left in English: {same[:3]}"
    assert en["caption"] != ja["caption"]
    assert "lang=ja" in page.url
    assert page.errors == []


def test_the_downloaded_yaml_reproduces_the_page_s_medians_and_probabilities(
    server, page, run_cli, tmp_path, small_project
):
    page.goto(server)
    _drawn(page, 1)
    _move(page, SLIDER, 0.45)
    _drawn(page, 2)
    shown = {
        tr[0]: tr
        for tr in page.eval_on_selector_all(
            "#targets tbody tr",
            "rows => rows.map(r => [r.dataset.variable, ...[...r.cells].map(c => c.textContent)])",
        )
    }
    with page.expect_download() as info:
        page.click("#yaml")
    path = tmp_path / "explorer.yaml"
    info.value.save_as(path)
    status, _, err = run_cli("run", path, "--out", tmp_path / "out", cwd=small_project)
    assert status == 0, err
    with open(tmp_path / "out" / "targets.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            cells = shown[row["variable"]]
            p50, prob = float(row["p50"]), 100 * float(row["probability"])
            rate = "rate" in row["variable"]
            expected = f"{100 * p50:.1f}%" if rate else f"{p50:,.0f}"
            assert cells[4].startswith(expected), (row["variable"], cells[4], expected)
            assert cells[6] == f"{prob:.1f}%", (row["variable"], cells[6], prob)
    with page.expect_download() as info:
        page.click("#csv")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# brainsim explore, model sha256")
    assert SHORT_TERM in text


def test_an_error_shows_as_one_line_in_the_page(server, page):
    import base64
    import json

    state = {
        "base": "baseline",
        "policies": {"scholarship coverage": {"to": 9, "from": 2026, "ramp": 4}},
    }
    code = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    page.goto(f"{server}?s={code}")
    page.wait_for_selector("#error:not([hidden])", timeout=60_000)
    text = page.inner_text("#error")
    assert "range" in text
    assert "\n" not in text.strip()
    assert "Traceback" not in text


def test_a_shipped_scenario_and_a_user_file_load_as_starting_points(server, page, tmp_path):
    page.goto(server)
    _drawn(page, 1)
    baseline = _row(page, SHORT_TERM)
    page.select_option("#base", "jmirai-package")
    _drawn(page, 2)
    assert _row(page, SHORT_TERM) != baseline
    moved = page.eval_on_selector_all(".control .name.moved", "els => els.length")
    assert moved >= 5, "the package's levers and budgets show as moved"
    text = (ROOT / "scenarios" / "expanded-scholarships.yaml").read_text(encoding="utf-8")
    path = tmp_path / "my-plan.yaml"
    path.write_text(text.replace("name: expanded-scholarships", "name: my-plan"), encoding="utf-8")
    page.set_input_files("#upload", str(path))
    _drawn(page, 3)
    assert page.eval_on_selector("#base", "el => el.value") == "my-plan (file)"
    assert float(page.eval_on_selector(SLIDER, "el => el.value")) == 0.3
    assert page.errors == []
