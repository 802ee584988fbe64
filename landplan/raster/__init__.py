"""Raster work in bounded memory: terrain, distance, cost distance, suitability, zonal statistics,
earthwork and development cost, and the dask-chunked variants."""
