"""The engine: a Vensim ``.mdl`` read, checked, compiled and run, fast.

Steps, one module each: :mod:`~sim.engine.vensim` reads the ``.mdl`` into a
:class:`~sim.engine.spec.ModelSpec`, parsing each equation with
:mod:`~sim.engine.expressions` (the grammar, over the lexical
:mod:`~sim.engine.cursor`) and :mod:`~sim.engine.calls` (functions, SMOOTH
and DELAY hoisting, lookups); :mod:`~sim.engine.units` and
:mod:`~sim.engine.check` check its dimensions, ranges and sources;
:mod:`~sim.engine.compile` turns it into Python over arrays of runs: it orders
the equations (:mod:`~sim.engine.order`), lays out the arrays
(:mod:`~sim.engine.layout`), writes each expression
(:mod:`~sim.engine.codegen`, with the Vensim functions of
:mod:`~sim.engine.functions`) and the model's functions
(:mod:`~sim.engine.emit`). :mod:`~sim.engine.simulate` integrates it, or
measures yearly sums straight from the steps; :mod:`~sim.engine.parallel`
spreads runs over processes; :mod:`~sim.engine.budget` refuses a study too
large for the machine before it starts. :mod:`~sim.engine.errors`,
:mod:`~sim.engine.names` and :mod:`~sim.engine.files` (atomic writes, and
the rule of which folders ``--out`` may replace) serve every layer.

Imports: only the standard library, numpy, scipy and xarray, and other
modules of the engine. Never :mod:`sim.studies`, :mod:`sim.reports` or
:mod:`sim.cli` (``lint-imports`` checks this in ``make test``).
"""

from pathlib import Path


def load_model(path: str | Path):
    """Read and compile a Vensim ``.mdl`` file (``read_mdl`` then ``compile_model``).

    A model compiled before from the same bytes by the same engine is taken
    from the cache instead (:mod:`~sim.engine.cache`).
    """
    from sim.engine import cache
    from sim.engine.compile import compile_model
    from sim.engine.vensim import read_mdl

    path = Path(path)
    try:
        key = cache.model_key(path, path.read_bytes())
    except OSError:  # read_mdl names the problem
        key = None
    entry = cache.load(key, "model") if key else None
    model = cache.unpack(entry) if entry else None
    if model is None:
        model = compile_model(read_mdl(path))
        if key:
            cache.store(key, "model", cache.pack(model))
    return model
