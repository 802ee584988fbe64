"""The main job written as it runs: each chunk's rows go to the workspace, then are dropped.

``landplan analyze --out DIR`` runs :func:`landplan.analysis.job.analyze_streamed` inside the
workspace's staging directory (:func:`~landplan.store.workspace.staged_directory`):

- the inputs (reprojected) are written to ``workspace.gpkg`` first;
- every chunk of result rows is appended to ``results.gpkg`` → ``parcels`` (pyogrio's Arrow
  path), fed to ``park_summary.xlsx`` (:class:`~landplan.store.workbook_feed.WorkbookFeed`)
  and to the caller's sinks (the map);
- the rows are written once: ``workspace.gpkg`` → ``result_parcels`` is a copy of them made
  inside SQLite, with the park summary, reason counts, findings and styles
  (:func:`~landplan.store.workspace.write_result_tables`), in a thread beside the caller's
  extras (``map.html``); the policy and marker follow.

Only a complete stage replaces the previous workspace, as with
:meth:`~landplan.store.workspace.GpkgWorkspace.write_result`, so a failure anywhere leaves the
previous workspace intact.  Memory is bounded by a chunk of rows, not by the parcel count.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pyogrio
from geopandas import GeoDataFrame

from landplan.analysis.chunkpool import ChunkPool
from landplan.analysis.job import (
    Chunk,
    StreamedResult,
    analyze_streamed,
    chunk_bounds,
    chunk_size,
)
from landplan.analysis.pipeline import Inputs, StepCallback, _noop
from landplan.core.policy import Policy
from landplan.io.vector import reports_frame
from landplan.store.workbook_feed import WorkbookFeed, background_threshold
from landplan.store.workspace import (
    _write_files,
    sync_files,
    write_inputs,
    write_layer,
    write_result_tables,
    write_summary_csv,
)

RowSink = Callable[[GeoDataFrame], None]
StreamedWriter = Callable[[Path, StreamedResult], None]


class LayerAppender:
    """One GeoPackage layer written chunk by chunk: the first chunk creates it, later ones append.

    ``geometry`` (:func:`layer_geometry` of all the rows) fixes the layer's geometry type, so a
    ``Polygon`` first chunk followed by a ``MultiPolygon`` one gives the layer one write of all
    rows would give (``MultiPolygon``, every polygon promoted), not a mixed layer.
    """

    def __init__(self, gpkg: Path, name: str, /, *, geometry: dict | None = None) -> None:
        self.gpkg, self.name, self.created = gpkg, name, False
        self.geometry = geometry or {}

    def add(self, frame: GeoDataFrame, /) -> None:
        if not self.created:
            write_layer(self.gpkg, self.name, frame, **self.geometry)
            self.created = True
        elif len(frame):
            _append(self.gpkg, self.name, frame, self.geometry)


def _append(gpkg: Path, name: str, frame: GeoDataFrame, geometry: dict) -> None:
    from pyarrow import ArrowException

    options = {"layer": name, "driver": "GPKG", "append": True, **geometry}
    try:
        pyogrio.write_dataframe(frame, gpkg, use_arrow=True, **options)
    except ArrowException:  # an object column of mixed types: the row path, as write_layer does
        pyogrio.write_dataframe(frame, gpkg, use_arrow=False, **options)


def layer_geometry(frame: GeoDataFrame, /) -> dict:
    """The ``geometry_type`` and ``promote_to_multi`` pyogrio picks when it writes all of ``frame``.

    They depend only on which geometry types (and Z or not) occur, so pyogrio itself decides
    them on one row of each kind, written to memory (``/vsimem/``).
    """
    geoms = frame.geometry
    types = geoms.geom_type
    rows = {int(np.flatnonzero((types == t).to_numpy())[0]) for t in types.dropna().unique()}
    if types.isna().any():
        rows.add(int(np.flatnonzero(types.isna().to_numpy())[0]))
    solid = np.flatnonzero((geoms.notna() & ~geoms.is_empty).to_numpy())
    z = geoms.iloc[solid].has_z.to_numpy()
    for flag in (True, False):
        if (z == flag).any():
            rows.add(int(solid[np.flatnonzero(z == flag)[0]]))
    sample = frame.iloc[sorted(rows)][[geoms.name]]
    path = f"/vsimem/landplan-{uuid.uuid4().hex}.gpkg"
    try:
        pyogrio.write_dataframe(sample, path, layer="g", driver="GPKG")
        chosen = str(pyogrio.read_info(path, layer="g")["geometry_type"])
    finally:
        with contextlib.suppress(Exception):
            pyogrio.vsi_unlink(path)
    singles = {"Point", "LineString", "Polygon"}
    promote = chosen.startswith("Multi") and bool(singles & set(types.dropna().unique()))
    return {"geometry_type": chosen, "promote_to_multi": promote}


def stream_into(
    stage: Path,
    inputs: Inputs,
    policy: Policy,
    /,
    *,
    lang: str = "zh",
    sinks: Sequence[RowSink] = (),
    extras: Mapping[str, StreamedWriter] | None = None,
    on_step: StepCallback = _noop,
    raster_dir: Path | None = None,
    chunks=None,
    on_rasters=None,
) -> StreamedResult:
    """Run the streamed job and write the whole workspace into ``stage`` (see the module docstring).

    ``on_rasters``: see :func:`~landplan.analysis.job.analyze_streamed`."""
    with ExitStack() as stack:
        if chunks is None and len(chunk_bounds(len(inputs.parcels), chunk_size())) > 1:
            chunks = stack.enter_context(ChunkPool(inputs, policy))
        return _stream(
            stage,
            inputs,
            policy,
            lang=lang,
            sinks=sinks,
            extras=extras,
            on_step=on_step,
            raster_dir=raster_dir,
            chunks=chunks,
            on_rasters=on_rasters,
        )


def _stream(
    stage: Path,
    inputs: Inputs,
    policy: Policy,
    /,
    *,
    lang,
    sinks,
    extras,
    on_step,
    raster_dir,
    chunks,
    on_rasters,
) -> StreamedResult:
    gpkg, results = stage / "workspace.gpkg", stage / "results.gpkg"
    validation = reports_frame(inputs.reports)
    threshold = background_threshold()
    background = len(inputs.parcels) >= threshold > 0
    with (
        WorkbookFeed(stage, lang=lang, background=background) as book,
        ThreadPoolExecutor(1, thread_name_prefix="landplan-inputs") as io,
    ):
        geometry = layer_geometry(inputs.parcels) if len(inputs.parcels) else {}
        rows = LayerAppender(results, "parcels", geometry=geometry)

        def sink(chunk: Chunk) -> None:
            if inputs_written.done():  # a failed input write stops the job now, not at the end
                inputs_written.result()
            rows.add(chunk.parcels)
            book.add(chunk.parcels)
            for extra in sinks:
                extra(chunk.parcels)

        # the inputs go to workspace.gpkg while the chunks are computed and written
        inputs_written = io.submit(write_inputs, gpkg, inputs)
        result = analyze_streamed(
            inputs,
            policy,
            sink,
            on_step=on_step,
            raster_dir=raster_dir,
            chunks=chunks,
            on_rasters=on_rasters,
        )
        inputs_written.result()
        # the GeoPackages are finished and synced in the thread while the rest is written
        finished = io.submit(_finish_gpkgs, gpkg, results, result, validation)
        _write_files(stage, result)
        write_summary_csv(stage, result.summary)
        book.finish(result.summary, result.reasons, validation)  # written meanwhile, if it can be
        for writer in (extras or {}).values():
            writer(stage, result)
        book.wait()
        finished.result()
    return result


def _finish_gpkgs(gpkg: Path, results: Path, result, validation) -> None:
    write_result_tables(gpkg, results, result, validation)
    sync_files([gpkg, results])
