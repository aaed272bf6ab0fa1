"""``brainsim explore``: the policy explorer in the browser."""

import sys
from pathlib import Path

from sim.cli.common import add_cluster

LOCAL = "127.0.0.1"


def register(sub) -> None:
    """Add the explore command to the subcommand parsers ``sub``."""
    p = sub.add_parser(
        "explore",
        help="the policy explorer: move levers in the browser, watch targets and probabilities",
        description="Start a local web app: a slider for every lever and programme budget, "
        "the J-MIRAI target outputs with their 5-95%% bands over the calibrated ensemble, "
        "the probability of meeting each target against the baseline, and the scenario as "
        "a YAML file that brainsim run reproduces. Serves 127.0.0.1 unless --host is given.",
        epilog="example: brainsim explore --port 8050",
    )
    p.add_argument("--port", type=int, default=8050, help="the port (default: 8050)")
    p.add_argument(
        "--host",
        default=LOCAL,
        help="the address to serve (default: 127.0.0.1); another opens it to the network",
    )
    p.add_argument("--root", default=".", help="the project folder (default: here)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument(
        "--queue",
        type=int,
        default=8,
        help="runs waiting or running at once; more are refused (default: 8)",
    )
    add_cluster(p)
    p.set_defaults(func=explore)


def explore(args) -> int:
    """Load the model and its baseline, then serve the explorer until interrupted."""
    from sim.engine.errors import BrainsimError

    if not 0 < args.port < 65536:
        raise BrainsimError(f"--port {args.port}: give a port from 1 to 65535, e.g. 8050")
    if args.queue < 1:
        raise BrainsimError(f"--queue {args.queue}: give at least 1")
    _check_free(args.host, args.port)
    from sim.engine.cluster import connect

    with connect(args.cluster) as cluster:
        _serve(args, build(Path(args.root).resolve(), args.queue, cluster))
    return 0


def _serve(args, app) -> None:
    """Say where the explorer is, open a browser, and serve until interrupted."""
    address = f"http://{args.host}:{args.port}/"
    if args.host != LOCAL:
        sys.stderr.write(
            f"brainsim: warning: serving on {args.host}: anyone who can reach this machine "
            "can run the model and read its files' results; use 127.0.0.1 unless you mean it\n"
        )
    sys.stdout.write(f"brainsim explore: {address} (Ctrl+C to stop)\n")
    sys.stdout.flush()
    if not args.no_browser:
        import webbrowser

        webbrowser.open(f"http://127.0.0.1:{args.port}/" if args.host == "0.0.0.0" else address)
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


def build(root: Path, queue: int = 8, workers=None):
    """Return the explorer's app for the project at ``root``; ``workers``: a Cluster or None."""
    from sim.engine import load_model
    from sim.engine.errors import BrainsimError
    from sim.explorer.server import create_app
    from sim.explorer.session import Session

    path = root / "model" / "brain_circulation.mdl"
    if not path.is_file():
        raise BrainsimError(f"{path}: no model here; run brainsim explore in the project folder")
    model = load_model(path)
    session = Session(model, root, root / "scenarios", model.spec.sha256[:12], workers)
    return create_app(session, queue)


def _check_free(host: str, port: int) -> None:
    """Refuse a port another program holds, before loading the model and printing the address."""
    import socket

    from sim.engine.errors import BrainsimError

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError as err:
            raise BrainsimError(
                f"--host {host} --port {port}: cannot serve there ({err.strerror}); "
                "give another port, e.g. --port 8051"
            ) from None
