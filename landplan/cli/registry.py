"""Sub-command groups of the ``landplan`` CLI, one module per group.

A group module defines ``app = typer.Typer(...)`` (``landplan terrain slope ...``); a
top-level module defines ``COMMANDS``, a list of plain functions registered as
``landplan <name>`` (``landplan costdistance ...``).  Both keep their heavy imports
inside the command functions, so ``landplan --help`` stays fast.
"""

from __future__ import annotations

import importlib

#: (module name, command name, help) of every group; a module that does not exist yet is skipped
GROUPS: tuple[tuple[str, str, str], ...] = (
    ("terrain", "terrain", "Slope, aspect, relief and earthwork from a DEM."),
    ("indicators", "indicators", "Per-mu indicators of proposed projects (投资强度, 容积率, ...)."),
    ("mujun", "mujun", "亩均效益 evaluation and A/B/C/D classes."),
    ("register", "register", "The parcel lifecycle register (出让 → 动工 → 竣工 → 达产)."),
    (
        "boundary",
        "boundary",
        "Park boundaries: evaluate a drawn boundary, suggest regions, compare scenarios.",
    ),
    ("workspace", "workspace", "Copy workspaces between a directory and PostGIS (push / pull)."),
    ("maps_cmd", "assets", "Leaflet assets for offline maps: install from npm (verified), status."),
    (
        "basemap",
        "basemap",
        "Local basemaps (MBTiles/PMTiles, DEM hillshade) for offline intranets.",
    ),
    ("efficiency", "efficiency", "The land-efficiency loop: reclaim / reallocate, park ranking."),
)
#: modules whose ``COMMANDS`` become top-level commands
TOP_LEVEL: tuple[str, ...] = (
    "rasters", "costs", "suit", "unlock", "plan", "match", "serve", "maps_cmd", "sheet",
)  # fmt: skip


def _import(module: str):
    try:
        return importlib.import_module(f"landplan.cli.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"landplan.cli.{module}":
            return None
        raise


def group_app(module: str):
    """The typer app of one group module."""
    return _import(module).app


def load_groups():
    """Yield ``(name, help, typer_app)`` for every group module present."""
    for module, name, help_text in GROUPS:
        mod = _import(module)
        if mod is not None:
            yield name, help_text, mod.app


def load_top_level():
    """Yield the functions of every top-level command module present."""
    for module in TOP_LEVEL:
        mod = _import(module)
        if mod is not None:
            yield from mod.COMMANDS


def command_name(func) -> str:
    """The name typer gives a command function (``api_key_hash`` → ``api-key-hash``)."""
    return func.__name__.lower().replace("_", "-")


def top_level_command(name: str):
    """The function of the top-level command ``name`` (``landplan NAME ...``), or None.

    With it the entry point can build a command holding only what was asked for: typer
    evaluates the annotations of every command it is given, ~30 ms for all of them.
    """
    return next((f for f in load_top_level() if command_name(f) == name), None)
