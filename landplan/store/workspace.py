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

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pyogrio
from geopandas import GeoDataFrame

from landplan.core.errors import WorkspaceError
from landplan.core.types import GPKG_DATASET_OPTIONS, JOB_RASTERS
from landplan.io.vector import reports_frame
from landplan.store.gpkg_copy import copy_rows

MARKER = "landplan-workspace.json"
FORMAT_VERSION = 1
Writer = Callable[[Path], None]
T = TypeVar("T")


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


def _fsync(path, /) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_files(paths, /) -> None:
    """``fsync`` each file: its data is on disk when this returns (missing files skipped)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            _fsync(path)


def _sync_directory(path, /) -> None:
    """``fsync`` a directory (its entries), where the platform allows it (Windows opens none)."""
    with contextlib.suppress(OSError):
        _fsync(path)


def sync_tree(root: Path, /) -> None:
    """Every file and directory under ``root`` on disk (cheap for what is already there)."""
    for folder, _, files in os.walk(root):
        sync_files(os.path.join(folder, name) for name in files)
        _sync_directory(folder)


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
        sync_tree(stage)  # whatever the writers left in the page cache: on disk before the swap
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
    _sync_directory(target.parent)  # the rename itself on disk before the previous one goes
    shutil.rmtree(old, ignore_errors=True)


def write_layer(gpkg: Path, name: str, frame: GeoDataFrame | pd.DataFrame, /, **options) -> None:
    """Write one layer (spatial or attribute-only) into a GeoPackage, replacing a layer of that name.

    Through pyogrio's Arrow path (about twice as fast); a frame Arrow cannot convert (an object
    column of mixed types) goes through the row path.  ``options`` go to pyogrio
    (``geometry_type``, ``promote_to_multi``).
    """
    if not isinstance(frame, GeoDataFrame):
        frame = pd.DataFrame(frame)
    options |= {"layer": name, "driver": "GPKG", "dataset_options": GPKG_DATASET_OPTIONS}
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
        self.replace(partial(_write_all, result=result, lang=lang, extras=extras), crs=result.crs)

    def replace(self, fill: Callable[[Path], T], /, *, crs) -> T:
        """Run ``fill(stage)`` in a staging directory that then replaces this workspace.

        The register and the scenarios of the previous workspace are carried over, holding its
        lock from the copy until the new directory is in place; if ``fill`` fails, the previous
        workspace stays as it was.  Returns what ``fill`` returns.
        """
        from landplan.store.gpkg_scenarios import carry_scenarios
        from landplan.store.register_sqlite import carry_register, freeze_register

        with ExitStack() as lock, staged_directory(self.path) as stage:
            out = fill(stage)
            if self.gpkg.exists():
                lock.enter_context(freeze_register(self.gpkg))
                carry_register(self.gpkg, stage / "workspace.gpkg")
                carry_scenarios(self.gpkg, stage / "workspace.gpkg", crs)
        return out


def _write_all(
    stage: Path, *, result, lang: str = "zh", extras: Mapping[str, Writer] | None = None
) -> None:
    from landplan.store.workbook_feed import WorkbookFeed, background_threshold

    inputs = result.inputs
    validation = reports_frame(inputs.reports)
    parcels = result.parcels
    background = len(parcels) >= background_threshold() > 0
    with WorkbookFeed(stage, lang=lang, background=background) as book:
        # the rows go now (at least one chunk: no parcels still gets the sheet's headers)
        for start in range(0, max(len(parcels), 1), FEED_ROWS):
            book.add(parcels.iloc[start : start + FEED_ROWS])
        _write_layers(stage, result, validation)
        _write_files(stage, result)
        write_summary_csv(stage, result.summary)
        book.finish(result.summary, result.reasons, validation)  # written meanwhile, if it can be
        for writer in (extras or {}).values():
            writer(stage)
        book.wait()


#: rows per message to the workbook (a bounded buffer for each side of the pipe)
FEED_ROWS = 25_000


def _write_layers(stage: Path, result, validation: pd.DataFrame) -> None:
    gpkg = stage / "workspace.gpkg"
    write_inputs(gpkg, result.inputs)
    results = stage / "results.gpkg"
    write_layer(results, "parcels", result.parcels)
    write_result_tables(gpkg, results, result, validation)


def write_inputs(gpkg: Path, inputs, /) -> None:
    """The validated inputs, reprojected to the workspace CRS, into ``workspace.gpkg``."""
    write_layer(gpkg, "parcels", inputs.parcels)
    for kind, layer in inputs.constraints.items():
        write_layer(gpkg, f"constraint_{kind}", layer)
    if len(inputs.networks):
        write_layer(gpkg, "networks", inputs.networks)


def write_result_tables(gpkg: Path, results: Path, result, validation: pd.DataFrame, /) -> None:
    """Once the result rows are in ``results.gpkg`` → ``parcels``: their copy in ``workspace.gpkg``
    → ``result_parcels``, the summary tables and the styles of both GeoPackages.

    The rows are encoded once; the copy is made inside SQLite, records and R-tree pages as they
    are (:func:`~landplan.store.gpkg_copy.copy_rows`: 0.56 s for 50,000 rows, where a second
    write took ~1.3-2 s)."""
    copy_rows(results, "parcels", gpkg, "result_parcels")
    write_layer(gpkg, "park_summary", result.summary)
    write_layer(gpkg, "reason_counts", result.reasons)
    if len(validation):
        write_layer(gpkg, "validation_issues", validation)
    write_layer(results, "park_summary", result.summary)
    _write_styles(gpkg, results, result)


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
            _link_or_copy(Path(path), stage / "rasters" / f"{name}.tif")
    meta = {
        "format_version": FORMAT_VERSION,
        "name": result.name,
        "crs": result.crs.to_string(),
        "policy": f"{result.policy.profile.name} {result.policy.profile.version}",
        "parcels": len(result.parcels),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (stage / MARKER).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")


def _link_or_copy(src: Path, dst: Path) -> None:
    """A raster into the stage: linked when it is the job's own temporary file on the same file
    system (a county's rasters are hundreds of MB: no copy at the end of the job), else copied."""
    if JOB_RASTERS in src.parent.name:
        try:
            os.link(src, dst)
            return
        except OSError:  # another file system, or no hard links there
            pass
    shutil.copy2(src, dst)


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


def write_summary_csv(folder: Path, summary: pd.DataFrame, /) -> None:
    """``park_summary.csv``: UTF-8 with BOM, so Excel shows the Chinese headers."""
    summary.to_csv(
        folder / "park_summary.csv", index=False, encoding="utf-8-sig", float_format="%.4f"
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
