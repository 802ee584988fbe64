"""Uploads: a layer or raster into the workspace, validated, visible atomically or not at all."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi import Path as PathParam
from landplan.api import scratch as scratch_dirs
from landplan.api.auth import require
from landplan.api.deps import SettingsDep, StoreDep
from landplan.api.errors import responses
from landplan.api.schemas import UploadOut
from landplan.api.upload_service import ingest

router = APIRouter(prefix="/uploads", tags=["Uploads"])
LayerName = Annotated[
    str, PathParam(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="target layer or raster name")
]


@router.post(
    "/layers/{name}",
    response_model=UploadOut,
    status_code=201,
    dependencies=[Depends(require("upload"))],
    responses=responses(400, 401, 403, 413, 422),
)
def upload_layer(
    name: LayerName,
    file: Annotated[
        UploadFile, File(description="zipped Shapefile, GeoPackage, GeoJSON or GeoTIFF")
    ],
    crs: Annotated[
        str | None,
        Query(description="the layer's CRS if its file lacks one, e.g. EPSG:4490", max_length=60),
    ] = None,
    encoding: Annotated[
        str | None, Query(description="attribute encoding, e.g. GBK", max_length=20)
    ] = None,
    id_field: Annotated[
        str | None, Query(description="parcel id field (for parcels)", max_length=60)
    ] = None,
    *,
    s: StoreDep,
    cfg: SettingsDep,
):
    """Validate the file (the report is in the response) and replace layer ``name`` in one step."""
    scratch = scratch_dirs.make("upload", cfg.upload_dir)
    try:
        saved = scratch / _safe_name(file.filename)
        with saved.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
        return ingest(s, name, saved, scratch, crs=crs, encoding=encoding, id_field=id_field)
    finally:
        scratch_dirs.remove(scratch)


def _safe_name(filename: str | None) -> str:
    name = re.sub(r"[^\w.\-]", "_", Path(filename or "upload").name)[:100].lstrip(".")
    return name or "upload"
