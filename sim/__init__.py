"""brainsim: a system-dynamics simulator of Japan's international brain circulation.

The public API is the pipeline ``.mdl`` → spec → compiled model → Dataset:

>>> import sim
>>> model = sim.load_model("model/brain_circulation.mdl")   # doctest: +SKIP
>>> ds = sim.simulate(model, {"tau": [2.0, 4.0]})           # doctest: +SKIP
"""

from sim.engine import load_model
from sim.engine.compile import CompiledModel, compile_model
from sim.engine.errors import (
    BrainsimError,
    ModelError,
    ParameterError,
    SimulationError,
    UnsupportedFunctionError,
)
from sim.engine.simulate import METHODS, Result, integrate, simulate, to_dataset
from sim.engine.spec import ModelSpec
from sim.engine.vensim import read_mdl

__all__ = [
    "METHODS",
    "BrainsimError",
    "CompiledModel",
    "ModelError",
    "ModelSpec",
    "ParameterError",
    "Result",
    "SimulationError",
    "UnsupportedFunctionError",
    "compile_model",
    "integrate",
    "load_model",
    "read_mdl",
    "simulate",
    "to_dataset",
]
