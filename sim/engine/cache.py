"""Keep compiled models on disk, keyed by the model's bytes and the engine's code.

Reading and compiling the brain model takes most of a second, and every
``brainsim`` command does it; a warm start reads the pickled spec and the
marshalled code of the generated functions instead. The key covers the
``.mdl`` bytes as given, the path as given (messages name it), the engine's
own source, and the Python and numpy versions; the files the model reads
(GET XLS, GET DIRECT) are checked against their hashes when an entry is used.
An entry is written whole or not at all, and a cache that cannot be read or
written is passed over: it only saves time.

The folder is ``$BRAINSIM_CACHE``, else ``$XDG_CACHE_HOME/brainsim``, else
``~/.cache/brainsim``; ``BRAINSIM_CACHE=off`` turns it off.
"""

import contextlib
import dataclasses
import hashlib
import marshal
import os
import pickle
import sys
import tempfile
from functools import cache
from pathlib import Path

import numpy as np

_FUNCTIONS = ("initialize", "evaluate", "rates", "breakpoints")
# entries kept per kind: the oldest go first (a test suite compiles hundreds of models)
_KEEP = 64


def folder() -> Path | None:
    """Return the cache folder, or ``None`` when caching is off."""
    given = os.environ.get("BRAINSIM_CACHE")
    if given == "off":
        return None
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "brainsim"


@cache
def engine_digest() -> str:
    """Return a hash of the engine's source and the versions its results depend on."""
    digest = hashlib.sha256(f"{sys.version}|{np.__version__}".encode())
    for file in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def model_key(path: Path, raw: bytes) -> str:
    """Return the key of a model file read from ``path`` with bytes ``raw``."""
    digest = hashlib.sha256(engine_digest().encode())
    digest.update(str(path).encode() + b"\0" + raw)
    return digest.hexdigest()[:32]


def load(key: str, kind: str):
    """Return the object stored under ``key`` for ``kind``, or ``None``."""
    where = folder()
    if where is None:
        return None
    path = where / f"{key}.{kind}"
    try:
        with open(path, "rb") as f:
            value = pickle.load(f)  # noqa: S301 -- our own folder, keyed by our own code
        os.utime(path)  # the newest used are the last pruned
        return value
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, TypeError):
        return None


def store(key: str, kind: str, value) -> None:
    """Write ``value`` under ``key`` for ``kind`` atomically; skip silently on failure."""
    where = folder()
    if where is None:
        return
    with contextlib.suppress(OSError, pickle.PicklingError, TypeError):
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, where / f"{key}.{kind}")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _prune(where, kind)


def _prune(where: Path, kind: str) -> None:
    entries = []
    for path in where.glob(f"*.{kind}"):
        with contextlib.suppress(OSError):
            entries.append((path.stat().st_mtime, path))
    for _, path in sorted(entries, reverse=True)[_KEEP:]:
        with contextlib.suppress(OSError):
            path.unlink()


def pack(model) -> dict:
    """Return a picklable form of a compiled model: its fields and its code, marshalled."""
    fields = {
        f.name: getattr(model, f.name)
        for f in dataclasses.fields(model)
        if f.name not in _FUNCTIONS
    }
    code = compile(model.source, f"<brainsim model {model.spec.path}>", "exec")
    files = {f: _file_hash(Path(f)) for f in model.spec.files}
    return {"fields": fields, "code": marshal.dumps(code), "files": files}


def unpack(entry: dict):
    """Return the compiled model of a packed entry, or ``None`` if a file it read changed."""
    from sim.engine.compile import CompiledModel
    from sim.engine.functions import NAMESPACE

    for name, digest in entry["files"].items():
        if _file_hash(Path(name)) != digest:
            return None
    namespace = dict(NAMESPACE)
    exec(marshal.loads(entry["code"]), namespace)  # noqa: S102 -- the engine's own generated code
    return CompiledModel(**entry["fields"], **{k: namespace[k] for k in _FUNCTIONS})


def _file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
