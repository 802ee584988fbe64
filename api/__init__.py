"""The landplan FastAPI service: ``create_app(settings)`` in :mod:`landplan.api.app`.

It imports the landplan library and ``landplan.maps``; neither imports it.
"""
