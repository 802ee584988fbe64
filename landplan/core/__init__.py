"""The core: units, CRS arithmetic and guards, errors, reasons, policy profiles, GeoJSON/tile maths.

Nothing here reads users' files or opens a store; every other room imports from here.
"""
