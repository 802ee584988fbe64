"""The landplan FastAPI service (``create_app`` in ``api.main``): built by its own issue.

It will import ``landplan`` and ``maps``; neither imports it.
"""
