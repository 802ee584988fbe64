"""Project-to-parcel matching: which parcels, or groups of adjacent parcels, fit an arriving project.

Rules (issue #18)
-----------------
**Projects** (``PROJECTS.csv``, :func:`read_projects`): ``project_id, industry_code, min_mu,
max_mu, invest_wan, tax_wan_per_year, revenue_wan_per_year, networks`` (``road;water;power``),
``max_slope_deg`` and optionally ``zone`` (a preferred 片区); Chinese headers are accepted
(:data:`ALIASES`).

**The pool** of a project: parcels not already supplied (register state in
:data:`~landplan.store.register.SUPPLIED_STATES` or ``listed``, or a status column such as ``ZT``
holding 已出让 / 在建 / 已建成), plus reclaimed land from the efficiency review (flagged).  A parcel
is *ready* when its transfer verdict says transferable, or, with ``ready_year`` (from a supply plan),
when it becomes transferable by ``by``.  It must have every network the project needs
(``net_<kind>_status`` connected / connectable, or the plan serves the kind by then) and
``slope_mean_deg`` ≤ ``max_slope_deg``.

**Candidates** are single parcels or connected groups of pool parcels (adjacent = they share an
edge of at least ``min_shared_m``, 1 m, of boundary) whose summed ``net_available_mu`` lies in
[``min_mu``, ``max_mu``].  Groups are enumerated exhaustively (every connected set, pruned by area)
while that stays below ``enum_limit`` sets; otherwise they are grown from the ``max_seeds`` best
parcels, each time adding the adjacent parcel nearest the group's centroid (compact groups), until
the area reaches ``min_mu`` (a note says which).

**Indicator check**: every candidate is a row of :func:`landplan.indicators.check.check_projects`
(land = the group's net area, investment, tax and revenue of the project, the table's thresholds,
and the peer average when ``peers`` is given).  A candidate with a ``block`` reason is not offered.

**Score** (higher is better, 0–1): 0.35 × area fit (1 at the middle of [min, max], 0 at its ends)
+ 0.25 × cost (1 − min–max-normalised development cost per 亩 among the project's candidates) +
0.20 × suitability (area-weighted ``suitability_mean`` ÷ 100) + 0.10 × network distance
(1 ÷ (1 + mean distance to the needed built networks ÷ 100 m)) + 0.10 × zone (1 in the preferred
片区 or when none is given).  Missing inputs score 0.5.

**Assignment**: a MILP (``scipy.optimize.milp``) picks at most one candidate per project and
never one parcel twice, maximising first the number of projects placed, then the total score.
It is compared with *one at a time*: projects in file order, each taking its best remaining
candidate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame

from landplan.core.errors import InputTableError
from landplan.indicators.check import check_projects

M2_PER_MU = 2000.0 / 3.0
WEIGHTS = {"fit": 0.35, "cost": 0.25, "suitability": 0.20, "distance": 0.10, "zone": 0.10}
ALIASES = {
    "项目编号": "project_id", "项目": "project_id", "行业代码": "industry_code",
    "最小面积亩": "min_mu", "最小亩": "min_mu", "最大面积亩": "max_mu", "最大亩": "max_mu",
    "投资万元": "invest_wan", "总投资万元": "invest_wan", "年税收万元": "tax_wan_per_year",
    "年营业收入万元": "revenue_wan_per_year", "管网": "networks", "最大坡度": "max_slope_deg",
    "片区": "zone",
}  # fmt: skip
REQUIRED = ("project_id", "min_mu", "max_mu", "invest_wan")
TAKEN_VALUES = ("已出让", "在建", "已建成", "已供应", "已达产")
TAKEN_STATES = ("listed", "transferred", "started", "completed", "output_verified", "idle")
OK_STATUS = ("connected", "connectable")
REASONS = {
    "NOT_AVAILABLE": ("地块已供应（已出让/在建/已建成）", "already supplied (transferred / built)"),
    "NOT_READY": ("{by_zh}不具备供地条件", "not ready for transfer {by_en}"),
    "NETWORK_MISSING": ("缺少项目所需管网：{kinds}", "lacks networks the project needs: {kinds}"),
    "TOO_STEEP": ("坡度 {slope:.1f}° 超过项目上限 {max:.1f}°", "slope {slope:.1f}° above the project's {max:.1f}°"),
    "TOO_SMALL": ("面积 {mu:.2f} 亩，与相邻地块合并也达不到 {min:.2f}–{max:.2f} 亩", "{mu:.2f} mu; no adjacent group fits {min:.2f}–{max:.2f} mu"),
    "TOO_LARGE": ("面积 {mu:.2f} 亩超过项目上限 {max:.2f} 亩", "{mu:.2f} mu exceeds the project's {max:.2f} mu"),
    "INDICATOR_NOT_MET": ("所在候选方案均未通过指标核查：{why}", "every candidate holding it fails the indicator check: {why}"),
    "TAKEN_BY_OTHER": ("已分配给项目 {other}", "assigned to project {other}"),
    "OTHER_CHOSEN": ("项目已分配得分更高的地块", "the project was given a better-scoring candidate"),
    "NOT_GROUPED": ("未纳入候选组合（组合过多，只从得分最高的地块生长）", "in no candidate group (too many groups: grown from the best parcels only)"),
    "NOT_IN_TOP": ("有效但未进入候选前列", "fits but not among the candidates kept"),
}  # fmt: skip


@dataclass(frozen=True)
class MatchResult:
    """``matches``: one row per project and offered candidate; ``unmatched``: one row per project
    and pool parcel it did not get, with the reason; ``summary``: joint vs one at a time."""

    matches: pd.DataFrame
    unmatched: pd.DataFrame
    summary: pd.DataFrame
    candidates: pd.DataFrame
    notes: tuple[str, ...]


# --------------------------------------------------------------------------- inputs


def read_projects(path: str | Path, /) -> pd.DataFrame:
    """``PROJECTS.csv`` → a checked frame (English column names)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputTableError(f"cannot read the projects table {path}: {exc}") from exc
    return validate_projects(df, origin=path.name)


def validate_projects(df: pd.DataFrame, /, *, origin: str = "projects") -> pd.DataFrame:
    df = df.rename(columns={c: ALIASES.get(str(c).strip(), str(c).strip()) for c in df.columns})
    miss = [c for c in REQUIRED if c not in df.columns]
    if miss:
        raise InputTableError(
            f"{origin}: missing column(s) {miss}; need {list(REQUIRED)} (and optionally "
            f"industry_code, tax_wan_per_year, revenue_wan_per_year, networks, max_slope_deg, zone)"
        )
    out = df.copy()
    out["project_id"] = out["project_id"].astype(str).str.strip()
    if out["project_id"].duplicated().any():
        dup = sorted(set(out["project_id"][out["project_id"].duplicated()]))
        raise InputTableError(f"{origin}: project_id repeats {dup[:5]}")
    for col in ("min_mu", "max_mu", "invest_wan", "tax_wan_per_year", "revenue_wan_per_year",
                "max_slope_deg"):  # fmt: skip
        if col not in out.columns:
            out[col] = np.nan
        num = pd.to_numeric(out[col], errors="coerce")
        bad = num.isna() & out[col].notna() & (out[col].astype(str).str.strip() != "")
        if bad.any():
            rows = out.loc[bad, "project_id"].tolist()[:5]
            raise InputTableError(f"{origin}: column {col} is not a number for project(s) {rows}")
        out[col] = num
    bad = ~((out["min_mu"] > 0) & (out["max_mu"] >= out["min_mu"]))
    if bad.any():
        raise InputTableError(
            f"{origin}: need 0 < min_mu ≤ max_mu for project(s) {out.loc[bad, 'project_id'].tolist()[:5]}"
        )
    if (out["invest_wan"].isna() | (out["invest_wan"] < 0)).any():
        raise InputTableError(f"{origin}: invest_wan must be a number ≥ 0 (万元) for every project")
    for col in ("networks", "zone", "industry_code"):
        if col not in out.columns:
            out[col] = ""
        out[col] = out[col].fillna("").astype(str).str.strip()
    out["max_slope_deg"] = out["max_slope_deg"].fillna(np.inf)
    return out.reset_index(drop=True)


def _kinds(text: str) -> list[str]:
    return [
        k.strip() for k in str(text).replace(",", ";").replace("；", ";").split(";") if k.strip()
    ]


def adjacency(parcels: GeoDataFrame, /, *, min_shared_m: float = 1.0) -> list[set[int]]:
    """Neighbours of each parcel: those sharing ≥ ``min_shared_m`` of boundary."""
    g = np.asarray(parcels.geometry.values, dtype=object)
    a, b = shapely.STRtree(g).query(g, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(g[a]), shapely.boundary(g[b])))
    nbr: list[set[int]] = [set() for _ in range(len(g))]
    for i, j in zip(a[shared >= min_shared_m], b[shared >= min_shared_m], strict=True):
        nbr[i].add(int(j))
        nbr[j].add(int(i))
    return nbr


# --------------------------------------------------------------------------- candidates


class _TooManyError(Exception):
    pass


def connected_sets(nodes, nbr, area, lo, hi, *, limit: int = 4000) -> list[tuple[int, ...]]:
    """Every connected set of ``nodes`` (in graph ``nbr``) with area in [lo, hi] (ESU, pruned
    by area: areas are positive, so no superset of a set above ``hi`` fits).  Raises
    ``_TooManyError`` after ``limit`` recursive calls."""
    node_set = set(nodes)
    out: list[tuple[int, ...]] = []
    calls = [0]

    def extend(sub: list[int], ext: set[int], excl: set[int], a: float, v: int) -> None:
        calls[0] += 1
        if calls[0] > limit:
            raise _TooManyError
        if a >= lo - 1e-9:
            out.append(tuple(sorted(sub)))
        ext = set(ext)
        while ext:
            w = ext.pop()
            if a + area[w] > hi + 1e-9:
                continue
            new = {u for u in nbr[w] if u > v and u in node_set and u not in excl}
            extend([*sub, w], ext | new, excl | new, a + area[w], v)

    for v in sorted(node_set):
        if area[v] > hi + 1e-9:
            continue
        first = {u for u in nbr[v] if u > v and u in node_set}
        extend([v], first, first | {v}, area[v], v)
    return out


def grown_sets(seeds, nodes, nbr, area, cxy, lo, hi) -> list[tuple[int, ...]]:
    """One compact group per seed: add the adjacent parcel nearest the group centroid."""
    node_set = set(nodes)
    out = set()
    for s in seeds:
        sub, a = [s], area[s]
        front = {u for u in nbr[s] if u in node_set}
        while a < lo - 1e-9 and front:
            c = cxy[sub].mean(axis=0)
            cand = [u for u in front if a + area[u] <= hi + 1e-9]
            if not cand:
                break
            u = min(cand, key=lambda k: (float(((cxy[k] - c) ** 2).sum()), k))
            sub.append(u)
            a += area[u]
            front = (front | {w for w in nbr[u] if w in node_set}) - set(sub)
        if lo - 1e-9 <= a <= hi + 1e-9:
            out.add(tuple(sorted(sub)))
    return sorted(out)


# --------------------------------------------------------------------------- the pool


def _pool_status(parcels: pd.DataFrame, register: pd.DataFrame | None, status_field, reclaimed):
    """available (not supplied, or reclaimed) and reclaimed flags per parcel."""
    n = len(parcels)
    ids = parcels["parcel_id"].astype(str).to_numpy()
    taken = np.zeros(n, bool)
    if status_field and status_field in parcels.columns:
        taken |= parcels[status_field].astype(str).isin(TAKEN_VALUES).to_numpy()
    if register is not None and len(register):
        reg = dict(zip(register["parcel_id"].astype(str), register["state"], strict=True))
        state = np.array([reg.get(i, "") for i in ids], dtype=object)
        taken |= np.isin(state, TAKEN_STATES)
        taken &= ~(state == "reclaimed") | np.isin(state, TAKEN_STATES)
        taken[state == "reclaimed"] = False
    rec = np.isin(ids, list(reclaimed or ()))
    return ~taken | rec, rec


def _parcel_scores(parcels: pd.DataFrame, kinds: list[str], zone: str, zone_field: str | None):
    n = len(parcels)

    def col(name, default=np.nan):
        if name in parcels.columns:
            return pd.to_numeric(parcels[name], errors="coerce").to_numpy(dtype=float)
        return np.full(n, default)

    dists = [col(f"dist_{k}_m") for k in kinds]
    dist = (
        np.nanmean(np.vstack(dists), axis=0)
        if dists and not np.all(np.isnan(dists))
        else np.full(n, np.nan)
    )
    zmatch = np.ones(n)
    if zone and zone_field and zone_field in parcels.columns:
        zmatch = (parcels[zone_field].astype(str).to_numpy() == zone).astype(float)
    return {
        "cost": col("dev_cost_wan_per_mu"),
        "suit": col("suitability_mean"),
        "dist": dist,
        "zone": zmatch,
    }


def _score(rows: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    c = rows["dev_cost_wan_per_mu"]
    span = c.max() - c.min()
    cost = (1.0 - (c - c.min()) / span) if span > 0 else pd.Series(1.0, index=rows.index)
    parts = {
        "fit": rows["fit"],
        "cost": cost.where(c.notna(), 0.5),
        "suitability": (rows["suitability"] / 100.0).clip(0, 1).fillna(0.5),
        "distance": (1.0 / (1.0 + rows["dist_network_m"] / 100.0)).fillna(0.5),
        "zone": rows["zone_match"],
    }
    for k, v in parts.items():
        rows[f"score_{k}"] = v
    return sum(weights[k] * parts[k] for k in weights)


# --------------------------------------------------------------------------- matching


def _ready(parcels, by, ready_year):
    """Year each parcel is ready (0 = now, -1 = not by ``by``) and kinds the plan serves."""
    n = len(parcels)
    year = np.where(parcels["transferable"].to_numpy(dtype=bool), 0, -1)
    served = [set() for _ in range(n)]
    if ready_year is not None and by is not None and len(ready_year):
        ry = ready_year.drop_duplicates("parcel_id").set_index(
            ready_year["parcel_id"].astype(str).drop_duplicates()
        )
        ids = parcels["parcel_id"].astype(str).to_numpy()
        for i in np.flatnonzero(year < 0):
            if ids[i] in ry.index:
                y = int(ry.at[ids[i], "unlocked_year"])
                if 0 < y <= by:
                    year[i] = y
                    served[i] = (
                        set(_kinds(str(ry.at[ids[i], "missing"]))) if "missing" in ry else set()
                    )
    return year, served


def _candidate_rows(pid, proj, sets, area, ps, cost_wan, weights):
    lo, hi = float(proj["min_mu"]), float(proj["max_mu"])
    mid, half = (lo + hi) / 2.0, max((hi - lo) / 2.0, 1e-9)
    rows = []
    for s in sets:
        s = list(s)
        a = float(area[s].sum())
        w = area[s] / a if a > 0 else np.full(len(s), 1.0 / len(s))
        rows.append({
            "project_id": pid, "parcels": tuple(s), "n_parcels": len(s), "area_mu": a,
            "fit": 1.0 if hi - lo < 1e-9 else float(max(0.0, 1.0 - abs(a - mid) / half)),
            "dev_cost_wan_per_mu": float(np.nansum(cost_wan[s]) / a) if a > 0 and not np.all(np.isnan(cost_wan[s])) else np.nan,
            "suitability": float(np.nansum(ps["suit"][s] * w)) if not np.all(np.isnan(ps["suit"][s])) else np.nan,
            "dist_network_m": float(np.nansum(ps["dist"][s] * w)) if not np.all(np.isnan(ps["dist"][s])) else np.nan,
            "zone_match": float((ps["zone"][s] * w).sum()),
        })  # fmt: skip
    df = pd.DataFrame(rows)
    if len(df):
        df["score"] = _score(df, weights)
    return df


def _assign(cands: pd.DataFrame, projects: list[str], time_limit_s: float) -> np.ndarray:
    """Joint MILP: ≤ 1 candidate per project, each parcel at most once; max #placed, then score."""
    from scipy import sparse
    from scipy.optimize import Bounds, LinearConstraint, milp

    m = len(cands)
    if m == 0:
        return np.zeros(0, bool)
    pidx = {p: i for i, p in enumerate(projects)}
    prow = cands["project_id"].map(pidx).to_numpy()
    parcels = sorted({i for s in cands["parcels"] for i in s})
    cidx = {p: i for i, p in enumerate(parcels)}
    r = [len(projects) + cidx[i] for s in cands["parcels"] for i in s]
    c = [k for k, s in enumerate(cands["parcels"]) for _ in s]
    mat = sparse.csr_matrix(
        (np.ones(m + len(r)), (np.r_[prow, r], np.r_[np.arange(m), c])),
        shape=(len(projects) + len(parcels), m),
    )
    big = len(projects) + 1.0
    res = milp(
        -(big + cands["score"].to_numpy(dtype=float)),
        constraints=[LinearConstraint(mat, -np.inf, 1.0)],
        integrality=np.ones(m), bounds=Bounds(0, 1), options={"time_limit": time_limit_s},
    )  # fmt: skip
    if res.x is None:
        return _one_at_a_time(cands, projects)
    return np.round(res.x) > 0.5


def _one_at_a_time(cands: pd.DataFrame, projects: list[str]) -> np.ndarray:
    """Projects in file order, each takes its best-scoring candidate among the land left."""
    chosen = np.zeros(len(cands), bool)
    used: set[int] = set()
    for p in projects:
        sub = cands.index[cands["project_id"] == p]
        for k in sorted(sub, key=lambda k: (-cands.at[k, "score"], k)):
            if not used.intersection(cands.at[k, "parcels"]):
                chosen[cands.index.get_loc(k)] = True
                used.update(cands.at[k, "parcels"])
                break
    return chosen


def _req_columns(parcels: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Notice values of a group (``req_*`` parcel columns): the strictest of its parcels."""
    out = {}
    for col in [c for c in parcels.columns if str(c).startswith("req_")]:
        v = pd.to_numeric(parcels[col], errors="coerce").to_numpy(dtype=float)
        agg = np.nanmin if col.endswith("_max") else np.nanmax
        out[col] = [agg(v[list(s)]) if not np.all(np.isnan(v[list(s)])) else np.nan
                    for s in rows["parcels"]]  # fmt: skip
    return pd.DataFrame(out, index=rows.index)


def match_projects(
    projects: pd.DataFrame,
    parcels: GeoDataFrame,
    /,
    *,
    by: int | None = None,
    ready_year: pd.DataFrame | None = None,
    register: pd.DataFrame | None = None,
    status_field: str | None = "ZT",
    zone_field: str | None = "QY",
    reclaimed=(),
    table=None,
    peers: pd.DataFrame | None = None,
    top_k: int = 5,
    max_candidates: int = 300,
    enum_limit: int = 4000,
    max_seeds: int = 300,
    weights: dict[str, float] | None = None,
    min_shared_m: float = 1.0,
    time_limit_s: float = 60.0,
) -> MatchResult:
    """Match projects to parcels (see the module docstring).

    ``ready_year``: ``parcel_id, unlocked_year[, missing]`` of a supply plan (the ``parcels``
    sheet of ``plan.xlsx``); parcels it unlocks by ``by`` count as ready.  ``register``: register
    rows (``parcel_id, state``).  ``reclaimed``: parcel ids fed back by the efficiency review.
    """
    weights = dict(WEIGHTS if weights is None else weights)
    projects = validate_projects(projects)
    notes: list[str] = []
    n = len(parcels)
    ids = parcels["parcel_id"].astype(str).to_numpy()
    area = pd.to_numeric(parcels["net_available_mu"], errors="coerce").fillna(0.0).to_numpy()
    slope = (pd.to_numeric(parcels["slope_mean_deg"], errors="coerce").to_numpy(dtype=float)
             if "slope_mean_deg" in parcels.columns else np.full(n, np.nan))  # fmt: skip
    cost_wan = (pd.to_numeric(parcels["dev_cost_wan_per_mu"], errors="coerce").to_numpy(dtype=float)
                * area if "dev_cost_wan_per_mu" in parcels.columns else np.full(n, np.nan))  # fmt: skip
    available, rec = _pool_status(parcels, register, status_field, reclaimed)
    ready, served = _ready(parcels, by, ready_year)
    if by is not None and ready_year is None:
        notes.append(f"--by {by} without a plan: only parcels transferable now are ready")
    universe = np.flatnonzero(available)
    nbr_u = adjacency(parcels.iloc[universe], min_shared_m=min_shared_m)
    nbr: list[set[int]] = [set() for _ in range(n)]
    for k, s in enumerate(nbr_u):
        nbr[universe[k]] = {int(universe[j]) for j in s}
    cxy = shapely.get_coordinates(shapely.centroid(np.asarray(parcels.geometry.values)))
    all_rows, reason_code, exhaustive = [], {}, {}
    for _, proj in projects.iterrows():
        pid = str(proj["project_id"])
        kinds = _kinds(proj["networks"])
        code = np.full(n, "", dtype=object)
        code[ready < 0] = "NOT_READY"
        for k in kinds:
            col = f"net_{k}_status"
            if col in parcels.columns:
                bad = ~parcels[col].astype(str).isin(OK_STATUS).to_numpy()
                bad &= np.array([k not in s for s in served])
                code[(code == "") & bad] = "NETWORK_MISSING"
        code[(code == "") & (slope > float(proj["max_slope_deg"]))] = "TOO_STEEP"
        code[(code == "") & (area > float(proj["max_mu"]) + 1e-9)] = "TOO_LARGE"
        code[(code == "") & (area <= 0)] = "TOO_SMALL"
        code[~available] = "NOT_AVAILABLE"
        pool = np.flatnonzero(code == "")
        lo, hi = float(proj["min_mu"]), float(proj["max_mu"])
        ps = _parcel_scores(parcels, kinds, str(proj["zone"]), zone_field)
        exhaustive[pid] = True
        try:
            sets = connected_sets(pool, nbr, area, lo, hi, limit=enum_limit)
        except _TooManyError:
            exhaustive[pid] = False
            pre = _score(pd.DataFrame({
                "fit": 0.5, "dev_cost_wan_per_mu": ps["cost"][pool], "suitability": ps["suit"][pool],
                "dist_network_m": ps["dist"][pool], "zone_match": ps["zone"][pool]}), weights)  # fmt: skip
            seeds = pool[np.argsort(-pre.to_numpy(), kind="stable")[:max_seeds]]
            sets = grown_sets(seeds, pool, nbr, area, cxy, lo, hi)
            notes.append(f"{pid}: more than {enum_limit} groups to enumerate; compact groups grown "
                         f"from the {len(seeds)} best parcels instead (not exhaustive)")  # fmt: skip
        rows = _candidate_rows(pid, proj, sets, area, ps, cost_wan, weights)
        if len(rows):
            rows = rows.sort_values(["score", "area_mu"], ascending=[False, True], kind="stable")
            rows["in_top"] = np.arange(len(rows)) < max_candidates
            rows["rank"] = np.arange(1, len(rows) + 1)
        all_rows.append(rows)
        reason_code[pid] = code
    cands = pd.concat([r for r in all_rows if len(r)], ignore_index=True) if any(
        len(r) for r in all_rows) else pd.DataFrame(columns=["project_id", "parcels", "score", "in_top", "rank", "area_mu"])  # fmt: skip
    cands = _check(cands, projects, parcels, table, peers)
    offered = cands[cands["in_top"] & cands["pass"]].reset_index(drop=True)
    plist = projects["project_id"].tolist()
    offered["assigned"] = _assign(offered, plist, time_limit_s)
    offered["assigned_one_at_a_time"] = _one_at_a_time(offered, plist)
    summary = _summary(offered, plist)
    matches = _matches(offered, ids, rec, ready, top_k)
    unmatched = _unmatched(projects, cands, offered, reason_code, exhaustive, ids, area, slope, by)
    return MatchResult(matches, unmatched, summary, cands, tuple(notes))


def _check(cands, projects, parcels, table, peers) -> pd.DataFrame:
    """Every candidate through :func:`check_projects` (one row per project × group)."""
    if len(cands) == 0:
        return cands.assign(**{"pass": [], "verdict": [], "reasons_zh": [], "reasons_en": [],
                               "reasons": [], "invest_wan_per_mu": []})  # fmt: skip
    proj = projects.set_index("project_id")
    p = proj.loc[cands["project_id"]]
    rows = pd.DataFrame({
        "project_id": [f"{a}#{b}" for a, b in zip(cands["project_id"], cands.index, strict=True)],
        "industry_code": p["industry_code"].replace("", np.nan).to_numpy(),
        "land_area_m2": cands["area_mu"].to_numpy() * M2_PER_MU,
        "fixed_investment_wan": p["invest_wan"].to_numpy(),
        "annual_tax_wan": p["tax_wan_per_year"].to_numpy(),
        "revenue_wan": p["revenue_wan_per_year"].to_numpy(),
    })  # fmt: skip
    if rows["industry_code"].isna().all():
        rows = rows.drop(columns="industry_code")
    rows = pd.concat([rows, _req_columns(parcels, cands).reset_index(drop=True)], axis=1)
    checked = check_projects(rows, table=table, peers_df=peers)
    out = cands.copy()
    for col in ("pass", "verdict", "reasons", "reasons_zh", "reasons_en", "invest_wan_per_mu",
                "tax_wan_per_mu", "revenue_wan_per_mu", "peer_invest_wan_per_mu"):  # fmt: skip
        if col in checked.columns:
            out[col] = checked[col].to_numpy()
    return out


def _summary(offered: pd.DataFrame, projects: list[str]) -> pd.DataFrame:
    rows = []
    for how, col in (
        ("joint MILP 联合优化", "assigned"),
        ("one at a time 逐个分配", "assigned_one_at_a_time"),
    ):
        sel = offered[offered[col]] if len(offered) else offered
        rows.append({"method": how, "projects": len(projects), "placed": len(sel),
                     "total_score": float(sel["score"].sum()) if len(sel) else 0.0,
                     "area_mu": float(sel["area_mu"].sum()) if len(sel) else 0.0})  # fmt: skip
    return pd.DataFrame(rows)


def _matches(offered, ids, rec, ready, top_k) -> pd.DataFrame:
    if len(offered) == 0:
        return pd.DataFrame({
            "project_id": pd.Series(dtype=object), "rank": pd.Series(dtype=int),
            "parcel_ids": pd.Series(dtype=object), "area_mu": pd.Series(dtype=float),
            "score": pd.Series(dtype=float), "assigned": pd.Series(dtype=bool),
            "assigned_one_at_a_time": pd.Series(dtype=bool), "pass": pd.Series(dtype=bool),
            "verdict": pd.Series(dtype=object),
        })  # fmt: skip
    keep = (offered.groupby("project_id").cumcount() < top_k) | offered["assigned"]
    m = offered[keep].copy()
    m["rank"] = m.groupby("project_id").cumcount() + 1
    m["parcel_ids"] = [";".join(ids[list(s)]) for s in m["parcels"]]
    m["ready_year"] = [int(ready[list(s)].max()) for s in m["parcels"]]
    m["reclaimed"] = [bool(rec[list(s)].any()) for s in m["parcels"]]
    first = ["project_id", "rank", "parcel_ids", "n_parcels", "area_mu", "score", "assigned",
             "assigned_one_at_a_time", "ready_year", "reclaimed"]  # fmt: skip
    rest = [c for c in m.columns if c not in first and c not in ("parcels", "in_top", "reasons")]
    return m[first + rest].reset_index(drop=True)


def _unmatched(projects, cands, offered, reason_code, exhaustive, ids, area, slope, by):
    """One row per project and parcel of the supply it did not get, with the first reason."""
    owner = {}
    for _, r in offered[offered["assigned"]].iterrows():
        for i in r["parcels"]:
            owner[i] = r["project_id"]
    out = []
    for _, proj in projects.iterrows():
        pid = str(proj["project_id"])
        code = reason_code[pid].copy()
        mine = cands[cands["project_id"] == pid] if len(cands) else cands
        in_any, in_pass, in_offer, why = set(), set(), set(), {}
        for _, r in mine.iterrows():
            in_any.update(r["parcels"])
            if r["pass"]:
                in_pass.update(r["parcels"])
                if r["in_top"]:
                    in_offer.update(r["parcels"])
            else:
                for i in r["parcels"]:
                    why.setdefault(i, r["reasons_zh"])
        got = set()
        a = offered[(offered["project_id"] == pid) & offered["assigned"]]
        for s in a["parcels"]:
            got.update(s)
        todo = np.flatnonzero(code != "NOT_AVAILABLE")
        for i in todo:
            if i in got:
                continue
            c = code[i]
            if c == "":
                if i not in in_any:
                    c = "TOO_SMALL" if exhaustive[pid] else "NOT_GROUPED"
                elif i not in in_pass:
                    c = "INDICATOR_NOT_MET"
                elif i not in in_offer:
                    c = "NOT_IN_TOP"
                elif i in owner and owner[i] != pid:
                    c = "TAKEN_BY_OTHER"
                else:
                    c = "OTHER_CHOSEN"
            fmt = {"by_zh": f"到 {by} 年仍" if by is not None else "目前",
                   "by_en": f"by {by}" if by is not None else "now", "kinds": proj["networks"],
                   "slope": slope[i], "max": float(proj["max_mu"]) if c != "TOO_STEEP" else float(proj["max_slope_deg"]),
                   "mu": area[i], "min": float(proj["min_mu"]), "why": why.get(i, ""),
                   "other": owner.get(i, "")}  # fmt: skip
            zh, en = REASONS[c]
            out.append((pid, ids[i], c, zh.format(**fmt), en.format(**fmt)))
    return pd.DataFrame(out, columns=["project_id", "parcel_id", "code", "reason_zh", "reason_en"])


def reasons_json(row: pd.Series) -> str:
    """The unmatched reason of a row in the verdict reason format (one-element JSON array)."""
    return json.dumps([{"code": row["code"], "severity": "info", "value": None, "threshold": None,
                        "unit": "", "basis": "landplan match", "message_zh": row["reason_zh"],
                        "message_en": row["reason_en"]}], ensure_ascii=False)  # fmt: skip


def total_score(result: MatchResult, /, *, how: str = "assigned") -> float:
    """Σ score of the assigned candidates (``assigned`` or ``assigned_one_at_a_time``)."""
    m = result.candidates
    return (
        float(m["score"][m.get(how, pd.Series(False, index=m.index)).fillna(False)].sum())
        if len(m)
        else math.nan
    )
