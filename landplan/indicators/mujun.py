"""亩均效益 evaluation (亩均论英雄): benchmark-ratio scores and percentile classes.

Per firm, per formula group (e.g. 规上 / 规下), **S = Σ wᵢ · xᵢ / bᵢ** with the weights
wᵢ and benchmarks bᵢ of a preset (``landplan/profiles/mujun/<name>.toml``).  A benchmark
is a number, or ``"<k>x_mean"``: k × the mean of the indicator over a population (the
previous year's firms when ``benchmark_df`` is given, else the firms evaluated; per
``county`` when the firms carry that column) — Huai'an uses ``"2x_mean"``.

Missing data, per item: ``not_graded`` (the firm gets class "not graded"), ``average_score``
(the mean partial score of the group's firms that have the item — Huangyan's rule for
规上 firms without emission data) or ``zero``.

Classes: the graded firms of a group are ranked by score (descending; scores rounded to
1e-9 so float noise does not split ties) with ``method="min"``: tied firms share the
best rank.  A firm's *top share* is ``(rank − 1) / n`` — the share of firms strictly
ahead of it — and it gets the first class whose cut-off exceeds it: with Huai'an's
``[0.20, 0.60, 0.95]``, A if < 20 %, B if < 60 %, C if < 95 %, else D.  So equal
scores always get the same class (a tie straddling a cut-off takes the better class),
A holds ⌈0.2 n⌉ firms when scores are distinct and D ⌊0.05 n⌋ (none below 20 firms; n = 1
→ A; n = 3 → A, B, C).  Output rows are ordered by group, rank, then ``firm_id``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from landplan.core.errors import IndicatorTableError, InputTableError, UnitsError
from landplan.core.tomlmodel import parse_model, read_source
from landplan.indicators.inputs import coerce_numeric, describe_rows, require_columns

SHIPPED_PRESETS = ("huangyan-2023", "huangyan-2022", "huaian-2024")
NOT_GRADED = "not graded"
NOT_SET = "not set"
TIE_DECIMALS = 9
INPUT_NUMERIC = (
    "land_area_mu",
    "tax_wan",
    "revenue_wan",
    "value_added_wan",
    "energy_tce",
    "emissions_t",
    "employees",
    "rd_wan",
    "electricity_kwh",
)


@dataclass(frozen=True)
class MujunIndicator:
    label_zh: str
    label_en: str
    unit: str
    numerator: str
    denominator: str
    factor: float = 1.0


#: indicator key → formula (numerator × factor ÷ denominator)
MUJUN_INDICATORS: dict[str, MujunIndicator] = {
    "tax_wan_per_mu": MujunIndicator(
        "亩均税收", "tax per mu", "万元/亩", "tax_wan", "land_area_mu"
    ),
    "value_added_wan_per_mu": MujunIndicator(
        "亩均增加值", "value added per mu", "万元/亩", "value_added_wan", "land_area_mu"
    ),
    "revenue_wan_per_mu": MujunIndicator(
        "亩均营业收入", "revenue per mu", "万元/亩", "revenue_wan", "land_area_mu"
    ),
    "va_wan_per_tce": MujunIndicator(
        "单位能耗增加值", "value added per tce", "万元/吨标煤", "value_added_wan", "energy_tce"
    ),
    "va_wan_per_t_emission": MujunIndicator(
        "单位排放增加值", "value added per t emissions", "万元/吨", "value_added_wan", "emissions_t"
    ),
    "labour_productivity_wan_per_person": MujunIndicator(
        "全员劳动生产率", "labour productivity", "万元/人", "value_added_wan", "employees"
    ),
    "rd_share": MujunIndicator(
        "R&D经费支出占比", "R&D share of revenue", "", "rd_wan", "revenue_wan"
    ),
    "tax_yuan_per_kwh": MujunIndicator(
        "单位电耗税收", "tax per kWh", "元/kWh", "tax_wan", "electricity_kwh", 10_000.0
    ),
    "tax_wan_per_tce": MujunIndicator(
        "单位能耗税收", "tax per tce", "万元/吨标煤", "tax_wan", "energy_tce"
    ),
}
#: implausible values → the column is in the wrong unit
UNIT_LIMITS = (
    ("tax_wan_per_mu", "tax_wan", 10_000.0, "looks like 元, not 万元; divide by 10000"),
    ("revenue_wan_per_mu", "revenue_wan", 1_000_000.0, "looks like 元, not 万元; divide by 10000"),
    (
        "value_added_wan_per_mu",
        "value_added_wan",
        200_000.0,
        "looks like 元, not 万元; divide by 10000",
    ),
    (
        "tax_yuan_per_kwh",
        "electricity_kwh",
        1_000.0,
        "looks like 万kWh, not kWh; multiply by 10000",
    ),
)
_MEAN_RE = re.compile(r"^(\d+(?:\.\d+)?)x_mean$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScoreItem(_Model):
    indicator: str
    weight: float = Field(gt=0)
    benchmark: float | str
    missing: Literal["not_graded", "average_score", "zero"] = "not_graded"
    note: str = ""

    @field_validator("indicator")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in MUJUN_INDICATORS:
            raise ValueError(f"unknown indicator {v!r}; known: {', '.join(MUJUN_INDICATORS)}")
        return v

    @field_validator("benchmark")
    @classmethod
    def _benchmark(cls, v):
        if isinstance(v, str):
            if not _MEAN_RE.match(v):
                raise ValueError(f"benchmark {v!r}: give a number or '<k>x_mean' (e.g. '2x_mean')")
        elif not (v > 0 and math.isfinite(v)):
            raise ValueError(f"benchmark must be positive, got {v}")
        return v

    def mean_factor(self) -> float | None:
        if isinstance(self.benchmark, str):
            return float(_MEAN_RE.match(self.benchmark).group(1))
        return None


class ScoreGroup(_Model):
    scale: Literal["above", "below", "all"]
    label_zh: str = ""
    label_en: str = ""
    basis: str = ""
    items: list[ScoreItem]

    @model_validator(mode="after")
    def _distinct(self) -> ScoreGroup:
        keys = [i.indicator for i in self.items]
        if len(keys) != len(set(keys)) or not keys:
            raise ValueError(
                f"group {self.scale}: items must be non-empty and distinct, got {keys}"
            )
        return self


class ClassRule(_Model):
    cutoffs: list[float] | None = None  # cumulative top shares; None = not set
    labels: list[str] = Field(default_factory=lambda: ["A", "B", "C", "D"])
    names_zh: list[str] = Field(default_factory=list)
    rank_within: Literal["group", "all"] = "group"
    basis: str = ""

    @model_validator(mode="after")
    def _shape(self) -> ClassRule:
        if self.cutoffs is not None:
            c = self.cutoffs
            if len(c) != len(self.labels) - 1:
                raise ValueError(
                    f"{len(self.labels)} labels need {len(self.labels) - 1} cut-offs, got {c}"
                )
            if any(not 0 < x < 1 for x in c) or sorted(c) != c or len(set(c)) != len(c):
                raise ValueError(f"cut-offs are increasing fractions in (0, 1), got {c}")
        if self.names_zh and len(self.names_zh) != len(self.labels):
            raise ValueError("names_zh needs one name per label")
        return self


class PresetInfo(_Model):
    name: str
    jurisdiction: str
    data_year: int | None = None
    title_zh: str = ""
    title_en: str = ""
    sources: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class MujunPreset(_Model):
    preset: PresetInfo
    groups: list[ScoreGroup]
    classes: ClassRule = ClassRule()

    @model_validator(mode="after")
    def _groups(self) -> MujunPreset:
        scales = [g.scale for g in self.groups]
        if len(set(scales)) != len(scales) or ("all" in scales and len(scales) > 1):
            raise ValueError(
                f"groups: one per scale (above, below) or a single 'all', got {scales}"
            )
        return self

    def group_for(self, scale: str) -> ScoreGroup | None:
        for g in self.groups:
            if g.scale in ("all", scale):
                return g
        return None


@dataclass(frozen=True)
class MujunResult:
    """``firms`` (one row per firm), ``summary`` (per park), ``benchmarks`` used, and notes."""

    firms: pd.DataFrame
    summary: pd.DataFrame
    benchmarks: pd.DataFrame
    preset: MujunPreset
    notes: tuple[str, ...]


def load_mujun_preset(source: str | Path = "huaian-2024", /) -> MujunPreset:
    """Load a shipped preset by name or a preset TOML file."""
    text, origin, _ = read_source(
        source,
        package="landplan.profiles.mujun",
        shipped=SHIPPED_PRESETS,
        what="亩均 preset",
        error=IndicatorTableError,
    )
    return parse_model(MujunPreset, text, origin=origin, error=IndicatorTableError)


# ---------------------------------------------------------------- indicators


def _norm_scale(v) -> str | None:
    s = str(v).strip().lower() if not pd.isna(v) else ""
    return {"above": "above", "规上": "above", "below": "below", "规下": "below"}.get(s)


def validate_firms(df: pd.DataFrame, /, *, need_scale: bool = True) -> pd.DataFrame:
    """Check columns, ids, areas, units; numbers as float and ``scale`` as above/below."""
    df = df.reset_index(drop=True).copy()
    if "land_area_mu" not in df and "land_area_m2" in df:
        df["land_area_mu"] = pd.to_numeric(df["land_area_m2"], errors="coerce") * 3.0 / 2000.0
    require_columns(
        df, ("firm_id", "land_area_mu", *(("scale",) if need_scale else ())), what="firms table"
    )
    ids = df["firm_id"].astype("string").str.strip()
    empty = ids.isna() | (ids == "")
    if empty.any():
        raise InputTableError(f"column firm_id is empty in {describe_rows(df, empty, 'firm_id')}")
    if ids.duplicated().any():
        raise InputTableError(f"column firm_id repeats {sorted(set(ids[ids.duplicated()]))[:5]}")
    df["firm_id"] = ids.astype(object)
    num = coerce_numeric(df, INPUT_NUMERIC, id_col="firm_id")
    land = num["land_area_mu"]
    bad = ~(land > 0)
    if bad.any():
        raise InputTableError(
            f"column land_area_mu {describe_rows(df, bad, 'firm_id')}: must be a positive area in 亩"
        )
    for c in INPUT_NUMERIC:
        if c in num and c not in ("tax_wan", "value_added_wan"):
            neg = num[c] < 0
            if neg.any():
                raise InputTableError(
                    f"column {c} {describe_rows(df, neg, 'firm_id')}: is negative"
                )
    if "scale" in num:
        scale = num["scale"].map(_norm_scale)
        bad = scale.isna()
        if need_scale and bad.any():
            raise InputTableError(
                f"column scale {describe_rows(df, bad, 'firm_id')}: must be 'above' (规上) or 'below' (规下)"
            )
        num["scale"] = scale
    ind = firm_indicators(num)
    for key, col, limit, fix in UNIT_LIMITS:
        hit = ind[key] > limit
        if hit.any():
            raise UnitsError(
                f"column {col} {describe_rows(df, hit, 'firm_id')} {fix} ({key} > {limit:,.0f})"
            )
    return num


def firm_indicators(firms: pd.DataFrame, /) -> pd.DataFrame:
    """Every 亩均 indicator for each firm (NaN when an input is missing or a denominator is 0)."""
    out = pd.DataFrame(index=firms.index)
    for key, spec in MUJUN_INDICATORS.items():
        if spec.numerator in firms and spec.denominator in firms:
            den = firms[spec.denominator].astype("float64")
            out[key] = firms[spec.numerator].astype("float64") * spec.factor / den.where(den > 0)
        else:
            out[key] = np.nan
    return out


# ---------------------------------------------------------------- classes


def assign_classes(
    scores: pd.Series,
    firm_ids: pd.Series,
    /,
    *,
    cutoffs: list[float] | tuple[float, ...],
    labels: list[str] | tuple[str, ...] = ("A", "B", "C", "D"),
) -> pd.DataFrame:
    """``rank`` (``method="min"``, descending), ``top_share`` and ``class`` of each score.

    Examples
    --------
    >>> s = pd.Series([90.0, 80.0, 80.0, 10.0])
    >>> assign_classes(s, pd.Series(list("abcd")), cutoffs=[0.2, 0.6, 0.95])["class"].tolist()
    ['A', 'B', 'B', 'C']
    """
    n = len(scores)
    rounded = scores.astype("float64").round(TIE_DECIMALS)
    rank = rounded.rank(method="min", ascending=False).astype("int64")
    ahead = rank - 1
    # exact integer comparison: ahead / n < c  ⇔  ahead · 10⁶ < round(c · 10⁶) · n
    scaled = [round(c * 1_000_000) for c in cutoffs]
    idx = np.array([sum(a * 1_000_000 >= s * n for s in scaled) for a in ahead], dtype="int64")
    out = pd.DataFrame(
        {
            "rank": rank,
            "n_ranked": n,
            "top_share": ahead / n if n else np.nan,
            "class": [labels[i] for i in idx],
        },
        index=scores.index,
    )
    del firm_ids  # order is applied by the caller; ids do not change a class
    return out


# ---------------------------------------------------------------- evaluation


def _population_means(
    item: ScoreItem, scale: str, firms: pd.DataFrame, bench: pd.DataFrame | None, by_county: bool
) -> dict[str, float]:
    pop = bench if bench is not None else firms
    if scale != "all" and "scale" in pop:
        pop = pop[pop["scale"] == scale]
    vals = firm_indicators(pop)[item.indicator]
    keys = (
        pop["county"].astype("string").fillna("") if by_county else pd.Series("", index=pop.index)
    )
    means = vals.groupby(keys).mean()
    return {str(k): float(v) for k, v in means.items()}


def evaluate(
    firms_df: pd.DataFrame,
    /,
    *,
    preset: str | Path | MujunPreset = "huaian-2024",
    benchmark_df: pd.DataFrame | None = None,
    cutoffs: list[float] | None = None,
) -> MujunResult:
    """Score and class every firm with a preset; see the module docstring for the rules.

    ``benchmark_df``: the population for ``"<k>x_mean"`` benchmarks (Huai'an: the
    previous year's firms); without it the evaluated firms are used and a note says so.
    ``cutoffs`` overrides the preset's class cut-offs (e.g. for a preset that ships
    them as not set).
    """
    p = preset if isinstance(preset, MujunPreset) else load_mujun_preset(preset)
    need_scale = not (len(p.groups) == 1 and p.groups[0].scale == "all")
    firms = validate_firms(firms_df, need_scale=need_scale)
    bench = (
        validate_firms(benchmark_df, need_scale=need_scale) if benchmark_df is not None else None
    )
    by_county = "county" in firms and (bench is None or "county" in bench)
    rule = p.classes if cutoffs is None else p.classes.model_copy(update={"cutoffs": list(cutoffs)})
    if cutoffs is not None:
        try:
            rule = ClassRule.model_validate(rule.model_dump())
        except ValidationError as exc:
            raise InputTableError(f"cut-offs {cutoffs}: {exc.errors()[0]['msg']}") from exc
        p = p.model_copy(update={"classes": rule})
    notes: list[str] = []
    ind = firm_indicators(firms)
    out = firms[["firm_id"]].copy()
    for extra in ("scale", "park", "county"):
        if extra in firms:
            out[extra] = firms[extra]
    out = pd.concat([out, ind], axis=1)
    out["group"] = ""
    out["score"] = np.nan
    out["not_graded_reason"] = ""
    out["imputed"] = ""
    bench_rows = []
    counties = (
        firms["county"].astype("string").fillna("")
        if by_county
        else pd.Series("", index=firms.index)
    )
    for g in p.groups:
        members = firms.index if g.scale == "all" else firms.index[firms["scale"] == g.scale]
        if len(members) == 0:
            continue
        out.loc[members, "group"] = g.scale
        total = pd.Series(0.0, index=members)
        missing_txt = pd.Series("", index=members, dtype=object)
        imputed = pd.Series("", index=members, dtype=object)
        for item in g.items:
            x = ind.loc[members, item.indicator]
            k = item.mean_factor()
            if k is None:
                b = pd.Series(float(item.benchmark), index=members)
                for c in sorted(set(counties[members])):
                    bench_rows.append(
                        (g.scale, c, item.indicator, item.weight, float(item.benchmark), "preset")
                    )
            else:
                means = _population_means(item, g.scale, firms, bench, by_county)
                b = (
                    counties[members]
                    .map(lambda c, m=means, k=k: k * m.get(str(c), np.nan))
                    .astype("float64")
                )
                src = "previous-year population" if bench is not None else "evaluated firms"
                for c in sorted(set(counties[members])):
                    mv = means.get(str(c), np.nan)
                    if not (mv > 0):
                        raise InputTableError(
                            f"benchmark of {item.indicator} ({g.scale}{', county ' + c if c else ''}) is "
                            f"{k:g} × mean = {k * mv:g}: no firm has a positive value; check the data"
                        )
                    bench_rows.append(
                        (g.scale, c, item.indicator, item.weight, k * mv, f"{k:g} × mean of {src}")
                    )
            partial = item.weight * x / b
            miss = partial.isna()
            if miss.any():
                if item.missing == "average_score":
                    avg = partial[~miss].groupby(counties[members][~miss]).mean()
                    fill = counties[members][miss].map(avg)
                    partial[miss] = fill
                    imputed[miss] = imputed[miss] + item.indicator + ";"
                    still = partial.isna()
                    missing_txt[still] = missing_txt[still] + item.indicator + ";"
                elif item.missing == "zero":
                    partial[miss] = 0.0
                else:
                    missing_txt[miss] = missing_txt[miss] + item.indicator + ";"
            out.loc[members, f"score_{item.indicator}"] = partial
            total = total + partial.fillna(0.0)
        graded = missing_txt == ""
        out.loc[members, "score"] = total.where(graded)
        out.loc[members, "not_graded_reason"] = np.where(
            graded, "", "missing data: " + missing_txt.str.rstrip(";")
        )
        out.loc[members, "imputed"] = imputed.str.rstrip(";")
    ungrouped = out["group"] == ""
    out.loc[ungrouped, "not_graded_reason"] = "no formula for this scale in the preset"
    if bench is None and any(i.mean_factor() for g in p.groups for i in g.items):
        notes.append(
            "mean-based benchmarks were computed from the evaluated firms; pass the previous "
            "year's data (benchmark_df / --benchmark-from) to follow the rule exactly"
        )
    _classify(out, rule, notes)
    order = out.assign(_g=out["group"].replace("", "~")).sort_values(
        ["_g", "rank", "firm_id"], na_position="last", kind="mergesort"
    )
    firms_out = order.drop(columns="_g").reset_index(drop=True)
    benchmarks = pd.DataFrame(
        bench_rows, columns=["group", "county", "indicator", "weight", "benchmark", "source"]
    )
    summary = park_summary(firms_out, firms)
    return MujunResult(firms_out, summary, benchmarks, p, tuple(notes))


def _classify(out: pd.DataFrame, rule: ClassRule, notes: list[str]) -> None:
    out["rank"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out["n_ranked"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out["top_share"] = np.nan
    out["class"] = NOT_GRADED
    graded = out["score"].notna()
    keys = out["group"] if rule.rank_within == "group" else pd.Series("all", index=out.index)
    for _, idx in out[graded].groupby(keys[graded]).groups.items():
        if rule.cutoffs is None:
            r = assign_classes(
                out.loc[idx, "score"], out.loc[idx, "firm_id"], cutoffs=[], labels=[NOT_SET]
            )
        else:
            r = assign_classes(
                out.loc[idx, "score"],
                out.loc[idx, "firm_id"],
                cutoffs=rule.cutoffs,
                labels=rule.labels,
            )
        out.loc[idx, "rank"] = r["rank"].to_numpy()
        out.loc[idx, "n_ranked"] = r["n_ranked"].to_numpy()
        out.loc[idx, "top_share"] = r["top_share"].to_numpy()
        out.loc[idx, "class"] = r["class"].to_numpy()
    if rule.cutoffs is None:
        notes.append(
            "class cut-offs are not set in this preset: classes are 'not set' (give --cutoffs)"
        )
    names = dict(zip(rule.labels, rule.names_zh, strict=False)) if rule.names_zh else {}
    out["class_name_zh"] = out["class"].map(
        lambda c: names.get(c, "不参评" if c == NOT_GRADED else "")
    )


def park_summary(firms_out: pd.DataFrame, firms_in: pd.DataFrame, /) -> pd.DataFrame:
    """Per park (or ``all``): firms, graded, class counts, mean score, land and tax per mu."""
    df = firms_out.copy()
    land = firms_in.set_index("firm_id")["land_area_mu"]
    tax = firms_in.set_index("firm_id")["tax_wan"] if "tax_wan" in firms_in else None
    df["land_area_mu_"] = df["firm_id"].map(land)
    df["tax_wan_"] = df["firm_id"].map(tax) if tax is not None else np.nan
    key = (
        df["park"].astype("string").fillna("(none)")
        if "park" in df
        else pd.Series("all", index=df.index)
    )
    rows = []
    labels = [*sorted(set(df["class"]) - {NOT_GRADED}), NOT_GRADED]
    for park, g in df.groupby(key, sort=True):
        row = {
            "park": park,
            "firms": len(g),
            "graded": int(g["score"].notna().sum()),
            "mean_score": g["score"].mean(),
            "land_area_mu": g["land_area_mu_"].sum(),
            "tax_wan": g["tax_wan_"].sum(min_count=1),
        }
        row["tax_wan_per_mu"] = (
            row["tax_wan"] / row["land_area_mu"] if row["land_area_mu"] else np.nan
        )
        for lab in labels:
            row[f"class_{lab}"] = int((g["class"] == lab).sum())
        rows.append(row)
    return pd.DataFrame(rows)
