"""The landplan FastAPI service: ``create_app(settings)`` in :mod:`api.app`.

It imports ``landplan`` and ``maps``; neither imports it.
"""
