"""Cut ``small.nc``, the figure tests' Dataset, from a full ``brainsim brief`` run.

Run after the model or the scenarios change, from the project folder::

    .venv/bin/python tests/data/brief/subset.py figures/briefing/brief_data.nc

It keeps five scenarios and ten parameters (the five levers and five
calibrated parameters with the largest one-at-a-time swing on any output),
enough for every figure to draw, and writes ``tests/data/brief/small.nc``.
"""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

SCENARIOS = ["baseline", "weak-yen", "strong-yen", "jmirai-package", "horizon-europe"]


def subset(full: xr.Dataset) -> xr.Dataset:
    """Return the small Dataset: five scenarios, the ten parameters that swing most."""
    swing = np.abs(full["oat_swing"]).max("output").to_series().sort_values(ascending=False)
    levers = [p for p in swing.index if p.endswith(" target")][:5]
    others = [p for p in swing.index if not p.endswith(" target")][:5]
    small = full.sel(scenario=SCENARIOS, parameter=levers + others)
    small.attrs["note"] = (
        "tests/data/brief: a subset of brainsim brief data (5 scenarios, 10 parameters) "
        "for figure tests; made by tests/data/brief/subset.py"
    )
    return small


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "figures/briefing/brief_data.nc")
    out = Path(__file__).with_name("small.nc")
    subset(xr.load_dataset(source)).to_netcdf(out)
    print(f"wrote {out}")
