"""Chunks of a study on a Dask distributed cluster instead of the local process pool.

A study's runs are cut into chunks (:mod:`sim.studies.runner`). On one machine
they go to forked children (:mod:`sim.engine.parallel`); given ``--cluster
ADDRESS`` (or ``BRAINSIM_CLUSTER``) they go to the workers of a Dask
scheduler, and ``local:N`` starts a cluster of N worker processes here.
What every chunk needs (the compiled model, the parameter sets, the stems'
settings) is sent once to each worker, not once per chunk; a chunk sends back
only its yearly measures. A worker that dies has its chunks run again
elsewhere by Dask's scheduler (and the shared data sent again, if the dead
worker held its last copy), and since a run's numbers depend on nothing but
its own parameters, the study's result is the same to the bit.
"""

import itertools
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass

from sim.engine.errors import BrainsimError

ENV = "BRAINSIM_CLUSTER"
# One chunk per worker (at most CHUNK runs each): a step of the numpy engine costs about
# the same for 100 runs as for 2,000, so smaller chunks only add steps; large studies
# are cut into many chunks anyway, which spreads the loss of a worker.
CHUNKS_PER_WORKER = 1
# parts submitted per worker at a time: enough that a worker never waits for the next
IN_FLIGHT = 4
# times one map sends its shared data again after a dead worker took the last copy
RESENDS = 3


@dataclass
class Cluster:
    """A connected Dask client; :meth:`map` runs a function over parts on its workers."""

    client: object

    def scatter(self, value):
        """Return a future of ``value``, copied to every worker now."""
        return self.client.scatter(value, broadcast=True, hash=False)

    @property
    def n_workers(self) -> int:
        """Return the number of workers the scheduler knows now."""
        return max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    def map(self, func, parts: list, shared, progress=None, each=None) -> list:
        """Return ``[func(part, shared) for part in parts]``, computed on the workers.

        ``func`` must be a module-level function; ``shared`` is sent once to
        every worker. The results come back in the order of ``parts``, or,
        given ``each``, are handed to ``each(part, result)`` as they arrive
        and not kept (the list is then of None), so that the client holds
        one result at a time. ``progress(done, total)`` is called as parts
        finish anywhere on the cluster.

        At most :data:`IN_FLIGHT` parts per worker are submitted at a time, the
        next as one finishes: the scheduler would otherwise run a large study's
        parts in no particular order, and a writer that gathers them into
        blocks (:mod:`sim.studies.store`) would hold many unfinished blocks.

        Dask recomputes a lost result but cannot recompute scattered data, and
        its memory manager drops the broadcast copies of ``shared`` that no
        waiting part needs; so a dead worker may take the last copy with it, and
        the parts that needed it come back cancelled. ``shared`` is then sent
        again and those parts resubmitted, at most :data:`RESENDS` times.
        """
        from distributed import KilledWorker, as_completed

        sent = _Shared(self, shared)
        queue = iter(enumerate(parts))
        where: dict = {}
        running = as_completed()

        def submit(k, part):
            future = self.client.submit(
                _call, part, fn=func, shared=sent.future, pure=False, retries=2
            )
            where[future.key] = (k, future, sent.future)
            running.add(future)

        for k, part in itertools.islice(queue, IN_FLIGHT * self.n_workers):
            submit(k, part)
        out: list = [None] * len(parts)
        done = 0
        try:
            for future in running:
                k, _, used = where.pop(future.key)
                if future.cancelled():  # we cancel nothing mid-map: the cluster lost `used`
                    sent.resend(used)
                    submit(k, parts[k])
                    continue
                try:
                    result = future.result()
                except KilledWorker:  # Dask's own message is a traceback's worth
                    raise BrainsimError(
                        "a chunk of the study killed every cluster worker that ran it, "
                        "usually by running out of memory; give the workers more memory, "
                        "or fewer runs at a time, and run again"
                    ) from None
                future.release()
                nxt = next(queue, None)
                if nxt is not None:
                    submit(*nxt)
                if each is None:
                    out[k] = result
                else:
                    each(parts[k], result)
                del result
                done += 1
                if progress is not None:
                    progress(done, len(parts))
            return out
        finally:
            self.client.cancel([f for _, f, _ in where.values()] + [sent.future])


@dataclass
class _Shared:
    """What every part of one :meth:`Cluster.map` needs, as scattered to the workers."""

    cluster: Cluster
    value: object
    future: object = None
    resends: int = 0

    def __post_init__(self):
        self.future = self.cluster.scatter(self.value)

    def resend(self, lost) -> None:
        """Scatter the value again if ``lost`` is still the current copy."""
        if lost is not self.future:  # a part that was already in flight with the old copy
            return
        if self.resends == RESENDS:
            raise BrainsimError(
                f"the cluster lost the study's shared data {RESENDS + 1} times (workers "
                "died); check the workers' logs and memory limits, then run again"
            )
        self.resends += 1
        self.future = self.cluster.scatter(self.value)


def map_parts(func, parts: list, shared, workers=None, progress=None, each=None) -> list:
    """Return ``[func(part, shared) for part in parts]`` on a cluster or on this machine.

    The one execution layer of every study: ``workers`` is a :class:`Cluster`,
    or a number of local processes (``None``: one per core), forked with
    :func:`~sim.engine.parallel.parallel_map`. ``func`` is module-level, so
    that it can be sent to a cluster. ``each`` and ``progress`` are as in
    :meth:`Cluster.map`; on this machine, ``each`` makes the parts run in
    waves of one per process, so that only one wave's results are held.
    """
    if isinstance(workers, Cluster):
        return workers.map(func, parts, shared, progress, each)
    from sim.engine.parallel import parallel_map

    n = max(1, min(workers or os.cpu_count() or 1, len(parts)))
    if each is not None:
        for w in range(0, len(parts), n):
            wave = parts[w : w + n]
            for part, result in zip(
                wave, parallel_map(lambda p: func(p, shared), wave), strict=True
            ):
                each(part, result)
            if progress is not None:
                progress(w + len(wave), len(parts))
        return [None] * len(parts)
    shares = [list(range(w, len(parts), n)) for w in range(n)]

    def work(share):
        out = []
        for k, i in enumerate(share):
            out.append(func(parts[i], shared))
            if progress is not None and share is shares[0]:  # the parent's own share
                progress(min(len(parts), (k + 1) * n), len(parts))
        return out

    results: list = [None] * len(parts)
    for share, done in zip(shares, parallel_map(work, shares), strict=True):
        for i, result in zip(share, done, strict=True):
            results[i] = result
    return results


def _call(part, fn, shared):
    return fn(part, shared)


@contextmanager
def connect(address: str | None):
    """Yield a :class:`Cluster` for ``address`` (or ``$BRAINSIM_CLUSTER``), or None.

    ``local:N`` starts N worker processes on this machine for the duration;
    anything else is the address of a running scheduler, e.g.
    ``tcp://10.0.0.5:8786``.
    """
    address = address or os.environ.get(ENV) or None
    if address is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise BrainsimError(
            "--cluster needs the distributed package; pip install distributed"
        ) from None
    local = None
    try:
        if address.startswith("local:"):
            n = _count(address)
            local = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: no clash with another cluster
                silence_logs=logging.ERROR,
            )
            client = Client(local)
        else:
            client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as err:  # unreachable, or not an address
        if local is not None:
            local.close()
        raise BrainsimError(
            f"--cluster {address}: cannot reach a Dask scheduler there ({err}); give its "
            "address, e.g. tcp://host:8786, or local:2 for a cluster on this machine"
        ) from None
    try:
        yield Cluster(client)
    finally:
        client.close()
        if local is not None:
            local.close()


def _count(address: str) -> int:
    text = address.split(":", 1)[1]
    if not text.isdigit() or int(text) < 1:
        raise BrainsimError(f"--cluster {address}: give the number of local workers, e.g. local:2")
    return int(text)
