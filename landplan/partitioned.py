"""The analysis on a Dask cluster: parcels in spatially sorted partitions, the same result as ``analyze``.

The per-parcel work (areas, exclusions, network distances and readiness, verdicts) is
:func:`landplan.pipeline.parcel_table` plus :func:`landplan.transfer.decide`; every row
depends only on its own parcel, so it runs on ``dask_geopandas`` partitions.  The
constraint layers are dissolved and subdivided once on the driver
(:func:`landplan.constraints.prepare_exclusions`) and sent, with the network layer, to
every worker once.  The whole-park part (summary, efficiency, reason counts) and the DEM
step run on the driver, on the gathered table (one row per parcel).

Use it through :func:`landplan.cluster.dask_client`::

    with dask_client(workers=4) as client:
        result = analyze_partitioned(inputs, policy, client=client)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame, GeoSeries

from landplan.constraints import PreparedExclusions, prepare_exclusions
from landplan.pipeline import (
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
from landplan.policy import Policy, load_policy
from landplan.transfer import decide

ORDER = "__landplan_order__"
SORT_KEY = "__landplan_sort_key__"
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


def _sort_points(geoms) -> np.ndarray:
    """Bounding-box centres to sort by: the Hilbert key rejects empty geometries, which get the park's centre."""
    values = np.asarray(geoms.values, dtype=object)
    b = shapely.bounds(values)
    points = shapely.points((b[:, 0] + b[:, 2]) / 2.0, (b[:, 1] + b[:, 3]) / 2.0)
    bad = np.isnan(b).any(axis=1)
    if bad.any():
        total = b[~bad]
        centre = (
            shapely.Point(
                (total[:, 0].min() + total[:, 2].max()) / 2.0,
                (total[:, 1].min() + total[:, 3].max()) / 2.0,
            )
            if len(total)
            else shapely.Point(0.0, 0.0)
        )
        points[bad] = centre
    return GeoSeries(points, crs=geoms.crs)


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
    """:func:`landplan.pipeline.analyze` with the per-parcel work on a ``distributed.Client``.

    Parameters
    ----------
    inputs, policy
        As for ``analyze``; the result is the same (parcel order, columns, summary).
    client
        A ``distributed.Client`` (see :func:`landplan.cluster.dask_client`).
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
    local[SORT_KEY] = _sort_points(local.geometry)
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
        ddf = dask_geopandas.from_geopandas(local.set_geometry(SORT_KEY), npartitions=npartitions)
        if npartitions > 1:
            ddf = ddf.spatial_shuffle(by="hilbert", npartitions=npartitions, shuffle_method="tasks")
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
        gathered = client.compute(parts).result()
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
