"""Chunks of a study on a Dask distributed cluster instead of the local process pool.

A study's runs are cut into chunks (:mod:`sim.studies.runner`). On one machine
they go to forked children (:mod:`sim.engine.parallel`); given ``--cluster
ADDRESS`` (or ``BRAINSIM_CLUSTER``) they go to the workers of a Dask
scheduler, and ``local:N`` starts a cluster of N worker processes here.
What every chunk needs (the compiled model, the parameter sets, the stems'
settings) is sent once to each worker, not once per chunk; a chunk sends back
only its yearly measures. A worker that dies has its chunks run again
elsewhere by Dask's scheduler, and since a run's numbers depend on nothing
but its own parameters, the study's result is the same to the bit.
"""

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


@dataclass
class Cluster:
    """A connected Dask client; :meth:`map` runs a function over parts on its workers."""

    client: object

    @property
    def n_workers(self) -> int:
        """Return the number of workers the scheduler knows now."""
        return max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    def map(self, func, parts: list, shared) -> list:
        """Return ``[func(part, shared) for part in parts]``, computed on the workers.

        ``func`` must be a module-level function; ``shared`` is sent once to
        every worker. The results come back in the order of ``parts``.
        """
        shared_future = self.client.scatter(shared, broadcast=True, hash=False)
        futures = self.client.map(
            _call, parts, fn=func, shared=shared_future, pure=False, retries=2
        )
        try:
            return self.client.gather(futures)
        finally:
            self.client.cancel([*futures, shared_future])


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
