"""Deliverables for people: formatted XLSX tables and QGIS layer styles.

``landplan.export.labels`` holds the bilingual vocabulary (column headers with units,
verdicts, network statuses); ``landplan.export.xlsx`` is the one XLSX writer every
table goes through; ``landplan.export.qgis`` writes ``layer_styles`` into GeoPackages.
"""
