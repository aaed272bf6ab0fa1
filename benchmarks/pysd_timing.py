"""One timed PySD run of a model, the peer that the benchmarks compare against."""

import shutil
import tempfile
import time
import warnings
from pathlib import Path


def pysd_run_seconds(mdl: Path) -> float:
    """Seconds PySD takes for one default run of ``mdl`` (translation not counted)."""
    import pysd

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / mdl.name  # PySD writes its translation beside the file
        shutil.copy(mdl, copy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PySD's dependencies warn of deprecations
            model = pysd.read_vensim(str(copy))
            start = time.perf_counter()
            model.run()
            return time.perf_counter() - start
