"""A year-by-year supply plan: which segments to fund in which year so land becomes transferable.

Rules (issue #18)
-----------------
**Candidates** are the atoms of :mod:`landplan.planning.unlock` (planned segments and extensions;
its natural groups are bundles of atoms, which the atom model covers).  A parcel counts in year τ
when every missing kind is served by an atom funded in a year ≤ τ − ``lead_time_years``.

**Connectivity.**  Two atoms of one kind *touch* when they lie within ``connect_m`` (default 30 m,
the policy's ``connected_m``) of each other.  An atom is a *root* when it is an extension (it starts
at the built network by construction), touches a built line of its kind, or its network row says
``independent`` (a truthy value in that column, e.g. a new plant's own supply).  A non-root atom is
buildable in year t only when it is connected, through atoms funded in years ≤ t, to a root (a chain
funded in one year is built as one project).  Atoms whose component has no root are never buildable
(a note names them).  The MILP states this exactly with a single-commodity flow per year: every
funded atom consumes one unit that reaches it from a super source through roots and funded atoms.

**Budgets.**  ``budgets`` = {year: 万元}.  With ``carry_over`` (default) money not spent in a year
may be spent later (结转): cumulative spending ≤ cumulative budget; without it each year's
spending ≤ that year's budget.

**Objectives.**

* ``lexicographic`` (default): first the most transferable 亩 at the end of the last year, then,
  with that figure fixed, the largest Σ over years of the cumulative 亩 (as early as possible),
  then (a tiny price) the least cost;
* ``discounted``: max Σ_j δ^j · cumulative 亩 in year j (δ = ``discount``);
* ``min_cost`` (``target_share`` given): the least total cost reaching ``target_share`` of the
  scope's net 亩 by the last year within the budgets.

**Method.**  ``scipy.optimize.milp`` (HiGHS) when atoms × years ≤ ``milp_max_vars``, with a time
limit (the MIP gap is reported when it stops early).  Otherwise a heuristic: the unlock greedy's
order, each step with the cheapest chain that connects it to a root (node-weighted Dijkstra),
scheduled in the earliest year the budget allows; its gap is measured against the LP relaxation.
"""

from __future__ import annotations

import heapq
import math
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame
from scipy import sparse

from landplan.core.errors import InputTableError
from landplan.core.policy import Policy
from landplan.planning.unlock import Candidates, _networks, build_candidates, greedy_rank

CONNECT_M = 30.0
MILP_MAX_VARS = 6000
TIME_LIMIT_S = 60.0
TRUTHY = {"1", "true", "yes", "y", "是", "t"}
OBJECTIVES = ("lexicographic", "discounted", "min_cost")


@dataclass(frozen=True)
class PlanProblem:
    """Everything a plan needs: candidates, years, budgets, and the network graph of the atoms."""

    cands: Candidates
    years: tuple[int, ...]
    budgets: np.ndarray
    lead: int
    carry_over: bool
    root: np.ndarray  # bool per atom
    edges: np.ndarray  # (m, 2) undirected atom pairs of one kind that touch
    buildable: np.ndarray  # bool per atom: its component has a root
    baseline_mu: float  # transferable now, in scope
    total_mu: float  # net available 亩 in scope
    extra: pd.DataFrame = field(default_factory=pd.DataFrame)  # flagged supply: parcel_id, mu, year
    notes: tuple[str, ...] = ()

    def extra_by_year(self, *, counted: bool = True) -> np.ndarray:
        """Flagged supply (reclaimed land) by each plan year, cumulative (亩): only the land not
        already counted as transferable (``counted``), or all of it."""
        if len(self.extra) == 0:
            return np.zeros(len(self.years))
        yr = self.extra["year"].to_numpy(dtype=int)
        mu = self.extra["mu"].to_numpy(dtype=float)
        if counted:
            mu = np.where(self.extra["counted"].to_numpy(dtype=bool), mu, 0.0)
        return np.array([mu[yr <= y].sum() for y in self.years])


@dataclass(frozen=True)
class SupplyPlan:
    """A schedule (funded year per atom, -1 = never) and everything derived from it."""

    problem: PlanProblem
    funded: np.ndarray
    table: pd.DataFrame
    schedule: pd.DataFrame
    parcels: pd.DataFrame
    method: str
    objective: str
    bound_mu: float
    gap_pct: float
    target_share: float
    notes: tuple[str, ...]


# --------------------------------------------------------------------------- the problem


def _truthy(values) -> np.ndarray:
    return np.array([str(v).strip().lower() in TRUTHY for v in values], bool)


def network_graph(
    cands: Candidates,
    networks: GeoDataFrame | None,
    /,
    *,
    connect_m: float = CONNECT_M,
    independent_field: str = "independent",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``root, edges, buildable`` of the atoms (see the module docstring) and notes."""
    atoms = cands.atoms
    na = len(atoms)
    notes: list[str] = []
    kind = atoms["kind"].to_numpy()
    planned = (atoms["source"] == "planned").to_numpy()
    root = ~planned
    geoms = np.asarray(atoms.geometry.values, dtype=object)
    net, _ = _networks(networks, atoms.crs)
    if len(net) and independent_field in net.columns:
        flag = dict(zip([f"S{i}" for i in net.index], _truthy(net[independent_field]), strict=True))
        root |= np.array([flag.get(a, False) for a in atoms["atom_id"]], bool)
    built = net[net["status"] == "built"] if len(net) else net
    for k in set(kind[planned]):
        sel = np.flatnonzero(planned & (kind == k))
        lines = np.asarray(built.loc[built["kind"] == k].geometry.values, dtype=object)
        if len(lines):
            hit = shapely.STRtree(lines).query(geoms[sel], predicate="dwithin", distance=connect_m)
            root[sel[np.unique(hit[0])]] = True
    edges = []
    for k in set(kind[planned]):
        sel = np.flatnonzero(planned & (kind == k))
        a, b = shapely.STRtree(geoms[sel]).query(
            geoms[sel], predicate="dwithin", distance=connect_m
        )
        keep = a < b
        edges.append(np.c_[sel[a[keep]], sel[b[keep]]])
    edges = np.concatenate(edges).astype(np.int64) if edges else np.empty((0, 2), np.int64)
    graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(na, na))
    _, label = sparse.csgraph.connected_components(graph, directed=False)
    rooted = np.zeros(label.max() + 1 if na else 0, bool)
    rooted[label[root]] = True
    buildable = rooted[label] if na else np.zeros(0, bool)
    if (~buildable).any():
        ids = atoms["atom_id"].to_numpy()[~buildable]
        notes.append(
            f"{len(ids)} planned segments never connect to a built network of their kind within "
            f"{connect_m:g} m and are not marked '{independent_field}': {', '.join(ids[:8])}"
            + (" …" if len(ids) > 8 else "")
        )
    return root, edges, buildable, notes


def parse_budgets(items: list[str] | dict[int, float], /) -> dict[int, float]:
    """``["2026:3000", "2027:2000"]`` (or a dict) → {year: 万元}, checked."""
    if isinstance(items, dict):
        out = {int(k): float(v) for k, v in items.items()}
    else:
        out = {}
        for s in items:
            year, sep, wan = str(s).partition(":")
            try:
                y, w = int(year), float(wan)
            except ValueError:
                raise InputTableError(
                    f"--budget must be YEAR:WAN, e.g. 2026:3000, not {s!r}"
                ) from None
            if not sep:
                raise InputTableError(f"--budget must be YEAR:WAN, e.g. 2026:3000, not {s!r}")
            if y in out:
                raise InputTableError(f"--budget gives year {y} twice")
            out[y] = w
    if not out:
        raise InputTableError("give at least one --budget YEAR:WAN")
    bad = {y: w for y, w in out.items() if not (math.isfinite(w) and w >= 0)}
    if bad:
        raise InputTableError(f"budgets must be finite and ≥ 0 万元, not {bad}")
    return dict(sorted(out.items()))


def build_problem(
    parcels: GeoDataFrame,
    networks: GeoDataFrame | None,
    policy: Policy,
    /,
    *,
    budgets: dict[int, float] | list[str],
    lead_time_years: int = 0,
    scope: tuple[str, str] | None = None,
    carry_over: bool = True,
    connect_m: float = CONNECT_M,
    extra_supply: pd.DataFrame | None = None,
    cost_field: str | None = None,
    cost=None,
) -> PlanProblem:
    """Candidates, the network graph, baseline and total of the scope, flagged extra supply.

    ``extra_supply`` (``parcel_id, mu, year``): land that returns to supply in ``year`` outside
    the network plan (reclaimed land from :mod:`landplan.indicators.review`), flagged.  It is
    listed in ``reclaimed_mu``; it adds to the transferable 亩 only when the verdict did not
    already count it (a reclaimed parcel that met the supply conditions was counted when sold).
    """
    budgets = parse_budgets(budgets)
    if lead_time_years < 0:
        raise InputTableError(f"--lead-time-years must be ≥ 0, not {lead_time_years}")
    mask = np.ones(len(parcels), bool)
    if scope is not None:
        col, val = scope
        if col not in parcels.columns:
            raise InputTableError(
                f"scope column {col!r} is not a parcel column; see {list(parcels.columns)[:20]}"
            )
        mask = (parcels[col].astype(str) == val).to_numpy()
    cands = build_candidates(
        parcels, networks, policy, scope=None if scope is None else mask,
        cost_field=cost_field, cost=cost,
    )  # fmt: skip
    root, edges, buildable, notes = network_graph(cands, networks, connect_m=connect_m)
    net_mu = parcels["net_available_mu"].to_numpy(dtype=float)
    transferable = parcels["transferable"].to_numpy(dtype=bool)
    extra = pd.DataFrame(columns=["parcel_id", "mu", "year", "counted"])
    if extra_supply is not None and len(extra_supply):
        ids = parcels["parcel_id"].astype(str)
        e = extra_supply.assign(parcel_id=extra_supply["parcel_id"].astype(str))
        e = e[e["parcel_id"].isin(set(ids[mask]))].drop_duplicates("parcel_id")
        known = set(ids[transferable & mask]) | set(cands.eligible["parcel_id"])
        extra = e.assign(counted=~e["parcel_id"].isin(known))[
            ["parcel_id", "mu", "year", "counted"]
        ]
        extra = extra.reset_index(drop=True)
        if (~extra["counted"]).any():
            notes.append(f"{int((~extra['counted']).sum())} reclaimed parcels "
                         f"({extra.loc[~extra['counted'], 'mu'].sum():.2f} 亩) already count as "
                         "transferable (they met the supply conditions): listed, not added")  # fmt: skip
    return PlanProblem(
        cands, tuple(budgets), np.array(list(budgets.values()), float), int(lead_time_years),
        bool(carry_over), root, edges, buildable, float(net_mu[transferable & mask].sum()),
        float(net_mu[mask].sum()), extra, tuple(list(cands.notes) + notes),
    )  # fmt: skip


# --------------------------------------------------------------------------- the MILP


def _serve_year_ok(pb: PlanProblem) -> np.ndarray:
    """ok[j', j]: an atom funded in year j' serves parcels in year j."""
    y = np.array(pb.years)
    return (y[:, None] + pb.lead) <= y[None, :]


def _model(pb: PlanProblem):
    """The MILP of the plan: c, the matrix, bounds, integrality and the variable layout."""
    c_ = pb.cands
    na, nt = len(c_.atoms), len(pb.years)
    npar, npair = len(c_.eligible), len(c_.pair_parcel)
    mu = c_.eligible["mu"].to_numpy(dtype=float)
    cost = c_.atoms["cost_wan"].to_numpy(dtype=float)
    # components that need flow: those with a non-root buildable atom
    flow_atom = pb.buildable & ~pb.root
    e = pb.edges
    need = flow_atom[e[:, 0]] | flow_atom[e[:, 1]] if len(e) else np.zeros(0, bool)
    arcs = np.r_[e[need], e[need][:, ::-1]] if len(e) else np.empty((0, 2), np.int64)
    # only atoms adjacent to a flow atom take part (roots act as sources)
    part = np.zeros(na, bool)
    part[arcs.ravel()] = True
    part |= flow_atom
    src = np.flatnonzero(part & pb.root)
    nx, ny, nf, ns = na * nt, npar * nt, len(arcs) * nt, len(src) * nt
    ox, oy, of, os_ = 0, nx, nx + ny, nx + ny + nf
    nv = os_ + ns
    cap = float(max(part.sum(), 1))
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0

    def add(rr, cc, vv):
        rows.append(np.asarray(rr, np.int64))
        cols.append(np.asarray(cc, np.int64))
        vals.append(np.asarray(vv, float))

    # 1. each atom funded at most once
    add(np.repeat(np.arange(na), nt), ox + np.arange(nx), np.ones(nx))
    lo.append(np.full(na, -np.inf))
    hi.append(np.ones(na))
    r += na
    # 2. y[p, j] ≤ Σ_{a serves q, j' ok} x[a, j'] for every pair q of p
    ok = _serve_year_ok(pb)
    coo = c_.serves.tocoo()
    for j in range(nt):
        js = np.flatnonzero(ok[:, j])
        add(np.arange(npair) + r, oy + c_.pair_parcel * nt + j, np.ones(npair))
        if len(js) and coo.nnz:
            add(np.repeat(coo.col + r, len(js)), ox + (coo.row[:, None] * nt + js[None, :]).ravel(),
                -np.ones(coo.nnz * len(js)))  # fmt: skip
        lo.append(np.full(npair, -np.inf))
        hi.append(np.zeros(npair))
        r += npair
    # 3. budgets
    for j in range(nt):
        js = np.arange(j + 1) if pb.carry_over else np.array([j])
        idx = (np.arange(na)[:, None] * nt + js[None, :]).ravel()
        add(np.full(len(idx), r), ox + idx, np.repeat(cost, len(js)))
        lo.append(np.array([-np.inf]))
        hi.append(np.array([pb.budgets[js].sum()]))
        r += 1
    # 4. connectivity flow per year: in − out − X[a, j] = 0; f ≤ cap·X[tail], f ≤ cap·X[head]
    pa = np.flatnonzero(part)
    for j in range(nt):
        base = r
        pos = {a: base + i for i, a in enumerate(pa)}
        f = of + np.arange(len(arcs)) * nt + j
        add([pos[h] for h in arcs[:, 1]], f, np.ones(len(arcs)))
        add([pos[t] for t in arcs[:, 0]], f, -np.ones(len(arcs)))
        s = os_ + np.arange(len(src)) * nt + j
        add([pos[a] for a in src], s, np.ones(len(src)))
        for jj in range(j + 1):
            add([pos[a] for a in pa], ox + pa * nt + jj, -np.ones(len(pa)))
        lo.append(np.zeros(len(pa)))
        hi.append(np.zeros(len(pa)))
        r += len(pa)
        for end, fv in ((arcs[:, 0], f), (arcs[:, 1], f), (src, s)):
            rr = np.arange(len(end)) + r
            add(rr, fv, np.ones(len(end)))
            for jj in range(j + 1):
                add(rr, ox + end * nt + jj, -cap * np.ones(len(end)))
            lo.append(np.full(len(end), -np.inf))
            hi.append(np.zeros(len(end)))
            r += len(end)
    mat = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r, nv)
    )
    lo, hi = np.concatenate(lo), np.concatenate(hi)
    ub = np.r_[
        np.repeat(pb.buildable.astype(float), nt),
        np.repeat((np.bincount(c_.pair_parcel, minlength=npar) > 0).astype(float), nt),
        np.full(nf + ns, np.inf),
    ]
    integ = np.r_[np.ones(nx), np.zeros(nv - nx)]
    eps = 1e-4 * (mu[mu > 0].min() if (mu > 0).any() else 1.0) / max(cost.sum(), 1e-9)
    last = np.zeros(nv)
    last[oy + np.arange(npar) * nt + (nt - 1)] = mu
    costv = np.zeros(nv)
    costv[ox : ox + nx] = np.repeat(cost, nt)
    layout = {"na": na, "nt": nt, "npar": npar, "oy": oy, "mu": mu}
    return mat, lo, hi, ub, integ, last, costv, eps, layout


@contextmanager
def _quiet_stdout():
    """HiGHS prints a few debug lines on the C-level stdout; keep them out of the answer."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _solve(c, mat, lo, hi, ub, integ, time_limit_s):
    from scipy.optimize import Bounds, LinearConstraint, milp

    with _quiet_stdout():
        return milp(
            c, constraints=[LinearConstraint(mat, lo, hi)], integrality=integ,
            bounds=Bounds(np.zeros(len(c)), ub), options={"time_limit": time_limit_s},
        )  # fmt: skip


def _funded_from(x: np.ndarray, layout: dict, years: tuple[int, ...]) -> np.ndarray:
    na, nt = layout["na"], layout["nt"]
    xa = np.round(x[: na * nt]).reshape(na, nt) > 0.5
    out = np.full(na, -1, np.int64)
    has = xa.any(axis=1)
    out[has] = np.array(years)[xa[has].argmax(axis=1)]
    return out


def solve_milp(
    pb: PlanProblem,
    /,
    *,
    objective: str = "lexicographic",
    discount: float = 0.9,
    need_mu: float | None = None,
    time_limit_s: float = TIME_LIMIT_S,
) -> tuple[np.ndarray | None, str, float, float]:
    """Exact plan: (funded year per atom or None, status, bound on last-year 亩 unlocked, gap %)."""
    mat, lo, hi, ub, integ, last, costv, eps, lay = _model(pb)
    nt, npar, oy, mu = lay["nt"], lay["npar"], lay["oy"], lay["mu"]
    allyears = np.zeros(len(last))
    for j in range(nt):
        w = discount**j if objective == "discounted" else 1.0
        allyears[oy + np.arange(npar) * nt + j] = w * mu
    if objective == "min_cost":
        mat2 = sparse.vstack([mat, sparse.csr_matrix(last[None, :])]).tocsr()
        res = _solve(costv - 1e-6 * eps * allyears, mat2, np.r_[lo, need_mu - 1e-6],
                     np.r_[hi, np.inf], ub, integ, time_limit_s)  # fmt: skip
        if res.x is None:
            return None, str(res.message), math.nan, math.nan
        return _funded_from(res.x, lay, pb.years), _status(res), math.nan, _gap(res)
    first = -allyears if objective == "discounted" else -last
    res = _solve(first + eps * costv, mat, lo, hi, ub, integ, time_limit_s)
    if res.x is None:
        return None, str(res.message), math.nan, math.nan
    bound = float(-res.mip_dual_bound) if objective != "discounted" else math.nan
    status, gap = _status(res), _gap(res)
    if objective == "lexicographic":
        best = float(last @ res.x)
        mat2 = sparse.vstack([mat, sparse.csr_matrix(last[None, :])]).tocsr()
        res2 = _solve(-allyears + eps * costv, mat2, np.r_[lo, best - 1e-6 * max(best, 1.0)],
                      np.r_[hi, np.inf], ub, integ, time_limit_s)  # fmt: skip
        if res2.x is not None and last @ res2.x >= best - 1e-6 * max(best, 1.0):
            res = res2
    return _funded_from(res.x, lay, pb.years), status, bound, gap


def _status(res) -> str:
    return "optimal" if res.status == 0 else f"stopped early ({res.message})"


def _gap(res) -> float:
    """HiGHS's relative MIP gap in % (it stops at 0.01 % by default, so 'optimal' may be > 0)."""
    g = getattr(res, "mip_gap", None)
    if g is not None and math.isfinite(float(g)):
        return max(100.0 * float(g), 0.0)
    return 0.0 if res.status == 0 else math.nan


def lp_relaxation(pb: PlanProblem, /) -> tuple[float, np.ndarray]:
    """Upper bound on the 亩 unlocked by the last year (the LP relaxation of the MILP) and the
    relaxed Σ_j x[a, j] per atom (an order for the heuristic)."""
    mat, lo, hi, ub, integ, last, costv, eps, lay = _model(pb)
    res = _solve(-last + eps * costv, mat, lo, hi, ub, np.zeros_like(integ), TIME_LIMIT_S)
    if res.x is None:
        return math.nan, np.zeros(lay["na"])
    xa = res.x[: lay["na"] * lay["nt"]].reshape(lay["na"], lay["nt"]).sum(axis=1)
    return float(last @ res.x), xa


# --------------------------------------------------------------------------- heuristic


def _connect_paths(pb: PlanProblem) -> np.ndarray:
    """Predecessor of each atom on its cheapest chain from a root (-1 for roots / unreachable)."""
    na = len(pb.cands.atoms)
    cost = pb.cands.atoms["cost_wan"].to_numpy(dtype=float)
    nbr: list[list[int]] = [[] for _ in range(na)]
    for a, b in pb.edges:
        nbr[a].append(int(b))
        nbr[b].append(int(a))
    dist = np.full(na, np.inf)
    pred = np.full(na, -1, np.int64)
    heap = []
    for a in np.flatnonzero(pb.root & pb.buildable):
        dist[a] = cost[a]
        heap.append((cost[a], int(a)))
    heapq.heapify(heap)
    while heap:
        d, a = heapq.heappop(heap)
        if d > dist[a]:
            continue
        for b in nbr[a]:
            nd = d + cost[b]
            if nd < dist[b] - 1e-12:
                dist[b], pred[b] = nd, a
                heapq.heappush(heap, (nd, b))
    return pred


def heuristic_schedule(pb: PlanProblem, /, *, lp_x: np.ndarray | None = None) -> np.ndarray:
    """The unlock greedy's steps with their connecting chains, each in the earliest affordable year."""
    c = pb.cands
    na = len(c.atoms)
    cost = c.atoms["cost_wan"].to_numpy(dtype=float)
    pred = _connect_paths(pb)
    ok = _serve_year_ok(pb)[:, -1]
    usable = float(pb.budgets[ok].sum()) if ok.any() else 0.0
    best, best_mu = np.full(na, -1, np.int64), -1.0
    orders = [greedy_rank(c, budget_wan=usable).steps["atoms"], greedy_rank(c).steps["atoms"]]
    if lp_x is not None:
        orders.append([(int(a),) for a in np.argsort(-lp_x, kind="stable") if lp_x[a] > 1e-6])
    for steps in orders:
        funded = _schedule(pb, steps, pred, cost)
        mu = _last_mu(pb, funded)
        if mu > best_mu + 1e-9:
            best, best_mu = funded, mu
    return best


def _schedule(pb: PlanProblem, steps, pred: np.ndarray, cost: np.ndarray) -> np.ndarray:
    nt, years = len(pb.years), np.array(pb.years)
    funded = np.full(len(cost), -1, np.int64)
    spent = np.zeros(nt)
    for atoms in steps:
        need: set[int] = set()
        ok = True
        for a in atoms:
            a = int(a)
            if not pb.buildable[a]:
                ok = False
                break
            while a >= 0 and funded[a] < 0 and a not in need:
                need.add(a)
                a = int(pred[a]) if not pb.root[a] else -1
        if not ok or not need:
            continue
        need_l = sorted(need)
        add = cost[need_l].sum()
        for j in range(nt):
            trial = spent.copy()
            trial[j] += add
            fits = (
                np.all(np.cumsum(trial) <= np.cumsum(pb.budgets) + 1e-9)
                if pb.carry_over
                else trial[j] <= pb.budgets[j] + 1e-9
            )
            if fits:
                spent = trial
                funded[need_l] = years[j]
                break
    return funded


# --------------------------------------------------------------------------- evaluation


def connected_at(pb: PlanProblem, funded: np.ndarray, year: int, /) -> np.ndarray:
    """Atoms funded by ``year`` that reach a root through atoms funded by then (BFS)."""
    on = (funded >= 0) & (funded <= year)
    seen = on & pb.root
    stack = list(np.flatnonzero(seen))
    nbr: dict[int, list[int]] = {}
    for a, b in pb.edges:
        nbr.setdefault(int(a), []).append(int(b))
        nbr.setdefault(int(b), []).append(int(a))
    while stack:
        a = stack.pop()
        for b in nbr.get(int(a), ()):
            if on[b] and not seen[b]:
                seen[b] = True
                stack.append(b)
    return seen


def unlocked_year(pb: PlanProblem, funded: np.ndarray, /) -> np.ndarray:
    """First plan year each eligible parcel is transferable (0 = not within the plan)."""
    c = pb.cands
    n = len(c.eligible)
    out = np.zeros(n, np.int64)
    total = np.bincount(c.pair_parcel, minlength=n)
    for y in pb.years:
        live = connected_at(pb, funded, y - pb.lead) & (funded <= y - pb.lead)
        cov = np.unique(c.serves[np.flatnonzero(live)].indices) if live.any() else np.array([], int)
        cnt = np.bincount(c.pair_parcel[cov], minlength=n)
        done = (cnt == total) & (total > 0) & (out == 0)
        out[done] = y
    return out


def _tables(pb: PlanProblem, funded: np.ndarray, target_share: float):
    c = pb.cands
    at = c.atoms
    cost = at["cost_wan"].to_numpy(dtype=float)
    uy = unlocked_year(pb, funded)
    mu = c.eligible["mu"].to_numpy(dtype=float)
    extra = pb.extra_by_year()
    flagged = pb.extra_by_year(counted=False)
    rows, cum = [], pb.baseline_mu
    prev_extra = prev_flag = 0.0
    for j, y in enumerate(pb.years):
        sel = funded == y
        new = float(mu[uy == y].sum()) + extra[j] - prev_extra
        cum += new
        rows.append({
            "year": y, "segments": int(sel.sum()),
            "spent_wan": float(cost[sel].sum()), "budget_wan": float(pb.budgets[j]),
            "new_transferable_mu": new, "cumulative_transferable_mu": cum,
            "target_share": target_share,
            "cumulative_share": cum / pb.total_mu if pb.total_mu > 0 else math.nan,
            "reclaimed_mu": flagged[j] - prev_flag,
            "segment_ids": ";".join(at["atom_id"].to_numpy()[sel]),
        })  # fmt: skip
        prev_extra, prev_flag = extra[j], flagged[j]
    table = pd.DataFrame(rows)
    table["available_wan"] = (
        np.cumsum(table["budget_wan"]) - np.r_[0.0, np.cumsum(table["spent_wan"])[:-1]]
        if pb.carry_over
        else table["budget_wan"]
    )
    schedule = pd.DataFrame({
        "atom_id": at["atom_id"], "kind": at["kind"], "source": at["source"], "name": at["name"],
        "length_m": at["length_m"], "cost_wan": cost,
        "funded_year": np.where(funded >= 0, funded, 0),
        "serves_from_year": np.where(funded >= 0, funded + pb.lead, 0),
        "root": pb.root, "buildable": pb.buildable,
    })  # fmt: skip
    parcels = c.eligible.assign(
        missing=[",".join(m) for m in c.eligible["missing"]],
        unreachable_kinds=[",".join(m) for m in c.eligible["unreachable_kinds"]],
        unlocked_year=uy,
    )
    if len(pb.extra):
        rec = pb.extra.assign(missing="", unlocked_year=pb.extra["year"], reclaimed=True)
        parcels = pd.concat([parcels.assign(reclaimed=False), rec], ignore_index=True)
    return table, schedule, parcels


def plan_supply(
    pb: PlanProblem,
    /,
    *,
    objective: str = "lexicographic",
    discount: float = 0.9,
    target_share: float | None = None,
    milp_max_vars: int = MILP_MAX_VARS,
    time_limit_s: float = TIME_LIMIT_S,
) -> SupplyPlan:
    """Solve the plan (see the module docstring); ``target_share`` switches to ``min_cost``."""
    if objective not in OBJECTIVES:
        raise InputTableError(f"objective must be one of {OBJECTIVES}, not {objective!r}")
    if target_share is not None:
        if not 0.0 < target_share <= 1.0:
            raise InputTableError(f"--target-share must be in (0, 1], not {target_share}")
        objective = "min_cost"
    share = 1.0 if target_share is None else float(target_share)
    notes = list(pb.notes)
    na, nt = len(pb.cands.atoms), len(pb.years)
    if na == 0 or len(pb.cands.pair_parcel) == 0:
        notes.append("no parcel is blocked by missing networks alone: nothing to build")
        funded = np.full(na, -1, np.int64)
        table, schedule, parcels = _tables(pb, funded, share)
        return SupplyPlan(pb, funded, table, schedule, parcels, "nothing to build", objective,
                          0.0, 0.0, share, tuple(notes))  # fmt: skip
    big = na * nt > milp_max_vars
    lp_b, lp_x = lp_relaxation(pb) if big else (math.nan, None)
    heur = heuristic_schedule(pb, lp_x=lp_x)
    hmu = _last_mu(pb, heur)
    funded, method, bound, gap = heur, "heuristic", math.nan, math.nan
    need = None
    if objective == "min_cost":
        need = share * pb.total_mu - pb.baseline_mu - pb.extra_by_year()[-1]
        if need <= 1e-9:
            funded, method, bound, gap = np.full(na, -1, np.int64), "nothing needed", 0.0, 0.0
            notes.append("the target is reached without any new segment")
    if method == "heuristic" and not big:
        f, status, bound, gap = solve_milp(
            pb, objective=objective, discount=discount, need_mu=need, time_limit_s=time_limit_s
        )
        if f is None and objective == "min_cost":
            notes.append(f"the target of {share:.0%} cannot be reached within the budgets "
                         f"({status}); the plan below maximises the land instead")  # fmt: skip
            objective = "lexicographic"
            f, status, bound, gap = solve_milp(pb, time_limit_s=time_limit_s)
        if f is not None and (objective != "lexicographic" or _last_mu(pb, f) >= hmu - 1e-6):
            funded, method = f, f"MILP (HiGHS), {status}"
        elif f is not None:
            notes.append("the MILP stopped early below the heuristic; the heuristic is kept")
    if method == "heuristic":
        bound = lp_b if big else lp_relaxation(pb)[0]
        notes.append(
            f"{na} atoms × {nt} years > {milp_max_vars}: heuristic (greedy order + connecting "
            "chains, earliest affordable year), gap to the LP bound reported"
        )
    last = _last_mu(pb, funded)
    if method == "heuristic" or (math.isnan(gap) and math.isfinite(bound)):
        gap = 100.0 * max(bound - last, 0.0) / bound if bound > 0 else 0.0
    table, schedule, parcels = _tables(pb, funded, share)
    return SupplyPlan(pb, funded, table, schedule, parcels, method, objective, bound, gap, share,
                      tuple(notes))  # fmt: skip


def _last_mu(pb: PlanProblem, funded: np.ndarray) -> float:
    uy = unlocked_year(pb, funded)
    return float(pb.cands.eligible["mu"].to_numpy(dtype=float)[uy > 0].sum())
