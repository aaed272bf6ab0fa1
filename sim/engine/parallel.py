"""Map a function over parts of an ensemble on several cores, by forking.

numpy's elementwise operations on a few thousand values each are too short
for threads to overlap (the interpreter lock is taken between every one), so
each extra part runs in a forked child that inherits the compiled model and
sends back its result through a pipe. Where ``os.fork`` does not exist the
parts run one after another; the results are the same either way.
"""

import contextlib
import os
import pickle
import signal
from collections.abc import Callable, Sequence


def parallel_map(func: Callable, parts: Sequence) -> list:
    """Return ``[func(p) for p in parts]``, computing all but the first in child processes.

    An exception raised by ``func`` in a child is raised again here.
    """
    if len(parts) <= 1 or not hasattr(os, "fork"):
        return [func(p) for p in parts]
    children = [_start(func, part) for part in parts[1:]]
    try:
        first = func(parts[0])
    except BaseException:
        for pid, fd in children:
            # stop them rather than wait for their work: an interrupt should be prompt
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            _reap(pid, fd)
        raise
    results = [first]
    for pid, fd in children:
        status, payload = _reap(pid, fd)
        if status == "error":
            raise payload
        results.append(payload)
    return results


def _start(func: Callable, part) -> tuple:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, and leave without running any cleanup
        os.close(read_end)
        try:
            message = ("ok", func(part))
        except BaseException as err:  # sent to the parent, which raises it
            message = ("error", err)
        try:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:  # an unpicklable exception: send its text
            data = pickle.dumps(("error", RuntimeError(str(err))))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        os._exit(0)
    os.close(write_end)
    return pid, read_end


def _reap(pid: int, fd: int) -> tuple:
    # read everything before waiting: a full pipe would block the child forever
    with os.fdopen(fd, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    if not data:
        return "error", RuntimeError("a worker process ended without a result")
    return pickle.loads(data)
