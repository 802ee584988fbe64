"""The analysis on a Dask cluster: the main job's chunks computed by the cluster's workers.

The per-parcel work is :func:`landplan.analysis.job.analyze_chunk`, the same function the
single-process and the streamed job run, so the results are the same by construction.  The
constraint layers are prepared and the networks indexed once on the driver
(:func:`~landplan.analysis.job.job_context`) and sent to every worker once; then each chunk's
parcels go to a worker and its rows come back in order.  The driver keeps at most a window of
chunks in flight (two per worker), so neither the workers nor the driver hold the county:

- ``landplan analyze --workers N`` streams each chunk to the workspace as it arrives
  (:func:`landplan.store.model.write_streamed` with ``chunks=DaskChunks(client)``);
- :func:`analyze_partitioned` collects the chunks into an in-memory result, for notebooks.

The DEM step (rasters and zonal statistics, numbers only) runs on the driver, before the chunks.

Use it through :func:`landplan.analysis.cluster.dask_client`::

    with dask_client(workers=4) as client:
        result = analyze_partitioned(inputs, policy, client=client)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from landplan.analysis.job import (
    Chunk,
    JobContext,
    Pending,
    analyze_chunk,
    analyze_streamed,
    chunk_args,
    job_context,
)
from landplan.analysis.pipeline import AnalysisResult, Inputs, StepCallback, _noop
from landplan.core.policy import Policy, load_policy

#: parcels per chunk when ``npartitions`` is not given (at least one chunk per worker thread)
PARCELS_PER_PARTITION = 2_000


def _chunk_on_worker(parcels, overlap: np.ndarray, terrain, ctx: JobContext) -> Chunk:
    return analyze_chunk(parcels, overlap, terrain, ctx=ctx)


class DaskChunks:
    """``chunks=`` of :func:`~landplan.analysis.job.analyze_streamed` on a ``distributed.Client``."""

    def __init__(self, client, /) -> None:
        self.client = client

    def __call__(
        self,
        inputs: Inputs,
        policy: Policy,
        bounds: list[tuple[int, int]],
        overlap: np.ndarray,
        terrain: Pending,
    ) -> Iterator[Chunk]:
        client = self.client
        columns = terrain.get()
        ctx = client.scatter(job_context(inputs, policy), broadcast=True, hash=False)
        window = 2 * max(1, sum(client.nthreads().values()))
        todo, pending = deque(bounds), deque()
        try:
            while todo or pending:
                while todo and len(pending) < window:
                    a, b = todo.popleft()
                    parcels, ov, ter = chunk_args(inputs, a, b, overlap, columns)
                    data = client.scatter([parcels, ov, ter], hash=False)
                    pending.append(client.submit(_chunk_on_worker, *data, ctx, pure=False))
                future = pending.popleft()
                chunk = future.result()
                future.release()  # the worker drops the rows now
                yield chunk
        finally:
            for future in pending:
                future.cancel()


def analyze_partitioned(
    inputs: Inputs,
    policy: Policy | None = None,
    /,
    *,
    client,
    npartitions: int | None = None,
    on_step: StepCallback = _noop,
    raster_dir: Path | None = None,
) -> AnalysisResult:
    """:func:`landplan.analysis.job.analyze` with the per-parcel work on a ``distributed.Client``.

    Parameters
    ----------
    inputs, policy
        As for ``analyze``; the result is the same (parcel order, columns, summary).
    client
        A ``distributed.Client`` (see :func:`landplan.analysis.cluster.dask_client`).
    npartitions
        Number of chunks; default: one per ~2000 parcels, at least one per worker thread.
    on_step
        Called with step names as ``analyze`` calls it.
    raster_dir
        Where the DEM step writes its rasters (it runs on the driver, as in ``analyze``).
    """
    policy = policy or load_policy()
    n = len(inputs.parcels)
    if npartitions is None:
        threads = sum(client.nthreads().values()) or 1
        npartitions = max(threads, -(-n // PARCELS_PER_PARTITION))
    size = max(1, -(-n // max(1, int(npartitions))))
    rows: list = []
    streamed = analyze_streamed(
        inputs,
        policy,
        lambda chunk: rows.append(chunk.parcels),
        on_step=on_step,
        raster_dir=raster_dir,
        chunk_parcels=size,
        chunks=DaskChunks(client),
    )
    parcels = rows[0] if len(rows) == 1 else pd.concat(rows, ignore_index=True)
    return AnalysisResult(
        streamed.name,
        streamed.crs,
        parcels.set_geometry(parcels.geometry.name, crs=inputs.parcels.crs),
        streamed.summary,
        streamed.reasons,
        streamed.inputs,
        policy,
        rasters=streamed.rasters,
    )
