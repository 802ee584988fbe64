"""Reading an uploaded file into the store.

The validation report names the file as the client knows it (the uploaded file name, or its
member path inside the zip), never the server's scratch folder; error texts are scrubbed of
server paths where every error is answered (:func:`landplan.api.errors.problem`).
"""

from __future__ import annotations

from pathlib import Path

from landplan.core.errors import UploadError
from landplan.io.uploads import PROTECTED, detect_format, safe_extract, vector_in


def _role(name: str) -> str:
    if name == "parcels":
        return "parcels"
    if name == "networks":
        return "network"
    return "constraint"


def ingest(
    store, name: str, saved: Path, scratch: Path, *, crs=None, encoding=None, id_field=None
) -> dict:
    if name in PROTECTED or name.startswith(("register", "gpkg_", "rtree_")):
        raise UploadError(f"layer {name!r} is written by the analysis and cannot be uploaded")
    return _ingest(store, name, saved, scratch, crs=crs, encoding=encoding, id_field=id_field)


def _ingest(store, name, saved, scratch, *, crs, encoding, id_field) -> dict:
    from pyproj import CRS

    from landplan.io.vector import read_vector

    fmt = detect_format(saved)
    if fmt == "tiff":
        return _raster(store, name, saved)
    source = saved
    if fmt == "zip":
        source = vector_in(safe_extract(saved, scratch / "unzipped"))
    elif fmt == "geojson" and saved.suffix.lower() not in (".geojson", ".json"):
        source = saved.rename(saved.with_suffix(".geojson"))
    elif fmt == "gpkg" and saved.suffix.lower() != ".gpkg":
        source = saved.rename(saved.with_suffix(".gpkg"))
    workspace_crs = CRS.from_user_input(store.metadata()["crs"])
    gdf, report = read_vector(
        source,
        role=_role(name),
        workspace_crs=workspace_crs,
        name=name,
        encoding=encoding,
        crs=crs,
        id_field=id_field,
    )
    if name == "parcels" and "parcel_id" not in gdf.columns:
        raise UploadError("a parcels upload needs its id field: give id_field=<column>")
    store.replace_layer(name, gdf)
    report.path = source.relative_to(scratch).as_posix()  # as the client named it
    return {"layer": name, "features": len(gdf), "validation": report.to_dict()}


def _raster(store, name: str, saved: Path) -> dict:
    from landplan.raster.grid import open_raster

    with open_raster(saved, projected=True) as src:
        info = {
            "width": src.width,
            "height": src.height,
            "crs": src.crs.to_string(),
            "dtype": src.dtypes[0],
        }
    store.replace_raster(name, saved)
    return {"layer": name, "features": 0, "validation": {"raster": info, "issues": []}}
