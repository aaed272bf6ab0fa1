"""Run a model with PySD, the reference implementation, and compare with ours."""

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

# PySD's own bookkeeping columns, not model variables.
PYSD_ONLY = {"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER", "Time", "TIME"}


def pysd_run(mdl: Path, tmp_path: Path, params: dict | None = None) -> pd.DataFrame:
    """PySD's run of a copy of ``mdl`` (PySD writes a .py beside the file it reads)."""
    import pysd

    copy = tmp_path / mdl.name
    shutil.copy(mdl, copy)
    with warnings.catch_warnings():
        # PySD warns on lookups held outside their x range, as Vensim does
        warnings.simplefilter("ignore")
        model = pysd.read_vensim(str(copy))
        return model.run(params=params or {})


def compare(ours, ref: pd.DataFrame, rtol=1e-9, atol=1e-12) -> list:
    """Return every variable that differs, with its worst relative error.

    Every PySD column must be one of ours and every one of ours a PySD
    column: nothing is skipped silently.
    """
    problems = []
    names = {ours[v].attrs["vensim_name"]: v for v in ours.data_vars}
    ref_cols = [c for c in ref.columns if c not in PYSD_ONLY]
    missing = sorted(set(ref_cols) - set(names))
    extra = sorted(set(names) - set(ref_cols))
    if missing:
        problems.append(f"not in our output: {missing}")
    if extra:
        problems.append(f"not in PySD's output: {extra}")
    if not np.allclose(ref.index.values, ours["time"].values, rtol=0, atol=1e-9):
        problems.append("time grids differ")
        return problems
    for name in ref_cols:
        if name not in names:
            continue
        a = ours[names[name]].isel(run=0).values
        b = ref[name].values.astype(float)
        if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False):
            err = np.max(np.abs(a - b) / np.maximum(np.abs(b), atol))
            problems.append(f"{name}: max relative error {err:.3g}")
    return problems
