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
