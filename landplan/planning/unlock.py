"""What it takes to sell the rest: rank planned roads and pipes by the transferable 亩 they unlock per 万元.

Rules (issue #9)
----------------
**Eligible parcels** are blocked parcels whose only ``block`` reasons are ``NETWORK_MISSING:<kind>``;
their *missing kinds* are those codes.  Their ``net_available_mu`` is what becomes transferable.

**Atoms** (the things one can build, each of one kind):

* every *planned* network segment (``status == "planned"``) of a kind the policy knows; cost =
  length × ``policy.costs.extension_yuan_per_m[kind]`` ÷ 10⁴ (万元), or the value of ``cost_field``
  (a column of the network layer, **in 万元**; a missing/NaN value falls back to length × unit cost).
  A segment *serves* (parcel, kind) when the parcel lies within that kind's ``connectable_m`` of it;
* an *extension* for every missing (parcel, kind) that no planned segment serves, from the nearest
  built network of that kind.  With a cost surface (``cost`` = a :class:`~landplan.raster.costdistance.CostSurface`,
  built by :func:`cost_surface_from_slope`: ``1 + slope_deg / 10`` per metre, or from the
  suitability raster ``1 + 2·(1 − s/100)``) the route is :func:`landplan.raster.costdistance.least_cost_routes`;
  the extension is the route less its last ``connectable_m`` metres at the parcel, and it costs
  unit cost × that length × the route's mean cost factor.  Without one it is the straight line from
  the nearest built segment, less ``connectable_m`` (a **lower bound** of the real length), at
  unit cost.  An extension serves every (parcel, kind) within ``connectable_m`` of its line.
  A (parcel, kind) with neither a planned segment nor a built network of that kind is *unreachable*
  and its parcel is left out (listed with ``reachable = False``).

**Candidates** are single atoms and *natural groups*: planned segments of different blocking kinds
laid along one street (≥ ``group_share`` of one's length within ``group_within_m`` of the other;
connected components of that relation with ≥ 2 kinds), costed as the sum of their atoms.

**Greedy** (:func:`greedy_rank`).  State: the built atoms, and per parcel the missing kinds not yet
served.  A parcel counts once, when its last missing kind is served.  Each step evaluates

1. every candidate *c*: gain(c) = 亩 of parcels that become fully served if *c* is built, cost(c) =
   cost of its atoms not built yet; score = gain ÷ cost;
2. *completion bundles*: for every candidate *c* and parcel *p* it serves only partly, the bundle
   *c* + the cheapest atom for each of *p*'s other unserved kinds.  Their lower-bound score
   (gain(c) + mu_p) ÷ (cost(c) + cheapest completion) ranks them; the best ``bundle_top`` are
   evaluated exactly (all parcels they complete, marginal cost).

It builds the best-scoring option (ties: more 亩, then lower cost) whose cost fits the remaining
budget, and stops when no affordable option unlocks anything.  So a segment that unlocks nothing
alone (a road where the water pipe is also missing) is reached through its bundle.  With a finite
budget the result is also compared with the single candidate of largest gain that fits, and the
better of the two is kept (the knapsack safeguard).

**Optimum** (:func:`optimal_plan`): ``scipy.optimize.milp`` over atoms, max Σ mu_p·y_p s.t.
y_p ≤ Σ_{a serves (p,k)} x_a for each missing kind k of p, Σ cost_a·x_a ≤ budget, x, y binary.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
import shapely.ops
from geopandas import GeoDataFrame
from scipy import sparse

from landplan.core.errors import InputTableError, PolicyError
from landplan.core.policy import Policy

MILP_MAX_ATOMS = 60
MIN_COST_WAN = 1e-6
GAP_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
FOCUS_VALUE = "标准地"


@dataclass(frozen=True)
class Candidates:
    """Everything the greedy and the optimum need.

    ``eligible``: ``parcel_id, mu, missing`` (tuple of kinds), ``reachable``, ``unreachable_kinds``;
    ``atoms``: ``atom_id, kind, source`` (planned|extension), ``name, length_m, cost_wan, geometry``;
    ``candidates``: ``cand_id, atoms`` (tuple of atom rows), ``kinds, group``;
    ``pair_parcel``/``pair_kind``: the missing (parcel row, kind) pairs of reachable parcels;
    ``serves``: atoms × pairs (CSR, 1 = the atom serves the pair).
    """

    eligible: pd.DataFrame
    atoms: GeoDataFrame
    candidates: pd.DataFrame
    pair_parcel: np.ndarray
    pair_kind: np.ndarray
    serves: sparse.csr_matrix
    notes: tuple[str, ...]
    cost_model: str


@dataclass(frozen=True)
class Ranking:
    """Greedy steps (one row each) and, per eligible parcel, the step that unlocks it (0 = none)."""

    steps: pd.DataFrame
    unlocked_at: np.ndarray
    budget_wan: float
    cost_wan: float
    mu: float


@dataclass(frozen=True)
class Optimum:
    """The MILP optimum at one budget."""

    budget_wan: float
    mu: float
    cost_wan: float
    atoms: tuple[int, ...]
    status: str


# --------------------------------------------------------------------------- eligible parcels


def eligible_parcels(parcels: pd.DataFrame, /) -> pd.DataFrame:
    """Parcels blocked only by ``NETWORK_MISSING:<kind>``: ``row, parcel_id, mu, missing``.

    ``row`` is the position in ``parcels``; ``mu`` its ``net_available_mu``.
    """
    rows, missing = [], []
    for i, text in enumerate(parcels["reasons"].tolist()):
        codes = [r["code"] for r in json.loads(text or "[]") if r["severity"] == "block"]
        if codes and all(c.startswith("NETWORK_MISSING:") for c in codes):
            rows.append(i)
            missing.append(tuple(sorted({c.split(":", 1)[1] for c in codes})))
    rows = np.asarray(rows, dtype=np.int64)
    return pd.DataFrame(
        {
            "row": rows,
            "parcel_id": parcels["parcel_id"].astype(str).to_numpy()[rows],
            "mu": parcels["net_available_mu"].to_numpy(dtype=float)[rows],
            "missing": pd.Series(missing, dtype=object),
        }
    )


def focus_column(parcels: pd.DataFrame, /, *, value: str = FOCUS_VALUE) -> str | None:
    """The first text column holding ``value`` (标准地), or ``None``."""
    for col in parcels.columns:
        text = col != "geometry" and pd.api.types.is_string_dtype(parcels[col].dtype)
        if text and (parcels[col].astype(str) == value).any():
            return str(col)
    return None


# --------------------------------------------------------------------------- candidates


def _networks(networks: GeoDataFrame | None, crs) -> tuple[GeoDataFrame, list[str]]:
    notes = []
    if networks is None or len(networks) == 0:
        notes.append("no network layer: nothing planned and nothing to extend from")
        return GeoDataFrame({"kind": [], "status": []}, geometry=[], crs=crs), notes
    net = networks.copy()
    if "status" not in net.columns:
        net["status"] = "built"
        notes.append("the network layer has no status: every segment counts as built")
    net["status"] = np.where(net["status"].astype(str) == "planned", "planned", "built")
    keep = ~(net.geometry.isna() | net.geometry.is_empty).to_numpy()
    net = net.loc[keep].reset_index(drop=True)
    if not (net["status"] == "planned").any():
        notes.append("no planned segments; only extensions considered")
    return net, notes


def _unit_yuan(policy: Policy, kind: str) -> float:
    try:
        return float(policy.costs.extension_yuan_per_m[kind])
    except KeyError:
        raise PolicyError(
            f"policy [costs.extension_yuan_per_m] has no unit cost for network kind {kind!r}; "
            f"it has {sorted(policy.costs.extension_yuan_per_m)}. Add e.g. {kind} = 800.0"
        ) from None


def _dwithin(lines: np.ndarray, polys: np.ndarray, dist: float) -> tuple[np.ndarray, np.ndarray]:
    """(line index, polygon index) of pairs within ``dist``."""
    if len(lines) == 0 or len(polys) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    tree = shapely.STRtree(lines)
    pi, li = tree.query(polys, predicate="dwithin", distance=dist)
    return li.astype(np.int64), pi.astype(np.int64)


def cost_surface_from_slope(slope_deg: np.ndarray, grid, /):
    """``1 + slope_deg / 10`` per metre (NaN = impassable), as a :class:`CostSurface`."""
    from landplan.raster.costdistance import CostSurface

    return CostSurface(1.0 + np.asarray(slope_deg, dtype=float) / 10.0, grid)


def _extensions(pg, kind, rule_m, built, unit, cost, pid):
    """Extension lines, lengths (m) and costs (万元) for parcels ``pg`` of one kind."""
    n = len(pg)
    lines = np.full(n, None, dtype=object)
    length = np.full(n, np.nan)
    factor = np.ones(n)
    if cost is not None:
        from landplan.raster.costdistance import least_cost_routes

        frame = GeoDataFrame({"parcel_id": pid}, geometry=pg, crs=built.crs)
        routes = least_cost_routes(frame, built.assign(kind=kind), cost, kinds=[kind])
        ok = routes["route_length_m"].to_numpy() > rule_m
        for i in np.flatnonzero(ok):
            line, total = routes.geometry.iat[i], float(routes["route_length_m"].iat[i])
            lines[i] = shapely.ops.substring(line, rule_m, total)
            length[i] = total - rule_m
            factor[i] = float(routes["route_cost"].iat[i]) / total
    todo = np.flatnonzero(np.isnan(length))
    if len(todo):
        feats = np.asarray(built.geometry.values, dtype=object)
        (pi, fi), d = shapely.STRtree(feats).query_nearest(
            pg[todo], return_distance=True, all_matches=False
        )
        seg = shapely.shortest_line(feats[fi], pg[todo][pi])  # network → parcel
        xy = shapely.get_coordinates(seg).reshape(-1, 2, 2)
        t = np.clip((d - rule_m) / np.where(d > 0, d, 1.0), 0.0, 1.0)[:, None]
        ends = xy[:, 0] + t * (xy[:, 1] - xy[:, 0])
        lines[todo[pi]] = shapely.linestrings(np.stack([xy[:, 0], ends], axis=1))
        length[todo[pi]] = np.maximum(d - rule_m, 0.0)
    length = np.maximum(length, 1.0)  # a 0 m extension would be free; 1 m floor
    return lines, length, unit * length * factor / 1e4


def _groups(atoms: GeoDataFrame, kinds: set[str], share: float, within_m: float) -> list[list[int]]:
    """Connected components (≥ 2 kinds) of 'laid along the same street' among planned atoms."""
    sel = np.flatnonzero((atoms["source"] == "planned").to_numpy() & atoms["kind"].isin(kinds))
    if len(sel) < 2:
        return []
    geoms = np.asarray(atoms.geometry.values, dtype=object)[sel]
    kind = atoms["kind"].to_numpy()[sel]
    a, b = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=within_m)
    keep = (a < b) & (kind[a] != kind[b])
    a, b = a[keep], b[keep]
    la, lb = shapely.length(geoms[a]), shapely.length(geoms[b])
    sa = shapely.length(shapely.intersection(geoms[a], shapely.buffer(geoms[b], within_m)))
    sb = shapely.length(shapely.intersection(geoms[b], shapely.buffer(geoms[a], within_m)))
    along = (sa >= share * np.maximum(la, 1e-9)) | (sb >= share * np.maximum(lb, 1e-9))
    graph = sparse.coo_matrix((np.ones(along.sum()), (a[along], b[along])), shape=(len(sel),) * 2)
    _, label = sparse.csgraph.connected_components(graph, directed=False)
    out = []
    for lab in np.unique(label):
        members = np.flatnonzero(label == lab)
        if len(members) > 1 and len(set(kind[members])) > 1:
            out.append(sel[members].tolist())
    return out


def build_candidates(
    parcels: GeoDataFrame,
    networks: GeoDataFrame | None,
    policy: Policy,
    /,
    *,
    scope: np.ndarray | None = None,
    cost_field: str | None = None,
    cost=None,
    group_share: float = 0.6,
    group_within_m: float = 15.0,
) -> Candidates:
    """Eligible parcels, atoms (planned segments + extensions), candidates and who serves what.

    ``scope`` (bool per parcel) restricts the eligible parcels (e.g. ``ZT == 标准地``);
    ``cost`` is an optional :class:`~landplan.raster.costdistance.CostSurface` for extension routes.
    """
    elig = eligible_parcels(parcels)
    if scope is not None:
        elig = elig[np.asarray(scope, bool)[elig["row"].to_numpy()]].reset_index(drop=True)
    net, notes = _networks(networks, parcels.crs)
    if cost_field is not None and cost_field not in net.columns:
        raise InputTableError(
            f"cost_field {cost_field!r} is not a column of the network layer; it has {list(net.columns)}"
        )
    pgeom = np.asarray(parcels.geometry.values, dtype=object)[elig["row"].to_numpy()]
    pair_parcel = np.array([j for j, m in enumerate(elig["missing"]) for _ in m], np.int64)
    pair_kind = np.array([k for m in elig["missing"] for k in m], dtype=object)
    planned = net[(net["status"] == "planned") & net["kind"].isin(list(policy.networks))]
    name = (
        planned["name"].astype(str)
        if "name" in planned.columns
        else pd.Series("", index=planned.index)
    )
    length = planned.geometry.length.to_numpy()
    unit = np.array([_unit_yuan(policy, k) for k in planned["kind"]])
    cw = length * unit / 1e4
    if cost_field is not None:
        given = pd.to_numeric(planned[cost_field], errors="coerce").to_numpy(dtype=float)
        cw = np.where(np.isfinite(given), given, cw)
    atoms = GeoDataFrame(
        {
            "atom_id": [f"S{i}" for i in planned.index],
            "kind": planned["kind"].to_numpy(),
            "source": "planned",
            "name": name.to_numpy(),
            "length_m": length,
            "cost_wan": np.maximum(cw, MIN_COST_WAN),
        },
        geometry=planned.geometry.to_numpy(),
        crs=parcels.crs,
    )
    serve_a, serve_p = [], []
    reach = np.ones(len(pair_parcel), bool)
    ext_frames = []
    for kind in sorted(set(pair_kind)):
        rule_m = policy.networks[kind].connectable_m if kind in policy.networks else 0.0
        idx = np.flatnonzero(pair_kind == kind)
        ka = np.flatnonzero((atoms["kind"] == kind).to_numpy())
        li, pi = _dwithin(
            np.asarray(atoms.geometry.values, dtype=object)[ka], pgeom[pair_parcel[idx]], rule_m
        )
        serve_a.append(ka[li])
        serve_p.append(idx[pi])
        bare = idx[~np.isin(np.arange(len(idx)), pi)]
        built = net[(net["status"] == "built") & (net["kind"] == kind)]
        if len(bare) and len(built) == 0:
            reach[bare] = False
        elif len(bare):
            lines, ln, cwan = _extensions(
                pgeom[pair_parcel[bare]], kind, rule_m, built, _unit_yuan(policy, kind), cost,
                elig["parcel_id"].to_numpy()[pair_parcel[bare]],
            )  # fmt: skip
            pid = elig["parcel_id"].to_numpy()[pair_parcel[bare]]
            ext_frames.append((kind, bare, pid, lines, ln, cwan, idx, rule_m))
    for kind, bare, pid, lines, ln, cwan, idx, rule_m in ext_frames:
        start, label = len(atoms), policy.networks[kind].label_zh
        extra = GeoDataFrame(
            {
                "atom_id": [f"E:{kind}:{p}" for p in pid],
                "kind": kind,
                "source": "extension",
                "name": [f"{label}外延 → {p}" for p in pid],
                "length_m": ln,
                "cost_wan": np.maximum(cwan, MIN_COST_WAN),
            },
            geometry=lines,
            crs=parcels.crs,
        )
        atoms = GeoDataFrame(pd.concat([atoms, extra], ignore_index=True), crs=parcels.crs)
        li, pi = _dwithin(lines, pgeom[pair_parcel[idx]], rule_m + 1e-6)
        serve_a += [start + li, start + np.arange(len(bare))]
        serve_p += [idx[pi], bare]
    # drop the pairs of parcels with an unreachable kind
    bad = np.zeros(len(elig), bool)
    bad[pair_parcel[~reach]] = True
    elig["reachable"] = ~bad
    elig["unreachable_kinds"] = [
        tuple(sorted(set(pair_kind[(pair_parcel == j) & ~reach]))) for j in range(len(elig))
    ]
    keep_pair = ~bad[pair_parcel]
    new_pos = np.cumsum(keep_pair) - 1
    sa = np.concatenate(serve_a) if serve_a else np.empty(0, np.int64)
    sp = np.concatenate(serve_p) if serve_p else np.empty(0, np.int64)
    ok = keep_pair[sp] if len(sp) else np.empty(0, bool)
    serves = sparse.csr_matrix(
        (np.ones(ok.sum()), (sa[ok], new_pos[sp[ok]])), shape=(len(atoms), int(keep_pair.sum()))
    )
    serves.data[:] = 1.0
    if bad.any():
        kinds = sorted({k for ks in elig["unreachable_kinds"] for k in ks})
        notes.append(
            f"{int(bad.sum())} parcels ({elig.loc[bad, 'mu'].sum():.2f} 亩) cannot be unlocked: "
            f"no planned segment and no built network of kind(s) {kinds}"
        )
    block = {k for k, r in policy.networks.items() if r.requirement == "block"}
    groups = _groups(atoms, block, group_share, group_within_m)
    kinds_of = atoms["kind"].to_numpy()
    cand = pd.DataFrame(
        {
            "cand_id": [*atoms["atom_id"], *[f"G{g + 1}" for g in range(len(groups))]],
            "atoms": [*[(i,) for i in range(len(atoms))], *[tuple(g) for g in groups]],
            "group": [False] * len(atoms) + [True] * len(groups),
        }
    )
    cand["kinds"] = [tuple(sorted(set(kinds_of[list(a)]))) for a in cand["atoms"]]
    model = (
        "least-cost route over the cost surface, less connectable_m"
        if cost is not None
        else "straight line less connectable_m (a lower bound)"
    )
    return Candidates(
        elig, atoms, cand, pair_parcel[keep_pair], pair_kind[keep_pair], serves, tuple(notes), model
    )


# --------------------------------------------------------------------------- greedy


def _members(c: Candidates) -> sparse.csr_matrix:
    rows = np.repeat(np.arange(len(c.candidates)), [len(a) for a in c.candidates["atoms"]])
    cols = np.fromiter((i for a in c.candidates["atoms"] for i in a), np.int64, len(rows))
    return sparse.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(c.candidates), len(c.atoms))
    )


def greedy_rank(c: Candidates, /, *, budget_wan: float = math.inf, bundle_top: int = 8) -> Ranking:
    """Greedy plan by net 亩 unlocked per 万元 (see the module docstring for the exact rule)."""
    cost = c.atoms["cost_wan"].to_numpy(dtype=float)
    n_par, n_pair = len(c.eligible), len(c.pair_parcel)
    mu = c.eligible["mu"].to_numpy(dtype=float)
    pp = c.pair_parcel
    sv = c.serves
    mem = _members(c)
    cp = (mem @ sv).tocsr()
    cp.data[:] = 1.0
    pm = sparse.csr_matrix((np.ones(n_pair), (np.arange(n_pair), pp)), shape=(n_pair, n_par))
    coo = sv.tocoo()
    order = np.lexsort((cost[coo.row], coo.col))
    first = np.unique(coo.col[order], return_index=True)[1]
    best_atom = np.full(n_pair, -1, np.int64)
    best_atom[coo.col[order][first]] = coo.row[order][first]
    mincost = np.where(best_atom >= 0, cost[np.maximum(best_atom, 0)], np.inf)
    uncov = np.ones(n_pair, bool)
    left = np.bincount(pp, minlength=n_par)
    built = np.zeros(len(cost), bool)
    unlocked_at = np.zeros(n_par, np.int64)
    par_pairs = pm.T.tocsr()
    remaining = float(budget_wan)
    steps: list[dict] = []
    best_single = None

    def evaluate(atoms: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        atoms = atoms[~built[atoms]]
        cov = np.unique(sv[atoms].indices)
        cov = cov[uncov[cov]]
        cnt = np.bincount(pp[cov], minlength=n_par)
        done = np.flatnonzero((cnt > 0) & (cnt == left))
        return float(mu[done].sum()), float(cost[atoms].sum()), atoms, done

    while True:
        ccost = mem @ np.where(built, 0.0, cost)
        w = uncov.astype(float)
        pu = (sparse.diags(w) @ pm).tocsr()
        pu.eliminate_zeros()
        pw = (sparse.diags(np.where(uncov, mincost, 0.0)) @ pm).tocsr()
        pw.eliminate_zeros()
        mm, ww = (cp @ pu).tocoo(), (cp @ pw).tocoo()
        afford = (ccost > 0) & (ccost <= remaining + 1e-9)
        full = mm.data >= left[mm.col]
        gain = np.bincount(mm.row[full], weights=mu[mm.col[full]], minlength=len(ccost))
        options = []
        ok = np.flatnonzero(afford & (gain > 0))
        if len(ok):
            score = gain[ok] / ccost[ok]
            top = ok[np.lexsort((ccost[ok], -gain[ok], -score))[0]]
            options.append(
                (
                    gain[top] / ccost[top],
                    gain[top],
                    ccost[top],
                    f"{c.candidates['cand_id'].iat[top]}",
                    top,
                    None,
                )
            )
        part = np.flatnonzero(~full & afford[mm.row])
        if len(part):
            uu = np.bincount(pp, weights=np.where(uncov, mincost, 0.0), minlength=n_par)
            bcost = ccost[mm.row[part]] + uu[mm.col[part]] - ww.data[part]
            fine = np.isfinite(bcost) & (bcost <= remaining + 1e-9)
            part, bcost = part[fine], bcost[fine]
            bound = (gain[mm.row[part]] + mu[mm.col[part]]) / bcost
            for k in part[np.argsort(-bound, kind="stable")[: bundle_top * 4]][:bundle_top]:
                ci, p = mm.row[k], mm.col[k]
                own = mem[ci].indices
                covered = set(sv[own].indices)
                extra = [
                    best_atom[q] for q in par_pairs[p].indices if uncov[q] and q not in covered
                ]
                g, cst, _, _ = evaluate(np.unique(np.r_[own, extra]).astype(np.int64))
                if g > 0 and 0 < cst <= remaining + 1e-9:
                    cid = "+".join(
                        [c.candidates["cand_id"].iat[ci], *c.atoms["atom_id"].to_numpy()[extra]]
                    )
                    options.append((g / cst, g, cst, cid, ci, np.asarray(extra, np.int64)))
        if not options:
            break
        if not steps and math.isfinite(budget_wan):  # knapsack safeguard: the largest single buy
            best_single = max(options, key=lambda o: (o[1], -o[2]))
        _, g, cst, cid, ci, extra = max(options, key=lambda o: (o[0], o[1], -o[2]))
        own = mem[ci].indices
        atoms = own if extra is None else np.unique(np.r_[own, extra])
        g, cst, new_atoms, done = evaluate(atoms.astype(np.int64))
        built[new_atoms] = True
        cov = np.unique(sv[new_atoms].indices)
        cov = cov[uncov[cov]]
        uncov[cov] = False
        left -= np.bincount(pp[cov], minlength=n_par)
        unlocked_at[done] = len(steps) + 1
        remaining -= cst
        steps.append(_step_row(c, len(steps) + 1, cid, new_atoms, done, g, cst))
    rank = Ranking(
        _steps_frame(steps),
        unlocked_at,
        float(budget_wan),
        sum(s["cost_wan"] for s in steps),
        sum(s["mu_unlocked"] for s in steps),
    )
    if best_single is not None and best_single[1] > rank.mu + 1e-9:
        _, _, _, cid, ci, extra = best_single
        own = mem[ci].indices
        atoms = own if extra is None else np.unique(np.r_[own, extra])
        return _single(c, atoms.astype(np.int64), cid, float(budget_wan))
    return rank


def prune_plan(c: Candidates, ranking: Ranking, /) -> tuple[np.ndarray, float]:
    """Drop segments of a plan that no unlocked parcel needs (reverse delete, dearest first).

    Greedy buys whole candidates step by step, so a later step can make an earlier segment
    redundant.  Returns the atom rows kept and their cost (万元); the unlocked land is unchanged.
    """
    if len(ranking.steps) == 0:
        return np.array([], np.int64), 0.0
    atoms = np.unique(np.concatenate([np.asarray(a, np.int64) for a in ranking.steps["atoms"]]))
    unlocked = np.flatnonzero(ranking.unlocked_at > 0)
    needed = np.flatnonzero(np.isin(c.pair_parcel, unlocked))
    sv = c.serves.tocsr()[:, needed]
    cover = np.asarray(sv[atoms].sum(axis=0)).ravel()
    cost = c.atoms["cost_wan"].to_numpy(dtype=float)
    keep = np.ones(len(atoms), bool)
    for i in np.argsort(-cost[atoms], kind="stable"):
        row = sv[atoms[i]].toarray().ravel()
        if np.all(cover - row >= 1) or not row.any():
            keep[i] = False
            cover = cover - row
    return atoms[keep], float(cost[atoms[keep]].sum())


def _single(c: Candidates, atoms: np.ndarray, cid: str, budget_wan: float) -> Ranking:
    cov = np.unique(c.serves[atoms].indices)
    n = len(c.eligible)
    cnt = np.bincount(c.pair_parcel[cov], minlength=n)
    done = np.flatnonzero((cnt > 0) & (cnt == np.bincount(c.pair_parcel, minlength=n)))
    mu = float(c.eligible["mu"].to_numpy()[done].sum())
    cost = float(c.atoms["cost_wan"].to_numpy()[atoms].sum())
    at = np.zeros(n, np.int64)
    at[done] = 1
    row = _step_row(c, 1, cid, atoms, done, mu, cost)
    return Ranking(_steps_frame([row]), at, budget_wan, cost, mu)


def _step_row(c, rank, cid, atoms, done, mu, cost) -> dict:
    a = c.atoms.iloc[np.asarray(atoms, np.int64)]
    return {
        "rank": rank,
        "cand_id": cid,
        "kinds": ",".join(sorted(set(a["kind"]))),
        "segment_ids": ";".join(a["atom_id"]),
        "segments": ";".join(a["name"].astype(str)),
        "atoms": tuple(int(i) for i in atoms),
        "length_m": float(a["length_m"].sum()),
        "cost_wan": float(cost),
        "parcels_unlocked": len(done),
        "parcel_ids": ";".join(c.eligible["parcel_id"].to_numpy()[done]),
        "mu_unlocked": float(mu),
    }


def _steps_frame(rows: Sequence[dict]) -> pd.DataFrame:
    cols = ["rank", "cand_id", "kinds", "segment_ids", "segments", "atoms", "length_m", "cost_wan",
            "parcels_unlocked", "parcel_ids", "mu_unlocked"]  # fmt: skip
    df = pd.DataFrame(list(rows), columns=cols)
    df["cum_cost_wan"] = df["cost_wan"].cumsum()
    df["cum_mu"] = df["mu_unlocked"].cumsum()
    with np.errstate(divide="ignore", invalid="ignore"):
        df["mu_per_wan"] = np.where(df["cost_wan"] > 0, df["mu_unlocked"] / df["cost_wan"], 0.0)
    return df


def ranking_table(c: Candidates, ranking: Ranking, policy: Policy, /) -> pd.DataFrame:
    """The greedy steps, then every planned segment of a blocking kind not built, with 0 unlocked."""
    built = {i for a in ranking.steps["atoms"] for i in a}
    block = {k for k, r in policy.networks.items() if r.requirement == "block"}
    at = c.atoms
    rest = [i for i in np.argsort(at["cost_wan"].to_numpy(), kind="stable")
            if i not in built and at["source"].iat[i] == "planned" and at["kind"].iat[i] in block]  # fmt: skip
    n = len(ranking.steps)
    tail = [
        _step_row(c, n + j + 1, at["atom_id"].iat[i], [i], [], 0.0, at["cost_wan"].iat[i])
        for j, i in enumerate(rest)
    ]
    return _steps_frame([*ranking.steps.to_dict("records"), *tail])


def curve(ranking: Ranking, /, *, baseline_mu: float = 0.0) -> pd.DataFrame:
    """Budget → transferable 亩: ``budget_wan, mu_unlocked, transferable_mu`` (a step function)."""
    s = ranking.steps
    cost = np.r_[0.0, s["cum_cost_wan"].to_numpy(dtype=float)]
    mu = np.r_[0.0, s["cum_mu"].to_numpy(dtype=float)]
    return pd.DataFrame(
        {"budget_wan": cost, "mu_unlocked": mu, "transferable_mu": baseline_mu + mu}
    )


# --------------------------------------------------------------------------- optimum


def optimal_plan(c: Candidates, /, *, budget_wan: float, time_limit_s: float = 30.0) -> Optimum:
    """The exact optimum at ``budget_wan`` with ``scipy.optimize.milp`` (see the module docstring)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    na, npar, npair = len(c.atoms), len(c.eligible), len(c.pair_parcel)
    mu = c.eligible["mu"].to_numpy(dtype=float)
    cost = c.atoms["cost_wan"].to_numpy(dtype=float)
    pm = sparse.csr_matrix((np.ones(npair), (np.arange(npair), c.pair_parcel)), shape=(npair, npar))
    link = sparse.hstack([-c.serves.T, pm]).tocsr()
    money = sparse.csr_matrix(np.r_[cost, np.zeros(npar)][None, :])
    has_pair = np.bincount(c.pair_parcel, minlength=npar) > 0
    upper = np.r_[np.ones(na), has_pair.astype(float)]
    # a tiny price on cost so that no atom is bought that completes nothing (never trades 亩)
    eps = 1e-4 * (mu[mu > 0].min() if (mu > 0).any() else 1.0) / max(cost.sum(), 1e-9)
    res = milp(
        np.r_[eps * cost, -mu],
        constraints=[
            LinearConstraint(link, -np.inf, 0.0),
            LinearConstraint(money, -np.inf, budget_wan),
        ],
        integrality=np.ones(na + npar),
        bounds=Bounds(np.zeros(na + npar), upper),
        options={"time_limit": time_limit_s},
    )
    if res.x is None:
        return Optimum(budget_wan, math.nan, math.nan, (), res.message)
    x = np.round(res.x[:na]).astype(bool)
    y = np.round(res.x[na:]).astype(bool)
    return Optimum(
        budget_wan,
        float(mu[y].sum()),
        float(cost[x].sum()),
        tuple(np.flatnonzero(x).tolist()),
        "optimal" if res.status == 0 else res.message,
    )


def optimality_gaps(
    c: Candidates, full: Ranking, /, *, fractions: Sequence[float] = GAP_FRACTIONS
) -> pd.DataFrame:
    """Greedy vs MILP at fractions of the greedy's full cost: ``budget_wan, greedy_mu, optimal_mu, gap_pct``."""
    rows = []
    for f in fractions:
        b = f * full.cost_wan
        g = greedy_rank(c, budget_wan=b)
        o = optimal_plan(c, budget_wan=b)
        gap = max(o.mu - g.mu, 0.0) if abs(o.mu - g.mu) > 1e-6 else 0.0
        rows.append({"budget_wan": b, "greedy_mu": g.mu, "greedy_cost_wan": g.cost_wan, "optimal_mu": o.mu,
                     "optimal_cost_wan": o.cost_wan, "gap_mu": gap,
                     "gap_pct": 100.0 * gap / o.mu if o.mu > 0 else 0.0, "status": o.status})  # fmt: skip
    return pd.DataFrame(rows)


_ANSWER = ("unlock_plan", "UnlockResult", "answer_sentences")
