"""Exceptions raised by landplan.

Every error is a :class:`LandplanError`; most also inherit a builtin so callers
can catch either (``CRSError`` is a ``ValueError``, ``DataSourceError`` an
``OSError``).  Messages carry the offending values and the next step.
"""

from __future__ import annotations


class LandplanError(Exception):
    """Base class of every error landplan raises on purpose."""


class CRSError(LandplanError, ValueError):
    """A layer has no CRS, the wrong CRS, or coordinates that contradict it."""


class DataSourceError(LandplanError, OSError):
    """A file is missing, unreadable or corrupt."""


class EncodingError(LandplanError, ValueError):
    """Attribute text cannot be decoded with the stated or detected encoding."""


class GeometryError(LandplanError, ValueError):
    """Geometries that cannot be used and cannot be repaired safely."""


class DuplicateIdError(LandplanError, ValueError):
    """The id field holds the same value more than once."""


class EmptyLayerError(LandplanError, ValueError):
    """A layer that must have features has none."""


class ManifestError(LandplanError, ValueError):
    """The analysis manifest is malformed or names something that is not there."""


class PolicyError(LandplanError, ValueError):
    """A policy profile fails validation."""


class WorkspaceError(LandplanError, OSError):
    """The output workspace cannot be written safely."""


class InputTableError(LandplanError, ValueError):
    """A CSV/XLSX table of projects or firms lacks a column or holds an impossible value."""


class UnitsError(InputTableError):
    """A column's magnitudes contradict its unit (元 where 万元 is expected, % where a fraction is)."""


class UnknownIndustryError(InputTableError):
    """An industry code that the indicator table does not list (or of another GB/T 4754 version)."""


class IndicatorTableError(LandplanError, ValueError):
    """An indicator table or 亩均 preset (TOML) fails validation, or is looser than its national base."""


class StateError(LandplanError, ValueError):
    """A lifecycle transition that the register's transition table does not allow.

    ``current``, ``requested`` and ``allowed`` (a tuple) name the states involved.
    """

    def __init__(
        self,
        message: str,
        /,
        *,
        current: str | None = None,
        requested: str | None = None,
        allowed: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.current = current
        self.requested = requested
        self.allowed = tuple(allowed)


class ConflictError(LandplanError, RuntimeError):
    """Someone else changed the register row first (optimistic concurrency).

    ``current`` holds the row as it is now (a dict), so the caller can re-read and retry.
    """

    def __init__(self, message: str, /, *, current: dict | None = None) -> None:
        super().__init__(message)
        self.current = current


class RegisterError(LandplanError, ValueError):
    """A register entry or field value that cannot be accepted (unknown parcel, bad date, ...)."""


class RasterError(LandplanError, ValueError):
    """A raster that opens but cannot be used: all cells nodata, rotated, too small."""


class EfficiencyError(LandplanError, ValueError):
    """An input of the 开发区土地集约利用评价 (park land-efficiency indicators) is unusable."""


class RegionError(LandplanError, ValueError):
    """Region growing cannot satisfy the request (target too large, no free land, bad option)."""


class NotFoundError(LandplanError, LookupError):
    """A collection, feature, scenario or job that the workspace does not hold."""


class UploadError(LandplanError, ValueError):
    """An uploaded file that is refused: too large, unsafe zip entries, unknown format."""
