"""The notebook entry point: :func:`analyze` on GeoDataFrames or files, returning a :class:`Result`.

The CLI, the service and this function run the same steps: an in-memory frame goes through the
same validation as a file (:func:`landplan.io.vector.read_vector`), so results are identical.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd
from geopandas import GeoDataFrame

from landplan.analysis.job import analyze as analyze_inputs
from landplan.analysis.pipeline import AnalysisResult, Inputs, load_inputs
from landplan.core import palette
from landplan.core.errors import ManifestError
from landplan.core.policy import Policy, load_policy
from landplan.io.manifest import FrameSource, Manifest, load_manifest

Source = GeoDataFrame | str | Path
#: the colours of the three verdicts, as in every map and sheet
VERDICT_COLOURS = {v: c for v, (c, _, _) in palette.VERDICTS.items()}
_REASON_COLUMNS = (
    "parcel_id",
    "code",
    "severity",
    "value",
    "threshold",
    "unit",
    "basis",
    "message_zh",
    "message_en",
)


def _entry_path(source: Source, label: str) -> Path | FrameSource:
    if isinstance(source, GeoDataFrame):
        return FrameSource(source, label)
    if isinstance(source, str | Path):
        return Path(source)
    raise ManifestError(
        f"{label}: expected a GeoDataFrame or a file path, got {type(source).__name__}"
    )


def _network_entries(networks, status_field: str | None, built_values) -> list[dict]:
    if networks is None:
        return []
    if isinstance(networks, GeoDataFrame):  # one frame with kind (and status) columns
        if "kind" not in networks.columns:
            raise ManifestError(
                "networks: one frame needs a 'kind' column (road, water, power, ...); "
                "or pass a dict {kind: frame}"
            )
        networks = {str(k): g for k, g in networks.groupby("kind", sort=False)}
    entries = []
    for kind, source in dict(networks).items():
        entry = {"kind": kind, "path": _entry_path(source, f"networks[{kind!r}]")}
        columns = source.columns if isinstance(source, GeoDataFrame) else ()
        field = status_field if status_field in columns else None
        if isinstance(source, str | Path) and status_field != "status":
            field = status_field
        if field is not None:
            entry |= {"status_field": field, "built_values": list(built_values)}
        entries.append(entry)
    return entries


def build_manifest(
    parcels: Source,
    /,
    *,
    id_field: str = "parcel_id",
    constraints: Mapping[str, Source] | None = None,
    networks: Mapping[str, Source] | GeoDataFrame | None = None,
    dem: str | Path | None = None,
    crs: str = "auto",
    name: str = "landplan",
    group_field: str | None = None,
    duplicate_ids: str = "error",
    status_field: str | None = "status",
    built_values: tuple[str, ...] = ("built", "已建", "现状"),
) -> Manifest:
    """The manifest equivalent of :func:`analyze`'s arguments (frames stay in memory)."""
    data = {
        "name": name,
        "crs": crs,
        "parcels": {
            "path": _entry_path(parcels, "parcels"),
            "id_field": id_field,
            "group_field": group_field,
            "duplicate_ids": duplicate_ids,
        },
        "constraints": [
            {"kind": kind, "path": _entry_path(src, f"constraints[{kind!r}]")}
            for kind, src in (constraints or {}).items()
        ],
        "networks": _network_entries(networks, status_field, built_values),
        "dem": {"path": Path(dem)} if dem is not None else None,
        "root": Path.cwd(),
    }
    try:
        return Manifest.model_validate(data)
    except ValueError as exc:
        raise ManifestError(f"invalid arguments to landplan.analyze: {exc}") from exc


def analyze(
    parcels: Source,
    /,
    *,
    id_field: str = "parcel_id",
    constraints: Mapping[str, Source] | None = None,
    networks: Mapping[str, Source] | GeoDataFrame | None = None,
    dem: str | Path | None = None,
    policy: Policy | str | Path | None = None,
    crs: str = "auto",
    name: str = "landplan",
    group_field: str | None = None,
    duplicate_ids: str = "error",
    status_field: str | None = "status",
    built_values: tuple[str, ...] = ("built", "已建", "现状"),
    raster_dir: str | Path | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Result:
    """Available land, transfer verdicts and reasons for every parcel.

    Parameters
    ----------
    parcels
        A GeoDataFrame (any CRS), a vector file, or a manifest ``.toml`` (then every other
        input comes from the manifest).
    id_field
        The parcels' id column (any name; it is kept, and ``parcel_id`` is added).
    constraints
        ``{kind: frame or path}``, kinds such as ``red_line``, ``basic_farmland``, ``urban_boundary``.
    networks
        ``{kind: frame or path}`` (``road``, ``water``, ``power``, ...) or one frame with a
        ``kind`` column.  A ``status`` column (``built`` / ``已建`` / anything else = planned) is used
        when present; without it every segment counts as built.
    dem
        A DEM GeoTIFF: adds terrain, suitability and development cost.
    policy
        A shipped profile name (``"national"``), a TOML path or a :class:`~landplan.core.policy.Policy`.
    crs
        The workspace CRS (``"auto"`` = the CGCS2000 3° Gauss-Krüger zone of the parcels' centre).

    Examples
    --------
    >>> import landplan  # doctest: +SKIP
    >>> result = landplan.analyze(parcels, id_field="DKBH",
    ...                           constraints={"red_line": red}, networks={"road": roads})  # doctest: +SKIP
    >>> result.parcels[["DKBH", "net_available_mu", "verdict"]]  # doctest: +SKIP
    """
    if isinstance(parcels, str | Path) and Path(parcels).suffix.lower() == ".toml":
        manifest = load_manifest(parcels)
    else:
        manifest = build_manifest(
            parcels,
            id_field=id_field,
            constraints=constraints,
            networks=networks,
            dem=dem,
            crs=crs,
            name=name,
            group_field=group_field,
            duplicate_ids=duplicate_ids,
            status_field=status_field,
            built_values=built_values,
        )
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    step = on_step or (lambda _: None)
    inputs: Inputs = load_inputs(manifest, on_step=step)
    result = analyze_inputs(
        inputs, pol, on_step=step, raster_dir=Path(raster_dir) if raster_dir else None
    )
    return Result(result)


@dataclass(frozen=True)
class Result:
    """What :func:`analyze` returns: per-parcel results, the park summary and every reason."""

    analysis: AnalysisResult

    @property
    def parcels(self) -> GeoDataFrame:
        """One row per parcel: areas, exclusions, network distances, verdict, reasons."""
        return self.analysis.parcels

    @property
    def summary(self) -> pd.DataFrame:
        """Totals for the park and per 片区 group."""
        return self.analysis.summary

    @property
    def reason_counts(self) -> pd.DataFrame:
        """Parcels and 亩 per reason code."""
        return self.analysis.reasons

    @cached_property
    def reasons(self) -> pd.DataFrame:
        """A long table: one row per (parcel, reason)."""
        return reasons_table(self.parcels)

    @property
    def validation(self) -> pd.DataFrame:
        """Every finding about every input layer."""
        from landplan.io.vector import reports_frame

        return reports_frame(self.analysis.inputs.reports)

    @property
    def crs(self):
        return self.analysis.crs

    @property
    def policy(self) -> Policy:
        return self.analysis.policy

    @property
    def rasters(self) -> dict[str, Path]:
        return self.analysis.rasters

    def explore(self, column: str = "verdict", **kwargs):
        """An interactive folium map of the parcels (coloured by verdict), for a notebook.

        Uses :meth:`geopandas.GeoDataFrame.explore` (folium is imported lazily by geopandas);
        ``kwargs`` go to it.  :mod:`landplan.maps` builds the full report map.
        """
        frame = self.parcels
        keep = [
            c
            for c in ("parcel_id", "net_available_mu", "verdict", "reason_codes", column)
            if c in frame.columns
        ]
        frame = frame[[*dict.fromkeys(keep), frame.geometry.name]]
        if column == "verdict" and "cmap" not in kwargs:
            present = [v for v in VERDICT_COLOURS if v in set(frame["verdict"])]
            kwargs |= {"categories": present, "cmap": [VERDICT_COLOURS[v] for v in present]}
        return frame.explore(column=column, **kwargs)

    def to_workspace(self, target: str | Path, /, *, extras=None) -> str | Path:
        """Write the workspace to a directory or a ``postgresql://...?workspace=NAME`` DSN."""
        from landplan.store.model import write_result

        return write_result(target, self.analysis, extras=extras)

    def _repr_html_(self) -> str:
        cols = [
            c
            for c in (
                "group",
                "parcels",
                "gross_mu",
                "net_available_mu",
                "transferable_parcels",
                "transferable_net_mu",
                "blocked_parcels",
            )
            if c in self.summary.columns
        ]
        head = f"<b>landplan result · {self.analysis.name}</b> · {self.crs.to_string()}"
        return head + self.summary[cols].to_html(index=False, float_format="{:,.2f}".format)


def reasons_table(parcels: pd.DataFrame, /) -> pd.DataFrame:
    """One row per (parcel, reason) from the ``reasons`` column (objects or JSON text)."""
    import json

    rows = []
    for pid, reasons in zip(parcels["parcel_id"], parcels["reasons"], strict=True):
        items = json.loads(reasons) if isinstance(reasons, str) else (reasons or [])
        for r in items:
            d = r if isinstance(r, dict) else r.to_dict()
            rows.append({"parcel_id": pid} | {k: d.get(k) for k in _REASON_COLUMNS[1:]})
    return pd.DataFrame(rows, columns=list(_REASON_COLUMNS))
