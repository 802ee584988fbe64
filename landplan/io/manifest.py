"""The analysis manifest: a TOML file naming the user's files and their roles.

Paths are relative to the manifest.  See the README for a complete example.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from geopandas import GeoDataFrame
from pydantic import BaseModel, ConfigDict, Field, field_validator

from landplan.core.errors import ManifestError
from landplan.core.tomlmodel import load_toml, validate_model

_KIND = r"^[a-z][a-z0-9_]{0,39}$"


@dataclass(frozen=True, eq=False)
class FrameSource:
    """A layer already in memory (a GeoDataFrame), standing where a manifest names a file.

    :func:`landplan.analyze` builds a manifest of these; reading validates the frame exactly as a
    file's features would be validated.
    """

    frame: GeoDataFrame
    label: str  # e.g. "parcels" or "networks['road']": how messages name it

    @property
    def name(self) -> str:  # messages say "<label> (GeoDataFrame)" where they say a file name
        return f"{self.label} (GeoDataFrame)"

    def __str__(self) -> str:
        return self.name


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    path: Path | FrameSource
    layer: str | None = None
    encoding: str | None = None
    crs: str | None = None


class ParcelsEntry(_Entry):
    id_field: str
    group_field: str | None = None  # e.g. 片区 name: per-group totals in the park summary
    duplicate_ids: Literal["error", "suffix"] = "error"
    # land-efficiency indicators (土地供应率, 建成率, ...): which attribute says supplied / built
    status_field: str | None = None
    supplied_values: list[str] = Field(default_factory=list)
    built_values: list[str] = Field(default_factory=list)
    land_use_field: str | None = None  # 地类编码, e.g. DLBM (工业用地率)
    floor_area_field: str | None = None  # total floor area m² (综合容积率)


class ConstraintEntry(_Entry):
    kind: str = Field(pattern=_KIND)


class NetworkEntry(_Entry):
    kind: str = Field(pattern=_KIND)
    status_field: str | None = None
    built_values: list[str] = Field(default_factory=lambda: ["built", "已建", "现状"])


class DemEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path
    crs: str | None = None


class Manifest(BaseModel):
    """A validated manifest; ``root`` is the folder paths are relative to."""

    model_config = ConfigDict(extra="forbid")

    name: str = "landplan"
    crs: str = "auto"
    parcels: ParcelsEntry
    constraints: list[ConstraintEntry] = Field(default_factory=list)
    networks: list[NetworkEntry] = Field(default_factory=list)
    dem: DemEntry | None = None
    root: Path = Path(".")

    @field_validator("constraints")
    @classmethod
    def _unique_kinds(cls, v: list[ConstraintEntry]) -> list[ConstraintEntry]:
        kinds = [c.kind for c in v]
        dup = sorted({k for k in kinds if kinds.count(k) > 1})
        if dup:
            raise ValueError(
                f"constraint kinds {dup} appear more than once; merge the files or rename a kind"
            )
        return v

    def resolve(self, path: Path | FrameSource) -> Path | FrameSource:
        if isinstance(path, FrameSource) or path.is_absolute():
            return path
        return self.root / path


def load_manifest(path: str | Path, /) -> Manifest:
    """Read and validate a manifest file."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path.name} is not UTF-8 text: {exc}") from exc
    data = load_toml(text, origin=path.name, error=ManifestError)
    data["root"] = path.resolve().parent
    return validate_model(Manifest, data, origin=path.name, error=ManifestError)
