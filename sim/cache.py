"""A cache of parsed model specs, so that a run does not re-parse an unchanged ``.mdl``.

Parsing through PySD's translator takes about a second; a run of the model
takes a fraction of that. The spec is a frozen dataclass of plain data, so it
is stored with pickle under the cache folder, keyed by the file's SHA-256 and
by the source of the parser itself. A missing, unreadable or stale cache
entry is simply parsed again; the cache can always be deleted.
"""

import hashlib
import os
import pickle
from pathlib import Path

from sim.output import atomic_path
from sim.spec import ModelSpec, read_mdl


def cache_dir() -> Path:
    """Return the cache folder: ``$BRAINSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/brainsim``."""
    if os.environ.get("BRAINSIM_CACHE_DIR"):
        return Path(os.environ["BRAINSIM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "brainsim"


def _parser_fingerprint() -> str:
    from sim import spec

    return hashlib.sha256(Path(spec.__file__).read_bytes()).hexdigest()[:16]


def cached_spec(path: str | Path) -> ModelSpec:
    """Return ``read_mdl(path)``, from the cache when the file and parser are unchanged."""
    path = Path(path)
    if not path.is_file():
        return read_mdl(path)  # raises the usual one-line error
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    entry = cache_dir() / f"{digest}-{_parser_fingerprint()}.pickle"
    try:
        with open(entry, "rb") as fh:
            spec = pickle.load(fh)
        if isinstance(spec, ModelSpec) and spec.sha256 == digest:
            # the same text may live at another path; report the one asked for
            return spec if spec.path == str(path) else _moved(spec, path)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass  # absent or unreadable: parse again
    spec = read_mdl(path)
    try:
        with atomic_path(entry) as tmp, open(tmp, "wb") as fh:
            pickle.dump(spec, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:
        pass  # a read-only home is no reason to fail a run
    return spec


def _moved(spec: ModelSpec, path: Path) -> ModelSpec:
    import dataclasses

    return dataclasses.replace(spec, path=str(path))
