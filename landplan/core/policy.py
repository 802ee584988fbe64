"""Policy profiles: typed, versioned TOML holding the rules, thresholds and reason texts.

A profile says which constraint kinds exclude land or must contain it, which
networks a parcel needs (三通一平 / 五通一平 / 七通一平) and at what distances, the
tolerances, and the bilingual reason templates.  Every rule carries its legal
basis; values without a primary source are marked ``verified = false``.
Load one with :func:`load_policy` (a file path or a shipped profile name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from landplan.core.errors import PolicyError
from landplan.core.tomlmodel import load_toml, read_source, validate_model

SHIPPED = ("national", "seven-connections")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConstraintRule(_Model):
    """How one constraint kind acts on parcels."""

    action: Literal["exclude", "require_inside", "warn", "info"]  # info: kept for reference only
    code: str
    label_zh: str
    label_en: str
    basis: str
    verified: bool = True


class NetworkRule(_Model):
    """Readiness rule for one network kind."""

    label_zh: str
    label_en: str
    requirement: Literal["block", "warn", "ignore"] = "block"
    connected_m: float = Field(ge=0)
    connectable_m: float = Field(ge=0)
    basis: str = ""
    verified: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> NetworkRule:
        if self.connectable_m < self.connected_m:
            raise ValueError(
                f"connectable_m ({self.connectable_m}) must be ≥ connected_m ({self.connected_m})"
            )
        return self


class Tolerances(_Model):
    """Tolerances that turn tiny overlaps into warnings instead of blocks."""

    sliver_m2: float = Field(10.0, ge=0)
    ignore_below_m2: float = Field(
        0.01, ge=0
    )  # floating-point noise of touching boundaries, not a sliver
    min_net_available_m2: float = Field(1.0, ge=0)


class TerrainRule(_Model):
    """Slope limits, applied when a DEM is given.

    A parcel gets ``SLOPE_TOO_STEEP`` when more than ``max_steep_share`` of its area is steeper
    than ``max_slope_deg``; cells steeper than ``hard_slope_deg`` are a hard constraint in the
    suitability surface.
    """

    max_slope_deg: float = Field(gt=0, lt=90)
    max_steep_share: float = Field(0.25, ge=0, le=1)
    hard_slope_deg: float = Field(25.0, gt=0, lt=90)
    requirement: Literal["block", "warn", "ignore"] = "warn"
    basis: str
    verified: bool = False


class CostTable(_Model):
    """Unit costs for site levelling and network extension (元), with their status."""

    cut_soil_yuan_per_m3: float = Field(gt=0)
    cut_rock_yuan_per_m3: float = Field(gt=0)
    soil_share: float = Field(ge=0, le=1)
    fill_yuan_per_m3: float = Field(ge=0)
    extension_yuan_per_m: dict[str, float]
    reference_cost_wan_per_mu: float = Field(gt=0)
    sources: list[str] = Field(default_factory=list)
    verified: bool = False

    def cut_yuan_per_m3(self) -> float:
        """Blended excavation price for the soil/rock split."""
        return (
            self.soil_share * self.cut_soil_yuan_per_m3
            + (1 - self.soil_share) * self.cut_rock_yuan_per_m3
        )


class SuitabilityFactorRule(_Model):
    """A default suitability factor computed from the workspace (``slope``, ``relief``, ``dist:<kind>``)."""

    source: str
    rescale: dict
    weight: float = Field(gt=0)


#: templates a profile may omit (added after profiles were written); the shipped profiles state them
DEFAULT_MESSAGES = {
    "NETWORK_NOT_PROVIDED": (
        "{label_zh}数据未提供：清单中没有{label_zh}图层，无法判断是否已通",
        "{label_en} data not provided: the manifest names no {label_en} layer, so whether one "
        "reaches the parcel is unknown",
    ),
    "GEOMETRY_INVALID": (
        "地块图形无效（坐标非有限值、超出范围或无法修复），无法计算面积",
        "the parcel's geometry is invalid (non-finite or out-of-range coordinates, or "
        "unrepairable); no area can be computed",
    ),
}


class Message(_Model):
    """Bilingual reason template; ``{label_zh}``, ``{value}``, ``{threshold}`` etc. are filled in."""

    zh: str
    en: str


class ProfileInfo(_Model):
    name: str
    version: str
    jurisdiction: str
    description_zh: str = ""
    description_en: str = ""
    sources: list[str] = Field(default_factory=list)


class Policy(_Model):
    """A complete policy profile."""

    profile: ProfileInfo
    tolerances: Tolerances = Tolerances()
    constraints: dict[str, ConstraintRule]
    custom_constraint: ConstraintRule
    networks_standard: str
    networks: dict[str, NetworkRule]
    terrain: TerrainRule
    costs: CostTable
    suitability: dict[str, SuitabilityFactorRule]
    messages: dict[str, Message]

    @model_validator(mode="after")
    def _messages_cover_rules(self) -> Policy:
        needed = {
            "OVERLAP",
            "OVERLAP_SLIVER",
            "OUTSIDE",
            "NETWORK_MISSING",
            "NETWORK_ABSENT",
            "NO_AVAILABLE_LAND",
            "GEOMETRY_EMPTY",
            "WARN_OVERLAP",
        }
        missing = needed - set(self.messages)
        if missing:
            raise ValueError(f"[messages] lacks templates {sorted(missing)}")
        for code, (zh, en) in DEFAULT_MESSAGES.items():  # newer templates: older profiles get these
            self.messages.setdefault(code, Message(zh=zh, en=en))
        return self

    def rule_for(self, kind: str) -> ConstraintRule:
        """The rule of a constraint kind; custom kinds get ``custom_constraint`` with their own code."""
        if kind in self.constraints:
            return self.constraints[kind]
        base = self.custom_constraint
        return base.model_copy(
            update={"code": f"{kind.upper()}_OVERLAP", "label_zh": kind, "label_en": kind}
        )

    def required_networks(self) -> list[str]:
        return [k for k, r in self.networks.items() if r.requirement != "ignore"]


def load_policy(source: str | Path | None = None, /) -> Policy:
    """Load a profile from a TOML file, or a shipped one by name (default ``"national"``).

    A profile may start with ``extends = "national"`` (a shipped name, or a TOML path relative to
    the profile): it then states only what differs, and inherits everything else, so a reason
    template or rule added to the shipped profile reaches it too.  Tables merge key by key;
    any other value (a number, a string, a list) replaces the inherited one.

    Examples
    --------
    >>> p = load_policy()
    >>> p.constraints["red_line"].code
    'RED_LINE_OVERLAP'
    """
    if source is None:
        source = "national"
    text, origin, folder = read_source(
        source,
        package="landplan.profiles",
        shipped=SHIPPED,
        what="policy profile",
        error=PolicyError,
    )
    return parse_policy(text, origin=origin, folder=folder)


def parse_policy(text: str, /, *, origin: str = "<string>", folder: Path | None = None) -> Policy:
    """Parse and validate profile TOML text (``extends`` paths are relative to ``folder``)."""
    data = _with_base(load_toml(text, origin=origin, error=PolicyError), origin, folder, ())
    return validate_model(Policy, data, origin=origin, error=PolicyError)


MAX_EXTENDS_DEPTH = 8


def _with_base(data: dict, origin: str, folder: Path | None, chain: tuple[str, ...]) -> dict:
    """``data`` merged over the profile its ``extends`` names (recursively)."""
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise PolicyError(
            f"{origin}: extends must be a profile name or a TOML path, not {base_name!r}"
        )
    if base_name not in SHIPPED and folder is not None and not Path(base_name).is_absolute():
        base_name = str(folder / base_name)
    if base_name in chain or len(chain) >= MAX_EXTENDS_DEPTH:
        raise PolicyError(
            f"{origin}: extends {base_name!r} goes round in a circle ({' → '.join([*chain, base_name])}); "
            "make one profile extend a shipped one"
        )
    text, base_origin, base_folder = read_source(
        base_name,
        package="landplan.profiles",
        shipped=SHIPPED,
        what=f"policy profile (extended by {origin})",
        error=PolicyError,
    )
    base = load_toml(text, origin=base_origin, error=PolicyError)
    base = _with_base(base, base_origin, base_folder, (*chain, base_name))
    return _merged(base, data)


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out
