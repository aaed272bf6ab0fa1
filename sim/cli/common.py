"""What every command shares: a parser whose errors are one line, and progress on a terminal."""

import argparse
import sys

MODEL = "model/brain_circulation.mdl"
HISTORY = "model/history.csv"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit status 2."""

    def error(self, message):
        """Write one line naming the fault and exit with status 2."""
        sys.stderr.write(f"{self.prog}: error: {message}; see {self.prog} --help\n")
        sys.exit(2)


def progress(label: str):
    """Return a callback that shows chunks done on a terminal, or None when not on one."""
    if not sys.stderr.isatty():
        return None

    def show(done, total):
        sys.stderr.write(f"\r{label}: {min(done, total)}/{total} chunks of runs")
        sys.stderr.flush()

    return show


def add_out(
    parser, required: bool = True, default=None, what: str = "the folder to write"
) -> None:
    """Add ``--out`` and ``--force``: a folder brainsim may replace, and the override."""
    parser.add_argument(
        "--out",
        required=required,
        default=default,
        help=f"{what}; an existing folder is replaced only if brainsim wrote it"
        + (f" (default: {default})" if default else ""),
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --out folder that brainsim did not write (never a file, "
        "the current folder, a parent of it or a project folder)",
    )


def command() -> list:
    """Return the command line as run, for manifests."""
    return ["brainsim", *sys.argv[1:]]
