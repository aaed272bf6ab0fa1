"""Benchmark the explorer in Chromium: time from slider release to redrawn charts, and load.

Prints (1) the median and 95th-percentile time from a slider's release to every
chart, the table and the cost redrawn, over ``--changes`` changes of one client,
with the ensemble's 1,000 members; (2) ``--clients`` pages changing sliders at once
for ``--seconds``: changes completed, errors, and the server's resident memory
at the start and the end (it must stay bounded).

usage: .venv/bin/python benchmarks/bench_explore.py [--changes 50] [--clients 20] [--seconds 60]
"""

import argparse
import os
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_explorer_browser import CHROMIUM, FLAGS, SLIDER  # noqa: E402

import sim  # noqa: E402
from sim.explorer.server import create_app  # noqa: E402
from sim.explorer.session import Session  # noqa: E402

LEVERS = [
    SLIDER,
    '.control[data-key="lever:researcher fellowships"] input[type=range]',
    '.control[data-key="budget:kokuhi scholarship"] input[type=range]',
    '.control[data-key="lever:employment support"] input[type=range]',
]


def rss_mb() -> float:
    """Return this process's resident memory in MB (the server runs in it)."""
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def serve(queue: int):
    import uvicorn

    model = sim.load_model(ROOT / "model" / "brain_circulation.mdl")
    session = Session(model, ROOT, ROOT / "scenarios", model.spec.sha256[:12])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(create_app(session, queue), host="127.0.0.1", port=port, log_level="error")
    )
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    return srv, f"http://127.0.0.1:{port}/"


def change(page, selector: str, fraction: float) -> None:
    page.eval_on_selector(
        selector,
        """(el, f) => { const v = Number(el.min) + f * (Number(el.max) - Number(el.min));
                         el.value = v; el.dispatchEvent(new Event('input'));
                         el.dispatchEvent(new Event('change')); }""",
        fraction,
    )


def redraw_times(browser, url: str, n: int) -> list:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_function("Number(document.body.dataset.draws || 0) >= 1", timeout=120_000)
    times = []
    for k in range(n):
        drawn = int(page.evaluate("Number(document.body.dataset.draws)"))
        start = time.perf_counter()
        change(page, LEVERS[k % len(LEVERS)], 0.2 + 0.6 * ((k * 7) % 10) / 10)
        page.wait_for_function(
            f"Number(document.body.dataset.draws) > {drawn}", timeout=120_000, polling=5
        )
        times.append(time.perf_counter() - start)
    page.close()
    return times


def load(browser, url: str, clients: int, seconds: float) -> dict:
    pages = []
    for _ in range(clients):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.goto(url)
        pages.append(page)
    for page in pages:
        page.wait_for_function("Number(document.body.dataset.draws || 0) >= 1", timeout=300_000)
    rss = [rss_mb()]
    end = time.time() + seconds
    k = 0
    while time.time() < end:
        for i, page in enumerate(pages):  # every client moves a slider, then the next
            change(page, LEVERS[(i + k) % len(LEVERS)], ((i * 3 + k) % 10) / 10)
        k += 1
        time.sleep(1.0)
        rss.append(rss_mb())
    time.sleep(5)  # let the last runs finish
    draws = sum(int(p.evaluate("Number(document.body.dataset.draws)")) for p in pages)
    errors = [p.inner_text("#error") for p in pages if p.is_visible("#error")]
    return {"changes": k * clients, "draws": draws, "errors": errors, "rss": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    _, url = serve(queue=8)
    print(f"explorer ready in {time.perf_counter() - t0:.1f} s (baseline over the ensemble)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        times = np.array(redraw_times(browser, url, args.changes))
        print(
            f"slider release to redrawn page, {args.changes} changes, 1,000 members: "
            f"median {np.median(times):.2f} s, 95th percentile {np.percentile(times, 95):.2f} s, "
            f"max {times.max():.2f} s"
        )
        out = load(browser, url, args.clients, args.seconds)
        browser.close()
    busy = sum("busy" in e for e in out["errors"])
    print(
        f"{args.clients} clients for {args.seconds:.0f} s: {out['changes']} slider changes, "
        f"{out['draws']} redraws, {len(out['errors'])} pages showing an error "
        f"({busy} 'busy' refusals from the bounded queue); server memory (MB) at the start, "
        f"each quarter and the end: "
        + ", ".join(
            f"{out['rss'][int(q * (len(out['rss']) - 1))]:,.0f}" for q in (0, 0.25, 0.5, 0.75, 1)
        )
    )


if __name__ == "__main__":
    main()
