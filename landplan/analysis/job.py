"""The main job, chunk by chunk: one function per chunk of parcels, whole-park figures from partials.

Every per-parcel figure (areas, exclusions, network distances, readiness, the DEM's zonal
columns and costs, verdicts and reasons) depends only on its own parcel, so the job runs
:func:`analyze_chunk` over consecutive slices of the parcels:

- :func:`analyze` (the library and the tests) takes all parcels as one chunk and returns the
  whole result in memory;
- :func:`analyze_streamed` (``landplan analyze --out``) hands each chunk's rows to a sink as
  soon as they are made (the workspace writer appends them to the GeoPackages, the workbook
  and the map) and keeps only the few columns the park summary needs, so memory is bounded by
  the chunk, not by the county.  Its chunks can be computed by a second process
  (:mod:`landplan.analysis.chunkpool`) while this one writes the previous chunk.

Things that need every parcel at once are done once, before the chunks: the overlaps between
parcels (found by validation), and the DEM's rasters and zonal statistics (numbers only).
Results are the same whatever the chunk size (``tests/landplan/test_job.py``).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
from geopandas import GeoDataFrame

from landplan.analysis.constraints import PreparedExclusions, prepare_exclusions
from landplan.analysis.networks import PreparedNetworks, prepare_networks
from landplan.analysis.pipeline import (
    AnalysisResult,
    Inputs,
    StepCallback,
    _noop,
    assemble,
    blocking_from_json,
    constraint_kinds,
    geometry_status,
    load_inputs,
    network_kinds,
    parcel_table,
    renamed_inputs,
    summary_columns,
    whole_park,
)
from landplan.analysis.transfer import (
    Verdicts,
    assess,
    blocking_codes_of,
    reason_counts,
    reason_counts_of,
)
from landplan.core.parallel import env_int
from landplan.core.policy import Policy, load_policy
from landplan.core.types import JOB_RASTERS
from landplan.io.checks import known_overlaps, overlap_counted_before_m2
from landplan.io.manifest import load_manifest

#: parcels per chunk of :func:`analyze_streamed` (``LANDPLAN_CHUNK_PARCELS`` overrides): large
#: enough that per-chunk overheads vanish, small enough that a chunk's rows (~8 KB per parcel
#: with their reason texts) stay a few hundred MB.  8 000 rather than 12 500: at 50 000 parcels
#: the three processes' summed PSS fell by ~100 MiB (4000² DEM: 1 122–1 187 against
#: 1 204–1 372 MiB in four alternating runs each; without a DEM 1 015–1 047 against
#: 1 135–1 145), in the same time within this VM's noise (DEM medians 29.5 against 29.0 s)
CHUNK_PARCELS = 8_000


@dataclass(frozen=True)
class JobContext:
    """What every chunk needs: the policy and the prepared layers (sent once to a worker)."""

    policy: Policy
    exclusions: PreparedExclusions
    networks: PreparedNetworks
    network_kinds: list[str]
    constraint_kinds: list[str]


def job_context(inputs: Inputs, policy: Policy, /) -> JobContext:
    """Dissolve and subdivide the constraint layers, index the networks, once; note the kinds."""
    kinds = network_kinds(inputs, policy)
    return JobContext(
        policy,
        prepare_exclusions(inputs.constraints, policy),
        prepare_networks(inputs.networks, kinds=kinds),
        kinds,
        constraint_kinds(inputs, policy),
    )


@dataclass(frozen=True)
class Chunk:
    """One chunk's result rows, with what the whole-park figures need of them."""

    parcels: GeoDataFrame  # the rows of ``result_parcels``, index 0..n-1 of the chunk
    renamed: dict[str, str]  # source attributes renamed because landplan has a column of that name
    blocking: pd.DataFrame  # one boolean column per ``block`` code present in the chunk
    counts: pd.DataFrame  # reason counts of the chunk


def analyze_chunk(
    parcels: GeoDataFrame,
    overlap_m2: np.ndarray,
    terrain: pd.DataFrame | None = None,
    /,
    *,
    ctx: JobContext,
    on_step: StepCallback = _noop,
    table: pd.DataFrame | None = None,
) -> Chunk:
    """Areas, exclusions, networks, DEM costs, verdicts and reasons of consecutive parcels.

    ``overlap_m2`` is the area each parcel shares with parcels listed before it (over all
    parcels, :func:`~landplan.io.checks.overlap_counted_before_m2`); ``terrain`` the DEM's zonal
    columns of these parcels (:func:`~landplan.raster.development.terrain_columns`), or None.
    ``table`` is :func:`chunk_table` of these parcels when already made (it needs no DEM, so a
    worker makes it while the DEM step runs).
    """
    policy = ctx.policy
    if table is None:
        table = chunk_table(parcels, ctx, on_step=on_step)
    if terrain is not None:
        from landplan.raster.development import development_costs

        terrain = terrain.reset_index(drop=True)
        costs = development_costs(terrain, table, policy)
        table = pd.concat(
            [table, terrain.set_index(table.index), costs.set_index(table.index)], axis=1
        )
    on_step("verdicts")
    verdicts = assess(
        table, policy, constraint_kinds=ctx.constraint_kinds, network_kinds=ctx.network_kinds
    )
    table = table.drop(columns=["geometry_empty", "geometry_invalid"], errors="ignore")
    table = table.assign(overlap_counted_m2=np.asarray(overlap_m2, dtype="float64"))
    if isinstance(verdicts, Verdicts):
        out, renamed = assemble(parcels, table, verdicts.frame)
        blocking = blocking_codes_of(verdicts.flagged)
        counts = reason_counts_of(verdicts.flagged, out["area_mu"].to_numpy())
    else:  # a plain verdict frame (a reference implementation in the tests): from its JSON
        out, renamed = assemble(parcels, table, verdicts)
        blocking = blocking_from_json(out["reasons"])
        counts = reason_counts(out["reasons"].tolist(), out["area_mu"].tolist())
    return Chunk(out, renamed, blocking, counts)


def chunk_table(
    parcels: GeoDataFrame, ctx: JobContext, /, *, on_step: StepCallback = _noop
) -> pd.DataFrame:
    """The first half of :func:`analyze_chunk`: areas, exclusions, network distances (no DEM)."""
    return parcel_table(
        parcels,
        ctx.policy,
        exclusions=ctx.exclusions,
        networks=ctx.networks,
        network_kinds=ctx.network_kinds,
        on_step=on_step,
    )


def terrain_step(
    inputs: Inputs,
    policy: Policy,
    /,
    *,
    on_step: StepCallback = _noop,
    raster_dir: Path | None,
    locate=None,
) -> tuple[pd.DataFrame | None, dict[str, Path]]:
    """The DEM's rasters and every parcel's zonal columns (None, {} without a DEM).

    ``locate``: where the parcels' cells are found (see
    :func:`~landplan.raster.development.terrain_columns`)."""
    if inputs.dem_path is None:
        return None, {}
    from landplan.raster.development import terrain_columns, usable_parcels

    folder = Path(raster_dir) if raster_dir else Path(tempfile.mkdtemp(prefix=JOB_RASTERS))
    empty = pd.DataFrame({"geometry_empty": geometry_status(inputs.parcels) != "ok"})
    return terrain_columns(
        inputs.parcels,
        usable_parcels(inputs.parcels, empty),
        dem_path=inputs.dem_path,
        constraints=inputs.constraints,
        networks=inputs.networks,
        policy=policy,
        folder=folder,
        on_step=on_step,
        locate=locate,
    )


def overlaps_m2(inputs: Inputs, /) -> np.ndarray:
    """Per parcel, the area it shares with parcels listed before it (validation's pairs)."""
    geoms = np.asarray(inputs.parcels.geometry.values, dtype=object)
    return overlap_counted_before_m2(geoms, known_overlaps(inputs.parcels))


def analyze(
    inputs: Inputs,
    policy: Policy | None = None,
    /,
    *,
    on_step: StepCallback = _noop,
    raster_dir: Path | None = None,
) -> AnalysisResult:
    """Available land, network readiness and transfer verdicts for every parcel, in memory.

    With a DEM, also terrain, suitability and development cost (:mod:`landplan.raster.development`);
    its rasters go to ``raster_dir`` (a new temporary directory when not given).
    :func:`landplan.analysis.partitioned.analyze_partitioned` gives the same result on a Dask
    cluster, :func:`analyze_streamed` chunk by chunk.
    """
    policy = policy or load_policy()
    terrain, rasters = terrain_step(inputs, policy, on_step=on_step, raster_dir=raster_dir)
    ctx = job_context(inputs, policy)
    chunk = analyze_chunk(inputs.parcels, overlaps_m2(inputs), terrain, ctx=ctx, on_step=on_step)
    out = chunk.parcels
    named = renamed_inputs(inputs, chunk.renamed)
    summary, reasons = whole_park(named, policy, out, chunk.blocking, [chunk.counts])
    return AnalysisResult(
        named.name, named.crs, out, summary, reasons, named, policy, rasters=rasters
    )


# --------------------------------------------------------------------------- streamed


ChunkSink = Callable[[Chunk], None]


def chunk_size() -> int:
    """Parcels per chunk: ``LANDPLAN_CHUNK_PARCELS`` or :data:`CHUNK_PARCELS`."""
    return max(1, env_int("LANDPLAN_CHUNK_PARCELS", CHUNK_PARCELS))


def chunk_bounds(n: int, size: int, /) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``0..n``: chunks of ``size``, the first and last smaller.

    One chunk when ``n <= size`` (an empty one if n = 0).  Otherwise the first chunk holds a
    quarter of ``size`` (the writer has nothing to do until it arrives), and so does the last
    at most (what the writer and the workbook still do after it is computed is the tail of the
    job): the remainder past the last whole chunk is split when it is larger.

    Examples
    --------
    >>> chunk_bounds(10, 4)
    [(0, 1), (1, 5), (5, 9), (9, 10)]
    >>> chunk_bounds(3, 4)
    [(0, 3)]
    >>> [b - a for a, b in chunk_bounds(50_000, 12_500)]
    [3125, 12500, 12500, 12500, 6250, 3125]
    """
    if n <= size:
        return [(0, n)]
    quarter = max(1, size // 4)
    cuts = [0, *range(quarter, n, size)]
    if n - cuts[-1] > quarter:
        cuts.append(n - quarter)
    return list(pairwise([*cuts, n]))


@dataclass(frozen=True)
class StreamedResult:
    """What :func:`analyze_streamed` keeps: everything of :class:`AnalysisResult` but the rows.

    ``parcels`` holds only the :func:`~landplan.analysis.pipeline.summary_columns` (no geometry,
    no reason texts): the rows themselves went to the sink.
    """

    name: str
    crs: object
    parcels: pd.DataFrame
    summary: pd.DataFrame
    reasons: pd.DataFrame
    inputs: Inputs
    policy: Policy
    rasters: dict[str, Path]


def analyze_streamed(
    inputs: Inputs,
    policy: Policy,
    sink: ChunkSink,
    /,
    *,
    on_step: StepCallback = _noop,
    raster_dir: Path | None = None,
    chunk_parcels: int | None = None,
    chunks: Callable[..., Iterator[Chunk]] | None = None,
    on_rasters: Callable[[dict[str, Path]], None] | None = None,
) -> StreamedResult:
    """:func:`analyze`, with each chunk's rows given to ``sink`` in order and then dropped.

    ``chunks(inputs, policy, bounds, overlap, terrain)`` yields the chunks in order (``terrain``
    is a :class:`Pending` DEM step, computed in a thread meanwhile): by default
    :func:`local_chunks` computes them here, a :class:`~landplan.analysis.chunkpool.ChunkPool` in
    a second process.  ``on_rasters(paths)`` (optional) is called as soon as the DEM step's
    rasters are in place, before the chunks are done (e.g. to draw the map's overlays meanwhile);
    its errors are ignored (what it prepares is made again where it is needed).
    """
    from concurrent.futures import ThreadPoolExecutor

    bounds = chunk_bounds(len(inputs.parcels), chunk_parcels or chunk_size())
    make = chunks or local_chunks
    kept, blocking, counts = [], [], []
    named, keep = inputs, None
    with ThreadPoolExecutor(1, thread_name_prefix="landplan-dem") as dem:
        # the DEM step runs in a thread while the chunks' first halves are made (ChunkPool)
        terrain = dem.submit(
            terrain_step,
            inputs,
            policy,
            on_step=on_step,
            raster_dir=raster_dir,
            locate=getattr(make, "locate", None),  # a chunk worker finds the DEM cells
        )
        if on_rasters is not None:
            terrain.add_done_callback(partial(_rasters_ready, on_rasters))
        for chunk in make(inputs, policy, bounds, overlaps_m2(inputs), Pending(terrain)):
            if keep is None:
                named = renamed_inputs(inputs, chunk.renamed)
                keep = summary_columns(named, policy, [str(c) for c in chunk.parcels.columns])
                on_step("verdicts")
            sink(chunk)
            kept.append(pd.DataFrame(chunk.parcels[keep]))
            blocking.append(chunk.blocking)
            counts.append(chunk.counts)
        rasters = terrain.result()[1]
    light = pd.concat(kept, ignore_index=True)
    block = pd.concat(blocking, ignore_index=True).fillna(False).astype(bool)
    summary, reasons = whole_park(named, policy, light, block, counts)
    return StreamedResult(named.name, named.crs, light, summary, reasons, named, policy, rasters)


def _rasters_ready(on_rasters, future, /) -> None:
    if future.cancelled() or future.exception() is not None:
        return  # the job reports the DEM step's error itself
    with contextlib.suppress(Exception):
        on_rasters(future.result()[1])


class Pending:
    """The DEM step's columns, being computed: ``ready()`` says whether :meth:`get` would wait."""

    def __init__(self, future) -> None:
        self._future = future

    def ready(self) -> bool:
        return self._future.done()

    @property
    def future(self):
        """The step's future (to wait for it beside others)."""
        return self._future

    def get(self) -> pd.DataFrame | None:
        return self._future.result()[0]


def local_chunks(
    inputs: Inputs,
    policy: Policy,
    bounds: list[tuple[int, int]],
    overlap: np.ndarray,
    terrain: Pending,
    /,
) -> Iterator[Chunk]:
    """The chunks, computed in this process one after the other."""
    ctx = job_context(inputs, policy)
    columns = terrain.get()
    for a, b in bounds:
        yield analyze_chunk(*chunk_args(inputs, a, b, overlap, columns), ctx=ctx)


def chunk_args(
    inputs: Inputs, a: int, b: int, overlap: np.ndarray, terrain: pd.DataFrame | None, /
) -> tuple[GeoDataFrame, np.ndarray, pd.DataFrame | None]:
    """Parcels ``a:b`` (without the whole layer's ``attrs``), their overlaps and DEM columns."""
    part = inputs.parcels.iloc[a:b]
    part.attrs = {}  # validation's overlap pairs are of the whole layer: not sent with a chunk
    return part, overlap[a:b], None if terrain is None else terrain.iloc[a:b]


def run_manifest(
    path: str | Path, /, *, policy: Policy | None = None, on_step: StepCallback = _noop
) -> AnalysisResult:
    """Load a manifest and analyse it."""
    inputs = load_inputs(load_manifest(path), on_step=on_step)
    return analyze(inputs, policy, on_step=on_step)
