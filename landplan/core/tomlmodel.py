"""Reading user TOML into pydantic models, with errors that name the file, the key and the problem."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def load_toml(text: str, /, *, origin: str, error: type[Exception]) -> dict:
    """Parse TOML text; a syntax error becomes ``error`` naming ``origin``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{origin}: not valid TOML: {exc}") from exc


def validate_model(model: type[M], data: dict, /, *, origin: str, error: type[Exception]) -> M:
    """Validate ``data``; the first problem (with its key path and the count) becomes ``error``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise error(
            f"{origin}: {where}: {first['msg']} ({exc.error_count()} problem(s) in all)"
        ) from exc


def parse_model(model: type[M], text: str, /, *, origin: str, error: type[Exception]) -> M:
    """:func:`load_toml` then :func:`validate_model`."""
    return validate_model(
        model, load_toml(text, origin=origin, error=error), origin=origin, error=error
    )


def read_source(
    source: str | Path,
    /,
    *,
    package: str,
    shipped: tuple[str, ...],
    what: str,
    error: type[Exception],
) -> tuple[str, str, Path | None]:
    """Text of a shipped TOML (by name, from ``package``) or of a file: ``(text, origin, folder)``."""
    if isinstance(source, str) and source in shipped:
        text = resources.files(package).joinpath(f"{source}.toml").read_text(encoding="utf-8")
        return text, f"shipped {what} {source!r}", None
    path = Path(source)
    if not path.is_file():
        raise error(f"{what} not found: {source} (a TOML path, or one of: {', '.join(shipped)})")
    return path.read_text(encoding="utf-8"), str(path), path.parent
