"""What a study will cost before it starts: memory and time, against what the machine has.

A request that cannot fit (a billion samples, a FINAL TIME of 1e9) is
refused at once with the estimate and the largest size that fits, instead
of failing with a memory error minutes later.
"""

import os

# Measured on the brain model (2 cores, Euler at TIME STEP 1/16): about
# 3,000 runs of 640 steps a second, so roughly 2 million run-steps a second.
RUN_STEPS_PER_S = 2e6
MAX_SECONDS = 24 * 3600  # a study longer than a day is refused, not started
MEMORY_SHARE = 0.5  # of the memory available now, what one study may take


def available_memory() -> int:
    """Return the bytes of memory available now (or a conservative guess)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on Linux: assume 4 GB
        return 4 << 30


def human(nbytes: float) -> str:
    """Return ``nbytes`` in the largest unit that keeps it above 1 (e.g. '3.2 GB')."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(nbytes) < 1000 or unit == "PB":
            return f"{nbytes:.3g} {unit}" if unit != "B" else f"{nbytes:.0f} B"
        nbytes /= 1000
    return f"{nbytes:.3g} PB"


def duration(seconds: float) -> str:
    """Return ``seconds`` as a reader says it: '40 s', '12 min', '3.5 h', '9 days'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"


def check_size(what: str, runs: float, bytes_per_run: float, steps: float, fix: str) -> None:
    """Refuse a study of ``runs`` whose memory or time is past what this machine can give.

    ``fix`` names the option to lower, e.g. ``-n``; the message gives the
    largest number of runs that fits.
    """
    from sim.engine.errors import BrainsimError

    budget = MEMORY_SHARE * available_memory()
    need = runs * bytes_per_run
    if need > budget:
        fits = int(budget // max(bytes_per_run, 1))
        room = f"at most about {fits:,} runs fit" if fits else "not even one run fits"
        raise BrainsimError(
            f"{what}: {runs:,.0f} run{'s' if runs != 1 else ''} would need about "
            f"{human(need)} of memory, more than the {human(budget)} this study may use; "
            f"lower {fix} ({room})"
        )
    seconds = runs * steps / RUN_STEPS_PER_S
    if seconds > MAX_SECONDS:
        fits = int(MAX_SECONDS * RUN_STEPS_PER_S // max(steps, 1))
        room = f"about {fits:,} runs take a day" if fits else "even one run takes over a day"
        raise BrainsimError(
            f"{what}: {runs:,.0f} run{'s' if runs != 1 else ''} of {steps:,.0f} steps would "
            f"take about {duration(seconds)} on this machine; lower {fix} ({room})"
        )
