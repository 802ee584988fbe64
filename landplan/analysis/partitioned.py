"""The analysis on a Dask cluster: parcels in spatially sorted partitions, the same result as ``analyze``.

The per-parcel work (areas, exclusions, network distances and readiness, verdicts) is
:func:`landplan.analysis.pipeline.parcel_table` plus :func:`landplan.analysis.transfer.decide`; every row
depends only on its own parcel, so it runs on ``dask_geopandas`` partitions.  The
constraint layers are dissolved and subdivided once on the driver
(:func:`landplan.analysis.constraints.prepare_exclusions`) and sent, with the network layer, to
every worker once.  The whole-park part (summary, efficiency, reason counts) and the DEM
step run on the driver, on the gathered table (one row per parcel).

Use it through :func:`landplan.analysis.cluster.dask_client`::

    with dask_client(workers=4) as client:
        result = analyze_partitioned(inputs, policy, client=client)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame

from landplan.analysis.constraints import PreparedExclusions, prepare_exclusions
from landplan.analysis.pipeline import (
    AnalysisResult,
    Inputs,
    StepCallback,
    _noop,
    constraint_kinds,
    development_step,
    finish,
    network_kinds,
    parcel_table,
)
from landplan.analysis.transfer import decide
from landplan.core.policy import Policy, load_policy

ORDER = "__landplan_order__"
PARCELS_PER_PARTITION = 2_000


def _partition(
    part: GeoDataFrame,
    exclusions: PreparedExclusions,
    networks: GeoDataFrame,
    policy: Policy,
    net_kinds: list[str],
    kinds: list[str],
    with_verdicts: bool,
) -> pd.DataFrame:
    """Per-parcel table (and verdicts) of one partition, with the original order column."""
    part = part.set_geometry("geometry")
    table = parcel_table(
        part, policy, exclusions=exclusions, networks=networks, network_kinds=net_kinds
    )
    if with_verdicts:
        verdicts = decide(table, policy, constraint_kinds=kinds, network_kinds=net_kinds)
        table = pd.concat([table, verdicts], axis=1)
    table.insert(0, ORDER, part[ORDER].to_numpy())
    return table.set_axis(part.index, axis=0)


def _gather_streaming(client, parts) -> pd.DataFrame:
    """Fetch partition results as they finish and release them on the workers at once.

    Workers then hold about one partition's result each (bounded memory); the driver assembles
    the table, as the single-process path holds it too.
    """
    from distributed import as_completed

    futures = client.compute(parts.to_delayed())
    done = []
    for future in as_completed(futures):
        done.append(future.result())
        future.release()
    futures.clear()
    return pd.concat(done) if done else parts._meta


def hilbert_order(geoms, /, *, level: int = 16) -> np.ndarray:
    """Indices that sort geometries along a Hilbert curve over their bounding-box centres.

    Computed on the driver, where the parcels already are: a distributed shuffle of the geometries
    (``spatial_shuffle``) costs far more than it saves.  Empty geometries sort first.
    """
    b = shapely.bounds(np.asarray(geoms.values, dtype=object))
    bad = np.isnan(b).any(axis=1)
    cx = np.where(bad, 0.0, (b[:, 0] + b[:, 2]) / 2.0)
    cy = np.where(bad, 0.0, (b[:, 1] + b[:, 3]) / 2.0)
    if (~bad).any():
        lo_x, hi_x = cx[~bad].min(), cx[~bad].max()
        lo_y, hi_y = cy[~bad].min(), cy[~bad].max()
    else:
        lo_x = hi_x = lo_y = hi_y = 0.0
    side = (1 << level) - 1
    x = np.round((cx - lo_x) / max(hi_x - lo_x, 1e-9) * side).astype(np.int64)
    y = np.round((cy - lo_y) / max(hi_y - lo_y, 1e-9) * side).astype(np.int64)
    d = np.zeros(len(x), dtype=np.int64)
    s = 1 << (level - 1)
    while s > 0:  # the classic xy → d conversion, vectorised
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        flip = ~ry
        swap_x = np.where(flip & rx, side - x, x)
        swap_y = np.where(flip & rx, side - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s >>= 1
    d[bad] = -1
    return np.argsort(d, kind="stable")


def _decide_partition(
    table: pd.DataFrame, policy: Policy, kinds: list[str], net_kinds: list[str]
) -> pd.DataFrame:
    return decide(table, policy, constraint_kinds=kinds, network_kinds=net_kinds)


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
    """:func:`landplan.analysis.pipeline.analyze` with the per-parcel work on a ``distributed.Client``.

    Parameters
    ----------
    inputs, policy
        As for ``analyze``; the result is the same (parcel order, columns, summary).
    client
        A ``distributed.Client`` (see :func:`landplan.analysis.cluster.dask_client`).
    npartitions
        Number of parcel partitions; default: one per ~2000 parcels, at least one per worker thread.
    on_step
        Called with the same step names as ``analyze``.
    raster_dir
        Where the DEM step writes its rasters (it runs on the driver, as in ``analyze``).
    """
    import dask.dataframe as dd
    import dask_geopandas

    policy = policy or load_policy()
    parcels = inputs.parcels
    n = len(parcels)
    kinds = constraint_kinds(inputs, policy)
    net_kinds = network_kinds(inputs, policy)
    with_dem = inputs.dem_path is not None
    if npartitions is None:
        threads = sum(client.nthreads().values()) or 1
        npartitions = max(threads, -(-n // PARCELS_PER_PARTITION))
    npartitions = max(1, min(int(npartitions), max(n, 1)))

    on_step("areas")
    local = GeoDataFrame(
        {ORDER: np.arange(n, dtype="int64")},
        geometry=parcels.geometry.reset_index(drop=True),
        crs=parcels.crs,
    )
    local = local.iloc[hilbert_order(local.geometry)].reset_index(drop=True)
    on_step("overlay")
    prepared = prepare_exclusions(inputs.constraints, policy)
    # meta from one parcel on the driver: exact column names and dtypes
    base_meta = _partition(
        local.iloc[:1], prepared, inputs.networks, policy, net_kinds, kinds, False
    )
    verdict_meta = decide(
        base_meta.drop(columns=ORDER), policy, constraint_kinds=kinds, network_kinds=net_kinds
    ).iloc[:0]
    base_meta = base_meta.iloc[:0]
    meta = base_meta if with_dem else pd.concat([base_meta, verdict_meta], axis=1)
    on_step("networks")
    if n:
        ddf = dask_geopandas.from_geopandas(local, npartitions=npartitions, sort=False)
        prepared_f = client.scatter(prepared, broadcast=True, hash=False)
        networks_f = client.scatter(inputs.networks, broadcast=True, hash=False)
        parts = ddf.map_partitions(
            _partition,
            prepared_f,
            networks_f,
            policy,
            net_kinds,
            kinds,
            not with_dem,
            meta=meta,
            align_dataframes=False,
        )
        gathered = _gather_streaming(client, parts)
        gathered = gathered.sort_values(ORDER, kind="stable")
        if not np.array_equal(gathered[ORDER].to_numpy(), np.arange(n)):  # a bug, not bad input
            raise RuntimeError("partitioned analysis lost or duplicated parcels")
    else:
        gathered = meta
    table = gathered.drop(columns=ORDER).reset_index(drop=True)

    if with_dem:
        table, rasters = development_step(
            inputs, table, policy, on_step=on_step, raster_dir=raster_dir
        )
        on_step("verdicts")
        tparts = max(1, min(npartitions, len(table)))
        verdicts = (
            dd.from_pandas(table, npartitions=tparts, sort=True)
            .map_partitions(_decide_partition, policy, kinds, net_kinds, meta=verdict_meta)
            .pipe(lambda d: client.compute(d).result())
            .sort_index()
        )
    else:
        rasters = {}
        on_step("verdicts")
        verdicts = table[list(verdict_meta.columns)]
        table = table.drop(columns=list(verdict_meta.columns))
    return finish(inputs, table, verdicts, policy, rasters=rasters)
