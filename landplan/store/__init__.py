"""The workspace model and its stores (GeoPackage directory, PostGIS), the transfer register and its audit log."""
