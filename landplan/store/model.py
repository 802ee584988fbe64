"""The workspace model: one planning area over one store (a GeoPackage directory or PostGIS).

It owns the layout, so no other module spells a layer name:

============================  ==================================================================
layer / item                  content
============================  ==================================================================
``parcels``                   the parcels as read (workspace CRS)
``constraint_<kind>``         one layer per constraint kind (``park_boundary`` = the approved 四至)
``networks``                  every network segment, with ``kind`` and ``status``
``result_parcels``            one row per parcel: areas, exclusions, distances, verdict, reasons
``park_summary``              totals per park and per 片区 group
``reason_counts``             parcels and 亩 per reason code
``validation_issues``         every validation finding
``scenarios``                 saved boundary scenarios
register, audit               the transfer register and its audit trail (:meth:`Workspace.register`)
policy                        the profile the results were computed with (:meth:`Workspace.policy`)
rasters                       ``dem``, ``slope``, ``suitability``, ``constraint_mask``, ... (GeoTIFF)
============================  ==================================================================

:func:`open_workspace` takes a directory or a ``postgresql://`` DSN (``?workspace=NAME``); both give
the same :class:`Workspace`, and analysis, boundaries, unlock, maps and the service read through it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
from geopandas import GeoDataFrame
from pyproj import CRS

from landplan.core.errors import WorkspaceError
from landplan.store.open import is_dsn
from landplan.store.protocol import ServiceStore

PARCELS = "parcels"
RESULT_PARCELS = "result_parcels"
NETWORKS = "networks"
PARK_SUMMARY = "park_summary"
REASON_COUNTS = "reason_counts"
VALIDATION = "validation_issues"
SCENARIOS = "scenarios"
CONSTRAINT_PREFIX = "constraint_"
#: the constraint kind that holds the approved park boundary (四至), not an exclusion
PARK_KIND = "park_boundary"

Writer = Callable[[Path], None]


def constraint_layer(kind: str, /) -> str:
    """The layer name of constraint ``kind``."""
    return f"{CONSTRAINT_PREFIX}{kind}"


def constraint_kind(layer: str, /) -> str | None:
    """The constraint kind a layer holds, or ``None`` when it is not a constraint layer."""
    return layer.removeprefix(CONSTRAINT_PREFIX) if layer.startswith(CONSTRAINT_PREFIX) else None


class Workspace:
    """One planning area, read and written through its store."""

    def __init__(self, store: ServiceStore, /) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"Workspace({self.store.name!r})"

    # ------------------------------------------------------------------ reading
    @property
    def name(self) -> str:
        return self.store.name

    @property
    def crs(self) -> CRS:
        return CRS.from_user_input(self.store.metadata()["crs"])

    def layers(self) -> list[str]:
        return [c.id for c in self.store.collections()]

    def read(self, layer: str, /) -> GeoDataFrame | pd.DataFrame:
        """Any layer or table, in the workspace CRS."""
        frame = self.store.read_layer(layer)
        if isinstance(frame, GeoDataFrame):
            crs = self.crs
            if frame.crs is None:
                frame = frame.set_crs(crs)
            elif not frame.crs.equals(crs):
                frame = frame.to_crs(crs)
        return frame

    def result_parcels(self) -> GeoDataFrame:
        if RESULT_PARCELS not in self.layers():
            raise WorkspaceError(f"{self.name} has no results yet; run landplan analyze first")
        return self.read(RESULT_PARCELS)

    def constraints(self) -> dict[str, GeoDataFrame]:
        """Every constraint layer by kind (the park boundary included, under :data:`PARK_KIND`)."""
        return {
            kind: self.read(layer)
            for layer in self.layers()
            if (kind := constraint_kind(layer)) is not None
        }

    def networks(self) -> GeoDataFrame:
        if NETWORKS not in self.layers():
            return GeoDataFrame({"kind": [], "status": []}, geometry=[], crs=self.crs)
        return self.read(NETWORKS)

    def policy(self):
        """The policy profile the workspace was analysed with (the national one if none was kept)."""
        from landplan.store.protocol import store_policy

        return store_policy(self.store)

    def raster(self, name: str, /) -> Path | None:
        return self.store.raster_path(name)

    def register(self):
        return self.store.register()

    def scenarios(self) -> GeoDataFrame:
        from landplan.store.protocol import scenarios_frame

        return scenarios_frame(self.store)

    def save_scenario(self, name: str, geometry, evaluation, /) -> None:
        self.store.save_scenario(name, geometry, evaluation)

    # ------------------------------------------------------------------ writing
    def write_result(
        self, result, /, *, extras: Mapping[str, Writer] | None = None, lang: str = "zh"
    ) -> None:
        """Replace the analysis (inputs, results, exports) atomically; register and scenarios stay."""
        if hasattr(self.store, "conninfo"):  # PostGIS
            _push_result(self.store.conninfo, self.store.name, result, extras, lang)
        else:
            write_result(self.store.path, result, extras=extras, lang=lang)


def open_workspace(target: str | Path, /) -> Workspace:
    """The workspace at a directory or a ``postgresql://...[?workspace=NAME]`` DSN."""
    from landplan.store.open import open_store

    return Workspace(open_store(target))


def write_result(
    target: str | Path,
    result,
    /,
    *,
    extras: Mapping[str, Writer] | None = None,
    lang: str = "zh",
) -> str | Path:
    """Write an analysis result to a directory or a PostGIS DSN, atomically; returns the target.

    A directory is staged and renamed into place (:class:`landplan.store.workspace.GpkgWorkspace`).
    A DSN gets the same staged directory pushed in one transaction, replacing the layers while the
    register, its audit trail and the saved scenarios of an existing workspace are carried over.
    """
    from landplan.store.workspace import GpkgWorkspace

    if not is_dsn(target):
        GpkgWorkspace(target).write_result(result, extras=extras, lang=lang)
        return Path(target)
    from landplan.store.pgschema import split_dsn

    conninfo, name = split_dsn(str(target))
    _push_result(conninfo, name, result, extras, lang)
    return str(target)


def _push_result(conninfo: str, name: str, result, extras, lang: str) -> None:
    from landplan.store.workspace import GpkgWorkspace

    def fill(stage: Path) -> None:
        GpkgWorkspace(stage).write_result(result, extras=extras, lang=lang)

    _push_staged(conninfo, name, fill)


def _push_staged(conninfo: str, name: str, fill: Callable[[Path], object], /):
    """``fill`` a workspace directory in a temporary folder, then push it in one transaction."""
    from landplan.store.pgtransfer import push

    with tempfile.TemporaryDirectory(prefix="landplan-push-") as tmp:
        stage = Path(tmp) / "workspace"
        out = fill(stage)
        push(stage, conninfo, name=name, replace=True, carry=True)
    return out


def write_streamed(target: str | Path, inputs, policy, /, **options):
    """Analyse ``inputs`` chunk by chunk straight into the workspace at a directory or DSN.

    The streamed main job (:mod:`landplan.store.streamed`): the rows go to the store as they are
    made, so memory is bounded by a chunk.  Atomic as :func:`write_result` is.  ``options`` go to
    :func:`landplan.store.streamed.stream_into` (``lang``, ``sinks``, ``extras``, ``on_step``,
    ``raster_dir``, ``chunks``).  Returns the :class:`~landplan.analysis.job.StreamedResult`.
    """
    from landplan.store.streamed import stream_into
    from landplan.store.workspace import GpkgWorkspace

    def replace(folder: Path):
        return GpkgWorkspace(folder).replace(
            lambda stage: stream_into(stage, inputs, policy, **options), crs=inputs.crs
        )

    if not is_dsn(target):
        return replace(Path(target))
    from landplan.store.pgschema import split_dsn

    return _push_staged(*split_dsn(str(target)), replace)
