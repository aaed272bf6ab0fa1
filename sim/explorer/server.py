"""The explorer's web app: FastAPI routes over a :class:`~sim.explorer.session.Session`.

FastAPI (on Starlette, served by uvicorn) is used because its routes are
plain functions over JSON with the validation errors handled in one place,
and synchronous routes run in a bounded thread pool, so the model's numpy
work does not block the server. The app adds three guards of its own:

* a bounded queue: at most ``queue`` runs wait or run at once; another is
  refused at once with a one-line message (HTTP 503), so many clients
  cannot exhaust memory;
* stale runs: each client numbers its requests; a run still waiting when a
  newer request of the same client arrives is dropped (HTTP 409);
* errors: a bad value or name comes back as one line (HTTP 400), never a
  stack trace.
"""

import threading
from importlib import resources
from pathlib import Path

from sim.engine.errors import BrainsimError
from sim.explorer.session import Session, StaleRun

STATIC = resources.files("sim.explorer") / "static"


class Queue:
    """Admission to the runs: a bounded number at once, the latest per client."""

    def __init__(self, size: int):
        self._slots = threading.BoundedSemaphore(size)
        self._latest: dict = {}
        self._lock = threading.Lock()

    def admit(self, client: str, seq: int) -> bool:
        """Record ``seq`` as ``client``'s latest request; return False if the queue is full."""
        with self._lock:
            if seq >= self._latest.get(client, -1):
                self._latest[client] = seq
            if len(self._latest) > 10_000:  # forget clients long gone
                self._latest.clear()
        return self._slots.acquire(blocking=False)

    def stale(self, client: str, seq: int) -> bool:
        """Whether a newer request of ``client`` has arrived since ``seq``."""
        with self._lock:
            return self._latest.get(client, seq) > seq

    def release(self) -> None:
        """Free the slot of a finished run."""
        self._slots.release()


def create_app(session: Session, queue: int = 8):
    """Return the FastAPI app serving ``session``."""
    from fastapi import FastAPI
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

    app = FastAPI(title="brainsim explore", docs_url=None, redoc_url=None, openapi_url=None)
    admission = Queue(queue)

    _handle_errors(app)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/{name}")
    def static(name: str):
        files = {p.name: p for p in STATIC.iterdir()}
        if name not in files:
            return JSONResponse({"error": f"no file '{name}'"}, status_code=404)
        return FileResponse(str(files[name]))

    @app.get("/vendor/plotly.min.js")
    def plotly():
        import plotly as plotly_package

        path = Path(plotly_package.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(str(path), media_type="text/javascript")

    @app.get("/api/meta")
    def meta():
        return session.meta()

    @app.get("/api/scenario/{name}")
    def scenario(name: str):
        return session.state_of(name)

    def guarded(payload: dict, work):
        client, seq = str(payload.get("client", "")), payload.get("seq", 0)
        if not isinstance(seq, int):
            return JSONResponse({"error": "seq must be a whole number"}, status_code=400)
        if not admission.admit(client, seq):
            return JSONResponse(
                {"error": "the explorer is busy with other runs; try again in a moment"},
                status_code=503,
            )
        try:
            return work(lambda: not admission.stale(client, seq))
        except StaleRun:
            return JSONResponse({"stale": True}, status_code=409)
        finally:
            admission.release()

    @app.post("/api/run")
    def run(payload: dict):
        # plain lists of floats: json.dumps directly, without FastAPI's slower encoder
        return guarded(
            payload, lambda wanted: JSONResponse(session.run(payload.get("state") or {}, wanted))
        )

    @app.post("/api/upload")
    def upload(payload: dict):
        return session.upload(str(payload.get("text", "")))

    @app.post("/api/detail")
    def detail(payload: dict):
        return guarded(
            payload,
            lambda wanted: session.detail(
                payload.get("state") or {}, str(payload.get("variable", "")), wanted
            ),
        )

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    return app


def _handle_errors(app) -> None:
    """Answer every failure in one line of JSON: 400 for bad input, 500 for a failed run."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    @app.exception_handler(BrainsimError)
    def _refused(request: Request, err: BrainsimError):
        return JSONResponse({"error": str(err).splitlines()[0]}, status_code=400)

    @app.exception_handler(RequestValidationError)
    def _malformed(request: Request, err: RequestValidationError):
        return JSONResponse(
            {"error": "the request is not what the explorer sends; reload the page"},
            status_code=400,
        )

    @app.exception_handler(Exception)
    def _failed(request: Request, err: Exception):
        text = f"{type(err).__name__}: {err}".splitlines()[0]
        return JSONResponse({"error": f"the run failed ({text})"}, status_code=500)
