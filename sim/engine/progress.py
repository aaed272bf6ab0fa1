"""Count the steps of a long job for a progress report."""

from collections.abc import Callable


def ticker(progress: Callable | None, total: int) -> Callable:
    """Return ``tick()``, which counts a step done and reports ``(done, total)`` to ``progress``.

    ``progress`` may be ``None`` (nothing is reported); ``done`` never passes ``total``.
    """
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(min(done[0], total), total)

    return tick
