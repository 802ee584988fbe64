"""Dependencies shared by the routers: the store, the job runner, the settings."""

from __future__ import annotations

from fastapi import Request
from landplan.api.settings import Settings

from landplan.store.protocol import ServiceStore


def store(request: Request) -> ServiceStore:
    return request.app.state.store


def settings(request: Request) -> Settings:
    return request.app.state.settings


def jobs(request: Request):
    return request.app.state.jobs
