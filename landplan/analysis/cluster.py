"""One switch for Dask: an existing cluster, a local one, or none (the single-process path).

``LANDPLAN_DASK_SCHEDULER`` (or ``--scheduler ADDRESS``) connects to a running dask.distributed
scheduler; ``--workers N`` starts a ``LocalCluster`` of N single-threaded worker processes for the
duration of the command; with neither, nothing is started and the plain path runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ENV_SCHEDULER = "LANDPLAN_DASK_SCHEDULER"


@contextmanager
def dask_client(
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    memory_limit: str = "auto",
    on_dashboard: Callable[[str], None] | None = None,
) -> Iterator[object | None]:
    """Yield a ``distributed.Client``, or ``None`` when no cluster was asked for.

    ``scheduler`` wins over ``workers``; the environment variable counts as a ``scheduler``.
    ``on_dashboard`` receives the dashboard link so the CLI can print it.
    """
    scheduler = scheduler or os.environ.get(ENV_SCHEDULER) or None
    if scheduler is None and not workers:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        client = Client(scheduler)
        cluster = None
    else:
        cluster = LocalCluster(
            n_workers=int(workers),
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",
        )
        client = Client(cluster)
    try:
        if on_dashboard is not None and client.dashboard_link:
            on_dashboard(client.dashboard_link)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
