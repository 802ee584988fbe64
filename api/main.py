"""The ASGI application uvicorn loads (``landplan serve``): settings from the environment."""

from landplan.api.app import create_app

app = create_app()
