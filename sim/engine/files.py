"""Write results to files: atomically, so a failed run leaves nothing behind."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On any error (or an interrupt) the temporary file is removed and
    ``path`` is left as it was.
    """
    from sim.engine.errors import BrainsimError

    if not str(path).strip():
        raise BrainsimError("--out is empty; give the name of a file to write")
    path = Path(path)
    if path.is_dir() or not path.name:
        raise BrainsimError(f"{path} is a folder; give the name of a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        try:
            yield Path(tmp)
        except OSError as err:
            raise _write_error(path, err) from None
        # mkstemp makes the file private; give it the mode a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# The list of what brainsim wrote into an output folder. A folder may be
# replaced only when it holds this list and nothing that is not on it, so
# that --out can never delete a user's own files.
MARKER = ".brainsim-output.json"


def check_out(path: str | Path, *, force: bool = False, option: str = "--out") -> Path:
    """Return ``path`` if brainsim may write a folder there; raise a one-line error if not.

    Brainsim may replace only a folder it wrote itself (one that holds its
    :data:`MARKER` and nothing else it did not write), an empty folder, or a
    path that does not exist. ``force`` lets it replace any other folder, but
    never a file, the current folder, a parent of it, or a project or
    repository root.
    """
    from sim.engine.errors import BrainsimError

    text = str(path)
    if not text.strip():
        raise BrainsimError(f"{option} is empty; give a folder, e.g. {option} results/run")
    target = Path(path).resolve()
    here = Path.cwd().resolve()
    if target == here or target in here.parents:
        raise BrainsimError(
            f"{option} {text} is the current folder or one of its parents, which brainsim never "
            f"replaces; give a new folder, e.g. {option} results/run"
        )
    blocked = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise BrainsimError(
            f"{option} {text}: {blocked} is a file, so no folder can be made inside it; "
            "give another path"
        )
    if target.exists() and not target.is_dir():
        raise BrainsimError(
            f"{option} {text} is a file; brainsim writes a folder and never replaces a file; "
            "give a new folder name"
        )
    if any((target / root).exists() for root in (".git", "pyproject.toml", "setup.py")):
        raise BrainsimError(
            f"{option} {text} is a project folder, which brainsim never replaces; "
            f"give a new folder inside it, e.g. {option} {Path(text) / 'results'}"
        )
    if target.is_dir() and not force:
        foreign = _not_ours(target)
        if foreign:
            raise BrainsimError(
                f"{option} {text} holds files brainsim did not write (e.g. {foreign}); "
                "give a new folder, or pass --force to replace it"
            )
    return Path(path)


def _not_ours(folder: Path) -> str | None:
    """Return one file in ``folder`` that brainsim's list does not name, or None."""
    import json

    found = sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    )
    if not found:
        return None
    try:
        listed = set(json.loads((folder / MARKER).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return next((f for f in found if f != MARKER), found[0])
    return next((f for f in found if f != MARKER and f not in listed), None)


def _write_marker(folder: Path) -> None:
    import json

    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    (folder / MARKER).write_text(
        json.dumps({"written_by": "brainsim", "files": files}, indent=1) + "\n",
        encoding="utf-8",
    )


@contextlib.contextmanager
def atomic_dir(path: str | Path, *, force: bool = False, option: str = "--out") -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; put it in place of ``path`` on success.

    ``path`` is first checked with :func:`check_out`. On any error the
    temporary folder is removed and ``path`` (if it existed) is left as it
    was. The folder written holds :data:`MARKER`, the list of its files.
    """
    import shutil

    path = check_out(path, force=force, option=option)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    try:
        try:
            yield tmp
        except OSError as err:  # name what the user asked for, not our temporary folder
            raise _write_error(path, err) from None
        _write_marker(tmp)
        os.chmod(tmp, 0o777 & ~_umask())
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _write_error(path: Path, err: OSError):
    from sim.engine.errors import BrainsimError

    return BrainsimError(
        f"{path}: could not be written ({err.strerror or err}); check the disk space and "
        "permissions there, or give another path"
    )


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def read_text(path: str | Path, what: str = "file") -> str:
    """Return the text of ``path``: UTF-8 (with or without BOM) or Japanese Windows (cp932).

    Many Japanese editors on Windows save Shift_JIS (cp932); it is accepted
    when the bytes decode cleanly as it. Anything else, or a binary file, is
    one error naming the file and the encoding to use.
    """
    from sim.engine.errors import BrainsimError

    data = Path(path).read_bytes()
    if b"\x00" in data:
        raise BrainsimError(f"{path}: not a text {what} (it holds binary data); give a text file")
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BrainsimError(f"{path}: not UTF-8 or Shift_JIS text; save the {what} as UTF-8")
