"""标准地 indicator tables: typed, sourced TOML keyed by jurisdiction, edition and industry.

A table (``landplan/profiles/indicators/<name>.toml``) says, for one jurisdiction and
edition, which indicators it governs (``[indicators.<key>]``), whether each is binding
(规范性, a failure blocks) or recommended (推荐性, a failure warns), its basis, and its
value: one value for every industry, or per industry in ``[[rows]]`` keyed by the
industry code of the table's GB/T 4754 version (and an optional region class).
An indicator that is declared but has no value is **not set**: the official number was
not retrieved, and the project check reports ``INDICATORS_NOT_SET`` instead of passing.

A local table may name a national ``base``; :func:`load_indicator_table` then checks
that no local value is looser than the national one (a minimum lower, a maximum
higher) and records each violation, and the check applies the stricter of the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from landplan.core.errors import IndicatorTableError, UnknownIndustryError
from landplan.core.tomlmodel import parse_model, read_source

SHIPPED_TABLES = (
    "national-2008",
    "national-2023",
    "wenling-2021",
    "wenzhou-coastal-food",
    "tieshangang",
    "langxi-uniform",
)
DEFAULT_TABLE = "national-2023"


@dataclass(frozen=True)
class IndicatorSpec:
    """What a threshold key measures: the computed column, its direction, unit and reason code."""

    column: str
    direction: Literal["min", "max"]
    unit: str
    code: str
    label_zh: str
    label_en: str
    ratio: bool = False  # a fraction in [0, 1]; percentages are refused


#: every threshold key a table may declare
INDICATORS: dict[str, IndicatorSpec] = {
    "invest_wan_per_mu_min": IndicatorSpec(
        "invest_wan_per_mu",
        "min",
        "万元/亩",
        "INVEST_BELOW_MIN",
        "固定资产投资强度",
        "investment intensity",
    ),
    "far_min": IndicatorSpec("far", "min", "", "FAR_BELOW_MIN", "容积率", "floor-area ratio"),
    "far_max": IndicatorSpec("far", "max", "", "FAR_ABOVE_MAX", "容积率", "floor-area ratio"),
    "coverage_min": IndicatorSpec(
        "coverage", "min", "", "COVERAGE_BELOW_MIN", "建筑系数", "building coverage", ratio=True
    ),
    "coverage_max": IndicatorSpec(
        "coverage",
        "max",
        "",
        "COVERAGE_ABOVE_MAX",
        "建筑系数（密度）",
        "building coverage",
        ratio=True,
    ),
    "green_ratio_max": IndicatorSpec(
        "green_ratio", "max", "", "GREEN_ABOVE_MAX", "绿地率", "green ratio", ratio=True
    ),
    "admin_share_max": IndicatorSpec(
        "admin_share",
        "max",
        "",
        "ADMIN_SHARE_ABOVE_MAX",
        "行政办公及生活服务设施用地比重",
        "admin & living-service land share",
        ratio=True,
    ),
    "admin_floor_share_max": IndicatorSpec(
        "admin_floor_share",
        "max",
        "",
        "ADMIN_FLOOR_SHARE_ABOVE_MAX",
        "行政办公及生活服务设施建筑面积比重",
        "admin & living-service floor-area share",
        ratio=True,
    ),
    "tax_wan_per_mu_min": IndicatorSpec(
        "tax_wan_per_mu", "min", "万元/亩", "TAX_BELOW_MIN", "亩均税收", "tax per mu"
    ),
    "revenue_wan_per_mu_min": IndicatorSpec(
        "revenue_wan_per_mu",
        "min",
        "万元/亩",
        "REVENUE_BELOW_MIN",
        "亩均营业收入（产出强度）",
        "revenue per mu",
    ),
    "value_added_wan_per_mu_min": IndicatorSpec(
        "value_added_wan_per_mu",
        "min",
        "万元/亩",
        "VALUE_ADDED_BELOW_MIN",
        "亩均增加值",
        "value added per mu",
    ),
    "va_wan_per_tce_min": IndicatorSpec(
        "va_wan_per_tce",
        "min",
        "万元/吨标煤",
        "VA_PER_ENERGY_BELOW_MIN",
        "单位能耗增加值",
        "value added per tonne of standard coal",
    ),
    "va_wan_per_t_emission_min": IndicatorSpec(
        "va_wan_per_t_emission",
        "min",
        "万元/吨",
        "VA_PER_EMISSION_BELOW_MIN",
        "单位排放增加值",
        "value added per tonne of emissions",
    ),
    "labour_productivity_wan_per_person_min": IndicatorSpec(
        "labour_productivity_wan_per_person",
        "min",
        "万元/人",
        "LABOUR_PRODUCTIVITY_BELOW_MIN",
        "全员劳动生产率",
        "labour productivity",
    ),
    "rd_share_min": IndicatorSpec(
        "rd_share",
        "min",
        "",
        "RD_SHARE_BELOW_MIN",
        "研发经费占营业收入比重",
        "R&D share of revenue",
        ratio=True,
    ),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IndicatorRule(_Model):
    """One governed indicator: its status, basis and (uniform) value."""

    binding: bool  # True: 规范性 (a failure blocks); False: 推荐性 (a failure warns)
    basis: str
    value: float | None = None  # uniform value; absent = not set (unless by_industry)
    by_industry: bool = False  # values come from [[rows]]
    verified: bool = True
    note: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> IndicatorRule:
        if self.by_industry and self.value is not None:
            raise ValueError("give either a uniform value or by_industry = true, not both")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"value must be finite, not {self.value}")
        return self


class TableInfo(_Model):
    name: str
    jurisdiction: str
    level: Literal["national", "provincial", "municipal", "county", "park", "parcel"]
    edition: str
    code_version: str  # e.g. "GB/T 4754-2002"
    base: str | None = None  # national table this one may not be looser than
    title_zh: str = ""
    title_en: str = ""
    sources: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class IndustryRow(_Model):
    model_config = ConfigDict(extra="allow", frozen=True)

    industry_code: str
    industry_zh: str = ""
    region_class: str = "*"

    def values(self) -> dict[str, float]:
        return {k: float(v) for k, v in (self.model_extra or {}).items()}


class IndicatorTable(_Model):
    """A parsed, validated indicator table (one TOML file)."""

    table: TableInfo
    indicators: dict[str, IndicatorRule]
    rows: list[IndustryRow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> IndicatorTable:
        unknown = set(self.indicators) - set(INDICATORS)
        if unknown:
            raise ValueError(
                f"unknown indicator key(s) {sorted(unknown)}; known: {', '.join(INDICATORS)}"
            )
        by_ind = {k for k, r in self.indicators.items() if r.by_industry}
        seen: set[tuple[str, str]] = set()
        for row in self.rows:
            extra = set(row.values()) - by_ind
            if extra:
                raise ValueError(
                    f"row industry_code={row.industry_code!r} gives {sorted(extra)}, "
                    "which are not declared with by_industry = true"
                )
            key = (normalize_industry_code(row.industry_code) or "", row.region_class)
            if key in seen:
                raise ValueError(f"industry_code {row.industry_code!r} listed twice")
            seen.add(key)
        for key, rule in self.indicators.items():
            spec = INDICATORS[key]
            vals = [rule.value] if rule.value is not None else []
            vals += [r.values()[key] for r in self.rows if key in r.values()]
            if spec.ratio and any(v > 1 or v < 0 for v in vals):
                raise ValueError(f"{key} is a fraction (0.30 for 30%), got {vals}")
        return self

    @property
    def by_industry(self) -> bool:
        return any(r.by_industry for r in self.indicators.values())

    def industry_codes(self) -> list[str]:
        return [normalize_industry_code(r.industry_code) or "" for r in self.rows]


@dataclass(frozen=True)
class Threshold:
    """A threshold resolved for one project: value (None = not set), severity, basis."""

    key: str
    value: float | None
    binding: bool
    basis: str
    source: str  # "notice", "table:<name>", "peers"

    @property
    def spec(self) -> IndicatorSpec:
        return INDICATORS[self.key]

    @property
    def severity(self) -> str:
        return "block" if self.binding else "warn"


@dataclass(frozen=True)
class BaseViolation:
    """A local value looser than the national base value."""

    key: str
    industry_code: str | None
    local_value: float
    base_value: float

    @property
    def message(self) -> str:
        spec = INDICATORS[self.key]
        word = "lower" if spec.direction == "min" else "higher"
        ind = f" for industry {self.industry_code}" if self.industry_code else ""
        return (
            f"{self.key}{ind}: local {self.local_value:g} is {word} than the national "
            f"{self.base_value:g} (local values may not be looser; the national value is applied)"
        )


@dataclass(frozen=True)
class LoadedTable:
    """A table with its resolved national base and the violations found against it."""

    spec: IndicatorTable
    origin: str
    base: LoadedTable | None = None
    violations: tuple[BaseViolation, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.spec.table.name

    def thresholds_for(
        self,
        industry_code: str | None,
        /,
        *,
        code_version: str | None = None,
        region_class: str | None = None,
        row_label: str = "",
    ) -> dict[str, Threshold]:
        """Thresholds for one project: the table's value, tightened by the base where stricter.

        ``code_version`` is the GB/T 4754 version of ``industry_code`` (default: the
        table's).  Raises :class:`UnknownIndustryError` when the table sets values by
        industry and the code is not listed or is of another version.  An empty code
        leaves the per-industry indicators not set.
        """
        own_cv = self.spec.table.code_version
        cv = code_version or own_cv
        if self.spec.by_industry and cv != own_cv and normalize_industry_code(industry_code):
            raise UnknownIndustryError(
                f"{row_label + ': ' if row_label else ''}column industry_code: {industry_code!r} is a "
                f"{cv} code but table {self.name!r} uses {own_cv}; convert the code or choose "
                "another table"
            )
        out = _own_thresholds(self, industry_code, region_class=region_class, row_label=row_label)
        if self.base is None:
            return out
        base_cv = self.base.spec.table.code_version
        base_code = industry_code if cv == base_cv else None
        why = ""
        if base_code is None and normalize_industry_code(industry_code):
            why = f"（行业代码为{cv}，国家表按{base_cv}，无法按行业取值 / code version differs）"
        try:
            base = self.base.thresholds_for(base_code, region_class=region_class)
        except UnknownIndustryError:
            # the base does not list this code (e.g. outside manufacturing): uniform values only
            why = f"（国家表未列行业代码 {industry_code} / code not in the national table）"
            base = self.base.thresholds_for(None, region_class=region_class)
        if why:
            base = {
                k: (
                    b
                    if b.value is not None or not self.base.spec.indicators[k].by_industry
                    else Threshold(k, None, b.binding, b.basis + why, b.source)
                )
                for k, b in base.items()
            }
        for key, b in base.items():
            mine = out.get(key)
            if mine is None or mine.value is None:
                if b.value is not None or mine is None:
                    out[key] = b
                continue
            if b.value is not None and _stricter(key, b.value, mine.value):
                out[key] = Threshold(
                    key,
                    b.value,
                    mine.binding or b.binding,
                    f"{b.basis}（地方值 {mine.value:g} 宽于国家值，按国家值执行 / "
                    "the local value is looser than the national one, which applies）",
                    b.source,
                )
        return out


def _stricter(key: str, a: float, b: float) -> bool:
    """True when ``a`` is strictly stricter than ``b`` for this key."""
    return a > b if INDICATORS[key].direction == "min" else a < b


def _own_thresholds(
    t: LoadedTable, code: str | None, *, region_class: str | None, row_label: str
) -> dict[str, Threshold]:
    spec = t.spec
    src = f"table:{spec.table.name}"
    code_n = normalize_industry_code(code)
    row_vals: dict[str, float] = {}
    if spec.by_industry and code_n is not None:
        row_vals = _row_values(spec, code_n, region_class, row_label)
    out = {}
    for key, rule in spec.indicators.items():
        value = row_vals.get(key) if rule.by_industry else rule.value
        basis = rule.basis + ("（未经原文核实 / unverified）" if not rule.verified else "")
        out[key] = Threshold(key, value, rule.binding, basis, src)
    return out


def _row_values(
    spec: IndicatorTable, code: str, region_class: str | None, row_label: str
) -> dict[str, float]:
    codes = {normalize_industry_code(r.industry_code): r for r in spec.rows}
    candidates = [
        r
        for r in spec.rows
        if normalize_industry_code(r.industry_code) in (code, code[:2])
        and (r.region_class == "*" or r.region_class == (region_class or "*"))
    ]
    if not candidates:
        where = f"{row_label}: " if row_label else ""
        raise UnknownIndustryError(
            f"{where}column industry_code: {code!r} is not in table {spec.table.name!r} "
            f"({spec.table.code_version}; known codes: {', '.join(sorted(c for c in codes if c))}); "
            f"give a {spec.table.code_version} code, or choose another --policy table"
        )
    # the exact code wins over its 2-digit major group; a region-specific row over "*"
    candidates.sort(
        key=lambda r: (normalize_industry_code(r.industry_code) != code, r.region_class == "*")
    )
    return candidates[0].values()


def normalize_industry_code(raw, /) -> str | None:
    """Normalise a GB/T 4754 code: ``13``, ``13.0``, ``"C13"``, ``" 1310 "`` → ``"13"`` / ``"1310"``.

    Single digits are zero-padded (``6`` → ``"06"``). Empty or NaN → ``None``.

    Examples
    --------
    >>> normalize_industry_code(13.0), normalize_industry_code("C3511"), normalize_industry_code(6)
    ('13', '3511', '06')
    """
    if raw is None:
        return None
    if isinstance(raw, float):
        if math.isnan(raw):
            return None
        if raw.is_integer():
            raw = int(raw)
    s = str(raw).strip().upper()
    if s in ("", "NAN", "NONE"):
        return None
    if s.endswith(".0") and s[:-2].isdigit():
        s = s[:-2]
    if len(s) > 1 and s[0].isalpha() and s[1:].isdigit():
        s = s[1:]
    if s.isdigit() and len(s) == 1:
        s = "0" + s
    return s


def compare_with_base(local: IndicatorTable, base: IndicatorTable, /) -> list[BaseViolation]:
    """Every local value looser than the national base's value for the same indicator.

    Uniform local values are compared with every base value (uniform or per industry);
    per-industry local rows are compared with base rows only when both tables use the
    same GB/T 4754 version, and with a uniform base value otherwise.
    """
    out: list[BaseViolation] = []
    same_codes = local.table.code_version == base.table.code_version
    for key, lrule in local.indicators.items():
        brule = base.indicators.get(key)
        if brule is None:
            continue
        base_pairs: list[tuple[str | None, float]] = []
        if brule.value is not None:
            base_pairs.append((None, brule.value))
        base_pairs += [
            (normalize_industry_code(r.industry_code), r.values()[key])
            for r in base.rows
            if key in r.values()
        ]
        if lrule.value is not None:
            for code, bval in base_pairs:
                if _stricter(key, bval, lrule.value):
                    out.append(BaseViolation(key, code, lrule.value, bval))
        for row in local.rows:
            lval = row.values().get(key)
            if lval is None:
                continue
            lcode = normalize_industry_code(row.industry_code)
            for code, bval in base_pairs:
                if code is not None and (not same_codes or code != (lcode or "")[:2]):
                    continue
                if _stricter(key, bval, lval):
                    out.append(BaseViolation(key, lcode, lval, bval))
    return out


def parse_indicator_table(text: str, /, *, origin: str = "<string>") -> IndicatorTable:
    """Parse and validate indicator-table TOML text."""
    return parse_model(IndicatorTable, text, origin=origin, error=IndicatorTableError)


def load_indicator_table(
    source: str | Path | None = None, /, *, strict: bool = False
) -> LoadedTable:
    """Load an indicator table by shipped name or TOML path, resolving its national base.

    ``strict=True`` raises :class:`IndicatorTableError` when a local value is looser
    than the base; otherwise the violations are kept in ``LoadedTable.violations``.

    Examples
    --------
    >>> t = load_indicator_table("tieshangang")
    >>> t.base.name, t.thresholds_for(None)["invest_wan_per_mu_min"].value
    ('national-2008', 250.0)
    """
    text, origin, folder = read_source(
        source or DEFAULT_TABLE,
        package="landplan.profiles.indicators",
        shipped=SHIPPED_TABLES,
        what="indicator table",
        error=IndicatorTableError,
    )
    spec = parse_indicator_table(text, origin=origin)
    base = None
    violations: tuple[BaseViolation, ...] = ()
    if spec.table.base:
        bsrc: str | Path = spec.table.base
        if bsrc not in SHIPPED_TABLES and folder is not None:
            bsrc = folder / bsrc
        if str(bsrc) == str(source):
            raise IndicatorTableError(f"{origin}: table.base names the table itself")
        base = load_indicator_table(bsrc)
        violations = tuple(compare_with_base(spec, base.spec))
        if strict and violations:
            raise IndicatorTableError(
                f"{origin}: looser than its national base {base.name!r}: "
                + "; ".join(v.message for v in violations)
            )
    return LoadedTable(spec, origin, base, violations)


def summarize_violations(violations, /) -> list[str]:
    """One line per (indicator, local value): ``far_min: local 0.7 is lower than national for 13 (1), ...``."""
    groups: dict[tuple[str, float], list[BaseViolation]] = {}
    for v in violations:
        groups.setdefault((v.key, v.local_value), []).append(v)
    out = []
    for (key, local), vs in groups.items():
        word = "lower" if INDICATORS[key].direction == "min" else "higher"
        where = ", ".join(
            f"{v.industry_code} ({v.base_value:g})"
            if v.industry_code
            else f"all ({v.base_value:g})"
            for v in vs
        )
        out.append(
            f"{key}: local {local:g} is {word} than the national value for industries {where}; "
            "the national value applies there"
        )
    return out
