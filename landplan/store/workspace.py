"""The embedded workspace store: a directory QGIS opens as it is.

Layout of a workspace directory::

    landplan-workspace.json   marker + metadata (CRS, name, versions, time)
    workspace.gpkg            inputs (reprojected) + result layers and tables
    results.gpkg              the deliverable: layer ``parcels`` + ``park_summary``
    park_summary.csv / .xlsx  totals, reason counts, validation findings
    validation_report.json    every finding about every input layer
    policy.toml               the profile the results were computed with
    rasters/dem.tif           the DEM as a Cloud-Optimised GeoTIFF (when given)
    map.html                  the result map (written by the CLI)

Writes are atomic at the level of the whole workspace: everything is written to
a staging directory beside the target, and only a complete stage replaces the
previous workspace (rename), so a failed run leaves the previous results intact
and never a partial workspace.  A directory that is not a landplan workspace and
not empty is never overwritten.

:class:`landplan.store.model.Workspace` is the model over this and the PostGIS store.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pandas as pd
import pyogrio
from geopandas import GeoDataFrame

from landplan.core.errors import WorkspaceError
from landplan.core.types import GPKG_DATASET_OPTIONS
from landplan.io.vector import reports_frame

MARKER = "landplan-workspace.json"
FORMAT_VERSION = 1
Writer = Callable[[Path], None]


def check_target(path: Path, /) -> None:
    """Refuse to replace a directory that holds anything but a landplan workspace."""
    if path.exists() and not path.is_dir():
        raise WorkspaceError(f"{path} exists and is a file; choose a directory for the workspace")
    if path.is_dir() and any(path.iterdir()) and not (path / MARKER).exists():
        raise WorkspaceError(
            f"{path} is not empty and is not a landplan workspace; choose a new or empty directory "
            "(landplan never overwrites other files)"
        )


def recover(target: str | Path, /) -> bool:
    """Finish what a killed write left behind; True when a previous workspace was put back.

    A write killed between its two renames leaves the previous workspace as
    ``.NAME.previous-<token>`` and nothing at ``NAME``: it is renamed back.  Leftover
    ``.NAME.staging-*`` directories of killed writes are removed (they never held the only copy).
    """
    target = Path(target).resolve()
    restored = False
    previous = sorted(
        target.parent.glob(f".{target.name}.previous-*"), key=lambda p: p.stat().st_mtime
    )
    if previous and not target.exists() and (previous[-1] / MARKER).exists():
        previous[-1].rename(target)
        previous = previous[:-1]
        restored = True
    if target.exists():
        for stale in [*previous, *target.parent.glob(f".{target.name}.staging-*")]:
            shutil.rmtree(stale, ignore_errors=True)
    return restored


@contextmanager
def staged_directory(target: str | Path, /) -> Iterator[Path]:
    """Yield a staging directory that replaces ``target`` only if the block succeeds."""
    target = Path(target).resolve()
    recover(target)
    check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    stage = target.parent / f".{target.name}.staging-{token}"
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.previous-{token}"
    if target.exists():
        target.rename(old)
    try:
        stage.rename(target)
    except OSError as exc:  # put the previous workspace back
        if old.exists():
            old.rename(target)
        shutil.rmtree(stage, ignore_errors=True)
        raise WorkspaceError(f"could not move the new workspace into {target}: {exc}") from exc
    shutil.rmtree(old, ignore_errors=True)


def write_layer(gpkg: Path, name: str, frame: GeoDataFrame | pd.DataFrame, /) -> None:
    """Write one layer (spatial or attribute-only) into a GeoPackage, replacing a layer of that name.

    Through pyogrio's Arrow path (about twice as fast); a frame Arrow cannot convert (an object
    column of mixed types) goes through the row path.
    """
    if not isinstance(frame, GeoDataFrame):
        frame = pd.DataFrame(frame)
    options = {"layer": name, "driver": "GPKG", "dataset_options": GPKG_DATASET_OPTIONS}
    try:
        from pyarrow import ArrowException
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pyogrio.write_dataframe(frame, gpkg, **options)
        return
    try:
        pyogrio.write_dataframe(frame, gpkg, use_arrow=True, **options)
    except ArrowException:  # e.g. an object column of mixed types
        pyogrio.write_dataframe(frame, gpkg, use_arrow=False, **options)


class GpkgWorkspace:
    """A workspace directory holding GeoPackages, GeoTIFFs and the policy copy."""

    def __init__(self, path: str | Path, /) -> None:
        self.path = Path(path)

    @property
    def gpkg(self) -> Path:
        return self.path / "workspace.gpkg"

    def metadata(self) -> dict:
        recover(self.path)
        marker = self.path / MARKER
        if not marker.exists():
            raise WorkspaceError(f"{self.path} is not a landplan workspace (no {MARKER})")
        return json.loads(marker.read_text(encoding="utf-8"))

    def layers(self) -> list[str]:
        self.metadata()
        return [str(n) for n in pyogrio.list_layers(self.gpkg)[:, 0]]

    def read_layer(self, name: str, /) -> GeoDataFrame | pd.DataFrame:
        if name not in self.layers():
            raise WorkspaceError(
                f"workspace {self.path} has no layer {name!r}; it has {self.layers()}"
            )
        return pyogrio.read_dataframe(self.gpkg, layer=name)

    def write_result(
        self, result, /, *, extras: Mapping[str, Writer] | None = None, lang: str = "zh"
    ) -> None:
        """Write inputs, results, exports and ``extras`` (name → writer) atomically.

        ``lang`` is the first language of the tables handed to people (``park_summary.xlsx``).

        The lifecycle register (``register`` tables in ``workspace.gpkg``) and the saved boundary
        ``scenarios`` are carried over from the previous workspace, holding its lock from the copy
        until the new directory is in place.
        """
        from landplan.store.gpkg_scenarios import carry_scenarios
        from landplan.store.register_sqlite import carry_register, freeze_register

        with ExitStack() as lock, staged_directory(self.path) as stage:
            _write_all(stage, result, lang=lang, extras=extras)
            if self.gpkg.exists():
                lock.enter_context(freeze_register(self.gpkg))
                carry_register(self.gpkg, stage / "workspace.gpkg")
                carry_scenarios(self.gpkg, stage / "workspace.gpkg", result.crs)


#: from this many parcels on, ``park_summary.xlsx`` is written by a second process while this
#: one writes the GeoPackages, the styles and the extras (the map): the workbook is Python work
#: (~5 s at 50k parcels) that would otherwise wait for the rest, and the machine has two cores
BACKGROUND_WORKBOOK_PARCELS = 20_000


def _write_all(
    stage: Path, result, *, lang: str = "zh", extras: Mapping[str, Writer] | None = None
) -> None:
    inputs = result.inputs
    validation = reports_frame(inputs.reports)
    with _workbook(stage, result, validation, lang=lang) as workbook:
        _write_layers(stage, result, validation)
        _write_styles(stage / "workspace.gpkg", stage / "results.gpkg", result)
        _write_files(stage, result)
        for writer in (extras or {}).values():
            writer(stage)
        workbook.wait()


def _write_layers(stage: Path, result, validation: pd.DataFrame) -> None:
    inputs = result.inputs
    gpkg = stage / "workspace.gpkg"
    write_layer(gpkg, "parcels", inputs.parcels)
    for kind, layer in inputs.constraints.items():
        write_layer(gpkg, f"constraint_{kind}", layer)
    if len(inputs.networks):
        write_layer(gpkg, "networks", inputs.networks)
    # the parcel table goes to both GeoPackages through the Arrow path: a table-to-table copy
    # inside SQLite (rows + R-tree) measured 25-35 % slower than this second write at 50k parcels
    write_layer(gpkg, "result_parcels", result.parcels)
    write_layer(gpkg, "park_summary", result.summary)
    write_layer(gpkg, "reason_counts", result.reasons)
    if len(validation):
        write_layer(gpkg, "validation_issues", validation)
    results = stage / "results.gpkg"
    write_layer(results, "parcels", result.parcels)
    write_layer(results, "park_summary", result.summary)


class _Workbook:
    """``park_summary.csv`` and ``.xlsx`` being written: :meth:`wait` returns when they are."""

    def __init__(self, future=None, again: Callable[[], None] | None = None) -> None:
        self._future, self._again = future, again

    def wait(self) -> None:
        from concurrent.futures.process import BrokenProcessPool

        if self._future is None:
            return
        future, self._future = self._future, None
        try:
            future.result()  # the child's own error (bad data) is raised here, as in this process
        except BrokenProcessPool:  # the child could not start or was killed: write them here
            if self._again is None:
                raise
            self._again()


@contextmanager
def _workbook(stage: Path, result, validation: pd.DataFrame, *, lang: str) -> Iterator[_Workbook]:
    """Write the summary tables now, or (large results) in a second process while the body runs.

    The second process gets the per-parcel table as an Arrow file in the stage (written from
    the frame's own buffers, memory-mapped there), not as a pickle through a pipe, and the file
    is removed before the stage can become the workspace.
    """
    from landplan.export.park import parcel_table

    parcels = parcel_table(result.parcels)
    small = (stage, result.summary, result.reasons, validation)
    threshold = int(
        os.environ.get("LANDPLAN_BACKGROUND_WORKBOOK_PARCELS", BACKGROUND_WORKBOOK_PARCELS)
    )
    pool = _process_pool() if len(parcels) >= threshold > 0 else None
    if pool is None:
        write_tables(*small, parcels, lang=lang)
        yield _Workbook()
        return
    table = stage / f".parcels-{uuid.uuid4().hex}.arrow"
    try:
        parcels.reset_index(drop=True).to_feather(table, compression="uncompressed")
        with pool:
            again = partial(write_tables, *small, parcels, lang=lang)
            pending = _Workbook(pool.submit(_write_tables_from, *small, table, lang=lang), again)
            try:
                yield pending
                pending.wait()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # the stage is discarded after
                raise
    finally:
        table.unlink(missing_ok=True)


def _write_tables_from(
    folder: Path,
    summary: pd.DataFrame,
    reasons: pd.DataFrame,
    validation: pd.DataFrame,
    table: Path,
    *,
    lang: str,
) -> None:
    """:func:`write_tables` in the second process, the parcels read from ``table`` (Arrow)."""
    import pyarrow.feather as feather

    parcels = feather.read_table(table, memory_map=True).to_pandas()
    write_tables(folder, summary, reasons, validation, parcels, lang=lang)


def _process_pool():
    """One fresh worker process (``spawn``: nothing of this process's threads is inherited)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    except (OSError, ValueError, NotImplementedError):  # no processes here: write in this one
        return None


def _write_files(stage: Path, result) -> None:
    inputs = result.inputs
    (stage / "validation_report.json").write_text(
        json.dumps([r.to_dict() for r in inputs.reports], ensure_ascii=False, indent=2),
        encoding="utf-8",
    )
    (stage / "policy.toml").write_text(policy_text(result.policy), encoding="utf-8")
    if result.rasters:
        (stage / "rasters").mkdir()
        for name, path in result.rasters.items():
            shutil.copy2(path, stage / "rasters" / f"{name}.tif")
    meta = {
        "format_version": FORMAT_VERSION,
        "name": result.name,
        "crs": result.crs.to_string(),
        "policy": f"{result.policy.profile.name} {result.policy.profile.version}",
        "parcels": len(result.parcels),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (stage / MARKER).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")


def _write_styles(gpkg: Path, results: Path, result) -> None:
    """QGIS default styles (``layer_styles``) for the layers of both GeoPackages."""
    from landplan.export.qgis import styles_for_layers, write_layer_styles

    inputs = result.inputs
    now = datetime.now(UTC)
    layers = {"parcels": inputs.parcels, "result_parcels": result.parcels}
    layers |= {f"constraint_{k}": v for k, v in inputs.constraints.items()}
    if len(inputs.networks):
        layers["networks"] = inputs.networks
    write_layer_styles(gpkg, styles_for_layers(layers), written_at=now)
    write_layer_styles(results, styles_for_layers({"parcels": result.parcels}), written_at=now)


def write_tables(
    folder: Path,
    summary: pd.DataFrame,
    reasons: pd.DataFrame,
    validation: pd.DataFrame,
    parcels: pd.DataFrame | None = None,
    *,
    lang: str = "zh",
) -> None:
    """``park_summary.csv`` (UTF-8 with BOM, so Excel shows Chinese) and ``park_summary.xlsx``.

    The XLSX (see :mod:`landplan.export.xlsx`) has readable headers with units in ``lang``,
    the machine names in a hidden second row, and a per-parcel sheet when ``parcels`` is given.
    """
    from landplan.export.park import write_park_summary

    summary.to_csv(
        folder / "park_summary.csv", index=False, encoding="utf-8-sig", float_format="%.4f"
    )
    write_park_summary(
        folder / "park_summary.xlsx", summary, reasons, validation, parcels, lang=lang
    )


def policy_text(policy, /) -> str:
    """The validated profile written back as TOML (round-trips through :func:`landplan.core.policy.parse_policy`)."""
    return _to_toml(policy.model_dump(mode="json"))


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


def _to_toml(data: dict, prefix: str = "") -> str:
    scalars = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    out = "\n".join(scalars) + ("\n" if scalars else "")
    for k, v in data.items():
        if isinstance(v, dict):
            name = f"{prefix}{k}"
            body = _to_toml(v, name + ".")
            if any(not isinstance(x, dict) for x in v.values()):
                out += f"\n[{name}]\n"
            out += body
    return out
