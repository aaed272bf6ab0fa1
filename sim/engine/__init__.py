"""The engine: a Vensim ``.mdl`` read, checked, compiled and run, fast.

Steps, one module each: :mod:`~sim.engine.vensim` reads the ``.mdl`` into a
:class:`~sim.engine.spec.ModelSpec`; :mod:`~sim.engine.units` and
:mod:`~sim.engine.check` check its dimensions, ranges and sources;
:mod:`~sim.engine.compile` turns it into Python over arrays of runs (with the
Vensim functions of :mod:`~sim.engine.functions`); :mod:`~sim.engine.simulate`
integrates it, or measures yearly sums straight from the steps;
:mod:`~sim.engine.parallel` spreads runs over processes. :mod:`~sim.engine.errors`,
:mod:`~sim.engine.names` and :mod:`~sim.engine.files` (atomic writes) serve
every layer.

Imports: only the standard library, numpy, scipy and xarray, and other
modules of the engine. Never :mod:`sim.studies`, :mod:`sim.reports` or
:mod:`sim.cli` (``lint-imports`` checks this in ``make test``).
"""

from pathlib import Path


def load_model(path: str | Path):
    """Read and compile a Vensim ``.mdl`` file (``read_mdl`` then ``compile_model``)."""
    from sim.engine.compile import compile_model
    from sim.engine.vensim import read_mdl

    return compile_model(read_mdl(path))
