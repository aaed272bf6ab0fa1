"""A study's runs written to a netCDF file chunk by chunk, so that no study is held whole.

A sweep of millions of runs measures more than memory holds (10 million runs
of 11 outputs over 41 years are 37 GB). Its chunks, which arrive in any
order from the pool or a cluster, are gathered into blocks of :data:`BLOCK`
runs and written as whole HDF5 chunks: the file is laid out so that one
output in one year, over every run, is a few hundred contiguous reads, which
is how the indices and bands are then computed. The file has the variables
of an in-memory sweep's ``sweep.nc`` (``value`` by output, year and run;
``design`` by run and parameter), so readers need not know which way it was
written. ``value`` is kept in float64, as measured, so that the indices
computed from the file are those of the same sweep held in memory, to the
bit (an in-memory sweep's file rounds it to float32).
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# runs per HDF5 chunk and per write: 32,768 runs of one output in one year are
# 256 kB; the writer holds a block of every output and year (118 MB for 11
# outputs over 41 years) per block not yet complete
BLOCK = 32768


@dataclass
class RunStore:
    """An open ``sweep.nc`` being filled; :meth:`add` takes chunks in any order."""

    path: Path
    outputs: list
    years: np.ndarray
    parameters: list
    n_runs: int
    _nc: object = None
    _pending: dict = field(default_factory=dict)  # block -> [values, design, runs filled]

    @classmethod
    def create(cls, path, outputs: list, years, parameters: list, n_runs: int, attrs: dict):
        """Create the file with its dimensions, coordinates and attributes; return it open."""
        import netCDF4

        store = cls(Path(path), list(outputs), np.asarray(years), list(parameters), n_runs)
        nc = netCDF4.Dataset(store.path, "w", format="NETCDF4")
        store._nc = nc
        nc.createDimension("output", len(store.outputs))
        nc.createDimension("year", len(store.years))
        nc.createDimension("run", n_runs)
        nc.createDimension("parameter", len(store.parameters))
        block = min(BLOCK, max(1, n_runs))
        for name, values in (("output", store.outputs), ("parameter", store.parameters)):
            var = nc.createVariable(name, str, (name,))
            for i, v in enumerate(values):
                var[i] = v
        nc.createVariable("year", "i8", ("year",))[:] = store.years
        nc.createVariable("run", "i8", ("run",))[:] = np.arange(n_runs)
        nc.createVariable(
            "value", "f8", ("output", "year", "run"), chunksizes=(1, 1, block), fill_value=np.nan
        )
        nc.createVariable(
            "design",
            "f8",
            ("run", "parameter"),
            chunksizes=(block, max(1, len(store.parameters))),
            fill_value=np.nan,
        )
        nc.setncatts(attrs)
        return store

    def add(self, first: int, end: int, values: dict, design: np.ndarray) -> None:
        """Take runs ``first`` to ``end``: each output ``(year, run)``, the design ``(run, p)``."""
        stacked = np.stack([values[o] for o in self.outputs])
        for b in range(first // BLOCK, (end - 1) // BLOCK + 1):
            lo, hi = b * BLOCK, min((b + 1) * BLOCK, self.n_runs)
            a, e = max(lo, first), min(hi, end)
            if b not in self._pending:
                self._pending[b] = [
                    np.full((len(self.outputs), len(self.years), hi - lo), np.nan),
                    np.full((hi - lo, len(self.parameters)), np.nan),
                    0,
                ]
            held = self._pending[b]
            held[0][:, :, a - lo : e - lo] = stacked[:, :, a - first : e - first]
            held[1][a - lo : e - lo] = design[a - first : e - first]
            held[2] += e - a
            if held[2] == hi - lo:  # the block is whole: write it and let it go
                self._nc["value"][:, :, lo:hi] = held[0]
                self._nc["design"][lo:hi] = held[1]
                del self._pending[b]

    def close(self) -> None:
        """Close the file; refuse to if a block was never completed."""
        if self._pending:
            missing = sorted(self._pending)
            self._nc.close()
            raise RuntimeError(f"runs of blocks {missing} were never measured")
        self._nc.close()


def read_values(path, output: int, year: int) -> np.ndarray:
    """Return every run's value of output ``output`` in year ``year`` (indices), as float64."""
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        nc.set_auto_mask(False)
        return np.asarray(nc["value"][output, year, :], dtype=float)


def read_design(path) -> np.ndarray:
    """Return the design ``(run, parameter)`` of the file (used when it is small enough)."""
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        nc.set_auto_mask(False)
        return np.asarray(nc["design"][:], dtype=float)
