"""Type aliases and labels shared across landplan."""

from __future__ import annotations

from typing import Literal

#: which role a vector layer plays; decides the geometry types allowed and how empties are treated
LayerRole = Literal["parcels", "constraint", "network", "features"]

#: the label of the whole-park row in summaries (beside one row per 片区 group)
ALL_LABEL = "全部 All"

#: dataset creation options of every GeoPackage landplan writes: version 1.3, which GDAL 3.6
#: (Debian 12, QGIS 3.22) opens without "may only be partially supported" (1.4 needs GDAL 3.7)
GPKG_DATASET_OPTIONS = {"VERSION": "1.3"}

#: what the names of the job's own temporary raster folders hold (the DEM step's default, and
#: the CLI's): nothing else holds their files, so a workspace may link them instead of copying
JOB_RASTERS = "landplan-rasters-"
