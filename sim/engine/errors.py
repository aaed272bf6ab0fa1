"""Exceptions that reach the user as one line of text.

Every error a user can cause (a bad file, an unknown name, a value out of
range, a run that produces NaN) is raised as a :class:`BrainsimError`. The
command line prints its message on one line and exits with status 2.
"""


class BrainsimError(Exception):
    """An error caused by the user's input; its message says where and how to fix it.

    The message is kept to one line whatever text of the user's it quotes: a
    line break inside a quoted key or equation is shown as a backslash and n.
    """

    def __init__(self, message: str = "", *args):
        one_line = str(message).replace("\r", "\\r").replace("\n", "\\n")
        super().__init__(one_line, *args)


class ModelError(BrainsimError):
    """The ``.mdl`` file cannot be read, or its structure cannot be simulated."""


class UnsupportedFunctionError(ModelError):
    """The model uses a Vensim function the engine does not implement."""


class ParameterError(BrainsimError):
    """A parameter name or value given to a run is unknown or invalid."""


class SimulationError(BrainsimError):
    """A run failed: a solver error, or a NaN/inf produced by an equation."""
