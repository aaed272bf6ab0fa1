"""The ``brainsim`` command line: a thin layer over the library.

Each module registers one group of subcommands; each subcommand parses its
arguments, calls the library (engine, studies, reports) and prints. No
modelling happens here, and nothing in the library imports this package.
"""

import signal
import sys

from sim.cli import brief, explore, history, model, scenarios, sweeps
from sim.cli.common import Parser
from sim.engine.errors import BrainsimError

GROUPS = (model, history, scenarios, sweeps, brief, explore)


def build_parser() -> Parser:
    """Build the parser for every subcommand."""
    parser = Parser(
        prog="brainsim",
        description="System-dynamics simulator of Japan's international brain circulation.",
    )
    from sim.engine.simulate import package_version

    parser.add_argument("--version", action="version", version=f"brainsim {package_version()}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for group in GROUPS:
        group.register(sub)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    # a terminated run cleans up as an interrupted one does: no partial files
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        status = args.func(args)
    except BrainsimError as err:
        sys.stderr.write(f"brainsim: error: {err}\n")
        return 2
    except OSError as err:  # an unreadable input or unwritable output path
        sys.stderr.write(f"brainsim: error: {err.strerror or err}: {err.filename or ''}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("brainsim: interrupted; no output was written\n")
        return 130
    return status or 0
