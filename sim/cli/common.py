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


def progress(label: str, unit: str = "chunks of runs"):
    """Return a callback that shows work done and time left on a terminal, or None."""
    if not sys.stderr.isatty():
        return None
    import time

    start = time.monotonic()

    def show(done, total):
        done = min(done, total)
        spent = time.monotonic() - start
        left = f", about {spent * (total - done) / done:.0f} s left" if done else ""
        sys.stderr.write(f"\r{label}: {done}/{total} {unit}, {spent:.0f} s{left}   ")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def wrote(out) -> None:
    """Say on stderr which files a command wrote, and where."""
    from pathlib import Path

    from sim.engine.files import MARKER

    files = sorted(p.name for p in Path(out).iterdir() if p.name != MARKER)
    sys.stderr.write(f"brainsim: wrote {', '.join(files)} to {out}\n")


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


def project_file(given, default: str, near=()) -> str:
    """Return a project file: as given, else ``default`` from here, else beside the scenarios.

    So that a command works from any folder: a scenario in
    ``PROJECT/scenarios/`` finds ``PROJECT/model/brain_circulation.mdl``.
    """
    from pathlib import Path

    if given is not None:
        return str(given)
    if Path(default).exists():
        return default
    for path in near:
        folder = Path(path).resolve().parent
        for base in (folder.parent, folder):
            if (base / default).exists():
                return str(base / default)
    return default


def add_model(parser, history: bool = False) -> None:
    """Add ``--model`` (and ``--history``), found beside the scenarios when not given."""
    parser.add_argument(
        "--model",
        help=f"the Vensim .mdl (default: {MODEL} here, else in the scenario's project folder)",
    )
    if history:
        parser.add_argument(
            "--history",
            help=f"observed series (default: {HISTORY} here, else in the scenario's project "
            "folder)",
        )


def command() -> list:
    """Return the command line as run, for manifests."""
    return ["brainsim", *sys.argv[1:]]


def add_cluster(p) -> None:
    """Add ``--cluster``: run the study's chunks on a Dask scheduler instead of this machine."""
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the chunks on the Dask scheduler at ADDRESS (e.g. tcp://host:8786), or on "
        "N local worker processes with local:N (default: this machine's cores, or "
        "$BRAINSIM_CLUSTER when set); the results are the same to the bit",
    )
